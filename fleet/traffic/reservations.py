"""The reservation table: every planned cell visit that has not been completed yet.

The table answers the release question in Python (which visits of a cell were planned
before this one) and, for the compiled planner, keeps the same visits in flat arrays
(`ReservationArrays`): a slot per visit with its cell, robot, start and end, and per cell a
doubly linked list of its slots. Adding or removing a visit, or changing its start or end,
updates the arrays in O(1), so planning never rebuilds them.
"""

from __future__ import annotations

import numpy as np

from fleet.model import Cell
from fleet.planning.spacetime import ReservationArrays

__all__ = ["FOREVER", "ReservationTable", "Visit"]

FOREVER = 1 << 60
"""The last step of a visit that has no end yet: the robot stays until it gets a new plan."""


class Visit:
    """A robot's planned stay in one cell, over steps `start..end` inclusive.

    Compared by identity. While the visit is in a table, changing its start or end changes
    the table's arrays too.
    """

    __slots__ = ("_end", "_start", "_table", "cell", "robot_id", "slot")

    def __init__(self, robot_id: str, cell: Cell, start: int, end: int) -> None:
        self.robot_id = robot_id
        self.cell = cell
        self._start = start
        self._end = end
        self._table: ReservationTable | None = None
        self.slot = -1

    @property
    def start(self) -> int:
        """First step of the stay."""
        return self._start

    @start.setter
    def start(self, value: int) -> None:
        self._start = value
        if self._table is not None:
            self._table.arrays.start[self.slot] = value

    @property
    def end(self) -> int:
        """Last step of the stay (FOREVER: until further notice)."""
        return self._end

    @end.setter
    def end(self, value: int) -> None:
        self._end = value
        if self._table is not None:
            self._table.arrays.end[self.slot] = value

    def __repr__(self) -> str:
        return f"Visit({self.robot_id!r}, {self.cell}, {self._start}, {self._end})"


class ReservationTable:
    """Visits by cell. A visit leaves the table once its robot has reached the next cell.

    Implements the space-time planners' `Reservations` protocol and answers the release
    question: which visits were planned in a cell before this one and are still open.
    `shape` is the grid's (rows, cols): cells index the arrays as `row * cols + col`.
    """

    def __init__(self, shape: tuple[int, int]) -> None:
        self._by_cell: dict[Cell, list[Visit]] = {}
        self._cols = shape[1]
        self.arrays = ReservationArrays.empty(shape[0] * shape[1])
        self._robots: dict[str, int] = {}
        self._free_slots: list[int] = []

    def robot_index(self, robot_id: str) -> int:
        """The robot's number in the arrays."""
        index = self._robots.get(robot_id)
        if index is None:
            index = self._robots[robot_id] = len(self._robots)
        return index

    def add(self, visit: Visit) -> None:
        """Record a visit."""
        self._by_cell.setdefault(visit.cell, []).append(visit)
        if not self._free_slots:
            self._grow()
        a = self.arrays
        slot = self._free_slots.pop()
        cell = visit.cell[0] * self._cols + visit.cell[1]
        a.cell[slot], a.robot[slot] = cell, self.robot_index(visit.robot_id)
        a.start[slot], a.end[slot] = visit.start, visit.end
        first = int(a.head[cell])
        a.next[slot], a.prev[slot] = first, -1
        if first >= 0:
            a.prev[first] = slot
        a.head[cell] = slot
        visit.slot, visit._table = slot, self

    def remove(self, visit: Visit) -> None:
        """Forget a visit (completed, or dropped with its plan)."""
        visits = self._by_cell.get(visit.cell)
        if visits is None:
            return
        for i, v in enumerate(visits):
            if v is visit:
                del visits[i]
                break
        else:
            return
        if not visits:
            del self._by_cell[visit.cell]
        a, slot = self.arrays, visit.slot
        before, after = int(a.prev[slot]), int(a.next[slot])
        if before >= 0:
            a.next[before] = after
        else:
            a.head[a.cell[slot]] = after
        if after >= 0:
            a.prev[after] = before
        a.robot[slot] = -1
        self._free_slots.append(slot)
        visit.slot, visit._table = -1, None

    def _grow(self) -> None:
        old = len(self.arrays.start)
        self.arrays = self.arrays.grown(max(1024, 2 * old))
        self._free_slots.extend(range(len(self.arrays.start) - 1, old - 1, -1))

    def cells(self) -> list[Cell]:
        """Cells with open visits."""
        return list(self._by_cell)

    def visits_at(self, cell: Cell) -> list[Visit]:
        """Open visits of a cell."""
        return list(self._by_cell.get(cell, ()))

    def is_free(self, cell: Cell, step: int, robot_id: str) -> bool:
        """True if no other robot is at `cell` during steps step-1..step+1."""
        for v in self._by_cell.get(cell, ()):
            if v.robot_id != robot_id and v.start <= step + 1 and v.end >= step - 1:
                return False
        return True

    def free_after(self, cell: Cell, step: int, robot_id: str) -> bool:
        """True if no other robot is at `cell` at any step >= step - 1."""
        return all(v.robot_id == robot_id or v.end < step - 1
                   for v in self._by_cell.get(cell, ()))

    def planned_before(self, visit: Visit) -> list[Visit]:
        """Other robots' open visits of the same cell planned to start before this one."""
        return [v for v in self._by_cell.get(visit.cell, ())
                if v.robot_id != visit.robot_id and v.start < visit.start]

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_cell.values())


def _check_arrays(table: ReservationTable) -> list[str]:
    """Differences between the table's visits and its arrays (for tests)."""
    problems = []
    a = table.arrays
    for cell, visits in table._by_cell.items():
        flat = cell[0] * table._cols + cell[1]
        slots = []
        s = int(a.head[flat])
        while s >= 0:
            slots.append(s)
            s = int(a.next[s])
        if sorted(slots) != sorted(v.slot for v in visits):
            problems.append(f"cell {cell}: slots {slots} != {[v.slot for v in visits]}")
        for v in visits:
            if (a.start[v.slot], a.end[v.slot]) != (v.start, v.end) or \
                    a.robot[v.slot] != table.robot_index(v.robot_id):
                problems.append(f"{v}: arrays say {a.start[v.slot]}..{a.end[v.slot]}")
    live = int(np.count_nonzero(a.robot >= 0))
    if live != len(table):
        problems.append(f"{live} live slots for {len(table)} visits")
    return problems
