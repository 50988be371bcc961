"""The foundation dispatcher: capability first, then urgency, then distance."""

from __future__ import annotations

import math

from fleet.dispatch import Candidate, Job, assign_nearest
from fleet.model import RobotKind, RobotSpec, Task, TaskKind, TransportCapability, WeldCapability

AGV_LIGHT = RobotSpec("light", RobotKind.AGV, 0.4, 1.0, transport=TransportCapability(500))
AGV_HEAVY = RobotSpec("heavy", RobotKind.AGV, 0.4, 1.0, transport=TransportCapability(2000))
WELDER = RobotSpec("welder", RobotKind.MOBILE_WELDER, 0.4, 1.0,
                   weld=WeldCapability(frozenset({"BOOM-A"})))


def transport(task_id: str, mass: float, priority: int = 0, order: int = 0) -> Job:
    task = Task(task_id, TaskKind.TRANSPORT, pickup="p", dropoff="d", load_id="l",
                mass_kg=mass)
    return Job("m", task, priority, None, order, "p")


def test_heavy_load_goes_to_the_robot_that_can_carry_it_even_if_farther() -> None:
    dist = {"light": 1.0, "heavy": 50.0}
    out = assign_nearest([transport("t", 900)], [Candidate(AGV_LIGHT), Candidate(AGV_HEAVY)],
                         lambda r, s: dist[r])
    assert [(a.job.task.id, a.robot_id) for a in out] == [("t", "heavy")]


def test_higher_priority_task_gets_the_nearest_robot() -> None:
    dist = {"light": 1.0, "heavy": 5.0}
    jobs = [transport("low", 100, priority=0, order=0), transport("high", 100, priority=5,
                                                                   order=1)]
    out = assign_nearest(jobs, [Candidate(AGV_LIGHT), Candidate(AGV_HEAVY)],
                         lambda r, s: dist[r])
    assert {a.job.task.id: a.robot_id for a in out} == {"high": "light", "low": "heavy"}


def test_weld_needs_the_program_and_unreachable_robots_are_skipped() -> None:
    weld = Job("m", Task("w", TaskKind.WELD, cell="c", program="ARM-B", duration_s=5), 0, None,
               0, "c")
    assert assign_nearest([weld], [Candidate(WELDER)], lambda r, s: 1.0) == []
    ok = Job("m", Task("w", TaskKind.WELD, cell="c", program="BOOM-A", duration_s=5), 0, None,
             0, "c")
    assert assign_nearest([ok], [Candidate(WELDER)], lambda r, s: math.inf) == []
    assert [a.robot_id for a in assign_nearest([ok], [Candidate(WELDER)],
                                               lambda r, s: 3.0)] == ["welder"]
