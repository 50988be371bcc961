"""Fuzzing the robot streams: hypothesis-generated messages on `RobotLink.Connect` and
`RobotLink.Gateway` over a real channel. Whatever a broken or hostile robot sends, the stream
ends with a clear status (never UNKNOWN or INTERNAL), the server stays healthy, the pose it
shows stays one a robot could be at, and an accepted mission is unchanged."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.v1 import (
    common_pb2,
    fleet_pb2,
    fleet_pb2_grpc,
    missions_pb2,
    missions_pb2_grpc,
    robot_link_pb2,
    robot_link_pb2_grpc,
)
from tests.conftest import SMALL_MAP, Served, serve
from tests.integration.test_api_bad_input import agv, stations
from tests.integration.test_dispatch_flow import move

C = grpc.StatusCode
CLEAR = {C.OK, C.INVALID_ARGUMENT, C.FAILED_PRECONDITION, C.ALREADY_EXISTS,
         C.PERMISSION_DENIED, C.NOT_FOUND}
"""How a robot stream may end: anything else (UNKNOWN, INTERNAL) would be a crash."""

ROBOT = "agv-fuzz"


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A coordinator with a heavy AGV that never connects (so its mission stays as it was
    accepted) and the fuzzed robot, a light AGV that cannot take that mission."""
    for served in serve(SMALL_MAP, str(tmp_path_factory.mktemp("fuzz") / "fleet.db")):
        floor = served.coordinator.floor  # type: ignore[attr-defined]
        parks = stations(served, "parking")
        heavy = floor.stations[parks[1]].pose
        link = robot_link_pb2_grpc.RobotLinkStub(served.channel)
        link.Register(agv(served, "agv-heavy", pose=common_pb2.Pose(x=heavy.x, y=heavy.y)),
                      timeout=10)
        missions_pb2_grpc.MissionsStub(served.channel).Submit(missions_pb2.SubmitMissionRequest(
            mission=move("heavy-job", "in-1", "out-1", mass=900.0)), timeout=10)
        yield served


def light(served: Served) -> robot_link_pb2.RegisterRequest:
    return agv(served, ROBOT, transport=robot_link_pb2.TransportCapability(max_payload_kg=50))


_number = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                    st.sampled_from([0.0, 0.1, 1.0, -1.0, 1e6, 1e308, -0.0]))
_text = st.one_of(st.sampled_from(["", ROBOT, "agv-heavy", "heavy-job/move/1/1", "x" * 300]),
                  st.text(max_size=40))
_enum = st.integers(min_value=-3, max_value=40)


@st.composite
def _state(draw: st.DrawFn, start: common_pb2.Pose, n: int = 1) -> robot_link_pb2.RobotState:
    """The `n`-th report of a stream: well formed, well formed but for one field, or
    anything at all."""
    msg = robot_link_pb2.RobotState(
        robot_id=ROBOT, stamp_s=0.1 * n, seq=n, battery=draw(st.floats(0.0, 1.0)),
        speed_mps=draw(st.floats(0.0, 1.0)), mode=draw(st.sampled_from(
            [common_pb2.ROBOT_MODE_IDLE, common_pb2.ROBOT_MODE_MOVING,
             common_pb2.ROBOT_MODE_FAULT, common_pb2.ROBOT_MODE_PAUSED])),
        pose=common_pb2.Pose(x=start.x + draw(st.floats(-0.05, 0.05)),
                             y=start.y + draw(st.floats(-0.05, 0.05)),
                             theta=draw(st.floats(-3.0, 3.0))),
        action_id=draw(st.sampled_from(["", "heavy-job/move/1/1"])),
        action_status=draw(st.sampled_from([common_pb2.ACTION_STATUS_UNSPECIFIED,
                                            common_pb2.ACTION_STATUS_RUNNING,
                                            common_pb2.ACTION_STATUS_SUCCEEDED])),
        load_id=draw(st.sampled_from(["", "heavy-job-load"])),
        faults=draw(st.lists(st.sampled_from(["bumper", "lidar"]), max_size=1)))
    how = draw(st.sampled_from(["good", "one", "one", "any"]))
    fields: dict[str, Callable[[], object]] = {
        "robot_id": lambda: draw(st.sampled_from(["agv-heavy", "", "nobody"])),
        "stamp_s": lambda: draw(_number), "seq": lambda: draw(st.integers(0, 2**64 - 1)),
        "speed_mps": lambda: draw(_number), "battery": lambda: draw(_number),
        "path_id": lambda: draw(_text), "waypoints_reached": lambda: draw(
            st.integers(0, 2**32 - 1)),
        "action_id": lambda: draw(_text), "action_progress": lambda: draw(_number),
        "load_id": lambda: draw(_text), "mode": lambda: draw(_enum),
        "action_status": lambda: draw(_enum),
        "pose.x": lambda: draw(_number), "pose.y": lambda: draw(_number),
        "pose.theta": lambda: draw(_number),
    }
    if how == "one":
        chosen = [draw(st.sampled_from(sorted(fields)))]
    elif how == "any":
        chosen = sorted(fields)
    else:
        chosen = []
    for name in chosen:
        value = fields[name]()
        target, _, leaf = name.rpartition(".")
        # Unknown enum numbers go on the wire as they are (proto3 keeps them).
        setattr(msg.pose if target else msg, leaf, value)
    if how == "any":
        msg.faults.extend(draw(st.lists(_text, max_size=3)))
    return msg


