"""Pictures of production runs: a Gantt chart of stations and robots, and fleet-sizing curves.

Drawn with matplotlib's object API on the Agg canvas (no display, no pyplot state), from the
figures `fleet.production.line_figures` works out; nothing here computes a figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from fleet.production.figures import ActivityKind, LineFigures

__all__ = ["plot_gantt", "plot_sizing"]

_COLORS = {
    ActivityKind.TRANSPORT: "tab:blue",
    ActivityKind.WELD: "tab:orange",
    ActivityKind.PROCESS: "tab:green",
    ActivityKind.WAITING: "lightgray",
}


def _row_key(row: str) -> tuple[int, str]:
    """Robots first, then stations, each in natural order (weld-2 before weld-10)."""
    robot = row.startswith(("agv-", "welder-", "fixed-"))
    head = row.rstrip("0123456789")
    tail = row[len(head):]
    return (0 if robot else 1, f"{head}{int(tail):06d}" if tail else row)


def plot_gantt(figures: LineFigures, path: str, title: str = "") -> None:
    """Write a Gantt chart (PNG) of every robot's tasks and every station's parts."""
    rows = sorted({a.row for a in figures.activities}, key=_row_key)
    index = {r: i for i, r in enumerate(rows)}
    fig = Figure(figsize=(14, max(4.0, 0.28 * len(rows) + 1.5)), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for kind in ActivityKind:
        spans: dict[str, list[tuple[float, float]]] = {}
        for a in figures.activities:
            if a.kind is kind and a.end_s > a.start_s:
                spans.setdefault(a.row, []).append((a.start_s, a.end_s - a.start_s))
        for row, bars in spans.items():
            # Waiting parts overlap at a station: thinner bars, drawn first, underneath.
            height = 0.4 if kind is ActivityKind.WAITING else 0.8
            ax.broken_barh(bars, (index[row] - height / 2, height), facecolors=_COLORS[kind],
                           edgecolor="none", alpha=0.9)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("time, s (coordinator clock)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title or f"{figures.completed} of {figures.released} units, takt "
                 f"{figures.takt_s:.0f} s, achieved {figures.takt_achieved_s:.0f} s")
    ax.legend(handles=[Patch(color=c, label=k.value) for k, c in _COLORS.items()],
              loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def plot_sizing(points: Sequence[tuple[int, int, Sequence[float]]], takt_s: float,
                path: str, title: str = "", tolerance: float = 0.05) -> None:
    """Takt achieved against the number of AGVs, one line per number of welders, with the
    spread over seeds (min to max) as error bars. `points`: (agvs, welders, takt per seed)."""
    fig = Figure(figsize=(9, 5.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for welders in sorted({w for _, w, _ in points}):
        row = sorted((a, [v for v in vals if math.isfinite(v)]) for a, w, vals in points
                     if w == welders)
        row = [(a, v) for a, v in row if v]
        if not row:
            continue
        xs = [a for a, _ in row]
        mean = [sum(v) / len(v) for _, v in row]
        low = [m - min(v) for m, (_, v) in zip(mean, row, strict=True)]
        high = [max(v) - m for m, (_, v) in zip(mean, row, strict=True)]
        ax.errorbar(xs, mean, yerr=[low, high], marker="o", capsize=3,
                    label=f"{welders} welders")
    ax.axhline(takt_s, color="black", linestyle="--", label=f"takt {takt_s:.0f} s")
    ax.axhspan(takt_s, takt_s * (1 + tolerance), color="tab:green", alpha=0.12,
               label=f"holds (within {100 * tolerance:.0f} %)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("AGVs")
    ax.set_ylabel("takt achieved, s (lower is better)")
    ax.set_title(title or "fleet sizing: takt achieved (mean, min-max over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
