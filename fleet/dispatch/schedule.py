"""Dispatch by schedule: who does which task in which order, for all the known work at once.

Each round the known work (the round's jobs and every other pending task of the missions
released within `ScheduleDispatcher.horizon_s`, with their dependencies, start delays, the
holding cells' room and the robots' travel) becomes an `Instance` of flat arrays; a schedule
is a priority list of its tasks plus a robot per task, turned into times by the decoder of
`_schedule_kernels` under the model of `bench.abstract.solve_cpsat`. A greedy construction
(the task and robot that finish first, again and again) starts it, the previous round's
schedule warm-starts it, and large-neighbourhood search (destroy a few tasks: at random,
close in time, a run of one robot's work; repair each by the best insertion) improves it
within an iteration and time budget, seeded, so equal inputs give equal schedules.

The round then gives out only what the schedule starts now: a robot's first task, if it
must set off for it within `release_s` (a weld or a take-out from a cell may be driven to
ahead and waited for). Everything else stays open and is scheduled again next round.

Cells: a transport into a holding cell is only ever scheduled once the part that fills the
cell has been scheduled out (the decoder waits for it), and the coordinator offers such a
transport only when the cell has room or is being emptied; so reservations never form a
cycle. With `ScheduleDispatcher.stage_parts` the next part is fetched once the take-out of
the part in the cell is given out (some robot's current work) and dropped once that part
is picked: it waits on a take-out under way, never on one merely planned.

In the coordinator the schedule plans drives at the pace observed (`Outlook.speed_factors`,
`DrivePace`), and robots set off during a start delay (`delay_lookahead`).

The cost is the makespan plus `mean_weight` times the mean end of the tasks (from now), and
with `ties_early` at least `TIE_WEIGHT` times it, a tie-break: the makespan alone leaves the
work off the critical path free to drift later round by round.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

import fleet.planning  # noqa: F401  (sets the numba cache folder before the kernels compile)
from fleet.dispatch import _schedule_kernels as kernels
from fleet.dispatch.costs import CostWeights, affordable, estimate
from fleet.dispatch.inputs import PINNED_KINDS, Outlook
from fleet.dispatch.nearest import Abilities, Assignment, Candidate, Job
from fleet.dispatch.optimizer import OptimalDispatcher
from fleet.dispatch.travel import Travel
from fleet.model import RobotKind, Task, TaskKey, TaskKind, TaskState

__all__ = ["Instance", "Schedule", "ScheduleDispatcher", "build_instance", "decode",
           "greedy_schedule", "improve", "warm_up"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

log = logging.getLogger(__name__)

TIE_WEIGHT = 1e-6
"""Weight of the mean end that only breaks ties of makespan: times are in seconds over a
horizon of hours, so it is worth less than a hundredth of a second of makespan."""


@dataclass(frozen=True, slots=True)
class Instance:
    """One scheduling problem as flat arrays; tasks and robots by index.

    Times are absolute seconds on the caller's clock; durations are whole seconds (rounded
    up, as the CP-SAT model rounds them).
    """

    keys: tuple[TaskKey, ...]
    robot_ids: tuple[str, ...]
    now_s: float
    lower: FloatArray
    """Earliest start of each task from what is not scheduled: release, finished or
    under-way predecessors and their delays."""
    pred_ptr: IntArray
    pred_idx: IntArray
    pred_delay: FloatArray
    """Scheduled predecessors, compressed rows: task t's are pred_idx[pred_ptr[t]:pred_ptr[t+1]]
    with the start delay after each."""
    succ_ptr: IntArray
    succ_idx: IntArray
    first_st: IntArray
    last_st: IntArray
    """Station index where each task begins and ends."""
    ahead: BoolArray
    """The robot may drive to it before it is ready and wait (welds, take-outs from cells)."""
    work: FloatArray
    """(tasks, robots): seconds of the task itself once its robot is at the first station."""
    able: BoolArray
    avail: FloatArray
    """When each robot is free (now, or when its current task ends)."""
    first_setup: FloatArray
    """(robots, stations): seconds from where each robot stands (or will) to each station."""
    gap: FloatArray
    """(robots, stations, stations): seconds of driving between stations, 0 for fixed welders."""
    into_cell: IntArray
    """Holding cell each transport drops into, -1 for none."""
    out_occ: IntArray
    """The cell occupant each transport takes out: an initial occupant k, or n_init + the
    index of the transport that brought it in; -1 for none."""
    capacity: IntArray
    occ_cell: IntArray
    occ_fixed: FloatArray
    """Parts in (or on their way to) the holding cells now: their cell, and when they leave
    if that is not scheduled here (inf while their take-out is scheduled)."""
    handling_s: float
    stage: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Transports into a holding cell that may be staged: given out once the take-outs that
    make room are given out, their robot waiting next to the cell with the part."""
    occ_going: FloatArray = field(default_factory=lambda: np.zeros(0))
    """When each initial occupant's take-out was given out (-inf: it has been, inf: not
    yet or scheduled here)."""

    @property
    def size(self) -> int:
        """Tasks to schedule."""
        return len(self.keys)

    def kernel_args(self) -> tuple[object, ...]:
        """The arrays in the order the decoder takes them after `order` and `robot_of`."""
        return (self.lower, self.pred_ptr, self.pred_idx, self.pred_delay, self.first_st,
                self.last_st, self.ahead, self.work, self.avail, self.first_setup, self.gap,
                self.into_cell, self.out_occ, self.capacity, self.occ_cell, self.occ_fixed,
                self.handling_s, self._stage(), self._occ_going())

    def _stage(self) -> BoolArray:
        return self.stage if self.stage.shape == (self.size,) else np.zeros(self.size, bool)

    def _occ_going(self) -> FloatArray:
        if self.occ_going.shape == self.occ_cell.shape:
            return self.occ_going
        return np.full(self.occ_cell.shape, math.inf)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A decoded schedule: per task its robot, start (robot at the first station) and end."""

    order: IntArray
    robot_of: IntArray
    start: FloatArray
    end: FloatArray
    sequence: IntArray
    """Tasks in the order the decoder placed them (robots' sequences follow it)."""
    makespan_s: float
    cost: float

    def robot_tasks(self, robot: int) -> list[int]:
        """The robot's tasks in the order it does them."""
        return [int(t) for t in self.sequence if self.robot_of[t] == robot]


def decode(instance: Instance, order: IntArray, robot_of: IntArray,
           mean_weight: float = 0.0) -> Schedule:
    """The schedule a priority list and a robot per task give (see `_schedule_kernels`)."""
    n = instance.size
    order = np.ascontiguousarray(order, dtype=np.int64)
    robot_of = np.ascontiguousarray(robot_of, dtype=np.int64)
    if order.shape != (n,) or robot_of.shape != (n,) or sorted(order.tolist()) != list(range(n)):
        raise ValueError("order must be a permutation of the tasks and robot_of one robot each")
    if n and not bool(instance.able[np.arange(n), robot_of].all()):
        raise ValueError("robot_of gives a task to a robot that cannot do it")
    start, end = np.zeros(n), np.zeros(n)
    seq = np.zeros(n, dtype=np.int64)
    args = instance.kernel_args()
    makespan, total = kernels.decode(order, robot_of, *args, start, end,  # type: ignore
                                     seq)
    return Schedule(order, robot_of, start, end, seq, float(makespan),
                    _cost(makespan, total, n, mean_weight, instance.now_s))


def greedy_schedule(instance: Instance, mean_weight: float = 0.0, noise: float = 0.0,
                    seed: int = 0) -> Schedule:
    """List scheduling: the task and robot that finish first, again and again (with `noise`,
    a randomized choice among those that finish nearly first)."""
    n = instance.size
    order = np.zeros(n, dtype=np.int64)
    robot_of = np.zeros(n, dtype=np.int64)
    a = instance
    kernels.greedy(a.lower, a.pred_ptr, a.pred_idx, a.pred_delay, a.first_st, a.last_st,
                   a.ahead, a.work, a.able, a.avail, a.first_setup, a.gap, a.into_cell,
                   a.out_occ, a.capacity, a.occ_cell, a.occ_fixed, a.handling_s,
                   a._stage(), a._occ_going(), order, robot_of, noise, seed)
    return decode(instance, order, robot_of, mean_weight)


def improve(instance: Instance, schedule: Schedule, *, iterations: int, destroy: int,
            seed: int, mean_weight: float = 0.0, time_budget_s: float = math.inf,
            chunk: int = 5) -> Schedule:
    """Large-neighbourhood search from `schedule`; never returns a worse one.

    Runs `iterations` in chunks of `chunk`, stopping after the chunk that spends
    `time_budget_s` (wall seconds); as long as the budget does not bind, equal inputs and
    seed give the same schedule.
    """
    a = instance
    order = schedule.order.copy()
    robot_of = schedule.robot_of.copy()
    if a.size <= 1 or iterations <= 0:
        return schedule
    began = time.perf_counter()
    done = 0
    while done < iterations:
        step = min(chunk, iterations - done)
        kernels.lns(order, robot_of, a.lower, a.pred_ptr, a.pred_idx, a.pred_delay,
                    a.succ_ptr, a.succ_idx, a.first_st, a.last_st, a.ahead, a.work, a.able,
                    a.avail, a.first_setup, a.gap, a.into_cell, a.out_occ, a.capacity,
                    a.occ_cell, a.occ_fixed, a.handling_s, a._stage(), a._occ_going(),
                    step, destroy,
                    seed % (2**31 - 1), mean_weight, a.now_s, done)
        done += step
        spent = time.perf_counter() - began
        if spent >= time_budget_s or spent / done > time_budget_s - spent:
            break  # the budget is spent, or one more chunk's worth would overrun it
    better = decode(instance, order, robot_of, mean_weight)
    return better if better.cost <= schedule.cost else schedule


def _cost(makespan: float, total: float, n: int, mean_weight: float, now_s: float) -> float:
    if n == 0:
        return 0.0
    return float(makespan + mean_weight * (total / n - now_s))


class _Stations:
    """Station names to indices and metres between them, filled as stations appear (the
    distance tables behind `Travel` are cached; this avoids asking them again each round)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self._metres = np.zeros((0, 0))
        self._travel: Travel | None = None

    def ensure(self, names: Sequence[str], travel: Travel) -> None:
        if travel is not self._travel:
            self.index, self._metres, self._travel = {}, np.zeros((0, 0)), travel
        new = [s for s in dict.fromkeys(names) if s not in self.index]
        if not new:
            return
        old = len(self.index)
        for s in new:
            self.index[s] = len(self.index)
        size = len(self.index)
        metres = np.zeros((size, size))
        metres[:old, :old] = self._metres
        names_all = list(self.index)
        for i, a in enumerate(names_all):
            for j, b in enumerate(names_all):
                if i < old and j < old:
                    continue
                metres[i, j] = 0.0 if i == j else travel.between_m(a, b)
        self._metres = metres

    @property
    def metres(self) -> FloatArray:
        return self._metres


def _first(task: Task) -> str:
    return task.pickup if task.kind is TaskKind.TRANSPORT else task.cell


def _last(task: Task) -> str:
    return task.dropoff if task.kind is TaskKind.TRANSPORT else task.cell


@dataclass(slots=True)
class _Entry:
    key: TaskKey
    task: Task
    job: Job | None
    lower: float
    preds: list[tuple[TaskKey, float]] = field(default_factory=list)


def build_instance(jobs: Sequence[Job], robots: Sequence[Candidate], now_s: float,
                   travel: Travel, outlook: Outlook | None = None, *,
                   horizon_s: float = math.inf, speed_factor: float = 1.0,
                   handling_s: float = 20.0, absent_s: float = 60.0,
                   stations: _Stations | None = None, delay_ahead: bool = False,
                   speed_factors: Mapping[RobotKind, float] | None = None,
                   stage: bool = False) -> tuple[Instance, dict[TaskKey, Job]]:
    """The round's scheduling problem: the jobs, and with an outlook every other pending task
    of the missions released within `horizon_s`; returns it with the jobs by task key.

    Robots are `robots` in order; if some task none of them can do, one more, a stand-in
    (id "") free in `absent_s`, does those. With `delay_ahead` (the coordinator offers them
    ahead: `Round.delay_lookahead`), a transport whose dependencies are done may be driven to
    while its start delay runs, like a weld. A robot drives at its top speed times its kind's
    `speed_factors` (the pace observed) where given, `speed_factor` otherwise. With `stage`,
    a transport into a holding cell may set off once the take-outs that make room in it are
    given out (see `_schedule_kernels`; the coordinator offers it then: `Round.leaving`)."""
    offered = {TaskKey(j.mission_id, j.task.id): j for j in jobs}
    entries: dict[TaskKey, _Entry] = {}
    fixed_end: dict[TaskKey, float] = {}
    done: set[TaskKey] = set()
    nominal = CostWeights(handling_s=handling_s, speed_factor=speed_factor)

    def nominal_s(task: Task) -> float:
        return estimate(task, travel, nominal).seconds(speed_factor)

    if outlook is not None:
        for record in outlook.missions:
            mission = record.mission
            if record.state.finished or (mission.release_s or 0.0) > now_s + horizon_s:
                continue
            release = mission.release_s or 0.0
            for tr in record.tasks.values():
                key = TaskKey(mission.id, tr.task.id)
                job = offered.get(key)
                if job is None and (tr.state is not TaskState.PENDING
                                    or tr.task.kind in PINNED_KINDS):
                    continue
                lower = max(now_s, release) if job is None else now_s + job.ready_in_s
                entries[key] = _Entry(key, tr.task, job, lower)
            # Ends of the mission's work nobody schedules here (done, under way, queued).
            for tr in record.tasks.values():
                key = TaskKey(mission.id, tr.task.id)
                if key in entries:
                    continue
                if tr.state is TaskState.DONE:
                    fixed_end[key] = tr.done_s if tr.done_s is not None else now_s
                    done.add(key)
                elif key in outlook.under_way:
                    fixed_end[key] = now_s + outlook.under_way[key]
                elif not tr.state.finished:
                    fixed_end[key] = now_s + nominal_s(tr.task)
    for key, job in offered.items():
        if key not in entries:
            entries[key] = _Entry(key, job.task, job, now_s + job.ready_in_s)
    # Predecessors: scheduled ones become arcs, the others lower bounds.
    by_mission: dict[str, dict[str, _Entry]] = {}
    for e in entries.values():
        by_mission.setdefault(e.key.mission_id, {})[e.task.id] = e
    for e in entries.values():
        for dep in e.task.depends_on:
            dkey = TaskKey(e.key.mission_id, dep)
            if dkey in entries:
                e.preds.append((dkey, e.task.delay_s))
            elif dkey in fixed_end:
                e.lower = max(e.lower, fixed_end[dkey] + e.task.delay_s)
    # Robots.
    m = len(robots)
    pace = speed_factors or {}
    speeds = np.array([r.spec.max_speed_mps * pace.get(r.spec.kind, speed_factor)
                       for r in robots], dtype=np.float64)
    fixed = np.array([r.spec.kind is RobotKind.FIXED_WELDER for r in robots], dtype=bool)
    # Capability once per robot class and kind of task.
    keys = list(entries)
    n = len(keys)
    able = np.zeros((n, m), dtype=bool)
    abilities = Abilities(robots)
    for i, key in enumerate(keys):
        able[i] = abilities.of(entries[key].task)
    index = {k: i for i, k in enumerate(keys)}
    tasks = [entries[k].task for k in keys]
    stations = stations or _Stations()
    cells_of = [r.cell for r in robots]
    stations.ensure([s for t in tasks for s in (_first(t), _last(t))], travel)
    idx = stations.index
    n_st = len(idx)
    metres = stations.metres
    first_st = np.array([idx[_first(t)] for t in tasks], dtype=np.int64)
    last_st = np.array([idx[_last(t)] for t in tasks], dtype=np.int64)
    safe = np.maximum(speeds, 1e-9)
    gap = np.zeros((m, n_st, n_st))
    if m and n_st:
        gap = np.ceil(metres[None, :, :] / safe[:, None, None] - 1e-9)
        gap[fixed] = 0.0
    first_setup = np.zeros((m, n_st))
    if m:
        cells = np.array(cells_of, dtype=np.int64).reshape(-1, 2)
        names = list(idx)
        for s in sorted(set(first_st.tolist())):
            metres_from = travel.from_cells_m(cells, names[s])
            first_setup[:, s] = np.ceil(metres_from / safe - 1e-9)
        first_setup[fixed] = 0.0
    work = np.zeros((n, m))
    for i, t in enumerate(tasks):
        if t.kind is TaskKind.TRANSPORT:
            work[i] = np.ceil(metres[first_st[i], last_st[i]] / safe + 2 * handling_s - 1e-9)
        else:
            work[i] = math.ceil(t.duration_s - 1e-9)
    # A robot cannot reach a station: it cannot do the task.
    reach = np.isfinite(first_setup[:, first_st].T) if m else np.zeros((n, 0), bool)
    able &= reach & np.isfinite(work)
    work = np.where(np.isfinite(work), work, 0.0)
    first_setup = np.where(np.isfinite(first_setup), first_setup, 0.0)
    gap = np.where(np.isfinite(gap), gap, 1e7)
    avail = now_s + np.array([max(0.0, r.free_in_s) for r in robots], dtype=np.float64)
    robot_ids = [r.spec.id for r in robots]
    orphans: BoolArray = np.asarray(~able.any(axis=1) if m else np.ones(n, dtype=bool))
    if orphans.any():
        # Work none of these robots can do (its robots are charging or have a queue) goes to
        # one stand-in robot, free after `absent_s`, that is never given anything: its place
        # in the schedule keeps what follows it (and the cell its part fills) in view.
        able = np.concatenate([able, orphans[:, None]], axis=1)
        nominal_work = np.array([nominal_s(t) for t in tasks], dtype=np.float64)
        work = np.concatenate([work, np.ceil(nominal_work)[:, None]], axis=1)
        first_setup = np.concatenate([first_setup, np.zeros((1, n_st))], axis=0)
        gap = np.concatenate([gap, np.zeros((1, n_st, n_st))], axis=0)
        avail = np.append(avail, now_s + absent_s)
        robot_ids.append("")
    lower_s = np.array([entries[k].lower for k in keys], dtype=np.float64)
    preds = [[(index[p], d) for p, d in entries[k].preds if p in index] for k in keys]
    pred_ptr = np.zeros(n + 1, dtype=np.int64)
    pred_ptr[1:] = np.cumsum([len(p) for p in preds])
    pred_idx = np.array([p for ps in preds for p, _ in ps], dtype=np.int64)
    pred_delay = np.array([d for ps in preds for _, d in ps], dtype=np.float64)
    succs: list[list[int]] = [[] for _ in range(n)]
    for i, ps in enumerate(preds):
        for p, _ in ps:
            succs[p].append(i)
    succ_ptr = np.zeros(n + 1, dtype=np.int64)
    succ_ptr[1:] = np.cumsum([len(f) for f in succs])
    succ_idx = np.array([f for fs in succs for f in fs], dtype=np.int64)
    ahead = np.zeros(n, dtype=bool)
    into_cell = np.full(n, -1, dtype=np.int64)
    out_occ = np.full(n, -1, dtype=np.int64)
    cell_index: dict[str, int] = {}
    capacity: list[int] = []
    occ_cell: list[int] = []
    occ_fixed: list[float] = []
    occ_going: list[float] = []
    inventory = outlook.inventory if outlook is not None else None

    def holds(station: str) -> bool:
        return inventory is not None and station in inventory.stations and \
            inventory.holds(station)

    def cell_of(station: str) -> int:
        c = cell_index.get(station)
        if c is None:
            c = cell_index[station] = len(capacity)
            assert inventory is not None
            capacity.append(max(1, inventory.capacity(station)))
        return c

    for i, t in enumerate(tasks):
        ahead[i] = t.kind is TaskKind.WELD or (t.kind is TaskKind.TRANSPORT and holds(t.pickup))
        if (delay_ahead and t.kind is TaskKind.TRANSPORT and not ahead[i] and t.depends_on
                and t.delay_s > 0):
            e = entries[keys[i]]
            # Only its start delay left: the coordinator offers it ahead, so its robot may
            # set off to be at the pickup when the delay ends. (Not a transport waiting for
            # its release or for room in a cell: it is offered only then.)
            ahead[i] = not e.preds and (
                all(TaskKey(e.key.mission_id, d) in done for d in t.depends_on)
                if outlook is not None else e.job is not None)
        if t.kind is TaskKind.TRANSPORT and holds(t.dropoff):
            into_cell[i] = cell_of(t.dropoff)
    if inventory is not None and outlook is not None:
        # Who takes each part out of a cell, by (cell, load).
        take_out: dict[tuple[str, str], TaskKey] = {}
        bring_in: dict[tuple[str, str], TaskKey] = {}
        records = {r.mission.id: r for r in outlook.missions}
        for record in outlook.missions:
            for tr in record.tasks.values():
                t = tr.task
                if t.kind is not TaskKind.TRANSPORT or tr.state.finished:
                    continue
                if holds(t.pickup):
                    take_out[(t.pickup, t.load_id)] = TaskKey(record.mission.id, t.id)
                if holds(t.dropoff):
                    bring_in[(t.dropoff, t.load_id)] = TaskKey(record.mission.id, t.id)
        for i, t in enumerate(tasks):
            if t.kind is TaskKind.TRANSPORT and holds(t.pickup):
                into = bring_in.get((t.pickup, t.load_id))
                if into is not None and into in index:
                    out_occ[i] = -2  # a part brought in here: numbered below
        # Parts in the cells now, and those on their way in that nobody schedules here.
        present: dict[tuple[str, str], None] = {}
        for station in inventory.holding:
            for load in inventory.loads(station):
                present[(station, load)] = None
        for (station, load), key in bring_in.items():
            tr = records[key.mission_id].tasks[key.task_id]
            if key not in index and not tr.delivered and tr.state in (TaskState.ASSIGNED,
                                                                       TaskState.ACTIVE):
                present[(station, load)] = None
        for station, load in present:
            occupant = len(occ_cell)
            occ_cell.append(cell_of(station))
            out = take_out.get((station, load))
            if out is not None and out in index:
                occ_fixed.append(math.inf)
                occ_going.append(math.inf)
                out_occ[index[out]] = occupant
            elif out is not None:
                occ_fixed.append(now_s + handling_s)  # being taken out
                # Staging counts only on a take-out that is some robot's current work.
                occ_going.append(-math.inf if out in outlook.under_way else math.inf)
            else:
                occ_fixed.append(math.inf)  # stays: the cell is full for good
                occ_going.append(math.inf)
        n_init = len(occ_cell)
        for i, task in enumerate(tasks):
            if out_occ[i] == -2:
                into = bring_in[(task.pickup, task.load_id)]
                out_occ[i] = n_init + index[into]
    instance = Instance(
        tuple(keys), tuple(robot_ids), now_s, lower_s, pred_ptr, pred_idx,
        pred_delay, succ_ptr, succ_idx, first_st, last_st, ahead, work, able, avail,
        first_setup, gap, into_cell, out_occ, np.array(capacity, dtype=np.int64),
        np.array(occ_cell, dtype=np.int64), np.array(occ_fixed, dtype=np.float64),
        float(handling_s), stage=(into_cell >= 0) & stage,
        occ_going=np.array(occ_going, dtype=np.float64))
    return instance, {k: job for k in keys if (job := entries[k].job) is not None}


@dataclass(slots=True)
class ScheduleDispatcher:
    """Dispatch by an optimized schedule over all the known work; see the module.

    The defaults were chosen on the training seeds of `bench.dispatch` (see its docstring
    for the procedure), never on its evaluation seeds.
    """

    weights: CostWeights = field(default_factory=CostWeights)
    name: str = "schedule"
    schedules_ahead: bool = True
    lookahead_s: float = 600.0
    """How far ahead the coordinator offers the weld cells' work (a weld whose part is on
    its way): the schedule decides whether a robot sets off for it now."""
    horizon_s: float = 1800.0
    """Missions released within this many seconds from now are scheduled."""
    iterations: int = 300
    """LNS iterations in a round where the work or the robots changed."""
    idle_iterations: int = 20
    """LNS iterations in a round where only time went on (same tasks, same robots free)."""
    destroy: int = 4
    """At most this many tasks destroyed and repaired per iteration."""
    restarts: int = 30
    """Randomized greedy constructions per round where the work or the robots changed."""
    idle_restarts: int = 3
    """... and per round where only time went on."""
    noise: float = 0.02
    """How far a randomized greedy may stretch the ends it compares (fraction)."""
    mean_weight: float = 0.0
    """Weight of the tasks' mean end beside the makespan (0: the makespan alone, ties to the
    schedule found first)."""
    ties_early: bool = True
    """Among schedules of equal makespan, prefer the one whose tasks end earlier (the mean
    end as a tie-break, `TIE_WEIGHT`, too small to ever trade a second of makespan): with
    the makespan alone, work off the critical path drifts later round by round (a welded
    part left in its cell), until the real line, slower than any plan, finds it critical."""
    time_budget_s: float = 0.06
    """Wall seconds of search per round at most (the iterations stop early)."""
    release_s: float = 1.0
    """A robot gets its first task once it must set off within this many seconds."""
    queue_within_s: float = 0.0
    """A busy robot gets its next task queued once it is this close to done. 0: never; a
    robot with a queue is not offered to the dispatcher again, so the schedule would lose
    sight of it until it is free."""
    speed_factor: float | None = None
    """Average speed as a fraction of top speed; None: `weights.speed_factor`."""
    learn_pace: bool = True
    """Plan drives at the pace the coordinator has observed (`Outlook.speed_factors`) once it
    knows it, rather than at `speed_factor`."""
    stage_parts: bool = True
    """A part for a full cell may be fetched as soon as the part in it is being taken out
    (its take-out given out), and waits next to the cell (False where the world gives out
    transports into a full cell only once it has room, as the model of `bench.abstract`)."""
    delay_lookahead: bool = True
    """The coordinator offers a transport whose start delay (paint, curing) runs, so its robot
    sets off to be at the pickup when the delay ends (False where the world offers ready
    work only, as the traffic-free model of `bench.abstract`)."""
    seed: int = 0
    rounds: int = 0
    _previous: list[tuple[TaskKey, str]] = field(default_factory=list)
    _signature: tuple[object, ...] = ()
    _fallback: OptimalDispatcher = field(default_factory=OptimalDispatcher)
    _stations: _Stations = field(default_factory=_Stations)
    last: Schedule | None = None
    """The last round's schedule (for the events' explanation and tests)."""
    last_instance: Instance | None = None
    _infeasible: bool = False
    """The last round found no feasible schedule (and fell back to assigning by cost)."""

    def assign(self, jobs: Sequence[Job], robots: Sequence[Candidate], now_s: float,
               travel: Travel, outlook: Outlook | None = None) -> list[Assignment]:
        """What the optimized schedule starts now."""
        jobs = [j for j in jobs if j.ready_in_s <= self.lookahead_s or j.holder]
        if not jobs or not robots:
            return []
        speed_factor = (self.weights.speed_factor if self.speed_factor is None
                        else self.speed_factor)
        instance, by_key = build_instance(jobs, robots, now_s, travel, outlook,
                                          horizon_s=self.horizon_s, speed_factor=speed_factor,
                                          handling_s=self.weights.handling_s,
                                          stations=self._stations,
                                          delay_ahead=self.delay_lookahead,
                                          speed_factors=(outlook.speed_factors if self.learn_pace
                                                         and outlook is not None else None),
                                          stage=self.stage_parts)
        if instance.size == 0:
            return []
        signature = (instance.keys, instance.robot_ids,
                     tuple(r.free_in_s > 0 for r in robots), tuple(j.holder for j in jobs))
        changed = signature != self._signature
        self._signature = signature
        schedule = self.plan(instance, self.iterations if changed else self.idle_iterations,
                             self.restarts if changed else self.idle_restarts)
        self.last, self.last_instance = schedule, instance
        if not math.isfinite(schedule.makespan_s):
            # The cells as reported admit no schedule (a load nobody takes out fills a cell
            # others must pass through): decide this round one assignment at a time.
            # Said once when it begins (every round would flood the log), then quietly.
            log.log(logging.DEBUG if self._infeasible else logging.WARNING,
                    "no feasible schedule of %d tasks; assigning by cost until there is one",
                    instance.size)
            self._infeasible = True
            self._previous = []
            return self._fallback.assign(jobs, robots, now_s, travel)
        if self._infeasible:
            log.info("a feasible schedule again (%d tasks)", instance.size)
            self._infeasible = False
        self._previous = [(instance.keys[t], instance.robot_ids[schedule.robot_of[t]])
                          for t in schedule.sequence.tolist()]
        return self._starts(instance, schedule, by_key, robots, now_s, travel,
                            _room(outlook, by_key, self.stage_parts)
                            if outlook is not None else {})

    @property
    def _mean_weight(self) -> float:
        return max(self.mean_weight, TIE_WEIGHT) if self.ties_early else self.mean_weight

    def reset(self) -> None:
        """Forget the previous schedule: the next round starts from greedy alone."""
        self._previous = []
        self._signature = ()

    def plan(self, instance: Instance, iterations: int | None = None,
             restarts: int | None = None) -> Schedule:
        """The round's schedule: the best of greedy, last round's and randomized greedy
        restarts (within half the time budget), then LNS for the rest of it."""
        self.rounds += 1
        began = time.perf_counter()
        seed = self.seed * 7919 + self.rounds
        start = greedy_schedule(instance, self._mean_weight)
        warm = self._warm(instance)
        if warm is not None and warm.cost <= start.cost:
            start = warm
        for k in range(self.restarts if restarts is None else restarts):
            if time.perf_counter() - began > self.time_budget_s / 2:
                break
            other = greedy_schedule(instance, self._mean_weight, self.noise, seed * 131 + k)
            if other.cost < start.cost:
                start = other
        left = self.time_budget_s - (time.perf_counter() - began)
        return improve(instance, start,
                       iterations=self.iterations if iterations is None else iterations,
                       destroy=self.destroy, seed=seed, mean_weight=self._mean_weight,
                       time_budget_s=max(0.0, left))

    def _warm(self, instance: Instance) -> Schedule | None:
        """Last round's schedule on this round's tasks; new tasks inserted greedily."""
        if not self._previous:
            return None
        index = {k: i for i, k in enumerate(instance.keys)}
        robots = {r: j for j, r in enumerate(instance.robot_ids)}
        order: list[int] = []
        robot_of = np.full(instance.size, -1, dtype=np.int64)
        for key, rid in self._previous:
            t = index.get(key)
            if t is None:
                continue
            r = robots.get(rid, -1)
            if r >= 0 and instance.able[t, r]:
                robot_of[t] = r
                order.append(t)
        if not order:
            return None
        seen = set(order)
        missing = [t for t in range(instance.size) if t not in seen]
        greedy = greedy_schedule(instance, self._mean_weight) if missing else None
        for t in missing:
            assert greedy is not None
            robot_of[t] = greedy.robot_of[t]
        # New tasks go where greedy would put them relative to the others (by its start).
        if missing:
            assert greedy is not None
            rank = {t: float(greedy.start[t]) for t in missing}
            merged: list[int] = []
            pending = sorted(missing, key=lambda t: rank[t])
            prev = decode(instance, np.array(order + pending), robot_of, self._mean_weight)
            for t in order:
                while pending and rank[pending[0]] <= prev.start[t]:
                    merged.append(pending.pop(0))
                merged.append(t)
            merged += pending
            order = merged
        return decode(instance, np.array(order, dtype=np.int64), robot_of, self._mean_weight)

    def _starts(self, instance: Instance, schedule: Schedule, by_key: Mapping[TaskKey, Job],
                robots: Sequence[Candidate], now_s: float, travel: Travel,
                room: dict[str, int]) -> list[Assignment]:
        out: list[Assignment] = []
        firsts: dict[int, int] = {}
        for t in schedule.sequence.tolist():
            firsts.setdefault(int(schedule.robot_of[t]), t)
        for r, t in sorted(firsts.items()):
            if r >= len(robots):
                continue  # the stand-in for robots not offered this round
            key = instance.keys[t]
            job = by_key.get(key)
            if job is None:
                continue  # not offered yet: the robot waits for it (or drives on next round)
            robot = robots[r]
            setup = instance.first_setup[r, instance.first_st[t]]
            depart = schedule.start[t] - setup
            free_in = robot.free_in_s
            if free_in > self.queue_within_s + 1e-9 or depart > max(now_s, instance.avail[r]) \
                    + self.release_s:
                continue
            if job.holder and job.holder != robot.spec.id:
                pass  # the holder gives it back; the coordinator does that
            work = estimate(job.task, travel, self.weights)
            approach_m = 0.0
            if robot.spec.kind is not RobotKind.FIXED_WELDER and job.first_station:
                approach_m = float(travel.from_cells_m(
                    np.array([robot.cell], dtype=np.int64), job.first_station)[0])
            if not affordable(robot.spec, robot.battery, approach_m, work, travel)[0]:
                continue
            task = job.task
            if task.kind is TaskKind.TRANSPORT and task.dropoff in room:
                # Never more parts on their way into a cell than it has places free.
                if room[task.dropoff] <= 0:
                    continue
                room[task.dropoff] -= 1
            out.append(Assignment(job, robot.spec.id, (
                f"schedule of {instance.size} tasks over {len(robots)} robots "
                f"(makespan {schedule.makespan_s - now_s:.0f} s from now): starts at "
                f"{schedule.start[t] - now_s:+.0f} s, ends {schedule.end[t] - now_s:+.0f} s"
                + (f"; queued behind its current task (free in {free_in:.0f} s)"
                   if free_in > 0 else ""))))
        return out


def _room(outlook: Outlook, offered: Mapping[TaskKey, Job], staged: bool = False
          ) -> dict[str, int]:
    """Places free in each holding cell: its capacity less the loads in it and the parts
    on their way in (given out before, not offered again); if `staged`, a load whose
    take-out is some robot's current work (into a place with room) counts as gone, so one
    part may be brought for its place and wait next to the cell.

    Never deadlocks: a staged part waits only on a take-out a robot has begun, whose
    destination has room and which waits on nothing but the weld of a part in the cell."""
    inventory = outlook.inventory
    room = {s: inventory.capacity(s) - len(inventory.loads(s)) for s in inventory.holding}
    for record in outlook.missions:
        for tr in record.tasks.values():
            t = tr.task
            if t.kind is not TaskKind.TRANSPORT or tr.state not in (TaskState.ASSIGNED,
                                                                     TaskState.ACTIVE):
                continue
            key = TaskKey(record.mission.id, t.id)
            if t.dropoff in room and not tr.delivered and key not in offered:
                room[t.dropoff] -= 1
            if (staged and t.pickup in room and not tr.picked and key in outlook.under_way
                    and t.load_id in inventory.loads(t.pickup) and inventory.room_for(t)):
                room[t.pickup] += 1
    return room


class _Corridor:
    """Two stations 10 m apart: the tiny floor `warm_up` compiles the kernels on."""

    def from_cells_m(self, cells: npt.NDArray[np.int64], station_id: str
                     ) -> npt.NDArray[np.float64]:
        return np.abs(cells[:, 1].astype(np.float64) - (10.0 if station_id == "b" else 0.0))

    def between_m(self, a: str, b: str) -> float:
        return 0.0 if a == b else 10.0

    def to_charger_m(self, station_id: str) -> float:
        return 0.0


def warm_up() -> float:
    """Compile (or load from the disk cache) the schedule kernels; returns seconds. Call it
    when the service starts: the first round would otherwise spend its budget compiling."""
    from fleet.model import RobotSpec, TransportCapability

    began = time.perf_counter()
    robots = [Candidate(RobotSpec(f"r{k}", RobotKind.AGV, 0.45, 1.0,
                                  transport=TransportCapability(100.0)), "", (0, 0))
              for k in range(2)]
    jobs = [Job(f"m{k}", Task("t", TaskKind.TRANSPORT, pickup="a", dropoff="b",
                              load_id=f"l{k}"), 0, None, k, "a") for k in range(3)]
    instance, _ = build_instance(jobs, robots, 0.0, _Corridor())
    improve(instance, greedy_schedule(instance), iterations=2, destroy=2, seed=0)
    return time.perf_counter() - began
