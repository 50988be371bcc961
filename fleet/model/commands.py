"""Commands the coordinator sends to robots, before they become wire messages."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "ActionKind",
    "Command",
    "FollowPath",
    "PerformAction",
    "StopAction",
    "TimedWaypoint",
]


class ActionKind(enum.Enum):
    """What an action does where the robot stands."""

    PICK = "pick"
    DROP = "drop"
    WELD = "weld"
    CHARGE = "charge"


@dataclass(frozen=True, slots=True)
class TimedWaypoint:
    """A cell centre to reach (metres, radians) and when the plan reaches it (seconds)."""

    x: float
    y: float
    theta: float
    t_s: float
    max_speed_mps: float = 0.0
    """Speed limit on the way here; 0 means the robot's own top speed."""


@dataclass(frozen=True, slots=True)
class FollowPath:
    """Newly released waypoints of a path; indices start at 1 (0 is where it was planned)."""

    path_id: str
    first_index: int
    waypoints: tuple[TimedWaypoint, ...]
    complete: bool
    planned: tuple[TimedWaypoint, ...] = ()
    """The rest of the plan after the released waypoints, not released (it may change):
    for drivers that show or plan ahead (a VDA 5050 order's horizon); never to be driven."""


@dataclass(frozen=True, slots=True)
class PerformAction:
    """Do something at the station where the robot stands."""

    action_id: str
    kind: ActionKind
    station_id: str
    load_id: str = ""
    program: str = ""
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class StopAction:
    """Pause, resume or cancel."""

    kind: str
    """One of "pause", "resume", "cancel"."""
    reason: str = ""


Command: TypeAlias = FollowPath | PerformAction | StopAction
