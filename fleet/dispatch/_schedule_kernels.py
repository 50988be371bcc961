"""Compiled core of the schedule optimizer: the decoder, greedy construction and LNS.

Flat arrays only (see `fleet.dispatch.schedule` for what each one means). A solution is a
priority list `order` of the schedulable tasks and a robot per task `robot_of`; the decoder
turns it into start and end times under the model of `bench.abstract.solve_cpsat`:

- ready = max(lower bound, end of each predecessor + its start delay);
- offer = ready, and for a transport into a holding cell not before the cell has room (a
  part leaves its cell HANDLING after the transport out of it starts);
- start (robot at the first station) = max(previous end + setup, offer) for work that may be
  driven to ahead (`ahead`: welds, transports out of holding cells), max(previous end,
  offer) + setup otherwise; end = start + work. Fixed welders have no setup.
- a transport that may be staged (`stage`) is offered already once the take-outs that make
  room in its cell are given out (their robots set off), not once the cell has room: its
  robot brings the part and waits next to the cell; end = max(start + work, room +
  HANDLING), the drop once the cell has room.

Tasks are decoded in list order; one whose predecessors or cell are not decoded yet waits and
is decoded as soon as they are (so every list is decodable unless the cells deadlock, which
the model forbids: then the makespan is inf).
"""

from __future__ import annotations

import numpy as np
from numba import njit

INF = np.inf


@njit(cache=True)
def _cell_entry(c: int, cap: np.ndarray, members: np.ndarray, count: np.ndarray,
                occ_release: np.ndarray) -> float:
    """Earliest time a new part may be given a place in cell `c`; inf if the parts in it
    have not all been scheduled out (-inf if it has room at once)."""
    k = count[c]
    room = cap[c]
    if k < room:
        # Fewer parts than places: room unless the undecided ones fill it (they cannot).
        return -INF
    undecided = 0
    for i in range(k):
        if occ_release[members[c, i]] == INF:
            undecided += 1
    if undecided >= room:
        return INF
    if room == 1:
        best = -INF
        for i in range(k):
            r = occ_release[members[c, i]]
            if r > best:
                best = r
        return best
    rel = np.empty(k)
    for i in range(k):
        rel[i] = occ_release[members[c, i]]
    rel.sort()
    return float(rel[k - room])


@njit(cache=True)
def _occupancy(occ_cell: np.ndarray, occ_fixed: np.ndarray, occ_going: np.ndarray, n: int,
               n_cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cells' occupants before any task is placed: the parts already in them (released
    at `occ_fixed`, their take-out's robot on its way from `occ_going`), room for each of
    the `n` tasks' parts to come; (release time of each occupant, when its take-out is given
    out, members of each cell, how many)."""
    n_init = occ_cell.shape[0]
    occ_release = np.full(n_init + n, INF)
    occ_given = np.full(n_init + n, INF)
    members = np.empty((n_cells, n_init + n), dtype=np.int64)
    count = np.zeros(n_cells, dtype=np.int64)
    for k in range(n_init):
        occ_release[k] = occ_fixed[k]
        occ_given[k] = occ_going[k]
        c = occ_cell[k]
        members[c, count[c]] = k
        count[c] += 1
    return occ_release, occ_given, members, count


@njit(cache=True)
def _may_go(t: int, done: np.ndarray, pred_ptr: np.ndarray, pred_idx: np.ndarray,
            into_cell: np.ndarray, cap: np.ndarray, members: np.ndarray, count: np.ndarray,
            occ_release: np.ndarray) -> bool:
    """True if task t's predecessors are placed and its cell (if any) will have room."""
    for q in range(pred_ptr[t], pred_ptr[t + 1]):
        if not done[pred_idx[q]]:
            return False
    return not (into_cell[t] >= 0 and _cell_entry(
        into_cell[t], cap, members, count, occ_release) == INF)


