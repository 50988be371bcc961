"""Missions.SubmitOrder over real gRPC: an order becomes its units' missions; bad orders get
the right status naming the field, and lose nothing already accepted."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from fleet.production import load_line
from fleet.v1 import (
    common_pb2,
    missions_pb2,
    missions_pb2_grpc,
    robot_link_pb2,
    robot_link_pb2_grpc,
)
from tests.conftest import PLANT_MAP, ROOT, Served, serve

TINY = ROOT / "tests" / "data" / "lines" / "tiny.yaml"


@pytest.fixture
def line_server(tmp_path: Path) -> Iterator[Served]:
    """A coordinator on the plant serving the tiny line, with an AGV and a welder."""
    for served in serve(PLANT_MAP, str(tmp_path / "fleet.db"),
                        catalog=load_line(TINY).catalog):
        link = robot_link_pb2_grpc.RobotLinkStub(served.channel)
        floor = served.coordinator.floor  # type: ignore[attr-defined]
        for i, (robot_id, kind) in enumerate((("agv-1", common_pb2.ROBOT_KIND_AGV),
                                              ("welder-1", common_pb2.ROBOT_KIND_MOBILE_WELDER))):
            park = floor.stations[f"park-{i + 1}"].pose
            req = robot_link_pb2.RegisterRequest(
                robot_id=robot_id, kind=kind, footprint_radius_m=0.45, max_speed_mps=1.0,
                pose=common_pb2.Pose(x=park.x, y=park.y))
            if kind == common_pb2.ROBOT_KIND_AGV:
                req.transport.max_payload_kg = 2000
            else:
                req.weld.programs.extend(["ARM-B", "BUCKET-D"])
            link.Register(req, timeout=10)
        yield served


def order(**fields: object) -> missions_pb2.SubmitOrderRequest:
    base: dict[str, object] = {"order_id": "o-1", "model": "ARM3-L", "count": 2}
    return missions_pb2.SubmitOrderRequest(**{**base, **fields})  # type: ignore[arg-type]


def test_order_becomes_one_mission_per_unit(line_server: Served) -> None:
    stub = missions_pb2_grpc.MissionsStub(line_server.channel)
    reply = stub.SubmitOrder(order(release_s=50, deadline_s=5000, priority=1,
                                   labels={"customer": "acme"}), timeout=10)
    assert [m.mission_id for m in reply.missions] == ["o-1-1", "o-1-2"]
    for m in reply.missions:
        assert m.state == missions_pb2.MISSION_STATE_ACCEPTED
        assert [t.spec.task_id for t in m.tasks] == ["to-weld-1", "weld-2", "to-machine-3",
                                                      "to-assemble-4"]
        assert m.release_s == 50 + 36  # cutting 30 s x 1.2
        assert m.deadline_s == 5000 and m.priority == 1
        assert m.labels["customer"] == "acme" and m.labels["model"] == "ARM3-L"
    # The two units went to different weld cells.
    assert {m.tasks[1].spec.weld.cell_station for m in reply.missions} == {"weld-1", "weld-2"}
    stored = stub.Get(missions_pb2.GetMissionRequest(mission_id="o-1-2"), timeout=10)
    assert stored.tasks[3].spec.start_delay_s == 36  # machining, before the part moves on
    # Sending the same order again (a lost reply) answers with the stored units.
    again = stub.SubmitOrder(order(release_s=50, deadline_s=5000, priority=1), timeout=10)
    assert [m.mission_id for m in again.missions] == ["o-1-1", "o-1-2"]
    listed = stub.List(missions_pb2.ListMissionsRequest(), timeout=10)
    assert len(listed.missions) == 2


def expect(stub: missions_pb2_grpc.MissionsStub, request: missions_pb2.SubmitOrderRequest,
           code: grpc.StatusCode, field: str, value: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.SubmitOrder(request, timeout=10)
    assert info.value.code() == code, info.value.details()
    assert field in info.value.details() and value in info.value.details()


def test_bad_orders_are_rejected_naming_field_and_nothing_is_lost(line_server: Served) -> None:
    stub = missions_pb2_grpc.MissionsStub(line_server.channel)
    stub.SubmitOrder(order(order_id="good"), timeout=10)
    invalid, missing = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    expect(stub, order(model="EX999"), missing, "order.model", "EX999")
    expect(stub, order(count=1001), invalid, "order.count", "1001")
    expect(stub, order(order_id="no spaces"), invalid, "order.order_id", "no spaces")
    expect(stub, order(order_id=""), invalid, "order.order_id", "is empty")
    expect(stub, order(release_s=math.nan), invalid, "order.release_s", "nan")
    expect(stub, order(release_s=100, deadline_s=90), invalid, "order.deadline_s", "90")
    # Another model under an id whose units exist already.
    expect(stub, order(order_id="good", model="BKT-1"), grpc.StatusCode.ALREADY_EXISTS,
           "order.order_id", "good")
    listed = stub.List(missions_pb2.ListMissionsRequest(), timeout=10)
    assert sorted(m.mission_id for m in listed.missions) == ["good-1", "good-2"]


def test_a_coordinator_without_a_line_refuses_orders(tmp_path: Path) -> None:
    for served in serve(PLANT_MAP, str(tmp_path / "fleet.db")):
        stub = missions_pb2_grpc.MissionsStub(served.channel)
        expect(stub, order(), grpc.StatusCode.FAILED_PRECONDITION, "order.model",
               "fleet serve --line")
