"""Missions through the real API: events in order, dependencies, cancellation, the roster."""

from __future__ import annotations

import asyncio
import random

import grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from fleet.floor import load_floor
from fleet.v1 import (
    fleet_pb2,
    fleet_pb2_grpc,
    missions_pb2,
    missions_pb2_grpc,
    robot_link_pb2_grpc,
    simulation_pb2,
    simulation_pb2_grpc,
)
from sim.grpc_link import GrpcLink
from sim.robot import SimRobot
from sim.scenario import make_fleet
from tests.conftest import SMALL_MAP, Served

EV = missions_pb2


def weld_mission(floor, mission_id: str) -> missions_pb2.MissionSpec:  # type: ignore[no-untyped-def]
    kinds = {s.id: s.kind.value for s in floor.stations.values()}
    pickup = next(s for s, k in kinds.items() if k == "pickup")
    cell = next(s for s, k in kinds.items() if k == "weld_cell")
    dropoff = next(s for s, k in kinds.items() if k == "dropoff")
    spec = missions_pb2.MissionSpec(mission_id=mission_id, labels={"model": "EX-220"})
    spec.tasks.add(task_id="bring", transport=missions_pb2.TransportTask(
        pickup_station=pickup, dropoff_station=cell, load_id="boom-1", mass_kg=640))
    spec.tasks.add(task_id="weld", depends_on=["bring"], weld=missions_pb2.WeldTask(
        cell_station=cell, program="BOOM-A", duration_s=30))
    spec.tasks.add(task_id="take", depends_on=["weld"], transport=missions_pb2.TransportTask(
        pickup_station=cell, dropoff_station=dropoff, load_id="boom-1", mass_kg=640))
    return spec


async def drive(address: str, robots: list[SimRobot], until_s: float,
                stop: callable = lambda reply: False) -> float:  # type: ignore[valid-type]
    """Lockstep the robots with the coordinator's clock, as the simulator does."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = robot_link_pb2_grpc.RobotLinkStub(channel)
        clock = simulation_pb2_grpc.SimClockStub(channel)
        links = [GrpcLink(r, stub) for r in robots]
        for link in links:
            assert await link.connect()
        t = 0.0
        while t < until_s:
            for k in range(5):
                for r in robots:
                    r.tick(t + (k + 1) * 0.1, 0.1)
            t = round(t + 0.5, 6)
            for link in links:
                link.send_state(t)
            reply = await clock.Advance(simulation_pb2.AdvanceRequest(time_s=t), timeout=10)
            for _ in range(4000):
                if all(link.has_received(reply.last_command_seq.get(link.robot.spec.id, 0))
                       for link in links):
                    break
                await asyncio.sleep(0.0005)
            for link in links:
                link.take_commands()
            if stop(reply):
                break
        for link in links:
            await link.disconnect()
        return t


async def register(address: str, robots: list[SimRobot]) -> None:
    """Put the robots on the coordinator's roster (so missions for them are accepted)."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = robot_link_pb2_grpc.RobotLinkStub(channel)
        links = [GrpcLink(r, stub) for r in robots]
        for link in links:
            assert await link.connect()
        for link in links:
            await link.disconnect()


def fleet_of(n: int) -> list[SimRobot]:
    floor = load_floor(SMALL_MAP)
    return [SimRobot(spec, pose) for spec, pose in make_fleet(floor, n, random.Random(0))]


def events(served: Served, mission_id: str) -> list[missions_pb2.MissionEventMessage]:
    stub = missions_pb2_grpc.MissionsStub(served.channel)
    out = []
    call = stub.WatchEvents(missions_pb2.WatchEventsRequest(mission_id=mission_id,
                                                             after_seq=0), timeout=5)
    try:
        for e in call:
            out.append(e)
            if e.kind in (EV.MISSION_EVENT_COMPLETED, EV.MISSION_EVENT_FAILED,
                          EV.MISSION_EVENT_CANCELLED):
                break
    finally:
        call.cancel()
    return out


