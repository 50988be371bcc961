"""Compiled MAPF kernels: BFS distance tables, PIBT, LaCAM's high-level search, refinement.

Private. `lacam.py` and `lifelong.py` own the buffers and validate inputs; everything here
works on flat int32 arrays over the *vertices* of the graph (the free cells, numbered
0..V-1) and plain scalars.

Shared encoding:
- `nbr[v, k]` (k < 4) is the k-th vertex v may move to, -1 past the last one: a padded
  table, so kernels never test map borders; on a floor with one-way aisles the graph is
  directed (a move against an aisle is no edge), and a backward BFS walks the in-neighbour
  table `rnbr` instead (the same array when the graph is undirected). Every move a kernel
  plans is an edge of `nbr`: the swap emulation's pull, which is not one of the pulled
  agent's own candidates, is checked with `_has_edge`;
- a configuration `Q` is one vertex per agent; `tables[table_of[i], v]` is agent i's
  distance from v to its goal (a large number where unreachable);
- `occ_now[v]` / `occ_next[v]` are the agent at v in the current / next configuration or
  -1; kernels clear what they set before returning, so those arrays stay all -1 between
  calls and no call pays for the size of the map;
- randomness comes from a xorshift state `rng[0]` (uint64), so runs are reproducible.
"""

from __future__ import annotations

import time

import numba
import numpy as np
import numpy.typing as npt

from fleet.planning._kernels import _jit  # sets NUMBA_CACHE_DIR before numba caches

Int32Array = npt.NDArray[np.int32]
UInt64Array = npt.NDArray[np.uint64]

NIL = -1
INF_DIST = 1 << 30
U16_INF = 65535


@numba.njit(cache=True)
def now_s() -> float:
    """Wall-clock seconds, readable from compiled code."""
    with numba.objmode(t="float64"):
        t = time.perf_counter()
    return t


