"""A run's figures from a hand-made event log of one unit."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fleet.model import EventKind, MissionEvent, MissionRecord, MissionState
from fleet.production import Order, expand_order, load_line
from fleet.production.figures import ActivityKind, line_figures
from tests.conftest import ROOT

TINY = ROOT / "tests" / "data" / "lines" / "tiny.yaml"


def test_figures_of_one_unit() -> None:
    (mission,) = expand_order(load_line(TINY).catalog, Order("u1", "BKT-1"))
    assert [t.id for t in mission.tasks] == ["to-weld-1", "weld-2", "to-assemble-3"]
    assert mission.release_s == 20  # cut
    record = replace(MissionRecord.new(mission, 0), state=MissionState.COMPLETED,
                     finished_s=120.0)
    m = mission.id

    def e(kind: EventKind, t: float, task: str, robot: str = "", step: int = -1
          ) -> MissionEvent:
        return MissionEvent(kind, m, t, task, robot, step)
    events = [
        e(EventKind.STARTED, 10, "to-weld-1", "agv-01"),     # sets off before the cut ends
        e(EventKind.STEP_DONE, 20, "to-weld-1", "agv-01", 1),  # pick
        e(EventKind.TASK_DONE, 40, "to-weld-1", "agv-01"),
        e(EventKind.STARTED, 30, "weld-2", "welder-01"),     # given out ahead
        e(EventKind.STEP_DONE, 45, "weld-2", "welder-01", 0),  # at the cell
        e(EventKind.TASK_DONE, 85, "weld-2", "welder-01"),
        e(EventKind.STARTED, 85, "to-assemble-3", "agv-01"),
        e(EventKind.STEP_DONE, 95, "to-assemble-3", "agv-01", 1),
        e(EventKind.TASK_DONE, 120, "to-assemble-3", "agv-01"),
    ]
    f = line_figures([record], events, ["agv-01", "agv-02", "welder-01"], 150.0)
    assert (f.released, f.completed, f.end_s) == (1, 1, 120)
    assert f.lead_time_mean_s == f.lead_time_max_s == 120
    assert (f.wip_mean, f.wip_max) == (1.0, 1)
    # waiting: 5 s for the welder in weld-1, 10 s for the AGV after the weld
    assert f.waiting_mean == pytest.approx(15 / 120) and f.waiting_max == 1
    assert f.waiting_for_welder_mean == pytest.approx(5 / 120)
    assert f.waiting_for_agv_mean == pytest.approx(10 / 120)
    # work from when the task may start: agv 20-40 and 85-120, welder 40-85
    assert f.utilization == {"agv-01": pytest.approx(55 / 120), "agv-02": 0.0,
                             "welder-01": pytest.approx(45 / 120)}
    bars = {(a.row, a.kind, a.start_s, a.end_s) for a in f.activities}
    assert ("agv-01", ActivityKind.WAITING, 10, 20) in bars
    assert ("welder-01", ActivityKind.WAITING, 30, 40) in bars
    assert ("weld-1", ActivityKind.WELD, 45, 85) in bars
    assert ("weld-1", ActivityKind.WAITING, 85, 95) in bars
    assert not f.holds_takt()  # one unit gives no pace


def _unit(k: int, release_s: float, finished_s: float) -> MissionRecord:
    """Unit k of the tiny line, released at release_s (its cut ends 20 s later), delivered at
    finished_s; no task events (the window's figures need none)."""
    (mission,) = expand_order(load_line(TINY).catalog, Order(f"u{k}", "BKT-1"))
    labels = {**mission.labels, "order_release_s": str(release_s)}
    mission = replace(mission, labels=labels, release_s=release_s + 20)
    return replace(MissionRecord.new(mission, k), state=MissionState.COMPLETED,
                   finished_s=finished_s)


def test_only_the_measured_units_give_the_pace_and_every_unit_counts_in_the_window() -> None:
    """Five units released every 100 s. The first two cross an empty line (fast), the last
    one a line nobody feeds (fast again); the measured middle ones fall behind by 30 s a
    unit. Measured alone they say takt + 30 s; all five say something else."""
    finished = [150.0, 250.0, 380.0, 510.0, 560.0]
    units = [_unit(k, 100.0 * k, f) for k, f in enumerate(finished)]
    robots = ["agv-01"]
    every = line_figures(units, [], robots, 100.0)
    middle = {units[k].mission.id for k in (1, 2, 3)}
    window = line_figures(units, [], robots, 100.0, measured=middle)
    process = 20 + sum(t.duration_s + t.delay_s for t in units[0].mission.tasks)
    assert process > 0
    assert (window.released, window.completed) == (3, 3)
    assert window.takt_achieved_s == pytest.approx(130.0)
    assert window.takt_error_s == pytest.approx(0.0, abs=1e-9)  # on a straight line
    assert every.takt_achieved_s != pytest.approx(130.0)
    assert window.window_s == (100.0, 510.0)
    assert window.lead_time_mean_s == pytest.approx((150 + 180 + 210) / 3)
    # WIP over [100, 510] counts every unit open then: u0 until 150, u4 from 400.
    open_s = (150 - 100) + (250 - 100) + (380 - 200) + (510 - 300) + (510 - 400)
    assert window.wip_mean == pytest.approx(open_s / 410)


def test_the_slopes_standard_error_is_the_textbook_one() -> None:
    from fleet.production.figures import slope, slope_error

    points = [(0.0, 1.0), (1.0, 2.5), (2.0, 2.9), (3.0, 4.4), (4.0, 5.1)]
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    b = sum((x - mx) * (y - my) for x, y in points) / sxx
    s2 = sum((y - my - b * (x - mx)) ** 2 for x, y in points) / (n - 2)
    assert slope(points) == pytest.approx(b)
    assert slope_error(points) == pytest.approx((s2 / sxx) ** 0.5)
    assert slope_error(points[:2]) == float("inf")
