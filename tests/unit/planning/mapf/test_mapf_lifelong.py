"""Lifelong planning on a tiny LoRR problem: tasks get done, delays never cause collisions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fleet.cli import main
from fleet.planning.mapf import (
    DelayConfig,
    DelayGenerator,
    LorrFormatError,
    LorrProblem,
    _kernels,
    load_lorr,
    run_lifelong,
)
from fleet.planning.mapf.graph import GridGraph

TINY = Path(__file__).resolve().parents[3] / "data" / "lorr" / "tiny_6.json"


def test_tiny_problem_loads() -> None:
    problem = load_lorr(TINY)
    assert problem.team_size == 6
    assert problem.free.shape == (5, 7)
    assert problem.free[2, 0] and problem.free[2, 6]  # E and S are traversable
    assert not problem.free[1, 1]
    assert len(problem.tasks) == 60
    assert any(t.shape[0] > 1 for t in problem.tasks)  # multi-errand tasks
    assert problem.revealed == 9
    assert problem.delay is not None and problem.delay.p_delay == 0.2


def test_lifelong_with_delays_has_zero_collisions() -> None:
    problem = load_lorr(TINY)
    stats = run_lifelong(problem, 300, seed=1)
    assert stats.collisions == 0
    assert stats.delay_events > 0
    assert stats.tasks_finished > 10
    assert stats.errands_finished >= stats.tasks_finished
    assert stats.plan_time_p50_s <= stats.plan_time_p99_s <= stats.plan_time_max_s


def test_lifelong_without_delays_finishes_more() -> None:
    problem = load_lorr(TINY)
    calm = run_lifelong(problem, 200, delays=False)
    assert calm.collisions == 0 and calm.delay_events == 0
    assert calm.tasks_finished > 0


def test_delayed_agent_makes_the_agents_planned_into_its_cell_wait() -> None:
    # a chain 0 -> 1 -> 2 -> 3 moving right; agent 1 (at vertex 1) is delayed
    q_from = np.array([0, 1, 2, 5], dtype=np.int32)
    q_to = np.array([1, 2, 3, 4], dtype=np.int32)
    stopped = np.array([False, True, False, False])
    into = np.full(8, -1, dtype=np.int32)
    out = np.empty(4, dtype=np.int32)
    waited = _kernels.execute_step(q_from, q_to, stopped, into, out)
    assert out.tolist() == [0, 1, 3, 4]  # agent 0 waits behind 1, agent 2 ahead moves on
    assert waited == 1
    assert (into == -1).all()


def test_delay_stops_a_whole_rotation() -> None:
    free = np.ones((2, 2), dtype=bool)
    graph = GridGraph.from_grid(free)
    q_from = np.array([0, 1, 3, 2], dtype=np.int32)
    q_to = np.array([1, 3, 2, 0], dtype=np.int32)
    stopped = np.array([False, False, True, False])
    into = np.full(4, -1, dtype=np.int32)
    out = np.empty(4, dtype=np.int32)
    _kernels.execute_step(q_from, q_to, stopped, into, out)
    assert out.tolist() == q_from.tolist()
    occ = np.full(4, -1, dtype=np.int32)
    assert _kernels.count_conflicts(q_from, out, graph.nbr, occ) == 0
    assert _kernels.count_conflicts(q_from, q_from[::-1].copy(), graph.nbr, occ) > 0


def test_delay_generator_follows_the_model() -> None:
    config = DelayConfig(seed=1, min_delay=2, max_delay=2, p_delay=1.0)
    generator = DelayGenerator(config, 3)
    assert generator.next_tick().all()  # everyone starts a 2-step delay
    assert generator.next_tick().all()
    assert generator.next_tick().all()  # free again, and delayed again at once
    gaussian = DelayConfig(seed=2, min_delay=1, max_delay=10, p_delay=0.5,
                           duration_model="gaussian", gauss_mean_ratio=0.5,
                           gauss_std_ratio=0.35)
    many = DelayGenerator(gaussian, 1000)
    many.next_tick()
    started = many.remaining[many.remaining > 0]
    assert started.min() >= 1 and started.max() <= 10
    assert 4.0 < started.mean() < 7.0


def test_bad_problem_file_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"mapFile": "nope.map"}))
    with pytest.raises(LorrFormatError, match="agentFile"):
        load_lorr(bad)


def test_cli_lifelong_writes_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "stats.json"
    code = main(["lifelong", "--problem", str(TINY), "--steps", "50", "--out", str(out)])
    assert code == 0
    stats = json.loads(out.read_text())
    assert stats["collisions"] == 0 and stats["steps"] == 50
    assert "tasks finished" in capsys.readouterr().out


def corridor(tasks: list[list[tuple[int, int]]], free: np.ndarray) -> LorrProblem:
    return LorrProblem("corridor", free, np.array([[0, 0]], dtype=np.int64),
                       [np.array(t, dtype=np.int64) for t in tasks], 1.0, None)


def test_an_agent_turns_before_it_drives_off_its_heading() -> None:
    # Everyone starts facing east. Straight east along a row: no turn, one step per cell.
    east = corridor([[(0, 4)]], np.ones((1, 5), dtype=bool))
    straight = run_lifelong(east, 4, delays=False)
    assert (straight.tasks_finished, straight.turns) == (1, 0)
    # Down a column: one quarter turn (clockwise, to face south) first, so 3 cells take 4.
    south = corridor([[(3, 0)]], np.ones((4, 1), dtype=bool))
    assert run_lifelong(south, 3, delays=False).tasks_finished == 0
    turned = run_lifelong(south, 4, delays=False)
    assert (turned.tasks_finished, turned.turns) == (1, 1)
    # Without the turning model the same trip takes 3 steps.
    assert run_lifelong(south, 3, delays=False, rotations=False).tasks_finished == 1
    # Back west after going east: a half turn is two quarter turns.
    back = corridor([[(0, 4)], [(0, 0)]], np.ones((1, 5), dtype=bool))
    there_and_back = run_lifelong(back, 10, delays=False)
    assert (there_and_back.tasks_finished, there_and_back.turns) == (2, 2)


def test_turning_agents_hold_up_whoever_follows_and_nothing_collides() -> None:
    problem = load_lorr(TINY)
    turning = run_lifelong(problem, 300, seed=1)
    plain = run_lifelong(problem, 300, seed=1, rotations=False)
    assert turning.collisions == 0 and plain.collisions == 0
    assert turning.rotations and turning.turns > 0 and turning.sideways == 0
    assert not plain.rotations and plain.turns == 0
    assert turning.tasks_finished > 10
