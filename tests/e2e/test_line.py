"""A production line in simulation: orders at a takt through SubmitOrder, the run's figures
checked against the trajectory log, and a fleet-sizing sweep on a local Dask cluster."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fleet.floor import load_floor
from fleet.linesim import LineRun, RunSpec, recommend, run_line, sweep
from fleet.model import InvalidInputError
from fleet.production import Process, load_line
from fleet.production.figures import ActivityKind, slope, time_average
from sim.gantt import plot_gantt, plot_sizing
from tests.conftest import PLANT_MAP, ROOT, assert_clean_log

TINY = ROOT / "tests" / "data" / "lines" / "tiny.yaml"


def poses(log: Path) -> dict[float, dict[str, list[float]]]:
    with log.open() as f:
        next(f)
        return {round(r["t"], 1): r["poses"] for r in map(json.loads, f)}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> LineRun:
    log = tmp_path_factory.mktemp("line") / "run.jsonl"
    return run_line(RunSpec(str(TINY), str(PLANT_MAP), agvs=3, welders=2, seed=5,
                            log_path=str(log)))


def test_line_run_finishes_every_unit_without_collision(run: LineRun) -> None:
    f = run.figures
    assert f.released == f.completed == run.sim_completed == 3
    assert run.collisions == 0
    assert_clean_log(run.log_path)
    assert f.takt_s == 150 and math.isfinite(f.takt_achieved_s)
    assert f.throughput_per_h == pytest.approx(3600 / f.takt_achieved_s)
    assert set(f.utilization) == {"agv-01", "agv-02", "agv-03", "welder-01", "welder-02"}
    assert all(0 <= u <= 1 for u in f.utilization.values())


def test_a_production_line_dispatches_by_schedule_by_default(run: LineRun) -> None:
    """The fixture's run (every figure checked here) is the schedule optimizer's."""
    assert run.spec.dispatcher == "schedule"


def test_the_line_also_runs_clean_with_the_hungarian_dispatcher(tmp_path: Path) -> None:
    other = run_line(RunSpec(str(TINY), str(PLANT_MAP), agvs=3, welders=2, seed=5,
                             log_path=str(tmp_path / "run.jsonl"), dispatcher="optimal"))
    assert other.figures.completed == 3 and other.collisions == 0
    assert_clean_log(other.log_path)


def test_orders_were_released_every_takt(run: LineRun) -> None:
    line = load_line(TINY)
    orders = line.orders(seed=5)
    first_wait: dict[str, float] = {}
    for a in run.figures.activities:
        if a.kind is ActivityKind.WAITING and a.row.startswith("cut-out"):
            first_wait[a.unit] = min(first_wait.get(a.unit, math.inf), a.start_s)
    for k, o in enumerate(orders):
        cut = line.catalog.routings[o.model].operations[0].duration_s
        # Each order goes out at the first simulator tick (0.5 s) at or after its release;
        # its part waits at the cutter from the moment cutting is done.
        assert first_wait[f"{o.id}-1"] == pytest.approx(k * 150 + cut, abs=0.5)


def test_figures_agree_with_the_trajectory_log(run: LineRun) -> None:
    """Every robot task the event log reports ends with the robot, in the simulator's own
    trajectory log, standing on a station of the right kind; completions and WIP follow from
    the same bars."""
    floor = load_floor(PLANT_MAP)
    at = poses(Path(run.log_path))
    f = run.figures
    ends: dict[str, float] = {}
    for a in f.activities:
        if a.kind not in (ActivityKind.TRANSPORT, ActivityKind.WELD) or not a.row.startswith(
                ("agv-", "welder-")):
            continue
        ends[a.unit] = max(ends.get(a.unit, 0.0), a.end_s)
        x, y, _ = at[round(a.end_s, 1)][a.row]
        near = min(floor.stations.values(), key=lambda s: math.hypot(s.pose.x - x,
                                                                      s.pose.y - y))
        assert math.hypot(near.pose.x - x, near.pose.y - y) < 0.3, (a, near.id)
        if a.kind is ActivityKind.WELD:
            assert near.kind.value == "weld_cell"
        else:
            assert near.kind.value in ("weld_cell", "dropoff")
    assert len(ends) == f.completed
    # The pace: completions less each routing's own process time, against release times
    # (when the part's wait at the cutter began, less the cutting).
    line = load_line(TINY)
    points = []
    for o in line.orders(seed=5):
        ops = line.catalog.routings[o.model].operations
        cut_done = min(a.start_s for a in f.activities if a.unit == f"{o.id}-1"
                       and a.kind is ActivityKind.WAITING and a.row.startswith("cut-out"))
        process = sum(op.duration_s for op in ops if op.process is not Process.ASSEMBLE)
        points.append((cut_done - ops[0].duration_s, ends[f"{o.id}-1"] - process))
    assert f.takt_achieved_s == pytest.approx(150 * slope(points))
    assert 0 < f.wip_mean <= f.wip_max <= 3
    assert f.lead_time_max_s >= f.lead_time_mean_s > 0


def test_gantt_chart_is_drawn(run: LineRun, tmp_path: Path) -> None:
    plot_gantt(run.figures, str(tmp_path / "gantt.png"))
    assert (tmp_path / "gantt.png").read_bytes()[:4] == b"\x89PNG"


def test_slope_is_the_pace_of_delivery() -> None:
    assert slope([(0, 100), (150, 250), (300, 400)]) == pytest.approx(1.0)
    assert slope([(0, 100), (150, 300), (300, 500)]) == pytest.approx(4 / 3)  # falls behind
    assert slope([(0, 5.0)]) == math.inf and slope([(1, 5.0), (1, 6.0)]) == math.inf


def test_time_average_counts_overlaps() -> None:
    assert time_average([(0, 10), (5, 10)], 0, 10) == (1.5, 2)
    assert time_average([(-5, 5)], 0, 10) == (0.5, 1)
    assert time_average([], 0, 10) == (0.0, 0)


def test_sweep_runs_on_a_local_dask_cluster(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed", reason="the cluster extra is not installed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        sizing = sweep(str(TINY), str(PLANT_MAP), agvs=[1, 2], welders=[1], seeds=[1],
                       units=2, margin=0.0, cluster=cluster.scheduler_address)
    assert sorted((r.spec.agvs, r.spec.welders) for r in sizing.runs) == [(1, 1), (2, 1)]
    for r in sizing.runs:
        assert r.collisions == 0
        assert r.figures.completed == r.figures.released == 2
        assert r.figures.activities == ()  # a sweep keeps only the figures
    assert sizing.smallest == recommend(sizing.runs)
    assert "AGVs" in sizing.table()
    plot_sizing([(r.spec.agvs, r.spec.welders, [r.figures.takt_achieved_s])
                 for r in sizing.runs], 150, str(tmp_path / "size.png"))
    assert (tmp_path / "size.png").read_bytes()[:4] == b"\x89PNG"


def test_sweep_runs_on_a_process_pool_by_default() -> None:
    sizing = sweep(str(TINY), str(PLANT_MAP), agvs=[2], welders=[1], seeds=[2], units=2,
                   margin=0.0, workers=1, warm_up=1, cool_down=1)
    (r,) = sizing.runs
    assert (r.spec.agvs, r.spec.welders, r.spec.seed, r.spec.takt_s) == (2, 1, 2, 150)
    assert (r.spec.warm_up, r.spec.cool_down) == (1, 1)
    # Four units released, the middle two measured: their window runs from the second
    # release (one takt in) to the later of their deliveries.
    assert r.collisions == 0 and r.figures.completed == r.figures.released == 2
    assert r.sim_completed == 4
    first, last = r.figures.window_s
    assert first == pytest.approx(150.0) and last > first


def test_a_negative_warm_up_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInputError) as err:
        run_line(RunSpec(str(TINY), str(PLANT_MAP), agvs=2, welders=1, seed=1, units=2,
                         warm_up=-1))
    assert err.value.field == "warm_up"
