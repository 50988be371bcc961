"""League of Robot Runners problems (lifelong MAPF): map, agents, tasks and delay model.

A problem `.json` names a map, an agents file and a tasks file relative to itself, the team
size, how many tasks are revealed per agent (`numTasksReveal`) and, in the 2026 edition, a
`delayConfig` of random execution delays. Cells in the agents and tasks files are linear
indices `row * width + column`; a task is one cell or a comma-separated sequence of
errands to visit in order. Map symbols: `.`, `E` (emitter) and `S` (service) are free, `@`
and `T` are obstacles. The map may instead be one of our floor maps (`.yaml`): its planning
grid (row 0 at the floor's lowest y) is the map, and its one-way zones are kept
(`LorrProblem.forbidden_moves`), so lifelong agents keep to the aisles.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fleet.floor import load_floor, rasterize
from fleet.model import InvalidInputError, NotFoundError

__all__ = ["DelayConfig", "LorrFormatError", "LorrProblem", "load_lorr"]

_FREE = frozenset(".ES")
_BLOCKED = frozenset("@T")


class LorrFormatError(InvalidInputError):
    """A problem file that does not follow the LoRR formats, with the file and reason."""

    def __init__(self, source: str, line: int, reason: str) -> None:
        where = f"{source}:{line}" if line > 0 else source
        super().__init__(f"{where}: {reason}", field="problem", value=source)


@dataclass(frozen=True, slots=True)
class DelayConfig:
    """The 2026 delay model: which agents stop, and for how many steps.

    Each step, every agent not already delayed starts a delay with probability `p_delay`
    (`bernoulli`), or a Poisson(team size * p_delay) number of such agents is drawn
    (`poisson`). Durations are uniform in [min_delay, max_delay] or a rounded Gaussian with
    mean and deviation given as ratios of that span, clamped to it.
    """

    seed: int = 0
    min_delay: int = 1
    max_delay: int = 1
    event_model: str = "bernoulli"
    p_delay: float = 0.0
    duration_model: str = "uniform"
    gauss_mean_ratio: float = 0.5
    gauss_std_ratio: float = 0.0


@dataclass(frozen=True, slots=True, eq=False)
class LorrProblem:
    """A lifelong problem: `free[row, col]`, start cells and tasks as (row, col) arrays."""

    name: str
    free: npt.NDArray[np.bool_]
    starts: npt.NDArray[np.int64]
    tasks: list[npt.NDArray[np.int64]]
    tasks_reveal: float
    delay: DelayConfig | None
    forbidden_moves: npt.NDArray[np.uint8] | None = None
    """Moves against one-way zones, when the map is a floor map that has them (as the floor
    grid's field of that name); `run_lifelong` then plans on the directed graph."""

    @property
    def team_size(self) -> int:
        """Number of agents."""
        return int(self.starts.shape[0])

    @property
    def revealed(self) -> int:
        """How many tasks are open at any time (`numTasksReveal` times the team size)."""
        return max(1, math.ceil(self.tasks_reveal * self.team_size))


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no such {what} file", field=what, value=str(path)) from None


def _parse_map(text: str, source: str) -> npt.NDArray[np.bool_]:
    lines = text.splitlines()
    try:
        height = int(lines[1].split()[1])
        width = int(lines[2].split()[1])
    except (IndexError, ValueError):
        raise LorrFormatError(source, 2, "expected 'height H' and 'width W' lines") from None
    rows = lines[4 : 4 + height]
    if len(rows) != height:
        raise LorrFormatError(source, 0, f"expected {height} map rows, found {len(rows)}")
    free = np.zeros((height, width), dtype=bool)
    for r, row in enumerate(rows):
        row = row.rstrip("\r")
        if len(row) != width:
            raise LorrFormatError(source, 5 + r, f"row has {len(row)} cells, expected {width}")
        unknown = set(row) - _FREE - _BLOCKED
        if unknown:
            raise LorrFormatError(source, 5 + r, f"unknown map symbols {sorted(unknown)}")
        free[r] = [c in _FREE for c in row]
    return free


def _counted_lines(text: str, source: str) -> list[str]:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise LorrFormatError(source, 1, "empty file")
    try:
        count = int(lines[0])
    except ValueError:
        raise LorrFormatError(source, 1, f"expected a count, got {lines[0]!r}") from None
    if len(lines) - 1 < count:
        raise LorrFormatError(source, 0, f"count says {count}, found {len(lines) - 1} lines")
    return lines[1 : count + 1]


def _cells(flat: npt.NDArray[np.int64], free: npt.NDArray[np.bool_], source: str) -> None:
    height, width = free.shape
    if flat.size and (flat.min() < 0 or flat.max() >= height * width):
        raise LorrFormatError(source, 0, "a cell index is off the map")
    blocked = ~free.ravel()[flat]
    if blocked.any():
        raise LorrFormatError(source, 0, f"cell {int(flat[blocked][0])} is an obstacle")


def load_lorr(path: str | Path) -> LorrProblem:
    """Read a LoRR problem `.json` and the files it names."""
    problem_path = Path(path)
    source = str(problem_path)
    try:
        spec: dict[str, Any] = json.loads(_read(problem_path, "problem"))
    except json.JSONDecodeError as error:
        raise LorrFormatError(source, error.lineno, error.msg) from None
    for key in ("mapFile", "agentFile", "taskFile"):
        if key not in spec:
            raise LorrFormatError(source, 0, f"missing {key!r}")
    base = problem_path.parent
    map_path = base / spec["mapFile"]
    forbidden_moves = None
    if map_path.suffix in (".yaml", ".yml"):
        grid = rasterize(load_floor(map_path))
        free = np.array(grid.free)
        forbidden_moves = np.array(grid.forbidden_moves) if grid.forbidden_moves.any() else None
    else:
        free = _parse_map(_read(map_path, "map"), str(map_path))
    width = free.shape[1]
    agents_path = base / spec["agentFile"]
    agent_lines = _counted_lines(_read(agents_path, "agents"), str(agents_path))
    team = int(spec.get("teamSize", len(agent_lines)))
    try:
        start_flat = np.array([int(x) for x in agent_lines[:team]], dtype=np.int64)
    except ValueError:
        raise LorrFormatError(str(agents_path), 0, "agent cells must be integers") from None
    if start_flat.shape[0] < team:
        raise LorrFormatError(str(agents_path), 0, f"team of {team}, found {len(start_flat)}")
    _cells(start_flat, free, str(agents_path))
    if np.unique(start_flat).shape[0] != team:
        raise LorrFormatError(str(agents_path), 0, "two agents start on the same cell")
    tasks_path = base / spec["taskFile"]
    tasks: list[npt.NDArray[np.int64]] = []
    try:
        for line in _counted_lines(_read(tasks_path, "tasks"), str(tasks_path)):
            flat = np.array([int(x) for x in line.split(",") if x], dtype=np.int64)
            tasks.append(np.stack(np.divmod(flat, width), axis=1))
    except ValueError:
        raise LorrFormatError(str(tasks_path), 0, "task cells must be integers") from None
    all_errands = np.concatenate([t[:, 0] * width + t[:, 1] for t in tasks]) if tasks else None
    if all_errands is not None:
        _cells(all_errands, free, str(tasks_path))
    delay = None
    if "delayConfig" in spec:
        d = spec["delayConfig"]
        delay = DelayConfig(
            seed=int(d.get("seed", 0)),
            min_delay=int(d.get("minDelay", 1)),
            max_delay=int(d.get("maxDelay", 1)),
            event_model=str(d.get("eventModel", "bernoulli")),
            p_delay=float(d.get("pDelay", 0.0)),
            duration_model=str(d.get("durationModel", "uniform")),
            gauss_mean_ratio=float(d.get("gaussMeanRatio", 0.5)),
            gauss_std_ratio=float(d.get("gaussStdRatio", 0.0)),
        )
        if delay.min_delay <= 0 or delay.max_delay < delay.min_delay:
            raise LorrFormatError(source, 0, "delayConfig needs 0 < minDelay <= maxDelay")
        if not 0.0 <= delay.p_delay <= 1.0:
            raise LorrFormatError(source, 0, "delayConfig pDelay must be in [0, 1]")
        if delay.event_model not in ("bernoulli", "poisson"):
            raise LorrFormatError(source, 0, f"unknown eventModel {delay.event_model!r}")
        if delay.duration_model not in ("uniform", "gaussian"):
            raise LorrFormatError(source, 0, f"unknown durationModel {delay.duration_model!r}")
    starts = np.stack(np.divmod(start_flat, width), axis=1)
    return LorrProblem(
        name=problem_path.stem,
        free=free,
        starts=starts,
        tasks=tasks,
        tasks_reveal=float(spec.get("numTasksReveal", 1.0)),
        delay=delay,
        forbidden_moves=forbidden_moves,
    )
