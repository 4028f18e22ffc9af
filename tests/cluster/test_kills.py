"""Nodes SIGKILLed at random moments lose nothing acknowledged, fork no match, and a paused
node resumed after its rooms moved cannot write (tests/cluster/kill_campaign.py)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.cluster.kill_campaign import run_campaign

KILLS = int(os.environ.get("LIAPTUI_CLUSTER_KILLS", "20"))


def test_sigkilled_nodes_lose_no_acknowledged_command_and_a_zombie_is_fenced(
    pg_url: str, tmp_path: Path
) -> None:
    report = run_campaign(pg_url, tmp_path, kills=KILLS, seed=15)
    print(report.summary())
    assert report.kills == KILLS
    assert report.acknowledged >= 3 * report.matches > 0
    assert report.lost == 0
    assert report.doubled == 0
    assert report.unfinished == 0
    assert report.verify_ok, report.verify_output
    assert report.zombie_lapsed
    assert report.handed_over > 0  # restarted nodes took rooms back from live owners
    assert len(report.detection) == report.kills_of_members > 0
