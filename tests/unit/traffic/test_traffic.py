"""Traffic: plans keep a one-step gap, and cells are released only in planned order."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from fleet.model import InfeasibleError
from fleet.traffic import Release, Traffic, check_invariants


def grid(text: str) -> np.ndarray:
    """'.' free, '@' blocked; the first text row is the highest y (row count - 1)."""
    rows = [r.strip() for r in text.strip().splitlines()]
    return np.array([[c == "." for c in r] for r in reversed(rows)], dtype=bool)


def drive(traffic: Traffic, starts: dict[str, tuple[int, int]], steps: int, *,
          slow: dict[str, int] | None = None,
          already: dict[str, Release] | None = None) -> list[dict[str, tuple[int, int]]]:
    """Execute releases with robots that move one released cell per tick (or slower)."""
    slow = slow or {}
    robots = list(starts)
    cur = dict(starts)
    at = {r: 0 for r in robots}
    released: dict[str, dict[int, tuple[int, int]]] = {r: {} for r in robots}
    for rid, rel in (already or {}).items():
        if rid in released:
            released[rid].update({rel.first_index + i: c for i, c in enumerate(rel.cells)})
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
    assert t.plan_end("a") == (0, 0)
    assert not t.table.is_free((0, 0), 5, "b")


def test_registering_on_a_released_cell_is_refused() -> None:
    free = grid(".....")
    t = Traffic(free)
    t.place("a", (0, 0))
    t.plan("a", (0, 4), 0)
    t.release(0)
    with pytest.raises(InfeasibleError, match="released"):
        t.place("b", (0, 1))


def test_a_released_cell_cannot_be_overtaken_by_a_later_plan() -> None:
    free = grid("""
        .......
        .......
    """)
    t = Traffic(free, horizon=8)
    t.place("a", (0, 0))
    t.place("b", (1, 3))
    t.plan("a", (0, 6), 10)  # a's cells are planned for steps 10..16, released right away
    t.release(0)
    t.plan("b", (0, 3), 0)  # b could reach (0, 3) at step 1, long before a is planned there
    assert check_invariants(t) == []
    b_visit = next(v for v in t.table.visits_at((0, 3)) if v.robot_id == "b")
    a_visit = next(v for v in t.table.visits_at((0, 3)) if v.robot_id == "a")
    assert a_visit.start < b_visit.start


def test_robots_behind_a_stopped_robot_are_replanned_around_it() -> None:
    free = grid("""
        .......
        .......
        .......
    """)
    t = Traffic(free, horizon=2)
    t.place("a", (1, 0))
    t.place("b", (1, 6))
    t.plan("a", (1, 6 - 1), 0)
    t.plan("b", (1, 0), 0)
    first = t.release(0)
    t.report("a", t.path_id("a"), 1)
    cut = t.freeze("a")  # a stops for good after its first cell
    assert cut[0] == "a"
    for rid in cut[1:]:
        t.plan(rid, (1, 0), 5)
    assert check_invariants(t) == []
    history = drive(t, {"b": (1, 6)}, 40, already=first)
    held = {v.cell for v in t.table.visits_at((1, 1)) + t.table.visits_at((1, 2))
            if v.robot_id == "a"}
    assert all(snapshot["b"] not in held for snapshot in history)
    assert t.arrived("b") and t.plan_end("b") == (1, 0)


def test_find_cycle_names_the_robots_of_a_deadlock() -> None:
    assert Traffic.find_cycle({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == ["a", "b", "c"]
    assert Traffic.find_cycle({"a": ["b"], "b": ["c"]}) == []


@pytest.mark.parametrize("seed", range(12))
def test_random_delays_never_break_the_release_order(seed: int) -> None:
    """Many robots, random goals, random hold-ups: invariants hold and nobody shares a cell."""
    rng = random.Random(seed)
    free = np.ones((6, 8), dtype=bool)
    free[2, 2:6] = False
    cells = [tuple(map(int, c)) for c in np.argwhere(free)]
    starts = rng.sample(cells, 6)
    t = Traffic(free, horizon=3)
    names = [f"r{i}" for i in range(len(starts))]
    for rid, cell in zip(names, starts, strict=True):
        t.place(rid, cell)
    goals = rng.sample([c for c in cells if c not in starts], len(names))
    for rid, goal in zip(names, goals, strict=True):
        t.plan(rid, goal, 0)
    where = dict(zip(names, starts, strict=True))
    at = dict.fromkeys(names, 0)
    released: dict[str, dict[int, tuple[int, int]]] = {r: {} for r in names}
    for tick in range(300):
        for rid, rel in t.release(tick).items():
            for i, cell in enumerate(rel.cells):
                released[rid][rel.first_index + i] = cell
        for rid in names:
            if rng.random() < 0.6 and at[rid] + 1 in released[rid]:
                at[rid] += 1
                where[rid] = released[rid][at[rid]]
            t.report(rid, t.path_id(rid), at[rid])
        assert check_invariants(t) == []
        assert len(set(where.values())) == len(names)
        assert Traffic.find_cycle(t.wait_for()) == []
    assert all(t.arrived(r) for r in names)


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
    history = drive(t, {"a": (1, 0), "b": (2, 3)}, 60, slow={"b": 5}, already=early)
    for before, after in itertools.pairwise(history):
        assert after["a"] != after["b"]
        assert after["a"] == before["a"] or after["a"] != before["b"]
        assert after["b"] == before["b"] or after["b"] != before["a"]
    assert history[-1] == {"a": (1, 6), "b": (0, 3)}


def test_a_release_carries_the_next_planned_cells_and_they_are_released_as_planned() -> None:
    free = grid("." * 12)
    t = Traffic(free, horizon=3, planned_ahead=4)
    t.place("a", (0, 0))
    t.plan("a", (0, 11), 0)
    first = t.release(0)["a"]
    assert first.cells == ((0, 1), (0, 2), (0, 3))
    # Planned, not released: the next four cells, with their planned steps.
    assert first.planned == ((0, 4), (0, 5), (0, 6), (0, 7))
    assert list(first.planned_steps) == sorted(first.planned_steps)
    t.report("a", first.path_id, 2)
    second = t.release(1)["a"]
    assert second.first_index == 4 and second.cells == first.planned[:2]
    assert second.planned == ((0, 6), (0, 7), (0, 8), (0, 9))
    # Driven to the end: the release that completes the path has nothing planned after it.
    for step in range(2, 12):
        t.report("a", first.path_id, t.progress("a")[2])
        rel = t.release(step).get("a")
        if rel is not None and rel.complete:
            break
    assert rel is not None and rel.complete and rel.planned == ()


def test_a_robot_waiting_where_its_plan_has_it_wait_is_not_behind_its_plan() -> None:
    """`overdue_steps` counts from the planned arrival in the next released cell: a robot
    standing still while its plan has it wait (for b to clear the corridor ahead) is not
    late; standing there after its plan moved on, it is, by the steps since."""
    t = Traffic(grid("....."))
    t.place("b", (0, 1))
    t.place("a", (0, 0))
    t.plan("b", (0, 4), 0)
    t.plan("a", (0, 3), 0)
    assert "a" not in t.release(0)  # b is still in a's next cell
    assert not t.expects_motion("a")
    t.report("b", t.path_id("b"), 1)
    release = t.release(1)["a"]
    assert release.cells[0] == (0, 1) and release.steps[0] == 2  # planned to wait a step
    assert t.expects_motion("a")
    assert [t.overdue_steps("a", step) for step in (1, 2, 3, 9)] == [0, 0, 1, 7]
    t.report("a", t.path_id("a"), 1)
    if len(release.steps) > 1:
        due = release.steps[1]
        assert t.overdue_steps("a", due) == 0 and t.overdue_steps("a", due + 3) == 3
    else:
        assert not t.expects_motion("a") and t.overdue_steps("a", 9) == 0
