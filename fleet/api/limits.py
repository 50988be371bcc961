"""The documented limits on every input of every RPC, and the one check that enforces them.

Every request is checked here, field by field, before it is converted or reaches the
coordinator (so before anything is stored): strings are bounded in length, lists and maps in
entries, numbers are finite and inside a documented range, and times agree (a deadline after
the release). `check(request)` collects every violation and raises one InvalidInputError that
lists them all (each naming the field, the limit and a shortened value, with a `Reason`).

`LIMITS` is the table the README's "Limits and error codes" section shows; a test keeps the
two in step. Finer checks that need the floor or the fleet (stations, capabilities, the
planning cell size) stay in `fleet.coordinator.validation`.
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from fleet.client import MAX_MESSAGE_BYTES
from fleet.model import Reason, Violations, shorten
from fleet.model.ids import ID_CHARS, id_problem
from fleet.v1 import (
    common_pb2,
    fleet_pb2,
    missions_pb2,
    robot_link_pb2,
    simulation_pb2,
)

__all__ = ["LIMITS", "MAX_MESSAGE_BYTES", "Limit", "LimitKind", "check", "checked_types"]



class LimitKind(enum.Enum):
    """What a limit bounds."""

    CHARS = "characters"
    ENTRIES = "entries"
    RANGE = "range"


@dataclass(frozen=True, slots=True)
class Limit:
    """One documented limit: the fields it applies to (`[]` stands for any index), the bound,
    and for ranges the lowest value (excluded when `low_open`) and the unit."""

    fields: str
    kind: LimitKind
    high: float
    low: float = 0.0
    low_open: bool = False
    unit: str = ""
    note: str = ""

    def describe(self) -> str:
        """The bound as the README and error messages say it."""
        if self.kind is LimitKind.CHARS:
            return f"at most {self.high:g} characters"
        if self.kind is LimitKind.ENTRIES:
            return (f"{self.low:g} to {self.high:g} entries" if self.low
                    else f"at most {self.high:g} entries")
        low = f"above {self.low:g}" if self.low_open else f"{self.low:g}"
        unit = f" {self.unit}" if self.unit else ""
        if self.low_open:
            return f"finite, {low} and at most {self.high:g}{unit}"
        return f"finite, {low} to {self.high:g}{unit}"


_C, _E, _R = LimitKind.CHARS, LimitKind.ENTRIES, LimitKind.RANGE
DAY_S = 86_400.0
FAR_S = 1e10
"""Latest coordinator-clock time accepted, seconds (Unix time in the year 2286)."""

ID = Limit("every id: mission_id, task_id, depends_on[], load_id, part_load_id, program, "
           "robot_id, order_id", _C, ID_CHARS,
           note="letters, digits, '.', '_', '-', starting with a letter or digit")
STATION = Limit("every station id: pickup_station, dropoff_station, cell_station, "
                "charger_station, station", _C, 128)
LABELS = Limit("labels (Submit, SubmitOrder, List)", _E, 32)
LABEL_KEY = Limit("labels key", _C, 64)
LABEL_VALUE = Limit("labels value", _C, 256)
REASON = Limit("reason (Cancel, PauseRobot)", _C, 200)
TASKS = Limit("mission.tasks", _E, 1000, low=1)
DEPENDS_ON = Limit("mission.tasks[].depends_on", _E, 1000)
PRIORITY = Limit("priority (Submit, SubmitOrder)", _R, 1000, low=-1000)
DEADLINE = Limit("deadline_s (0: none)", _R, FAR_S, unit="s",
                 note="after release_s when both are set")
RELEASE = Limit("release_s (0: now)", _R, FAR_S, unit="s")
START_DELAY = Limit("mission.tasks[].start_delay_s", _R, 7 * DAY_S, unit="s")
WELD_DURATION = Limit("mission.tasks[].weld.duration_s", _R, DAY_S, low_open=True, unit="s")
MASS = Limit("mission.tasks[].transport.mass_kg", _R, 100_000, unit="kg")
PAGE_SIZE = Limit("page_size (0: 100)", _R, 1000)
PAGE_TOKEN = Limit("page_token", _C, 20)
LIST_STATES = Limit("states (List)", _E, 16)
AFTER_SEQ = Limit("after_seq (WatchEvents; -1: new events only)", _R, 2.0**62, low=-1)
ORDER_ID = Limit("order_id (SubmitOrder)", _C, 56, note="an id; units are ORDER_ID-N")
MODEL = Limit("model (SubmitOrder)", _C, 64)
UNITS = Limit("count (SubmitOrder; 0: 1)", _R, 1000)
SESSION = Limit("hello.session_id", _C, 128)
PAYLOAD = Limit("transport.max_payload_kg (Register)", _R, 100_000, low_open=True, unit="kg")
PROGRAMS = Limit("weld.programs (Register)", _E, 64)
RADIUS = Limit("footprint_radius_m (Register)", _R, 10, low_open=True, unit="m",
               note="and at most 0.45 planning cells")
SPEED = Limit("max_speed_mps (Register)", _R, 20, low_open=True, unit="m/s")
POSITION = Limit("pose.x, pose.y", _R, 1e5, low=-1e5, unit="m")
HEADING = Limit("pose.theta", _R, 1000, low=-1000, unit="rad")
STAMP = Limit("state.stamp_s", _R, FAR_S, unit="s")
STATE_SPEED = Limit("state.speed_mps", _R, 100, low=-100, unit="m/s")
FRACTION = Limit("state.battery, state.action_progress", _R, 1)
STATE_ID = Limit("state.path_id, state.action_id", _C, 128)
FAULTS = Limit("state.faults", _E, 32)
FAULT = Limit("state.faults[]", _C, 128)
BATCH = Limit("join, states, leave (one GatewayUpdate)", _E, 1000)
SIM_TIME = Limit("time_s (SimClock.Advance)", _R, FAR_S, unit="s")
WAIT = Limit("wait_timeout_s (SimClock.Advance; 0: 5)", _R, 600, unit="s")

LIMITS: tuple[Limit, ...] = (
    ID, STATION, LABELS, LABEL_KEY, LABEL_VALUE, REASON, TASKS, DEPENDS_ON, PRIORITY,
    DEADLINE, RELEASE, START_DELAY, WELD_DURATION, MASS, PAGE_SIZE, PAGE_TOKEN, LIST_STATES,
    AFTER_SEQ, ORDER_ID, MODEL, UNITS, SESSION, PAYLOAD, PROGRAMS, RADIUS, SPEED, POSITION,
    HEADING, STAMP, STATE_SPEED, FRACTION, STATE_ID, FAULTS, FAULT, BATCH, SIM_TIME, WAIT)
"""Every limit, in the order the README lists them."""


class _Check:
    """One request's check: collects the violations of each field against its limit."""

    def __init__(self) -> None:
        self.violations = Violations()

    def id(self, field: str, value: str, *, optional: bool = False) -> bool:
        if optional and not value:
            return True
        problem = id_problem(field, value)
        if problem:
            self.violations.add(field, problem,
                                Reason.REQUIRED if not value else Reason.INVALID_ID)
        return not problem

    def text(self, field: str, value: str, limit: Limit, *, required: bool = False) -> bool:
        if required and not value:
            self.violations.add(field, f"{field} is empty", Reason.REQUIRED)
            return False
        if len(value) > limit.high:
            self.violations.add(field, f"{field} {shorten(value)} is longer than "
                                f"{limit.high:g} characters", Reason.TOO_LONG)
            return False
        return True

    def entries(self, field: str, count: int, limit: Limit) -> bool:
        if count > limit.high:
            self.violations.add(field, f"{field} has {count} entries; at most "
                                f"{limit.high:g} are allowed", Reason.TOO_MANY)
            return False
        if count < limit.low:
            self.violations.add(field, f"{field} is empty; at least {limit.low:g} "
                                f"{'entry is' if limit.low == 1 else 'entries are'} needed",
                                Reason.REQUIRED)
            return False
        return True

    def number(self, field: str, value: float, limit: Limit) -> bool:
        if not math.isfinite(value):
            self.violations.add(field, f"{field} {value} is not a finite number",
                                Reason.NOT_FINITE)
            return False
        low_ok = value > limit.low if limit.low_open else value >= limit.low
        if not (low_ok and value <= limit.high):
            self.violations.add(field, f"{field} {shorten(value)} is out of range: "
                                f"{limit.describe()}", Reason.OUT_OF_RANGE)
            return False
        return True

    def enum(self, field: str, value: int, known: Iterable[int], *,
             unset_ok: bool = False) -> None:
        values = known if isinstance(known, frozenset) else frozenset(known)
        if value not in values or (value == 0 and not unset_ok):
            self.violations.add(field, f"{field} {value} is not one of the contract's values"
                                + ("" if value else " (it is unset)"), Reason.UNKNOWN_ENUM)

    def labels(self, field: str, labels: Mapping[str, str]) -> None:
        if not self.entries(field, len(labels), LABELS):
            return
        for key, value in sorted(labels.items()):
            self.text(f"{field} key", key, LABEL_KEY, required=True)
            self.text(f"{field}[{shorten(key, 32)}]", value, LABEL_VALUE)

    def times(self, where: str, release_s: float, deadline_s: float) -> None:
        release_ok = self.number(f"{where}release_s", release_s, RELEASE)
        deadline_ok = self.number(f"{where}deadline_s", deadline_s, DEADLINE)
        if release_ok and deadline_ok and deadline_s and deadline_s <= release_s:
            self.violations.add(f"{where}deadline_s",
                                f"{where}deadline_s {deadline_s:g} is not after {where}"
                                f"release_s {release_s:g}", Reason.INCONSISTENT)

    def pose(self, field: str, pose: common_pb2.Pose) -> None:
        self.number(f"{field}.x", pose.x, POSITION)
        self.number(f"{field}.y", pose.y, POSITION)
        self.number(f"{field}.theta", pose.theta, HEADING)


