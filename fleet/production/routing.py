"""Product routings: the operations of each model in order, and where each process happens.

A routing is a model's way through the plant: cut -> (weld | machine | paint)* -> assemble.
Each operation names its process, how long it takes and, for a weld, the weld program; the
part's mass is given on the first operation and may change after any later one (machining
takes metal off, welding adds brackets). The format, as it appears in a line file
(`fleet.production.line`), is documented in the README ("Production lines"):

    stations:                       # the floor's stations for each process
      cut: [cut-out-1, cut-out-2]               # where cut parts come out
      weld: [weld-1, weld-2]                    # weld cells (in and out at the cell)
      machine: [[mach-in-1, mach-out-1]]        # [in, out] of each machine
      paint: [[paint-in-1, paint-out-1]]
      assemble: [asm-1, asm-2]                  # where parts are delivered
    models:                         # routings spelled out
      BKT-1:
        - {process: cut, duration_s: 240, mass_kg: 450}
        - {process: weld, program: BUCKET-D, duration_s: 300}
        - {process: paint, duration_s: 900}
        - {process: assemble, duration_s: 600}
    families:                       # many models from one routing and a few parameters
      - family: EX
        sizes: {"20": 1.0, "30": 1.3}          # model EX20, EX30: every duration and mass x
        variants: {"": {}, LR: {weld: 1.3}}    # EX20, EX20-LR: process durations (or mass) x
        operations: [...]                      # as for a model

Parsing is pure and strict: anything unexpected raises `InvalidInputError` naming the field
(`models.BKT-1[1].duration_s`) and the value.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleet.floor import FloorMap, StationKind
from fleet.model import InvalidInputError, NotFoundError, check_id

__all__ = ["Catalog", "Center", "Operation", "Process", "Routing", "parse_catalog"]


class Process(enum.Enum):
    """What happens to a part at a work centre."""

    CUT = "cut"
    """Steel plate to part at a cutting machine: where every routing starts (the part
    appears at the cutter's outfeed)."""
    WELD = "weld"
    """Robot welding in a weld cell: the work of a welding robot."""
    MACHINE = "machine"
    """A machining centre: the part is dropped at its infeed and picked at its outfeed."""
    PAINT = "paint"
    """A paint booth, like a machine."""
    ASSEMBLE = "assemble"
    """Final assembly: where every routing ends (the part is delivered)."""

    @property
    def station_kinds(self) -> tuple[StationKind | None, StationKind | None]:
        """The floor station kinds of a centre's (in, out); None where it has none."""
        return _STATION_KINDS[self]


_STATION_KINDS: dict[Process, tuple[StationKind | None, StationKind | None]] = {
    Process.CUT: (None, StationKind.PICKUP),
    Process.WELD: (StationKind.WELD_CELL, StationKind.WELD_CELL),
    Process.MACHINE: (StationKind.DROPOFF, StationKind.PICKUP),
    Process.PAINT: (StationKind.DROPOFF, StationKind.PICKUP),
    Process.ASSEMBLE: (StationKind.DROPOFF, None),
}


@dataclass(frozen=True, slots=True)
class Operation:
    """One step of a routing."""

    process: Process
    duration_s: float
    """Seconds the process takes (a weld program's run time, a machine's cycle)."""
    program: str = ""
    """Weld program (welds only)."""
    mass_kg: float | None = None
    """The part's mass after this operation, kilograms; None: unchanged."""


@dataclass(frozen=True, slots=True)
class Routing:
    """A model's operations in order: cut first, assemble last."""

    model: str
    operations: tuple[Operation, ...]

    def masses_kg(self) -> tuple[float, ...]:
        """The part's mass after each operation, kilograms."""
        out: list[float] = []
        mass = 0.0
        for op in self.operations:
            mass = op.mass_kg if op.mass_kg is not None else mass
            out.append(mass)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class Center:
    """Where one process happens: the station a part is dropped at (`inbound`, "" for a
    cutter) and the one it is picked up from (`outbound`, "" for assembly). A weld cell is
    both."""

    inbound: str
    outbound: str

    @property
    def station(self) -> str:
        """The station that names the centre (its outfeed, else its infeed)."""
        return self.outbound or self.inbound


@dataclass(frozen=True, slots=True)
class Catalog:
    """The routings of a line's models and the stations each process may use."""

    centers: Mapping[Process, tuple[Center, ...]]
    routings: Mapping[str, Routing]

    def routing(self, model: str, field: str = "model") -> Routing:
        """The routing of a model; NotFoundError (naming `field` and the model) if none."""
        try:
            return self.routings[model]
        except KeyError:
            raise NotFoundError(f"model {model!r} has no routing on this line ("
                                f"{len(self.routings)} models, e.g. "
                                f"{', '.join(sorted(self.routings)[:3])})", field=field,
                                value=model) from None

    def check_floor(self, floor: FloorMap) -> None:
        """Every station of `centers` is on the floor and of the kind its role needs."""
        for process, centers in self.centers.items():
            kinds = process.station_kinds
            for i, center in enumerate(centers):
                for role, station_id, kind in (("in", center.inbound, kinds[0]),
                                               ("out", center.outbound, kinds[1])):
                    if kind is None:
                        continue
                    field = f"stations.{process.value}[{i}]" + (
                        f".{role}" if kinds[0] is not kinds[1] and kinds[0] and kinds[1]
                        else "")
                    station = floor.stations.get(station_id)
                    if station is None:
                        raise InvalidInputError(f"{field}: station {station_id!r} is not on "
                                                f"floor {floor.name!r}", field=field,
                                                value=station_id)
                    if station.kind is not kind:
                        raise InvalidInputError(
                            f"{field}: station {station_id!r} is a {station.kind.value}, "
                            f"{process.value} needs a {kind.value} there", field=field,
                            value=station_id)


def parse_catalog(root: Mapping[str, Any]) -> Catalog:
    """The catalog of a parsed line document (its `stations`, `models` and `families`)."""
    centers = _centers(root.get("stations"))
    routings: dict[str, Routing] = {}
    models = root.get("models", {})
    if not isinstance(models, Mapping):
        raise InvalidInputError("models must be a mapping of model id to operations",
                                field="models", value=type(models).__name__)
    for model, ops in models.items():
        check_id("models", str(model))
        routings[str(model)] = _routing(str(model), ops, f"models.{model}")
    families = root.get("families", [])
    if not isinstance(families, list):
        raise InvalidInputError("families must be a list", field="families",
                                value=type(families).__name__)
    for i, family in enumerate(families):
        for routing in _family(family, f"families[{i}]"):
            if routing.model in routings:
                raise InvalidInputError(f"model {routing.model!r} is defined twice",
                                        field=f"families[{i}]", value=routing.model)
            routings[routing.model] = routing
    if not routings:
        raise InvalidInputError("a line needs at least one model (models or families)",
                                field="models", value=None)
    for routing in routings.values():
        for i, op in enumerate(routing.operations):
            if not centers.get(op.process):
                raise InvalidInputError(
                    f"models.{routing.model}[{i}]: no stations for process "
                    f"{op.process.value!r}", field=f"stations.{op.process.value}",
                    value=None)
    return Catalog(centers, routings)


def _centers(value: object) -> dict[Process, tuple[Center, ...]]:
    if not isinstance(value, Mapping):
        raise InvalidInputError("stations must map each process to its stations",
                                field="stations", value=value)
    out: dict[Process, tuple[Center, ...]] = {}
    for key, items in value.items():
        process = _process(key, "stations")
        field = f"stations.{process.value}"
        if not isinstance(items, list) or not items:
            raise InvalidInputError(f"{field} must be a non-empty list", field=field,
                                    value=items)
        centers = []
        for i, item in enumerate(items):
            name = f"{field}[{i}]"
            if process in (Process.MACHINE, Process.PAINT):
                if (not isinstance(item, list) or len(item) != 2
                        or not all(isinstance(s, str) for s in item)):
                    raise InvalidInputError(f"{name} must be [in station, out station]",
                                            field=name, value=item)
                centers.append(Center(item[0], item[1]))
                continue
            if not isinstance(item, str):
                raise InvalidInputError(f"{name} must be a station id", field=name,
                                        value=item)
            centers.append({Process.CUT: Center("", item), Process.WELD: Center(item, item),
                            Process.ASSEMBLE: Center(item, "")}[process])
        out[process] = tuple(centers)
    return out


def _process(value: object, field: str) -> Process:
    try:
        return Process(value)
    except ValueError:
        raise InvalidInputError(
            f"{field}: {value!r} is not a process (one of "
            f"{', '.join(p.value for p in Process)})", field=field, value=value) from None


def _number(value: object, field: str, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value) or (value <= 0 if positive else value < 0):
        raise InvalidInputError(f"{field} must be a {'positive' if positive else 'finite'} "
                                f"number, not {value!r}", field=field, value=value)
    return float(value)


def _routing(model: str, ops: object, field: str,
             scale: float = 1.0, factors: Mapping[str, float] | None = None) -> Routing:
    """A routing from its YAML operations, durations and masses scaled (families)."""
    factors = factors or {}
    if not isinstance(ops, list) or not ops:
        raise InvalidInputError(f"{field} must be a non-empty list of operations",
                                field=field, value=ops)
    operations = []
    for i, item in enumerate(ops):
        name = f"{field}[{i}]"
        if not isinstance(item, Mapping):
            raise InvalidInputError(f"{name} must be a mapping", field=name, value=item)
        unknown = sorted(set(item) - {"process", "duration_s", "program", "mass_kg"})
        if unknown:
            raise InvalidInputError(f"{name}: unknown key {unknown[0]!r}",
                                    field=f"{name}.{unknown[0]}", value=unknown[0])
        if "process" not in item:
            raise InvalidInputError(f"{name}.process is missing", field=f"{name}.process",
                                    value=None)
        process = _process(item["process"], f"{name}.process")
        duration = _number(item.get("duration_s"), f"{name}.duration_s")
        program = item.get("program", "")
        if process is Process.WELD:
            if not isinstance(program, str) or not program:
                raise InvalidInputError(f"{name}.program: a weld needs its weld program",
                                        field=f"{name}.program", value=program or None)
        elif program:
            raise InvalidInputError(f"{name}.program: only welds have a program",
                                    field=f"{name}.program", value=program)
        mass = item.get("mass_kg")
        if mass is not None:
            mass = round(_number(mass, f"{name}.mass_kg") * scale * factors.get("mass", 1.0))
        elif i == 0:
            raise InvalidInputError(f"{name}.mass_kg: the first operation gives the part's "
                                    "mass", field=f"{name}.mass_kg", value=None)
        duration = round(duration * scale * factors.get(process.value, 1.0), 1)
        operations.append(Operation(process, duration, program, mass))
    if operations[0].process is not Process.CUT:
        raise InvalidInputError(f"{field}[0].process: a routing starts with cut, not "
                                f"{operations[0].process.value}", field=f"{field}[0].process",
                                value=operations[0].process.value)
    last = len(operations) - 1
    if operations[last].process is not Process.ASSEMBLE:
        raise InvalidInputError(f"{field}[{last}].process: a routing ends with assemble, not "
                                f"{operations[last].process.value}",
                                field=f"{field}[{last}].process",
                                value=operations[last].process.value)
    for i, op in enumerate(operations[1:last], start=1):
        if op.process in (Process.CUT, Process.ASSEMBLE):
            raise InvalidInputError(f"{field}[{i}].process: {op.process.value} only at the "
                                    f"{'start' if op.process is Process.CUT else 'end'}",
                                    field=f"{field}[{i}].process", value=op.process.value)
    return Routing(model, tuple(operations))


def _family(value: object, field: str) -> list[Routing]:
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{field} must be a mapping", field=field, value=value)
    unknown = sorted(set(value) - {"family", "sizes", "variants", "operations"})
    if unknown:
        raise InvalidInputError(f"{field}: unknown key {unknown[0]!r}",
                                field=f"{field}.{unknown[0]}", value=unknown[0])
    family = value.get("family")
    if not isinstance(family, str) or not family:
        raise InvalidInputError(f"{field}.family: a family needs a name",
                                field=f"{field}.family", value=family)
    sizes = value.get("sizes", {"": 1.0})
    variants = value.get("variants", {"": {}})
    if not isinstance(sizes, Mapping) or not sizes:
        raise InvalidInputError(f"{field}.sizes must map size names to scale factors",
                                field=f"{field}.sizes", value=sizes)
    if not isinstance(variants, Mapping) or not variants:
        raise InvalidInputError(f"{field}.variants must map variant names to factors",
                                field=f"{field}.variants", value=variants)
    keys = {p.value for p in Process} | {"mass"}
    out = []
    for size, scale in sizes.items():
        factor = _number(scale, f"{field}.sizes.{size}")
        for variant, factors in variants.items():
            name = f"{field}.variants.{variant}"
            if not isinstance(factors, Mapping):
                raise InvalidInputError(f"{name} must map processes (or mass) to factors",
                                        field=name, value=factors)
            for key, f in factors.items():
                if key not in keys:
                    raise InvalidInputError(f"{name}: {key!r} is neither a process nor mass",
                                            field=f"{name}.{key}", value=key)
                _number(f, f"{name}.{key}")
            model = f"{family}{size}" + (f"-{variant}" if variant else "")
            check_id(f"{field}.family", model)
            out.append(_routing(model, value.get("operations"), f"{field}.operations",
                                factor, {str(k): float(v) for k, v in factors.items()}))
    return out
