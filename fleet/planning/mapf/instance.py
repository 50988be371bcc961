"""MAPF instances from MovingAI files: a `.map` and the first N agents of a `.scen`.

The map may instead be one of our floor maps (`.yaml`): its planning grid is the map (scen
x = column, y = row, row 0 at the floor's lowest y) and its one-way zones are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fleet.floor import load_floor, rasterize
from fleet.floor.movingai import load_map
from fleet.model import Cell
from fleet.planning.mapf.graph import GridGraph
from fleet.planning.mapf_utils import load_scen

__all__ = ["MapfInstance", "load_instance"]


@dataclass(frozen=True, slots=True, eq=False)
class MapfInstance:
    """A grid `free[row, col]` with one start and goal cell (row, col) per agent.

    `forbidden_moves` (a floor grid's field of that name) is set for a floor map with
    one-way zones; `graph()` is then directed.
    """

    map_file: str
    free: npt.NDArray[np.bool_]
    starts: list[Cell]
    goals: list[Cell]
    forbidden_moves: npt.NDArray[np.uint8] | None = None

    def graph(self) -> GridGraph:
        """The graph to plan on: moves against one-way zones left out."""
        return GridGraph.from_grid(self.free, self.forbidden_moves)


def load_instance(map_path: str | Path, scen_path: str | Path, agents: int) -> MapfInstance:
    """Read a `.map` (or floor `.yaml`) and the first `agents` tasks of a `.scen` on it."""
    forbidden_moves = None
    if Path(map_path).suffix in (".yaml", ".yml"):
        grid = rasterize(load_floor(map_path))
        free = np.array(grid.free)
        forbidden_moves = np.array(grid.forbidden_moves) if grid.forbidden_moves.any() else None
    else:
        free = load_map(map_path)
    tasks = load_scen(scen_path, n_tasks=agents, free=free)
    return MapfInstance(
        map_file=Path(map_path).name,
        free=free,
        starts=[t.start for t in tasks],
        goals=[t.goal for t in tasks],
        forbidden_moves=forbidden_moves,
    )
