"""Plant-scale benchmark: the coordinator driving hundreds to thousands of robots.

    python -m bench.fleet_scale [--robots 50 200 500 1000] [--hours 1.0] [--seed 1]

Simulated clock, on the plant-scale floor (`maps/warehouse.yaml`): `fleet sim`'s robots over
loopback gRPC with a steady stream of transport and weld missions, about as many as the fleet
can do, run two ways (`--runs`): in lockstep with the coordinator in one process (exactly what
`fleet sim` runs), and pipelined, the coordinator in a process of its own and the robots
driving the next control period while it steps (what `fleet serve --sim-clock` with `fleet sim
--server --pipelined` runs). Each run is a process of its own (memory and CPU are its). For
each fleet size: the control step's CPU time (p50, p99, max; the coordinator's worker thread,
so the simulated robots' own work is not counted), tasks finished per simulated hour, wall and
CPU time per simulated hour (pipelined, also the coordinator process's CPU), and collisions,
obstacle hits, speed violations and drives against a one-way aisle from the independent checker
(`sim.check`) on the trajectory log. The check runs on the log after the run, as `python -m
sim.check` would, and its time is a column of its own: wall and CPU time are the run's.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import resource
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from fleet.api import create_server
from fleet.coordinator import Coordinator, CoordinatorConfig, ManualClock
from fleet.floor import load_floor
from fleet.model import EventKind
from fleet.planning import warm_up
from fleet.store import open_store
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
    pipelined: bool
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
    coordinator_cpu_per_hour_s: float
    """Pipelined: the coordinator process's share of `cpu_per_hour_s` (0 in one process)."""
    max_rss_mb: float
    missions: tuple[int, int]
    collisions: int
    obstacle_hits: int
    speed_violations: int
    one_way_violations: int


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


@dataclass(frozen=True, slots=True)
class Served:
    """What a coordinator reports of its run when it stops."""

    step_times: list[float]
    """Each control step's CPU seconds."""
    tasks_done: int
    cpu_s: float
    """The process's CPU seconds from when it served to when it stopped."""
    max_rss_mb: float


class _InProcess:
    """The coordinator in this process, on this event loop (as `fleet sim` runs it)."""

    def __init__(self, db: str, search: PathSearch) -> None:
        self.coordinator = Coordinator(load_floor(FLOOR), open_store(db), ManualClock(),
                                       config=CoordinatorConfig(path_search=search))
        self.server = create_server(self.coordinator, "127.0.0.1:0")

    async def start(self) -> int:
        await self.server.start()
        return self.server.port

    async def stop(self) -> Served:
        await self.server.stop(0.5)
        events = self.coordinator.store.events()
        self.coordinator.store.close()
        # This process's CPU is the run's: counted by the caller.
        return Served([c for _, c in self.coordinator.step_times],
                      sum(e.kind is EventKind.TASK_DONE for e in events), 0.0, 0.0)


