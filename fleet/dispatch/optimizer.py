"""Production-aware assignment: the Hungarian method over ready tasks and robots.

Rows are ready tasks, columns are robots: free ones, and busy ones that will finish soon (a
task given to a busy robot waits in its queue; that is how follow-up tasks are inserted).
Each entry is what the pair costs in seconds:

    cost = approach (wait until free + drive to the first station) + work
           + battery (using a low battery) + lateness (expected tardiness of the mission)
           - priority - urgency (little deadline slack) - tail (work left after it) - waiting

The last four terms do not depend on the robot; with more tasks than robots they decide which
tasks get one now. Pairs the robot cannot do (capability, payload, program, cell) or cannot
afford (it would not reach a charger above its reserve afterwards) are left out.
`scipy.optimize.linear_sum_assignment` finds the cheapest matching; the coordinator calls it
again whenever tasks become ready, robots free up or robots fail.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from scipy.optimize import linear_sum_assignment

from fleet.dispatch.costs import CostWeights, TaskEstimate, affordable, estimate
from fleet.dispatch.nearest import Assignment, Candidate, Job, assign_nearest, capable
from fleet.dispatch.travel import Travel
from fleet.model import RobotKind

__all__ = ["CostTerms", "Dispatcher", "NearestDispatcher", "OptimalDispatcher"]

_INFEASIBLE = 1e12


class Dispatcher(Protocol):
    """Decides who does which ready task; pure: no I/O, no clock (time comes in as `now_s`)."""

    name: str

    def assign(self, jobs: Sequence[Job], robots: Sequence[Candidate], now_s: float,
               travel: Travel) -> list[Assignment]:
        """Assignments for some of the jobs; a busy robot (free_in_s > 0) queues its job."""
        ...


@dataclass(frozen=True, slots=True)
class CostTerms:
    """One entry of the cost matrix, term by term (seconds), for the events' explanation."""

    approach_s: float
    work_s: float
    battery_s: float
    late_s: float
    priority_s: float
    urgency_s: float
    tail_s: float
    waiting_s: float

    @property
    def total(self) -> float:
        """The entry itself."""
        return (self.approach_s + self.work_s + self.battery_s + self.late_s - self.priority_s
                - self.urgency_s - self.tail_s - self.waiting_s)

    def explain(self) -> str:
        """The terms as a person reads them."""
        return (f"cost {self.total:.0f} s = approach {self.approach_s:.0f} + work "
                f"{self.work_s:.0f} + battery {self.battery_s:.0f} + late {self.late_s:.0f} "
                f"- priority {self.priority_s:.0f} - urgency {self.urgency_s:.0f} - tail "
                f"{self.tail_s:.0f} - waiting {self.waiting_s:.0f}")


@dataclass(slots=True)
class OptimalDispatcher:
    """The Hungarian method over ready tasks and free or soon-free robots; see the module."""

    weights: CostWeights = field(default_factory=CostWeights)
    name: str = "optimal"

    def assign(self, jobs: Sequence[Job], robots: Sequence[Candidate], now_s: float,
               travel: Travel) -> list[Assignment]:
        """The cheapest matching of jobs to robots, each with its cost terms as the reason."""
        if not jobs or not robots:
            return []
        terms = self.costs(jobs, robots, now_s, travel)
        matrix = np.full((len(jobs), len(robots)), _INFEASIBLE)
        for (i, j), entry in terms.items():
            matrix[i, j] = entry.total
        rows, cols = linear_sum_assignment(matrix)
        out = []
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
            t = terms.get((i, j))
            if t is None:
                continue
            robot = robots[j]
            queued = (f"; queued behind its current task (free in {robot.free_in_s:.0f} s)"
                      if robot.free_in_s > 0 else "")
            out.append(Assignment(jobs[i], robot.spec.id,
                                  f"optimal assignment of {len(jobs)} ready tasks to "
                                  f"{len(robots)} robots: {t.explain()}{queued}"))
        return out

    def costs(self, jobs: Sequence[Job], robots: Sequence[Candidate], now_s: float,
              travel: Travel) -> dict[tuple[int, int], CostTerms]:
        """The feasible entries of the cost matrix, by (job index, robot index)."""
        w = self.weights
        cells = np.array([r.cell for r in robots], dtype=np.int64).reshape(-1, 2)
        speeds = [r.spec.max_speed_mps * w.speed_factor for r in robots]
        estimates: dict[str, TaskEstimate] = {}
        out: dict[tuple[int, int], CostTerms] = {}
        for i, job in enumerate(jobs):
            task = job.task
            work = estimate(task, travel, w)
            estimates[job.task.id] = work
            approach_m = (travel.from_cells_m(cells, job.first_station) if job.first_station
                          else np.zeros(len(robots)))
            priority = w.priority_s * job.priority
            waiting = w.waiting * max(0.0, now_s - job.ready_s)
            tail = w.tail * job.tail_s
            for j, robot in enumerate(robots):
                if not capable(robot, task):
                    continue
                metres = 0.0 if robot.spec.kind is RobotKind.FIXED_WELDER else float(
                    approach_m[j])
                if not math.isfinite(metres):
                    continue
                ok, after = affordable(robot.spec, robot.battery, metres, work, travel)
                if not ok:
                    continue
                approach = robot.free_in_s + metres / speeds[j]
                work_s = work.seconds(speeds[j])
                late = urgency = 0.0
                if job.deadline_s is not None:
                    finish = now_s + approach + work_s + job.tail_s
                    late = w.lateness * max(0.0, finish - job.deadline_s)
                    slack = job.deadline_s - (now_s + work_s + job.tail_s)
                    urgency = w.urgency * min(w.urgency_horizon_s,
                                              max(0.0, w.urgency_horizon_s - slack))
                battery = w.battery_s * (1.0 - max(0.0, min(1.0, after)))
                out[i, j] = CostTerms(approach, work_s, battery, late, priority, urgency, tail,
                                      waiting)
        return out


@dataclass(slots=True)
class NearestDispatcher:
    """The greedy baseline behind the same protocol: free robots only, nearest first.

    It keeps the battery rule (no job a robot cannot finish and still reach a charger), so
    the benchmark compares assignment policies, not who strands more robots.
    """

    weights: CostWeights = field(default_factory=CostWeights)
    name: str = "nearest"

    def assign(self, jobs: Sequence[Job], robots: Sequence[Candidate], now_s: float,
               travel: Travel) -> list[Assignment]:
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
