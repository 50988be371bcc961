"""The coordinator: missions in, robot commands out, one owner of live state.

How one mission goes through it, by function:

1. `Coordinator.submit` checks it (`validation.check_mission`) and stores it with its
   ACCEPTED event (`Journal.accept`) before it answers.
2. Each control step (`Coordinator.step`) offers its ready tasks to the dispatcher
   (`Dispatching.dispatch`, over `fleet.dispatch.inputs.Round`); an ASSIGNED event puts a
   task in a robot's queue (`FleetState.apply`), and the head of the queue becomes the
   robot's `Work` (`Execution.sync`).
3. `Execution.advance` plans the robot's drive (`Traffic.plan`) and later sends its actions;
   `Execution.release` turns the cells it may enter into a `FollowPath` command.
4. At the end of the step the events are written in one transaction (`Journal.commit`); only
   then do commands reach the robots and events the watchers (`Coordinator.take_output`).

Every state change is an event applied by `FleetState.apply`, live and on replay alike; what
is not in the log (sessions, paths, errands) is rebuilt as robots connect again. Calls are
not thread-safe: `fleet.coordinator.runner` runs them all on one worker thread.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import replace

from fleet.coordinator.clock import Clock
from fleet.coordinator.config import CoordinatorConfig
from fleet.coordinator.declared import CapabilityGroup, DeclaredRobot, capability_groups
from fleet.coordinator.dispatching import Dispatching
from fleet.coordinator.estimates import Estimates
from fleet.coordinator.execution import Execution
from fleet.coordinator.failures import Failures
from fleet.coordinator.journal import Journal, Outbox, Output
from fleet.coordinator.places import Places
from fleet.coordinator.plausibility import FloorCheck
from fleet.coordinator.robots import RobotRecord
from fleet.coordinator.sessions import Inbox, Sessions
from fleet.coordinator.site import Site
from fleet.coordinator.state import FleetState, replay
from fleet.coordinator.validation import check_mission
from fleet.coordinator.work import Act
from fleet.dispatch import HOLDING_KINDS, Candidate, Dispatcher, OptimalDispatcher
from fleet.floor import FloorMap, OccupancyGrid
from fleet.model import (
    AlreadyExistsError,
    EventKind,
    InfeasibleError,
    Mission,
    MissionEvent,
    MissionRecord,
    MissionState,
    NotFoundError,
    Pose,
    RobotKind,
    RobotSpec,
    RobotState,
    TaskState,
)
from fleet.store import EventStore
from fleet.traffic import Traffic, check_invariants

__all__ = ["Coordinator"]

log = logging.getLogger(__name__)


class Coordinator:
    """Missions in, robot commands out; see the module docstring.

    `incarnation` names this run of the coordinator in path and errand ids (default: random),
    so that nothing it sends can be mistaken for what a coordinator before a restart sent.
    """

    def __init__(self, floor: FloorMap, store: EventStore, clock: Clock,
                 config: CoordinatorConfig | None = None,
                 dispatcher: Dispatcher | None = None, *, incarnation: str = "",
                 declared: Sequence[DeclaredRobot] = ()) -> None:
        self.config = config or CoordinatorConfig()
        self.store = store
        self.clock = clock
        self.dispatcher: Dispatcher = dispatcher or OptimalDispatcher()
        self.incarnation = incarnation or uuid.uuid4().hex[:8]
        self.declared = tuple(declared)
        """The declared fleet (a fleet file): missions may need robots not registered yet."""
        self.site = Site(floor, self.config.nominal_speed_mps)
        holding = frozenset(s.id for s in floor.stations.values() if s.kind in HOLDING_KINDS)
        self.state = FleetState(floor.stations, holding)
        self.robots: dict[str, RobotRecord] = {}
        self.traffic = Traffic(self.site.grid.free, horizon=self.config.release_horizon,
                               distances=self.site.distances, incarnation=self.incarnation,
                               search=self.config.path_search,
                               one_way=self.site.grid.forbidden_moves)
        self.outbox = Outbox()
        tolerance = self.config.report_tolerance
        inbox = Inbox(FloorCheck(floor, tolerance.jitter_m), tolerance, clock.now)
        self.journal = Journal(self.state, store, self._on_change)
        self.estimates = Estimates(self.site, self.traffic, self.dispatcher.weights,
                                   self.config.nominal_speed_mps)
        self.places = Places(self.site, self.traffic, self.robots, self.estimates, self.config)
        self.failures = Failures(self.site, self.state, self.robots, self.traffic, self.journal,
                                 self.estimates, self.config)
        self.execution = Execution(self.site, self.state, self.robots, self.traffic,
                                   self.journal, self.outbox, self.places, self.failures,
                                   self.estimates, self.config, inbox)
        self.dispatching = Dispatching(self.site, self.state, self.robots, self.traffic,
                                       self.journal, self.estimates, self.failures,
                                       self.dispatcher, self.incarnation)
        self.sessions = Sessions(self.site, self.state, self.robots, self.traffic, self.journal,
                                 self.outbox, self.failures, store, self.config, inbox)
        self.step_times: deque[tuple[float, float]] = deque(maxlen=100_000)
        """(wall, CPU) seconds of the latest control steps, oldest first."""
        self.phase_times: dict[str, float] = {}
        """Wall seconds of the last control step's phases: `dispatch`, `plan` (planning,
        advancing and releasing paths) and `store_write` (its transaction), for metrics."""
        self._epoch: float | None = None
        self._last_round: float | None = None
        """Clock time of the last dispatch round (`CoordinatorConfig.dispatch_period_s`)."""
        self._started_at: float | None = None
        self._recovering = False
        self._recover()

    @property
    def floor(self) -> FloorMap:
        """The floor map the coordinator plans on."""
        return self.site.floor

    @property
    def grid(self) -> OccupancyGrid:
        """The floor's planning grid."""
        return self.site.grid

    @property
    def missions(self) -> dict[str, MissionRecord]:
        """Every mission by id, in submission order."""
        return self.state.missions

    @property
    def contents(self) -> dict[str, list[str]]:
        """The loads at each station, oldest first."""
        return self.state.contents

    @property
    def inbox(self) -> Inbox:
        """Where robots' state reports land (safe from any thread)."""
        return self.sessions.inbox

    @property
    def expired_registrations(self) -> int:
        """Registrations let go since the start because the robot never opened its stream."""
        return self.sessions.expired

    # -- restart -------------------------------------------------------------------------------
    def _recover(self) -> None:
        """Rebuild the state from the store: the roster, then every event in order."""
        for entry in self.store.robots():
            # A fixed welder's cell is stored with it: missions for its cell are accepted
            # before it registers again.
            self.state.register(entry.spec)
            self.robots[entry.spec.id] = RobotRecord(spec=entry.spec,
                                                     home_station=entry.home_station)
        replay(self.state, {m.id: m for m in self.store.missions()}, self.store.events())
        self._on_change(set(self.robots))
        for rid, robot in self.robots.items():
            work = robot.work
            if (work is not None and work.key is not None and isinstance(work.current, Act)
                    and self.state.task(work.key).state is TaskState.ACTIVE):
                # The run before may have given this action: the robot's outcome of it counts.
                self.sessions.inbox.give(rid, work.action_id())
        self._recovering = bool(self.robots)
        if self.state.missions:
            log.info("recovered %d missions (%d open) and %d robots from the store",
                     len(self.state.missions), sum(1 for _ in self.state.open_missions()),
                     len(self.robots))

    def _on_change(self, robot_ids: set[str]) -> None:
        self.execution.sync(robot_ids)

    # -- robots ----------------------------------------------------------------------------
    def register(self, spec: RobotSpec, pose: Pose) -> str:
        """Admit a robot (or re-admit one that reconnects); returns its session id."""
        return self.sessions.register(spec, pose, self.clock.now())

    def connect(self, robot_id: str, session_id: str) -> int:
        """Open a registered robot's command stream; returns the stream's number, which
        commands in `take_output` name."""
        return self.sessions.connect(robot_id, session_id)

    def disconnect(self, robot_id: str, stream: int) -> None:
        """The robot's stream `stream` ended."""
        self.sessions.disconnect(robot_id, stream, self.clock.now())

    def end_session(self, robot_id: str, session_id: str) -> None:
        """The call that opened (or was opening) the robot's stream with this session ended."""
        robot = self.robots.get(robot_id)
        if robot is not None and robot.session_id == session_id and robot.connected:
            self.disconnect(robot_id, robot.stream)

    def report(self, robot_id: str, stream: int, state: RobotState) -> None:
        """Record a state report (any thread); acted on at the next step."""
        self.sessions.inbox.put(robot_id, stream, state)

    def latest_state(self, robot_id: str) -> RobotState | None:
        """The robot's last report on its open stream (newer than its record's state, which
        is as of the last control step), or None."""
        robot = self.robots.get(robot_id)
        if robot is None or not robot.connected:
            return None
        return self.sessions.inbox.latest(robot_id, robot.stream)

    def pause(self, robot_id: str, reason: str) -> RobotRecord:
        """An operator holds a robot (see `Sessions.pause`)."""
        return self.sessions.pause(robot_id, reason, self.clock.now())

    def resume(self, robot_id: str) -> RobotRecord:
        """Release an operator's hold."""
        return self.sessions.resume(robot_id)

    def all_reported(self, t_s: float) -> bool:
        """True if every connected robot has reported a state stamped at or after `t_s`."""
        return self.sessions.all_reported(t_s)

    # -- missions --------------------------------------------------------------------------
    def submit(self, mission: Mission) -> MissionRecord:
        """Validate and durably accept a mission."""
        now = self.clock.now()
        if not mission.id:
            n = len(self.state.missions) + 1
            while f"m-{n:06d}" in self.state.missions:
                n += 1
            mission = replace(mission, id=f"m-{n:06d}")
        check_mission(mission, self.site, self.robots,
                      [d.candidate() for d in self.declared])
        if mission.id in self.state.missions:
            raise AlreadyExistsError(f"mission {mission.id!r} exists already",
                                     field="mission.mission_id", value=mission.id)
        mission = replace(mission, submitted_s=now)
        return self.journal.accept(mission, MissionEvent(EventKind.ACCEPTED, mission.id, now))

    def capabilities(self) -> list[CapabilityGroup]:
        """What missions are checked against: the roster's robots, then the declared fleet."""
        return capability_groups((Candidate(r.spec, r.home_station)
                                  for r in self.robots.values()), self.declared)

    def cancel(self, mission_id: str, reason: str) -> MissionRecord:
        """Cancel an unfinished mission; robots on its tasks stop after their released path.

        Atomic: if the store cannot take the CANCELLED event, nothing changes."""
        record = self.get(mission_id)
        if record.state.finished:
            raise InfeasibleError(f"mission {mission_id!r} is {record.state.value} already",
                                  field="mission_id", value=mission_id)
        reason = reason or "cancelled"
        self.journal.record([MissionEvent(EventKind.CANCELLED, mission_id, self.clock.now(),
                                          detail=reason)])
        self.estimates.forget(mission_id)
        log.warning("mission %s cancelled: %s", mission_id, reason)
        return record

    def get(self, mission_id: str) -> MissionRecord:
        """A mission's record; NotFoundError if unknown."""
        record = self.state.missions.get(mission_id)
        if record is None:
            raise NotFoundError(f"mission {mission_id!r} not found", field="mission_id",
                                value=mission_id)
        return record

    def list_missions(self, states: Iterable[MissionState] = (),
                      labels: dict[str, str] | None = None) -> list[MissionRecord]:
        """Missions in submission order, filtered by state and labels."""
        wanted = set(states)
        return [m for m in self.state.missions.values()
                if (not wanted or m.state in wanted)
                and all(m.mission.labels.get(k) == v for k, v in (labels or {}).items())]

    def open_missions(self) -> int:
        """Missions not finished."""
        return sum(1 for _ in self.state.open_missions())

    # -- the control step --------------------------------------------------------------------
    def step(self) -> None:
        """Advance every robot's work at the clock's current time, then write its events.

        Raises `UnavailableError` if the store cannot take them (they are written by the next
        step; meanwhile no command leaves). Each step's wall and CPU seconds go to
        `step_times`."""
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            self._step(self.clock.now())
        finally:
            written = time.perf_counter()
            try:
                self.journal.commit()
            finally:
                self.phase_times["store_write"] = time.perf_counter() - written
                self.step_times.append((time.perf_counter() - wall, time.thread_time() - cpu))

    def _step(self, now: float) -> None:
        now_step = self._step_number(now)
        self.estimates.begin_step()
        self.sessions.take_reports(now)
        if self._waiting_for_robots(now):
            return
        self.sessions.report_progress()
        self.sessions.expire_registrations(now)
        self.failures.check_lost_robots(now)
        self.failures.untangle(now, now_step)
        started = time.perf_counter()
        round_due = (self._last_round is None
                     or now - self._last_round >= self.config.dispatch_period_s - 1e-9)
        if round_due:
            self._last_round = now
            self.failures.guard_batteries(now)
            self.dispatching.dispatch(now)
        dispatched = time.perf_counter()
        self.execution.advance_all(now, now_step)
        if round_due:
            self.execution.send_idle_to_rest(now, now_step)
        assert self._epoch is not None
        self.execution.release(now_step, self._epoch)
        if round_due:
            self.phase_times["dispatch"] = dispatched - started
        self.phase_times["plan"] = time.perf_counter() - dispatched
        if self.config.self_check:
            broken = check_invariants(self.traffic)
            if broken:
                log.error("t=%.1f s: traffic invariants broken: %s", now, "; ".join(broken))

    def _step_number(self, now: float) -> int:
        """The planning step of `now`, counted from the first control step."""
        if self._epoch is None:
            self._epoch = self._started_at = now
            for r in self.robots.values():
                if not r.connected and r.disconnected_at is None:
                    r.disconnected_at = now
        return math.ceil((now - self._epoch) / self.site.step_s - 1e-9)

    def _waiting_for_robots(self, now: float) -> bool:
        """After a restart: a robot not heard from since may stand anywhere, so nothing is
        planned until every known robot is back, or the grace period is over."""
        if not self._recovering:
            return False
        assert self._started_at is not None
        waiting = [r.spec.id for r in self.robots.values()
                   if not r.connected and r.spec.kind is not RobotKind.FIXED_WELDER]
        if waiting and now - self._started_at < self.config.restart_grace_s:
            return True
        self._recovering = False
        return False

    def take_output(self) -> Output:
        """Events written and commands decided since the last call; commands only once every
        event before them is durable."""
        events = self.journal.take_written()
        commands = self.outbox.take() if self.journal.durable() else []
        return Output(events, commands)
