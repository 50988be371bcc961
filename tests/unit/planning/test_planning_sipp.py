"""The compiled safe-interval planner against the Python space-time A* it replaces.

The oracle: on random grids with random other robots' visits, both find a path or neither
does; SIPP's path arrives at the same step (both are earliest-arrival searches under the same
rule), and it is valid by the rule itself: one move or wait per step, every cell usable at its
step (nobody else there one step before, at, or after), and nobody comes to the goal after.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from fleet.model import Cell, InfeasibleError, InvalidInputError
from fleet.planning import DistanceTables
from fleet.planning.spacetime import plan_sipp, plan_spacetime
from fleet.traffic import FOREVER, ReservationTable, Visit
from fleet.traffic.reservations import _check_arrays


def _random_case(rng: random.Random) -> tuple[np.ndarray, ReservationTable, Cell, Cell, int]:
    rows, cols = rng.randint(2, 7), rng.randint(2, 7)
    free = np.array([[rng.random() > 0.2 for _ in range(cols)] for _ in range(rows)])
    cells = [(r, c) for r in range(rows) for c in range(cols) if free[r, c]]
    if len(cells) < 2:
        free[:] = True
        cells = [(r, c) for r in range(rows) for c in range(cols)]
    start, goal = rng.sample(cells, 2)
    table = ReservationTable((rows, cols))
    for k in range(rng.randint(0, 6)):
        robot = f"other-{k}"
        step = rng.randint(-3, 6)
        cell = rng.choice(cells)
        for _ in range(rng.randint(1, 6)):
            length = rng.randint(0, 3)
            end = FOREVER if rng.random() < 0.1 else step + length
            table.add(Visit(robot, cell, step, end))
            if end == FOREVER:
                break
            step = end + 1
            r, c = cell
            moves = [(r + dr, c + dc) for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0))
                     if 0 <= r + dr < rows and 0 <= c + dc < cols and free[r + dr, c + dc]]
            if moves:
                cell = rng.choice(moves)
    # Some of the planning robot's own visits: never obstacles to it.
    table.add(Visit("me", rng.choice(cells), 0, 5))
    return free, table, start, goal, rng.randint(0, 4)


def _valid(path: list[Cell], table: ReservationTable, start: Cell, goal: Cell,
           start_step: int) -> bool:
    if path[0] != start or path[-1] != goal:
        return False
    for k in range(1, len(path)):
        (r0, c0), (r1, c1) = path[k - 1], path[k]
        if abs(r0 - r1) + abs(c0 - c1) > 1:
            return False
        if not table.is_free(path[k], start_step + k, "me"):
            return False
    return table.free_after(goal, start_step + len(path) - 1, "me")


@pytest.mark.parametrize("seed", range(4))
def test_sipp_arrives_when_the_spacetime_search_does(seed: int) -> None:
    rng = random.Random(seed)
    both, neither = 0, 0
    for _ in range(300):
        free, table, start, goal, start_step = _random_case(rng)
        distances = DistanceTables(free, 4).get(goal)
        try:
            reference = plan_spacetime(free, start, goal, start_step, table, "me", distances,
                                       max_steps=60)
        except InfeasibleError:
            reference = None
        try:
            found = plan_sipp(free, start, goal, start_step, table.arrays,
                              table.robot_index("me"), distances, max_steps=60)
        except InfeasibleError:
            found = None
        assert (reference is None) == (found is None), (start, goal, reference, found)
        if found is None:
            neither += 1
            continue
        both += 1
        assert reference is not None
        assert len(found) == len(reference)
        assert _valid(found, table, start, goal, start_step)
    # The cases are not all trivial one way or the other.
    assert both > 100 and neither > 5


def test_the_arrays_follow_every_change_of_the_table() -> None:
    rng = random.Random(7)
    table = ReservationTable((5, 5))
    visits: list[Visit] = []
    for _ in range(3000):
        choice = rng.random()
        if choice < 0.5 or not visits:
            v = Visit(f"r{rng.randint(0, 5)}", (rng.randint(0, 4), rng.randint(0, 4)),
                      rng.randint(0, 50), rng.randint(50, 100))
            table.add(v)
            visits.append(v)
        elif choice < 0.8:
            table.remove(visits.pop(rng.randrange(len(visits))))
        else:
            v = rng.choice(visits)
            v.end = FOREVER if rng.random() < 0.5 else v.end + 1
            v.start = v.start - 1
    assert _check_arrays(table) == []
    assert len(table) == len(visits)


def test_bad_cells_are_refused_naming_the_field() -> None:
    free = np.ones((3, 3), dtype=bool)
    free[1, 1] = False
    table = ReservationTable((3, 3))
    distances = DistanceTables(free, 4).get((2, 2))
    with pytest.raises(InvalidInputError) as err:
        plan_sipp(free, (1, 1), (2, 2), 0, table.arrays, 0, distances)
    assert err.value.field == "start"
    with pytest.raises(InvalidInputError) as err:
        plan_sipp(free, (0, 0), (5, 5), 0, table.arrays, 0, distances)
    assert err.value.field == "goal"


def test_a_goal_held_for_ever_by_another_robot_is_infeasible() -> None:
    free = np.ones((1, 4), dtype=bool)
    table = ReservationTable((1, 4))
    table.add(Visit("other", (0, 3), 0, FOREVER))
    with pytest.raises(InfeasibleError):
        plan_sipp(free, (0, 0), (0, 3), 0, table.arrays, table.robot_index("me"),
                  DistanceTables(free, 4).get((0, 3)))


def test_warm_up_compiles_what_the_coordinator_calls() -> None:
    """The coordinator's grid, one-way bits and distance tables are read-only arrays; numba
    compiles one machine-code version per argument signature (read-only flag included), so
    a plan after `warm_up()` must not compile another: that once cost a served fleet a
    control step of several seconds."""
    from fleet.planning import _sipp, warm_up
    from fleet.planning.spacetime import ReservationArrays

    warm_up()
    compiled = len(_sipp.sipp_unit4.signatures)
    free = np.ones((5, 6), dtype=bool)
    free.flags.writeable = False
    one_way = np.zeros(free.shape, np.uint8)
    one_way.flags.writeable = False
    for compact in (False, True):
        table = DistanceTables(free, 4, compact=compact).get((4, 5))
        for forbidden in (None, one_way):
            plan_sipp(free, (0, 0), (4, 5), 0, ReservationArrays.empty(free.size), 0, table,
                      one_way=forbidden)
    assert len(_sipp.sipp_unit4.signatures) == compiled


def _can_reach(free: np.ndarray, table: ReservationTable, start: Cell, goal: Cell,
               start_step: int, distances: np.ndarray, horizon: int) -> bool:
    from fleet.planning import _sipp

    cols = free.shape[1]
    a = table.arrays
    return bool(_sipp.can_reach(
        free.ravel(), np.zeros(free.size, np.uint8), cols,
        np.asarray(distances, np.float64).ravel(), start[0] * cols + start[1],
        goal[0] * cols + goal[1], start_step, horizon, table.robot_index("me"),
        a.head, a.next, a.start, a.end, a.robot))


@pytest.mark.parametrize("seed", range(3))
def test_can_reach_says_no_only_where_no_path_exists(seed: int) -> None:
    """The relaxation the search asks once it runs long: when it says no, the reference
    space-time A* finds nothing either (it is a proof, never a guess)."""
    rng = random.Random(100 + seed)
    refuted, found_paths = 0, 0
    for _ in range(300):
        free, table, start, goal, start_step = _random_case(rng)
        # More visits without an end than the search's cases: walls that close over time.
        cells = [(r, c) for r in range(free.shape[0]) for c in range(free.shape[1])
                 if free[r, c] and (r, c) not in (start, goal)]
        for k, cell in enumerate(rng.sample(cells, min(len(cells), rng.randint(0, 4)))):
            table.add(Visit(f"parked-{k}", cell, rng.randint(0, 12), FOREVER))
        distances = DistanceTables(free, 4).get(goal)
        if not np.isfinite(distances[start]):
            continue
        try:
            reference = plan_spacetime(free, start, goal, start_step, table, "me", distances,
                                       max_steps=40)
        except InfeasibleError:
            reference = None
        if not _can_reach(free, table, start, goal, start_step, distances, start_step + 40):
            refuted += 1
            assert reference is None, (start, goal, reference)
        found_paths += reference is not None
    assert refuted > 10 and found_paths > 50


def test_a_search_that_cannot_succeed_stops_early() -> None:
    """A wall across the floor with one gap, which another robot's plan ends in (it arrives
    there at step 30 and stays) before this robot can get there: the search gives up after
    `PROVE_AFTER` expansions rather than expanding every state on its side of the wall."""
    from fleet.planning import _sipp

    free = np.ones((60, 60), dtype=bool)
    free[30, :] = False
    free[30, 59] = True  # the gap, far from the robot
    table = ReservationTable(free.shape)
    table.add(Visit("other", (30, 59), 30, FOREVER))
    table.add(Visit("me", (0, 0), 0, 0))
    distances = DistanceTables(free, 4).get((59, 0))
    with pytest.raises(InfeasibleError) as err:
        plan_sipp(free, (0, 0), (59, 0), 0, table.arrays, table.robot_index("me"), distances)
    expansions = int(err.value.message.split("(")[-1].split()[0])
    assert expansions == _sipp.PROVE_AFTER
    # Without the wall's gap taken, the same search arrives (it is the gap that decides).
    table.remove(next(iter(table.visits_at((30, 59)))))
    path = plan_sipp(free, (0, 0), (59, 0), 0, table.arrays, table.robot_index("me"),
                     distances)
    assert path[-1] == (59, 0)
