"""Poison events, skip, reset, pause, lag and archival, as docs/projections.md describes them."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from engine.codec import encode_event
from engine.events import Event, TrickWon
from engine.store import AppendRequest, NewEvent, RecordedEvent, SqliteEventStore
from projections import (
    FoldError,
    LeaderboardProjection,
    LobbyProjection,
    MarkArchived,
    MatchHistoryProjection,
    Pause,
    PlayerStatsProjection,
    ProjectionRunner,
    Rebuild,
    Refusal,
    Reset,
    Resume,
    RunnerStatus,
    Skip,
    SyncReadModels,
    default_projections,
)
from projections.protocol import Projection
from tests.projections.support import Appender, TruncatedStore, dump, matches

STATS_TABLES = ("player_games", "player_totals")
HISTORY_TABLES = ("history_matches", "history_players", "history_rounds")


def run(
    tmp_path: Path,
    scenario: Callable[[SqliteEventStore, Appender], Awaitable[None]],
    clock: Callable[[], float] | None = None,
) -> None:
    """Run `scenario` on a store holding 30 real matches."""

    async def main() -> None:
        if clock is None:
            store = await SqliteEventStore.open(tmp_path / "games.db")
        else:
            store = await SqliteEventStore.open(tmp_path / "games.db", clock=clock)
        try:
            appender = Appender(store)
            await appender.append(matches(30))
            await scenario(store, appender)
        finally:
            await store.close()

    asyncio.run(main())


async def clean_build(
    store: SqliteEventStore,
    path: Path,
    end: int | None = None,
    skips: tuple[tuple[str, int], ...] = (),
) -> dict[str, list[Any]]:
    source: Any = store if end is None else TruncatedStore(store, end)
    runner = ProjectionRunner(source, default_projections(), path)
    await runner.open()
    for name, position in skips:
        assert not isinstance(await runner.instruct(Skip(name, position, "same")), Refusal)
    await runner.start()
    try:
        assert await runner.wait_caught_up(timeout=60)
    finally:
        await runner.close()
    return dump(path)


def only(rows: dict[str, list[Any]], tables: tuple[str, ...]) -> dict[str, list[Any]]:
    return {t: rows[t] for t in tables}


class ExplodingAt:
    """Player stats, except that folding the event at `position` raises."""

    def __init__(self, position: int) -> None:
        self.inner = PlayerStatsProjection()
        self.at = position
        self.name = self.inner.name
        self.version = self.inner.version
        self.handles = self.inner.handles
        self.tables = self.inner.tables

    def schema(self, prefix: str) -> list[str]:
        return self.inner.schema(prefix)

    def apply(
        self, conn: sqlite3.Connection, prefix: str, record: RecordedEvent, event: Event
    ) -> None:
        if record.position == self.at:
            raise RuntimeError("boom")
        self.inner.apply(conn, prefix, record, event)


def status_of(outcome: RunnerStatus | Refusal) -> RunnerStatus:
    assert isinstance(outcome, RunnerStatus), outcome
    return outcome


def middle_trick(appender: Appender) -> int:
    tricks = [p for p, _, e in sorted(appender.recorded) if isinstance(e, TrickWon)]
    return tricks[len(tricks) // 2]


def test_a_poison_event_stops_its_projection_alone_and_is_reported_until_skipped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "p.db"

    async def scenario(store: SqliteEventStore, appender: Appender) -> None:
        poison = middle_trick(appender)
        head = await store.last_position()
        chosen: list[Projection] = [LobbyProjection(), LeaderboardProjection(), ExplodingAt(poison), MatchHistoryProjection()]
        async with ProjectionRunner(store, chosen, path) as runner:
            assert await runner.wait_caught_up(timeout=30)
            stats = runner.status().of("player_stats")
            assert stats.fault is not None
            assert (stats.fault.position, stats.fault.type) == (poison, "TrickWon")
            assert stats.fault.error == "RuntimeError: boom"
            assert (stats.position, stats.behind) == (poison - 1, head - poison + 1)
            for other in ("lobby", "leaderboard", "match_history"):
                assert runner.status().of(other).position == head
        folded = only(dump(path), STATS_TABLES)
        assert folded == only(
            await clean_build(store, tmp_path / "to.db", poison - 1), STATS_TABLES
        )

        # The fault is stored: a restart reports it and does not fold past it.
        async with ProjectionRunner(store, chosen, path) as runner:
            assert await runner.wait_caught_up(timeout=30)
            assert runner.status().of("player_stats").fault == stats.fault
            # Resume retries the event, which fails again.
            await runner.instruct(Resume("player_stats"))
            assert await runner.wait_caught_up(timeout=30)
            assert runner.status().of("player_stats").fault == stats.fault
            after = status_of(await runner.instruct(Skip("player_stats", poison, "bad fixture")))
            assert await runner.wait_caught_up(timeout=30)
            final = runner.status().of("player_stats")
            assert (final.fault, final.position) == (None, head)
            (skipped,) = final.skipped
            assert (skipped.position, skipped.reason) == (poison, "bad fixture")
            assert skipped.error == "RuntimeError: boom"
            assert after.of("player_stats").skipped == (skipped,)
        skipping = await clean_build(store, tmp_path / "skip.db", skips=(("player_stats", poison),))
        assert only(dump(path), STATS_TABLES) == only(skipping, STATS_TABLES)
        models = SyncReadModels(path)
        assert models.status().of("player_stats").skipped == (skipped,)

    run(tmp_path, scenario)


def test_an_event_that_contradicts_the_fold_is_poison_for_the_projections_reading_it(
    tmp_path: Path,
) -> None:
    async def scenario(store: SqliteEventStore, appender: Appender) -> None:
        room = matches(30)[0][0]
        info = await store.stream_info(room)
        assert info is not None
        # A trick won in a room whose game is over: it decodes, but cannot be folded.
        late = TrickWon(at=0.0, round=1, trick=1, seat=2, piles=1)
        result = await store.append(
            AppendRequest(room, info.last_version, (NewEvent(*encode_event(late)),))
        )
        async with ProjectionRunner(store, default_projections(), tmp_path / "p.db") as runner:
            assert await runner.wait_caught_up(timeout=30)
            status = runner.status()
        fault = status.of("player_stats").fault
        assert fault is not None
        assert (fault.position, fault.stream_id) == (result.last_position, room)
        assert fault.error.startswith(FoldError.__name__)
        for other in ("lobby", "leaderboard", "match_history"):
            assert status.of(other).fault is None
            assert status.of(other).position == result.last_position

    run(tmp_path, scenario)


def test_bytes_that_do_not_decode_are_poison_for_the_projections_of_that_type(
    tmp_path: Path,
) -> None:
    async def scenario(store: SqliteEventStore, appender: Appender) -> None:
        room = matches(30)[0][0]
        info = await store.stream_info(room)
        assert info is not None
        result = await store.append(
            AppendRequest(room, info.last_version, (NewEvent("RoundScored", 1, b"\xc1\x00"),))
        )
        async with ProjectionRunner(store, default_projections(), tmp_path / "p.db") as runner:
            assert await runner.wait_caught_up(timeout=30)
            status = runner.status()
        for name in ("lobby", "player_stats", "match_history"):
            fault = status.of(name).fault
            assert fault is not None
            assert fault.position == result.last_position
            assert fault.error.startswith("MalformedEvent")
        assert status.of("leaderboard").position == result.last_position

    run(tmp_path, scenario)


def test_instructions_that_make_no_sense_are_refused(tmp_path: Path) -> None:
    async def scenario(store: SqliteEventStore, appender: Appender) -> None:
        head = await store.last_position()
        async with ProjectionRunner(store, default_projections(), tmp_path / "p.db") as runner:
            assert await runner.wait_caught_up(timeout=30)
            outcomes = [
                await runner.instruct(Skip("lobby", head - 10, "already folded")),
                await runner.instruct(Skip("lobby", head + 10, "not in the log")),
                await runner.instruct(Reset("lobby", head + 1)),
                await runner.instruct(Reset("lobby", -1)),
                await runner.instruct(Pause("no_such_projection")),
            ]
        assert [o.code for o in outcomes if isinstance(o, Refusal)] == [
            "already_folded",
            "bad_position",
            "bad_position",
            "bad_position",
            "unknown_projection",
        ]

    run(tmp_path, scenario)


def test_reset_rebuilds_up_to_a_position_then_folds_on_from_there(tmp_path: Path) -> None:
    path = tmp_path / "p.db"

    async def scenario(store: SqliteEventStore, appender: Appender) -> None:
        head = await store.last_position()
        middle = head // 2
        async with ProjectionRunner(store, default_projections(), path) as runner:
            assert await runner.wait_caught_up(timeout=30)
            full = dump(path)
            await runner.instruct(Pause("match_history"))
            resetting = status_of(await runner.instruct(Reset("match_history", middle)))
            rebuild = resetting.of("match_history").rebuild
            assert rebuild is not None and rebuild.target == middle
            assert await runner.wait_caught_up(timeout=30)
            history = runner.status().of("match_history")
            assert (history.position, history.paused, history.rebuild) == (middle, True, None)
            at_middle = await clean_build(store, tmp_path / "middle.db", middle)
            assert only(dump(path), HISTORY_TABLES) == only(at_middle, HISTORY_TABLES)
            await runner.instruct(Resume("match_history"))
            assert await runner.wait_caught_up(timeout=30)
            assert runner.status().of("match_history").position == head
            assert dump(path) == full

    run(tmp_path, scenario)


def test_a_pause_holds_a_projection_back_across_restarts_and_its_lag_shows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "p.db"

    async def scenario(store: SqliteEventStore, appender: Appender) -> None:
        before = await store.last_position()
        async with ProjectionRunner(
            store, default_projections(), path, clock=lambda: 1_010.0
        ) as runner:
            assert await runner.wait_caught_up(timeout=30)
            assert runner.status().of("lobby").lag_seconds == 0.0
            await runner.instruct(Pause("lobby"))
            await appender.append(matches(40)[30:])
            assert await runner.wait_caught_up(timeout=30)
            lobby = runner.status().of("lobby")
            head = await store.last_position()
            assert (lobby.paused, lobby.position, lobby.behind) == (True, before, head - before)
            assert lobby.lag_seconds == 10.0  # recorded at 1000 by the store's clock
            assert runner.status().of("leaderboard").behind == 0
        async with ProjectionRunner(store, default_projections(), path) as runner:
            assert await runner.wait_caught_up(timeout=30)
            assert runner.status().of("lobby").position == before
            await runner.instruct(Resume("lobby"))
            assert await runner.wait_caught_up(timeout=30)
            assert runner.status().of("lobby").position == head
        assert dump(path) == await clean_build(store, tmp_path / "clean.db")

    run(tmp_path, scenario, clock=lambda: 1_000.0)


def test_archived_matches_are_rebuilt_from_the_archive_and_marked_archived(
    tmp_path: Path,
) -> None:
    path = tmp_path / "p.db"

    async def scenario(store: SqliteEventStore, appender: Appender) -> None:
        async with ProjectionRunner(store, default_projections(), path) as runner:
            assert await runner.wait_caught_up(timeout=30)
            models = SyncReadModels(path, runner=runner)
            finished = [m.room_id for m in models.match_history(limit=100).items]
            archived = finished[::3]
            for room in archived:
                await store.set_status(room, "completed")
                await store.archive_stream(room)
                await runner.instruct(MarkArchived(room))
            for room in finished:
                detail = models.match(room)
                assert detail is not None and detail.summary.archived == (room in archived)
            # Archival is not an event: a rebuild keeps what mark_archived recorded.
            await runner.instruct(Rebuild("match_history"))
            assert await runner.wait_caught_up(timeout=30)
            assert [m.archived for m in models.match_history(limit=100).items] == [
                room in archived for room in finished
            ]
        # A build from zero reads the archived matches from their bundles.
        assert dump(path) == await clean_build(store, tmp_path / "clean.db")

    run(tmp_path, scenario)


def test_the_async_queries_answer_as_the_sync_ones(tmp_path: Path) -> None:
    path = tmp_path / "p.db"

    async def scenario(store: SqliteEventStore, appender: Appender) -> None:
        from projections import ReadModels

        async with ProjectionRunner(store, default_projections(), path) as runner:
            assert await runner.wait_caught_up(timeout=30)
            sync = SyncReadModels(path)
            models = ReadModels(path, runner=runner)
            room = (await models.match_history(limit=1)).items[0].room_id
            player = (await models.leaderboard(limit=1)).items[0].name
            assert await models.lobby() == sync.lobby()
            assert await models.joinable() == sync.joinable()
            assert await models.leaderboard("points") == sync.leaderboard("points")
            assert await models.player_stats(player) == sync.player_stats(player)
            assert await models.match_history(player) == sync.match_history(player)
            assert await models.match(room) == sync.match(room)
            assert (await models.status()).running
            history = await models.match_history(limit=5, offset=5)
            assert history.items == sync.match_history(limit=100).items[5:10]
            models.close()
            sync.close()

    run(tmp_path, scenario)


def test_events_that_arrive_within_the_gather_interval_are_folded_in_one_batch(
    tmp_path: Path,
) -> None:
    """`gather_for` trades a little lag for one read-model commit per interval."""

    async def batches_for_three_commits(gather_for: float, first_seed: int) -> int:
        folded = 0

        def count() -> None:
            nonlocal folded
            folded += 1

        runner = ProjectionRunner(
            store, default_projections(), tmp_path / f"p{gather_for}.db", gather_for=gather_for
        )
        async with runner:
            assert await runner.wait_caught_up(timeout=30)
            runner.before_commit = count
            for room, events in matches(3, first_seed=first_seed):
                await Appender(store).append([(room, events[:5])], streams_per_commit=1)
                await asyncio.sleep(0.2)  # time enough for an eager runner to fold each
            assert await runner.wait_caught_up(timeout=30)
        return folded

    store: SqliteEventStore

    async def scenario(opened: SqliteEventStore, appender: Appender) -> None:
        nonlocal store
        store = opened
        eager = await batches_for_three_commits(0.0, first_seed=100)
        gathered = await batches_for_three_commits(2.0, first_seed=103)
        assert eager >= 3, eager
        assert gathered == 1, gathered

    run(tmp_path, scenario)