# -- one function per request message ---------------------------------------------------------

def _submit(c: _Check, request: missions_pb2.SubmitMissionRequest) -> None:
    if not request.HasField("mission"):
        c.violations.add("mission", "mission is required", Reason.REQUIRED)
        return
    m = request.mission
    c.id("mission.mission_id", m.mission_id, optional=True)
    c.number("mission.priority", m.priority, PRIORITY)
    c.times("mission.", m.release_s, m.deadline_s)
    c.labels("mission.labels", m.labels)
    if not c.entries("mission.tasks", len(m.tasks), TASKS):
        return
    for i, t in enumerate(m.tasks):
        _task(c, f"mission.tasks[{i}]", t)
    _parts_brought(c, m)


def _task(c: _Check, where: str, t: missions_pb2.TaskSpec) -> None:
    c.id(f"{where}.task_id", t.task_id)
    if c.entries(f"{where}.depends_on", len(t.depends_on), DEPENDS_ON):
        for k, dep in enumerate(t.depends_on):
            c.id(f"{where}.depends_on[{k}]", dep)
    c.number(f"{where}.start_delay_s", t.start_delay_s, START_DELAY)
    kind = t.WhichOneof("kind")
    if kind == "transport":
        tr = t.transport
        c.text(f"{where}.transport.pickup_station", tr.pickup_station, STATION, required=True)
        c.text(f"{where}.transport.dropoff_station", tr.dropoff_station, STATION,
               required=True)
        c.id(f"{where}.transport.load_id", tr.load_id)
        c.number(f"{where}.transport.mass_kg", tr.mass_kg, MASS)
    elif kind == "weld":
        w = t.weld
        c.text(f"{where}.weld.cell_station", w.cell_station, STATION, required=True)
        c.id(f"{where}.weld.program", w.program)
        c.number(f"{where}.weld.duration_s", w.duration_s, WELD_DURATION)
        c.id(f"{where}.weld.part_load_id", w.part_load_id, optional=True)
    elif kind == "charge":
        c.id(f"{where}.charge.robot_id", t.charge.robot_id)
        c.text(f"{where}.charge.charger_station", t.charge.charger_station, STATION,
               required=True)
    elif kind == "park":
        c.id(f"{where}.park.robot_id", t.park.robot_id)
        c.text(f"{where}.park.station", t.park.station, STATION, required=True)
    else:
        c.violations.add(where, f"{where} is none of transport, weld, charge, park",
                         Reason.REQUIRED)


