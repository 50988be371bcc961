"""The result file of the LaCAM tools, which public MAPF visualizers and checkers read.

`key=value` lines (`agents`, `map_file`, `solver`, `solved`, `soc`, `soc_lb`, `makespan`,
`comp_time` in milliseconds, `seed`, `starts`, `goals`), then `solution=` and one line per
timestep `t:(x,y),(x,y),...` where x is the column and y the row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fleet.model import Cell, InvalidInputError
from fleet.planning.mapf.lacam import MapfResult

__all__ = ["MapfResultFile", "ResultFormatError", "format_result", "parse_result",
           "read_result", "write_result"]

_PAIR = re.compile(r"\((-?\d+),(-?\d+)\)")


class ResultFormatError(InvalidInputError):
    """A result file that does not follow the format, with the line and the reason."""

    def __init__(self, source: str, line: int, reason: str) -> None:
        super().__init__(f"{source}:{line}: {reason}", field="result", value=source)


@dataclass(frozen=True, slots=True, eq=False)
class MapfResultFile:
    """What a result file says: its header fields and `paths[t, i]` as (row, col)."""

    fields: dict[str, str]
    starts: list[Cell]
    goals: list[Cell]
    paths: npt.NDArray[np.int64] = field(repr=False)

    @property
    def solved(self) -> bool:
        """The `solved` field."""
        return self.fields.get("solved") == "1"


def _cells_text(cells: npt.NDArray[np.int64]) -> str:
    return "".join(f"({int(c)},{int(r)})," for r, c in cells)


def format_result(result: MapfResult, map_file: str, *, seed: int = 0) -> str:
    """The text of a result file for `result` on the map named `map_file`."""
    lines = [
        f"agents={result.n_agents}",
        f"map_file={map_file}",
        f"solver={result.solver}",
        f"solved={int(result.solved)}",
        f"soc={result.soc}",
        f"soc_lb={result.lower_bound}",
        f"makespan={result.makespan}",
        f"comp_time={round(result.comp_time_s * 1000)}",
        f"seed={seed}",
        f"starts={_cells_text(result.starts)}",
        f"goals={_cells_text(result.goals)}",
        "solution=",
    ]
    lines.extend(f"{t}:{_cells_text(config)}" for t, config in enumerate(result.paths))
    return "\n".join(lines) + "\n"


def write_result(path: str | Path, result: MapfResult, map_file: str, *, seed: int = 0) -> None:
    """Write `result` as a result file."""
    Path(path).write_text(format_result(result, map_file, seed=seed), encoding="utf-8")


def _parse_cells(text: str, source: str, line: int) -> list[Cell]:
    pairs = _PAIR.findall(text)
    if _PAIR.sub("", text).replace(",", "").strip():
        raise ResultFormatError(source, line, f"expected (x,y) pairs, got {text[:40]!r}")
    return [(int(y), int(x)) for x, y in pairs]


def parse_result(text: str, source: str = "<string>") -> MapfResultFile:
    """Parse the text of a result file; raises ResultFormatError naming line and reason."""
    fields: dict[str, str] = {}
    configs: list[list[Cell]] = []
    in_solution = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if in_solution:
            step, sep, rest = line.partition(":")
            if not sep or not step.isdigit():
                raise ResultFormatError(source, number, f"expected 't:(x,y),...', got {line!r}")
            if int(step) != len(configs):
                raise ResultFormatError(
                    source, number, f"timestep {step} out of order, expected {len(configs)}"
                )
            configs.append(_parse_cells(rest, source, number))
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ResultFormatError(source, number, f"expected key=value, got {line!r}")
        if key == "solution":
            in_solution = True
            continue
        fields[key] = value
    starts = _parse_cells(fields.get("starts", ""), source, 0)
    goals = _parse_cells(fields.get("goals", ""), source, 0)
    n = len(starts)
    if "agents" in fields and fields["agents"] != str(n):
        raise ResultFormatError(
            source, 0, f"agents={fields['agents']} but {n} starts are listed"
        )
    for t, config in enumerate(configs):
        if len(config) != n:
            raise ResultFormatError(
                source, 0, f"timestep {t} lists {len(config)} agents, expected {n}"
            )
    paths = np.array(configs, dtype=np.int64).reshape(len(configs), n, 2)
    return MapfResultFile(fields, starts, goals, paths)


def read_result(path: str | Path) -> MapfResultFile:
    """Read a result file; see `parse_result`."""
    return parse_result(Path(path).read_text(encoding="utf-8"), str(path))
