"""Dispatch benchmark: greedy, the Hungarian optimizer and the schedule optimizer on the
mixed-flow line, against CP-SAT's optimum and bound, on a training and an evaluation set.

    python -m bench.dispatch [--split training evaluation] [--quick] [--no-large]

Measurements, all on the example plant:

1. The line (36 variants, 13 robots) in the simulator (robots, traffic and the coordinator
   over gRPC, as `fleet sim`): makespan (first release to last part assembled), tardiness,
   parts per hour, robot utilization; and the same line in the traffic-free model
   (`bench.abstract`).
2. Small instances (3 variants, 4 robots) in the traffic-free model, where CP-SAT proves the
   optimum makespan: each dispatcher's gap to it.
3. Larger instances (10 variants, 6 robots): each dispatcher's gap to CP-SAT's best lower
   bound after `--cpsat-large-time` seconds (and CP-SAT's own best schedule).
4. Re-optimizing 200 ready tasks over 50 robots: wall and CPU milliseconds per round.

Seeds. The schedule optimizer's parameters (`ScheduleDispatcher`: iterations, destroy size,
mean weight, horizon, speed factor) were chosen on the TRAINING set only (line seeds 0-9,
small-instance seeds 0-19, large seeds 0-1): a handful of settings tried, the one with the
best mean makespan gain kept (see the README's dispatch section). The EVALUATION set (line
seeds 101 and 102, small instances 201-208, large 201-202) was run once, with the parameters
fixed. Both are printed, apart.

Design changes follow the same split: the simulator rules (`stage_parts`, `delay_lookahead`,
the learnt pace, `ties_early`) were found by comparing planned and observed times on
training line seed 0 and checked on training seeds 0-2 before the evaluation set was run
once. In the model the schedule contestant keeps the model's (and CP-SAT's) rules:
`stage_parts` and `delay_lookahead` off, top speed; and `ties_early` off, chosen on the
training small instances (on seed 12 the tie-break gave 855 s against 764 s without it and
CP-SAT's 764 s; the others were equal): in the model plans are carried out exactly, so
nothing drifts.

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

from bench.abstract import simulate, solve_cpsat, solve_cpsat_bound
from bench.line import Line, make_line, to_wire
from fleet.coordinator import Coordinator, ManualClock
from fleet.dispatch import (
    Candidate,
    Dispatcher,
    GridTravel,
    Job,
    NearestDispatcher,
    OptimalDispatcher,
    ScheduleDispatcher,
)
from fleet.floor import FloorMap, StationKind, load_floor, rasterize
from fleet.model import RobotKind, RobotSpec, Task, TaskKind, TransportCapability
from fleet.planning import DistanceTables

ROOT = Path(__file__).resolve().parent.parent
PLANT = ROOT / "maps" / "plant.yaml"


@dataclass(frozen=True, slots=True)
class Split:
    """A set of seeds for every measurement."""

    name: str
    line_seeds: tuple[int, ...]
    small_seeds: tuple[int, ...]
    large_seeds: tuple[int, ...]


TRAINING = Split("training", tuple(range(10)), tuple(range(20)), (0, 1))
EVALUATION = Split("evaluation", (101, 102), tuple(range(201, 209)), (201, 202))
SPLITS = {s.name: s for s in (TRAINING, EVALUATION)}
NAMES = ("greedy", "optimal", "schedule")


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


def contestants(model: bool) -> list[tuple[str, Dispatcher]]:
    """Fresh dispatchers for one run. In the traffic-free `model` robots drive at top speed,
    a transport is given out only once it is ready and its cell has room (the rules CP-SAT
    solves), and plans are carried out exactly: the schedule optimizer is told so (top
    speed, no staging, no look-ahead over start delays, makespan ties to the schedule found
    first; in the simulator it learns the pace and keeps ties early, see its fields)."""
    return [("greedy", NearestDispatcher()), ("optimal", OptimalDispatcher()),
            ("schedule", ScheduleDispatcher(speed_factor=1.0, delay_lookahead=False,
                                            stage_parts=False, ties_early=False) if model
             else ScheduleDispatcher())]


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


def small_line(floor: FloorMap, seed: int) -> Line:
    """A small instance: 3 variants, 2 AGVs, a mobile and a fixed welder."""
    return make_line(floor, variants=3, agvs=2, mobile_welders=1, fixed_welders=1,
                     takt_s=30, lead_time_s=900, seed=seed)


def large_line(floor: FloorMap, seed: int) -> Line:
    """A larger instance: 10 variants, 3 AGVs, 2 mobile and 1 fixed welder (6 robots)."""
    return make_line(floor, variants=10, agvs=3, mobile_welders=2, fixed_welders=1,
                     takt_s=30, lead_time_s=1200, seed=seed)


def model_runs(floor: FloorMap, line: Line, scenario: str, seed: int,
               reference: float) -> list[Row]:
    """Every dispatcher on the line in the traffic-free model; gap to `reference` (nan: none)."""
    travel, cells = grid_travel(floor)
    rows = []
    for name, dispatcher in contestants(model=True):
        out = simulate(floor, line, dispatcher, travel, cells)
        rows.append(Row(scenario, seed, name, out.makespan_s, out.tardiness_s,
                        out.parts_per_hour, out.utilization, out.completed, len(line.missions),
                        out.makespan_s / reference - 1.0 if reference > 0 else math.nan))
    return rows


def small_rows(floor: FloorMap, seeds: tuple[int, ...], time_limit_s: float) -> list[Row]:
    """Small instances in the traffic-free model, with CP-SAT's optimum and the gaps."""
    travel, _ = grid_travel(floor)
    rows = []
    for seed in seeds:
        line = small_line(floor, seed)
        best, proven = solve_cpsat(floor, line, travel, time_limit_s)
        rows += model_runs(floor, line, "small x3 (model)", seed, best)
        rows.append(Row("small x3 (model)", seed, "cp-sat" + ("" if proven else " (not proven)"),
                        best, math.nan, 3600.0 * len(line.missions) / best, math.nan,
                        len(line.missions), len(line.missions), 0.0))
    return rows


