"""MAPF instances from MovingAI files: a `.map` and the first N agents of a `.scen`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fleet.floor.movingai import load_map
from fleet.model import Cell
from fleet.planning.mapf_utils import load_scen

__all__ = ["MapfInstance", "load_instance"]


@dataclass(frozen=True, slots=True, eq=False)
class MapfInstance:
    """A grid `free[row, col]` with one start and goal cell (row, col) per agent."""

    map_file: str
    free: npt.NDArray[np.bool_]
    starts: list[Cell]
    goals: list[Cell]


def load_instance(map_path: str | Path, scen_path: str | Path, agents: int) -> MapfInstance:
    """Read a `.map` and the first `agents` tasks of a `.scen` on it."""
    free = load_map(map_path)
    tasks = load_scen(scen_path, n_tasks=agents, free=free)
    return MapfInstance(
        map_file=Path(map_path).name,
        free=free,
        starts=[t.start for t in tasks],
        goals=[t.goal for t in tasks],
    )