def _parts_brought(c: _Check, m: missions_pb2.MissionSpec) -> None:
    """A weld that waits for a part needs a transport of its mission bringing that part to
    its cell: nothing else ever puts a part into a cell's fixture."""
    brought = {(t.transport.load_id, t.transport.dropoff_station) for t in m.tasks
               if t.WhichOneof("kind") == "transport"}
    for i, t in enumerate(m.tasks):
        if t.WhichOneof("kind") != "weld" or not t.weld.part_load_id:
            continue
        w = t.weld
        if (w.part_load_id, w.cell_station) not in brought:
            field = f"mission.tasks[{i}].weld.part_load_id"
            c.violations.add(field, f"{field} {shorten(w.part_load_id)}: no transport of this "
                             f"mission brings it to {shorten(w.cell_station)}, so the weld "
                             "would wait for ever", Reason.PART_NEVER_BROUGHT)


def _cancel(c: _Check, request: missions_pb2.CancelMissionRequest) -> None:
    c.id("mission_id", request.mission_id)
    c.text("reason", request.reason, REASON)


def _get(c: _Check, request: missions_pb2.GetMissionRequest) -> None:
    c.id("mission_id", request.mission_id)


def _list(c: _Check, request: missions_pb2.ListMissionsRequest) -> None:
    if c.entries("states", len(request.states), LIST_STATES):
        for k, state in enumerate(request.states):
            c.enum(f"states[{k}]", state, missions_pb2.MissionStateValue.values())
    c.labels("labels", request.labels)
    c.number("page_size", request.page_size, PAGE_SIZE)
    if c.text("page_token", request.page_token, PAGE_TOKEN) and request.page_token \
            and not request.page_token.isdigit():
        c.violations.add("page_token", f"page_token {shorten(request.page_token)} is not one "
                         "this server gave", Reason.INVALID_INPUT)


