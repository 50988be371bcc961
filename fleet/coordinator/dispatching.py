"""One dispatch round: pinned tasks, charging, then the dispatcher over ready jobs and robots.

The coordinator's side of dispatch: it gathers the dispatcher's inputs from live state (the
jobs of `fleet.dispatch.inputs.Round`, the candidate robots with their estimates), applies
the decisions as ASSIGNED and UNASSIGNED events, and sends robots to charge. The policy itself
lives in `fleet.dispatch`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence

from fleet.coordinator.estimates import Estimates
from fleet.coordinator.failures import Failures
from fleet.coordinator.journal import Journal
from fleet.coordinator.robots import RobotRecord, resting_cell, standing_cell
from fleet.coordinator.site import Site
from fleet.coordinator.state import FleetState
from fleet.coordinator.work import Act, Go, Work, steps_for
from fleet.dispatch import (
    PINNED_KINDS,
    AbleMemo,
    Assignment,
    Candidate,
    Dispatcher,
    Inventory,
    Job,
    Outlook,
    Round,
    capable,
    may_begin,
    may_charge,
    plan_charging,
    reserved_shares,
    work_to_come,
)
from fleet.floor import StationKind
from fleet.model import (
    ActionKind,
    EventKind,
    MissionEvent,
    MissionRecord,
    RobotMode,
    TaskKey,
    TaskKind,
    TaskState,
    battery_model,
)
from fleet.traffic import Traffic

__all__ = ["Dispatching", "UnderWay"]

log = logging.getLogger(__name__)


class UnderWay(Mapping[TaskKey, float]):
    """The tasks that are some robot's current work, with the seconds each has left
    (worked out only when asked)."""

    def __init__(self, robots: Mapping[str, RobotRecord], estimates: Estimates) -> None:
        self._robots = {r.work.key: r for r in robots.values()
                        if r.work is not None and r.work.key is not None and r.state is not None}
        self._estimates = estimates
        self._seconds: dict[TaskKey, float] = {}

    def __getitem__(self, key: TaskKey) -> float:
        if key not in self._seconds:
            self._seconds[key] = self._estimates.current(self._robots[key])[0]
        return self._seconds[key]

    def __contains__(self, key: object) -> bool:
        return key in self._robots

    def __iter__(self) -> Iterator[TaskKey]:
        return iter(self._robots)

    def __len__(self) -> int:
        return len(self._robots)


class Dispatching:
    """Runs a dispatch round each control step (see the module)."""

    def __init__(self, site: Site, state: FleetState, robots: Mapping[str, RobotRecord],
                 traffic: Traffic, journal: Journal, estimates: Estimates, failures: Failures,
                 dispatcher: Dispatcher, incarnation: str) -> None:
        self.site = site
        self.state = state
        self.robots = robots
        self.traffic = traffic
        self.journal = journal
        self.estimates = estimates
        self.failures = failures
        self.dispatcher = dispatcher
        self.inventory = Inventory(site.stations, state.contents)
        self._incarnation = incarnation
        self._charges = 0
        self._able: AbleMemo = {}
        """`capable`'s answers per capability class and kind of task, across rounds."""
        self._stubs: dict[str, Candidate] = {}
        """Each robot as `reserved_shares` reads it (see `_stub`)."""

    def dispatch(self, now: float) -> None:
        """Charge robots that need it, then let the dispatcher match ready tasks and robots."""
        pinned = self._assign_pinned(now)
        held = self._held(now)
        jobs, outlook = self._ready_jobs(now, held)
        candidates = [c for c in self._candidates(set(held.values()), now, shares=bool(jobs))
                      if c.spec.id not in pinned]
        # Only robots with no work at all may be sent to charge: a busy robot whose time
        # estimate has run out is still busy, and its task must not be overwritten.
        free = [c for c in candidates
                if c.free_in_s <= 0 and self.robots[c.spec.id].work is None]
        if free:
            charging = self._send_to_charge(free, jobs)
            candidates = [c for c in candidates if c.spec.id not in charging]
        if not jobs or not candidates:
            return
        out = self._assign(jobs, candidates, now, outlook)
        given = {(a.job.mission_id, a.job.task.id): a.robot_id for a in out}
        got = {a.robot_id: (a.job.mission_id, a.job.task.id) for a in out}
        for key, rid in held.items():
            # A held task stays with its robot unless the robot got other work or the task
            # another robot; then it goes back (and may be given out again just below).
            pair = (key.mission_id, key.task_id)
            if got.get(rid, pair) != pair or given.get(pair, rid) != rid:
                other = got.get(rid)
                reason = (f"re-optimized: robot {rid} takes {other[0]}/{other[1]} instead"
                          if other is not None and other != pair else
                          f"re-optimized: robot {given[pair]} takes it over")
                self.failures.give_back(rid, key, now, reason, routine=True)
        for a in out:
            if a.job.holder and a.job.holder == a.robot_id:
                continue
            self.journal.emit(MissionEvent(EventKind.ASSIGNED, a.job.mission_id, now,
                                           a.job.task.id, a.robot_id,
                                           detail=f"{self.dispatcher.name}: {a.reason}"))

    # -- the dispatcher's inputs ------------------------------------------------------------
    def _ready_jobs(self, now: float, held: Mapping[TaskKey, str]
                    ) -> tuple[list[Job], Outlook | None]:
        """The jobs to offer (see `Round`), and for a dispatcher that schedules ahead all
        the known work; a mission whose jobs cannot be worked out fails, alone."""
        under_way = UnderWay(self.robots, self.estimates)

        def round_of(missions: Sequence[MissionRecord]) -> Round:
            return Round(missions, self.inventory, under_way, self.estimates.tail, now,
                         self.dispatcher.lookahead_s, held,
                         claim_room=not self.dispatcher.schedules_ahead,
                         delay_lookahead=self.dispatcher.delay_lookahead)
        missions = list(self.state.open_missions())
        try:
            view = round_of(missions)
        except Exception:
            log.exception("the dispatch round could not be set up; finding the mission")
            good = []
            for record in missions:
                try:
                    round_of([record])
                    good.append(record)
                except Exception as err:
                    self._offer_failed(record, err, now)
            missions = good
            view = round_of(missions)
        jobs: list[Job] = []
        for record in missions:
            try:
                jobs.extend(view.jobs_of(record))
            except Exception as err:  # one bad mission must not stop the fleet
                log.exception("mission %s: its tasks could not be offered", record.mission.id)
                self._offer_failed(record, err, now)
        if not self.dispatcher.schedules_ahead:
            return jobs, None
        return jobs, view.outlook(self.estimates.pace.factors())

    def _offer_failed(self, record: MissionRecord, err: Exception, now: float) -> None:
        self.failures.fail_mission(record, "internal error while offering its tasks to the "
                                   f"dispatcher: {err!r}", "", now)

    def _assign(self, jobs: Sequence[Job], candidates: Sequence[Candidate],
                now: float, outlook: Outlook | None = None) -> list[Assignment]:
        """The dispatcher's decisions; if it raises, the missions whose jobs make it raise
        fail (each tried alone) and the others are assigned without them."""
        try:
            return self._ask(jobs, candidates, now, outlook)
        except Exception:
            log.exception("the dispatcher raised over %d jobs; finding the mission", len(jobs))
        bad: set[str] = set()
        for mission_id in sorted({j.mission_id for j in jobs}):
            try:
                self._ask([j for j in jobs if j.mission_id == mission_id], candidates, now,
                          outlook)
            except Exception as err:
                bad.add(mission_id)
                self.failures.fail_mission(self.state.missions[mission_id],
                                           f"internal error in the dispatcher: {err!r}", "", now)
        return self._ask([j for j in jobs if j.mission_id not in bad], candidates, now,
                         outlook)

    def _ask(self, jobs: Sequence[Job], candidates: Sequence[Candidate], now: float,
             outlook: Outlook | None) -> list[Assignment]:
        """The dispatcher's call; the outlook only for one that schedules ahead."""
        travel = self.site.travel
        if self.dispatcher.schedules_ahead:
            return self.dispatcher.assign(jobs, candidates, now, travel, outlook)
        return self.dispatcher.assign(jobs, candidates, now, travel)

    def _held(self, now: float) -> dict[TaskKey, str]:
        """Welds given out ahead that their robot has not begun: the welder only drives to
        the cell or waits next to it for the part. The dispatcher sees them again each round
        (`Job.holder`), so a weld that matters more, seen since, can take the welder.

        Transports given out ahead stay final: a part staged next to a full cell counts on
        the robot taking the part in it out, and must never wait on a take-out given back.
        """
        if self.dispatcher.lookahead_s <= 0:
            return {}
        out: dict[TaskKey, str] = {}
        for rid in sorted(self.robots):
            robot = self.robots[rid]
            work = robot.work
            if (work is None or work.key is None or work.index != 0 or self.state.queued(rid)
                    or not robot.working or robot.state is None or robot.state.load_id
                    or not self.failures.untouched(robot, work)):
                continue
            record = self.state.missions[work.key.mission_id]
            task = record.tasks[work.key.task_id].task
            if task.kind is not TaskKind.WELD or may_begin(record, task, now, self.inventory):
                continue
            out[work.key] = rid
        return out

    def _candidates(self, holders: set[str], now: float, shares: bool) -> list[Candidate]:
        """Free robots, busy ones whose queue is empty (they may take a follow-up), and the
        `holders` of work given out ahead (free where they stand, to keep it or switch),
        each with its share of the work to come that few robots can do (if `shares`: only
        the dispatcher needs them)."""
        out = []
        reserved = self._reserved(now) if shares else {}
        for rid in sorted(self.robots):
            robot = self.robots[rid]
            if not robot.working or robot.state is None or self.state.queued(rid):
                continue
            battery = robot.state.battery
            share = reserved.get(rid, 0.0)
            if rid in holders:
                out.append(Candidate(robot.spec, robot.home_station,
                                     standing_cell(robot, self.site, self.traffic), 0.0,
                                     battery, share))
            elif robot.work is None:
                if self.available(robot):
                    out.append(Candidate(robot.spec, robot.home_station,
                                         resting_cell(robot, self.site, self.traffic), 0.0,
                                         battery, share))
            elif robot.work.key is not None and robot.work.detour is None:
                free_in_s, cell, after = self.estimates.current(robot)
                # A robot that will need a charger next gets nothing queued.
                if after >= battery_model(robot.spec.kind).go_charge_below:
                    out.append(Candidate(robot.spec, robot.home_station, cell, free_in_s,
                                         after, share))
        return out

    def _reserved(self, now: float) -> dict[str, float]:
        """`Candidate.reserved_s` of every working robot: the released missions' tasks not
        given out yet, split among the robots able to do them."""
        fleet = [self._stub(r) for r in self.robots.values()
                 if r.connected and r.state is not None and r.state.mode is not RobotMode.FAULT]
        work = work_to_come(list(self.state.open_missions()), now, self.estimates.task_seconds)
        return reserved_shares(work, fleet, capable, memo=self._able)

    def _stub(self, robot: RobotRecord) -> Candidate:
        """The robot as `reserved_shares` reads it (its spec and home), made again only
        when it registers anew."""
        stub = self._stubs.get(robot.spec.id)
        if stub is None or stub.spec is not robot.spec or stub.home_station != robot.home_station:
            stub = self._stubs[robot.spec.id] = Candidate(robot.spec, robot.home_station)
        return stub

    def available(self, robot: RobotRecord) -> bool:
        """Free for a new task: connected, no work, no fault, nothing on board, standing."""
        if not robot.connected or robot.state is None or robot.work is not None:
            return False
        if robot.state.mode is RobotMode.FAULT or robot.state.load_id:
            return False
        return not robot.placed or self.traffic.arrived(robot.spec.id)

    # -- pinned tasks and charging ---------------------------------------------------------
    def _assign_pinned(self, now: float) -> set[str]:
        """Ready charge and park tasks go to the robot their mission names once it is free
        and the station is too; returns the robots still waiting for theirs, which get no
        other work meanwhile."""
        waiting: set[str] = set()
        claims: dict[str, set[str]] | None = None
        for record in self.state.open_missions():
            if not record.released(now):
                continue
            for task in record.tasks.values():
                t = task.task
                if t.kind not in PINNED_KINDS or task.state is not TaskState.PENDING or \
                        not may_begin(record, t, now, self.inventory):
                    continue
                robot = self.robots.get(t.robot)
                if claims is None:
                    claims = self.claims()
                if (robot is None or not self.available(robot) or robot.hold
                        or self.state.queued(t.robot) or robot.state is None
                        or robot.state.mode is RobotMode.PAUSED
                        or not self.free_of_others(claims, t.cell, t.robot)):
                    waiting.add(t.robot)
                    continue
                claims.setdefault(t.cell, set()).add(t.robot)
                self.journal.emit(MissionEvent(
                    EventKind.ASSIGNED, record.mission.id, now, t.id, t.robot,
                    detail=f"the mission names robot {t.robot} for this {t.kind.value} at "
                           f"{t.cell}"))
        return waiting

    def _send_to_charge(self, free: Sequence[Candidate], jobs: Sequence[Job]) -> set[str]:
        """Robots without work that need a charger go to a free one; returns them."""
        # Only those `plan_charging` could send: the others cost no pass over the claims.
        free = [c for c in free if may_charge(c)]
        if not free:
            return set()
        on_charger = {c.spec.id: s for c in free
                      for s in self._stations_at(self.robots[c.spec.id])
                      if self.site.stations[s].kind is StationKind.CHARGER}
        claims = self.claims()
        chargers = [c for c in self.site.chargers if self.free_of_others(claims, c, "")]
        orders = plan_charging(free, jobs, chargers, self.site.travel,
                               self.dispatcher.weights, on_charger)
        for order in orders:
            robot = self.robots[order.robot_id]
            self._charges += 1
            cell = self.site.station_cells[order.charger]
            robot.work = Work(None, f"{self._incarnation}/charge-{self._charges}", (
                Go(order.charger, cell, f"go to {order.charger}"),
                Act(ActionKind.CHARGE, order.charger, "charge", duration_s=order.duration_s)))
            log.info("robot %s: %s", order.robot_id, order.reason)
        return {o.robot_id for o in orders}

    def claims(self) -> dict[str, set[str]]:
        """The robots standing on each station or heading for it (in their current work or
        their queue): one pass over the robots for every station-free question of a round."""
        out: dict[str, set[str]] = {}
        cells = self.site.station_cells
        for rid, r in self.robots.items():
            if r.placed:
                for sid in self.site.stations_at(self.traffic.plan_end(rid)):
                    out.setdefault(sid, set()).add(rid)
            if r.work is not None:
                for step in r.work.remaining:
                    if isinstance(step, Go) and step.station_id:
                        out.setdefault(step.station_id, set()).add(rid)
            for key in self.state.queued(rid):
                for step in steps_for(self.state.task(key).task, r.spec.kind, cells):
                    if isinstance(step, Go):
                        out.setdefault(step.station_id, set()).add(rid)
        return out

    @staticmethod
    def free_of_others(claims: Mapping[str, set[str]], station_id: str, robot_id: str) -> bool:
        """True if no robot but `robot_id` stands on the station or is heading for it."""
        return not (claims.get(station_id, set()) - {robot_id})

    def _stations_at(self, robot: RobotRecord) -> list[str]:
        if not robot.placed:
            return []
        return self.site.stations_at(self.traffic.plan_end(robot.spec.id))

