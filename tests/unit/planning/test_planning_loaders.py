"""Map and scenario loaders: MovingAI .map/.scen and ROS map_server YAML + PGM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fleet.floor.movingai import MapFormatError, load_map, parse_map
from fleet.floor.rosmap import load_ros_map, read_pgm
from fleet.model import InvalidInputError, NotFoundError
from fleet.planning import GridPlanner, ScenFormatError, load_scen, parse_scen

DATA = Path(__file__).resolve().parents[2] / "data" / "planning"
BENCH = Path(__file__).resolve().parents[4] / "shared" / "benchmarks" / "movingai"


# ------------------------------------------------------------------ MovingAI .map


def test_map_reads_free_and_blocked_terrain() -> None:
    free = load_map(DATA / "tiny.map")
    assert free.dtype == np.bool_
    assert free.shape == (3, 5)
    assert free.tolist() == [
        [True, True, False, True, True],
        [True, True, False, False, True],  # G is free, T is not
        [True, True, True, True, True],
    ]


@pytest.mark.parametrize(
    ("name", "line", "reason"),
    [
        ("bad_header.map", 1, "type octile"),
        ("short_row.map", 6, "row 1 has 4 cells, expected 5"),
        ("unknown_terrain.map", 5, "unknown terrain 'x' at column 2"),
    ],
)
def test_malformed_map_names_file_line_and_reason(name: str, line: int, reason: str) -> None:
    with pytest.raises(MapFormatError) as caught:
        load_map(DATA / name)
    assert isinstance(caught.value, InvalidInputError)
    assert caught.value.line == line
    assert reason in caught.value.problem
    assert name in str(caught.value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "type octile"),
        ("type octile\nheight x\nwidth 3\nmap\n", "height must be an integer"),
        ("type octile\nheight 2\nwidth 0\nmap\n", "width must be positive"),
        ("type octile\nheight 2\nwidth 2\n..\n..\n", "'map'"),
        ("type octile\nheight 3\nwidth 2\nmap\n..\n..\n", "expected 3 map rows, found 2"),
        ("type octile\nheight 1\nwidth 2\nmap\n..\n@@\n", "text after the 1 map rows"),
        ("type octile\nwidth 2\nheight 1\nmap\n..\n", "expected 'height N'"),
    ],
)
def test_malformed_map_text_is_refused(text: str, reason: str) -> None:
    with pytest.raises(MapFormatError, match=reason):
        parse_map(text)


def test_missing_map_file_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        load_map(DATA / "nope.map")


def test_binary_map_file_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "binary.map"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(MapFormatError, match="ASCII"):
        load_map(path)


# ------------------------------------------------------------------ MovingAI .scen


def test_scen_reads_tasks_as_row_col_cells() -> None:
    tasks = load_scen(DATA / "tiny.scen")
    assert len(tasks) == 3
    first = tasks[0]
    assert (first.bucket, first.map_name, first.width, first.height) == (0, "tiny.map", 5, 3)
    assert first.start == (0, 0) and first.goal == (0, 4)
    assert tasks[1].start == (1, 1) and tasks[1].goal == (2, 3)  # x is the column
    assert first.optimal_length == pytest.approx(7.41421356)


def test_scen_optimum_matches_grid_astar() -> None:
    free = load_map(DATA / "tiny.map")
    planner = GridPlanner(free, 8)
    for task in load_scen(DATA / "tiny.scen", free=free):
        assert planner.plan(task.start, task.goal).cost == pytest.approx(
            task.optimal_length, abs=1e-6
        )


def test_scen_keeps_the_first_n_tasks_as_agents() -> None:
    assert len(load_scen(DATA / "tiny.scen", n_tasks=2)) == 2
    with pytest.raises(ScenFormatError, match="only 3"):
        load_scen(DATA / "tiny.scen", n_tasks=4)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("missing_fields.scen", "expected 9 fields, found 7"),
        ("off_map.scen", "start (x=7, y=0) is off the 5 x 3 map"),
    ],
)
def test_malformed_scen_names_line_and_reason(name: str, reason: str) -> None:
    with pytest.raises(ScenFormatError) as caught:
        load_scen(DATA / name)
    assert isinstance(caught.value, InvalidInputError)
    assert caught.value.line == 2
    assert reason in caught.value.problem


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "version 1"),
        ("0\tm.map\t5\t3\t0\t0\t1\t1\t1.4\n", "version 1"),
        ("version 1\n0\tm.map\t5\t3\ta\t0\t1\t1\t1.4\n", "start x must be an integer"),
        ("version 1\n0\tm.map\t5\t3\t0\t0\t1\t1\tfar\n", "optimal length must be a number"),
        ("version 1\n0\tm.map\t5\t3\t0\t0\t1\t1\tnan\n", "finite"),
        ("version 1\n0\tm.map\t-5\t3\t0\t0\t1\t1\t1.4\n", "map size must be positive"),
    ],
)
def test_malformed_scen_text_is_refused(text: str, reason: str) -> None:
    with pytest.raises(ScenFormatError, match=reason):
        parse_scen(text)


def test_scen_checked_against_its_map() -> None:
    free = load_map(DATA / "tiny.map")
    with pytest.raises(ScenFormatError, match=r"goal cell \(0, 2\) \(row, col\) is blocked"):
        parse_scen("version 1\n0\ttiny.map\t5\t3\t0\t0\t2\t0\t2\n", free=free)
    with pytest.raises(ScenFormatError, match="5 x 4 map"):
        parse_scen("version 1\n0\ttiny.map\t5\t4\t0\t0\t1\t0\t1\n", free=free)


@pytest.mark.skipif(not BENCH.exists(), reason="MovingAI benchmark files not present")
def test_benchmark_scen_optima_are_reproduced() -> None:
    free = load_map(BENCH / "random-32-32-10.map")
    tasks = load_scen(BENCH / "random-32-32-10-random-1.scen", free=free)
    planner = GridPlanner(free, 8)
    for task in tasks[::10]:
        assert planner.plan(task.start, task.goal).cost == pytest.approx(
            task.optimal_length, abs=1e-6
        )


# ------------------------------------------------------------------ ROS map_server


def test_ros_map_is_flipped_so_row_zero_is_the_lowest_y() -> None:
    ros = load_ros_map(DATA / "tiny.yaml")
    assert ros.shape == (4, 3)
    # Image rows top to bottom: [. . #] [. ? .] [. . .] [# . .]; stored bottom row first.
    assert ros.free.tolist() == [
        [False, True, True],
        [True, True, True],
        [True, False, True],
        [True, True, False],
    ]
    assert ros.occupancy.tolist() == [
        [100, 0, 0],
        [0, 0, 0],
        [0, -1, 0],
        [0, 0, 100],
    ]
    assert ros.resolution_m == 0.5
    assert ros.origin == (-1.0, 2.0, 0.0)


def test_ros_map_places_cells_on_the_floor() -> None:
    ros = load_ros_map(DATA / "tiny.yaml")
    assert ros.center_of((0, 0)) == pytest.approx((-0.75, 2.25))
    assert ros.cell_of(-0.75, 2.25) == (0, 0)
    assert ros.cell_of(0.4, 3.9) == (3, 2)
    with pytest.raises(InvalidInputError, match="off the map"):
        ros.cell_of(5.0, 0.0)


def test_ros_map_with_yaw_round_trips_cells(tmp_path: Path) -> None:
    text = (DATA / "tiny.yaml").read_text().replace("[-1.0, 2.0, 0.0]", "[1.0, 1.0, 0.5]")
    (tmp_path / "tiny.pgm").write_bytes((DATA / "tiny.pgm").read_bytes())
    (tmp_path / "yawed.yaml").write_text(text)
    ros = load_ros_map(tmp_path / "yawed.yaml")
    for cell in [(0, 0), (3, 2), (1, 2)]:
        assert ros.cell_of(*ros.center_of(cell)) == cell


def test_ascii_pgm_reads_like_binary_pgm() -> None:
    assert np.array_equal(read_pgm(DATA / "tiny_ascii.pgm"), read_pgm(DATA / "tiny.pgm"))
    assert np.array_equal(
        load_ros_map(DATA / "tiny_ascii.yaml").free, load_ros_map(DATA / "tiny.yaml").free
    )


def test_ros_map_negate_swaps_black_and_white(tmp_path: Path) -> None:
    (tmp_path / "tiny.pgm").write_bytes((DATA / "tiny.pgm").read_bytes())
    text = (DATA / "tiny.yaml").read_text().replace("negate: 0", "negate: 1")
    (tmp_path / "negated.yaml").write_text(text)
    ros = load_ros_map(tmp_path / "negated.yaml")
    assert ros.free.tolist() == [
        [True, False, False],
        [False, False, False],
        [False, False, False],
        [False, False, True],
    ]


def test_ros_map_raw_mode_reads_percent(tmp_path: Path) -> None:
    (tmp_path / "raw.pgm").write_bytes(b"P5\n3 1\n255\n" + bytes([0, 50, 200]))
    text = (DATA / "tiny.yaml").read_text().replace("tiny.pgm", "raw.pgm")
    (tmp_path / "raw.yaml").write_text(text + "mode: raw\n")
    ros = load_ros_map(tmp_path / "raw.yaml")
    assert ros.occupancy.tolist() == [[0, 50, -1]]
    assert ros.free.tolist() == [[True, False, False]]


def test_ros_map_scale_mode_keeps_grades(tmp_path: Path) -> None:
    (tmp_path / "scale.pgm").write_bytes(b"P5\n3 1\n255\n" + bytes([255, 140, 0]))
    text = (DATA / "tiny.yaml").read_text().replace("tiny.pgm", "scale.pgm")
    (tmp_path / "scale.yaml").write_text(text + "mode: scale\n")
    ros = load_ros_map(tmp_path / "scale.yaml")
    assert ros.occupancy[0, 0] == 0 and ros.occupancy[0, 2] == 100
    assert 0 < ros.occupancy[0, 1] < 100
    assert ros.free.tolist() == [[True, False, False]]


def test_ros_map_reads_png(tmp_path: Path) -> None:
    pil = pytest.importorskip("PIL.Image")
    pixels = (read_pgm(DATA / "tiny.pgm") * 255).round().astype(np.uint8)
    pil.fromarray(pixels).convert("RGB").save(tmp_path / "tiny.png")
    text = (DATA / "tiny.yaml").read_text().replace("tiny.pgm", "tiny.png")
    (tmp_path / "png.yaml").write_text(text)
    assert np.array_equal(
        load_ros_map(tmp_path / "png.yaml").free, load_ros_map(DATA / "tiny.yaml").free
    )


def test_ros_map_is_ready_for_planning() -> None:
    ros = load_ros_map(DATA / "tiny.yaml")
    result = GridPlanner(ros.free, 8).plan((1, 0), (3, 1))
    # The unknown cell (2, 1) is not free, so the diagonal past it is closed.
    assert result.cells == [(1, 0), (2, 0), (3, 0), (3, 1)]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("missing_resolution.yaml", "missing required key 'resolution'"),
        ("truncated.yaml", "expected 12"),
    ],
)
def test_malformed_ros_map_is_refused(name: str, reason: str) -> None:
    with pytest.raises(MapFormatError) as caught:
        load_ros_map(DATA / name)
    assert isinstance(caught.value, InvalidInputError)
    assert reason in caught.value.problem


@pytest.mark.parametrize(
    ("replace", "by", "reason"),
    [
        ("resolution: 0.5", "resolution: -1", "'resolution' must be positive"),
        ("resolution: 0.5", "resolution: fine", "'resolution' must be a number"),
        ("[-1.0, 2.0, 0.0]", "[1.0, 2.0]", "'origin' must be [x, y, yaw]"),
        ("free_thresh: 0.196", "free_thresh: 0.9", "free_thresh < occupied_thresh"),
        ("negate: 0", "negate: 2", "'negate' must be 0 or 1"),
        ("image: tiny.pgm", "image: ''", "'image' must be a file name"),
        ("image: tiny.pgm", "image: [", "not valid YAML"),
        ("negate: 0", "negate: 0\nmode: fancy", "'mode' must be trinary, scale or raw"),
    ],
)
def test_bad_ros_yaml_values_are_refused(
    tmp_path: Path, replace: str, by: str, reason: str
) -> None:
    (tmp_path / "tiny.pgm").write_bytes((DATA / "tiny.pgm").read_bytes())
    text = (DATA / "tiny.yaml").read_text()
    assert replace in text
    (tmp_path / "map.yaml").write_text(text.replace(replace, by))
    with pytest.raises(MapFormatError) as caught:
        load_ros_map(tmp_path / "map.yaml")
    assert reason in caught.value.problem


def test_yaml_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(MapFormatError, match="mapping"):
        load_ros_map(tmp_path / "list.yaml")


def test_missing_ros_files_are_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        load_ros_map(tmp_path / "absent.yaml")
    (tmp_path / "map.yaml").write_text((DATA / "tiny.yaml").read_text())
    with pytest.raises(NotFoundError, match=r"tiny\.pgm"):
        load_ros_map(tmp_path / "map.yaml")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"P6\n1 1\n255\n\x00\x00\x00", "not a grayscale PGM"),
        (b"P5\n3", "header ends early"),
        (b"P5\n3 x\n255\n", "bad PGM header"),
        (b"P5\n0 1\n255\n", "bad PGM size"),
        (b"P2\n2 1\n255\n1 a\n", "must be integers"),
        (b"P2\n2 1\n255\n1\n", "1 pixels, expected 2"),
        (b"P2\n2 1\n100\n1 200\n", "above maxval"),
    ],
)
def test_malformed_pgm_is_refused(tmp_path: Path, content: bytes, reason: str) -> None:
    (tmp_path / "bad.pgm").write_bytes(content)
    with pytest.raises(MapFormatError, match=reason):
        read_pgm(tmp_path / "bad.pgm")


def test_pgm_with_16_bit_pixels(tmp_path: Path) -> None:
    (tmp_path / "deep.pgm").write_bytes(b"P5\n2 1\n65535\n\xff\xff\x00\x00")
    assert read_pgm(tmp_path / "deep.pgm").tolist() == [[1.0, 0.0]]
