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
    AlreadyExistsError,
    FleetError,
    InfeasibleError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
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

__all__ = [
    "ActionKind",
    "ActionStatus",
    "AlreadyExistsError",
    "BatteryModel",
    "Cell",
    "Command",
    "EventKind",
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
    "UnavailableError",
    "WeldCapability",
    "battery_model",
    "check_id",
]