@njit(cache=True)
def _start_on(t: int, r: int, offer: float, last: np.ndarray, end: np.ndarray,
              avail: np.ndarray, first_setup: np.ndarray, gap: np.ndarray,
              first_st: np.ndarray, last_st: np.ndarray, ahead: np.ndarray) -> float:
    """When robot r starts task t given out at `offer` (the CP-SAT model's rule): after its
    previous task (or from when it is free) plus the drive there; work that may be driven to
    ahead (`ahead`) starts no sooner than the offer, other work sets off at the offer."""
    p = last[r]
    if p < 0:
        prev_end = avail[r]
        setup = first_setup[r, first_st[t]]
    else:
        prev_end = end[p]
        setup = gap[r, last_st[p], first_st[t]]
    if ahead[t]:
        s = prev_end + setup
        return float(offer if offer > s else s)
    return float((prev_end if prev_end > offer else offer) + setup)


@njit(cache=True)
def _setup_of(t: int, r: int, last: np.ndarray, first_setup: np.ndarray, gap: np.ndarray,
              first_st: np.ndarray, last_st: np.ndarray) -> float:
    """Seconds robot r drives to task t's first station from where its previous task ends."""
    p = last[r]
    if p < 0:
        return float(first_setup[r, first_st[t]])
    return float(gap[r, last_st[p], first_st[t]])


@njit(cache=True)
def _timing(t: int, r: int, ready: float, last: np.ndarray, end: np.ndarray,
            avail: np.ndarray, first_setup: np.ndarray, gap: np.ndarray, first_st: np.ndarray,
            last_st: np.ndarray, ahead: np.ndarray, work: np.ndarray, into_cell: np.ndarray,
            stage: np.ndarray, cap: np.ndarray, members: np.ndarray, count: np.ndarray,
            occ_release: np.ndarray, occ_given: np.ndarray, handling_s: float
            ) -> tuple[float, float]:
    """(start, end) of task t on robot r once it is `ready`. A transport into a holding cell
    is given out once the cell has room; one that may be staged (`stage`) already once the
    take-outs that make room are given out: its robot brings the part and waits next to the
    cell, and drops it once the cell has room."""
    offer = ready
    c = into_cell[t]
    entry = -INF
    if c >= 0:
        entry = _cell_entry(c, cap, members, count, occ_release)
        given = entry
        if stage[t]:
            given = _cell_entry(c, cap, members, count, occ_given)
            if given > entry:
                given = entry  # (a take-out given out nowhere here: staged no sooner)
        if given > offer:
            offer = given
    s = _start_on(t, r, offer, last, end, avail, first_setup, gap, first_st, last_st, ahead)
    e = s + work[t, r]
    if entry + handling_s > e:
        e = entry + handling_s
    return s, e


