"""The planning package's public face: pinned names, error mapping, warm-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import fleet.planning as planning
from fleet.floor.movingai import MapFormatError
from fleet.model import InfeasibleError, InvalidInputError

REPO = Path(__file__).resolve().parents[3]

PUBLIC = {
    "CellBlockedError",
    "CellOffMapError",
    "DistanceTables",
    "GridPlanner",
    "InvalidCellError",
    "Lane",
    "LaneGraph",
    "LanePath",
    "NoPathError",
    "PathResult",
    "ScenFormatError",
    "ScenTask",
    "Table",
    "astar",
    "cell_centers",
    "load_scen",
    "parse_scen",
    "path_cost",
    "timed_waypoints",
    "turn_waypoints",
    "warm_up",
    "zone_costs",
    # multi-agent planning (fleet/planning/mapf)
    "LifelongStats",
    "LorrProblem",
    "MapfResult",
    "check_solution",
    "load_lorr",
    "run_lifelong",
    "solve_mapf",
}


def test_public_names_are_pinned() -> None:
    assert set(planning.__all__) == PUBLIC
    for name in planning.__all__:
        assert hasattr(planning, name)


def test_errors_map_to_the_model_hierarchy() -> None:
    for bad_input in (
        planning.CellOffMapError,
        planning.CellBlockedError,
        planning.InvalidCellError,
        planning.ScenFormatError,
        MapFormatError,
    ):
        assert issubclass(bad_input, InvalidInputError)
    assert issubclass(planning.NoPathError, InfeasibleError)


def test_warm_up_compiles_every_kernel() -> None:
    seconds = planning.warm_up()
    assert seconds >= 0.0


def test_numba_cache_defaults_to_the_user_cache_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    env["PYTHONPATH"] = str(REPO)
    code = "import fleet.planning, numba.core.config as c; print(c.CACHE_DIR)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.strip() == str(tmp_path / "fleet" / "numba")
