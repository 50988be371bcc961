"""The independent MAPF solution checker: the test oracle, sharing no code with the solvers.

A solution is valid when every agent starts at its start, ends at its goal, stays on free
cells, moves at most one cell (4-connected) or waits each timestep, never moves against a
one-way aisle (when the floor grid's `forbidden_moves` are given), and no two agents share a
cell (vertex conflict) or trade cells (swap conflict) at any timestep.
"""

from __future__ import annotations

import contextlib
import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleet.model import Cell, InvalidInputError

__all__ = ["Violation", "ViolationKind", "check_solution"]


class ViolationKind(enum.Enum):
    """What is wrong with a solution."""

    WRONG_START = "wrong start"
    NOT_AT_GOAL = "not at goal"
    OFF_MAP = "off the map"
    BLOCKED_CELL = "blocked cell"
    JUMP = "move of more than one cell"
    VERTEX_CONFLICT = "vertex conflict"
    SWAP_CONFLICT = "swap conflict"
    AGAINST_ONE_WAY = "move against a one-way aisle"


# the bit of a floor grid's `forbidden_moves` for each unit move (row step, column step)
_MOVE_BIT = {(-1, 0): 0, (1, 0): 1, (0, -1): 2, (0, 1): 3}


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: its kind, the timestep, the agents and the cell (row, col)."""

    kind: ViolationKind
    timestep: int
    agents: tuple[int, ...]
    cell: Cell

    def __str__(self) -> str:
        who = ", ".join(str(a) for a in self.agents)
        return f"t={self.timestep}: {self.kind.value} of agent(s) {who} at {self.cell}"


def check_solution(
    free: npt.ArrayLike,
    starts: list[Cell],
    goals: list[Cell],
    paths: npt.ArrayLike,
    *,
    forbidden_moves: npt.ArrayLike | None = None,
    limit: int = 100,
) -> list[Violation]:
    """Every violation in `paths[t][i]` = agent i's (row, col) at t (at most `limit`).

    `forbidden_moves[row, col]` (a floor grid's field of that name: bit 0 / 1 / 2 / 3 set
    where the move to row-1 / row+1 / col-1 / col+1 goes against a one-way zone) makes
    such a move a violation, reported at the cell the agent left. An empty list means the
    solution is valid and complete.
    """
    grid = np.asarray(free, dtype=bool)
    against = None if forbidden_moves is None else np.asarray(forbidden_moves, dtype=np.int64)
    if against is not None and against.shape != grid.shape:
        raise InvalidInputError(
            f"forbidden_moves has shape {against.shape}, the grid {grid.shape}",
            field="forbidden_moves", value=against.shape)
    plan = np.asarray(paths, dtype=np.int64)
    n = len(starts)
    if len(goals) != n:
        raise InvalidInputError(f"{n} starts but {len(goals)} goals", field="goals", value=n)
    if n == 0:
        return []
    if plan.ndim != 3 or plan.shape[1] != n or plan.shape[2] != 2 or plan.shape[0] == 0:
        raise InvalidInputError(
            f"paths must have shape (T+1, {n}, 2), got {plan.shape}",
            field="paths",
            value=plan.shape,
        )
    found: list[Violation] = []
    with contextlib.suppress(_Enough):
        _scan(grid, against, starts, goals, plan, found, limit)
    return found


class _Enough(Exception):
    """Raised once `limit` violations were found."""


def _scan(
    grid: npt.NDArray[np.bool_],
    against: npt.NDArray[np.int64] | None,
    starts: list[Cell],
    goals: list[Cell],
    plan: npt.NDArray[np.int64],
    found: list[Violation],
    limit: int,
) -> None:
    n = len(starts)

    def add(kind: ViolationKind, t: int, agents: tuple[int, ...], cell: Cell) -> None:
        found.append(Violation(kind, t, agents, cell))
        if len(found) >= limit:
            raise _Enough

    rows, cols = grid.shape
    for i in range(n):
        if tuple(plan[0, i]) != tuple(starts[i]):
            add(ViolationKind.WRONG_START, 0, (i,), _cell(plan[0, i]))
        if tuple(plan[-1, i]) != tuple(goals[i]):
            add(ViolationKind.NOT_AT_GOAL, plan.shape[0] - 1, (i,), _cell(plan[-1, i]))
    for t in range(plan.shape[0]):
        seen: dict[Cell, int] = {}
        for i in range(n):
            cell = _cell(plan[t, i])
            row, col = cell
            if not (0 <= row < rows and 0 <= col < cols):
                add(ViolationKind.OFF_MAP, t, (i,), cell)
                continue
            if not grid[row, col]:
                add(ViolationKind.BLOCKED_CELL, t, (i,), cell)
            if cell in seen:
                add(ViolationKind.VERTEX_CONFLICT, t, (seen[cell], i), cell)
            else:
                seen[cell] = i
            if t > 0:
                before = _cell(plan[t - 1, i])
                step = (row - before[0], col - before[1])
                if abs(step[0]) + abs(step[1]) > 1:
                    add(ViolationKind.JUMP, t, (i,), cell)
                elif against is not None and step in _MOVE_BIT and _inside(before, rows, cols) \
                        and (int(against[before]) >> _MOVE_BIT[step]) & 1:
                    add(ViolationKind.AGAINST_ONE_WAY, t, (i,), before)
        if t > 0:
            where_before = {_cell(plan[t - 1, i]): i for i in range(n)}
            for i in range(n):
                cell = _cell(plan[t, i])
                j = where_before.get(cell)
                if j is None or j == i or j < i:
                    continue
                if _cell(plan[t, j]) == _cell(plan[t - 1, i]):
                    add(ViolationKind.SWAP_CONFLICT, t, (i, j), cell)


def _cell(pair: npt.NDArray[np.int64]) -> Cell:
    return int(pair[0]), int(pair[1])


def _inside(cell: Cell, rows: int, cols: int) -> bool:
    return 0 <= cell[0] < rows and 0 <= cell[1] < cols
