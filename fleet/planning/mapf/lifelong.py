"""Lifelong MAPF: robots get a new task as they finish one, planned one step at a time.

Each step: free agents take the nearest open task; every agent's goal is its next errand;
one PIBT step (with LaCAM3's swap emulation) moves everyone towards their goals, agents
known to be delayed pinned in place (windowed planning in the spirit of RHCR, Li et al.,
AAAI 2021, with a window of one step and replanning every step). Then the step is executed
under the problem's random delays: a delayed agent stays, and whoever was planned into its
cell waits too (action-dependency execution), so delays never turn into collisions; every
executed step is checked for vertex and swap conflicts anyway and those are counted.

Turning (LoRR's action model: forward, turn clockwise, turn counter-clockwise, wait; every
agent faces east, south, west or north, starting east) is modelled by default with a PIBT
over (cell, heading) (`_turning.py`): a turn keeps the agent in its cell, so the others plan
around it. `rotations=False` gives plain 4-connected unit moves.

One-way aisles: pass a directed `GridGraph` (`GridGraph.from_occupancy` of a floor grid with
one-way zones); PIBT, the swap emulation and the turning model then never move an agent
against an aisle, and the executed steps are checked against the same edges.

Simplifications against the LoRR simulator: `agentCounter` is not modelled, one planning
call per step, and the delay draws follow the same model with numpy's generator, not the
same random numbers.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleet.model import InvalidInputError
from fleet.planning.mapf import _kernels
from fleet.planning.mapf._turning import pibt_step_turning, warm_up_turning
from fleet.planning.mapf.graph import GridGraph
from fleet.planning.mapf.lacam import warm_up_mapf
from fleet.planning.mapf.lorr import DelayConfig, LorrProblem

__all__ = ["DelayGenerator", "LifelongStats", "run_lifelong"]

log = logging.getLogger(__name__)

Int32Array = npt.NDArray[np.int32]


class DelayGenerator:
    """Random execution delays following a `DelayConfig`, tick by tick."""

    def __init__(self, config: DelayConfig, n_agents: int) -> None:
        self.config = config
        self.remaining = np.zeros(n_agents, dtype=np.int64)
        self._rng = np.random.default_rng(config.seed)
        self.events = 0

    def _durations(self, count: int) -> npt.NDArray[np.int64]:
        c = self.config
        if c.min_delay == c.max_delay:
            return np.full(count, c.min_delay, dtype=np.int64)
        if c.duration_model == "uniform":
            return self._rng.integers(c.min_delay, c.max_delay + 1, size=count)
        span = c.max_delay - c.min_delay
        mean = c.min_delay + span * c.gauss_mean_ratio
        std = span * c.gauss_std_ratio
        raw = self._rng.normal(mean, std, size=count) if std > 0 else np.full(count, mean)
        return np.clip(np.rint(raw), c.min_delay, c.max_delay).astype(np.int64)

    def next_tick(self) -> npt.NDArray[np.bool_]:
        """Advance one tick; returns which agents are delayed (cannot move) during it."""
        np.subtract(self.remaining, 1, out=self.remaining, where=self.remaining > 0)
        available = np.flatnonzero(self.remaining == 0)
        c = self.config
        if c.event_model == "bernoulli":
            chosen = available[self._rng.random(available.shape[0]) < c.p_delay]
        else:
            count = min(int(self._rng.poisson(self.remaining.shape[0] * c.p_delay)),
                        available.shape[0])
            chosen = self._rng.permutation(available)[:count]
        if chosen.shape[0]:
            self.remaining[chosen] = self._durations(chosen.shape[0])
            self.events += int(chosen.shape[0])
        return self.remaining > 0


@dataclass(frozen=True, slots=True)
class LifelongStats:
    """What a lifelong run achieved; times in seconds."""

    problem: str
    agents: int
    steps: int
    tasks_finished: int
    errands_finished: int
    throughput: float
    plan_time_p50_s: float
    plan_time_p99_s: float
    plan_time_max_s: float
    steps_over_limit: int
    collisions: int
    delay_events: int
    delay_waits: int
    """Agents that waited because someone ahead of them was delayed or turning."""
    rotations: bool = True
    """Whether agents had to turn to face their move (LoRR's action model)."""
    turns: int = 0
    """Quarter turns made."""
    sideways: int = 0
    """Moves into a cell the agent did not face (must be 0 when turning is modelled)."""

    def as_dict(self) -> dict[str, object]:
        """The stats as a JSON-ready dict."""
        return {name: getattr(self, name) for name in self.__slots__}


class _TablePool:
    """Distance tables (uint16) for goal vertices, computed on first use, LRU-evicted."""

    def __init__(self, graph: GridGraph, capacity: int) -> None:
        self._rnbr = graph.rnbr  # backward BFS walks the in-edges
        self.tables = np.empty((capacity, graph.n_vertices), dtype=np.uint16)
        self._rows: OrderedDict[int, int] = OrderedDict()
        self._free = list(range(capacity - 1, -1, -1))
        self._queue = np.empty(graph.n_vertices + 1, dtype=np.int32)
        self.computed = 0

    def row(self, goal: int, goals: Int32Array) -> int:
        """The row of `goal`'s table, computing it if needed.

        When the pool is full, a batch of the least recently used tables of goals no agent
        has now (`goals`) is dropped.
        """
        row = self._rows.get(goal)
        if row is not None:
            self._rows.move_to_end(goal)
            return row
        if not self._free:
            in_use = set(goals.tolist())
            for old in list(self._rows):
                if old not in in_use:
                    self._free.append(self._rows.pop(old))
                    if len(self._free) >= 64:
                        break
            if not self._free:  # pragma: no cover - capacity exceeds the number of agents
                raise InvalidInputError("distance table pool exhausted", field="capacity",
                                        value=len(self._rows))
        row = self._free.pop()
        _kernels.bfs_table_u16(self._rnbr, goal, self.tables[row], self._queue)
        self._rows[goal] = row
        self.computed += 1
        return row


def run_lifelong(
    problem: LorrProblem,
    steps: int,
    *,
    seed: int = 0,
    time_limit_per_step_s: float | None = None,
    delays: bool = True,
    rotations: bool = True,
    progress: Callable[[int, int], None] | None = None,
    graph: GridGraph | None = None,
    observe: Callable[[npt.NDArray[np.int64]], None] | None = None,
) -> LifelongStats:
    """Run `problem` for `steps` steps; returns tasks finished and planning times.

    `graph` (default: the graph of `problem.free`, directed when the problem has
    `forbidden_moves`) may be a directed graph of the same grid, with one-way aisles
    (`GridGraph.from_occupancy`); then every start and errand cell must be able to
    reach every other (InvalidInputError naming the first agent or task that cannot).
    `observe`, when given, is called with every agent's (row, col) as an (N, 2) array at
    the start and after each executed step (for an independent checker).
    Planning time per step covers task assignment, distance tables for new goals, the PIBT
    step and the choice to turn; execution and bookkeeping are not counted.
    """
    if steps <= 0:
        raise InvalidInputError(f"steps must be positive, got {steps}", field="steps",
                                value=steps)
    if graph is None:
        graph = GridGraph.from_grid(problem.free, problem.forbidden_moves)
    elif graph.free.shape != problem.free.shape or not np.array_equal(graph.free,
                                                                      problem.free):
        raise InvalidInputError(
            f"graph is of a {graph.free.shape} grid that is not the problem's free cells",
            field="graph", value=graph.free.shape)
    if graph.directed:
        _check_strongly_connected(graph, problem)
    warm_up_mapf()  # compiling is not planning
    if rotations:
        warm_up_turning()
    n = problem.team_size
    width = problem.free.shape[1]
    pos = graph.vertex_of[problem.starts[:, 0] * width + problem.starts[:, 1]].astype(np.int32)
    task_cells = [graph.vertex_of[t[:, 0] * width + t[:, 1]].astype(np.int32)
                  for t in problem.tasks]
    goal = pos.copy()
    task_of = np.full(n, -1, dtype=np.int64)
    errand_of = np.zeros(n, dtype=np.int64)
    # open tasks live in slots: id and first errand (row, col), -1 when the slot is empty
    slots = max(1, min(problem.revealed, len(task_cells)))
    open_id = np.full(slots, -1, dtype=np.int64)
    open_row = np.zeros(slots, dtype=np.int64)
    open_col = np.zeros(slots, dtype=np.int64)
    rows, cols = divmod(graph.cell_of.astype(np.int64), width)
    next_task = 0

    def reveal(slot: int) -> None:
        nonlocal next_task
        if next_task < len(task_cells):
            first = task_cells[next_task][0]
            open_id[slot] = next_task
            open_row[slot] = rows[first]
            open_col[slot] = cols[first]
            next_task += 1

    for slot in range(slots):
        reveal(slot)

    pool = _TablePool(graph, min(n + 1024, max(graph.n_vertices, 1)))
    table_of = np.zeros(n, dtype=np.int32)
    table_goal = np.full(n, -1, dtype=np.int32)  # the goal table_of[i] was made for
    generator = DelayGenerator(problem.delay, n) if (delays and problem.delay) else None
    rng = np.empty(1, dtype=np.uint64)
    rng[0] = np.uint64(seed * 2654435761 + 12345)
    priority = np.zeros(n, dtype=np.float64)
    tie = np.random.default_rng(seed).random(n) * 1e-3
    occ_now = np.full(graph.n_vertices, -1, dtype=np.int32)
    occ_next = np.full(graph.n_vertices, -1, dtype=np.int32)
    into = np.full(graph.n_vertices, -1, dtype=np.int32)
    q_to = np.empty(n, dtype=np.int32)
    q_done = np.empty(n, dtype=np.int32)
    stopped = np.zeros(n, dtype=bool)
    free_agents = list(range(n))
    plan_times = np.empty(steps, dtype=np.float64)
    finished = errands = collisions = waits = turns = sideways = 0
    heading = np.zeros(n, dtype=np.int64)  # LoRR: 0 east, 1 south, 2 west, 3 north
    turning = np.zeros(n, dtype=bool)
    ahead = _ahead_table(graph, width) if rotations else np.empty((0, 4), dtype=np.int32)

    def assign(agent: int) -> None:
        # nearest open task by Manhattan distance to its first errand
        here = pos[agent]
        d = np.abs(open_row - rows[here]) + np.abs(open_col - cols[here])
        d[open_id < 0] = np.iinfo(np.int64).max
        slot = int(np.argmin(d))
        chosen = int(open_id[slot])
        if chosen < 0:
            return
        open_id[slot] = -1
        task_of[agent] = chosen
        errand_of[agent] = 0
        goal[agent] = task_cells[chosen][0]

    if observe is not None:
        observe(graph.cells(pos))
    for step in range(steps):
        began = time.perf_counter()
        while free_agents:
            agent = free_agents.pop()
            assign(agent)
            if task_of[agent] < 0:
                goal[agent] = pos[agent]
        for i in np.flatnonzero(table_goal != goal).tolist():
            table_of[i] = pool.row(int(goal[i]), goal)
            table_goal[i] = goal[i]
        order = np.argsort(-(priority + tie), kind="stable").astype(np.int32)
        pinned = generator.remaining > 1 if generator is not None else stopped
        if rotations:
            pibt_step_turning(ahead, pool.tables, table_of, pos, heading, q_to, order,
                              pinned, occ_now, occ_next, rng)
            want = _facing(rows[q_to] - rows[pos], cols[q_to] - cols[pos])
            np.logical_and(q_to != pos, want != heading, out=turning)
        else:
            _kernels.pibt_step(graph.nbr, pool.tables, table_of, pos, q_to, order, pinned,
                               occ_now, occ_next, rng)
        plan_times[step] = time.perf_counter() - began
        # execute under delays
        if generator is not None:
            stopped = generator.next_tick()
        if rotations:
            # An agent planned into a cell it does not face turns instead and stays: like a
            # delayed agent, it holds up whoever was planned into its cell.
            waits += _kernels.execute_step(pos, q_to, stopped | turning, into, q_done)
            moved = q_done != pos
            sideways += int((_facing(rows[q_done] - rows[pos], cols[q_done] - cols[pos])
                             != heading)[moved].sum())
            turn = turning & ~stopped
            # a quarter turn towards the move: clockwise unless counter-clockwise is shorter
            by = np.where((want - heading) % 4 == 3, -1, 1)
            heading[turn] = (heading[turn] + by[turn]) % 4
            turns += int(turn.sum())
        else:
            waits += _kernels.execute_step(pos, q_to, stopped, into, q_done)
        collisions += _kernels.count_conflicts(pos, q_done, graph.nbr, occ_now)
        pos[:] = q_done
        if observe is not None:
            observe(graph.cells(pos))
        # progress on tasks
        arrived = np.flatnonzero((pos == goal) & (task_of >= 0))
        for agent in arrived.tolist():
            errands += 1
            cells = task_cells[task_of[agent]]
            errand_of[agent] += 1
            if errand_of[agent] < cells.shape[0]:
                goal[agent] = cells[errand_of[agent]]
            else:
                finished += 1
                task_of[agent] = -1
                free_agents.append(agent)
                # a finished task reveals the next one (LoRR keeps the revealed count)
                reveal(int(np.argmin(open_id)))
            priority[agent] = 0.0
        moving = pos != goal
        priority[moving] += 1.0
        if progress is not None:
            progress(step + 1, steps)
    if collisions:
        log.error("lifelong run on %s had %d collisions", problem.name, collisions)
    over = 0 if time_limit_per_step_s is None else int(
        (plan_times > time_limit_per_step_s).sum())
    return LifelongStats(
        problem=problem.name,
        agents=n,
        steps=steps,
        tasks_finished=finished,
        errands_finished=errands,
        throughput=finished / steps,
        plan_time_p50_s=float(np.percentile(plan_times, 50)),
        plan_time_p99_s=float(np.percentile(plan_times, 99)),
        plan_time_max_s=float(plan_times.max()),
        steps_over_limit=over,
        collisions=collisions,
        delay_events=generator.events if generator is not None else 0,
        delay_waits=waits,
        rotations=rotations,
        turns=turns,
        sideways=sideways,
    )


def _check_strongly_connected(graph: GridGraph, problem: LorrProblem) -> None:
    """Raise unless every start and errand cell lies in one strongly connected component
    of a directed graph (else some agent could get a goal it can never reach)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    has = graph.nbr >= 0
    sources = np.repeat(np.arange(graph.n_vertices), has.sum(axis=1))
    edges = csr_matrix((np.ones(sources.shape[0], dtype=np.int8), (sources, graph.nbr[has])),
                       shape=(graph.n_vertices, graph.n_vertices))
    _, component = connected_components(edges, directed=True, connection="strong")
    width = problem.free.shape[1]
    start_v = graph.vertex_of[problem.starts[:, 0] * width + problem.starts[:, 1]]
    home = int(component[start_v[0]]) if start_v.shape[0] else -1
    for i, v in enumerate(start_v.tolist()):
        if component[v] != home:
            cell = tuple(int(x) for x in problem.starts[i])
            raise InvalidInputError(
                f"agent {i} starts at {cell}, from where one-way aisles leave no way to and "
                f"from agent 0's start", field=f"starts[{i}]", value=cell)
    for t, errands in enumerate(problem.tasks):
        vs = graph.vertex_of[errands[:, 0] * width + errands[:, 1]]
        bad = np.flatnonzero(component[vs] != home)
        if bad.shape[0]:
            cell = tuple(int(x) for x in errands[int(bad[0])])
            raise InvalidInputError(
                f"task {t} has an errand at {cell} that one-way aisles cut off from the "
                f"agents' starts", field=f"tasks[{t}]", value=cell)


def _ahead_table(graph: GridGraph, width: int) -> Int32Array:
    """`ahead[v, h]`: the vertex one cell from v in LoRR heading h, -1 if blocked, off the
    map or against a one-way aisle (not an edge of the graph)."""
    rows, cols = divmod(graph.cell_of.astype(np.int64), width)
    height = graph.vertex_of.shape[0] // width
    ahead = np.full((graph.n_vertices, 4), -1, dtype=np.int32)
    for h, (dr, dc) in enumerate(((0, 1), (1, 0), (0, -1), (-1, 0))):
        r, c = rows + dr, cols + dc
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        ahead[inside, h] = graph.vertex_of[r[inside] * width + c[inside]]
    if graph.directed:
        is_edge = (graph.nbr[:, :, None] == ahead[:, None, :]).any(axis=1)
        ahead[~is_edge] = -1
    return ahead


def _facing(d_row: npt.NDArray[np.int64],
            d_col: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The LoRR heading (0 east, 1 south, 2 west, 3 north) of unit moves; 0 for no move."""
    return np.select([d_row > 0, d_col < 0, d_row < 0], [1, 2, 3], 0).astype(np.int64)
