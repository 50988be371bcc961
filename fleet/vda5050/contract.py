"""VDA 5050 for fleet: topics, QoS, schema checks, and the translation both ways.

Everything here is plain data in and out, no sockets and no clock (times come in as values),
so the whole mapping is unit-tested against the official JSON schemas. `fleet.vda5050.master`
does the I/O.

The mapping (the README's "VDA 5050 vehicles" has it for integrators):

- `FollowPath` with a new `path_id`: a new `order`, `orderId` `path:<path_id>`,
  `orderUpdateId` 0; node 0 where the vehicle stands, node i is waypoint i (`sequenceId` 2i,
  `nodePosition` in the map frame, `mapId` the floor's name), the edge into waypoint i has
  `sequenceId` 2i-1 and `maxSpeed` from the waypoint's speed limit.
- `FollowPath.planned` (the plan after the released waypoints): the horizon, nodes and
  edges with `released` false that continue the numbering (waypoint i keeps `sequenceId`
  2i when it is released later), at most `horizon_nodes` of them. Empty once the path is
  `complete`.
- `FollowPath` with the same `path_id`: the same `orderId`, the next `orderUpdateId`; its
  nodes start with the last base node (stitching, `released`), then the newly released
  nodes and edges, then the new horizon, which replaces the one before (the standard's
  order-update rules). An update that changes only the horizon is sent too.
- `PerformAction`: an order of one node where the vehicle stands, `orderId`
  `action:<action_id>`, with the node action `pick` / `drop` (`loadId`, `stationName`),
  `weld` (`program`, `duration`, `stationName`) or `startCharging` (`duration`).
- `Pause` / `Resume`: instant actions `startPause` / `stopPause`. `Cancel`: `cancelOrder`
  while an action order runs (`stopCharging` for a charge); a path's released base is driven
  to its end, as RobotLink's Cancel says.
- State up: `agvPosition`, `velocity`, `batteryState.batteryCharge` / 100; `orderId` and
  `lastNodeSequenceId` / 2 give `path_id` and `waypoints_reached`; `actionStates` the action
  status; `loads[0].loadId`; FATAL `errors` and order rejections are faults; a
  `safetyState` with `eStop` other than NONE or `fieldViolation` is PAUSED (with the fault
  text `safety stop: ...`) unless it is a fault anyway. `visualization` moves the last
  state to a newer position (`read_position`).
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from fleet.v1 import common_pb2, robot_link_pb2

__all__ = [
    "DEFAULT_VERSION",
    "REJECTION_ERRORS",
    "MalformedMessage",
    "Outgoing",
    "Protocol",
    "StateReading",
    "Topic",
    "Translator",
    "VehicleKey",
    "VehicleSpec",
    "read_timestamp",
    "register_request",
    "timestamp",
    "vehicle_from_factsheet",
]


class MalformedMessage(ValueError):
    """A message that breaks the standard or fleet's use of it; logged, counted, dropped."""


class Topic(enum.Enum):
    """The standard's topics (the last level of the topic name)."""

    ORDER = "order"
    INSTANT_ACTIONS = "instantActions"
    STATE = "state"
    VISUALIZATION = "visualization"
    CONNECTION = "connection"
    FACTSHEET = "factsheet"

    @property
    def qos(self) -> int:
        """QoS the standard asks for: 1 for `connection` (with the last will), else 0."""
        return 1 if self is Topic.CONNECTION else 0

    @property
    def retained(self) -> bool:
        """`connection` is retained so that a master starting later learns who is online."""
        return self in (Topic.CONNECTION, Topic.FACTSHEET)


