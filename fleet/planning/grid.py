"""Optimal paths on occupancy grids: 4-connected (unit steps) or 8-connected (octile).

A grid is a numpy bool array `free[row, col]` (True = traversable) plus an optional float
`cost[row, col] >= 1`: entering a cell costs the base step (1 straight, sqrt 2 diagonal)
times its cost, so speed zones are costs above 1 and keep-out zones are `inf` (or
`free = False`). Diagonal moves never cut a corner: both cells beside the diagonal must be
traversable too, the rule of the MovingAI benchmarks.

`GridPlanner` is the fast path for repeated queries: it encodes the map once and reuses its
buffers, so a query costs time proportional to the cells it searches, never to the map.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
import numpy.typing as npt

from fleet.model import Cell, InvalidInputError
from fleet.planning import _kernels
from fleet.planning.errors import CellBlockedError, CellOffMapError, NoPathError

__all__ = ["GridPlanner", "PathResult", "astar", "path_cost", "zone_costs"]

BoolGrid = npt.NDArray[np.bool_]
FloatGrid = npt.NDArray[np.float64]

# (row step, col step) of move k, matching the bit order of the kernels' masks.
_MOVES: tuple[tuple[int, int], ...] = tuple(
    (int(dr), int(dc)) for dr, dc in zip(_kernels.MOVE_DR, _kernels.MOVE_DC, strict=True)
)


class PathResult:
    """An optimal path from start to goal (both included), its cost and the search effort.

    `cost` is in grid steps (1 per straight step, sqrt 2 per diagonal) times the costs of
    the cells entered; `expansions` counts the cells the search expanded. `cells` is a list
    of (row, col) tuples built on first use; `array` is the same path as an (n, 2) int64
    array, for callers that stay in numpy.
    """

    __slots__ = ("_array", "_cells", "_cost", "_expansions")

    def __init__(self, cells: Sequence[Cell] | npt.ArrayLike, cost: float, expansions: int) -> None:
        array = np.array(cells, dtype=np.int64).reshape(-1, 2)
        array.flags.writeable = False
        self._array = array
        self._cells: list[Cell] | None = None
        self._cost = float(cost)
        self._expansions = int(expansions)

    @classmethod
    def _from_kernel(cls, array: npt.NDArray[np.int64], cost: float, expansions: int) -> Self:
        # The planner's fast path: the kernel's fresh array, no copy, no list yet.
        result = cls.__new__(cls)
        array.flags.writeable = False
        result._array = array
        result._cells = None
        result._cost = cost
        result._expansions = expansions
        return result

    @property
    def cells(self) -> list[Cell]:
        """The path as (row, col) tuples, start first (a new list on each access)."""
        if self._cells is None:
            rows, cols = self._array.T.tolist()
            self._cells = list(zip(rows, cols, strict=True))
        return list(self._cells)

    @property
    def cost(self) -> float:
        """Path cost in grid steps times cell costs."""
        return self._cost

    @property
    def expansions(self) -> int:
        """Cells the search expanded."""
        return self._expansions

    @property
    def array(self) -> npt.NDArray[np.int64]:
        """The path as a read-only (n, 2) array of (row, col)."""
        return self._array

    def __len__(self) -> int:
        return int(self._array.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PathResult):
            return NotImplemented
        return (
            np.array_equal(self._array, other._array)
            and self.cost == other.cost
            and self.expansions == other.expansions
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"PathResult(cells={self.cells!r}, cost={self.cost!r}, expansions={self.expansions!r})"
        )


def _check_connectivity(connectivity: int) -> int:
    if connectivity not in (4, 8):
        raise InvalidInputError(
            f"connectivity must be 4 or 8, got {connectivity!r}",
            field="connectivity",
            value=connectivity,
        )
    return int(connectivity)


def _check_free(free: npt.ArrayLike) -> BoolGrid:
    grid = np.asarray(free)
    if grid.ndim != 2 or grid.shape[0] == 0 or grid.shape[1] == 0:
        raise InvalidInputError(
            f"free must be a non-empty 2-D grid, got shape {grid.shape}",
            field="free",
            value=grid.shape,
        )
    if grid.size >= np.iinfo(np.int32).max:
        raise InvalidInputError(
            f"grid of {grid.size} cells is too large", field="free", value=grid.shape
        )
    if grid.dtype != np.bool_:
        grid = grid.astype(bool)
    return grid


def _check_cost(cost: npt.ArrayLike | None, shape: tuple[int, ...]) -> FloatGrid | None:
    if cost is None:
        return None
    values = np.asarray(cost, dtype=np.float64)
    if values.shape != shape:
        raise InvalidInputError(
            f"cost grid has shape {values.shape}, the map has {shape}",
            field="cost",
            value=values.shape,
        )
    bad = np.isnan(values) | (values < 1.0)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise InvalidInputError(
            f"cell costs must be >= 1 (or inf for keep-out); cell {(row, col)} has "
            f"{values[row, col]}",
            field="cost",
            value=(row, col),
        )
    return values


def move_mask(passable: BoolGrid, connectivity: int) -> npt.NDArray[np.uint8]:
    """Bit k of cell i: move k from i stays on the map and enters a traversable cell.

    Diagonals also need both cells beside them traversable (no corner cutting). Blocked
    cells get no moves. The result is symmetric: if a->b is allowed, so is b->a.
    """
    rows, cols = passable.shape
    padded = np.zeros((rows + 2, cols + 2), dtype=bool)
    padded[1:-1, 1:-1] = passable
    mask = np.zeros((rows, cols), dtype=np.uint8)
    n_moves = 4 if connectivity == 4 else 8
    for k in range(n_moves):
        dr, dc = _MOVES[k]
        ok = passable & padded[1 + dr : 1 + dr + rows, 1 + dc : 1 + dc + cols]
        if dr != 0 and dc != 0:
            ok &= padded[1 + dr : 1 + dr + rows, 1:-1] & padded[1:-1, 1 + dc : 1 + dc + cols]
        mask |= ok.astype(np.uint8) << np.uint8(k)
    return mask.ravel()


def back_mask(mask: npt.NDArray[np.uint8], shape: tuple[int, int],
              connectivity: int) -> npt.NDArray[np.uint8]:
    """Bit k of cell i: the move from i's neighbour in direction k into i is allowed (the
    reverse of `mask`; equal to it when every allowed move is allowed both ways)."""
    rows, cols = shape
    grid = mask.reshape(shape)
    padded = np.zeros((rows + 2, cols + 2), dtype=np.uint8)
    padded[1:-1, 1:-1] = grid
    back = np.zeros(shape, dtype=np.uint8)
    n_moves = 4 if connectivity == 4 else 8
    for k in range(n_moves):
        dr, dc = _MOVES[k]
        opposite = _MOVES.index((-dr, -dc))
        neighbour = padded[1 + dr : 1 + dr + rows, 1 + dc : 1 + dc + cols]
        back |= ((neighbour >> np.uint8(opposite)) & np.uint8(1)) << np.uint8(k)
    return back.ravel()


class _GridEncoding:
    """The flat arrays the kernels read, built once from a map (shared with DistanceTables)."""

    __slots__ = ("back", "connectivity", "cost", "h_scale", "mask", "passable", "shape",
                 "width")

    def __init__(self, free: npt.ArrayLike, connectivity: int, cost: npt.ArrayLike | None,
                 one_way: npt.ArrayLike | None = None):
        self.connectivity = _check_connectivity(connectivity)
        grid = _check_free(free)
        self.shape: tuple[int, int] = (int(grid.shape[0]), int(grid.shape[1]))
        self.width = self.shape[1]
        values = _check_cost(cost, grid.shape)
        if values is None:
            self.passable = grid
            self.cost: FloatGrid | None = None
            self.h_scale = 1.0
        else:
            self.passable = grid & np.isfinite(values)
            reachable_costs = values[self.passable]
            if reachable_costs.size and bool(np.all(reachable_costs == 1.0)):
                self.cost = None  # all ones: take the unit-cost kernels
                self.h_scale = 1.0
            else:
                # A private writable copy: read-only input would need another compiled kernel.
                self.cost = values.ravel().copy()
                # Every step costs at least the cheapest cell: a stronger, still exact bound.
                self.h_scale = float(reachable_costs.min()) if reachable_costs.size else 1.0
        self.mask = move_mask(self.passable, self.connectivity)
        self.back = self.mask
        if one_way is not None:
            forbidden = np.asarray(one_way, dtype=np.uint8)
            if forbidden.shape != grid.shape:
                raise InvalidInputError(
                    f"one_way has shape {forbidden.shape}, the grid {grid.shape}",
                    field="one_way", value=forbidden.shape)
            if forbidden.any():
                self.mask = self.mask & ~forbidden.ravel()
                self.back = back_mask(self.mask, self.shape, self.connectivity)

    @property
    def n_moves(self) -> int:
        return self.connectivity

    def index(self, field: str, cell: Cell) -> int:
        """The flat index of a traversable cell; raises if it is off the map or blocked."""
        try:
            row, col = (int(cell[0]), int(cell[1]))
            if len(cell) != 2:
                raise ValueError
        except (TypeError, ValueError, IndexError):
            raise InvalidInputError(
                f"{field} must be a (row, col) pair of integers, got {cell!r}",
                field=field,
                value=cell,
            ) from None
        if not (0 <= row < self.shape[0] and 0 <= col < self.shape[1]):
            raise CellOffMapError(field, (row, col), self.shape)
        if not self.passable[row, col]:
            raise CellBlockedError(field, (row, col))
        return row * self.width + col


class GridPlanner:
    """Reusable A* over one grid: encodes the map once, then answers queries fast.

    Not thread-safe (it owns its search buffers); use one planner per worker. If the arrays
    given here change in place, call `invalidate()`.
    """

    def __init__(
        self,
        free: npt.ArrayLike,
        connectivity: int = 8,
        cost: npt.ArrayLike | None = None,
        *,
        one_way: npt.ArrayLike | None = None,
    ) -> None:
        """`one_way`: per cell, bit k set where move k out of the cell is forbidden (the
        floor grid's `forbidden_moves`, from one-way zones)."""
        self._free = free
        self._cost = cost
        self._connectivity = connectivity
        self._one_way = one_way
        self._encode()

    def _encode(self) -> None:
        self._grid = _GridEncoding(self._free, self._connectivity, self._cost, self._one_way)
        n = self._grid.shape[0] * self._grid.shape[1]
        self._g = np.zeros(n, dtype=np.float64)
        self._stamp = np.zeros(n, dtype=np.int32)
        self._generation = 0
        self._unit4 = self._grid.connectivity == 4 and self._grid.cost is None
        if self._unit4:
            # Each cell enters each stack at most once per search.
            self._stack_a = np.empty(n + 1, dtype=np.int32)
            self._stack_b = np.empty(n + 1, dtype=np.int32)
        else:
            capacity = min(n, 1 << 14) + 8  # grows inside the kernel if a search needs more
            self._heap_key = np.empty(capacity, dtype=np.float64)
            self._heap_node = np.empty(capacity, dtype=np.int32)
            self._fast = np.empty(n + 1, dtype=np.int32)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the grid."""
        return self._grid.shape

    @property
    def connectivity(self) -> int:
        """4 or 8."""
        return self._grid.connectivity

    def invalidate(self) -> None:
        """Re-read the free and cost arrays (call after changing them in place)."""
        self._encode()

    def is_traversable(self, cell: Cell) -> bool:
        """True if `cell` is on the map and a robot may occupy it."""
        row, col = cell
        rows, cols = self._grid.shape
        return 0 <= row < rows and 0 <= col < cols and bool(self._grid.passable[row, col])

    def plan(self, start: Cell, goal: Cell) -> PathResult:
        """An optimal path from `start` to `goal`.

        Raises CellOffMapError or CellBlockedError (invalid input) for a bad start or goal,
        NoPathError (infeasible) if the goal cannot be reached.
        """
        grid = self._grid
        start_index = grid.index("start", start)
        goal_index = grid.index("goal", goal)
        self._generation += 1
        if self._generation > _kernels.MAX_GENERATION:
            self._stamp.fill(0)
            self._generation = 1
        if self._unit4:
            path, expansions = _kernels.astar_unit4(
                grid.mask,
                grid.back,
                grid.width,
                start_index,
                goal_index,
                self._g,
                self._stamp,
                self._generation,
                self._stack_a,
                self._stack_b,
            )
        else:
            path, expansions, self._heap_key, self._heap_node = _kernels.astar_heap(
                grid.mask,
                grid.back,
                grid.cost,
                grid.width,
                grid.n_moves,
                grid.h_scale,
                start_index,
                goal_index,
                self._g,
                self._stamp,
                self._generation,
                self._heap_key,
                self._heap_node,
                self._fast,
            )
        if path.shape[0] == 0:
            raise NoPathError(start, goal, searched=int(expansions))
        return PathResult._from_kernel(path, float(self._g[goal_index]), int(expansions))


def astar(
    free: npt.ArrayLike,
    start: Cell,
    goal: Cell,
    connectivity: int = 8,
    cost: npt.ArrayLike | None = None,
) -> PathResult:
    """One optimal path on a grid; for many queries on one map use `GridPlanner`."""
    return GridPlanner(free, connectivity, cost).plan(start, goal)


def path_cost(
    free: npt.ArrayLike,
    cells: Sequence[Cell],
    connectivity: int = 8,
    cost: npt.ArrayLike | None = None,
) -> float:
    """Check that `cells` is a legal path on the grid and return its cost.

    The independent judge of a path: every cell traversable, every move one of the allowed
    steps, no corner cutting. Raises InvalidInputError naming the first bad cell or move.
    """
    grid = _GridEncoding(free, connectivity, cost)
    if not cells:
        raise InvalidInputError("a path needs at least one cell", field="cells", value=0)
    grid.index("cells[0]", cells[0])
    total = 0.0
    for i in range(1, len(cells)):
        grid.index(f"cells[{i}]", cells[i])
        (r0, c0), (r1, c1) = cells[i - 1], cells[i]
        move = (int(r1) - int(r0), int(c1) - int(c0))
        if move not in _MOVES[: grid.n_moves]:
            raise InvalidInputError(
                f"move {i} from {cells[i - 1]} to {cells[i]} is not a "
                f"{grid.connectivity}-connected step",
                field="cells",
                value=i,
            )
        k = _MOVES.index(move)
        if not grid.mask[int(r0) * grid.width + int(c0)] & (1 << k):
            raise InvalidInputError(
                f"move {i} from {cells[i - 1]} to {cells[i]} cuts a corner",
                field="cells",
                value=i,
            )
        step = float(_kernels.MOVE_COST[k])
        if grid.cost is not None:
            step *= float(grid.cost[int(r1) * grid.width + int(c1)])
        total += step
    return total


def zone_costs(
    free: npt.ArrayLike,
    speed_zones: Sequence[tuple[npt.ArrayLike, float]] = (),
    keep_out: Sequence[npt.ArrayLike] = (),
) -> FloatGrid:
    """A cost grid from zones: each speed zone is (cell mask, fraction of full speed).

    A cell in a zone at half speed costs 2 to enter; where zones overlap the slowest wins.
    Keep-out masks and blocked cells cost inf.
    """
    grid = _check_free(free)
    cost = np.ones(grid.shape, dtype=np.float64)
    for i, (zone, speed_fraction) in enumerate(speed_zones):
        if not 0.0 < speed_fraction <= 1.0:
            raise InvalidInputError(
                f"speed zone {i}: fraction of full speed must be in (0, 1], got {speed_fraction}",
                field="speed_zones",
                value=i,
            )
        inside = np.asarray(zone, dtype=bool)
        if inside.shape != grid.shape:
            raise InvalidInputError(
                f"speed zone {i} has shape {inside.shape}, the map has {grid.shape}",
                field="speed_zones",
                value=i,
            )
        np.maximum(cost, np.where(inside, 1.0 / speed_fraction, 1.0), out=cost)
    for i, zone in enumerate(keep_out):
        inside = np.asarray(zone, dtype=bool)
        if inside.shape != grid.shape:
            raise InvalidInputError(
                f"keep-out zone {i} has shape {inside.shape}, the map has {grid.shape}",
                field="keep_out",
                value=i,
            )
        cost[inside] = np.inf
    cost[~grid] = np.inf
    return cost
