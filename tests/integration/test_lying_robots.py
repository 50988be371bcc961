"""Robots that lie are not believed: implausible reports over a real gRPC channel, on a
robot's own stream and on a gateway's, are refused, counted, and turn the robot into a fault."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import pytest

from fleet.client import open_channel
from fleet.gateway import Gateway
from fleet.model import EventKind, TaskState
from fleet.v1 import (
    common_pb2,
    fleet_pb2,
    fleet_pb2_grpc,
    missions_pb2,
    missions_pb2_grpc,
    robot_link_pb2,
    robot_link_pb2_grpc,
    simulation_pb2,
    simulation_pb2_grpc,
)
from tests.conftest import Served
from tests.integration.test_api_bad_input import agv, stations
from tests.integration.test_dispatch_flow import move
from tests.integration.test_gateway import Recorder
from tests.integration.test_gateway import state as idle_state

SUCCEEDED = common_pb2.ACTION_STATUS_SUCCEEDED


def state(req: robot_link_pb2.RegisterRequest, t: float, seq: int,
          pose: common_pb2.Pose | None = None, **changes: object) -> robot_link_pb2.RobotState:
    msg = idle_state(req, t, seq, **changes)
    if pose is not None:
        msg.pose.CopyFrom(pose)
    return msg


def lies(req: robot_link_pb2.RegisterRequest) -> dict[str, robot_link_pb2.RobotState]:
    """One implausible report per reason, each following `state(req, 1.0, 2)`."""
    x, y = req.pose.x, req.pose.y
    return {
        "too_fast": state(req, 1.1, 3, pose=common_pb2.Pose(x=x + 8.0, y=y)),
        "in_obstacle": state(req, 60.0, 3, pose=common_pb2.Pose(x=9.0, y=10.0)),
        "stamp_backwards": state(req, 0.5, 3),
        "stamp_ahead": state(req, 1e6, 3, pose=common_pb2.Pose(x=x + 8.0, y=y)),
        "seq_backwards": state(req, 1.1, 2),
        "unknown_action": state(req, 1.1, 3, action_id="job-1/move/1/1",
                                action_status=SUCCEEDED),
    }


def refused(served: Served, reason: str) -> float:
    value = served.server.metrics.registry.get_sample_value(  # type: ignore[attr-defined]
        "fleet_implausible_reports_total", {"reason": reason})
    return value or 0.0


def shown_pose(served: Served, robot_id: str) -> tuple[float, float]:
    reply = fleet_pb2_grpc.FleetStub(served.channel).ListRobots(
        fleet_pb2.ListRobotsRequest(), timeout=10)
    robot, = (r for r in reply.robots if r.robot_id == robot_id)
    return robot.pose.x, robot.pose.y


@pytest.mark.parametrize("reason", ["too_fast", "in_obstacle", "stamp_backwards",
                                    "stamp_ahead", "seq_backwards", "unknown_action"])
def test_a_robot_that_lies_on_its_stream_is_refused_counted_and_loses_its_task(
        small_server: Served, reason: str) -> None:
    req = agv(small_server, "agv-1")
    pickup, dropoff = stations(small_server, "pickup")[0], stations(small_server, "dropoff")[0]

    async def run() -> tuple[grpc.StatusCode, str]:
        channel = grpc.aio.insecure_channel(small_server.address)
        link = robot_link_pb2_grpc.RobotLinkStub(channel)
        clock = simulation_pb2_grpc.SimClockStub(channel)
        reply = await link.Register(req, timeout=10)
        await missions_pb2_grpc.MissionsStub(channel).Submit(
            missions_pb2.SubmitMissionRequest(mission=move("job-1", pickup, dropoff)),
            timeout=10)
        call = link.Connect(timeout=30)
        await call.write(robot_link_pb2.RobotUpdate(hello=robot_link_pb2.Hello(
            robot_id=req.robot_id, session_id=reply.session_id)))
        fleet = fleet_pb2_grpc.FleetStub(channel)
        while not (await fleet.ListRobots(fleet_pb2.ListRobotsRequest(connected_only=True),
                                          timeout=10)).robots:
            await asyncio.sleep(0.01)  # the stream opens on the coordinator's worker
        await call.write(robot_link_pb2.RobotUpdate(state=state(req, 1.0, 2)))
        await clock.Advance(simulation_pb2.AdvanceRequest(time_s=1.0), timeout=20)
        first = await call.read()
        assert first.WhichOneof("body") == "follow_path"  # the task is the robot's
        await call.write(robot_link_pb2.RobotUpdate(state=lies(req)[reason]))
        with contextlib.suppress(grpc.aio.AioRpcError):
            while await call.read() is not grpc.aio.EOF:
                pass
        code, details = await call.code(), await call.details()
        await clock.Advance(simulation_pb2.AdvanceRequest(time_s=1.2), timeout=20)
        await channel.close()
        return code, details

    code, details = asyncio.run(run())
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert f"implausible report ({reason})" in details
    assert refused(small_server, reason) == 1
    # never believed: the pose shown is the last plausible one
    assert shown_pose(small_server, "agv-1") == (req.pose.x, req.pose.y)
    # a fault: the task it had not started goes back, saying why
    c = small_server.coordinator
    task = small_server.call(lambda: c.get("job-1").tasks["move"])  # type: ignore[attr-defined]
    assert task.state in (TaskState.PENDING, TaskState.ASSIGNED)
    events = small_server.call(lambda: list(c.store.events()))  # type: ignore[attr-defined]
    back = [e for e in events if e.kind is EventKind.UNASSIGNED]
    assert back and f"implausible report ({reason})" in back[0].detail


def test_a_gateway_robot_that_lies_loses_its_link_and_the_others_keep_theirs(
        small_server: Served) -> None:
    parks = stations(small_server, "parking")
    floor = small_server.coordinator.floor  # type: ignore[attr-defined]
    reqs = [agv(small_server, rid, pose=common_pb2.Pose(x=floor.stations[p].pose.x,
                                                         y=floor.stations[p].pose.y))
            for rid, p in (("agv-a1", parks[0]), ("agv-a2", parks[1]))]

    async def run() -> list[tuple[str, grpc.StatusCode, str]]:
        rec = Recorder()
        channel = open_channel(small_server.address, token="")
        gateway = Gateway(channel, rec.on_commands, rec.on_ended)
        for r in reqs:
            await gateway.join(r)
            gateway.send_state(state(r, 1.0, 1))
        gateway.send_state(lies(reqs[0])["too_fast"])
        gateway.send_state(state(reqs[1], 1.1, 2))
        await rec.until(lambda: rec.ended)
        await simulation_pb2_grpc.SimClockStub(channel).Advance(
            simulation_pb2.AdvanceRequest(time_s=1.1), timeout=20)
        ended = list(rec.ended)  # before the stream's own end
        await gateway.close()
        await channel.close()
        return ended

    ended = asyncio.run(run())
    (robot_id, code, message), = ended
    assert (robot_id, code) == ("agv-a1", grpc.StatusCode.INVALID_ARGUMENT)
    assert "implausible report (too_fast)" in message
    assert refused(small_server, "too_fast") == 1
    assert shown_pose(small_server, "agv-a1") == (reqs[0].pose.x, reqs[0].pose.y)
