"""Plant-scale benchmark: the coordinator driving hundreds to thousands of robots.

    python -m bench.fleet_scale [--robots 50 200 500 1000] [--hours 1.0] [--seed 1]

Simulated clock, on the plant-scale floor (`maps/warehouse.yaml`): `fleet sim`'s robots over
loopback gRPC in lockstep with the coordinator (exactly what `fleet sim` runs), with a steady
stream of transport and weld missions, about as many as the fleet can do. For each fleet
size: the control step's CPU time (p50, p99, max; the coordinator's worker thread, so the
simulated robots' own work is not counted), tasks finished per simulated hour, wall and CPU
time per simulated hour, and collisions, obstacle hits, speed violations and drives against
a one-way aisle from the independent checker (`sim.check`) on the trajectory log. The
check runs on the log after the run, as `python -m sim.check` would, and its time is a
column of its own: wall and CPU time are the run's.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fleet.coordinator import Coordinator, CoordinatorConfig, ManualClock
from fleet.floor import load_floor
from fleet.model import EventKind
from fleet.traffic import PathSearch

ROOT = Path(__file__).resolve().parent.parent
FLOOR = ROOT / "maps" / "warehouse.yaml"
MISSIONS_PER_ROBOT_HOUR = 8.0
"""Offered load: a mission takes a robot about 5-8 minutes on this floor (drive across,
handling, the weld where there is one)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One fleet size's figures."""

    robots: int
    search: str
    sim_s: float
    step_cpu_ms: tuple[float, float, float]
    steps: int
    tasks_per_hour: float
    wall_per_hour_s: float
    cpu_per_hour_s: float
    step_cpu_per_hour_s: float
    """The control steps' share of `cpu_per_hour_s` (the rest: simulated robots, gRPC,
    trajectory log)."""
    check_per_hour_s: float
    max_rss_mb: float
    missions: tuple[int, int]
    collisions: int
    obstacle_hits: int
    speed_violations: int
    one_way_violations: int


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def _run(robots: int, hours: float, seed: int, search: PathSearch) -> Row:
    from fleet.api import create_server
    from fleet.planning import warm_up
    from fleet.store import open_store
    from sim.check import check_log
    from sim.runner import SimOptions, run_simulation
    from sim.scenario import Scenario, make_fleet, make_missions

    warm_up()
    floor = load_floor(FLOOR)
    rng = random.Random(seed)
    fleet = make_fleet(floor, robots, rng)
    count = max(1, round(MISSIONS_PER_ROBOT_HOUR * robots * hours))
    missions = make_missions(floor, count, rng, spacing_s=3600.0 * hours / count)
    with tempfile.TemporaryDirectory(prefix="fleet-scale-") as tmp:
        coordinator = Coordinator(floor, open_store(str(Path(tmp) / "fleet.db")),
                                  ManualClock(), config=CoordinatorConfig(path_search=search))
        server = create_server(coordinator, "127.0.0.1:0")
        await server.start()
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            options = SimOptions(target=f"127.0.0.1:{server.port}", map_path=str(FLOOR),
                                 log_path=str(Path(tmp) / "run.jsonl"),
                                 time_limit_s=3600.0 * hours, seed=seed, check=False)
            result = await run_simulation(floor, Scenario(tuple(fleet), tuple(missions)),
                                          options)
        finally:
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            await server.stop(0.5)
            events = coordinator.store.events()
            coordinator.store.close()
        # The independent check reads the log afterwards, as `python -m sim.check` would:
        # timed apart, it is not part of running the fleet.
        checked = time.perf_counter()
        check = check_log(options.log_path or "", map_path=options.map_path)
        checked = time.perf_counter() - checked
    steps = [c for _, c in coordinator.step_times]
    sim_s = max(result.sim_time_s, 1e-9)
    done = sum(e.kind is EventKind.TASK_DONE for e in events)
    return Row(robots, search.value, sim_s,
               tuple(1000 * _quantile(steps, q) for q in (0.5, 0.99, 1.0)),  # type: ignore[arg-type]
               len(steps), 3600.0 * done / sim_s, 3600.0 * wall / sim_s, 3600.0 * cpu / sim_s,
               3600.0 * sum(steps) / sim_s, 3600.0 * checked / sim_s,
               resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               (result.completed, result.submitted),
               len(check.collisions), len(check.obstacle_hits), len(check.speed_violations),
               len(check.one_way_violations))


def main() -> None:
    """Run the fleet sizes asked for and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--robots", type=int, nargs="+", default=[50, 200, 500, 1000])
    p.add_argument("--hours", type=float, default=1.0, help="simulated hours per run")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--old-up-to", type=int, default=200, metavar="ROBOTS",
                   help="run the old planner (the Python space-time A*) beside the new one "
                   "up to this many robots (above, it falls far behind real time)")
    args = p.parse_args()
    rows = []
    for n in args.robots:
        searches = [PathSearch.SIPP] + ([PathSearch.SPACETIME_ASTAR]
                                        if n <= args.old_up_to else [])
        for search in searches:
            row = asyncio.run(_run(n, args.hours, args.seed, search))
            rows.append(row)
            print(f"  {n} robots, {search.value}: {row}", flush=True)
    print(f"\nwarehouse floor, simulated clock, {args.hours:g} simulated hours, seed {args.seed}")
    print("| robots | path search | step CPU p50 / p99 / max ms | steps | tasks per sim. hour "
          "| wall per sim. hour | CPU per sim. hour (steps) | check per sim. hour | max RSS "
          "| missions done | collisions, obstacle hits, speed violations, one-way violations |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        p50, p99, top = r.step_cpu_ms
        print(f"| {r.robots} | {r.search} | {p50:.0f} / {p99:.0f} / {top:.0f} | {r.steps} | "
              f"{r.tasks_per_hour:.0f} | {r.wall_per_hour_s:.0f} s | {r.cpu_per_hour_s:.0f} s "
              f"({r.step_cpu_per_hour_s:.0f} s) | "
              f"{r.check_per_hour_s:.0f} s | "
              f"{r.max_rss_mb:.0f} MB | {r.missions[0]} of {r.missions[1]} | "
              f"{r.collisions}, {r.obstacle_hits}, {r.speed_violations}, "
              f"{r.one_way_violations} |")


if __name__ == "__main__":
    main()
