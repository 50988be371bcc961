"""The planning grid: which cells a robot of a given radius may stand on and move between.

Free-cell rule. A cell is free iff its center lies inside the outline and outside every
obstacle and keep-out zone, and every point of its "plus" (the two straight segments through
the center joining the midpoints of opposite sides) is at least the radius away from every
obstacle, keep-out zone and the outline's boundary. A straight move between the centers of
two free 4-neighbours runs along their two plus arms, so it never brushes anything.

The rule is evaluated exactly, with no discretization margin: the arms are tested against the
boundary edges of everything in the way with a `shapely.STRtree` `dwithin` query, all cells at
once. A cell at exactly the radius counts as blocked, which errs on the safe side.

Consequence for map authors, with 1 m cells and a 0.45 m radius: an obstacle whose edges run
along cell-center lines (x.5, y.5) blocks exactly the cells whose centers it covers and leaves
their neighbours free; a post or fence at most 0.08 m thick laid along a center line blocks
just the cells it passes through.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from fleet.floor._map import FloorMap, ZoneKind
from fleet.model import Cell, InvalidInputError

__all__ = ["OccupancyGrid", "cell_clearance", "rasterize"]

# Extents that are whole multiples of the resolution up to float noise get no extra cell.
_COUNT_TOLERANCE = 1e-9
# A cell whose arms come within radius + this of something is blocked: the safe side of
# floating-point ties.
_DISTANCE_TOLERANCE_M = 1e-9


@dataclass(frozen=True, slots=True, eq=False)
class OccupancyGrid:
    """A floor rasterized for one robot radius.

    Row 0 is the lowest y, column 0 the lowest x; cell (r, c) covers
    x in [origin_x + c * resolution_m, origin_x + (c + 1) * resolution_m) and y likewise
    with r. Both arrays are read-only; copy them to modify.
    """

    free: npt.NDArray[np.bool_]
    """Shape (rows, cols): True where a robot may stand and move to free 4-neighbours."""
    speed_limit_mps: npt.NDArray[np.float64]
    """Shape (rows, cols): metres per second, +inf where no speed-limit zone applies."""
    forbidden_moves: npt.NDArray[np.uint8]
    """Shape (rows, cols): bit k set where move k out of the cell goes against a one-way
    zone (moves numbered as the planning kernels do: 0 row-1, 1 row+1, 2 col-1, 3 col+1,
    4..7 the diagonals (-1,-1), (-1,+1), (+1,-1), (+1,+1)); all zero without one-way zones."""
    resolution_m: float
    origin_x: float
    """World x of the lower-left corner of cell (0, 0), metres."""
    origin_y: float
    """World y of the lower-left corner of cell (0, 0), metres."""

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        rows, cols = self.free.shape
        return int(rows), int(cols)

    def cell_of(self, x: float, y: float) -> Cell:
        """The cell containing the point (x, y), metres; InvalidInputError if off the grid."""
        rows, cols = self.shape
        col = math.floor((x - self.origin_x) / self.resolution_m) if math.isfinite(x) else -1
        row = math.floor((y - self.origin_y) / self.resolution_m) if math.isfinite(y) else -1
        if not 0 <= col < cols:
            raise InvalidInputError(
                f"x: point ({x}, {y}) lies off the grid (x from {self.origin_x} to "
                f"{self.origin_x + cols * self.resolution_m} m)",
                field="x",
                value=x,
            )
        if not 0 <= row < rows:
            raise InvalidInputError(
                f"y: point ({x}, {y}) lies off the grid (y from {self.origin_y} to "
                f"{self.origin_y + rows * self.resolution_m} m)",
                field="y",
                value=y,
            )
        return row, col

    def center_of(self, cell: Cell) -> tuple[float, float]:
        """World (x, y) of the cell's center, metres; InvalidInputError if off the grid."""
        if not self._on_grid(cell):
            raise InvalidInputError(
                f"cell: {cell!r} lies off the {self.shape[0]} x {self.shape[1]} grid",
                field="cell",
                value=cell,
            )
        row, col = cell
        return (
            self.origin_x + (col + 0.5) * self.resolution_m,
            self.origin_y + (row + 0.5) * self.resolution_m,
        )

    def centers_of(self, cells: Sequence[Cell]) -> tuple[np.ndarray, np.ndarray]:
        """World x and y of many cells' centres at once (`center_of` for each, vectorized);
        InvalidInputError naming the first cell off the grid."""
        rc = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
        rows, cols = self.shape
        off = (rc[:, 0] < 0) | (rc[:, 0] >= rows) | (rc[:, 1] < 0) | (rc[:, 1] >= cols)
        if off.any():
            self.center_of(tuple(int(v) for v in rc[int(np.argmax(off))]))  # type: ignore[arg-type]
        res = self.resolution_m
        return self.origin_x + (rc[:, 1] + 0.5) * res, self.origin_y + (rc[:, 0] + 0.5) * res

    def is_free(self, cell: Cell) -> bool:
        """True if the cell is on the grid and free."""
        return self._on_grid(cell) and bool(self.free[cell[0], cell[1]])

    def _on_grid(self, cell: Cell) -> bool:
        rows, cols = self.shape
        return 0 <= cell[0] < rows and 0 <= cell[1] < cols


