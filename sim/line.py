"""A production line as a simulation scenario: its fleet, and its orders released at a takt.

The orders go to the coordinator as a planner (an MES) would send them, `Missions.SubmitOrder`
with the model's name; the coordinator expands them by the routings of the line it serves.
"""

from __future__ import annotations

from fleet.floor import FloorMap, StationKind
from fleet.model import (
    InvalidInputError,
    Pose,
    RobotKind,
    RobotSpec,
    TransportCapability,
    WeldCapability,
)
from fleet.production import Line
from fleet.v1 import missions_pb2
from sim.scenario import Scenario

__all__ = ["line_fleet", "line_scenario"]


def line_fleet(floor: FloorMap, line: Line, agvs: int, welders: int
               ) -> list[tuple[RobotSpec, Pose]]:
    """`agvs` AGVs of the line's payload and speed, then `welders` mobile welders able to run
    every program of the line, each starting on a parking place (then a charger)."""
    homes = [s for s in floor.stations.values() if s.kind is StationKind.PARKING]
    homes += [s for s in floor.stations.values() if s.kind is StationKind.CHARGER]
    if agvs < 1 or welders < 1 or agvs + welders > len(homes):
        raise InvalidInputError(f"{agvs} AGVs and {welders} welders: a line needs at least "
                                f"one of each, and the floor has {len(homes)} places to "
                                "start from", field="agvs", value=agvs)
    fleet = []
    for i in range(agvs):
        home = homes[i].pose
        fleet.append((RobotSpec(f"agv-{i + 1:02d}", RobotKind.AGV, 0.45,
                                line.fleet.agv_speed_mps,
                                transport=TransportCapability(line.fleet.agv_payload_kg)),
                      Pose(home.x, home.y, home.theta)))
    for k in range(welders):
        home = homes[agvs + k].pose
        fleet.append((RobotSpec(f"welder-{k + 1:02d}", RobotKind.MOBILE_WELDER, 0.45, 1.0,
                                weld=WeldCapability(line.programs)),
                      Pose(home.x, home.y, home.theta)))
    return fleet


def line_scenario(floor: FloorMap, line: Line, agvs: int, welders: int, seed: int,
                  units: int | None = None, takt_s: float | None = None) -> Scenario:
    """The line's fleet and its orders (one unit each), each sent at its release time."""
    orders = []
    for order in line.orders(seed, units, takt_s):
        orders.append((order.release_s, missions_pb2.SubmitOrderRequest(
            order_id=order.id, model=order.model, count=order.count,
            release_s=order.release_s, deadline_s=order.deadline_s or 0.0,
            labels={"line": line.name})))
    return Scenario(tuple(line_fleet(floor, line, agvs, welders)), tuple(orders))
