"""Shortest routes on a lane graph: floors that define lanes and one-way aisles.

Nodes are points on the floor (metres, `map` frame) numbered 0..n-1; a lane joins two nodes
in both directions, or only from `start` to `end` when it is one-way. A lane's length
defaults to the straight line between its nodes and may be longer (a curved lane). The graph
is stored in CSR form (`indptr`, `indices`, `weights`) and searched with A* under the
straight-line heuristic, scaled down if some lane is shorter than its chord so the answer
stays optimal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleet.model import InvalidInputError
from fleet.planning import _kernels
from fleet.planning.errors import NoPathError

__all__ = ["Lane", "LaneGraph", "LanePath"]


@dataclass(frozen=True, slots=True)
class Lane:
    """A lane between nodes `start` and `end`; `length_m` None means the straight line."""

    start: int
    end: int
    one_way: bool = False
    length_m: float | None = None


@dataclass(frozen=True, slots=True)
class LanePath:
    """An optimal route: the nodes visited (start and goal included) and its length."""

    nodes: list[int]
    length_m: float
    expansions: int


class LaneGraph:
    """A directed lane graph in CSR form with a reusable A* search.

    Not thread-safe (it owns its search buffers); use one instance per worker.
    """

    def __init__(self, positions_m: npt.ArrayLike, lanes: Iterable[Lane]) -> None:
        xy = np.asarray(positions_m, dtype=np.float64)
        if xy.ndim != 2 or xy.shape[1] != 2 or xy.shape[0] == 0:
            raise InvalidInputError(
                f"positions_m must be an (n, 2) array of node x, y in metres, got shape {xy.shape}",
                field="positions_m",
                value=xy.shape,
            )
        if not np.isfinite(xy).all():
            node = int(np.argwhere(~np.isfinite(xy))[0, 0])
            raise InvalidInputError(
                f"node {node} has a non-finite position", field="positions_m", value=node
            )
        n = int(xy.shape[0])
        sources: list[int] = []
        targets: list[int] = []
        lengths: list[float] = []
        for i, lane in enumerate(lanes):
            a, b = lane.start, lane.end
            for end in (a, b):
                if not 0 <= end < n:
                    raise InvalidInputError(
                        f"lane {i} ({a} -> {b}) names node {end}, the graph has nodes 0..{n - 1}",
                        field="lanes",
                        value=i,
                    )
            if a == b:
                raise InvalidInputError(
                    f"lane {i} starts and ends at node {a}", field="lanes", value=i
                )
            chord = float(np.hypot(*(xy[b] - xy[a])))
            length = chord if lane.length_m is None else float(lane.length_m)
            if not (np.isfinite(length) and length > 0.0):
                raise InvalidInputError(
                    f"lane {i} ({a} -> {b}) needs a positive finite length, got {length}",
                    field="lanes",
                    value=i,
                )
            sources.append(a)
            targets.append(b)
            lengths.append(length)
            if not lane.one_way:
                sources.append(b)
                targets.append(a)
                lengths.append(length)
        src = np.asarray(sources, dtype=np.int64)
        order = np.argsort(src, kind="stable")
        self._indices = np.asarray(targets, dtype=np.int32)[order]
        self._weights = np.asarray(lengths, dtype=np.float64)[order]
        self._indptr = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(src, minlength=n), out=self._indptr[1:])
        for array in (self._indices, self._weights, self._indptr):
            array.flags.writeable = False
        self._xs = np.ascontiguousarray(xy[:, 0])
        self._ys = np.ascontiguousarray(xy[:, 1])
        # The straight line underestimates every route once scaled by the smallest
        # length-to-chord ratio, so A* stays exact even for lanes shorter than their chord.
        chords = np.hypot(
            self._xs[src[order]] - self._xs[self._indices],
            self._ys[src[order]] - self._ys[self._indices],
        )
        positive = chords > 0.0
        ratio = self._weights[positive] / chords[positive]
        self._h_scale = float(min(1.0, ratio.min())) if ratio.size else 0.0
        self._g = np.zeros(n, dtype=np.float64)
        self._parent = np.zeros(n, dtype=np.int32)
        self._stamp = np.zeros(n, dtype=np.int32)
        self._generation = 0
        self._heap_key = np.empty(min(n, 1 << 12) + 8, dtype=np.float64)
        self._heap_node = np.empty(min(n, 1 << 12) + 8, dtype=np.int32)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self._xs.shape[0])

    @property
    def indptr(self) -> npt.NDArray[np.int32]:
        """CSR row pointers: the lanes leaving node i are `indptr[i]:indptr[i + 1]`."""
        return self._indptr

    @property
    def indices(self) -> npt.NDArray[np.int32]:
        """CSR targets: the node each directed lane leads to."""
        return self._indices

    @property
    def weights(self) -> npt.NDArray[np.float64]:
        """CSR lengths in metres of each directed lane."""
        return self._weights

    def successors(self, node: int) -> list[int]:
        """The nodes reachable from `node` along one lane."""
        self._check_node("node", node)
        return [int(v) for v in self._indices[self._indptr[node] : self._indptr[node + 1]]]

    def _check_node(self, field: str, node: int) -> int:
        if isinstance(node, bool) or not isinstance(node, int | np.integer):
            raise InvalidInputError(
                f"{field} must be a node number, got {node!r}", field=field, value=node
            )
        if not 0 <= node < self.n_nodes:
            raise InvalidInputError(
                f"{field} node {node} is not in the lane graph (nodes 0..{self.n_nodes - 1})",
                field=field,
                value=node,
            )
        return int(node)

    def plan(self, start: int, goal: int) -> LanePath:
        """The shortest route from node `start` to node `goal` respecting one-way lanes.

        Raises InvalidInputError for an unknown node, NoPathError if no route exists.
        """
        start_node = self._check_node("start", start)
        goal_node = self._check_node("goal", goal)
        self._generation += 1
        if self._generation > _kernels.MAX_GENERATION:
            self._stamp.fill(0)
            self._generation = 1
        path, expansions, self._heap_key, self._heap_node = _kernels.astar_graph(
            self._indptr,
            self._indices,
            self._weights,
            self._xs,
            self._ys,
            self._h_scale,
            start_node,
            goal_node,
            self._g,
            self._parent,
            self._stamp,
            self._generation,
            self._heap_key,
            self._heap_node,
        )
        if path.shape[0] == 0:
            raise NoPathError(start_node, goal_node, searched=int(expansions))
        return LanePath(path.tolist(), float(self._g[goal_node]), int(expansions))
