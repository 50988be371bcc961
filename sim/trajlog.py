"""The simulator's trajectory log: JSON Lines, one header line, then one line per tick.

The format is the contract in ARCHITECTURE.md, read by `sim.check` (and any outside checker):

    {"map": "maps/cell.yaml", "robots": [{"id": "agv-01", "radius": 0.45}, ...], "seed": 1}
    {"t": 0.1, "poses": {"agv-01": [1.0, 2.0, 0.0], ...}}

Positions are metres and theta radians in the floor's map frame, `t` seconds of simulated time.
Values are rounded to 1 mm, 1 mrad and 1 ms, which keeps a 20-robot, 20,000-tick log near
20 MB. A robot may be absent from a tick (not connected yet, or gone).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO, TypeAlias

from fleet.model import InvalidInputError

__all__ = ["PoseTuple", "Poses", "RobotEntry", "TrajectoryLog", "merge_logs", "read_log"]

PoseTuple: TypeAlias = tuple[float, float, float]
"""(x, y, theta): metres, metres, radians."""

Poses: TypeAlias = dict[str, PoseTuple]
"""Robot id to pose, for one tick."""

RobotEntry: TypeAlias = tuple[str, float] | tuple[str, float, float]
"""(id, footprint radius in metres) or (id, radius, max speed in metres per second)."""

_DECIMALS = 3
"""1 mm, 1 mrad, 1 ms."""

_BUFFER_BYTES = 1 << 16


class TrajectoryLog:
    """Writes a run's trajectory log; use as a context manager so the file gets closed.

    `robots` lists every robot that may appear, as (id, radius) or (id, radius, max_speed);
    a max speed lets the checker flag teleports. `header_extra` adds keys to the header line
    (seed, scenario name, ...); they must be JSON values.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        map_path: str | os.PathLike[str],
        robots: Sequence[RobotEntry],
        **header_extra: Any,
    ) -> None:
        for key in ("map", "robots"):
            if key in header_extra:
                raise InvalidInputError(
                    f"header key {key!r} is set by the log itself", field="header_extra", value=key
                )
        entries: list[dict[str, Any]] = []
        for robot in robots:
            entry: dict[str, Any] = {"id": robot[0], "radius": float(robot[1])}
            if len(robot) == 3:
                entry["max_speed"] = float(robot[2])
            entries.append(entry)
        self._keys = {entry["id"]: json.dumps(entry["id"]) for entry in entries}
        """Each robot id as a JSON string, written once."""
        if len(self._keys) != len(entries):
            raise InvalidInputError(
                "robot ids repeat", field="robots", value=[r[0] for r in robots]
            )
        header = {"map": os.fspath(map_path), "robots": entries, **header_extra}
        line = json.dumps(header, separators=(",", ":"), allow_nan=False)
        self._file: TextIO = open(  # noqa: SIM115 - closed by close()/__exit__
            path, "w", encoding="utf-8", buffering=_BUFFER_BYTES
        )
        self._file.write(line + "\n")
        self._last_t = -math.inf
        self._ticks = 0

    @property
    def ticks(self) -> int:
        """How many ticks were written."""
        return self._ticks

    def write(self, t: float, poses: Mapping[str, tuple[float, float, float]]) -> None:
        """Append one tick: simulated time `t` in seconds, poses of the robots present.

        Times must increase by at least 1 ms (the log's resolution); every robot must be in
        the header; every value must be finite.
        """
        if not math.isfinite(t):
            raise InvalidInputError(f"tick time {t} is not finite", field="t", value=t)
        t_rounded = round(float(t), _DECIMALS)
        if not t_rounded > self._last_t:
            raise InvalidInputError(
                f"tick time {t} s does not follow {self._last_t} s by 1 ms or more",
                field="t",
                value=t,
            )
        keys = self._keys
        parts = []
        for robot_id, (x, y, theta) in poses.items():
            key = keys.get(robot_id)
            if key is None:
                raise InvalidInputError(
                    f"robot {robot_id!r} is not in the log's header", field="poses", value=robot_id
                )
            # A sum is finite only if every term is (inf - inf is nan); a finite pose whose
            # sum overflows is looked at term by term.
            if not math.isfinite(x + y + theta) and not (
                    math.isfinite(x) and math.isfinite(y) and math.isfinite(theta)):
                raise InvalidInputError(
                    f"pose of {robot_id!r} at t={t} s is not finite: {(x, y, theta)}",
                    field=f"poses[{robot_id}]",
                    value=(x, y, theta),
                )
            # Fixed-point text is the rounded value (correctly rounded, like `round`).
            parts.append(f"{key}:[{x:.3f},{y:.3f},{theta:.3f}]")  # _DECIMALS
        self._file.write(f'{{"t":{t_rounded!r},"poses":{{{",".join(parts)}}}}}\n')
        self._last_t = t_rounded
        self._ticks += 1

    def flush(self) -> None:
        """Push buffered ticks to the operating system (not an fsync)."""
        self._file.flush()

    def close(self) -> None:
        """Flush and close the file. Idempotent."""
        self._file.close()

    def __enter__(self) -> TrajectoryLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def read_log(path: str | os.PathLike[str]) -> tuple[dict[str, Any], Iterator[tuple[float, Poses]]]:
    """The header of a trajectory log, and its ticks as (t, poses), read lazily.

    Raises `InvalidInputError` naming the file and line for a malformed header at once, and
    for a malformed tick when the iterator reaches it.
    """
    with open(path, encoding="utf-8") as file:
        first = file.readline()
    try:
        header = json.loads(first)
    except ValueError as error:
        raise InvalidInputError(
            f"{path}:1: header is not JSON: {error}", field="header", value=first[:200]
        ) from error
    if not isinstance(header, dict) or not isinstance(header.get("robots"), list):
        raise InvalidInputError(
            f"{path}:1: header is not an object with a robots list",
            field="header",
            value=first[:200],
        )
    return header, _ticks(Path(path))


