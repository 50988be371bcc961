"""What a production run achieved, from its missions and their event log.

Definitions (all times on the coordinator's clock, seconds):

- a unit's lead time runs from its order's release (label `order_release_s`) to its
  mission's completion (the part delivered to assembly);
- takt achieved: the pace the line delivers at. Each unit's delay is its lead time less its
  routing's own process time (cutting, welding, machining, painting: what no fleet can
  shorten); a line that keeps up has delays that do not grow, one that falls behind by d
  seconds a unit has delays growing by d a unit. Takt achieved is the release takt T times
  the least-squares slope of (completion - process time) against release time: T for a line
  that keeps up, T + d for one that falls behind. Taking out the process time keeps the mix
  out of it: on a mixed-model line a long routing finishing after a later short one is not
  the line falling behind (the span of completions, (last - first) / (n - 1), would count the
  spread of the models' lead times as lost takt: by that spread, an estimated +-90 s on ten
  units of the plant line);
- its standard error: T times the slope's standard error (the residual spread of the
  delays over the spread of the releases). Delays on a mixed line scatter by several minutes
  from unit to unit, so ten units give an estimate good to about +-15 %, twenty to about
  +-6 %, forty to about +-2 %;
- the measured window: a run may release units before and after the ones measured (warm-up
  and cool-down), so the measured units meet a line already full and one still being fed;
  without, the first units cross an empty line and the last ones a line nobody feeds any
  more, and both bend the slope (the last ones most: their delays shrink, and the line
  looks faster than its takt). Takt achieved, lead time and units done are the measured
  units'; WIP, parts waiting and utilization are every unit's, over the window from the
  first measured release to the last measured completion;
- throughput: units an hour at that pace, 3600 / takt achieved;
- work in progress (WIP): units released and not yet completed, averaged over the window,
  and its maximum;
- parts waiting (the buffer the transport replaced): parts done with one step and not yet
  taken on by the next: a part at a machine's outfeed or in a weld cell from the moment the
  task that moves or welds it may start until a robot picks it (a transport) or begins the
  weld (arrives at the cell); averaged over the window, and its maximum;
- robot utilization: the share of the window each robot spends on tasks that may start:
  from STARTED (or, for a task given out ahead, from the moment it may start) to
  TASK_DONE; work begun and taken back (UNASSIGNED) counts too.
"""

from __future__ import annotations

import enum
import math
import statistics
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from fleet.model import (
    EventKind,
    MissionEvent,
    MissionRecord,
    MissionState,
    TaskKind,
    TransportStep,
)

__all__ = ["Activity", "ActivityKind", "LineFigures", "line_figures", "slope", "slope_error",
           "time_average"]


class ActivityKind(enum.Enum):
    """What a Gantt bar shows."""

    TRANSPORT = "transport"
    """A robot on a transport task."""
    WELD = "weld"
    """A robot on a weld task, or a cell welding."""
    PROCESS = "process"
    """A machine's own time (cutting, machining, painting) on a part."""
    WAITING = "waiting"
    """A part waiting at a station for the robot of its next step."""


@dataclass(frozen=True, slots=True)
class Activity:
    """One bar: on a robot or a station (`row`), from `start_s` to `end_s`, for a unit."""

    row: str
    start_s: float
    end_s: float
    kind: ActivityKind
    unit: str


