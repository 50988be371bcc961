"""The public surface of fleet.floor: names, value semantics, lookups."""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path

import pytest
import shapely

import fleet.floor
from fleet.floor import (
    FloorMap,
    FloorMapError,
    Station,
    StationKind,
    ZoneKind,
    load_floor,
    parse_floor,
)
from fleet.model import InvalidInputError, NotFoundError, Pose


def test_public_names_are_pinned() -> None:
    assert sorted(fleet.floor.__all__) == [
        "Direction",
        "FloorMap",
        "FloorMapError",
        "Obstacle",
        "OccupancyGrid",
        "Station",
        "StationKind",
        "Zone",
        "ZoneKind",
        "load_floor",
        "parse_floor",
        "rasterize",
    ]
    for name in fleet.floor.__all__:
        assert getattr(fleet.floor, name).__module__.startswith("fleet.floor")


def test_kinds_use_the_file_format_spelling() -> None:
    assert [k.value for k in StationKind] == [
        "pickup",
        "dropoff",
        "buffer",
        "weld_cell",
        "charger",
        "parking",
    ]
    assert [k.value for k in ZoneKind] == ["keep_out", "speed_limit", "one_way"]


def test_floor_map_error_is_invalid_input() -> None:
    assert issubclass(FloorMapError, InvalidInputError)


def test_values_are_frozen(tiny_text: str) -> None:
    floor = parse_floor(tiny_text)
    with pytest.raises(dataclasses.FrozenInstanceError):
        floor.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        floor.station("load").kind = StationKind.BUFFER  # type: ignore[misc]
    with pytest.raises(TypeError):
        floor.stations["new"] = floor.station("load")  # type: ignore[index]


def test_parsed_floor_holds_what_the_file_says(tiny_text: str) -> None:
    floor = parse_floor(tiny_text, name="given")
    assert floor.name == "given"
    assert floor.resolution_m == 1.0
    assert floor.robot_radius_m == 0.45
    assert floor.outline.equals(shapely.box(0, 0, 8, 5))
    assert [o.id for o in floor.obstacles] == ["machine"]
    assert floor.obstacles[0].label == "machine with two loading bays"
    assert [(z.id, z.kind, z.speed_limit_mps) for z in floor.zones] == [
        ("slow", ZoneKind.SPEED_LIMIT, 0.5)
    ]
    assert list(floor.stations) == ["load", "unload"]
    assert floor.station("load") == Station(
        "load", StationKind.DROPOFF, Pose(2.5, 3.5, 1.5708), area="machine"
    )
    assert floor.source_text == tiny_text


def test_load_floor_names_the_floor_after_the_file_unless_it_has_a_name(
    floors: Path, tiny_text: str
) -> None:
    assert load_floor(floors / "tiny.yaml").name == "tiny"
    assert load_floor(str(floors / "tiny.yaml")).name == "tiny"
    assert parse_floor(tiny_text.replace("grid:", "name: named\ngrid:", 1)).name == "named"


def test_unknown_station_is_not_found(tiny_text: str) -> None:
    floor = parse_floor(tiny_text)
    with pytest.raises(NotFoundError) as caught:
        floor.station("weld-99")
    assert caught.value.field == "station"
    assert caught.value.value == "weld-99"
    assert "weld-99" in str(caught.value)


def test_missing_file_is_not_found(floors: Path) -> None:
    path = floors / "no-such-floor.yaml"
    with pytest.raises(NotFoundError) as caught:
        load_floor(path)
    assert caught.value.field == "path"


def test_unreadable_file_is_a_floor_map_error(floors: Path) -> None:
    with pytest.raises(FloorMapError) as caught:
        load_floor(floors)  # a directory
    assert caught.value.field == "path"


def test_a_floor_map_can_be_built_directly() -> None:
    floor = FloorMap(
        name="direct",
        outline=shapely.box(0, 0, 4, 3),
        obstacles=(),
        zones=(),
        stations=types.MappingProxyType({}),
        resolution_m=1.0,
        robot_radius_m=0.45,
        source_text="",
    )
    assert fleet.floor.rasterize(floor).shape == (3, 4)
