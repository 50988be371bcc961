"""Line files: a catalog of routings, the fleet that serves it, and orders released at a takt.

    name: plant-mixed
    floor: plant                 # a shipped floor's name, or a path relative to this file
    takt_s: 360                  # one unit released every takt_s seconds
    units: 20                    # units `fleet sim --line` releases (default 20)
    lead_time_s: 7200            # each unit is due this long after its release (optional)
    fleet: {agvs: 6, welders: 3, agv_payload_kg: 2000, agv_speed_mps: 1.2}
    stations: {...}              # see fleet.production.routing
    models: {...}
    families: [...]

Which model each released unit is follows the seed: a repeatable mixed-model sequence drawn
uniformly from the catalog (`Line.orders`).
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fleet.model import InvalidInputError, check_id
from fleet.production.expand import Order
from fleet.production.routing import Catalog, parse_catalog

__all__ = ["FleetPlan", "Line", "load_line", "parse_line"]


@dataclass(frozen=True, slots=True)
class FleetPlan:
    """The robots a line runs with: AGVs (all of one payload and speed) and mobile welders
    (each able to run every weld program of the catalog)."""

    agvs: int
    welders: int
    agv_payload_kg: float = 2000.0
    agv_speed_mps: float = 1.2


@dataclass(frozen=True, slots=True)
class Line:
    """A production line as a line file describes it."""

    name: str
    floor: str
    """The floor's shipped name or a path."""
    takt_s: float
    units: int
    lead_time_s: float | None
    fleet: FleetPlan
    catalog: Catalog

    @property
    def programs(self) -> frozenset[str]:
        """Every weld program the catalog's routings use."""
        return frozenset(op.program for r in self.catalog.routings.values()
                         for op in r.operations if op.program)

    def orders(self, seed: int, units: int | None = None, takt_s: float | None = None
               ) -> list[Order]:
        """The units to release, one order each, every takt from t = 0; the mix follows the
        seed."""
        rng = random.Random(seed)
        models = sorted(self.catalog.routings)
        takt = self.takt_s if takt_s is None else takt_s
        out = []
        for k in range(self.units if units is None else units):
            release = round(k * takt, 3)
            deadline = release + self.lead_time_s if self.lead_time_s else None
            out.append(Order(f"u{k + 1:04d}", rng.choice(models), 1, release, deadline))
        return out


def _positive(root: Mapping[str, Any], key: str, field: str, default: float | None = None,
              whole: bool = False) -> float:
    value = root.get(key, default)
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or value <= 0 or (whole and value != int(value))):
        raise InvalidInputError(f"{field} must be a positive {'whole ' if whole else ''}"
                                f"number, not {value!r}", field=field, value=value)
    return float(value)


def parse_line(text: str, name: str = "line") -> Line:
    """Parse and check a line file's text (the floor is checked by `Catalog.check_floor`)."""
    try:
        root = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InvalidInputError(f"line file is not valid YAML: {err}", field="yaml",
                                value=name) from None
    if not isinstance(root, Mapping):
        raise InvalidInputError("a line file is a mapping", field="line", value=name)
    known = {"name", "floor", "takt_s", "units", "lead_time_s", "fleet", "stations",
             "models", "families"}
    unknown = sorted(set(root) - known)
    if unknown:
        raise InvalidInputError(f"line file: unknown key {unknown[0]!r}", field=unknown[0],
                                value=unknown[0])
    line_name = root.get("name", name)
    check_id("name", str(line_name))
    floor = root.get("floor", "plant")
    if not isinstance(floor, str) or not floor:
        raise InvalidInputError("floor must name a floor map", field="floor", value=floor)
    takt = _positive(root, "takt_s", "takt_s")
    units = int(_positive(root, "units", "units", 20, whole=True))
    lead = (_positive(root, "lead_time_s", "lead_time_s") if "lead_time_s" in root
            else None)
    fleet_doc = root.get("fleet", {})
    if not isinstance(fleet_doc, Mapping):
        raise InvalidInputError("fleet must be a mapping", field="fleet", value=fleet_doc)
    unknown = sorted(set(fleet_doc) - {"agvs", "welders", "agv_payload_kg", "agv_speed_mps"})
    if unknown:
        raise InvalidInputError(f"fleet: unknown key {unknown[0]!r}",
                                field=f"fleet.{unknown[0]}", value=unknown[0])
    fleet = FleetPlan(int(_positive(fleet_doc, "agvs", "fleet.agvs", 4, whole=True)),
                      int(_positive(fleet_doc, "welders", "fleet.welders", 2, whole=True)),
                      _positive(fleet_doc, "agv_payload_kg", "fleet.agv_payload_kg", 2000.0),
                      _positive(fleet_doc, "agv_speed_mps", "fleet.agv_speed_mps", 1.2))
    catalog = parse_catalog(root)
    for routing in catalog.routings.values():
        for i, mass in enumerate(routing.masses_kg()):
            if mass > fleet.agv_payload_kg:
                field = f"models.{routing.model}[{i}].mass_kg"
                raise InvalidInputError(
                    f"{field}: operation {i} of model {routing.model} leaves the part at "
                    f"{mass:g} kg, above the AGVs' payload {fleet.agv_payload_kg:g} kg",
                    field=field, value=mass)
    return Line(str(line_name), floor, takt, units, lead, fleet, catalog)


def load_line(path: str | os.PathLike[str]) -> Line:
    """Read a line file; a relative floor path is taken relative to the file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as err:
        raise InvalidInputError(f"line file {str(p)!r}: {err.strerror}", field="line",
                                value=str(p)) from None
    line = parse_line(text, p.stem)
    if line.floor.endswith((".yaml", ".yml")) and not Path(line.floor).is_absolute():
        line = Line(line.name, str(p.parent / line.floor), line.takt_s, line.units,
                    line.lead_time_s, line.fleet, line.catalog)
    return line
