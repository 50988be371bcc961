"""The public names of each package are pinned: changing them is a decision, not an accident."""

from __future__ import annotations

import importlib

import pytest

PINNED = {
    "fleet.model": {
        "ActionKind", "ActionStatus", "AlreadyExistsError", "Cell", "Command", "EventKind",
        "BatteryModel", "FleetError", "FollowPath", "InfeasibleError", "InvalidInputError",
        "Mission",
        "MissionEvent", "MissionState", "NotFoundError", "PerformAction",
        "PermissionDeniedError", "Pose", "RobotKind",
        "RobotMode", "RobotSpec", "RobotState", "StopAction", "Task", "TaskKind", "TaskState",
        "TimedWaypoint", "TransportCapability", "UnavailableError", "WeldCapability",
        "battery_model", "check_id", "MissionRecord", "TaskKey", "TaskRecord", "TransportStep",
        "UnauthenticatedError", "MAX_VIOLATIONS", "FieldViolation", "Reason", "Violations",
        "escape", "shorten", "Registration"},
    "fleet.traffic": {"FOREVER", "PathSearch", "Release", "ReservationTable", "Traffic", "Visit",
                      "check_invariants"},
    "fleet.dispatch": {"DETOUR", "AbleMemo", "Assignment", "Candidate", "ChargeOrder",
                       "CostTerms", "CostWeights", "Dispatcher", "DrivePace", "GridTravel", "Job",
                       "NearestDispatcher",
                       "OptimalDispatcher", "TaskEstimate", "Travel", "affordable",
                       "assign_nearest", "capable", "cell_backlogs", "estimate", "holding_station",
                       "HOLDING_KINDS", "PINNED_KINDS", "Inventory", "Round", "may_begin",
                       "ready_at", "work_to_come", "Outlook", "ScheduleDispatcher",
                       "make_dispatcher", "may_charge",
                       "mission_tails", "part_seconds", "plan_charging", "reserved_shares",
                       "waiting_part", "WaitingPart"},
    "fleet.coordinator": {"Addressed", "Channel", "Clock", "Coordinator", "CoordinatorConfig",
                          "CoordinatorRunner", "FleetState", "ManualClock", "MissionRecord",
                          "RobotRecord", "TaskRecord", "WallClock", "CapabilityGroup",
                          "DeclaredRobot", "Implausible", "ImplausibleReportError",
                          "Tolerance", "load_fleet"},
    "fleet.api": {"STATUS_OF", "FleetServer", "create_server", "describe", "status_of"},
    "fleet.production": {"MAX_UNITS", "Catalog", "Center", "FleetPlan", "Line", "Operation",
                         "Order", "Process", "Routing", "expand_order", "load_line",
                         "parse_catalog", "parse_line", "queued_work", "unit_ids"},
    "fleet.http": {"ROUTES", "ApiRoute", "FrameFeed", "HttpServer", "check_exposure", "create_app",
                   "create_replay_app", "load_replay", "parse_address"},
}


@pytest.mark.parametrize("module", sorted(PINNED))
def test_public_names_are_pinned(module: str) -> None:
    mod = importlib.import_module(module)
    assert set(mod.__all__) == PINNED[module]
    for name in mod.__all__:
        assert hasattr(mod, name)
