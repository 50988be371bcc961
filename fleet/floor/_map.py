"""The floor map as values: stations, obstacles, zones and the map that holds them."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

import shapely

from fleet.model import InvalidInputError, NotFoundError, Pose

__all__ = [
    "Direction",
    "FloorMap",
    "FloorMapError",
    "Obstacle",
    "Station",
    "StationKind",
    "Zone",
    "ZoneKind",
]


class StationKind(enum.Enum):
    """What robots do at a station."""

    PICKUP = "pickup"
    DROPOFF = "dropoff"
    BUFFER = "buffer"
    WELD_CELL = "weld_cell"
    CHARGER = "charger"
    PARKING = "parking"


class ZoneKind(enum.Enum):
    """What a zone asks of robots inside it."""

    KEEP_OUT = "keep_out"
    SPEED_LIMIT = "speed_limit"
    ONE_WAY = "one_way"


class Direction(enum.Enum):
    """The direction of travel in a one-way zone, along a map axis."""

    POS_X = "+x"
    NEG_X = "-x"
    POS_Y = "+y"
    NEG_Y = "-y"

    @property
    def against(self) -> tuple[int, int]:
        """The (row step, column step) a robot must not make in the zone (rows grow with
        y, columns with x)."""
        return {Direction.POS_X: (0, -1), Direction.NEG_X: (0, 1),
                Direction.POS_Y: (-1, 0), Direction.NEG_Y: (1, 0)}[self]


@dataclass(frozen=True, slots=True)
class Station:
    """A place robots go to; `pose` is in the map frame (metres, radians)."""

    id: str
    kind: StationKind
    pose: Pose
    area: str = ""
    """The part of the plant it belongs to ("cutting", "paint"), for people and reports."""
    capacity: int = 1
    """Loads the station holds at once: a weld cell's fixture holds one part, a buffer rack
    may hold several. Transports into a full buffer or weld cell wait."""


@dataclass(frozen=True, slots=True)
class Obstacle:
    """Something robots must keep clear of: a machine, a wall, a column. Metres."""

    id: str
    polygon: shapely.Polygon
    label: str = ""


@dataclass(frozen=True, slots=True)
class Zone:
    """A region with a traffic rule: keep out entirely, drive at most `speed_limit_mps`, or
    drive only in `direction` along its axis (and across it, never against it)."""

    id: str
    kind: ZoneKind
    polygon: shapely.Polygon
    speed_limit_mps: float | None = None
    """Metres per second; set for SPEED_LIMIT zones only."""
    direction: Direction | None = None
    """Set for ONE_WAY zones only."""


class FloorMapError(InvalidInputError):
    """A floor map is malformed or unusable.

    `field` names the element ("stations[weld-3].pose", "grid.robot_radius_m") and `value`
    holds the offending value; the message names both.
    """


@dataclass(frozen=True, slots=True)
class FloorMap:
    """A factory floor: its outline, what is in the way, traffic zones and stations.

    Coordinates are metres in the map frame. Build one with `parse_floor` or `load_floor`,
    which validate it; the constructor itself checks nothing.
    """

    name: str
    outline: shapely.Polygon
    obstacles: tuple[Obstacle, ...]
    zones: tuple[Zone, ...]
    stations: Mapping[str, Station]
    """By id, in the order of the source file."""
    resolution_m: float
    """Side of one planning-grid cell, metres."""
    robot_radius_m: float
    """Design footprint radius, metres: used for validation and as the default inflation."""
    source_text: str
    """The YAML text the map was parsed from (empty for maps built otherwise)."""

    def station(self, station_id: str) -> Station:
        """The station with this id; NotFoundError if there is none."""
        try:
            return self.stations[station_id]
        except KeyError:
            raise NotFoundError(
                f"station: no station {station_id!r} on floor {self.name!r}",
                field="station",
                value=station_id,
            ) from None

    @property
    def keep_out_zones(self) -> tuple[Zone, ...]:
        """The zones robots must not enter."""
        return tuple(z for z in self.zones if z.kind is ZoneKind.KEEP_OUT)
