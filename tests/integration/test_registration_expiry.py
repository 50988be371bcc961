"""A robot that registers and never opens its stream does not hold its cell for ever."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from fleet.coordinator import CoordinatorConfig
from fleet.v1 import (
    fleet_pb2,
    fleet_pb2_grpc,
    robot_link_pb2,
    robot_link_pb2_grpc,
    simulation_pb2,
    simulation_pb2_grpc,
)
from tests.conftest import SMALL_MAP, Served
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
    # Counted, and the robot shows why it was let go.
    expired = small_server.server.metrics.registry.get_sample_value(  # type: ignore[attr-defined]
        "fleet_expired_registrations_total")
    assert expired == 1
    shown = fleet_pb2_grpc.FleetStub(small_server.channel).ListRobots(
        fleet_pb2.ListRobotsRequest(), timeout=10)
    agv1, = (r for r in shown.robots if r.robot_id == "agv-1")
    assert any("registration expired" in f for f in agv1.faults)


def test_an_expired_registration_gives_its_tasks_back_in_the_log_and_replay_agrees(
        tmp_path: Path) -> None:
    from fleet.coordinator import Coordinator, ManualClock
    from fleet.floor import load_floor
    from fleet.model import EventKind, TaskState
    from fleet.store import SqliteStore
    from tests.unit.coordinator.lockstep import Lockstep, transport
    from tests.unit.coordinator.lockstep import agv as agv_spec

    db = str(tmp_path / "fleet.db")
    run = Lockstep([agv_spec("agv-1", 7.5, 1.5)], store=SqliteStore(db))
    run.connect()
    run.submit(transport("later"))
    run.tick()
    assert run.coordinator.get("later").tasks["move"].robot_id == "agv-1"
    run.store.close()
    # After a restart the robot registers again but never opens its stream.
    floor, clock = load_floor(SMALL_MAP), ManualClock(run.t)
    again = Coordinator(floor, SqliteStore(db), clock)
    spec, pose = agv_spec("agv-1", 7.5, 1.5)
    again.register(spec, pose)
    again.step()  # the restart's grace for robots to come back starts
    clock.advance_to(run.t + TIMEOUT_S + 1.0)
    again.step()
    kinds = [(e.kind, e.detail) for e in again.take_output().events]
    assert any(kind is EventKind.UNASSIGNED and "registration expired" in detail
               for kind, detail in kinds)
    assert again.get("later").tasks["move"].state is TaskState.PENDING
    assert not again.robots["agv-1"].placed
    # What the log says is where the live coordinator is.
    replayed = Coordinator(floor, SqliteStore(db), ManualClock())
    assert replayed.state == again.state
