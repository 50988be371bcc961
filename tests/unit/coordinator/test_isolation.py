"""One bad mission never stops the fleet: long chains, a dispatcher or planner that raises.

A mission whose dispatch or planning raises fails alone, with the error in its FAILED event,
and the other missions go on; a mission too large is refused, naming the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from fleet.coordinator.validation import MAX_TASKS
from fleet.dispatch import Assignment, Candidate, Job, OptimalDispatcher, Travel
from fleet.model import EventKind, InvalidInputError, MissionState
from tests.unit.coordinator.lockstep import Lockstep, agv, transport, weld_chain, welder

PARKING = [(7.5, 1.5), (9.5, 1.5), (11.5, 1.5), (13.5, 1.5)]


def test_a_400_task_chain_is_carried_out_beside_other_missions(tmp_path: Path) -> None:
    run = Lockstep([agv("agv-1", *PARKING[0]), welder("welder-1", *PARKING[1])],
                   log=tmp_path / "run.jsonl")
    run.connect()
    run.submit(weld_chain("long", "weld-2", 400, duration_s=0.5), transport("short"))
    run.run(lambda: run.state_of("short").finished, max_s=600)
    assert run.state_of("short") is MissionState.COMPLETED
    assert run.state_of("long") is MissionState.ACTIVE
    run.run(max_s=3000)
    assert run.state_of("long") is MissionState.COMPLETED
    assert run.kinds("long").count(EventKind.TASK_DONE) == 400
    assert run.check().ok
    run.close()


def test_a_mission_over_the_task_limit_is_refused_naming_the_limit() -> None:
    run = Lockstep([welder("welder-1", *PARKING[1])])
    run.connect()
    with pytest.raises(InvalidInputError) as err:
        run.coordinator.submit(weld_chain("huge", "weld-2", 5000))
    assert err.value.field == "mission.tasks" and f"at most {MAX_TASKS}" in str(err.value)
    assert "huge" not in run.coordinator.missions
    run.coordinator.submit(weld_chain("fits", "weld-2", MAX_TASKS))
    run.close()


class Raising(OptimalDispatcher):
    """The optimal dispatcher, but it raises whenever a job of mission `bad` is offered."""

    def assign(self, jobs: Sequence[Job], robots: Sequence[Candidate], now_s: float,
               travel: Travel) -> list[Assignment]:
        if any(j.mission_id == "bad" for j in jobs):
            raise ValueError("cost matrix has a NaN")
        return OptimalDispatcher.assign(self, jobs, robots, now_s, travel)


def test_a_mission_that_makes_the_dispatcher_raise_fails_alone() -> None:
    run = Lockstep([agv("agv-1", *PARKING[0]), agv("agv-2", *PARKING[1])],
                   dispatcher=Raising())
    run.connect()
    run.submit(transport("good"), transport("bad", "buf-1", "out-1"),
               transport("also-good", "in-1", "press-in-1"))
    run.run(max_s=900)
    assert run.state_of("bad") is MissionState.FAILED
    reason = run.coordinator.get("bad").reason
    assert "internal error in the dispatcher" in reason and "NaN" in reason
    assert run.state_of("good") is MissionState.COMPLETED
    assert run.state_of("also-good") is MissionState.COMPLETED
    run.close()


def test_a_mission_whose_planning_raises_fails_alone() -> None:
    run = Lockstep([agv("agv-1", *PARKING[0]), agv("agv-2", *PARKING[1])])
    run.connect()
    traffic = run.coordinator.traffic
    plan = traffic.plan
    trap = run.coordinator.site.station_cells["buf-1"]

    def planner(robot_id: str, goal: tuple[int, int], now_step: int) -> str:
        if goal == trap:
            raise RecursionError("maximum recursion depth exceeded")
        return plan(robot_id, goal, now_step)

    traffic.plan = planner  # type: ignore[method-assign]
    run.submit(transport("good"), transport("bad", "buf-1", "out-1"))
    run.run(max_s=900)
    assert run.state_of("bad") is MissionState.FAILED
    assert "RecursionError" in run.coordinator.get("bad").reason
    assert run.state_of("good") is MissionState.COMPLETED
    # The robot that had the bad mission is free again and takes new work.
    run.submit(transport("after", "in-1", "press-in-1"))
    run.run(max_s=1800)
    assert run.state_of("after") is MissionState.COMPLETED
    run.close()


def test_a_mission_whose_jobs_cannot_be_worked_out_fails_alone() -> None:
    run = Lockstep([agv("agv-1", *PARKING[0])])
    run.connect()
    tail = run.coordinator.estimates.tail

    def broken(record, task_id):  # type: ignore[no-untyped-def]
        if record.mission.id == "bad":
            raise KeyError("no such station")
        return tail(record, task_id)

    run.coordinator.dispatching.estimates.tail = broken  # type: ignore[method-assign]
    run.submit(transport("bad"), transport("good", "buf-1", "out-1"))
    run.run(max_s=900)
    assert run.state_of("bad") is MissionState.FAILED
    assert "offering its tasks" in run.coordinator.get("bad").reason
    assert run.state_of("good") is MissionState.COMPLETED
    run.close()
