"""Property: reading back always gives exactly what the store acknowledged."""

# Operations interleave appends, batches, archivals (some interrupted), migrations and
# restarts; a plain model says what each read must return.

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Callable
from pathlib import Path

import msgspec
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.store import (
    AppendRequest,
    AppendResult,
    ConcurrencyConflict,
    NewEvent,
    RecordedEvent,
    SqliteEventStore,
    StreamArchived,
    migrate_store,
)
from engine.store.sqlite import ArchiveStep

STREAMS = ["m0", "m1", "m2", "m3"]
encode = msgspec.msgpack.encode
decode = msgspec.msgpack.decode


def upgrade(type_: str, schema_version: int, data: bytes) -> tuple[int, bytes]:
    body = decode(data)
    return 2, encode({**body, "b": body["a"] * 10})


def is_latest(type_: str, schema_version: int) -> bool:
    return schema_version >= 2


def lifted(type_: str, schema_version: int, data: bytes) -> tuple[str, int, bytes]:
    while not is_latest(type_, schema_version):
        schema_version, data = upgrade(type_, schema_version, data)
    return type_, schema_version, data


class Append(msgspec.Struct, frozen=True):
    """Append Toy events; `error` shifts the expected version, `command` names a command."""

    stream_id: str
    payloads: tuple[tuple[int, bool], ...]  # (a, already at v2)
    error: int
    command: int | None


class Batch(msgspec.Struct, frozen=True):
    """Append several requests in one append_batch."""

    appends: tuple[Append, ...]


class Archive(msgspec.Struct, frozen=True):
    """Complete a stream and archive it."""

    stream_id: str


class ArchiveCrash(msgspec.Struct, frozen=True):
    """Complete a stream and start archiving it, crashing after `step`."""

    stream_id: str
    step: ArchiveStep


class Migrate(msgspec.Struct, frozen=True):
    """Run the offline migration in batches of `batch_size`."""

    batch_size: int


class Reopen(msgspec.Struct, frozen=True):
    """Close the store and open its files again."""


Operation = Append | Batch | Archive | ArchiveCrash | Migrate | Reopen

appends = st.builds(
    Append,
    st.sampled_from(STREAMS),
    st.lists(st.tuples(st.integers(0, 99), st.booleans()), min_size=1, max_size=3).map(tuple),
    st.sampled_from([0, 0, 0, -1, 1]),  # mostly the right expected version
    st.none() | st.integers(0, 3),  # few ids, so retries happen
)
operations = st.lists(
    st.one_of(
        appends,
        st.builds(Batch, st.lists(appends, min_size=1, max_size=5).map(tuple)),
        st.builds(Archive, st.sampled_from(STREAMS)),
        st.builds(
            ArchiveCrash,
            st.sampled_from(STREAMS),
            st.sampled_from(["built", "bundled", "archived"]),
        ),
        st.builds(Migrate, st.integers(1, 8)),
        st.just(Reopen()),
    ),
    min_size=1,
    max_size=14,
)


class Model:
    """What the store has acknowledged, kept the simplest possible way."""

    def __init__(self) -> None:
        self.streams: dict[str, list[tuple[str, int, bytes]]] = {s: [] for s in STREAMS}
        self.log: list[tuple[str, int]] = []
        self.applied: dict[tuple[str, str], AppendResult] = {}
        self.archived: set[str] = set()
        # Schema versions as stored, which decide whether a migration changes hot rows.
        self.stored: dict[str, list[int]] = {s: [] for s in STREAMS}
        # Streams whose bundle was committed before a crash: the next open finishes their
        # archival, unless their hot rows changed since.
        self.half_archived: set[str] = set()

    def appended(self, stream_id: str) -> None:
        self.half_archived.discard(stream_id)

    def migrated(self) -> None:
        for stream_id, versions in self.stored.items():
            if stream_id not in self.archived and 1 in versions:
                self.half_archived.discard(stream_id)
                self.stored[stream_id] = [2] * len(versions)

    def reopened(self) -> None:
        self.archived |= self.half_archived
        self.half_archived.clear()

    def request(self, append: Append) -> AppendRequest:
        """Turn an Append operation into a request against the model's current versions."""
        events = tuple(
            NewEvent("Toy", 2, encode({"a": a, "b": a * 10}))
            if new
            else NewEvent("Toy", 1, encode({"a": a}))
            for a, new in append.payloads
        )
        expected = max(0, len(self.streams[append.stream_id]) + append.error)
        command_id = None if append.command is None else f"cmd-{append.command}"
        return AppendRequest(append.stream_id, expected, events, command_id=command_id)

    def expect(self, req: AppendRequest) -> AppendResult | ConcurrencyConflict:
        """Apply a request to the model and return the result the store must give."""
        stream = self.streams[req.stream_id]
        key = None if req.command_id is None else (req.stream_id, req.command_id)
        if key is not None and key in self.applied:
            return msgspec.structs.replace(self.applied[key], duplicate=True)
        if req.stream_id in self.archived:
            return StreamArchived(req.stream_id, req.expected_version, len(stream))
        if req.expected_version != len(stream):
            return ConcurrencyConflict(req.stream_id, req.expected_version, len(stream))
        first_position = len(self.log) + 1
        for event in req.events:
            stream.append(lifted(event.type, event.schema_version, event.data))
            self.stored[req.stream_id].append(event.schema_version)
            self.log.append((req.stream_id, len(stream)))
        self.appended(req.stream_id)
        result = AppendResult(
            req.stream_id,
            len(stream) - len(req.events) + 1,
            len(stream),
            first_position,
            len(self.log),
        )
        if key is not None:
            self.applied[key] = result
        return result


