"""Plant scale on the wall clock: `fleet serve` driving robots of `fleet sim-robots` processes.

    python -m bench.fleet_wall [--robots 200 500 1000] [--seconds 120] [--processes 2]

For each fleet size, on the plant-scale floor (`maps/warehouse.yaml`): a `fleet serve` process
on the wall clock (SQLite store, HTTP front end for /metrics), `--processes` processes of
`fleet sim-robots --server` sharing the fleet (`--part K/N`), each reporting every robot's
state at 10 Hz through one batched gateway stream, and this process submitting a steady
stream of missions (as many as the fleet can do) and asking for the server's health every
0.2 s. After `--warm-up` seconds (robots joined, first work handed out) it measures for
`--seconds`:

- states accepted per second by the server (`fleet_robot_states`) against states sent;
- release waits, measured at the robots (`sim.wall_robots.ReleaseWaits`): from the state that
  finishes a released segment to the next release arriving, p50 / p99;
- the server's command latency (`fleet_command_latency_seconds`: a command sent to the
  robot's first report naming it, so up to one report period of the robot's) and its
  reaction (`fleet_reaction_seconds`: from the arrival of the earliest report a control step
  took in to that step's commands handed to the streams: the wait for the step and the
  step, without the robot's report period), control step wall time p50 / p99 and steps per second
  (from the /metrics histograms, interpolated within buckets as Prometheus does);
- the server process's CPU (user + system, as a share of one core) and peak memory
  (VmHWM), and the robots' processes' CPU beside it;
- health-check latency p50 / p99 / max;
- collisions, obstacle hits and speed violations: the robot processes' trajectory logs put
  on one 10 Hz clock (`sim.trajlog.merge_logs`) and read by the independent checker.

Figures are for this machine as it was during the run; compare rows of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from bench._proc import cpu_s as _cpu_s
from bench._proc import free_port as _free_port
from fleet.floor import load_floor
from fleet.v1 import missions_pb2, missions_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
FLOOR = ROOT / "maps" / "warehouse.yaml"
MISSIONS_PER_ROBOT_HOUR = 8.0
"""The same offered load as `bench.fleet_scale`."""




def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


Scrape = dict[str, dict[tuple[tuple[str, str], ...], float]]


def _scrape(http_port: int) -> Scrape:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out: Scrape = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def _counter(s: Scrape, name: str) -> float:
    return sum(s.get(name, {}).values())


def _histogram_quantile(before: Scrape, after: Scrape, name: str, q: float) -> float:
    """The q-quantile of what the histogram took in between two scrapes, interpolated
    linearly within its bucket (Prometheus's histogram_quantile)."""
    def buckets(s: Scrape) -> dict[float, float]:
        return {float(dict(k)["le"]): v for k, v in s.get(f"{name}_bucket", {}).items()}
    a, b = buckets(before), buckets(after)
    bounds = sorted(b)
    counts = [b[x] - a.get(x, 0.0) for x in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for bound, cumulative in zip(bounds, counts, strict=True):
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative
    return lower


@dataclass(frozen=True, slots=True)
class Row:
    """One fleet size's figures."""

    robots: int
    seconds: float
    states_sent_per_s: float
    states_accepted_per_s: float
    release_wait_ms: tuple[float, float, int]
    command_latency_ms: tuple[float, float]
    reaction_ms: tuple[float, float]
    step_ms: tuple[float, float]
    steps_per_s: float
    server_cpu: float
    robots_cpu: float
    server_peak_mb: float
    health_ms: tuple[float, float, float]
    tasks_finished: int
    late_ticks: int
    collisions: tuple[int, int, int]


async def _wait_serving(target: str, deadline_s: float) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline_s:
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=2.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError(f"fleet serve at {target} did not come up")


async def _submit(target: str, robots: int, seed: int, stop: asyncio.Event) -> int:
    """Missions at the offered load until `stop`; returns how many were accepted."""
    from sim.scenario import make_missions

    floor = load_floor(FLOOR)
    rate = MISSIONS_PER_ROBOT_HOUR * robots / 3600.0
    missions = make_missions(floor, 100_000, random.Random(seed), spacing_s=1.0 / rate)
    accepted = 0
    began = time.monotonic()
    async with grpc.aio.insecure_channel(target) as channel:
        stub = missions_pb2_grpc.MissionsStub(channel)
        for at_s, spec in missions:
            delay = began + at_s - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                    break
                except TimeoutError:
                    pass
            assert isinstance(spec, missions_pb2.MissionSpec)
            try:
                await stub.Submit(missions_pb2.SubmitMissionRequest(mission=spec), timeout=10)
                accepted += 1
            except grpc.aio.AioRpcError as err:
                print(f"  submit {spec.mission_id}: {err.code().name} {err.details()}",
                      file=sys.stderr)
    return accepted


async def _probe_health(target: str, stop: asyncio.Event, out: list[float]) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while not stop.is_set():
            began = time.perf_counter()
            try:
                await stub.Check(health_pb2.HealthCheckRequest(), timeout=5.0)
                out.append(time.perf_counter() - began)
            except grpc.aio.AioRpcError:
                out.append(5.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)


async def _connected(http_port: int) -> int:
    s = await asyncio.to_thread(_scrape, http_port)
    return int(_counter(s, "fleet_connected_robots"))


async def _run(robots: int, seconds: float, warm_up_s: float, processes: int,
               seed: int) -> Row:
    fleet_cmd = [sys.executable, "-m", "fleet.cli"]
    with tempfile.TemporaryDirectory(prefix="fleet-wall-") as tmp:
        port, http_port = _free_port(), _free_port()
        target = f"127.0.0.1:{port}"
        server = subprocess.Popen(
            [*fleet_cmd, "serve", "--map", str(FLOOR), "--db", f"{tmp}/fleet.db",
             "--address", target, "--http", f"127.0.0.1:{http_port}"],
            stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/serve.log", "w"))  # noqa: SIM115
        parts: list[subprocess.Popen[bytes]] = []
        try:
            await _wait_serving(target, time.monotonic() + 120)
            for k in range(1, processes + 1):
                parts.append(subprocess.Popen(
                    [*fleet_cmd, "sim-robots", "--server", target, "--map", str(FLOOR),
                     "--robots", str(robots), "--seed", str(seed), "--part", f"{k}/{processes}",
                     "--rate", "10", "--log", f"{tmp}/robots-{k}.jsonl",
                     "--stats", f"{tmp}/robots-{k}.json"],
                    stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/robots-{k}.log", "w")))  # noqa: SIM115
            joined_by = time.monotonic() + 180
            while await _connected(http_port) < robots:
                if time.monotonic() > joined_by:
                    raise RuntimeError(f"only {await _connected(http_port)} of {robots} "
                                       "robots joined in 180 s")
                await asyncio.sleep(1.0)
            stop_submit, stop_probe = asyncio.Event(), asyncio.Event()
            submitter = asyncio.create_task(_submit(target, robots, seed, stop_submit))
            await asyncio.sleep(warm_up_s)
            health: list[float] = []
            prober = asyncio.create_task(_probe_health(target, stop_probe, health))
            before = await asyncio.to_thread(_scrape, http_port)
            cpu0 = _cpu_s(server.pid)
            robots_cpu0 = sum(_cpu_s(p.pid) for p in parts)
            began = time.time()
            await asyncio.sleep(seconds)
            ended = time.time()
            cpu1 = _cpu_s(server.pid)
            robots_cpu1 = sum(_cpu_s(p.pid) for p in parts)
            after = await asyncio.to_thread(_scrape, http_port)
            peak = _peak_rss_mb(server.pid)
            stop_probe.set()
            stop_submit.set()
            await asyncio.gather(prober, submitter)
        finally:
            for p in parts:
                p.send_signal(signal.SIGINT)
            for p in parts:
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    p.kill()
            server.send_signal(signal.SIGINT)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
        stats = [json.loads(Path(f"{tmp}/robots-{k}.json").read_text())
                 for k in range(1, processes + 1)]
        waits = [w for s in stats for at, w in s["release_waits"] if began <= at <= ended]
        from sim.check import check_log
        from sim.trajlog import merge_logs

        merged = f"{tmp}/merged.jsonl"
        merge_logs([f"{tmp}/robots-{k}.jsonl" for k in range(1, processes + 1)], merged, 0.1)
        check = check_log(merged, map_path=FLOOR)
    span = ended - began
    sent = sum(s["states_sent"] for s in stats)
    total_s = max(1e-9, max(s["ticks"] for s in stats) / 10.0)
    def finished(s: Scrape) -> float:
        return s.get("fleet_tasks_total", {}).get((("outcome", "finished"),), 0.0)

    hq = lambda name, q: 1000 * _histogram_quantile(before, after, name, q)  # noqa: E731
    return Row(
        robots, span, sent / total_s,
        (_counter(after, "fleet_robot_states_total") - _counter(before, "fleet_robot_states_total"))
        / span,
        (1000 * _quantile(waits, 0.5), 1000 * _quantile(waits, 0.99), len(waits)),
        (hq("fleet_command_latency_seconds", 0.5), hq("fleet_command_latency_seconds", 0.99)),
        (hq("fleet_reaction_seconds", 0.5), hq("fleet_reaction_seconds", 0.99)),
        (hq("fleet_control_step_seconds", 0.5), hq("fleet_control_step_seconds", 0.99)),
        (_counter(after, "fleet_control_step_seconds_count")
         - _counter(before, "fleet_control_step_seconds_count")) / span,
        (cpu1 - cpu0) / span, (robots_cpu1 - robots_cpu0) / span, peak,
        (1000 * _quantile(health, 0.5), 1000 * _quantile(health, 0.99),
         1000 * max(health, default=float("nan"))),
        int(finished(after) - finished(before)),
        sum(s["late_ticks"] for s in stats),
        (len(check.collisions), len(check.obstacle_hits), len(check.speed_violations)))


def main() -> None:
    """Run the fleet sizes asked for and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--robots", type=int, nargs="+", default=[200, 500, 1000])
    p.add_argument("--seconds", type=float, default=120.0, help="measured seconds per run")
    p.add_argument("--warm-up", type=float, default=30.0,
                   help="seconds between the robots joining and the measurement")
    p.add_argument("--processes", type=int, default=2, help="fleet sim-robots processes")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    rows = []
    for n in args.robots:
        row = asyncio.run(_run(n, args.seconds, args.warm_up, args.processes, args.seed))
        rows.append(row)
        print(f"  {row}", flush=True)
    print(f"\nwarehouse floor, wall clock, robots at 10 Hz through {args.processes} gateway "
          f"processes, {args.seconds:g} s measured after {args.warm_up:g} s, seed {args.seed}")
    print("| robots | states sent / accepted per s | release wait p50 / p99 ms (n) "
          "| command latency p50 / p99 ms | reaction p50 / p99 ms | step p50 / p99 ms "
          "| steps/s | server CPU "
          "| robots' CPU | server peak RSS | health p50 / p99 / max ms | tasks done "
          "| late ticks | collisions, obstacle hits, speed violations |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.robots} | {r.states_sent_per_s:.0f} / {r.states_accepted_per_s:.0f} | "
              f"{r.release_wait_ms[0]:.0f} / {r.release_wait_ms[1]:.0f} ({r.release_wait_ms[2]}) | "
              f"{r.command_latency_ms[0]:.0f} / {r.command_latency_ms[1]:.0f} | "
              f"{r.reaction_ms[0]:.0f} / {r.reaction_ms[1]:.0f} | "
              f"{r.step_ms[0]:.0f} / {r.step_ms[1]:.0f} | {r.steps_per_s:.1f} | "
              f"{100 * r.server_cpu:.0f} % | {100 * r.robots_cpu:.0f} % | "
              f"{r.server_peak_mb:.0f} MB | {r.health_ms[0]:.0f} / {r.health_ms[1]:.0f} / "
              f"{r.health_ms[2]:.0f} | {r.tasks_finished} | {r.late_ticks} | "
              f"{r.collisions[0]}, {r.collisions[1]}, {r.collisions[2]} |")


if __name__ == "__main__":
    main()
