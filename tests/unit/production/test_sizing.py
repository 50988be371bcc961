"""Choosing the smallest fleet from a sweep's runs (pure; the sweep itself is in tests/e2e)."""

from __future__ import annotations

import math

from fleet.linesim import LineRun, RunSpec, recommend
from fleet.production.figures import LineFigures


def run(agvs: int, welders: int, seed: int, takt_achieved: float, done: int = 10,
        collisions: int = 0) -> LineRun:
    figures = LineFigures(300.0, 10, done, takt_achieved, 5.0, 3600 / takt_achieved, 1.0,
                          1.0, 1.0, 1, 0.0, 0, 0.0, 0.0, {}, 1.0, ())
    return LineRun(RunSpec("l", "f", agvs, welders, seed), figures, collisions, done, 0.5, "")


def test_smallest_fleet_holding_on_every_seed() -> None:
    runs = [run(2, 1, 1, 320), run(2, 1, 2, 290),          # fails on seed 1
            run(3, 1, 1, 300), run(3, 1, 2, 312),          # within the 5 % tolerance
            run(2, 2, 1, 299), run(2, 2, 2, 298),          # as many robots, more welders
            run(6, 3, 1, 280), run(6, 3, 2, 280)]
    assert recommend(runs) == (3, 1)


def test_unfinished_units_or_collisions_never_hold() -> None:
    assert recommend([run(3, 1, 1, 300, done=9), run(4, 1, 1, 300, collisions=1)]) is None
    assert recommend([run(3, 1, 1, math.inf, done=1)]) is None
