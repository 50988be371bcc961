"""One-way zones: the floor format, the grid rule, and every grid planner honouring it."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from fleet.floor import Direction, FloorMapError, parse_floor, rasterize
from fleet.model import InfeasibleError
from fleet.planning import DistanceTables, GridPlanner
from fleet.planning.spacetime import plan_sipp, plan_spacetime
from fleet.traffic import ReservationTable, Visit

# A ring road round a block: the south lane may only be driven east, the north lane west.
RING = """
name: ring
grid: {resolution_m: 1, robot_radius_m: 0.45}
outline: [[0, 0], [12, 0], [12, 8], [0, 8]]
obstacles:
  - {id: block, polygon: [[2.5, 2.5], [8.5, 2.5], [8.5, 4.5], [2.5, 4.5]]}
zones:
  - {id: south, kind: one_way, direction: "+x", polygon: [[2, 0], [9, 0], [9, 2.5], [2, 2.5]]}
  - {id: north, kind: one_way, direction: "-x", polygon: [[2, 4.5], [9, 4.5], [9, 8], [2, 8]]}
stations:
  - {id: west, kind: pickup, pose: [1.5, 3.5]}
  - {id: east, kind: dropoff, pose: [10.5, 3.5]}
"""

AGAINST = {(0, 1): 8, (0, -1): 4, (1, 0): 2, (-1, 0): 1,
           (-1, -1): 16, (-1, 1): 32, (1, -1): 64, (1, 1): 128}
"""The forbidden-move bit of each 4-neighbour step (row step, column step)."""


def _goes_against(path: list[tuple[int, int]], forbidden: np.ndarray) -> bool:
    for (r0, c0), (r1, c1) in itertools.pairwise(path):
        step = (r1 - r0, c1 - c0)
        if step != (0, 0) and forbidden[r0, c0] & AGAINST[step]:
            return True
    return False


def test_the_grid_forbids_exactly_the_moves_against_a_zone() -> None:
    grid = rasterize(parse_floor(RING))
    rows, cols = grid.shape
    for r in range(rows):
        for c in range(cols):
            x, y = c + 0.5, r + 0.5
            for (dr, dc), bit in list(AGAINST.items())[:4]:
                tx, ty = x + dc, y + dr
                in_south = [2 < px < 9 and 0 < py < 2.5 for px, py in ((x, y), (tx, ty))]
                in_north = [2 < px < 9 and 4.5 < py < 8 for px, py in ((x, y), (tx, ty))]
                expected = (dc == -1 and any(in_south)) or (dc == 1 and any(in_north))
                assert bool(grid.forbidden_moves[r, c] & bit) == expected, (r, c, dr, dc)


def test_planners_drive_round_the_ring_the_right_way() -> None:
    grid = rasterize(parse_floor(RING))
    free, one_way = grid.free, grid.forbidden_moves
    west, east = (3, 1), (3, 10)
    # Each way is possible, but only round its own side of the block.
    for connectivity in (4, 8):
        planner = GridPlanner(free, connectivity, one_way=one_way)
        there = [tuple(c) for c in planner.plan(west, east).cells]
        back = [tuple(c) for c in planner.plan(east, west).cells]
        assert not _goes_against(there, one_way) and not _goes_against(back, one_way)
        assert all(r <= 3 for r, _ in there) and all(r >= 3 for r, _ in back)
    tables = DistanceTables(free, 4, one_way=one_way)
    plain = DistanceTables(free, 4)
    # Distances follow the direction: a cell of the south lane is near east, far from west.
    south_lane = (1, 5)
    assert tables.distance(south_lane, east) == plain.distance(south_lane, east)
    assert tables.distance(south_lane, west) > plain.distance(south_lane, west)
    # The space-time planners agree, and neither goes against a zone.
    table = ReservationTable(grid.shape)
    for start, goal in ((west, east), (east, west), (south_lane, west)):
        h = tables.get(goal)
        slow = plan_spacetime(free, start, goal, 0, table, "me", h, one_way=one_way)
        fast = plan_sipp(free, start, goal, 0, table.arrays, table.robot_index("me"), h,
                         one_way=one_way)
        assert len(slow) == len(fast)
        assert not _goes_against(fast, one_way) and not _goes_against(slow, one_way)


def test_sipp_matches_the_reference_under_random_one_way_bits() -> None:
    rng = random.Random(11)
    agree = 0
    for _ in range(300):
        rows, cols = rng.randint(2, 6), rng.randint(2, 6)
        free = np.array([[rng.random() > 0.15 for _ in range(cols)] for _ in range(rows)])
        one_way = np.array([[rng.choice((0, 0, 1, 2, 4, 8, 5, 10)) for _ in range(cols)]
                            for _ in range(rows)], dtype=np.uint8)
        cells = [(r, c) for r in range(rows) for c in range(cols) if free[r, c]]
        if len(cells) < 2:
            continue
        start, goal = rng.sample(cells, 2)
        table = ReservationTable((rows, cols))
        for k in range(rng.randint(0, 4)):
            step = rng.randint(0, 5)
            table.add(Visit(f"o{k}", rng.choice(cells), step, step + rng.randint(0, 3)))
        h = DistanceTables(free, 4, one_way=one_way).get(goal)
        results = []
        for plan in ("reference", "sipp"):
            try:
                if plan == "reference":
                    path = plan_spacetime(free, start, goal, 0, table, "me", h,
                                          one_way=one_way, max_steps=50)
                else:
                    path = plan_sipp(free, start, goal, 0, table.arrays,
                                     table.robot_index("me"), h, one_way=one_way, max_steps=50)
            except InfeasibleError:
                path = None
            results.append(path)
            if path is not None:
                assert not _goes_against(path, one_way)
        reference, fast = results
        assert (reference is None) == (fast is None)
        if fast is not None and reference is not None:
            assert len(fast) == len(reference)
            agree += 1
    assert agree > 100


@pytest.mark.parametrize(("zone", "field", "words"), [
    ('{id: z, kind: one_way, polygon: [[1, 1], [2, 1], [2, 2]]}', "zones[z].direction",
     "required"),
    ('{id: z, kind: one_way, direction: "north", polygon: [[1, 1], [2, 1], [2, 2]]}',
     "zones[z].direction", "+x"),
    ('{id: z, kind: keep_out, direction: "+x", polygon: [[1, 1], [2, 1], [2, 2]]}',
     "zones[z].direction", "one_way zones only"),
])
def test_bad_one_way_zones_are_refused_naming_the_field(zone: str, field: str,
                                                        words: str) -> None:
    text = ("name: f\ngrid: {resolution_m: 1, robot_radius_m: 0.45}\n"
            "outline: [[0, 0], [5, 0], [5, 5], [0, 5]]\nzones:\n  - " + zone + "\n")
    with pytest.raises(FloorMapError) as err:
        parse_floor(text)
    assert err.value.field == field and words in str(err.value)


def test_stations_cut_off_by_one_way_zones_are_refused() -> None:
    # Both lanes eastbound: nothing leads back west.
    text = RING.replace('direction: "-x"', 'direction: "+x"')
    with pytest.raises(FloorMapError) as err:
        parse_floor(text)
    assert "and back" in str(err.value)
    assert parse_floor(RING).zones[0].direction is Direction.POS_X