@dataclass(frozen=True, slots=True)
class Protocol:
    """A version of the standard: its schemas, `version` field and topic prefix."""

    version: str = "2.1"
    """The schema version, a folder of `fleet/vda5050/schemas/`: '2.1' or '3.0'."""
    interface_name: str = "uagv"

    @property
    def major(self) -> str:
        """The topic's major version level, 'v2' for 2.1."""
        return "v" + self.version.split(".")[0]

    @property
    def version_field(self) -> str:
        """The `version` header field, '2.1.0' for 2.1."""
        return self.version + ".0"

    def topic(self, key: VehicleKey, topic: Topic) -> str:
        """`{interfaceName}/{majorVersion}/{manufacturer}/{serialNumber}/{topic}`."""
        return f"{self.interface_name}/{self.major}/{key.manufacturer}/{key.serial_number}/" \
               f"{topic.value}"

    def subscription(self, topic: Topic, manufacturer: str = "+") -> str:
        """The topic filter for `topic` of every vehicle (of one manufacturer)."""
        return f"{self.interface_name}/{self.major}/{manufacturer}/+/{topic.value}"

    def parse_topic(self, name: str) -> tuple[VehicleKey, Topic]:
        """(vehicle, topic) of a topic name; MalformedMessage if it is not one of ours."""
        parts = name.split("/")
        if len(parts) != 5 or parts[0] != self.interface_name or parts[1] != self.major:
            raise MalformedMessage(f"topic {name!r} is not {self.interface_name}/{self.major}/"
                                   "MANUFACTURER/SERIAL/TOPIC")
        try:
            topic = Topic(parts[4])
        except ValueError as err:
            raise MalformedMessage(f"topic {name!r}: unknown topic {parts[4]!r}") from err
        return VehicleKey(parts[2], parts[3]), topic

    def validate(self, topic: Topic, doc: Any) -> dict[str, Any]:
        """`doc` if it satisfies the official schema of `topic`, else MalformedMessage.

        Checked by the schema compiled with fastjsonschema where installed (about 50 times
        faster: 20 us for a state), by jsonschema otherwise; a failure is described by
        jsonschema either way. Tests check that both agree.
        """
        fast = _fast_validator(self.version, topic.value)
        if fast is not None:
            try:
                fast(doc)
            except Exception:  # fastjsonschema's JsonSchemaException: described below
                pass
            else:
                checked_fast: dict[str, Any] = doc
                return checked_fast
        errors = sorted(_validator(self.version, topic.value).iter_errors(doc),
                        key=lambda e: list(e.absolute_path))
        if errors:
            err = errors[0]
            where = "/".join(str(p) for p in err.absolute_path) or "(message)"
            raise MalformedMessage(f"{topic.value}: {where}: {err.message}")
        checked: dict[str, Any] = doc
        return checked

    def encode(self, topic: Topic, doc: dict[str, Any]) -> bytes:
        """The payload of `doc`, checked against the schema before it leaves."""
        return json.dumps(self.validate(topic, doc), separators=(",", ":")).encode()

    def decode(self, topic: Topic, payload: bytes) -> dict[str, Any]:
        """The document of a payload, checked against the schema of `topic`."""
        try:
            doc = json.loads(payload)
        except ValueError as err:
            raise MalformedMessage(f"{topic.value}: not JSON: {err}") from err
        return self.validate(topic, doc)

    def header(self, key: VehicleKey, header_id: int, now_s: float) -> dict[str, Any]:
        """The header fields every message carries."""
        return {"headerId": header_id, "timestamp": timestamp(now_s),
                "version": self.version_field, "manufacturer": key.manufacturer,
                "serialNumber": key.serial_number}


DEFAULT_VERSION = Protocol()


@cache
def _schema(version: str, name: str) -> dict[str, Any]:
    folder = resources.files("fleet.vda5050") / "schemas" / f"v{version}"
    if not folder.is_dir():
        raise MalformedMessage(f"VDA 5050 version {version!r}: no schemas (have 2.1, 3.0)")
    loaded: dict[str, Any] = json.loads((folder / f"{name}.schema").read_text())
    return loaded


@cache
def _validator(version: str, name: str) -> Any:
    import jsonschema

    schema = _schema(version, name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@cache
def _fast_validator(version: str, name: str) -> Any:
    """The schema compiled to Python by fastjsonschema, None if it is not installed.

    fastjsonschema knows drafts 4, 6 and 7; the VDA 5050 schemas say 2020-12 but use only
    draft-7 keywords (type, enum, required, properties, items, $ref, if/then, const, ranges),
    so they compile as draft 7. Formats are not checked, as jsonschema does by default.
    """
    try:
        import fastjsonschema
    except ImportError:
        return None
    schema = dict(_schema(version, name))
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return fastjsonschema.compile(schema, use_formats=False)


@dataclass(frozen=True, slots=True)
class VehicleKey:
    """A vehicle as the standard names it."""

    manufacturer: str
    serial_number: str


# ------------------------------------------------------------------------- time
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ISO = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d):(\d\d(?:\.\d+)?)(Z|[+-]\d\d:\d\d)$")