def rasterize(floor: FloorMap, radius_m: float | None = None) -> OccupancyGrid:
    """The floor's planning grid under the free-cell rule for a robot of `radius_m` metres.

    `radius_m` defaults to the floor's `robot_radius_m`; 0 keeps only cells whose plus touches
    nothing.
    """
    radius = floor.robot_radius_m if radius_m is None else float(radius_m)
    if not (math.isfinite(radius) and radius >= 0.0):
        raise InvalidInputError(
            f"radius_m: must be a finite number >= 0 metres, got {radius_m!r}",
            field="radius_m",
            value=radius_m,
        )
    resolution = floor.resolution_m
    min_x, min_y, max_x, max_y = floor.outline.bounds
    xs = min_x + (np.arange(_cell_count(max_x - min_x, resolution)) + 0.5) * resolution
    ys = min_y + (np.arange(_cell_count(max_y - min_y, resolution)) + 0.5) * resolution
    blockers = _blocking_polygons(floor)

    # Centers: inside the outline, outside everything in the way.
    blocked = ~shapely.contains_xy(floor.outline, xs[np.newaxis, :], ys[:, np.newaxis])
    for polygon in blockers:
        rows, cols = _window(polygon, xs, ys)
        blocked[rows, cols] |= shapely.intersects_xy(
            polygon, xs[np.newaxis, cols], ys[rows, np.newaxis]
        )

    # Arms: clear of every edge by the radius. Only cells still open need the test.
    open_rows, open_cols = np.nonzero(~blocked)
    if open_rows.size:
        center_x, center_y = xs[open_cols], ys[open_rows]
        half = resolution / 2.0
        arms = shapely.linestrings(
            np.concatenate(
                [
                    _segments(center_x - half, center_y, center_x + half, center_y),
                    _segments(center_x, center_y - half, center_x, center_y + half),
                ]
            )
        )
        edges = _edges([floor.outline, *blockers])
        hits = shapely.STRtree(edges).query(
            arms, predicate="dwithin", distance=radius + _DISTANCE_TOLERANCE_M
        )[0]
        hit_cells = np.unique(hits % open_rows.size)
        blocked[open_rows[hit_cells], open_cols[hit_cells]] = True

    speed = np.full(blocked.shape, np.inf)
    for zone in floor.zones:
        if zone.kind is ZoneKind.SPEED_LIMIT and zone.speed_limit_mps is not None:
            rows, cols = _window(zone.polygon, xs, ys)
            inside = shapely.contains_xy(zone.polygon, xs[np.newaxis, cols], ys[rows, np.newaxis])
            window = speed[rows, cols]
            window[inside] = np.minimum(window[inside], zone.speed_limit_mps)
            speed[rows, cols] = window

    forbidden = _forbidden_moves(floor, xs, ys)
    free = ~blocked
    free.setflags(write=False)
    speed.setflags(write=False)
    forbidden.setflags(write=False)
    return OccupancyGrid(
        free=free,
        speed_limit_mps=speed,
        forbidden_moves=forbidden,
        resolution_m=resolution,
        origin_x=float(min_x),
        origin_y=float(min_y),
    )


