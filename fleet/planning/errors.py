"""Why a planning request was refused: each error names the cell or file and the reason.

Bad requests (a start off the map, a goal inside a wall, a malformed scenario file) subclass
`InvalidInputError`, which the API reports as INVALID_ARGUMENT. A well-formed request with no
answer (the goal is walled off from the start) subclasses `InfeasibleError`, reported as
FAILED_PRECONDITION.
"""

from __future__ import annotations

from fleet.model import Cell, InfeasibleError, InvalidInputError

__all__ = [
    "CellBlockedError",
    "CellOffMapError",
    "InvalidCellError",
    "NoPathError",
    "ScenFormatError",
]


class InvalidCellError(InvalidInputError):
    """A start or goal cell that no robot can occupy."""

    def __init__(self, field: str, cell: Cell, reason: str) -> None:
        super().__init__(f"{field} cell {cell} {reason}", field=field, value=cell)
        self.cell = cell
        self.problem = reason


class CellOffMapError(InvalidCellError):
    """The cell lies outside the grid."""

    def __init__(self, field: str, cell: Cell, shape: tuple[int, ...]) -> None:
        rows, cols = shape[0], shape[1]
        super().__init__(field, cell, f"is off the map ({rows} rows x {cols} columns)")
        self.shape = shape


class CellBlockedError(InvalidCellError):
    """The cell is an obstacle, outside the floor or inside a keep-out zone."""

    def __init__(self, field: str, cell: Cell) -> None:
        super().__init__(field, cell, "is blocked (obstacle or keep-out zone)")


class NoPathError(InfeasibleError):
    """Start and goal are both free but no sequence of allowed moves joins them."""

    def __init__(self, start: object, goal: object, *, searched: int = 0) -> None:
        super().__init__(
            f"no path from {start} to {goal} (searched {searched} states)",
            field="goal",
            value=goal,
        )
        self.start = start
        self.goal = goal
        self.searched = searched


class ScenFormatError(InvalidInputError):
    """A MovingAI `.scen` file that does not follow the format, with file and line."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        where = f"{path}:{line}" if line > 0 else path
        super().__init__(f"{where}: {reason}", field="scen", value=path)
        self.path = path
        self.line = line
        self.problem = reason
