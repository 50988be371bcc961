"""The checker is the oracle for simulated runs: these tests pin what it must catch and allow."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.check import (
    CheckInputError,
    ClosestApproach,
    Collision,
    ObstacleHit,
    check_log,
    load_floor_geometry,
    main,
)

REPO_ROOT = Path(__file__).resolve().parents[3]

FLOOR = """
name: tiny
outline: [[0, 0], [10, 0], [10, 10], [0, 10]]
obstacles:
  - id: box
    polygon: [[1, 1], [2, 1], [2, 2], [1, 2]]
    height: 1.5
zones:
  - id: no-go
    kind: keep_out
    polygon: [[6, 6], [8, 6], [8, 8], [6, 8]]
  - id: slow
    kind: speed_limit
    polygon: [[3, 3], [5, 3], [5, 5], [3, 5]]
    max_speed: 0.3
stations:
  - {id: in, kind: pickup, pose: [0.5, 0.5, 0.0]}
grid: {resolution: 0.1}
"""

Ticks = Sequence[tuple[float, Mapping[str, Any]]]


@pytest.fixture
def floor(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(FLOOR)
    return path


def write_log(
    path: Path, robots: Sequence[Mapping[str, Any]], ticks: Ticks, map_path: object = None
) -> Path:
    lines = [json.dumps({"map": None if map_path is None else str(map_path), "robots": robots})]
    for t, poses in ticks:
        lines.append(json.dumps({"t": t, "poses": {r: list(p) for r, p in poses.items()}}))
    path.write_text("\n".join(lines) + "\n")
    return path


def two(radius: float = 0.3) -> list[dict[str, Any]]:
    return [{"id": "a", "radius": radius}, {"id": "b", "radius": radius}]


# --- robots against robots --------------------------------------------------------------------


def test_head_on_swap_between_ticks_is_a_collision_no_tick_shows(tmp_path: Path) -> None:
    ticks: Ticks = [
        (0.0, {"a": (3, 5, 0), "b": (5, 5, math.pi)}),
        (1.0, {"a": (5, 5, 0), "b": (3, 5, math.pi)}),
    ]
    # At both ticks the robots are 2 m apart, far more than 0.6 m.
    report = check_log(write_log(tmp_path / "run.jsonl", two(), ticks))
    assert not report.ok
    assert report.collisions == [Collision(0.5, "a", "b", 0.0)]
    assert report.closest_approach == ClosestApproach(0.0, 0.5, "a", "b", -0.6)


def test_near_miss_outside_both_radii_is_fine(tmp_path: Path) -> None:
    ticks: Ticks = [
        (0.0, {"a": (3, 5, 0), "b": (7, 5.7, 0)}),
        (2.0, {"a": (7, 5, 0), "b": (3, 5.7, 0)}),
    ]
    report = check_log(write_log(tmp_path / "run.jsonl", two(), ticks))
    assert report.ok
    closest = report.closest_approach
    assert closest is not None
    assert closest.t == pytest.approx(1.0)
    assert closest.distance == pytest.approx(0.7)
    assert closest.clearance == pytest.approx(0.1)


def test_paths_that_cross_at_different_times_are_fine(tmp_path: Path) -> None:
    # Both drive through (5, 5), two seconds apart.
    ticks: Ticks = [
        (0.0, {"a": (4, 5, 0), "b": (5, 2, 0)}),
        (1.0, {"a": (5, 5, 0), "b": (5, 3, 0)}),
        (2.0, {"a": (6, 5, 0), "b": (5, 4, 0)}),
        (3.0, {"a": (7, 5, 0), "b": (5, 5, 0)}),
    ]
    assert check_log(write_log(tmp_path / "run.jsonl", two(), ticks)).ok


def test_touching_exactly_at_the_sum_of_radii_is_fine(tmp_path: Path) -> None:
    ticks: Ticks = [
        (0.0, {"a": (3, 5, 0), "b": (3.6, 5, 0)}),
        (1.0, {"a": (3, 6, 0), "b": (3.6, 6, 0)}),
    ]
    assert check_log(write_log(tmp_path / "run.jsonl", two(), ticks)).ok


def test_radii_of_each_robot_count(tmp_path: Path) -> None:
    robots = [{"id": "a", "radius": 0.2}, {"id": "b", "radius": 0.5}]
    ticks: Ticks = [(0.0, {"a": (3, 5, 0), "b": (3.65, 5, 0)})]
    assert check_log(write_log(tmp_path / "run.jsonl", robots, ticks)).collisions == [
        Collision(0.0, "a", "b", pytest.approx(0.65))  # type: ignore[arg-type]
    ]


def test_one_long_contact_is_reported_once_at_its_deepest_point(tmp_path: Path) -> None:
    gaps = [0.5, 0.4, 0.2, 0.3, 0.55, 1.0, 0.5]
    ticks: Ticks = [
        (float(k), {"a": (3, 5, 0), "b": (3 + gap, 5, 0)}) for k, gap in enumerate(gaps)
    ]
    report = check_log(write_log(tmp_path / "run.jsonl", two(), ticks))
    assert [c.t for c in report.collisions] == [2.0, 6.0]
    assert [c.distance for c in report.collisions] == pytest.approx([0.2, 0.5])


def test_robot_absent_from_a_tick_is_not_interpolated_across_the_gap(tmp_path: Path) -> None:
    ticks: Ticks = [
        (0.0, {"a": (3, 5, 0), "b": (5, 5, 0)}),
        (1.0, {"a": (3, 5, 0)}),
        (2.0, {"a": (5, 5, 0), "b": (3, 5, 0)}),
    ]
    report = check_log(write_log(tmp_path / "run.jsonl", two(), ticks))
    assert report.ok
    assert report.closest_approach is not None
    assert report.closest_approach.distance == pytest.approx(2.0)


def test_single_robot_has_no_closest_approach(tmp_path: Path) -> None:
    robots = [{"id": "a", "radius": 0.3}]
    report = check_log(write_log(tmp_path / "run.jsonl", robots, [(0.0, {"a": (3, 3, 0)})]))
    assert report.ok
    assert report.closest_approach is None
    assert report.ticks == 1


# --- robots against the floor -----------------------------------------------------------------


def test_cutting_an_obstacle_corner_between_ticks_is_a_hit(tmp_path: Path, floor: Path) -> None:
    # Both poses are clear of the box [1,2]x[1,2]; the straight line between them is not.
    robots = [{"id": "a", "radius": 0.1}]
    ticks: Ticks = [
        (0.0, {"a": (0.4, 1.3, 0)}),
        (1.0, {"a": (1.4, 2.3, 0)}),
        (2.0, {"a": (1.4, 3, 0)}),
    ]
    report = check_log(write_log(tmp_path / "run.jsonl", robots, ticks, floor))
    assert report.obstacle_hits == [ObstacleHit(0.0, "a", "box")]
    assert report.collisions == []


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ((0.5, 2.301), (2.5, 2.301)),  # 1 mm clear of the box's top edge
        ((2.2995, 0.5), (2.2995, 2.5)),  # 0.5 mm into its right edge: within the tolerance
    ],
)
def test_passing_an_obstacle_within_the_tolerance_is_fine(
    tmp_path: Path, floor: Path, start: tuple[float, float], end: tuple[float, float]
) -> None:
    robots = [{"id": "a", "radius": 0.3}]
    ticks: Ticks = [(0.0, {"a": (*start, 0)}), (1.0, {"a": (*end, 0)})]
    assert check_log(write_log(tmp_path / "run.jsonl", robots, ticks, floor)).ok


def test_footprint_overlapping_an_obstacle_at_a_tick_is_a_hit(tmp_path: Path, floor: Path) -> None:
    robots = [{"id": "a", "radius": 0.3}]
    ticks: Ticks = [
        (0.0, {"a": (0.5, 0.5, 0)}),
        (1.0, {"a": (0.8, 1.5, 0)}),
        (2.0, {"a": (0.5, 0.5, 0)}),
    ]
    report = check_log(write_log(tmp_path / "run.jsonl", robots, ticks, floor))
    assert report.obstacle_hits == [ObstacleHit(0.0, "a", "box")]


def test_keep_out_zones_are_obstacles_and_speed_zones_are_not(tmp_path: Path, floor: Path) -> None:
    robots = [{"id": "a", "radius": 0.3}]
    ticks: Ticks = [(0.0, {"a": (4, 4, 0)}), (1.0, {"a": (4, 5.5, 0)}), (2.0, {"a": (7, 7, 0)})]
    report = check_log(write_log(tmp_path / "run.jsonl", robots, ticks, floor))
    assert report.obstacle_hits == [ObstacleHit(1.0, "a", "no-go")]


def test_leaving_the_outline_is_a_hit(tmp_path: Path, floor: Path) -> None:
    robots = [{"id": "edge", "radius": 0.3}, {"id": "out", "radius": 0.3}]
    ticks: Ticks = [
        (0.0, {"edge": (9.5, 5, 0), "out": (12, 5, 0)}),
        (1.0, {"edge": (9.8, 5, 0), "out": (13, 5, 0)}),
        (2.0, {"edge": (9.5, 5, 0), "out": (12, 5, 0)}),
    ]
    report = check_log(write_log(tmp_path / "run.jsonl", robots, ticks, floor))
    assert sorted(report.obstacle_hits) == [
        ObstacleHit(0.0, "edge", "outline"),
        ObstacleHit(0.0, "out", "outline"),
    ]


def test_reaching_the_outline_within_the_tolerance_is_fine(tmp_path: Path, floor: Path) -> None:
    robots = [{"id": "a", "radius": 0.3}]
    ticks: Ticks = [(0.0, {"a": (9.5, 5, 0)}), (1.0, {"a": (9.7005, 5, 0)})]
    assert check_log(write_log(tmp_path / "run.jsonl", robots, ticks, floor)).ok


def test_floor_reader_keeps_obstacles_and_keep_out_zones_only(floor: Path) -> None:
    geometry = load_floor_geometry(floor)
    assert geometry.name == "tiny"
    assert geometry.outline is not None
    assert geometry.outline.area == pytest.approx(100.0)
    assert [label for label, _ in geometry.barriers] == ["box", "no-go"]


# --- speed ------------------------------------------------------------------------------------


def test_moving_faster_than_max_speed_is_a_violation(tmp_path: Path) -> None:
    robots = [
        {"id": "a", "radius": 0.3, "max_speed": 1.0},
        {"id": "free", "radius": 0.3},
    ]
    ticks: Ticks = [
        (0.0, {"a": (1, 1, 0), "free": (5, 5, 0)}),
        (0.1, {"a": (1.1, 1, 0), "free": (9, 9, 0)}),  # 1 m/s: allowed; free has no limit
        (0.2, {"a": (1.6, 1, 0), "free": (5, 5, 0)}),  # 5 m/s: a teleport
        (0.3, {"a": (1.7, 1, 0), "free": (5, 5, 0)}),
    ]
    report = check_log(write_log(tmp_path / "run.jsonl", robots, ticks))
    assert [(v.t, v.robot, v.max_speed) for v in report.speed_violations] == [(0.1, "a", 1.0)]
    assert report.speed_violations[0].speed == pytest.approx(5.0)


def test_speed_allows_the_logs_rounding(tmp_path: Path) -> None:
    robots = [{"id": "a", "radius": 0.3, "max_speed": 1.0}]
    # 51 mm in 50 ms: 1.02 m/s as logged, within 1 mm rounding of 1 m/s.
    ticks: Ticks = [(0.0, {"a": (1, 1, 0)}), (0.05, {"a": (1.051, 1, 0)})]
    assert check_log(write_log(tmp_path / "run.jsonl", robots, ticks)).ok


# --- input, map lookup and the command ----------------------------------------------------------


def test_map_named_in_the_header_is_found_next_to_the_log(tmp_path: Path, floor: Path) -> None:
    robots = [{"id": "a", "radius": 0.3}]
    log = write_log(tmp_path / "run.jsonl", robots, [(0.0, {"a": (1.5, 1.5, 0)})], "tiny.yaml")
    report = check_log(log)
    assert report.map_path == str(tmp_path / "tiny.yaml")
    assert report.obstacle_hits == [ObstacleHit(0.0, "a", "box")]


def test_explicit_map_wins_and_no_map_skips_the_floor(tmp_path: Path, floor: Path) -> None:
    robots = [{"id": "a", "radius": 0.3}]
    log = write_log(tmp_path / "run.jsonl", robots, [(0.0, {"a": (1.5, 1.5, 0)})])
    assert check_log(log).ok
    assert check_log(log).map_path is None
    assert not check_log(log, map_path=floor).ok


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"robots": [{"id": "a", "radius": 0.3}]}', '{"t": 0, "poses": {"z": [1, 1, 0]}}'], "z"),
        (
            [
                '{"robots": [{"id": "a", "radius": 0.3}]}',
                '{"t": 1, "poses": {"a": [1, 1, 0]}}',
                '{"t": 1, "poses": {"a": [1, 1, 0]}}',
            ],
            "does not follow",
        ),
        (['{"robots": [{"id": "a"}]}'], "robots[0]"),
        (
            ['{"robots": [{"id": "a", "radius": 0.3}]}', '{"t": 0, "poses": {"a": [NaN, 1, 0]}}'],
            "NaN",
        ),
        (["not json"], "not JSON"),
        (
            ['{"robots": [{"id": "a", "radius": 0.3}]}', '{"t": 0, "poses": {"a": ["1", 1, 0]}}'],
            "tick",
        ),
        (['{"robots": [{"id": "a", "radius": 0.3}]}', '{"t": "0", "poses": {}}'], "tick"),
        (['{"map": "missing.yaml", "robots": []}'], "missing.yaml"),
    ],
)
def test_malformed_logs_raise_input_errors(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CheckInputError, match=message.replace("[", r"\[")):
        check_log(path)


def test_main_exit_codes_and_report(
    tmp_path: Path, floor: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    robots = two()
    good = write_log(tmp_path / "good.jsonl", robots, [(0.0, {"a": (3, 3, 0), "b": (5, 5, 0)})])
    bad = write_log(tmp_path / "bad.jsonl", robots, [(0.0, {"a": (3, 3, 0), "b": (3.1, 3, 0)})])
    assert main([str(good), "--map", str(floor)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("OK")
    assert main([str(bad)]) == 1
    out = capsys.readouterr().out
    assert "collisions: 1" in out
    assert "a and b" in out
    assert main([str(tmp_path / "nothing.jsonl")]) == 2
    assert "error" in capsys.readouterr().err


def test_runs_as_a_module_without_importing_fleet(tmp_path: Path) -> None:
    log = write_log(tmp_path / "run.jsonl", two(), [(0.0, {"a": (3, 3, 0), "b": (3.1, 3, 0)})])
    probe = (
        "import sys, runpy; sys.argv = ['sim.check', sys.argv[1]]\n"
        "try:\n"
        "    runpy.run_module('sim.check', run_name='__main__')\n"
        "except SystemExit as done:\n"
        "    assert not [m for m in sys.modules if m.split('.')[0] == 'fleet'], 'imported fleet'\n"
        "    raise\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(log)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "collisions: 1" in result.stdout


# --- the closed form against a brute-force reference --------------------------------------------

coordinate = st.floats(min_value=-5, max_value=5, allow_nan=False)
point = st.tuples(coordinate, coordinate)


@settings(max_examples=200, deadline=None)
@given(a0=point, a1=point, b0=point, b1=point)
def test_closest_approach_matches_dense_sampling(
    tmp_path_factory: pytest.TempPathFactory,
    a0: tuple[float, float],
    a1: tuple[float, float],
    b0: tuple[float, float],
    b1: tuple[float, float],
) -> None:
    path = tmp_path_factory.mktemp("prop") / "run.jsonl"
    ticks: Ticks = [
        (0.0, {"a": (*a0, 0.0), "b": (*b0, 0.0)}),
        (1.0, {"a": (*a1, 0.0), "b": (*b1, 0.0)}),
    ]
    closest = check_log(write_log(path, two(0.0), ticks)).closest_approach
    assert closest is not None
    samples = 2000
    sampled = min(
        math.dist(
            (a0[0] + s / samples * (a1[0] - a0[0]), a0[1] + s / samples * (a1[1] - a0[1])),
            (b0[0] + s / samples * (b1[0] - b0[0]), b0[1] + s / samples * (b1[1] - b0[1])),
        )
        for s in range(samples + 1)
    )
    relative_speed = math.dist((a1[0] - a0[0], a1[1] - a0[1]), (b1[0] - b0[0], b1[1] - b0[1]))
    # The closed form is never above any sample, and at most half a sample step below.
    assert closest.distance <= sampled + 1e-9
    assert closest.distance >= sampled - relative_speed / samples - 1e-9  # float rounding
    assert 0.0 <= closest.t <= 1.0


# --- scale ----------------------------------------------------------------------------------------


@pytest.mark.bench
def test_twenty_robots_twenty_thousand_ticks_check_in_seconds(tmp_path: Path, floor: Path) -> None:
    robots = [{"id": f"r{i}", "radius": 0.2, "max_speed": 1.0} for i in range(20)]
    lines = [json.dumps({"map": str(floor), "robots": robots})]
    for k in range(20_000):
        t = k * 0.05
        poses = {
            f"r{i}": [round(5 + 4 * math.cos(0.01 * t + i), 3), round(0.4 * i + 0.5, 3), 0.0]
            for i in range(20)
        }
        lines.append(json.dumps({"t": round(t, 3), "poses": poses}))
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines) + "\n")
    began = time.perf_counter()
    report = check_log(path)
    elapsed = time.perf_counter() - began
    assert report.ticks == 20_000
    assert elapsed < 10.0


# --- one-way zones ----------------------------------------------------------------------------

ONE_WAY_FLOOR = """
name: lanes
outline: [[0, 0], [10, 0], [10, 10], [0, 10]]
zones:
  - {id: east-lane, kind: one_way, direction: "+x", polygon: [[2, 2], [8, 2], [8, 4], [2, 4]]}
