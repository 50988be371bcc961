"""The independent oracle for simulated runs: reads a trajectory log and its floor, reports
every collision between robots, every touch of an obstacle or keep-out zone, every exit from
the floor and every teleport.

It shares no code with fleet on purpose (stdlib, numpy, shapely and yaml only), so a bug in
fleet's geometry or in the simulator cannot hide itself here. Between two ticks each robot is
taken to move in a straight line at constant speed, the least the ticks allow.

    python -m sim.check run.jsonl [--map floor.yaml]     # exit 0 ok, 1 violations, 2 bad input
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import shapely
import yaml
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

__all__ = [
    "COLLISION_TOLERANCE_M",
    "FLOOR_TOLERANCE_M",
    "ONE_WAY_TOLERANCE_M",
    "SPEED_TOLERANCE",
    "CheckInputError",
    "CheckReport",
    "ClosestApproach",
    "Collision",
    "FloorGeometry",
    "ObstacleHit",
    "OneWayViolation",
    "SpeedViolation",
    "check_log",
    "load_floor_geometry",
    "main",
]

COLLISION_TOLERANCE_M = 1e-6
"""Two robots collide when their centres come closer than the sum of radii minus this."""

FLOOR_TOLERANCE_M = 1e-3
"""A footprint may overlap an obstacle, a keep-out zone or the outline's edge by this much."""

SPEED_TOLERANCE = 0.02
"""Relative margin on a robot's max speed, on top of the log's rounding (1 mm, 1 ms)."""

_ROUNDING_M = 2e-3
"""Worst error of a step between two poses each rounded to 1 mm per coordinate (2 x 0.71 mm)."""

_ROUNDING_S = 1e-3

_CHUNK_PAIR_TICKS = 1 << 20
"""Pair-ticks per vectorized block: bounds memory to some tens of MB whatever the run's size."""

_PAIR_MARGIN_M = 2.0
"""Pairs kept apart by more than this clearance are not computed one by one (see
`_check_pairs`); the closest approach is exact either way."""

_OUTLINE = "outline"

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class CheckInputError(ValueError):
    """The log or the floor file cannot be read as the contract says."""


class Collision(NamedTuple):
    """Two robots closer than the sum of their radii: the deepest point of one contact."""

    t: float
    """Seconds, when the centres were closest during this contact."""
    robot_a: str
    robot_b: str
    distance: float
    """Metres between the centres at `t`."""


class ObstacleHit(NamedTuple):
    """A robot's footprint overlapped an obstacle or keep-out zone, or left the outline."""

    t: float
    """Seconds, the start of the first tick interval of this contact."""
    robot: str
    obstacle: str
    """The obstacle's or zone's id, or "outline"."""


class SpeedViolation(NamedTuple):
    """A robot moved faster than its max speed: the fastest step of one such stretch."""

    t: float
    """Seconds, the start of the tick interval."""
    robot: str
    speed: float
    """Metres per second over that interval."""
    max_speed: float


class OneWayViolation(NamedTuple):
    """A robot drove against a one-way zone's direction: the first tick of one such stretch."""

    t: float
    robot: str
    zone: str
    against_m: float
    """Metres driven against the direction in that tick."""