@njit(cache=True)
def decode_part(order: np.ndarray, length: int, robot_of: np.ndarray, lower: np.ndarray,
                pred_ptr: np.ndarray,
           pred_idx: np.ndarray, pred_delay: np.ndarray, first_st: np.ndarray,
           last_st: np.ndarray, ahead: np.ndarray, work: np.ndarray, avail: np.ndarray,
           first_setup: np.ndarray, gap: np.ndarray, into_cell: np.ndarray,
           out_occ: np.ndarray, cap: np.ndarray, occ_cell: np.ndarray,
           occ_fixed: np.ndarray, handling_s: float, stage: np.ndarray,
           occ_going: np.ndarray, start: np.ndarray, end: np.ndarray,
           seq: np.ndarray) -> tuple[float, float, int]:
    """Decode the first `length` tasks of `order` (the others are left out, and so is what
    waits for them): start and end times into `start`, `end`, the placed tasks in order
    into `seq`; returns (makespan, sum of ends, tasks placed) over the placed tasks."""
    n = robot_of.shape[0]
    m = avail.shape[0]
    n_init = occ_cell.shape[0]
    occ_release, occ_given, members, count = _occupancy(occ_cell, occ_fixed, occ_going, n,
                                                        cap.shape[0])
    done = np.zeros(n, dtype=np.bool_)
    last = np.full(m, -1, dtype=np.int64)
    waiting = np.empty(n, dtype=np.int64)
    n_wait = 0
    placed = 0
    makespan = -INF
    total = 0.0
    i = 0
    while i < length or n_wait > 0:
        t = -1
        # A waiting task first, once it can go; else the next one in the list.
        for w in range(n_wait):
            cand = waiting[w]
            if _may_go(cand, done, pred_ptr, pred_idx, into_cell, cap, members, count,
                       occ_release):
                t = cand
                for v in range(w, n_wait - 1):
                    waiting[v] = waiting[v + 1]
                n_wait -= 1
                break
        if t < 0:
            if i >= length:
                # Waiting for tasks left out (or deadlocked cells): they close the sequence.
                k = placed
                for w in range(n_wait):
                    seq[k] = waiting[w]
                    k += 1
                return makespan, total, placed
            cand = order[i]
            i += 1
            if not _may_go(cand, done, pred_ptr, pred_idx, into_cell, cap, members, count,
                           occ_release):
                waiting[n_wait] = cand
                n_wait += 1
                continue
            t = cand
        # Place task t on its robot.
        r = robot_of[t]
        ready = lower[t]
        for q in range(pred_ptr[t], pred_ptr[t + 1]):
            e = end[pred_idx[q]] + pred_delay[q]
            if e > ready:
                ready = e
        c = into_cell[t]
        if c < 0:
            s = _start_on(t, r, ready, last, end, avail, first_setup, gap, first_st, last_st,
                          ahead)  # no cell to wait for: the common, fast case
            e = s + work[t, r]
        else:
            s, e = _timing(t, r, ready, last, end, avail, first_setup, gap, first_st,
                           last_st, ahead, work, into_cell, stage, cap, members, count,
                           occ_release, occ_given, handling_s)
        o = out_occ[t]
        if o >= 0:
            occ_given[o] = s - _setup_of(t, r, last, first_setup, gap, first_st, last_st)
        start[t] = s
        end[t] = e
        if end[t] > makespan:
            makespan = end[t]
        total += end[t]
        last[r] = t
        done[t] = True
        seq[placed] = t
        placed += 1
        if c >= 0:
            occ = n_init + t
            members[c, count[c]] = occ
            count[c] += 1
        if o >= 0:
            occ_release[o] = s + handling_s
    return makespan, total, placed


@njit(cache=True)
def decode(order: np.ndarray, robot_of: np.ndarray, lower: np.ndarray, pred_ptr: np.ndarray,
           pred_idx: np.ndarray, pred_delay: np.ndarray, first_st: np.ndarray,
           last_st: np.ndarray, ahead: np.ndarray, work: np.ndarray, avail: np.ndarray,
           first_setup: np.ndarray, gap: np.ndarray, into_cell: np.ndarray,
           out_occ: np.ndarray, cap: np.ndarray, occ_cell: np.ndarray,
           occ_fixed: np.ndarray, handling_s: float, stage: np.ndarray,
           occ_going: np.ndarray, start: np.ndarray, end: np.ndarray,
           seq: np.ndarray) -> tuple[float, float]:
    """Start and end times of every task (into `start`, `end`), the decode order into `seq`;
    returns (makespan, sum of ends). inf makespan if some task cannot be placed."""
    n = order.shape[0]
    makespan, total, placed = decode_part(
        order, n, robot_of, lower, pred_ptr, pred_idx, pred_delay, first_st, last_st, ahead,
        work, avail, first_setup, gap, into_cell, out_occ, cap, occ_cell, occ_fixed,
        handling_s, stage, occ_going, start, end, seq)
    if placed < n:
        return INF, INF
    return makespan, total


