"""Pictures of simulated runs: the floor and every robot's trajectory in one PNG.

Draws with matplotlib's object API on the Agg canvas, so it needs no display and never
touches pyplot's global state. Reads the floor YAML itself (outline, obstacles, zones,
stations, name) rather than through `fleet.floor`, so a picture can be drawn of any log.

    python -m sim.plot run.jsonl run.png [--floor floor.yaml]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.patches import Polygon as PolygonPatch

from sim.trajlog import read_log

__all__ = ["plot_run"]

_log = logging.getLogger(__name__)

MAX_POINTS_PER_ROBOT = 5000
"""Longer logs are drawn from every n-th tick; start and end poses are always exact."""

_STATION_MARKERS = {
    "pickup": ("^", "tab:green"),
    "dropoff": ("v", "tab:red"),
    "buffer": ("s", "tab:olive"),
    "weld_cell": ("*", "tab:orange"),
    "charger": ("P", "tab:blue"),
    "parking": ("h", "tab:gray"),
}
_OTHER_STATION = ("o", "black")

_ZONE_STYLES: dict[str, dict[str, Any]] = {
    "keep_out": {"facecolor": (0.85, 0.1, 0.1, 0.18), "edgecolor": "tab:red", "hatch": "xx"},
    "speed_limit": {"facecolor": (1.0, 0.8, 0.0, 0.2), "edgecolor": "goldenrod", "hatch": ".."},
}
_OTHER_ZONE: dict[str, Any] = {
    "facecolor": (0.2, 0.4, 0.9, 0.15),
    "edgecolor": "tab:blue",
    "hatch": "//",
}

_ROBOT_LEGEND_LIMIT = 12


@dataclass
class _Floor:
    name: str
    outline: list[list[float]] | None = None
    obstacles: list[tuple[str, list[list[float]]]] = field(default_factory=list)
    zones: list[tuple[str, str, list[list[float]]]] = field(default_factory=list)
    stations: list[tuple[str, str, float, float]] = field(default_factory=list)


@dataclass
class _Trajectories:
    ids: list[str]
    radii: list[float]
    xy: npt.NDArray[np.float64]
    """(kept ticks, robots, 2), NaN where a robot is absent."""
    first: dict[str, tuple[float, float]]
    last: dict[str, tuple[float, float]]
    ticks: int
    duration_s: float


def plot_run(
    log_path: str | os.PathLike[str],
    png_path: str | os.PathLike[str],
    *,
    floor_yaml: str | os.PathLike[str] | None = None,
    dpi: int = 150,
) -> Path:
    """Draw a run's floor and trajectories into a PNG; returns the PNG's path.

    The floor is `floor_yaml`, else the map the log's header names (looked up from the working
    directory, then next to the log); without one only the trajectories are drawn.
    """
    header, ticks = read_log(log_path)
    floor_path = _floor_path(Path(log_path), header, floor_yaml)
    floor = _read_floor(floor_path) if floor_path is not None else _Floor(Path(log_path).stem)
    runs = _collect(header, ticks, _stride(Path(log_path)))

    width, height = _figure_size(floor, runs)
    figure = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    legend: list[Any] = []
    _draw_floor(axes, floor, legend)
    _draw_robots(axes, runs, legend)
    axes.set_aspect("equal", adjustable="datalim")
    axes.set_xlabel("x (m)")
    axes.set_ylabel("y (m)")
    axes.grid(True, linewidth=0.3, alpha=0.5)
    axes.set_title(
        f"{floor.name}: {len(runs.ids)} robots, {runs.ticks} ticks, {runs.duration_s:.1f} s"
    )
    if legend:
        axes.legend(
            handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False
        )
    png = Path(png_path)
    figure.savefig(png, format="png")
    return png


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m sim.plot run.jsonl run.png [--floor floor.yaml]`."""
    parser = argparse.ArgumentParser(prog="python -m sim.plot", description=__doc__)
    parser.add_argument("log", help="trajectory log (JSON Lines)")
    parser.add_argument("png", help="picture to write")
    parser.add_argument("--floor", help="floor YAML (default: the map named in the log)")
    arguments = parser.parse_args(argv)
    plot_run(arguments.log, arguments.png, floor_yaml=arguments.floor)
    return 0


def _floor_path(
    log_path: Path, header: dict[str, Any], floor_yaml: str | os.PathLike[str] | None
) -> Path | None:
    if floor_yaml is not None:
        return Path(floor_yaml)
    named = header.get("map")
    if not isinstance(named, str) or not named:
        return None
    for candidate in (Path(named), log_path.parent / named):
        if candidate.is_file():
            return candidate
    _log.warning("floor %r named by %s not found; drawing trajectories only", named, log_path)
    return None


def _read_floor(path: Path) -> _Floor:
    with path.open(encoding="utf-8") as file:
        document = yaml.safe_load(file)
    if not isinstance(document, dict):
        raise ValueError(f"{path}: a floor is a mapping with outline, obstacles, zones")
    floor = _Floor(name=str(document.get("name") or path.stem))
    floor.outline = document.get("outline")
    for number, item in enumerate(document.get("obstacles") or []):
        floor.obstacles.append((str(item.get("id", number)), item["polygon"]))
    for number, item in enumerate(document.get("zones") or []):
        floor.zones.append((str(item.get("id", number)), str(item.get("kind")), item["polygon"]))
    for number, item in enumerate(document.get("stations") or []):
        pose = item.get("pose")
        if isinstance(pose, list) and len(pose) >= 2:
            station = (str(item.get("id", number)), str(item.get("kind")), pose[0], pose[1])
            floor.stations.append(station)
    return floor


