"""Typed rejections: why a command changed nothing."""

from __future__ import annotations

from enum import StrEnum

from msgspec import Struct


class Code(StrEnum):
    MALFORMED_COMMAND = "malformed_command"
    ROOM_NOT_FOUND = "room_not_found"
    ROOM_EXISTS = "room_exists"
    INVALID_ROOM_ID = "invalid_room_id"
    INVALID_SCRIPT = "invalid_script"
    INVALID_SETTINGS = "invalid_settings"
    ROOM_CLOSED = "room_closed"
    ROOM_FULL = "room_full"
    GAME_STARTED = "game_started"
    GAME_OVER = "game_over"
    INVALID_NAME = "invalid_name"
    NAME_RESERVED = "name_reserved"
    NAME_TAKEN = "name_taken"
    NAME_CONFUSABLE = "name_confusable"
    NOT_IN_ROOM = "not_in_room"
    NOT_CONNECTED = "not_connected"
    ALREADY_CONNECTED = "already_connected"
    NOT_HOST = "not_host"
    SEAT_OCCUPIED = "seat_occupied"
    SEAT_EMPTY = "seat_empty"
    CANNOT_REMOVE_SELF = "cannot_remove_self"
    NOT_ENOUGH_PLAYERS = "not_enough_players"
    WRONG_PHASE = "wrong_phase"
    NOT_YOUR_TURN = "not_your_turn"
    TOO_EARLY = "too_early"
    NOT_WEAK = "not_weak"
    ALREADY_DECIDED = "already_decided"
    DECLARATION_OUT_OF_RANGE = "declaration_out_of_range"
    DECLARATION_MAKES_EIGHT = "declaration_makes_eight"
    ZERO_STREAK = "zero_streak"
    BAD_PLAY = "bad_play"
    BAD_INDICES = "bad_indices"
    PIECES_NOT_IN_HAND = "pieces_not_in_hand"
    INVALID_LEAD = "invalid_lead"
    WRONG_PIECE_COUNT = "wrong_piece_count"
    OVERLOADED = "overloaded"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_ROOMS = "too_many_rooms"
    CONFLICT = "conflict"
    UNAVAILABLE = "unavailable"


class Rejection(Struct, frozen=True, gc=False):
    """A command refused: a machine-readable `code` and a message for a person."""

    code: Code
    message: str
