"""`legal_plays` in each update: a client that plays only from that list is never refused,
and the list is exactly what the rules allow (every valid lead; any `required` pieces)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from itertools import combinations
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from engine.plays import is_valid
from engine.state import Phase
from tests.examples.test_server import Client, Message, running_server


class ListPlayer(Client):
    """Plays a random entry of the server's `legal_plays`; checks each list as it arrives."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.legal: list[list[str]] = []
        self.leads_checked = 0
        self.follows_checked = 0
        self.pick = random.Random(17)

    def _apply(self, msg: Message) -> None:
        self.legal = msg["legal_plays"]
        super()._apply(msg)
        self._check()

    def _check(self) -> None:
        v = self.view
        assert v is not None
        mine = v.my_seat
        to_move = (
            v.phase is Phase.TURN
            and mine is not None
            and v.turn == mine
            and v.seats[mine].connected
        )
        if not to_move:
            if self.legal:
                self.problems.append(f"legal plays sent out of turn at v{v.version}")
            return
        plays = [tuple(p) for p in self.legal]
        if len(set(plays)) != len(plays) or any(list(p) != sorted(p) for p in plays):
            self.problems.append(f"repeated or unsorted legal plays at v{v.version}")
        hand = Counter(v.hand)
        if any(Counter(p) - hand for p in plays):
            self.problems.append(f"a legal play not in the hand at v{v.version}")
        if not v.plays:  # a lead: every valid combination of the hand, and nothing else
            every = {
                tuple(sorted(c))
                for n in range(1, 7)
                for c in combinations(v.hand, n)
                if is_valid(c)
            }
            if set(plays) != every:
                self.problems.append(f"leads {plays} != {sorted(every)} at v{v.version}")
            self.leads_checked += 1
        else:  # a follow: any `required` pieces
            every = {tuple(sorted(c)) for c in combinations(v.hand, v.required)}
            if set(plays) != every:
                self.problems.append(f"follows {plays} != {sorted(every)} at v{v.version}")
            self.follows_checked += 1

    def move(self) -> Message | None:
        chosen = super().move()
        if chosen is not None and chosen["kind"] == "play":
            if not self.legal:
                return None  # this view says not yet
            return {"kind": "play", "pieces": list(self.pick.choice(self.legal))}
        return chosen


def test_a_client_playing_only_listed_plays_is_never_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_server(tmp_path) as (_, url):
            player = ListPlayer(await connect(url), "Ann")
            assert (await player.request("hello", name="Ann"))["type"] == "welcome"
            await player.ok("create_room")
            await player.ok("start")
            await asyncio.wait_for(player.play(), 60)  # raises on any refusal
            assert player.problems == []
            assert player.finished
            assert player.leads_checked > 0 and player.follows_checked > 0
            await player.ws.close()

    asyncio.run(scenario())
