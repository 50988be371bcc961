"""Grid A* side by side: fleet's compiled core against the libraries people would pick instead.

    python bench/astar.py [--queries 100] [--maps den520d warehouse-20-40-10-2-1 random-1000]

Peers (the `bench` extra): pyastar2d (C++ core), networkx (astar_path on a grid graph) and
pathfinding (AStarFinder). Every library answers the same queries on the same map, taken
evenly through `<map>-random-1.scen`; for the generated 1000 x 1000 grid (20 % random
obstacles, fixed seed) the pairs are random free cells of its largest component. Queries
are interleaved across libraries so a busy machine slows them all alike. Fast libraries
are timed best-of-`--repeat` per query; networkx and pathfinding run once per query, and on
maps above `--slow-cells` cells only on `--slow-queries` of the queries (marked), their
ratio then taken against fleet's times on the same subset.

Correctness: every path is checked here, independently of fleet's code, for legal moves
(no corner cutting in 8-connected mode) and its cost compared with a reference: a BFS /
Dijkstra from scipy.sparse.csgraph, and for the 8-connected MovingAI queries the scen
file's optimum column.

pyastar2d's 8-connected mode solves a different problem (a diagonal step costs the same as
a straight one, and corners may be cut), so its 8-connected times are shown for
information only; the like-for-like comparison with it is 4-connected.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.ndimage
import scipy.sparse
import scipy.sparse.csgraph

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fleet.floor.movingai import load_map  # noqa: E402
from fleet.planning import GridPlanner, load_scen, warm_up  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "benchmarks" / "movingai"
SQRT2 = math.sqrt(2.0)
STRAIGHT = ((-1, 0), (1, 0), (0, -1), (0, 1))
DIAGONAL = ((-1, -1), (-1, 1), (1, -1), (1, 1))

Cell = tuple[int, int]


@dataclass
class Case:
    """One map and its queries: (start, goal, 8-connected optimum or None)."""

    name: str
    free: np.ndarray
    queries: list[tuple[Cell, Cell, float | None]]
    source: str


@dataclass
class Outcome:
    """One library's answers on one map and connectivity."""

    library: str
    query_ids: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    expansions: list[int] = field(default_factory=list)
    costs_ok: int = 0
    costs_checked: int = 0
    note: str = ""


# ---------------------------------------------------------------- maps and queries


def movingai_case(data: Path, name: str, n_queries: int) -> Case:
    free = load_map(data / f"{name}.map")
    scen = data / f"{name}-random-1.scen"
    tasks = load_scen(scen, free=free)
    picks = np.linspace(0, len(tasks) - 1, n_queries).round().astype(int)
    queries = [(tasks[i].start, tasks[i].goal, tasks[i].optimal_length) for i in picks]
    return Case(name, free, queries, f"{scen.name}, tasks spread over all buckets")


def random_case(size: int, n_queries: int, seed: int) -> Case:
    rng = np.random.default_rng(seed)
    free = rng.random((size, size)) >= 0.2
    labels, _ = scipy.ndimage.label(free)  # 4-connected components
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    cells = np.argwhere(labels == sizes.argmax())
    pairs = rng.choice(len(cells), size=(n_queries, 2))
    queries: list[tuple[Cell, Cell, float | None]] = [
        ((int(cells[a][0]), int(cells[a][1])), (int(cells[b][0]), int(cells[b][1])), None)
        for a, b in pairs
    ]
    return Case(
        f"random-{size}", free, queries, f"seed {seed}, random pairs in the largest component"
    )


# ------------------------------------------------------------- independent checking


def grid_graph(free: np.ndarray, connectivity: int) -> scipy.sparse.csr_array:
    """The move graph as a sparse matrix, built here without fleet's code."""
    rows, cols = free.shape
    index = np.arange(free.size).reshape(free.shape)
    sources, targets, weights = [], [], []
    moves = STRAIGHT + (DIAGONAL if connectivity == 8 else ())
    for dr, dc in moves:
        r0, r1 = max(0, -dr), rows - max(0, dr)
        c0, c1 = max(0, -dc), cols - max(0, dc)
        ok = free[r0:r1, c0:c1] & free[r0 + dr : r1 + dr, c0 + dc : c1 + dc]
        if dr and dc:  # no corner cutting: both side cells free
            ok &= free[r0 + dr : r1 + dr, c0:c1] & free[r0:r1, c0 + dc : c1 + dc]
        sources.append(index[r0:r1, c0:c1][ok])
        targets.append(index[r0 + dr : r1 + dr, c0 + dc : c1 + dc][ok])
        weights.append(np.full(int(ok.sum()), SQRT2 if dr and dc else 1.0))
    return scipy.sparse.csr_array(
        (np.concatenate(weights), (np.concatenate(sources), np.concatenate(targets))),
        shape=(free.size, free.size),
    )


