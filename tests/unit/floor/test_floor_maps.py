"""The example floors in maps/: they load, and their layout keeps the planner's promises.

Layout rules: every station at a cell center in a one-cell alcove off an aisle (a robot on a
station never cuts the free grid or blocks another station), no one-cell-wide corridors, and
no move between free neighbours that brushes anything.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter

import numpy as np
import pytest
import shapely
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from fleet.floor import Direction, FloorMap, OccupancyGrid, StationKind, ZoneKind, rasterize

MAPS = ["plant", "small", "warehouse"]


@pytest.fixture(params=MAPS)
def floor_and_grid(
    request: pytest.FixtureRequest,
) -> tuple[FloorMap, OccupancyGrid]:
    floor: FloorMap = request.getfixturevalue(request.param)
    grid: OccupancyGrid = request.getfixturevalue(f"{request.param}_grid")
    return floor, grid


def _station_cells(floor: FloorMap, grid: OccupancyGrid) -> dict[str, tuple[int, int]]:
    return {s.id: grid.cell_of(s.pose.x, s.pose.y) for s in floor.stations.values()}


def _kinds(floor: FloorMap) -> Counter[StationKind]:
    return Counter(s.kind for s in floor.stations.values())


def test_plant_is_a_120_by_60_m_floor_with_1_m_cells(plant: FloorMap) -> None:
    assert plant.name == "heavy-equipment-plant"
    assert plant.outline.bounds == (0.0, 0.0, 120.0, 60.0)
    assert (plant.resolution_m, plant.robot_radius_m) == (1.0, 0.45)


def test_plant_has_the_stations_a_heavy_equipment_plant_needs(plant: FloorMap) -> None:
    kinds = _kinds(plant)
    assert kinds[StationKind.WELD_CELL] >= 6
    assert kinds[StationKind.CHARGER] >= 6
    assert kinds[StationKind.PARKING] >= 24
    assert kinds[StationKind.BUFFER] >= 4
    assert kinds[StationKind.PICKUP] >= 4
    assert kinds[StationKind.DROPOFF] >= 4
    ids = set(plant.stations)
    assert {f"weld-{i}" for i in range(1, 7)} <= ids
    assert {f"charger-{i}" for i in range(1, 7)} <= ids
    assert {f"park-{i}" for i in range(1, 25)} <= ids
    assert {
        "cut-out-1",
        "mach-in-1",
        "mach-out-1",
        "paint-in-1",
        "paint-out-1",
        "asm-1",
        "buf-1",
    } <= ids
    areas = {s.area for s in plant.stations.values()}
    assert {"cutting", "welding", "machining", "paint", "assembly", "buffer"} <= areas


def test_plant_has_a_keep_out_zone_and_a_slow_paint_shop(
    plant: FloorMap, plant_grid: OccupancyGrid
) -> None:
    assert any(z.kind is ZoneKind.KEEP_OUT for z in plant.zones)
    for station_id in ("paint-in-1", "paint-out-1", "paint-in-2", "paint-out-2"):
        pose = plant.station(station_id).pose
        assert plant_grid.speed_limit_mps[plant_grid.cell_of(pose.x, pose.y)] == 0.5
    weld = plant.station("weld-1").pose
    assert plant_grid.speed_limit_mps[plant_grid.cell_of(weld.x, weld.y)] == math.inf


def test_small_floor_has_the_advertised_stations(small: FloorMap) -> None:
    assert small.outline.bounds == (0.0, 0.0, 20.0, 12.0)
    assert (small.resolution_m, small.robot_radius_m) == (1.0, 0.45)
    assert _kinds(small) == {
        StationKind.PICKUP: 2,
        StationKind.DROPOFF: 2,
        StationKind.BUFFER: 1,
        StationKind.WELD_CELL: 2,
        StationKind.CHARGER: 2,
        StationKind.PARKING: 6,
    }


def test_the_warehouse_is_a_300_by_200_m_floor_for_a_thousand_robots(
        warehouse: FloorMap, warehouse_grid: OccupancyGrid) -> None:
    assert warehouse.outline.bounds == (0.0, 0.0, 300.0, 200.0)
    kinds = _kinds(warehouse)
    assert kinds[StationKind.PARKING] + kinds[StationKind.CHARGER] >= 1000
    assert kinds[StationKind.CHARGER] >= 100
    assert min(kinds[k] for k in (StationKind.PICKUP, StationKind.DROPOFF, StationKind.BUFFER,
                                   StationKind.WELD_CELL)) >= 100
    assert any(z.kind is ZoneKind.SPEED_LIMIT for z in warehouse.zones)
    assert (warehouse_grid.speed_limit_mps < math.inf).any()


def test_the_warehouse_long_aisles_are_one_way_by_turns(
        warehouse: FloorMap, warehouse_grid: OccupancyGrid) -> None:
    one_way = [z for z in warehouse.zones if z.kind is ZoneKind.ONE_WAY]
    assert len(one_way) >= 30
    directions = [z.direction for z in sorted(one_way, key=lambda z: z.polygon.bounds[1])]
    assert all(a is not b for a, b in itertools.pairwise(directions))
    assert set(directions) == {Direction.POS_X, Direction.NEG_X}
    # the southmost long aisle (rows 8-9) runs east: no step west in it, north and south fine
    west, north = 1 << 2, 1 << 1
    assert warehouse_grid.free[8, 100] and warehouse_grid.forbidden_moves[8, 100] & west
    assert not warehouse_grid.forbidden_moves[8, 100] & north
    assert warehouse_grid.forbidden_moves[13, 100] & (1 << 3)  # the next one runs west


def test_every_free_cell_reaches_every_other_one_way_aisles_included(
    floor_and_grid: tuple[FloorMap, OccupancyGrid],
) -> None:
    """The planning grid, moves against one-way zones left out, is strongly connected."""
    _, grid = floor_and_grid
    rows, cols = grid.shape
    index = np.full(grid.shape, -1, dtype=np.int64)
    index[grid.free] = np.arange(int(grid.free.sum()))
    sources, targets = [], []
    for bit, (dr, dc) in enumerate(((-1, 0), (1, 0), (0, -1), (0, 1))):
        r, c = np.nonzero(grid.free)
        tr, tc = r + dr, c + dc
        inside = (tr >= 0) & (tr < rows) & (tc >= 0) & (tc < cols)
        r, c, tr, tc = r[inside], c[inside], tr[inside], tc[inside]
        ok = grid.free[tr, tc] & (((grid.forbidden_moves[r, c] >> bit) & 1) == 0)
        sources.append(index[r[ok], c[ok]])
        targets.append(index[tr[ok], tc[ok]])
    src, dst = np.concatenate(sources), np.concatenate(targets)
    n = int(grid.free.sum())
    edges = csr_matrix((np.ones(src.shape[0], dtype=np.int8), (src, dst)), shape=(n, n))
    parts, _ = connected_components(edges, directed=True, connection="strong")
    assert parts == 1


def test_plant_rasterizes_well_under_half_a_second(plant: FloorMap) -> None:
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        rasterize(plant)
        best = min(best, time.perf_counter() - start)
    assert best < 0.5


def test_every_station_sits_at_a_free_cell_center(
    floor_and_grid: tuple[FloorMap, OccupancyGrid],
) -> None:
    floor, grid = floor_and_grid
    for station_id, cell in _station_cells(floor, grid).items():
        pose = floor.station(station_id).pose
        assert grid.center_of(cell) == pytest.approx((pose.x, pose.y), abs=1e-9), station_id
        assert grid.is_free(cell), station_id


def test_the_free_grid_is_one_piece(floor_and_grid: tuple[FloorMap, OccupancyGrid]) -> None:
    _, grid = floor_and_grid
    _, parts = ndimage.label(grid.free)
    assert parts == 1


def test_a_robot_on_any_station_leaves_all_other_stations_connected(
    floor_and_grid: tuple[FloorMap, OccupancyGrid],
) -> None:
    floor, grid = floor_and_grid
    cells = _station_cells(floor, grid)
    for station_id, cell in cells.items():
        free = grid.free.copy()
        free[cell] = False
        labels, _ = ndimage.label(free)
        others = {labels[c] for sid, c in cells.items() if sid != station_id}
        assert len(others) == 1 and 0 not in others, f"a robot on {station_id} cuts the floor"


def test_every_station_is_a_one_cell_alcove_with_a_single_way_in(
    floor_and_grid: tuple[FloorMap, OccupancyGrid],
) -> None:
    floor, grid = floor_and_grid
    cells = _station_cells(floor, grid)
    assert len(set(cells.values())) == len(cells), "two stations share a cell"
    for station_id, (r, c) in cells.items():
        ways_in = [n for n in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)) if grid.is_free(n)]
        assert len(ways_in) == 1, station_id
        assert ways_in[0] not in cells.values(), f"{station_id} opens onto another station"


def test_no_corridor_is_one_cell_wide(floor_and_grid: tuple[FloorMap, OccupancyGrid]) -> None:
    # Every free cell but a station's belongs to some 2 x 2 block of free cells.
    floor, grid = floor_and_grid
    free = grid.free
    blocks = free[:-1, :-1] & free[1:, :-1] & free[:-1, 1:] & free[1:, 1:]
    covered = np.zeros_like(free)
    for dr in (0, 1):
        for dc in (0, 1):
            covered[dr : dr + blocks.shape[0], dc : dc + blocks.shape[1]] |= blocks
    narrow = {(int(r), int(c)) for r, c in np.argwhere(free & ~covered)}
    assert narrow <= set(_station_cells(floor, grid).values())


def test_no_move_between_free_neighbours_brushes_anything(
    floor_and_grid: tuple[FloorMap, OccupancyGrid],
) -> None:
    floor, grid = floor_and_grid
    radius = floor.robot_radius_m
    free = grid.free
    starts, ends = [], []
    for dr, dc in ((0, 1), (1, 0)):
        pairs = free[: free.shape[0] - dr, : free.shape[1] - dc] & free[dr:, dc:]
        for r, c in np.argwhere(pairs):
            starts.append(grid.center_of((int(r), int(c))))
            ends.append(grid.center_of((int(r) + dr, int(c) + dc)))
    moves = shapely.linestrings(np.stack([np.array(starts), np.array(ends)], axis=1))
    blockers = shapely.union_all(
        [o.polygon for o in floor.obstacles]
        + [z.polygon for z in floor.zones if z.kind is ZoneKind.KEEP_OUT]
    )
    swept = shapely.buffer(moves, radius)
    assert not shapely.intersects(swept, blockers).any()
    assert shapely.contains(floor.outline, swept).all()
