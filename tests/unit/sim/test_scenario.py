"""Scenarios: the fleet a robot process builds is the fleet the world simulates."""

from __future__ import annotations

import random

from fleet.floor import load_floor
from sim.scenario import make_fleet, make_scenario
from tests.conftest import PLANT_MAP, SMALL_MAP


def test_make_fleet_with_the_seed_gives_the_robots_of_make_scenario() -> None:
    for path, robots in ((SMALL_MAP, 4), (PLANT_MAP, 12)):
        floor = load_floor(path)
        for seed in (1, 2, 7):
            scenario = make_scenario(floor, robots, 5, seed)
            assert make_fleet(floor, robots, random.Random(seed)) == list(scenario.robots)
