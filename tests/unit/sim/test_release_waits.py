"""Release waits: from the state that finishes a released segment to the next release."""

from __future__ import annotations

from fleet.model import Pose, RobotKind, RobotSpec, TransportCapability
from fleet.v1 import robot_link_pb2
from sim.robot import SimRobot
from sim.wall_robots import ReleaseWaits


def follow(path_id: str, first: int, xs: list[float], complete: bool
           ) -> robot_link_pb2.RobotCommand:
    return robot_link_pb2.RobotCommand(seq=first, follow_path=robot_link_pb2.FollowPath(
        path_id=path_id, first_index=first, complete=complete,
        waypoints=[robot_link_pb2.TimedWaypoint(x=x, y=0.5, t_s=0.0) for x in xs]))


def drive(robot: SimRobot, waits: ReleaseWaits, t: float, ticks: int) -> float:
    for _ in range(ticks):
        t += 0.1
        robot.tick(t, 0.1)
        waits.state_sent(robot, t)
    return t


def test_a_wait_is_counted_only_at_the_end_of_a_segment_of_a_path_still_coming() -> None:
    robot = SimRobot(RobotSpec("agv-1", RobotKind.AGV, 0.4, 1.0,
                               transport=TransportCapability(100.0)), Pose(0.5, 0.5, 0.0))
    waits = ReleaseWaits()
    command = follow("p1", 1, [1.5], complete=False)
    waits.arrived("agv-1", [command])
    robot.apply(command)
    t = drive(robot, waits, 0.0, 30)  # reaches 1.5 within 3 s, then stands waiting
    assert not robot.moving and "agv-1" in waits.waiting_since
    more = follow("p1", 2, [2.5], complete=True)
    waits.arrived("agv-1", [more])
    robot.apply(more)
    assert len(waits.waits) == 1 and waits.waits[0][1] > 0
    drive(robot, waits, t, 30)  # the path is complete: standing at its end is no wait
    assert "agv-1" not in waits.waiting_since and len(waits.waits) == 1
