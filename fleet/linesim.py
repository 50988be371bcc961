"""Production lines in simulation: one run (`fleet sim --line`) and fleet-sizing sweeps
(`fleet size`).

A run starts a coordinator with a simulated clock serving the line's routings, connects the
line's fleet as simulated robots over loopback gRPC, releases one order every takt through
`Missions.SubmitOrder`, and works out the figures from the coordinator's event log
(`fleet.production.line_figures`); the trajectory log is checked by `sim.check`.

A sweep runs one simulation per (AGVs, welders, seed) in parallel on a
`concurrent.futures.Executor`: a process pool over every core by default, or a Dask cluster's
executor (`--cluster ADDRESS`, the `cluster` extra): the same function on the same inputs
either way. Like `fleet/cli.py`, this module sits above everything it drives.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from fleet.floor import load_floor
from fleet.model import InvalidInputError
from fleet.production import Line, load_line
from fleet.production.expand import unit_ids
from fleet.production.figures import LineFigures, line_figures
from fleet.v1 import missions_pb2

__all__ = ["LineRun", "RunSpec", "Sizing", "recommend", "run_line", "sweep"]


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One simulation of a line (plain values: it travels to worker processes)."""

    line_path: str
    floor_path: str
    agvs: int
    welders: int
    seed: int
    units: int | None = None
    """Units released (default: the line's)."""
    takt_s: float | None = None
    """Release takt (default: the line's)."""
    log_path: str | None = None
    time_limit_s: float | None = None
    """Simulated seconds at most (default: the release span plus twice the lead time)."""
    warm_up: int = 0
    """Units released before the measured ones, not measured (the line fills up)."""
    cool_down: int = 0
    """Units released after the measured ones, not measured (the line is still fed while
    the last measured units cross it)."""
    keep_activities: bool = True
    """Keep the Gantt chart's bars in the result (a sweep drops them)."""
    dispatcher: str = "schedule"
    """`fleet.dispatch.make_dispatcher`'s name: on a production line the schedule optimizer
    by default (it wins on the dispatch benchmark's training seeds)."""


@dataclass(frozen=True, slots=True)
class LineRun:
    """What one run achieved."""

    spec: RunSpec
    figures: LineFigures
    collisions: int
    """Collisions, obstacle hits and speed violations the checker found in the log."""
    sim_completed: int
    """Missions the simulator counted as completed (its own tally, over gRPC)."""
    sim_utilization: float
    """Mean robot utilization as the simulated robots counted it (moving or acting)."""
    log_path: str

    @property
    def ok(self) -> bool:
        """The line held its takt and the log is clean."""
        return self.collisions == 0 and self.figures.holds_takt()


def run_line(spec: RunSpec) -> LineRun:
    """Run one simulation of a line (blocking; a sweep calls it in worker processes)."""
    return asyncio.run(_run(spec))


async def _run(spec: RunSpec) -> LineRun:
    from fleet.api import create_server
    from fleet.coordinator import Coordinator, ManualClock
    from fleet.dispatch import make_dispatcher
    from fleet.dispatch.schedule import warm_up as warm_up_schedule
    from fleet.planning import warm_up
    from fleet.store import open_store
    from sim.line import line_scenario
    from sim.runner import SimOptions, run_simulation

    warm_up()
    warm_up_schedule()
    line = load_line(spec.line_path)
    floor = load_floor(spec.floor_path)
    takt = spec.takt_s or line.takt_s
    units = spec.units or line.units
    if spec.warm_up < 0 or spec.cool_down < 0:
        raise InvalidInputError(f"warm-up {spec.warm_up} and cool-down {spec.cool_down} are "
                                "counts of units", field="warm_up",
                                value=min(spec.warm_up, spec.cool_down))
    total = spec.warm_up + units + spec.cool_down
    scenario = line_scenario(floor, line, spec.agvs, spec.welders, spec.seed, total,
                             spec.takt_s)
    orders = [o for _, o in scenario.missions
              if isinstance(o, missions_pb2.SubmitOrderRequest)]
    measured = {mid for o in orders[spec.warm_up:spec.warm_up + units]
                for mid in unit_ids(o.order_id, o.count or 1)}
    limit = spec.time_limit_s or (total * takt + 2 * (line.lead_time_s or 7200.0))
    with tempfile.TemporaryDirectory(prefix="fleet-line-") as tmp:
        log_path = spec.log_path or str(Path(tmp) / "run.jsonl")
        coordinator = Coordinator(floor, open_store(str(Path(tmp) / "fleet.db")),
                                  ManualClock(), dispatcher=make_dispatcher(spec.dispatcher))
        server = create_server(coordinator, "127.0.0.1:0", catalog=line.catalog)
        await server.start()
        try:
            options = SimOptions(target=f"127.0.0.1:{server.port}", map_path=spec.floor_path,
                                 log_path=log_path, time_limit_s=limit, seed=spec.seed)
            result = await run_simulation(floor, scenario, options)
        finally:
            await server.stop(0.5)
        missions = [r for r in coordinator.missions.values()
                    if r.mission.labels.get("line") == line.name]
        events = coordinator.store.events(0, None)
        coordinator.store.close()
    figures = line_figures(missions, events, [s.id for s, _ in scenario.robots], takt,
                           end_s=result.sim_time_s, measured=measured)
    if not spec.keep_activities:
        figures = replace(figures, activities=())
    check = result.check
    bad = (len(check.collisions) + len(check.obstacle_hits) + len(check.speed_violations)
           if check is not None else -1)
    return LineRun(spec, figures, bad, result.completed, result.utilization,
                   log_path if spec.log_path else "")


