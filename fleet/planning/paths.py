"""From planned cells to what a robot drives: waypoints at turns, with arrival times.

A robot needs fewer points than a grid path has cells: `turn_waypoints` keeps the start, the
goal and every cell where the heading changes. `cell_centers` puts cells on the floor in
metres, and `timed_waypoints` says when the robot reaches each point driving at its top
speed, slower where a segment has a speed limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from fleet.model import Cell, InvalidInputError

__all__ = ["cell_centers", "timed_waypoints", "turn_waypoints"]


def turn_waypoints(cells: Sequence[Cell]) -> list[Cell]:
    """The start, every cell where the direction of travel changes, and the goal.

    Repeated cells (waits) are dropped; a path of one cell gives that cell.
    """
    points: list[Cell] = []
    for cell in cells:
        current = (int(cell[0]), int(cell[1]))
        if points and points[-1] == current:
            continue
        points.append(current)
    if len(points) <= 2:
        return points
    waypoints = [points[0]]
    for before, here, after in zip(points, points[1:], points[2:], strict=False):
        heading_in = (here[0] - before[0], here[1] - before[1])
        heading_out = (after[0] - here[0], after[1] - here[1])
        if heading_in != heading_out:
            waypoints.append(here)
    waypoints.append(points[-1])
    return waypoints


def cell_centers(
    cells: Sequence[Cell], resolution_m: float, origin_xy: tuple[float, float] = (0.0, 0.0)
) -> list[tuple[float, float]]:
    """The (x, y) in metres of each cell's centre; row 0 is the lowest y, col 0 the lowest x.

    `origin_xy` is the position of the corner of cell (0, 0), as in a ROS map's origin.
    """
    if not (math.isfinite(resolution_m) and resolution_m > 0.0):
        raise InvalidInputError(
            f"resolution_m must be positive, got {resolution_m}",
            field="resolution_m",
            value=resolution_m,
        )
    x0, y0 = origin_xy
    return [
        (x0 + (int(col) + 0.5) * resolution_m, y0 + (int(row) + 0.5) * resolution_m)
        for row, col in cells
    ]


def timed_waypoints(
    points_xy: Sequence[tuple[float, float]],
    max_speed_mps: float,
    speed_limits: Sequence[float | None] | None = None,
    start_time_s: float = 0.0,
) -> list[tuple[float, float, float]]:
    """(x, y, t): when a robot reaches each point driving at constant speed between them.

    Each segment is driven at `max_speed_mps`, or at its entry in `speed_limits` (one per
    segment, metres per second; None means no limit) if that is lower. Acceleration is not
    modelled: the times are the earliest arrivals the robot could promise at top speed.
    """
    if not (math.isfinite(max_speed_mps) and max_speed_mps > 0.0):
        raise InvalidInputError(
            f"max_speed_mps must be positive, got {max_speed_mps}",
            field="max_speed_mps",
            value=max_speed_mps,
        )
    if not math.isfinite(start_time_s):
        raise InvalidInputError(
            f"start_time_s must be finite, got {start_time_s}",
            field="start_time_s",
            value=start_time_s,
        )
    n_segments = max(len(points_xy) - 1, 0)
    if speed_limits is not None and len(speed_limits) != n_segments:
        raise InvalidInputError(
            f"speed_limits needs one entry per segment ({n_segments}), got {len(speed_limits)}",
            field="speed_limits",
            value=len(speed_limits),
        )
    timed: list[tuple[float, float, float]] = []
    t = float(start_time_s)
    for i, (x, y) in enumerate(points_xy):
        if not (math.isfinite(x) and math.isfinite(y)):
            raise InvalidInputError(
                f"point {i} ({x}, {y}) is not finite", field="points_xy", value=i
            )
        if i > 0:
            speed = max_speed_mps
            limit = None if speed_limits is None else speed_limits[i - 1]
            if limit is not None:
                if not (math.isfinite(limit) and limit > 0.0):
                    raise InvalidInputError(
                        f"speed limit of segment {i - 1} must be positive, got {limit}",
                        field="speed_limits",
                        value=i - 1,
                    )
                speed = min(speed, limit)
            px, py, _ = timed[-1]
            t += math.hypot(x - px, y - py) / speed
        timed.append((float(x), float(y), t))
    return timed
