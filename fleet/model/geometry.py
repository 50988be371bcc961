"""Poses and cells: the two ways the project says where something is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

__all__ = ["Cell", "Pose"]

Cell: TypeAlias = tuple[int, int]
"""A planning-grid cell as (row, column); row 0 is the lowest y."""


@dataclass(frozen=True, slots=True)
class Pose:
    """A planar pose in the floor's `map` frame: metres and radians (REP 105)."""

    x: float
    y: float
    theta: float = 0.0
