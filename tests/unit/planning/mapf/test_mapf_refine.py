"""SIPP finds the same earliest arrivals as a plain space-time search, and LNS refinement
keeps solutions valid and never makes them longer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from fleet.planning.mapf import _kernels, _refine, check_solution, solve_mapf, sum_of_costs
from fleet.planning.mapf.graph import GridGraph
from fleet.planning.mapf.instance import load_instance

BENCH = Path("/work/shared/benchmarks/movingai")
bench_data = pytest.mark.skipif(not BENCH.is_dir(), reason="MovingAI benchmark not present")

NIL = -1


def random_instance(seed: int, rows: int, cols: int, agents: int, blocked: float):  # type: ignore[no-untyped-def]
    """A random grid (its free cells connected) with distinct random starts and goals."""
    rng = np.random.default_rng(seed)
    while True:
        free = rng.random((rows, cols)) >= blocked
        graph = GridGraph.from_grid(free)
        table = np.empty(graph.n_vertices, dtype=np.int32)
        queue = np.empty(graph.n_vertices + 1, dtype=np.int32)
        _kernels.bfs_table(graph.nbr, 0, table, queue)
        if graph.n_vertices >= 2 * agents and (table < _kernels.INF_DIST).all():
            break
    cells = [tuple(int(x) for x in np.divmod(int(c), cols)) for c in graph.cell_of]
    starts = [cells[i] for i in rng.permutation(len(cells))[:agents]]
    goals = [cells[i] for i in rng.permutation(len(cells))[:agents]]
    return free, starts, goals


def lacam_paths(free, starts, goals, pad: int = 0):  # type: ignore[no-untyped-def]
    """LaCAM's unrefined solution as vertices ((T+1, N)), with `pad` extra timesteps."""
    result = solve_mapf(free, starts, goals, time_limit_s=10.0, refine_time_s=0.0)
    assert result.solved
    graph = GridGraph.from_grid(free)
    cols = graph.shape[1]
    flat = result.paths[..., 0] * cols + result.paths[..., 1]
    sol = graph.vertex_of[flat].astype(np.int32)
    if pad:
        sol = np.concatenate([sol, np.repeat(sol[-1:], pad, axis=0)])
    return graph, sol


def occupancy(sol: npt.NDArray[np.int32], v_count: int, skip: int):  # type: ignore[no-untyped-def]
    horizon = sol.shape[0] - 1
    words = (horizon >> 6) + 1
    occ = np.full((horizon + 1) * v_count, NIL, dtype=np.int32)
    busy = np.zeros(v_count * words, dtype=np.uint64)
    paths = np.ascontiguousarray(sol.T)
    for i in range(sol.shape[1]):
        if i != skip:
            _refine.place(paths[i], i, occ, busy, words, v_count)
    return occ, busy, words


def reference_arrival(nbr, occ, v_count, horizon, start, goal) -> int:  # type: ignore[no-untyped-def]
    """Breadth-first over (timestep, vertex): the earliest t at which the agent can be at
    `goal` and stay there to the horizon, or -1."""
    taken = occ.reshape(horizon + 1, v_count)
    free_from = horizon + 1  # the goal is free at every timestep from here on
    while free_from > 0 and taken[free_from - 1, goal] == NIL:
        free_from -= 1
    reach = {start}
    for t in range(horizon + 1):
        if t > 0:
            nxt = set()
            for v in reach:
                for u in [*(int(x) for x in nbr[v] if x >= 0), v]:
                    if taken[t, u] != NIL:
                        continue
                    other = taken[t - 1, u]
                    if u != v and other != NIL and taken[t, v] == other:
                        continue  # swap
                    nxt.add(u)
            reach = nxt
        if goal in reach and t >= free_from:
            return t
    return -1


