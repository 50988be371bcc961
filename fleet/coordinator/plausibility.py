"""Robots that cannot lie: a state report is believed only if it could be true.

A report is compared with the last one believed on the same stream (the first one with the
pose the robot registered at). It is implausible, and never believed, if:

- it implies driving faster than the robot's top speed: the distance from the last believed
  pose may be at most `max_speed_mps * (1 + speed_margin) * dt + jitter_m`, with `dt` from
  the robot's stamps (the first report: the coordinator's clock since the registration);
  `jitter_m` covers localization noise, `speed_margin` controllers that overshoot;
- the pose is inside an obstacle or a keep-out zone, or off the floor, by more than
  `jitter_m` (a robot's centre is never inside one while its footprint clears it);
- its stamp is earlier than the last believed one's, or its `seq` is not above the last
  believed one's (a `seq` of 0 throughout means the robot does not number its reports);
- its stamp runs ahead of the coordinator's clock: each report's lag (the coordinator's
  time at arrival minus the stamp) is compared with the smallest lag of the stream so far,
  the best estimate of the two clocks' offset plus the quickest delivery. A report whose lag
  is smaller by more than `stamp_lead_s`, plus `clock_drift` of the time since that
  smallest lag was seen, claims more time passed than did. A late delivery only makes a lag
  larger, so it never counts against a robot, however seldom it reports. Without this a
  robot could stamp one report far in the future and so be "allowed" any jump;
- it reports a result (running, succeeded, failed) for an action the coordinator never
  gave the robot. The first report of a stream may carry the outcome of an action from
  before (a robot keeps it across reconnections); it is accepted as that, but acted on only
  if the action was given (`Execution` checks that).

`check_report` is the pure check; the `Inbox` runs it on every report as it arrives, and the
coordinator turns the robot into a fault (the failure rules of `Failures.robot_lost`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely

from fleet.floor import FloorMap
from fleet.model import ActionStatus, InvalidInputError, RobotState

__all__ = ["Finding", "FloorCheck", "Implausible", "ImplausibleReportError", "Tolerance",
           "check_report"]


class Implausible(enum.Enum):
    """Why a report was not believed (the label of `fleet_implausible_reports`)."""

    TOO_FAST = "too_fast"
    IN_OBSTACLE = "in_obstacle"
    STAMP_BACKWARDS = "stamp_backwards"
    STAMP_AHEAD = "stamp_ahead"
    SEQ_BACKWARDS = "seq_backwards"
    UNKNOWN_ACTION = "unknown_action"


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How much a truthful robot's reports may stray; metres, seconds, fractions."""

    jitter_m: float = 0.3
    """Localization noise: a pose may be this far beyond what top speed allows, and this
    deep inside an obstacle's outline."""
    speed_margin: float = 0.1
    """Fraction above the robot's declared top speed still believed."""
    stamp_slack_s: float = 1e-6
    """A stamp this much earlier than the last one still counts as not going backwards."""
    stamp_lead_s: float = 1.0
    """How much further ahead of the coordinator's clock a stamp may be than the stream's
    least-ahead report was (a robot's clock stepped by its time sync)."""
    clock_drift: float = 1e-3
    """The fraction a robot's clock may gain on the coordinator's (0.1 %: far more than a
    crystal's, so an unsynchronized robot is not refused after hours)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """An implausible report: the reason, and a message naming the field and values."""

    reason: Implausible
    field: str
    message: str


class ImplausibleReportError(InvalidInputError):
    """A robot's report was refused as implausible; `reason` says why."""

    def __init__(self, robot_id: str, finding: Finding) -> None:
        super().__init__(f"robot {robot_id!r}: implausible report ({finding.reason.value}): "
                         f"{finding.message}", field=finding.field, value=finding.reason.value)
        self.finding = finding.reason


