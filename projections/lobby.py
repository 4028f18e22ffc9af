"""The lobby: rooms that are open (not finished, not closed), their seats and their phase."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import cache
from typing import Any

from msgspec import Struct

from engine.events import (
    BotAdded,
    DeclarationStarted,
    Declared,
    Event,
    GameOver,
    GameStarted,
    HandsDealt,
    HostChanged,
    PlayerDisconnected,
    PlayerJoined,
    PlayerLeft,
    PlayerReconnected,
    PlayerRemoved,
    RoomClosed,
    RoomCreated,
    RoundScored,
    RoundStarted,
)
from engine.pieces import SEATS
from engine.state import Phase, bot_name
from engine.store.records import RecordedEvent
from projections.pages import Page, read_page
from projections.protocol import Connection, FoldError, expect_rows

Fold = Callable[[Connection, str, RecordedEvent, Any], None]


@cache
def _sql(prefix: str) -> dict[str, str]:
    rooms = f"{prefix}lobby_rooms"
    seats = f"{prefix}lobby_seats"
    return {
        "insert_room": f"INSERT INTO {rooms} VALUES (?,?,0,?,0,0,0,0,?,?)",
        "insert_seats": f"INSERT INTO {seats} VALUES (?,?,?,?,1)",
        "seat_taken": f"UPDATE {seats} SET name = ?, is_bot = ?, connected = 1 "
        "WHERE room_id = ? AND seat = ? AND name IS NULL",
        "seat_freed": f"UPDATE {seats} SET name = NULL, is_bot = 0, connected = 1 "
        "WHERE room_id = ? AND seat = ? AND name = ?",
        "empty_seats": f"UPDATE {rooms} SET empty_seats = empty_seats + ? WHERE room_id = ?",
        "host": f"UPDATE {rooms} SET host = ?, host_seat = ? WHERE room_id = ?",
        "connected": f"UPDATE {seats} SET connected = ? WHERE room_id = ? AND seat = ? AND name = ?",
        "started": f"UPDATE {rooms} SET started = 1, phase = ? WHERE room_id = ? AND started = 0",
        "phase": f"UPDATE {rooms} SET phase = ? WHERE room_id = ?",
        "phase_round": f"UPDATE {rooms} SET phase = ?, round = ? WHERE room_id = ?",
        "declaring": f"UPDATE {rooms} SET phase = ?, declared = 0 WHERE room_id = ?",
        # All four declared: the tricks begin (the engine's TURN phase).
        "declared": f"UPDATE {rooms} SET declared = declared + 1, phase = CASE WHEN "
        f"declared + 1 >= {SEATS} THEN '{Phase.TURN.value}' ELSE phase END WHERE room_id = ?",
        "delete_room": f"DELETE FROM {rooms} WHERE room_id = ?",
        "delete_seats": f"DELETE FROM {seats} WHERE room_id = ?",
    }


class LobbyProjection:
    """Open rooms with their host, seats (who sits there, bots, connection) and phase.

    A room enters at RoomCreated and leaves at GameOver or RoomClosed; finished matches
    are the match history's business. A room is joinable while not started with an empty
    seat.
    """

    name = "lobby"
    version = 1
    tables = ("lobby_rooms", "lobby_seats")

    def __init__(self) -> None:
        self._folds: dict[type[Event], Fold] = {
            RoomCreated: self._room_created,
            PlayerJoined: self._player_joined,
            BotAdded: self._bot_added,
            PlayerLeft: self._seat_freed,
            PlayerRemoved: self._seat_freed,
            HostChanged: self._host_changed,
            PlayerDisconnected: self._disconnected,
            PlayerReconnected: self._reconnected,
            GameStarted: self._game_started,
            HandsDealt: self._hands_dealt,
            RoundStarted: self._round_started,
            DeclarationStarted: self._declaration_started,
            Declared: self._declared,
            RoundScored: self._round_scored,
            GameOver: self._gone,
            RoomClosed: self._gone,
        }
        self.handles = frozenset(cls.__name__ for cls in self._folds)

    def schema(self, prefix: str) -> list[str]:
        return [
            f"""CREATE TABLE {prefix}lobby_rooms (
                room_id TEXT PRIMARY KEY,
                host TEXT NOT NULL,
                host_seat INTEGER NOT NULL,
                phase TEXT NOT NULL,
                started INTEGER NOT NULL,
                round INTEGER NOT NULL,
                declared INTEGER NOT NULL,
                empty_seats INTEGER NOT NULL,
                created_position INTEGER NOT NULL,
                created_at REAL NOT NULL
            ) WITHOUT ROWID""",
            f"""CREATE TABLE {prefix}lobby_seats (
                room_id TEXT NOT NULL,
                seat INTEGER NOT NULL,
                name TEXT,
                is_bot INTEGER NOT NULL,
                connected INTEGER NOT NULL,
                PRIMARY KEY (room_id, seat)
            ) WITHOUT ROWID""",
            f"CREATE INDEX {prefix}lobby_rooms_by_creation "
            f"ON {prefix}lobby_rooms (created_position)",
            f"CREATE INDEX {prefix}lobby_rooms_joinable ON {prefix}lobby_rooms "
            "(created_position) WHERE started = 0 AND empty_seats > 0",
        ]

    def apply(
        self, conn: Connection, prefix: str, record: RecordedEvent, event: Event
    ) -> None:
        self._folds[type(event)](conn, prefix, record, event)

    def _room_created(
        self, conn: Connection, p: str, record: RecordedEvent, e: RoomCreated
    ) -> None:
        sql = _sql(p)
        room = record.stream_id
        try:
            conn.execute(
                sql["insert_room"],
                (room, e.host, Phase.WAITING.value, record.position, e.at),
            )
        except sqlite3.IntegrityError:
            raise FoldError(f"room {room} created twice") from None
        seats = [(room, 0, e.host, 0)] + [(room, s, bot_name(s), 1) for s in range(1, SEATS)]
        conn.executemany(sql["insert_seats"], seats)

    def _player_joined(
        self, conn: Connection, p: str, record: RecordedEvent, e: PlayerJoined
    ) -> None:
        self._seat_taken(conn, p, record.stream_id, e.seat, e.name, False)

    def _bot_added(
        self, conn: Connection, p: str, record: RecordedEvent, e: BotAdded
    ) -> None:
        self._seat_taken(conn, p, record.stream_id, e.seat, e.name, True)

    def _seat_taken(
        self, conn: Connection, p: str, room: str, seat: int, name: str, is_bot: bool
    ) -> None:
        sql = _sql(p)
        cursor = conn.execute(sql["seat_taken"], (name, int(is_bot), room, seat))
        expect_rows(cursor, 1, f"{name} takes empty seat {seat} of {room}")
        conn.execute(sql["empty_seats"], (-1, room))

    def _seat_freed(
        self,
        conn: Connection,
        p: str,
        record: RecordedEvent,
        e: PlayerLeft | PlayerRemoved,
    ) -> None:
        sql = _sql(p)
        room = record.stream_id
        cursor = conn.execute(sql["seat_freed"], (room, e.seat, e.name))
        expect_rows(cursor, 1, f"{e.name} leaves seat {e.seat} of {room}")
        conn.execute(sql["empty_seats"], (1, room))

    def _host_changed(
        self, conn: Connection, p: str, record: RecordedEvent, e: HostChanged
    ) -> None:
        cursor = conn.execute(_sql(p)["host"], (e.name, e.seat, record.stream_id))
        expect_rows(cursor, 1, f"host of {record.stream_id}")

    def _disconnected(
        self, conn: Connection, p: str, record: RecordedEvent, e: PlayerDisconnected
    ) -> None:
        cursor = conn.execute(_sql(p)["connected"], (0, record.stream_id, e.seat, e.name))
        expect_rows(cursor, 1, f"{e.name} disconnects from {record.stream_id}")

    def _reconnected(
        self, conn: Connection, p: str, record: RecordedEvent, e: PlayerReconnected
    ) -> None:
        cursor = conn.execute(_sql(p)["connected"], (1, record.stream_id, e.seat, e.name))
        expect_rows(cursor, 1, f"{e.name} reconnects to {record.stream_id}")

    def _game_started(
        self, conn: Connection, p: str, record: RecordedEvent, e: GameStarted
    ) -> None:
        cursor = conn.execute(_sql(p)["started"], (Phase.PREPARATION.value, record.stream_id))
        expect_rows(cursor, 1, f"start of {record.stream_id}")

    def _hands_dealt(
        self, conn: Connection, p: str, record: RecordedEvent, e: HandsDealt
    ) -> None:
        cursor = conn.execute(
            _sql(p)["phase_round"], (Phase.PREPARATION.value, e.round, record.stream_id)
        )
        expect_rows(cursor, 1, f"deal in {record.stream_id}")

    def _round_started(
        self, conn: Connection, p: str, record: RecordedEvent, e: RoundStarted
    ) -> None:
        cursor = conn.execute(
            _sql(p)["phase_round"], (Phase.ROUND_START.value, e.round, record.stream_id)
        )
        expect_rows(cursor, 1, f"round start in {record.stream_id}")

    def _declaration_started(
        self, conn: Connection, p: str, record: RecordedEvent, e: DeclarationStarted
    ) -> None:
        cursor = conn.execute(_sql(p)["declaring"], (Phase.DECLARATION.value, record.stream_id))
        expect_rows(cursor, 1, f"declarations in {record.stream_id}")

    def _declared(
        self, conn: Connection, p: str, record: RecordedEvent, e: Declared
    ) -> None:
        cursor = conn.execute(_sql(p)["declared"], (record.stream_id,))
        expect_rows(cursor, 1, f"declaration in {record.stream_id}")

    def _round_scored(
        self, conn: Connection, p: str, record: RecordedEvent, e: RoundScored
    ) -> None:
        cursor = conn.execute(_sql(p)["phase"], (Phase.SCORING.value, record.stream_id))
        expect_rows(cursor, 1, f"scoring in {record.stream_id}")

    def _gone(
        self, conn: Connection, p: str, record: RecordedEvent, e: GameOver | RoomClosed
    ) -> None:
        sql = _sql(p)
        cursor = conn.execute(sql["delete_room"], (record.stream_id,))
        expect_rows(cursor, 1, f"end of {record.stream_id}")
        conn.execute(sql["delete_seats"], (record.stream_id,))


# --- queries ---------------------------------------------------------------------------------


class LobbySeat(Struct, frozen=True):
    """A seat of an open room: who sits there (None: empty), a bot or not, connected."""

    seat: int
    name: str | None
    is_bot: bool
    connected: bool


class LobbyRoom(Struct, frozen=True):
    """An open room: who hosts it, who sits where, whether it started and its phase."""

    room_id: str
    host: str
    host_seat: int
    phase: str
    started: bool
    round: int
    seats: tuple[LobbySeat, ...]
    empty_seats: int
    bots: int
    created_at: float

    @property
    def joinable(self) -> bool:
        return not self.started and self.empty_seats > 0


def open_rooms(conn: Connection, limit: int = 50, offset: int = 0) -> Page[LobbyRoom]:
    """Open rooms, oldest first."""
    return read_page(conn, LobbyProjection.name, _rooms_query(""), (), limit, offset, _rooms)


def joinable_rooms(conn: Connection, limit: int = 50, offset: int = 0) -> Page[LobbyRoom]:
    """Rooms not started with an empty seat, oldest first."""
    where = "WHERE started = 0 AND empty_seats > 0"
    return read_page(conn, LobbyProjection.name, _rooms_query(where), (), limit, offset, _rooms)


def open_room(conn: Connection, code: str) -> LobbyRoom | None:
    """The open room with this code (None once it is finished or closed)."""
    page = read_page(conn, LobbyProjection.name, _rooms_query("WHERE room_id = ?"), (code,), 1, 0, _rooms)
    return page.items[0] if page.items else None


def _rooms_query(where: str) -> str:
    return (
        "SELECT room_id, host, host_seat, phase, started, round, empty_seats, created_at "
        f"FROM lobby_rooms {where} ORDER BY created_position LIMIT ? OFFSET ?"
    )


def _rooms(conn: Connection, rows: list[Any]) -> list[LobbyRoom]:
    seats: dict[str, list[LobbySeat]] = {row[0]: [] for row in rows}
    if seats:
        marks = ",".join("?" * len(seats))
        for room_id, seat, name, is_bot, connected in conn.execute(
            "SELECT room_id, seat, name, is_bot, connected FROM lobby_seats "
            f"WHERE room_id IN ({marks}) ORDER BY room_id, seat",
            list(seats),
        ):
            seats[room_id].append(LobbySeat(seat, name, bool(is_bot), bool(connected)))
    return [
        LobbyRoom(
            room_id=room_id,
            host=host,
            host_seat=host_seat,
            phase=phase,
            started=bool(started),
            round=rnd,
            seats=tuple(seats[room_id]),
            empty_seats=empty,
            bots=sum(s.is_bot for s in seats[room_id]),
            created_at=created_at,
        )
        for room_id, host, host_seat, phase, started, rnd, empty, created_at in rows
    ]
