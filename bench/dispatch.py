"""Dispatch benchmark: the mixed-flow line, optimizer against greedy, and CP-SAT's optimum.

    python -m bench.dispatch [--variants 36] [--seeds 0 1] [--quick]

Three measurements, all on the example plant and the same scenarios and seeds:

1. The line in the simulator (robots, traffic and the coordinator over gRPC, as `fleet sim`):
   the optimizing dispatcher against the greedy nearest-free-robot baseline. Makespan (first
   release to last part assembled), total tardiness, parts per hour, robot utilization.
2. Small instances in the traffic-free model (`bench.abstract`), where CP-SAT finds the
   optimum makespan: the optimality gap of each dispatcher.
3. Re-optimizing 200 ready tasks over 50 robots on the plant: milliseconds per call.

Needs the `bench` extra (OR-Tools); see pyproject.toml for why it is installed apart.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.abstract import simulate, solve_cpsat
from bench.line import Line, make_line, to_wire
from fleet.coordinator import Coordinator, ManualClock
from fleet.dispatch import (
    Candidate,
    Dispatcher,
    GridTravel,
    Job,
    NearestDispatcher,
    OptimalDispatcher,
)
from fleet.floor import FloorMap, StationKind, load_floor, rasterize
from fleet.model import RobotKind, RobotSpec, Task, TaskKind, TransportCapability
from fleet.planning import DistanceTables

ROOT = Path(__file__).resolve().parent.parent
PLANT = ROOT / "maps" / "plant.yaml"


@dataclass(frozen=True, slots=True)
class Row:
    """One run's numbers."""

    scenario: str
    seed: int
    dispatcher: str
    makespan_s: float
    tardiness_s: float
    parts_per_hour: float
    utilization: float
    completed: int
    total: int
    gap: float = math.nan


def contestants() -> list[tuple[str, Dispatcher]]:
    return [("optimal", OptimalDispatcher()), ("greedy", NearestDispatcher())]


async def _run_line(floor: FloorMap, line: Line, dispatcher: Dispatcher, seed: int,
                    time_limit_s: float) -> tuple[Coordinator, float]:
    from fleet.api import create_server
    from fleet.store import open_store
    from sim.runner import SimOptions, run_simulation
    from sim.scenario import Scenario

    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        coordinator = Coordinator(floor, open_store(str(Path(tmp) / "fleet.db")),
                                  ManualClock(), dispatcher=dispatcher)
        server = create_server(coordinator, "127.0.0.1:0")
        await server.start()
        try:
            scenario = Scenario(line.robots, tuple((0.5, to_wire(m)) for m in line.missions))
            options = SimOptions(target=f"127.0.0.1:{server.port}", map_path=str(PLANT),
                                 log_path=str(Path(tmp) / "run.jsonl"),
                                 time_limit_s=time_limit_s, seed=seed)
            result = await run_simulation(floor, scenario, options)
        finally:
            await server.stop(0.5)
            coordinator.store.close()
    if result.check is not None and not result.check.ok:
        print(f"  warning: {len(result.check.collisions)} collisions in the trajectory log: "
              f"{result.check.collisions[:3]}", file=sys.stderr)
    return coordinator, result.utilization


def line_row(floor: FloorMap, line: Line, name: str, dispatcher: Dispatcher, seed: int,
             time_limit_s: float) -> Row:
    """Run the line in the simulator and measure it."""
    coordinator, utilization = asyncio.run(_run_line(floor, line, dispatcher, seed,
                                                     time_limit_s))
    finished = [r for r in coordinator.missions.values() if r.state.value == "completed"]
    makespan = max((r.finished_s for r in finished), default=0.0)
    tardiness = sum(max(0.0, r.finished_s - (r.mission.deadline_s or math.inf))
                    for r in finished)
    return Row("line (sim)", seed, name, makespan, tardiness,
               3600.0 * len(finished) / makespan if makespan else 0.0, utilization,
               len(finished), len(coordinator.missions))


