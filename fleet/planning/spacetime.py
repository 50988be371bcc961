"""Space-time A*: one robot's path through cells other robots have reserved.

The foundation's fleet planner is prioritized planning: each robot in turn gets the best path
that keeps clear of every reservation already made. Time is counted in whole planning steps
(one step = one cell at the fleet's nominal speed). A robot may be in cell `c` at step `t`
only if no other robot is there at any of `t - 1, t, t + 1`: this one-step gap between
occupants rules out vertex, swap and following conflicts, which is what lets execution
release cells in planned order without any two robots ever being closer than one cell.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from fleet.model import Cell, InfeasibleError, InvalidInputError
from fleet.planning import _sipp

__all__ = ["ReservationArrays", "Reservations", "plan_sipp", "plan_spacetime"]

# Moves: wait, then the four neighbours.
_MOVES: tuple[Cell, ...] = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))
# The bit of each move in the floor grid's `forbidden_moves` (the kernels' move numbering).
_FORBIDDEN_BIT = {(-1, 0): 1, (1, 0): 2, (0, -1): 4, (0, 1): 8}


class Reservations(Protocol):
    """What the planner needs to know about other robots' plans."""

    def is_free(self, cell: Cell, step: int, robot_id: str) -> bool:
        """True if no robot other than `robot_id` is at `cell` during steps step-1..step+1."""
        ...

    def free_after(self, cell: Cell, step: int, robot_id: str) -> bool:
        """True if no robot other than `robot_id` is at `cell` at any step >= step - 1."""
        ...


@dataclass(frozen=True, slots=True)
class ReservationArrays:
    """Other robots' planned visits as the compiled planner reads them.

    Slot s is a visit of robot number `robot[s]` (-1: an unused slot) in flat cell `cell[s]`
    (`row * cols + col`) over steps `start[s]..end[s]`; the slots of flat cell c are a linked
    list from `head[c]` through `next[s]` (-1 ends it), with `prev` for removal. The owner
    (the traffic's reservation table) keeps them up to date as visits come and go.
    """

    head: npt.NDArray[np.int32]
    next: npt.NDArray[np.int32]
    prev: npt.NDArray[np.int32]
    cell: npt.NDArray[np.int64]
    robot: npt.NDArray[np.int32]
    start: npt.NDArray[np.int64]
    end: npt.NDArray[np.int64]

    @staticmethod
    def empty(cells: int) -> ReservationArrays:
        """No visits, on a grid of `cells` cells."""
        return ReservationArrays(np.full(cells, -1, np.int32), np.empty(0, np.int32),
                                 np.empty(0, np.int32), np.empty(0, np.int64),
                                 np.empty(0, np.int32), np.empty(0, np.int64),
                                 np.empty(0, np.int64))

    def grown(self, slots: int) -> ReservationArrays:
        """The same visits with room for `slots` slots (the new ones unused)."""
        def grow(a: npt.NDArray[Any], fill: int) -> npt.NDArray[Any]:
            out = np.full(slots, fill, a.dtype)
            out[:len(a)] = a
            return out
        return ReservationArrays(self.head, grow(self.next, -1), grow(self.prev, -1),
                                 grow(self.cell, 0), grow(self.robot, -1),
                                 grow(self.start, 0), grow(self.end, 0))


def _horizon(free: np.ndarray, start: Cell, goal: Cell, start_step: int,
             cost_to_go: np.ndarray, max_steps: int | None) -> int:
    """The last step a search may reach, after checking both ends (the same for both
    planners): InvalidInputError for a blocked or off-grid cell, InfeasibleError if the goal
    cannot be reached from the start at all."""
    rows, cols = free.shape
    for name, cell in (("start", start), ("goal", goal)):
        r, c = cell
        if not (0 <= r < rows and 0 <= c < cols) or not free[r, c]:
            raise InvalidInputError(f"{name} cell {cell} is blocked or off the grid",
                                    field=name, value=cell)
    h0 = float(cost_to_go[start])
    if not np.isfinite(h0):
        raise InfeasibleError(f"no path from {start} to {goal}: not connected",
                              field="goal", value=goal)
    return start_step + (max_steps if max_steps is not None else int(4 * h0) + 200)


def _flat(array: np.ndarray, dtype: type) -> np.ndarray:
    """A flat, C-contiguous, read-only view (a copy only if the dtype or layout differs).

    The kernel is compiled once per argument signature, and numba's signature includes the
    read-only flag: the coordinator's grids are read-only, `warm_up`'s are not, and without
    this the first plan of a served fleet paid seconds of compilation inside a control step.
    """
    flat: np.ndarray = np.ascontiguousarray(array, dtype=dtype).reshape(-1).view()
    flat.flags.writeable = False
    return flat


