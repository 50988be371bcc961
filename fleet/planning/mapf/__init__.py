"""Multi-agent path finding: LaCAM with PIBT, the solution checker, lifelong planning.

Grids are bool arrays `free[row, col]`; cells are (row, col); agents move 4-connected,
one cell or a wait per timestep, never sharing a cell or trading places.
"""

from __future__ import annotations

from fleet.planning.mapf.check import Violation, ViolationKind, check_solution
from fleet.planning.mapf.graph import GridGraph
from fleet.planning.mapf.lacam import MapfResult, solve_mapf, sum_of_costs, warm_up_mapf
from fleet.planning.mapf.lifelong import DelayGenerator, LifelongStats, run_lifelong
from fleet.planning.mapf.lorr import DelayConfig, LorrFormatError, LorrProblem, load_lorr
from fleet.planning.mapf.result_file import (
    MapfResultFile,
    ResultFormatError,
    format_result,
    parse_result,
    read_result,
    write_result,
)

__all__ = [
    "DelayConfig",
    "DelayGenerator",
    "GridGraph",
    "LifelongStats",
    "LorrFormatError",
    "LorrProblem",
    "MapfResult",
    "MapfResultFile",
    "ResultFormatError",
    "Violation",
    "ViolationKind",
    "check_solution",
    "format_result",
    "load_lorr",
    "parse_result",
    "read_result",
    "run_lifelong",
    "solve_mapf",
    "sum_of_costs",
    "warm_up_mapf",
    "write_result",
]