def _watch(c: _Check, request: missions_pb2.WatchEventsRequest) -> None:
    c.id("mission_id", request.mission_id, optional=True)
    c.number("after_seq", request.after_seq, AFTER_SEQ)


def _order(c: _Check, request: missions_pb2.SubmitOrderRequest) -> None:
    if c.id("order.order_id", request.order_id):
        c.text("order.order_id", request.order_id, ORDER_ID)
    c.text("order.model", request.model, MODEL, required=True)
    c.number("order.count", request.count, UNITS)
    c.number("order.priority", request.priority, PRIORITY)
    c.times("order.", request.release_s, request.deadline_s)
    c.labels("order.labels", request.labels)


def _pause(c: _Check, request: fleet_pb2.PauseRobotRequest) -> None:
    c.id("robot_id", request.robot_id)
    c.text("reason", request.reason, REASON)


def _resume(c: _Check, request: fleet_pb2.ResumeRobotRequest) -> None:
    c.id("robot_id", request.robot_id)


def _register(c: _Check, request: robot_link_pb2.RegisterRequest, where: str = "") -> None:
    c.id(f"{where}robot_id", request.robot_id)
    c.enum(f"{where}kind", request.kind, common_pb2.RobotKind.values())
    c.number(f"{where}footprint_radius_m", request.footprint_radius_m, RADIUS)
    c.number(f"{where}max_speed_mps", request.max_speed_mps, SPEED)
    if request.HasField("pose"):
        c.pose(f"{where}pose", request.pose)
    else:
        c.violations.add(f"{where}pose", f"{where}pose is required", Reason.REQUIRED)
    if request.HasField("transport"):
        c.number(f"{where}transport.max_payload_kg", request.transport.max_payload_kg,
                 PAYLOAD)
    if request.HasField("weld") and c.entries(f"{where}weld.programs",
                                              len(request.weld.programs), PROGRAMS):
        for k, program in enumerate(request.weld.programs):
            c.id(f"{where}weld.programs[{k}]", program)


