"""Plain domain types shared by every part of fleet. No I/O, stdlib only."""

from fleet.model.commands import (
    ActionKind,
    Command,
    FollowPath,
    PerformAction,
    StopAction,
    TimedWaypoint,
)
from fleet.model.energy import BatteryModel, battery_model
from fleet.model.errors import (
    MAX_VIOLATIONS,
    AlreadyExistsError,
    FieldViolation,
    FleetError,
    InfeasibleError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    Reason,
    UnauthenticatedError,
    UnavailableError,
    Violations,
)
from fleet.model.geometry import Cell, Pose
from fleet.model.ids import check_id
from fleet.model.missions import (
    EventKind,
    Mission,
    MissionEvent,
    MissionState,
    Task,
    TaskKind,
    TaskState,
)
from fleet.model.progress import MissionRecord, TaskKey, TaskRecord, TransportStep
from fleet.model.robots import (
    ActionStatus,
    RobotKind,
    RobotMode,
    RobotSpec,
    RobotState,
    TransportCapability,
    WeldCapability,
)
from fleet.model.text import escape, shorten

__all__ = [
    "MAX_VIOLATIONS",
    "ActionKind",
    "ActionStatus",
    "AlreadyExistsError",
    "BatteryModel",
    "Cell",
    "Command",
    "EventKind",
    "FieldViolation",
    "FleetError",
    "FollowPath",
    "InfeasibleError",
    "InvalidInputError",
    "Mission",
    "MissionEvent",
    "MissionRecord",
    "MissionState",
    "NotFoundError",
    "PerformAction",
    "PermissionDeniedError",
    "Pose",
    "Reason",
    "RobotKind",
    "RobotMode",
    "RobotSpec",
    "RobotState",
    "StopAction",
    "Task",
    "TaskKey",
    "TaskKind",
    "TaskRecord",
    "TaskState",
    "TimedWaypoint",
    "TransportCapability",
    "TransportStep",
    "UnauthenticatedError",
    "UnavailableError",
    "Violations",
    "WeldCapability",
    "battery_model",
    "check_id",
    "escape",
    "shorten",
]
