"""A robot whose path search finds nothing searches again after a growing pause (up to
`plan_retry_max_s`), not every step, and still gets there once its way is free."""

from __future__ import annotations

import itertools
from pathlib import Path

from fleet.model import Cell, MissionState
from tests.unit.coordinator.lockstep import Lockstep, agv, transport


def test_a_blocked_robot_searches_again_less_and_less_often_and_arrives_once_free(
        tmp_path: Path) -> None:
    # agv-2 stands on the dropoff, paused: nobody may plan into it.
    run = Lockstep([agv("agv-1", 7.5, 1.5), agv("agv-2", 1.5, 5.5)], log=tmp_path / "r.jsonl")
    run.connect()
    c = run.coordinator
    c.pause("agv-2", "held for the test")
    run.deliver()
    out_1 = c.site.station_cells["out-1"]
    searches: list[float] = []
    plan = c.traffic.plan

    def counted(robot_id: str, goal: Cell, now_step: int) -> str:
        if robot_id == "agv-1" and goal == out_1:
            searches.append(run.t)
        return plan(robot_id, goal, now_step)
    c.traffic.plan = counted  # type: ignore[method-assign]
    run.submit(transport("m", "in-1", "out-1"))
    run.run(lambda: bool(searches), max_s=120)
    assert searches, "agv-1 never got as far as the dropoff"
    first = searches[0]
    run.run(lambda: run.t >= first + 30, max_s=first + 31)
    # 30 s of 0.5 s steps: 60 chances; a search after 0.5, 1, 2, then every 4 s (the robot
    # leaves the pickup station meanwhile to make way: its new place changes nothing).
    gaps = [b - a for a, b in itertools.pairwise(searches)]
    cfg = c.config
    assert 6 <= len(searches) <= 12, searches
    assert all(g <= cfg.plan_retry_max_s + 1.0 for g in gaps), gaps
    assert gaps[-1] >= cfg.plan_retry_max_s - 0.5 and gaps[0] <= cfg.plan_retry_s + 0.5, gaps
    assert run.state_of("m") is not MissionState.COMPLETED
    # Free the dropoff: agv-2 goes back to rest and agv-1 delivers.
    c.resume("agv-2")
    run.deliver()
    freed = run.t
    run.run(max_s=freed + 120)
    assert run.state_of("m") is MissionState.COMPLETED
    report = run.check()
    assert not report.collisions and not report.obstacle_hits
    run.close()
