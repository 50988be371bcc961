"""Distance tables: exact cost-to-go per goal, cached, dropped when the map changes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from planning_strategies import Problem, problems, reference_distances

from fleet.model import InvalidInputError
from fleet.planning import (
    CellBlockedError,
    CellOffMapError,
    DistanceTables,
    GridPlanner,
    NoPathError,
)


def expected_table(problem: Problem, connectivity: int) -> np.ndarray:
    """Cost-to-go from every cell, by running the reference forward from each one."""
    table = np.full(problem.free.shape, math.inf)
    for row, col in np.argwhere(problem.free):
        cell = (int(row), int(col))
        if problem.cost is not None and not math.isfinite(problem.cost[cell]):
            continue
        forward = reference_distances(problem.free, cell, connectivity, problem.cost)
        table[cell] = forward.get(problem.goal, math.inf)
    return table


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_tables_match_the_reference(problem: Problem) -> None:
    for connectivity in (4, 8):
        got = DistanceTables(problem.free, connectivity).get(problem.goal)
        assert np.allclose(got, expected_table(problem, connectivity), rtol=1e-12, atol=1e-12)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(max_side=7, with_cost=True))
def test_tables_match_the_reference_under_cell_costs(problem: Problem) -> None:
    for connectivity in (4, 8):
        tables = DistanceTables(problem.free, connectivity, problem.cost)
        got = tables.get(problem.goal)
        assert np.allclose(got, expected_table(problem, connectivity), rtol=1e-9, atol=1e-9)
        assert tables.distance(problem.start, problem.goal) == got[problem.start]


def test_tables_agree_with_grid_astar() -> None:
    rng = np.random.default_rng(11)
    free = rng.random((40, 40)) > 0.3
    cost = np.where(rng.random(free.shape) > 0.8, 2.5, 1.0)
    cells = [(int(r), int(c)) for r, c in np.argwhere(free)]
    goal = cells[len(cells) // 2]
    for connectivity in (4, 8):
        table = DistanceTables(free, connectivity, cost).get(goal)
        planner = GridPlanner(free, connectivity, cost)
        for start in cells[::37]:
            if math.isinf(table[start]):
                with pytest.raises(NoPathError):
                    planner.plan(start, goal)
            else:
                assert planner.plan(start, goal).cost == pytest.approx(table[start], rel=1e-9)


def test_table_is_cached_per_goal_and_read_only() -> None:
    free = np.ones((3, 4), dtype=bool)
    tables = DistanceTables(free)
    first = tables.get((0, 0))
    assert tables.get((0, 0)) is first
    assert len(tables) == 1
    assert not first.flags.writeable
    assert first.dtype == np.float64 and first.shape == free.shape
    assert first[2, 3] == 5.0


def test_cache_evicts_the_least_recently_used_table() -> None:
    tables = DistanceTables(np.ones((2, 2), dtype=bool), max_tables=2)
    a = tables.get((0, 0))
    tables.get((0, 1))
    tables.get((0, 0))  # (0, 1) is now the oldest
    tables.get((1, 1))
    assert len(tables) == 2
    assert tables.get((0, 0)) is a


def test_invalidate_rereads_the_map() -> None:
    free = np.ones((1, 3), dtype=bool)
    tables = DistanceTables(free)
    assert tables.distance((0, 0), (0, 2)) == 2.0
    free[0, 1] = False
    tables.invalidate()
    assert len(tables) == 0
    assert tables.distance((0, 0), (0, 2)) == math.inf


def test_unreachable_cells_are_inf_and_blocked_goal_is_refused() -> None:
    free = np.array([[True, False, True]])
    tables = DistanceTables(free, 8)
    assert tables.get((0, 0)).tolist() == [[0.0, math.inf, math.inf]]
    with pytest.raises(CellBlockedError):
        tables.get((0, 1))
    with pytest.raises(CellOffMapError):
        tables.get((3, 0))
    with pytest.raises(CellOffMapError):
        tables.distance((0, 9), (0, 0))


def test_costs_weigh_the_cells_entered() -> None:
    free = np.ones((1, 3), dtype=bool)
    cost = np.array([[5.0, 2.0, 1.0]])
    table = DistanceTables(free, 4, cost).get((0, 2))
    # From (0, 0): enter (0, 1) at 2, then (0, 2) at 1; the start's own cost is not paid.
    assert table.tolist() == [[3.0, 1.0, 0.0]]


def test_compact_tables_hold_the_same_distances_in_half_the_bytes() -> None:
    rng = np.random.default_rng(3)
    free = rng.random((30, 40)) > 0.25
    goals = [tuple(int(v) for v in np.argwhere(free)[k]) for k in (0, 100, 400)]
    wide, compact = DistanceTables(free, 4), DistanceTables(free, 4, compact=True)
    for goal in goals:
        a, b = wide.get(goal), compact.get(goal)
        assert b.dtype == np.float32 and a.dtype == np.float64
        assert np.array_equal(a, b.astype(np.float64))  # inf where unreachable, too
        assert b.nbytes * 2 == a.nbytes


def test_compact_tables_refuse_grids_whose_distances_are_not_whole_cells() -> None:
    free = np.ones((4, 4), dtype=bool)
    with pytest.raises(InvalidInputError, match="compact"):
        DistanceTables(free, 8, compact=True)
    with pytest.raises(InvalidInputError, match="compact"):
        DistanceTables(free, 4, np.full((4, 4), 2.0), compact=True)