def run_sipp(graph, sol, occ, busy, words, i, goal, max_arrival):  # type: ignore[no-untyped-def]
    horizon = sol.shape[0] - 1
    size = (horizon + 1) * graph.n_vertices
    mark = np.zeros(size, dtype=np.int32)
    parent = np.empty(size, dtype=np.int32)
    best = np.empty(size, dtype=np.int32)
    table = np.empty(graph.n_vertices, dtype=np.int32)
    queue = np.empty(graph.n_vertices + 1, dtype=np.int32)
    _kernels.bfs_table(graph.nbr, goal, table, queue)
    out = np.full(horizon + 1, NIL, dtype=np.int32)
    counter = np.zeros(1, dtype=np.int64)
    arrival = _refine.sipp(
        int(sol[0, i]), goal, graph.nbr, table, occ, busy, words, horizon, max_arrival,
        mark, 1, parent, best, np.empty(4, dtype=np.int64), np.empty(4, dtype=np.int32),
        out, 10**9, counter,
    )
    return arrival, out


def assert_valid_path(graph, occ, path, start, goal, arrival) -> None:  # type: ignore[no-untyped-def]
    v_count = graph.n_vertices
    assert path[0] == start
    assert (path[arrival:] == goal).all()
    for t in range(path.shape[0]):
        assert occ[t * v_count + path[t]] == NIL, f"vertex conflict at t={t}"
        if t > 0 and path[t] != path[t - 1]:
            assert path[t] in graph.nbr[path[t - 1]], f"not a move at t={t}"
            other = occ[(t - 1) * v_count + path[t]]
            assert not (other != NIL and occ[t * v_count + path[t - 1]] == other), "swap"


@pytest.mark.parametrize("seed", range(12))
def test_sipp_finds_the_space_time_optimum(seed: int) -> None:
    """Replanning each agent of a dense LaCAM solution (long waits, goals taken late):
    SIPP's arrival equals breadth-first search over timesteps, and its path is valid."""
    rows, cols = (5, 7) if seed % 2 else (8, 8)
    agents = 8 if seed % 2 else 14
    free, starts, goals = random_instance(seed, rows, cols, agents, blocked=0.2)
    graph, sol = lacam_paths(free, starts, goals, pad=seed % 3)
    horizon = sol.shape[0] - 1
    goal_v = graph.vertices("goals", goals)
    for i in range(sol.shape[1]):
        occ, busy, words = occupancy(sol, graph.n_vertices, skip=i)
        start, goal = int(sol[0, i]), int(goal_v[i])
        want = reference_arrival(graph.nbr, occ, graph.n_vertices, horizon, start, goal)
        assert want >= 0  # the agent's own path is one way
        got, path = run_sipp(graph, sol, occ, busy, words, i, goal, horizon)
        assert got == want
        assert_valid_path(graph, occ, path, start, goal, got)
        # a tighter bound: the same answer when it allows it, none when it does not
        assert run_sipp(graph, sol, occ, busy, words, i, goal, want)[0] == want
        assert run_sipp(graph, sol, occ, busy, words, i, goal, want - 1)[0] == -1


def test_sipp_steps_into_a_bay_to_let_a_train_pass() -> None:
    """A corridor with one bay: two agents come down the corridor towards the one being
    planned, which must wait in the bay until they have passed; the horizon spans more
    than one 64-bit word of the occupancy rows."""
    free = np.zeros((2, 9), dtype=bool)
    free[0, :] = True
    free[1, 2] = True  # the bay
    graph = GridGraph.from_grid(free)
    cols = 9

    def vertex(row: int, col: int) -> int:
        return int(graph.vertex_of[row * cols + col])

    horizon = 100
    sol = np.empty((horizon + 1, 3), dtype=np.int32)
    sol[:, 0] = vertex(0, 0)  # the agent to plan: (0, 0) to (0, 8)
    for t in range(horizon + 1):
        # the train waits at (0, 7) and (0, 8) until t = 50, then walks to (0, 0), (0, 1)
        sol[t, 1] = vertex(0, max(7 - max(t - 50, 0), 0))
        sol[t, 2] = vertex(0, max(8 - max(t - 50, 0), 1))
    occ, busy, words = occupancy(sol, graph.n_vertices, skip=0)
    start, goal = vertex(0, 0), vertex(0, 8)
    want = reference_arrival(graph.nbr, occ, graph.n_vertices, horizon, start, goal)
    assert want == 63  # out of the bay at t = 57, when the train has passed, then 6 steps
    got, path = run_sipp(graph, sol, occ, busy, words, 0, goal, horizon)
    assert got == want
    assert_valid_path(graph, occ, path, start, goal, got)
    assert (path == vertex(1, 2)).any()
    assert run_sipp(graph, sol, occ, busy, words, 0, goal, 62)[0] == -1


