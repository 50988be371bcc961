"""Dispatch rounds run at most every `dispatch_period_s`; the steps between still drive.

Between rounds a control step takes in reports, advances work and releases paths, so robots
keep moving and missions finish; only new assignments wait for the next round.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from fleet.coordinator import CoordinatorConfig
from fleet.model import MissionState
from tests.unit.coordinator.lockstep import TICK_S, Lockstep, agv, transport

PARKING = [(7.5, 1.5), (9.5, 1.5)]


def test_rounds_keep_their_period_and_the_steps_between_drive(tmp_path: Path) -> None:
    period = 4 * TICK_S
    run = Lockstep([agv("agv-1", *PARKING[0]), agv("agv-2", *PARKING[1])],
                   config=CoordinatorConfig(dispatch_period_s=period),
                   log=tmp_path / "run.jsonl")
    run.connect()
    run.submit(transport("a"), transport("b", pickup="press-out-1", dropoff="press-in-1"))
    c = run.coordinator
    rounds: list[float] = []
    planned_between = 0
    while not all(run.state_of(m).finished for m in ("a", "b")) and run.t < 600:
        run.tick()
        if c.phase_times.pop("dispatch", None) is not None:
            rounds.append(run.t)
        elif c.phase_times.get("plan", 0.0) > 0:
            planned_between += 1
    assert run.state_of("a") is MissionState.COMPLETED
    assert run.state_of("b") is MissionState.COMPLETED
    assert len(rounds) >= 2
    gaps = [b - a for a, b in itertools.pairwise(rounds)]
    assert min(gaps) >= period - 1e-6
    assert planned_between > 0
    assert run.check().ok
    run.close()