def reference_cost(graph: Any, free: np.ndarray, start: Cell, goal: Cell, bound: float) -> float:
    """Optimal cost by scipy's Dijkstra, searching no further than `bound`."""
    width = free.shape[1]
    dist = scipy.sparse.csgraph.dijkstra(graph, indices=start[0] * width + start[1], limit=bound)
    return float(dist[goal[0] * width + goal[1]])


def checked_cost(free: np.ndarray, cells: Sequence[Cell], connectivity: int) -> float:
    """Cost of a path after checking each cell and move; NaN if anything is illegal."""
    rows, cols = free.shape
    allowed = STRAIGHT + (DIAGONAL if connectivity == 8 else ())
    total = 0.0
    for i, (r, c) in enumerate(cells):
        if not (0 <= r < rows and 0 <= c < cols and free[r, c]):
            return math.nan
        if i == 0:
            continue
        pr, pc = cells[i - 1]
        dr, dc = r - pr, c - pc
        if (dr, dc) not in allowed:
            return math.nan
        if dr and dc:
            if not (free[pr + dr, pc] and free[pr, pc + dc]):
                return math.nan
            total += SQRT2
        else:
            total += 1.0
    return total


# -------------------------------------------------------------------- the libraries


class Library:
    """A planner under test: `prepare` once per map, then `solve` per query."""

    name = ""
    slow = False
    note = ""
    checked = True  # whether its 8-connected costs are comparable

    def supports(self, connectivity: int) -> bool:
        return True

    def prepare(self, free: np.ndarray, connectivity: int) -> None:
        raise NotImplementedError

    def solve(self, start: Cell, goal: Cell) -> Any:
        """The library's own answer: the call that is timed."""
        raise NotImplementedError

    def unpack(self, answer: Any) -> tuple[list[Cell], int | None]:
        """The path as (row, col) cells and the expansions, if the library reports them."""
        return list(answer), None

    def reported_cost(self, answer: Any) -> float | None:
        """The cost the library itself reports, if it does."""
        return None


class Fleet(Library):
    name = "fleet"

    def prepare(self, free: np.ndarray, connectivity: int) -> None:
        self.planner = GridPlanner(free, connectivity)

    def solve(self, start: Cell, goal: Cell) -> Any:
        return self.planner.plan(start, goal)

    def unpack(self, answer: Any) -> tuple[list[Cell], int | None]:
        return answer.cells, answer.expansions

    def reported_cost(self, answer: Any) -> float | None:
        return float(answer.cost)


class PyAstar2d(Library):
    name = "pyastar2d"

    def __init__(self) -> None:
        import pyastar2d

        self.module = pyastar2d

    def prepare(self, free: np.ndarray, connectivity: int) -> None:
        self.weights = np.where(free, 1.0, np.inf).astype(np.float32)
        self.diagonal = connectivity == 8
        self.checked = not self.diagonal
        self.note = "diag cost 1, cuts corners" if self.diagonal else ""

    def solve(self, start: Cell, goal: Cell) -> Any:
        return self.module.astar_path(self.weights, start, goal, allow_diagonal=self.diagonal)

    def unpack(self, answer: Any) -> tuple[list[Cell], int | None]:
        return [(int(r), int(c)) for r, c in answer], None