@njit(cache=True)
def _cost(makespan: float, total: float, n: int, mean_weight: float, now: float) -> float:
    if n == 0:
        return 0.0
    return makespan + mean_weight * (total / n - now)


@njit(cache=True)
def greedy(lower: np.ndarray, pred_ptr: np.ndarray, pred_idx: np.ndarray,
           pred_delay: np.ndarray, first_st: np.ndarray, last_st: np.ndarray,
           ahead: np.ndarray, work: np.ndarray, able: np.ndarray, avail: np.ndarray,
           first_setup: np.ndarray, gap: np.ndarray, into_cell: np.ndarray,
           out_occ: np.ndarray, cap: np.ndarray, occ_cell: np.ndarray,
           occ_fixed: np.ndarray, handling_s: float, stage: np.ndarray,
           occ_going: np.ndarray, order: np.ndarray, robot_of: np.ndarray, noise: float,
           seed: int) -> None:
    """List scheduling: again and again the (task, robot) that finishes first among the tasks
    whose predecessors and cell allow them; fills `order` and `robot_of`. With `noise` > 0
    each choice compares ends stretched by up to that fraction of their time from the
    earliest start at random (a randomized greedy, seeded)."""
    if noise > 0:
        np.random.seed(seed)
    n = lower.shape[0]
    m = avail.shape[0]
    n_init = occ_cell.shape[0]
    occ_release, occ_given, members, count = _occupancy(occ_cell, occ_fixed, occ_going, n,
                                                        cap.shape[0])
    done = np.zeros(n, dtype=np.bool_)
    end = np.zeros(n)
    last = np.full(m, -1, dtype=np.int64)
    for step in range(n):
        best_t = -1
        best_r = -1
        best_end = INF
        best_start = INF
        best_true_end = INF
        for t in range(n):
            if done[t]:
                continue
            ok = True
            ready = lower[t]
            for q in range(pred_ptr[t], pred_ptr[t + 1]):
                if not done[pred_idx[q]]:
                    ok = False
                    break
                e = end[pred_idx[q]] + pred_delay[q]
                if e > ready:
                    ready = e
            if not ok:
                continue
            c = into_cell[t]
            if c >= 0 and _cell_entry(c, cap, members, count, occ_release) == INF:
                continue
            for r in range(m):
                if not able[t, r]:
                    continue
                if c < 0:
                    # No cell to wait for (the common case: kept out of `_timing`'s call,
                    # which costs this innermost loop a third of its speed).
                    s = _start_on(t, r, ready, last, end, avail, first_setup, gap, first_st,
                                  last_st, ahead)
                    e = s + work[t, r]
                else:
                    s, e = _timing(t, r, ready, last, end, avail, first_setup, gap,
                                   first_st, last_st, ahead, work, into_cell, stage, cap,
                                   members, count, occ_release, occ_given, handling_s)
                true_end = e
                if noise > 0:
                    e += noise * np.random.random() * (e - avail[r] if e > avail[r] else 0.0)
                if e < best_end - 1e-9 or (e < best_end + 1e-9 and s < best_start):
                    best_end = e
                    best_start = s
                    best_true_end = true_end
                    best_t = t
                    best_r = r
        if best_t < 0:
            # Nothing can go (a cell deadlock the input allows): the rest in index order.
            k = step
            for t in range(n):
                if not done[t]:
                    order[k] = t
                    for r in range(m):
                        if able[t, r]:
                            robot_of[t] = r
                            break
                    k += 1
            return
        t = best_t
        order[step] = t
        robot_of[t] = best_r
        done[t] = True
        end[t] = best_true_end
        setup = _setup_of(t, best_r, last, first_setup, gap, first_st, last_st)
        last[best_r] = t
        c = into_cell[t]
        if c >= 0:
            members[c, count[c]] = n_init + t
            count[c] += 1
        o = out_occ[t]
        if o >= 0:
            occ_release[o] = best_start + handling_s
            occ_given[o] = best_start - setup


