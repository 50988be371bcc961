"""Production-aware assignment: the Hungarian method over ready tasks and robots.

Rows are ready tasks, columns are robots: free ones, and busy ones that will finish soon (a
task given to a busy robot waits in its queue; that is how follow-up tasks are inserted).
Each entry is what the pair costs in seconds:

    cost = approach (wait until free + drive to the first station) + work
           + battery (using a low battery) + lateness (expected tardiness of the mission)
           + scarce (the robot is needed for work to come that few robots can do)
           - priority - urgency (little deadline slack) - tail (work left after it, and
           work waiting for the cell it feeds or empties) - waiting - keep (the robot
           already holds this job)

The last four terms do not depend on the robot; with more tasks than robots they decide which
tasks get one now. Pairs the robot cannot do (capability, payload, program, cell) or cannot
afford (it would not reach a charger above its reserve afterwards) are left out.
`scipy.optimize.linear_sum_assignment` finds the cheapest matching; the coordinator calls it
again whenever tasks become ready, robots free up or robots fail.

Work given out ahead (`OptimalDispatcher.lookahead_s`) is not final while its robot only
drives there or waits: the caller offers it again with `Job.holder` set and the holder as a
free robot where it stands, so a job seen later that matters more (the cell the line waits
on) can take the holder, and the held job goes to another robot or back to the queue. The
keep term makes a swap pay for itself first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from fleet.dispatch.costs import DETOUR, CostWeights, affordable, estimate
from fleet.dispatch.inputs import Outlook
from fleet.dispatch.nearest import (
    Abilities,
    Assignment,
    Candidate,
    Job,
    assign_nearest,
    capable,
)
from fleet.dispatch.travel import Travel
from fleet.model import RobotKind, battery_model

__all__ = ["CostTerms", "Dispatcher", "NearestDispatcher", "OptimalDispatcher"]

_INFEASIBLE = 1e12


class Dispatcher(Protocol):
    """Decides who does which ready task; pure: no I/O, no clock (time comes in as `now_s`).

    The coordinator reads `weights` (its estimates use the same cost model) and
    `lookahead_s` (how far ahead it offers the weld cells' work, 0 for ready work only).
    A dispatcher that `schedules_ahead` is passed `outlook`, all the known work beyond the
    round's jobs (missions not ready yet, loads in the cells), and keeps the holding cells'
    room itself: the round offers every transport into a cell with room, not only as many
    as the cell has places, and the dispatcher gives out no more than fit. One that has
    `delay_lookahead` is also offered, within `lookahead_s`, the transports whose
    dependencies are done and whose start delay (paint, curing) is still running.
    """

    name: str
    weights: CostWeights
    lookahead_s: float
    schedules_ahead: bool
    delay_lookahead: bool

    def assign(self, jobs: Sequence[Job], robots: Sequence[Candidate], now_s: float,
               travel: Travel, outlook: Outlook | None = None) -> list[Assignment]:
        """Assignments for some of the jobs; a busy robot (free_in_s > 0) queues its job."""
        ...


@dataclass(frozen=True, slots=True)
class CostTerms:
    """One entry of the cost matrix, term by term (seconds), for the events' explanation."""

    approach_s: float
    wait_s: float
    work_s: float
    battery_s: float
    late_s: float
    scarce_s: float
    priority_s: float
    urgency_s: float
    tail_s: float
    waiting_s: float
    keep_s: float = 0.0

    @property
    def total(self) -> float:
        """The entry itself."""
        return (self.approach_s + self.wait_s + self.work_s + self.battery_s + self.late_s
                + self.scarce_s - self.priority_s - self.urgency_s - self.tail_s - self.waiting_s
                - self.keep_s)

    def explain(self) -> str:
        """The terms as a person reads them."""
        return (f"cost {self.total:.0f} s = approach {self.approach_s:.0f} + wait "
                f"{self.wait_s:.0f} + work "
                f"{self.work_s:.0f} + battery {self.battery_s:.0f} + late {self.late_s:.0f} "
                + (f"+ scarce {self.scarce_s:.0f} " if self.scarce_s else "") +
                f"- priority {self.priority_s:.0f} - urgency {self.urgency_s:.0f} - tail "
                f"{self.tail_s:.0f} - waiting {self.waiting_s:.0f}"
                + (f" - keep {self.keep_s:.0f}" if self.keep_s else ""))


@dataclass(slots=True)
class OptimalDispatcher:
    """The Hungarian method over ready tasks and free or soon-free robots; see the module."""

    weights: CostWeights = field(default_factory=CostWeights)
    name: str = "optimal"
    schedules_ahead: bool = False
    delay_lookahead: bool = False
    insertion: bool = True
    """Also consider busy robots (their job is queued); False: free robots only."""
    lookahead_s: float = 120.0
    """Also consider the weld cells' work that will be ready within this many seconds (a
    weld whose part is on its way, a transport out of a cell whose weld is under way): its
    robot sets off now and waits next to the cell, so the fixture does not stand still while
    a welder or an AGV crosses the floor. 0: ready tasks only. The coordinator offers such
    tasks with `Job.ready_in_s` > 0 and holds them back until they are ready."""

    def assign(self, jobs: Sequence[Job], robots: Sequence[Candidate], now_s: float,
               travel: Travel, outlook: Outlook | None = None) -> list[Assignment]:
        """The cheapest matching of jobs to robots, each with its cost terms as the reason."""
        if not self.insertion:
            robots = [r for r in robots if r.free_in_s <= 0]
        jobs = [j for j in jobs if j.ready_in_s <= self.lookahead_s or j.holder]
        if not jobs or not robots:
            return []
        terms = self.cost_terms(jobs, robots, now_s, travel)
        total = terms.total()
        feasible = np.isfinite(total)
        matrix = np.where(feasible, total, _INFEASIBLE)
        rows, cols = linear_sum_assignment(matrix)
        out = []
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
            if not feasible[i, j]:
                continue
            robot = robots[j]
            queued = (f"; queued behind its current task (free in {robot.free_in_s:.0f} s)"
                      if robot.free_in_s > 0 else "")
            ahead = (f"; ready in {jobs[i].ready_in_s:.0f} s: it waits next to "
                     f"{jobs[i].first_station or 'its cell'} until then"
                     if jobs[i].ready_in_s > 0 else "")
            out.append(Assignment(jobs[i], robot.spec.id,
                                  f"optimal assignment of {len(jobs)} tasks to "
                                  f"{len(robots)} robots: {terms.at(i, j).explain()}{queued}"
                                  f"{ahead}"))
        return out

    def costs(self, jobs: Sequence[Job], robots: Sequence[Candidate], now_s: float,
              travel: Travel) -> dict[tuple[int, int], CostTerms]:
        """The feasible entries of the cost matrix, by (job index, robot index)."""
        terms = self.cost_terms(jobs, robots, now_s, travel)
        rows, cols = np.nonzero(np.isfinite(terms.total()))
        return {(i, j): terms.at(i, j) for i, j in zip(rows.tolist(), cols.tolist(),
                                                        strict=True)}

    def cost_terms(self, jobs: Sequence[Job], robots: Sequence[Candidate], now_s: float,
                   travel: Travel) -> _Terms:
        """Every term for every (job, robot), as arrays; infeasible pairs are inf."""
        w = self.weights
        n, m = len(jobs), len(robots)
        cells = np.array([r.cell for r in robots], dtype=np.int64).reshape(-1, 2)
        speed = np.array([r.spec.max_speed_mps * w.speed_factor for r in robots])
        free_in = np.array([r.free_in_s for r in robots])
        battery = np.array([r.battery for r in robots])
        fixed = np.array([r.spec.kind is RobotKind.FIXED_WELDER for r in robots])
        models = [battery_model(r.spec.kind) for r in robots]
        per_m = np.array([b.per_m for b in models])
        per_idle = np.array([b.per_idle_s for b in models])
        per_weld_s = np.array([b.per_weld_min / 60.0 for b in models])
        reserve = np.array([b.reserve for b in models])
        ids = np.array([r.spec.id for r in robots])
        reserved = np.array([r.reserved_s for r in robots])
        t = _Terms.empty(n, m)
        abilities = Abilities(robots)
        for i, job in enumerate(jobs):
            task = job.task
            able = abilities.of(task)
            if not able.any():
                continue
            work = estimate(task, travel, w)
            metres = (travel.from_cells_m(cells, job.first_station) if job.first_station
                      else np.zeros(m))
            metres = np.where(fixed, 0.0, metres)
            # Battery: the job, then the way to a charger, must leave the reserve.
            after = (battery - per_m * DETOUR * (metres + work.drive_m)
                     - per_idle * work.handling_s - per_weld_s * work.weld_s)
            home = per_m * DETOUR * travel.to_charger_m(work.end_station)
            ok = able & np.isfinite(metres) & ((after - home >= reserve) | fixed)
            if not ok.any():
                continue
            arrive = free_in + np.where(np.isfinite(metres), metres, 0.0) / speed
            approach = np.maximum(arrive, job.ready_in_s)
            work_s = work.drive_m / speed + work.handling_s + work.weld_s
            fastest = work.drive_m / speed[able].max() + work.handling_s + work.weld_s
            late = np.zeros(m)
            urgency = 0.0
            if job.deadline_s is not None:
                # Lateness counts only as far as robots differ (the job is as late whoever
                # does it); how late it already runs is a bonus for doing it now: with more
                # jobs than robots, the one closest to (or furthest past) its deadline first.
                late = w.lateness * np.maximum(0.0, now_s + approach + work_s + job.tail_s
                                               - job.deadline_s)
                late = late - (late[ok].min() if ok.any() else 0.0)
                slack = job.deadline_s - (now_s + fastest + job.tail_s)
                urgency = w.urgency * max(0.0, w.urgency_horizon_s - slack)
            inf = np.where(ok, 0.0, np.inf)
            t.approach[i] = arrive + inf
            t.wait[i] = approach - arrive
            # Only what differs between robots counts as work: the task's own length must
            # not decide which tasks go first (that would starve long jobs).
            t.work[i] = work_s - fastest
            t.battery[i] = np.where(fixed, 0.0, w.battery_s * (1.0 - np.clip(after, 0.0, 1.0)))
            t.late[i] = late
            t.scarce[i] = w.scarce * (reserved - reserved[ok].min())
            t.priority[i] = w.priority_s * job.priority
            t.urgency[i] = urgency
            t.tail[i] = w.tail * job.tail_s + w.backlog * job.backlog_s
            t.waiting[i] = w.waiting * max(0.0, now_s - job.ready_s)
            if job.holder:
                t.keep[i] = np.where(ids == job.holder, w.keep_s, 0.0)
        return t


@dataclass(slots=True)
class _Terms:
    """The cost matrix term by term: arrays of (jobs, robots), seconds."""

    approach: npt.NDArray[np.float64]
    wait: npt.NDArray[np.float64]
    work: npt.NDArray[np.float64]
    battery: npt.NDArray[np.float64]
    late: npt.NDArray[np.float64]
    scarce: npt.NDArray[np.float64]
    priority: npt.NDArray[np.float64]
    urgency: npt.NDArray[np.float64]
    tail: npt.NDArray[np.float64]
    waiting: npt.NDArray[np.float64]
    keep: npt.NDArray[np.float64]

    @classmethod
    def empty(cls, n: int, m: int) -> _Terms:
        approach = np.full((n, m), np.inf)
        return cls(approach, *(np.zeros((n, m)) for _ in range(10)))

    def total(self) -> npt.NDArray[np.float64]:
        return np.asarray(self.approach + self.wait + self.work + self.battery + self.late
                          + self.scarce - self.priority - self.urgency - self.tail - self.waiting
                          - self.keep)

    def at(self, i: int, j: int) -> CostTerms:
        return CostTerms(*(float(getattr(self, f)[i, j]) for f in (
            "approach", "wait", "work", "battery", "late", "scarce", "priority", "urgency", "tail",
            "waiting", "keep")))


@dataclass(slots=True)
class NearestDispatcher:
    """The greedy baseline behind the same protocol: free robots only, nearest first.

    It keeps the battery rule (no job a robot cannot finish and still reach a charger), so
    the benchmark compares assignment policies, not who strands more robots.
    """

    weights: CostWeights = field(default_factory=CostWeights)
    name: str = "nearest"
    schedules_ahead: bool = False
    delay_lookahead: bool = False
    lookahead_s: float = 0.0
    """The greedy baseline offers ready work only."""

    def assign(self, jobs: Sequence[Job], robots: Sequence[Candidate], now_s: float,
               travel: Travel, outlook: Outlook | None = None) -> list[Assignment]:
        """Each job, by priority, deadline and submission, to the nearest capable free robot."""
        free = [r for r in robots if r.free_in_s <= 0]
        by_id = {r.spec.id: r for r in free}
        works = {id(j): estimate(j.task, travel, self.weights) for j in jobs}

        def metres(robot_id: str, station_id: str) -> float:
            robot = by_id[robot_id]
            cells = np.array([robot.cell], dtype=np.int64)
            return float(travel.from_cells_m(cells, station_id)[0])

        out: list[Assignment] = []
        order = sorted(jobs, key=lambda j: (-j.priority,
                                            math.inf if j.deadline_s is None else j.deadline_s,
                                            j.order))
        for job in order:
            work = works[id(job)]
            able = []
            for robot in by_id.values():
                approach = (0.0 if robot.spec.kind is RobotKind.FIXED_WELDER
                            or not job.first_station or not capable(robot, job.task)
                            else metres(robot.spec.id, job.first_station))
                if affordable(robot.spec, robot.battery, approach, work, travel)[0]:
                    able.append(robot)
            for a in assign_nearest([job], able, metres):
                del by_id[a.robot_id]
                out.append(a)
        return out