class NetworkX(Library):
    name = "networkx"
    slow = True

    def __init__(self) -> None:
        import networkx

        self.nx = networkx

    def prepare(self, free: np.ndarray, connectivity: int) -> None:
        graph = self.nx.Graph()
        rows, cols = free.shape
        moves = ((0, 1), (1, 0)) + (((1, 1), (1, -1)) if connectivity == 8 else ())
        for r, c in np.argwhere(free).tolist():
            graph.add_node((r, c))
            for dr, dc in moves:
                nr, nc = r + dr, c + dc
                if not (0 <= nr < rows and 0 <= nc < cols and free[nr, nc]):
                    continue
                if dr and dc and not (free[r + dr, c] and free[r, c + dc]):
                    continue
                graph.add_edge((r, c), (nr, nc), weight=SQRT2 if dr and dc else 1.0)
        self.graph = graph
        if connectivity == 8:
            self.heuristic: Callable[[Cell, Cell], float] = _octile
        else:
            self.heuristic = _manhattan

    def solve(self, start: Cell, goal: Cell) -> Any:
        return self.nx.astar_path(self.graph, start, goal, heuristic=self.heuristic)


class Pathfinding(Library):
    name = "pathfinding"
    slow = True

    def __init__(self) -> None:
        from pathfinding.core.diagonal_movement import DiagonalMovement
        from pathfinding.core.grid import Grid
        from pathfinding.finder.a_star import AStarFinder

        self.grid_type = Grid
        self.finder_type = AStarFinder
        self.movement = DiagonalMovement

    def prepare(self, free: np.ndarray, connectivity: int) -> None:
        self.grid = self.grid_type(matrix=free.astype(np.int8).tolist())
        movement = self.movement.only_when_no_obstacle if connectivity == 8 else self.movement.never
        self.finder = self.finder_type(diagonal_movement=movement)

    def solve(self, start: Cell, goal: Cell) -> Any:
        # find_path resets the grid's nodes itself before searching.
        return self.finder.find_path(
            self.grid.node(start[1], start[0]), self.grid.node(goal[1], goal[0]), self.grid
        )

    def unpack(self, answer: Any) -> tuple[list[Cell], int | None]:
        path, runs = answer
        return [(node.y, node.x) for node in path], int(runs)


def _manhattan(a: Cell, b: Cell) -> float:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


def _octile(a: Cell, b: Cell) -> float:
    dr, dc = abs(a[0] - b[0]), abs(a[1] - b[1])
    return max(dr, dc) + (SQRT2 - 1.0) * min(dr, dc)


# --------------------------------------------------------------------- the benchmark


