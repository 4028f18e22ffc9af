"""Fault injection: a failing store, a full disk, damaged snapshots, damaged archive bundles.

A command whose commit fails gets a typed rejection ("unavailable") and leaves nothing
half-written; rooms keep equalling a fold of the store; service resumes when the fault
clears and the same match finishes. A damaged snapshot is skipped for a full replay. A
damaged archive bundle is reported as CorruptData naming its stream, never as wrong events.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lz4.frame
import msgspec
import pytest
from msgspec.structs import replace

from actors.config import EngineConfig
from actors.facade import Accepted, Engine
from engine.codec import STATE_SCHEMA_VERSION, decode_records
from engine.commands import Tick
from engine.evolve import fold
from engine.rejections import Code, Rejection
from engine.settings import RoomSettings
from engine.state import Phase, RoomState
from engine.store.errors import BundlesMissing, CorruptData, StoreUnavailable
from engine.store.records import RecordedEvent
from engine.store.sqlite import SqliteEventStore
from engine.views import view
from projections import ReadModelsDamaged
from tests.actors.conftest import (
    start_bot_match,
    wait_for_archived,
    wait_for_game_over,
    wait_until,
)
from tests.reliability.harness import (
    check_stream,
    next_human_move,
    open_human_room,
    play_to_end,
    stored_state,
)

HUMANS = ["ann", "bob", "cat"]
SHORT = replace(RoomSettings.fast(), round_cap=1)


def config(path: Path, **changes: Any) -> EngineConfig:
    base = EngineConfig.fast(
        str(path), room_settings=SHORT, archive_after=None, projections=False, bot_delay=0.0
    )
    return replace(base, **changes)


async def assert_consistent(engine: Engine, room: str) -> RoomState:
    """The stream is contiguous and tiled by whole commands; the live room equals its fold."""
    records = await engine.store.read_stream(room)
    check_stream(room, records, await engine.store.read_commands(room))
    state = fold(decode_records(records))
    for player in [*HUMANS, None]:
        assert await engine.view(room, player) == view(state, player)
    return state


async def move_until_refused(engine: Engine, room: str, limit: int = 400) -> Any:
    """Send the humans' moves until one is refused; returns (command, rejection)."""
    for _ in range(limit):
        state, command = await next_human_move(engine, room)
        assert state.phase is not Phase.GAME_OVER, "the fault never showed"
        if command is None:
            await asyncio.sleep(0.002)
            continue
        outcome = await engine.send(room, command, rate_limited=False)
        if isinstance(outcome, Rejection):
            return command, outcome
    raise AssertionError("no command was refused")


# --- commits that fail ------------------------------------------------------------------


class FailingCommits:
    """Wraps a store's append_batch and append_batch_now (the inline commit the driver
    tries first): while `failing`, every commit raises StoreUnavailable."""

    def __init__(self, store: SqliteEventStore) -> None:
        self.real = store.append_batch
        self.real_now = store.append_batch_now
        self.failing = False
        self.attempts = 0
        store.append_batch = self  # type: ignore[method-assign]
        store.append_batch_now = self.now  # type: ignore[method-assign]

    async def __call__(self, requests: Any) -> Any:
        self._fail_if_failing()
        return await self.real(requests)

    def now(self, requests: Any) -> Any:
        self._fail_if_failing()
        return self.real_now(requests)

    def _fail_if_failing(self) -> None:
        if self.failing:
            self.attempts += 1
            raise StoreUnavailable("injected: disk went away")


