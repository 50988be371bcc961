"""One-way aisles in the MAPF planners: LaCAM and lifelong PIBT never drive against an aisle.

The oracle is the independent checker (`check_solution` with the floor grid's
`forbidden_moves`): no vertex or swap conflicts, no jumps, no move against a direction.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from fleet.cli import main
from fleet.floor import OccupancyGrid, load_floor, parse_floor, rasterize
from fleet.model import Cell, InvalidInputError
from fleet.planning.mapf import (
    GridGraph,
    LorrProblem,
    ViolationKind,
    check_solution,
    load_lorr,
    read_result,
    run_lifelong,
    solve_mapf,
)

FLOORS = Path(__file__).resolve().parents[3] / "data" / "floors"

# Three long aisles joined by two-way cross aisles at both ends: the outer aisles run east,
# the middle one west, as in an AGV plant. Strongly connected, with corridors where agents
# meet head-on only in the two-way ends.
AISLES = """
name: aisles
grid: {resolution_m: 1, robot_radius_m: 0.45}
outline: [[0, 0], [16, 0], [16, 10], [0, 10]]
obstacles:
  - {id: rack-1, polygon: [[3.5, 2.5], [12.5, 2.5], [12.5, 3.5], [3.5, 3.5]]}
  - {id: rack-2, polygon: [[3.5, 5.5], [12.5, 5.5], [12.5, 6.5], [3.5, 6.5]]}
zones:
  - {id: aisle-south, kind: one_way, direction: "+x", polygon: [[3, 1], [13, 1], [13, 2], [3, 2]]}
  - {id: aisle-middle, kind: one_way, direction: "-x", polygon: [[3, 4], [13, 4], [13, 5], [3, 5]]}
  - {id: aisle-north, kind: one_way, direction: "+x", polygon: [[3, 7], [13, 7], [13, 9], [3, 9]]}
