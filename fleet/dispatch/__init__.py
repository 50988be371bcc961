"""Who does what: capability matching, cost model, assignment, mission dependencies, charging.

`OptimalDispatcher` (the Hungarian method over ready tasks and free or soon-free robots),
`ScheduleDispatcher` (an optimized schedule of all known work, re-optimized every round) and
`NearestDispatcher` (the greedy baseline) share the `Dispatcher` protocol; `plan_charging`
sends robots to chargers for either. Everything here is pure: plain data in, decisions out.
"""

from fleet.dispatch.charging import ChargeOrder, may_charge, plan_charging
from fleet.dispatch.costs import (
    DETOUR,
    AbleMemo,
    CostWeights,
    TaskEstimate,
    WaitingPart,
    affordable,
    cell_backlogs,
    estimate,
    holding_station,
    mission_tails,
    part_seconds,
    reserved_shares,
    waiting_part,
)
from fleet.dispatch.inputs import (
    HOLDING_KINDS,
    PINNED_KINDS,
    Inventory,
    Outlook,
    Round,
    may_begin,
    ready_at,
    work_to_come,
)
from fleet.dispatch.nearest import Assignment, Candidate, Job, assign_nearest, capable
from fleet.dispatch.optimizer import (
    CostTerms,
    Dispatcher,
    NearestDispatcher,
    OptimalDispatcher,
)
from fleet.dispatch.schedule import ScheduleDispatcher
from fleet.dispatch.travel import DrivePace, GridTravel, Travel
from fleet.model import InvalidInputError


def make_dispatcher(name: str) -> Dispatcher:
    """A fresh dispatcher by name: "optimal", "schedule" or "nearest"."""
    if name == "optimal":
        return OptimalDispatcher()
    if name == "schedule":
        return ScheduleDispatcher()
    if name == "nearest":
        return NearestDispatcher()
    raise InvalidInputError(f"unknown dispatcher {name!r}: expected optimal, schedule or "
                            "nearest", field="dispatcher", value=name)


__all__ = [
    "DETOUR",
    "HOLDING_KINDS",
    "PINNED_KINDS",
    "AbleMemo",
    "Assignment",
    "Candidate",
    "ChargeOrder",
    "CostTerms",
    "CostWeights",
    "Dispatcher",
    "DrivePace",
    "GridTravel",
    "Inventory",
    "Job",
    "NearestDispatcher",
    "OptimalDispatcher",
    "Outlook",
    "Round",
    "ScheduleDispatcher",
    "TaskEstimate",
    "Travel",
    "WaitingPart",
    "affordable",
    "assign_nearest",
    "capable",
    "cell_backlogs",
    "estimate",
    "holding_station",
    "make_dispatcher",
    "may_begin",
    "may_charge",
    "mission_tails",
    "part_seconds",
    "plan_charging",
    "ready_at",
    "reserved_shares",
    "waiting_part",
    "work_to_come",
]