@_jit
def rand_below(rng: UInt64Array, n: int) -> int:
    """A pseudo-random integer in [0, n) (xorshift64*)."""
    x = rng[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    rng[0] = x
    y = (x * np.uint64(2685821657736338717)) >> np.uint64(33)
    return np.int64(y % np.uint64(n))  # type: ignore[return-value]


# --------------------------------------------------------------------------- distances


@_jit
def bfs_table(nbr: Int32Array, goal: int, out: npt.NDArray[np.int32], queue: Int32Array) -> None:
    """Backward BFS from `goal` into `out` (INF_DIST where unreachable); unit moves.

    `nbr` is the in-neighbour table (a graph's `rnbr`), so `out[v]` is the distance from v
    to the goal."""
    n = nbr.shape[0]
    for v in range(n):
        out[v] = INF_DIST
    out[goal] = 0
    queue[0] = goal
    head = 0
    tail = 1
    while head < tail:
        v = queue[head]
        head += 1
        d = out[v] + 1
        for k in range(4):
            u = nbr[v, k]
            if u < 0:
                break
            if out[u] > d:
                out[u] = d
                queue[tail] = u
                tail += 1


@_jit
def bfs_tables(nbr: Int32Array, goals: Int32Array, out: Int32Array) -> None:
    """One backward BFS table per goal: `out[i]` for `goals[i]`; `nbr` as in `bfs_table`."""
    queue = np.empty(nbr.shape[0] + 1, dtype=np.int32)
    for i in range(goals.shape[0]):
        bfs_table(nbr, goals[i], out[i], queue)


@_jit
def bfs_table_u16(
    nbr: Int32Array, goal: int, out: npt.NDArray[np.uint16], queue: Int32Array
) -> None:
    """Backward BFS from `goal` into a uint16 row (U16_INF where unreachable or too far);
    `nbr` is the in-neighbour table, as in `bfs_table`."""
    n = nbr.shape[0]
    for v in range(n):
        out[v] = U16_INF
    out[goal] = 0
    queue[0] = goal
    head = 0
    tail = 1
    while head < tail:
        v = queue[head]
        head += 1
        d = int(out[v]) + 1
        if d >= U16_INF:
            continue
        for k in range(4):
            u = nbr[v, k]
            if u < 0:
                break
            if out[u] == U16_INF and u != goal:
                out[u] = d
                queue[tail] = u
                tail += 1


# --------------------------------------------------------------------------- PIBT


@_jit
def _shuffled_moves(v: int, nbr: Int32Array, out: Int32Array, rng: UInt64Array) -> int:
    """Write v's neighbours and v itself (stay) into `out` in random order; return how many."""
    k = 0
    for j in range(4):
        u = nbr[v, j]
        if u < 0:
            break
        out[k] = u
        k += 1
    out[k] = v
    k += 1
    for a in range(k - 1, 0, -1):
        b = rand_below(rng, a + 1)
        t = out[a]
        out[a] = out[b]
        out[b] = t
    return k


@_jit
def _candidates(
    v: int,
    nbr: Int32Array,
    tables: npt.NDArray[np.int32] | npt.NDArray[np.uint16],
    row: int,
    out: Int32Array,
    rng: UInt64Array,
) -> int:
    """Write the next-vertex candidates from v (neighbours and stay) into `out`, best first.

    Best means nearest to the goal of table `row`, ties broken at random.
    """
    # shuffle for random tie-breaking, then a stable insertion sort by distance
    k = _shuffled_moves(v, nbr, out, rng)
    for a in range(1, k):
        u = out[a]
        key = int(tables[row, u])
        b = a - 1
        while b >= 0 and int(tables[row, out[b]]) > key:
            out[b + 1] = out[b]
            b -= 1
        out[b + 1] = u
    return k


@_jit
def _degree(nbr: Int32Array, v: int) -> int:
    k = 0
    while k < 4 and nbr[v, k] >= 0:
        k += 1
    return k


@_jit
def _has_edge(nbr: Int32Array, v: int, u: int) -> bool:
    """May an agent move from v to u?"""
    for k in range(4):
        w = nbr[v, k]
        if w < 0:
            return False
        if w == u:
            return True
    return False


@_jit
def _parked(
    u: int, nbr: Int32Array, tables: npt.NDArray[np.int32] | npt.NDArray[np.uint16],
    table_of: Int32Array, occ_now: Int32Array,
) -> bool:
    """True when u is a dead end holding an agent that has arrived: it need not move."""
    a = occ_now[u]
    return a != NIL and _degree(nbr, u) == 1 and tables[table_of[a], u] == 0


@_jit
def _swap_required(
    pusher: int, puller: int, v_pusher: int, v_puller: int,
    nbr: Int32Array, tables: npt.NDArray[np.int32] | npt.NDArray[np.uint16],
    table_of: Int32Array, occ_now: Int32Array,
) -> bool:
    """Would `pusher` and `puller`, facing each other in a corridor, have to trade places?

    Walks the corridor ahead while the pusher gets nearer its goal; a branch on the way
    means they can pass there without a swap.
    """
    tp = table_of[pusher]
    tl = table_of[puller]
    while tables[tp, v_puller] < tables[tp, v_pusher]:
        n = 0
        ahead = NIL
        for k in range(4):
            u = nbr[v_puller, k]
            if u < 0:
                break
            if u == v_pusher or _parked(u, nbr, tables, table_of, occ_now):
                continue
            n += 1
            ahead = u
        if n >= 2:
            return False  # they can pass at v_puller
        if n == 0:
            break
        v_pusher = v_puller
        v_puller = ahead
    return bool(tables[tl, v_pusher] < tables[tl, v_puller]) and bool(
        tables[tp, v_pusher] == 0 or tables[tp, v_puller] < tables[tp, v_pusher]
    )


@_jit
def _swap_possible(
    v_pusher_origin: int, v_puller_origin: int, nbr: Int32Array,
    tables: npt.NDArray[np.int32] | npt.NDArray[np.uint16], table_of: Int32Array,
    occ_now: Int32Array,
) -> bool:
    """Is there a branch behind the puller where the two could trade places?"""
    v_pusher = v_pusher_origin
    v_puller = v_puller_origin
    steps = 0
    # bounded: on a directed graph the walk may enter a one-way loop that avoids the origin
    while v_puller != v_pusher_origin and steps < nbr.shape[0]:
        steps += 1
        n = 0
        ahead = NIL
        for k in range(4):
            u = nbr[v_puller, k]
            if u < 0:
                break
            if u == v_pusher or _parked(u, nbr, tables, table_of, occ_now):
                continue
            n += 1
            ahead = u
        if n >= 2:
            return True
        if n == 0:
            return False
        v_pusher = v_puller
        v_puller = ahead
    return False


@_jit
def _swap_partner(
    i: int, best: int, q_from: Int32Array, q_to: Int32Array, nbr: Int32Array,
    tables: npt.NDArray[np.int32] | npt.NDArray[np.uint16], table_of: Int32Array,
    occ_now: Int32Array,
) -> int:
    """The agent i should pull behind it to trade places in a corridor, or NIL.

    The swap emulation of LaCAM3 ("Engineering LaCAM*", Okumura, AAMAS 2024): PIBT alone
    cannot make two agents facing each other in a corridor trade places.
    """
    j = occ_now[best]
    if (
        j != NIL and j != i and q_to[j] == NIL
        and _swap_required(i, j, q_from[i], q_from[j], nbr, tables, table_of, occ_now)
        and _swap_possible(q_from[j], q_from[i], nbr, tables, table_of, occ_now)
    ):
        return int(j)
    # clear operation (as in push and swap): pull a neighbour out of the way
    if best != q_from[i]:
        for k in range(4):
            u = nbr[q_from[i], k]
            if u < 0:
                break
            a = occ_now[u]
            if (
                a != NIL and best != q_from[a]
                and _swap_required(a, i, q_from[i], best, nbr, tables, table_of, occ_now)
                and _swap_possible(best, q_from[i], nbr, tables, table_of, occ_now)
            ):
                return int(a)
    return NIL


@_jit
def _open_frame(
    sp: int, a: int, q_from: Int32Array, q_to: Int32Array, nbr: Int32Array,
    tables: npt.NDArray[np.int32] | npt.NDArray[np.uint16], table_of: Int32Array,
    occ_now: Int32Array, stack_agent: Int32Array, stack_pos: Int32Array,
    stack_cand: Int32Array, stack_n: Int32Array, stack_swap: Int32Array, rng: UInt64Array,
) -> None:
    stack_agent[sp] = a
    stack_pos[sp] = 0
    k = _candidates(q_from[a], nbr, tables, table_of[a], stack_cand[sp], rng)
    stack_n[sp] = k
    partner = _swap_partner(
        a, stack_cand[sp, 0], q_from, q_to, nbr, tables, table_of, occ_now
    )
    stack_swap[sp] = partner
    if partner != NIL:  # move away first, pulling the partner behind
        for x in range(k // 2):
            t = stack_cand[sp, x]
            stack_cand[sp, x] = stack_cand[sp, k - 1 - x]
            stack_cand[sp, k - 1 - x] = t


@_jit
def pibt_agent(
    root: int,
    nbr: Int32Array,
    tables: npt.NDArray[np.int32] | npt.NDArray[np.uint16],
    table_of: Int32Array,
    q_from: Int32Array,
    q_to: Int32Array,
    occ_now: Int32Array,
    occ_next: Int32Array,
    stack_agent: Int32Array,
    stack_pos: Int32Array,
    stack_cand: Int32Array,
    stack_n: Int32Array,
    stack_swap: Int32Array,
    rng: UInt64Array,
) -> bool:
    """PIBT's funcPIBT for one agent, with priority inheritance, as an explicit stack.

    Returns False when `root` could not even stay, i.e. a constraint took its cell.
    """
    sp = 0
    _open_frame(0, root, q_from, q_to, nbr, tables, table_of, occ_now,
                stack_agent, stack_pos, stack_cand, stack_n, stack_swap, rng)
    result = False
    returning = False
    while sp >= 0:
        i = stack_agent[sp]
        done = False
        if returning:
            if result:
                done = True  # the child made way
            else:
                returning = False
                stack_pos[sp] += 1  # the child could not make way: try the next candidate
        pushed = False
        while not done and stack_pos[sp] < stack_n[sp]:
            u = stack_cand[sp, stack_pos[sp]]
            # avoid vertex conflicts
            if occ_next[u] != NIL:
                stack_pos[sp] += 1
                continue
            k = occ_now[u]
            # avoid swap conflicts
            if k != NIL and k != i and q_to[k] == q_from[i]:
                stack_pos[sp] += 1
                continue
            # reserve the next vertex
            occ_next[u] = i
            q_to[i] = u
            if k == NIL or k == i or q_to[k] != NIL:  # noqa: SIM109 (numba)
                done = True
                break
            # priority inheritance: the agent at u must make way
            sp += 1
            _open_frame(sp, k, q_from, q_to, nbr, tables, table_of, occ_now,
                        stack_agent, stack_pos, stack_cand, stack_n, stack_swap, rng)
            pushed = True
            break
        if pushed:
            continue
        if done:
            partner = stack_swap[sp]
            if (
                stack_pos[sp] == 0 and partner != NIL and q_to[partner] == NIL
                and occ_next[q_from[i]] == NIL
                and _has_edge(nbr, q_from[partner], q_from[i])
            ):
                # pull the partner into the vertex i leaves
                occ_next[q_from[i]] = partner
                q_to[partner] = q_from[i]
            result = True
        else:
            # failed to secure a vertex: stay
            q_to[i] = q_from[i]
            occ_next[q_from[i]] = i
            result = False
        returning = True
        sp -= 1
    return result


@_jit
def pibt_step(
    nbr: Int32Array,
    tables: npt.NDArray[np.int32] | npt.NDArray[np.uint16],
    table_of: Int32Array,
    q_from: Int32Array,
    q_to: Int32Array,
    order: Int32Array,
    pinned: npt.NDArray[np.bool_],
    occ_now: Int32Array,
    occ_next: Int32Array,
    rng: UInt64Array,
) -> bool:
    """One PIBT step from `q_from` into `q_to`; pinned agents stay where they are.

    Agents are planned in `order` (highest priority first). Returns True when the step is
    conflict-free (always, unless two pinned agents share a vertex).
    """
    n = q_from.shape[0]
    stack_agent = np.empty(n, dtype=np.int32)
    stack_pos = np.empty(n, dtype=np.int32)
    stack_cand = np.empty((n, 5), dtype=np.int32)
    stack_n = np.empty(n, dtype=np.int32)
    stack_swap = np.empty(n, dtype=np.int32)
    for i in range(n):
        q_to[i] = NIL
        occ_now[q_from[i]] = i
    ok = True
    for i in range(n):
        if pinned[i]:
            v = q_from[i]
            if occ_next[v] != NIL:
                ok = False
            q_to[i] = v
            occ_next[v] = i
    if ok:
        for j in range(n):
            i = order[j]
            if q_to[i] == NIL and not pibt_agent(
                i, nbr, tables, table_of, q_from, q_to, occ_now, occ_next,
                stack_agent, stack_pos, stack_cand, stack_n, stack_swap, rng,
            ):
                ok = False
                break
    for i in range(n):
        occ_now[q_from[i]] = NIL
        if q_to[i] != NIL:
            occ_next[q_to[i]] = NIL
    return ok


# --------------------------------------------------------------------------- LaCAM


@_jit
def _hash_config(q: Int32Array) -> np.uint64:
    h = np.uint64(14695981039346656037)
    for i in range(q.shape[0]):
        h ^= np.uint64(q[i] + 1)
        h *= np.uint64(1099511628211)
    h ^= h >> np.uint64(31)
    h *= np.uint64(0x7FB5D329728EA185)
    h ^= h >> np.uint64(27)
    return h


@_jit
def _grow1(a: Int32Array, cap: int) -> Int32Array:
    b = np.empty(cap, dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@_jit
def _grow2(a: Int32Array, cap: int) -> Int32Array:
    b = np.empty((cap, a.shape[1]), dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@_jit
def _grow2f(a: npt.NDArray[np.float32], cap: int) -> npt.NDArray[np.float32]:
    b = np.empty((cap, a.shape[1]), dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@_jit
def _table_find(
    keys: UInt64Array, vals: Int32Array, h: np.uint64, q: Int32Array, configs: Int32Array
) -> int:
    mask = np.uint64(keys.shape[0] - 1)
    slot = int(h & mask)
    n = q.shape[0]
    while vals[slot] != NIL:
        if keys[slot] == h:
            node = vals[slot]
            same = True
            for i in range(n):
                if configs[node, i] != q[i]:
                    same = False
                    break
            if same:
                return int(node)
        slot = int((np.uint64(slot) + np.uint64(1)) & mask)
    return NIL


@_jit
def _table_put(keys: UInt64Array, vals: Int32Array, h: np.uint64, node: int) -> None:
    mask = np.uint64(keys.shape[0] - 1)
    slot = int(h & mask)
    while vals[slot] != NIL:
        slot = int((np.uint64(slot) + np.uint64(1)) & mask)
    keys[slot] = h
    vals[slot] = node


@_jit
def lacam(
    nbr: Int32Array,
    tables: Int32Array,
    starts: Int32Array,
    goals: Int32Array,
    seed: int,
    deadline_s: float,
) -> tuple[Int32Array, int, int, int]:
    """LaCAM: depth-first search over configurations with lazily built constraint trees.

    Returns (solution as a (T+1, N) array of vertices, or an empty array; status 1 solved,
    0 out of time, -1 proven unsolvable; high-level nodes created; low-level expansions).
    """
    n = starts.shape[0]
    v_count = nbr.shape[0]
    table_of = np.arange(n).astype(np.int32)
    rng = np.empty(1, dtype=np.uint64)
    rng[0] = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(0x632BE59BD9B4E019)
    if rng[0] == np.uint64(0):
        rng[0] = np.uint64(1)
    occ_now = np.full(v_count, NIL, dtype=np.int32)
    occ_next = np.full(v_count, NIL, dtype=np.int32)
    stack_agent = np.empty(n, dtype=np.int32)
    stack_pos = np.empty(n, dtype=np.int32)
    stack_cand = np.empty((n, 5), dtype=np.int32)
    stack_n = np.empty(n, dtype=np.int32)
    stack_swap = np.empty(n, dtype=np.int32)
    q_to = np.empty(n, dtype=np.int32)
    cand = np.empty(5, dtype=np.int32)

    # high-level nodes
    hcap = 1024
    h_conf = np.empty((hcap, n), dtype=np.int32)
    h_order = np.empty((hcap, n), dtype=np.int32)
    h_prio = np.empty((hcap, n), dtype=np.float32)
    h_parent = np.empty(hcap, dtype=np.int32)
    h_head = np.empty(hcap, dtype=np.int32)  # constraint-node queue of each node
    h_tail = np.empty(hcap, dtype=np.int32)
    h_at_goal = np.empty(hcap, dtype=np.int32)
    h_count = 0
    # low-level (constraint) nodes: a chain (who, where) back to the root
    lcap = 4096
    l_parent = np.empty(lcap, dtype=np.int32)
    l_who = np.empty(lcap, dtype=np.int32)
    l_where = np.empty(lcap, dtype=np.int32)
    l_depth = np.empty(lcap, dtype=np.int32)
    l_next = np.empty(lcap, dtype=np.int32)
    l_count = 0
    # explored configurations: open addressing
    tcap = 4096
    t_keys = np.zeros(tcap, dtype=np.uint64)
    t_vals = np.full(tcap, NIL, dtype=np.int32)
    # the DFS stack
    ocap = 1024
    open_stack = np.empty(ocap, dtype=np.int32)
    o_top = 0

    max_d = 1
    for i in range(n):
        d = tables[i, starts[i]]
        if d >= INF_DIST:
            return np.empty((0, n), dtype=np.int32), -1, 0, 0
        if d + 1 > max_d:
            max_d = d + 1

    # the root node
    h_conf[0] = starts
    at_goal = 0
    for i in range(n):
        h_prio[0, i] = np.float32(tables[i, starts[i]] / max_d)
        if starts[i] == goals[i]:
            at_goal += 1
    h_order[0] = np.argsort(-h_prio[0], kind="mergesort").astype(np.int32)
    h_parent[0] = NIL
    h_at_goal[0] = at_goal
    l_parent[0] = NIL
    l_depth[0] = 0
    l_who[0] = NIL
    l_where[0] = NIL
    l_next[0] = NIL
    l_count = 1
    h_head[0] = 0
    h_tail[0] = 0
    h_count = 1
    _table_put(t_keys, t_vals, _hash_config(starts), 0)
    open_stack[0] = 0
    o_top = 1

    goal_node = NIL
    status = 0
    expansions = 0
    while o_top > 0:
        expansions += 1
        if (expansions & 255) == 0 and now_s() > deadline_s:
            break
        h = open_stack[o_top - 1]
        if h_at_goal[h] == n:
            goal_node = h
            status = 1
            break
        lo = h_head[h]
        if lo == NIL:
            o_top -= 1
            continue
        h_head[h] = l_next[lo]
        if h_head[h] == NIL:
            h_tail[h] = NIL
        # expand the constraint tree one level below `lo`, lazily
        depth = l_depth[lo]
        if depth < n:
            i = h_order[h, depth]
            v = h_conf[h, i]
            k = _shuffled_moves(v, nbr, cand, rng)
            if l_count + k > lcap:
                lcap *= 2
                l_parent = _grow1(l_parent, lcap)
                l_who = _grow1(l_who, lcap)
                l_where = _grow1(l_where, lcap)
                l_depth = _grow1(l_depth, lcap)
                l_next = _grow1(l_next, lcap)
            for a in range(k):
                c = l_count
                l_count += 1
                l_parent[c] = lo
                l_who[c] = i
                l_where[c] = cand[a]
                l_depth[c] = depth + 1
                l_next[c] = NIL
                if h_tail[h] == NIL:
                    h_head[h] = c
                else:
                    l_next[h_tail[h]] = c
                h_tail[h] = c
        # generate a configuration: constraints first, then PIBT
        q_from = h_conf[h]
        for i in range(n):
            q_to[i] = NIL
            occ_now[q_from[i]] = i
        ok = True
        c = lo
        while c != NIL and l_who[c] != NIL:
            i = l_who[c]
            w = l_where[c]
            if occ_next[w] != NIL:  # vertex conflict between constraints
                ok = False
                break
            pre = q_from[i]
            if occ_next[pre] != NIL and occ_now[w] != NIL and occ_next[pre] == occ_now[w]:
                ok = False  # swap conflict between constraints
                break
            q_to[i] = w
            occ_next[w] = i
            c = l_parent[c]
        if ok:
            for j in range(n):
                i = h_order[h, j]
                if q_to[i] == NIL and not pibt_agent(
                    i, nbr, tables, table_of, q_from, q_to, occ_now, occ_next,
                    stack_agent, stack_pos, stack_cand, stack_n, stack_swap, rng,
                ):
                    ok = False
                    break
        for i in range(n):
            occ_now[q_from[i]] = NIL
            if q_to[i] != NIL:
                occ_next[q_to[i]] = NIL
        if not ok:
            continue
        hq = _hash_config(q_to)
        known = _table_find(t_keys, t_vals, hq, q_to, h_conf)
        if o_top == ocap:
            ocap *= 2
            open_stack = _grow1(open_stack, ocap)
        if known != NIL:
            # revisit a known configuration (as LaCAM* does), now and then restart from
            # the initial one to leave a region the search is stuck in
            open_stack[o_top] = known if rand_below(rng, 10) != 0 else 0
            o_top += 1
            continue
        # a new high-level node
        if h_count == hcap:
            hcap *= 2
            h_conf = _grow2(h_conf, hcap)
            h_order = _grow2(h_order, hcap)
            h_prio = _grow2f(h_prio, hcap)
            h_parent = _grow1(h_parent, hcap)
            h_head = _grow1(h_head, hcap)
            h_tail = _grow1(h_tail, hcap)
            h_at_goal = _grow1(h_at_goal, hcap)
        g = h_count
        h_count += 1
        h_conf[g] = q_to
        at_goal = 0
        for i in range(n):
            p = h_prio[h, i]
            if q_to[i] == goals[i]:
                h_prio[g, i] = p - np.float32(np.floor(p))
                at_goal += 1
            else:
                h_prio[g, i] = p + np.float32(1.0)
        h_order[g] = np.argsort(-h_prio[g], kind="mergesort").astype(np.int32)
        h_parent[g] = h
        h_at_goal[g] = at_goal
        if l_count == lcap:
            lcap *= 2
            l_parent = _grow1(l_parent, lcap)
            l_who = _grow1(l_who, lcap)
            l_where = _grow1(l_where, lcap)
            l_depth = _grow1(l_depth, lcap)
            l_next = _grow1(l_next, lcap)
        root = l_count
        l_count += 1
        l_parent[root] = NIL
        l_who[root] = NIL
        l_where[root] = NIL
        l_depth[root] = 0
        l_next[root] = NIL
        h_head[g] = root
        h_tail[g] = root
        if 2 * h_count > tcap:
            tcap *= 2
            t_keys = np.zeros(tcap, dtype=np.uint64)
            t_vals = np.full(tcap, NIL, dtype=np.int32)
            for node in range(h_count - 1):
                _table_put(t_keys, t_vals, _hash_config(h_conf[node]), node)
        _table_put(t_keys, t_vals, hq, g)
        open_stack[o_top] = g
        o_top += 1

    if goal_node == NIL:
        if o_top == 0 and status == 0:
            status = -1
        return np.empty((0, n), dtype=np.int32), status, h_count, expansions
    length = 0
    node = goal_node
    while node != NIL:
        length += 1
        node = h_parent[node]
    solution = np.empty((length, n), dtype=np.int32)
    node = goal_node
    t = length - 1
    while node != NIL:
        solution[t] = h_conf[node]
        t -= 1
        node = h_parent[node]
    return solution, status, h_count, expansions


# --------------------------------------------------------------------------- execution


@_jit
def execute_step(
    q_from: Int32Array,
    q_to: Int32Array,
    stopped: npt.NDArray[np.bool_],
    into: Int32Array,
    q_out: Int32Array,
) -> int:
    """Carry out a planned step when some agents are stopped; returns how many had to wait.

    The rule of action-dependency execution: an agent enters a cell only after the agent
    planned there before it has left, so a stopped agent keeps everyone planned into its
    cell waiting, and so on down the chain. `into[v]` must be all -1 on entry (cleared on
    exit).
    """
    n = q_from.shape[0]
    for i in range(n):
        q_out[i] = q_to[i]
        if q_to[i] != q_from[i]:
            into[q_to[i]] = i
    queue = np.empty(n, dtype=np.int32)
    tail = 0
    for i in range(n):
        if stopped[i] and q_out[i] != q_from[i]:
            q_out[i] = q_from[i]
            queue[tail] = i
            tail += 1
    head = 0
    waited = 0
    while head < tail:
        a = queue[head]
        head += 1
        j = into[q_from[a]]  # the agent planned to enter the cell a keeps
        if j != NIL and q_out[j] != q_from[j]:
            q_out[j] = q_from[j]
            queue[tail] = j
            tail += 1
            waited += 1
    for i in range(n):
        if q_to[i] != q_from[i]:
            into[q_to[i]] = NIL
    return waited


@_jit
def count_conflicts(q_from: Int32Array, q_next: Int32Array, nbr: Int32Array,
                    occ: Int32Array) -> int:
    """Vertex conflicts, swap conflicts and illegal moves between two configurations."""
    n = q_from.shape[0]
    bad = 0
    for i in range(n):
        v = q_from[i]
        u = q_next[i]
        if u != v:
            legal = False
            for k in range(4):
                if nbr[v, k] == u:
                    legal = True
            if not legal:
                bad += 1
        if occ[u] != NIL:
            bad += 1
        else:
            occ[u] = i
    for i in range(n):
        # swap: the agent now at my old cell came from my new cell
        j = occ[q_from[i]]
        if j != NIL and j != i and q_from[j] == q_next[i] and i < j:
            bad += 1
    for i in range(n):
        occ[q_next[i]] = NIL
    return bad
