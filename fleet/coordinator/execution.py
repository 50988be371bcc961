"""Carrying out robots' work: planning each drive, sending each action, noting each step done.

A robot works on its current `Work` as far as it can in one control step: a drive needs a
path (planned against every other robot's reservations) and the robot's arrival at its end;
an action is sent once and done when the robot reports it succeeded. Each step done is a
STEP_DONE event, the last one of a task a TASK_DONE (and the mission's COMPLETED once all its
tasks are done). Released path segments go out as `FollowPath` commands.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from fleet.coordinator.config import CoordinatorConfig
from fleet.coordinator.estimates import Estimates
from fleet.coordinator.failures import Failures
from fleet.coordinator.journal import Journal, Outbox
from fleet.coordinator.places import Places
from fleet.coordinator.plausibility import Implausible
from fleet.coordinator.robots import RobotRecord
from fleet.coordinator.sessions import Inbox
from fleet.coordinator.site import Site
from fleet.coordinator.state import FleetState
from fleet.coordinator.work import Go, Work, steps_for
from fleet.dispatch import Inventory, may_begin
from fleet.model import (
    ActionKind,
    ActionStatus,
    Cell,
    EventKind,
    FleetError,
    FollowPath,
    MissionEvent,
    PerformAction,
    RobotMode,
    StopAction,
    TaskKey,
    TaskKind,
    TaskState,
    TimedWaypoint,
    TransportStep,
    battery_model,
)
from fleet.traffic import Release, Traffic

__all__ = ["Execution"]

log = logging.getLogger(__name__)


class Execution:
    """Moves every robot's work forward; keeps each robot's `Work` in line with its queue."""

    def __init__(self, site: Site, state: FleetState, robots: Mapping[str, RobotRecord],
                 traffic: Traffic, journal: Journal, outbox: Outbox, places: Places,
                 failures: Failures, estimates: Estimates, config: CoordinatorConfig,
                 inbox: Inbox) -> None:
        self.site = site
        self.state = state
        self.robots = robots
        self.traffic = traffic
        self.journal = journal
        self.outbox = outbox
        self.places = places
        self.failures = failures
        self.estimates = estimates
        self.config = config
        self.inbox = inbox
        """Where the actions given to each robot are noted (a result is believed only for
        an action given)."""
        self.inventory = Inventory(site.stations, state.contents)
        self._loaded_since: dict[str, tuple[TaskKey, float]] = {}
        """Robots driving a load from its pickup: the task and when the pick was done, to
        learn the pace of the drive (`Estimates.pace`)."""
        self._waypoints: dict[str, tuple[float, dict[tuple[Cell, int], TimedWaypoint]]] = {}
        """Per robot, the waypoints of its last release by (cell, planned step), with the
        clock's epoch: the next release repeats most of them (the cells planned ahead), so
        they are built once."""

    # -- the robot's current work follows its queue ---------------------------------------------
    def sync(self, robot_ids: set[str]) -> None:
        """The robots' current tasks changed (an event was applied): a robot whose task was
        taken away stops after what it was released (told to cancel if its mission ended),
        and one with a new current task gets its `Work`."""
        for rid in sorted(robot_ids):
            robot = self.robots.get(rid)
            if robot is None:
                continue
            head = self.state.head(rid)
            work = robot.work
            if work is not None and work.key is not None and work.key != head:
                record = self.state.task(work.key)
                robot.work = None
                if record.state is not TaskState.DONE:
                    if robot.placed:
                        self.traffic.hold(rid)
                    if record.state.finished and robot.connected:
                        reason = self.state.missions[work.key.mission_id].reason
                        self.outbox.send(rid, robot.stream, StopAction("cancel", reason))
            if robot.work is None and head is not None:
                record = self.state.task(head)
                robot.work = Work(head, f"{head}/{record.attempt}",
                                  steps_for(record.task, robot.spec.kind,
                                            self.site.station_cells),
                                  index=record.steps_done)

    # -- every step ------------------------------------------------------------------------
    def advance_all(self, now: float, now_step: int) -> None:
        """Every robot with work, most important mission first (plans made first get the
        better paths). A robot whose work raises fails its mission, alone."""
        for rid in self._planning_order():
            robot = self.robots[rid]
            try:
                self.advance(robot, now, now_step)
            except Exception as err:  # one robot's bad work must not stop the fleet
                self._isolate(robot, now, err)

    def advance(self, robot: RobotRecord, now: float, now_step: int) -> None:
        """Move a robot's work forward as far as it can go this step."""
        work = robot.work
        if robot.hold:
            return
        rid = robot.spec.id
        while work is not None and robot.connected and robot.state is not None:
            step = work.current
            if robot.state.mode is RobotMode.FAULT:
                self.failures.robot_lost(robot, now, f"robot {rid} reports a fault: "
                                         f"{', '.join(robot.state.faults) or 'unspecified'}")
                return
            if robot.state.mode is RobotMode.PAUSED:
                # Stopped by itself (a safety stop, its own button): no new path or action
                # until it goes on; what it holds stays held (`Failures.untangle`).
                return
            if work.detour is None and work.key is not None:
                record = self.state.missions[work.key.mission_id]
                task = record.tasks[work.key.task_id].task
                if work.index == 0 and not may_begin(record, task, now, self.inventory):
                    # Given out ahead: wait next to the station, off it, until the task is
                    # ready (a welder on the cell's door would block the part's drop); a
                    # fixed welder waits where it is bolted.
                    if isinstance(step, Go) and not robot.frozen and \
                            self.places.wait_near(robot, work, step):
                        continue
                    return
                if (task.kind is TaskKind.TRANSPORT and work.index == TransportStep.GO_TO_DROPOFF
                        and not robot.frozen and not self.inventory.room_for(task)):
                    # Brought ahead into a full cell: wait next to it until the part in it
                    # has been taken out (a wait that says nothing of the pace).
                    self._loaded_since.pop(rid, None)
                    if isinstance(step, Go) and self.places.wait_near(robot, work, step):
                        continue
                    return
            if isinstance(step, Go):
                if robot.frozen:
                    return
                # No path yet, or the path was cut short of the goal: plan (or extend) it.
                if not work.path_id or self.traffic.plan_end(rid) != step.cell:
                    if work.failed_cell == step.cell and now < work.plan_again_at_s:
                        # Not searched again yet; a robot blocked on a work station long
                        # enough still leaves it for others.
                        if (work.blocked_since_s is not None and
                                now - work.blocked_since_s >= self.config.make_way_after_s):
                            self.places.make_way(robot, work, now)
                        return
                    try:
                        work.path_id = self.traffic.plan(rid, step.cell, now_step)
                    except FleetError as err:
                        if work.failed_cell != step.cell:
                            work.failed_cell, work.failed_plans = step.cell, 0
                        work.failed_plans += 1
                        work.plan_again_at_s = now + min(
                            self.config.plan_retry_max_s,
                            self.config.plan_retry_s * 2 ** min(work.failed_plans - 1, 16))
                        if work.blocked_since_s is None:
                            log.info("robot %s: no path to %s yet: %s", rid,
                                     step.station_id, err)
                            if work.detour is None and self.places.approach(robot, work, step):
                                continue
                            work.blocked_since_s = now
                        elif now - work.blocked_since_s >= self.config.make_way_after_s:
                            self.places.make_way(robot, work, now)
                        return
                    work.blocked_since_s = None
                    if work.failed_cell == step.cell:
                        work.failed_cell, work.failed_plans = None, 0
                    self._mark_started(robot, work, now)
                if not self.traffic.arrived(rid) or self.traffic.plan_end(rid) != step.cell:
                    return
            else:
                self._mark_started(robot, work, now)
                action_id = work.action_id()
                state = robot.state
                given = self.inbox.was_given(rid, action_id)
                if state.action_id == action_id and not given and state.action_status in (
                        ActionStatus.SUCCEEDED, ActionStatus.FAILED):
                    # A result for the action before it was given (in this run or, for a
                    # task under way at a restart, the run before): never believed.
                    self.inbox.count(Implausible.UNKNOWN_ACTION)
                    log.warning("robot %s: refused an implausible report (%s): action %r was "
                                "never given", rid, Implausible.UNKNOWN_ACTION.value, action_id)
                    reason = (f"robot {rid} sent an implausible report "
                              f"({Implausible.UNKNOWN_ACTION.value}): a result for action "
                              f"{action_id} before it was given")
                    # Nothing of the action was handled: the task goes back, and the robot
                    # counts as in fault until it reports again.
                    self.failures.give_back_queue(rid, now, reason)
                    if work.key is not None:
                        self.failures.give_back(rid, work.key, now, reason)
                    robot.state = replace(state, mode=RobotMode.FAULT, faults=(reason,))
                    return
                if state.action_id == action_id and given:
                    if state.action_status is ActionStatus.FAILED:
                        why = ", ".join(state.faults) or "no reason given"
                        self.failures.action_failed(
                            robot, now, f"{step.name} failed on robot {rid}: {why}")
                        return
                    if state.action_status is not ActionStatus.SUCCEEDED:
                        return
                elif not work.action_sent:
                    duration = step.duration_s
                    if step.kind is ActionKind.CHARGE and not duration:
                        duration = battery_model(robot.spec.kind).charge_time_s(state.battery)
                    self.outbox.send(rid, robot.stream, PerformAction(
                        action_id, step.kind, step.station_id, step.load_id, step.program,
                        duration))
                    self.inbox.give(rid, action_id)
                    work.action_sent = True
                    return
                else:
                    return
            self._step_done(robot, work, now)
            work = robot.work

    def send_idle_to_rest(self, now: float, now_step: int) -> None:
        """Robots with nothing to do leave work stations for a free parking place."""
        for rid in sorted(self.robots):
            robot = self.robots[rid]
            if (robot.work is not None or not robot.connected or not robot.placed or robot.hold
                    or not self.traffic.arrived(rid)):
                continue
            go = self.places.rest_for_idle(robot)
            if go is None:
                continue
            robot.work = Work(None, f"{self.traffic.incarnation}/park", (go,))
            self.advance(robot, now, now_step)

    def release(self, now_step: int, epoch_s: float) -> None:
        """Release every path cell whose predecessors have left; send what is new."""
        for rid, release in self.traffic.release(now_step).items():
            robot = self.robots[rid]
            if robot.connected:
                self.outbox.send(rid, robot.stream, self.follow_path(release, epoch_s, rid))

    def follow_path(self, release: Release, epoch_s: float, robot_id: str = "") -> FollowPath:
        """The command for newly released cells: cell centres, planned times, speed limits."""
        grid, step_s = self.site.grid, self.site.step_s
        epoch, known = self._waypoints.get(robot_id, (epoch_s, {}))
        if epoch != epoch_s:
            known = {}
        visits = list(zip(release.cells, release.steps, strict=True)) + list(
            zip(release.planned, release.planned_steps, strict=True))
        new = [visit for visit in visits if visit not in known]
        if new:
            cells = [cell for cell, _ in new]
            xs, ys = grid.centers_of(cells)
            rc = np.asarray(cells, dtype=np.int64)
            limits = grid.speed_limit_mps[rc[:, 0], rc[:, 1]]
            limits = np.where(np.isfinite(limits), limits, 0.0)
            for visit, x, y, limit in zip(new, xs.tolist(), ys.tolist(), limits.tolist(),
                                          strict=True):
                known[visit] = TimedWaypoint(x, y, 0.0, epoch_s + visit[1] * step_s, limit)
        out = [known[visit] for visit in visits]
        if robot_id:
            self._waypoints[robot_id] = (epoch_s, dict(zip(visits, out, strict=True)))
        released = len(release.cells)
        return FollowPath(release.path_id, release.first_index, tuple(out[:released]),
                          release.complete, tuple(out[released:]))

    # -- inside ----------------------------------------------------------------------------
    def _planning_order(self) -> list[str]:
        def key(rid: str) -> tuple[int, int, str]:
            work = self.robots[rid].work
            if work is None or work.key is None:
                return (1, 0, rid)
            record = self.state.missions[work.key.mission_id]
            return (0, -record.mission.priority, f"{record.order:09d}{rid}")
        return sorted((rid for rid, r in self.robots.items() if r.work is not None), key=key)

    def _mark_started(self, robot: RobotRecord, work: Work, now: float) -> None:
        if work.key is None or self.state.task(work.key).state is TaskState.ACTIVE:
            return
        self.journal.emit(MissionEvent(EventKind.STARTED, work.key.mission_id, now,
                                       work.key.task_id, robot.spec.id))

    def _step_done(self, robot: RobotRecord, work: Work, now: float) -> None:
        step = work.current
        work.path_id, work.action_sent = "", False
        if work.detour is not None:
            work.detour = None
            return
        work.index += 1
        key = work.key
        if key is None:
            if work.index >= len(work.steps):
                robot.work = None
                self.sync({robot.spec.id})
            return
        rid = robot.spec.id
        self.journal.emit(MissionEvent(EventKind.STEP_DONE, key.mission_id, now, key.task_id,
                                       rid, work.index - 1, step.name))
        self._learn_pace(robot, key, work.index - 1, now)
        if work.index < len(work.steps):
            return
        self.journal.emit(MissionEvent(EventKind.TASK_DONE, key.mission_id, now, key.task_id,
                                       rid))
        record = self.state.missions[key.mission_id]
        if all(t.state is TaskState.DONE for t in record.tasks.values()):
            self.journal.emit(MissionEvent(EventKind.COMPLETED, key.mission_id, now))
            self.estimates.forget(key.mission_id)

    def _learn_pace(self, robot: RobotRecord, key: TaskKey, done: int, now: float) -> None:
        """A transport's drive from pickup to dropoff, timed from the pick to the arrival,
        teaches the estimates how fast this kind of robot really gets across the floor."""
        task = self.state.task(key).task
        rid = robot.spec.id
        if task.kind is not TaskKind.TRANSPORT:
            return
        if done == TransportStep.PICK:
            self._loaded_since[rid] = (key, now)
            return
        since = self._loaded_since.pop(rid, None)
        if done == TransportStep.GO_TO_DROPOFF and since is not None and since[0] == key:
            metres = self.site.travel.between_m(task.pickup, task.dropoff)
            self.estimates.pace.observe(robot.spec.kind, metres, robot.spec.max_speed_mps,
                                        now - since[1])

    def _isolate(self, robot: RobotRecord, now: float, err: Exception) -> None:
        """A robot's work raised: its mission fails with the error, the fleet goes on."""
        work = self.failures.drop_work(robot)
        rid = robot.spec.id
        if work is None or work.key is None:
            log.exception("robot %s: its errand failed; dropped", rid)
            return
        record = self.state.missions[work.key.mission_id]
        log.exception("robot %s: task %s raised; its mission fails", rid, work.key)
        if not record.state.finished:
            self.failures.fail_mission(record, f"internal error while carrying out task "
                                       f"{work.key.task_id} on robot {rid}: {err!r}",
                                       work.key.task_id, now)
