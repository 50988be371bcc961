"""Grid A*: optimal against a plain reference, the corner rule, zones, and bad requests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from planning_strategies import Problem, problems, reference_cost

from fleet.model import InfeasibleError, InvalidInputError
from fleet.planning import (
    CellBlockedError,
    CellOffMapError,
    GridPlanner,
    NoPathError,
    PathResult,
    astar,
    path_cost,
    zone_costs,
)

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def grid(*rows: str) -> np.ndarray:
    """A map from strings: '.' free, '@' blocked; row 0 is the first string."""
    return np.array([[ch == "." for ch in row] for row in rows])


def assert_optimal(problem: Problem, connectivity: int) -> None:
    expected = reference_cost(problem.free, problem.start, problem.goal, connectivity, problem.cost)
    planner = GridPlanner(problem.free, connectivity, problem.cost)
    if math.isinf(expected):
        with pytest.raises(NoPathError):
            planner.plan(problem.start, problem.goal)
        return
    result = planner.plan(problem.start, problem.goal)
    assert result.cells[0] == problem.start
    assert result.cells[-1] == problem.goal
    assert result.cost == pytest.approx(expected, rel=1e-9, abs=1e-9)
    walked = path_cost(problem.free, result.cells, connectivity, problem.cost)
    assert walked == pytest.approx(result.cost, rel=1e-9, abs=1e-9)


@PROPERTY
@given(problems())
def test_4_connected_paths_are_optimal(problem: Problem) -> None:
    assert_optimal(problem, 4)


@PROPERTY
@given(problems())
def test_8_connected_paths_are_optimal(problem: Problem) -> None:
    assert_optimal(problem, 8)


@PROPERTY
@given(problems(with_cost=True))
def test_4_connected_paths_with_cell_costs_are_optimal(problem: Problem) -> None:
    assert_optimal(problem, 4)


@PROPERTY
@given(problems(with_cost=True))
def test_8_connected_paths_with_cell_costs_are_optimal(problem: Problem) -> None:
    assert_optimal(problem, 8)


@settings(max_examples=40, deadline=None)
@given(problems(max_side=12))
def test_one_planner_answers_many_queries_like_fresh_ones(problem: Problem) -> None:
    reused = GridPlanner(problem.free, 8)
    cells = [tuple(int(v) for v in c) for c in np.argwhere(problem.free)][:6]
    for start in cells:
        for goal in cells:
            expected = reference_cost(problem.free, start, goal, 8)  # type: ignore[arg-type]
            if math.isinf(expected):
                with pytest.raises(NoPathError):
                    reused.plan(start, goal)  # type: ignore[arg-type]
            else:
                got = reused.plan(start, goal).cost  # type: ignore[arg-type]
                assert got == pytest.approx(expected)


def test_diagonal_never_cuts_a_corner() -> None:
    free = grid(
        ".@",
        "..",
    )
    result = astar(free, (0, 0), (1, 1), connectivity=8)
    assert result.cost == 2.0
    assert result.cells == [(0, 0), (1, 0), (1, 1)]


def test_diagonal_between_two_obstacles_is_closed() -> None:
    free = grid(
        ".@",
        "@.",
    )
    with pytest.raises(NoPathError):
        astar(free, (0, 0), (1, 1), connectivity=8)


def test_open_diagonal_costs_sqrt_two() -> None:
    free = grid(
        "..",
        "..",
    )
    result = astar(free, (0, 0), (1, 1), connectivity=8)
    assert result.cells == [(0, 0), (1, 1)]
    assert result.cost == pytest.approx(math.sqrt(2.0))


def test_path_cost_rejects_a_corner_cut() -> None:
    free = grid(
        ".@",
        "..",
    )
    with pytest.raises(InvalidInputError, match="corner"):
        path_cost(free, [(0, 0), (1, 1)], 8)


def test_path_cost_rejects_a_jump() -> None:
    free = grid("...")
    with pytest.raises(InvalidInputError, match="step"):
        path_cost(free, [(0, 0), (0, 2)], 4)


def test_slow_zone_is_avoided_when_a_detour_is_cheaper() -> None:
    free = grid(
        ".....",
        ".....",
        ".....",
    )
    slow = np.zeros(free.shape, dtype=bool)
    slow[1, 1:4] = True
    cost = zone_costs(free, speed_zones=[(slow, 0.25)])
    assert cost[1, 2] == 4.0
    result = astar(free, (1, 0), (1, 4), connectivity=4, cost=cost)
    assert not any(slow[cell] for cell in result.cells)
    assert result.cost == 6.0


def test_slow_zone_is_crossed_when_it_is_the_only_way() -> None:
    free = grid(".....")
    slow = np.zeros(free.shape, dtype=bool)
    slow[0, 2] = True
    result = astar(free, (0, 0), (0, 4), connectivity=4, cost=zone_costs(free, [(slow, 0.5)]))
    assert result.cost == 5.0


def test_keep_out_zone_is_never_entered() -> None:
    free = grid(
        "...",
        "...",
        "...",
    )
    keep_out = np.zeros(free.shape, dtype=bool)
    keep_out[:2, 1] = True
    result = astar(free, (0, 0), (0, 2), connectivity=8, cost=zone_costs(free, keep_out=[keep_out]))
    assert all(not keep_out[cell] for cell in result.cells)
    assert (2, 1) in result.cells
    assert result.cost == 6.0  # no diagonal may clip the zone's corner


def test_goal_in_keep_out_zone_is_refused() -> None:
    free = grid("...")
    cost = np.array([[1.0, 1.0, np.inf]])
    with pytest.raises(CellBlockedError) as caught:
        astar(free, (0, 0), (0, 2), cost=cost)
    assert caught.value.cell == (0, 2)
    assert caught.value.field == "goal"


def test_overlapping_zones_take_the_slowest() -> None:
    free = grid("..")
    everywhere = np.ones(free.shape, dtype=bool)
    cost = zone_costs(free, [(everywhere, 0.5), (everywhere, 0.25)])
    assert cost.tolist() == [[4.0, 4.0]]


def test_zone_speed_must_be_a_fraction() -> None:
    free = grid("..")
    with pytest.raises(InvalidInputError, match="speed zone 0"):
        zone_costs(free, [(np.ones(free.shape, dtype=bool), 0.0)])


def test_costs_below_one_are_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"cell \(0, 1\)"):
        GridPlanner(grid(".."), 4, np.array([[1.0, 0.5]]))


def test_nan_costs_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        GridPlanner(grid(".."), 4, np.array([[1.0, np.nan]]))


def test_cost_grid_of_another_shape_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="shape"):
        GridPlanner(grid(".."), 4, np.ones((2, 2)))


@pytest.mark.parametrize("cell", [(-1, 0), (0, 3), (5, 0)])
def test_start_off_the_map_names_the_cell(cell: tuple[int, int]) -> None:
    with pytest.raises(CellOffMapError) as caught:
        astar(grid("...", "..."), cell, (0, 0))
    assert caught.value.cell == cell
    assert caught.value.field == "start"
    assert isinstance(caught.value, InvalidInputError)
    assert "off the map" in str(caught.value)


def test_blocked_start_names_the_cell() -> None:
    with pytest.raises(CellBlockedError) as caught:
        astar(grid(".@."), (0, 1), (0, 0))
    assert caught.value.cell == (0, 1)
    assert "blocked" in str(caught.value)


def test_malformed_cell_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="start"):
        astar(grid("..."), ("a", 0), (0, 0))  # type: ignore[arg-type]


def test_unreachable_goal_is_infeasible_and_names_start_and_goal() -> None:
    free = grid(
        "..@..",
        "..@..",
    )
    with pytest.raises(NoPathError) as caught:
        astar(free, (0, 0), (1, 4), connectivity=8)
    assert isinstance(caught.value, InfeasibleError)
    assert "(0, 0)" in str(caught.value) and "(1, 4)" in str(caught.value)
    # The search ends once the start's side of the wall is exhausted.
    assert caught.value.searched == 4


def test_unreachable_goal_search_is_bounded_by_the_map() -> None:
    rng = np.random.default_rng(7)
    free = rng.random((60, 60)) > 0.3
    free[:, 30] = False
    free[0, 0] = free[59, 59] = True
    for connectivity in (4, 8):
        with pytest.raises(NoPathError) as caught:
            GridPlanner(free, connectivity).plan((0, 0), (59, 59))
        assert caught.value.searched <= int(free.sum())


def test_start_equal_to_goal_is_a_one_cell_path() -> None:
    result = astar(grid("..."), (0, 1), (0, 1))
    assert result.cells == [(0, 1)]
    assert result.cost == 0.0


@pytest.mark.parametrize("connectivity", [0, 6, "8"])
def test_connectivity_must_be_4_or_8(connectivity: object) -> None:
    with pytest.raises(InvalidInputError, match="connectivity"):
        GridPlanner(grid(".."), connectivity)  # type: ignore[arg-type]


def test_map_must_be_two_dimensional() -> None:
    with pytest.raises(InvalidInputError, match="2-D"):
        GridPlanner(np.ones(5, dtype=bool), 4)


def test_invalidate_rereads_a_changed_map() -> None:
    free = grid(
        "...",
        "...",
    )
    planner = GridPlanner(free, 4)
    assert planner.plan((0, 0), (0, 2)).cost == 2.0
    free[0, 1] = False
    planner.invalidate()
    assert planner.plan((0, 0), (0, 2)).cost == 4.0


def test_stamps_wrap_around_without_stale_state() -> None:
    free = grid(
        "....",
        ".@@.",
        "....",
    )
    planner = GridPlanner(free, 8)
    planner._generation = 2**30 - 3  # just below the wrap
    costs = {planner.plan((0, 0), (2, 3)).cost for _ in range(5)}
    assert costs == {5.0}


def test_path_result_offers_cells_and_an_array() -> None:
    result = astar(grid("...."), (0, 0), (0, 3), connectivity=4)
    assert result.cells == [(0, 0), (0, 1), (0, 2), (0, 3)]
    assert result.array.tolist() == [[0, 0], [0, 1], [0, 2], [0, 3]]
    assert not result.array.flags.writeable
    assert len(result) == 4
    assert result == PathResult(result.cells, result.cost, result.expansions)
    assert "cost=3.0" in repr(result)


def test_cost_grid_of_ones_matches_no_cost_grid() -> None:
    rng = np.random.default_rng(3)
    free = rng.random((30, 30)) > 0.25
    cells = [tuple(int(v) for v in c) for c in np.argwhere(free)]
    start, goal = cells[0], cells[-1]
    plain = GridPlanner(free, 8)
    ones = GridPlanner(free, 8, np.ones(free.shape))
    try:
        assert ones.plan(start, goal).cost == plain.plan(start, goal).cost  # type: ignore[arg-type]
    except NoPathError:
        with pytest.raises(NoPathError):
            ones.plan(start, goal)  # type: ignore[arg-type]


def test_read_only_inputs_are_accepted() -> None:
    free = grid("...", "...")
    cost = np.array([[1.0, 2.0, 1.0], [1.0, 1.0, 1.0]])
    free.flags.writeable = False
    cost.flags.writeable = False
    assert astar(free, (0, 0), (0, 2), connectivity=4, cost=cost).cost == 3.0
