"""The world's tick: it waits for the robots it has heard from, holds the ones that do not
answer in time, and takes them back when they answer again."""

from __future__ import annotations

import asyncio
import collections
import random
import threading
from typing import Any

import pytest

pytest.importorskip("rclpy", reason="the ROS 2 extra is not installed: pip install -e '.[ros]'")

from sim.world import _Body, _gather_truth


def answer(t_s: float, *robots: str, poses: int = 2) -> dict[str, Any]:
    return {"t_s": t_s, "robots": {r: {"poses": [[1.0, 2.0, 0.0]] * poses, "battery": 0.9,
                                       "load_id": "", "busy_s": 0.5} for r in robots}}


def gather(truths: collections.deque[dict[str, Any]], t_s: float,
           bodies: dict[str, _Body]) -> dict[str, dict[str, Any]]:
    return asyncio.run(_gather_truth(truths, threading.Lock(), t_s, bodies, 2, timeout_s=0.2))


def test_a_robot_that_does_not_answer_is_held_until_it_answers_again() -> None:
    bodies = {"a": _Body((0.0, 0.0, 0.0)), "b": _Body((5.0, 0.0, 0.0))}
    truths: collections.deque[dict[str, Any]] = collections.deque([answer(0.5, "a")])
    assert set(gather(truths, 0.5, bodies)) == {"a"}
    assert bodies["a"].present and not bodies["b"].present
    # A late answer to a tick the world has moved on from does not count.
    truths.extend([answer(1.0, "a"), answer(0.5, "b")])
    assert set(gather(truths, 1.0, bodies)) == {"a"}
    assert not bodies["b"].present
    truths.append(answer(1.5, "a", "b"))
    assert set(gather(truths, 1.5, bodies)) == {"a", "b"}
    assert bodies["b"].present


def test_answers_of_the_wrong_shape_or_for_unknown_robots_are_dropped() -> None:
    bodies = {"a": _Body((0.0, 0.0, 0.0))}
    truths: collections.deque[dict[str, Any]] = collections.deque(
        [answer(0.5, "a", poses=3), answer(0.5, "stranger"), {"no": "tick"}])
    assert gather(truths, 0.5, bodies) == {}
    assert not bodies["a"].present


def test_a_robot_process_started_with_another_seed_is_told_so() -> None:
    from fleet.floor import load_floor
    from fleet.model import InvalidInputError
    from sim.robot_host import check_same_robot
    from sim.scenario import make_fleet
    from sim.world import spec_record
    from tests.conftest import SMALL_MAP

    floor = load_floor(SMALL_MAP)
    world = {spec.id: spec for spec, _ in make_fleet(floor, 4, random.Random(2))}
    for spec, _ in make_fleet(floor, 4, random.Random(2)):
        check_same_robot(spec, {"spec": spec_record(world[spec.id])})
    other = [spec for spec, _ in make_fleet(floor, 4, random.Random(3))
             if spec_record(spec) != spec_record(world[spec.id])]
    assert other, "seed 3 should give some robot another top speed or payload"
    with pytest.raises(InvalidInputError, match="--seed"):
        check_same_robot(other[0], {"spec": spec_record(world[other[0].id])})
