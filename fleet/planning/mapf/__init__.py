"""Multi-agent path finding: LaCAM with PIBT, the solution checker, lifelong planning."""

from __future__ import annotations

from fleet.planning.mapf.graph import GridGraph
from fleet.planning.mapf.lacam import MapfResult, solve_mapf, sum_of_costs

__all__ = ["GridGraph", "MapfResult", "solve_mapf", "sum_of_costs"]
