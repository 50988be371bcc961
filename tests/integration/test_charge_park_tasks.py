"""Charge and park tasks in submitted missions, through the real gRPC API."""

from __future__ import annotations

import grpc
import pytest

from fleet.v1 import missions_pb2, missions_pb2_grpc, simulation_pb2
from tests.conftest import Served
from tests.integration.test_dispatch_flow import PARKS, agv, first, move, run, status, welder
from tests.integration.test_mission_flow import events, register

EV = missions_pb2


def charge(mission_id: str, robot_id: str, charger: str) -> missions_pb2.MissionSpec:
    spec = missions_pb2.MissionSpec(mission_id=mission_id)
    spec.tasks.add(task_id="charge", charge=missions_pb2.ChargeTask(
        robot_id=robot_id, charger_station=charger))
    return spec


def test_a_charge_task_sends_the_named_robot_to_its_charger(small_server: Served) -> None:
    # 60 %: above the level at which the coordinator would send it to charge by itself.
    robots = [agv("agv-1", 0, battery=0.6), agv("agv-2", 1, battery=0.6)]
    peak = [0.0, 0.0]
    last = [0.6, 0.6]
    charging_at: set[tuple[float, float]] = set()

    def watch(reply: simulation_pb2.AdvanceReply) -> None:
        peak[:] = [max(p, r.battery) for p, r in zip(peak, robots, strict=True)]
        if robots[1].battery > last[1]:
            charging_at.add((round(robots[1].pose.x, 1), round(robots[1].pose.y, 1)))
        last[:] = [r.battery for r in robots]

    run(small_server, robots, [charge("top-up", "agv-2", "charger-2")], each_tick=watch)
    st = status(small_server, "top-up")
    assert st.state == EV.MISSION_STATE_COMPLETED
    assert st.tasks[0].robot_id == "agv-2" and st.tasks[0].steps_done == 2
    assigned = first(events(small_server, "top-up"), EV.MISSION_EVENT_ASSIGNED)
    assert "names robot agv-2" in assigned.detail
    assert peak[1] >= 0.85 and peak[0] <= 0.6
    assert charging_at == {(5.5, 1.5)}  # on charger-2, and nowhere else


def test_a_park_task_after_a_transport_parks_the_robot_that_was_named(
        small_server: Served) -> None:
    robots = [agv("agv-1", 0), agv("agv-2", 1)]
    spec = move("shift-end", "in-1", "out-1")
    spec.tasks.add(task_id="park", depends_on=["move"], park=missions_pb2.ParkTask(
        robot_id="agv-1", station="park-6"))
    run(small_server, robots, [spec])
    st = status(small_server, "shift-end")
    assert st.state == EV.MISSION_STATE_COMPLETED
    log = events(small_server, "shift-end")
    parked = [e for e in log if e.kind == EV.MISSION_EVENT_TASK_DONE and e.task_id == "park"]
    assert parked and parked[0].robot_id == "agv-1"
    x, y = PARKS[5]
    assert abs(robots[0].pose.x - x) < 0.05 and abs(robots[0].pose.y - y) < 0.05


def test_a_robot_named_by_a_park_task_gets_no_other_work_meanwhile(
        small_server: Served) -> None:
    # The only AGV must park first (the park task is ready at once); the transport waits.
    robots = [agv("agv-1", 0)]
    park = missions_pb2.MissionSpec(mission_id="park", priority=-5)
    park.tasks.add(task_id="park", park=missions_pb2.ParkTask(robot_id="agv-1",
                                                             station="park-4"))
    run(small_server, robots, [park, move("job", "in-1", "out-1", priority=9)])
    parked = first(events(small_server, "park"), EV.MISSION_EVENT_TASK_DONE)
    moved = first(events(small_server, "job"), EV.MISSION_EVENT_STARTED)
    assert parked.time_s <= moved.time_s
    assert status(small_server, "job").state == EV.MISSION_STATE_COMPLETED


def test_charge_and_park_tasks_reject_bad_input(small_server: Served) -> None:
    import asyncio

    asyncio.run(register(small_server.address, [agv("agv-1", 0), welder("welder-1", 1)]))
    missions = missions_pb2_grpc.MissionsStub(small_server.channel)

    def park(robot_id: str, station: str) -> missions_pb2.MissionSpec:
        spec = missions_pb2.MissionSpec(mission_id="bad")
        spec.tasks.add(task_id="p", park=missions_pb2.ParkTask(robot_id=robot_id,
                                                              station=station))
        return spec

    cases = [
        (charge("bad", "ghost", "charger-1"), grpc.StatusCode.NOT_FOUND,
         "mission.tasks[0].charge.robot_id"),
        (charge("bad", "agv-1", "park-1"), grpc.StatusCode.INVALID_ARGUMENT,
         "mission.tasks[0].charge.charger_station"),
        (charge("bad", "", "charger-1"), grpc.StatusCode.INVALID_ARGUMENT,
         "mission.tasks[0].charge.robot_id"),
        (park("agv-1", "weld-1"), grpc.StatusCode.INVALID_ARGUMENT,
         "mission.tasks[0].park.station"),
        (park("agv-1", "nowhere"), grpc.StatusCode.NOT_FOUND, "mission.tasks[0].park.station"),
    ]
    for spec, code, field in cases:
        with pytest.raises(grpc.RpcError) as err:
            missions.Submit(missions_pb2.SubmitMissionRequest(mission=spec), timeout=10)
        assert err.value.code() == code, (spec, err.value.details())
        assert field in err.value.details()
    listed = missions.List(missions_pb2.ListMissionsRequest(), timeout=10)
    assert listed.missions == []
