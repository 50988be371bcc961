"""Missions the fleet could do are accepted right after a restart (the roster in the store)
and before any robot registered (a declared fleet); what cannot be known yet is UNAVAILABLE
with a retry hint, what is missing is named. Over a real gRPC channel."""

from __future__ import annotations

from pathlib import Path

import grpc
import httpx
import pytest

from fleet.coordinator import load_fleet
from fleet.floor import load_floor
from fleet.model import InvalidInputError, RobotKind, RobotSpec, WeldCapability
from fleet.store import SqliteStore
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
from tests.integration.test_api_bad_input import agv
from tests.integration.test_dispatch_flow import move

FLEET = """robots:
  - {kind: agv, count: 4, max_payload_kg: 500}
  - {kind: fixed_welder, programs: [BOOM-A], cell_station: weld-1}
"""


def weld(mission_id: str, cell: str = "weld-1") -> missions_pb2.MissionSpec:
    spec = missions_pb2.MissionSpec(mission_id=mission_id)
    spec.tasks.add(task_id="weld", weld=missions_pb2.WeldTask(
        cell_station=cell, program="BOOM-A", duration_s=20))
    return spec


def submit(served: Served, spec: missions_pb2.MissionSpec) -> missions_pb2.MissionStatus:
    return missions_pb2_grpc.MissionsStub(served.channel).Submit(
        missions_pb2.SubmitMissionRequest(mission=spec), timeout=10)


def refusal(served: Served, spec: missions_pb2.MissionSpec) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        submit(served, spec)
    return err.value


def capabilities(served: Served) -> list[fleet_pb2.Capability]:
    return list(fleet_pb2_grpc.FleetStub(served.channel).ListCapabilities(
        fleet_pb2.ListCapabilitiesRequest(), timeout=10).capabilities)


def fixed_welder() -> robot_link_pb2.RegisterRequest:
    return robot_link_pb2.RegisterRequest(
        robot_id="fixed-1", kind=common_pb2.ROBOT_KIND_FIXED_WELDER, footprint_radius_m=0.4,
        max_speed_mps=1.0, pose=common_pb2.Pose(x=3.5, y=6.5),
        weld=robot_link_pb2.WeldCapability(programs=["BOOM-A"]))


def test_after_a_restart_missions_are_checked_against_the_roster_in_the_store(
        tmp_path: Path) -> None:
    db = str(tmp_path / "fleet.db")
    for served in serve(SMALL_MAP, db):
        link = robot_link_pb2_grpc.RobotLinkStub(served.channel)
        link.Register(agv(served, "agv-1"), timeout=10)
        link.Register(fixed_welder(), timeout=10)
    for served in serve(SMALL_MAP, db):
        # Nobody has registered since the restart: the roster's AGV carries 100 kg.
        assert submit(served, move("after-restart", "in-1", "out-1")).mission_id
        heavy = refusal(served, move("too-heavy", "in-1", "out-1", mass=5000.0))
        assert heavy.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "carries at most 1000.0 kg" in heavy.details()
        # The fixed welder's cell is stored with it: its cell's welds are accepted at once,
        # another cell's are refused for good.
        assert submit(served, weld("weld-early")).mission_id
        other = refusal(served, weld("weld-elsewhere", cell="weld-2"))
        assert other.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "weld-2" in other.details()
        kinds = {(c.kind, tuple(c.robot_ids)) for c in capabilities(served)}
        assert kinds == {(common_pb2.ROBOT_KIND_AGV, ("agv-1",)),
                         (common_pb2.ROBOT_KIND_FIXED_WELDER, ("fixed-1",))}
        robot_link_pb2_grpc.RobotLinkStub(served.channel).Register(fixed_welder(), timeout=10)
        assert submit(served, weld("weld-now")).mission_id


def test_a_fixed_welder_stored_without_its_cell_makes_welds_retry_until_it_registers(
        tmp_path: Path) -> None:
    """A roster written before cells were stored (or by hand) says only "a fixed welder":
    its welds cannot be checked until it registers where it stands."""
    db = tmp_path / "fleet.db"
    with SqliteStore(db) as store:
        store.put_robot(RobotSpec("fixed-1", RobotKind.FIXED_WELDER, 0.4, 1.0,
                                  weld=WeldCapability(frozenset({"BOOM-A"}))))
    for served in serve(SMALL_MAP, str(db)):
        later = refusal(served, weld("weld-early"))
        assert later.code() == grpc.StatusCode.UNAVAILABLE
        assert "fixed-1" in later.details() and "retry after 5 s" in later.details()
        robot_link_pb2_grpc.RobotLinkStub(served.channel).Register(fixed_welder(), timeout=10)
        assert submit(served, weld("weld-now")).mission_id


def test_before_any_robot_registered_a_mission_is_refused_saying_what_is_missing(
        small_server: Served) -> None:
    err = refusal(small_server, move("early", "in-1", "out-1"))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no robot of the fleet carries 100.0 kg" in err.details()
    assert "no robots yet" in err.details() and "--fleet" in err.details()
    assert capabilities(small_server) == []


def test_a_declared_fleet_accepts_missions_before_its_robots_register(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET)
    declared = load_fleet(path, load_floor(SMALL_MAP))
    for served in serve(SMALL_MAP, str(tmp_path / "fleet.db"), declared=declared, http=True):
        assert submit(served, move("early", "in-1", "out-1", mass=400.0)).mission_id
        assert submit(served, weld("weld-early")).mission_id
        err = refusal(served, weld("weld-elsewhere", "weld-2"))
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "weld programs the roster and the declared fleet runs: BOOM-A" in err.details()
        agvs, welders = capabilities(served)
        assert (agvs.kind, agvs.max_payload_kg, agvs.declared_count) == (
            common_pb2.ROBOT_KIND_AGV, 500.0, 4)
        assert (welders.cell_station, list(welders.programs)) == ("weld-1", ["BOOM-A"])
        # The same over HTTP.
        listed = httpx.get(f"{served.http_url}/api/v1/capabilities", timeout=10).json()
        assert [c["declared_count"] for c in listed["capabilities"]] == [4, 1]


@pytest.mark.parametrize(("text", "field"), [
    ("robots: []", "robots"),
    ("robots: [{kind: tank}]", "robots[0].kind"),
    ("robots: [{kind: agv}]", "robots[0].max_payload_kg"),
    ("robots: [{kind: agv, max_payload_kg: 10, count: 0}]", "robots[0].count"),
    ("robots: [{kind: fixed_welder, programs: [A], cell_station: park-1}]",
     "robots[0].cell_station"),
    ("robots: [{kind: agv, max_payload_kg: 10, colour: red}]", "robots[0].colour"),
])
def test_a_bad_fleet_file_is_refused_naming_the_field(tmp_path: Path, text: str,
                                                       field: str) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInputError) as err:
        load_fleet(path, load_floor(SMALL_MAP))
    assert err.value.field == field
