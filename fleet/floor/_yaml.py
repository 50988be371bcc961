"""Reading the project's floor YAML (the format is described in `fleet.floor`)."""

from __future__ import annotations

import math
import os
import re
import types
from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

import shapely
import yaml

from fleet.floor._checks import check_floor, check_grid, floor_error
from fleet.floor._map import Direction, FloorMap, Obstacle, Station, StationKind, Zone, ZoneKind
from fleet.model import NotFoundError, Pose

__all__ = ["load_floor", "parse_floor"]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
_Kind = TypeVar("_Kind", StationKind, ZoneKind, Direction)
# libyaml's loader when PyYAML was built with it: about 7x faster on the plant.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_floor(text: str, name: str = "floor") -> FloorMap:
    """Parse and validate a floor map from YAML text; FloorMapError names what is wrong.

    `name` is used when the text has no `name:` of its own.
    """
    try:
        document = yaml.load(text, Loader=_LOADER)  # a safe loader: plain data only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise floor_error(
            "yaml", f"is not valid YAML: {problem} at {where or 'unknown place'}", where
        ) from None
    root = _mapping(
        document,
        "",
        required={"grid", "outline"},
        optional={"name", "obstacles", "zones", "stations"},
    )

    map_name = _text(root["name"], "name") if "name" in root else name
    grid = _mapping(root["grid"], "grid", required={"resolution_m", "robot_radius_m"})
    resolution_m = _number(grid["resolution_m"], "grid.resolution_m")
    robot_radius_m = _number(grid["robot_radius_m"], "grid.robot_radius_m")
    check_grid(resolution_m, robot_radius_m)
    outline = _polygon(root["outline"], "outline")

    seen: dict[str, str] = {}
    obstacles = tuple(
        _obstacle(item, index, seen)
        for index, item in enumerate(_sequence(root.get("obstacles", []), "obstacles"))
    )
    zones = tuple(
        _zone(item, index, seen)
        for index, item in enumerate(_sequence(root.get("zones", []), "zones"))
    )
    stations = [
        _station(item, index, seen)
        for index, item in enumerate(_sequence(root.get("stations", []), "stations"))
    ]
    floor = FloorMap(
        name=map_name,
        outline=outline,
        obstacles=obstacles,
        zones=zones,
        stations=types.MappingProxyType({s.id: s for s in stations}),
        resolution_m=resolution_m,
        robot_radius_m=robot_radius_m,
        source_text=text,
    )
    check_floor(floor)
    return floor


