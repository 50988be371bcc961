"""Shared floors for the floor tests: the example maps and the small fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.floor import FloorMap, OccupancyGrid, load_floor, rasterize

REPO = Path(__file__).resolve().parents[3]
MAPS = REPO / "maps"
FLOORS = REPO / "tests" / "data" / "floors"


@pytest.fixture(scope="session")
def plant() -> FloorMap:
    return load_floor(MAPS / "plant.yaml")


@pytest.fixture(scope="session")
def plant_grid(plant: FloorMap) -> OccupancyGrid:
    return rasterize(plant)


@pytest.fixture(scope="session")
def small() -> FloorMap:
    return load_floor(MAPS / "small.yaml")


@pytest.fixture(scope="session")
def small_grid(small: FloorMap) -> OccupancyGrid:
    return rasterize(small)


@pytest.fixture(scope="session")
def warehouse() -> FloorMap:
    return load_floor(MAPS / "warehouse.yaml")


@pytest.fixture(scope="session")
def warehouse_grid(warehouse: FloorMap) -> OccupancyGrid:
    return rasterize(warehouse)


@pytest.fixture(scope="session")
def tiny_text() -> str:
    return (FLOORS / "tiny.yaml").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def floors() -> Path:
    """The folder of small floor fixtures."""
    return FLOORS
