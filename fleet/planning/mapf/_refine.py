"""Solution refinement by large neighbourhood search (MAPF-LNS, Li et al., IJCAI 2021).

LaCAM's first solution is feasible but long: PIBT pushes agents that already arrived out
of the way. Refinement repeatedly takes a few agents out of the plan, replans them one by
one with SIPP (safe-interval path planning) against everyone else's fixed paths, and keeps
the new paths when their sum of costs is no larger. Every accepted step keeps the solution
valid.

Occupancy, for timesteps t up to the horizon T (the makespan of the first solution):
`occ[t * V + v]` is the agent at v at timestep t or -1, and `busy` holds the same facts as
one bit row per vertex (`busy[v * words + t // 64]`, bit `t % 64`), so SIPP finds the ends
of a vertex's free intervals with a few word operations. After its arrival an agent stays
at its goal forever, so its goal is closed to others from then on.
"""

from __future__ import annotations

import time

import numba
import numpy as np
import numpy.typing as npt
from numba.cpython.unsafe.numbers import leading_zeros, trailing_zeros

from fleet.planning._kernels import _jit
from fleet.planning.mapf._kernels import NIL, now_s, rand_below
from fleet.planning.mapf.graph import GridGraph

Int32Array = npt.NDArray[np.int32]
Int64Array = npt.NDArray[np.int64]
UInt64Array = npt.NDArray[np.uint64]
FloatArray = npt.NDArray[np.float64]

_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
# stats slots of `lns`
ITERATIONS, FAILED, IMPROVED, GAIN, EXPANSIONS = 0, 1, 2, 3, 4


@numba.njit(cache=True)
def cpu_s() -> float:
    """Process CPU seconds, readable from compiled code."""
    with numba.objmode(t="float64"):
        t = time.process_time()
    return t


@_jit
def _heap_push(keys: Int64Array, vals: Int32Array, size: int, key: int, val: int) -> None:
    i = size
    while i > 0:
        p = (i - 1) >> 1
        if keys[p] <= key:
            break
        keys[i] = keys[p]
        vals[i] = vals[p]
        i = p
    keys[i] = key
    vals[i] = val


@_jit
def _heap_pop(keys: Int64Array, vals: Int32Array, size: int) -> int:
    top = vals[0]
    size -= 1
    key = keys[size]
    val = vals[size]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and keys[c + 1] < keys[c]:
            c += 1
        if keys[c] >= key:
            break
        keys[i] = keys[c]
        vals[i] = vals[c]
        i = c
    keys[i] = key
    vals[i] = val
    return int(top)


# --------------------------------------------------------------------------- occupancy


@_jit
def _next_set(busy: UInt64Array, v: int, words: int, t: int, limit: int) -> int:
    """The first t' >= t whose bit is set in vertex v's row, or limit + 1 if none <= limit."""
    if t > limit:
        return limit + 1
    w = t >> 6
    row = v * words
    x = busy[row + w] & (_ALL << np.uint64(t & 63))
    while x == 0:
        w += 1
        if w >= words:
            return limit + 1
        x = busy[row + w]
    found = (w << 6) + int(trailing_zeros(x))  # type: ignore[call-arg]
    return found if found <= limit else limit + 1


@_jit
def _next_clear(busy: UInt64Array, v: int, words: int, t: int, limit: int) -> int:
    """The first t' >= t whose bit is clear in vertex v's row, or limit + 1 if none <= limit."""
    if t > limit:
        return limit + 1
    w = t >> 6
    row = v * words
    x = ~busy[row + w] & (_ALL << np.uint64(t & 63))
    while x == 0:
        w += 1
        if w >= words:
            return limit + 1
        x = ~busy[row + w]
    found = (w << 6) + int(trailing_zeros(x))  # type: ignore[call-arg]
    return found if found <= limit else limit + 1


