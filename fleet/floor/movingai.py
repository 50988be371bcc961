"""MovingAI `.map` files (the grid benchmark format) as bool occupancy grids.

Format: a header `type octile`, `height H`, `width W`, `map`, then H rows of W characters.
`.` and `G` are traversable; `@`, `O`, `T`, `S` and `W` are not (swamp and water are
blocked for ground robots). Rows follow the file: row 0 is the first map line, which is
`y = 0` in the matching `.scen` files (x is the column).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from fleet.model import InvalidInputError, NotFoundError

__all__ = ["FREE_CHARS", "MapFormatError", "load_map", "parse_map"]

FREE_CHARS = frozenset(".G")
BLOCKED_CHARS = frozenset("@OTSW")


class MapFormatError(InvalidInputError):
    """A map file that does not follow its format, with the file, line and reason."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        where = f"{path}:{line}" if line > 0 else path
        super().__init__(f"{where}: {reason}", field="map", value=path)
        self.path = path
        self.line = line
        self.problem = reason


def _header_int(lines: list[str], index: int, key: str, source: str) -> int:
    if index >= len(lines):
        raise MapFormatError(source, index + 1, f"missing '{key} N' line")
    parts = lines[index].split()
    if len(parts) != 2 or parts[0] != key:
        raise MapFormatError(source, index + 1, f"expected '{key} N', got {lines[index]!r}")
    try:
        value = int(parts[1])
    except ValueError:
        raise MapFormatError(
            source, index + 1, f"{key} must be an integer, got {parts[1]!r}"
        ) from None
    if value <= 0:
        raise MapFormatError(source, index + 1, f"{key} must be positive, got {value}")
    return value


def parse_map(text: str, source: str = "<string>") -> npt.NDArray[np.bool_]:
    """Parse the text of a `.map` file into `free[row, col]` (True = traversable)."""
    lines = text.splitlines()
    if not lines or lines[0].split() != ["type", "octile"]:
        first = lines[0] if lines else ""
        raise MapFormatError(source, 1, f"expected 'type octile', got {first!r}")
    height = _header_int(lines, 1, "height", source)
    width = _header_int(lines, 2, "width", source)
    if len(lines) < 4 or lines[3].strip() != "map":
        raise MapFormatError(source, 4, "expected the line 'map' after the header")
    rows = lines[4 : 4 + height]
    if len(rows) < height:
        raise MapFormatError(
            source, 4 + len(rows) + 1, f"expected {height} map rows, found {len(rows)}"
        )
    for extra_index, extra in enumerate(lines[4 + height :], start=5 + height):
        if extra.strip():
            raise MapFormatError(
                source, extra_index, f"text after the {height} map rows: {extra[:20]!r}"
            )
    free = np.zeros((height, width), dtype=bool)
    known = FREE_CHARS | BLOCKED_CHARS
    for row_index, row in enumerate(rows):
        line_number = 5 + row_index
        row = row.rstrip("\r")
        if len(row) != width:
            raise MapFormatError(
                source, line_number, f"row {row_index} has {len(row)} cells, expected {width}"
            )
        unknown = set(row) - known
        if unknown:
            char = sorted(unknown)[0]
            raise MapFormatError(
                source,
                line_number,
                f"unknown terrain {char!r} at column {row.index(char)} of row {row_index}",
            )
        codes = np.frombuffer(row.encode("ascii"), dtype=np.uint8)
        free[row_index] = (codes == ord(".")) | (codes == ord("G"))
    return free


def load_map(path: str | Path) -> npt.NDArray[np.bool_]:
    """Read a MovingAI `.map` file into `free[row, col]` (True = traversable)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="ascii")
    except FileNotFoundError:
        raise NotFoundError(f"{source}: no such map file", field="map", value=source) from None
    except UnicodeDecodeError as error:
        raise MapFormatError(source, 0, f"not an ASCII text file ({error.reason})") from None
    return parse_map(text, source)