def test_weld_mission_runs_in_dependency_order_with_explained_events(
        small_server: Served) -> None:
    robots = fleet_of(3)
    missions = missions_pb2_grpc.MissionsStub(small_server.channel)

    floor = small_server.coordinator.floor  # type: ignore[attr-defined]

    async def run() -> None:
        await register(small_server.address, robots)
        missions.Submit(missions_pb2.SubmitMissionRequest(mission=weld_mission(floor, "boom-1")),
                        timeout=10)
        await drive(small_server.address, robots, 2000,
                    stop=lambda reply: reply.open_missions == 0)

    asyncio.run(run())
    status = missions.Get(missions_pb2.GetMissionRequest(mission_id="boom-1"), timeout=10)
    assert status.state == missions_pb2.MISSION_STATE_COMPLETED, status
    assert [t.steps_done for t in status.tasks] == [4, 2, 4]
    log = events(small_server, "boom-1")
    kinds = [(e.kind, e.task_id) for e in log]
    assert kinds[0] == (EV.MISSION_EVENT_ACCEPTED, "")
    assert kinds[-1] == (EV.MISSION_EVENT_COMPLETED, "")
    seq = {k: e.seq for e in log for k in [(e.kind, e.task_id)]}
    # Each task begins (its robot reaches the station) only after the one it depends on is
    # done; it may have been given out earlier, while that one was under way (look-ahead).
    first_step = {e.task_id: e.seq for e in reversed(log)
                  if e.kind == EV.MISSION_EVENT_STEP_DONE}
    assert seq[(EV.MISSION_EVENT_TASK_DONE, "bring")] < first_step["weld"]
    assert seq[(EV.MISSION_EVENT_TASK_DONE, "weld")] < first_step["take"]
    assigned = {e.task_id: e for e in log if e.kind == EV.MISSION_EVENT_ASSIGNED}
    assert assigned["weld"].robot_id.startswith("welder")
    assert assigned["bring"].robot_id.startswith("agv")
    assert "optimal" in assigned["bring"].detail and "approach" in assigned["bring"].detail
    steps = [e.detail for e in log if e.kind == EV.MISSION_EVENT_STEP_DONE and
             e.task_id == "weld"]
    assert steps[1] == "weld BOOM-A"
    # The robots are back on parking places, and operators see them.
    robots_reply = fleet_pb2_grpc.FleetStub(small_server.channel).ListRobots(
        fleet_pb2.ListRobotsRequest(), timeout=10)
    assert {r.robot_id for r in robots_reply.robots} == {r.spec.id for r in robots}
    assert all(not r.current_task for r in robots_reply.robots)


def test_cancel_stops_the_running_task_and_its_dependants(small_server: Served) -> None:
    robots = fleet_of(3)
    missions = missions_pb2_grpc.MissionsStub(small_server.channel)
    floor = small_server.coordinator.floor  # type: ignore[attr-defined]
    cancelled = False

    def cancel_when_active(reply: simulation_pb2.AdvanceReply) -> bool:
        nonlocal cancelled
        if not cancelled:
            status = missions.Get(missions_pb2.GetMissionRequest(mission_id="c-1"), timeout=10)
            if status.tasks[0].steps_done >= 1:
                missions.Cancel(missions_pb2.CancelMissionRequest(mission_id="c-1",
                                                                  reason="order withdrawn"),
                                timeout=10)
                cancelled = True
        return cancelled and reply.open_missions == 0

    async def run() -> None:
        await register(small_server.address, robots)
        missions.Submit(missions_pb2.SubmitMissionRequest(mission=weld_mission(floor, "c-1")),
                        timeout=10)
        await drive(small_server.address, robots, 2000, stop=cancel_when_active)

    asyncio.run(run())
    status = missions.Get(missions_pb2.GetMissionRequest(mission_id="c-1"), timeout=10)
    assert status.state == missions_pb2.MISSION_STATE_CANCELLED
    assert status.reason == "order withdrawn"
    assert [t.state for t in status.tasks] == [missions_pb2.TASK_STATE_CANCELLED] * 3
    log = events(small_server, "c-1")
    assert log[-1].kind == EV.MISSION_EVENT_CANCELLED
    # The dependants never did a thing (they may have been given out ahead).
    assert not any(e.kind == EV.MISSION_EVENT_STEP_DONE and e.task_id != "bring" for e in log)


def test_reflection_lists_the_services(small_server: Served) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(small_server.channel)
    replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(
        list_services="")]), timeout=10)
    names = {s.name for r in replies for s in r.list_services_response.service}
    assert {"fleet.v1.RobotLink", "fleet.v1.Missions", "fleet.v1.Fleet", "fleet.v1.SimClock",
            "grpc.health.v1.Health"} <= names


def test_floor_map_is_served(small_server: Served) -> None:
    reply = fleet_pb2_grpc.FleetStub(small_server.channel).GetFloorMap(
        fleet_pb2.GetFloorMapRequest(), timeout=10)
    assert reply.stations and reply.resolution_m > 0 and len(reply.outline.xy) >= 6
    assert "stations" in reply.yaml