@_jit
def _prev_set(busy: UInt64Array, v: int, words: int, t: int) -> int:
    """The last t' <= t whose bit is set in vertex v's row, or -1 if none."""
    w = t >> 6
    row = v * words
    x = busy[row + w] & (_ALL >> np.uint64(63 - (t & 63)))
    while x == 0:
        w -= 1
        if w < 0:
            return -1
        x = busy[row + w]
    return (w << 6) + 63 - int(leading_zeros(x))  # type: ignore[call-arg]


@_jit
def place(path: Int32Array, who: int, occ: Int32Array, busy: UInt64Array, words: int,
          v_count: int) -> None:
    """Write `path` (one vertex per timestep) into the occupancy as agent `who`, or clear
    it when `who` is NIL."""
    for t in range(path.shape[0]):
        v = path[t]
        occ[t * v_count + v] = who
        bit = np.uint64(1) << np.uint64(t & 63)
        if who == NIL:
            busy[v * words + (t >> 6)] &= ~bit
        else:
            busy[v * words + (t >> 6)] |= bit


# --------------------------------------------------------------------------- SIPP


@_jit
def sipp(
    start: int,
    goal: int,
    nbr: Int32Array,
    table: Int32Array,
    occ: Int32Array,
    busy: UInt64Array,
    words: int,
    horizon: int,
    max_arrival: int,
    mark: Int32Array,
    generation: int,
    parent: Int32Array,
    best: Int32Array,
    heap_keys: Int64Array,
    heap_vals: Int32Array,
    out: Int32Array,
    max_expansions: int,
    counter: Int64Array,
) -> int:
    """The earliest arrival at `goal` from `start` (at timestep 0) avoiding the agents in
    the occupancy; writes the path into `out[0..horizon]`, padded with the goal.

    Safe-interval path planning (Phillips & Likhachev, ICRA 2011): a state is a vertex and
    one of its maximal free intervals, reached at the earliest timestep found so far, so a
    wait of any length is one state instead of one per timestep. Moves are 4-connected
    unit steps; vertex and swap conflicts with the others are avoided, and the agent must
    be able to stay at its goal from its arrival on (the goal is free from then to the
    horizon; after the horizon everyone rests at their own, distinct, goals).

    A state is keyed by its interval's first timestep c as `c * V + v`: `best[key]` is its
    earliest arrival, valid where `mark[key] == generation`, and `parent[key]` the state it
    came from. The heap orders by f = max(t + h, the goal's last taken timestep + 1), then
    nearer the goal, then earlier: f is flat while the goal is taken, and the search then
    heads for the goal. That order can reach a state late first, so a state reached again
    earlier is reopened; the goal is only accepted when popped, which keeps the answer
    optimal. `counter[0]` counts expansions. Returns the arrival timestep, or -1 when none
    exists by `max_arrival` or the search would pass `max_expansions` expansions.
    """
    v_count = nbr.shape[0]
    goal_last = _prev_set(busy, goal, words, horizon)
    earliest = max(int(table[start]), goal_last + 1)
    if earliest > max_arrival:
        return -1
    near = 1 << 16
    width = horizon + 2
    mark[start] = generation
    parent[start] = NIL
    best[start] = 0
    size = 0
    _heap_push(heap_keys, heap_vals, size,
               (earliest * near + min(int(table[start]), near - 1)) * width, start)
    size += 1
    expansions = 0
    while size > 0:
        key = heap_keys[0]
        state = _heap_pop(heap_keys, heap_vals, size)
        size -= 1
        g = key % width
        if best[state] != g:
            continue  # stale: the state was reached earlier since this entry was pushed
        c = state // v_count
        v = state - c * v_count
        end = _next_set(busy, v, words, g, horizon) - 1  # v stays free until `end`
        if v == goal and end == horizon:
            for s in range(g, horizon + 1):
                out[s] = goal
            t_next = g
            cur = parent[state]
            while cur != NIL:
                cv = cur % v_count
                for s in range(best[cur], t_next):
                    out[s] = cv
                t_next = best[cur]
                cur = parent[cur]
            counter[0] += expansions
            return int(g)
        expansions += 1
        if expansions > max_expansions:
            break
        limit = min(end + 1, horizon)  # the last arrival at a neighbour after leaving v
        for k in range(4):
            u = nbr[v, k]
            if u < 0:
                break
            hu = int(table[u])
            row = u * words
            t = g + 1
            while t <= limit:  # the earliest arrival in each free interval of u
                if (busy[row + (t >> 6)] >> np.uint64(t & 63)) & np.uint64(1):
                    t = _next_clear(busy, u, words, t, horizon)
                    continue
                if ((busy[row + ((t - 1) >> 6)] >> np.uint64((t - 1) & 63)) & np.uint64(1)
                        and occ[t * v_count + v] == occ[(t - 1) * v_count + u]):
                    break  # a swap; v is taken at t, so no later start from v either
                f = max(t + hu, goal_last + 1)
                if f > max_arrival:
                    break
                s1 = (_prev_set(busy, u, words, t) + 1) * v_count + u
                if mark[s1] != generation or t < best[s1]:
                    mark[s1] = generation
                    best[s1] = t
                    parent[s1] = state
                    if size == heap_keys.shape[0]:
                        bigger_k = np.empty(2 * size, dtype=np.int64)
                        bigger_v = np.empty(2 * size, dtype=np.int32)
                        bigger_k[:size] = heap_keys[:size]
                        bigger_v[:size] = heap_vals[:size]
                        heap_keys = bigger_k
                        heap_vals = bigger_v
                    _heap_push(heap_keys, heap_vals, size,
                               (f * near + min(hu, near - 1)) * width + t, s1)
                    size += 1
                t = _next_set(busy, u, words, t, horizon) + 1  # u's next free interval
    counter[0] += expansions
    return -1


