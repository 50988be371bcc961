"""Shared hypothesis strategies and the plain-Python reference planner the tests trust."""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

Cell = tuple[int, int]
STRAIGHT = ((-1, 0), (1, 0), (0, -1), (0, 1))
DIAGONAL = ((-1, -1), (-1, 1), (1, -1), (1, 1))
COST_CHOICES = (1.0, 1.0, 1.0, 1.5, 2.0, 3.0, math.inf)


@dataclass(frozen=True)
class Problem:
    """A small grid, optional costs and a start and goal on free cells."""

    free: np.ndarray
    cost: np.ndarray | None
    start: Cell
    goal: Cell


def reference_distances(
    free: np.ndarray, source: Cell, connectivity: int, cost: np.ndarray | None = None
) -> dict[Cell, float]:
    """Dijkstra from `source` over the grid, written for clarity, not speed.

    Entering cell c costs 1 (or sqrt 2 diagonally) times cost[c]; a diagonal needs both
    cells beside it traversable. Distances are forward from `source`.
    """
    rows, cols = free.shape

    def ok(r: int, c: int) -> bool:
        if not (0 <= r < rows and 0 <= c < cols and free[r, c]):
            return False
        return cost is None or math.isfinite(cost[r, c])

    moves = STRAIGHT + (DIAGONAL if connectivity == 8 else ())
    dist: dict[Cell, float] = {source: 0.0}
    queue = [(0.0, source)]
    while queue:
        d, (r, c) = heapq.heappop(queue)
        if d > dist[(r, c)]:
            continue
        for dr, dc in moves:
            nr, nc = r + dr, c + dc
            if not ok(nr, nc):
                continue
            if dr and dc and not (ok(r + dr, c) and ok(r, c + dc)):
                continue
            step = math.sqrt(2.0) if dr and dc else 1.0
            if cost is not None:
                step *= float(cost[nr, nc])
            nd = d + step
            if nd < dist.get((nr, nc), math.inf) - 1e-12:
                dist[(nr, nc)] = nd
                heapq.heappush(queue, (nd, (nr, nc)))
    return dist


def reference_cost(
    free: np.ndarray, start: Cell, goal: Cell, connectivity: int, cost: np.ndarray | None = None
) -> float:
    """Optimal path cost from start to goal, inf if unreachable."""
    return reference_distances(free, start, connectivity, cost).get(goal, math.inf)


@st.composite
def grids(
    draw: st.DrawFn, max_side: int = 9, with_cost: bool = False, obstacle_share: float = 0.3
) -> tuple[np.ndarray, np.ndarray | None]:
    """A random grid with at least one free cell, and optionally a cost grid."""
    rows = draw(st.integers(1, max_side))
    cols = draw(st.integers(1, max_side))
    blocked = draw(
        st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=rows * cols, max_size=rows * cols)
    )
    free = np.array(blocked).reshape(rows, cols) >= obstacle_share
    if not free.any():
        free[draw(st.integers(0, rows - 1)), draw(st.integers(0, cols - 1))] = True
    cost = None
    if with_cost:
        values = draw(
            st.lists(st.sampled_from(COST_CHOICES), min_size=rows * cols, max_size=rows * cols)
        )
        cost = np.array(values, dtype=float).reshape(rows, cols)
    return free, cost


@st.composite
def problems(draw: st.DrawFn, max_side: int = 9, with_cost: bool = False) -> Problem:
    """A grid and two traversable cells (possibly the same, possibly not connected)."""
    free, cost = draw(grids(max_side=max_side, with_cost=with_cost))
    usable = free if cost is None else free & np.isfinite(cost)
    if not usable.any():
        cost[tuple(np.argwhere(free)[0])] = 1.0  # type: ignore[index]
        usable = free & np.isfinite(cost)  # type: ignore[arg-type]
    cells = [(int(r), int(c)) for r, c in np.argwhere(usable)]
    start = draw(st.sampled_from(cells))
    goal = draw(st.sampled_from(cells))
    return Problem(free, cost, start, goal)
