"""Writes maps/warehouse.yaml, the plant-scale floor: `python -m bench.warehouse_floor`.

A 300 m x 200 m floor of rack islands on a 1 m grid, for simulations of hundreds to thousands
of robots. Every island is three cells deep and 39 long: a solid rack, or an island of
one-cell alcoves (a spine along its middle, 0.08 m dividers every 2 m from end to end)
that hold stations: parking places near the north and south walls, charger islands beside
them, and work islands (pickups, dropoffs, buffers, weld cells) in the middle rows. Aisles
between islands are two cells wide, the aisle around them four; the aisles in front of the
work islands are speed-limited. The long aisles between island rows are one-way, east and
west by turns (as AGV plants lay out their traffic); the cross aisles between island columns
and the aisle around are two-way, so every cell stays reachable from every other (a test
checks the planning grid is strongly connected). Obstacle edges run along cell-centre lines
and dividers are 0.08 m plates on centre lines, so each obstacle blocks exactly the cells
under it (see fleet.floor).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

WIDTH, HEIGHT = 300, 200
ISLAND_LEN = 38
"""Columns from an island's first to its last (it spans ISLAND_LEN + 1 cells)."""
X_STARTS = [7 + 41 * k for k in range(7)]
Y_STARTS = [5 + 5 * k for k in range(38)]
PARKING_ROWS = {0, 1, 36, 37}
CHARGER_ISLANDS = {(2, 1), (2, 5), (35, 1), (35, 5)}
WORK_ISLANDS = {(row, col) for row in (8, 15, 22, 29) for col in (1, 3, 5)}
WORK_KINDS = ("pickup", "dropoff", "buffer", "weld_cell")

OUT = Path(__file__).resolve().parent.parent / "maps" / "warehouse.yaml"


def _box(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"[[{x0:g}, {y0:g}], [{x1:g}, {y0:g}], [{x1:g}, {y1:g}], [{x0:g}, {y1:g}]]"


def floor_yaml() -> str:
    """The floor as YAML text."""
    obstacles: list[str] = []
    stations: list[str] = []
    zones: list[str] = []
    counts = {"parking": 0, "charger": 0, "pickup": 0, "dropoff": 0, "buffer": 0,
              "weld_cell": 0}
    for row, r0 in enumerate(Y_STARTS):
        for col, a in enumerate(X_STARTS):
            b = a + ISLAND_LEN
            name = f"island-{row:02d}-{col}"
            if row in PARKING_ROWS:
                kinds = ["parking"]
            elif (row, col) in CHARGER_ISLANDS:
                kinds = ["charger"]
            elif (row, col) in WORK_ISLANDS:
                kinds = list(WORK_KINDS)
            else:
                obstacles.append(f"  - {{id: {name}, label: \"rack\", polygon: "
                                 f"{_box(a + 0.5, r0 + 0.5, b + 0.5, r0 + 2.5)}}}")
                continue
            # Alcove island: a spine, dividers every 2 m from end to end; alcoves at a+1,
            # a+3, ... b-1 on both sides.
            obstacles.append(f"  - {{id: {name}-spine, label: \"bay divider\", polygon: "
                             f"{_box(a + 0.5, r0 + 1.46, b + 0.5, r0 + 1.54)}}}")
            for d in range(a, b + 1, 2):
                obstacles.append(f"  - {{id: {name}-d{d}, label: \"bay divider\", polygon: "
                                 f"{_box(d + 0.46, r0 + 0.5, d + 0.54, r0 + 2.5)}}}")
            k = 0
            for y, theta in ((r0 + 0.5, -1.5708), (r0 + 2.5, 1.5708)):
                for c in range(a + 1, b, 2):
                    kind = kinds[k % len(kinds)]
                    k += 1
                    counts[kind] += 1
                    prefix = {"weld_cell": "weld", "parking": "park"}.get(kind, kind)
                    extra = ", capacity: 4" if kind == "buffer" else ""
                    stations.append(f"  - {{id: {prefix}-{counts[kind]:04d}, kind: {kind}, "
                                    f"pose: [{c + 0.5:g}, {y:g}, {theta}], area: {name}"
                                    f"{extra}}}")
            if kinds == list(WORK_KINDS):
                # People work at these islands: slow in the aisles on both sides.
                zones.append(f"  - {{id: {name}-slow, kind: speed_limit, speed_limit_mps: 0.5,"
                             f" polygon: {_box(a - 1, r0 - 2, b + 2, r0 + 5)}}}")
    # One-way long aisles between island rows, eastbound and westbound by turns, from the
    # first island column's west end to the last one's east end (crossings included).
    x0, x1 = X_STARTS[0], X_STARTS[-1] + ISLAND_LEN + 1
    for k, (lower, upper) in enumerate(itertools.pairwise(Y_STARTS)):
        direction = "+x" if k % 2 == 0 else "-x"
        zones.append(f"  - {{id: aisle-{k:02d}-{k + 1:02d}, kind: one_way, direction: "
                     f"\"{direction}\", polygon: {_box(x0, lower + 3, x1, upper)}}}")
    work = sum(counts[k] for k in WORK_KINDS)
    header = f"""# A plant-scale floor, {WIDTH} m x {HEIGHT} m, for simulations of hundreds to
# thousands of robots. Written by `python -m bench.warehouse_floor`: change the script, not
# this file.
#
# {len(Y_STARTS)} rows of {len(X_STARTS)} rack islands, 3 m deep and 39 m long, with 2 m aisles
# between them and a 4 m aisle around; parking islands near the north and south walls,
# charger islands beside them, work islands (pickups, dropoffs, buffers, weld cells) in the
# middle rows with speed-limited aisles. The {len(Y_STARTS) - 1} long aisles between island rows are
# one-way, eastbound and westbound by turns (the southmost eastbound); cross aisles and the
# aisle around are two-way. {counts['parking']} parking places, {counts['charger']} chargers,
# {work} work stations.
name: warehouse
grid: {{resolution_m: 1, robot_radius_m: 0.45}}
outline: {_box(0, 0, WIDTH, HEIGHT)}
"""
    return (header + "\nobstacles:\n" + "\n".join(obstacles) + "\n\nzones:\n"
            + "\n".join(zones) + "\n\nstations:\n" + "\n".join(stations) + "\n")


def main() -> None:
    """Write the floor (to --out, default maps/warehouse.yaml)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    args.out.write_text(floor_yaml(), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
