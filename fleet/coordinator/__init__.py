"""The one owner of live state: applies events, calls dispatch and traffic, writes the store."""

from fleet.coordinator.clock import Clock, ManualClock, WallClock
from fleet.coordinator.core import Coordinator, CoordinatorConfig
from fleet.coordinator.records import Channel, MissionRecord, RobotRecord, TaskRecord

__all__ = [
    "Channel",
    "Clock",
    "Coordinator",
    "CoordinatorConfig",
    "ManualClock",
    "MissionRecord",
    "RobotRecord",
    "TaskRecord",
    "WallClock",
]