def plan_sipp(
    free: np.ndarray,
    start: Cell,
    goal: Cell,
    start_step: int,
    reservations: ReservationArrays,
    robot: int,
    cost_to_go: np.ndarray,
    *,
    one_way: np.ndarray | None = None,
    max_steps: int | None = None,
    max_expansions: int = 200_000,
) -> list[Cell]:
    """What `plan_spacetime` returns (the earliest arrival under the same rule), found by the
    compiled safe-interval planner against the reservation arrays; `robot` is the planning
    robot's number in them (its own visits are not obstacles).

    Raises InvalidInputError for blocked or off-grid cells, InfeasibleError when no path fits
    within the horizon or the search budget.
    """
    rows, cols = free.shape
    horizon = _horizon(free, start, goal, start_step, cost_to_go, max_steps)
    a = reservations
    forbidden = _flat(np.zeros(rows * cols, np.uint8) if one_way is None else one_way,
                      np.uint8)
    path, expansions = _sipp.sipp_unit4(
        _flat(free, np.bool_), forbidden, cols,
        _flat(cost_to_go, np.float32 if cost_to_go.dtype == np.float32 else np.float64),
        start[0] * cols + start[1], goal[0] * cols + goal[1], start_step, horizon,
        max_expansions, robot, a.head, a.next, a.start, a.end, a.robot)
    if len(path) == 0:
        raise InfeasibleError(
            f"no conflict-free path from {start} to {goal} within {horizon - start_step} "
            f"steps ({expansions} expansions)", field="goal", value=goal)
    rows_of, cols_of = np.divmod(path, cols)
    return list(zip(rows_of.tolist(), cols_of.tolist(), strict=True))


def plan_spacetime(
    free: np.ndarray,
    start: Cell,
    goal: Cell,
    start_step: int,
    reservations: Reservations,
    robot_id: str,
    cost_to_go: np.ndarray,
    *,
    one_way: np.ndarray | None = None,
    max_steps: int | None = None,
    max_expansions: int = 200_000,
) -> list[Cell]:
    """The shortest-in-time path from `start` at `start_step` to `goal`, where it may then stay.

    Returns one cell per step from `start_step` on (waits repeat a cell). `cost_to_go` is the
    static distance to `goal` in steps (inf where unreachable), used as the heuristic.
    `one_way` (the floor grid's `forbidden_moves`) forbids moves against one-way zones.
    Raises InvalidInputError for blocked or off-grid cells, InfeasibleError when no path fits
    within the horizon or the search budget.
    """
    rows, cols = free.shape
    horizon = _horizon(free, start, goal, start_step, cost_to_go, max_steps)
    if not reservations.free_after(goal, horizon, robot_id):
        raise InfeasibleError(f"goal {goal} is held by another robot beyond the horizon",
                              field="goal", value=goal)

    # Open list entries: (f, -t, tie, cell, t); parents keyed by (cell, t).
    parent: dict[tuple[Cell, int], tuple[Cell, int] | None] = {(start, start_step): None}
    h0 = float(cost_to_go[start])
    open_heap: list[tuple[float, int, int, Cell, int]] = [(h0, -start_step, 0, start, start_step)]
    closed: set[tuple[Cell, int]] = set()
    tie = 0
    expansions = 0
    while open_heap:
        _, _, _, cell, t = heapq.heappop(open_heap)
        if (cell, t) in closed:
            continue
        closed.add((cell, t))
        if cell == goal and reservations.free_after(cell, t, robot_id):
            return _unwind(parent, (cell, t))
        expansions += 1
        if expansions > max_expansions or t >= horizon:
            if expansions > max_expansions:
                break
            continue
        r, c = cell
        nt = t + 1
        out = 0 if one_way is None else int(one_way[r, c])
        for dr, dc in _MOVES:
            nr, nc = r + dr, c + dc
            if not (0 <= nr < rows and 0 <= nc < cols) or not free[nr, nc]:
                continue
            if out and out & _FORBIDDEN_BIT.get((dr, dc), 0):
                continue
            nxt = (nr, nc)
            if (nxt, nt) in parent or not reservations.is_free(nxt, nt, robot_id):
                continue
            parent[(nxt, nt)] = (cell, t)
            tie += 1
            f = (nt - start_step) + float(cost_to_go[nr, nc])
            heapq.heappush(open_heap, (f, -nt, tie, nxt, nt))
    raise InfeasibleError(
        f"no conflict-free path from {start} to {goal} within {horizon - start_step} steps "
        f"({expansions} expansions)", field="goal", value=goal)


def _unwind(parent: dict[tuple[Cell, int], tuple[Cell, int] | None],
            node: tuple[Cell, int]) -> list[Cell]:
    cells: list[Cell] = []
    cur: tuple[Cell, int] | None = node
    while cur is not None:
        cells.append(cur[0])
        cur = parent[cur]
    cells.reverse()
    return cells
