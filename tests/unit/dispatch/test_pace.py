"""The pace robots are seen to drive at: learnt from observed drives, robust to odd ones."""

from __future__ import annotations

import random

import pytest

from fleet.dispatch import DrivePace
from fleet.model import RobotKind


@pytest.mark.parametrize("seed", range(5))
def test_the_learnt_pace_converges_to_the_observed_durations(seed: int) -> None:
    rng = random.Random(seed)
    true_pace = rng.uniform(0.4, 0.7)  # the default (0.8) would plan 14 % to 100 % short
    pace = DrivePace(default=0.8)
    errors = []
    for _ in range(60):
        metres, top = rng.uniform(5.0, 80.0), rng.choice((1.0, 1.2, 1.5))
        # Observed: the true pace with 10 % noise, and now and then a long wait.
        seconds = metres / (top * true_pace) * rng.uniform(0.9, 1.1)
        if rng.random() < 0.1:
            seconds += rng.uniform(30.0, 300.0)
        # The drive's planned seconds at the learnt pace, before it is observed.
        planned = metres / (top * pace.factor(RobotKind.AGV))
        errors.append(abs(planned / seconds - 1.0))
        pace.observe(RobotKind.AGV, metres, top, seconds)
    assert pace.factor(RobotKind.AGV) == pytest.approx(true_pace, rel=0.06)
    # Planned drive times come close to the observed ones once it has learnt.
    assert sorted(errors[-30:])[15] < 0.1


def test_a_kind_seen_too_rarely_borrows_the_fleets_pace_then_the_default() -> None:
    pace = DrivePace(default=0.8, least=3)
    assert pace.factor(RobotKind.MOBILE_WELDER) == 0.8
    for _ in range(3):
        pace.observe(RobotKind.AGV, 60.0, 1.0, 100.0)
    assert pace.factor(RobotKind.AGV) == pytest.approx(0.6)
    assert pace.factor(RobotKind.MOBILE_WELDER) == pytest.approx(0.6)
    pace.observe(RobotKind.MOBILE_WELDER, 0.0, 1.0, 10.0)  # no drive: ignored
    assert pace.factors()[RobotKind.MOBILE_WELDER] == pytest.approx(0.6)


def test_a_default_pace_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError):
        DrivePace(default=1.5)