def cell_clearance(floor: FloorMap, grid: OccupancyGrid, cell: Cell) -> tuple[float, str]:
    """The distance in metres from the cell's plus to the nearest thing in the way, and what.

    0 if the center is outside the outline or inside an obstacle or keep-out zone. The thing
    is named as "obstacle <id>", "zone <id>" or "the outline".
    """
    x, y = grid.center_of(cell)
    half = grid.resolution_m / 2.0
    plus = shapely.MultiLineString([[(x - half, y), (x + half, y)], [(x, y - half), (x, y + half)]])
    if not shapely.contains_xy(floor.outline, x, y):
        return 0.0, "the outline"
    named = [(f"obstacle {o.id}", o.polygon) for o in floor.obstacles]
    named += [(f"zone {z.id}", z.polygon) for z in floor.keep_out_zones]
    inside = shapely.intersects_xy(np.array([g for _, g in named], dtype=object), x, y)
    if inside.any():
        return 0.0, named[int(np.argmax(inside))][0]
    named.append(("the outline", floor.outline.boundary))
    distances = shapely.distance(plus, np.array([g for _, g in named], dtype=object))
    nearest = int(np.argmin(distances))
    return float(distances[nearest]), named[nearest][0]


def _cell_count(extent_m: float, resolution_m: float) -> int:
    return max(1, math.ceil(extent_m / resolution_m - _COUNT_TOLERANCE))


_MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))
"""The planning kernels' move order (fleet/planning/_kernels.py MOVE_DR, MOVE_DC)."""


def _forbidden_moves(floor: FloorMap, xs: npt.NDArray[np.float64],
                     ys: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
    """One-way rule: a move from cell a to its neighbour b is forbidden if it has a step
    against a one-way zone's direction (a diagonal: either of its components) and the
    center of a or of b lies in that zone."""
    forbidden = np.zeros((ys.size, xs.size), dtype=np.uint8)
    for zone in floor.zones:
        if zone.kind is not ZoneKind.ONE_WAY or zone.direction is None:
            continue
        inside = np.zeros(forbidden.shape, dtype=bool)
        rows, cols = _window(zone.polygon, xs, ys)
        inside[rows, cols] = shapely.contains_xy(zone.polygon, xs[np.newaxis, cols],
                                                 ys[rows, np.newaxis])
        back_r, back_c = zone.direction.against
        padded = np.zeros((ys.size + 2, xs.size + 2), dtype=bool)
        padded[1:-1, 1:-1] = inside
        for k, (dr, dc) in enumerate(_MOVES):
            if not ((back_r and dr == back_r) or (back_c and dc == back_c)):
                continue
            target = padded[1 + dr:1 + dr + ys.size, 1 + dc:1 + dc + xs.size]
            forbidden[inside | target] |= np.uint8(1 << k)
    return forbidden


def _blocking_polygons(floor: FloorMap) -> list[shapely.Polygon]:
    return [o.polygon for o in floor.obstacles] + [z.polygon for z in floor.keep_out_zones]


def _window(
    polygon: shapely.Polygon, xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64]
) -> tuple[slice, slice]:
    """Rows and columns whose centers fall inside the polygon's bounding box."""
    min_x, min_y, max_x, max_y = polygon.bounds
    cols = slice(int(np.searchsorted(xs, min_x, "left")), int(np.searchsorted(xs, max_x, "right")))
    rows = slice(int(np.searchsorted(ys, min_y, "left")), int(np.searchsorted(ys, max_y, "right")))
    return rows, cols


def _segments(
    x0: npt.NDArray[np.float64],
    y0: npt.NDArray[np.float64],
    x1: npt.NDArray[np.float64],
    y1: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Shape (n, 2, 2): n segments from (x0, y0) to (x1, y1)."""
    return np.stack([np.stack([x0, y0], axis=-1), np.stack([x1, y1], axis=-1)], axis=1)


def _edges(polygons: list[shapely.Polygon]) -> npt.NDArray[np.object_]:
    """Every boundary edge of the polygons as its own LineString, so the tree stays local."""
    rings = shapely.get_rings(np.array(polygons, dtype=object))
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    same_ring = ring_of[:-1] == ring_of[1:]
    starts, ends = coords[:-1][same_ring], coords[1:][same_ring]
    edges: npt.NDArray[np.object_] = shapely.linestrings(np.stack([starts, ends], axis=1))
    return edges
