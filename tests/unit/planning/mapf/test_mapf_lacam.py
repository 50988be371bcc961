"""LaCAM's solutions pass the independent checker, including when agents must step aside."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fleet.model import InvalidInputError
from fleet.planning.errors import CellBlockedError
from fleet.planning.mapf import check_solution, solve_mapf, sum_of_costs
from fleet.planning.mapf.instance import load_instance

BENCH = Path("/work/shared/benchmarks/movingai")
bench_data = pytest.mark.skipif(not BENCH.is_dir(), reason="MovingAI benchmark not present")


def solve_and_check(free, starts, goals, **kwargs):  # type: ignore[no-untyped-def]
    result = solve_mapf(free, starts, goals, time_limit_s=20.0, **kwargs)
    assert result.solved
    assert check_solution(free, starts, goals, result.paths) == []
    assert result.soc >= result.lower_bound
    return result


def test_two_agents_trade_ends_of_a_3x2_map() -> None:
    free = np.ones((2, 3), dtype=bool)
    result = solve_and_check(free, [(0, 0), (0, 2)], [(0, 2), (0, 0)])
    assert result.makespan >= 3  # someone had to step aside


def test_three_agents_rotate_on_a_3x2_map() -> None:
    free = np.ones((2, 3), dtype=bool)
    starts = [(0, 0), (0, 1), (0, 2)]
    goals = [(0, 2), (0, 1), (0, 0)]
    solve_and_check(free, starts, goals)


def test_corridor_with_one_bay() -> None:
    free = np.zeros((2, 7), dtype=bool)
    free[0, :] = True
    free[1, 3] = True  # the only place to step aside
    result = solve_and_check(free, [(0, 0), (0, 6)], [(0, 6), (0, 0)])
    assert (result.paths[:, :, 0] == 1).any()


def test_corridor_with_one_bay_and_three_agents() -> None:
    free = np.zeros((2, 7), dtype=bool)
    free[0, :] = True
    free[1, 3] = True
    solve_and_check(free, [(0, 0), (0, 1), (0, 6)], [(0, 5), (0, 6), (0, 0)])


def test_dense_small_grid() -> None:
    free = np.ones((4, 4), dtype=bool)
    free[1, 1] = free[2, 2] = False
    cells = [(r, c) for r in range(4) for c in range(4) if free[r, c]]
    rng = np.random.default_rng(5)
    starts = [cells[i] for i in rng.permutation(len(cells))[:10]]
    goals = [cells[i] for i in rng.permutation(len(cells))[:10]]
    solve_and_check(free, starts, goals)


def test_agents_already_at_goals_cost_nothing() -> None:
    free = np.ones((3, 3), dtype=bool)
    result = solve_and_check(free, [(0, 0), (2, 2)], [(0, 0), (2, 2)])
    assert result.soc == 0 and result.makespan == 0


def test_unreachable_goal_is_refused_naming_the_agent() -> None:
    free = np.ones((3, 3), dtype=bool)
    free[:, 1] = False
    with pytest.raises(InvalidInputError, match=r"agent 1 cannot reach its goal \(2, 2\)") as err:
        solve_mapf(free, [(0, 0), (2, 0)], [(1, 0), (2, 2)], time_limit_s=5.0)
    assert err.value.field == "goals[1]"


def test_bad_inputs_are_rejected() -> None:
    free = np.ones((2, 2), dtype=bool)
    free[1, 1] = False
    with pytest.raises(CellBlockedError):
        solve_mapf(free, [(0, 0)], [(1, 1)])
    with pytest.raises(InvalidInputError):
        solve_mapf(free, [(0, 0), (0, 0)], [(0, 1), (1, 0)])
    with pytest.raises(InvalidInputError):
        solve_mapf(free, [(0, 0)], [(0, 1), (1, 0)])


def test_refinement_never_makes_a_solution_worse() -> None:
    free = np.ones((5, 5), dtype=bool)
    free[1:4, 2] = False
    starts = [(0, 0), (4, 4), (0, 4), (4, 0), (2, 0)]
    goals = [(4, 4), (0, 0), (4, 0), (0, 4), (2, 4)]
    raw = solve_and_check(free, starts, goals, refine_time_s=0.0, seed=3)
    refined = solve_and_check(free, starts, goals, refine_time_s=0.5, seed=3)
    assert refined.soc <= raw.soc


def test_sum_of_costs_counts_until_the_last_arrival() -> None:
    goals = np.array([1, 5], dtype=np.int32)
    # agent 0 reaches its goal at t=1, leaves at t=2, is back at t=3
    vertices = np.array([[0, 5], [1, 5], [2, 5], [1, 5]], dtype=np.int32)
    assert sum_of_costs(vertices, goals) == 3


@bench_data
@pytest.mark.parametrize(
    ("name", "agents"),
    [("random-32-32-10", 100), ("warehouse-10-20-10-2-1", 200), ("room-64-64-8", 50)],
)
def test_benchmark_instances_are_solved_validly(name: str, agents: int) -> None:
    instance = load_instance(BENCH / f"{name}.map", BENCH / f"{name}-random-1.scen", agents)
    solve_and_check(instance.free, instance.starts, instance.goals, refine_time_s=0.2)


@bench_data
@pytest.mark.bench
@pytest.mark.parametrize("scen", range(1, 26))
def test_warehouse_800_agents_all_scens(scen: int) -> None:
    name = "warehouse-10-20-10-2-1"
    instance = load_instance(BENCH / f"{name}.map", BENCH / f"{name}-random-{scen}.scen", 800)
    solve_and_check(instance.free, instance.starts, instance.goals, refine_time_s=0.0)