@pytest.mark.parametrize("seed", range(6))
def test_refinement_keeps_solutions_valid_and_never_longer(seed: int) -> None:
    free, starts, goals = random_instance(100 + seed, 7, 9, 16, blocked=0.15)
    graph, sol = lacam_paths(free, starts, goals)
    goal_v = graph.vertices("goals", goals)
    tables = np.empty((len(goals), graph.n_vertices), dtype=np.int32)
    _kernels.bfs_tables(graph.nbr, goal_v, tables)
    before = sum_of_costs(sol, goal_v)
    stats = np.zeros(8, dtype=np.int64)
    refined = _refine.refine(graph, tables, sol, goal_v, _kernels.now_s() + 10.0,
                             seed=seed, max_iterations=300, stats=stats)
    assert check_solution(free, starts, goals, graph.cells(refined)) == []
    assert sum_of_costs(refined, goal_v) <= before
    assert sum_of_costs(refined, goal_v) >= tables[np.arange(len(goals)), sol[0]].sum()
    assert before - sum_of_costs(refined, goal_v) == stats[_refine.GAIN]


@bench_data
def test_refinement_of_400_warehouse_agents_gains_much_and_stays_valid() -> None:
    name = "warehouse-10-20-10-2-1"
    instance = load_instance(BENCH / f"{name}.map", BENCH / f"{name}-random-1.scen", 400)
    graph, sol = lacam_paths(instance.free, instance.starts, instance.goals)
    goal_v = graph.vertices("goals", instance.goals)
    tables = np.empty((400, graph.n_vertices), dtype=np.int32)
    _kernels.bfs_tables(graph.nbr, goal_v, tables)
    lower_bound = tables[np.arange(400), sol[0]].sum()
    refined = _refine.refine(graph, tables, sol, goal_v, _kernels.now_s() + 600.0,
                             max_iterations=200)
    assert check_solution(instance.free, instance.starts, instance.goals,
                          graph.cells(refined)) == []
    assert sum_of_costs(sol, goal_v) > 1.5 * lower_bound  # LaCAM's first solution
    assert sum_of_costs(refined, goal_v) < 1.3 * lower_bound


def test_refinement_stops_when_it_no_longer_gains() -> None:
    free, starts, goals = random_instance(7, 7, 9, 12, blocked=0.15)
    graph, sol = lacam_paths(free, starts, goals)
    goal_v = graph.vertices("goals", goals)
    tables = np.empty((len(goals), graph.n_vertices), dtype=np.int32)
    _kernels.bfs_tables(graph.nbr, goal_v, tables)
    stats = np.zeros(8, dtype=np.int64)
    refined = _refine.refine(graph, tables, sol, goal_v, _kernels.now_s() + 60.0,
                             patience=50, stats=stats)
    assert check_solution(free, starts, goals, graph.cells(refined)) == []
    # it ran until 50 iterations in a row gained nothing, or until it was optimal
    optimal = sum_of_costs(refined, goal_v) == tables[np.arange(len(goals)), sol[0]].sum()
    assert optimal or stats[_refine.ITERATIONS] > 50
    assert stats[_refine.ITERATIONS] <= 51 * (stats[_refine.IMPROVED] + 1)
