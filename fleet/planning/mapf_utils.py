"""MovingAI `.scen` files: benchmark start/goal pairs, and the agents of MAPF instances.

Format: a first line `version 1`, then one task a line, tab-separated: bucket, map file,
map width, map height, start x, start y, goal x, goal y, optimal length. x is the column
and y the row; the optimal length is the 8-connected octile optimum (diagonal sqrt 2, no
corner cutting). A MAPF instance with N agents takes the first N tasks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fleet.model import Cell, InvalidInputError, NotFoundError
from fleet.planning.errors import ScenFormatError

__all__ = ["ScenTask", "load_scen", "parse_scen"]


@dataclass(frozen=True, slots=True)
class ScenTask:
    """One line of a scenario: a start and goal cell as (row, col) and the known optimum."""

    bucket: int
    map_name: str
    width: int
    height: int
    start: Cell
    goal: Cell
    optimal_length: float


def _parse_line(line: str, line_number: int, source: str) -> ScenTask:
    fields = line.split("\t") if line.count("\t") == 8 else line.split()
    if len(fields) != 9:
        raise ScenFormatError(source, line_number, f"expected 9 fields, found {len(fields)}")
    names = ("bucket", "width", "height", "start x", "start y", "goal x", "goal y")
    numbers: list[int] = []
    for name, text in zip(names, [fields[0], *fields[2:8]], strict=True):
        try:
            numbers.append(int(text))
        except ValueError:
            raise ScenFormatError(
                source, line_number, f"{name} must be an integer, got {text!r}"
            ) from None
    try:
        optimal = float(fields[8])
    except ValueError:
        raise ScenFormatError(
            source, line_number, f"optimal length must be a number, got {fields[8]!r}"
        ) from None
    if not (math.isfinite(optimal) and optimal >= 0.0):
        raise ScenFormatError(
            source, line_number, f"optimal length must be finite and >= 0, got {optimal}"
        )
    bucket, width, height, start_x, start_y, goal_x, goal_y = numbers
    if width <= 0 or height <= 0:
        raise ScenFormatError(
            source, line_number, f"map size must be positive, got {width} x {height}"
        )
    for name, x, y in (("start", start_x, start_y), ("goal", goal_x, goal_y)):
        if not (0 <= x < width and 0 <= y < height):
            raise ScenFormatError(
                source,
                line_number,
                f"{name} (x={x}, y={y}) is off the {width} x {height} map",
            )
    return ScenTask(
        bucket=bucket,
        map_name=fields[1],
        width=width,
        height=height,
        start=(start_y, start_x),
        goal=(goal_y, goal_x),
        optimal_length=optimal,
    )


def parse_scen(
    text: str,
    source: str = "<string>",
    *,
    n_tasks: int | None = None,
    free: npt.NDArray[np.bool_] | None = None,
) -> list[ScenTask]:
    """Parse the text of a `.scen` file; keep the first `n_tasks` tasks if given.

    With `free` (the map's grid) every start and goal must lie on a traversable cell of a
    map of that size. Raises ScenFormatError naming the line and the reason.
    """
    if n_tasks is not None and n_tasks < 0:
        raise InvalidInputError(
            f"n_tasks must be >= 0, got {n_tasks}", field="n_tasks", value=n_tasks
        )
    lines = text.splitlines()
    header = lines[0].split() if lines else []
    if len(header) != 2 or header[0] != "version":
        first = lines[0] if lines else ""
        raise ScenFormatError(source, 1, f"expected 'version 1', got {first!r}")
    tasks: list[ScenTask] = []
    for line_number, line in enumerate(lines[1:], start=2):
        if n_tasks is not None and len(tasks) >= n_tasks:
            break
        if not line.strip():
            continue
        task = _parse_line(line.rstrip("\r"), line_number, source)
        if free is not None:
            _check_on_map(task, free, line_number, source)
        tasks.append(task)
    if n_tasks is not None and len(tasks) < n_tasks:
        raise ScenFormatError(
            source, 0, f"asked for {n_tasks} tasks, the file has only {len(tasks)}"
        )
    return tasks


def _check_on_map(
    task: ScenTask, free: npt.NDArray[np.bool_], line_number: int, source: str
) -> None:
    if free.shape != (task.height, task.width):
        raise ScenFormatError(
            source,
            line_number,
            f"task is for a {task.width} x {task.height} map, the grid is "
            f"{free.shape[1]} x {free.shape[0]}",
        )
    for name, cell in (("start", task.start), ("goal", task.goal)):
        if not free[cell]:
            raise ScenFormatError(
                source, line_number, f"{name} cell {cell} (row, col) is blocked on the map"
            )


def load_scen(
    path: str | Path,
    *,
    n_tasks: int | None = None,
    free: npt.NDArray[np.bool_] | None = None,
) -> list[ScenTask]:
    """Read a `.scen` file; see `parse_scen`."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(
            f"{source}: no such scenario file", field="scen", value=source
        ) from None
    except UnicodeDecodeError as error:
        raise ScenFormatError(source, 0, f"not a text file ({error.reason})") from None
    return parse_scen(text, source, n_tasks=n_tasks, free=free)