def timestamp(epoch_s: float) -> str:
    """ISO 8601 UTC with milliseconds, as the standard's examples ('...T11:40:03.123Z').

    Simulated vehicles stamp simulated seconds after the epoch: the coordinator's simulated
    clock then reads them back unchanged.
    """
    ms = round(epoch_s * 1000.0)
    whole = datetime.fromtimestamp(ms // 1000, UTC)
    return whole.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def read_timestamp(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 timestamp; MalformedMessage if it is not one."""
    m = _ISO.match(text)
    if m is None:
        raise MalformedMessage(f"timestamp {text!r} is not ISO 8601 with seconds and a zone")
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    try:
        minute = datetime.fromisoformat(m.group(1) + ":00" + zone)
    except ValueError as err:
        raise MalformedMessage(f"timestamp {text!r}: {err}") from err
    return round((minute - _EPOCH).total_seconds(), 6) + float(m.group(2))


# ------------------------------------------------------------------------- vehicles
_ROBOT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_KINDS = {"agv": common_pb2.ROBOT_KIND_AGV, "mobile_welder": common_pb2.ROBOT_KIND_MOBILE_WELDER,
          "fixed_welder": common_pb2.ROBOT_KIND_FIXED_WELDER}


@dataclass(frozen=True, slots=True)
class VehicleSpec:
    """What fleet registers for a vehicle (from a vehicles file or its factsheet)."""

    key: VehicleKey
    robot_id: str
    kind: str = "agv"
    """agv, mobile_welder or fixed_welder."""
    footprint_radius_m: float = 0.5
    max_speed_mps: float = 1.0
    max_payload_kg: float = 0.0
    """Positive for vehicles that carry loads."""
    weld_programs: tuple[str, ...] = ()

    @staticmethod
    def from_document(doc: Mapping[str, Any], where: str = "vehicle") -> VehicleSpec:
        """A vehicle from a vehicles-file entry (`manufacturer`, `serial_number`, optional
        `robot_id` (default the serial number), `kind`, `footprint_radius_m`,
        `max_speed_mps`, `max_payload_kg`, `weld_programs`)."""
        try:
            key = VehicleKey(str(doc["manufacturer"]), str(doc["serial_number"]))
            spec = VehicleSpec(
                key=key, robot_id=str(doc.get("robot_id", key.serial_number)),
                kind=str(doc.get("kind", "agv")),
                footprint_radius_m=float(doc.get("footprint_radius_m", 0.5)),
                max_speed_mps=float(doc.get("max_speed_mps", 1.0)),
                max_payload_kg=float(doc.get("max_payload_kg", 0.0)),
                weld_programs=tuple(str(p) for p in doc.get("weld_programs", ())))
        except (KeyError, TypeError, ValueError) as err:
            raise MalformedMessage(f"{where}: {err!r}") from err
        if spec.kind not in _KINDS:
            raise MalformedMessage(f"{where}: kind {spec.kind!r} is not one of {sorted(_KINDS)}")
        if not _ROBOT_ID.match(spec.robot_id):
            raise MalformedMessage(f"{where}: robot_id {spec.robot_id!r} is not 1-64 letters, "
                                   "digits, '-', '_' or '.'")
        return spec


def vehicle_from_factsheet(doc: Mapping[str, Any]) -> VehicleSpec:
    """A vehicle from its (validated) factsheet.

    Top speed from `physicalParameters.speedMax`, the footprint radius from half the diagonal
    of `width` x `length`, payload from `typeSpecification.maxLoadMass`; a vehicle whose
    `agvActions` list `weld` is a mobile welder, its programs listed (comma-separated) in the
    `description` of the weld action's `program` parameter (fleet's convention: the standard
    has no field for it). The robot id is the serial number.
    """
    key = VehicleKey(doc["manufacturer"], doc["serialNumber"])
    physical = doc["physicalParameters"]
    actions = {a["actionType"]: a for a in doc["protocolFeatures"]["agvActions"]}
    programs: tuple[str, ...] = ()
    kind = "agv"
    if "weld" in actions:
        kind = "mobile_welder"
        for p in actions["weld"].get("actionParameters", []):
            if p["key"] == "program":
                programs = tuple(s.strip() for s in p.get("description", "").split(",")
                                 if s.strip())
    payload = float(doc["typeSpecification"]["maxLoadMass"]) if "pick" in actions else 0.0
    return VehicleSpec.from_document({
        "manufacturer": key.manufacturer, "serial_number": key.serial_number, "kind": kind,
        "footprint_radius_m": math.hypot(physical["width"], physical["length"]) / 2,
        "max_speed_mps": physical["speedMax"], "max_payload_kg": payload,
        "weld_programs": programs}, where=f"factsheet of {key.serial_number}")


def register_request(spec: VehicleSpec, pose: common_pb2.Pose
                     ) -> robot_link_pb2.RegisterRequest:
    """The RobotLink registration of a vehicle standing at `pose`."""
    req = robot_link_pb2.RegisterRequest(
        robot_id=spec.robot_id, kind=_KINDS[spec.kind],
        footprint_radius_m=spec.footprint_radius_m, max_speed_mps=spec.max_speed_mps,
        pose=pose)
    if spec.max_payload_kg > 0:
        req.transport.max_payload_kg = spec.max_payload_kg
    if spec.weld_programs:
        req.weld.programs.extend(spec.weld_programs)
    return req


# ------------------------------------------------------------------------- orders
REJECTION_ERRORS = ("validationError", "orderError", "orderUpdateError", "noRouteError")
"""The errorTypes with which the standard has a vehicle reject an order."""

_PATH = "path:"
_ACTION = "action:"
_RECOVER = "recover:"


def node_sequence(index: int) -> int:
    """sequenceId of waypoint `index` (nodes are even)."""
    return 2 * index


def edge_sequence(index: int) -> int:
    """sequenceId of the edge into waypoint `index` (edges are odd)."""
    return 2 * index - 1


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message for a vehicle, without its header (the sender adds it)."""

    topic: Topic
    body: dict[str, Any]


@dataclass(slots=True)
class _Point:
    x: float
    y: float
    theta: float | None
    max_speed_mps: float


@dataclass(slots=True)
class _Order:
    """An order as sent: its points (index 0 where the vehicle stood) and how far sent."""

    order_id: str
    points: list[_Point]
    update_id: int = 0
    actions: list[dict[str, Any]] = field(default_factory=list)
    path_id: str = ""
    action_id: str = ""
    action_kind: int = 0
    complete: bool = False
    acknowledged: bool = False
    horizon: list[_Point] = field(default_factory=list)
    """Planned, not released points after the last base point (waypoints end+1, ...)."""
    rejected: bool = False
    """The vehicle rejected it: never sent again (the coordinator's failure rules decide)."""

    @property
    def end(self) -> int:
        return len(self.points) - 1


@dataclass(slots=True)
class StateReading:
    """What a vehicle's state says, for fleet."""

    state: robot_link_pb2.RobotState
    """The RobotState (robot_id and seq are the sender's to fill in)."""
    operating_mode: str
    automatic: bool
    """True in AUTOMATIC or SEMIAUTOMATIC: only then does the vehicle get orders."""
    restarted: bool = False
    """The vehicle has forgotten an order it had acknowledged (its software restarted)."""
    behind: bool = False
    """The vehicle has not got the latest order update (lost on the way): send it again."""
    rejections: list[str] = field(default_factory=list)
    new_rejection: bool = False
    """The vehicle has just rejected the order in force (it will not drive it)."""
    new_base_request: bool = False
    safety_stop: str = ""
    """Why the vehicle's safety stopped it (`safetyState.eStop` not NONE, a protective
    field violated), "" while it is clear."""


def _same(a: Sequence[_Point], b: Sequence[_Point]) -> bool:
    return len(a) == len(b) and all(abs(p.x - q.x) <= 1e-6 and abs(p.y - q.y) <= 1e-6
                                    for p, q in zip(a, b, strict=True))


def _normal(theta: float) -> float:
    return math.atan2(math.sin(theta), math.cos(theta))


def _parameters(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": v} for k, v in values.items() if v not in ("", None)]


class Translator:
    """One vehicle's translation: RobotLink commands to orders and instant actions, and its
    state to RobotState. Keeps the orders it sent, to extend them, send them again after a
    loss, and tell a restarted vehicle from one that is behind."""

    def __init__(self, key: VehicleKey, map_id: str, horizon_nodes: int = 20) -> None:
        """`horizon_nodes`: at most this many planned, unreleased nodes in an order's
        horizon (0: none)."""
        self.key = key
        self.map_id = map_id
        self.horizon_nodes = horizon_nodes
        self.order: _Order | None = None
        self.action_states: dict[str, common_pb2.ActionStatus] = {}
        """Last known status of each action sent (kept after the vehicle forgets it)."""
        self.last_action_id = ""
        self.last_action_kind = 0
        self.pose = common_pb2.Pose()
        self.dropped: list[str] = []
        self._instant = 0
        self._recoveries = 0
        self._last_header = -1

    # ---------------------------------------------------------------- commands down
    def command(self, command: robot_link_pb2.RobotCommand) -> list[Outgoing]:
        """What to send the vehicle for one command (nothing if it needs nothing)."""
        body = command.WhichOneof("body")
        if body == "follow_path":
            return self._follow(command.follow_path)
        if body == "action":
            return self._action(command.action)
        if body == "pause":
            return [self._instant_action("startPause", command.seq)]
        if body == "resume":
            return [self._instant_action("stopPause", command.seq)]
        if body == "cancel":
            order = self.order
            if order is None or not order.action_id:
                return []  # a path's released base is driven to its end: nothing to drop
            status = self.action_states.get(order.action_id, common_pb2.ACTION_STATUS_RUNNING)
            if status != common_pb2.ACTION_STATUS_RUNNING:
                return []
            if order.action_kind == robot_link_pb2.ACTION_KIND_CHARGE:
                return [self._instant_action("stopCharging", command.seq)]
            return [self._instant_action("cancelOrder", command.seq)]
        self.dropped.append(f"command {command.seq} has no body")
        return []

    def _instant_action(self, action_type: str, seq: int) -> Outgoing:
        self._instant += 1
        return Outgoing(Topic.INSTANT_ACTIONS, {"actions": [{
            "actionId": f"{action_type}-{seq}.{self._instant}", "actionType": action_type,
            "blockingType": "HARD"}]})

    def _here(self) -> _Point:
        return _Point(self.pose.x, self.pose.y, None, 0.0)

    def _follow(self, fp: robot_link_pb2.FollowPath) -> list[Outgoing]:
        order = self.order
        new = [_Point(w.x, w.y, None, w.max_speed_mps) for w in fp.waypoints]
        if fp.complete and new:
            new[-1].theta = _normal(fp.waypoints[-1].theta)
        horizon = [] if fp.complete else [
            _Point(w.x, w.y, None, w.max_speed_mps) for w in fp.planned[:self.horizon_nodes]]
        if order is None or order.path_id != fp.path_id:
            if fp.first_index != 1:
                self.dropped.append(f"path {fp.path_id} starts at waypoint {fp.first_index}")
                return []
            order = _Order(_PATH + fp.path_id, [self._here(), *new], path_id=fp.path_id,
                           complete=fp.complete, horizon=horizon)
            self.order = order
            return [Outgoing(Topic.ORDER, self._order_body(order, 0))]
        first = fp.first_index
        if first <= order.end:
            # Released again: the base cannot change, only the part already sent may repeat.
            overlap = order.points[first:first + len(new)]
            if any(abs(a.x - b.x) > 1e-6 or abs(a.y - b.y) > 1e-6 for a, b in
                   zip(overlap, new, strict=False)):
                self.dropped.append(f"path {fp.path_id} rewrites released waypoints from "
                                    f"{first}")
                return []
            new = new[order.end - first + 1:]
            first = order.end + 1
        if first != order.end + 1:
            self.dropped.append(f"path {fp.path_id}: waypoint {first} after {order.end}")
            return []
        if not new and fp.complete == order.complete and _same(horizon, order.horizon):
            return []
        base_end = order.end
        order.points.extend(new)
        order.complete = fp.complete
        order.horizon = horizon
        order.update_id += 1
        return [Outgoing(Topic.ORDER, self._order_body(order, base_end))]

    def _action(self, a: robot_link_pb2.PerformAction) -> list[Outgoing]:
        duration = a.duration_s if a.duration_s > 0 else None
        if a.kind in (robot_link_pb2.ACTION_KIND_PICK, robot_link_pb2.ACTION_KIND_DROP):
            action_type = "pick" if a.kind == robot_link_pb2.ACTION_KIND_PICK else "drop"
            params = _parameters({"loadId": a.load_id, "stationName": a.station_id,
                                  "duration": duration})
        elif a.kind == robot_link_pb2.ACTION_KIND_WELD:
            action_type = "weld"
            params = _parameters({"program": a.program, "duration": duration,
                                  "stationName": a.station_id})
        elif a.kind == robot_link_pb2.ACTION_KIND_CHARGE:
            action_type = "startCharging"
            params = _parameters({"duration": duration, "stationName": a.station_id})
        else:
            self.dropped.append(f"action {a.action_id} of unknown kind {a.kind}")
            return []
        action: dict[str, Any] = {"actionId": a.action_id, "actionType": action_type,
                                  "blockingType": "HARD"}
        if params:
            action["actionParameters"] = params
        order = _Order(_ACTION + a.action_id, [self._here()], actions=[action],
                       action_id=a.action_id, action_kind=a.kind, complete=True)
        self.order = order
        self.action_states[a.action_id] = common_pb2.ACTION_STATUS_RUNNING
        self.last_action_id, self.last_action_kind = a.action_id, a.kind
        while len(self.action_states) > 64:
            self.action_states.pop(next(iter(self.action_states)))
        return [Outgoing(Topic.ORDER, self._order_body(order, 0))]

    def _order_body(self, order: _Order, base_end: int) -> dict[str, Any]:
        """The order (update) from node `base_end` (the stitching node): the base to its
        end, then the horizon."""
        nodes, edges = [], []
        points = order.points + order.horizon
        for i in range(base_end, len(points)):
            p = points[i]
            released = i <= order.end
            position: dict[str, Any] = {"x": p.x, "y": p.y, "mapId": self.map_id}
            if p.theta is not None:
                position["theta"] = p.theta
            nodes.append({"nodeId": f"n{i}", "sequenceId": node_sequence(i),
                          "released": released, "nodePosition": position,
                          "actions": list(order.actions) if i == order.end else []})
            if i > base_end:
                edge: dict[str, Any] = {
                    "edgeId": f"e{i}", "sequenceId": edge_sequence(i), "released": released,
                    "startNodeId": f"n{i - 1}", "endNodeId": f"n{i}", "actions": []}
                if p.max_speed_mps > 0:
                    edge["maxSpeed"] = p.max_speed_mps
                edges.append(edge)
        return {"orderId": order.order_id, "orderUpdateId": order.update_id, "nodes": nodes,
                "edges": edges}

    def catch_up(self, vehicle_base_end: int) -> list[Outgoing]:
        """The latest order update again, stitched on the vehicle's last base node
        (`vehicle_base_end`, a waypoint index; -1: the vehicle has not got this order)."""
        order = self.order
        if order is None:
            return []
        base = 0 if vehicle_base_end < 0 else min(vehicle_base_end, order.end)
        return [Outgoing(Topic.ORDER, self._order_body(order, base))]

    def recovery(self, reached: int) -> list[Outgoing]:
        """After the vehicle restarted mid-path (it forgot its order): the released
        waypoints after `reached` as a new order from where it stands. Empty if none."""
        order = self.order
        if (self.last_action_id and self.action_states.get(self.last_action_id)
                == common_pb2.ACTION_STATUS_RUNNING):
            # It forgot the action too: report none, so that the coordinator sends it again.
            self.action_states.pop(self.last_action_id)
            self.last_action_id, self.last_action_kind = "", 0
        if order is None or not order.path_id:
            self.order = None
            return []
        # Its last report may lag: at least the last released waypoint, unless it is there.
        rest_points = order.points[min(reached + 1, order.end):]
        last = order.points[order.end]
        if math.hypot(last.x - self.pose.x, last.y - self.pose.y) < 1e-3 and \
                len(rest_points) <= 1:
            self.order = None
            return []
        self._recoveries += 1
        rest = _Order(f"{_RECOVER}{order.path_id}:{self._recoveries}",
                      [self._here(), *rest_points], complete=True)
        self.order = rest
        return [Outgoing(Topic.ORDER, self._order_body(rest, 0))]

    @property
    def recovering(self) -> bool:
        """True while a recovery order is the vehicle's order."""
        return self.order is not None and self.order.order_id.startswith(_RECOVER)

    # ---------------------------------------------------------------- state up
    def read_state(self, doc: Mapping[str, Any]) -> StateReading:
        """Fleet's reading of a (validated) state message.

        MalformedMessage if it has no initialized position on the coordinator's map.
        """
        position = doc.get("agvPosition")
        if position is None or not position["positionInitialized"]:
            raise MalformedMessage("state: no initialized agvPosition")
        if position["mapId"] != self.map_id:
            raise MalformedMessage(f"state: agvPosition.mapId {position['mapId']!r} is not the "
                                   f"coordinator's map {self.map_id!r}")
        values = (position["x"], position["y"], position["theta"])
        if not all(math.isfinite(v) for v in values):
            raise MalformedMessage("state: agvPosition is not finite")
        self.pose = common_pb2.Pose(x=position["x"], y=position["y"], theta=position["theta"])
        restarted = doc["headerId"] < self._last_header
        self._last_header = doc["headerId"]
        velocity = doc.get("velocity", {})
        battery = doc["batteryState"]
        msg = robot_link_pb2.RobotState(
            stamp_s=read_timestamp(doc["timestamp"]), pose=self.pose,
            speed_mps=math.hypot(velocity.get("vx", 0.0), velocity.get("vy", 0.0)),
            battery=min(1.0, max(0.0, battery["batteryCharge"] / 100.0)))
        order = self.order
        order_id, update_id = doc["orderId"], doc["orderUpdateId"]
        reading = StateReading(state=msg, operating_mode=doc["operatingMode"],
                               automatic=doc["operatingMode"] in ("AUTOMATIC", "SEMIAUTOMATIC"),
                               new_base_request=bool(doc.get("newBaseRequest", False)))
        if order is not None:
            if order_id == order.order_id:
                order.acknowledged = True
                reading.behind = update_id < order.update_id
            elif order.acknowledged:
                restarted = True  # it reported this order before and has forgotten it
            else:
                reading.behind = not order.acknowledged
        reading.restarted = restarted
        if order is not None and order.path_id and order_id == order.order_id:
            msg.path_id = order.path_id
            msg.waypoints_reached = max(0, doc["lastNodeSequenceId"] // 2)
        # Action outcomes stay known after the vehicle has moved on to another order.
        states = {a["actionId"]: a["actionStatus"] for a in doc["actionStates"]}
        for action_id in list(self.action_states):
            status = states.get(action_id)
            if status is not None:
                self.action_states[action_id] = _action_status(
                    status, battery["charging"],
                    self.last_action_kind == robot_link_pb2.ACTION_KIND_CHARGE
                    and action_id == self.last_action_id)
        if self.last_action_id:
            msg.action_id = self.last_action_id
            msg.action_status = self.action_states.get(self.last_action_id,
                                                       common_pb2.ACTION_STATUS_RUNNING)
            if msg.action_status == common_pb2.ACTION_STATUS_SUCCEEDED:
                msg.action_progress = 1.0
        loads = doc.get("loads") or []
        if loads and loads[0].get("loadId"):
            msg.load_id = loads[0]["loadId"]
        faults = [f"{e['errorType']}: {e.get('errorDescription', '')}".rstrip(": ")
                  for e in doc["errors"] if e["errorLevel"] == "FATAL"]
        ours = {o for o in (order.order_id if order else "",) if o}
        for e in doc["errors"]:
            if e["errorType"] not in REJECTION_ERRORS:
                continue
            refs = {r["referenceKey"]: r["referenceValue"] for r in e.get("errorReferences", [])}
            if refs.get("orderId", "") in ours or not refs.get("orderId"):
                reading.rejections.append(
                    f"order rejected: {e['errorType']}: {e.get('errorDescription', '')}")
        faults.extend(reading.rejections)
        if order is not None and reading.rejections and not order.rejected:
            order.rejected = reading.new_rejection = True
        if order is not None and order.rejected:
            reading.behind = False  # sending a rejected order again would loop
        safety = doc["safetyState"]
        stops = [f"eStop {safety['eStop']}"] if safety["eStop"] != "NONE" else []
        if safety["fieldViolation"]:
            stops.append("fieldViolation")
        reading.safety_stop = ", ".join(stops)
        msg.mode = self._mode(doc, faults, msg)
        if reading.safety_stop and msg.mode != common_pb2.ROBOT_MODE_FAULT:
            # Stopped by its safety, not broken: PAUSED keeps its work and every cell it
            # holds, gives it nothing new, and it goes on once the stop is cleared.
            msg.mode = common_pb2.ROBOT_MODE_PAUSED
        msg.faults.extend(faults)
        if reading.safety_stop:
            msg.faults.append(f"safety stop: {reading.safety_stop}")
        return reading

    def _mode(self, doc: Mapping[str, Any], faults: Sequence[str],
              msg: robot_link_pb2.RobotState) -> common_pb2.RobotMode:
        if faults:
            return common_pb2.ROBOT_MODE_FAULT
        if doc.get("paused"):
            return common_pb2.ROBOT_MODE_PAUSED
        if doc["batteryState"]["charging"]:
            return common_pb2.ROBOT_MODE_CHARGING
        if msg.action_id and msg.action_status == common_pb2.ACTION_STATUS_RUNNING:
            return common_pb2.ROBOT_MODE_ACTING
        if doc["driving"] or doc["nodeStates"]:
            return common_pb2.ROBOT_MODE_MOVING
        return common_pb2.ROBOT_MODE_IDLE

    def read_position(self, doc: Mapping[str, Any], last: robot_link_pb2.RobotState
                      ) -> robot_link_pb2.RobotState | None:
        """The last RobotState moved to where a (validated) `visualization` message puts the
        vehicle: a position between two states. None if it has no initialized position
        or is not newer than `last`; MalformedMessage if it is on another map."""
        position = doc.get("agvPosition")
        if position is None or not position["positionInitialized"] or "timestamp" not in doc:
            return None
        if position["mapId"] != self.map_id:
            raise MalformedMessage(f"visualization: agvPosition.mapId {position['mapId']!r} "
                                   f"is not the coordinator's map {self.map_id!r}")
        values = (position["x"], position["y"], position["theta"])
        if not all(math.isfinite(v) for v in values):
            raise MalformedMessage("visualization: agvPosition is not finite")
        stamp = read_timestamp(doc["timestamp"])
        if stamp <= last.stamp_s:
            return None
        self.pose = common_pb2.Pose(x=position["x"], y=position["y"], theta=position["theta"])
        moved = robot_link_pb2.RobotState()
        moved.CopyFrom(last)
        moved.stamp_s = stamp
        moved.pose.CopyFrom(self.pose)
        velocity = doc.get("velocity")
        if velocity is not None:
            moved.speed_mps = math.hypot(velocity.get("vx", 0.0), velocity.get("vy", 0.0))
        return moved

    @staticmethod
    def base_end(doc: Mapping[str, Any]) -> int:
        """The vehicle's last base node as a waypoint index, from a state message."""
        released = [n["sequenceId"] for n in doc["nodeStates"] if n["released"]]
        return int(max([doc["lastNodeSequenceId"], *released])) // 2


def _action_status(vda: str, charging: bool, is_charge: bool
                   ) -> common_pb2.ActionStatus:
    if vda == "FAILED":
        return common_pb2.ACTION_STATUS_FAILED
    if vda == "FINISHED":
        # startCharging finishes once charging has begun; the charge lasts while charging.
        if is_charge and charging:
            return common_pb2.ACTION_STATUS_RUNNING
        return common_pb2.ACTION_STATUS_SUCCEEDED
    return common_pb2.ACTION_STATUS_RUNNING

