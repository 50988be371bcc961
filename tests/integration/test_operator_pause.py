"""An operator holds a robot and releases it, through the real gRPC API (Fleet.PauseRobot)."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from fleet.v1 import (
    common_pb2,
    fleet_pb2,
    fleet_pb2_grpc,
    missions_pb2,
    robot_link_pb2_grpc,
    simulation_pb2,
)
from sim.grpc_link import GrpcLink
from tests.conftest import Served
from tests.integration.test_dispatch_flow import agv, first, move, run, status
from tests.integration.test_mission_flow import events

EV = missions_pb2


def fleet(served: Served) -> fleet_pb2_grpc.FleetStub:
    return fleet_pb2_grpc.FleetStub(served.channel)


def info(served: Served, robot_id: str) -> fleet_pb2.RobotInfo:
    reply = fleet(served).ListRobots(fleet_pb2.ListRobotsRequest(), timeout=10)
    return next(r for r in reply.robots if r.robot_id == robot_id)


def test_a_paused_robot_gives_its_untouched_task_away_and_stands_until_resumed(
        small_server: Served) -> None:
    robots = [agv("near", 0), agv("far", 5)]
    near = robots[0]
    t = [0.0]
    held: list[tuple[float, float, float]] = []
    modes: list[int] = []

    def operator(reply: simulation_pb2.AdvanceReply) -> None:
        t[0] += 0.5
        if t[0] == 3.0:
            # "near" took the job and is driving to the pickup: nothing handled yet.
            assert info(small_server, "near").current_task == "job/move"
            out = fleet(small_server).PauseRobot(fleet_pb2.PauseRobotRequest(
                robot_id="near", reason="bumper inspection"), timeout=10)
            assert out.paused_reason == "bumper inspection"
        elif 4.0 <= t[0] < 40.0:
            held.append((t[0], near.pose.x, near.pose.y))
            modes.append(info(small_server, "near").mode)
        elif t[0] == 40.0:
            out = fleet(small_server).ResumeRobot(fleet_pb2.ResumeRobotRequest(
                robot_id="near"), timeout=10)
            assert out.paused_reason == ""

    run(small_server, robots, [move("job", "in-1", "out-1")], each_tick=operator,
        until_s=400.0)
    log = events(small_server, "job")
    assigned = [e for e in log if e.kind == EV.MISSION_EVENT_ASSIGNED]
    assert [e.robot_id for e in assigned] == ["near", "far"]
    back = first(log, EV.MISSION_EVENT_UNASSIGNED)
    assert back.robot_id == "near" and "bumper inspection" in back.detail
    assert status(small_server, "job").state == EV.MISSION_STATE_COMPLETED
    # While held it stood still (after at most the tick in which the pause arrived) and
    # reported itself paused.
    assert len({(x, y) for _, x, y in held}) == 1
    assert set(modes) == {common_pb2.ROBOT_MODE_PAUSED}
    after = info(small_server, "near")
    assert after.paused_reason == "" and after.mode != common_pb2.ROBOT_MODE_PAUSED


def test_a_robot_paused_with_its_load_keeps_the_task_and_finishes_after_resume(
        small_server: Served) -> None:
    robots = [agv("only", 0)]
    robot = robots[0]
    t = [0.0]
    paused_at: list[float] = []
    held: set[tuple[float, float]] = set()

    def operator(reply: simulation_pb2.AdvanceReply) -> None:
        t[0] += 0.5
        if not paused_at and robot.load_id and robot.moving:
            fleet(small_server).PauseRobot(fleet_pb2.PauseRobotRequest(
                robot_id="only", reason="aisle blocked by a forklift"), timeout=10)
            paused_at.append(t[0])
        elif paused_at and t[0] < paused_at[0] + 30.0:
            if t[0] >= paused_at[0] + 1.0:
                held.add((robot.pose.x, robot.pose.y))
                assert status(small_server, "job").state == EV.MISSION_STATE_ACTIVE
        elif paused_at and t[0] == paused_at[0] + 30.0:
            fleet(small_server).ResumeRobot(fleet_pb2.ResumeRobotRequest(robot_id="only"),
                                            timeout=10)

    run(small_server, robots, [move("job", "in-1", "out-1")], each_tick=operator,
        until_s=400.0)
    assert paused_at, "the robot never carried its load"
    assert len(held) == 1, "the robot moved while held"
    st = status(small_server, "job")
    assert st.state == EV.MISSION_STATE_COMPLETED and st.tasks[0].robot_id == "only"
    log = events(small_server, "job")
    assert not [e for e in log if e.kind == EV.MISSION_EVENT_UNASSIGNED]
    done = first(log, EV.MISSION_EVENT_COMPLETED)
    assert done.time_s >= paused_at[0] + 30.0


def test_pause_and_resume_reject_bad_requests(small_server: Served) -> None:
    stub = fleet(small_server)
    run(small_server, [agv("agv-1", 0)], [], until_s=1.0)
    cases = [
        (stub.PauseRobot, fleet_pb2.PauseRobotRequest(robot_id=""),
         grpc.StatusCode.INVALID_ARGUMENT, "robot_id"),
        (stub.PauseRobot, fleet_pb2.PauseRobotRequest(robot_id="no such robot"),
         grpc.StatusCode.INVALID_ARGUMENT, "robot_id"),
        (stub.PauseRobot, fleet_pb2.PauseRobotRequest(robot_id="ghost"),
         grpc.StatusCode.NOT_FOUND, "robot_id"),
        (stub.PauseRobot, fleet_pb2.PauseRobotRequest(robot_id="agv-1", reason="x" * 201),
         grpc.StatusCode.INVALID_ARGUMENT, "reason"),
        (stub.ResumeRobot, fleet_pb2.ResumeRobotRequest(robot_id="agv-1"),
         grpc.StatusCode.FAILED_PRECONDITION, "robot_id"),
        (stub.ResumeRobot, fleet_pb2.ResumeRobotRequest(robot_id="ghost"),
         grpc.StatusCode.NOT_FOUND, "robot_id"),
    ]
    for call, request, code, field in cases:
        with pytest.raises(grpc.RpcError) as err:
            call(request, timeout=10)
        assert err.value.code() == code, (request, err.value.details())
        assert field in err.value.details()
    # Nothing was held by the bad calls; a good pause then resume round-trips.
    assert info(small_server, "agv-1").paused_reason == ""
    assert stub.PauseRobot(fleet_pb2.PauseRobotRequest(robot_id="agv-1"),
                           timeout=10).paused_reason == "paused by an operator"
    assert stub.ResumeRobot(fleet_pb2.ResumeRobotRequest(robot_id="agv-1"),
                            timeout=10).paused_reason == ""


def test_the_hold_is_sent_again_when_the_robot_reconnects(small_server: Served) -> None:
    robot = agv("agv-1", 0)

    async def until_paused(link: GrpcLink) -> bool:
        for _ in range(500):
            link.take_commands()
            if robot.paused:
                return True
            await asyncio.sleep(0.01)
        return False

    async def go() -> None:
        async with grpc.aio.insecure_channel(small_server.address) as channel:
            stub = robot_link_pb2_grpc.RobotLinkStub(channel)
            link = GrpcLink(robot, stub)
            assert await link.connect()
            fleet(small_server).PauseRobot(fleet_pb2.PauseRobotRequest(
                robot_id="agv-1", reason="lidar cleaning"), timeout=10)
            assert await until_paused(link)
            # Its driver restarts and forgets the pause; the coordinator tells it again.
            await link.restart()
            assert not robot.paused
            assert await link.connect()
            assert await until_paused(link)
            await link.disconnect()

    asyncio.run(go())
    assert info(small_server, "agv-1").paused_reason == "lidar cleaning"