def large_rows(floor: FloorMap, seeds: tuple[int, ...], time_limit_s: float) -> list[Row]:
    """Larger instances: gaps to CP-SAT's best lower bound within `time_limit_s`."""
    travel, _ = grid_travel(floor)
    rows = []
    for seed in seeds:
        line = large_line(floor, seed)
        best, proven, bound = solve_cpsat_bound(floor, line, travel, time_limit_s)
        rows += model_runs(floor, line, "large x10 (model)", seed, bound)
        rows.append(Row("large x10 (model)", seed, "cp-sat" + (" (optimal)" if proven else ""),
                        best, math.nan, 3600.0 * len(line.missions) / best if best else math.nan,
                        math.nan, len(line.missions), len(line.missions),
                        best / bound - 1.0 if bound > 0 else math.nan))
        rows.append(Row("large x10 (model)", seed, "cp-sat bound", bound, math.nan, math.nan,
                        math.nan, 0, len(line.missions), 0.0))
    return rows


def _line(floor: FloorMap, variants: int, seed: int) -> Line:
    return make_line(floor, variants=variants, agvs=8, mobile_welders=3, fixed_welders=2,
                     takt_s=30, lead_time_s=1200, seed=seed)


def reoptimize_ms(floor: FloorMap, dispatcher: Dispatcher, tasks: int = 200, robots: int = 50,
                  repeats: int = 20) -> tuple[float, float, float]:
    """Median and worst wall milliseconds and median CPU milliseconds for one round of
    `tasks` ready tasks over `robots` robots (each round from scratch: no warm start)."""
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
    dispatcher.assign(jobs, fleet, 0.0, travel)  # distance tables cached, kernels compiled
    walls, cpus = [], []
    for _ in range(repeats):
        if isinstance(dispatcher, ScheduleDispatcher):
            dispatcher.reset()
        start, cpu = time.perf_counter(), time.process_time()
        dispatcher.assign(jobs, fleet, 0.0, travel)
        walls.append(1000.0 * (time.perf_counter() - start))
        cpus.append(1000.0 * (time.process_time() - cpu))
    return statistics.median(walls), max(walls), statistics.median(cpus)


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


def gains(rows: list[Row], scenario: str) -> list[str]:
    """Each dispatcher's makespan gain over greedy on a scenario: mean and per seed."""
    base = {r.seed: r for r in rows if r.scenario == scenario and r.dispatcher == "greedy"}
    out = []
    for name in ("optimal", "schedule"):
        mine = {r.seed: r for r in rows if r.scenario == scenario and r.dispatcher == name}
        seeds = [s for s in sorted(mine) if s in base and base[s].makespan_s > 0]
        if not seeds:
            continue
        per = [1 - mine[s].makespan_s / base[s].makespan_s for s in seeds]
        text = ", ".join(f"seed {s} {100 * g:+.1f} %" for s, g in zip(seeds, per, strict=True))
        out.append(f"{scenario}: {name} vs greedy mean {100 * statistics.mean(per):+.1f} %, "
                   f"worst {100 * min(per):+.1f} % ({text})")
    return out


