"""The floor as the coordinator plans on it: worked out once per map, never changed."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from fleet.dispatch import GridTravel
from fleet.floor import FloorMap, OccupancyGrid, Station, StationKind, rasterize
from fleet.model import Cell
from fleet.planning import DistanceTables

__all__ = ["REST_KINDS", "Site"]

REST_KINDS = frozenset({StationKind.PARKING})
"""Where idle robots may stay; chargers are kept free for robots that need them."""


class Site:
    """The occupancy grid, distance tables, station cells and the open floor of one map.

    `step_s` is one planning step: one cell at the nominal speed.
    """

    def __init__(self, floor: FloorMap, nominal_speed_mps: float) -> None:
        self.floor = floor
        self.grid: OccupancyGrid = rasterize(floor)
        self.step_s = floor.resolution_m / nominal_speed_mps
        self.station_cells: dict[str, Cell] = {
            s.id: self.grid.cell_of(s.pose.x, s.pose.y) for s in floor.stations.values()}
        # Every station's table stays cached (dispatch and planning read them all the time;
        # an LRU smaller than the stations searched the same tables again every step):
        # float32, 4 bytes a cell, so a 300 m x 200 m floor at 1 m with 1,672 stations holds
        # at most 400 MB of them.
        self.distances = DistanceTables(self.grid.free, 4,
                                        one_way=self.grid.forbidden_moves, compact=True,
                                        max_tables=len(set(self.station_cells.values())) + 64)
        self._by_cell: dict[Cell, list[str]] = {}
        for sid in sorted(self.station_cells):
            self._by_cell.setdefault(self.station_cells[sid], []).append(sid)
        # Asked for every idle robot every step: a set, not a scan of the cell's stations.
        self._work_cells = frozenset(
            cell for cell, ids in self._by_cell.items()
            if not any(floor.stations[s].kind in REST_KINDS for s in ids))
        self.chargers = sorted(s.id for s in floor.stations.values()
                               if s.kind is StationKind.CHARGER)
        self.rest_places = sorted(s.id for s in floor.stations.values() if s.kind in REST_KINDS)
        self.weld_cells = sorted(s.id for s in floor.stations.values()
                                 if s.kind is StationKind.WELD_CELL)
        self.travel = GridTravel(self.distances, self.station_cells, self.chargers,
                                 floor.resolution_m)
        self.open_floor: npt.NDArray[np.bool_] = self._open_floor()
        """Cells where a robot may wait without blocking anything: free, no station, and all
        four neighbours free and no station either."""

    @property
    def stations(self) -> Mapping[str, Station]:
        """The floor's stations by id."""
        return self.floor.stations

    def stations_at(self, cell: Cell) -> list[str]:
        """Ids of the stations on a cell (usually none or one)."""
        return self._by_cell.get(cell, [])

    def on_work_station(self, cell: Cell) -> bool:
        """True if the cell holds a station robots work at (not a parking place)."""
        return cell in self._work_cells

    def _open_floor(self) -> npt.NDArray[np.bool_]:
        free = self.grid.free.astype(bool)
        station = np.zeros_like(free)
        for r, c in self.station_cells.values():
            station[r, c] = True
        ok = free & ~station
        padded = np.pad(ok, 1, constant_values=False)
        # A cell is open floor if it and its four neighbours are free of walls and stations.
        out: npt.NDArray[np.bool_] = (ok & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2]
                                      & padded[1:-1, 2:])
        return out