def same(
    actual: AppendResult | ConcurrencyConflict, expected: AppendResult | ConcurrencyConflict
) -> bool:
    if isinstance(actual, ConcurrencyConflict) and isinstance(expected, ConcurrencyConflict):
        return type(actual) is type(expected) and (
            actual.stream_id,
            actual.expected_version,
            actual.actual_version,
        ) == (expected.stream_id, expected.expected_version, expected.actual_version)
    return actual == expected


async def check_reads(store: SqliteEventStore, model: Model) -> None:
    for stream_id, expected in model.streams.items():
        events = await store.read_stream(stream_id)
        assert [lifted(e.type, e.schema_version, e.data) for e in events] == expected
        assert [e.version for e in events] == list(range(1, len(expected) + 1))
    seen: list[RecordedEvent] = []
    while page := await store.read_all(seen[-1].position if seen else 0, limit=7):
        seen += page
    assert [(e.stream_id, e.version) for e in seen] == model.log
    assert [e.position for e in seen] == list(range(1, len(model.log) + 1))
    assert await store.last_position() == len(model.log)


class Crash(Exception):
    """Stands for the process dying in the middle of an archival."""


def crash_after(step: ArchiveStep) -> Callable[[ArchiveStep], None]:
    def hook(reached: ArchiveStep) -> None:
        if reached == step:
            raise Crash(step)

    return hook


async def play(folder: Path, ops: list[Operation]) -> None:
    path = folder / "events.db"
    store = await SqliteEventStore.open(path)
    model = Model()
    try:
        for op in ops:
            if isinstance(op, Append):
                req = model.request(op)
                expected = model.expect(req)
                try:
                    actual: AppendResult | ConcurrencyConflict = await store.append(req)
                except ConcurrencyConflict as conflict:
                    actual = conflict
                assert same(actual, expected)
            elif isinstance(op, Batch):
                reqs = []
                expectations = []
                for append in op.appends:
                    reqs.append(model.request(append))
                    expectations.append(model.expect(reqs[-1]))
                results = await store.append_batch(reqs)
                assert all(same(a, e) for a, e in zip(results, expectations, strict=True))
            elif isinstance(op, Archive):
                if model.streams[op.stream_id] and op.stream_id not in model.archived:
                    await store.set_status(op.stream_id, "completed")
                    await store.archive_stream(op.stream_id)
                    model.archived.add(op.stream_id)
                    model.half_archived.discard(op.stream_id)
            elif isinstance(op, ArchiveCrash):
                if model.streams[op.stream_id] and op.stream_id not in model.archived:
                    await store.set_status(op.stream_id, "completed")
                    with contextlib.suppress(Crash):
                        await store.archive_stream(op.stream_id, on_step=crash_after(op.step))
                    if op.step == "bundled":
                        model.half_archived.add(op.stream_id)
                    elif op.step == "archived":
                        model.archived.add(op.stream_id)
                        model.half_archived.discard(op.stream_id)
            elif isinstance(op, Migrate):
                report = await migrate_store(store, upgrade, is_latest, op.batch_size)
                assert report.verified
                model.migrated()
            else:
                await store.close()
                store = await SqliteEventStore.open(path)
                model.reopened()
            await check_reads(store, model)
    finally:
        await store.close()


@settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(operations)
# A half-made archival whose hot rows a migration then rewrote: the bundle is the older copy.
@example(
    [Append("m0", ((0, False),), 0, None), ArchiveCrash("m0", "bundled"), Migrate(1), Reopen()]
)
def test_reads_always_equal_what_was_acknowledged(ops: list[Operation]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(play(Path(folder), ops))
