"""The cost model: how long a task takes, what it drains, and whether a robot can afford it."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

from fleet.dispatch.nearest import Candidate, capability_key
from fleet.dispatch.travel import Travel
from fleet.model import RobotKind, RobotSpec, Task, TaskKind, battery_model

DETOUR = 1.3
"""Planned metres are multiplied by this for battery checks: real paths wait, detour and make
way, and a robot must never be stranded by an optimistic estimate."""

__all__ = ["DETOUR", "AbleMemo", "CostWeights", "TaskEstimate", "WaitingPart", "affordable",
           "cell_backlogs", "estimate", "holding_station", "mission_tails", "part_seconds",
           "reserved_shares", "tail_s", "waiting_part"]


@dataclass(frozen=True, slots=True)
class CostWeights:
    """What the optimizer trades against travel time; every term is in seconds."""

    priority_s: float = 300.0
    """Seconds of travel one level of mission priority is worth."""
    lateness: float = 3.0
    """Cost per second a robot makes the mission later than the best robot for it would."""
    urgency: float = 0.5
    """Bonus per second of deadline slack below `urgency_horizon_s` (and per second late)."""
    urgency_horizon_s: float = 900.0
    tail: float = 0.5
    """Bonus per second of mission work left after the task: the longest chain goes first,
    which shortens the makespan."""
    backlog: float = 0.5
    """Bonus per second of work waiting for the cell the task feeds, works in or empties, so
    the bottleneck cells never stand still."""
    waiting: float = 0.1
    """Bonus per second a ready task has waited, so nothing starves."""
    keep_s: float = 45.0
    """Bonus for leaving a job given out ahead with the robot that holds it: another match
    must be better by more than this, so robots do not swap work back and forth."""
    scarce: float = 0.5
    """Cost per second of `Candidate.reserved_s` a robot has beyond the least reserved robot
    able to do the job: keep a heavy-lift AGV for the heavy loads to come."""
    battery_s: float = 30.0
    """Cost of taking a job with an empty rather than a full battery."""
    handling_s: float = 20.0
    """Seconds a pick or a drop takes."""
    speed_factor: float = 0.8
    """Average speed as a fraction of a robot's top speed (turns, waits, speed zones)."""


@dataclass(frozen=True, slots=True)
class TaskEstimate:
    """A task's own work, without the drive to its first station."""

    drive_m: float
    """Metres driven between its stations."""
    handling_s: float
    """Seconds of picking and dropping."""
    weld_s: float
    """Seconds of welding."""
    end_station: str
    """Where the robot stands when it is done."""

    def seconds(self, speed_mps: float) -> float:
        """The whole task in seconds at this average speed."""
        return self.drive_m / speed_mps + self.handling_s + self.weld_s


def estimate(task: Task, travel: Travel, weights: CostWeights) -> TaskEstimate:
    """The work in a task once the robot stands at its first station."""
    if task.kind is TaskKind.TRANSPORT:
        return TaskEstimate(travel.between_m(task.pickup, task.dropoff), 2 * weights.handling_s,
                            0.0, task.dropoff)
    if task.kind is TaskKind.WELD:
        return TaskEstimate(0.0, 0.0, task.duration_s, task.cell)
    return TaskEstimate(0.0, 0.0, 0.0, task.cell)


def affordable(spec: RobotSpec, battery: float, approach_m: float, work: TaskEstimate,
               travel: Travel) -> tuple[bool, float]:
    """Whether the robot can do the job and still reach a charger above its reserve.

    Returns (affordable, state of charge expected when the job is done).
    """
    model = battery_model(spec.kind)
    if spec.kind is RobotKind.FIXED_WELDER:
        return True, battery
    after = (battery - model.drive(DETOUR * (approach_m + work.drive_m))
             - model.idle(work.handling_s) - model.weld(work.weld_s))
    home = model.drive(DETOUR * travel.to_charger_m(work.end_station))
    return after - home >= model.reserve, after


def mission_tails(tasks: Sequence[Task], seconds_of: Callable[[Task], float]
                  ) -> Mapping[str, float]:
    """Longest chain of work (task seconds and start delays) after each task of a mission.

    Iterative over a topological order, linear in tasks and dependencies: a chain of
    thousands of tasks costs no deeper a stack than one task. Tasks in a dependency cycle
    (refused when a mission is submitted) get no tail from each other.
    """
    followers: dict[str, list[Task]] = {t.id: [] for t in tasks}
    waiting = {t.id: 0 for t in tasks}
    for t in tasks:
        for dep in set(t.depends_on):
            if dep in followers:
                followers[dep].append(t)
                waiting[t.id] += 1
    # Kahn's order from the roots; tails are then filled in from the last task back.
    order = [tid for tid, n in waiting.items() if n == 0]
    for tid in order:
        for f in followers[tid]:
            waiting[f.id] -= 1
            if waiting[f.id] == 0:
                order.append(f.id)
    tails: dict[str, float] = {t.id: 0.0 for t in tasks}
    for tid in reversed(order):
        tails[tid] = max((f.delay_s + seconds_of(f) + tails[f.id] for f in followers[tid]),
                         default=0.0)
    return tails


def tail_s(tasks: Sequence[Task], task_id: str, seconds_of: Callable[[Task], float]) -> float:
    """Longest chain of work (task seconds and start delays) after `task_id` in its mission."""
    return mission_tails(tasks, seconds_of).get(task_id, 0.0)


