"""Paths and actions are named so that nothing a robot reports can be taken for something else.

The black-box report: right after a coordinator restart a robot's report on the path it had
been given before was taken as progress on a path just released with the same id, and
another robot was sent into it. Path ids now carry the coordinator's incarnation and action
ids the task's attempt.
"""

from __future__ import annotations

from pathlib import Path

from fleet.api.convert import state_from_wire
from fleet.coordinator import Coordinator
from fleet.model import MissionState, RobotMode
from tests.unit.coordinator.lockstep import Lockstep, agv, transport

PARKING = [(7.5, 1.5), (9.5, 1.5), (11.5, 1.5)]


def test_after_a_restart_a_report_on_the_old_path_is_not_progress_on_the_new(
        tmp_path: Path) -> None:
    run = Lockstep([agv("agv-1", *PARKING[0])], store=None, log=tmp_path / "run.jsonl",
                   incarnation="first")
    run.connect()
    run.submit(transport("job", "in-1", "out-1"))
    robot = run.robots["agv-1"]
    run.run(lambda: robot.reached >= 2, max_s=100)
    old_path = robot.path_id
    # The coordinator dies; the robot drives to the end of what it was released and stops.
    while robot.moving:
        run.move()
    assert robot.reached >= 2 and robot.path_id == old_path
    run.coordinator = Coordinator(run.floor, run.store, run.clock, incarnation="second")
    run.streams.clear()
    run.connect()
    c = run.coordinator
    # The restarted coordinator plans afresh; the robot has not had its new path yet and
    # still reports its old one.
    run.clock.advance_to(run.t + 0.5)
    run.t += 0.5
    c.report("agv-1", run.streams["agv-1"], state_from_wire(robot.state(run.t)))
    c.step()
    new_path = c.traffic.path_id("agv-1")
    assert new_path and new_path != old_path
    c.report("agv-1", run.streams["agv-1"], state_from_wire(robot.state(run.t)))
    c.step()
    assert c.traffic.progress("agv-1")[1] == 0, "a report on the old path counted"
    # Delivered, the new path is followed and the job gets done.
    run.deliver()
    run.run(max_s=600)
    assert run.state_of("job") is MissionState.COMPLETED
    assert run.check().ok
    run.close()


def test_a_task_given_again_gets_new_action_ids() -> None:
    run = Lockstep([agv("agv-1", *PARKING[0]), agv("agv-2", *PARKING[1])])
    run.connect()
    run.submit(transport("job", "in-1", "out-1"))
    run.tick()
    c = run.coordinator
    first = c.get("job").tasks["move"]
    holder = first.robot_id
    name = c.robots[holder].work.name  # type: ignore[union-attr]
    assert name == "job/move/1"
    c.pause(holder, "check")           # untouched: the task goes back ...
    run.run(lambda: c.get("job").tasks["move"].robot_id not in ("", holder), max_s=60)
    again = c.robots[c.get("job").tasks["move"].robot_id].work
    assert again is not None and again.name == "job/move/2"  # ... and is given anew
    c.resume(holder)
    run.run(max_s=600)
    assert run.state_of("job") is MissionState.COMPLETED
    assert all(r.state is not None and r.state.mode is not RobotMode.FAULT
               for r in c.robots.values())
    run.close()