"""
"""Free: rows 1-8, columns 1-14 but the racks (rows 2-3 and 5-6, columns 3-12). Aisles: row 1
east, row 4 west (one cell wide), rows 7-8 east; columns 1-2 and 13-14 two-way."""


def _aisles() -> OccupancyGrid:
    return rasterize(parse_floor(AISLES))


def _shop() -> OccupancyGrid:
    return rasterize(load_floor(FLOORS / "one_way_shop.yaml"))


def _free_cells(grid: OccupancyGrid) -> list[Cell]:
    rows, cols = np.nonzero(grid.free)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True)]


def _edges(graph: GridGraph, table: npt.NDArray[np.int32]) -> set[tuple[int, int]]:
    return {(v, int(u)) for v in range(graph.n_vertices) for u in table[v] if u >= 0}


def test_the_graph_leaves_out_exactly_the_moves_against_an_aisle() -> None:
    grid = _aisles()
    graph = GridGraph.from_occupancy(grid)
    plain = GridGraph.from_grid(grid.free)
    assert graph.directed and not plain.directed and plain.rnbr is plain.nbr
    bit = {(-1, 0): 1, (1, 0): 2, (0, -1): 4, (0, 1): 8}
    cells = graph.cells(np.arange(graph.n_vertices))
    expected = set()
    for v, u in _edges(plain, plain.nbr):
        step = (int(cells[u][0] - cells[v][0]), int(cells[u][1] - cells[v][1]))
        if not grid.forbidden_moves[tuple(cells[v])] & bit[step]:
            expected.add((v, u))
    assert _edges(graph, graph.nbr) == expected
    assert len(expected) < len(_edges(plain, plain.nbr))
    # the in-neighbour table holds the same edges, reversed
    assert {(u, v) for v, u in _edges(graph, graph.rnbr)} == expected


def test_the_checker_refuses_a_hand_made_move_against_the_direction() -> None:
    grid = _aisles()
    # aisle-south is row 1, columns 3..12, eastbound: step west from (1, 8) to (1, 7)
    assert grid.free[1, 7] and grid.free[1, 8]
    paths = np.array([[[1, 8]], [[1, 7]]])
    assert check_solution(grid.free, [(1, 8)], [(1, 7)], paths) == []
    found = check_solution(grid.free, [(1, 8)], [(1, 7)], paths,
                           forbidden_moves=grid.forbidden_moves)
    assert [(v.kind, v.timestep, v.agents, v.cell) for v in found] == [
        (ViolationKind.AGAINST_ONE_WAY, 1, (0,), (1, 8))]
    # into the aisle against it from the two-way end, two agents, the second one wrong
    paths = np.array([[[8, 2], [1, 13]], [[8, 3], [1, 12]]])
    found = check_solution(grid.free, [(8, 2), (1, 13)], [(8, 3), (1, 12)], paths,
                           forbidden_moves=grid.forbidden_moves)
    assert [(v.kind, v.agents, v.cell) for v in found] == [
        (ViolationKind.AGAINST_ONE_WAY, (1,), (1, 13))]
    # the right way, and across the aisle, are fine
    east = np.array([[[1, 7]], [[1, 8]]])
    assert check_solution(grid.free, [(1, 7)], [(1, 8)], east,
                          forbidden_moves=grid.forbidden_moves) == []
    across = np.array([[[7, 5]], [[8, 5]], [[7, 5]]])
    assert check_solution(grid.free, [(7, 5)], [(7, 5)], across,
                          forbidden_moves=grid.forbidden_moves) == []


@pytest.mark.parametrize("floor", ["aisles", "shop"])
@pytest.mark.parametrize("seed", range(8))
def test_lacam_never_drives_against_an_aisle(floor: str, seed: int) -> None:
    grid = _aisles() if floor == "aisles" else _shop()
    graph = GridGraph.from_occupancy(grid)
    cells = _free_cells(grid)
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, len(cells) // 4))
    starts = [cells[i] for i in rng.permutation(len(cells))[:n]]
    goals = [cells[i] for i in rng.permutation(len(cells))[:n]]
    result = solve_mapf(graph, starts, goals, time_limit_s=20.0, seed=seed,
                        refine_time_s=0.2 if seed % 2 else 0.0)
    assert result.solved, (floor, seed, n)
    assert check_solution(grid.free, starts, goals, result.paths,
                          forbidden_moves=grid.forbidden_moves) == []
    assert result.soc >= result.lower_bound


def test_lacam_goes_round_when_the_short_way_is_one_way_against_it() -> None:
    grid = _aisles()
    # from the east end of the south aisle to its west end: the aisle runs east, so the
    # agent must go up the east cross aisle, west along the middle aisle and back down
    plain = solve_mapf(grid.free, [(1, 12)], [(1, 3)], time_limit_s=5.0, refine_time_s=0)
    directed = solve_mapf(GridGraph.from_occupancy(grid), [(1, 12)], [(1, 3)],
                          time_limit_s=5.0, refine_time_s=0)
    assert plain.makespan == 9
    assert directed.makespan == 1 + 3 + 11 + 3 + 1  # east, up, west, down, east
    assert check_solution(grid.free, [(1, 12)], [(1, 3)], directed.paths,
                          forbidden_moves=grid.forbidden_moves) == []


def _lifelong_problem(grid: OccupancyGrid, seed: int, agents: int) -> LorrProblem:
    cells = np.array(_free_cells(grid), dtype=np.int64)
    rng = np.random.default_rng(seed)
    starts = cells[rng.permutation(cells.shape[0])[:agents]]
    tasks = [cells[rng.integers(0, cells.shape[0], size=int(rng.integers(1, 3)))]
             for _ in range(400)]
    return LorrProblem(name=f"one-way-{seed}", free=np.array(grid.free), starts=starts,
                       tasks=tasks, tasks_reveal=1.5, delay=None)


@pytest.mark.parametrize("rotations", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_lifelong_pibt_never_drives_against_an_aisle(seed: int, rotations: bool) -> None:
    grid = _aisles() if seed % 2 else _shop()
    problem = _lifelong_problem(grid, seed, agents=12 + 4 * seed)
    seen: list[npt.NDArray[np.int64]] = []
    stats = run_lifelong(problem, 150, seed=seed, rotations=rotations, delays=False,
                         graph=GridGraph.from_occupancy(grid), observe=seen.append)
    paths = np.stack(seen)
    ends = [(int(r), int(c)) for r, c in paths[-1]]
    starts = [(int(r), int(c)) for r, c in problem.starts]
    assert check_solution(grid.free, starts, ends, paths,
                          forbidden_moves=grid.forbidden_moves, limit=5) == []
    assert stats.collisions == 0
    assert stats.tasks_finished > 0


def test_swap_emulation_in_a_two_way_end_keeps_to_the_aisles() -> None:
    # agents crowd the west cross aisle (two-way) and must trade places there, next to
    # the one-way aisles: the pulls of the swap emulation must not lead into an aisle
    # against its direction
    grid = _aisles()
    graph = GridGraph.from_occupancy(grid)
    column = [(r, c) for r in range(grid.shape[0]) for c in (0, 1) if grid.free[r, c]]
    starts = column[: len(column) // 2 + 2]
    goals = list(reversed(column))[: len(starts)]
    result = solve_mapf(graph, starts, goals, time_limit_s=20.0, refine_time_s=0)
    assert result.solved
    assert check_solution(grid.free, starts, goals, result.paths,
                          forbidden_moves=grid.forbidden_moves) == []


def _dead_end() -> OccupancyGrid:
    # two rooms joined by a one-way corridor eastbound: nothing leads back west
    return rasterize(parse_floor("""
