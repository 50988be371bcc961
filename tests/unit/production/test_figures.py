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
