"""What open control-center pages cost the coordinator: its process's CPU with 0, 1 and 10
pages following the live view (Server-Sent Events, 5 frames a second) while it runs 100
robots.

    python -m bench.view_cost [--robots 100] [--window 20] [--pace 1] [--seed 1]

Three processes, so that only the coordinator is measured: `fleet serve --sim-clock --http`
(the coordinator, measured from /proc), `fleet sim --server` (100 simulated robots and the
missions, paced to `--pace` simulated seconds per wall second, as a floor watched live
runs) and this one (the pages: httpx clients reading the view stream and counting frames).
Windows of `--window` wall seconds alternate page counts (0, 1, 10, 1, 0 by default) so that
the fleet's changing load shows up as the difference between the two windows of a count,
not as a cost of the pages. Per window: the coordinator process's CPU (user + system) per
wall second, the control steps' own CPU (the worker thread, from /metrics), the frames the
server took and the frames each page received.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench._proc import cpu_s as _cpu_s
from bench._proc import free_port as _free_port

ROOT = Path(__file__).resolve().parent.parent




def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@dataclass(frozen=True, slots=True)
class Window:
    """One measuring window's figures."""

    pages: int
    wall_s: float
    cpu_per_s: float
    step_cpu_per_s: float
    steps_per_s: float
    frames_per_page_s: float


async def _page(url: str, frames: list[int], index: int, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=None) as client, \
            client.stream("GET", url) as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event: frame"):
                frames[index] += 1
            if stop.is_set():
                return


async def _window(base: str, pid: int, pages: int, seconds: float) -> Window:
    stop = asyncio.Event()
    frames = [0] * pages
    tasks = [asyncio.create_task(_page(f"{base}/api/v1/view/stream", frames, i, stop))
             for i in range(pages)]
    await asyncio.sleep(1.0)  # connected and streaming before the window opens
    async with httpx.AsyncClient(timeout=30) as client:
        before = (await client.get(f"{base}/metrics")).text
        cpu0, wall0, got0 = _cpu_s(pid), time.perf_counter(), sum(frames)
        await asyncio.sleep(seconds)
        cpu1, wall1, got1 = _cpu_s(pid), time.perf_counter(), sum(frames)
        after = (await client.get(f"{base}/metrics")).text
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    wall = wall1 - wall0
    step_cpu = (_metric(after, "fleet_control_step_cpu_seconds_total")
                - _metric(before, "fleet_control_step_cpu_seconds_total"))
    steps = (_metric(after, "fleet_control_step_seconds_count")
             - _metric(before, "fleet_control_step_seconds_count"))
    return Window(pages, wall, (cpu1 - cpu0) / wall, step_cpu / wall, steps / wall,
                  (got1 - got0) / wall / pages if pages else 0.0)


def main() -> None:
    """Run the windows and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--robots", type=int, default=100)
    p.add_argument("--window", type=float, default=20.0, help="wall seconds per window")
    p.add_argument("--pages", type=int, nargs="+", default=[0, 1, 10, 1, 0])
    p.add_argument("--pace", type=float, default=1.0,
                   help="simulated seconds per wall second (default 1: real time)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
    grpc_port, http_port = _free_port(), _free_port()
    with tempfile.TemporaryDirectory(prefix="fleet-view-cost-") as tmp:
        serve = subprocess.Popen(
            [sys.executable, "-m", "fleet.cli", "serve", "--sim-clock", "--map", "warehouse",
             "--db", str(Path(tmp) / "fleet.db"), "--address", f"127.0.0.1:{grpc_port}",
             "--http", f"127.0.0.1:{http_port}"], env=env, cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        sim = None
        try:
            assert serve.stdout is not None
            for line in serve.stdout:
                if "serving" in line:
                    break
            missions = int(8 * args.robots * args.window * len(args.pages) * args.pace / 3600
                           ) + args.robots
            sim = subprocess.Popen(
                [sys.executable, "-m", "fleet.cli", "sim", "--server", f"127.0.0.1:{grpc_port}",
                 "--map", "warehouse", "--robots", str(args.robots), "--missions",
                 str(missions), "--seed", str(args.seed), "--pace", str(args.pace),
                 "--no-progress"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            base = f"http://127.0.0.1:{http_port}"
            while True:  # every robot connected and the missions flowing
                reply = httpx.get(f"{base}/api/v1/robots", params={"connected_only": "true"},
                                  timeout=30).json()
                if len(reply.get("robots", [])) >= args.robots:
                    break
                time.sleep(1.0)
            time.sleep(5.0)
            rows = [asyncio.run(_window(base, serve.pid, n, args.window)) for n in args.pages]
        finally:
            for proc in (sim, serve):
                if proc is not None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
    print(f"\nwarehouse floor, {args.robots} robots, {args.pace:g} simulated s per wall s, "
          f"{args.window:g} s windows, seed {args.seed}; coordinator process only")
    print("| open pages | coordinator CPU (share of a core) | control-step CPU (worker) | "
          "steps per s | frames per page per s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.pages} | {100 * r.cpu_per_s:.1f} % | {100 * r.step_cpu_per_s:.1f} % | "
              f"{r.steps_per_s:.1f} | {r.frames_per_page_s:.1f} |")


if __name__ == "__main__":
    main()