def _ticks(path: Path) -> Iterator[tuple[float, Poses]]:
    with path.open(encoding="utf-8") as file:
        file.readline()
        for number, line in enumerate(file, start=2):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                poses = {
                    str(robot_id): (float(pose[0]), float(pose[1]), float(pose[2]))
                    for robot_id, pose in record["poses"].items()
                }
                t = float(record["t"])
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
                raise InvalidInputError(
                    f"{path}:{number}: not a tick: {error!r}", field="tick", value=line[:200]
                ) from error
            yield t, poses


def merge_logs(paths: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str],
               period_s: float) -> int:
    """Put several processes' logs of one run on one clock, for `sim.check`; returns ticks.

    Robots simulated by different processes (`fleet sim-robots --part`) tick at different
    instants. The merged log samples every robot every `period_s` over the time all logs
    cover, each pose interpolated linearly between two ticks of the robot's own log: the
    straight line at constant speed that the checker itself assumes between ticks, so a
    merged sample is a point of the trajectory the checker would have drawn. A robot absent
    from either tick around a sample is absent from it. Robot ids must not repeat across logs.
    """
    import numpy as np

    if not paths or not period_s > 0:
        raise InvalidInputError("merge_logs needs logs and a positive period", field="paths",
                                value=[os.fspath(p) for p in paths])
    headers, tracks = [], {}
    for path in paths:
        header, ticks = read_log(path)
        headers.append(header)
        rows = list(ticks)
        times = np.array([t for t, _ in rows])
        for entry in header["robots"]:
            rid = entry["id"]
            if rid in tracks:
                raise InvalidInputError(f"robot {rid!r} is in more than one log",
                                        field="paths", value=os.fspath(path))
            xyz = np.full((len(rows), 3), np.nan)
            for i, (_, poses) in enumerate(rows):
                pose = poses.get(rid)
                if pose is not None:
                    xyz[i] = pose
            tracks[rid] = (times, xyz)
    spans = [(t[0], t[-1]) for t, _ in tracks.values() if len(t)]
    if not spans:
        return 0
    grid = np.arange(max(a for a, _ in spans), min(b for _, b in spans), period_s)
    sampled = {}
    for rid, (times, xyz) in tracks.items():
        after = np.clip(np.searchsorted(times, grid, side="right"), 1, len(times) - 1)
        t0, t1 = times[after - 1], times[after]
        w = np.where(t1 > t0, (grid - t0) / np.maximum(t1 - t0, 1e-12), 0.0)[:, None]
        sampled[rid] = xyz[after - 1] * (1 - w) + xyz[after] * w
    robots: list[RobotEntry] = [
        (e["id"], e["radius"], e["max_speed"]) if "max_speed" in e else (e["id"], e["radius"])
        for h in headers for e in h["robots"]]
    with TrajectoryLog(out, headers[0]["map"], robots, merged=len(paths)) as merged:
        for i, t in enumerate(grid.tolist()):
            poses = {rid: (float(p[i, 0]), float(p[i, 1]), float(p[i, 2]))
                     for rid, p in sampled.items() if not np.isnan(p[i, 0])}
            merged.write(t, poses)
    return len(grid)
