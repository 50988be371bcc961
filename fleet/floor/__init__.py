"""The floor map: outline, obstacles, traffic zones and stations, and its planning grid.

Floor maps are written in YAML. Lengths are metres, angles radians, speeds metres per second,
all in the floor's `map` frame (x to the right, y up, as a ROS map)::

    name: heavy-equipment-plant              # optional; defaults to the file's stem
    grid:
      resolution_m: 1.0                      # planning-grid cell side, > 0
      robot_radius_m: 0.45                   # footprint radius, > 0; diameter <= 90 % of a cell
    outline: [[0, 0], [120, 0], [120, 60], [0, 60]]   # the building's inner wall face
    obstacles:                               # optional
      - {id: laser-cutter-1, label: "laser cutter", polygon: [[10.5, 40.5], [16.5, 40.5], ...]}
    zones:                                   # optional
      - {id: paint-slow, kind: speed_limit, speed_limit_mps: 0.5, polygon: [...]}
      - {id: crane-bay, kind: keep_out, polygon: [...]}
    stations:                                # optional
      - {id: cut-out-1, kind: pickup, pose: [12.5, 38.5, 0.0], area: cutting}
      - {id: buf-1, kind: buffer, pose: [3.5, 11.5], capacity: 4}   # loads held, default 1

Polygons are lists of at least three [x, y] points (a repeated closing point is optional)
and must be valid simple polygons. Obstacle `label` and station `area` are free text for
people; `theta` in a pose may be left out (0). Zone kinds: `keep_out` (robots never enter),
`speed_limit` (needs `speed_limit_mps` > 0) and `one_way` (needs `direction`: `+x`, `-x`,
`+y` or `-y`; robots drive through it only that way along its axis, and may cross it; a move
between 4-neighbour cells against the direction is forbidden when either cell's center lies
in the zone). Station kinds: `pickup`, `dropoff`,
`buffer`, `weld_cell`, `charger`, `parking`. A station's optional `capacity` (a whole number,
at least 1, default 1) is how many loads it holds at once; dispatch keeps transports into a
full `buffer` or `weld_cell` waiting (pickups and dropoffs are a machine's in- and outfeed,
which the machine empties). Ids are letters, digits and `_ . : -`, unique
across obstacles, zones and stations.

A map is rejected with a `FloorMapError` whose `field` names the element (for example
`stations[weld-3].pose`) when a key is missing, unknown or of the wrong type, a kind is
unknown, a polygon is malformed, an obstacle or zone reaches outside the outline, an id
repeats, a station lies outside the outline or inside an obstacle or keep-out zone, a
station's grid cell is not free for `robot_radius_m` (see below), or some stations cannot
reach the others through free cells.

The planning grid (`rasterize`) starts at the outline's lower-left corner. A cell is free iff
its center lies inside the outline and outside every obstacle and keep-out zone, and its
"plus" (the two segments through the center joining the midpoints of opposite sides) keeps
at least the robot radius from every obstacle, keep-out zone and the outline's boundary; so a
straight move between two free 4-neighbours brushes nothing. Map authors, with 1 m cells and
a 0.45 m radius: an obstacle with its edges on cell-center lines (x.5, y.5) blocks exactly
the cells whose centers it covers; a post at most 0.08 m thick on a center line blocks only
the cells it passes through. Put every station at a cell center in a one-cell alcove off an
aisle, so that a robot standing there never blocks anyone else's way.
"""

from fleet.floor._grid import OccupancyGrid, rasterize
from fleet.floor._map import (
    Direction,
    FloorMap,
    FloorMapError,
    Obstacle,
    Station,
    StationKind,
    Zone,
    ZoneKind,
)
from fleet.floor._yaml import load_floor, parse_floor

__all__ = [
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