name: dead-end
grid: {resolution_m: 1, robot_radius_m: 0.45}
outline: [[0, 0], [10, 0], [10, 5], [0, 5]]
obstacles:
  - {id: wall-south, polygon: [[3.5, 0], [6.5, 0], [6.5, 1.5], [3.5, 1.5]]}
  - {id: wall-north, polygon: [[3.5, 3.5], [6.5, 3.5], [6.5, 5], [3.5, 5]]}
zones:
  - {id: corridor, kind: one_way, direction: "+x", polygon: [[3, 2], [7, 2], [7, 3], [3, 3]]}
"""))


def test_a_goal_behind_a_one_way_aisle_is_refused_not_searched_for() -> None:
    grid = _dead_end()
    graph = GridGraph.from_occupancy(grid)
    assert solve_mapf(graph, [(1, 1)], [(1, 8)], time_limit_s=5.0).solved  # with the aisle
    with pytest.raises(InvalidInputError, match=r"agent 1 cannot reach its goal \(1, 1\)"
                       r".*one-way") as err:
        solve_mapf(graph, [(3, 1), (1, 8)], [(3, 2), (1, 1)], time_limit_s=60.0)
    assert err.value.field == "goals[1]"


def test_lifelong_refuses_a_task_cut_off_by_a_one_way_aisle() -> None:
    grid = _dead_end()
    starts = np.array([[1, 1], [3, 1]], dtype=np.int64)
    tasks = [np.array([[2, 2]], dtype=np.int64), np.array([[1, 8]], dtype=np.int64)]
    problem = LorrProblem(name="dead-end", free=np.array(grid.free), starts=starts,
                          tasks=tasks, tasks_reveal=1.0, delay=None)
    with pytest.raises(InvalidInputError, match="task 1 has an errand at \\(1, 8\\)") as err:
        run_lifelong(problem, 10, graph=GridGraph.from_occupancy(grid))
    assert err.value.field == "tasks[1]"
    # without the aisle the same problem runs
    assert run_lifelong(problem, 10, rotations=False).collisions == 0


def test_lifelong_refuses_a_graph_of_another_grid() -> None:
    grid = _dead_end()
    problem = _lifelong_problem(_aisles(), 0, agents=3)
    with pytest.raises(InvalidInputError, match="graph"):
        run_lifelong(problem, 5, graph=GridGraph.from_occupancy(grid))


def test_fleet_mapf_on_a_floor_map_keeps_to_its_aisles(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid = _shop()
    rows, cols = grid.shape
    # (x = column, y = row) pairs: west to east through the westbound lane's rows and back
    pairs = [((3, 5), (16, 5)), ((16, 3), (3, 3)), ((2, 4), (17, 4)), ((17, 2), (2, 2))]
    assert all(grid.free[y, x] for pair in pairs for x, y in pair)
    scen = tmp_path / "shop.scen"
    scen.write_text("version 1\n" + "".join(
        f"0\tshop\t{cols}\t{rows}\t{sx}\t{sy}\t{gx}\t{gy}\t0\n"
        for (sx, sy), (gx, gy) in pairs))
    out = tmp_path / "result.txt"
    code = main(["mapf", "--map", str(FLOORS / "one_way_shop.yaml"), "--scen", str(scen),
                 "--agents", str(len(pairs)), "--out", str(out), "--check",
                 "--refine-time", "0.2"])
    assert code == 0
    assert "check: ok" in capsys.readouterr().out
    back = read_result(out)
    starts = [(y, x) for (x, y), _ in pairs]
    goals = [(y, x) for _, (x, y) in pairs]
    assert back.solved and back.starts == starts
    assert check_solution(grid.free, starts, goals, back.paths,
                          forbidden_moves=grid.forbidden_moves) == []


def test_fleet_lifelong_on_a_floor_map_keeps_to_its_aisles(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid = _shop()
    width = grid.shape[1]
    cells = [r * width + c for r, c in _free_cells(grid)]
    rng = np.random.default_rng(3)
    (tmp_path / "shop.agents").write_text(
        "10\n" + "\n".join(str(v) for v in rng.choice(cells, 10, replace=False)) + "\n")
    (tmp_path / "shop.tasks").write_text(
        "200\n" + "\n".join(str(v) for v in rng.choice(cells, 200)) + "\n")
    problem = tmp_path / "shop.json"
    problem.write_text(json.dumps({
        "mapFile": str(FLOORS / "one_way_shop.yaml"), "agentFile": "shop.agents",
        "teamSize": 10, "taskFile": "shop.tasks", "numTasksReveal": 1.5}))
    loaded = load_lorr(problem)
    assert loaded.forbidden_moves is not None
    assert np.array_equal(loaded.forbidden_moves, grid.forbidden_moves)
    seen: list[npt.NDArray[np.int64]] = []
    stats = run_lifelong(loaded, 120, rotations=False, observe=seen.append)
    paths = np.stack(seen)
    ends = [(int(r), int(c)) for r, c in paths[-1]]
    starts = [(int(r), int(c)) for r, c in loaded.starts]
    assert check_solution(grid.free, starts, ends, paths,
                          forbidden_moves=grid.forbidden_moves, limit=5) == []
    assert stats.tasks_finished > 0
    assert main(["lifelong", "--problem", str(problem), "--steps", "60"]) == 0
    assert "collisions 0" in capsys.readouterr().out


def test_forbidden_moves_of_another_shape_are_refused() -> None:
    grid = _aisles()
    wrong = np.zeros((3, 3), dtype=np.uint8)
    with pytest.raises(InvalidInputError, match="forbidden_moves has shape") as err:
        GridGraph.from_grid(grid.free, wrong)
    assert err.value.field == "forbidden_moves"
    paths = np.array([[[1, 7]], [[1, 8]]])
    with pytest.raises(InvalidInputError, match="forbidden_moves has shape"):
        check_solution(grid.free, [(1, 7)], [(1, 8)], paths, forbidden_moves=wrong)
    # no bit set: the same undirected graph as without
    plain = GridGraph.from_grid(grid.free, np.zeros(grid.shape, dtype=np.uint8))
    assert not plain.directed
