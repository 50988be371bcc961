"""What the control center shows, read on the coordinator's worker in one call.

A snapshot is plain values (no wire messages, no live records), so the loop can serialize it
for every open page after the worker has moved on. Built once per frame and shared by all
pages, so the coordinator's cost does not grow with the number of viewers.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass

from fleet.coordinator import Coordinator, RobotRecord
from fleet.model import RobotMode, RobotState

__all__ = ["FleetCounts", "FrameView", "RobotView", "ViewState", "counts", "frame", "view_state"]


class ViewState(enum.Enum):
    """A robot's state as an operator reads it (the page colours robots by it)."""

    IDLE = "idle"
    MOVING = "moving"
    ACTING = "acting"
    CHARGING = "charging"
    PAUSED = "paused"
    FAULT = "fault"
    SILENT = "silent"
    """Known, but its link is down."""


_BY_MODE = {RobotMode.IDLE: ViewState.IDLE, RobotMode.MOVING: ViewState.MOVING,
            RobotMode.ACTING: ViewState.ACTING, RobotMode.CHARGING: ViewState.CHARGING,
            RobotMode.PAUSED: ViewState.PAUSED, RobotMode.FAULT: ViewState.FAULT}


def view_state(record: RobotRecord, latest: RobotState | None) -> ViewState:
    """Silent without a link, paused while an operator holds it, else its reported mode."""
    state = latest or record.state
    if not record.connected or state is None:
        return ViewState.SILENT
    if record.hold:
        return ViewState.PAUSED
    return _BY_MODE[state.mode]


@dataclass(frozen=True, slots=True)
class RobotView:
    """One robot in a frame; positions in metres, the heading in radians."""

    id: str
    kind: str
    state: ViewState
    x: float
    y: float
    theta: float
    radius_m: float
    battery: float
    load_id: str
    hold: str
    task: str
    """"mission/task" of its current work, "" if none."""
    queue: tuple[str, ...]
    """The tasks given to it after the current one."""
    faults: tuple[str, ...]
    released: tuple[tuple[float, float], ...]
    """Cell centres it may drive now, from where it stands."""
    planned: tuple[tuple[float, float], ...]
    """Cell centres planned beyond the released ones."""


@dataclass(frozen=True, slots=True)
class FrameView:
    """Every robot at one moment of the coordinator's clock."""

    time_s: float
    robots: tuple[RobotView, ...]


def frame(c: Coordinator) -> FrameView:
    """The fleet now (call on the worker)."""
    grid = c.grid
    robots = []
    for rid, record in c.robots.items():
        latest = c.latest_state(rid)
        state = latest or record.state
        cells, released = c.traffic.route(rid) if record.placed else ([], 0)
        centres = tuple(grid.center_of(cell) for cell in cells)
        head = c.state.head(rid)
        robots.append(RobotView(
            id=rid, kind=record.spec.kind.value, state=view_state(record, latest),
            x=state.pose.x if state else 0.0, y=state.pose.y if state else 0.0,
            theta=state.pose.theta if state else 0.0, radius_m=record.spec.radius_m,
            battery=state.battery if state else 0.0, load_id=state.load_id if state else "",
            hold=record.hold, task=f"{head.mission_id}/{head.task_id}" if head else "",
            queue=tuple(f"{k.mission_id}/{k.task_id}" for k in c.state.queued(rid)),
            faults=state.faults if state else (),
            released=centres[:released + 1], planned=centres[released:]))
    return FrameView(c.clock.now(), tuple(robots))


@dataclass(frozen=True, slots=True)
class FleetCounts:
    """Figures for the metrics: robots by view state, missions by state, links."""

    robots: dict[ViewState, int]
    missions: dict[str, int]
    connected: int


def counts(c: Coordinator) -> FleetCounts:
    """The fleet's figures now (call on the worker)."""
    robots = Counter(view_state(r, c.latest_state(rid)) for rid, r in c.robots.items())
    missions = Counter(m.state.value for m in c.missions.values())
    return FleetCounts(dict(robots), dict(missions),
                       sum(1 for r in c.robots.values() if r.connected))
