"""Compiled search kernels: grid A*, backward BFS/Dijkstra and lane-graph A* (numba).

Private. The typed wrappers in `grid.py`, `dist_table.py` and `lanes.py` validate inputs and
own the buffers; every kernel here works on flat arrays and plain scalars.

Grid encoding shared by the grid kernels:
- a cell's index is `row * width + col`;
- `mask[i]` has bit k set when move k from cell i is allowed (the target is on the map and
  traversable, and for a diagonal both cells beside it are too: no corner cutting), so the
  kernels need neither bounds checks nor a padded copy of the map;
- `back[i]` has bit k set when the move from cell i's neighbour in direction k back into i
  is allowed; on a grid without one-way zones it equals `mask`, with them the two differ,
  and searches that walk moves backwards (distance tables, path recovery) read `back`;
- `cost[i]` multiplies the base step cost (1 or sqrt 2) of every move that enters cell i;
- `stamp[i]` is `2 * generation` once cell i was reached in the current search and
  `2 * generation + 1` once it was expanded; any other value means "not touched yet", so a
  new search only bumps the generation instead of clearing arrays the size of the map.

Paths are recovered without a parent array: every reached cell's g is the exact cost of a
real path through an expanded neighbour, so walking back from the goal to any reached
neighbour whose g plus the step equals the current g always ends at the start.

The compile cache goes to `NUMBA_CACHE_DIR`, defaulting to the user's cache folder; that
default is set here, before numba builds its cache locators, and nowhere else.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast


def _default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "fleet" / "numba")


os.environ.setdefault("NUMBA_CACHE_DIR", _default_cache_dir())

import numba  # noqa: E402
import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
from numba.core import config as _numba_config  # noqa: E402

# numba reads its environment once at import; pick up the default if it was imported first.
_numba_config.reload_config()  # type: ignore[no-untyped-call]

_F = TypeVar("_F", bound=Callable[..., Any])


def _jit(fn: _F) -> _F:
    """Compile `fn` lazily, cache it on disk, and release the GIL while it runs."""
    return cast(_F, numba.njit(cache=True, nogil=True, boundscheck=False)(fn))


Int32Array = npt.NDArray[np.int32]
UInt8Array = npt.NDArray[np.uint8]
Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
TableArray = npt.NDArray[np.float64] | npt.NDArray[np.float32]
"""A distance table being filled: float64, or float32 (whole cells only)."""

SQRT2 = 1.4142135623730951
# Two costs closer than this are equal; real cost differences on grids are far larger.
EPS = 1e-9
# Heap keys are f - TIE * g: among equal f the deeper entry (larger g) leaves first, which
# keeps A* from sweeping plateaus of equally good cells. That makes the search a weighted
# A* with weight 1 / (1 - TIE), so a path costs at most (1 + 1e-9) times the optimum; on
# uniform grids distinct path costs differ far more than that for paths under ~10,000
# cells, so the result is exactly optimal there.
TIE = 1e-9
# Move k: (row step, col step). Cardinal moves first, so 4-connected searches use k < 4.
MOVE_DR = np.array([-1, 1, 0, 0, -1, -1, 1, 1], dtype=np.int64)
MOVE_DC = np.array([0, 0, -1, 1, -1, 1, -1, 1], dtype=np.int64)
MOVE_COST = np.array([1.0, 1.0, 1.0, 1.0, SQRT2, SQRT2, SQRT2, SQRT2], dtype=np.float64)
# The stamp generation restarts (and stamps are cleared) before it could overflow int32.
MAX_GENERATION = (1 << 30) - 2


@_jit
def _heap_push(
    heap_key: FloatArray, heap_node: Int32Array, size: int, key: float, node: int
) -> None:
    """Insert (key, node) into a 4-ary min-heap of `size` entries (room checked by caller)."""
    i = size
    while i > 0:
        parent = (i - 1) >> 2
        parent_key = heap_key[parent]
        if parent_key <= key:
            break
        heap_key[i] = parent_key
        heap_node[i] = heap_node[parent]
        i = parent
    heap_key[i] = key
    heap_node[i] = node


@_jit
def _heap_pop_fix(heap_key: FloatArray, heap_node: Int32Array, size: int) -> None:
    """After taking the root: move the last entry (index `size`) into the hole, sift down."""
    key = heap_key[size]
    node = heap_node[size]
    i = 0
    while True:
        first = 4 * i + 1
        if first >= size:
            break
        child = first
        child_key = heap_key[first]
        for j in range(first + 1, min(first + 4, size)):
            other = heap_key[j]
            if other < child_key:
                child_key = other
                child = j
        if key <= child_key:
            break
        heap_key[i] = child_key
        heap_node[i] = heap_node[child]
        i = child
    heap_key[i] = key
    heap_node[i] = node


@_jit
def _heap_grow(
    heap_key: FloatArray, heap_node: Int32Array, size: int, room: int
) -> tuple[FloatArray, Int32Array]:
    """Copies of the heap buffers with room for at least `room` more entries."""
    capacity = 2 * heap_node.shape[0] + room
    grown_key = np.empty(capacity, np.float64)
    grown_node = np.empty(capacity, np.int32)
    grown_key[:size] = heap_key[:size]
    grown_node[:size] = heap_node[:size]
    return grown_key, grown_node


@_jit
def astar_unit4(
    mask: UInt8Array,
    back: UInt8Array,
    width: int,
    start: int,
    goal: int,
    g: FloatArray,
    stamp: Int32Array,
    generation: int,
    stack_a: Int32Array,
    stack_b: Int32Array,
) -> tuple[Int64Array, int]:
    """A* on a 4-connected unit-cost grid; returns (path as (n, 2) rows/cols, expansions).

    With unit steps and the Manhattan heuristic a successor's f is its parent's f or f + 2,
    so the open list is two stacks instead of a heap: `current` holds f = fmin and `later`
    holds fmin + 2. Taking the newest entry first prefers deeper cells among equal f.
    An unreachable goal gives an empty path.
    """
    open_tag = 2 * generation
    closed_tag = open_tag + 1
    goal_row = goal // width
    goal_col = goal - goal_row * width
    current = stack_a
    later = stack_b
    n_current = 1
    n_later = 0
    current[0] = start
    g[start] = 0.0
    stamp[start] = open_tag
    expansions = 0
    found = False
    while True:
        if n_current == 0:
            if n_later == 0:
                break
            current, later = later, current
            n_current = n_later
            n_later = 0
        n_current -= 1
        node = current[n_current]
        if stamp[node] == closed_tag:
            continue
        stamp[node] = closed_tag
        expansions += 1
        if node == goal:
            found = True
            break
        moves = mask[node]
        if moves == 0:
            continue
        row = node // width
        col = node - row * width
        g_next = g[node] + 1.0
        for k in range(4):
            if moves & (1 << k):
                if k == 0:
                    nb = node - width
                    toward = row > goal_row
                elif k == 1:
                    nb = node + width
                    toward = row < goal_row
                elif k == 2:
                    nb = node - 1
                    toward = col > goal_col
                else:
                    nb = node + 1
                    toward = col < goal_col
                s = stamp[nb]
                if s == closed_tag or (s == open_tag and g[nb] <= g_next):
                    continue
                g[nb] = g_next
                stamp[nb] = open_tag
                # Toward the goal f stays the same, away from it f grows by 2.
                if toward:
                    current[n_current] = nb
                    n_current += 1
                else:
                    later[n_later] = nb
                    n_later += 1
    if not found:
        return np.empty((0, 2), np.int64), expansions
    return _trace_back(back, None, width, 4, start, goal, g, stamp, generation), expansions


@_jit
def _trace_back(
    back: UInt8Array,
    cost: FloatArray | None,
    width: int,
    n_moves: int,
    start: int,
    goal: int,
    g: FloatArray,
    stamp: Int32Array,
    generation: int,
) -> Int64Array:
    """The path start..goal as an (n, 2) array of (row, col), walked back from the goal."""
    open_tag = 2 * generation
    closed_tag = open_tag + 1
    reversed_path = np.empty(64, np.int64)
    node = goal
    length = 0
    # Every step lowers g by at least 1, so the walk ends after g[goal] + 1 cells.
    limit = int(g[goal]) + 2
    while length < limit:
        if length == reversed_path.shape[0]:
            longer = np.empty(2 * length, np.int64)
            longer[:length] = reversed_path
            reversed_path = longer
        reversed_path[length] = node
        length += 1
        if node == start:
            break
        moves = back[node]
        g_node = g[node]
        best = -1
        best_error = np.inf
        for k in range(n_moves):
            if moves & (1 << k):
                nb = node + MOVE_DR[k] * width + MOVE_DC[k]
                s = stamp[nb]
                if s != open_tag and s != closed_tag:
                    continue
                g_nb = g[nb]
                if g_nb >= g_node:
                    continue
                # Same expression as the forward search, so the true parent matches exactly.
                step = MOVE_COST[k] if cost is None else MOVE_COST[k] * cost[node]
                error = abs(g_nb + step - g_node)
                if error < best_error:
                    best_error = error
                    best = nb
                    if error == 0.0:
                        break
        if best < 0:
            break
        node = best
    if reversed_path[length - 1] != start:
        return np.empty((0, 2), np.int64)
    path = np.empty((length, 2), np.int64)
    for i in range(length):
        cell = reversed_path[length - 1 - i]
        row = cell // width
        path[i, 0] = row
        path[i, 1] = cell - row * width
    return path


@_jit
def astar_heap(
    mask: UInt8Array,
    back: UInt8Array,
    cost: FloatArray | None,
    width: int,
    n_moves: int,
    h_scale: float,
    start: int,
    goal: int,
    g: FloatArray,
    stamp: Int32Array,
    generation: int,
    heap_key: FloatArray,
    heap_node: Int32Array,
    fast: Int32Array,
) -> tuple[Int64Array, int, FloatArray, Int32Array]:
    """A* with a 4-ary heap: 4 or 8 moves, Manhattan or octile heuristic, optional costs.

    Returns (path as (n, 2) rows/cols, empty if unreachable; expansions; heap buffers,
    grown if the search needed more room). Stale heap entries are skipped on pop: a better
    entry for the same cell always leaves the heap first. A successor with the same f as the
    cell just expanded is already a minimum of the open list, so it goes on the `fast`
    stack (size n + 1) and is expanded next without touching the heap.
    """
    open_tag = 2 * generation
    closed_tag = open_tag + 1
    goal_row = goal // width
    goal_col = goal - goal_row * width
    octile = n_moves == 8
    g[start] = 0.0
    stamp[start] = open_tag
    heap_key[0] = 0.0
    heap_node[0] = start
    size = 1
    n_fast = 0
    expansions = 0
    found = False
    while size > 0 or n_fast > 0:
        if n_fast > 0:
            n_fast -= 1
            node = fast[n_fast]
        else:
            node = heap_node[0]
            size -= 1
            if size > 0:
                _heap_pop_fix(heap_key, heap_node, size)
        if stamp[node] == closed_tag:
            continue
        stamp[node] = closed_tag
        expansions += 1
        if node == goal:
            found = True
            break
        moves = mask[node]
        if moves == 0:
            continue
        if size + n_moves > heap_node.shape[0]:
            heap_key, heap_node = _heap_grow(heap_key, heap_node, size, n_moves)
        g_node = g[node]
        row = node // width
        col = node - row * width
        d_row = abs(row - goal_row)
        d_col = abs(col - goal_col)
        h = d_row + d_col + (SQRT2 - 2.0) * min(d_row, d_col) if octile else d_row + d_col
        f_node = g_node + h_scale * h
        for k in range(n_moves):
            if moves & (1 << k):
                nb = node + MOVE_DR[k] * width + MOVE_DC[k]
                s = stamp[nb]
                if s == closed_tag:
                    continue
                step = MOVE_COST[k] if cost is None else MOVE_COST[k] * cost[nb]
                g_nb = g_node + step
                if s == open_tag and g[nb] <= g_nb + EPS:
                    continue
                g[nb] = g_nb
                stamp[nb] = open_tag
                d_row = abs(row + MOVE_DR[k] - goal_row)
                d_col = abs(col + MOVE_DC[k] - goal_col)
                h = d_row + d_col + (SQRT2 - 2.0) * min(d_row, d_col) if octile else d_row + d_col
                f_nb = g_nb + h_scale * h
                if f_nb <= f_node + EPS and n_fast < fast.shape[0]:
                    fast[n_fast] = nb
                    n_fast += 1
                else:
                    _heap_push(heap_key, heap_node, size, f_nb - TIE * g_nb, nb)
                    size += 1
    if not found:
        return np.empty((0, 2), np.int64), expansions, heap_key, heap_node
    path = _trace_back(back, cost, width, n_moves, start, goal, g, stamp, generation)
    return path, expansions, heap_key, heap_node


@_jit
def bfs_backward_unit4(
    back: UInt8Array, width: int, goal: int, dist_out: TableArray, queue: Int32Array
) -> int:
    """Fill `dist_out` with unit 4-connected distances to `goal` (inf if unreachable),
    walking the moves into each cell (`back`) from the goal outward.

    Returns the number of cells reached.
    """
    dist_out[:] = np.inf
    dist_out[goal] = 0.0
    queue[0] = goal
    head = 0
    tail = 1
    while head < tail:
        node = queue[head]
        head += 1
        moves = back[node]
        d_next = dist_out[node] + 1.0
        for k in range(4):
            if moves & (1 << k):
                nb = node + MOVE_DR[k] * width + MOVE_DC[k]
                if dist_out[nb] == np.inf:
                    dist_out[nb] = d_next
                    queue[tail] = nb
                    tail += 1
    return tail


@_jit
def dijkstra_backward(
    back: UInt8Array,
    cost: FloatArray | None,
    width: int,
    n_moves: int,
    goal: int,
    dist_out: FloatArray,
    heap_key: FloatArray,
    heap_node: Int32Array,
) -> tuple[int, FloatArray, Int32Array]:
    """Fill `dist_out` with the cost to reach `goal` from every cell (inf if unreachable).

    Runs backward over the moves into each cell (`back`): the step from a neighbour into
    `node` costs
    the base step times `cost[node]`. Returns (cells settled, heap buffers).
    """
    dist_out[:] = np.inf
    dist_out[goal] = 0.0
    heap_key[0] = 0.0
    heap_node[0] = goal
    size = 1
    settled = 0
    while size > 0:
        node = heap_node[0]
        d_node = heap_key[0]
        size -= 1
        if size > 0:
            _heap_pop_fix(heap_key, heap_node, size)
        if d_node > dist_out[node]:
            continue
        settled += 1
        if size + n_moves > heap_node.shape[0]:
            heap_key, heap_node = _heap_grow(heap_key, heap_node, size, n_moves)
        moves = back[node]
        enter = 1.0 if cost is None else cost[node]
        for k in range(n_moves):
            if moves & (1 << k):
                nb = node + MOVE_DR[k] * width + MOVE_DC[k]
                d_nb = d_node + MOVE_COST[k] * enter
                if d_nb < dist_out[nb] - EPS:
                    dist_out[nb] = d_nb
                    _heap_push(heap_key, heap_node, size, d_nb, nb)
                    size += 1
    return settled, heap_key, heap_node


@_jit
def astar_graph(
    indptr: Int32Array,
    indices: Int32Array,
    weights: FloatArray,
    xs: FloatArray,
    ys: FloatArray,
    h_scale: float,
    start: int,
    goal: int,
    g: FloatArray,
    parent: Int32Array,
    stamp: Int32Array,
    generation: int,
    heap_key: FloatArray,
    heap_node: Int32Array,
) -> tuple[Int64Array, int, FloatArray, Int32Array]:
    """A* on a directed graph in CSR form with a scaled straight-line heuristic.

    `h_scale` times the straight-line distance never exceeds an edge's weight, which keeps
    the heuristic consistent. Returns (node path, empty if unreachable; expansions; heap
    buffers).
    """
    open_tag = 2 * generation
    closed_tag = open_tag + 1
    goal_x = xs[goal]
    goal_y = ys[goal]
    g[start] = 0.0
    parent[start] = -1
    stamp[start] = open_tag
    heap_key[0] = 0.0
    heap_node[0] = start
    size = 1
    expansions = 0
    found = False
    while size > 0:
        node = heap_node[0]
        size -= 1
        if size > 0:
            _heap_pop_fix(heap_key, heap_node, size)
        if stamp[node] == closed_tag:
            continue
        stamp[node] = closed_tag
        expansions += 1
        if node == goal:
            found = True
            break
        first = indptr[node]
        last = indptr[node + 1]
        if size + (last - first) > heap_node.shape[0]:
            heap_key, heap_node = _heap_grow(heap_key, heap_node, size, last - first)
        g_node = g[node]
        for e in range(first, last):
            nb = indices[e]
            s = stamp[nb]
            if s == closed_tag:
                continue
            g_nb = g_node + weights[e]
            if s == open_tag and g[nb] <= g_nb + EPS:
                continue
            g[nb] = g_nb
            parent[nb] = node
            stamp[nb] = open_tag
            h = h_scale * np.hypot(xs[nb] - goal_x, ys[nb] - goal_y)
            _heap_push(heap_key, heap_node, size, g_nb + h - TIE * g_nb, nb)
            size += 1
    if not found:
        return np.empty(0, np.int64), expansions, heap_key, heap_node
    length = 0
    node = goal
    while node >= 0 and length <= g.shape[0]:
        length += 1
        node = parent[node]
    path = np.empty(length, np.int64)
    node = goal
    for i in range(length - 1, -1, -1):
        path[i] = node
        node = parent[node]
    return path, expansions, heap_key, heap_node