@dataclass(frozen=True, slots=True)
class LineFigures:
    """A production run's figures (see the module's definitions)."""

    takt_s: float
    """The takt orders were released at."""
    released: int
    completed: int
    takt_achieved_s: float
    takt_error_s: float
    """Standard error of `takt_achieved_s` (see the module)."""
    throughput_per_h: float
    lead_time_mean_s: float
    lead_time_max_s: float
    wip_mean: float
    wip_max: int
    waiting_mean: float
    waiting_max: int
    waiting_for_agv_mean: float
    """Of `waiting_mean`: parts waiting for a transport (at outfeeds, in cells after a weld)."""
    waiting_for_welder_mean: float
    """Of `waiting_mean`: parts in a weld cell waiting for their welder."""
    utilization: Mapping[str, float]
    """Per robot."""
    end_s: float
    activities: tuple[Activity, ...]
    window_s: tuple[float, float] = (0.0, 0.0)
    """The measured window: the first measured release, the last measured completion."""

    def holds_takt(self, tolerance: float = 0.05) -> bool:
        """Every measured unit done and takt achieved within `tolerance` (a share) of the
        release takt (the estimate's own noise is `takt_error_s`)."""
        return (self.completed == self.released and self.completed >= 2
                and self.takt_achieved_s <= self.takt_s * (1.0 + tolerance))

    def utilization_of(self, prefix: str) -> float:
        """Mean utilization of the robots whose id starts with `prefix` (NaN if none)."""
        values = [u for r, u in self.utilization.items() if r.startswith(prefix)]
        return statistics.mean(values) if values else math.nan

    def summary(self) -> str:
        """A few lines for a person."""
        busiest = sorted(self.utilization.items(), key=lambda kv: -kv[1])[:3]
        return "\n".join([
            f"units done        {self.completed} of {self.released} released at takt "
            f"{self.takt_s:.0f} s",
            f"takt achieved     {self.takt_achieved_s:.1f} s +- {self.takt_error_s:.1f} s "
            f"({'holds' if self.holds_takt() else 'does NOT hold'} the takt)",
            f"throughput        {self.throughput_per_h:.2f} units/h",
            f"lead time         mean {self.lead_time_mean_s:.0f} s, max "
            f"{self.lead_time_max_s:.0f} s",
            f"work in progress  mean {self.wip_mean:.2f} units, max {self.wip_max}",
            f"parts waiting     mean {self.waiting_mean:.2f}, max {self.waiting_max} "
            f"(for an AGV {self.waiting_for_agv_mean:.2f}, for a welder "
            f"{self.waiting_for_welder_mean:.2f})",
            f"utilization       AGVs {100 * self.utilization_of('agv-'):.1f} %, welders "
            f"{100 * self.utilization_of('welder-'):.1f} %; busiest "
            + ", ".join(f"{r} {100 * u:.0f} %" for r, u in busiest),
        ])


def time_average(intervals: Iterable[tuple[float, float]], start_s: float, end_s: float
                 ) -> tuple[float, int]:
    """Mean over [start_s, end_s] of how many intervals are open, and the most open at once."""
    changes: list[tuple[float, int]] = []
    for a, b in intervals:
        a, b = max(a, start_s), min(b, end_s)
        if b > a:
            changes += [(a, 1), (b, -1)]
    changes.sort()
    area, level, peak, last = 0.0, 0, 0, start_s
    for t, d in changes:
        area += level * (t - last)
        level += d
        peak = max(peak, level)
        last = t
    span = end_s - start_s
    return (area / span if span > 0 else 0.0), peak