class ClosestApproach(NamedTuple):
    """The pair of robots that came closest, measured by clearance between footprints."""

    distance: float
    """Metres between the centres."""
    t: float
    robot_a: str
    robot_b: str
    clearance: float
    """Metres between the footprints: distance minus both radii (negative on contact)."""


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What `check_log` found. `ok` when there is nothing to report."""

    log_path: str
    map_path: str | None
    """The floor the geometry was checked against; None when the log names none."""
    robots: tuple[str, ...]
    ticks: int
    duration_s: float
    collisions: list[Collision]
    obstacle_hits: list[ObstacleHit]
    speed_violations: list[SpeedViolation]
    closest_approach: ClosestApproach | None
    """None when no two robots were ever present at the same tick."""
    one_way_violations: list[OneWayViolation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no collision, obstacle hit, speed or one-way violation was found."""
        return not (self.collisions or self.obstacle_hits or self.speed_violations
                    or self.one_way_violations)

    def summary(self, limit: int = 10) -> str:
        """A short human-readable report, listing at most `limit` items per kind."""
        lines = [
            f"{self.log_path}: {len(self.robots)} robots, {self.ticks} ticks, "
            f"{self.duration_s:.3f} s, floor {self.map_path or '(none: geometry not checked)'}"
        ]
        if self.closest_approach is not None:
            c = self.closest_approach
            lines.append(
                f"closest approach: {c.robot_a} and {c.robot_b} at t={c.t:.3f} s, "
                f"{c.distance:.3f} m apart, clearance {c.clearance:.3f} m"
            )
        sections: list[tuple[str, list[str]]] = [
            (
                "collisions",
                [
                    f"t={c.t:.3f} s {c.robot_a} and {c.robot_b} {c.distance:.3f} m apart"
                    for c in self.collisions
                ],
            ),
            (
                "obstacle hits",
                [f"t={h.t:.3f} s {h.robot} hit {h.obstacle}" for h in self.obstacle_hits],
            ),
            (
                "speed violations",
                [
                    f"t={v.t:.3f} s {v.robot} at {v.speed:.3f} m/s (max {v.max_speed:.3f})"
                    for v in self.speed_violations
                ],
            ),
            (
                "one-way violations",
                [
                    f"t={v.t:.3f} s {v.robot} {v.against_m:.3f} m against {v.zone}"
                    for v in self.one_way_violations
                ],
            ),
        ]
        for title, items in sections:
            lines.append(f"{title}: {len(items)}")
            lines.extend(f"  {item}" for item in items[:limit])
            if len(items) > limit:
                lines.append(f"  ... and {len(items) - limit} more")
        lines.append("OK" if self.ok else "VIOLATIONS FOUND")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class FloorGeometry:
    """What of a floor the checker needs: the outline and everything a footprint must avoid."""

    name: str
    outline: Polygon | None
    barriers: tuple[tuple[str, BaseGeometry], ...]
    """Obstacles and keep-out zones, by id."""
    one_way: tuple[tuple[str, BaseGeometry, tuple[float, float]], ...] = ()
    """One-way zones: id, polygon, unit vector of the direction of travel."""


@dataclass(frozen=True, slots=True)
class _Run:
    ids: tuple[str, ...]
    radii: FloatArray
    max_speeds: FloatArray
    """NaN where the header gives none."""
    times: FloatArray
    positions: FloatArray
    """(ticks, robots, 2), NaN where a robot is absent."""
    header: dict[str, Any]


def check_log(
    path: str | os.PathLike[str], *, map_path: str | os.PathLike[str] | None = None
) -> CheckReport:
    """Check a trajectory log against its floor (`map_path`, else the map its header names).

    A relative map path in the header is looked up from the working directory, then next to
    the log. Without any map only robot-robot distances and speeds are checked.
    Raises `CheckInputError` for a malformed log or floor, `OSError` for unreadable files.
    """
    run = _read_run(Path(path))
    floor_path = _resolve_map(Path(path), run.header, map_path)
    collisions, closest = _check_pairs(run)
    hits: list[ObstacleHit] = []
    one_way: list[OneWayViolation] = []
    if floor_path is not None:
        geometry = load_floor_geometry(floor_path)
        hits = _check_floor(run, geometry)
        one_way = _check_one_way(run, geometry)
    duration = float(run.times[-1] - run.times[0]) if len(run.times) else 0.0
    return CheckReport(
        log_path=os.fspath(path),
        map_path=None if floor_path is None else os.fspath(floor_path),
        robots=run.ids,
        ticks=len(run.times),
        duration_s=duration,
        collisions=collisions,
        obstacle_hits=hits,
        speed_violations=_check_speeds(run),
        closest_approach=closest,
        one_way_violations=one_way,
    )


