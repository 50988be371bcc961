"""The independent MAPF solution checker: the test oracle, sharing no code with the solvers.

A solution is valid when every agent starts at its start, ends at its goal, stays on free
cells, moves at most one cell (4-connected) or waits each timestep, and no two agents
share a cell (vertex conflict) or trade cells (swap conflict) at any timestep.
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
    limit: int = 100,
) -> list[Violation]:
    """Every violation in `paths[t][i]` = agent i's (row, col) at t (at most `limit`).

    An empty list means the solution is valid and complete.
    """
    grid = np.asarray(free, dtype=bool)
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
        _scan(grid, starts, goals, plan, found, limit)
    return found


class _Enough(Exception):
    """Raised once `limit` violations were found."""


def _scan(
    grid: npt.NDArray[np.bool_],
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
                if abs(row - before[0]) + abs(col - before[1]) > 1:
                    add(ViolationKind.JUMP, t, (i,), cell)
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