def _hello(c: _Check, request: robot_link_pb2.Hello) -> None:
    c.id("hello.robot_id", request.robot_id)
    c.text("hello.session_id", request.session_id, SESSION, required=True)


_MODES = frozenset(common_pb2.RobotMode.values())
_ACTION_STATUSES = frozenset(common_pb2.ActionStatus.values())
_STATE_FIELDS = ("robot_id", "stamp_s", "pose", "speed_mps", "battery", "action_progress",
                 "mode", "action_status", "path_id", "action_id", "load_id", "faults")


@functools.lru_cache(maxsize=64)
def _state_names(where: str) -> tuple[str, ...]:
    """The state's field names under `where` (every robot state is checked: a gateway
    passes thousands a second, so the names are not built again for each)."""
    return tuple(f"{where}{name}" for name in _STATE_FIELDS)


def _state(c: _Check, s: robot_link_pb2.RobotState, where: str = "state.") -> None:
    (robot_id, stamp, pose, speed, battery, progress, mode, status, path_id, action_id,
     load_id, faults) = _state_names(where)
    c.id(robot_id, s.robot_id)
    c.number(stamp, s.stamp_s, STAMP)
    c.pose(pose, s.pose)
    c.number(speed, s.speed_mps, STATE_SPEED)
    c.number(battery, s.battery, FRACTION)
    c.number(progress, s.action_progress, FRACTION)
    c.enum(mode, s.mode, _MODES, unset_ok=True)
    c.enum(status, s.action_status, _ACTION_STATUSES, unset_ok=True)
    c.text(path_id, s.path_id, STATE_ID)
    c.text(action_id, s.action_id, STATE_ID)
    c.id(load_id, s.load_id, optional=True)
    if c.entries(faults, len(s.faults), FAULTS):
        for k, fault in enumerate(s.faults):
            c.text(f"{faults}[{k}]", fault, FAULT)


def _gateway(c: _Check, update: robot_link_pb2.GatewayUpdate) -> None:
    """Only the batch sizes: each joining robot and each state is checked on its own, so one
    bad robot ends its own link, not the gateway's stream."""
    c.entries("join", len(update.join), BATCH)
    c.entries("states", len(update.states), BATCH)
    c.entries("leave", len(update.leave), BATCH)


def _advance(c: _Check, request: simulation_pb2.AdvanceRequest) -> None:
    c.number("time_s", request.time_s, SIM_TIME)
    c.number("wait_timeout_s", request.wait_timeout_s, WAIT)


def _nothing(c: _Check, request: Message) -> None:
    """Requests without fields to bound."""


_CHECKS: dict[type[Message], Callable[[_Check, Any], None]] = {
    missions_pb2.SubmitMissionRequest: _submit,
    missions_pb2.CancelMissionRequest: _cancel,
    missions_pb2.GetMissionRequest: _get,
    missions_pb2.ListMissionsRequest: _list,
    missions_pb2.WatchEventsRequest: _watch,
    missions_pb2.SubmitOrderRequest: _order,
    fleet_pb2.PauseRobotRequest: _pause,
    fleet_pb2.ResumeRobotRequest: _resume,
    fleet_pb2.ListRobotsRequest: _nothing,
    fleet_pb2.GetFloorMapRequest: _nothing,
    fleet_pb2.ListCapabilitiesRequest: _nothing,
    robot_link_pb2.RegisterRequest: _register,
    robot_link_pb2.Hello: _hello,
    robot_link_pb2.RobotState: _state,
    robot_link_pb2.GatewayUpdate: _gateway,
    simulation_pb2.AdvanceRequest: _advance,
}


def check(request: Message) -> None:
    """Check one request (or stream message) against every limit; InvalidInputError listing
    every violation found if any is broken. Every message type the services take is known
    here: a new one without a check is a KeyError in the tests, not an unchecked input."""
    c = _Check()
    _CHECKS[type(request)](c, request)
    c.violations.raise_if_any()


def checked_types() -> frozenset[type[Message]]:
    """The message types `check` knows (a test compares them with the services' inputs)."""
    return frozenset(_CHECKS)