@dataclass(frozen=True, slots=True)
class Sizing:
    """A sweep's answer: the runs, and the smallest fleet that held the takt on every seed."""

    takt_s: float
    margin: float
    runs: tuple[LineRun, ...]
    smallest: tuple[int, int] | None
    """(AGVs, welders), or None if no fleet of the sweep held the takt."""

    def table(self) -> str:
        """Takt achieved per fleet: mean, min and max over seeds, the mean standard error of
        one run's estimate, and whether it held."""
        head = (f"{'AGVs':>4} {'welders':>7} {'takt mean s':>11} {'min':>7} {'max':>7} "
                f"{'+-':>5} {'WIP':>5} {'AGV %':>5} {'weld %':>6} {'held':>5} {'coll':>4}")
        lines = [head, "-" * len(head)]
        for (agvs, welders), runs in _by_fleet(self.runs).items():
            takts = [r.figures.takt_achieved_s for r in runs]
            finite = [t for t in takts if math.isfinite(t)]
            mean = sum(finite) / len(finite) if finite else math.inf
            held = sum(r.ok for r in runs)
            lines.append(
                f"{agvs:>4} {welders:>7} {mean:>11.1f} {min(takts):>7.1f} {max(takts):>7.1f} "
                f"{_mean(r.figures.takt_error_s for r in runs):>5.1f} "
                f"{_mean(r.figures.wip_mean for r in runs):>5.1f} "
                f"{100 * _mean(r.figures.utilization_of('agv-') for r in runs):>5.0f} "
                f"{100 * _mean(r.figures.utilization_of('welder-') for r in runs):>6.0f} "
                f"{held:>2}/{len(runs):<2} {sum(max(r.collisions, 0) for r in runs):>4}")
        return "\n".join(lines)


def _mean(values: Iterator[float] | Sequence[float]) -> float:
    v = [x for x in values if math.isfinite(x)]
    return sum(v) / len(v) if v else math.nan


def _by_fleet(runs: Sequence[LineRun]) -> dict[tuple[int, int], list[LineRun]]:
    out: dict[tuple[int, int], list[LineRun]] = {}
    for r in sorted(runs, key=lambda r: (r.spec.welders, r.spec.agvs, r.spec.seed)):
        out.setdefault((r.spec.agvs, r.spec.welders), []).append(r)
    return out


def recommend(runs: Sequence[LineRun]) -> tuple[int, int] | None:
    """The smallest fleet (fewest robots, then fewest welders) that held the takt on every
    seed with a clean log; None if none did."""
    held = [fleet for fleet, rs in _by_fleet(runs).items() if all(r.ok for r in rs)]
    return min(held, key=lambda f: (f[0] + f[1], f[1]), default=None)


@contextmanager
def _executor(workers: int | None, cluster: str | None
              ) -> Iterator[concurrent.futures.Executor]:
    """A process pool over `workers` processes (default: every core), or the executor of the
    Dask cluster at `cluster`."""
    if cluster:
        try:
            from distributed import Client
        except ImportError:
            from fleet.model import InvalidInputError
            raise InvalidInputError("--cluster needs Dask: pip install 'fleet[cluster]'",
                                    field="cluster", value=cluster) from None
        with Client(cluster) as client:  # type: ignore[no-untyped-call]
            executor: concurrent.futures.Executor = client.get_executor()
            yield executor
        return
    # Fresh interpreters: a forked child would inherit gRPC's and numba's threads.
    with concurrent.futures.ProcessPoolExecutor(
            max_workers=workers or os.cpu_count() or 1,
            mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


def sweep(line_path: str, floor_path: str, agvs: Sequence[int], welders: Sequence[int],
          seeds: Sequence[int], *, takt_s: float | None = None, margin: float = 0.1,
          units: int | None = None, workers: int | None = None, cluster: str | None = None,
          progress: Callable[[LineRun], None] | None = None, warm_up: int = 0,
          cool_down: int = 0) -> Sizing:
    """Simulate every fleet of `agvs` x `welders` on every seed, orders released at the takt
    shortened by `margin` (a fleet that holds takt x (1 - margin) holds the takt with that
    margin), in parallel; the answer names the smallest fleet that held on every seed."""
    line: Line = load_line(line_path)
    takt = takt_s or line.takt_s
    stressed = round(takt * (1.0 - margin), 3)
    specs = [RunSpec(line_path, floor_path, a, w, s, units, stressed, warm_up=warm_up,
                     cool_down=cool_down, keep_activities=False)
             for w in welders for a in agvs for s in seeds]
    runs = []
    with _executor(workers, cluster) as executor:
        for run in executor.map(run_line, specs):
            runs.append(run)
            if progress is not None:
                progress(run)
    return Sizing(takt, margin, tuple(runs), recommend(runs))