def holding_station(tasks: Sequence[Task], task: Task, holding: Callable[[str], bool]) -> str:
    """The holding cell (weld cell, buffer) a task feeds, works in or empties; "" if none."""
    if task.kind is TaskKind.WELD:
        return task.cell
    if task.kind is TaskKind.TRANSPORT:
        if holding(task.dropoff):
            return task.dropoff
        if holding(task.pickup):
            return task.pickup
    return ""


@dataclass(frozen=True, slots=True)
class WaitingPart:
    """A part not yet brought into the holding cell it goes to next."""

    cell: str
    key: str
    """Which transport brings it (any id unique among the waiting parts)."""
    in_cell_s: float
    """Roughly how long it will keep the cell (`part_seconds`)."""
    after_s: float
    """Its mission's work left once it has left the cell."""


def waiting_part(cell: str, key: str, tasks: Sequence[Task], into: Task, tail: float
                 ) -> WaitingPart:
    """The part brought by transport `into`, whose mission has `tail` seconds of work left
    after that transport (its longest chain, the welds in the cell included)."""
    welds = sum(t.duration_s for t in tasks if t.kind is TaskKind.WELD and t.cell == cell)
    return WaitingPart(cell, key, part_seconds(tasks, into), max(0.0, tail - welds))


def cell_backlogs(waiting: Sequence[WaitingPart]) -> Callable[[str, str], float]:
    """The work waiting for each cell, as `backlog(cell, but)`: the parts not yet brought
    into it (but the one brought by `but`) pass through one after another, then the longest
    of their remaining chains runs; that is how much the line's end moves while the cell
    stands still. A task that frees the cell sooner gets this as its backlog bonus."""
    by_cell: dict[str, list[WaitingPart]] = {}
    for part in waiting:
        by_cell.setdefault(part.cell, []).append(part)

    def backlog(cell: str, but: str = "") -> float:
        others = [p for p in by_cell.get(cell, ()) if p.key != but]
        return sum(p.in_cell_s for p in others) + max((p.after_s for p in others),
                                                       default=0.0)
    return backlog


def part_seconds(tasks: Sequence[Task], into: Task) -> float:
    """Rough seconds a part brought by transport `into` keeps its cell: the welds there and
    the drop and the pick (the cell's cycle for this part)."""
    welds = sum(t.duration_s for t in tasks if t.kind is TaskKind.WELD and t.cell == into.dropoff)
    return welds + 60.0


AbleMemo = dict[tuple[frozenset[Hashable], tuple[TaskKind, float, str, str]],
                tuple[Hashable, ...]]
"""The capability classes `able` said can do a kind of task, per fleet of classes, kept by the
caller across rounds (capabilities do not change; see `reserved_shares`)."""

_MEMO_ENTRIES = 1 << 16
"""A memo grown past this is started afresh (loads of ever new masses)."""


def reserved_shares(work: Sequence[tuple[Task, float]], robots: Sequence[Candidate],
                    able: Callable[[Candidate, Task], bool],
                    key: Callable[[Candidate], Hashable] = capability_key,
                    memo: AbleMemo | None = None) -> dict[str, float]:
    """Each robot's share of the work to come: every task's seconds split evenly among the
    robots `able` to do it. A robot that alone can carry the heavy loads or weld a rare
    program gets a large share; `CostWeights.scarce` keeps it for that work.

    Robots of one `key` (by default `capability_key`, what `capable` reads) are one class:
    `able` is asked once per class and kind of task, and a task's seconds are split per
    class, so the cost follows tasks x classes, not tasks x robots. `memo`, if given, keeps
    `able`'s answers from one call to the next (a dispatch round asks the same questions as
    the one before).
    """
    classes: dict[Hashable, list[Candidate]] = {}
    for r in robots:
        classes.setdefault(key(r), []).append(r)
    # The seconds of the tasks alike (what `able` may read of a task) are summed first: the
    # split then follows kinds of task x classes, not tasks x classes.
    seconds_of: dict[tuple[TaskKind, float, str, str], float] = {}
    example: dict[tuple[TaskKind, float, str, str], Task] = {}
    for task, seconds in work:
        kind = (task.kind, task.mass_kg, task.program, task.cell)
        if kind in seconds_of:
            seconds_of[kind] += seconds
        else:
            seconds_of[kind], example[kind] = seconds, task
    per_class = dict.fromkeys(classes, 0.0)
    if memo is None:
        memo = {}
    elif len(memo) > _MEMO_ENTRIES:
        memo.clear()
    # The classes able to do each kind of task, asked once per fleet of classes (a change
    # of fleet is a new question); the kinds that the same classes can do are split
    # together, so the split follows distinct sets of able classes, a handful.
    fleet = frozenset(classes)
    by_able: dict[tuple[Hashable, ...], float] = {}
    for kind, total in seconds_of.items():
        keys = memo.get((fleet, kind))
        if keys is None:
            keys = memo[(fleet, kind)] = tuple(k for k, alike in classes.items()
                                               if able(alike[0], example[kind]))
        by_able[keys] = by_able.get(keys, 0.0) + total
    for keys, total in by_able.items():
        count = sum(len(classes[k]) for k in keys)
        for k in keys:
            per_class[k] += total / count
    return {r.spec.id: per_class[k] for k, alike in classes.items() for r in alike}
