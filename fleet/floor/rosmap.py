"""ROS map_server maps (YAML + image), the maps robots running Nav2 already have.

The YAML names the image and gives `resolution` (metres per cell), `origin` ([x, y, yaw] of
the lower-left corner of the map), `negate`, `occupied_thresh`, `free_thresh` and optionally
`mode` (`trinary`, the default, `scale` or `raw`). Pixels are read as map_server reads them:
shade = the pixel's brightness in [0, 1] (colour channels averaged), occupancy = 1 - shade
(or shade if `negate`); above `occupied_thresh` is an obstacle, below `free_thresh` free
space, anything between unknown. In `raw` mode the pixel value is the occupancy in percent.

Images are flipped on load, so row 0 is the lowest y as everywhere in fleet: cell (row, col)
covers x in origin_x + [col, col + 1) * resolution, y in origin_y + [row, row + 1) *
resolution (rotated by the origin's yaw). PGM (P2 and P5) is read directly; PNG and BMP
need Pillow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from fleet.floor.movingai import MapFormatError
from fleet.model import Cell, InvalidInputError, NotFoundError

__all__ = ["MapFormatError", "RosMap", "load_ros_map", "read_pgm"]

OCCUPIED = 100
UNKNOWN = -1


@dataclass(frozen=True, slots=True)
class RosMap:
    """An occupancy grid with its place on the floor.

    `free[row, col]` is True where the map marks free space; `occupancy` holds the
    map_server values (0 free .. 100 occupied, -1 unknown) in the same layout.
    """

    free: npt.NDArray[np.bool_]
    occupancy: npt.NDArray[np.int8]
    resolution_m: float
    origin: tuple[float, float, float]

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return (int(self.free.shape[0]), int(self.free.shape[1]))

    def center_of(self, cell: Cell) -> tuple[float, float]:
        """The (x, y) in metres of the centre of `cell`."""
        row, col = cell
        return self._to_world((col + 0.5) * self.resolution_m, (row + 0.5) * self.resolution_m)

    def cell_of(self, x: float, y: float) -> Cell:
        """The cell containing the point (x, y) in metres; raises if it is off the map."""
        ox, oy, yaw = self.origin
        dx, dy = x - ox, y - oy
        cos_yaw, sin_yaw = math.cos(yaw), math.sin(yaw)
        local_x = cos_yaw * dx + sin_yaw * dy
        local_y = -sin_yaw * dx + cos_yaw * dy
        row = math.floor(local_y / self.resolution_m)
        col = math.floor(local_x / self.resolution_m)
        rows, cols = self.shape
        if not (0 <= row < rows and 0 <= col < cols):
            raise InvalidInputError(
                f"point ({x}, {y}) is off the map (cell {(row, col)} of {rows} x {cols})",
                field="position",
                value=(x, y),
            )
        return (row, col)

    def _to_world(self, local_x: float, local_y: float) -> tuple[float, float]:
        ox, oy, yaw = self.origin
        cos_yaw, sin_yaw = math.cos(yaw), math.sin(yaw)
        return (
            ox + cos_yaw * local_x - sin_yaw * local_y,
            oy + sin_yaw * local_x + cos_yaw * local_y,
        )


def _pgm_tokens(data: bytes, source: str, count: int) -> tuple[list[bytes], int]:
    """The first `count` header tokens of a PGM file and the offset just after them."""
    tokens: list[bytes] = []
    i = 0
    n = len(data)
    while len(tokens) < count:
        while i < n and data[i : i + 1].isspace():
            i += 1
        if i < n and data[i : i + 1] == b"#":
            while i < n and data[i : i + 1] not in (b"\n", b"\r"):
                i += 1
            continue
        if i >= n:
            raise MapFormatError(source, 0, "PGM header ends early")
        start = i
        while i < n and not data[i : i + 1].isspace() and data[i : i + 1] != b"#":
            i += 1
        tokens.append(data[start:i])
    return tokens, i


def read_pgm(path: str | Path) -> npt.NDArray[np.float64]:
    """A PGM image (P2 or P5) as shades in [0, 1] (0 black, 1 white), top row first."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{source}: no such image file", field="image", value=source) from None
    if data[:2] not in (b"P2", b"P5"):
        raise MapFormatError(source, 0, f"not a grayscale PGM (magic {data[:2]!r})")
    tokens, offset = _pgm_tokens(data, source, 4)
    try:
        width, height, maxval = (int(t) for t in tokens[1:4])
    except ValueError:
        raise MapFormatError(source, 0, f"bad PGM header {b' '.join(tokens)!r}") from None
    if width <= 0 or height <= 0 or not 0 < maxval < 65536:
        raise MapFormatError(source, 0, f"bad PGM size {width} x {height} or maxval {maxval}")
    if tokens[0] == b"P5":
        offset += 1  # exactly one whitespace byte separates the header from the pixels
        dtype = np.dtype(np.uint8) if maxval < 256 else np.dtype(">u2")
        expected = width * height * dtype.itemsize
        pixels_bytes = data[offset : offset + expected]
        if len(pixels_bytes) < expected:
            raise MapFormatError(
                source, 0, f"PGM has {len(pixels_bytes)} bytes of pixels, expected {expected}"
            )
        pixels = np.frombuffer(pixels_bytes, dtype=dtype).astype(np.float64)
    else:
        try:
            values = [int(t) for t in data[offset:].split()]
        except ValueError:
            raise MapFormatError(source, 0, "PGM (P2) pixels must be integers") from None
        if len(values) < width * height:
            raise MapFormatError(
                source, 0, f"PGM has {len(values)} pixels, expected {width * height}"
            )
        pixels = np.asarray(values[: width * height], dtype=np.float64)
    if pixels.max(initial=0.0) > maxval:
        raise MapFormatError(source, 0, f"PGM pixel above maxval {maxval}")
    return (pixels / maxval).reshape(height, width)


