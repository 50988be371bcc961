"""True cost-to-go tables: one backward BFS or Dijkstra per goal, cached.

`DistanceTables.get(goal)[row, col]` is the cost of an optimal path from (row, col) to
`goal` under the same moves and costs as `GridPlanner` (inf where the goal is unreachable).
They are the perfect heuristic for multi-agent search and the cost model for dispatch.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import numpy.typing as npt

from fleet.model import Cell, InvalidInputError
from fleet.planning import _kernels
from fleet.planning.errors import CellOffMapError
from fleet.planning.grid import _GridEncoding

__all__ = ["DistanceTables", "Table"]

Table = npt.NDArray[np.float64] | npt.NDArray[np.float32]
"""A cost-to-go table: float64, or float32 for compact tables (whole cells, exact)."""


class DistanceTables:
    """Cost-to-go tables per goal, computed on demand and kept in an LRU cache.

    Tables are read-only arrays of the grid's shape, float64, or float32 when asked for
    (`compact`) on a unit-cost 4-connected grid, where every distance is a whole number of
    cells (exact in float32 up to 2**24) and a table takes half the memory: a plant floor's
    hundreds of station tables then stay cached instead of being searched again. Call
    `invalidate()` after the free or cost arrays change in place: the map is re-read and
    every table is dropped.
    Not thread-safe; use one instance per worker.
    """

    def __init__(
        self,
        free: npt.ArrayLike,
        connectivity: int = 4,
        cost: npt.ArrayLike | None = None,
        *,
        max_tables: int = 256,
        one_way: npt.ArrayLike | None = None,
        compact: bool = False,
    ) -> None:
        """`one_way`: per cell, bit k set where move k out of the cell is forbidden (the
        floor grid's `forbidden_moves`); the tables then follow the allowed directions."""
        if max_tables < 1:
            raise InvalidInputError(
                f"max_tables must be at least 1, got {max_tables}",
                field="max_tables",
                value=max_tables,
            )
        self._compact = compact
        self._free = free
        self._cost = cost
        self._connectivity = connectivity
        self._one_way = one_way
        self._max_tables = max_tables
        self._tables: OrderedDict[Cell, Table] = OrderedDict()
        self._encode()

    def _encode(self) -> None:
        self._grid = _GridEncoding(self._free, self._connectivity, self._cost, self._one_way)
        n = self._grid.shape[0] * self._grid.shape[1]
        self._unit4 = self._grid.connectivity == 4 and self._grid.cost is None
        if self._compact and not self._unit4:
            raise InvalidInputError(
                "compact (float32) tables need a unit-cost 4-connected grid, where distances "
                f"are whole cells; got connectivity {self._grid.connectivity} "
                f"{'with' if self._grid.cost is not None else 'without'} cell costs",
                field="compact", value=True)
        if self._unit4:
            self._queue = np.empty(n + 1, dtype=np.int32)
        else:
            capacity = min(n, 1 << 14) + 8
            self._heap_key = np.empty(capacity, dtype=np.float64)
            self._heap_node = np.empty(capacity, dtype=np.int32)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the grid."""
        return self._grid.shape

    def __len__(self) -> int:
        """Number of tables currently cached."""
        return len(self._tables)

    def invalidate(self) -> None:
        """Drop every cached table and re-read the map (call after it changed)."""
        self._tables.clear()
        self._encode()

    def get(self, goal: Cell) -> Table:
        """The table of costs to reach `goal` from every cell (read-only).

        Raises CellOffMapError or CellBlockedError for a bad goal.
        """
        table = self._tables.get(goal) if isinstance(goal, tuple) else None
        if table is not None:
            self._tables.move_to_end(goal)
            return table
        goal_index = self._grid.index("goal", goal)
        key = divmod(goal_index, self._grid.width)
        table = self._compute(goal_index)
        self._tables[key] = table
        if len(self._tables) > self._max_tables:
            self._tables.popitem(last=False)
        return table

    def distance(self, start: Cell, goal: Cell) -> float:
        """Cost of an optimal path from `start` to `goal` (inf if there is none)."""
        table = self.get(goal)
        row, col = start
        rows, cols = self._grid.shape
        if not (0 <= row < rows and 0 <= col < cols):
            raise CellOffMapError("start", (int(row), int(col)), self._grid.shape)
        return float(table[row, col])

    def _compute(self, goal_index: int) -> Table:
        grid = self._grid
        n = grid.shape[0] * grid.shape[1]
        dist: Table
        if self._unit4:
            dist = (np.empty(n, dtype=np.float32) if self._compact
                    else np.empty(n, dtype=np.float64))
            _kernels.bfs_backward_unit4(grid.back, grid.width, goal_index, dist, self._queue)
        else:
            dist = wide = np.empty(n, dtype=np.float64)
            _, self._heap_key, self._heap_node = _kernels.dijkstra_backward(
                grid.back,
                grid.cost,
                grid.width,
                grid.n_moves,
                goal_index,
                wide,
                self._heap_key,
                self._heap_node,
            )
        table = dist.reshape(grid.shape)
        table.flags.writeable = False
        return table