def grid_travel(floor: FloorMap) -> tuple[GridTravel, dict[str, tuple[int, int]]]:
    grid = rasterize(floor)
    cells = {s.id: grid.cell_of(s.pose.x, s.pose.y) for s in floor.stations.values()}
    chargers = [s.id for s in floor.stations.values() if s.kind is StationKind.CHARGER]
    return GridTravel(DistanceTables(grid.free, 4), cells, chargers, floor.resolution_m), cells


def small_rows(floor: FloorMap, seeds: list[int], variants: int, time_limit_s: float
               ) -> list[Row]:
    """Small instances in the traffic-free model, with CP-SAT's optimum and the gaps."""
    travel, cells = grid_travel(floor)
    rows = []
    for seed in seeds:
        line = make_line(floor, variants=variants, agvs=2, mobile_welders=1, fixed_welders=1,
                         takt_s=30, lead_time_s=900, seed=seed)
        best, proven = solve_cpsat(floor, line, travel, time_limit_s)
        for name, dispatcher in contestants():
            out = simulate(floor, line, dispatcher, travel, cells)
            rows.append(Row(f"small x{variants} (model)", seed, name, out.makespan_s,
                            out.tardiness_s, out.parts_per_hour, out.utilization,
                            out.completed, len(line.missions),
                            out.makespan_s / best - 1.0 if best > 0 else math.nan))
        rows.append(Row(f"small x{variants} (model)", seed,
                        "cp-sat" + ("" if proven else " (not proven)"), best, math.nan,
                        3600.0 * len(line.missions) / best, math.nan, len(line.missions),
                        len(line.missions), 0.0))
    return rows


def model_rows(floor: FloorMap, seeds: list[int], variants: int) -> list[Row]:
    """The line in the traffic-free model (fast; no CP-SAT at this size)."""
    travel, cells = grid_travel(floor)
    rows = []
    for seed in seeds:
        line = _line(floor, variants, seed)
        for name, dispatcher in contestants():
            out = simulate(floor, line, dispatcher, travel, cells)
            rows.append(Row("line (model)", seed, name, out.makespan_s, out.tardiness_s,
                            out.parts_per_hour, out.utilization, out.completed,
                            len(line.missions)))
    return rows


def _line(floor: FloorMap, variants: int, seed: int) -> Line:
    return make_line(floor, variants=variants, agvs=8, mobile_welders=3, fixed_welders=2,
                     takt_s=30, lead_time_s=1200, seed=seed)


def reoptimize_ms(floor: FloorMap, tasks: int = 200, robots: int = 50, repeats: int = 20
                  ) -> tuple[float, float]:
    """Median and worst milliseconds for one assignment of `tasks` ready tasks to `robots`."""
    travel, cells = grid_travel(floor)
    rng = random.Random(0)
    kinds = {s.id: s.kind for s in floor.stations.values()}
    sources = [s for s, k in kinds.items() if k in (StationKind.PICKUP, StationKind.WELD_CELL)]
    sinks = [s for s, k in kinds.items() if k is StationKind.DROPOFF]
    free = [c for c in cells.values()]
    jobs = []
    for i in range(tasks):
        task = Task(f"t{i}", TaskKind.TRANSPORT, pickup=rng.choice(sources),
                    dropoff=rng.choice(sinks), load_id=f"l{i}", mass_kg=rng.uniform(50, 900))
        jobs.append(Job(f"m{i}", task, rng.choice((0, 0, 1)), rng.uniform(600, 3600), i,
                        task.pickup, 0.0, rng.uniform(0, 600)))
    fleet = [Candidate(RobotSpec(f"r{j}", RobotKind.AGV, 0.45, 1.2,
                                 transport=TransportCapability(1000)), "", rng.choice(free),
                       rng.choice((0.0, 0.0, 30.0)), rng.uniform(0.4, 1.0))
             for j in range(robots)]
    dispatcher = OptimalDispatcher()
    dispatcher.assign(jobs, fleet, 0.0, travel)  # distance tables cached, as in service
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        dispatcher.assign(jobs, fleet, 0.0, travel)
        times.append(1000.0 * (time.perf_counter() - start))
    return statistics.median(times), max(times)


