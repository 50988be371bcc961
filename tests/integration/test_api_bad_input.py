"""Every bad request gets the right status and a message naming the field; nothing is lost."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fleet.api import STATUS_OF
from fleet.model import FleetError
from fleet.v1 import (
    common_pb2,
    missions_pb2,
    missions_pb2_grpc,
    robot_link_pb2,
    robot_link_pb2_grpc,
    simulation_pb2,
    simulation_pb2_grpc,
)
from tests.conftest import SMALL_MAP, Served, serve

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
EXISTS = grpc.StatusCode.ALREADY_EXISTS


def stations(served: Served, kind: str) -> list[str]:
    floor = served.coordinator.floor  # type: ignore[attr-defined]
    return [s.id for s in floor.stations.values() if s.kind.value == kind]


def agv(served: Served, robot_id: str = "agv-1",
        **changes: object) -> robot_link_pb2.RegisterRequest:
    floor = served.coordinator.floor  # type: ignore[attr-defined]
    park = floor.stations[stations(served, "parking")[0]].pose
    req = robot_link_pb2.RegisterRequest(
        robot_id=robot_id, kind=common_pb2.ROBOT_KIND_AGV, footprint_radius_m=0.4,
        max_speed_mps=1.0, pose=common_pb2.Pose(x=park.x, y=park.y),
        transport=robot_link_pb2.TransportCapability(max_payload_kg=1000))
    for key, value in changes.items():
        if isinstance(value, common_pb2.Pose | robot_link_pb2.TransportCapability):
            getattr(req, key).CopyFrom(value)
        else:
            setattr(req, key, value)
    return req


def transport(served: Served, mission_id: str = "m-1", mass: float = 100.0,
              pickup: str | None = None) -> missions_pb2.SubmitMissionRequest:
    spec = missions_pb2.MissionSpec(mission_id=mission_id)
    spec.tasks.add(task_id="t1", transport=missions_pb2.TransportTask(
        pickup_station=pickup or stations(served, "pickup")[0],
        dropoff_station=stations(served, "dropoff")[0], load_id="load-1", mass_kg=mass))
    return missions_pb2.SubmitMissionRequest(mission=spec)


def expect(code: grpc.StatusCode, field: str, fn, *args) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as info:
        fn(*args, timeout=10)
    assert info.value.code() == code, info.value.details()
    assert field in info.value.details()


def test_every_error_type_has_a_status_code() -> None:
    def subclasses(cls: type) -> set[type]:
        return {cls} | {s for c in cls.__subclasses__() for s in subclasses(c)}
    for cls in subclasses(FleetError) - {FleetError}:
        assert any(base in STATUS_OF for base in cls.__mro__), cls


def test_register_rejects_bad_robots(small_server: Served) -> None:
    link = robot_link_pb2_grpc.RobotLinkStub(small_server.channel)
    expect(INVALID, "robot_id", link.Register, agv(small_server, robot_id="bad id!"))
    expect(INVALID, "kind", link.Register, agv(small_server, kind=0))
    expect(INVALID, "footprint_radius_m", link.Register, agv(small_server, footprint_radius_m=2.0))
    expect(INVALID, "max_speed_mps", link.Register, agv(small_server, max_speed_mps=-1.0))
    bad = agv(small_server)
    bad.ClearField("transport")
    expect(INVALID, "transport", link.Register, bad)
    expect(INVALID, "pose", link.Register, agv(small_server, pose=common_pb2.Pose(x=-500, y=3)))
    expect(INVALID, "max_payload_kg", link.Register, agv(
        small_server, transport=robot_link_pb2.TransportCapability(max_payload_kg=-5)))
    floor = small_server.coordinator.floor  # type: ignore[attr-defined]
    obstacle = floor.obstacles[0].polygon.representative_point()
    expect(PRECONDITION, "pose", link.Register,
           agv(small_server, pose=common_pb2.Pose(x=obstacle.x, y=obstacle.y)))


def test_stream_rules_hello_session_and_robot_id(small_server: Served) -> None:
    link = robot_link_pb2_grpc.RobotLinkStub(small_server.channel)
    reply = link.Register(agv(small_server), timeout=10)

    def stream(*updates: robot_link_pb2.RobotUpdate) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as info:
            for _ in link.Connect(iter(updates), timeout=10):
                pass
        return info.value

    err = stream(robot_link_pb2.RobotUpdate(state=robot_link_pb2.RobotState(robot_id="agv-1")))
    assert err.code() == INVALID and "hello" in err.details()
    err = stream(robot_link_pb2.RobotUpdate(hello=robot_link_pb2.Hello(
        robot_id="agv-1", session_id="forged")))
    assert err.code() == PRECONDITION and "session" in err.details()
    err = stream(robot_link_pb2.RobotUpdate(hello=robot_link_pb2.Hello(
        robot_id="nobody", session_id="x")))
    assert err.code() == NOT_FOUND and "robot_id" in err.details()
    # A robot streaming state for another id is cut off with the field named.
    err = stream(robot_link_pb2.RobotUpdate(hello=robot_link_pb2.Hello(
        robot_id="agv-1", session_id=reply.session_id)),
        robot_link_pb2.RobotUpdate(state=robot_link_pb2.RobotState(robot_id="agv-2",
                                                                   battery=0.5)))
    assert err.code() == INVALID and "state.robot_id" in err.details()


def test_second_live_registration_is_already_exists(small_server: Served) -> None:
    link = robot_link_pb2_grpc.RobotLinkStub(small_server.channel)
    reply = link.Register(agv(small_server), timeout=10)
    hello = robot_link_pb2.RobotUpdate(hello=robot_link_pb2.Hello(
        robot_id="agv-1", session_id=reply.session_id))

    def updates():  # type: ignore[no-untyped-def]
        yield hello
        import time
        time.sleep(2)

    call = link.Connect(updates(), timeout=10)
    import time
    for _ in range(100):
        if small_server.call(lambda: small_server.coordinator.robots["agv-1"].connected):  # type: ignore[attr-defined]
            break
        time.sleep(0.02)
    expect(EXISTS, "agv-1", link.Register, agv(small_server))
    call.cancel()


def test_missions_reject_bad_input_and_keep_what_was_accepted(small_server: Served) -> None:
    link = robot_link_pb2_grpc.RobotLinkStub(small_server.channel)
    missions = missions_pb2_grpc.MissionsStub(small_server.channel)
    # With no robot in the fleet, no transport can be done.
    expect(PRECONDITION, "no robot", missions.Submit, transport(small_server))
    link.Register(agv(small_server), timeout=10)
    accepted = missions.Submit(transport(small_server, "keep-me"), timeout=10)
    assert accepted.state == missions_pb2.MISSION_STATE_ACCEPTED

    expect(INVALID, "mission.tasks", missions.Submit,
           missions_pb2.SubmitMissionRequest(mission=missions_pb2.MissionSpec(mission_id="e")))
    expect(INVALID, "mission is required", missions.Submit, missions_pb2.SubmitMissionRequest())
    expect(INVALID, "mission_id", missions.Submit, transport(small_server, "bad id"))
    expect(INVALID, "mass_kg", missions.Submit, transport(small_server, "neg", mass=-3.0))
    expect(PRECONDITION, "5000", missions.Submit, transport(small_server, "heavy", mass=5000))
    expect(NOT_FOUND, "pickup_station", missions.Submit,
           transport(small_server, "nowhere", pickup="no-such-station"))
    expect(INVALID, "pickup_station", missions.Submit,
           transport(small_server, "park", pickup=stations(small_server, "parking")[0]))
    expect(EXISTS, "keep-me", missions.Submit, transport(small_server, "keep-me"))

    spec = transport(small_server, "deps").mission
    spec.tasks[0].depends_on.append("ghost")
    expect(INVALID, "depends_on", missions.Submit, missions_pb2.SubmitMissionRequest(mission=spec))
    spec = transport(small_server, "cycle").mission
    spec.tasks.add().CopyFrom(spec.tasks[0])
    spec.tasks[1].task_id = "t2"
    spec.tasks[0].depends_on.append("t2")
    spec.tasks[1].depends_on.append("t1")
    expect(INVALID, "cycle", missions.Submit, missions_pb2.SubmitMissionRequest(mission=spec))
    chain = missions_pb2.MissionSpec(mission_id="chain")
    for k in range(5000):
        chain.tasks.add(task_id=f"t{k}", depends_on=[f"t{k - 1}"] if k else [],
                        transport=missions_pb2.TransportTask(
                            pickup_station=stations(small_server, "pickup")[0],
                            dropoff_station=stations(small_server, "dropoff")[0],
                            load_id="load-1", mass_kg=1))
    expect(INVALID, "at most 1000", missions.Submit,
           missions_pb2.SubmitMissionRequest(mission=chain))
    weld = missions_pb2.MissionSpec(mission_id="weld-at-dropoff")
    weld.tasks.add(task_id="w", weld=missions_pb2.WeldTask(
        cell_station=stations(small_server, "dropoff")[0], program="BOOM-A", duration_s=5))
    expect(INVALID, "cell_station", missions.Submit,
           missions_pb2.SubmitMissionRequest(mission=weld))
    weld.tasks[0].weld.cell_station = stations(small_server, "weld_cell")[0]
    expect(PRECONDITION, "no robot", missions.Submit,
           missions_pb2.SubmitMissionRequest(mission=weld))

    expect(NOT_FOUND, "mission_id", missions.Get,
           missions_pb2.GetMissionRequest(mission_id="unknown"))
    expect(INVALID, "mission_id", missions.Get, missions_pb2.GetMissionRequest(mission_id=""))
    expect(INVALID, "page_size", missions.List, missions_pb2.ListMissionsRequest(page_size=5000))
    expect(INVALID, "page_token", missions.List,
           missions_pb2.ListMissionsRequest(page_token="zz"))

    # Nothing accepted was lost, and the server is healthy.
    listed = missions.List(missions_pb2.ListMissionsRequest(), timeout=10)
    assert [m.mission_id for m in listed.missions] == ["keep-me"]
    health = health_pb2_grpc.HealthStub(small_server.channel)
    assert health.Check(health_pb2.HealthCheckRequest(service="fleet.v1.Missions"),
                        timeout=10).status == health_pb2.HealthCheckResponse.SERVING

    cancelled = missions.Cancel(missions_pb2.CancelMissionRequest(mission_id="keep-me",
                                                                  reason="test"), timeout=10)
    assert cancelled.state == missions_pb2.MISSION_STATE_CANCELLED
    expect(PRECONDITION, "cancelled", missions.Cancel,
           missions_pb2.CancelMissionRequest(mission_id="keep-me"))


def test_sim_clock_is_refused_on_a_wall_clock_server(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for served in serve(SMALL_MAP, str(tmp_path / "w.db"), sim_clock=False):
        clock = simulation_pb2_grpc.SimClockStub(served.channel)
        expect(PRECONDITION, "--sim-clock", clock.Advance,
               simulation_pb2.AdvanceRequest(time_s=1.0))


def test_sim_clock_never_goes_back(small_server: Served) -> None:
    clock = simulation_pb2_grpc.SimClockStub(small_server.channel)
    clock.Advance(simulation_pb2.AdvanceRequest(time_s=5.0), timeout=10)
    expect(INVALID, "time_s", clock.Advance, simulation_pb2.AdvanceRequest(time_s=1.0))