def load_floor(path: str | os.PathLike[str]) -> FloorMap:
    """Read, parse and validate a floor map file; its name defaults to the file's stem.

    NotFoundError if the file does not exist, FloorMapError if it cannot be read or is invalid.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(
            f"path: no floor map file {str(file)!r}", field="path", value=str(file)
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise floor_error("path", f"cannot be read: {exc}", str(file)) from None
    return parse_floor(text, name=file.stem)


def _obstacle(item: object, index: int, seen: dict[str, str]) -> Obstacle:
    element, ident, field = _element(
        item, "obstacles", index, seen, required={"id", "polygon"}, optional={"label"}
    )
    label = _text(element.get("label", ""), f"{field}.label", allow_empty=True)
    return Obstacle(id=ident, polygon=_polygon(element["polygon"], f"{field}.polygon"), label=label)


def _zone(item: object, index: int, seen: dict[str, str]) -> Zone:
    element, ident, field = _element(
        item, "zones", index, seen, required={"id", "kind", "polygon"},
        optional={"speed_limit_mps", "direction"},
    )
    kind = _kind(element["kind"], ZoneKind, f"{field}.kind")
    polygon = _polygon(element["polygon"], f"{field}.polygon")
    speed: float | None = None
    if kind is ZoneKind.SPEED_LIMIT:
        if "speed_limit_mps" not in element:
            raise floor_error(
                f"{field}.speed_limit_mps", "is required for a speed_limit zone", None
            )
        speed = _number(element["speed_limit_mps"], f"{field}.speed_limit_mps")
        if not speed > 0:
            raise floor_error(f"{field}.speed_limit_mps", "must be > 0 metres per second", speed)
    elif "speed_limit_mps" in element:
        raise floor_error(
            f"{field}.speed_limit_mps",
            f"applies to speed_limit zones only, not {kind.value}",
            element["speed_limit_mps"],
        )
    direction: Direction | None = None
    if kind is ZoneKind.ONE_WAY:
        if "direction" not in element:
            raise floor_error(f"{field}.direction", "is required for a one_way zone "
                              f"(one of {', '.join(d.value for d in Direction)})", None)
        direction = _kind(element["direction"], Direction, f"{field}.direction")
    elif "direction" in element:
        raise floor_error(f"{field}.direction",
                          f"applies to one_way zones only, not {kind.value}",
                          element["direction"])
    return Zone(id=ident, kind=kind, polygon=polygon, speed_limit_mps=speed,
                direction=direction)


def _station(item: object, index: int, seen: dict[str, str]) -> Station:
    element, ident, field = _element(
        item, "stations", index, seen, required={"id", "kind", "pose"},
        optional={"area", "capacity"},
    )
    kind = _kind(element["kind"], StationKind, f"{field}.kind")
    raw_pose = element["pose"]
    if not isinstance(raw_pose, list) or len(raw_pose) not in (2, 3):
        raise floor_error(
            f"{field}.pose", "must be [x, y] or [x, y, theta] (metres, radians)", raw_pose
        )
    x, y, *theta = (_number(v, f"{field}.pose") for v in raw_pose)
    area = _text(element.get("area", ""), f"{field}.area", allow_empty=True)
    capacity = element.get("capacity", 1)
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise floor_error(f"{field}.capacity", "must be a whole number of loads, at least 1",
                          capacity)
    return Station(id=ident, kind=kind, pose=Pose(x, y, theta[0] if theta else 0.0), area=area,
                   capacity=capacity)


def _element(
    item: object,
    where: str,
    index: int,
    seen: dict[str, str],
    *,
    required: Collection[str],
    optional: Collection[str],
) -> tuple[dict[str, Any], str, str]:
    """A list element checked for its keys and id: (element, id, field name like "zones[z]")."""
    raw_id = item.get("id") if isinstance(item, dict) else None
    named = isinstance(raw_id, str) and _ID.fullmatch(raw_id) is not None
    element = _mapping(
        item, f"{where}[{raw_id if named else index}]", required=required, optional=optional
    )
    if not named:
        raise floor_error(
            f"{where}[{index}].id",
            "must be a string of letters, digits and _ . : - starting with a letter or digit",
            raw_id,
        )
    ident = str(raw_id)
    if ident in seen:
        raise floor_error(f"{where}[{ident}].id", f"duplicates the id of {seen[ident]}", ident)
    seen[ident] = f"{where}[{ident}]"
    return element, ident, f"{where}[{ident}]"


def _mapping(
    value: object, field: str, *, required: Collection[str], optional: Collection[str] = ()
) -> dict[str, Any]:
    """A YAML mapping with exactly these keys; `field` "" is the document root."""
    if not isinstance(value, dict):
        raise floor_error(field or "floor", "must be a mapping", value)
    prefix = f"{field}." if field else ""
    for key in value:
        if key not in required and key not in optional:
            allowed = ", ".join(sorted({*required, *optional}))
            raise floor_error(f"{prefix}{key}", f"is not a known key (expected {allowed})", key)
    for key in sorted(required):
        if key not in value:
            raise floor_error(f"{prefix}{key}", "is required but missing", None)
    return value


def _sequence(value: object, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise floor_error(field, "must be a list", value)
    return value


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise floor_error(field, "must be a number", value)
    number = float(value)
    if not math.isfinite(number):
        raise floor_error(field, "must be finite", value)
    return number


def _text(value: object, field: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise floor_error(
            field, "must be a non-empty string" if not allow_empty else "must be a string", value
        )
    return value


def _kind(value: object, kinds: type[_Kind], field: str) -> _Kind:
    for kind in kinds:
        if kind.value == value:
            return kind
    allowed = ", ".join(k.value for k in kinds)
    raise floor_error(field, f"is not a known kind (expected one of {allowed})", value)


def _polygon(value: object, field: str) -> shapely.Polygon:
    """A simple polygon from [[x, y], ...] in metres; a repeated closing point is optional."""
    if not isinstance(value, list):
        raise floor_error(field, "must be a list of [x, y] points", value)
    points: list[tuple[float, float]] = []
    for index, point in enumerate(value):
        if not isinstance(point, list) or len(point) != 2:
            raise floor_error(f"{field}[{index}]", "must be an [x, y] point", point)
        points.append(
            (_number(point[0], f"{field}[{index}]"), _number(point[1], f"{field}[{index}]"))
        )
    if len(points) > 1 and points[0] == points[-1]:
        points.pop()
    if len(points) < 3:
        raise floor_error(field, f"needs at least 3 points, has {len(points)}", value)
    polygon = shapely.Polygon(points)
    reason = shapely.is_valid_reason(polygon)
    if reason != "Valid Geometry":
        raise floor_error(field, f"is not a valid simple polygon: {reason}", points)
    if not polygon.area > 0:
        raise floor_error(field, "has no area", points)
    return polygon