# --------------------------------------------------------------------------- LNS


@_jit
def _arrival(sol: Int32Array, i: int, goal: int) -> int:
    t = sol.shape[0] - 1
    while t >= 0 and sol[t, i] == goal:
        t -= 1
    return int(t + 1)


@_jit
def _neighbourhood(
    nbr: Int32Array,
    tables: Int32Array,
    paths: Int32Array,
    occ: Int32Array,
    goals: Int32Array,
    cost: Int64Array,
    lower: Int64Array,
    delayed: Int32Array,
    n_delayed: int,
    k_max: int,
    chosen: Int32Array,
    in_set: npt.NDArray[np.bool_],
    rng: npt.NDArray[np.uint64],
) -> int:
    """Pick up to k_max agents into `chosen` (marking `in_set`); returns how many."""
    n = paths.shape[0]
    horizon = paths.shape[1] - 1
    v_count = nbr.shape[0]
    # the seed: the most delayed of a few random delayed agents
    seed_agent = delayed[rand_below(rng, n_delayed)]
    for _ in range(2):
        other = delayed[rand_below(rng, n_delayed)]
        if cost[other] - lower[other] > cost[seed_agent] - lower[seed_agent]:
            seed_agent = other
    count = 1
    chosen[0] = seed_agent
    in_set[seed_agent] = True
    row = tables[seed_agent]
    start = paths[seed_agent, 0]
    goal = goals[seed_agent]
    # goal blockers: whoever is on the seed's goal after it could have arrived
    for t in range(int(row[start]), horizon + 1):
        b = occ[t * v_count + goal]
        if b != NIL and not in_set[b] and count < k_max:
            chosen[count] = b
            in_set[b] = True
            count += 1
    # path blockers: whoever stands on a shortest route of the seed when it would pass
    v = start
    t = 0
    while count < k_max and t <= horizon:
        for dt in range(-1, 2):
            if 0 <= t + dt <= horizon:
                b = occ[(t + dt) * v_count + v]
                if b != NIL and not in_set[b] and count < k_max:
                    chosen[count] = b
                    in_set[b] = True
                    count += 1
        if row[v] == 0:
            break
        nxt = v
        for k in range(4):
            u = nbr[v, k]
            if u < 0:
                break
            if row[u] < row[v]:
                nxt = u
                if rand_below(rng, 2) == 0:
                    break
        v = nxt
        t += 1
    tries = 0
    while count < k_max and tries < 4 * k_max:
        tries += 1
        if rand_below(rng, 2) == 0:
            pick = rand_below(rng, n)
        else:
            pick = int(delayed[rand_below(rng, n_delayed)])
        if not in_set[pick]:
            chosen[count] = pick
            in_set[pick] = True
            count += 1
    return count