@njit(cache=True)
def lns(order: np.ndarray, robot_of: np.ndarray, lower: np.ndarray, pred_ptr: np.ndarray,
        pred_idx: np.ndarray, pred_delay: np.ndarray, succ_ptr: np.ndarray,
        succ_idx: np.ndarray, first_st: np.ndarray, last_st: np.ndarray,
        ahead: np.ndarray, work: np.ndarray, able: np.ndarray, avail: np.ndarray,
        first_setup: np.ndarray, gap: np.ndarray, into_cell: np.ndarray,
        out_occ: np.ndarray, cap: np.ndarray, occ_cell: np.ndarray, occ_fixed: np.ndarray,
        handling_s: float, stage: np.ndarray, occ_going: np.ndarray, iterations: int,
        destroy: int, seed: int, mean_weight: float, now: float,
        first: int) -> tuple[float, int]:
    """Large-neighbourhood search from (`order`, `robot_of`), improved in place to the best
    solution found: destroy up to `destroy` tasks (at random, close in time to a random task,
    or a run of one robot's sequence), repair each by the best insertion (every capable robot,
    before each of its tasks or after its last, between the task's predecessors and
    successors). Iteration i draws from a generator seeded by (seed, `first` + i); the search
    stands on its best solution (moves of equal cost are taken). Returns (best cost,
    improving iterations)."""
    n = order.shape[0]
    m = avail.shape[0]
    start = np.zeros(n)
    end = np.zeros(n)
    seq = np.zeros(n, dtype=np.int64)
    args = (lower, pred_ptr, pred_idx, pred_delay, first_st, last_st, ahead, work, avail,
            first_setup, gap, into_cell, out_occ, cap, occ_cell, occ_fixed, handling_s, stage,
            occ_going)
    mk, tot = decode(order, robot_of, *args, start, end, seq)
    best = _cost(mk, tot, n, mean_weight, now)
    if n <= 1 or iterations <= 0:
        return best, 0
    cur = best
    cur_order = order.copy()
    cur_robot = robot_of.copy()
    cur_start = start.copy()
    improved = 0
    removed = np.zeros(n, dtype=np.bool_)
    picked = np.empty(n, dtype=np.int64)
    trial = np.empty(n, dtype=np.int64)
    trial_robot = np.empty(n, dtype=np.int64)
    pos = np.empty(n, dtype=np.int64)
    dist = np.empty(n)
    k_max = min(destroy, n)
    for it in range(iterations):
        np.random.seed((seed * 1000003 + first + it) % 2147483647)
        k = 1 + np.random.randint(k_max)
        removed[:] = False
        kind = np.random.randint(3)
        n_picked = 0
        if kind == 0:
            while n_picked < k:
                t = np.random.randint(n)
                if not removed[t]:
                    removed[t] = True
                    picked[n_picked] = t
                    n_picked += 1
        elif kind == 1:
            s0 = cur_start[np.random.randint(n)]
            for t in range(n):
                dist[t] = abs(cur_start[t] - s0) + np.random.random()
            near = np.argsort(dist)
            for j in range(k):
                t = near[j]
                removed[t] = True
                picked[n_picked] = t
                n_picked += 1
        else:
            r = cur_robot[cur_order[np.random.randint(n)]]
            mine = 0
            for j in range(n):
                if cur_robot[cur_order[j]] == r:
                    mine += 1
            first = np.random.randint(mine)
            seen = 0
            for j in range(n):
                t = cur_order[j]
                if cur_robot[t] != r:
                    continue
                if seen >= first and n_picked < k:
                    removed[t] = True
                    picked[n_picked] = t
                    n_picked += 1
                seen += 1
        # The list without them.
        size = 0
        for j in range(n):
            t = cur_order[j]
            if not removed[t]:
                trial[size] = t
                size += 1
        trial_robot[:] = cur_robot
        # Repair in random order.
        for j in range(n_picked - 1, 0, -1):
            q = np.random.randint(j + 1)
            picked[j], picked[q] = picked[q], picked[j]
        feasible = True
        for j in range(n_picked):
            t = picked[j]
            for q in range(size):
                pos[trial[q]] = q
            lo = 0
            for q in range(pred_ptr[t], pred_ptr[t + 1]):
                u = pred_idx[q]
                if not removed[u] and pos[u] + 1 > lo:
                    lo = pos[u] + 1
            hi = size
            for q in range(succ_ptr[t], succ_ptr[t + 1]):
                u = succ_idx[q]
                if not removed[u] and pos[u] < hi:
                    hi = pos[u]
            if hi < lo:
                hi = lo
            best_cost = INF
            best_p = lo
            best_r = -1
            cand = np.empty(size + 1, dtype=np.int64)
            for r in range(m):
                if not able[t, r]:
                    continue
                trial_robot[t] = r
                # Positions: lo, before each of r's tasks in [lo, hi], and just after its last.
                n_cand = 0
                cand[n_cand] = lo
                n_cand += 1
                after = -1
                for q in range(lo, hi):
                    u = trial[q]
                    if trial_robot[u] == r:
                        if q != lo:
                            cand[n_cand] = q
                            n_cand += 1
                        after = q + 1
                if after > lo and after <= hi:
                    cand[n_cand] = after
                    n_cand += 1
                for a in range(n_cand):
                    p = cand[a]
                    # trial with t at p, the others shifted, then the removed ones left out.
                    for q in range(size, p, -1):
                        trial[q] = trial[q - 1]
                    trial[p] = t
                    cost = _partial_cost(trial, size + 1, trial_robot, removed, t, args,
                                         start, end, seq, mean_weight, now)
                    for q in range(p, size):
                        trial[q] = trial[q + 1]
                    if cost < best_cost - 1e-9:
                        best_cost = cost
                        best_p = p
                        best_r = r
            if best_r < 0:
                feasible = False
                break
            for q in range(size, best_p, -1):
                trial[q] = trial[q - 1]
            trial[best_p] = t
            size += 1
            trial_robot[t] = best_r
            removed[t] = False
        if not feasible:
            continue
        mk, tot = decode(trial, trial_robot, *args, start, end, seq)
        cost = _cost(mk, tot, n, mean_weight, now)
        if cost <= cur + 1e-9:
            if cost < cur - 1e-9:
                improved += 1
            cur = cost
            cur_order[:] = trial
            cur_robot[:] = trial_robot
            cur_start[:] = start
            best = cost
            order[:] = trial
            robot_of[:] = trial_robot
    return best, improved


@njit(cache=True)
def _partial_cost(trial: np.ndarray, size: int, robot_of: np.ndarray, removed: np.ndarray,
                  t: int, args: tuple,  # type: ignore[type-arg]
                  start: np.ndarray, end: np.ndarray, seq: np.ndarray,
                  mean_weight: float, now: float) -> float:
    """Cost of the partial list `trial[:size]`: the tasks still removed are left out, and so
    is what waits for them; every task the list holds but cannot place costs a penalty."""
    (lower, pred_ptr, pred_idx, pred_delay, first_st, last_st, ahead, work, avail,
     first_setup, gap, into_cell, out_occ, cap, occ_cell, occ_fixed, handling_s, stage,
     occ_going) = args
    n = robot_of.shape[0]
    mk, tot, placed = decode_part(trial, size, robot_of, lower, pred_ptr, pred_idx,
                                  pred_delay, first_st, last_st, ahead, work, avail,
                                  first_setup, gap, into_cell, out_occ, cap, occ_cell,
                                  occ_fixed, handling_s, stage, occ_going, start, end, seq)
    return _cost(mk, tot, n, mean_weight, now) + _UNPLACED * (size - placed)


_UNPLACED = 1e7