def shown(served: Served, robot_id: str) -> fleet_pb2.RobotInfo | None:
    reply = fleet_pb2_grpc.FleetStub(served.channel).ListRobots(
        fleet_pb2.ListRobotsRequest(), timeout=10)
    return next((r for r in reply.robots if r.robot_id == robot_id), None)


def assert_unharmed(served: Served) -> None:
    assert health_pb2_grpc.HealthStub(served.channel).Check(
        health_pb2.HealthCheckRequest(), timeout=10).status == \
        health_pb2.HealthCheckResponse.SERVING
    status = missions_pb2_grpc.MissionsStub(served.channel).Get(
        missions_pb2.GetMissionRequest(mission_id="heavy-job"), timeout=10)
    assert status.state == missions_pb2.MISSION_STATE_ACCEPTED
    assert all(not t.robot_id for t in status.tasks)
    floor = served.coordinator.floor  # type: ignore[attr-defined]
    x0, y0, x1, y1 = floor.outline.bounds
    for robot_id in (ROBOT, "agv-heavy"):
        info = shown(served, robot_id)
        if info is not None:
            assert math.isfinite(info.pose.x) and math.isfinite(info.pose.y)
            assert x0 <= info.pose.x <= x1 and y0 <= info.pose.y <= y1, info.pose
            assert 0.0 <= info.battery <= 1.0


def ended_with(call: Iterator[object]) -> grpc.StatusCode:
    try:
        for _ in call:
            pass
    except grpc.RpcError as err:
        assert err.code() in CLEAR, (err.code(), err.details())
        assert len(err.details()) <= 1100
        return err.code()  # type: ignore[no-any-return]
    return C.OK


_SETTINGS = settings(max_examples=80, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow,
                                            HealthCheck.data_too_large])


@_SETTINGS
@given(data=st.data())
def test_fuzzed_robot_streams_end_clearly_and_harm_nothing(fuzzed: Served,
                                                           data: st.DataObject) -> None:
    link = robot_link_pb2_grpc.RobotLinkStub(fuzzed.channel)
    req = light(fuzzed)
    try:
        session = link.Register(req, timeout=10).session_id
    except grpc.RpcError as err:  # still connected from a stream the server has not closed
        assert err.code() in CLEAR, (err.code(), err.details())
        session = ""
    hello = robot_link_pb2.Hello(
        robot_id=data.draw(st.sampled_from([ROBOT, ROBOT, ROBOT, "agv-heavy", "", "nobody"])),
        session_id=data.draw(st.sampled_from([session, session, "", "stale"])))
    first = robot_link_pb2.RobotUpdate(hello=hello)
    if data.draw(st.integers(0, 9)) == 0:  # a stream that does not begin with its hello
        first = robot_link_pb2.RobotUpdate(state=data.draw(_state(req.pose)))
    updates = [first]
    for n in range(1, data.draw(st.integers(1, 6)) + 1):
        if data.draw(st.integers(0, 19)) == 0:
            updates.append(robot_link_pb2.RobotUpdate(hello=hello))
        else:
            updates.append(robot_link_pb2.RobotUpdate(state=data.draw(_state(req.pose, n))))
    ended_with(link.Connect(iter(updates), timeout=20))
    assert_unharmed(fuzzed)


@_SETTINGS
@given(data=st.data())
def test_fuzzed_gateway_streams_end_clearly_and_harm_nothing(fuzzed: Served,
                                                             data: st.DataObject) -> None:
    link = robot_link_pb2_grpc.RobotLinkStub(fuzzed.channel)
    req = light(fuzzed)
    updates = []
    for _ in range(data.draw(st.integers(1, 4))):
        update = robot_link_pb2.GatewayUpdate()
        if data.draw(st.booleans()):
            joining = robot_link_pb2.RegisterRequest()
            joining.CopyFrom(req)
            if data.draw(st.integers(0, 3)) == 0:
                joining.footprint_radius_m = data.draw(_number)
                joining.max_speed_mps = data.draw(_number)
                joining.pose.x = data.draw(_number)
            update.join.append(joining)
        update.states.extend(data.draw(_state(req.pose, n))
                             for n in range(1, data.draw(st.integers(0, 3)) + 1))
        update.leave.extend(data.draw(st.lists(st.sampled_from([ROBOT, "nobody", ""]),
                                               max_size=1)))
        updates.append(update)
    ended_with(link.Gateway(iter(updates), timeout=20))
    assert_unharmed(fuzzed)