@_jit
def lns(
    nbr: Int32Array,
    tables: Int32Array,
    goals: Int32Array,
    sol: Int32Array,
    deadline_s: float,
    cpu_budget_s: float,
    seed: int,
    neighbourhood: int,
    max_iterations: int,
    patience: int,
    stats: Int64Array,
    trace: FloatArray,
) -> int:
    """Improve `sol` ((T+1, N) vertices) in place; returns the iterations run.

    Stops at the wall-clock `deadline_s` (the kernel clock), after `cpu_budget_s` process
    CPU seconds if that is positive, after `max_iterations`, after `patience` iterations in
    a row without a gain (if positive), or when every agent is on a shortest path. Each
    iteration replans a neighbourhood of up to `neighbourhood` agents. `stats` (at least 5
    int64) adds up iterations, failed replans, improving iterations, the SOC gained and
    SIPP expansions; every 16 iterations, while rows are left, a row (CPU seconds since the
    start, SOC, iterations) is written to `trace`.
    """
    horizon = sol.shape[0] - 1
    n = sol.shape[1]
    v_count = nbr.shape[0]
    rng = np.empty(1, dtype=np.uint64)
    rng[0] = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(7)
    words = (horizon >> 6) + 1
    occ = np.full((horizon + 1) * v_count, NIL, dtype=np.int32)
    busy = np.zeros(v_count * words, dtype=np.uint64)
    paths = np.ascontiguousarray(sol.T)  # paths[i] is agent i's path
    for i in range(n):
        place(paths[i], i, occ, busy, words, v_count)
    cost = np.empty(n, dtype=np.int64)
    lower = np.empty(n, dtype=np.int64)
    for i in range(n):
        cost[i] = _arrival(sol, i, goals[i])
        lower[i] = tables[i, sol[0, i]]
    mark = np.zeros((horizon + 1) * v_count, dtype=np.int32)
    parent = np.empty((horizon + 1) * v_count, dtype=np.int32)
    best = np.empty((horizon + 1) * v_count, dtype=np.int32)
    heap_keys = np.empty(1 << 16, dtype=np.int64)
    heap_vals = np.empty(1 << 16, dtype=np.int32)
    generation = 0
    k_max = min(neighbourhood, n)
    chosen = np.empty(n, dtype=np.int32)
    in_set = np.zeros(n, dtype=np.bool_)
    new_paths = np.empty((k_max, horizon + 1), dtype=np.int32)
    new_cost = np.empty(k_max, dtype=np.int64)
    delayed = np.empty(n, dtype=np.int32)
    max_expansions = 20000 + 4 * v_count
    counter = np.zeros(1, dtype=np.int64)
    cpu_began = cpu_s()
    n_trace = 0
    iterations = 0
    last_gain = 0
    while iterations < max_iterations:
        if patience > 0 and iterations - last_gain > patience:
            break
        if (iterations & 15) == 0:
            cpu = cpu_s() - cpu_began
            if n_trace < trace.shape[0]:
                trace[n_trace, 0] = cpu
                trace[n_trace, 1] = cost.sum()
                trace[n_trace, 2] = iterations
                n_trace += 1
            if now_s() > deadline_s or (cpu_budget_s > 0 and cpu > cpu_budget_s):
                break
        iterations += 1
        n_delayed = 0
        for i in range(n):
            if cost[i] > lower[i]:
                delayed[n_delayed] = i
                n_delayed += 1
        if n_delayed == 0:
            break  # every agent on a shortest path: optimal
        count = _neighbourhood(nbr, tables, paths, occ, goals, cost, lower, delayed,
                               n_delayed, k_max, chosen, in_set, rng)
        # the seed first, then a random order
        for a in range(count - 1, 1, -1):
            b = 1 + rand_below(rng, a)
            x = chosen[a]
            chosen[a] = chosen[b]
            chosen[b] = x
        old_sum = 0
        for c in range(count):
            i = chosen[c]
            old_sum += cost[i]
            place(paths[i], NIL, occ, busy, words, v_count)
        new_sum = 0
        ok = True
        for c in range(count):
            i = chosen[c]
            generation += 1
            # every agent may lose what the ones before it gained, no more: the ones still
            # to come are counted at their old costs
            budget = old_sum - new_sum
            for d in range(c + 1, count):
                budget -= cost[chosen[d]]
            if c == 0:
                budget -= 1  # the seed must gain, or the neighbourhood is not worth it
            arrival = sipp(
                paths[i, 0], goals[i], nbr, tables[i], occ, busy, words, horizon,
                min(horizon, budget), mark, generation, parent, best, heap_keys,
                heap_vals, new_paths[c], max_expansions, counter,
            )
            if arrival < 0:
                ok = False
                stats[FAILED] += 1
                for d in range(c):
                    place(new_paths[d], NIL, occ, busy, words, v_count)
                break
            new_cost[c] = arrival
            new_sum += arrival
            place(new_paths[c], i, occ, busy, words, v_count)
        stats[ITERATIONS] += 1
        if ok and new_sum <= old_sum:
            if new_sum < old_sum:
                last_gain = iterations
                stats[IMPROVED] += 1
                stats[GAIN] += old_sum - new_sum
            for c in range(count):
                i = chosen[c]
                paths[i] = new_paths[c]
                for t in range(horizon + 1):
                    sol[t, i] = new_paths[c, t]
                cost[i] = new_cost[c]
        else:
            if ok:
                for c in range(count):
                    place(new_paths[c], NIL, occ, busy, words, v_count)
            for c in range(count):
                i = chosen[c]
                place(paths[i], i, occ, busy, words, v_count)
        for c in range(count):
            in_set[chosen[c]] = False
        if generation > 2_000_000_000:
            mark[:] = 0
            generation = 0
    stats[EXPANSIONS] += counter[0]
    return iterations


