"""Solution refinement by large neighbourhood search (MAPF-LNS, Li et al., IJCAI 2021).

LaCAM's first solution is feasible but long: PIBT pushes agents that already arrived out
of the way. Refinement repeatedly takes a few agents out of the plan, replans them one by
one with space-time A* against everyone else's fixed paths, and keeps the new paths when
their sum of costs is no larger. Every accepted step keeps the solution valid.

Time-expanded state (t, v) is the flat index `t * V + v`; `occ[t * V + v]` is the agent at
v at timestep t or -1, for t up to the horizon T (the makespan of the first solution). After
its arrival an agent stays at its goal forever, so its goal is closed to others from then on.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fleet.planning._kernels import _jit
from fleet.planning.mapf._kernels import NIL, now_s, rand_below
from fleet.planning.mapf.graph import GridGraph

Int32Array = npt.NDArray[np.int32]
Int64Array = npt.NDArray[np.int64]


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


@_jit
def space_time_astar(
    agent: int,
    start: int,
    goal: int,
    nbr: Int32Array,
    table: Int32Array,
    occ: Int32Array,
    horizon: int,
    max_arrival: int,
    mark: Int32Array,
    generation: int,
    parent: Int32Array,
    heap_keys: Int64Array,
    heap_vals: Int32Array,
    out: Int32Array,
    max_expansions: int,
) -> int:
    """Earliest arrival of `agent` at `goal` avoiding the others in `occ`; writes `out`.

    `out[t]` for t in 0..horizon is the path, padded with the goal. Returns the arrival
    time (the agent's cost), or -1 when none exists by `max_arrival` within the budget.
    """
    v_count = nbr.shape[0]
    # the goal is free for good only after the last other agent has left it
    goal_last = horizon
    while goal_last >= 0 and occ[goal_last * v_count + goal] == NIL:
        goal_last -= 1
    earliest = max(int(table[start]), goal_last + 1)
    if earliest > max_arrival:
        return -1
    size = 0
    s0 = start
    mark[s0] = generation
    parent[s0] = NIL
    # key: f, then deeper first, then nearer the goal first
    near = 1 << 16
    width = (horizon + 2) * near
    _heap_push(heap_keys, heap_vals, size,
               earliest * width + (horizon + 1) * near + min(int(table[start]), near - 1), s0)
    size += 1
    expansions = 0
    while size > 0:
        state = _heap_pop(heap_keys, heap_vals, size)
        size -= 1
        t = state // v_count
        v = state - t * v_count
        if v == goal and t > goal_last:
            # write the path
            arrival = t
            for s in range(arrival, horizon + 1):
                out[s] = goal
            cur = state
            while cur != NIL:
                ct = cur // v_count
                out[ct] = cur - ct * v_count
                cur = parent[cur]
            return int(arrival)
        expansions += 1
        if expansions > max_expansions or t >= horizon:
            continue
        t1 = t + 1
        base0 = t * v_count
        base1 = t1 * v_count
        for k in range(5):
            if k < 4:
                u = nbr[v, k]
                if u < 0:
                    continue
            else:
                u = v
            f = max(t1 + int(table[u]), goal_last + 1)
            if f > max_arrival:
                continue
            s1 = base1 + u
            if mark[s1] == generation:
                continue
            if occ[s1] != NIL:
                continue  # vertex conflict
            b = occ[base0 + u]
            if b != NIL and u != v and occ[base1 + v] == b:
                continue  # swap conflict
            mark[s1] = generation
            parent[s1] = state
            if size == heap_keys.shape[0]:
                bigger_k = np.empty(2 * size, dtype=np.int64)
                bigger_v = np.empty(2 * size, dtype=np.int32)
                bigger_k[:size] = heap_keys[:size]
                bigger_v[:size] = heap_vals[:size]
                heap_keys = bigger_k
                heap_vals = bigger_v
            _heap_push(heap_keys, heap_vals, size,
                       f * width + (horizon + 1 - t1) * near + min(int(table[u]), near - 1), s1)
            size += 1
    return -1


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
    sol: Int32Array,
    occ: Int32Array,
    goals: Int32Array,
    delayed: Int32Array,
    n_delayed: int,
    k_max: int,
    chosen: Int32Array,
    in_set: npt.NDArray[np.bool_],
    rng: npt.NDArray[np.uint64],
) -> int:
    """Pick up to k_max agents into `chosen` (marking `in_set`); returns how many."""
    horizon = sol.shape[0] - 1
    n = sol.shape[1]
    v_count = nbr.shape[0]
    # the seed: the most delayed of a few random delayed agents
    seed_agent = delayed[rand_below(rng, n_delayed)]
    for _ in range(2):
        other = delayed[rand_below(rng, n_delayed)]
        if (_arrival(sol, other, goals[other]) - tables[other, sol[0, other]]
                > _arrival(sol, seed_agent, goals[seed_agent])
                - tables[seed_agent, sol[0, seed_agent]]):
            seed_agent = other
    count = 1
    chosen[0] = seed_agent
    in_set[seed_agent] = True
    row = tables[seed_agent]
    start = sol[0, seed_agent]
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
    seed: int,
    neighbourhood: int,
    max_iterations: int,
    full_replans: int,
) -> int:
    """Improve `sol` ((T+1, N) vertices) in place until the deadline; returns iterations.

    The first `full_replans` iterations replan every agent (prioritized planning in a
    random order), later ones a neighbourhood of `neighbourhood` agents.
    """
    horizon = sol.shape[0] - 1
    n = sol.shape[1]
    v_count = nbr.shape[0]
    rng = np.empty(1, dtype=np.uint64)
    rng[0] = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(7)
    occ = np.full((horizon + 1) * v_count, NIL, dtype=np.int32)
    for t in range(horizon + 1):
        for i in range(n):
            occ[t * v_count + sol[t, i]] = i
    cost = np.empty(n, dtype=np.int64)
    lower = np.empty(n, dtype=np.int64)
    for i in range(n):
        cost[i] = _arrival(sol, i, goals[i])
        lower[i] = tables[i, sol[0, i]]
    mark = np.zeros((horizon + 1) * v_count, dtype=np.int32)
    parent = np.empty((horizon + 1) * v_count, dtype=np.int32)
    heap_keys = np.empty(1 << 16, dtype=np.int64)
    heap_vals = np.empty(1 << 16, dtype=np.int32)
    generation = 0
    k_max = min(neighbourhood, n)
    chosen = np.empty(n, dtype=np.int32)
    in_set = np.zeros(n, dtype=np.bool_)
    new_paths = np.empty((n, horizon + 1), dtype=np.int32)
    new_cost = np.empty(n, dtype=np.int64)
    delayed = np.empty(n, dtype=np.int32)
    iterations = 0
    while iterations < max_iterations:
        if (iterations & 15) == 0 and now_s() > deadline_s:
            break
        iterations += 1
        n_delayed = 0
        for i in range(n):
            if cost[i] > lower[i]:
                delayed[n_delayed] = i
                n_delayed += 1
        if n_delayed == 0:
            break  # every agent on a shortest path: optimal
        if iterations <= full_replans:
            for i in range(n):
                chosen[i] = i
                in_set[i] = True
            count = n
        else:
            count = _neighbourhood(
                nbr, tables, sol, occ, goals, delayed, n_delayed, k_max, chosen, in_set, rng
            )
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
            for t in range(horizon + 1):
                occ[t * v_count + sol[t, i]] = NIL
        new_sum = 0
        ok = True
        for c in range(count):
            i = chosen[c]
            generation += 1
            budget = old_sum - new_sum  # the others still need at least their bounds
            for d in range(c + 1, count):
                budget -= lower[chosen[d]]
            if c == 0 and iterations > full_replans:
                # the seed must gain, or the neighbourhood is not worth searching
                budget = min(budget, cost[i] - 1)
            arrival = space_time_astar(
                i, sol[0, i], goals[i], nbr, tables[i], occ, horizon,
                min(horizon, budget), mark, generation, parent, heap_keys, heap_vals,
                new_paths[c], 20000 + 4 * v_count,
            )
            if arrival < 0:
                ok = False
                for d in range(c):
                    for t in range(horizon + 1):
                        occ[t * v_count + new_paths[d, t]] = NIL
                break
            new_cost[c] = arrival
            new_sum += arrival
            for t in range(horizon + 1):
                occ[t * v_count + new_paths[c, t]] = i
        if ok and new_sum <= old_sum:
            for c in range(count):
                i = chosen[c]
                for t in range(horizon + 1):
                    sol[t, i] = new_paths[c, t]
                cost[i] = new_cost[c]
        else:
            if ok:
                for c in range(count):
                    for t in range(horizon + 1):
                        occ[t * v_count + new_paths[c, t]] = NIL
            for c in range(count):
                i = chosen[c]
                for t in range(horizon + 1):
                    occ[t * v_count + sol[t, i]] = i
        for c in range(count):
            in_set[chosen[c]] = False
        if generation > 2_000_000_000:
            mark[:] = 0
            generation = 0
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
    full_replans: int = 0,
) -> Int32Array:
    """A solution no worse than `solution`, refined until `deadline_s` (kernel clock)."""
    sol = np.ascontiguousarray(solution, dtype=np.int32).copy()
    if sol.shape[0] < 2 or sol.shape[1] == 0:
        return sol
    lns(graph.nbr, tables, goals, sol, deadline_s, seed, neighbourhood, max_iterations,
        full_replans)
    # drop trailing timesteps where everyone already waits at the goal
    at_goal = (sol == goals[None, :]).all(axis=1)
    last = sol.shape[0] - 1
    while last > 0 and at_goal[last - 1]:
        last -= 1
    return sol[: last + 1]


__all__ = ["refine", "space_time_astar"]
