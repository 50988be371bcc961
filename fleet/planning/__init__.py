"""The planning core: compiled grid and lane-graph A*, distance tables, path post-processing.

Grids are numpy bool arrays `free[row, col]` (True = traversable) with an optional float
cost grid (>= 1, inf = keep-out); cells are (row, col) tuples. Call `warm_up()` once when
the service starts so no robot waits for the compiler.
"""

from __future__ import annotations

import time

import numpy as np

from fleet.planning.dist_table import DistanceTables, Table
from fleet.planning.errors import (
    CellBlockedError,
    CellOffMapError,
    InvalidCellError,
    NoPathError,
    ScenFormatError,
)
from fleet.planning.grid import GridPlanner, PathResult, astar, path_cost, zone_costs
from fleet.planning.lanes import Lane, LaneGraph, LanePath
from fleet.planning.mapf import (
    LifelongStats,
    LorrProblem,
    MapfResult,
    check_solution,
    load_lorr,
    run_lifelong,
    solve_mapf,
)
from fleet.planning.mapf_utils import ScenTask, load_scen, parse_scen
from fleet.planning.paths import cell_centers, timed_waypoints, turn_waypoints

__all__ = [
    "CellBlockedError",
    "CellOffMapError",
    "DistanceTables",
    "GridPlanner",
    "InvalidCellError",
    "Lane",
    "LaneGraph",
    "LanePath",
    "LifelongStats",
    "LorrProblem",
    "MapfResult",
    "NoPathError",
    "PathResult",
    "ScenFormatError",
    "ScenTask",
    "Table",
    "astar",
    "cell_centers",
    "check_solution",
    "load_lorr",
    "load_scen",
    "parse_scen",
    "path_cost",
    "run_lifelong",
    "solve_mapf",
    "timed_waypoints",
    "turn_waypoints",
    "warm_up",
    "zone_costs",
]


def warm_up() -> float:
    """Compile (or load from the disk cache) every kernel on a tiny map; returns seconds.

    The cache lives in `NUMBA_CACHE_DIR`, by default `~/.cache/fleet/numba`.
    """
    began = time.perf_counter()
    free = np.ones((3, 4), dtype=bool)
    free[1, 1] = False
    cost = np.full(free.shape, 2.0)
    for connectivity in (4, 8):
        for cell_cost in (None, cost):
            GridPlanner(free, connectivity, cell_cost).plan((0, 0), (2, 3))
            DistanceTables(free, connectivity, cell_cost).get((2, 3))
    LaneGraph([(0.0, 0.0), (1.0, 0.0)], [Lane(0, 1)]).plan(0, 1)
    from fleet.planning.spacetime import ReservationArrays, plan_sipp
    for compact in (False, True):  # the coordinator's tables are compact (float32)
        plan_sipp(free, (0, 0), (2, 3), 0, ReservationArrays.empty(free.size), 0,
                  DistanceTables(free, 4, compact=compact).get((2, 3)))
    return time.perf_counter() - began
