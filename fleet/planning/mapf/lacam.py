"""One-shot MAPF: LaCAM (Okumura, AAAI 2023) with PIBT as its configuration generator.

LaCAM searches depth-first over configurations (one cell per agent). Each configuration
carries a lazily grown tree of constraints ("agent i goes to cell v next"); a visit pops
one constraint set and asks PIBT for a successor that respects it, so every successor of a
configuration is eventually tried and the search is complete. Configurations already seen
are found in a hash table and not expanded twice. A refinement (large neighbourhood search)
then replans small groups of agents against the others (SIPP) to cut the sum of costs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleet.model import Cell, InvalidInputError
from fleet.planning.mapf import _kernels, _refine
from fleet.planning.mapf.graph import GridGraph

__all__ = ["MapfResult", "solve_mapf", "sum_of_costs", "warm_up_mapf"]

Config = list[Cell]


@dataclass(frozen=True, slots=True, eq=False)
class MapfResult:
    """A MAPF answer: `paths[t, i]` is agent i's (row, col) at timestep t.

    `solved` is False when the time ran out (then `paths` is empty). `soc` counts for each
    agent the timesteps until it reaches its goal for the last time; `lower_bound` is the
    sum of the agents' shortest-path lengths; `comp_time_s` is wall time in seconds.
    """

    solved: bool
    paths: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]
    goals: npt.NDArray[np.int64]
    soc: int
    makespan: int
    lower_bound: int
    comp_time_s: float
    high_level_nodes: int
    solver: str = "lacam"

    @property
    def n_agents(self) -> int:
        """Number of agents."""
        return int(self.starts.shape[0])


def sum_of_costs(vertices: npt.NDArray[np.int32], goals: npt.NDArray[np.int32]) -> int:
    """Sum over agents of the last timestep at which the agent is away from its goal, + 1."""
    away = vertices != goals[None, :]
    steps = away.shape[0]
    last = np.where(away.any(axis=0), steps - np.argmax(away[::-1], axis=0), 0)
    return int(last.sum())


def solve_mapf(
    free: npt.ArrayLike | GridGraph,
    starts: list[Cell],
    goals: list[Cell],
    *,
    time_limit_s: float = 60.0,
    seed: int = 0,
    refine_time_s: float = 2.0,
) -> MapfResult:
    """Plan collision-free paths from `starts` to `goals` (cells as (row, col)).

    `free` is a bool grid (4-connected, every move both ways) or a `GridGraph`, which may
    be directed (`GridGraph.from_occupancy` of a floor with one-way aisles: no agent ever
    moves against an aisle). Agents make unit moves or wait; vertex and swap conflicts are
    forbidden. After the first solution, refinement shortens it for up to `refine_time_s`
    seconds (within the time limit; 0 turns it off). Raises InvalidInputError for
    mismatched or duplicate cells or a goal its agent cannot reach from its start (field
    `goals[i]`), CellOffMapError or CellBlockedError for a bad cell. `solved=False` when the
    time ran out or no solution exists.
    """
    began = time.perf_counter()
    if len(starts) != len(goals):
        raise InvalidInputError(
            f"{len(starts)} starts but {len(goals)} goals", field="goals", value=len(goals)
        )
    if time_limit_s <= 0:
        raise InvalidInputError(
            f"time_limit_s must be positive, got {time_limit_s}",
            field="time_limit_s",
            value=time_limit_s,
        )
    graph = free if isinstance(free, GridGraph) else GridGraph.from_grid(free)
    start_v = graph.vertices("starts", starts)
    goal_v = graph.vertices("goals", goals)
    for name, vs in (("starts", start_v), ("goals", goal_v)):
        if np.unique(vs).shape[0] != vs.shape[0]:
            raise InvalidInputError(f"two agents share a cell in {name}", field=name, value=None)
    n = start_v.shape[0]
    tables = np.empty((n, graph.n_vertices), dtype=np.int32)
    _kernels.bfs_tables(graph.rnbr, goal_v, tables)
    _check_reachable(tables, start_v, starts, goals, graph.directed)
    lower_bound = int(tables[np.arange(n), start_v].sum())
    deadline = _kernels.now_s() + time_limit_s - (time.perf_counter() - began)
    solution, status, nodes, _ = _kernels.lacam(
        graph.nbr, tables, start_v, goal_v, int(seed) & 0x7FFFFFFF, deadline
    )
    solved = status == 1
    if solved and refine_time_s > 0 and n > 0:
        until = min(deadline, _kernels.now_s() + refine_time_s)
        solution = _refine.refine(graph, tables, solution, goal_v, until, seed=seed)
    if not solved:
        solution = np.empty((0, n), dtype=np.int32)
    soc = sum_of_costs(solution, goal_v) if solved else 0
    return MapfResult(
        solved=solved,
        paths=graph.cells(solution),
        starts=graph.cells(start_v),
        goals=graph.cells(goal_v),
        soc=soc,
        makespan=max(int(solution.shape[0]) - 1, 0),
        lower_bound=lower_bound,
        comp_time_s=time.perf_counter() - began,
        high_level_nodes=int(nodes),
    )


def _check_reachable(tables: npt.NDArray[np.int32], start_v: npt.NDArray[np.int32],
                     starts: list[Cell], goals: list[Cell], directed: bool) -> None:
    """Raise for the first agent whose goal cannot be reached from its start."""
    away = tables[np.arange(start_v.shape[0]), start_v]
    cut_off = np.flatnonzero(away >= _kernels.INF_DIST)
    if cut_off.shape[0]:
        i = int(cut_off[0])
        why = " (one-way aisles allow no way there)" if directed else ""
        raise InvalidInputError(
            f"agent {i} cannot reach its goal {tuple(goals[i])} from its start "
            f"{tuple(starts[i])}{why}; {cut_off.shape[0]} agent(s) in all",
            field=f"goals[{i}]", value=tuple(goals[i]))


def warm_up_mapf() -> float:
    """Compile (or load from the disk cache) the MAPF kernels on a tiny map; returns seconds."""
    began = time.perf_counter()
    free = np.ones((3, 3), dtype=bool)
    free[1, 1] = False
    solve_mapf(free, [(0, 0), (0, 2)], [(0, 2), (0, 0)], time_limit_s=5.0, refine_time_s=0.01)
    graph = GridGraph.from_grid(free)
    tables = np.empty((2, graph.n_vertices), dtype=np.uint16)
    queue = np.empty(graph.n_vertices + 1, dtype=np.int32)
    for row, goal in enumerate((2, 0)):
        _kernels.bfs_table_u16(graph.nbr, goal, tables[row], queue)
    q_from = np.array([0, 2], dtype=np.int32)
    q_to = np.empty(2, dtype=np.int32)
    q_done = np.empty(2, dtype=np.int32)
    occ_now = np.full(graph.n_vertices, -1, dtype=np.int32)
    occ_next = occ_now.copy()
    into = occ_now.copy()
    rng = np.ones(1, dtype=np.uint64)
    stopped = np.zeros(2, dtype=bool)
    _kernels.pibt_step(graph.nbr, tables, np.arange(2, dtype=np.int32), q_from, q_to,
                       np.arange(2, dtype=np.int32), stopped, occ_now, occ_next, rng)
    _kernels.execute_step(q_from, q_to, stopped, into, q_done)
    _kernels.count_conflicts(q_from, q_done, graph.nbr, occ_now)
    return time.perf_counter() - began
