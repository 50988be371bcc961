"""A robot that registers and never opens its stream does not hold its cell for ever."""

from __future__ import annotations

import grpc
import pytest

from fleet.coordinator import CoordinatorConfig
from fleet.v1 import robot_link_pb2, robot_link_pb2_grpc, simulation_pb2, simulation_pb2_grpc
from tests.conftest import Served
from tests.integration.test_api_bad_input import agv

TIMEOUT_S = CoordinatorConfig().registration_timeout_s


def advance(served: Served, t: float) -> None:
    simulation_pb2_grpc.SimClockStub(served.channel).Advance(
        simulation_pb2.AdvanceRequest(time_s=t), timeout=20)


def test_a_registration_that_never_connects_expires_and_releases_its_cell(
        small_server: Served) -> None:
    link = robot_link_pb2_grpc.RobotLinkStub(small_server.channel)
    first = link.Register(agv(small_server, "agv-1"), timeout=10)
    advance(small_server, 1.0)
    # Its cell is held: another robot cannot register on it.
    with pytest.raises(grpc.RpcError) as err:
        link.Register(agv(small_server, "agv-2"), timeout=10)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    advance(small_server, TIMEOUT_S - 1.0)
    with pytest.raises(grpc.RpcError):
        link.Register(agv(small_server, "agv-2"), timeout=10)
    advance(small_server, TIMEOUT_S + 1.0)
    # Expired: the cell is free, and the old session opens no stream.
    assert link.Register(agv(small_server, "agv-2"), timeout=10).session_id
    hello = robot_link_pb2.RobotUpdate(hello=robot_link_pb2.Hello(
        robot_id="agv-1", session_id=first.session_id))
    with pytest.raises(grpc.RpcError) as err:
        next(iter(link.Connect(iter([hello]), timeout=10)))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "register first" in err.value.details()
    robot = small_server.call(lambda: small_server.coordinator.robots["agv-1"])  # type: ignore[attr-defined]
    assert (robot.placed, robot.session_id) == (False, "")
