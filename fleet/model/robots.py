"""Robots as the coordinator sees them: what they are, what they can do, how they are doing."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from fleet.model.geometry import Pose

__all__ = [
    "ActionStatus",
    "Registration",
    "RobotKind",
    "RobotMode",
    "RobotSpec",
    "RobotState",
    "TransportCapability",
    "WeldCapability",
]


class RobotKind(enum.Enum):
    """What kind of machine a robot is."""

    AGV = "agv"
    MOBILE_WELDER = "mobile_welder"
    FIXED_WELDER = "fixed_welder"


class RobotMode(enum.Enum):
    """What a robot reports it is doing."""

    IDLE = "idle"
    MOVING = "moving"
    ACTING = "acting"
    CHARGING = "charging"
    PAUSED = "paused"
    FAULT = "fault"


class ActionStatus(enum.Enum):
    """The state of the last action a robot was told to perform."""

    NONE = "none"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class TransportCapability:
    """The robot carries loads up to `max_payload_kg` kilograms."""

    max_payload_kg: float


@dataclass(frozen=True, slots=True)
class WeldCapability:
    """The robot runs these weld programs."""

    programs: frozenset[str]


@dataclass(frozen=True, slots=True)
class RobotSpec:
    """A robot's registration: who it is and what it can do."""

    id: str
    kind: RobotKind
    radius_m: float
    max_speed_mps: float
    transport: TransportCapability | None = None
    weld: WeldCapability | None = None

    def can_carry(self, mass_kg: float) -> bool:
        """True if the robot transports loads and this one is within its payload."""
        return self.transport is not None and mass_kg <= self.transport.max_payload_kg

    def can_weld(self, program: str) -> bool:
        """True if the robot runs this weld program."""
        return self.weld is not None and program in self.weld.programs


@dataclass(frozen=True, slots=True)
class Registration:
    """A robot of the roster as the store keeps it: its spec, and for a fixed welder the weld
    cell it stands at (so that missions for that cell are checked right after a restart,
    before the welder has registered again); "" for a robot that drives."""

    spec: RobotSpec
    home_station: str = ""


@dataclass(frozen=True, slots=True)
class RobotState:
    """One state report from a robot, stamped with the robot's clock in seconds."""

    robot_id: str
    stamp_s: float
    pose: Pose
    speed_mps: float = 0.0
    battery: float = 1.0
    """State of charge, 0 to 1."""
    mode: RobotMode = RobotMode.IDLE
    path_id: str = ""
    waypoints_reached: int = 0
    """How many waypoints of `path_id` the robot has reached."""
    action_id: str = ""
    action_status: ActionStatus = ActionStatus.NONE
    action_progress: float = 0.0
    load_id: str = ""
    """The load on board, empty when none."""
    faults: tuple[str, ...] = field(default=())
    seq: int = 0
    """The report's number on its stream, increasing by one; 0 if the robot does not count."""
