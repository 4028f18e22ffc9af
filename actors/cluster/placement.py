"""Which node owns a room: rendezvous (highest random weight) hashing over live members.

Every node computes the same owner from the same membership, with no table to consult;
when a member leaves, only its rooms move, and when one joins it takes about 1/N of all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def weight(node_id: str, room_id: str) -> int:
    digest = hashlib.blake2b(f"{node_id}\x00{room_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(room_id: str, members: Iterable[str]) -> str | None:
    """The member that owns `room_id` (None without members)."""
    best: str | None = None
    best_weight = -1
    for node_id in members:
        w = weight(node_id, room_id)
        if w > best_weight or (w == best_weight and best is not None and node_id < best):
            best, best_weight = node_id, w
    return best
