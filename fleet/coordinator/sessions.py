"""Robots joining and leaving, their reports, and operators' holds on them.

A robot registers (spec and pose), opens its command stream, and reports its state on it. The
reports land in the `Inbox` as they arrive, from any thread; the control step takes the latest
of each robot at its start, so a step works on one consistent picture.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, MutableMapping
from dataclasses import replace

from fleet.coordinator.config import CoordinatorConfig
from fleet.coordinator.failures import Failures
from fleet.coordinator.journal import Journal, Outbox
from fleet.coordinator.plausibility import (
    Finding,
    FloorCheck,
    Implausible,
    ImplausibleReportError,
    Tolerance,
    check_report,
)
from fleet.coordinator.robots import RobotRecord
from fleet.coordinator.site import Site
from fleet.coordinator.state import FleetState
from fleet.coordinator.validation import MAX_REASON, cell_at, check_spec, home_of
from fleet.model import (
    AlreadyExistsError,
    EventKind,
    InfeasibleError,
    InvalidInputError,
    MissionEvent,
    NotFoundError,
    Pose,
    RobotKind,
    RobotMode,
    RobotSpec,
    RobotState,
    StopAction,
)
from fleet.store import EventStore
from fleet.traffic import Traffic

__all__ = ["Inbox", "Sessions"]

log = logging.getLogger(__name__)


class _Watch:
    """What the next report of one stream is checked against."""

    __slots__ = ("believed", "carried", "first", "lag", "lag_at", "max_speed_mps", "opened_at")

    def __init__(self, registered: RobotState, max_speed_mps: float, opened_at: float) -> None:
        self.believed = registered
        self.max_speed_mps = max_speed_mps
        self.opened_at = opened_at
        self.first = True
        self.carried = ""
        self.lag = math.inf
        """The smallest (coordinator time at arrival - stamp) of the believed reports."""
        self.lag_at = opened_at


class Inbox:
    """The open streams and the latest state report on each; safe to use from any thread.

    The coordinator opens and closes streams here as robots connect and disconnect, so that
    `all_reported` sees exactly the robots the next control step will see. With a `floor`
    check, every report is checked as it arrives (`fleet.coordinator.plausibility`): an
    implausible one is refused (`ImplausibleReportError`), counted by reason and kept for the
    next control step as a finding; the robot's state stays the last believed one.
    """

    def __init__(self, floor: FloorCheck | None = None, tolerance: Tolerance | None = None,
                 now: Callable[[], float] = lambda: 0.0) -> None:
        self._lock = threading.Lock()
        self._streams: dict[str, int] = {}
        self._latest: dict[str, tuple[int, RobotState]] = {}
        self._floor = floor
        self._tolerance = tolerance or Tolerance()
        self._now = now
        self._watch: dict[str, _Watch] = {}
        self._given: dict[str, set[str]] = {}
        self._findings: list[tuple[str, int, Finding]] = []
        self._counts: Counter[Implausible] = Counter()
        self._first_since: float | None = None
        """time.monotonic() of the first report accepted since the last `snapshot`."""
        self.first_arrival: float | None = None
        """time.monotonic() at which the earliest of the reports the last `snapshot` took in
        arrived (None if none had arrived since the one before): the report that waited
        longest for the control step that acts on it."""

    def open(self, robot_id: str, stream: int, registered: RobotState,
             max_speed_mps: float = math.inf) -> None:
        """A stream opened; until the robot reports, its state is the one it registered."""
        with self._lock:
            self._streams[robot_id] = stream
            self._latest[robot_id] = (stream, registered)
            self._watch[robot_id] = _Watch(registered, max_speed_mps, self._now())

    def close(self, robot_id: str, stream: int) -> None:
        """A stream ended."""
        with self._lock:
            if self._streams.get(robot_id) == stream:
                del self._streams[robot_id]

    def give(self, robot_id: str, action_id: str) -> None:
        """The coordinator gave the robot this action (or may have, before a restart)."""
        with self._lock:
            self._given.setdefault(robot_id, set()).add(action_id)

    def was_given(self, robot_id: str, action_id: str) -> bool:
        """True if the robot was given this action (see `give`)."""
        with self._lock:
            return action_id in self._given.get(robot_id, ())

    def put(self, robot_id: str, stream: int, state: RobotState) -> None:
        """Record a report that arrived on the robot's stream `stream`; InvalidInputError
        (`ImplausibleReportError`) if it names another robot or cannot be true."""
        if state.robot_id != robot_id:
            raise InvalidInputError(
                f"state.robot_id {state.robot_id!r} does not match the stream's robot "
                f"{robot_id!r}", field="state.robot_id", value=state.robot_id)
        with self._lock:
            if self._streams.get(robot_id) != stream:
                return
            watch = self._watch.get(robot_id)
            if self._floor is not None and watch is not None:
                now = self._now()
                given = self._given.get(robot_id, set())
                lag = now - state.stamp_s
                finding = check_report(
                    watch.believed, state, max_speed_mps=watch.max_speed_mps,
                    tolerance=self._tolerance, floor=self._floor,
                    given=given.__contains__, first=watch.first,
                    elapsed_s=now - watch.opened_at, ahead_s=watch.lag - lag,
                    since_lag_s=now - watch.lag_at, carried_action=watch.carried)
                if finding is not None:
                    self._counts[finding.reason] += 1
                    self._findings.append((robot_id, stream, finding))
                    log.warning("robot %s: refused an implausible report (%s): %s", robot_id,
                                finding.reason.value, finding.message)
                    raise ImplausibleReportError(robot_id, finding)
                if watch.first:
                    watch.first, watch.carried = False, state.action_id
                watch.believed = state
                if lag < watch.lag:
                    watch.lag, watch.lag_at = lag, now
            self._latest[robot_id] = (stream, state)
            if self._first_since is None:
                self._first_since = time.monotonic()

    def take_findings(self) -> list[tuple[str, int, Finding]]:
        """Implausible reports since the last call: (robot id, stream, finding)."""
        with self._lock:
            out, self._findings = self._findings, []
        return out

    def count(self, reason: Implausible) -> None:
        """Count a report found implausible elsewhere (an action result checked at a step)."""
        with self._lock:
            self._counts[reason] += 1

    def implausible_counts(self) -> dict[Implausible, int]:
        """Reports refused as implausible since the start, by reason."""
        with self._lock:
            return dict(self._counts)

    def latest(self, robot_id: str, stream: int) -> RobotState | None:
        """The robot's last report on that stream, if any."""
        with self._lock:
            got = self._latest.get(robot_id)
        return got[1] if got is not None and got[0] == stream else None

    def all_reported(self, t_s: float) -> bool:
        """True if every open stream has a report stamped at or after `t_s`."""
        with self._lock:
            for rid, stream in self._streams.items():
                got = self._latest.get(rid)
                if got is None or got[0] != stream or got[1].stamp_s < t_s - 1e-9:
                    return False
        return True

    def snapshot(self) -> dict[str, tuple[int, RobotState]]:
        """Every robot's latest report with the stream it came on; reports after this one
        count as new for `first_arrival`."""
        with self._lock:
            self.first_arrival, self._first_since = self._first_since, None
            return dict(self._latest)


