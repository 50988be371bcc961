"""JSON encoding of the values the store keeps whole: mission specs and robot specs.

Every field round-trips, enums by value, frozensets as sorted lists, an absent deadline as
null. Each document carries a format version `v`, so a later release can read what an
earlier one wrote. Decoding is strict about required fields and types: a damaged row fails
loudly with `InvalidInputError` instead of turning into a half-filled mission.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fleet.model import (
    InvalidInputError,
    Mission,
    Registration,
    RobotKind,
    RobotSpec,
    Task,
    TaskKind,
    TransportCapability,
    WeldCapability,
)

__all__ = [
    "decode_mission",
    "decode_registration",
    "decode_robot",
    "encode_mission",
    "encode_robot",
]

_FORMAT_VERSION = 1


def encode_mission(mission: Mission) -> str:
    """The mission as one JSON document (compact, keys in a fixed order)."""
    document = {
        "v": _FORMAT_VERSION,
        "id": mission.id,
        "tasks": [_task_to_dict(task) for task in mission.tasks],
        "priority": mission.priority,
        "deadline_s": mission.deadline_s,
        "submitted_s": mission.submitted_s,
        "release_s": mission.release_s,
        "labels": dict(mission.labels),
    }
    return json.dumps(document, separators=(",", ":"))


def decode_mission(text: str) -> Mission:
    """The mission `encode_mission` wrote; `InvalidInputError(field="mission")` if damaged."""
    document = _load(text, "mission")
    try:
        deadline = document["deadline_s"]
        labels = _mapping(document["labels"], "labels")
        return Mission(
            id=_str(document["id"], "id"),
            tasks=tuple(_task_from_dict(_mapping(t, "tasks[]")) for t in document["tasks"]),
            priority=_int(document["priority"], "priority"),
            deadline_s=None if deadline is None else _float(deadline, "deadline_s"),
            submitted_s=_float(document["submitted_s"], "submitted_s"),
            # Absent in documents written before release times existed.
            release_s=None if document.get("release_s") is None
            else _float(document["release_s"], "release_s"),
            labels={_str(k, "labels"): _str(v, "labels") for k, v in labels.items()},
        )
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidInputError(
            f"stored mission is damaged: {error!r}", field="mission", value=text
        ) from error


def encode_robot(spec: RobotSpec, home_station: str = "") -> str:
    """The robot's registration as one JSON document (`home` only for a fixed welder's cell,
    so that documents written before it existed read the same)."""
    document: dict[str, Any] = {
        "v": _FORMAT_VERSION,
        "id": spec.id,
        "kind": spec.kind.value,
        "radius_m": spec.radius_m,
        "max_speed_mps": spec.max_speed_mps,
        "transport": (
            None if spec.transport is None else {"max_payload_kg": spec.transport.max_payload_kg}
        ),
        "weld": None if spec.weld is None else {"programs": sorted(spec.weld.programs)},
    }
    if home_station:
        document["home"] = home_station
    return json.dumps(document, separators=(",", ":"))


def decode_robot(text: str) -> RobotSpec:
    """The robot `encode_robot` wrote; `InvalidInputError(field="robot")` if damaged."""
    return decode_registration(text).spec


def decode_registration(text: str) -> Registration:
    """The robot and its home station as `encode_robot` wrote them;
    `InvalidInputError(field="robot")` if damaged."""
    document = _load(text, "robot")
    try:
        transport = document["transport"]
        weld = document["weld"]
        spec = RobotSpec(
            id=_str(document["id"], "id"),
            kind=RobotKind(document["kind"]),
            radius_m=_float(document["radius_m"], "radius_m"),
            max_speed_mps=_float(document["max_speed_mps"], "max_speed_mps"),
            transport=(
                None
                if transport is None
                else TransportCapability(
                    max_payload_kg=_float(
                        _mapping(transport, "transport")["max_payload_kg"], "max_payload_kg"
                    )
                )
            ),
            weld=(
                None
                if weld is None
                else WeldCapability(
                    programs=frozenset(
                        _str(p, "programs") for p in _mapping(weld, "weld")["programs"]
                    )
                )
            ),
        )
        return Registration(spec, _str(document.get("home", ""), "home"))
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidInputError(
            f"stored robot is damaged: {error!r}", field="robot", value=text
        ) from error


def _task_to_dict(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "kind": task.kind.value,
        "depends_on": list(task.depends_on),
        "pickup": task.pickup,
        "dropoff": task.dropoff,
        "load_id": task.load_id,
        "mass_kg": task.mass_kg,
        "cell": task.cell,
        "program": task.program,
        "duration_s": task.duration_s,
        "delay_s": task.delay_s,
        "robot": task.robot,
    }


def _task_from_dict(document: Mapping[str, Any]) -> Task:
    return Task(
        id=_str(document["id"], "task.id"),
        kind=TaskKind(document["kind"]),
        depends_on=tuple(_str(d, "task.depends_on") for d in document["depends_on"]),
        pickup=_str(document["pickup"], "task.pickup"),
        dropoff=_str(document["dropoff"], "task.dropoff"),
        load_id=_str(document["load_id"], "task.load_id"),
        mass_kg=_float(document["mass_kg"], "task.mass_kg"),
        cell=_str(document["cell"], "task.cell"),
        program=_str(document["program"], "task.program"),
        duration_s=_float(document["duration_s"], "task.duration_s"),
        delay_s=_float(document.get("delay_s", 0.0), "task.delay_s"),
        robot=_str(document.get("robot", ""), "task.robot"),
    )


def _load(text: str, what: str) -> Mapping[str, Any]:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise InvalidInputError(
            f"stored {what} is not JSON: {error}", field=what, value=text
        ) from error
    if not isinstance(document, dict):
        raise InvalidInputError(f"stored {what} is not a JSON object", field=what, value=text)
    version = document.get("v")
    if version != _FORMAT_VERSION:
        raise InvalidInputError(
            f"stored {what} has format version {version!r}, this fleet reads {_FORMAT_VERSION}",
            field=what,
            value=text,
        )
    return document


def _mapping(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{name} is not an object")
    return value


def _str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} is not a string")
    return value


def _int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} is not an integer")
    return value


def _float(value: object, name: str) -> float:
    # JSON writes 2.0 as 2.0, but a hand-edited or foreign row may hold 2: accept both.
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"{name} is not a number")
    return float(value)