def bench_case(
    case: Case, connectivity: int, libraries: list[Library], args: argparse.Namespace
) -> list[Outcome]:
    free = case.free
    n = len(case.queries)
    slow_ids = list(range(n))
    if free.size > args.slow_cells and n > args.slow_queries:
        slow_ids = sorted(set(np.linspace(0, n - 1, args.slow_queries).round().astype(int)))
    active: list[tuple[Library, Outcome]] = []
    for library in libraries:
        if not library.supports(connectivity):
            continue
        began = time.perf_counter()
        library.prepare(free, connectivity)
        outcome = Outcome(library.name, note=library.note)
        if library.slow and len(slow_ids) < n:
            outcome.note = f"{len(slow_ids)} of {n} queries"
        print(
            f"  {library.name}: prepared in {time.perf_counter() - began:.2f} s",
            file=sys.stderr,
        )
        active.append((library, outcome))
    graph = grid_graph(free, connectivity)
    slow_set = set(slow_ids)
    for qid, (start, goal, optimum) in enumerate(case.queries):
        reference: float | None = None
        for turn in range(len(active)):
            # Rotate who goes first so no library always meets a cold cache.
            library, outcome = active[(qid + turn) % len(active)]
            if library.slow and qid not in slow_set:
                continue
            repeats = 1 if library.slow else args.repeat
            best = math.inf
            answer: Any = None
            for _ in range(repeats):
                began = time.perf_counter()
                answer = library.solve(start, goal)
                best = min(best, time.perf_counter() - began)
            cells, expansions = library.unpack(answer)
            outcome.query_ids.append(qid)
            outcome.seconds.append(best)
            if expansions is not None:
                outcome.expansions.append(expansions)
            if connectivity == 8 and not library.checked:
                continue
            cost = checked_cost(free, cells, connectivity)
            if connectivity == 8 and optimum is not None:
                reference = optimum
            elif reference is None:
                bound = cost + 1.0 if math.isfinite(cost) else np.inf
                reference = reference_cost(graph, free, start, goal, bound)
            outcome.costs_checked += 1
            reported = library.reported_cost(answer)
            tolerance = 1e-6 * max(1.0, reference)
            if (
                cells
                and cells[0] == start
                and cells[-1] == goal
                and abs(cost - reference) <= tolerance
                and (reported is None or abs(reported - reference) <= tolerance)
            ):
                outcome.costs_ok += 1
        if (qid + 1) % 10 == 0:
            print(f"  {case.name} {connectivity}-conn: {qid + 1}/{n} queries", file=sys.stderr)
    return [outcome for _, outcome in active]


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def render(case: Case, connectivity: int, outcomes: list[Outcome]) -> str:
    fleet = next(o for o in outcomes if o.library == "fleet")
    fleet_by_query = dict(zip(fleet.query_ids, fleet.seconds, strict=True))
    header = ["", *[o.library for o in outcomes]]
    rows: list[list[str]] = []

    def row(label: str, cell: Callable[[Outcome], str]) -> None:
        rows.append([label, *[cell(o) for o in outcomes]])

    row("queries", lambda o: f"{len(o.seconds)}")
    row("median ms", lambda o: f"{statistics.median(o.seconds) * 1e3:.3f}")
    row("p90 ms", lambda o: f"{percentile(o.seconds, 90) * 1e3:.3f}")

    def rate(o: Outcome) -> str:
        if not o.expansions:
            return "n/a"
        return f"{sum(o.expansions) / sum(o.seconds) / 1e6:.2f} M"

    row("expansions/s", rate)

    def ratio(o: Outcome) -> str:
        if o is fleet:
            return "1"
        own = statistics.median(fleet_by_query[q] for q in o.query_ids)
        return f"{own / statistics.median(o.seconds):.3f}"

    row("fleet/peer (median)", ratio)
    row(
        "costs = reference",
        lambda o: f"{o.costs_ok}/{o.costs_checked}" if o.costs_checked else "not comparable",
    )
    row("note", lambda o: o.note or "-")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    if connectivity == 4:
        reference = "BFS (scipy csgraph, unit steps)"
    elif case.queries[0][2] is not None:
        reference = "the scen file's optimum column"
    else:
        reference = "Dijkstra (scipy csgraph)"
    lines = [
        f"{case.name} {case.free.shape[0]} x {case.free.shape[1]}, {connectivity}-connected "
        f"({case.source}); costs checked against {reference}",
        " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
        "-+-".join("-" * w for w in widths),
    ]
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def measure_warm_up() -> tuple[float, float]:
    """Seconds for `import fleet.planning; warm_up()` in a fresh process: cold, then warm."""
    code = (
        "import time; t = time.perf_counter(); import fleet.planning as p; p.warm_up(); "
        "print(time.perf_counter() - t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(REPO))
        times = []
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            )
            times.append(float(out.stdout.strip()))
    return times[0], times[1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument(
        "--maps", nargs="+", default=["den520d", "warehouse-20-40-10-2-1", "random-1000"]
    )
    parser.add_argument("--connectivity", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=3, help="best-of-N for fast libraries")
    parser.add_argument("--slow-cells", type=int, default=200_000)
    parser.add_argument("--slow-queries", type=int, default=10)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--peers", nargs="*", default=["pyastar2d", "networkx", "pathfinding"])
    parser.add_argument("--no-warm-up-check", action="store_true")
    args = parser.parse_args(argv)

    libraries: list[Library] = [Fleet()]
    makers = {"pyastar2d": PyAstar2d, "networkx": NetworkX, "pathfinding": Pathfinding}
    for name in args.peers:
        try:
            libraries.append(makers[name]())
        except ImportError:
            print(f"{name} is not installed (pip install -e '.[bench]'); skipped")

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, numpy {np.__version__}")
    if not args.no_warm_up_check:
        cold, warm = measure_warm_up()
        print(
            f"import + warm_up(): {cold:.2f} s with an empty NUMBA_CACHE_DIR, {warm:.2f} s "
            "with the cache"
        )
    warm_up()
    print(
        f"times: per query, best of {args.repeat} for fleet and pyastar2d, one run for "
        "networkx and pathfinding; fleet/peer < 1 means fleet is faster"
    )
    for name in args.maps:
        if name.startswith("random-"):
            case = random_case(int(name.split("-")[1]), args.queries, args.seed)
        else:
            case = movingai_case(args.data, name, args.queries)
        for connectivity in args.connectivity:
            outcomes = bench_case(case, connectivity, libraries, args)
            print()
            print(render(case, connectivity, outcomes), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