class Sessions:
    """Register, connect, disconnect, take reports; pause and resume."""

    def __init__(self, site: Site, state: FleetState, robots: MutableMapping[str, RobotRecord],
                 traffic: Traffic, journal: Journal, outbox: Outbox, failures: Failures,
                 store: EventStore, config: CoordinatorConfig, inbox: Inbox) -> None:
        self.site = site
        self.state = state
        self.robots = robots
        self.traffic = traffic
        self.journal = journal
        self.outbox = outbox
        self.failures = failures
        self.store = store
        self.config = config
        self.inbox = inbox
        self.expired = 0
        """Registrations let go because their stream never opened, since the start."""
        self._streams = 0

    def robot(self, robot_id: str) -> RobotRecord:
        """A known robot; NotFoundError otherwise."""
        record = self.robots.get(robot_id)
        if record is None:
            raise NotFoundError(f"robot_id {robot_id!r} is not registered", field="robot_id",
                                value=robot_id)
        return record

    def register(self, spec: RobotSpec, pose: Pose, now: float) -> str:
        """Admit a robot (or re-admit one that reconnects); returns its session id."""
        check_spec(spec, self.site.floor.resolution_m)
        existing = self.robots.get(spec.id)
        if existing is not None and existing.connected:
            raise AlreadyExistsError(f"robot {spec.id!r} is connected already",
                                     field="robot_id", value=spec.id)
        home = home_of(self.site, spec, pose)
        drives = spec.kind is not RobotKind.FIXED_WELDER
        cell = cell_at(self.site, pose, self.config.cell_tolerance) if drives else None
        if cell is not None:
            self.traffic.check_place(spec.id, cell)
        self.store.put_robot(spec, home)
        # Durable: from here on nothing can fail.
        self.state.register(spec)
        if cell is not None:
            for other in self.traffic.place(spec.id, cell):
                work = self.robots[other].work
                if work is not None:
                    work.path_id = ""
        record = existing or RobotRecord(spec=spec)
        record.spec, record.home_station, record.placed = spec, home, drives
        record.session_id = uuid.uuid4().hex
        record.state = RobotState(spec.id, now, pose)
        record.disconnected_at = record.registered_at = now
        if record.work is not None:
            record.work.path_id = ""
            record.work.action_sent = False
        self.robots[spec.id] = record
        log.info("robot %s registered (%s) at %.2f, %.2f", spec.id, spec.kind.value, pose.x,
                 pose.y)
        return record.session_id

    def connect(self, robot_id: str, session_id: str) -> int:
        """Open the command stream of a registered robot; returns the stream's number."""
        record = self.robot(robot_id)
        if not session_id or session_id != record.session_id:
            raise InfeasibleError(f"robot {robot_id!r}: session {session_id!r} is not current; "
                                  "register first", field="session_id", value=session_id)
        if record.connected:
            raise AlreadyExistsError(f"robot {robot_id!r} has a stream open already",
                                     field="robot_id", value=robot_id)
        self._streams += 1
        record.stream = self._streams
        record.disconnected_at = record.registered_at = None
        assert record.state is not None
        self.inbox.open(robot_id, record.stream, record.state, record.spec.max_speed_mps)
        if record.hold:
            # A robot that restarted forgot the operator's hold: it comes first.
            self.outbox.send(robot_id, record.stream, StopAction("pause", record.hold))
        return record.stream

    def disconnect(self, robot_id: str, stream: int, now: float) -> None:
        """The robot's stream ended: it drives to the end of what was released and stops."""
        record = self.robots.get(robot_id)
        if record is None or record.stream != stream or not stream:
            return
        record.stream = 0
        self.inbox.close(robot_id, stream)
        record.disconnected_at = now
        if record.placed:
            self.traffic.hold(robot_id)
        log.info("robot %s disconnected", robot_id)

    def expire_registrations(self, now: float) -> None:
        """A robot that registered and has not opened its stream within
        `registration_timeout_s` is let go: its session ends, it releases its cell, and its
        tasks go back by the rules of a lost robot (UNASSIGNED events, in the log)."""
        timeout = self.config.registration_timeout_s
        for rid in sorted(self.robots):
            robot = self.robots[rid]
            if robot.registered_at is None or robot.connected or \
                    now - robot.registered_at < timeout:
                continue
            reason = (f"robot {rid} registered {now - robot.registered_at:.0f} s ago and never "
                      "opened its stream: its registration expired")
            self.failures.robot_lost(robot, now, reason)
            robot.work = None
            if robot.placed:
                self.traffic.remove(rid)
            robot.placed, robot.session_id, robot.registered_at = False, "", None
            if robot.state is not None:  # shown as the robot's last fault
                robot.state = replace(robot.state, faults=(reason,))
            self.expired += 1
            log.warning("%s; it releases its cell", reason)

    def take_reports(self, now: float) -> None:
        """The latest report of each connected robot becomes its state for this step; a
        robot that sent an implausible report is in fault (`Failures.robot_lost`)."""
        for rid, _, finding in self.inbox.take_findings():
            robot = self.robots.get(rid)
            if robot is not None:
                self.failures.robot_lost(robot, now, f"robot {rid} sent an implausible report "
                                         f"({finding.reason.value}): {finding.message}")
        for rid, (stream, state) in self.inbox.snapshot().items():
            robot = self.robots.get(rid)
            if robot is not None and robot.connected and robot.stream == stream:
                robot.state = state

    def report_progress(self) -> None:
        """Apply the robots' reported progress along their paths to the traffic."""
        for rid in sorted(self.robots):
            robot = self.robots[rid]
            if robot.connected and robot.state is not None and robot.placed:
                self.traffic.report(rid, robot.state.path_id, robot.state.waypoints_reached)

    def all_reported(self, t_s: float) -> bool:
        """True if every connected robot has reported a state stamped at or after `t_s`."""
        return self.inbox.all_reported(t_s)

    def pause(self, robot_id: str, reason: str, now: float) -> RobotRecord:
        """An operator holds a robot: it stops where it is and keeps the task it started;
        its queued and unstarted tasks go back to the dispatcher, and it gets no new work.

        Atomic: if the store cannot take the give-backs, nothing changes (UnavailableError).
        """
        robot = self.robot(robot_id)
        if len(reason) > MAX_REASON:
            raise InvalidInputError(f"reason is {len(reason)} characters, at most "
                                    f"{MAX_REASON} allowed", field="reason", value=reason[:40])
        hold = reason or "paused by an operator"
        cause = f"robot {robot_id} paused by an operator: {hold}"
        keys = self.state.queued(robot_id)
        work = robot.work
        if work is not None and work.key is not None and self.failures.untouched(robot, work):
            keys = [*keys, work.key]
        self.journal.record([MissionEvent(EventKind.UNASSIGNED, k.mission_id, now, k.task_id,
                                          robot_id, detail=cause) for k in keys])
        for key in keys:
            log.warning("%s: task %s goes back to the queue", cause, key)
        robot.hold = hold
        if robot.work is not None and robot.work.key is None:
            self.failures.drop_work(robot)
        if robot.connected:
            self.outbox.send(robot_id, robot.stream, StopAction("pause", robot.hold))
        log.warning("%s", cause)
        return robot

    def resume(self, robot_id: str) -> RobotRecord:
        """Release an operator's hold (or a pause the robot reports after a restart of the
        coordinator, which does not keep holds)."""
        robot = self.robot(robot_id)
        state = (self.inbox.latest(robot_id, robot.stream) if robot.connected else None
                 ) or robot.state
        reported = state is not None and state.mode is RobotMode.PAUSED
        if not robot.hold and not reported:
            raise InfeasibleError(f"robot {robot_id!r} is not paused", field="robot_id",
                                  value=robot_id)
        robot.hold = ""
        if robot.connected:
            self.outbox.send(robot_id, robot.stream, StopAction("resume"))
        log.info("robot %s resumed by an operator", robot_id)
        return robot