def load_floor_geometry(path: str | os.PathLike[str]) -> FloorGeometry:
    """Read a floor YAML's outline, obstacles and keep-out zones (the rest is ignored)."""
    with open(path, encoding="utf-8") as file:
        try:
            document = yaml.safe_load(file)
        except yaml.YAMLError as error:
            raise CheckInputError(f"{path}: not YAML: {error}") from error
    if not isinstance(document, dict):
        raise CheckInputError(f"{path}: a floor is a mapping with outline, obstacles, zones")
    outline = None
    if document.get("outline") is not None:
        outline = _polygon(document["outline"], f"{path}: outline")
    barriers: list[tuple[str, BaseGeometry]] = []
    one_way: list[tuple[str, BaseGeometry, tuple[float, float]]] = []
    for number, obstacle in enumerate(document.get("obstacles") or []):
        where = f"{path}: obstacles[{number}]"
        barriers.append(
            (_item_id(obstacle, "obstacle", number, where), _item_polygon(obstacle, where))
        )
    for number, zone in enumerate(document.get("zones") or []):
        where = f"{path}: zones[{number}]"
        if not isinstance(zone, dict):
            raise CheckInputError(f"{where}: not a mapping")
        if zone.get("kind") == "keep_out":
            barriers.append((_item_id(zone, "zone", number, where), _item_polygon(zone, where)))
        elif zone.get("kind") == "one_way":
            unit = _DIRECTIONS.get(zone.get("direction"))  # type: ignore[arg-type]
            if unit is None:
                raise CheckInputError(f"{where}: direction must be one of "
                                      f"{', '.join(_DIRECTIONS)}")
            one_way.append((_item_id(zone, "zone", number, where),
                            _item_polygon(zone, where), unit))
    return FloorGeometry(
        name=str(document.get("name") or Path(path).stem),
        outline=outline,
        barriers=tuple(barriers),
        one_way=tuple(one_way),
    )


_DIRECTIONS = {"+x": (1.0, 0.0), "-x": (-1.0, 0.0), "+y": (0.0, 1.0), "-y": (0.0, -1.0)}
ONE_WAY_TOLERANCE_M = 0.01
"""A tick may go this far against a one-way zone's direction (localization jitter, the
log's rounding) before it counts."""