def _read_other_image(
    path: Path, trinary: bool
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64] | None]:
    """Shade (channels averaged as map_server does) and alpha, if any, via Pillow."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow ships with matplotlib
        raise MapFormatError(str(path), 0, "only PGM maps can be read without Pillow") from None
    try:
        with Image.open(path) as image:
            has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            array = np.asarray(image.convert("RGBA" if has_alpha else "RGB"), dtype=np.float64)
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no such image file", field="image", value=str(path)) from None
    except OSError as error:
        raise MapFormatError(str(path), 0, f"cannot read image: {error}") from None
    array /= 255.0
    color = array[..., :3]
    if has_alpha and trinary:
        # map_server averages (1 - alpha) in with the colour channels in trinary mode.
        shade = (color.sum(axis=-1) + (1.0 - array[..., 3])) / 4.0
    else:
        shade = color.mean(axis=-1)
    return shade, (array[..., 3] if has_alpha else None)


def _field(doc: dict[str, Any], key: str, source: str) -> Any:
    if key not in doc:
        raise MapFormatError(source, 0, f"missing required key '{key}'")
    return doc[key]


def _number(doc: dict[str, Any], key: str, source: str) -> float:
    value = _field(doc, key, source)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MapFormatError(source, 0, f"'{key}' must be a number, got {value!r}")
    return float(value)


def load_ros_map(yaml_path: str | Path) -> RosMap:
    """Load a map_server map from its YAML file (the image path is relative to it)."""
    source = str(yaml_path)
    try:
        text = Path(yaml_path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"{source}: no such map file", field="map", value=source) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as error:
        line = 0
        mark = getattr(error, "problem_mark", None)
        if mark is not None:
            line = int(mark.line) + 1
        raise MapFormatError(source, line, f"not valid YAML ({error})") from None
    if not isinstance(doc, dict):
        raise MapFormatError(source, 0, "expected a mapping of map_server keys")
    image_name = _field(doc, "image", source)
    if not isinstance(image_name, str) or not image_name:
        raise MapFormatError(source, 0, f"'image' must be a file name, got {image_name!r}")
    resolution = _number(doc, "resolution", source)
    if resolution <= 0.0:
        raise MapFormatError(source, 0, f"'resolution' must be positive, got {resolution}")
    origin = _field(doc, "origin", source)
    if (
        not isinstance(origin, list | tuple)
        or len(origin) != 3
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in origin)
        or not all(math.isfinite(v) for v in origin)
    ):
        raise MapFormatError(source, 0, f"'origin' must be [x, y, yaw], got {origin!r}")
    free_thresh = _number(doc, "free_thresh", source)
    occupied_thresh = _number(doc, "occupied_thresh", source)
    if not 0.0 <= free_thresh < occupied_thresh <= 1.0:
        raise MapFormatError(
            source,
            0,
            f"need 0 <= free_thresh < occupied_thresh <= 1, got {free_thresh} and "
            f"{occupied_thresh}",
        )
    negate = _field(doc, "negate", source)
    if negate not in (0, 1):  # True and False compare equal to 1 and 0
        raise MapFormatError(source, 0, f"'negate' must be 0 or 1, got {negate!r}")
    mode = doc.get("mode", "trinary")
    if mode not in ("trinary", "scale", "raw"):
        raise MapFormatError(source, 0, f"'mode' must be trinary, scale or raw, got {mode!r}")
    image_path = Path(image_name)
    if not image_path.is_absolute():
        image_path = Path(yaml_path).parent / image_path
    alpha = None
    if image_path.suffix.lower() == ".pgm":
        shade = read_pgm(image_path)
    else:
        shade, alpha = _read_other_image(image_path, mode == "trinary")
    occupancy = _occupancy(shade, bool(negate), mode, free_thresh, occupied_thresh)
    if mode == "scale" and alpha is not None:
        occupancy[alpha < 1.0] = UNKNOWN  # map_server: see-through pixels are unknown
    # Image row 0 is the top of the map; fleet's row 0 is the lowest y.
    occupancy = np.ascontiguousarray(occupancy[::-1])
    # In raw mode the value is the occupancy in percent; otherwise 0 marks free space.
    free = (occupancy >= 0) & (occupancy < 100.0 * free_thresh) if mode == "raw" else occupancy == 0
    occupancy.flags.writeable = False
    free.flags.writeable = False
    x, y, yaw = (float(v) for v in origin)
    return RosMap(free=free, occupancy=occupancy, resolution_m=resolution, origin=(x, y, yaw))


def _occupancy(
    shade: npt.NDArray[np.float64],
    negate: bool,
    mode: str,
    free_thresh: float,
    occupied_thresh: float,
) -> npt.NDArray[np.int8]:
    """map_server's occupancy values (0..100, -1 unknown) from pixel shades."""
    if mode == "raw":
        percent = np.rint(shade * 255.0)
        return np.where((percent >= 0) & (percent <= OCCUPIED), percent, UNKNOWN).astype(np.int8)
    occ = shade if negate else 1.0 - shade
    result = np.full(shade.shape, UNKNOWN, dtype=np.int8)
    if mode == "scale":
        between = (occ >= free_thresh) & (occ <= occupied_thresh)
        scaled = np.rint((occ - free_thresh) / (occupied_thresh - free_thresh) * 100.0)
        result[between] = scaled[between].astype(np.int8)
    result[occ > occupied_thresh] = OCCUPIED
    result[occ < free_thresh] = 0
    return result
