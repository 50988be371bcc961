"""Compiled safe-interval path planning (SIPP, Phillips and Likhachev, ICRA 2011) on a grid.

Private: `spacetime.plan_sipp` validates the inputs and owns the arrays. The rule is the one
of the Python space-time A* (`spacetime.plan_spacetime`): a robot may be in cell c at step t
only if no other robot is there at any of t-1, t, t+1. So the steps at which c is usable are
the complement of the other robots' visits widened by one step on each side: a handful of
safe intervals per cell. A search state is (cell, safe interval) with the earliest arrival in
it; waiting happens inside an interval and costs no expansions, which is what makes SIPP
fast where the space-time A* expands one node per cell and step. Earliest arrival per state
with an admissible, consistent heuristic (the true distance to the goal) finds the earliest
arrival at the goal, the same as the space-time A*; the goal is reached once the robot is in
the goal's last interval, the one without an end (nobody comes after it).

Reservations (see `spacetime.ReservationArrays`): slot s holds a visit of robot `robot[s]`
(-1: free slot) in flat cell `cell[s]` over steps `start[s]..end[s]`; `head[c]` is the first
slot of cell c and `next[s]` the following one (-1 ends the list).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fleet.planning._kernels import (
    TIE,
    FloatArray,
    Int32Array,
    Int64Array,
    UInt8Array,
    _heap_grow,
    _heap_pop_fix,
    _heap_push,
    _jit,
)

BoolArray = npt.NDArray[np.bool_]

UNBOUNDED = np.int64(1 << 62)
"""End of an interval that never ends."""
FOREVER = np.int64(1 << 60)
"""A visit ending at or after this step never ends (the traffic's FOREVER)."""
PROVE_AFTER = 1000
"""A search still going after this many expansions first asks `can_reach` whether it can
succeed at all (most that run long cannot). Only time depends on it, never the outcome."""
_MAX_INTERVALS = 1 << 12
"""Safe intervals numbered per cell above this are not searched (a cell visited thousands
of times in one plan's window)."""


@_jit
def _safe_intervals(cell: int, me: int, head: Int32Array, nxt: Int32Array,
                    start: Int64Array, end: Int64Array, robot: Int32Array,
                    always_lo: Int64Array, always_hi: Int64Array
                    ) -> tuple[Int64Array, Int64Array]:
    """The cell's safe intervals for robot `me`, in order: (lows, highs), inclusive.

    A cell nobody else visits (most of them) gets `always_lo`, `always_hi`: one interval
    without start or end, allocated once per search."""
    count = 0
    s = head[cell]
    while s >= 0:
        if robot[s] != me:
            count += 1
        s = nxt[s]
    if count == 0:
        return always_lo, always_hi
    tmp_lo = np.empty(count + 1, np.int64)
    tmp_hi = np.empty(count + 1, np.int64)
    out_lo = np.empty(count + 1, np.int64)
    out_hi = np.empty(count + 1, np.int64)
    n = _intervals_into(cell, me, head, nxt, start, end, robot, tmp_lo, tmp_hi, out_lo,
                        out_hi)
    return out_lo[:n], out_hi[:n]


@_jit
def _intervals_into(cell: int, me: int, head: Int32Array, nxt: Int32Array,
                    start: Int64Array, end: Int64Array, robot: Int32Array,
                    tmp_lo: Int64Array, tmp_hi: Int64Array,
                    out_lo: Int64Array, out_hi: Int64Array) -> int:
    """The cell's safe intervals for robot `me` (see the module), in order, written into
    `out_lo`, `out_hi` (inclusive bounds); returns how many. `tmp_lo`, `tmp_hi` are scratch.
    Every buffer holds at least one more entry than the cell has visits: the search sizes
    them to the table's slots once, rather than allocate four arrays for each of the four
    cells it looks at every expansion."""
    count = 0
    s = head[cell]
    while s >= 0:
        if robot[s] != me:
            tmp_lo[count] = start[s] - 1
            tmp_hi[count] = UNBOUNDED if end[s] >= FOREVER else end[s] + 1
            count += 1
        s = nxt[s]
    if count == 0:
        out_lo[0], out_hi[0] = -UNBOUNDED, UNBOUNDED
        return 1
    for i in range(1, count):
        a, b = tmp_lo[i], tmp_hi[i]
        j = i - 1
        while j >= 0 and tmp_lo[j] > a:
            tmp_lo[j + 1], tmp_hi[j + 1] = tmp_lo[j], tmp_hi[j]
            j -= 1
        tmp_lo[j + 1], tmp_hi[j + 1] = a, b
    n = 0
    free_from = -UNBOUNDED
    for i in range(count):
        if tmp_lo[i] > free_from:
            out_lo[n] = free_from
            out_hi[n] = tmp_lo[i] - 1
            n += 1
        if tmp_hi[i] >= UNBOUNDED:
            free_from = UNBOUNDED
            break
        if tmp_hi[i] + 1 > free_from:
            free_from = tmp_hi[i] + 1
    if free_from < UNBOUNDED:
        out_lo[n] = free_from
        out_hi[n] = UNBOUNDED
        n += 1
    return n


@_jit
def _last_usable(cell: int, me: int, head: Int32Array, nxt: Int32Array, start: Int64Array,
                 end: Int64Array, robot: Int32Array) -> int:
    """The last step at which robot `me` may still be in `cell` as far as visits without an
    end go: one step before the earliest of them starts (UNBOUNDED if there is none)."""
    last = UNBOUNDED
    s = head[cell]
    while s >= 0:
        if robot[s] != me and end[s] >= FOREVER and start[s] - 2 < last:
            last = start[s] - 2
        s = nxt[s]
    return int(last)


@_jit
def can_reach(free: BoolArray, forbidden: UInt8Array, cols: int, h: FloatArray,
              start_cell: int, goal: int, start_step: int, horizon: int, me: int,
              head: Int32Array, nxt: Int32Array, start: Int64Array, end: Int64Array,
              robot: Int32Array) -> bool:
    """Whether the goal can be reached by `horizon` at all, judged by a relaxation of the
    search's rule: only the visits without an end count (another robot's plan ends in the
    cell and it stays: the cell is usable up to the step before that visit begins), the
    others are ignored. A breadth-first search over cells by step (waiting only makes a
    robot later) labels each cell with the earliest step the robot could be there, and
    enters a cell only by its last usable step.

    False proves that the space-time search fails: along any path it could find, every
    cell is entered no earlier than its label, so no later than its last usable step either
    (by induction along the path), and the goal would have been labelled. True proves
    nothing. A few hundred microseconds for the whole floor, where a search that fails
    expands every state it can reach first (tens of thousands, a hundred milliseconds:
    what robots stuck behind others' ends of plan paid every step)."""
    if start_cell == goal:
        return True
    n_cells = free.shape[0]
    seen = np.zeros(n_cells, np.bool_)
    queue = np.empty(n_cells, np.int64)
    seen[start_cell] = True
    queue[0] = start_cell
    head_q, tail_q = 0, 1
    depth = 0
    while head_q < tail_q:
        # One ring of the search: every cell of `depth`, then their neighbours.
        ring_end = tail_q
        step = start_step + depth + 1
        if step > horizon:
            return False
        while head_q < ring_end:
            cell = queue[head_q]
            head_q += 1
            r = cell // cols
            c = cell - r * cols
            out = forbidden[cell]
            for k in range(4):
                if out & (1 << k):
                    continue
                if k == 0:
                    n = cell - cols
                    if n < 0:
                        continue
                elif k == 1:
                    n = cell + cols
                    if n >= n_cells:
                        continue
                elif k == 2:
                    if c == 0:
                        continue
                    n = cell - 1
                else:
                    if c + 1 >= cols:
                        continue
                    n = cell + 1
                if seen[n] or not free[n] or not np.isfinite(h[n]):
                    continue
                if step > _last_usable(n, me, head, nxt, start, end, robot):
                    continue
                if n == goal:
                    return True
                seen[n] = True
                queue[tail_q] = n
                tail_q += 1
        depth += 1
    return False


@_jit
def _slot_of(keys: Int64Array, key: int | np.int64) -> int:
    """Where `key` is in the open-addressing table `keys` (-1 marks an empty slot), or the
    empty slot where it would go; the table is a power of two in size and never full."""
    mask = keys.shape[0] - 1
    i = ((key ^ (key >> 29)) * 0x2545F4914F6CDD1D) & mask
    while keys[i] != -1 and keys[i] != key:
        i = (i + 1) & mask
    return int(i)


@_jit
def _rehash(keys: Int64Array, vals: Int64Array) -> tuple[Int64Array, Int64Array]:
    """The table at twice the size."""
    new_keys = np.full(2 * keys.shape[0], -1, np.int64)
    new_vals = np.empty(2 * keys.shape[0], np.int64)
    for i in range(keys.shape[0]):
        if keys[i] != -1:
            j = _slot_of(new_keys, keys[i])
            new_keys[j] = keys[i]
            new_vals[j] = vals[i]
    return new_keys, new_vals


@_jit
def sipp_unit4(free: BoolArray, forbidden: UInt8Array, cols: int, h: FloatArray,
               start_cell: int,
               goal: int, start_step: int, horizon: int, max_expansions: int, me: int,
               head: Int32Array, nxt: Int32Array, start: Int64Array, end: Int64Array,
               robot: Int32Array) -> tuple[Int64Array, int]:
    """Earliest-arrival path from `start_cell` at `start_step` to `goal` (4-connected).

    `forbidden[c]` has bit k set where move k (the kernels' numbering: row-1, row+1, col-1,
    col+1) out of cell c goes against a one-way zone. Returns (one flat cell per step from
    `start_step` to the arrival, expansions); the path is empty if none arrives by
    `horizon` within `max_expansions`.
    """
    n_cells = free.shape[0]
    always_lo = np.full(1, -UNBOUNDED, np.int64)
    always_hi = np.full(1, UNBOUNDED, np.int64)
    # Nothing to search for if someone holds the goal for ever or until after the horizon.
    goal_lo, goal_hi = _safe_intervals(goal, me, head, nxt, start, end, robot,
                                         always_lo, always_hi)
    if goal_lo.shape[0] == 0 or goal_hi[-1] < UNBOUNDED or goal_lo[-1] > horizon:
        return np.empty(0, np.int64), 0
    # States: cell, safe interval's end, arrival step, parent; keyed by cell and interval.
    st_cell = np.empty(1024, np.int64)
    st_hi = np.empty(1024, np.int64)
    st_t = np.empty(1024, np.int64)
    st_parent = np.empty(1024, np.int64)
    st_key = np.empty(1024, np.int64)
    # best state of each (cell, interval) key, in an open-addressing table.
    keys = np.full(4096, -1, np.int64)
    vals = np.empty(4096, np.int64)
    used = 0
    heap_key = np.empty(1024, np.float64)
    heap_node = np.empty(1024, np.int32)
    size = 0
    slots = start.shape[0] + 2
    tmp_lo = np.empty(slots, np.int64)
    tmp_hi = np.empty(slots, np.int64)
    nb_lo = np.empty(slots, np.int64)
    nb_hi = np.empty(slots, np.int64)
    lo0, hi0 = _safe_intervals(start_cell, me, head, nxt, start, end, robot, always_lo,
                               always_hi)
    # The robot is at its start at start_step whatever the table says (it stands there); it
    # may wait there as long as the interval holding the next step lasts.
    first_hi = np.int64(start_step)
    first_key = np.int64(start_cell) * _MAX_INTERVALS + (_MAX_INTERVALS - 1)
    for j in range(lo0.shape[0]):
        if lo0[j] <= start_step + 1 <= hi0[j]:
            first_hi = hi0[j]
            if lo0[j] <= start_step:
                first_key = np.int64(start_cell) * _MAX_INTERVALS + j
            break
    st_cell[0], st_hi[0], st_t[0], st_parent[0], st_key[0] = (start_cell, first_hi,
                                                             start_step, -1, first_key)
    i0 = _slot_of(keys, first_key)
    keys[i0], vals[i0] = first_key, 0
    used = 1
    n_states = 1
    # The goal's last interval (the one it may stay in) opens at `goal_from`: no arrival
    # before that, whatever the distance. Its keys are max(g + h, goal_from - start_step),
    # ties to the state nearer the goal (smaller h: where g + h decides, that is the larger
    # g, the rule of the other planners). Still consistent, so the arrival is as early as
    # before; but when the goal frees only later, the search heads for it and waits near it
    # rather than expand every state that could arrive sooner than the goal frees.
    wait_for_goal = max(0, goal_lo[-1] - start_step)
    _heap_push(heap_key, heap_node, size,
               max(h[start_cell], wait_for_goal) + TIE * h[start_cell], 0)
    size = 1
    expansions = 0
    found = -1
    while size > 0:
        sid = np.int64(heap_node[0])
        size -= 1
        _heap_pop_fix(heap_key, heap_node, size)
        if vals[_slot_of(keys, st_key[sid])] != sid:
            continue  # superseded by an earlier arrival in the same state
        cell = st_cell[sid]
        t = st_t[sid]
        if cell == goal and st_hi[sid] >= UNBOUNDED:
            found = int(sid)
            break
        expansions += 1
        if expansions > max_expansions:
            break
        if expansions == PROVE_AFTER and not can_reach(
                free, forbidden, cols, h, start_cell, goal, start_step, horizon, me, head,
                nxt, start, end, robot):
            break  # it would fail, after expanding all it can reach
        leave_by = st_hi[sid]  # last step it may still stand in `cell`
        r = cell // cols
        c = cell - r * cols
        out = forbidden[cell]
        for m in range(4):
            # m: col+1, col-1, row+1, row-1 are the kernels' moves 3, 2, 1, 0.
            if out & (1 << (3 - m)):
                continue
            if m == 0:
                if c + 1 >= cols:
                    continue
                n = cell + 1
            elif m == 1:
                if c == 0:
                    continue
                n = cell - 1
            elif m == 2:
                n = cell + cols
                if n >= n_cells:
                    continue
            else:
                n = cell - cols
                if n < 0:
                    continue
            if not free[n] or not np.isfinite(h[n]):
                continue
            n_intervals = _intervals_into(n, me, head, nxt, start, end, robot, tmp_lo,
                                          tmp_hi, nb_lo, nb_hi)
            for j in range(min(n_intervals, _MAX_INTERVALS - 1)):
                if nb_lo[j] > leave_by + 1 or nb_lo[j] > horizon:
                    break
                arrive = max(t + 1, nb_lo[j])
                if arrive > nb_hi[j] or arrive > leave_by + 1 or arrive > horizon:
                    continue
                key = np.int64(n) * _MAX_INTERVALS + j
                slot = _slot_of(keys, key)
                if keys[slot] == key and st_t[vals[slot]] <= arrive:
                    continue
                if n_states == st_cell.shape[0]:
                    grow_to = 2 * n_states
                    st_cell = _grown(st_cell, grow_to)
                    st_hi = _grown(st_hi, grow_to)
                    st_t = _grown(st_t, grow_to)
                    st_parent = _grown(st_parent, grow_to)
                    st_key = _grown(st_key, grow_to)
                sid2 = n_states
                n_states += 1
                st_cell[sid2], st_hi[sid2], st_t[sid2] = n, nb_hi[j], arrive
                st_parent[sid2], st_key[sid2] = sid, key
                if keys[slot] != key:
                    keys[slot] = key
                    used += 1
                vals[slot] = sid2
                if 2 * used > keys.shape[0]:
                    keys, vals = _rehash(keys, vals)
                if size + 1 >= heap_node.shape[0]:
                    heap_key, heap_node = _heap_grow(heap_key, heap_node, size, 1)
                g = arrive - start_step
                _heap_push(heap_key, heap_node, size,
                           max(g + h[n], wait_for_goal) + TIE * h[n], sid2)
                size += 1
    if found < 0:
        return np.empty(0, np.int64), expansions
    # Unwind: the robot stays in each cell until the step before it arrives in the next.
    length = st_t[found] - start_step + 1
    path = np.empty(length, np.int64)
    sid = np.int64(found)
    upto = length
    while sid >= 0:
        k = st_t[sid] - start_step
        path[k:upto] = st_cell[sid]
        upto = k
        sid = st_parent[sid]
    return path, expansions


@_jit
def _grown(a: Int64Array, size: int) -> Int64Array:
    out = np.empty(size, np.int64)
    out[:a.shape[0]] = a
    return out
