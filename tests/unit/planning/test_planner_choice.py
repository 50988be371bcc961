"""bench.planner_choice's lifelong problem on the plant floor: a small fleet runs it clean."""

from __future__ import annotations

from bench.planner_choice import lifelong_problem
from fleet.planning.mapf import run_lifelong


def test_the_plant_floor_as_a_lifelong_problem_runs_without_collision() -> None:
    problem = lifelong_problem(20, 2, seed=3)
    assert problem.team_size == 20 and len(problem.tasks) == 40
    assert problem.forbidden_moves is not None  # the floor's one-way aisles
    starts = {tuple(c) for c in problem.starts.tolist()}
    assert len(starts) == 20 and all(problem.free[r, c] for r, c in starts)
    stats = run_lifelong(problem, 60, seed=3, delays=False, rotations=False)
    assert stats.collisions == 0 and stats.steps == 60
