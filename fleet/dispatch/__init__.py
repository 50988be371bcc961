"""Who does what: capability matching, cost model, assignment, mission dependencies, charging.

`OptimalDispatcher` (the Hungarian method over ready tasks and free or soon-free robots) and
`NearestDispatcher` (the greedy baseline) share the `Dispatcher` protocol; `plan_charging`
sends robots to chargers for either. Everything here is pure: plain data in, decisions out.
"""

from fleet.dispatch.charging import ChargeOrder, plan_charging
from fleet.dispatch.costs import (
    DETOUR,
    CostWeights,
    TaskEstimate,
    WaitingPart,
    affordable,
    cell_backlogs,
    cell_of,
    estimate,
    mission_tails,
    part_seconds,
    reserved_shares,
    waiting_part,
)
from fleet.dispatch.nearest import Assignment, Candidate, Job, assign_nearest, capable
from fleet.dispatch.optimizer import (
    CostTerms,
    Dispatcher,
    NearestDispatcher,
    OptimalDispatcher,
)
from fleet.dispatch.travel import GridTravel, Travel

__all__ = [
    "DETOUR",
    "Assignment",
    "Candidate",
    "ChargeOrder",
    "CostTerms",
    "CostWeights",
    "Dispatcher",
    "GridTravel",
    "Job",
    "NearestDispatcher",
    "OptimalDispatcher",
    "TaskEstimate",
    "Travel",
    "WaitingPart",
    "affordable",
    "assign_nearest",
    "capable",
    "cell_backlogs",
    "cell_of",
    "estimate",
    "mission_tails",
    "part_seconds",
    "plan_charging",
    "reserved_shares",
    "waiting_part",
]
