"""A grid's free cells as the vertices of a 4-connected graph, as the MAPF kernels want it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleet.model import Cell, InvalidInputError
from fleet.planning.errors import CellBlockedError, CellOffMapError

__all__ = ["GridGraph"]

Int32Array = npt.NDArray[np.int32]


@dataclass(frozen=True, slots=True, eq=False)
class GridGraph:
    """Free cells numbered 0..V-1 with a padded neighbour table (4-connected, unit moves).

    `vertex_of[row * width + col]` is a cell's vertex or -1; `cell_of[v]` is the flat cell
    index of vertex v; `nbr[v, k]` is v's k-th neighbour, -1 past the last one.
    """

    free: npt.NDArray[np.bool_]
    vertex_of: Int32Array
    cell_of: Int32Array
    nbr: Int32Array

    @classmethod
    def from_grid(cls, free: npt.ArrayLike) -> GridGraph:
        """Build the graph of a bool grid `free[row, col]` (True = traversable)."""
        grid = np.asarray(free, dtype=bool)
        if grid.ndim != 2 or grid.size == 0:
            raise InvalidInputError(
                f"free must be a non-empty 2-D grid, got shape {grid.shape}",
                field="free",
                value=grid.shape,
            )
        rows, cols = grid.shape
        flat = grid.ravel()
        cell_of = np.flatnonzero(flat).astype(np.int32)
        vertex_of = np.full(rows * cols, -1, dtype=np.int32)
        vertex_of[cell_of] = np.arange(cell_of.shape[0], dtype=np.int32)
        # padded border: out-of-map neighbours read a blocked cell
        padded = np.full((rows + 2) * (cols + 2), -1, dtype=np.int32)
        padded.reshape(rows + 2, cols + 2)[1:-1, 1:-1] = vertex_of.reshape(rows, cols)
        r, c = np.divmod(cell_of, cols)
        centre = (r + 1) * (cols + 2) + (c + 1)
        nbr = np.full((cell_of.shape[0], 4), -1, dtype=np.int32)
        count = np.zeros(cell_of.shape[0], dtype=np.int64)
        for step in (-(cols + 2), -1, 1, cols + 2):  # up, left, right, down
            u = padded[centre + step]
            has = u >= 0
            nbr[np.flatnonzero(has), count[has]] = u[has]
            count += has
        return cls(grid, vertex_of, cell_of, nbr)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the grid."""
        rows, cols = self.free.shape
        return int(rows), int(cols)

    @property
    def n_vertices(self) -> int:
        """Number of free cells."""
        return int(self.cell_of.shape[0])

    def vertex(self, name: str, cell: Cell) -> int:
        """The vertex of a (row, col) cell; raises for cells off the map or blocked."""
        rows, cols = self.shape
        row, col = int(cell[0]), int(cell[1])
        if not (0 <= row < rows and 0 <= col < cols):
            raise CellOffMapError(name, (row, col), (rows, cols))
        v = int(self.vertex_of[row * cols + col])
        if v < 0:
            raise CellBlockedError(name, (row, col))
        return v

    def vertices(self, name: str, cells: list[Cell]) -> Int32Array:
        """Vertices of many cells, validated like `vertex`."""
        return np.array([self.vertex(name, c) for c in cells], dtype=np.int32)

    def cells(self, vertices: npt.NDArray[np.integer]) -> npt.NDArray[np.int64]:
        """(row, col) pairs of vertices, as an (..., 2) int64 array."""
        flat = self.cell_of[np.asarray(vertices)].astype(np.int64)
        return np.stack(np.divmod(flat, self.shape[1]), axis=-1)