def refine(
    graph: GridGraph,
    tables: Int32Array,
    solution: Int32Array,
    goals: Int32Array,
    deadline_s: float,
    *,
    seed: int = 0,
    neighbourhood: int = 8,
    max_iterations: int = 1 << 30,
    patience: int = -1,
    cpu_budget_s: float = 0.0,
    stats: Int64Array | None = None,
    trace: FloatArray | None = None,
) -> Int32Array:
    """A solution no worse than `solution`, refined until `deadline_s` (kernel clock) or,
    if positive, `cpu_budget_s` CPU seconds; see `lns` for `stats` and `trace`.

    `patience` (-1: the default) stops after that many iterations in a row without a gain:
    by default 1,000 or 4 per agent, whichever is more, when LNS has most likely converged."""
    sol = np.ascontiguousarray(solution, dtype=np.int32).copy()
    if sol.shape[0] < 2 or sol.shape[1] == 0:
        return sol
    if patience < 0:
        patience = max(1000, 4 * sol.shape[1])
    lns(graph.nbr, tables, goals, sol, deadline_s, cpu_budget_s, seed, neighbourhood,
        max_iterations, patience, np.zeros(8, dtype=np.int64) if stats is None else stats,
        np.zeros((0, 3)) if trace is None else trace)
    # drop trailing timesteps where everyone already waits at the goal
    at_goal = (sol == goals[None, :]).all(axis=1)
    last = sol.shape[0] - 1
    while last > 0 and at_goal[last - 1]:
        last -= 1
    return sol[: last + 1]


__all__ = ["lns", "place", "refine", "sipp"]
