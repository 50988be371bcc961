"""Scenarios: a fleet to simulate and a repeatable mix of missions for it."""

from __future__ import annotations

import random
from dataclasses import dataclass

from fleet.floor import FloorMap, StationKind
from fleet.model import (
    InvalidInputError,
    Pose,
    RobotKind,
    RobotSpec,
    TransportCapability,
    WeldCapability,
)
from fleet.production import unit_ids
from fleet.v1 import missions_pb2

__all__ = ["PROGRAMS", "Scenario", "make_fleet", "make_missions", "make_scenario"]

PROGRAMS = ("BOOM-A", "ARM-B", "FRAME-C", "BUCKET-D", "CAB-E")
"""Weld programs of the example plant."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """Robots with their start poses, and missions with the simulated time to submit them."""

    robots: tuple[tuple[RobotSpec, Pose], ...]
    missions: tuple[tuple[float, missions_pb2.MissionSpec | missions_pb2.SubmitOrderRequest],
                    ...]
    """What a planner sends, and when: missions, or production orders (`fleet sim --line`)."""

    def mission_ids(self) -> set[str]:
        """The ids of the missions the scenario submits (an order's: one per unit)."""
        return {mid for _, spec in self.missions
                for mid in ([spec.mission_id] if isinstance(spec, missions_pb2.MissionSpec)
                            else unit_ids(spec.order_id, spec.count or 1))}


def make_fleet(floor: FloorMap, count: int, rng: random.Random) -> list[tuple[RobotSpec, Pose]]:
    """About two AGVs for every mobile welder, each starting on its own parking place."""
    homes = [s for s in floor.stations.values() if s.kind is StationKind.PARKING]
    homes += [s for s in floor.stations.values() if s.kind is StationKind.CHARGER]
    if count > len(homes):
        raise InvalidInputError(f"robots {count}: the floor has only {len(homes)} parking "
                                "places and chargers to start from", field="robots",
                                value=count)
    welders = max(1, round(count / 3)) if count >= 2 else 0
    fleet = []
    for i in range(count):
        home = homes[i]
        pose = Pose(home.pose.x, home.pose.y, home.pose.theta)
        if i < count - welders:
            spec = RobotSpec(f"agv-{i + 1:02d}", RobotKind.AGV, 0.45,
                             rng.choice((1.0, 1.2, 1.5)),
                             transport=TransportCapability(rng.choice((1000.0, 2000.0))))
        else:
            k = i - (count - welders)
            programs = {PROGRAMS[k % len(PROGRAMS)], PROGRAMS[(k + 1) % len(PROGRAMS)]}
            if welders == 1 or k == 0:
                programs = set(PROGRAMS)
            spec = RobotSpec(f"welder-{k + 1:02d}", RobotKind.MOBILE_WELDER, 0.45, 1.0,
                             weld=WeldCapability(frozenset(programs)))
        fleet.append((spec, pose))
    return fleet


def make_missions(floor: FloorMap, count: int, rng: random.Random, *,
                  welding: bool = True, spacing_s: float = 15.0
                  ) -> list[tuple[float, missions_pb2.MissionSpec]]:
    """A mix of plain transports and weld jobs (bring the part, weld it, take it on)."""
    kinds = {s.id: s.kind for s in floor.stations.values()}
    sources = [s for s, k in kinds.items() if k in (StationKind.PICKUP, StationKind.BUFFER)]
    # Buffers hold what is dropped until someone takes it (their capacity is enforced), so
    # plain transports end at dropoffs, which the machines behind them empty.
    sinks = [s for s, k in kinds.items() if k is StationKind.DROPOFF]
    cells = [s for s, k in kinds.items() if k is StationKind.WELD_CELL]
    if not sources or not sinks:
        raise InvalidInputError("the floor needs pickup and dropoff stations to generate "
                                "missions", field="map", value=floor.name)
    out = []
    t = 0.0
    for i in range(count):
        t += rng.expovariate(1.0 / spacing_s)
        mission = missions_pb2.MissionSpec(mission_id=f"sim-{i + 1:04d}",
                                           priority=rng.choice((0, 0, 0, 1, 2)))
        load = f"part-{i + 1:04d}"
        mass = round(rng.uniform(50.0, 900.0), 1)
        if welding and cells and rng.random() < 0.5:
            cell = rng.choice(cells)
            src = rng.choice(sources)
            dst = rng.choice([s for s in sinks if s != src])
            mission.tasks.add(task_id="bring", transport=missions_pb2.TransportTask(
                pickup_station=src, dropoff_station=cell, load_id=load, mass_kg=mass))
            mission.tasks.add(task_id="weld", depends_on=["bring"], weld=missions_pb2.WeldTask(
                cell_station=cell, program=rng.choice(PROGRAMS),
                duration_s=round(rng.uniform(30.0, 120.0), 1)))
            mission.tasks.add(task_id="take", depends_on=["weld"],
                              transport=missions_pb2.TransportTask(
                                  pickup_station=cell, dropoff_station=dst, load_id=load,
                                  mass_kg=mass))
            mission.labels["flow"] = "weld"
        else:
            src = rng.choice(sources)
            dst = rng.choice([s for s in sinks if s != src])
            mission.tasks.add(task_id="move", transport=missions_pb2.TransportTask(
                pickup_station=src, dropoff_station=dst, load_id=load, mass_kg=mass))
            mission.labels["flow"] = "transport"
        out.append((round(t, 1), mission))
    return out


def make_scenario(floor: FloorMap, robots: int, missions: int, seed: int) -> Scenario:
    """The default scenario for `fleet sim`."""
    rng = random.Random(seed)
    return Scenario(tuple(make_fleet(floor, robots, rng)),
                    tuple(make_missions(floor, missions, rng)))
