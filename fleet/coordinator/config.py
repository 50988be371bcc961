"""The coordinator's tuning."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from fleet.coordinator.plausibility import Tolerance
from fleet.traffic import PathSearch

__all__ = ["CoordinatorConfig"]


@dataclass(frozen=True, slots=True)
class CoordinatorConfig:
    """Tuning of the coordinator; defaults suit a plant floor with 1 m cells."""

    nominal_speed_mps: float = 1.0
    """Speed the plans assume; one planning step is one cell at this speed."""
    release_horizon: int = 8
    """Cells released ahead of a robot at most."""
    disconnect_timeout_s: float = 30.0
    """A robot silent this long loses the tasks it has not started."""
    restart_grace_s: float = 30.0
    """After a restart, wait this long for known robots to reconnect before planning."""
    cell_tolerance: float = 0.2
    """A registering robot must stand within this fraction of a cell of a cell centre."""
    stall_s: float = 10.0
    """A robot that has cells to drive but has not advanced for this long counts as stopped:
    robots waiting on it are re-planned around the cells it holds."""
    self_check: bool = field(
        default_factory=lambda: os.environ.get("FLEET_SELF_CHECK", "") not in ("", "0"))
    """Check the release order's safety invariants after every step and log any breach
    (tests and simulations turn this on with FLEET_SELF_CHECK=1)."""
    make_way_after_s: float = 5.0
    """A robot that cannot get a path this long while it stands on a work station leaves it
    for a parking place first (two robots each waiting for the other's station)."""
    plan_retry_s: float = 0.5
    plan_retry_max_s: float = 4.0
    """A robot whose path search found nothing searches again after `plan_retry_s`, then
    after twice as long each time it fails again, up to `plan_retry_max_s`. A search that
    fails can cost a hundred milliseconds at plant scale (it expands everything it can
    reach first), and what blocks a robot (others' ends of plan across its way) seldom
    changes within a step; the wall clock's loop steps every 0.05 s."""
    approach_m: float = 8.0
    """A robot further than this from a station another robot holds drives meanwhile to the
    open floor next to it, rather than stand still until the station is free."""
    reassign_unstarted_after_s: float = 5.0
    """A robot silent this long loses the tasks it was given but has not started."""
    dispatch_period_s: float = 0.5
    """Dispatch rounds (battery checks, charging, assignment, idle robots sent to rest) run
    at most this often. The control steps between them take in reports, advance work, plan,
    release paths and break wait cycles: their cost follows what moved, so the wall clock's
    loop can run faster than dispatch needs to (a freed robot has its queued task at once;
    only new assignments wait for the round)."""
    path_search: PathSearch = PathSearch.SIPP
    """How robots' paths are found (the compiled planner; the Python one for comparison)."""
    report_tolerance: Tolerance = field(default_factory=Tolerance)
    """How far a robot's reports may stray before they are refused as implausible (see
    `fleet.coordinator.plausibility`)."""
    registration_timeout_s: float = 60.0
    """A robot that registers and does not open its stream within this long is forgotten
    again: it releases its cell (a ROBOT_EXPIRED event)."""
