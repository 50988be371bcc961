"""Pictures of runs: a PNG gets written, with or without a floor, for short and long logs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sim import plot
from sim.plot import plot_run
from sim.trajlog import TrajectoryLog

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

FLOOR = """
name: tiny cell
grid: {resolution_m: 0.1, robot_radius_m: 0.3}
outline: [[0, 0], [10, 0], [10, 6], [0, 6]]
obstacles:
  - {id: rack, polygon: [[4, 2], [6, 2], [6, 4], [4, 4]]}
zones:
  - {id: no-go, kind: keep_out, polygon: [[8, 4], [9.5, 4], [9.5, 5.5], [8, 5.5]]}
  - {id: slow, kind: speed_limit, speed_limit_mps: 0.3, polygon: [[0, 0], [2, 0], [2, 2], [0, 2]]}
stations:
  - {id: in-1, kind: pickup, pose: [1, 5, 0]}
  - {id: out-1, kind: dropoff, pose: [9, 1]}
  - {id: weld-1, kind: weld_cell, pose: [5, 5, 1.57]}
  - {id: dock, kind: charger, pose: [1, 1, 0]}
"""


def write_run(tmp_path: Path, ticks: int, robots: int = 3, map_name: str = "floor.yaml") -> Path:
    (tmp_path / "floor.yaml").write_text(FLOOR)
    path = tmp_path / "run.jsonl"
    entries = [(f"agv-{i:02d}", 0.3) for i in range(robots)]
    with TrajectoryLog(path, map_name, entries, seed=1) as log:
        for k in range(ticks):
            t = 0.1 * k
            poses = {
                robot_id: (5 + 4 * math.cos(0.05 * t + i), 3 + 2.5 * math.sin(0.05 * t + i), 0.0)
                for i, (robot_id, _) in enumerate(entries)
                if not (i == 0 and k < ticks // 3)  # the first robot connects late
            }
            log.write(t, poses)
    return path


def is_png(path: Path) -> bool:
    return path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_SIGNATURE


def test_plot_writes_a_png_with_the_floor_named_in_the_log(tmp_path: Path) -> None:
    png = plot_run(write_run(tmp_path, 200), tmp_path / "run.png")
    assert png == tmp_path / "run.png"
    assert is_png(png)


def test_plot_uses_an_explicit_floor(tmp_path: Path) -> None:
    log = write_run(tmp_path, 50, map_name="elsewhere.yaml")
    assert is_png(plot_run(log, tmp_path / "run.png", floor_yaml=tmp_path / "floor.yaml"))


def test_plot_without_a_floor_draws_trajectories_only(tmp_path: Path) -> None:
    log = write_run(tmp_path, 50, map_name="")
    assert is_png(plot_run(log, tmp_path / "run.png"))


def test_long_logs_are_subsampled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plot, "MAX_POINTS_PER_ROBOT", 100)
    log = write_run(tmp_path, 1000, robots=25)
    assert plot._stride(log) == 10
    assert is_png(plot_run(log, tmp_path / "run.png"))


def test_plot_of_an_empty_run_still_writes_a_png(tmp_path: Path) -> None:
    log = tmp_path / "empty.jsonl"
    log.write_text(json.dumps({"map": "", "robots": []}) + "\n")
    assert is_png(plot_run(log, tmp_path / "empty.png"))
