"""The reservation table: every planned cell visit that has not been completed yet."""

from __future__ import annotations

from dataclasses import dataclass

from fleet.model import Cell

__all__ = ["FOREVER", "ReservationTable", "Visit"]

FOREVER = 1 << 60
"""The last step of a visit that has no end yet: the robot stays until it gets a new plan."""


@dataclass(slots=True, eq=False)
class Visit:
    """A robot's planned stay in one cell, over steps `start..end` inclusive."""

    robot_id: str
    cell: Cell
    start: int
    end: int


class ReservationTable:
    """Visits by cell. A visit leaves the table once its robot has reached the next cell.

    Implements the space-time planner's `Reservations` protocol and answers the release
    question: which visits were planned in a cell before this one and are still open.
    """

    def __init__(self) -> None:
        self._by_cell: dict[Cell, list[Visit]] = {}

    def add(self, visit: Visit) -> None:
        """Record a visit."""
        self._by_cell.setdefault(visit.cell, []).append(visit)

    def remove(self, visit: Visit) -> None:
        """Forget a visit (completed, or dropped with its plan)."""
        visits = self._by_cell.get(visit.cell)
        if visits is None:
            return
        for i, v in enumerate(visits):
            if v is visit:
                del visits[i]
                break
        if not visits:
            del self._by_cell[visit.cell]

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