def _stride(log_path: Path) -> int:
    with log_path.open(encoding="utf-8") as file:
        lines = sum(1 for _ in file) - 1
    return max(1, math.ceil(lines / MAX_POINTS_PER_ROBOT))


def _collect(header: dict[str, Any], ticks: Any, stride: int) -> _Trajectories:
    ids = [str(robot["id"]) for robot in header["robots"]]
    radii = [float(robot.get("radius", 0.0)) for robot in header["robots"]]
    index = {robot_id: i for i, robot_id in enumerate(ids)}
    rows: list[list[float]] = []
    first: dict[str, tuple[float, float]] = {}
    last: dict[str, tuple[float, float]] = {}
    count = 0
    start_t = end_t = 0.0
    for number, (t, poses) in enumerate(ticks):
        if number == 0:
            start_t = t
        end_t = t
        count += 1
        for robot_id, (x, y, _) in poses.items():
            if robot_id not in index:
                # An unlisted robot still gets drawn: the picture is for finding such things.
                index[robot_id] = len(ids)
                ids.append(robot_id)
                radii.append(0.0)
                for row in rows:
                    row.extend([math.nan, math.nan])
            first.setdefault(robot_id, (x, y))
            last[robot_id] = (x, y)
        if number % stride == 0:
            row = [math.nan] * (2 * len(ids))
            for robot_id, (x, y, _) in poses.items():
                row[2 * index[robot_id]] = x
                row[2 * index[robot_id] + 1] = y
            rows.append(row)
    xy = np.array(rows, dtype=np.float64).reshape(len(rows), len(ids), 2)
    return _Trajectories(ids, radii, xy, first, last, count, end_t - start_t)


def _figure_size(floor: _Floor, runs: _Trajectories) -> tuple[float, float]:
    points = [np.asarray(floor.outline, dtype=np.float64)] if floor.outline else []
    points.append(runs.xy.reshape(-1, 2))
    stacked = np.concatenate(points)
    finite = stacked[np.isfinite(stacked).all(axis=1)]
    if not len(finite):
        return 8.0, 6.0
    span_x, span_y = np.ptp(finite, axis=0)
    aspect = (span_y + 1.0) / (span_x + 1.0)
    return 10.0, float(min(12.0, max(3.0, 8.0 * aspect)))


def _draw_floor(axes: Axes, floor: _Floor, legend: list[Any]) -> None:
    if floor.outline:
        axes.add_patch(
            PolygonPatch(floor.outline, closed=True, fill=False, edgecolor="black", linewidth=1.2)
        )
    for _, polygon in floor.obstacles:
        axes.add_patch(
            PolygonPatch(polygon, closed=True, facecolor="0.6", edgecolor="0.35", linewidth=0.5)
        )
    if floor.obstacles:
        legend.append(Patch(facecolor="0.6", edgecolor="0.35", label="obstacle"))
    kinds_drawn: list[str] = []
    for _, kind, polygon in floor.zones:
        style = _ZONE_STYLES.get(kind, _OTHER_ZONE)
        axes.add_patch(PolygonPatch(polygon, closed=True, linewidth=0.8, **style))
        if kind not in kinds_drawn:
            kinds_drawn.append(kind)
            legend.append(Patch(label=kind.replace("_", " "), **style))
    station_kinds: list[str] = []
    for station_id, kind, x, y in floor.stations:
        marker, colour = _STATION_MARKERS.get(kind, _OTHER_STATION)
        axes.plot([x], [y], marker=marker, color=colour, markersize=7, linestyle="none", zorder=4)
        axes.annotate(
            station_id, (x, y), xytext=(4, 4), textcoords="offset points", fontsize=5, zorder=5
        )
        if kind not in station_kinds:
            station_kinds.append(kind)
            legend.append(Line2D([], [], marker=marker, color=colour, linestyle="none", label=kind))
    if floor.outline or floor.obstacles or floor.zones or floor.stations:
        axes.autoscale_view()


def _draw_robots(axes: Axes, runs: _Trajectories, legend: list[Any]) -> None:
    count = len(runs.ids)
    palette = colormaps["tab20" if count <= 20 else "turbo"]
    for i, robot_id in enumerate(runs.ids):
        colour = palette(i / max(1, count - 1)) if count > 20 else palette(i % 20)
        axes.plot(runs.xy[:, i, 0], runs.xy[:, i, 1], color=colour, linewidth=0.9, zorder=3)
        if robot_id in runs.first:
            x0, y0 = runs.first[robot_id]
            x1, y1 = runs.last[robot_id]
            axes.plot([x0], [y0], marker="o", color=colour, markersize=5, zorder=6)
            axes.plot(
                [x1],
                [y1],
                marker="s",
                markerfacecolor="white",
                color=colour,
                markersize=5,
                zorder=6,
            )
        if count <= _ROBOT_LEGEND_LIMIT:
            legend.append(Line2D([], [], color=colour, label=robot_id))
    if runs.first:
        legend.append(Line2D([], [], marker="o", color="0.3", linestyle="none", label="start"))
        legend.append(
            Line2D(
                [],
                [],
                marker="s",
                markerfacecolor="white",
                color="0.3",
                linestyle="none",
                label="end",
            )
        )
    axes.autoscale_view()


if __name__ == "__main__":
    sys.exit(main())
