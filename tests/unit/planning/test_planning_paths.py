"""Post-processing: waypoints where a robot turns, and when it gets there."""

from __future__ import annotations

import math

import pytest

from fleet.model import InvalidInputError
from fleet.planning import cell_centers, timed_waypoints, turn_waypoints


def test_turn_waypoints_keep_start_turns_and_goal() -> None:
    cells = [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (3, 3), (4, 4)]
    assert turn_waypoints(cells) == [(0, 0), (0, 2), (2, 2), (4, 4)]


def test_turn_waypoints_of_a_straight_line_are_its_ends() -> None:
    assert turn_waypoints([(2, 0), (2, 1), (2, 2), (2, 3)]) == [(2, 0), (2, 3)]


def test_turn_waypoints_drop_waits_and_handle_short_paths() -> None:
    assert turn_waypoints([(0, 0), (0, 0), (0, 1), (0, 1), (0, 2)]) == [(0, 0), (0, 2)]
    assert turn_waypoints([(5, 5)]) == [(5, 5)]
    assert turn_waypoints([]) == []


def test_cell_centers_use_resolution_and_origin() -> None:
    assert cell_centers([(0, 0), (2, 1)], 0.5, (10.0, -1.0)) == [(10.25, -0.75), (10.75, 0.25)]
    with pytest.raises(InvalidInputError, match="resolution_m"):
        cell_centers([(0, 0)], 0.0)


def test_timed_waypoints_drive_at_top_speed() -> None:
    timed = timed_waypoints(
        [(0.0, 0.0), (3.0, 4.0), (3.0, 6.0)], max_speed_mps=2.0, start_time_s=10.0
    )
    assert timed == [(0.0, 0.0, 10.0), (3.0, 4.0, 12.5), (3.0, 6.0, 13.5)]


def test_timed_waypoints_slow_down_where_a_segment_is_limited() -> None:
    timed = timed_waypoints([(0.0, 0.0), (2.0, 0.0), (4.0, 0.0)], 2.0, [0.5, None])
    assert [t for _, _, t in timed] == [0.0, 4.0, 5.0]
    faster_limit = timed_waypoints([(0.0, 0.0), (2.0, 0.0)], 1.0, [5.0])
    assert faster_limit[-1][2] == 2.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_speed_mps": 0.0}, "max_speed_mps"),
        ({"max_speed_mps": math.nan}, "max_speed_mps"),
        ({"max_speed_mps": 1.0, "speed_limits": [1.0, 1.0]}, "speed_limits"),
        ({"max_speed_mps": 1.0, "speed_limits": [-1.0]}, "speed_limits"),
        ({"max_speed_mps": 1.0, "start_time_s": math.inf}, "start_time_s"),
    ],
)
def test_timed_waypoints_refuse_bad_input(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        timed_waypoints([(0.0, 0.0), (1.0, 0.0)], **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_timed_waypoints_refuse_non_finite_points() -> None:
    with pytest.raises(InvalidInputError, match="point 1"):
        timed_waypoints([(0.0, 0.0), (math.inf, 0.0)], 1.0)
