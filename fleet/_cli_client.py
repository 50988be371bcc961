"""What the `fleet` command's client subcommands read and print: missions from JSON or JSON
Lines, addresses, a mission's status and mission events in plain words.

Every problem with what a person typed or piped in is an InvalidInputError with a one-line
message naming it; the command prints it and exits with status 2.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format

from fleet.model import InvalidInputError, Reason, escape, shorten
from fleet.v1 import missions_pb2

__all__ = ["check_listen_address", "describe_event", "describe_mission", "read_missions"]

_ADDRESS = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^:\[\]]+):(?P<port>\d{1,5})")


def _error(message: str, field: str, reason: Reason = Reason.MALFORMED) -> InvalidInputError:
    return InvalidInputError(escape(message), field=field, reason=reason)


def check_listen_address(option: str, address: str, *, probe: bool = True) -> str:
    """`address` if it is HOST:PORT with a port of 0-65535 (a bare host would make gRPC
    serve on 443); with `probe`, also that nothing listens there already."""
    match = _ADDRESS.fullmatch(address)
    if match is None or int(match["port"]) > 65535:
        raise _error(f"{option} {shorten(address)} must be HOST:PORT (for example "
                     "127.0.0.1:50051)", option.lstrip("-"))
    port = int(match["port"])
    host = match["host"].strip("[]")
    if probe and port:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            # As gRPC binds: connections of a killed server still in TIME_WAIT do not make
            # the port busy (a restart on the same port must work), a listener does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as err:
                raise OSError(f"cannot listen on {address}: {err.strerror}") from None
    return address


def read_missions(text: str, source: str) -> list[missions_pb2.MissionSpec]:
    """The missions in `text`: one JSON object, a JSON list of them, or JSON Lines (one
    object per line), each in the MissionSpec JSON of the wire contract."""
    if not text.strip():
        raise _error(f"{source} is empty: give a mission as a JSON object, a JSON list of "
                     "missions, or JSON Lines", "file", Reason.REQUIRED)
    try:
        documents: list[Any] = _documents(json.loads(text))
    except json.JSONDecodeError as err:
        if not err.msg.startswith("Extra data"):
            raise _error(f"{source} is not JSON: {err.msg} at line {err.lineno} column "
                         f"{err.colno}", "file") from None
        documents = list(_lines(text, source))
    if not documents:
        raise _error(f"{source} holds no mission (an empty list)", "file", Reason.REQUIRED)
    specs = []
    for k, document in enumerate(documents, start=1):
        where = f"{source}: mission {k}" if len(documents) > 1 else source
        if not isinstance(document, dict):
            raise _error(f"{where} is a JSON {type(document).__name__}, not an object",
                         "file")
        try:
            specs.append(json_format.ParseDict(document, missions_pb2.MissionSpec()))
        except json_format.ParseError as err:
            raise _error(f"{where}: {_parse_problem(str(err))}", "file") from None
    return specs


def _documents(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _lines(text: str, source: str) -> Iterable[Any]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as err:
            raise _error(f"{source} line {number} is not JSON: {err.msg} at column "
                         f"{err.colno}", "file") from None


def _parse_problem(message: str) -> str:
    """protobuf's ParseError text, made to read as a sentence about the field."""
    no_field = re.search(r'has no field named "([^"]+)"', message)
    if no_field:
        names = ", ".join(f.name for f in missions_pb2.MissionSpec.DESCRIPTOR.fields)
        return (f"unknown field {shorten(no_field[1])} (a mission has {names}; tasks have "
                "task_id, depends_on, start_delay_s and one of transport, weld, charge, "
                "park)")
    return message.rstrip(".")


def _state(value: int, enum: Any, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix).lower().replace("_", " ")


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value else "-"


def _what(task: missions_pb2.TaskSpec) -> str:
    kind = task.WhichOneof("kind")
    if kind == "transport":
        t = task.transport
        return f"{t.load_id} ({t.mass_kg:g} kg) {t.pickup_station} -> {t.dropoff_station}"
    if kind == "weld":
        w = task.weld
        part = f" on {w.part_load_id}" if w.part_load_id else ""
        return f"program {w.program} ({w.duration_s:g} s) at {w.cell_station}{part}"
    if kind == "charge":
        return f"{task.charge.robot_id} charges at {task.charge.charger_station}"
    if kind == "park":
        return f"{task.park.robot_id} parks at {task.park.station}"
    return ""


def describe_mission(m: missions_pb2.MissionStatus) -> str:
    """A mission's status as `fleet get` prints it: the mission, its times and progress, then
    one line per task."""
    state = _state(m.state, missions_pb2.MissionStateValue, "MISSION_STATE_")
    done = sum(t.state == missions_pb2.TASK_STATE_DONE for t in m.tasks)
    steps = sum(t.steps_done for t in m.tasks)
    total = sum(t.steps_total for t in m.tasks)
    lines = [f"mission {m.mission_id}: {state}" + (f" ({escape(m.reason)})" if m.reason
                                                    else ""),
             f"  priority {m.priority}, submitted {_seconds(m.submitted_s)}, release "
             f"{_seconds(m.release_s)}, deadline {_seconds(m.deadline_s)}, finished "
             f"{_seconds(m.finished_s)}",
             f"  progress: {done}/{len(m.tasks)} tasks done, {steps}/{total} steps"]
    if m.labels:
        lines.append("  labels: " + ", ".join(f"{escape(k)}={escape(v)}"
                                              for k, v in sorted(m.labels.items())))
    width = max((len(t.spec.task_id) for t in m.tasks), default=4)
    for t in m.tasks:
        task_state = _state(t.state, missions_pb2.TaskStateValue, "TASK_STATE_")
        after = f" after {', '.join(t.spec.depends_on)}" if t.spec.depends_on else ""
        lines.append(f"  {t.spec.task_id:{width}s}  {t.spec.WhichOneof('kind') or '?':9s} "
                     f"{task_state:9s} {t.robot_id or '-':10s} {t.steps_done}/{t.steps_total} "
                     f"steps  {_what(t.spec)}{after}")
    return "\n".join(lines)


_EVENT_WORDS = {
    missions_pb2.MISSION_EVENT_ACCEPTED: "accepted",
    missions_pb2.MISSION_EVENT_ASSIGNED: "assigned to {robot}",
    missions_pb2.MISSION_EVENT_UNASSIGNED: "taken back from {robot}",
    missions_pb2.MISSION_EVENT_STARTED: "started by {robot}",
    missions_pb2.MISSION_EVENT_STEP_DONE: "step {step} done by {robot}",
    missions_pb2.MISSION_EVENT_TASK_DONE: "done by {robot}",
    missions_pb2.MISSION_EVENT_COMPLETED: "completed",
    missions_pb2.MISSION_EVENT_FAILED: "failed",
    missions_pb2.MISSION_EVENT_CANCELLED: "cancelled",
}


def describe_event(e: missions_pb2.MissionEventMessage) -> str:
    """A mission event as `fleet watch` prints it: when, what, and why."""
    what = _EVENT_WORDS.get(e.kind, "event {kind}").format(robot=e.robot_id or "a robot",
                                                          step=e.step + 1, kind=e.kind)
    subject = f"{e.mission_id}/{e.task_id}" if e.task_id else e.mission_id
    detail = f": {escape(e.detail)}" if e.detail else ""
    return f"#{e.seq} t={e.time_s:.1f} s  {subject} {what}{detail}"
