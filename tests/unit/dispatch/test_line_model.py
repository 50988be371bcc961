"""The traffic-free line model the dispatch benchmark measures the optimality gap in."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.abstract import cell_along, simulate
from bench.dispatch import grid_travel
from bench.line import make_line
from fleet.dispatch import GridTravel, NearestDispatcher, OptimalDispatcher
from fleet.floor import FloorMap, load_floor
from fleet.model import Cell

PLANT = Path(__file__).resolve().parents[3] / "maps" / "plant.yaml"


Plant = tuple[FloorMap, GridTravel, dict[str, Cell]]


@pytest.fixture(scope="module")
def plant() -> Plant:
    floor = load_floor(PLANT)
    travel, cells = grid_travel(floor)
    return floor, travel, cells


def test_a_robot_part_way_along_its_drive_stands_on_a_shortest_path(plant: Plant) -> None:
    floor, travel, cells = plant
    start, goal = cells["cut-out-1"], "weld-3"
    total = travel.from_cell_m(start, goal)
    for k in (0, 5, 17):
        here = cell_along(travel, start, goal, k)
        # k cells driven, the rest still to go: on a shortest path.
        assert travel.from_cell_m(here, goal) == pytest.approx(total - k * floor.resolution_m)
    assert cell_along(travel, start, goal, 10_000) == cells[goal]


@pytest.mark.parametrize("seed", [0, 2])
def test_every_part_gets_through_the_model_line_with_either_dispatcher(plant: Plant,
                                                                       seed: int) -> None:
    floor, travel, cells = plant
    line = make_line(floor, variants=6, agvs=3, mobile_welders=2, fixed_welders=1, takt_s=30,
                     lead_time_s=900, seed=seed)
    trace: list[tuple[float, str, str, float, float]] = []
    out = simulate(floor, line, OptimalDispatcher(), travel, cells, trace=trace)
    assert out.completed == 6
    # Each task ran exactly once (a weld given back by re-optimization is not run twice).
    assert sorted(t[2] for t in trace) == sorted(f"{m.id}/{t.id}" for m in line.missions
                                                 for t in m.tasks)
    assert simulate(floor, line, NearestDispatcher(), travel, cells).completed == 6
