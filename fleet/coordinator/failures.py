"""When things go wrong: tasks given back, missions failed, stopped robots planned around.

The rule for taking a task off a robot: if nothing of it has been handled yet (at most the
drive to its first station), another robot can do it from scratch, and it goes back to the
dispatcher with an UNASSIGNED event saying why; otherwise (the load is on board, the weld
under way) its mission fails, with the reason in the FAILED event.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fleet.coordinator.config import CoordinatorConfig
from fleet.coordinator.estimates import Estimates
from fleet.coordinator.journal import Journal
from fleet.coordinator.robots import RobotRecord
from fleet.coordinator.site import Site
from fleet.coordinator.state import FleetState
from fleet.coordinator.work import Work, steps_for
from fleet.model import (
    EventKind,
    MissionEvent,
    MissionRecord,
    RobotKind,
    RobotMode,
    TaskKey,
    TaskState,
    battery_model,
)
from fleet.traffic import Traffic

__all__ = ["Failures"]

log = logging.getLogger(__name__)


class Failures:
    """Give-backs, failed missions, lost robots, stopped robots and the battery guard."""

    def __init__(self, site: Site, state: FleetState, robots: Mapping[str, RobotRecord],
                 traffic: Traffic, journal: Journal, estimates: Estimates,
                 config: CoordinatorConfig) -> None:
        self.site = site
        self.state = state
        self.robots = robots
        self.traffic = traffic
        self.journal = journal
        self.estimates = estimates
        self.config = config

    # -- the rules ---------------------------------------------------------------------------
    def untouched(self, robot: RobotRecord, work: Work) -> bool:
        """Nothing of the task handled yet: no step done, no action sent or reported."""
        if work.key is None:
            return False
        reported = robot.state is not None and robot.state.action_id == work.action_id()
        return (self.state.task(work.key).steps_done == 0 and not work.action_sent
                and not reported)

    def give_back(self, robot_id: str, key: TaskKey, now: float, reason: str,
                  routine: bool = False) -> None:
        """An unstarted task goes back to the dispatcher, with an event saying why
        (`routine`: the dispatcher's own re-optimization, logged without a warning)."""
        self.journal.emit(MissionEvent(EventKind.UNASSIGNED, key.mission_id, now, key.task_id,
                                       robot_id, detail=reason))
        log.log(logging.INFO if routine else logging.WARNING,
                "%s: task %s goes back to the queue", reason, key)

    def give_back_queue(self, robot_id: str, now: float, reason: str) -> None:
        """The tasks queued behind the robot's current one go back to the dispatcher."""
        for key in self.state.queued(robot_id):
            self.give_back(robot_id, key, now, reason)

    def drop_work(self, robot: RobotRecord) -> Work | None:
        """The robot stops after what it was released; returns the work it was doing."""
        work, robot.work = robot.work, None
        if work is not None and robot.placed:
            self.traffic.hold(robot.spec.id)
        return work

    def fail_mission(self, record: MissionRecord, reason: str, task_id: str,
                     now: float) -> None:
        """The mission fails because of one of its tasks (or "" for the mission itself)."""
        self.journal.emit(MissionEvent(EventKind.FAILED, record.mission.id, now, task_id,
                                       detail=reason))
        self.estimates.forget(record.mission.id)
        log.warning("mission %s failed: %s", record.mission.id, reason)

    def robot_lost(self, robot: RobotRecord, now: float, reason: str) -> None:
        """A robot cannot go on: give back its queue and a task it has not started, fail one
        it has (the load is on board or the weld under way)."""
        rid = robot.spec.id
        self.give_back_queue(rid, now, reason)
        work = robot.work
        if work is None:
            return
        if work.key is not None and self.untouched(robot, work):
            self.give_back(rid, work.key, now, reason)
            return
        self.drop_work(robot)
        if work.key is not None:
            self.fail_mission(self.state.missions[work.key.mission_id], reason,
                              work.key.task_id, now)

    def action_failed(self, robot: RobotRecord, now: float, reason: str) -> None:
        """The robot reports its action failed: the mission fails with the reason."""
        work = robot.work
        if work is None or work.key is None:
            robot.work = None
            return
        self.fail_mission(self.state.missions[work.key.mission_id], reason, work.key.task_id,
                          now)

    # -- every step --------------------------------------------------------------------------
    def check_lost_robots(self, now: float) -> None:
        """Faulted robots lose their work at once; silent ones lose what they have not
        started after `reassign_unstarted_after_s` and the rest after `disconnect_timeout_s`."""
        for rid in sorted(self.robots):
            robot = self.robots[rid]
            if robot.work is None and not self.state.queued(rid):
                continue
            if robot.connected and robot.state is not None and \
                    robot.state.mode is RobotMode.FAULT:
                self.robot_lost(robot, now, f"robot {rid} reports a fault: "
                                f"{', '.join(robot.state.faults) or 'unspecified'}")
                continue
            if robot.connected or robot.disconnected_at is None:
                continue
            silent = now - robot.disconnected_at
            if silent >= self.config.disconnect_timeout_s:
                self.robot_lost(robot, now, f"robot {rid} disconnected for {silent:.0f} s")
            elif silent >= self.config.reassign_unstarted_after_s:
                reason = f"robot {rid} disconnected for {silent:.0f} s"
                self.give_back_queue(rid, now, reason)
                work = robot.work
                if work is not None and work.key is not None and \
                        self.state.task(work.key).state is not TaskState.ACTIVE:
                    self.give_back(rid, work.key, now, reason)

    def stopped(self, robot: RobotRecord, now: float, now_step: int) -> str:
        """Why a robot counts as stopped, or "" if it does not: not driving the cells it was
        released for `stall_s`, and by as much behind its plan (a wait its plan holds, for a
        cell others keep until later, is no stop)."""
        if not robot.connected:
            return "not connected"
        if robot.hold:
            return "paused by an operator"
        if robot.state is not None and robot.state.mode in (RobotMode.FAULT, RobotMode.PAUSED):
            return str(robot.state.mode.value)
        rid = robot.spec.id
        if self.traffic.expects_motion(rid):
            idle_s = now - robot.progress_at
            late_s = self.traffic.overdue_steps(rid, now_step) * self.site.step_s
            if min(idle_s, late_s) >= self.config.stall_s:
                return f"no progress for {idle_s:.0f} s, {late_s:.0f} s behind its plan"
        return ""

    def untangle(self, now: float, now_step: int) -> None:
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
        for rid in sorted(r for r, robot in self.robots.items() if robot.frozen):
            robot = self.robots[rid]
            if rid not in placed or not self.stopped(robot, now, now_step):
                robot.frozen = False
                log.info("robot %s moves again", rid)
        for rid, robot in placed.items():
            faulted = robot.state is not None and robot.state.mode is RobotMode.FAULT
            if faulted and not robot.frozen:
                robot.frozen = True
                cut = self.traffic.shrink(rid)
                log.warning("robot %s in fault: holding only its own cells, re-planning %s",
                            rid, ", ".join(r for r in cut if r != rid) or "nobody")
        for blockers in self.traffic.wait_for().values():
            for blocker in blockers:
                stuck = placed.get(blocker)
                if stuck is None or stuck.frozen:
                    continue
                why = self.stopped(stuck, now, now_step)
                if why:
                    stuck.frozen = True
                    cut = self.traffic.freeze(blocker)
                    log.warning("robot %s stopped (%s): re-planning %s around it", blocker,
                                why, ", ".join(r for r in cut if r != blocker) or "nobody")
        cycle = self.traffic.find_cycle(self.traffic.wait_for())
        if cycle:
            log.error("deadlock: %s wait on each other; cutting their plans back and "
                      "re-planning", " -> ".join([*cycle, cycle[0]]))
            for rid in cycle:
                self.traffic.cut(rid)

    def guard_batteries(self, now: float) -> None:
        """Never strand a robot: work its charge no longer covers goes back to the dispatcher.

        The dispatcher gives a robot only work after which it still reaches a charger above
        its reserve, but waits, detours and re-plans use charge nobody planned. A queued task
        that no longer fits is given back; so is the current one while nothing of it has been
        handled (no load on board, no action sent). The robot then charges once it stands.
        """
        for rid in sorted(self.robots):
            robot = self.robots[rid]
            work = robot.work
            if (work is None or work.key is None or robot.state is None
                    or robot.spec.kind is RobotKind.FIXED_WELDER):
                continue
            model = battery_model(robot.spec.kind)
            _, cell, after = self.estimates.current(robot)
            untouched = (self.state.task(work.key).steps_done == 0 and not work.action_sent
                         and not robot.state.load_id)
            if untouched and after - self.estimates.home_charge(robot, work.steps) < \
                    model.reserve:
                reason = (f"robot {rid}: battery {100 * robot.state.battery:.0f} % no longer "
                          f"covers task {work.key} and the way to a charger; it goes to "
                          "charge")
                self.give_back_queue(rid, now, reason)
                self.give_back(rid, work.key, now, reason)
                continue
            queued = self.state.queued(rid)
            for k, key in enumerate(queued):
                steps = steps_for(self.state.task(key).task, robot.spec.kind,
                                  self.site.station_cells)
                _, cell, after = self.estimates.after(robot, steps, cell, after)
                if after - self.estimates.home_charge(robot, steps) < model.reserve:
                    reason = (f"robot {rid}: battery {100 * robot.state.battery:.0f} % will not "
                              f"cover queued task {key} and the way to a charger")
                    for dropped in queued[k:]:
                        self.give_back(rid, dropped, now, reason)
                    break
