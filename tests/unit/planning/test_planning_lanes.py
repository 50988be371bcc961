"""Lane graphs: shortest routes along lanes, one-way aisles respected."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.csgraph
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.model import InfeasibleError, InvalidInputError
from fleet.planning import Lane, LaneGraph, NoPathError

# A square loop 0-1-2-3 with a one-way diagonal shortcut from 0 to 2.
SQUARE = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]


def square(shortcut_one_way: bool = True) -> LaneGraph:
    return LaneGraph(
        SQUARE,
        [Lane(0, 1), Lane(1, 2), Lane(2, 3), Lane(3, 0), Lane(0, 2, one_way=shortcut_one_way)],
    )


def test_route_takes_the_shortest_lanes() -> None:
    route = square().plan(0, 2)
    assert route.nodes == [0, 2]
    assert route.length_m == pytest.approx(math.hypot(10.0, 10.0))


def test_one_way_lane_is_not_driven_backwards() -> None:
    route = square().plan(2, 0)
    assert route.nodes in ([2, 1, 0], [2, 3, 0])
    assert route.length_m == pytest.approx(20.0)
    assert square(shortcut_one_way=False).plan(2, 0).nodes == [2, 0]


def test_curved_lane_longer_than_its_chord_is_costed_by_length() -> None:
    graph = LaneGraph(SQUARE, [Lane(0, 1, length_m=30.0), Lane(1, 2), Lane(0, 3), Lane(3, 2)])
    assert graph.plan(0, 2).nodes == [0, 3, 2]


def test_lane_shorter_than_its_chord_still_gives_the_optimum() -> None:
    # A tunnel: lanes shorter than the straight line would make the plain heuristic lie.
    lanes = [Lane(0, 1), Lane(1, 2), Lane(0, 3, length_m=1.0), Lane(3, 2, length_m=1.0)]
    graph = LaneGraph(SQUARE, lanes)
    route = graph.plan(0, 2)
    assert route.nodes == [0, 3, 2]
    assert route.length_m == 2.0


def test_start_equal_to_goal() -> None:
    route = square().plan(1, 1)
    assert route.nodes == [1] and route.length_m == 0.0


def test_unreachable_goal_is_infeasible() -> None:
    graph = LaneGraph(SQUARE, [Lane(0, 1, one_way=True), Lane(2, 3)])
    with pytest.raises(NoPathError) as caught:
        graph.plan(1, 0)
    assert isinstance(caught.value, InfeasibleError)
    with pytest.raises(NoPathError):
        graph.plan(0, 3)


@pytest.mark.parametrize("node", [-1, 4, 2.0, True, "1"])
def test_unknown_node_is_invalid_input(node: object) -> None:
    with pytest.raises(InvalidInputError, match="start"):
        square().plan(node, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("lanes", "reason"),
    [
        ([Lane(0, 9)], "names node 9"),
        ([Lane(1, 1)], "starts and ends at node 1"),
        ([Lane(0, 1, length_m=0.0)], "positive finite length"),
        ([Lane(0, 1, length_m=math.inf)], "positive finite length"),
    ],
)
def test_bad_lanes_are_refused(lanes: list[Lane], reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        LaneGraph(SQUARE, lanes)


def test_bad_positions_are_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"\(n, 2\)"):
        LaneGraph([1.0, 2.0], [])
    with pytest.raises(InvalidInputError, match="non-finite"):
        LaneGraph([(0.0, 0.0), (math.nan, 1.0)], [])


def test_csr_arrays_describe_the_directed_lanes() -> None:
    graph = square()
    assert graph.n_nodes == 4
    assert graph.indptr.tolist() == [0, 3, 5, 7, 9]
    assert sorted(graph.successors(0)) == [1, 2, 3]
    assert sorted(graph.successors(2)) == [1, 3]
    assert not graph.weights.flags.writeable


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 14).flatmap(
        lambda n: st.tuples(
            st.lists(st.tuples(st.floats(0, 50), st.floats(0, 50)), min_size=n, max_size=n),
            st.lists(
                st.tuples(
                    st.integers(0, n - 1), st.integers(0, n - 1), st.booleans(), st.floats(0.5, 3.0)
                ),
                max_size=3 * n,
            ),
        )
    )
)
def test_routes_match_scipy_dijkstra(
    spec: tuple[list[tuple[float, float]], list[tuple[int, int, bool, float]]],
) -> None:
    positions, raw = spec
    xy = np.array(positions)
    lanes = []
    for a, b, one_way, stretch in raw:
        if a == b:
            continue
        chord = float(np.hypot(*(xy[b] - xy[a])))
        lanes.append(Lane(a, b, one_way, max(chord * stretch, 0.1)))
    graph = LaneGraph(positions, lanes)
    n = len(positions)
    matrix = scipy.sparse.csr_array((graph.weights, graph.indices, graph.indptr), shape=(n, n))
    dist = scipy.sparse.csgraph.dijkstra(matrix, directed=True)
    for start in range(n):
        for goal in range(n):
            if math.isinf(dist[start, goal]):
                with pytest.raises(NoPathError):
                    graph.plan(start, goal)
            else:
                route = graph.plan(start, goal)
                assert route.length_m == pytest.approx(dist[start, goal], rel=1e-9)
                assert route.nodes[0] == start and route.nodes[-1] == goal