def test_commands_during_a_store_outage_are_refused_as_unavailable_and_the_match_then_finishes(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        db = tmp_path / "games.db"
        async with Engine.open(db, config(db)) as engine:
            await open_human_room(engine, "HUMANS", seed=5)
            bot_rooms = [await start_bot_match(engine, f"b{n}", seed=n) for n in range(3)]
            for _ in range(6):  # some moves before the fault
                _, command = await next_human_move(engine, "HUMANS")
                if command is not None:
                    assert isinstance(await engine.send("HUMANS", command), Accepted)
            commits = FailingCommits(engine.store)
            commits.failing = True
            outage = asyncio.get_running_loop().time()
            before = await assert_consistent(engine, "HUMANS")
            for _ in range(5):
                _, command = await next_human_move(engine, "HUMANS")
                if command is None:
                    await asyncio.sleep(0.01)
                    continue
                refused = await engine.send("HUMANS", command, rate_limited=False)
                assert isinstance(refused, Rejection) and refused.code is Code.UNAVAILABLE
                assert await assert_consistent(engine, "HUMANS") == before
            await asyncio.sleep(0.5)  # the bots keep trying, with a pause between tries
            # Without a pause the 3 bot rooms retried ~2,000 times in 0.5 s; with one, each
            # room tries about every RETRY_AFTER (0.25 s).
            seconds = asyncio.get_running_loop().time() - outage
            assert commits.attempts <= 5 + 4 * (seconds / 0.25 + 2), commits.attempts
            commits.failing = False
            final = await play_to_end(engine, "HUMANS")
            assert final.phase is Phase.GAME_OVER
            await wait_for_game_over(engine, bot_rooms, timeout=60)
            for room in ["HUMANS", *bot_rooms]:
                await assert_consistent(engine, room)
            assert engine.metrics().get("room_crash", 0) == 0

    asyncio.run(scenario())


def test_a_full_disk_refuses_commits_without_half_writes_and_the_same_command_succeeds_later(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        db = tmp_path / "games.db"
        async with Engine.open(db, config(db)) as engine:
            await open_human_room(engine, "HUMANS", seed=2)
            store = engine.store
            hot = store._hot

            def pragma(sql: str) -> Callable[[], Any]:
                return lambda: hot.execute(sql).fetchone()

            pages = (await store._run(pragma("PRAGMA page_count")))[0]
            await store._run(pragma(f"PRAGMA max_page_count = {pages}"))
            command, refused = await move_until_refused(engine, "HUMANS")
            assert refused.code is Code.UNAVAILABLE and "full" in refused.message
            state = await assert_consistent(engine, "HUMANS")
            await store._run(pragma("PRAGMA max_page_count = 1073741823"))
            again = await engine.send("HUMANS", command, rate_limited=False)
            assert isinstance(again, Accepted) and not again.duplicate
            assert again.first_version == state.version + 1
            assert (await play_to_end(engine, "HUMANS")).phase is Phase.GAME_OVER
            await assert_consistent(engine, "HUMANS")

    asyncio.run(scenario())


# --- damaged snapshots ----------------------------------------------------------------------


def _flip_payload(row: dict[str, Any]) -> None:
    payload = bytearray(row["payload"])
    payload[len(payload) // 2] ^= 0x5A
    row["payload"] = bytes(payload)  # the checksum no longer matches


def _random_payload(row: dict[str, Any]) -> None:
    row["payload"] = os.urandom(len(row["payload"]))
    row["checksum"] = zlib.crc32(row["payload"])  # passes the checksum, is no lz4 frame


def _garbage_state(row: dict[str, Any]) -> None:
    row["payload"] = lz4.frame.compress(msgspec.msgpack.encode({"version": "no", "seats": 7}))
    row["checksum"] = zlib.crc32(row["payload"])  # decompresses, is no RoomState


def _truncated(row: dict[str, Any]) -> None:
    row["payload"] = row["payload"][: len(row["payload"]) // 3]
    row["checksum"] = zlib.crc32(row["payload"])


def _future_schema(row: dict[str, Any]) -> None:
    row["schema_version"] = STATE_SCHEMA_VERSION + 7


def _wrong_version(row: dict[str, Any]) -> None:
    row["version"] = row["version"] - 1  # the state inside says otherwise


@pytest.mark.parametrize(
    "damage",
    [_flip_payload, _random_payload, _garbage_state, _truncated, _future_schema, _wrong_version],
)
def test_a_damaged_snapshot_is_skipped_and_the_room_recovers_by_full_replay(
    tmp_path: Path, damage: Callable[[dict[str, Any]], None]
) -> None:
    db = tmp_path / "games.db"
    cfg = config(db, snapshot_every=5)

    async def play_some() -> None:
        async with Engine.open(db, cfg) as engine:
            await open_human_room(engine, "HUMANS", seed=8)
            for _ in range(25):
                _, command = await next_human_move(engine, "HUMANS")
                if command is not None:
                    assert isinstance(await engine.send("HUMANS", command), Accepted)
            await wait_until(lambda: _has_snapshot(engine), timeout=10)
            _, snapshot_version = await engine.driver._recover_state("HUMANS")
            assert snapshot_version > 0, "an intact snapshot is used"

    async def recover() -> None:
        async with Engine.open(db, cfg) as engine:
            truth = await stored_state(engine, "HUMANS")
            state, snapshot_version = await engine.driver._recover_state("HUMANS")
            assert snapshot_version == 0 and state == truth
            assert await assert_consistent(engine, "HUMANS") == truth
            assert (await play_to_end(engine, "HUMANS")).phase is Phase.GAME_OVER

    asyncio.run(play_some())
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        row = dict(conn.execute("SELECT * FROM snapshots WHERE stream_id = 'HUMANS'").fetchone())
        damage(row)
        conn.execute(
            "UPDATE snapshots SET version = ?, schema_version = ?, payload = ?, checksum = ? "
            "WHERE stream_id = 'HUMANS'",
            (row["version"], row["schema_version"], row["payload"], row["checksum"]),
        )
    conn.close()
    asyncio.run(recover())


async def _has_snapshot(engine: Engine) -> bool:
    return await engine.store.load_snapshot("HUMANS", STATE_SCHEMA_VERSION) is not None


# --- damaged archive bundles and event rows -----------------------------------------------


def _flip(column: str, where: float) -> Callable[[sqlite3.Connection, str, str], None]:
    def damage(conn: sqlite3.Connection, room: str, other: str) -> None:
        (raw,) = conn.execute(
            f"SELECT {column} FROM bundles WHERE stream_id = ?", (room,)
        ).fetchone()
        bad = bytearray(raw)
        bad[int(len(bad) * where)] ^= 0xFF
        conn.execute(f"UPDATE bundles SET {column} = ? WHERE stream_id = ?", (bytes(bad), room))

    damage.__name__ = f"flip_{column}_{where}"
    return damage


def _cut_body(conn: sqlite3.Connection, room: str, other: str) -> None:
    conn.execute("UPDATE bundles SET body = substr(body, 1, 40) WHERE stream_id = ?", (room,))


def _other_streams_bundle(conn: sqlite3.Connection, room: str, other: str) -> None:
    header, body = conn.execute(
        "SELECT header, body FROM bundles WHERE stream_id = ?", (other,)
    ).fetchone()
    conn.execute(
        "UPDATE bundles SET header = ?, body = ? WHERE stream_id = ?", (header, body, room)
    )


def _missing_bundle(conn: sqlite3.Connection, room: str, other: str) -> None:
    conn.execute("DELETE FROM bundles WHERE stream_id = ?", (room,))


@pytest.mark.parametrize(
    "damage",
    [
        _flip("header", 0.1),
        _flip("header", 0.9),
        _flip("body", 0.5),
        _cut_body,
        _other_streams_bundle,
        _missing_bundle,
    ],
)
def test_a_damaged_archive_bundle_reads_as_corrupt_data_naming_its_stream_never_as_wrong_events(
    tmp_path: Path, damage: Callable[[sqlite3.Connection, str, str], None]
) -> None:
    db = tmp_path / "games.db"
    cfg = config(db, archive_after=0.0)
    rooms: list[str] = []
    originals: dict[str, list[RecordedEvent]] = {}

    async def play_and_archive() -> None:
        async with Engine.open(db, cfg) as engine:
            rooms.extend([await start_bot_match(engine, f"h{n}", seed=n) for n in range(2)])
            await wait_for_game_over(engine, rooms)

            await wait_for_archived(engine, rooms, timeout=30)
            for room in rooms:
                originals[room] = await engine.store.read_stream(room)

    async def read_back() -> None:
        room, other = rooms
        async with Engine.open(db, cfg) as engine:
            with pytest.raises(CorruptData) as raised:
                await engine.store.read_stream(room)
            assert raised.value.stream_id == room
            # The global log is refused whole rather than read with the match left out; a
            # bundle gone altogether is found when the store opens (BundlesMissing).
            with pytest.raises(CorruptData) as raised:
                await _read_everything(engine.store)
            error = raised.value
            named = error.stream_ids if isinstance(error, BundlesMissing) else (error.stream_id,)
            assert named == (room,)
            assert isinstance(error, BundlesMissing) == (damage is _missing_bundle)
            with pytest.raises(CorruptData) as raised:
                await engine.store.export_bundle(room, tmp_path / "out.bundle")
            assert raised.value.stream_id == room
            # The room cannot be loaded: a typed refusal, no crash, nothing invented.
            for attempt in (engine.view(room, None), engine.send(room, Tick(player=""))):
                refused = await attempt
                assert isinstance(refused, Rejection) and refused.code is Code.UNAVAILABLE
                assert "CorruptData" in refused.message and room in refused.message
            # The other archived match still reads exactly as it was.
            assert await engine.store.read_stream(other) == originals[other]
            assert engine.metrics().get("room_crash", 0) == 0

    asyncio.run(play_and_archive())
    room, other = rooms
    with sqlite3.connect(f"{db}.archive.db") as conn:
        damage(conn, room, other)
    conn.close()
    asyncio.run(read_back())


def test_a_damaged_hot_event_row_reads_as_corrupt_data_naming_stream_and_version(
    tmp_path: Path,
) -> None:
    db = tmp_path / "games.db"
    cfg = config(db)

    async def play_some() -> None:
        async with Engine.open(db, cfg) as engine:
            await open_human_room(engine, "HUMANS", seed=3)
            await open_human_room(engine, "OTHERS", seed=4)

    async def read_back() -> None:
        async with Engine.open(db, cfg) as engine:
            with pytest.raises(CorruptData) as raised:
                await engine.store.read_stream("HUMANS")
            assert (raised.value.stream_id, raised.value.version) == ("HUMANS", 3)
            refused = await engine.view("HUMANS", "ann")
            assert isinstance(refused, Rejection) and refused.code is Code.UNAVAILABLE
            assert (await play_to_end(engine, "OTHERS")).phase is Phase.GAME_OVER
            assert engine.metrics().get("room_crash", 0) == 0

    asyncio.run(play_some())
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE events SET data = CAST(data || x'00' AS BLOB) "
            "WHERE stream_id = 'HUMANS' AND version = 3"
        )
    conn.close()
    asyncio.run(read_back())


async def _read_everything(store: SqliteEventStore) -> list[RecordedEvent]:
    events: list[RecordedEvent] = []
    while page := await store.read_all(events[-1].position if events else 0, limit=100):
        events += page
    return events


def test_a_failed_archival_is_retried_with_backoff_until_it_succeeds(tmp_path: Path) -> None:
    async def scenario() -> None:
        config = EngineConfig.fast(
            str(tmp_path / "games.db"), archive_after=0.0, archive_retry=0.05, projections=False
        )
        async with Engine.open(tmp_path / "games.db", config) as engine:
            store = engine._store
            assert store is not None
            real = store.archive_stream
            attempts: list[float] = []

            async def failing_twice(stream_id: str) -> Any:
                attempts.append(asyncio.get_running_loop().time())
                if len(attempts) <= 2:
                    raise StoreUnavailable("injected: the archive file is unavailable")
                return await real(stream_id)

            store.archive_stream = failing_twice  # type: ignore[method-assign]
            room = await start_bot_match(engine, "host", seed=4)
            await wait_for_game_over(engine, [room])

            await wait_for_archived(engine, [room], timeout=30)
            metrics = engine.metrics()
            assert metrics["archive_failed"] == 2 and metrics["archived"] == 1
            assert len(attempts) == 3
            # The second wait is twice the first (0.05 s, then 0.1 s).
            assert attempts[2] - attempts[1] >= 0.1 > attempts[1] - attempts[0] >= 0.05
            assert not engine.driver.archive_failures
            # Nothing was lost on the way: the archived match reads whole.
            assert fold(decode_records(await store.read_stream(room))).phase is Phase.GAME_OVER

    asyncio.run(scenario())


# --- damaged whole files ---------------------------------------------------------------------


def _play_one_archived_match(db: Path) -> str:
    async def play() -> str:
        async with Engine.open(db, config(db, archive_after=0.0, projections=True)) as engine:
            room = await start_bot_match(engine, "h0", seed=11)
            await wait_for_game_over(engine, [room])

            await wait_for_archived(engine, [room], timeout=30)
            assert await engine.projections.wait_caught_up(timeout=30)
            return room

    return asyncio.run(play())


def _files(db: Path) -> dict[Path, bytes]:
    names = (db, Path(f"{db}.archive.db"), Path(f"{db}.projections.db"))
    return {p: p.read_bytes() for p in names if p.exists()}


def _stored(db: Path) -> dict[str, list[Any]]:
    """What the store holds, row by row (opening it may checkpoint, so bytes may move)."""
    rows: dict[str, list[Any]] = {}
    for path, tables in (
        (db, ("events", "streams", "commands", "snapshots")),
        (Path(f"{db}.archive.db"), ("bundles",)),
    ):
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            for table in tables:
                rows[table] = conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
        finally:
            conn.close()
    return rows


@pytest.mark.parametrize("which", ["", ".archive.db"])
def test_a_damaged_store_file_is_refused_by_name_and_left_as_it_was(
    tmp_path: Path, which: str
) -> None:
    db = tmp_path / "games.db"
    _play_one_archived_match(db)
    damaged = Path(f"{db}{which}")
    with open(damaged, "r+b") as file:
        file.write(os.urandom(4096))  # the header page and more: not a database any more
    before = _files(db)

    async def reopen() -> None:
        async with Engine.open(db, config(db, projections=True)):
            pass

    with pytest.raises(CorruptData) as refused:
        asyncio.run(reopen())
    assert str(damaged) in str(refused.value) and "is damaged" in str(refused.value)
    assert _files(db) == before


def test_a_damaged_read_model_file_is_refused_by_name_and_rebuilt_once_moved_aside(
    tmp_path: Path,
) -> None:
    db = tmp_path / "games.db"
    room = _play_one_archived_match(db)
    read_models = Path(f"{db}.projections.db")
    with open(read_models, "r+b") as file:
        file.write(os.urandom(4096))
    damaged, stored = read_models.read_bytes(), _stored(db)

    async def reopen() -> list[str]:
        async with Engine.open(db, config(db, projections=True)) as engine:
            assert await engine.projections.wait_caught_up(timeout=30)
            page = await engine.read_models.match_history(limit=10)
            return [m.room_id for m in page.items]

    with pytest.raises(ReadModelsDamaged) as refused:
        asyncio.run(reopen())
    assert str(read_models) in str(refused.value) and refused.value.code == "read_models_damaged"
    assert read_models.read_bytes() == damaged and _stored(db) == stored
    read_models.rename(tmp_path / "aside.db")
    for suffix in ("-wal", "-shm"):
        Path(f"{read_models}{suffix}").unlink(missing_ok=True)
    assert asyncio.run(reopen()) == [room]
