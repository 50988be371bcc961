"""The coordinator: the one owner of live state.

Everything that changes state happens in `step()`, called on a fixed period (wall clock) or by
the simulator (simulated clock), and in the request handlers (register, submit, cancel), all on
one event loop. State reports are only recorded when they arrive and acted on in `step()`, so a
run depends only on the states and requests, not on message timing. Mission events are written
to the store before the commands they cause are sent.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from fleet.coordinator.clock import Clock
from fleet.coordinator.records import (
    Act,
    Channel,
    Go,
    MissionRecord,
    RobotRecord,
    TaskRecord,
    Work,
    steps_for,
)
from fleet.dispatch import (
    DETOUR,
    Candidate,
    CostWeights,
    Dispatcher,
    GridTravel,
    Job,
    OptimalDispatcher,
    capable,
    cell_backlogs,
    cell_of,
    estimate,
    mission_tails,
    plan_charging,
    reserved_shares,
    waiting_part,
)
from fleet.floor import FloorMap, OccupancyGrid, Station, StationKind, rasterize
from fleet.model import (
    ActionKind,
    ActionStatus,
    AlreadyExistsError,
    Cell,
    Command,
    EventKind,
    FleetError,
    FollowPath,
    InfeasibleError,
    InvalidInputError,
    Mission,
    MissionEvent,
    MissionState,
    NotFoundError,
    PerformAction,
    Pose,
    RobotKind,
    RobotMode,
    RobotSpec,
    RobotState,
    StopAction,
    Task,
    TaskKind,
    TaskState,
    TimedWaypoint,
    battery_model,
    check_id,
)
from fleet.planning import DistanceTables
from fleet.store import EventStore
from fleet.traffic import Release, Traffic, check_invariants

__all__ = ["Coordinator", "CoordinatorConfig"]

log = logging.getLogger(__name__)

_PICKUP_KINDS = {StationKind.PICKUP, StationKind.BUFFER, StationKind.WELD_CELL,
                 StationKind.DROPOFF}
_MAX_REASON = 200
"""Longest operator reason accepted (pause), in characters."""
_REST_KINDS = {StationKind.PARKING}
"""Where idle robots may stay; chargers are kept free for robots that need them."""
_HOLDING_KINDS = {StationKind.BUFFER, StationKind.WELD_CELL}
_PINNED_KINDS = {TaskKind.CHARGE, TaskKind.PARK}
"""Tasks a mission gives to a robot it names: they bypass the dispatcher."""
"""Stations whose capacity a transport into them must respect."""


@dataclass(frozen=True, slots=True)
class CoordinatorConfig:
    """Tuning of the coordinator; defaults suit a plant floor with 1 m cells."""

    nominal_speed_mps: float = 1.0
    """Speed the plans assume; one planning step is one cell at this speed."""
    release_horizon: int = 8
    """Cells released ahead of a robot at most."""
    disconnect_timeout_s: float = 30.0
    """A robot silent this long loses the tasks it has not started."""
    restart_grace_s: float = 30.0
    """After a restart, wait this long for known robots to reconnect before planning."""
    cell_tolerance: float = 0.2
    """A registering robot must stand within this fraction of a cell of a cell centre."""
    stall_s: float = 10.0
    """A robot that has cells to drive but has not advanced for this long counts as stopped:
    robots waiting on it are re-planned around the cells it holds."""
    self_check: bool = field(
        default_factory=lambda: os.environ.get("FLEET_SELF_CHECK", "") not in ("", "0"))
    """Check the release order's safety invariants after every step and log any breach
    (tests and simulations turn this on with FLEET_SELF_CHECK=1)."""
    make_way_after_s: float = 5.0
    """A robot that cannot get a path this long while it stands on a work station leaves it
    for a parking place first (two robots each waiting for the other's station)."""
    approach_m: float = 8.0
    """A robot further than this from a station another robot holds drives meanwhile to the
    open floor next to it, rather than stand still until the station is free."""
    reassign_unstarted_after_s: float = 5.0
    """A robot silent this long loses the tasks it was given but has not started."""


class Coordinator:
    """Missions in, robot commands out; see the module docstring."""

    def __init__(self, floor: FloorMap, store: EventStore, clock: Clock,
                 config: CoordinatorConfig | None = None,
                 dispatcher: Dispatcher | None = None) -> None:
        self.floor = floor
        self.store = store
        self.clock = clock
        self.config = config or CoordinatorConfig()
        self.grid: OccupancyGrid = rasterize(floor)
        self.step_s = floor.resolution_m / self.config.nominal_speed_mps
        self.distances = DistanceTables(self.grid.free, 4)
        self.traffic = Traffic(self.grid.free, horizon=self.config.release_horizon,
                               distances=self.distances)
        self.station_cells: dict[str, Cell] = {
            s.id: self.grid.cell_of(s.pose.x, s.pose.y) for s in floor.stations.values()}
        self.chargers = sorted(s.id for s in floor.stations.values()
                               if s.kind is StationKind.CHARGER)
        self.travel = GridTravel(self.distances, self.station_cells, self.chargers,
                                 floor.resolution_m)
        self.dispatcher: Dispatcher = dispatcher or OptimalDispatcher()
        self.weights = getattr(self.dispatcher, "weights", CostWeights())
        self.contents: dict[str, list[str]] = {s: [] for s in floor.stations}
        """Loads standing at each station (dropped and not yet picked), oldest first."""
        self._tails: dict[str, dict[str, float]] = {}
        self._charges = 0
        self.robots: dict[str, RobotRecord] = {}
        self.missions: dict[str, MissionRecord] = {}
        self._events: list[MissionEvent] = []
        self._outbox: list[tuple[str, Command]] = []
        self._watchers: list[asyncio.Queue[MissionEvent]] = []
        self._epoch: float | None = None
        self._started_at: float | None = None
        self._recovering = False
        self._frozen: set[str] = set()
        self._no_rest_place: set[str] = set()
        self._recover()

    # ------------------------------------------------------------------ recovery
    def _recover(self) -> None:
        """Rebuild missions and the robot roster from the store (restart)."""
        for spec in self.store.robots():
            self.robots[spec.id] = RobotRecord(spec=spec, home_station=self._home_of(spec, None))
        for order, mission in enumerate(self.store.missions()):
            self.missions[mission.id] = self._new_record(mission, order)
        for event in self.store.events():
            self._apply_stored(event)
        # Started tasks first: they are the robots' current work, the rest wait in queues.
        for wanted in (TaskState.ACTIVE, TaskState.ASSIGNED):
            for record in self.missions.values():
                if record.state.finished:
                    continue
                for task in record.tasks.values():
                    if task.state is not wanted:
                        continue
                    robot = self.robots.get(task.robot_id)
                    if robot is None:
                        task.state, task.robot_id = TaskState.PENDING, ""
                        continue
                    steps = steps_for(task.task, robot.spec, self.station_cells,
                                      robot.spec.kind is RobotKind.FIXED_WELDER)
                    work = Work(record.mission.id, task.task.id, steps,
                                index=task.steps_done, started=wanted is TaskState.ACTIVE)
                    if robot.work is None:
                        robot.work = work
                    else:
                        robot.queue.append(work)
        self._recovering = bool(self.robots)
        if self.missions:
            log.info("recovered %d missions (%d open) and %d robots from the store",
                     len(self.missions),
                     sum(not m.state.finished for m in self.missions.values()), len(self.robots))

    def _apply_stored(self, e: MissionEvent) -> None:
        record = self.missions.get(e.mission_id)
        if record is None:
            return
        task = record.tasks.get(e.task_id)
        if e.kind is EventKind.ASSIGNED and task:
            task.state, task.robot_id = TaskState.ASSIGNED, e.robot_id
        elif e.kind is EventKind.UNASSIGNED and task:
            task.state, task.robot_id, task.steps_done = TaskState.PENDING, "", 0
        elif e.kind is EventKind.STARTED and task:
            task.state = TaskState.ACTIVE
            record.state = MissionState.ACTIVE
        elif e.kind is EventKind.STEP_DONE and task:
            task.steps_done = e.step + 1
            self._load_moved(task.task, e.step)
        elif e.kind is EventKind.TASK_DONE and task:
            task.state, task.done_s = TaskState.DONE, e.time_s
        elif e.kind in (EventKind.COMPLETED, EventKind.FAILED, EventKind.CANCELLED):
            record.state = {EventKind.COMPLETED: MissionState.COMPLETED,
                            EventKind.FAILED: MissionState.FAILED,
                            EventKind.CANCELLED: MissionState.CANCELLED}[e.kind]
            record.reason, record.finished_s = e.detail, e.time_s
            if e.kind is not EventKind.COMPLETED:
                self._clear_loads(record)
            for t in record.tasks.values():
                if not t.state.finished:
                    t.state = (TaskState.FAILED if e.kind is EventKind.FAILED and t.task.id ==
                               e.task_id else TaskState.CANCELLED)

    # ------------------------------------------------------------------ robots
    def register(self, spec: RobotSpec, pose: Pose) -> str:
        """Admit a robot (or re-admit one that reconnects); returns its session id."""
        check_id("robot_id", spec.id)
        self._check_spec(spec)
        existing = self.robots.get(spec.id)
        if existing is not None and existing.connected:
            raise AlreadyExistsError(f"robot {spec.id!r} is connected already",
                                     field="robot_id", value=spec.id)
        home = self._home_of(spec, pose)
        if spec.kind is not RobotKind.FIXED_WELDER:
            cell = self._cell_at(pose)
            cut = self.traffic.place(spec.id, cell)
            for other in cut:
                work = self.robots[other].work
                if work is not None:
                    work.path_id = ""
        record = existing or RobotRecord(spec=spec)
        record.spec, record.home_station = spec, home
        record.placed = spec.kind is not RobotKind.FIXED_WELDER
        record.session_id = uuid.uuid4().hex
        record.state = RobotState(spec.id, self.clock.now(), pose)
        record.disconnected_at = self.clock.now()
        if record.work is not None:
            record.work.path_id = ""
            record.work.action_sent = False
        self.robots[spec.id] = record
        self.store.put_robot(spec)
        log.info("robot %s registered (%s) at %.2f, %.2f", spec.id, spec.kind.value, pose.x,
                 pose.y)
        return record.session_id

    def connect(self, robot_id: str, session_id: str) -> Channel:
        """Open the command stream of a registered robot."""
        record = self._robot(robot_id)
        if not session_id or session_id != record.session_id:
            raise InfeasibleError(f"robot {robot_id!r}: session {session_id!r} is not current; "
                                  "register first", field="session_id", value=session_id)
        if record.connected:
            raise AlreadyExistsError(f"robot {robot_id!r} has a stream open already",
                                     field="robot_id", value=robot_id)
        record.channel = Channel(robot_id)
        record.disconnected_at = None
        if record.hold:
            # A robot that restarted forgot the operator's hold: it comes first.
            record.channel.send(StopAction("pause", record.hold))
        return record.channel

    def disconnect(self, robot_id: str, channel: Channel) -> None:
        """The robot's stream ended: it drives to the end of what was released and stops."""
        record = self.robots.get(robot_id)
        channel.close()
        if record is None or record.channel is not channel:
            return
        record.channel = None
        record.disconnected_at = self.clock.now()
        if record.placed:
            self.traffic.hold(robot_id)
        log.info("robot %s disconnected", robot_id)

    def update_state(self, robot_id: str, state: RobotState) -> None:
        """Record a state report; acted on at the next step."""
        if state.robot_id != robot_id:
            raise InvalidInputError(
                f"state.robot_id {state.robot_id!r} does not match the stream's robot "
                f"{robot_id!r}", field="state.robot_id", value=state.robot_id)
        self._robot(robot_id).state = state

    def pause(self, robot_id: str, reason: str) -> RobotRecord:
        """An operator holds a robot: it stops where it is and keeps the task it started;
        its queued and unstarted tasks go back to the dispatcher, and it gets no new work."""
        robot = self._robot(robot_id)
        if len(reason) > _MAX_REASON:
            raise InvalidInputError(f"reason is {len(reason)} characters, at most "
                                    f"{_MAX_REASON} allowed", field="reason", value=reason[:40])
        now = self.clock.now()
        robot.hold = reason or "paused by an operator"
        cause = f"robot {robot_id} paused by an operator: {robot.hold}"
        self._give_back_queue(robot, now, cause)
        work = robot.work
        if work is not None and (work.parking or self._untouched(work)):
            robot.work = None
            if robot.placed:
                self.traffic.hold(robot_id)
            if not work.parking:
                self._give_back(robot, work, now, cause)
        if robot.connected:
            self._outbox.append((robot_id, StopAction("pause", robot.hold)))
        log.warning("%s", cause)
        self._flush()
        return robot

    def resume(self, robot_id: str) -> RobotRecord:
        """Release an operator's hold (or a pause the robot reports after a restart of the
        coordinator, which does not keep holds)."""
        robot = self._robot(robot_id)
        reported = robot.state is not None and robot.state.mode is RobotMode.PAUSED
        if not robot.hold and not reported:
            raise InfeasibleError(f"robot {robot_id!r} is not paused", field="robot_id",
                                  value=robot_id)
        robot.hold = ""
        if robot.connected:
            self._outbox.append((robot_id, StopAction("resume")))
        log.info("robot %s resumed by an operator", robot_id)
        self._flush()
        return robot

    def all_reported(self, t_s: float) -> bool:
        """True if every connected robot has reported a state stamped at or after `t_s`."""
        return all(r.state is not None and r.state.stamp_s >= t_s - 1e-9
                   for r in self.robots.values() if r.connected)

    def last_command_seq(self) -> dict[str, int]:
        """Sequence number of the last command queued to each connected robot."""
        return {rid: r.channel.seq for rid, r in self.robots.items()
                if r.channel is not None and not r.channel.closed}

    # ------------------------------------------------------------------ missions
    def submit(self, mission: Mission) -> MissionRecord:
        """Validate and durably accept a mission."""
        now = self.clock.now()
        if not mission.id:
            n = len(self.missions) + 1
            while f"m-{n:06d}" in self.missions:
                n += 1
            mission = replace(mission, id=f"m-{n:06d}")
        self._validate(mission)
        if mission.id in self.missions:
            raise AlreadyExistsError(f"mission {mission.id!r} exists already",
                                     field="mission.mission_id", value=mission.id)
        mission = replace(mission, submitted_s=now)
        stored = self.store.add_mission(mission, MissionEvent(EventKind.ACCEPTED, mission.id,
                                                              now))
        record = self._new_record(mission, len(self.missions))
        self.missions[mission.id] = record
        self._publish([stored])
        return record

    def cancel(self, mission_id: str, reason: str) -> MissionRecord:
        """Cancel an unfinished mission; robots on its tasks stop after their released path."""
        record = self.get(mission_id)
        if record.state.finished:
            raise InfeasibleError(f"mission {mission_id!r} is {record.state.value} already",
                                  field="mission_id", value=mission_id)
        self._finish_mission(record, MissionState.CANCELLED, reason or "cancelled", "")
        self._flush()
        return record

    def get(self, mission_id: str) -> MissionRecord:
        """A mission's record; NotFoundError if unknown."""
        record = self.missions.get(mission_id)
        if record is None:
            raise NotFoundError(f"mission {mission_id!r} not found", field="mission_id",
                                value=mission_id)
        return record

    def list_missions(self, states: Iterable[MissionState] = (),
                      labels: dict[str, str] | None = None) -> list[MissionRecord]:
        """Missions in submission order, filtered by state and labels."""
        wanted = set(states)
        return [m for m in self.missions.values()
                if (not wanted or m.state in wanted)
                and all(m.mission.labels.get(k) == v for k, v in (labels or {}).items())]

    def open_missions(self) -> int:
        """Missions not finished."""
        return sum(not m.state.finished for m in self.missions.values())

    def watch(self) -> asyncio.Queue[MissionEvent]:
        """A queue receiving every event published from now on; call `unwatch` when done."""
        queue: asyncio.Queue[MissionEvent] = asyncio.Queue()
        self._watchers.append(queue)
        return queue

    def unwatch(self, queue: asyncio.Queue[MissionEvent]) -> None:
        """Stop delivering events to a queue."""
        if queue in self._watchers:
            self._watchers.remove(queue)

    # ------------------------------------------------------------------ the control step
    def step(self) -> None:
        """Advance every robot's work at the clock's current time."""
        now = self.clock.now()
        if self._epoch is None:
            self._epoch = now
            self._started_at = now
            for r in self.robots.values():
                if not r.connected and r.disconnected_at is None:
                    r.disconnected_at = now
        now_step = math.ceil((now - self._epoch) / self.step_s - 1e-9)
        if self._recovering:
            assert self._started_at is not None
            # A robot not heard from since the restart may stand anywhere: plan nothing
            # until every known robot is back, or the grace period is over.
            waiting = [r.spec.id for r in self.robots.values()
                       if not r.connected and r.spec.kind is not RobotKind.FIXED_WELDER]
            if waiting and now - self._started_at < self.config.restart_grace_s:
                return
            self._recovering = False
        for rid in sorted(self.robots):
            robot = self.robots[rid]
            if robot.connected and robot.state is not None and robot.placed:
                self.traffic.report(rid, robot.state.path_id, robot.state.waypoints_reached)
        self._check_lost_robots(now)
        self._untangle(now)
        self._guard_batteries(now)
        self._dispatch(now)
        for rid in self._planning_order():
            self._advance(self.robots[rid], now, now_step)
        self._send_parking(now, now_step)
        for rid, release in self.traffic.release(now_step).items():
            if self.robots[rid].connected:
                self._outbox.append((rid, self._follow_path(release)))
        if self.config.self_check:
            broken = check_invariants(self.traffic)
            if broken:
                log.error("t=%.1f s: traffic invariants broken: %s", now, "; ".join(broken))
        self._flush()

    def _planning_order(self) -> list[str]:
        def key(rid: str) -> tuple[int, int, str]:
            work = self.robots[rid].work
            if work is None or work.parking:
                return (1, 0, rid)
            record = self.missions[work.mission_id]
            return (0, -record.mission.priority, f"{record.order:09d}{rid}")
        return sorted((rid for rid, r in self.robots.items() if r.work is not None), key=key)

    def _advance(self, robot: RobotRecord, now: float, now_step: int) -> None:
        """Move a robot's work forward as far as it can go this step."""
        work = robot.work
        if robot.hold:
            return
        while work is not None and robot.connected and robot.state is not None:
            step = work.current
            if robot.state.mode is RobotMode.FAULT:
                self._robot_lost(robot, now, f"robot {robot.spec.id} reports a fault: "
                                 f"{', '.join(robot.state.faults) or 'unspecified'}")
                return
            if (work.detour is None and not work.parking and work.index == 0
                    and not self._task_ready(work.mission_id, work.task_id, now)):
                # Given out ahead: wait next to the station, off it, until the task is ready
                # (a welder on the cell's door would block the part's drop); a fixed welder
                # waits where it is bolted.
                if isinstance(step, Go) and robot.spec.id not in self._frozen and \
                        self._wait_near(robot, work, step):
                    continue
                return
            if (work.detour is None and not work.parking and work.index == 2
                    and isinstance(step, Go) and robot.spec.id not in self._frozen):
                task = self.missions[work.mission_id].tasks[work.task_id].task
                if task.kind is TaskKind.TRANSPORT and not self._room_for(task):
                    # Brought ahead into a full cell: wait next to it until the part in it
                    # has been taken out.
                    if self._wait_near(robot, work, step):
                        continue
                    return
            if isinstance(step, Go):
                if robot.spec.id in self._frozen:
                    return
                # No path yet, or the path was cut short of the goal: plan (or extend) it.
                if not work.path_id or self.traffic.cell_of(robot.spec.id) != step.cell:
                    try:
                        work.path_id = self.traffic.plan(robot.spec.id, step.cell, now_step)
                    except FleetError as err:
                        if work.blocked_since_s is None:
                            log.info("robot %s: no path to %s yet: %s", robot.spec.id,
                                     step.station_id, err)
                            if work.detour is None and self._approach(robot, work, step):
                                continue
                            work.blocked_since_s = now
                        elif now - work.blocked_since_s >= self.config.make_way_after_s:
                            self._make_way(robot, work, now)
                        return
                    work.blocked_since_s = None
                    self._mark_started(robot, work, now)
                if not self.traffic.arrived(robot.spec.id) or \
                        self.traffic.cell_of(robot.spec.id) != step.cell:
                    return
            else:
                self._mark_started(robot, work, now)
                action_id = work.action_id()
                state = robot.state
                if state.action_id == action_id:
                    if state.action_status is ActionStatus.FAILED:
                        why = ", ".join(state.faults) or "no reason given"
                        self._fail_task(robot, now,
                                        f"{step.name} failed on robot {robot.spec.id}: {why}")
                        return
                    if state.action_status is not ActionStatus.SUCCEEDED:
                        return
                elif not work.action_sent:
                    duration = step.duration_s
                    if step.kind is ActionKind.CHARGE and not duration:
                        duration = battery_model(robot.spec.kind).charge_time_s(state.battery)
                    self._outbox.append((robot.spec.id, PerformAction(
                        action_id, step.kind, step.station_id, step.load_id, step.program,
                        duration)))
                    work.action_sent = True
                    return
                else:
                    return
            self._step_done(robot, work, now)
            work = robot.work

    def _mark_started(self, robot: RobotRecord, work: Work, now: float) -> None:
        if work.started or work.parking:
            return
        work.started = True
        record = self.missions[work.mission_id]
        record.tasks[work.task_id].state = TaskState.ACTIVE
        if record.state is MissionState.ACCEPTED:
            record.state = MissionState.ACTIVE
        self._events.append(MissionEvent(EventKind.STARTED, work.mission_id, now,
                                         work.task_id, robot.spec.id))

    def _step_done(self, robot: RobotRecord, work: Work, now: float) -> None:
        step = work.current
        work.path_id, work.action_sent = "", False
        if work.detour is not None:
            work.detour = None
            return
        work.index += 1
        if work.parking:
            if work.index >= len(work.steps):
                robot.work = robot.queue.pop(0) if robot.queue else None
            return
        record = self.missions[work.mission_id]
        task = record.tasks[work.task_id]
        task.steps_done = work.index
        if robot.spec.kind is not RobotKind.FIXED_WELDER:
            self._load_moved(task.task, work.index - 1)
        self._events.append(MissionEvent(EventKind.STEP_DONE, work.mission_id, now,
                                         work.task_id, robot.spec.id, work.index - 1,
                                         step.name))
        if work.index < len(work.steps):
            return
        robot.work = robot.queue.pop(0) if robot.queue else None
        task.state, task.done_s = TaskState.DONE, now
        self._events.append(MissionEvent(EventKind.TASK_DONE, work.mission_id, now,
                                         work.task_id, robot.spec.id))
        if all(t.state is TaskState.DONE for t in record.tasks.values()):
            record.state, record.finished_s = MissionState.COMPLETED, now
            self._events.append(MissionEvent(EventKind.COMPLETED, work.mission_id, now))

    # ------------------------------------------------------------------ robust execution
    def _stopped(self, robot: RobotRecord, now: float) -> str:
        """Why a robot counts as stopped, or "" if it does not."""
        if not robot.connected:
            return "not connected"
        if robot.hold:
            return "paused by an operator"
        if robot.state is not None and robot.state.mode in (RobotMode.FAULT, RobotMode.PAUSED):
            return str(robot.state.mode.value)
        rid = robot.spec.id
        if self.traffic.expects_motion(rid) and now - robot.progress_at >= self.config.stall_s:
            return f"no progress for {now - robot.progress_at:.0f} s"
        return ""

    def _untangle(self, now: float) -> None:
        """Re-plan robots stuck behind a stopped robot, and break any cycle of waits.

        A stopped robot is frozen: every cell it holds stays held, and the robots planned
        through those cells after it are cut back and re-planned around it. Plans stay
        mutually consistent that way, so waits cannot form a cycle; should one appear
        anyway, every robot in it is cut back and re-planned, and the cycle is logged.
        """
        placed = {rid: r for rid, r in self.robots.items() if r.placed}
        for rid, robot in placed.items():
            mark = self.traffic.progress(rid)
            if mark != robot.progress:
                robot.progress, robot.progress_at = mark, now
        for rid in sorted(self._frozen):
            if rid not in placed or not self._stopped(placed[rid], now):
                self._frozen.discard(rid)
                log.info("robot %s moves again", rid)
        for rid, robot in placed.items():
            faulted = robot.state is not None and robot.state.mode is RobotMode.FAULT
            if faulted and rid not in self._frozen:
                self._frozen.add(rid)
                cut = self.traffic.shrink(rid)
                log.warning("robot %s in fault: holding only its own cells, re-planning %s",
                            rid, ", ".join(r for r in cut if r != rid) or "nobody")
        waits = self.traffic.wait_for()
        for blockers in waits.values():
            for blocker in blockers:
                if blocker in self._frozen or blocker not in placed:
                    continue
                why = self._stopped(placed[blocker], now)
                if why:
                    self._frozen.add(blocker)
                    cut = self.traffic.freeze(blocker)
                    log.warning("robot %s stopped (%s): re-planning %s around it", blocker,
                                why, ", ".join(r for r in cut if r != blocker) or "nobody")
        cycle = self.traffic.find_cycle(self.traffic.wait_for())
        if cycle:
            log.error("deadlock: %s wait on each other; cutting their plans back and "
                      "re-planning", " -> ".join([*cycle, cycle[0]]))
            for rid in cycle:
                self.traffic.cut(rid)

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self, now: float) -> None:
        """Charge robots that need it, then let the dispatcher match ready tasks and robots."""
        pinned = self._assign_pinned(now)
        held = self._held(now)
        jobs = self._ready_jobs(now, held)
        candidates = [c for c in self._candidates(set(held.values()), shares=bool(jobs))
                      if c.spec.id not in pinned]
        # Only robots with no work at all may be sent to charge: a busy robot whose time
        # estimate has run out is still busy, and its task must not be overwritten.
        free = [c for c in candidates
                if c.free_in_s <= 0 and self.robots[c.spec.id].work is None]
        if free:
            on_charger = {c.spec.id: s for c in free
                          for s in self._stations_at(self.robots[c.spec.id])
                          if self.floor.stations[s].kind is StationKind.CHARGER}
            orders = plan_charging(free, jobs, self._free_chargers(), self.travel,
                                   self.weights, on_charger)
            for order in orders:
                robot = self.robots[order.robot_id]
                self._charges += 1
                robot.work = Work("", f"charge-{self._charges}", [
                    Go(order.charger, self.station_cells[order.charger],
                       f"go to {order.charger}"),
                    Act(ActionKind.CHARGE, order.charger, "charge",
                        duration_s=order.duration_s)])
                log.info("robot %s: %s", order.robot_id, order.reason)
            charging = {o.robot_id for o in orders}
            candidates = [c for c in candidates if c.spec.id not in charging]
        if not jobs or not candidates:
            return
        out = self.dispatcher.assign(jobs, candidates, now, self.travel)
        given = {(a.job.mission_id, a.job.task.id): a.robot_id for a in out}
        got = {a.robot_id: (a.job.mission_id, a.job.task.id) for a in out}
        for key, rid in held.items():
            # A held task stays with its robot unless the robot got other work or the task
            # another robot; then it goes back (and may be given out again just below).
            if got.get(rid, key) != key or given.get(key, rid) != rid:
                robot = self.robots[rid]
                work = robot.work
                assert work is not None
                other = got.get(rid)
                reason = (f"re-optimized: robot {rid} takes {other[0]}/{other[1]} instead"
                          if other is not None and other != key else
                          f"re-optimized: robot {given[key]} takes it over")
                robot.work = None
                if robot.placed:
                    self.traffic.hold(rid)
                self._give_back(robot, work, now, reason, routine=True)
        for a in out:
            if a.job.holder and a.job.holder == a.robot_id:
                continue
            robot = self.robots[a.robot_id]
            record = self.missions[a.job.mission_id]
            task = record.tasks[a.job.task.id]
            fixed = robot.spec.kind is RobotKind.FIXED_WELDER
            steps = steps_for(task.task, robot.spec, self.station_cells, fixed)
            task.state, task.robot_id, task.steps_total = (TaskState.ASSIGNED, a.robot_id,
                                                           len(steps))
            work = Work(record.mission.id, task.task.id, steps)
            if robot.work is None:
                robot.work = work
            else:
                robot.queue.append(work)
            self._events.append(MissionEvent(EventKind.ASSIGNED, record.mission.id, now,
                                             task.task.id, a.robot_id,
                                             detail=f"{self.dispatcher.name}: {a.reason}"))

    def _held(self, now: float) -> dict[tuple[str, str], str]:
        """Welds given out ahead that their robot has not begun, by (mission, task): the
        welder only drives to the cell or waits next to it for the part. The dispatcher
        sees them again each round (`Job.holder`), so a weld that matters more, seen since,
        can take the welder.

        Transports given out ahead stay final: a part staged next to a full cell counts on
        the robot taking the part in it out, and must never wait on a take-out given back.
        """
        if float(getattr(self.dispatcher, "lookahead_s", 0.0)) <= 0:
            return {}
        out = {}
        for rid in sorted(self.robots):
            robot = self.robots[rid]
            work = robot.work
            if (work is None or work.parking or work.index != 0 or robot.queue or robot.hold
                    or self.missions[work.mission_id].tasks[work.task_id].task.kind
                    is not TaskKind.WELD
                    or not robot.connected or robot.state is None or robot.state.load_id
                    or robot.state.mode in (RobotMode.FAULT, RobotMode.PAUSED)
                    or not self._untouched(work)
                    or self._task_ready(work.mission_id, work.task_id, now)):
                continue
            out[work.mission_id, work.task_id] = rid
        return out

    def _ready_jobs(self, now: float, held: dict[tuple[str, str], str] | None = None
                    ) -> list[Job]:
        """Pending tasks whose mission is released, whose dependencies are done (and their
        start delay over), whose part is in place and whose destination has room.

        With a dispatcher that looks ahead (`lookahead_s` > 0), also the work of the weld
        cells that is about to become ready: a weld whose part is being brought, and a
        transport out of a cell whose weld is under way, with `ready_in_s` set. Their robot
        waits next to the cell and goes in once the task is ready, so a fixture does not
        stand still while a welder or an AGV drives across the floor.

        Tasks in `held` (see `_held`) are offered too, with their holder.
        """
        jobs: list[Job] = []
        held = held or {}
        lookahead_s = float(getattr(self.dispatcher, "lookahead_s", 0.0))
        holding = self._holding()
        backlog = cell_backlogs([
            waiting_part(t.task.dropoff, f"{r.mission.id}/{t.task.id}", r.mission.tasks,
                         t.task, self._tail(r, t.task.id))
            for r in self.missions.values() if not r.state.finished
            for t in r.tasks.values() if t.state is TaskState.PENDING
            and t.task.kind is TaskKind.TRANSPORT and self._holds(t.task.dropoff)])
        for record in self.missions.values():
            mission = record.mission
            if record.state.finished or (mission.release_s or 0.0) > now:
                continue
            for task in record.tasks.values():
                holder = held.get((mission.id, task.task.id), "")
                if task.state is not TaskState.PENDING and not holder:
                    continue
                t = task.task
                if t.kind in _PINNED_KINDS:
                    continue
                ready_s = self._ready_at(record, t, now)
                if ready_s is None:
                    continue
                ready_in_s = max(0.0, ready_s - now)
                if any(record.tasks[d].state is not TaskState.DONE for d in t.depends_on):
                    ready_in_s = max(ready_in_s, 1.0)
                if not holder and ready_in_s > 0 and (ready_in_s > lookahead_s
                                                      or not self._cell_work(t)):
                    continue
                if ready_in_s <= 0 and t.kind is TaskKind.WELD and t.load_id and \
                        t.load_id not in self.contents[t.cell]:
                    continue
                if not holder and t.kind is TaskKind.TRANSPORT and \
                        self.floor.stations[t.dropoff].kind in _HOLDING_KINDS:
                    # Offer no more transports into a cell or buffer than it has room for;
                    # looking ahead, one more once the part in it is being welded or taken
                    # out: its robot brings the next part and waits next to the cell.
                    room = self.floor.stations[t.dropoff].capacity
                    if lookahead_s > 0 and holding.get(t.dropoff, 0) == room and \
                            self._leaving(t.dropoff):
                        ready_in_s = max(ready_in_s, 1.0)
                    elif holding.get(t.dropoff, 0) >= room:
                        continue
                    holding[t.dropoff] = holding.get(t.dropoff, 0) + 1
                first = t.pickup if t.kind is TaskKind.TRANSPORT else t.cell
                cell = cell_of(mission.tasks, t, self._holds)
                jobs.append(Job(mission.id, t, mission.priority, mission.deadline_s,
                                record.order, first, min(ready_s, now),
                                self._tail(record, t.id),
                                backlog(cell, f"{mission.id}/{t.id}") if cell else 0.0,
                                ready_in_s, holder))
        return jobs

    def _assign_pinned(self, now: float) -> set[str]:
        """Ready charge and park tasks go to the robot their mission names once it is free
        and the station is too; returns the robots still waiting for theirs, which get no
        other work meanwhile."""
        waiting: set[str] = set()
        for record in self.missions.values():
            if record.state.finished or (record.mission.release_s or 0.0) > now:
                continue
            for task in record.tasks.values():
                t = task.task
                if t.kind not in _PINNED_KINDS or task.state is not TaskState.PENDING or \
                        not self._task_ready(record.mission.id, t.id, now):
                    continue
                robot = self.robots[t.robot]
                if (not self._available(robot) or robot.hold or robot.queue
                        or robot.state is None or robot.state.mode is RobotMode.PAUSED
                        or not self._station_free(t.cell, t.robot)):
                    waiting.add(t.robot)
                    continue
                steps = steps_for(t, robot.spec, self.station_cells, False)
                task.state, task.robot_id, task.steps_total = (TaskState.ASSIGNED, t.robot,
                                                               len(steps))
                robot.work = Work(record.mission.id, t.id, steps)
                self._events.append(MissionEvent(
                    EventKind.ASSIGNED, record.mission.id, now, t.id, t.robot,
                    detail=f"the mission names robot {t.robot} for this {t.kind.value} at "
                           f"{t.cell}"))
        return waiting

    def _station_free(self, station_id: str, robot_id: str) -> bool:
        """True if no robot but `robot_id` stands on the station or is heading for it."""
        cell = self.station_cells[station_id]
        for rid, r in self.robots.items():
            if rid == robot_id:
                continue
            if r.placed and self.traffic.cell_of(rid) == cell:
                return False
            for w in (r.work, *r.queue):
                if w is not None and any(isinstance(s, Go) and s.station_id == station_id
                                         for s in (w.detour, *w.steps[w.index:])):
                    return False
        return True

    def _leaving(self, cell: str) -> bool:
        """True if the cell is full, every part in it is the current work of a robot taking
        it out, and no part is on its way in: the cell is about to have room."""
        loads = self.contents.get(cell, [])
        if not loads or len(loads) < self.floor.stations[cell].capacity:
            return False
        taken: set[str] = set()
        for record in self.missions.values():
            if record.state.finished:
                continue
            for task in record.tasks.values():
                t = task.task
                if t.kind is not TaskKind.TRANSPORT or task.steps_done >= 4 or \
                        task.state not in (TaskState.ASSIGNED, TaskState.ACTIVE):
                    continue
                if t.dropoff == cell:
                    return False
                # Only a robot already doing the take-out, into a place with room, counts:
                # a queued one might wait behind a robot that waits for room elsewhere.
                robot = self.robots.get(task.robot_id)
                if (t.pickup == cell and t.load_id in loads and robot is not None
                        and robot.work is not None and robot.work.mission_id ==
                        record.mission.id and robot.work.task_id == t.id
                        and (not self._holds(t.dropoff) or self._room_for(t))):
                    taken.add(t.load_id)
        return taken >= set(loads)

    def _room_for(self, task: Task) -> bool:
        """True if the transport's destination can take its load now."""
        if not self._holds(task.dropoff):
            return True
        return len(self.contents[task.dropoff]) < self.floor.stations[task.dropoff].capacity

    def _cell_work(self, task: Task) -> bool:
        """A weld, or a transport out of a weld cell or buffer: the work look-ahead is for."""
        return task.kind is TaskKind.WELD or (task.kind is TaskKind.TRANSPORT
                                              and self._holds(task.pickup))

    def _ready_at(self, record: MissionRecord, task: Task, now: float) -> float | None:
        """When the task's dependencies are done and its start delay over: a time (maybe
        past), an estimate while the last dependencies are under way as their robot's
        current work, or None if some dependency has not started."""
        times = [record.mission.release_s or record.mission.submitted_s]
        for dep_id in task.depends_on:
            dep = record.tasks[dep_id]
            if dep.state is TaskState.DONE:
                times.append((dep.done_s or 0.0) + task.delay_s)
                continue
            robot = self.robots.get(dep.robot_id)
            if (dep.state is not TaskState.ACTIVE or robot is None or robot.work is None
                    or robot.state is None or robot.work.mission_id != record.mission.id
                    or robot.work.task_id != dep_id):
                return None
            times.append(now + self._remaining(robot, robot.work)[0] + task.delay_s)
        return max(times)

    def _task_ready(self, mission_id: str, task_id: str, now: float) -> bool:
        """True once a task given out ahead may begin: dependencies done, delay over, its
        part in the cell."""
        record = self.missions[mission_id]
        task = record.tasks[task_id].task
        if any(record.tasks[d].state is not TaskState.DONE for d in task.depends_on):
            return False
        ready_s = self._ready_at(record, task, now)
        if ready_s is None or ready_s > now + 1e-9:
            return False
        return not (task.kind is TaskKind.WELD and task.load_id
                    and task.load_id not in self.contents[task.cell])

    def _holds(self, station_id: str) -> bool:
        return self.floor.stations[station_id].kind in _HOLDING_KINDS

    def _holding(self) -> dict[str, int]:
        """Loads at each station plus the transports on their way to drop one there."""
        out = {s: len(loads) for s, loads in self.contents.items()}
        for record in self.missions.values():
            if record.state.finished:
                continue
            for task in record.tasks.values():
                if (task.task.kind is TaskKind.TRANSPORT and task.state in (
                        TaskState.ASSIGNED, TaskState.ACTIVE) and task.steps_done < 4):
                    out[task.task.dropoff] = out.get(task.task.dropoff, 0) + 1
        return out

    def _tail(self, record: MissionRecord, task_id: str) -> float:
        tails = self._tails.get(record.mission.id)
        if tails is None:
            speed = self.config.nominal_speed_mps * self.weights.speed_factor
            tails = dict(mission_tails(
                record.mission.tasks,
                lambda t: estimate(t, self.travel, self.weights).seconds(speed)))
            self._tails[record.mission.id] = tails
        return tails.get(task_id, 0.0)

    def _candidates(self, holders: set[str] | None = None, shares: bool = True
                    ) -> list[Candidate]:
        """Free robots, busy ones whose queue is empty (they may take a follow-up), and the
        `holders` of work given out ahead (free where they stand, to keep it or switch),
        each with its share of the work to come that few robots can do (if `shares`: only
        the dispatcher needs them)."""
        out = []
        holders = holders or set()
        reserved = self._reserved() if shares else {}
        for rid in sorted(self.robots):
            robot = self.robots[rid]
            if not robot.connected or robot.state is None or robot.queue or robot.hold:
                continue
            if robot.state.mode in (RobotMode.FAULT, RobotMode.PAUSED):
                continue
            battery = robot.state.battery
            share = reserved.get(rid, 0.0)
            if rid in holders:
                out.append(Candidate(robot.spec, robot.home_station,
                                     self._standing_cell(robot), 0.0, battery, share))
            elif robot.work is None:
                if self._available(robot):
                    out.append(Candidate(robot.spec, robot.home_station, self._cell(robot),
                                         0.0, battery, share))
            elif not robot.work.parking and robot.work.detour is None:
                free_in_s, cell, after = self._remaining(robot, robot.work)
                # A robot that will need a charger next gets nothing queued.
                if after >= battery_model(robot.spec.kind).go_charge_below:
                    out.append(Candidate(robot.spec, robot.home_station, cell, free_in_s,
                                         after, share))
        return out

    def _reserved(self) -> dict[str, float]:
        """`Candidate.reserved_s` of every working robot: the released missions' tasks not
        given out yet, split among the robots able to do them."""
        speed = self.config.nominal_speed_mps * self.weights.speed_factor
        fleet = [Candidate(r.spec, r.home_station) for r in self.robots.values()
                 if r.connected and r.state is not None and r.state.mode is not RobotMode.FAULT]
        now = self.clock.now()
        work = [(t.task, estimate(t.task, self.travel, self.weights).seconds(speed))
                for r in self.missions.values() if not r.state.finished
                and (r.mission.release_s or 0.0) <= now
                for t in r.tasks.values() if t.state is TaskState.PENDING
                and t.task.kind not in _PINNED_KINDS]
        return reserved_shares(work, fleet, capable)

    def _cell(self, robot: RobotRecord) -> Cell:
        if robot.placed:
            return self.traffic.cell_of(robot.spec.id)
        return self.station_cells.get(robot.home_station, (0, 0))

    def _remaining(self, robot: RobotRecord, work: Work, start: Cell | None = None,
                   battery: float | None = None) -> tuple[float, Cell, float]:
        """Seconds until the robot's work is done, where it will stand, and its charge then.

        By default from where the robot stands now with its charge now (the robot's current
        work); `start` and `battery` estimate a queued work from the end of the one before.
        """
        assert robot.state is not None
        speed = robot.spec.max_speed_mps * self.weights.speed_factor
        model = battery_model(robot.spec.kind)
        current = start is None
        cell = start if start is not None else self._standing_cell(robot)
        metres = handling = weld = 0.0
        here = ""
        steps = work.steps[work.index:] if current else work.steps
        for k, step in enumerate(steps):
            if isinstance(step, Go):
                metres += (self.travel.from_cell_m(cell, step.station_id) if not here
                           else self.travel.between_m(here, step.station_id))
                here = step.station_id
                continue
            left = 1.0
            if current and k == 0 and robot.state.action_id == work.action_id():
                left = max(0.0, 1.0 - robot.state.action_progress)
            if step.kind is ActionKind.WELD:
                weld += left * step.duration_s
            else:
                handling += left * (step.duration_s or self.weights.handling_s)
        if not math.isfinite(metres):
            metres = 0.0
        seconds = metres / speed + handling + weld
        charge = robot.state.battery if battery is None else battery
        after = charge - model.drive(metres) - model.idle(handling) - model.weld(weld)
        end = self.station_cells[here] if here else (
            self._cell(robot) if current else cell)
        return seconds, end, after

    def _standing_cell(self, robot: RobotRecord) -> Cell:
        """The planning cell under the robot now (its plan's end may be far ahead)."""
        if robot.placed and robot.state is not None:
            try:
                cell = self.grid.cell_of(robot.state.pose.x, robot.state.pose.y)
            except InvalidInputError:
                return self._cell(robot)
            if self.grid.is_free(cell):
                return cell
        return self._cell(robot)

    def _home_charge(self, robot: RobotRecord, work: Work) -> float:
        """Charge needed to reach a charger from where the work ends (with the margin the
        dispatcher plans with)."""
        if robot.spec.kind is RobotKind.FIXED_WELDER:
            return 0.0
        ends = [s.station_id for s in work.steps if isinstance(s, Go) and s.station_id]
        if not ends:
            return 0.0
        return battery_model(robot.spec.kind).drive(DETOUR * self.travel.to_charger_m(ends[-1]))

    def _guard_batteries(self, now: float) -> None:
        """Never strand a robot: work its charge no longer covers goes back to the dispatcher.

        The dispatcher gives a robot only work after which it still reaches a charger above
        its reserve, but waits, detours and re-plans use charge nobody planned. A queued task
        that no longer fits is given back; so is the current one while nothing of it has been
        handled (no load on board, no action sent). The robot then charges once it stands.
        """
        for rid in sorted(self.robots):
            robot = self.robots[rid]
            work = robot.work
            if (work is None or work.parking or robot.state is None
                    or robot.spec.kind is RobotKind.FIXED_WELDER):
                continue
            model = battery_model(robot.spec.kind)
            _, cell, after = self._remaining(robot, work)
            task = self.missions[work.mission_id].tasks[work.task_id]
            untouched = (task.steps_done == 0 and not work.action_sent
                         and not robot.state.load_id)
            if untouched and after - self._home_charge(robot, work) < model.reserve:
                reason = (f"robot {rid}: battery {100 * robot.state.battery:.0f} % no longer "
                          f"covers task {work.mission_id}/{work.task_id} and the way to a "
                          "charger; it goes to charge")
                self._give_back_queue(robot, now, reason)
                robot.work = None
                if robot.placed:
                    self.traffic.hold(rid)
                self._give_back(robot, work, now, reason)
                continue
            for k, queued in enumerate(robot.queue):
                _, cell, after = self._remaining(robot, queued, cell, after)
                if after - self._home_charge(robot, queued) < model.reserve:
                    reason = (f"robot {rid}: battery {100 * robot.state.battery:.0f} % will not "
                              f"cover queued task {queued.mission_id}/{queued.task_id} and "
                              "the way to a charger")
                    dropped, robot.queue = robot.queue[k:], robot.queue[:k]
                    for w in dropped:
                        self._give_back(robot, w, now, reason)
                    break

    def _free_chargers(self) -> list[str]:
        """Chargers nobody stands on or is heading for."""
        return [c for c in self.chargers if self._station_free(c, "")]

    def _stations_at(self, robot: RobotRecord) -> list[str]:
        if not robot.placed:
            return []
        cell = self.traffic.cell_of(robot.spec.id)
        return [s for s, c in self.station_cells.items() if c == cell]

    def _load_moved(self, task: Task, step: int) -> None:
        """Keep station contents: step 1 of a transport picks its load, step 3 drops it."""
        if task.kind is not TaskKind.TRANSPORT:
            return
        if step == 1 and task.load_id in self.contents.get(task.pickup, []):
            self.contents[task.pickup].remove(task.load_id)
        elif step == 3 and self.floor.stations[task.dropoff].kind in _HOLDING_KINDS:
            # Only buffers and weld cells hold loads; a dropoff's machine takes them in.
            self.contents[task.dropoff].append(task.load_id)

    def _clear_loads(self, record: MissionRecord) -> None:
        """A failed or cancelled mission's parts are taken off the stations (by people), so
        they do not hold a cell for ever."""
        loads = {t.load_id for t in record.mission.tasks if t.load_id}
        for station, held in self.contents.items():
            kept = [x for x in held if x not in loads]
            if len(kept) != len(held):
                log.warning("mission %s ended: its loads at %s are to be cleared by hand",
                            record.mission.id, station)
                self.contents[station] = kept

    def _available(self, robot: RobotRecord) -> bool:
        if not robot.connected or robot.state is None or robot.work is not None:
            return False
        if robot.state.mode is RobotMode.FAULT or robot.state.load_id:
            return False
        return not robot.placed or self.traffic.arrived(robot.spec.id)

    def _send_parking(self, now: float, now_step: int) -> None:
        """Robots with nothing to do leave work stations for a free parking place."""
        for rid in sorted(self.robots):
            robot = self.robots[rid]
            if (robot.work is not None or not robot.connected or not robot.placed or robot.hold
                    or not self.traffic.arrived(rid) or not self._on_work_station(rid)):
                continue
            spot = self._free_parking(rid)
            if spot is not None:
                go = Go(spot, self.station_cells[spot], f"park at {spot}")
            else:
                cell = self._open_floor_cell(rid)
                if cell is None:
                    continue
                go = Go("", cell, f"wait on the open floor at {cell}")
            robot.work = Work("", "park", [go])
            self._advance(robot, now, now_step)

    def _open_floor_cell(self, robot_id: str, near: Cell | None = None,
                         keep: Cell | None = None) -> Cell | None:
        """The free cell in the open (no station, all four neighbours drivable) nearest the
        robot (or `near`) that nobody stands on or is heading for (`keep`, where the robot
        itself stands, counts as free): where a robot waits rather than block a station."""
        free = self.grid.free
        rows, cols = free.shape
        stations = set(self.station_cells.values())
        taken = {self.traffic.cell_of(rid) for rid, r in self.robots.items() if r.placed}
        taken |= {step.cell for r in self.robots.values() if r.work is not None
                  for step in (r.work.detour, *r.work.steps[r.work.index:])
                  if isinstance(step, Go)}
        if keep is not None:
            taken.discard(keep)
        distance = self.distances.get(near if near is not None
                                      else self.traffic.cell_of(robot_id))
        best: tuple[float, Cell] | None = None
        for r, c in zip(*np.nonzero(np.isfinite(distance) & free), strict=True):
            cell = (int(r), int(c))
            if cell in stations or cell in taken:
                continue
            around = [(cell[0] + dr, cell[1] + dc) for dr, dc in ((1, 0), (-1, 0), (0, 1),
                                                                  (0, -1))]
            if any(not (0 <= a < rows and 0 <= b < cols) or not free[a, b] or (a, b) in stations
                   for a, b in around):
                continue
            key = (float(distance[cell]), cell)
            if best is None or key < best:
                best = key
        return None if best is None else best[1]

    def _make_way(self, robot: RobotRecord, work: Work, now: float) -> None:
        """Leave a work station for the nearest place to wait before going on with the work.

        The nearest of a free parking place and a free open-floor cell: on a large floor the
        parking area may be a hundred metres away, and a trip there and back costs time and
        charge nobody planned for. A detour the battery cannot cover is not made.
        """
        rid = robot.spec.id
        if not self._on_work_station(rid) or robot.state is None:
            return
        here = self.traffic.cell_of(rid)
        distance = self.distances.get(here)
        places: list[tuple[float, str, Cell]] = []
        spot = self._free_parking(rid)
        if spot is not None:
            places.append((float(distance[self.station_cells[spot]]), spot,
                           self.station_cells[spot]))
        cell = self._open_floor_cell(rid)
        if cell is not None:
            places.append((float(distance[cell]), "", cell))
        if not places:
            return
        metres, spot_id, cell = min(places, key=lambda p: p[0])
        metres *= self.floor.resolution_m
        # There and back again, on top of what the work still needs.
        model = battery_model(robot.spec.kind)
        _, _, after = self._remaining(robot, work)
        if robot.spec.kind is not RobotKind.FIXED_WELDER and (
                after - model.drive(2 * metres) - self._home_charge(robot, work) < model.reserve):
            log.warning("robot %s: a %.0f m detour to make way would leave too little charge; "
                        "it waits where it is", rid, metres)
            work.blocked_since_s = now
            return
        where = spot_id or f"the open floor at {cell}"
        log.info("robot %s: leaves its station for %s (%.0f m) to make way", rid, where, metres)
        work.detour = Go(spot_id, cell, f"make way at {where}")
        work.blocked_since_s = None

    def _wait_near(self, robot: RobotRecord, work: Work, step: Go) -> bool:
        """Send a robot whose task is not ready yet to wait at the open-floor cell nearest
        its station; True if a trip there was set up (False: it waits where it is)."""
        rid = robot.spec.id
        if not robot.placed or not self.traffic.arrived(rid):
            return False
        here = self.traffic.cell_of(rid)
        near = self._open_floor_cell(rid, step.cell, keep=here)
        if near is None or near == here:
            return False
        work.detour = Go("", near, f"wait near {step.station_id}")
        return True

    def _approach(self, robot: RobotRecord, work: Work, step: Go) -> bool:
        """The robot's next station is held by another robot: if it is far, drive meanwhile
        to the open floor next to the station (True), so that it is there when the station
        frees instead of crossing the floor only then."""
        rid = robot.spec.id
        if not step.station_id or not robot.placed or not self.traffic.arrived(rid):
            return False
        here = self.traffic.cell_of(rid)
        far = self.travel.from_cell_m(here, step.station_id)
        if not math.isfinite(far) or far <= self.config.approach_m:
            return False
        near = self._open_floor_cell(rid, step.cell, keep=here)
        if near is None or self.travel.from_cell_m(near, step.station_id) > far / 2:
            return False
        log.info("robot %s: drives to %s next to %s (%.0f m away) until it is free", rid,
                 near, step.station_id, far)
        work.detour = Go("", near, f"wait near {step.station_id}")
        return True

    def _on_work_station(self, robot_id: str) -> bool:
        cell = self.traffic.cell_of(robot_id)
        here = [s for s, c in self.station_cells.items() if c == cell]
        return bool(here) and not any(self.floor.stations[s].kind in _REST_KINDS for s in here)

    def _free_parking(self, robot_id: str) -> str | None:
        """The nearest parking place or charger nobody stands on or is heading for."""
        taken = {step.station_id for r in self.robots.values() if r.work is not None
                 for step in (r.work.detour, *r.work.steps[r.work.index:])
                 if isinstance(step, Go)}
        occupied = {self.traffic.cell_of(rid) for rid, r in self.robots.items() if r.placed}
        cell = self.traffic.cell_of(robot_id)
        spots = [s.id for s in self.floor.stations.values()
                 if s.kind in _REST_KINDS and s.id not in taken
                 and self.station_cells[s.id] not in occupied]
        if not spots:
            if robot_id not in self._no_rest_place:
                self._no_rest_place.add(robot_id)
                log.warning("robot %s: no free parking place or charger to wait at", robot_id)
            return None
        self._no_rest_place.discard(robot_id)
        return min(spots, key=lambda s: (float(self.distances.get(self.station_cells[s])[cell]),
                                         s))

    # ------------------------------------------------------------------ failures
    def _check_lost_robots(self, now: float) -> None:
        """Faulted robots lose their work at once; silent ones lose what they have not
        started after `reassign_unstarted_after_s` and the rest after `disconnect_timeout_s`."""
        for rid in sorted(self.robots):
            robot = self.robots[rid]
            if robot.work is None and not robot.queue:
                continue
            if robot.connected and robot.state is not None and \
                    robot.state.mode is RobotMode.FAULT:
                self._robot_lost(robot, now, f"robot {rid} reports a fault: "
                                 f"{', '.join(robot.state.faults) or 'unspecified'}")
                continue
            if robot.connected or robot.disconnected_at is None:
                continue
            silent = now - robot.disconnected_at
            if silent >= self.config.disconnect_timeout_s:
                self._robot_lost(robot, now, f"robot {rid} disconnected for {silent:.0f} s")
            elif silent >= self.config.reassign_unstarted_after_s:
                reason = f"robot {rid} disconnected for {silent:.0f} s"
                self._give_back_queue(robot, now, reason)
                work = robot.work
                if work is not None and not work.parking and not work.started:
                    robot.work = None
                    self._give_back(robot, work, now, reason)

    def _give_back_queue(self, robot: RobotRecord, now: float, reason: str) -> None:
        queued, robot.queue = robot.queue, []
        for work in queued:
            self._give_back(robot, work, now, reason)

    def _give_back(self, robot: RobotRecord, work: Work, now: float, reason: str,
                   routine: bool = False) -> None:
        """An unstarted task goes back to the dispatcher, with an event saying why
        (`routine`: the dispatcher's own re-optimization, logged without a warning)."""
        record = self.missions[work.mission_id]
        task = record.tasks[work.task_id]
        task.state, task.robot_id, task.steps_done = TaskState.PENDING, "", 0
        self._events.append(MissionEvent(EventKind.UNASSIGNED, record.mission.id, now,
                                         task.task.id, robot.spec.id, detail=reason))
        log.log(logging.INFO if routine else logging.WARNING,
                "%s: task %s/%s goes back to the queue", reason, record.mission.id,
                task.task.id)

    def _robot_lost(self, robot: RobotRecord, now: float, reason: str) -> None:
        """A robot cannot go on: give back its queue and a task it has not started, fail one
        it has (the load is on board or the weld under way)."""
        self._give_back_queue(robot, now, reason)
        work = robot.work
        if work is None:
            return
        robot.work = None
        if robot.placed:
            self.traffic.hold(robot.spec.id)
        if work.parking:
            return
        if self._untouched(work):
            self._give_back(robot, work, now, reason)
            return
        self._finish_mission(self.missions[work.mission_id], MissionState.FAILED, reason,
                             work.task_id)

    def _untouched(self, work: Work) -> bool:
        """The rule for taking a task off a robot: nothing handled yet (at most driving to
        the first station) means another robot can do it from scratch; otherwise the load is
        on board or the weld under way."""
        if work.parking:
            return False
        task = self.missions[work.mission_id].tasks[work.task_id]
        return task.steps_done == 0 and not work.action_sent

    def _fail_task(self, robot: RobotRecord, now: float, reason: str) -> None:
        work = robot.work
        if work is None or work.parking:
            robot.work = None
            return
        self._finish_mission(self.missions[work.mission_id], MissionState.FAILED, reason,
                             work.task_id)

    def _finish_mission(self, record: MissionRecord, state: MissionState, reason: str,
                        task_id: str) -> None:
        now = self.clock.now()
        record.state, record.reason, record.finished_s = state, reason, now
        for other in self.robots.values():
            other.queue = [w for w in other.queue if w.mission_id != record.mission.id]
        self._clear_loads(record)
        for task in record.tasks.values():
            if task.state.finished:
                continue
            task.state = (TaskState.FAILED if task.task.id == task_id
                          else TaskState.CANCELLED)
            robot = self.robots.get(task.robot_id)
            if robot is not None and robot.work is not None and \
                    robot.work.mission_id == record.mission.id:
                robot.work = robot.queue.pop(0) if robot.queue else None
                if robot.placed:
                    self.traffic.hold(robot.spec.id)
                if robot.connected:
                    self._outbox.append((robot.spec.id, StopAction("cancel", reason)))
        kind = {MissionState.FAILED: EventKind.FAILED,
                MissionState.CANCELLED: EventKind.CANCELLED}[state]
        self._events.append(MissionEvent(kind, record.mission.id, now, task_id, detail=reason))
        log.warning("mission %s %s: %s", record.mission.id, state.value, reason)

    # ------------------------------------------------------------------ output
    def _flush(self) -> None:
        """Write events, publish them, then send the commands they led to."""
        if self._events:
            stored = self.store.append(self._events)
            self._events = []
            self._publish(stored)
        for rid, command in self._outbox:
            channel = self.robots[rid].channel
            if channel is not None and not channel.closed:
                channel.send(command)
        self._outbox = []

    def _publish(self, events: list[MissionEvent]) -> None:
        for queue in self._watchers:
            for e in events:
                queue.put_nowait(e)

    def _follow_path(self, release: Release) -> FollowPath:
        assert self._epoch is not None
        waypoints = []
        for cell, step in zip(release.cells, release.steps, strict=True):
            x, y = self.grid.center_of(cell)
            limit = float(self.grid.speed_limit_mps[cell])
            waypoints.append(TimedWaypoint(x, y, 0.0, self._epoch + step * self.step_s,
                                           limit if math.isfinite(limit) else 0.0))
        return FollowPath(release.path_id, release.first_index, tuple(waypoints),
                          release.complete)

    # ------------------------------------------------------------------ validation
    def _robot(self, robot_id: str) -> RobotRecord:
        record = self.robots.get(robot_id)
        if record is None:
            raise NotFoundError(f"robot_id {robot_id!r} is not registered", field="robot_id",
                                value=robot_id)
        return record

    def _check_spec(self, spec: RobotSpec) -> None:
        limit = 0.45 * self.floor.resolution_m
        if not (0 < spec.radius_m <= limit):
            raise InvalidInputError(
                f"footprint_radius_m {spec.radius_m} must be above 0 and at most {limit:.3f} m "
                f"(robots must fit in 90 % of a {self.floor.resolution_m} m planning cell)",
                field="footprint_radius_m", value=spec.radius_m)
        if not (0 < spec.max_speed_mps < 20):
            raise InvalidInputError(f"max_speed_mps {spec.max_speed_mps} must be in (0, 20)",
                                    field="max_speed_mps", value=spec.max_speed_mps)
        if spec.kind is RobotKind.AGV and spec.transport is None:
            raise InvalidInputError("an AGV must declare its transport capability",
                                    field="transport", value=None)
        if spec.kind is not RobotKind.AGV and spec.weld is None:
            raise InvalidInputError(f"a {spec.kind.value} must declare its weld programs",
                                    field="weld", value=None)
        if spec.transport is not None and not (spec.transport.max_payload_kg > 0):
            raise InvalidInputError(
                f"transport.max_payload_kg {spec.transport.max_payload_kg} must be positive",
                field="transport.max_payload_kg", value=spec.transport.max_payload_kg)
        if spec.weld is not None:
            if not spec.weld.programs:
                raise InvalidInputError("weld.programs must name at least one program",
                                        field="weld.programs", value=[])
            for program in sorted(spec.weld.programs):
                check_id("weld.programs", program)

    def _home_of(self, spec: RobotSpec, pose: Pose | None) -> str:
        if spec.kind is not RobotKind.FIXED_WELDER:
            return ""
        if pose is None:
            known = self.robots.get(spec.id)
            return known.home_station if known else ""
        cells = [s for s in self.floor.stations.values() if s.kind is StationKind.WELD_CELL]
        near = min(cells, key=lambda s: math.hypot(s.pose.x - pose.x, s.pose.y - pose.y),
                   default=None)
        if near is None or math.hypot(near.pose.x - pose.x, near.pose.y - pose.y) > 3.0:
            raise InfeasibleError("a fixed welder must stand within 3 m of a weld cell station",
                                  field="pose", value=(pose.x, pose.y))
        return near.id

    def _cell_at(self, pose: Pose) -> Cell:
        try:
            cell = self.grid.cell_of(pose.x, pose.y)
        except InvalidInputError as err:
            raise InvalidInputError(f"pose ({pose.x}, {pose.y}) is off the floor",
                                    field="pose", value=(pose.x, pose.y)) from err
        cx, cy = self.grid.center_of(cell)
        tol = self.config.cell_tolerance * self.floor.resolution_m
        if not self.grid.is_free(cell):
            raise InfeasibleError(f"pose ({pose.x}, {pose.y}) is not on a drivable cell",
                                  field="pose", value=(pose.x, pose.y))
        if math.hypot(cx - pose.x, cy - pose.y) > tol:
            raise InfeasibleError(
                f"pose ({pose.x}, {pose.y}) is not at a cell centre: drive to ({cx}, {cy}) "
                "and register again", field="pose", value=(pose.x, pose.y))
        return cell

    def _validate(self, mission: Mission) -> None:
        check_id("mission.mission_id", mission.id)
        if not mission.tasks:
            raise InvalidInputError(f"mission {mission.id!r} has no tasks",
                                    field="mission.tasks", value=[])
        if mission.deadline_s is not None and not (mission.deadline_s >= 0):
            raise InvalidInputError(f"mission.deadline_s {mission.deadline_s} is negative",
                                    field="mission.deadline_s", value=mission.deadline_s)
        if mission.release_s is not None and not (mission.release_s >= 0):
            raise InvalidInputError(f"mission.release_s {mission.release_s} is negative",
                                    field="mission.release_s", value=mission.release_s)
        ids: set[str] = set()
        for i, task in enumerate(mission.tasks):
            where = f"mission.tasks[{i}]"
            check_id(f"{where}.task_id", task.id)
            if task.id in ids:
                raise InvalidInputError(f"{where}.task_id {task.id!r} is used twice",
                                        field=f"{where}.task_id", value=task.id)
            ids.add(task.id)
            self._validate_task(task, where)
        by_id = {t.id: t for t in mission.tasks}
        for i, task in enumerate(mission.tasks):
            for dep in task.depends_on:
                if dep not in by_id or dep == task.id:
                    raise InvalidInputError(
                        f"mission.tasks[{i}].depends_on names {dep!r}, which is not another "
                        "task of this mission", field=f"mission.tasks[{i}].depends_on",
                        value=dep)
        # Dependencies must form no cycle (Kahn's algorithm).
        indegree = {t.id: len(set(t.depends_on)) for t in mission.tasks}
        ready = [t for t, n in indegree.items() if n == 0]
        seen = 0
        while ready:
            done = ready.pop()
            seen += 1
            for t in mission.tasks:
                if done in t.depends_on:
                    indegree[t.id] -= 1
                    if indegree[t.id] == 0:
                        ready.append(t.id)
        if seen != len(mission.tasks):
            cyclic = sorted(t for t, n in indegree.items() if n > 0)
            raise InvalidInputError(f"mission.tasks depend on each other in a cycle: {cyclic}",
                                    field="mission.tasks.depends_on", value=cyclic)

    def _validate_task(self, task: Task, where: str) -> None:
        if not (math.isfinite(task.delay_s) and task.delay_s >= 0):
            raise InvalidInputError(f"{where}.start_delay_s {task.delay_s} must be a "
                                    "non-negative number of seconds",
                                    field=f"{where}.start_delay_s", value=task.delay_s)
        if task.kind in _PINNED_KINDS:
            self._validate_pinned(task, where)
            return
        if task.kind is TaskKind.TRANSPORT:
            for name, station_id in (("pickup_station", task.pickup),
                                     ("dropoff_station", task.dropoff)):
                station = self._station(f"{where}.transport.{name}", station_id)
                if station.kind not in _PICKUP_KINDS:
                    raise InvalidInputError(
                        f"{where}.transport.{name} {station_id!r} is a {station.kind.value}, "
                        "not a place loads are handled", field=f"{where}.transport.{name}",
                        value=station_id)
            if task.pickup == task.dropoff:
                raise InvalidInputError(f"{where}.transport: pickup and dropoff are both "
                                        f"{task.pickup!r}", field=f"{where}.transport",
                                        value=task.pickup)
            check_id(f"{where}.transport.load_id", task.load_id)
            if not (math.isfinite(task.mass_kg) and task.mass_kg >= 0):
                raise InvalidInputError(f"{where}.transport.mass_kg {task.mass_kg} must be a "
                                        "non-negative number of kilograms",
                                        field=f"{where}.transport.mass_kg", value=task.mass_kg)
            needs = f"carries {task.mass_kg} kg"
        else:
            station = self._station(f"{where}.weld.cell_station", task.cell)
            if station.kind is not StationKind.WELD_CELL:
                raise InvalidInputError(f"{where}.weld.cell_station {task.cell!r} is a "
                                        f"{station.kind.value}, not a weld cell",
                                        field=f"{where}.weld.cell_station", value=task.cell)
            check_id(f"{where}.weld.program", task.program)
            if task.load_id:
                check_id(f"{where}.weld.part_load_id", task.load_id)
            if not (math.isfinite(task.duration_s) and task.duration_s > 0):
                raise InvalidInputError(f"{where}.weld.duration_s {task.duration_s} must be "
                                        "positive", field=f"{where}.weld.duration_s",
                                        value=task.duration_s)
            needs = f"runs weld program {task.program!r} at {task.cell}"
        if not any(capable(Candidate(r.spec, r.home_station), task)
                   for r in self.robots.values()):
            raise InfeasibleError(f"{where}: no robot of the fleet {needs}",
                                  field=f"{where}", value=task.id)

    def _validate_pinned(self, task: Task, where: str) -> None:
        """A charge or park task: a registered robot that drives, and a station to go to."""
        what = task.kind.value
        field = f"{where}.{what}.{'charger_station' if task.kind is TaskKind.CHARGE else 'station'}"
        station = self._station(field, task.cell)
        allowed = ({StationKind.CHARGER} if task.kind is TaskKind.CHARGE
                   else {StationKind.PARKING, StationKind.CHARGER})
        if station.kind not in allowed:
            raise InvalidInputError(f"{field} {task.cell!r} is a {station.kind.value}, not a "
                                    f"{' or '.join(sorted(k.value for k in allowed))}",
                                    field=field, value=task.cell)
        check_id(f"{where}.{what}.robot_id", task.robot)
        robot = self.robots.get(task.robot)
        if robot is None:
            raise NotFoundError(f"{where}.{what}.robot_id {task.robot!r} is not registered",
                                field=f"{where}.{what}.robot_id", value=task.robot)
        if robot.spec.kind is RobotKind.FIXED_WELDER:
            raise InvalidInputError(f"{where}.{what}.robot_id {task.robot!r} is a fixed welder "
                                    "and does not drive", field=f"{where}.{what}.robot_id",
                                    value=task.robot)

    def _station(self, field: str, station_id: str) -> Station:
        if not station_id:
            raise InvalidInputError(f"{field} is empty", field=field, value=station_id)
        station = self.floor.stations.get(station_id)
        if station is None:
            raise NotFoundError(f"{field} {station_id!r}: no such station on floor "
                                f"{self.floor.name!r}", field=field, value=station_id)
        return station

    @staticmethod
    def _new_record(mission: Mission, order: int) -> MissionRecord:
        return MissionRecord(mission, order,
                             tasks={t.id: TaskRecord(t) for t in mission.tasks})
