"""Where robots wait: the vectorized search agrees with the plain rule applied cell by cell."""

from __future__ import annotations

import math

from fleet.model import Cell
from tests.unit.coordinator.lockstep import Lockstep


def reference(run: Lockstep, near: Cell, taken: set[Cell]) -> Cell | None:
    """The rule, cell by cell: free, no station, its four neighbours free and no station,
    nobody there; nearest by path length, ties to the lowest (row, column)."""
    site = run.coordinator.site
    free = site.grid.free
    stations = set(site.station_cells.values())
    distance = site.distances.get(near)
    best: tuple[float, Cell] | None = None
    rows, cols = free.shape
    for r in range(rows):
        for c in range(cols):
            cell = (r, c)
            if not free[r, c] or cell in stations or cell in taken:
                continue
            around = [(r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)]
            if any(not (0 <= a < rows and 0 <= b < cols) or not free[a, b]
                   or (a, b) in stations for a, b in around):
                continue
            if not math.isfinite(float(distance[cell])):
                continue
            key = (float(distance[cell]), cell)
            if best is None or key < best:
                best = key
    return None if best is None else best[1]


def test_the_open_floor_cell_next_to_each_station_follows_the_rule() -> None:
    run = Lockstep(4)
    run.connect()
    c = run.coordinator
    taken = {c.traffic.plan_end(rid) for rid in c.robots}
    for station, cell in sorted(c.site.station_cells.items()):
        got = c.places.open_floor_cell("agv-01", near=cell)
        assert got == reference(run, cell, taken), station
        assert got is not None and not c.site.on_work_station(got)
    run.close()


def test_the_open_floor_holds_no_station_and_no_station_door() -> None:
    run = Lockstep(1)
    site = run.coordinator.site
    rows, cols = site.open_floor.shape
    for r, c in site.station_cells.values():
        for a, b in ((r, c), (r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            assert not (0 <= a < rows and 0 <= b < cols) or not site.open_floor[a, b]
    assert site.open_floor.sum() > 20
    run.close()
