"""PIBT for agents that must face where they go (LoRR's action model), compiled with numba.

Agents face east, south, west or north (0-3) and each step drive one cell straight ahead,
turn a quarter in place, or wait. PIBT plans cells as usual, but ranks an agent's next
cells by distance to the goal plus the quarter turns needed to face them (staying counts
one), so agents keep going straight where that costs nothing and a pushed agent makes way
ahead of itself when it can. An agent planned into a cell it does not face turns instead
(the runner holds it, and whoever was planned into its cell, for that step).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fleet.planning._kernels import _jit
from fleet.planning.mapf._kernels import NIL, rand_below

__all__ = ["pibt_step_turning", "warm_up_turning"]

Int32Array = npt.NDArray[np.int32]
Int64Array = npt.NDArray[np.int64]
UInt64Array = npt.NDArray[np.uint64]


@_jit
def _plan(i: int, ahead: Int32Array, tables: npt.NDArray[np.uint16], table_of: Int32Array,
          q_from: Int32Array, h_from: Int64Array, q_to: Int32Array, occ_now: Int32Array,
          occ_next: Int32Array, rng: UInt64Array) -> bool:
    """Plan agent i (and, by priority inheritance, whoever must make way); False when i
    could find no cell, in which case it stays."""
    v = q_from[i]
    h = h_from[i]
    table = tables[table_of[i]]
    cand = np.empty(5, dtype=np.int32)
    score = np.empty(5, dtype=np.int64)
    k = 0
    for d in range(4):
        u = ahead[v, d]
        if u >= 0:
            diff = (d - h) % 4
            cand[k] = u
            score[k] = int(table[u]) + (2 if diff == 2 else (0 if diff == 0 else 1))
            k += 1
    cand[k] = v
    score[k] = int(table[v]) + 1
    k += 1
    # random order, then a stable sort by score: random tie-breaking
    for x in range(k - 1, 0, -1):
        y = rand_below(rng, x + 1)
        cand[x], cand[y] = cand[y], cand[x]
        score[x], score[y] = score[y], score[x]
    for x in range(1, k):
        sv, ss = cand[x], score[x]
        y = x - 1
        while y >= 0 and score[y] > ss:
            cand[y + 1], score[y + 1] = cand[y], score[y]
            y -= 1
        cand[y + 1], score[y + 1] = sv, ss
    for x in range(k):
        u = cand[x]
        if occ_next[u] != NIL:
            continue
        j = occ_now[u]
        if j != NIL and j != i and q_to[j] == v:
            continue  # a swap
        occ_next[u] = i
        q_to[i] = u
        if j == NIL or j == i or q_to[j] != NIL:  # noqa: SIM109 (numba)
            return True
        if _plan(j, ahead, tables, table_of, q_from, h_from, q_to, occ_now, occ_next, rng):
            return True
        # j could not make way and stays in u (it took u back): try the next cell
    # No cell: stay. Only the agent that pushed i can have claimed v; i takes it back.
    occ_next[v] = i
    q_to[i] = v
    return False


@_jit
def pibt_step_turning(ahead: Int32Array, tables: npt.NDArray[np.uint16],
                      table_of: Int32Array, q_from: Int32Array, h_from: Int64Array,
                      q_to: Int32Array, order: Int32Array, pinned: npt.NDArray[np.bool_],
                      occ_now: Int32Array, occ_next: Int32Array, rng: UInt64Array) -> None:
    """One PIBT step for every agent, in `order` (highest priority first), into `q_to`;
    pinned agents stay. Cells are ranked by distance to the goal plus the quarter turns
    needed to face them (staying counts one). `occ_now` and `occ_next` are all -1 on entry
    and on exit; `ahead[v, d]` is the vertex one cell from v in heading d, or -1."""
    n = q_from.shape[0]
    for i in range(n):
        q_to[i] = NIL
        occ_now[q_from[i]] = i
    for i in range(n):
        if pinned[i]:
            q_to[i] = q_from[i]
            occ_next[q_from[i]] = i
    for x in range(n):
        i = order[x]
        if q_to[i] == NIL:
            _plan(i, ahead, tables, table_of, q_from, h_from, q_to, occ_now, occ_next, rng)
    for i in range(n):
        occ_now[q_from[i]] = NIL
        occ_next[q_to[i]] = NIL


def warm_up_turning() -> None:
    """Compile (or load from the disk cache) the kernel on a two-cell corridor."""
    ahead = np.array([[1, -1, -1, -1], [-1, -1, 0, -1]], dtype=np.int32)
    tables = np.array([[1, 0]], dtype=np.uint16)
    one = np.zeros(1, dtype=np.int32)
    q_to = np.zeros(1, dtype=np.int32)
    occ = np.full(2, NIL, dtype=np.int32)
    occ_next = np.full(2, NIL, dtype=np.int32)
    rng = np.ones(1, dtype=np.uint64)
    pibt_step_turning(ahead, tables, one, one.copy(), np.zeros(1, dtype=np.int64), q_to,
                      one.copy(), np.zeros(1, dtype=np.bool_), occ, occ_next, rng)
