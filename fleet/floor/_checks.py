"""Whether a well-formed floor map is usable: geometry in place, stations free and reachable.

`check_floor` runs on a `FloorMap` whatever its source, so every loader can share it.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import shapely
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from fleet.floor._grid import OccupancyGrid, cell_clearance, rasterize
from fleet.floor._map import FloorMap, FloorMapError, Station
from fleet.model import InvalidInputError

__all__ = ["check_floor", "check_grid", "floor_error"]

# Robots must fit in a cell with room to spare: diameter at most this share of the cell side.
_MAX_DIAMETER_SHARE = 0.9
_TOLERANCE = 1e-9


def floor_error(field: str, problem: str, value: object) -> FloorMapError:
    """A FloorMapError whose message names the element, the problem and the value."""
    shown = repr(value)
    if len(shown) > 120:
        shown = shown[:117] + "..."
    return FloorMapError(f"{field}: {problem} (got {shown})", field=field, value=value)


def check_grid(resolution_m: float, robot_radius_m: float) -> None:
    """Raise FloorMapError unless the cell size and robot radius (metres) make sense together."""
    if not resolution_m > 0:
        raise floor_error("grid.resolution_m", "must be > 0 metres", resolution_m)
    if not robot_radius_m > 0:
        raise floor_error("grid.robot_radius_m", "must be > 0 metres", robot_radius_m)
    if 2 * robot_radius_m > _MAX_DIAMETER_SHARE * resolution_m + _TOLERANCE:
        raise floor_error(
            "grid.robot_radius_m",
            f"robot diameter {2 * robot_radius_m:g} m exceeds 90 % of the "
            f"{resolution_m:g} m cell (at most {_MAX_DIAMETER_SHARE * resolution_m / 2:g} m)",
            robot_radius_m,
        )


def check_floor(floor: FloorMap) -> OccupancyGrid:
    """Raise FloorMapError if the map is unusable; return its grid for the robot radius.

    Checks, in order: grid sizes, obstacles and zones within the outline, each station inside
    the outline and clear of obstacles and keep-out zones, each station's cell free under the
    free-cell rule, and all stations in one 4-connected part of the free grid.
    """
    check_grid(floor.resolution_m, floor.robot_radius_m)
    for obstacle in floor.obstacles:
        if not floor.outline.covers(obstacle.polygon):
            raise floor_error(
                f"obstacles[{obstacle.id}].polygon",
                "extends outside the outline",
                _points(obstacle.polygon),
            )
    for zone in floor.zones:
        if not floor.outline.covers(zone.polygon):
            raise floor_error(
                f"zones[{zone.id}].polygon", "extends outside the outline", _points(zone.polygon)
            )
    for station in floor.stations.values():
        _check_station_place(floor, station)

    grid = rasterize(floor)
    cells = {}
    for station in floor.stations.values():
        field = f"stations[{station.id}].pose"
        try:
            cell = grid.cell_of(station.pose.x, station.pose.y)
        except InvalidInputError:  # only float noise at the outline's far edge gets here
            raise floor_error(field, "lies off the planning grid", _pose(station)) from None
        if not grid.is_free(cell):
            clearance, nearest = cell_clearance(floor, grid, cell)
            raise floor_error(
                field,
                f"its grid cell {cell} is not free for robot radius {floor.robot_radius_m:g} m: "
                f"clearance {clearance:.3f} m to {nearest}",
                _pose(station),
            )
        cells[station.id] = cell
    _check_reachable(grid, cells)
    return grid


def _check_station_place(floor: FloorMap, station: Station) -> None:
    x, y = station.pose.x, station.pose.y
    field = f"stations[{station.id}].pose"
    if not shapely.contains_xy(floor.outline, x, y):
        raise floor_error(field, "lies outside the outline", _pose(station))
    named = [(f"obstacle {o.id}", o.polygon) for o in floor.obstacles]
    named += [(f"keep-out zone {z.id}", z.polygon) for z in floor.keep_out_zones]
    if named:
        inside = shapely.intersects_xy(np.array([p for _, p in named], dtype=object), x, y)
        if inside.any():
            what = named[int(np.argmax(inside))][0]
            raise floor_error(field, f"lies inside {what}", _pose(station))


def _directed_parts(grid: OccupancyGrid) -> np.ndarray:
    """Labels of the strongly connected parts of the free grid under 4-neighbour moves that
    one-way zones allow (a station must be reachable from every other and back)."""
    rows, cols = grid.shape
    index = np.arange(rows * cols).reshape(rows, cols)
    sources, targets = [], []
    for k, (dr, dc) in enumerate(((-1, 0), (1, 0), (0, -1), (0, 1))):
        r0, r1 = max(0, -dr), rows - max(0, dr)
        c0, c1 = max(0, -dc), cols - max(0, dc)
        here = (slice(r0, r1), slice(c0, c1))
        there = (slice(r0 + dr, r1 + dr), slice(c0 + dc, c1 + dc))
        ok = grid.free[here] & grid.free[there] & \
            ((grid.forbidden_moves[here] >> k) & 1 == 0)
        sources.append(index[here][ok])
        targets.append(index[there][ok])
    src, dst = np.concatenate(sources), np.concatenate(targets)
    graph = csr_matrix((np.ones(src.size, dtype=np.int8), (src, dst)),
                       shape=(rows * cols, rows * cols))
    _, labels = connected_components(graph, directed=True, connection="strong")
    # Blocked cells are parts of their own; offset so no free part shares their label.
    return np.asarray(labels).reshape(rows, cols) + 1


def _check_reachable(grid: OccupancyGrid, cells: dict[str, tuple[int, int]]) -> None:
    """All station cells in one 4-connected part of the free grid (strongly connected under
    one-way zones), or name those cut off."""
    if len(cells) < 2:
        return
    if grid.forbidden_moves.any():
        labels = _directed_parts(grid)
    else:
        labels, _ = ndimage.label(grid.free)  # the default structure is 4-connectivity
    label_of = {sid: int(labels[cell]) for sid, cell in cells.items()}
    # The main part holds the most stations; on a tie, the one holding the earliest station
    # (a Counter keeps first-seen order and max keeps the first of equals).
    stations_per_part = Counter(label_of.values())
    main = max(stations_per_part, key=stations_per_part.__getitem__)
    cut_off = tuple(sid for sid, label in label_of.items() if label != main)
    if cut_off:
        reference = next(sid for sid, label in label_of.items() if label == main)
        names = ", ".join(f"stations[{sid}]" for sid in cut_off)
        raise floor_error(
            f"stations[{cut_off[0]}].pose",
            f"{names} cannot be reached from stations[{reference}] and back: no 4-connected "
            "path of free cells joins them (one-way zones count)",
            cut_off,
        )


def _pose(station: Station) -> tuple[float, float, float]:
    return station.pose.x, station.pose.y, station.pose.theta


def _points(polygon: shapely.Polygon) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in polygon.exterior.coords[:-1]]
