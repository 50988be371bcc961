"""The mixed-flow line on the example plant: product variants as chains of robot tasks.

Every variant is one part's route: cut (the part appears at a cutting outfeed at its release
time, one takt after the previous one) -> transport to its weld cell -> weld with its program
-> transport to a paint booth -> paint (a process time, the next task's start delay) ->
transport from the booth's outfeed to an assembly station. Deadlines are a fixed lead time
after release; a few variants are rush orders (priority 1).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from fleet.api.convert import mission_to_spec
from fleet.floor import FloorMap, StationKind
from fleet.model import (
    Mission,
    Pose,
    RobotKind,
    RobotSpec,
    Task,
    TaskKind,
    TransportCapability,
    WeldCapability,
)
from fleet.v1 import missions_pb2

PROGRAMS = ("BOOM-A", "ARM-B", "FRAME-C", "BUCKET-D", "CAB-E")


@dataclass(frozen=True, slots=True)
class Line:
    """A fleet with start poses and the day's missions (released over time)."""

    robots: tuple[tuple[RobotSpec, Pose], ...]
    missions: tuple[Mission, ...]
    home_cells: dict[str, str]
    """Fixed welders: the weld cell each is bolted to."""


def _kind(floor: FloorMap, kind: StationKind, prefix: str = "") -> list[str]:
    return sorted((s.id for s in floor.stations.values()
                   if s.kind is kind and s.id.startswith(prefix)),
                  key=lambda s: (len(s), s))


def make_line(floor: FloorMap, *, variants: int, agvs: int, mobile_welders: int,
              fixed_welders: int, takt_s: float, lead_time_s: float, seed: int) -> Line:
    """A line scenario on the plant; the same seed gives the same scenario."""
    rng = random.Random(seed)
    cuts = _kind(floor, StationKind.PICKUP, "cut-out")
    cells = _kind(floor, StationKind.WELD_CELL)
    paint_in = _kind(floor, StationKind.DROPOFF, "paint-in")
    paint_out = _kind(floor, StationKind.PICKUP, "paint-out")
    assembly = _kind(floor, StationKind.DROPOFF, "asm")
    parking = _kind(floor, StationKind.PARKING)
    robots: list[tuple[RobotSpec, Pose]] = []
    for i in range(agvs):
        home = floor.stations[parking[i]].pose
        robots.append((RobotSpec(f"agv-{i + 1:02d}", RobotKind.AGV, 0.45,
                                 rng.choice((1.0, 1.2, 1.5)),
                                 transport=TransportCapability(
                                     2000.0 if i == 0 else rng.choice((1000.0, 2000.0)))),
                       home))
    for k in range(mobile_welders):
        home = floor.stations[parking[agvs + k]].pose
        programs = {PROGRAMS[k % 5], PROGRAMS[(k + 2) % 5], PROGRAMS[(k + 4) % 5]}
        if mobile_welders < 3 or k == 0:
            programs = set(PROGRAMS)
        robots.append((RobotSpec(f"welder-{k + 1:02d}", RobotKind.MOBILE_WELDER, 0.45, 1.0,
                                 weld=WeldCapability(frozenset(programs))), home))
    home_cells = {}
    for k in range(fixed_welders):
        cell = floor.stations[cells[k]]
        rid = f"fixed-{k + 1:02d}"
        home_cells[rid] = cell.id
        robots.append((RobotSpec(rid, RobotKind.FIXED_WELDER, 0.45, 1.0,
                                 weld=WeldCapability(frozenset(PROGRAMS))),
                       Pose(cell.pose.x, cell.pose.y, 0.0)))
    missions = []
    for v in range(variants):
        part = f"part-{v + 1:03d}"
        release = round(v * takt_s, 1)
        mass = round(rng.uniform(100.0, 1800.0), 0)
        cell = rng.choice(cells)
        booth = rng.randrange(len(paint_in))
        tasks = (
            Task("to-weld", TaskKind.TRANSPORT, pickup=rng.choice(cuts), dropoff=cell,
                 load_id=part, mass_kg=mass),
            Task("weld", TaskKind.WELD, ("to-weld",), cell=cell,
                 program=rng.choice(PROGRAMS), duration_s=round(rng.uniform(40, 120)),
                 load_id=part),
            Task("to-paint", TaskKind.TRANSPORT, ("weld",), pickup=cell,
                 dropoff=paint_in[booth], load_id=part, mass_kg=mass),
            Task("to-assembly", TaskKind.TRANSPORT, ("to-paint",), pickup=paint_out[booth],
                 dropoff=rng.choice(assembly), load_id=part, mass_kg=mass,
                 delay_s=round(rng.uniform(60, 180))),
        )
        missions.append(Mission(f"v{v + 1:03d}", tasks, priority=1 if rng.random() < 0.1
                                else 0, deadline_s=release + lead_time_s,
                                release_s=release or None,
                                labels={"variant": f"V{v + 1:03d}"}))
    return Line(tuple(robots), tuple(missions), home_cells)


def to_wire(mission: Mission) -> missions_pb2.MissionSpec:
    """The mission as a planner submits it."""
    return mission_to_spec(mission)
