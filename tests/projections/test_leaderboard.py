"""Leaderboard order: by wins, points or win rate; ties share a rank and are listed by name."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.codec import encode_event
from engine.events import EndReason, Event, GameOver, GameStarted
from engine.store import AppendRequest, NewEvent, SqliteEventStore
from projections import LeaderboardProjection, ProjectionRunner, SyncReadModels

GAMES = [
    (("zed", "amy", "bob", "Bot 4"), (0, 1), (50, 50, 10, 5)),
    (("amy", "zed", "cat", "dan"), (2,), (10, 20, 55, 0)),
    (("bob", "cat", "dan", "eve"), (0,), (60, 0, 0, 0)),
]


def board(tmp_path: Path) -> SyncReadModels:
    path = tmp_path / "p.db"

    async def build() -> None:
        store = await SqliteEventStore.open(tmp_path / "games.db")
        try:
            for number, (seats, winners, totals) in enumerate(GAMES):
                events: list[Event] = [
                    GameStarted(at=0.0, seats=seats),
                    GameOver(at=1.0, reason=EndReason.TARGET_SCORE, winners=winners, totals=totals),
                ]
                await store.append(
                    AppendRequest(
                        f"GAME0{number}", 0, tuple(NewEvent(*encode_event(e)) for e in events)
                    )
                )
            async with ProjectionRunner(store, [LeaderboardProjection()], path) as runner:
                assert await runner.wait_caught_up(timeout=10)
        finally:
            await store.close()

    asyncio.run(build())
    return SyncReadModels(path, projections=[LeaderboardProjection()])


def ranks(page: object) -> list[tuple[int, str]]:
    return [(e.rank, e.name) for e in page.items]  # type: ignore[attr-defined]


def test_wins_ties_share_a_rank_and_are_listed_by_name(tmp_path: Path) -> None:
    models = board(tmp_path)
    assert ranks(models.leaderboard("wins")) == [
        (1, "amy"), (1, "bob"), (1, "cat"), (1, "zed"), (5, "dan"), (5, "eve"),
    ]  # fmt: skip
    assert ranks(models.leaderboard("wins", include_bots=True))[4:] == [
        (5, "Bot 4"), (5, "dan"), (5, "eve"),
    ]  # fmt: skip


def test_a_page_keeps_the_ranks_of_the_whole_board(tmp_path: Path) -> None:
    models = board(tmp_path)
    page = models.leaderboard("wins", limit=2, offset=3)
    assert ranks(page) == [(1, "zed"), (5, "dan")]
    assert (page.limit, page.offset) == (2, 3)


def test_points_are_the_sum_of_final_scores(tmp_path: Path) -> None:
    models = board(tmp_path)
    page = models.leaderboard("points")
    assert [(e.rank, e.name, e.points) for e in page.items] == [
        (1, "bob", 70), (1, "zed", 70), (3, "amy", 60), (4, "cat", 55), (5, "dan", 0),
        (5, "eve", 0),
    ]  # fmt: skip


def test_win_rate_counts_only_players_with_the_minimum_games(tmp_path: Path) -> None:
    models = board(tmp_path)
    page = models.leaderboard("win_rate", min_games=2)
    assert [(e.rank, e.name, e.win_rate) for e in page.items] == [
        (1, "amy", 0.5), (1, "bob", 0.5), (1, "cat", 0.5), (1, "zed", 0.5), (5, "dan", 0.0),
    ]  # fmt: skip
    assert models.leaderboard("win_rate", min_games=3).items == ()
    assert ranks(models.leaderboard("win_rate", min_games=1))[-2:] == [(5, "dan"), (5, "eve")]
