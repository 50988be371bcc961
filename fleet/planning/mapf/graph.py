"""A grid's free cells as the vertices of a 4-connected graph, as the MAPF kernels want it.

Without one-way zones the graph is undirected: every move may be made both ways. With them
(a floor grid's `forbidden_moves`) it is directed: a move against an aisle's direction is
not an edge, so every kernel that walks `nbr` (PIBT, LaCAM, SIPP) honours the aisles, and
distances to a goal come from a backward search over the in-edges `rnbr`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleet.floor import OccupancyGrid
from fleet.model import Cell, InvalidInputError
from fleet.planning.errors import CellBlockedError, CellOffMapError

__all__ = ["GridGraph"]

Int32Array = npt.NDArray[np.int32]


@dataclass(frozen=True, slots=True, eq=False)
class GridGraph:
    """Free cells numbered 0..V-1 with a padded neighbour table (4-connected, unit moves).

    `vertex_of[row * width + col]` is a cell's vertex or -1; `cell_of[v]` is the flat cell
    index of vertex v; `nbr[v, k]` is the k-th vertex v may move to, -1 past the last one;
    `rnbr[v, k]` likewise the k-th vertex that may move to v. Undirected graphs share one
    table (`rnbr is nbr`).
    """

    free: npt.NDArray[np.bool_]
    vertex_of: Int32Array
    cell_of: Int32Array
    nbr: Int32Array
    rnbr: Int32Array

    @classmethod
    def from_grid(cls, free: npt.ArrayLike,
                  forbidden_moves: npt.ArrayLike | None = None) -> GridGraph:
        """Build the graph of a bool grid `free[row, col]` (True = traversable).

        `forbidden_moves[row, col]` (optional, uint8, a floor grid's field of that name)
        has bit 0 / 1 / 2 / 3 set where the move to row-1 / row+1 / col-1 / col+1 out of the
        cell goes against a one-way zone: those moves are left out (diagonal bits are
        ignored). With none set the graph is undirected.
        """
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
        forbidden = _forbidden_bits(forbidden_moves, grid.shape, cell_of)
        nbr = np.full((cell_of.shape[0], 4), -1, dtype=np.int32)
        count = np.zeros(cell_of.shape[0], dtype=np.int64)
        sources: list[Int32Array] = []
        targets: list[Int32Array] = []
        # up, left, right, down, and the forbidden_moves bit of each
        for step, bit in ((-(cols + 2), 0), (-1, 2), (1, 3), (cols + 2, 1)):
            u = padded[centre + step]
            has = u >= 0
            if forbidden is not None:
                has &= ((forbidden >> np.uint8(bit)) & np.uint8(1)) == 0
                sources.append(np.flatnonzero(has).astype(np.int32))
                targets.append(u[has])
            nbr[np.flatnonzero(has), count[has]] = u[has]
            count += has
        if forbidden is None:
            return cls(grid, vertex_of, cell_of, nbr, nbr)
        return cls(grid, vertex_of, cell_of, nbr,
                   _in_neighbours(np.concatenate(sources), np.concatenate(targets),
                                  cell_of.shape[0]))

    @classmethod
    def from_occupancy(cls, grid: OccupancyGrid) -> GridGraph:
        """The graph of a rasterized floor: its free cells, moves against its one-way zones
        left out."""
        return cls.from_grid(grid.free, grid.forbidden_moves)

    @property
    def directed(self) -> bool:
        """True when some move is allowed one way only (one-way zones)."""
        return self.rnbr is not self.nbr

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


def _forbidden_bits(forbidden_moves: npt.ArrayLike | None, shape: tuple[int, ...],
                    cell_of: Int32Array) -> npt.NDArray[np.uint8] | None:
    """The 4-connected forbidden-move bits of each vertex, or None when there are none."""
    if forbidden_moves is None:
        return None
    bits = np.asarray(forbidden_moves)
    if bits.shape != shape:
        raise InvalidInputError(
            f"forbidden_moves has shape {bits.shape}, the grid {shape}",
            field="forbidden_moves", value=bits.shape)
    if bits.dtype.kind not in "ui" or (bits.size and int(bits.min()) < 0):
        raise InvalidInputError(
            f"forbidden_moves must hold unsigned move bits, got dtype {bits.dtype}",
            field="forbidden_moves", value=str(bits.dtype))
    per_vertex = (bits.ravel()[cell_of] & 0x0F).astype(np.uint8)
    return per_vertex if per_vertex.any() else None


def _in_neighbours(sources: Int32Array, targets: Int32Array, n_vertices: int) -> Int32Array:
    """The padded in-neighbour table of the edges sources[e] -> targets[e]."""
    order = np.argsort(targets, kind="stable")
    src, dst = sources[order], targets[order]
    first = np.searchsorted(dst, np.arange(n_vertices))
    slot = np.arange(dst.shape[0]) - first[dst]
    rnbr = np.full((n_vertices, 4), -1, dtype=np.int32)
    rnbr[dst, slot] = src
    return rnbr
