"""The one owner of live state: applies events, calls dispatch and traffic, writes the store."""

from fleet.coordinator.clock import Clock, ManualClock, WallClock
from fleet.coordinator.config import CoordinatorConfig
from fleet.coordinator.core import Coordinator
from fleet.coordinator.declared import CapabilityGroup, DeclaredRobot, load_fleet
from fleet.coordinator.plausibility import Implausible, ImplausibleReportError, Tolerance
from fleet.coordinator.robots import RobotRecord
from fleet.coordinator.runner import Addressed, Channel, CoordinatorRunner
from fleet.coordinator.state import FleetState
from fleet.model import MissionRecord, TaskRecord

__all__ = [
    "Addressed",
    "CapabilityGroup",
    "Channel",
    "Clock",
    "Coordinator",
    "CoordinatorConfig",
    "CoordinatorRunner",
    "DeclaredRobot",
    "FleetState",
    "Implausible",
    "ImplausibleReportError",
    "ManualClock",
    "MissionRecord",
    "RobotRecord",
    "TaskRecord",
    "Tolerance",
    "WallClock",
    "load_fleet",
]
