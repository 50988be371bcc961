"""The greedy baseline: each ready task, most urgent first, to the nearest capable free robot.

This is what many fleet managers do by default (openTCS's nearest-idle-vehicle strategy);
`fleet.dispatch.optimizer` replaces it behind the `Dispatcher` protocol and the benchmark
compares the two.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleet.model import Cell, RobotKind, RobotSpec, Task, TaskKind

__all__ = ["Abilities", "Assignment", "Candidate", "Job", "assign_nearest", "capability_key",
           "capable"]


@dataclass(frozen=True, slots=True)
class Job:
    """A task ready to start, with what orders it against others."""

    mission_id: str
    task: Task
    priority: int
    deadline_s: float | None
    order: int
    """Submission order, for ties."""
    first_station: str
    """Where a robot must go first; empty if it works where it is."""
    ready_s: float = 0.0
    """When the task became ready (dependencies done, released), seconds."""
    tail_s: float = 0.0
    """Estimated seconds of the mission's work still to do after this task (longest chain)."""
    backlog_s: float = 0.0
    """Seconds of other missions' work waiting for the cell this task feeds, works in or
    empties: high on the line's bottleneck."""
    ready_in_s: float = 0.0
    """0 for a task ready now; for one whose predecessors are under way (or whose start delay
    runs), the estimated seconds until it is ready: its robot may set off and wait there."""
    holder: str = ""
    """The robot that already holds this job, given out ahead and not begun (it is driving
    there or waiting next to the cell): the job is offered again so that a better match,
    seen since, can take its place; empty for a job nobody holds."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A robot free to take a job."""

    spec: RobotSpec
    home_station: str = ""
    """For a fixed welder, the weld cell it is bolted to."""
    cell: Cell = (0, 0)
    """The planning cell the robot stands on, or will stand on once its current task is done."""
    free_in_s: float = 0.0
    """0 for a free robot; for a busy one, the estimated seconds until its current task ends
    (a task given to it then waits in its queue)."""
    battery: float = 1.0
    """State of charge (0 to 1) now, or estimated at the end of its current task."""
    reserved_s: float = 0.0
    """Its share of the known work still to come that few robots can do (a heavy load, a
    rare weld program): seconds of each such task divided by the robots able to do it.
    A robot in demand is kept for that work when others can do the job at hand."""


@dataclass(frozen=True, slots=True)
class Assignment:
    """A decision, with the reason the events will show."""

    job: Job
    robot_id: str
    reason: str


def capable(robot: Candidate, task: Task) -> bool:
    """True if the robot can do the task at all (kind, payload, program, place)."""
    spec = robot.spec
    if task.kind is TaskKind.TRANSPORT:
        return spec.kind is not RobotKind.FIXED_WELDER and spec.can_carry(task.mass_kg)
    if not spec.can_weld(task.program):
        return False
    if spec.kind is RobotKind.FIXED_WELDER:
        return robot.home_station == task.cell
    return True


def capability_key(robot: Candidate) -> tuple[object, ...]:
    """All that `capable` reads of a robot: robots with equal keys can do the same tasks.

    A mobile robot's home station does not count (a fleet of AGVs, each with its own parking
    place, is one class); a fixed welder's does (it welds only in its cell)."""
    spec = robot.spec
    return (spec.kind, spec.transport, spec.weld,
            robot.home_station if spec.kind is RobotKind.FIXED_WELDER else "")


class Abilities:
    """Which of `robots` can do a task: `capable` asked once per capability class of robot
    and kind of task (kind, mass, program, cell), not per robot and task."""

    def __init__(self, robots: Sequence[Candidate]) -> None:
        class_of: dict[Hashable, int] = {}
        self._examples: list[Candidate] = []
        member_of = []
        for r in robots:
            c = class_of.setdefault(capability_key(r), len(self._examples))
            if c == len(self._examples):
                self._examples.append(r)
            member_of.append(c)
        self._members = np.array(member_of, dtype=np.int64)
        self._cache: dict[tuple[object, ...], npt.NDArray[np.bool_]] = {}

    def of(self, task: Task) -> npt.NDArray[np.bool_]:
        """One entry per robot, in the order given: True if it can do `task`."""
        key = (task.kind, task.mass_kg, task.program, task.cell)
        row = self._cache.get(key)
        if row is None:
            per_class = np.array([capable(r, task) for r in self._examples], dtype=bool)
            row = self._cache[key] = (per_class[self._members] if len(self._members)
                                      else np.zeros(0, dtype=bool))
        return row


def assign_nearest(jobs: Sequence[Job], robots: Sequence[Candidate],
                   travel_m: Callable[[str, str], float]) -> list[Assignment]:
    """Give each job, by priority, then deadline, then submission, the nearest capable robot.

    `travel_m(robot_id, station_id)` is the robot's path length to the station in metres
    (inf if it cannot get there). Jobs no free robot can do wait for the next round.
    """
    free = {r.spec.id: r for r in robots}
    out: list[Assignment] = []
    for job in sorted((j for j in jobs if j.ready_in_s <= 0), key=lambda j: (-j.priority,
                                           math.inf if j.deadline_s is None else j.deadline_s,
                                           j.order)):
        best: tuple[float, str] | None = None
        for robot_id in sorted(free):
            robot = free[robot_id]
            if not capable(robot, job.task):
                continue
            dist = 0.0 if not job.first_station or (
                robot.spec.kind is RobotKind.FIXED_WELDER) else travel_m(robot_id,
                                                                         job.first_station)
            if math.isfinite(dist) and (best is None or dist < best[0]):
                best = (dist, robot_id)
        if best is None:
            continue
        dist, robot_id = best
        del free[robot_id]
        out.append(Assignment(job, robot_id,
                              f"nearest capable free robot: {dist:.1f} m to {job.first_station}"
                              if job.first_station else "capable robot at the cell"))
    return out