def gaps(rows: list[Row], scenario: str, to: str) -> list[str]:
    """Each dispatcher's gap on a scenario: mean, worst, how many within 10 %."""
    out = []
    for name in NAMES:
        g = [r.gap for r in rows if r.scenario == scenario and r.dispatcher == name
             and math.isfinite(r.gap)]
        if g:
            out.append(f"{scenario}: {name:<8} gap to {to} mean {100 * statistics.mean(g):5.1f} "
                       f"%, worst {100 * max(g):5.1f} %, {sum(x <= 0.10 for x in g)}/{len(g)} "
                       "within 10 %")
    return out


def report(split: Split, rows: list[Row]) -> str:
    def seeds(scenario: str) -> list[int]:
        return sorted({r.seed for r in rows if r.scenario.startswith(scenario)})
    lines = [f"=== {split.name} set: line seeds {seeds('line')}, small seeds "
             f"{seeds('small')}, large seeds {seeds('large')} ===", table(rows), ""]
    lines += gains(rows, "line (sim)")
    lines += gains(rows, "line (model)")
    lines += gaps(rows, "small x3 (model)", "CP-SAT optimum")
    lines += gaps(rows, "large x10 (model)", "CP-SAT bound")
    return "\n".join(lines)


def run_split(floor: FloorMap, split: Split, args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    line_seeds = tuple(args.line_seeds) if args.line_seeds is not None else split.line_seeds
    if not args.quick:
        for seed in line_seeds:
            line = _line(floor, args.variants, seed)
            for name, dispatcher in contestants(model=False):
                start = time.perf_counter()
                rows.append(line_row(floor, line, name, dispatcher, seed, args.time_limit))
                print(f"  {split.name}: {table(rows[-1:]).splitlines()[-1]}   "
                      f"({time.perf_counter() - start:.0f} s wall)", file=sys.stderr)
    for seed in line_seeds:
        rows += model_runs(floor, _line(floor, args.variants, seed), "line (model)", seed,
                           math.nan)
    small = tuple(args.small_seeds) if args.small_seeds is not None else split.small_seeds
    rows += small_rows(floor, small, args.cpsat_time)
    if not args.no_large:
        rows += large_rows(floor, split.large_seeds, args.cpsat_large_time)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.dispatch", description=__doc__.splitlines()[0])
    p.add_argument("--split", nargs="+", choices=sorted(SPLITS),
                   default=["training", "evaluation"], help="which seed sets to run")
    p.add_argument("--variants", type=int, default=36, help="product variants on the line")
    p.add_argument("--line-seeds", type=int, nargs="*", default=None,
                   help="override the split's line seeds (for quick looks)")
    p.add_argument("--small-seeds", type=int, nargs="*", default=None,
                   help="override the split's small-instance seeds")
    p.add_argument("--cpsat-time", type=float, default=60.0, help="CP-SAT limit, small")
    p.add_argument("--cpsat-large-time", type=float, default=60.0, help="CP-SAT limit, large")
    p.add_argument("--no-large", action="store_true", help="skip the larger instances")
    p.add_argument("--quick", action="store_true", help="skip the simulator runs")
    p.add_argument("--time-limit", type=float, default=4 * 3600.0,
                   help="simulated seconds per line run at most")
    p.add_argument("--no-reopt", action="store_true", help="skip the re-optimization timing")
    args = p.parse_args(argv)
    floor = load_floor(PLANT)
    for name in args.split:
        split = SPLITS[name]
        print(report(split, run_split(floor, split, args)))
        print()
    if args.no_reopt:
        return 0
    for name, dispatcher in (("optimal", OptimalDispatcher()),
                             ("schedule", ScheduleDispatcher())):
        median, worst, cpu = reoptimize_ms(floor, dispatcher)
        print(f"re-optimizing 200 tasks over 50 robots, {name}: median {median:.1f} ms wall "
              f"({cpu:.1f} ms CPU), worst {worst:.1f} ms (target < 100 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
