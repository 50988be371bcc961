"""MAPF benchmark: one-shot LaCAM on MovingAI maps and lifelong runs on LoRR problems.

    python bench/mapf.py                      # the issue's targets (takes a while)
    python bench/mapf.py --only warehouse-10-20-10-2-1:400 --scens 1-5
    python bench/mapf.py --no-lifelong --only random-32-32-10:400
    python bench/mapf.py --no-one-shot --lifelong warehouse_small_200:5000

One-shot rows: success rate over the scens, median and p90 wall time of solved runs (BFS
tables, search and refinement; `cpu s` is the median process CPU time, which differs from
wall time when the machine is shared), mean SOC/LB (sum of costs over the sum of shortest-path
lengths) and mean makespan. Lifelong rows: tasks finished, throughput per step, and the
planning time per step (p50, p99, max), collisions under the problem's delays.

The MovingAI random scens hold 1,000 tasks; a map marked * ran more agents than that,
the extra ones taken from the following scens (starts and goals kept distinct).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from fleet.planning import load_scen
from fleet.planning.mapf import (
    check_solution,
    load_lorr,
    run_lifelong,
    solve_mapf,
    warm_up_mapf,
)
from fleet.planning.mapf.instance import MapfInstance, load_instance

DATA = Path(os.environ.get("FLEET_BENCHMARKS", "/work/shared/benchmarks"))
# (map, agents, seconds of refinement): the targets, refining within their budgets.
# The 400-agent row must finish within 3 s: 2 s of refinement leave room for a busy machine
# (refinement also stops early once it no longer gains, as it does for the smaller rows).
ONE_SHOT = [
    ("warehouse-10-20-10-2-1", 50, 2.0),
    ("warehouse-10-20-10-2-1", 100, 2.0),
    ("warehouse-10-20-10-2-1", 200, 2.0),
    ("warehouse-10-20-10-2-1", 400, 2.0),
    ("warehouse-10-20-10-2-1", 800, 2.7),
    ("warehouse-20-40-10-2-1", 800, 8.0),
    ("random-32-32-10", 400, 0.8),
    ("warehouse-20-40-10-2-2", 2000, 10.0),
]
LIFELONG = [("warehouse_small_200", 5000), ("warehouse_large_5000", 1000)]


def _scens(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def _pairs(items: list[str]) -> list[tuple[str, int]]:
    pairs = []
    for item in items:
        name, _, count = item.partition(":")
        pairs.append((name, int(count)))
    return pairs


def _rows(items: list[str], refine_s: float | None) -> list[tuple[str, int, float]]:
    rows = []
    for item in items:
        name, count, *rest = item.split(":")
        rows.append((name, int(count), float(rest[0]) if rest else (refine_s or 2.0)))
    return rows


def _instance(name: str, agents: int, scen: int) -> tuple[MapfInstance, bool]:
    """The first `agents` tasks of scen `scen`; when it has fewer, tasks of the next scens
    follow (skipping starts and goals already taken): a synthetic instance, flagged True."""
    folder = DATA / "movingai"
    scen_path = folder / f"{name}-random-{scen}.scen"
    available = sum(1 for line in scen_path.read_text().splitlines()[1:] if line.strip())
    if agents <= available:
        return load_instance(folder / f"{name}.map", scen_path, agents), False
    base = load_instance(folder / f"{name}.map", scen_path, available)
    starts, goals = list(base.starts), list(base.goals)
    used_starts, used_goals = set(starts), set(goals)
    extra = scen
    while len(starts) < agents:
        extra = extra % 25 + 1
        more = load_scen(folder / f"{name}-random-{extra}.scen", free=base.free)
        for task in more:
            if len(starts) == agents:
                break
            if task.start in used_starts or task.goal in used_goals:
                continue
            starts.append(task.start)
            goals.append(task.goal)
            used_starts.add(task.start)
            used_goals.add(task.goal)
    return MapfInstance(base.map_file, base.free, starts, goals), True


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def one_shot(args: argparse.Namespace) -> None:
    rows = _rows(args.only, args.refine_time) if args.only else [
        (name, agents, args.refine_time if args.refine_time is not None else refine)
        for name, agents, refine in ONE_SHOT]
    scens = _scens(args.scens)
    print(f"one-shot MAPF: LaCAM + PIBT (swap) + LNS refinement for `refine s`, "
          f"time limit {args.time_limit:g} s, scens {args.scens}")
    header = (f"{'map':<24}{'agents':>7}{'refine s':>9}{'solved':>9}{'median s':>10}{'p90 s':>8}"
              f"{'SOC/LB':>8}{'makespan':>10}{'cpu s':>8}")
    print(header)
    print("-" * len(header))
    for name, agents, refine in rows:
        synthetic = False
        times: list[float] = []
        cpus: list[float] = []
        ratios: list[float] = []
        spans: list[int] = []
        solved = 0
        for scen in scens:
            instance, synthetic = _instance(name, agents, scen)
            cpu_began = time.process_time()
            result = solve_mapf(instance.free, instance.starts, instance.goals,
                                time_limit_s=args.time_limit, seed=args.seed,
                                refine_time_s=refine)
            cpu = time.process_time() - cpu_began
            if not result.solved:
                if args.verbose:
                    print(f"  {name} {agents} scen {scen}: not solved", file=sys.stderr)
                continue
            if args.check and check_solution(instance.free, instance.starts, instance.goals,
                                             result.paths):
                print(f"  {name} {agents} scen {scen}: INVALID solution", file=sys.stderr)
                continue
            solved += 1
            times.append(result.comp_time_s)
            cpus.append(cpu)
            ratios.append(result.soc / max(result.lower_bound, 1))
            spans.append(result.makespan)
            if args.verbose:
                print(f"  {name} {agents} scen {scen}: {result.comp_time_s:.2f} s, "
                      f"SOC/LB {ratios[-1]:.3f}", file=sys.stderr)
        label = f"{name}*" if synthetic else name
        if times:
            print(f"{label:<24}{agents:>7}{refine:>9g}{solved:>5}/{len(scens):<3}"
                  f"{statistics.median(times):>10.2f}{_percentile(times, 0.9):>8.2f}"
                  f"{statistics.mean(ratios):>8.3f}{statistics.mean(spans):>10.0f}"
                  f"{statistics.median(cpus):>8.2f}",
                  flush=True)
        else:
            print(f"{label:<24}{agents:>7}{refine:>9g}{0:>5}/{len(scens):<3}{'-':>10}{'-':>8}{'-':>8}"
                  f"{'-':>10}", flush=True)


def lifelong(args: argparse.Namespace) -> None:
    rows = _pairs(args.lifelong) if args.lifelong else LIFELONG
    print("lifelong (LoRR, 2026 delays): one PIBT step per step, action-dependency execution;"
          " turning: agents turn a quarter per step to face their move (LoRR's action model)")
    header = (f"{'problem':<24}{'turning':>8}{'agents':>7}{'steps':>7}{'tasks':>8}"
              f"{'per step':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'collisions':>11}"
              f"{'delays':>8}{'turns':>9}")
    print(header)
    print("-" * len(header))
    for name, steps in rows:
        problem = load_lorr(DATA / "lorr" / "warehouse.domain" / f"{name}.json")
        for rotations in (True, False) if args.both_models else (True,):
            stats = run_lifelong(problem, steps, seed=args.seed, rotations=rotations)
            print(f"{name:<24}{'yes' if rotations else 'no':>8}{stats.agents:>7}"
                  f"{stats.steps:>7}{stats.tasks_finished:>8}{stats.throughput:>10.3f}"
                  f"{stats.plan_time_p50_s * 1e3:>9.2f}{stats.plan_time_p99_s * 1e3:>9.2f}"
                  f"{stats.plan_time_max_s * 1e3:>9.1f}{stats.collisions:>11}"
                  f"{stats.delay_events:>8}{stats.turns:>9}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*",
                        help="one-shot rows as MAP:AGENTS or MAP:AGENTS:REFINE_S")
    parser.add_argument("--scens", default="1-25", help="scen numbers, e.g. 1-25 or 1,3,5")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--refine-time", type=float, default=None,
                        help="seconds of refinement for every row (default: per row)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="check every solution")
    parser.add_argument("--lifelong", nargs="*", help="lifelong rows as PROBLEM:STEPS")
    parser.add_argument("--both-models", action="store_true",
                        help="lifelong rows also without turning (plain unit moves)")
    parser.add_argument("--no-one-shot", action="store_true")
    parser.add_argument("--no-lifelong", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    began = time.perf_counter()
    warm_up_mapf()
    if not args.no_one_shot:
        one_shot(args)
    if not args.no_lifelong:
        print()
        lifelong(args)
    print(f"\n(total {time.perf_counter() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
