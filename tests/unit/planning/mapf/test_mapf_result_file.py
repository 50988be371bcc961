"""The LaCAM result format: what ARCHITECTURE.md promises other tools, round-tripped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fleet.cli import main
from fleet.planning.mapf import (
    ResultFormatError,
    check_solution,
    format_result,
    parse_result,
    read_result,
    solve_mapf,
    write_result,
)

FREE = np.ones((2, 3), dtype=bool)
STARTS = [(0, 0), (0, 2)]
GOALS = [(0, 2), (0, 0)]


def test_result_file_round_trips(tmp_path: Path) -> None:
    result = solve_mapf(FREE, STARTS, GOALS, time_limit_s=5.0)
    out = tmp_path / "result.txt"
    write_result(out, result, "tiny.map", seed=4)
    back = read_result(out)
    assert back.solved
    assert back.starts == STARTS and back.goals == GOALS
    assert np.array_equal(back.paths, result.paths)
    assert back.fields["soc"] == str(result.soc)
    assert back.fields["makespan"] == str(result.makespan)
    assert back.fields["map_file"] == "tiny.map"
    assert back.fields["seed"] == "4"
    assert check_solution(FREE, back.starts, back.goals, back.paths) == []


def test_format_follows_the_contract() -> None:
    result = solve_mapf(FREE, STARTS, GOALS, time_limit_s=5.0)
    lines = format_result(result, "tiny.map").splitlines()
    keys = [line.split("=")[0] for line in lines[: lines.index("solution=")]]
    for key in ("agents", "map_file", "solver", "solved", "soc", "makespan", "comp_time",
                "starts", "goals"):
        assert key in keys
    assert "agents=2" in lines
    # x is the column, y the row: (row 0, col 2) is written (2,0)
    assert "starts=(0,0),(2,0)," in lines
    first = lines[lines.index("solution=") + 1]
    assert first == "0:(0,0),(2,0),"
    assert len(lines) - lines.index("solution=") - 1 == result.makespan + 1


def test_malformed_result_names_the_line() -> None:
    text = "agents=1\nstarts=(0,0),\ngoals=(1,0),\nsolution=\n0:(0,0),\n2:(1,0),\n"
    with pytest.raises(ResultFormatError, match=":6:"):
        parse_result(text, "r.txt")
    with pytest.raises(ResultFormatError, match="2 starts"):
        parse_result("agents=1\nstarts=(0,0),(1,0),\ngoals=\nsolution=\n")


def test_cli_mapf_writes_a_checked_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    map_file = tmp_path / "bay.map"
    map_file.write_text("type octile\nheight 2\nwidth 5\nmap\n.....\n@@.@@\n")
    scen = tmp_path / "bay.scen"
    scen.write_text("version 1\n"
                    "0\tbay.map\t5\t2\t0\t0\t4\t0\t4\n"
                    "0\tbay.map\t5\t2\t4\t0\t0\t0\t4\n")
    out = tmp_path / "result.txt"
    code = main(["mapf", "--map", str(map_file), "--scen", str(scen), "--agents", "2",
                 "--out", str(out), "--check", "--time-limit", "10"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "check: ok" in printed
    back = read_result(out)
    assert back.solved and back.starts == [(0, 0), (0, 4)]
