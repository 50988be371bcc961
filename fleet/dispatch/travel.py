"""Travel distances for dispatch, read from the planning core's cost-to-go tables, and the
pace robots really drive at, learnt from what the coordinator observes."""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from fleet.model import Cell, RobotKind
from fleet.planning import DistanceTables, Table

__all__ = ["DrivePace", "GridTravel", "Travel"]


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


class DrivePace:
    """How fast robots really drive, as a fraction of their top speed, learnt per kind of
    robot from the drives the coordinator observes (traffic, turns, speed zones and waits
    for other robots all included).

    Each drive gives the ratio of its seconds at top speed over the shortest path to the
    seconds it took; a kind's pace is the median of its last `window` ratios (a drive that
    waited for a reason of its own, a blocked station, is one outlier among many). Until a
    kind has `least` drives, the pace of all kinds together stands in, and until then
    `default`.
    """

    def __init__(self, default: float, window: int = 25, least: int = 5) -> None:
        if not 0.0 < default <= 1.0:
            raise ValueError(f"default pace must be in (0, 1], not {default}")
        self.default = default
        self.window = window
        self.least = least
        self._ratios: dict[RobotKind, deque[float]] = {}
        self._all: deque[float] = deque(maxlen=window)

    def observe(self, kind: RobotKind, metres: float, top_speed_mps: float,
                seconds: float) -> None:
        """One drive of `metres` (shortest path) that took `seconds`."""
        if not (metres > 0 and top_speed_mps > 0 and seconds > 0 and math.isfinite(metres)):
            return
        ratio = min(1.0, max(0.05, metres / top_speed_mps / seconds))
        self._ratios.setdefault(kind, deque(maxlen=self.window)).append(ratio)
        self._all.append(ratio)

    def factor(self, kind: RobotKind) -> float:
        """The kind's average speed as a fraction of its top speed."""
        mine = self._ratios.get(kind)
        if mine is not None and len(mine) >= self.least:
            return statistics.median(mine)
        if len(self._all) >= self.least:
            return statistics.median(self._all)
        return self.default

    def factors(self) -> dict[RobotKind, float]:
        """`factor` of every kind of robot."""
        return {kind: self.factor(kind) for kind in RobotKind}
