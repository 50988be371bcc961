"""Production-aware dispatch through the real gRPC API, with simulated robots in lockstep."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fleet.dispatch import ScheduleDispatcher
from fleet.model import Pose, RobotKind, RobotSpec, TransportCapability, WeldCapability
from fleet.v1 import common_pb2, missions_pb2, missions_pb2_grpc, robot_link_pb2, simulation_pb2
from sim.robot import SimRobot
from tests.conftest import SMALL_MAP, Served, serve
from tests.integration.test_mission_flow import drive, events, register

EV = missions_pb2
PARKS = [(7.5, 1.5), (9.5, 1.5), (11.5, 1.5), (13.5, 1.5), (15.5, 1.5), (17.5, 1.5)]


def agv(name: str, spot: int, payload: float = 1000.0, battery: float = 1.0) -> SimRobot:
    x, y = PARKS[spot]
    robot = SimRobot(RobotSpec(name, RobotKind.AGV, 0.45, 1.0,
                               transport=TransportCapability(payload)), Pose(x, y, 0.0))
    robot.battery = battery
    return robot


def welder(name: str, spot: int, programs: tuple[str, ...] = ("BOOM-A",)) -> SimRobot:
    x, y = PARKS[spot]
    return SimRobot(RobotSpec(name, RobotKind.MOBILE_WELDER, 0.45, 1.0,
                              weld=WeldCapability(frozenset(programs))), Pose(x, y, 0.0))


def move(mission_id: str, pickup: str, dropoff: str, *, mass: float = 100.0,
         **fields: object) -> missions_pb2.MissionSpec:
    spec = missions_pb2.MissionSpec(mission_id=mission_id, **fields)  # type: ignore[arg-type]
    spec.tasks.add(task_id="move", transport=missions_pb2.TransportTask(
        pickup_station=pickup, dropoff_station=dropoff, load_id=f"{mission_id}-load",
        mass_kg=mass))
    return spec


def weld_job(mission_id: str, cell: str, *, program: str = "BOOM-A",
             delay_s: float = 0.0) -> missions_pb2.MissionSpec:
    part = f"{mission_id}-part"
    spec = missions_pb2.MissionSpec(mission_id=mission_id)
    spec.tasks.add(task_id="bring", transport=missions_pb2.TransportTask(
        pickup_station="in-1", dropoff_station=cell, load_id=part, mass_kg=300))
    spec.tasks.add(task_id="weld", depends_on=["bring"], weld=missions_pb2.WeldTask(
        cell_station=cell, program=program, duration_s=20, part_load_id=part))
    spec.tasks.add(task_id="take", depends_on=["weld"], start_delay_s=delay_s,
                   transport=missions_pb2.TransportTask(
                       pickup_station=cell, dropoff_station="out-1", load_id=part,
                       mass_kg=300))
    return spec


def run(served: Served, robots: list[SimRobot], specs: list[missions_pb2.MissionSpec],
        until_s: float = 1500.0,
        each_tick: Callable[[simulation_pb2.AdvanceReply], None] | None = None) -> float:
    """Register the robots, submit the missions, drive until every mission has ended."""
    missions = missions_pb2_grpc.MissionsStub(served.channel)

    def stop(reply: simulation_pb2.AdvanceReply) -> bool:
        if each_tick is not None:
            each_tick(reply)
        return reply.open_missions == 0

    async def go() -> float:
        await register(served.address, robots)
        for spec in specs:
            missions.Submit(missions_pb2.SubmitMissionRequest(mission=spec), timeout=10)
        return await drive(served.address, robots, until_s, stop=stop)

    return asyncio.run(go())


def status(served: Served, mission_id: str) -> missions_pb2.MissionStatus:
    return missions_pb2_grpc.MissionsStub(served.channel).Get(
        missions_pb2.GetMissionRequest(mission_id=mission_id), timeout=10)


def first(log: list[missions_pb2.MissionEventMessage], kind: int,
          task_id: str = "") -> missions_pb2.MissionEventMessage:
    return next(e for e in log if e.kind == kind and (not task_id or e.task_id == task_id))


def step_done(log: list[missions_pb2.MissionEventMessage], task_id: str,
              step: int) -> missions_pb2.MissionEventMessage:
    return next(e for e in log if e.kind == EV.MISSION_EVENT_STEP_DONE
                and e.task_id == task_id and e.step == step)


def test_dependencies_release_tasks_after_their_start_delay_and_release_time(
        small_server: Served) -> None:
    late = move("late", "press-out-1", "out-1", release_s=60.0)
    run(small_server, [agv("agv-1", 0), welder("welder-1", 1)],
        [weld_job("w", "weld-1", delay_s=30.0), late])
    assert status(small_server, "w").state == EV.MISSION_STATE_COMPLETED
    assert status(small_server, "late").state == EV.MISSION_STATE_COMPLETED
    log = events(small_server, "w")
    # The welder goes into the cell only once the part is there (it may have been given the
    # weld earlier, while the part was on its way); the take's robot comes to the cell no
    # sooner than 30 s after the weld.
    assert step_done(log, "weld", 0).time_s >= first(
        log, EV.MISSION_EVENT_TASK_DONE, "bring").time_s
    weld_done = first(log, EV.MISSION_EVENT_TASK_DONE, "weld").time_s
    assert step_done(log, "take", 0).time_s >= weld_done + 30.0
    assert first(events(small_server, "late"), EV.MISSION_EVENT_ASSIGNED).time_s >= 60.0
    assert status(small_server, "late").release_s == 60.0


def test_capability_and_payload_pick_the_robot(small_server: Served) -> None:
    robots = [agv("light", 0, payload=500), agv("heavy", 3, payload=2000),
              welder("welder-a", 1, ("ARM-B",)), welder("welder-b", 4, ("BOOM-A",))]
    run(small_server, robots, [move("heavy-load", "in-1", "out-1", mass=1500),
                               weld_job("w", "weld-2", program="BOOM-A")])
    heavy = first(events(small_server, "heavy-load"), EV.MISSION_EVENT_ASSIGNED)
    assert heavy.robot_id == "heavy"
    log = events(small_server, "w")
    assert first(log, EV.MISSION_EVENT_ASSIGNED, "weld").robot_id == "welder-b"
    assert status(small_server, "w").state == EV.MISSION_STATE_COMPLETED


def test_transport_waits_for_full_cell(small_server: Served) -> None:
    robots = [agv("agv-1", 0), agv("agv-2", 1), welder("welder-1", 2)]
    run(small_server, robots, [weld_job("first", "weld-1"), weld_job("second", "weld-1")])
    a, b = events(small_server, "first"), events(small_server, "second")
    assert status(small_server, "second").state == EV.MISSION_STATE_COMPLETED
    # The fixture holds one part: the second part is brought in only after the first one
    # was taken out (its robot may have picked it up earlier and waited next to the cell).
    first_out = step_done(a, "take", 1)
    second_at_cell = step_done(b, "bring", 2)
    assert second_at_cell.time_s >= first_out.time_s
    assert step_done(b, "bring", 3).seq > first_out.seq
    # ... and it was given out while the first part was still in the cell, being welded.
    assert first(b, EV.MISSION_EVENT_ASSIGNED, "bring").time_s < first_out.time_s


def test_priority_then_deadline_order_the_only_robot(small_server: Served) -> None:
    specs = [move("plain", "in-1", "out-1"),
             move("loose", "press-out-1", "out-1", deadline_s=5000.0),
             move("tight", "press-out-1", "press-in-1", deadline_s=400.0),
             move("urgent", "in-1", "press-in-1", priority=2)]
    run(small_server, [agv("agv-1", 0)], specs)
    order = sorted(specs, key=lambda s: first(events(small_server, s.mission_id),
                                              EV.MISSION_EVENT_ASSIGNED).seq)
    assert [s.mission_id for s in order][:2] == ["urgent", "tight"]
    detail = first(events(small_server, "urgent"), EV.MISSION_EVENT_ASSIGNED).detail
    assert "priority 600" in detail


def test_low_battery_robot_charges_before_it_works(small_server: Served) -> None:
    robot = agv("agv-1", 0, battery=0.2)
    peak = [0.0]

    def watch(reply: simulation_pb2.AdvanceReply) -> None:
        peak[0] = max(peak[0], robot.battery)

    run(small_server, [robot], [move("job", "in-1", "out-1")], each_tick=watch)
    assert status(small_server, "job").state == EV.MISSION_STATE_COMPLETED
    assert peak[0] >= 0.85
    started = first(events(small_server, "job"), EV.MISSION_EVENT_STARTED)
    assert started.time_s > 100.0  # (0.9 - 0.2) / 0.005 s per unit of charge = 140 s


def test_unstarted_task_moves_to_another_robot_when_its_robot_faults(
        small_server: Served) -> None:
    robots = [agv("near", 0), agv("far", 5)]
    faulted_at: list[float] = []
    t = [0.0]

    def fault_near(reply: simulation_pb2.AdvanceReply) -> None:
        t[0] += 0.5
        if not faulted_at:
            robots[0].faults = ["drive motor overcurrent"]
            faulted_at.append(t[0])
        elif t[0] >= 20.0:
            # Cleared: it drives to the end of what was released to it (traffic keeps those
            # cells for it), stops and leaves the aisle; the other robot goes on.
            robots[0].faults = []

    run(small_server, robots, [move("job", "in-1", "out-1")], each_tick=fault_near)
    log = events(small_server, "job")
    assigned = [e for e in log if e.kind == EV.MISSION_EVENT_ASSIGNED]
    assert [e.robot_id for e in assigned] == ["near", "far"]
    back = first(log, EV.MISSION_EVENT_UNASSIGNED)
    assert "drive motor overcurrent" in back.detail
    assert back.time_s - faulted_at[0] <= 1.0
    assert assigned[1].time_s - back.time_s <= 1.0
    assert status(small_server, "job").state == EV.MISSION_STATE_COMPLETED


def test_failed_weld_fails_its_mission_with_the_reason(small_server: Served) -> None:
    robots = [agv("agv-1", 0), welder("welder-1", 1)]

    def break_weld(reply: simulation_pb2.AdvanceReply) -> None:
        w = robots[1]
        if (w.action is not None and w.action.kind == robot_link_pb2.ACTION_KIND_WELD
                and w.action.status == common_pb2.ACTION_STATUS_RUNNING):
            w.action.status = common_pb2.ACTION_STATUS_FAILED

    run(small_server, robots, [weld_job("w", "weld-1")], each_tick=break_weld)
    st = status(small_server, "w")
    assert st.state == EV.MISSION_STATE_FAILED
    assert "weld BOOM-A failed" in st.reason
    assert [t.state for t in st.tasks] == [EV.TASK_STATE_DONE, EV.TASK_STATE_FAILED,
                                           EV.TASK_STATE_CANCELLED]


def test_robot_whose_battery_no_longer_covers_its_task_gives_it_back_and_charges(
        small_server: Served) -> None:
    robot = agv("agv-1", 0)
    lowest, drained = [1.0], [False]

    def drain(reply: simulation_pb2.AdvanceReply) -> None:
        # Something used charge nobody planned for (a long wait, a detour) while the robot
        # drives empty to its pickup: it can no longer do the job and reach a charger.
        if not drained[0] and robot.moving and not robot.load_id:
            robot.battery, drained[0] = 0.055, True
        lowest[0] = min(lowest[0], robot.battery)

    run(small_server, [robot], [move("job", "in-1", "out-1")], each_tick=drain)
    log = events(small_server, "job")
    back = first(log, EV.MISSION_EVENT_UNASSIGNED)
    assert "no longer covers task job/move" in back.detail
    again = [e for e in log if e.kind == EV.MISSION_EVENT_ASSIGNED][1]
    # It was given the job again only once charged.
    assert again.time_s - back.time_s >= 100.0
    assert status(small_server, "job").state == EV.MISSION_STATE_COMPLETED
    assert lowest[0] > 0.0


def test_robots_make_way_next_to_their_stations_not_at_distant_parking(
        small_server: Served) -> None:
    # Each robot stands on the station the other must go to first: one of them has to leave
    # its station. The parking bays are 6 m and more away, open floor is next to the door.
    light = SimRobot(RobotSpec("light", RobotKind.AGV, 0.45, 1.0,
                               transport=TransportCapability(500.0)), Pose(1.5, 5.5, 0.0))
    heavy = SimRobot(RobotSpec("heavy", RobotKind.AGV, 0.45, 1.0,
                               transport=TransportCapability(2000.0)), Pose(1.5, 3.5, 0.0))
    furthest = {"light": 0.0, "heavy": 0.0}
    loaded: set[str] = set()

    def watch(reply: simulation_pb2.AdvanceReply) -> None:
        for r in (light, heavy):
            if r.load_id:
                loaded.add(r.spec.id)
            if r.spec.id not in loaded:
                furthest[r.spec.id] = max(furthest[r.spec.id], r.pose.x)

    run(small_server, [light, heavy],
        [move("big", "out-1", "press-in-1", mass=1500),
         move("small", "in-1", "press-in-1", mass=100)],
        each_tick=watch)
    assert status(small_server, "big").state == EV.MISSION_STATE_COMPLETED
    assert status(small_server, "small").state == EV.MISSION_STATE_COMPLETED
    assert first(events(small_server, "big"), EV.MISSION_EVENT_ASSIGNED).robot_id == "heavy"
    # Until it had picked its load, neither robot went further east than the aisle by the
    # doors (the nearest parking bay is at x = 7.5 m).
    assert max(furthest.values()) <= 5.0


def test_weld_is_given_out_while_its_part_is_on_the_way_and_begins_once_it_is_in(
        small_server: Served) -> None:
    # A fixed welder bolted to weld-1 and a mobile one: each is told ahead of its part
    # (look-ahead) and neither welds before the part has been dropped in its cell.
    fixed = SimRobot(RobotSpec("fixed-1", RobotKind.FIXED_WELDER, 0.45, 1.0,
                               weld=WeldCapability(frozenset({"BOOM-A"}))), Pose(3.5, 6.5, 0.0))
    robots = [agv("agv-1", 0), agv("agv-2", 1), fixed,
              welder("welder-1", 2, ("ARM-B",))]
    run(small_server, robots, [weld_job("at-fixed", "weld-1"),
                               weld_job("at-mobile", "weld-2", program="ARM-B")])
    for mission_id, welder_id in (("at-fixed", "fixed-1"), ("at-mobile", "welder-1")):
        log = events(small_server, mission_id)
        assert status(small_server, mission_id).state == EV.MISSION_STATE_COMPLETED
        given = first(log, EV.MISSION_EVENT_ASSIGNED, "weld")
        part_in = first(log, EV.MISSION_EVENT_TASK_DONE, "bring").time_s
        assert given.robot_id == welder_id
        assert given.time_s < part_in
        assert "ready in" in given.detail
        # 20 s of welding, all of it after the drop.
        assert first(log, EV.MISSION_EVENT_TASK_DONE, "weld").time_s >= part_in + 20.0


def pipeline_job(mission_id: str) -> missions_pb2.MissionSpec:
    """A part through two weld cells in a row: in-1, weld-1, weld-2, out-1."""
    part = f"{mission_id}-part"
    spec = missions_pb2.MissionSpec(mission_id=mission_id)
    legs = [("in-1", "weld-1"), ("weld-1", "weld-2"), ("weld-2", "out-1")]
    for k, (pickup, dropoff) in enumerate(legs):
        spec.tasks.add(task_id=f"move-{k}", depends_on=[f"weld-{k}"] if k else [],
                       transport=missions_pb2.TransportTask(
                           pickup_station=pickup, dropoff_station=dropoff, load_id=part,
                           mass_kg=300))
        if dropoff.startswith("weld"):
            spec.tasks.add(task_id=f"weld-{k + 1}", depends_on=[f"move-{k}"],
                           weld=missions_pb2.WeldTask(cell_station=dropoff, program="BOOM-A",
                                                      duration_s=30, part_load_id=part))
    return spec


@pytest.mark.parametrize(("agvs", "welders", "parts", "pipeline"), [
    (3, 1, 5, False),   # many parts through one full cell, more AGVs than room
    (2, 2, 4, True),    # parts through two cells in a row, each full most of the time
    (4, 1, 4, True),
])
def test_full_cells_never_lock_up_the_line(small_server: Served, agvs: int, welders: int,
                                           parts: int, pipeline: bool) -> None:
    """Looking ahead and staging the next part for a full cell must not let robots hold each
    other up for good: every part gets through, and no cell ever holds more than its room."""
    robots = [agv(f"agv-{k + 1}", k) for k in range(agvs)]
    robots += [welder(f"welder-{k + 1}", agvs + k) for k in range(welders)]
    specs = [pipeline_job(f"p{k}") if pipeline else weld_job(f"p{k}", "weld-1")
             for k in range(parts)]
    coordinator = small_server.coordinator
    most: dict[str, int] = {}

    def watch(reply: simulation_pb2.AdvanceReply) -> None:
        for cell in ("weld-1", "weld-2"):
            held = len(coordinator.contents[cell])  # type: ignore[attr-defined]
            most[cell] = max(most.get(cell, 0), held)

    run(small_server, robots, specs, until_s=6000.0, each_tick=watch)
    states = [status(small_server, s.mission_id).state for s in specs]
    assert states == [EV.MISSION_STATE_COMPLETED] * parts
    assert max(most.values()) <= 1


@pytest.fixture
def schedule_server(tmp_path: Path) -> Iterator[Served]:
    """A coordinator on the small map dispatching by schedule (`ScheduleDispatcher`)."""
    yield from serve(SMALL_MAP, str(tmp_path / "fleet.db"), dispatcher=ScheduleDispatcher())


@pytest.mark.parametrize(("agvs", "welders", "parts", "pipeline"), [
    (3, 1, 5, False),
    (2, 2, 4, True),
    (4, 1, 4, True),
])
def test_the_schedule_dispatcher_gets_every_part_through_full_cells(
        schedule_server: Served, agvs: int, welders: int, parts: int, pipeline: bool) -> None:
    """The schedule keeps the cells' room itself (the round offers every transport into a
    cell with room): it must never overfill a cell nor leave the line locked up."""
    robots = [agv(f"agv-{k + 1}", k) for k in range(agvs)]
    robots += [welder(f"welder-{k + 1}", agvs + k) for k in range(welders)]
    specs = [pipeline_job(f"p{k}") if pipeline else weld_job(f"p{k}", "weld-1")
             for k in range(parts)]
    coordinator = schedule_server.coordinator
    most: dict[str, int] = {}

    def watch(reply: simulation_pb2.AdvanceReply) -> None:
        for cell in ("weld-1", "weld-2"):
            held = len(coordinator.contents[cell])  # type: ignore[attr-defined]
            most[cell] = max(most.get(cell, 0), held)

    run(schedule_server, robots, specs, until_s=6000.0, each_tick=watch)
    states = [status(schedule_server, s.mission_id).state for s in specs]
    assert states == [EV.MISSION_STATE_COMPLETED] * parts
    assert max(most.values()) <= 1
    log = events(schedule_server, specs[0].mission_id)
    assert first(log, EV.MISSION_EVENT_ASSIGNED).detail.startswith("schedule: schedule of")


def test_a_weld_given_out_ahead_gives_way_to_a_more_urgent_one(small_server: Served) -> None:
    # The only welder is told about "routine"'s weld while its part is on the way, and sets
    # off. An urgent mission comes in before it has begun: re-optimizing hands the welder
    # to the urgent weld, the routine one goes back to the queue (with an event saying why)
    # and is welded afterwards. Nothing is lost.
    robots = [agv("agv-1", 0), agv("agv-2", 1), agv("agv-3", 2), welder("welder-1", 5)]
    urgent = weld_job("urgent", "weld-2")
    urgent.priority, urgent.release_s = 2, 8.0
    run(small_server, robots, [weld_job("routine", "weld-1"), urgent])
    routine_log, urgent_log = events(small_server, "routine"), events(small_server, "urgent")
    assert status(small_server, "routine").state == EV.MISSION_STATE_COMPLETED
    assert status(small_server, "urgent").state == EV.MISSION_STATE_COMPLETED
    given = first(routine_log, EV.MISSION_EVENT_ASSIGNED, "weld")
    back = first(routine_log, EV.MISSION_EVENT_UNASSIGNED, "weld")
    assert given.robot_id == back.robot_id == "welder-1"
    assert "ready in" in given.detail
    assert back.detail == "re-optimized: robot welder-1 takes urgent/weld instead"
    # The welder had not begun: it was given the routine weld before that part was in.
    assert back.time_s < first(routine_log, EV.MISSION_EVENT_TASK_DONE, "bring").time_s
    assert first(urgent_log, EV.MISSION_EVENT_ASSIGNED, "weld").time_s == back.time_s
    assert first(urgent_log, EV.MISSION_EVENT_TASK_DONE, "weld").time_s <= step_done(
        routine_log, "weld", 1).time_s - 20.0
    # A routine re-optimization is no fault: the welder is not given back twice for it.
    assert sum(e.kind == EV.MISSION_EVENT_UNASSIGNED for e in routine_log) == 1


@pytest.mark.parametrize("heavy_to_come", [True, False])
def test_a_heavy_lift_agv_is_kept_for_the_heavy_loads_to_come(small_server: Served,
                                                              heavy_to_come: bool) -> None:
    # The heavy-lift AGV stands nearer the light load. While a heavy load it alone can carry
    # waits (behind a weld), the light AGV takes the light load; with nothing heavy to come,
    # the nearer robot does.
    robots = [agv("heavy", 5, payload=2000), agv("light", 2, payload=1000),
              welder("welder-1", 0)]
    later = missions_pb2.MissionSpec(mission_id="later")
    later.tasks.add(task_id="seam", weld=missions_pb2.WeldTask(
        cell_station="weld-1", program="BOOM-A", duration_s=120))
    later.tasks.add(task_id="ship", depends_on=["seam"], transport=missions_pb2.TransportTask(
        pickup_station="in-1", dropoff_station="out-1", load_id="frame",
        mass_kg=1500 if heavy_to_come else 500))
    run(small_server, robots, [later, move("light-load", "press-out-1", "press-in-1")])
    assert status(small_server, "light-load").state == EV.MISSION_STATE_COMPLETED
    assert status(small_server, "later").state == EV.MISSION_STATE_COMPLETED
    given = first(events(small_server, "light-load"), EV.MISSION_EVENT_ASSIGNED)
    assert given.robot_id == ("light" if heavy_to_come else "heavy")
    ship = first(events(small_server, "later"), EV.MISSION_EVENT_ASSIGNED, "ship")
    if heavy_to_come:
        assert ship.robot_id == "heavy"


def test_a_robot_whose_drop_station_is_held_waits_next_to_it_not_across_the_floor(
        small_server: Served) -> None:
    # Both loads go to out-1. agv-1 gets there first and holds the station while it drops;
    # agv-2, loaded at the far end of the floor, drives meanwhile to the open floor next to
    # out-1 and waits there, rather than stand at press-out-1 until out-1 is free.
    robots = [agv("agv-1", 0), agv("agv-2", 5)]
    where: list[tuple[float, float]] = []

    def watch(reply: simulation_pb2.AdvanceReply) -> None:
        pose = robots[1].pose
        where.append((reply.time_s, abs(pose.x - 1.5) + abs(pose.y - 5.5)))

    run(small_server, robots, [move("first", "in-1", "out-1"),
                               move("second", "press-out-1", "out-1")], each_tick=watch)
    assert status(small_server, "second").state == EV.MISSION_STATE_COMPLETED
    first_log, second_log = events(small_server, "first"), events(small_server, "second")
    assert first(first_log, EV.MISSION_EVENT_ASSIGNED).robot_id == "agv-1"
    freed = step_done(first_log, "move", 3).time_s
    loaded = step_done(second_log, "move", 1).time_s
    assert loaded < freed  # agv-2 had its load while out-1 was still held
    # When agv-1 has dropped, agv-2 is already within 4 m of out-1 (Manhattan), though it
    # was loaded 17 m away.
    near = [d for t, d in where if t >= freed]
    assert near and near[0] <= 4.0
    assert step_done(second_log, "move", 3).time_s - freed <= 40.0
