"""Process crashes: an engine process SIGKILLed at random moments loses no acknowledged command.

A worker plays matches through the `Engine` facade (humans driven by the bot policy, with
explicit command ids) and logs each command id, fsynced, right after its acknowledgement.
The test kills it at random moments (most 0.05-0.5 s into a life, every fifth one while it
is still opening the store and resuming rooms), restarts it on the same files, and repeats.
Then a last life finishes every match, and the audit checks: every logged id is stored,
every stream is contiguous and exactly tiled by its commands, every match ended and was
archived. LIAPTUI_LONG=1 runs 1,000 kills instead of 50.

Midway, one life backs the running store up, plays on and is killed, and the store is put
back from that backup by the procedure of docs/operations.md, run as written: every
command acknowledged before the backup began must be there at the end, the read models
(ahead of the restored log) rebuild, and `replay-tool verify --all` passes. Two lives run
a second engine process on the same store beside the first (each wakes every active
room, so a room may refuse a move its stale copy no longer fits while both run: counted,
never an engine failure, and nothing acknowledged may be lost).
"""

from __future__ import annotations

from pathlib import Path

from tests.reliability.crash_campaign import run_campaign
from tests.reliability.harness import LONG

KILLS = 1000 if LONG else 50
PG_KILLS = 200 if LONG else 10  # each life reconnects to a server: the SQLite run covers more


def test_sigkilled_engine_processes_lose_no_acknowledged_command_and_every_match_finishes(
    tmp_path: Path,
) -> None:
    result = run_campaign(
        tmp_path,
        kills=KILLS,
        seed=20261128,
        progress=LONG,
        restore_at=KILLS // 2,
        pairs_at=(KILLS // 4, KILLS * 3 // 4),
        verify=True,
    )
    print(result.summary(), f"acknowledged={result.acknowledged} events={result.events}")
    assert result.kills == KILLS
    assert result.lost == 0
    assert (result.restores, result.pairs) == (1, 2)
    assert result.given_up > 0, "the life should have played on past its backup"
    assert result.rival_acknowledged > 0, "the second engine process should have played"
    print(f"given_up={result.given_up} stale_refusals={result.stale_refusals}")
    assert result.read_models == result.rooms, "the read models hold every match, once"
    assert result.verified
    assert result.refused == [], result.refused[:10]
    assert result.matches >= KILLS // 10, "the kills should land in the middle of many matches"
    assert result.acknowledged > 0 and result.events > 0


def test_sigkilled_engine_processes_on_postgresql_lose_no_acknowledged_command(
    tmp_path: Path, pg_url: str
) -> None:
    result = run_campaign(
        tmp_path, kills=PG_KILLS, seed=20261203, url=pg_url, pairs_at=(PG_KILLS // 2,)
    )
    print(result.summary(), f"acknowledged={result.acknowledged} events={result.events}")
    assert result.kills == PG_KILLS
    assert result.lost == 0
    assert result.pairs == 1 and result.rival_acknowledged > 0
    assert result.read_models == result.rooms, "the read models hold every match, once"
    assert result.refused == [], result.refused[:10]
    assert result.acknowledged > 0 and result.events > 0