def _check_one_way(run: _Run, floor: FloorGeometry) -> list[OneWayViolation]:
    """Ticks that drive against a one-way zone's direction with either end in the zone."""
    ticks = len(run.times)
    if not floor.one_way or ticks < 2:
        return []
    start, end = run.positions[:-1], run.positions[1:]
    found: list[OneWayViolation] = []
    for zone_id, polygon, (ux, uy) in floor.one_way:
        against = -((end[..., 0] - start[..., 0]) * ux + (end[..., 1] - start[..., 1]) * uy)
        with np.errstate(invalid="ignore"):
            tick, robot = np.nonzero(against > ONE_WAY_TOLERANCE_M)
        if not len(tick):
            continue
        a, b = start[tick, robot], end[tick, robot]
        inside = shapely.contains_xy(polygon, a[:, 0], a[:, 1]) | \
            shapely.contains_xy(polygon, b[:, 0], b[:, 1])
        tick, robot = tick[inside], robot[inside]
        if not len(tick):
            continue
        order, starts, _ = _episodes(robot.astype(np.int64), tick.astype(np.int64))
        for begin in starts:
            k = order[begin]
            found.append(OneWayViolation(float(run.times[tick[k]]), run.ids[robot[k]], zone_id,
                                         float(against[tick[k], robot[k]])))
    found.sort()
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m sim.check run.jsonl [--map floor.yaml]`: 0 ok, 1 violations, 2 bad input."""
    parser = argparse.ArgumentParser(
        prog="python -m sim.check",
        description="Check a simulation's trajectory log for collisions, obstacle hits and "
        "teleports.",
    )
    parser.add_argument("log", help="trajectory log (JSON Lines)")
    parser.add_argument("--map", help="floor YAML (default: the map named in the log header)")
    parser.add_argument(
        "--limit", type=int, default=10, help="items listed per kind of violation (default 10)"
    )
    arguments = parser.parse_args(argv)
    try:
        report = check_log(arguments.log, map_path=arguments.map)
    except (CheckInputError, OSError) as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    sys.stdout.write(report.summary(limit=arguments.limit) + "\n")
    return 0 if report.ok else 1


# --- reading --------------------------------------------------------------------------------


def _read_run(path: Path) -> _Run:
    with path.open(encoding="utf-8") as file:
        header = _parse_line(file.readline(), path, 1)
        ids, radii, max_speeds = _parse_robots(header, path)
        index = {robot_id: i for i, robot_id in enumerate(ids)}
        width = 2 * len(ids)
        nothing = [math.nan] * width
        times: list[float] = []
        rows: list[list[float]] = []
        blocks: list[FloatArray] = []
        for number, line in enumerate(file, start=2):
            if not line.strip():
                continue
            record = _parse_line(line, path, number)
            try:
                # `+ 0.0` takes JSON numbers only (a string raises); NaN never gets this far.
                t = record["t"] + 0.0
                row = nothing.copy()
                for robot_id, pose in record["poses"].items():
                    column = 2 * index[robot_id]
                    row[column] = pose[0] + 0.0
                    row[column + 1] = pose[1] + 0.0
            except KeyError as error:
                raise CheckInputError(
                    f"{path}:{number}: unknown robot or missing key {error}"
                ) from error
            except (TypeError, ValueError, IndexError, AttributeError) as error:
                raise CheckInputError(f"{path}:{number}: not a tick: {error!r}") from error
            if times and not t > times[-1]:
                raise CheckInputError(f"{path}:{number}: time {t} s does not follow {times[-1]} s")
            times.append(t)
            rows.append(row)
            if len(rows) == 4096:
                blocks.append(np.array(rows, dtype=np.float64))
                rows = []
        blocks.append(np.array(rows, dtype=np.float64).reshape(len(rows), width))
    positions = np.concatenate(blocks).reshape(len(times), len(ids), 2)
    return _Run(
        ids=ids,
        radii=radii,
        max_speeds=max_speeds,
        times=np.array(times, dtype=np.float64),
        positions=positions,
        header=header,
    )


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a coordinate")


def _parse_line(line: str, path: Path, number: int) -> dict[str, Any]:
    try:
        record = json.loads(line, parse_constant=_reject_constant)
    except ValueError as error:
        raise CheckInputError(f"{path}:{number}: not JSON: {error}") from error
    if not isinstance(record, dict):
        raise CheckInputError(f"{path}:{number}: not a JSON object")
    return record


def _parse_robots(
    header: dict[str, Any], path: Path
) -> tuple[tuple[str, ...], FloatArray, FloatArray]:
    robots = header.get("robots")
    if not isinstance(robots, list):
        raise CheckInputError(f"{path}:1: header has no robots list")
    ids: list[str] = []
    radii: list[float] = []
    max_speeds: list[float] = []
    for number, robot in enumerate(robots):
        try:
            robot_id = robot["id"]
            radius = float(robot["radius"])
            max_speed = (
                float(robot["max_speed"]) if robot.get("max_speed") is not None else math.nan
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise CheckInputError(f"{path}:1: robots[{number}] is not {{id, radius}}") from error
        if not isinstance(robot_id, str) or robot_id in ids:
            raise CheckInputError(f"{path}:1: robots[{number}] id {robot_id!r} is bad or repeats")
        if not (math.isfinite(radius) and radius >= 0):
            raise CheckInputError(f"{path}:1: robot {robot_id!r} has radius {radius}")
        if not (math.isnan(max_speed) or max_speed >= 0):
            raise CheckInputError(f"{path}:1: robot {robot_id!r} has max_speed {max_speed}")
        ids.append(robot_id)
        radii.append(radius)
        max_speeds.append(max_speed)
    return tuple(ids), np.array(radii, dtype=np.float64), np.array(max_speeds, dtype=np.float64)


def _resolve_map(
    log_path: Path, header: dict[str, Any], map_path: str | os.PathLike[str] | None
) -> Path | None:
    if map_path is not None:
        return Path(map_path)
    named = header.get("map")
    if named is None or named == "":
        return None
    if not isinstance(named, str):
        raise CheckInputError(f"{log_path}:1: map is not a path: {named!r}")
    candidate = Path(named)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    beside = log_path.parent / candidate
    if beside.exists():
        return beside
    raise CheckInputError(
        f"{log_path}: map {named!r} not found from the working directory or next to the log; "
        "pass the floor explicitly"
    )


def _polygon(points: object, where: str) -> Polygon:
    try:
        polygon = Polygon(points)
    except (TypeError, ValueError, AttributeError) as error:
        raise CheckInputError(f"{where}: not a polygon [[x, y], ...]: {error}") from error
    if polygon.is_empty or polygon.area <= 0:
        raise CheckInputError(f"{where}: polygon has no area")
    if not polygon.is_valid:
        raise CheckInputError(f"{where}: {shapely.is_valid_reason(polygon)}")
    return polygon


def _item_id(item: object, kind: str, number: int, where: str) -> str:
    if not isinstance(item, dict):
        raise CheckInputError(f"{where}: not a mapping")
    return str(item.get("id", f"{kind}[{number}]"))


def _item_polygon(item: dict[str, Any], where: str) -> Polygon:
    if "polygon" not in item:
        raise CheckInputError(f"{where}: no polygon")
    return _polygon(item["polygon"], where)


# --- checks ---------------------------------------------------------------------------------


def _episodes(
    keys: IntArray, ticks: IntArray, continues: npt.NDArray[np.bool_] | None = None
) -> tuple[IntArray, IntArray, IntArray]:
    """Group findings into runs of consecutive tick intervals per key.

    `continues` says whether a finding is still on at the end of its interval; without it,
    findings in consecutive intervals always join. Returns the order that sorts findings by
    (key, tick) and each run's start and stop in that order.
    """
    order = np.lexsort((ticks, keys))
    sorted_keys, sorted_ticks = keys[order], ticks[order]
    fresh = np.ones(len(order), dtype=bool)
    fresh[1:] = (sorted_keys[1:] != sorted_keys[:-1]) | (sorted_ticks[1:] != sorted_ticks[:-1] + 1)
    if continues is not None:
        fresh[1:] |= ~continues[order][:-1]
    starts = np.flatnonzero(fresh)
    stops = np.append(starts[1:], len(order))
    return order.astype(np.int64), starts.astype(np.int64), stops.astype(np.int64)


def _check_pairs(run: _Run) -> tuple[list[Collision], ClosestApproach | None]:
    """Closest approach of every pair over every tick interval, in closed form.

    With relative position d(s) = d0 + s (d1 - d0) for s in [0, 1] over one interval, the
    minimum of |d(s)| is at s* = clip(-d0.v / v.v, 0, 1). A robot absent at the next tick
    contributes only its pose at this tick (v = 0).

    Only pairs that can come near are computed: a pair farther apart at an interval's start
    than the largest reach, twice the largest step of that interval and `_PAIR_MARGIN_M`
    keeps a clearance above that margin throughout it, since each robot moves at most its
    step; a k-d tree per tick finds the others. If the closest approach found that way has a
    clearance above the margin (a pair left out could have come closer), every pair is
    computed.
    """
    count, ticks = len(run.ids), len(run.times)
    if count < 2 or ticks == 0:
        return [], None
    positions = run.positions
    present = ~np.isnan(positions[..., 0])
    following = np.minimum(np.arange(ticks) + 1, ticks - 1)
    moves = positions[following] - positions
    steps = np.where(np.isnan(moves[..., 0]), 0.0, np.hypot(moves[..., 0], moves[..., 1]))
    near = 2.0 * float(np.max(run.radii)) + 2.0 * np.max(steps, axis=1) + _PAIR_MARGIN_M
    # A pair left out at tick t is more than near[t] apart; during the interval it closes in
    # by at most the two steps, so it stays more than 2 max radius + margin apart: its
    # clearance is above the margin throughout.

    scan = _PairScan(run)
    block = 32
    for begin in range(0, ticks, block):
        stop = min(begin + block, ticks)
        first, second = _near_pairs(positions, present, near, begin, stop)
        if len(first):
            scan.add(first, second, begin, stop)
    if scan.best is None or scan.best[0] > _PAIR_MARGIN_M:
        scan = _PairScan(run)
        first, second = np.triu_indices(count, k=1)
        scan.add(first.astype(np.int64), second.astype(np.int64), 0, ticks)
    return scan.result()


def _near_pairs(positions: FloatArray, present: npt.NDArray[np.bool_], near: FloatArray,
                begin: int, stop: int) -> tuple[IntArray, IntArray]:
    """Robot pairs (first < second) closer than `near[t]` at some tick t of [begin, stop)."""
    from scipy.spatial import cKDTree

    found: list[IntArray] = []
    for t in range(begin, stop):
        here = np.flatnonzero(present[t])
        if len(here) < 2:
            continue
        pairs = cKDTree(positions[t, here]).query_pairs(float(near[t]), output_type="ndarray")
        if len(pairs):
            found.append(here[pairs])
    if not found:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    both = np.concatenate(found)
    both.sort(axis=1)
    unique = np.unique(both, axis=0)
    return unique[:, 0].astype(np.int64), unique[:, 1].astype(np.int64)


class _PairScan:
    """The closed-form check over given pairs and ticks, gathered into collisions."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        ticks = len(run.times)
        following = np.minimum(np.arange(ticks) + 1, ticks - 1)
        self._step_s = run.times[following] - run.times
        """Seconds from each tick to the next (0 at the last)."""
        self.best: tuple[float, float, float, str, str] | None = None
        """clearance, distance, time, first id, second id"""
        self._tick: list[IntArray] = []
        self._first: list[IntArray] = []
        self._second: list[IntArray] = []
        self._distance: list[FloatArray] = []
        self._time: list[FloatArray] = []
        self._continues: list[npt.NDArray[np.bool_]] = []

    def add(self, first: IntArray, second: IntArray, begin: int, end: int) -> None:
        """Check the pairs (first[k], second[k]) over the intervals of ticks [begin, end)."""
        run = self.run
        ticks = len(run.times)
        reach = run.radii[first] + run.radii[second]
        limit = reach - COLLISION_TOLERANCE_M
        times, step_s = run.times, self._step_s
        chunk = max(1, _CHUNK_PAIR_TICKS // len(first))
        for start in range(begin, end, chunk):
            stop = min(start + chunk, end)
            block = run.positions[start : min(stop + 1, ticks)]
            relative = block[:, first, :] - block[:, second, :]
            d0 = relative[: stop - start]
            d1 = relative[1 : stop - start + 1] if stop < ticks else \
                np.concatenate([relative[1:], relative[-1:]])
            with np.errstate(invalid="ignore", divide="ignore"):
                v = np.where(np.isnan(d1[..., :1]), 0.0, d1 - d0)
                vv = v[..., 0] ** 2 + v[..., 1] ** 2
                s = np.where(
                    vv > 0,
                    np.clip(-(d0[..., 0] * v[..., 0] + d0[..., 1] * v[..., 1]) / vv, 0.0, 1.0),
                    0.0,
                )
                distance = np.hypot(d0[..., 0] + s * v[..., 0], d0[..., 1] + s * v[..., 1])
            distance[np.isnan(distance)] = np.inf  # a robot of the pair is absent at this tick
            clearance = distance - reach
            lowest = int(np.argmin(clearance))
            row, pair = divmod(lowest, len(first))
            if np.isfinite(clearance[row, pair]) and (
                    self.best is None or clearance[row, pair] < self.best[0]):
                t = times[start + row] + s[row, pair] * step_s[start + row]
                self.best = (float(clearance[row, pair]), float(distance[row, pair]), float(t),
                             run.ids[first[pair]], run.ids[second[pair]])
            rows, pairs = np.nonzero(distance < limit)
            if len(rows):
                self._tick.append(rows.astype(np.int64) + start)
                self._first.append(first[pairs])
                self._second.append(second[pairs])
                self._distance.append(distance[rows, pairs])
                self._time.append(times[start + rows] + s[rows, pairs] * step_s[start + rows])
                # Still in contact at the next tick? Otherwise the next interval's is a new one.
                at_next = np.hypot(d1[rows, pairs, 0], d1[rows, pairs, 1])
                self._continues.append((at_next < limit[pairs]) & (rows + start < ticks - 1))

    def result(self) -> tuple[list[Collision], ClosestApproach | None]:
        """The collisions (one per episode of contact, at its deepest) and the closest
        approach."""
        run = self.run
        closest = None
        if self.best is not None:
            clearance_m, distance_m, t, a, b = self.best
            closest = ClosestApproach(distance_m, t, a, b, clearance_m)
        if not self._tick:
            return [], closest
        first_of = np.concatenate(self._first)
        second_of = np.concatenate(self._second)
        pair_of = first_of * len(run.ids) + second_of
        tick_of = np.concatenate(self._tick)
        distance_of = np.concatenate(self._distance)
        time_of = np.concatenate(self._time)
        order, starts, stops = _episodes(pair_of, tick_of, np.concatenate(self._continues))
        collisions = []
        for begin, end in zip(starts, stops, strict=True):
            members = order[begin:end]
            deepest = members[int(np.argmin(distance_of[members]))]
            collisions.append(
                Collision(
                    float(time_of[deepest]),
                    run.ids[int(first_of[deepest])],
                    run.ids[int(second_of[deepest])],
                    float(distance_of[deepest]),
                )
            )
        collisions.sort()
        return collisions, closest


def _check_floor(run: _Run, floor: FloorGeometry) -> list[ObstacleHit]:
    """Footprints swept along each tick's straight segment against obstacles and outline.

    A disc of radius r swept along a segment overlaps a polygon exactly when the segment comes
    within r of it, so this asks shapely for `dwithin(segment, polygon, r - tolerance)`
    instead of buffering: exact, and vectorized over all segments through an STRtree.
    """
    labels = [label for label, _ in floor.barriers]
    geometries: list[BaseGeometry] = [geometry for _, geometry in floor.barriers]
    label_of = list(range(len(labels)))
    if floor.outline is not None:
        labels.append(_OUTLINE)
        # One entry per edge, so the tree only offers edges near each segment.
        for ring in [floor.outline.exterior, *floor.outline.interiors]:
            coordinates = np.asarray(ring.coords)
            edges = shapely.linestrings(np.stack([coordinates[:-1], coordinates[1:]], axis=1))
            geometries.extend(edges.tolist())
            label_of.extend([len(labels) - 1] * len(edges))
    ticks = len(run.times)
    if not geometries or ticks == 0:
        return []

    present = ~np.isnan(run.positions[..., 0])
    tick, robot = np.nonzero(present)
    following = np.minimum(tick + 1, ticks - 1)
    start = run.positions[tick, robot]
    end = np.where(present[following, robot][:, None], run.positions[following, robot], start)
    moving = np.any(start != end, axis=1)
    segments = np.empty(len(tick), dtype=object)
    segments[moving] = shapely.linestrings(np.stack([start[moving], end[moving]], axis=1))
    segments[~moving] = shapely.points(start[~moving])
    reach = np.maximum(run.radii[robot] - FLOOR_TOLERANCE_M, 0.0)

    tree = shapely.STRtree(geometries)
    found, barrier = tree.query(segments, predicate="dwithin", distance=reach)
    hit_tick = [tick[found]]
    hit_robot = [robot[found]]
    hit_label = [np.asarray(label_of, dtype=np.int64)[barrier]]
    if floor.outline is not None:
        # Wholly outside the outline: far from every edge, so only this test sees it.
        outside = ~shapely.contains_xy(floor.outline, start[:, 0], start[:, 1])
        hit_tick.append(tick[outside])
        hit_robot.append(robot[outside])
        hit_label.append(np.full(int(outside.sum()), len(labels) - 1, dtype=np.int64))

    all_ticks = np.concatenate(hit_tick).astype(np.int64)
    if not len(all_ticks):
        return []
    keys = np.concatenate(hit_robot).astype(np.int64) * len(labels) + np.concatenate(hit_label)
    # The same robot touching several edges of the outline in one tick is one finding.
    unique = np.unique(np.stack([keys, all_ticks], axis=1), axis=0)
    keys, all_ticks = unique[:, 0], unique[:, 1]
    order, starts, _ = _episodes(keys, all_ticks)
    hits = []
    for begin in starts:
        first = order[begin]
        robot_index, label_index = divmod(int(keys[first]), len(labels))
        hits.append(
            ObstacleHit(
                float(run.times[all_ticks[first]]), run.ids[robot_index], labels[label_index]
            )
        )
    hits.sort()
    return hits


def _check_speeds(run: _Run) -> list[SpeedViolation]:
    """Steps longer than max speed allows over their interval (with the log's rounding)."""
    limited = np.flatnonzero(~np.isnan(run.max_speeds))
    if not len(limited) or len(run.times) < 2:
        return []
    positions = run.positions[:, limited]
    step = np.hypot(*np.moveaxis(np.diff(positions, axis=0), -1, 0))
    interval = np.diff(run.times)[:, None]
    max_speed = run.max_speeds[limited][None, :]
    allowed = max_speed * (1.0 + SPEED_TOLERANCE) * (interval + _ROUNDING_S) + _ROUNDING_M
    with np.errstate(invalid="ignore"):
        rows, columns = np.nonzero(step > allowed)
    if not len(rows):
        return []
    speed = step[rows, columns] / interval[rows, 0]
    order, starts, stops = _episodes(columns.astype(np.int64), rows.astype(np.int64))
    violations = []
    for begin, end in zip(starts, stops, strict=True):
        members = order[begin:end]
        fastest = members[int(np.argmax(speed[members]))]
        robot = int(limited[columns[fastest]])
        violations.append(
            SpeedViolation(
                float(run.times[rows[fastest]]),
                run.ids[robot],
                float(speed[fastest]),
                float(run.max_speeds[robot]),
            )
        )
    violations.sort()
    return violations


if __name__ == "__main__":
    sys.exit(main())
