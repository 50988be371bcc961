"""Which planner drives the fleet: windowed PIBT (as `fleet lifelong` runs it) or the
coordinator's compiled SIPP, measured on the plant floor at one fleet size.

    python -m bench.planner_choice [--robots 1000] [--steps 600] [--hours 0.05] [--seed 1]

Both plan on the planning grid of `maps/warehouse.yaml` (1 m cells, one-way aisles honoured),
for the same number of robots, in one run:

- **PIBT** (`fleet.planning.mapf.run_lifelong`): every agent gets one move per planning step,
  planned again for the whole fleet each step; agents start on the parking places (as the
  simulated fleet does) and work through tasks of two errands each, a pickup or buffer
  station then a dropoff or weld cell, drawn like `bench.fleet_scale`'s missions; no delays,
  no turning (the coordinator's robots drive in any direction).
- **SIPP** in the coordinator (`bench.fleet_scale`'s simulated run, seed and offered load
  alike): each 0.5 s control step plans only the robots with a new goal (or whose plan was
  cut), against the reservations of everyone else's.

Printed for each: planning CPU per step (p50 / p99 / max; for SIPP the sum of its searches
in that control step), and the work each planned. The two do not plan the same thing:
PIBT's step is one cell move of every agent with no look-ahead, and what it plans carries
none of execution's guarantees (robots of different footprints and top speeds, released
cells committed, speed zones by time); SIPP plans each robot's whole way to its goal once.
The table says what a fleet pays per step for each at this size; the choice and its reasons
are in the README.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from pathlib import Path

import numpy as np

from fleet.floor import StationKind, load_floor, rasterize
from fleet.planning.mapf import run_lifelong
from fleet.planning.mapf.lorr import LorrProblem
from fleet.traffic import PathSearch

ROOT = Path(__file__).resolve().parent.parent
FLOOR = ROOT / "maps" / "warehouse.yaml"


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values) or [0.0]
    return (ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            ordered[-1])


def lifelong_problem(robots: int, tasks_per_robot: int, seed: int) -> LorrProblem:
    """The warehouse floor as a lifelong problem: starts on the parking places (then the
    chargers), tasks from a pickup or buffer to a dropoff or weld cell."""
    floor = load_floor(FLOOR)
    grid = rasterize(floor)
    free = np.array(grid.free)

    def cells(kinds: tuple[StationKind, ...]) -> list[tuple[int, int]]:
        out = []
        for s in floor.stations.values():
            if s.kind in kinds:
                cell = grid.cell_of(s.pose.x, s.pose.y)
                if free[cell]:
                    out.append(cell)
        return out

    homes = cells((StationKind.PARKING,)) + cells((StationKind.CHARGER,))
    if robots > len(homes):
        raise SystemExit(f"the floor has {len(homes)} places to start from, not {robots}")
    sources = cells((StationKind.PICKUP, StationKind.BUFFER))
    sinks = cells((StationKind.DROPOFF, StationKind.WELD_CELL))
    rng = random.Random(seed)
    tasks = [np.array([rng.choice(sources), rng.choice(sinks)], dtype=np.int64)
             for _ in range(robots * tasks_per_robot)]
    return LorrProblem(name=f"warehouse-{robots}", free=free,
                       starts=np.array(homes[:robots], dtype=np.int64), tasks=tasks,
                       tasks_reveal=1.0, delay=None,
                       forbidden_moves=(np.array(grid.forbidden_moves)
                                        if grid.forbidden_moves.any() else None))


def sipp_step_times(robots: int, hours: float, seed: int) -> tuple[list[float], int, object]:
    """Per control step, the CPU of its SIPP searches (the coordinator's own simulated run)."""
    import bench.fleet_scale as scale
    import fleet.traffic.controller as controller
    from fleet.coordinator import Coordinator

    search = controller.plan_sipp
    spent = [0.0]
    per_step: list[float] = []
    searches = [0]

    def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
        began = time.thread_time()
        try:
            return search(*args, **kwargs)
        finally:
            spent[0] += time.thread_time() - began
            searches[0] += 1

    step = Coordinator.step

    def counted(self: Coordinator) -> None:
        spent[0] = 0.0
        try:
            step(self)
        finally:
            per_step.append(spent[0])

    controller.plan_sipp = timed  # type: ignore[assignment]
    Coordinator.step = counted  # type: ignore[method-assign]
    try:
        row = asyncio.run(scale._run(robots, hours, seed, PathSearch.SIPP))
    finally:
        controller.plan_sipp = search  # type: ignore[assignment]
        Coordinator.step = step  # type: ignore[method-assign]
    return per_step, searches[0], row


def main() -> None:
    """Run both and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--robots", type=int, default=1000)
    p.add_argument("--steps", type=int, default=600, help="PIBT planning steps")
    p.add_argument("--hours", type=float, default=0.05, help="SIPP: simulated hours")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()

    problem = lifelong_problem(args.robots, 4, args.seed)
    began = time.process_time()
    stats = run_lifelong(problem, args.steps, seed=args.seed, delays=False, rotations=False)
    pibt_cpu = time.process_time() - began
    sipp, searches, row = sipp_step_times(args.robots, args.hours, args.seed)
    ms = lambda q: " / ".join(f"{1000 * v:.1f}" for v in q)  # noqa: E731
    print(f"\nwarehouse floor, {args.robots} robots, seed {args.seed}")
    print("| planner | planning CPU per step p50 / p99 / max ms | steps | what was planned "
          "| collisions |")
    print("|---|---|---|---|---|")
    pibt = (stats.plan_time_p50_s, stats.plan_time_p99_s, stats.plan_time_max_s)
    print(f"| PIBT, every agent every step | {ms(pibt)} | {stats.steps} | "
          f"{stats.tasks_finished} tasks of 2 errands ({pibt_cpu:.0f} s CPU in all) | "
          f"{stats.collisions} |")
    print(f"| compiled SIPP, robots with a new goal | {ms(_quantiles(sipp))} | {len(sipp)} | "
          f"{searches} searches, {sum(sipp):.1f} s CPU; {row.missions[0]} missions done "  # type: ignore[attr-defined]
          f"| {row.collisions} |")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