class FloorCheck:
    """Whether a point is off the floor or inside something in the way, by more than the
    jitter; geometry prepared once."""

    def __init__(self, floor: FloorMap, jitter_m: float) -> None:
        blockers = [o.polygon for o in floor.obstacles] + \
            [z.polygon for z in floor.keep_out_zones]
        self._blocked = shapely.union_all(blockers).buffer(-jitter_m) if blockers else None
        self._floor = floor.outline.buffer(jitter_m)
        shapely.prepare(self._floor)
        if self._blocked is not None:
            shapely.prepare(self._blocked)
        # Squares of half a grid cell whose every point (edges included) lies inside the
        # floor and outside everything in the way: a point in one needs no polygon test.
        # Every report is checked, and at plant scale the polygon tests were most of it.
        # Worked out for a square the first time a point falls in it (robots see little of
        # a large floor): -1 not yet, 0 not clear, 1 clear.
        self._side = floor.resolution_m / 2
        x0, y0, x1, y1 = self._floor.bounds
        self._x0, self._y0 = x0, y0
        self._clear = np.full((max(1, math.ceil((y1 - y0) / self._side)),
                               max(1, math.ceil((x1 - x0) / self._side))), -1, np.int8)

    def blocked(self, x: float, y: float) -> bool:
        """True if (x, y), metres, cannot be where a robot's centre is."""
        if math.isfinite(x) and math.isfinite(y):
            r = math.floor((y - self._y0) / self._side)
            c = math.floor((x - self._x0) / self._side)
            rows, cols = self._clear.shape
            if 0 <= r < rows and 0 <= c < cols:
                clear = self._clear[r, c]
                if clear < 0:
                    clear = self._clear[r, c] = self._square_clear(r, c)
                if clear:
                    return False
        if not shapely.contains_xy(self._floor, x, y):
            return True
        return self._blocked is not None and bool(shapely.contains_xy(self._blocked, x, y))

    def _square_clear(self, r: int, c: int) -> int:
        side = self._side
        box = shapely.box(self._x0 + c * side, self._y0 + r * side,
                          self._x0 + (c + 1) * side, self._y0 + (r + 1) * side)
        return int(shapely.contains_properly(self._floor, box) and (
            self._blocked is None or not shapely.intersects(self._blocked, box)))


_RESULTS = frozenset({ActionStatus.RUNNING, ActionStatus.SUCCEEDED, ActionStatus.FAILED})


def check_report(before: RobotState, report: RobotState, *, max_speed_mps: float,
                 tolerance: Tolerance, floor: FloorCheck, given: Callable[[str], bool],
                 first: bool = False, elapsed_s: float = 0.0, ahead_s: float = 0.0,
                 since_lag_s: float = 0.0, carried_action: str = "") -> Finding | None:
    """Why `report` cannot be true after `before` (the last believed state), or None.

    `first`: the stream's first report, `before` being the registered state; then
    `elapsed_s` (coordinator seconds since the registration) is the time the robot had to
    move, and the stamp and sequence checks start with this report. `ahead_s`: how much
    smaller this report's lag (coordinator time at arrival minus stamp) is than the stream's
    smallest so far, seen `since_lag_s` coordinator seconds ago. `given(action_id)`: the coordinator
    gave the robot that action. `carried_action`: the action id of the stream's first
    report, accepted as an outcome carried over.
    """
    x, y = report.pose.x, report.pose.y
    if floor.blocked(x, y):
        return Finding(Implausible.IN_OBSTACLE, "state.pose",
                       f"pose ({x:.2f}, {y:.2f}) is inside an obstacle or off the floor")
    if not first:
        if report.stamp_s < before.stamp_s - tolerance.stamp_slack_s:
            return Finding(Implausible.STAMP_BACKWARDS, "state.stamp_s",
                           f"stamp_s {report.stamp_s} is before the last report's "
                           f"{before.stamp_s}")
        if (report.seq or before.seq) and report.seq <= before.seq:
            return Finding(Implausible.SEQ_BACKWARDS, "state.seq",
                           f"seq {report.seq} does not follow the last report's {before.seq}")
        allowed_ahead = tolerance.stamp_lead_s + tolerance.clock_drift * since_lag_s
        if not ahead_s <= allowed_ahead:
            return Finding(Implausible.STAMP_AHEAD, "state.stamp_s",
                           f"stamp_s {report.stamp_s} runs {ahead_s:.3f} s further ahead of "
                           f"the coordinator's clock than the stream's earlier reports "
                           f"(at most {allowed_ahead:.3f} s)")
    dt = max(elapsed_s if first else report.stamp_s - before.stamp_s, 0.0)
    moved = math.hypot(x - before.pose.x, y - before.pose.y)
    allowed = max_speed_mps * (1.0 + tolerance.speed_margin) * dt + tolerance.jitter_m
    if moved > allowed:
        return Finding(Implausible.TOO_FAST, "state.pose",
                       f"moved {moved:.2f} m in {dt:.3f} s; top speed {max_speed_mps} m/s "
                       f"allows {allowed:.2f} m")
    if (report.action_status in _RESULTS and report.action_id and not first
            and report.action_id != carried_action and not given(report.action_id)):
        return Finding(Implausible.UNKNOWN_ACTION, "state.action_id",
                       f"action_status {report.action_status.value} for action_id "
                       f"{report.action_id[:80]!r}, which was never given to this robot")
    return None
