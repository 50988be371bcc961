"""Travel distances for dispatch, read from the planning core's cost-to-go tables."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from fleet.model import Cell
from fleet.planning import DistanceTables, Table

__all__ = ["GridTravel", "Travel"]


class Travel(Protocol):
    """Path lengths in metres over the floor (inf where there is no way)."""

    def from_cells_m(self, cells: npt.NDArray[np.int64], station_id: str
                     ) -> npt.NDArray[np.float64]:
        """Metres from each cell (an (n, 2) array of row, column) to the station."""
        ...

    def between_m(self, a: str, b: str) -> float:
        """Metres from station `a` to station `b`."""
        ...

    def to_charger_m(self, station_id: str) -> float:
        """Metres from the station to the nearest charger (0 if the floor has none)."""
        ...


class GridTravel:
    """`Travel` over a planning grid: one cached backward search per station."""

    def __init__(self, distances: DistanceTables, station_cells: Mapping[str, Cell],
                 chargers: Sequence[str], resolution_m: float) -> None:
        self._distances = distances
        self._cells = dict(station_cells)
        self._chargers = tuple(chargers)
        self._resolution_m = resolution_m
        self._charger_table: npt.NDArray[np.float64] | None = None

    def table(self, station_id: str) -> Table:
        """Cost-to-go to the station in cells, per grid cell (float32 for compact tables)."""
        return self._distances.get(self._cells[station_id])

    def from_cells_m(self, cells: npt.NDArray[np.int64], station_id: str
                     ) -> npt.NDArray[np.float64]:
        """Metres from each cell (an (n, 2) array of row, column) to the station."""
        table = self.table(station_id)
        return np.asarray(table[cells[:, 0], cells[:, 1]], dtype=np.float64) * self._resolution_m

    def from_cell_m(self, cell: Cell, station_id: str) -> float:
        """Metres from one cell to the station."""
        return float(self.table(station_id)[cell]) * self._resolution_m

    def between_m(self, a: str, b: str) -> float:
        """Metres from station `a` to station `b`."""
        return float(self.table(b)[self._cells[a]]) * self._resolution_m

    def to_charger_m(self, station_id: str) -> float:
        """Metres from the station to the nearest charger (0 if the floor has none)."""
        if not self._chargers:
            return 0.0
        if self._charger_table is None:
            # One table for all chargers: the nearest one's distance from every cell.
            self._charger_table = np.minimum.reduce([self.table(c) for c in self._chargers])
        metres = float(self._charger_table[self._cells[station_id]]) * self._resolution_m
        return metres if math.isfinite(metres) else 0.0