def _fit(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope of y against x and the residual sum of squares; infinite slope
    with fewer than two distinct x."""
    n = len(points)
    if n < 2:
        return math.inf, math.inf
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    den = sum((x - mean_x) ** 2 for x, _ in points)
    if den <= 0:
        return math.inf, math.inf
    b = sum((x - mean_x) * (y - mean_y) for x, y in points) / den
    residual = sum((y - mean_y - b * (x - mean_x)) ** 2 for x, y in points)
    return b, residual / den


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y against x over (x, y) points; infinite with fewer than two
    distinct x."""
    return _fit(points)[0]


def slope_error(points: Sequence[tuple[float, float]]) -> float:
    """Standard error of `slope` over the points (infinite with fewer than three)."""
    b, scaled_residual = _fit(points)
    if len(points) < 3 or not math.isfinite(b):
        return math.inf
    return math.sqrt(scaled_residual / (len(points) - 2))


@dataclass(slots=True)
class _TaskLog:
    started_s: float | None = None
    robot: str = ""
    steps: dict[int, float] | None = None
    done_s: float | None = None


def line_figures(missions: Sequence[MissionRecord], events: Iterable[MissionEvent],
                 robots: Iterable[str], takt_s: float, end_s: float | None = None,
                 measured: Collection[str] | None = None) -> LineFigures:
    """The figures of a run: its units' missions (labelled by `expand_order`), the event log,
    the robots' ids, the release takt; `end_s` defaults to the last event's time; `measured`:
    the ids of the units measured (default: all; see the module's measured window)."""
    logs: dict[tuple[str, str], _TaskLog] = {}
    busy: dict[str, list[tuple[float, float]]] = {r: [] for r in robots}
    activities: list[Activity] = []
    last_t = 0.0
    units = {r.mission.id for r in missions}
    for e in events:
        last_t = max(last_t, e.time_s)
        if e.mission_id not in units or not e.task_id:
            continue
        log = logs.setdefault((e.mission_id, e.task_id), _TaskLog(steps={}))
        if e.kind is EventKind.STARTED:
            log.started_s, log.robot = e.time_s, e.robot_id
        elif e.kind is EventKind.STEP_DONE and log.steps is not None:
            log.steps.setdefault(e.step, e.time_s)
        elif e.kind is EventKind.TASK_DONE:
            log.done_s = e.time_s
        elif e.kind is EventKind.UNASSIGNED:
            # Work begun and taken back (a fault, a re-optimized weld) was time spent.
            if log.started_s is not None and log.robot:
                busy.setdefault(log.robot, []).append((log.started_s, e.time_s))
            log.started_s = None
    end = last_t if end_s is None else end_s
    lead, completions, wip, waiting = [], [], [], []
    waiting_weld: list[tuple[float, float]] = []
    releases = []
    done_by_release: list[tuple[float, float]] = []
    counted = 0
    for record in missions:
        m = record.mission
        released = float(m.labels.get("order_release_s", m.release_s or m.submitted_s))
        finished = record.finished_s if record.state is MissionState.COMPLETED else end
        wip.append((released, finished))
        if measured is None or m.id in measured:
            counted += 1
            releases.append(released)
            if record.state is MissionState.COMPLETED:
                completions.append(record.finished_s)
                lead.append(record.finished_s - released)
                process_s = (sum(t.duration_s + t.delay_s for t in m.tasks)
                             + (m.release_s or released) - released)
                done_by_release.append((released, record.finished_s - process_s))
        for t in m.tasks:
            found = logs.get((m.id, t.id))
            if found is None:
                continue
            log = found
            deps = [logs.get((m.id, d)) for d in t.depends_on]
            dep_done = [d.done_s for d in deps if d is not None and d.done_s is not None]
            if len(dep_done) < len(t.depends_on):
                continue
            ready = max([m.release_s or 0.0] + [d + t.delay_s for d in dep_done])
            steps = log.steps or {}
            kind = ActivityKind.TRANSPORT if t.kind is TaskKind.TRANSPORT else ActivityKind.WELD
            if log.started_s is not None and log.done_s is not None and log.robot:
                # Given out ahead, a robot waits at the station until the task may start:
                # drawn as waiting, not counted as work.
                work_from = min(max(log.started_s, ready), log.done_s)
                if work_from > log.started_s:
                    activities.append(Activity(log.robot, log.started_s, work_from,
                                               ActivityKind.WAITING, m.id))
                activities.append(Activity(log.robot, work_from, log.done_s, kind, m.id))
                busy.setdefault(log.robot, []).append((work_from, log.done_s))
            if t.kind is TaskKind.TRANSPORT:
                begin = steps.get(int(TransportStep.PICK))
                where = t.pickup
                if t.delay_s > 0 and dep_done:
                    activities.append(Activity(t.pickup, max(dep_done), ready,
                                               ActivityKind.PROCESS, m.id))
            else:
                begin = steps.get(0)
                where = t.cell
                if begin is not None and log.done_s is not None:
                    activities.append(Activity(t.cell, begin, log.done_s, ActivityKind.WELD,
                                               m.id))
            stop = begin if begin is not None else end
            if stop > ready:
                waiting.append((ready, stop))
                if t.kind is TaskKind.WELD:
                    waiting_weld.append((ready, stop))
                activities.append(Activity(where, ready, stop, ActivityKind.WAITING, m.id))
    completions.sort()
    first = min(releases, default=0.0)
    last = max(completions, default=end)
    n = len(completions)
    takt_achieved = takt_s * slope(done_by_release)
    wip_mean, wip_max = time_average(wip, first, last)
    wait_mean, wait_max = time_average(waiting, first, last)
    weld_mean, _ = time_average(waiting_weld, first, last)
    span = last - first
    util = {r: min(1.0, sum(max(0.0, min(b, last) - max(a, first)) for a, b in spans) / span)
            if span > 0 else 0.0 for r, spans in busy.items()}
    return LineFigures(
        takt_s, counted, n, takt_achieved, takt_s * slope_error(done_by_release),
        3600.0 / takt_achieved if math.isfinite(takt_achieved) and takt_achieved > 0 else 0.0,
        statistics.mean(lead) if lead else math.nan, max(lead, default=math.nan),
        wip_mean, wip_max, wait_mean, wait_max, wait_mean - weld_mean, weld_mean,
        dict(sorted(util.items())), end,
        tuple(activities), (first, last))