def _serve_apart(db: str, search: str, conn: Connection) -> None:
    """A child process's coordinator: serves until told to stop, then reports (`Served`)."""
    async def serve() -> None:
        warm_up()
        inner = _InProcess(db, PathSearch(search))
        conn.send(await inner.start())
        cpu = time.process_time()
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        served = await inner.stop()
        conn.send(Served(served.step_times, served.tasks_done, time.process_time() - cpu,
                         resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    asyncio.run(serve())


class _Apart:
    """The coordinator in a process of its own (as `fleet serve --sim-clock` runs it)."""

    def __init__(self, db: str, search: PathSearch) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve_apart, args=(db, search.value, child))

    async def start(self) -> int:
        self.proc.start()
        return int(await asyncio.get_running_loop().run_in_executor(None, self.conn.recv))

    async def stop(self) -> Served:
        self.conn.send("stop")
        served: Served = await asyncio.get_running_loop().run_in_executor(None, self.conn.recv)
        self.proc.join(30)
        return served


async def _run(robots: int, hours: float, seed: int, search: PathSearch,
               pipelined: bool) -> Row:
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
        db = str(Path(tmp) / "fleet.db")
        coordinator = _Apart(db, search) if pipelined else _InProcess(db, search)
        port = await coordinator.start()
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            options = SimOptions(target=f"127.0.0.1:{port}", map_path=str(FLOOR),
                                 log_path=str(Path(tmp) / "run.jsonl"),
                                 time_limit_s=3600.0 * hours, seed=seed, check=False,
                                 pipelined=pipelined)
            result = await run_simulation(floor, Scenario(tuple(fleet), tuple(missions)),
                                          options)
        finally:
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            served = await coordinator.stop()
        # The independent check reads the log afterwards, as `python -m sim.check` would:
        # timed apart, it is not part of running the fleet.
        checked = time.perf_counter()
        check = check_log(options.log_path or "", map_path=options.map_path)
        checked = time.perf_counter() - checked
    steps = served.step_times
    cpu += served.cpu_s
    sim_s = max(result.sim_time_s, 1e-9)
    done = served.tasks_done
    return Row(robots, search.value, pipelined, sim_s,
               tuple(1000 * _quantile(steps, q) for q in (0.5, 0.99, 1.0)),  # type: ignore[arg-type]
               len(steps), 3600.0 * done / sim_s, 3600.0 * wall / sim_s, 3600.0 * cpu / sim_s,
               3600.0 * sum(steps) / sim_s, 3600.0 * checked / sim_s,
               3600.0 * served.cpu_s / sim_s,
               resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + served.max_rss_mb,
               (result.completed, result.submitted),
               len(check.collisions), len(check.obstacle_hits), len(check.speed_violations),
               len(check.one_way_violations))


def _row_apart(robots: int, hours: float, seed: int, search: str, pipelined: bool,
               conn: Connection) -> None:
    conn.send(asyncio.run(_run(robots, hours, seed, PathSearch(search), pipelined)))


def _row(robots: int, hours: float, seed: int, search: PathSearch, pipelined: bool) -> Row:
    """One run in a process of its own, so that its memory and CPU are its own."""
    ctx = multiprocessing.get_context("spawn")
    conn, child = ctx.Pipe()
    proc = ctx.Process(target=_row_apart,
                       args=(robots, hours, seed, search.value, pipelined, child))
    proc.start()
    row: Row = conn.recv()
    proc.join()
    return row


def main() -> None:
    """Run the fleet sizes asked for and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--robots", type=int, nargs="+", default=[50, 200, 500, 1000])
    p.add_argument("--hours", type=float, default=1.0, help="simulated hours per run")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--old-up-to", type=int, default=200, metavar="ROBOTS",
                   help="run the old planner (the Python space-time A*) beside the new one "
                   "up to this many robots (above, it falls far behind real time)")
    p.add_argument("--runs", nargs="+", choices=["lockstep", "pipelined"],
                   default=["lockstep", "pipelined"],
                   help="lockstep: robots and coordinator in one process, the robots waiting "
                   "for each step (`fleet sim`); pipelined: the coordinator in a process of "
                   "its own, the robots driving while it steps (`fleet serve --sim-clock` and "
                   "`fleet sim --server --pipelined`); the old planner runs lockstep only")
    args = p.parse_args()
    rows = []
    for n in args.robots:
        runs = [(PathSearch.SIPP, way == "pipelined") for way in args.runs]
        if n <= args.old_up_to:
            runs.append((PathSearch.SPACETIME_ASTAR, False))
        for search, pipelined in runs:
            row = _row(n, args.hours, args.seed, search, pipelined)
            rows.append(row)
            print(f"  {n} robots, {search.value}, "
                  f"{'pipelined' if pipelined else 'lockstep'}: {row}", flush=True)
    print(f"\nwarehouse floor, simulated clock, {args.hours:g} simulated hours, seed {args.seed}")
    print("| robots | path search | robots and coordinator | step CPU p50 / p99 / max ms "
          "| steps | tasks per sim. hour | wall per sim. hour "
          "| CPU per sim. hour (steps; the coordinator process) | check per sim. hour "
          "| max RSS | missions done "
          "| collisions, obstacle hits, speed violations, one-way violations |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        p50, p99, top = r.step_cpu_ms
        way = "pipelined, 2 processes" if r.pipelined else "lockstep, 1 process"
        apart = f"; {r.coordinator_cpu_per_hour_s:.0f} s" if r.pipelined else ""
        print(f"| {r.robots} | {r.search} | {way} | {p50:.0f} / {p99:.0f} / {top:.0f} "
              f"| {r.steps} | {r.tasks_per_hour:.0f} | {r.wall_per_hour_s:.0f} s "
              f"| {r.cpu_per_hour_s:.0f} s ({r.step_cpu_per_hour_s:.0f} s{apart}) "
              f"| {r.check_per_hour_s:.0f} s | {r.max_rss_mb:.0f} MB "
              f"| {r.missions[0]} of {r.missions[1]} | {r.collisions}, {r.obstacle_hits}, "
              f"{r.speed_violations}, {r.one_way_violations} |")


if __name__ == "__main__":
    main()