"""


def test_driving_against_a_one_way_zone_is_a_violation(tmp_path: Path) -> None:
    floor = tmp_path / "lanes.yaml"
    floor.write_text(ONE_WAY_FLOOR)
    robots = [{"id": "good", "radius": 0.3}, {"id": "bad", "radius": 0.3},
              {"id": "across", "radius": 0.3}, {"id": "outside", "radius": 0.3}]
    ticks: Ticks = [
        (0.0, {"good": (3, 3, 0), "bad": (7, 2.5, 0), "across": (5, 1, 0), "outside": (7, 6, 0)}),
        (1.0, {"good": (4, 3, 0), "bad": (6, 2.5, 0), "across": (5, 2, 0), "outside": (6, 6, 0)}),
        (2.0, {"good": (5, 3, 0), "bad": (5, 2.5, 0), "across": (5, 3, 0), "outside": (5, 6, 0)}),
    ]
    report = check_log(write_log(tmp_path / "run.jsonl", robots, ticks, floor))
    assert [(v.t, v.robot, v.zone) for v in report.one_way_violations] == [
        (0.0, "bad", "east-lane")]
    assert report.one_way_violations[0].against_m == pytest.approx(1.0)
    assert not report.ok and "one-way violations: 1" in report.summary()


@pytest.mark.parametrize("seed", range(8))
def test_the_near_pair_filter_finds_exactly_what_every_pair_finds(seed: int) -> None:
    """The k-d tree filter of the pair check against the plain all-pairs scan, on seeded
    random crowds (robots coming and going, some touching): the same collisions, the same
    closest approach."""
    from sim.check import _check_pairs, _PairScan, _Run

    rng = np.random.default_rng(seed)
    robots, ticks = 80, 60
    side = float(rng.choice([12.0, 40.0, 400.0]))  # crowded, loose, far apart
    start = rng.uniform(0.0, side, (1, robots, 2))
    walk = rng.normal(0.0, 0.4, (ticks - 1, robots, 2))
    positions = np.concatenate([start, start + np.cumsum(walk, axis=0)])
    positions[rng.random((ticks, robots)) < 0.05] = np.nan  # robots absent at some ticks
    run = _Run(ids=tuple(f"r{i:02d}" for i in range(robots)),
               radii=rng.uniform(0.3, 0.6, robots), max_speeds=np.full(robots, np.nan),
               times=np.arange(ticks) * 0.5, positions=positions, header={})
    everything = _PairScan(run)
    first, second = np.triu_indices(robots, k=1)
    everything.add(first.astype(np.int64), second.astype(np.int64), 0, ticks)
    assert _check_pairs(run) == everything.result()
