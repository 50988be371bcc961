"""Traffic: plans keep a one-step gap, and cells are released only in planned order."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fleet.model import InfeasibleError
from fleet.traffic import Traffic


def grid(text: str) -> np.ndarray:
    """'.' free, '@' blocked; the first text row is the highest y (row count - 1)."""
    rows = [r.strip() for r in text.strip().splitlines()]
    return np.array([[c == "." for c in r] for r in reversed(rows)], dtype=bool)


def drive(traffic: Traffic, starts: dict[str, tuple[int, int]], steps: int, *,
          slow: dict[str, int] | None = None,
          early: dict | None = None) -> list[dict[str, tuple[int, int]]]:  # type: ignore[type-arg]
    """Execute releases with robots that move one released cell per tick (or slower);
    `early` holds releases made before driving starts."""
    slow = slow or {}
    robots = list(starts)
    cur = dict(starts)
    at = {r: 0 for r in robots}
    released: dict[str, dict[int, tuple[int, int]]] = {r: {} for r in robots}
    for rid, rel in (early or {}).items():
        for i, cell in enumerate(rel.cells):
            released[rid][rel.first_index + i] = cell
    path: dict[str, str] = {r: traffic.path_id(r) for r in robots}
    history = []
    for tick in range(steps):
        for rid, rel in traffic.release(tick).items():
            for i, cell in enumerate(rel.cells):
                released[rid][rel.first_index + i] = cell
        for rid in robots:
            if tick % slow.get(rid, 1) == 0 and at[rid] + 1 in released[rid]:
                at[rid] += 1
                cur[rid] = released[rid][at[rid]]
            traffic.report(rid, path[rid], at[rid])
        history.append(dict(cur))
    return history


def test_head_on_in_a_corridor_with_a_bay_never_shares_a_cell() -> None:
    free = grid("""
        @@@.@@@
        .......
    """)
    t = Traffic(free)
    t.place("a", (0, 0))
    t.place("b", (0, 6))
    # a heads into the bay, b through the corridor to where a started: they meet head-on
    # unless b waits for a to be in the bay.
    t.plan("a", (1, 3), 0)
    t.plan("b", (0, 0), 0)
    history = drive(t, {"a": (0, 0), "b": (0, 6)}, 40)
    for before, after in itertools.pairwise(history):
        assert after["a"] != after["b"]
        # Nobody enters a cell another robot stood in a tick before.
        assert after["a"] == before["a"] or after["a"] != before["b"]
        assert after["b"] == before["b"] or after["b"] != before["a"]
    assert t.arrived("a") and t.arrived("b")


def test_late_robot_makes_others_wait_but_never_meet() -> None:
    free = grid("""
        .....
        .....
        .....
    """)
    t = Traffic(free)
    starts = {"a": (1, 0), "b": (0, 2), "c": (2, 1)}
    goals = {"a": (1, 4), "b": (2, 3), "c": (0, 3)}
    for rid, cell in starts.items():
        t.place(rid, cell)
    for rid in starts:
        t.plan(rid, goals[rid], 0)
    # "a" runs at a third of its planned speed: the others must wait for it, not hit it.
    history = drive(t, starts, 120, slow={"a": 3})
    for snapshot in history:
        cells = list(snapshot.values())
        assert len(cells) == len(set(cells))
    assert all(t.arrived(r) for r in starts)


def test_goal_occupied_forever_is_infeasible() -> None:
    free = grid("...")
    t = Traffic(free)
    t.place("a", (0, 0))
    t.place("b", (0, 2))
    with pytest.raises(InfeasibleError):
        t.plan("a", (0, 2), 0)
    # The failed attempt leaves a's reservation as it was.
    assert t.cell_of("a") == (0, 0)
    assert not t.table.is_free((0, 0), 5, "b")


def test_registering_on_a_released_cell_is_refused() -> None:
    free = grid(".....")
    t = Traffic(free)
    t.place("a", (0, 0))
    t.plan("a", (0, 4), 0)
    t.release()
    with pytest.raises(InfeasibleError, match="released"):
        t.place("b", (0, 1))


def test_a_later_plan_never_enters_a_cell_already_released_to_another_robot() -> None:
    free = grid("""
        @@@.@@@
        .......
        @@@.@@@
    """)
    t = Traffic(free)
    t.place("a", (1, 0))
    t.place("b", (2, 3))
    # a is planned and released through the crossing (1, 3) at step 3; b is planned after
    # that and crosses it at step 1, before a. b runs late: it must still wait for a to be
    # through, since a may drive into what was released to it at any time.
    t.plan("a", (1, 6), 0)
    early = t.release(0)
    t.plan("b", (0, 3), 0)
    history = drive(t, {"a": (1, 0), "b": (2, 3)}, 60, slow={"b": 5}, early=early)
    for before, after in itertools.pairwise(history):
        assert after["a"] != after["b"]
        assert after["a"] == before["a"] or after["a"] != before["b"]
        assert after["b"] == before["b"] or after["b"] != before["a"]
    assert history[-1] == {"a": (1, 6), "b": (0, 3)}