def table(rows: list[Row]) -> str:
    head = (f"{'scenario':<22} {'seed':>4} {'dispatcher':<20} {'makespan s':>10} "
            f"{'tardiness s':>11} {'parts/h':>7} {'util %':>6} {'done':>7} {'gap %':>6}")
    lines = [head, "-" * len(head)]
    for r in rows:
        def fmt(v: float, spec: str) -> str:
            return format(v, spec) if math.isfinite(v) else "-"
        lines.append(f"{r.scenario:<22} {r.seed:>4} {r.dispatcher:<20} "
                     f"{fmt(r.makespan_s, '10.0f')} {fmt(r.tardiness_s, '11.0f')} "
                     f"{fmt(r.parts_per_hour, '7.1f')} {fmt(100 * r.utilization, '6.1f')} "
                     f"{r.completed:>3}/{r.total:<3} {fmt(100 * r.gap, '6.1f')}")
    return "\n".join(lines)


def summary(rows: list[Row], scenario: str, target: str = "") -> str:
    """Mean makespans of both dispatchers on a scenario, and the gain per seed."""
    mine = {r.seed: r for r in rows if r.scenario == scenario and r.dispatcher == "optimal"}
    base = {r.seed: r for r in rows if r.scenario == scenario and r.dispatcher == "greedy"}
    if not mine or not base:
        return ""
    m = statistics.mean(r.makespan_s for r in mine.values())
    b = statistics.mean(r.makespan_s for r in base.values())
    seeds = ", ".join(f"seed {s} {100 * (1 - mine[s].makespan_s / base[s].makespan_s):+.1f} %"
                      for s in sorted(mine) if s in base)
    return (f"{scenario}: mean makespan optimal {m:.0f} s, greedy {b:.0f} s: "
            f"{100 * (1 - m / b):+.1f} %{target} ({seeds})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.dispatch", description=__doc__.splitlines()[0])
    p.add_argument("--variants", type=int, default=36, help="product variants on the line")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--small-variants", type=int, default=3)
    p.add_argument("--small-seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4],
                   help="seeds of the small CP-SAT instances (none: skip them)")
    p.add_argument("--cpsat-time", type=float, default=60.0, help="CP-SAT limit per instance")
    p.add_argument("--quick", action="store_true", help="skip the simulator runs")
    p.add_argument("--time-limit", type=float, default=4 * 3600.0,
                   help="simulated seconds per line run at most")
    p.add_argument("--no-reopt", action="store_true", help="skip the re-optimization timing")
    args = p.parse_args(argv)
    floor = load_floor(PLANT)
    rows: list[Row] = []
    if not args.quick:
        for seed in args.seeds:
            line = _line(floor, args.variants, seed)
            for name, dispatcher in contestants():
                start = time.perf_counter()
                rows.append(line_row(floor, line, name, dispatcher, seed, args.time_limit))
                print(f"  {table(rows[-1:]).splitlines()[-1]}   "
                      f"({time.perf_counter() - start:.0f} s wall)", file=sys.stderr)
    rows += model_rows(floor, args.seeds, args.variants)
    rows += small_rows(floor, args.small_seeds, args.small_variants, args.cpsat_time)
    print(table(rows))
    print()
    for scenario, target in (("line (sim)", " (target >= +15 %)"),
                             ("line (model)", ", without traffic or staging")):
        text = summary(rows, scenario, target)
        if text:
            print(text)
    gaps = [r.gap for r in rows if r.dispatcher == "optimal" and math.isfinite(r.gap)]
    if gaps:
        print(f"small instances: optimal's gap to CP-SAT mean {100 * statistics.mean(gaps):.1f} "
              f"%, worst {100 * max(gaps):.1f} % (target <= 10 %)")
    if args.no_reopt:
        return 0
    median, worst = reoptimize_ms(floor)
    print(f"re-optimizing 200 tasks over 50 robots: median {median:.1f} ms, worst "
          f"{worst:.1f} ms (target < 100 ms)")
    return 0


if __name__ == "__main__":
    _ = np
    sys.exit(main())
