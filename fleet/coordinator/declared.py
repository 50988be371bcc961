"""The declared fleet: the robot kinds and capabilities a plant has, registered or not.

Missions are checked against the robots that can do them. Right after a restart those are
the roster in the store (every robot that ever registered); before any robot of a kind has
ever registered, a fleet file says what will come (`fleet serve --fleet FILE`):

    robots:
      - {kind: agv, count: 4, max_payload_kg: 1000}
      - {kind: mobile_welder, programs: [BOOM-A, BOOM-B]}
      - {kind: fixed_welder, programs: [BOOM-A], cell_station: weld-1}

A mission that neither the roster nor the declared fleet can do is refused, saying what is
missing; `Fleet.ListCapabilities` lists what missions are checked against.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from fleet.dispatch import Candidate
from fleet.floor import FloorMap, StationKind
from fleet.model import (
    InvalidInputError,
    RobotKind,
    RobotSpec,
    TransportCapability,
    WeldCapability,
)

__all__ = ["CapabilityGroup", "DeclaredRobot", "capability_groups", "load_fleet",
           "parse_fleet"]


@dataclass(frozen=True, slots=True)
class DeclaredRobot:
    """One line of a fleet file: `count` robots of a kind with these capabilities."""

    kind: RobotKind
    count: int = 1
    max_payload_kg: float = 0.0
    """Kilograms; 0 for robots that do not transport."""
    programs: frozenset[str] = frozenset()
    cell_station: str = ""
    """For a fixed welder, the weld cell it is bolted to."""

    def candidate(self) -> Candidate:
        """As the capability check sees it (the id names the entry, not a robot)."""
        spec = RobotSpec(f"declared-{self.kind.value}", self.kind, 0.1, 1.0,
                         TransportCapability(self.max_payload_kg) if self.max_payload_kg
                         else None,
                         WeldCapability(self.programs) if self.programs else None)
        return Candidate(spec, self.cell_station)


def load_fleet(path: str | Path, floor: FloorMap) -> tuple[DeclaredRobot, ...]:
    """Read a fleet file (see the module); InvalidInputError naming the entry and field."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidInputError(f"fleet file {str(path)!r} cannot be read: {err.strerror}",
                                field="fleet", value=str(path)) from err
    return parse_fleet(text, floor, str(path))


def parse_fleet(text: str, floor: FloorMap, source: str = "fleet file"
                ) -> tuple[DeclaredRobot, ...]:
    """Parse a fleet file's text, its weld cells checked against the floor."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InvalidInputError(f"{source} is not YAML: {err}", field="fleet",
                                value=source) from err
    entries = doc.get("robots") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InvalidInputError(f"{source} needs a non-empty list 'robots'", field="robots",
                                value=source)
    return tuple(_entry(e, f"robots[{k}]", floor, source) for k, e in enumerate(entries))


def _entry(entry: object, where: str, floor: FloorMap, source: str) -> DeclaredRobot:
    if not isinstance(entry, dict):
        raise InvalidInputError(f"{where} in {source} must be a mapping", field=where,
                                value=str(entry)[:40])
    unknown = sorted(set(entry) - {"kind", "count", "max_payload_kg", "programs",
                                   "cell_station"})
    if unknown:
        raise InvalidInputError(f"{where} in {source}: unknown field {unknown[0]!r}",
                                field=f"{where}.{unknown[0]}", value=unknown[0])
    kinds = {k.value: k for k in RobotKind}
    kind = kinds.get(str(entry.get("kind")))
    if kind is None:
        raise InvalidInputError(f"{where}.kind in {source} must be one of "
                                f"{', '.join(kinds)}, got {str(entry.get('kind'))[:40]!r}",
                                field=f"{where}.kind", value=str(entry.get("kind"))[:40])
    count = entry.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 10_000:
        raise InvalidInputError(f"{where}.count in {source} must be a whole number 1-10000",
                                field=f"{where}.count", value=str(count)[:40])
    payload = entry.get("max_payload_kg", 0.0)
    if not isinstance(payload, int | float) or isinstance(payload, bool) or \
            not 0 <= payload < 1e6:
        raise InvalidInputError(f"{where}.max_payload_kg in {source} must be kilograms in "
                                "[0, 1e6)", field=f"{where}.max_payload_kg",
                                value=str(payload)[:40])
    programs = entry.get("programs", [])
    if not isinstance(programs, list) or not all(isinstance(p, str) and p for p in programs):
        raise InvalidInputError(f"{where}.programs in {source} must be a list of program "
                                "names", field=f"{where}.programs", value=str(programs)[:40])
    if kind is RobotKind.AGV and not payload:
        raise InvalidInputError(f"{where} in {source}: an agv needs max_payload_kg",
                                field=f"{where}.max_payload_kg", value=payload)
    if kind is not RobotKind.AGV and not programs:
        raise InvalidInputError(f"{where} in {source}: a {kind.value} needs programs",
                                field=f"{where}.programs", value=[])
    cell = entry.get("cell_station", "")
    if kind is RobotKind.FIXED_WELDER:
        station = floor.stations.get(str(cell))
        if station is None or station.kind is not StationKind.WELD_CELL:
            raise InvalidInputError(f"{where}.cell_station in {source} must name a weld cell "
                                    f"of floor {floor.name!r}, got {str(cell)[:40]!r}",
                                    field=f"{where}.cell_station", value=str(cell)[:40])
    elif cell:
        raise InvalidInputError(f"{where}.cell_station in {source} is for fixed welders only",
                                field=f"{where}.cell_station", value=str(cell)[:40])
    return DeclaredRobot(kind, count, float(payload), frozenset(programs), str(cell))


@dataclass(frozen=True, slots=True)
class CapabilityGroup:
    """Robots of one kind with the same capabilities (`Fleet.ListCapabilities`)."""

    kind: RobotKind
    max_payload_kg: float
    programs: tuple[str, ...]
    cell_station: str
    robot_ids: tuple[str, ...] = ()
    """Robots of the roster; empty for a declared entry."""
    declared_count: int = 0


def capability_groups(roster: Iterable[Candidate], declared: Sequence[DeclaredRobot]
                      ) -> list[CapabilityGroup]:
    """The roster grouped by kind and capabilities (sorted), then the declared entries."""
    groups: dict[tuple[RobotKind, float, tuple[str, ...], str], list[str]] = {}
    for c in roster:
        spec = c.spec
        key = (spec.kind, spec.transport.max_payload_kg if spec.transport else 0.0,
               tuple(sorted(spec.weld.programs)) if spec.weld else (), c.home_station)
        groups.setdefault(key, []).append(spec.id)
    out = [CapabilityGroup(kind, payload, programs, cell, tuple(sorted(ids)))
           for (kind, payload, programs, cell), ids in sorted(
               groups.items(), key=lambda kv: (kv[0][0].value, *kv[0][1:]))]
    out.extend(CapabilityGroup(d.kind, d.max_payload_kg, tuple(sorted(d.programs)),
                               d.cell_station, declared_count=d.count) for d in declared)
    return out
