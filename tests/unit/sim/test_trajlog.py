"""The trajectory log writer and reader: the format in ARCHITECTURE.md, round-tripped."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fleet.model import InvalidInputError
from sim.check import check_log
from sim.trajlog import TrajectoryLog, read_log


def test_round_trip_keeps_header_and_ticks(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with TrajectoryLog(
        path, "maps/cell.yaml", [("agv-01", 0.45), ("agv-02", 0.5, 1.2)], seed=7, scenario="x"
    ) as log:
        log.write(0.0, {"agv-01": (1.0, 2.0, 0.0)})
        log.write(0.1, {"agv-01": (1.1, 2.0, 0.0), "agv-02": (5.0, 5.0, math.pi)})
        assert log.ticks == 2
    header, ticks = read_log(path)
    assert header == {
        "map": "maps/cell.yaml",
        "robots": [
            {"id": "agv-01", "radius": 0.45},
            {"id": "agv-02", "radius": 0.5, "max_speed": 1.2},
        ],
        "seed": 7,
        "scenario": "x",
    }
    assert list(ticks) == [
        (0.0, {"agv-01": (1.0, 2.0, 0.0)}),
        (0.1, {"agv-01": (1.1, 2.0, 0.0), "agv-02": (5.0, 5.0, 3.142)}),
    ]


def test_file_is_json_lines_in_the_documented_shape(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with TrajectoryLog(path, tmp_path / "floor.yaml", [("r", 0.3)]) as log:
        log.write(1.5, {"r": (1.0, 2.0, 0.5)})
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["map"] == str(tmp_path / "floor.yaml")
    assert json.loads(lines[1]) == {"t": 1.5, "poses": {"r": [1.0, 2.0, 0.5]}}


def test_values_are_rounded_to_a_millimetre_and_a_millisecond(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with TrajectoryLog(path, "floor.yaml", [("r", 0.3)]) as log:
        log.write(0.12345, {"r": (1.23456, -2.00049, 0.1234567)})
    _, ticks = read_log(path)
    assert list(ticks) == [(0.123, {"r": (1.235, -2.0, 0.123)})]


def test_log_written_by_the_simulator_side_is_read_by_the_checker(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with TrajectoryLog(path, "", [("a", 0.3, 1.0), ("b", 0.3, 1.0)]) as log:
        for k in range(11):
            t = k * 0.1
            log.write(t, {"a": (t, 0.0, 0.0), "b": (t, 1.0, 0.0)})
    report = check_log(path)
    assert report.ok
    assert report.ticks == 11


def test_unknown_robot_is_refused(tmp_path: Path) -> None:
    with (
        TrajectoryLog(tmp_path / "run.jsonl", "f.yaml", [("r", 0.3)]) as log,
        pytest.raises(InvalidInputError) as raised,
    ):
        log.write(0.0, {"ghost": (0.0, 0.0, 0.0)})
    assert raised.value.field == "poses"


@pytest.mark.parametrize("later", [1.0, 1.0004, 0.5, math.nan, math.inf])
def test_time_must_advance_by_a_millisecond(tmp_path: Path, later: float) -> None:
    with TrajectoryLog(tmp_path / "run.jsonl", "f.yaml", [("r", 0.3)]) as log:
        log.write(1.0, {"r": (0.0, 0.0, 0.0)})
        with pytest.raises(InvalidInputError) as raised:
            log.write(later, {"r": (0.0, 0.0, 0.0)})
    assert raised.value.field == "t"


def test_non_finite_pose_is_refused(tmp_path: Path) -> None:
    with (
        TrajectoryLog(tmp_path / "run.jsonl", "f.yaml", [("r", 0.3)]) as log,
        pytest.raises(InvalidInputError) as raised,
    ):
        log.write(0.0, {"r": (math.nan, 0.0, 0.0)})
    assert raised.value.field == "poses[r]"


def test_header_keys_of_the_format_cannot_be_overridden(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        TrajectoryLog(tmp_path / "run.jsonl", "f.yaml", [("r", 0.3)], map="other.yaml")


def test_repeated_robot_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        TrajectoryLog(tmp_path / "run.jsonl", "f.yaml", [("r", 0.3), ("r", 0.4)])


def test_malformed_tick_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text('{"map": "f.yaml", "robots": []}\n{"t": 0, "poses": {}}\n{"t": 1}\n')
    _, ticks = read_log(path)
    assert next(ticks) == (0.0, {})
    with pytest.raises(InvalidInputError, match=":3:"):
        next(ticks)


def test_malformed_header_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text('{"t": 0, "poses": {}}\n')
    with pytest.raises(InvalidInputError):
        read_log(path)


def test_merged_logs_share_one_clock_and_let_the_checker_see_across_processes(
        tmp_path: Path) -> None:
    """Two processes' robots tick at different instants; merged, each is sampled on one
    clock by linear interpolation, and a collision between robots of different logs, which
    neither log shows alone, is found by the checker."""
    from sim.check import check_log
    from sim.trajlog import merge_logs, read_log

    a, b, out = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "merged.jsonl"
    (tmp_path / "hall.yaml").write_text(
        "name: hall\noutline: [[-1, -2], [4, -2], [4, 2], [-1, 2]]\n"
        "stations: [{id: s, kind: pickup, pose: [0, 1, 0]}]\ngrid: {resolution: 0.1}\n")
    with TrajectoryLog(a, "hall.yaml", [("east", 0.4, 1.0)]) as log:
        for k in range(31):  # x from 0 to 3 m over 3 s, ticks at 0.0, 0.1, ...
            log.write(100.0 + 0.1 * k, {"east": (0.1 * k, 0.0, 0.0)})
    with TrajectoryLog(b, "hall.yaml", [("west", 0.4, 1.0)]) as log:
        for k in range(31):  # x from 3 m to 0 over 3 s, ticks at 0.05, 0.15, ...
            log.write(100.05 + 0.1 * k, {"west": (3.0 - 0.1 * k, 0.0, 0.0)})
    ticks = merge_logs([a, b], out, 0.1)
    header, rows = read_log(out)
    rows = list(rows)
    assert ticks == len(rows) == 30
    assert [r["id"] for r in header["robots"]] == ["east", "west"]
    t, poses = rows[10]
    assert abs(t - 101.05) < 1e-6
    assert abs(poses["east"][0] - 1.05) < 2e-3 and abs(poses["west"][0] - 2.0) < 2e-3
    assert check_log(a).ok and check_log(b).ok
    assert check_log(out).collisions


def test_merging_refuses_a_robot_in_two_logs(tmp_path: Path) -> None:
    from fleet.model import InvalidInputError
    from sim.trajlog import merge_logs

    for name in ("a", "b"):
        with TrajectoryLog(tmp_path / f"{name}.jsonl", "none.yaml", [("r", 0.4)]) as log:
            log.write(0.0, {"r": (0.0, 0.0, 0.0)})
            log.write(1.0, {"r": (0.5, 0.0, 0.0)})
    with pytest.raises(InvalidInputError, match="more than one log"):
        merge_logs([tmp_path / "a.jsonl", tmp_path / "b.jsonl"], tmp_path / "m.jsonl", 0.1)
