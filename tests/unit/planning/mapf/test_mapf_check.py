"""The independent checker finds every kind of broken rule in hand-made solutions."""

from __future__ import annotations

import numpy as np
import pytest

from fleet.model import InvalidInputError
from fleet.planning.mapf import ViolationKind, check_solution

# 2 x 3, all free except (1, 2)
FREE = np.array([[True, True, True], [True, True, False]])


def kinds(starts, goals, paths, free=FREE):  # type: ignore[no-untyped-def]
    return {v.kind for v in check_solution(free, starts, goals, np.array(paths))}


def test_valid_solution_has_no_violations() -> None:
    # agent 0 steps aside into (1, 1) so agent 1 can pass
    paths = [
        [(0, 0), (0, 2)],
        [(0, 1), (0, 2)],
        [(1, 1), (0, 1)],
        [(0, 1), (0, 0)],
        [(0, 2), (0, 0)],
    ]
    assert kinds([(0, 0), (0, 2)], [(0, 2), (0, 0)], paths) == set()


def test_one_agent_waiting_at_goal_is_valid() -> None:
    assert kinds([(0, 0)], [(0, 0)], [[(0, 0)]]) == set()


def test_vertex_conflict() -> None:
    paths = [[(0, 0), (0, 2)], [(0, 1), (0, 1)], [(0, 2), (0, 0)]]
    assert ViolationKind.VERTEX_CONFLICT in kinds([(0, 0), (0, 2)], [(0, 2), (0, 0)], paths)


def test_swap_conflict() -> None:
    paths = [[(0, 0), (0, 1)], [(0, 1), (0, 0)]]
    assert kinds([(0, 0), (0, 1)], [(0, 1), (0, 0)], paths) == {ViolationKind.SWAP_CONFLICT}


def test_blocked_cell() -> None:
    paths = [[(0, 2)], [(1, 2)]]
    assert ViolationKind.BLOCKED_CELL in kinds([(0, 2)], [(1, 2)], paths)


def test_off_map() -> None:
    paths = [[(0, 0)], [(-1, 0)], [(0, 0)]]
    assert kinds([(0, 0)], [(0, 0)], paths) == {ViolationKind.OFF_MAP}


def test_jump_of_two_cells_and_diagonal_move() -> None:
    assert kinds([(0, 0)], [(0, 2)], [[(0, 0)], [(0, 2)]]) == {ViolationKind.JUMP}
    assert kinds([(0, 0)], [(1, 1)], [[(0, 0)], [(1, 1)]]) == {ViolationKind.JUMP}


def test_wrong_start_and_not_at_goal() -> None:
    assert kinds([(0, 0)], [(0, 2)], [[(0, 1)], [(0, 2)]]) == {ViolationKind.WRONG_START}
    assert kinds([(0, 0)], [(0, 2)], [[(0, 0)], [(0, 1)]]) == {ViolationKind.NOT_AT_GOAL}


def test_following_into_a_vacated_cell_is_allowed() -> None:
    paths = [[(0, 0), (0, 1)], [(0, 1), (0, 2)]]
    assert kinds([(0, 0), (0, 1)], [(0, 1), (0, 2)], paths) == set()


def test_rotation_around_a_square_is_allowed() -> None:
    free = np.ones((2, 2), dtype=bool)
    starts = [(0, 0), (0, 1), (1, 1), (1, 0)]
    goals = [(0, 1), (1, 1), (1, 0), (0, 0)]
    assert kinds(starts, goals, [starts, goals], free) == set()


def test_shape_mismatch_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError):
        check_solution(FREE, [(0, 0)], [(0, 0)], np.zeros((2, 2, 2)))


def test_violation_names_agents_and_timestep() -> None:
    paths = [[(0, 0), (0, 1)], [(0, 1), (0, 0)]]
    (violation,) = check_solution(FREE, [(0, 0), (0, 1)], [(0, 1), (0, 0)], np.array(paths))
    assert violation.timestep == 1
    assert set(violation.agents) == {0, 1}
    assert "swap conflict" in str(violation)
