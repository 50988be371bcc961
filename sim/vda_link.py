"""Simulated robots as VDA 5050 vehicles: MQTT clients that follow orders node by node.

A vehicle keeps to the standard as a vehicle in the field would: it accepts a new order only
when it has nothing left to do and stands at the order's first node, accepts an order update
only when it stitches on its last base node, ignores an update it already has (a resend),
rejects anything else with the error type the standard names (`validationError`,
`orderError`, `orderUpdateError`, `noRouteError`), drives its released base node by node at
its own speed within each edge's `maxSpeed` (VDA 5050 has no times), runs node actions
(`pick`, `drop`, `weld`, `startCharging`) when it reaches their node, and takes the instant
actions `startPause`, `stopPause`, `cancelOrder`, `stopCharging` and `factsheetRequest`.
Kinematics and batteries are `sim.robot.SimRobot`'s, fed with RobotLink commands.

Vehicles share one MQTT connection (`VdaVehicles(shared=True)`, the default: cheap for
hundreds) or each has its own with its `connection` topic as last will
(CONNECTIONBROKEN), as real vehicles do. For lockstep the simulator asks the in-process
master (`delivery`) which messages carry a step's commands, and waits until they are here.
"""

from __future__ import annotations

import collections
import itertools
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fleet.v1 import common_pb2, robot_link_pb2
from fleet.vda5050.contract import (
    MalformedMessage,
    Protocol,
    Topic,
    VehicleKey,
    VehicleSpec,
)
from fleet.vda5050.master import MasterOptions, Vda5050Master, parse_broker
from sim.robot import SimRobot

__all__ = ["MANUFACTURER", "VdaFleet", "VdaLink", "VdaVehicles", "vehicle_specs"]

log = logging.getLogger(__name__)

MANUFACTURER = "fleet-sim"
Delivery = Callable[[str], tuple[int, dict[Topic, int]] | None]
_ACTIONS = {"pick": robot_link_pb2.ACTION_KIND_PICK, "drop": robot_link_pb2.ACTION_KIND_DROP,
            "weld": robot_link_pb2.ACTION_KIND_WELD,
            "startCharging": robot_link_pb2.ACTION_KIND_CHARGE}
_INSTANT = ("startPause", "stopPause", "cancelOrder", "stopCharging", "factsheetRequest")
_REACH_M = 0.5
"""How far from an order's first node a vehicle may stand and still accept it."""


class VdaVehicles:
    """The MQTT side of every simulated vehicle of a run."""

    def __init__(self, broker: str, map_id: str, version: str = "2.1", shared: bool = True,
                 keepalive_s: int = 5, visualization_hz: float = 0.0) -> None:
        """`visualization_hz`: how often (simulated time) each vehicle publishes its position
        on `visualization` between states, when the run calls `VdaLink.send_position`
        (0: never)."""
        host, port, interface = parse_broker(broker)
        self.visualization_hz = visualization_hz
        self.broker = (host, port)
        self.map_id = map_id
        self.protocol = Protocol(version, interface)
        self.shared = shared
        self.keepalive_s = keepalive_s
        self.dropped: collections.Counter[str] = collections.Counter()
        self.received: list[tuple[str, dict[str, Any]]] = []
        """Every message the vehicles received, as (topic name, document): tests check them."""
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.record = False
        self._lock = threading.Lock()
        self._routes: dict[str, VdaLink] = {}
        self._client: Any = None
        if shared:
            self._client = self._connect(f"fleet-sim-vehicles-{id(self):x}", None, None)

    def _connect(self, client_id: str, will: tuple[str, bytes] | None,
                 on_up: Callable[[], None] | None) -> Any:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv311)
        client.reconnect_delay_set(min_delay=1, max_delay=2)
        client.max_queued_messages_set(10000)
        if will is not None:
            client.will_set(will[0], will[1], qos=1, retain=True)
        subscribed = threading.Event()

        def connected(c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            if reason.is_failure:
                return
            filters = [(self.protocol.subscription(t, MANUFACTURER), 0)
                       for t in (Topic.ORDER, Topic.INSTANT_ACTIONS)]
            c.subscribe(filters)
            if on_up is not None:
                on_up()

        def on_subscribe(c: Any, userdata: Any, mid: Any, reasons: Any, props: Any) -> None:
            subscribed.set()

        client.on_connect = connected
        client.on_subscribe = on_subscribe
        client.on_message = self._on_message
        client.connect_async(*self.broker, keepalive=self.keepalive_s)
        client.loop_start()
        if not subscribed.wait(10.0):
            log.warning("simulated vehicles: no broker at %s:%d yet", *self.broker)
        return client

    def link(self, robot: SimRobot, delivery: Delivery) -> VdaLink:
        """The vehicle of one simulated robot (opened by `connect`)."""
        link = VdaLink(self, robot, delivery)
        with self._lock:
            for topic in (Topic.ORDER, Topic.INSTANT_ACTIONS):
                self._routes[self.protocol.topic(link.key, topic)] = link
        return link

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        link = self._routes.get(message.topic)
        if link is not None and (self.shared or client is link.client):
            link.arrived(message.topic, message.payload)

    def publish(self, link: VdaLink, topic: Topic, doc: dict[str, Any]) -> None:
        """Publish a vehicle's message, checked against the schema."""
        payload = self.protocol.encode(topic, doc)
        name = self.protocol.topic(link.key, topic)
        if self.record:
            with self._lock:
                self.sent.append((name, doc))
        client = self._client if self.shared else link.client
        if client is not None:
            client.publish(name, payload, qos=topic.qos, retain=topic.retained)

    def close(self) -> None:
        """Disconnect the shared connection."""
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()


@dataclass(slots=True)
class _Node:
    node_id: str
    sequence_id: int
    x: float
    y: float
    actions: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class _ActionState:
    action_id: str
    action_type: str
    status: str = "WAITING"
    node_index: int = 0
    started: bool = False


class VdaLink:
    """One simulated VDA 5050 vehicle; the same interface as `sim.grpc_link.GrpcLink`."""

    def __init__(self, host: VdaVehicles, robot: SimRobot, delivery: Delivery) -> None:
        self.host = host
        self.robot = robot
        self.key = VehicleKey(MANUFACTURER, robot.spec.id)
        self.delivery = delivery
        self.client: Any = None
        self.operating_mode = "AUTOMATIC"
        """Fault injection: a person takes the vehicle over (MANUAL) and gives it back."""
        self.silent = False
        """Fault injection: the vehicle stops talking (no states)."""
        self.safety: dict[str, Any] = {"eStop": "NONE", "fieldViolation": False}
        """Fault injection: its `safetyState` (an e-stop pressed, a protective field
        violated); the run also holds the robot still meanwhile."""
        self.reject_orders = ""
        """Fault injection: reject every order (update) with this errorType."""
        self.lose_orders = 0
        """Fault injection: this many of the next order messages are lost on the way."""
        self._shown_at = -math.inf
        self._lock = threading.Lock()
        self._inbox: list[tuple[Topic, bytes]] = []
        self._got: dict[Topic, int] = {}
        self._floor: dict[Topic, int] = {}
        self._online = False
        self._headers: dict[Topic, int] = {}
        self._reset_order()

    def _reset_order(self) -> None:
        self.order_id = ""
        self.update_id = 0
        self.nodes: dict[int, _Node] = {}
        self.horizon: list[_Node] = []
        """The order's planned, unreleased nodes (never driven; replaced by each update)."""
        self.updates: list[tuple[str, int, int, int]] = []
        """(orderId, orderUpdateId, base nodes, horizon nodes) of each order taken."""
        self.base_end = 0
        self.last_node = ("", 0)
        self.actions: list[_ActionState] = []
        self.errors: list[dict[str, Any]] = []
        self._seen_instant: set[str] = set()
        self._base = 0
        self._params: dict[str, dict[str, Any]] = {}

    # ---------------------------------------------------------------- lifecycle
    @property
    def connected(self) -> bool:
        """True while the vehicle is online."""
        return self._online

    async def connect(self) -> bool:
        """Come online: `connection` ONLINE, the factsheet, then states every tick."""
        if not self.host.shared and self.client is None:
            will = self._connection_doc("CONNECTIONBROKEN")
            name = self.host.protocol.topic(self.key, Topic.CONNECTION)
            self.client = self.host._connect(
                f"fleet-sim-{self.robot.spec.id}",
                (name, self.host.protocol.encode(Topic.CONNECTION, will)), None)
        delivered = self.delivery(self.robot.spec.id)
        with self._lock:
            # What went out before this (re)connection is not coming.
            self._floor = dict(delivered[1]) if delivered else {}
        self.host.publish(self, Topic.CONNECTION, self._connection_doc("ONLINE"))
        self.host.publish(self, Topic.FACTSHEET, self.factsheet())
        self._online = True
        return True

    async def disconnect(self) -> None:
        """Go offline in a coordinated way."""
        if self._online:
            self.host.publish(self, Topic.CONNECTION, self._connection_doc("OFFLINE"))
        self._online = False
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            self.client = None

    async def restart(self) -> None:
        """The vehicle's software restarts: it forgets its order and header counters."""
        self.robot.reboot()
        self._reset_order()
        self._headers = {}
        await self.connect()

    def kill(self) -> None:
        """Fault injection: the vehicle's connection drops without a goodbye (its own
        connection only: the broker then publishes its last will)."""
        self.silent = True
        if self.client is not None:
            # Closing the socket under paho: no DISCONNECT packet, so the will goes out.
            sock = self.client.socket()
            self.client.loop_stop()
            if sock is not None:
                sock.close()
            self.client = None

    def _connection_doc(self, state: str) -> dict[str, Any]:
        return {**self._header(Topic.CONNECTION, 0.0), "connectionState": state}

    def _header(self, topic: Topic, t_s: float) -> dict[str, Any]:
        self._headers[topic] = self._headers.get(topic, -1) + 1
        return self.host.protocol.header(self.key, self._headers[topic], t_s)

    def factsheet(self) -> dict[str, Any]:
        """The vehicle's factsheet (what the master may register it from)."""
        spec = self.robot.spec
        width = length = 2 * spec.radius_m / math.sqrt(2)
        actions: list[dict[str, Any]] = [
            {"actionType": name, "actionScopes": ["INSTANT"]} for name in _INSTANT]
        actions.append({"actionType": "startCharging", "actionScopes": ["NODE"],
                        "actionParameters": [{"key": "duration", "valueDataType": "NUMBER",
                                              "isOptional": True}]})
        if spec.transport is not None:
            actions += [{"actionType": name, "actionScopes": ["NODE"], "actionParameters": [
                {"key": "loadId", "valueDataType": "STRING"}]} for name in ("pick", "drop")]
        if spec.weld is not None:
            actions.append({"actionType": "weld", "actionScopes": ["NODE"], "actionParameters": [
                {"key": "program", "valueDataType": "STRING",
                 "description": ", ".join(sorted(spec.weld.programs))},
                {"key": "duration", "valueDataType": "NUMBER"}]})
        return {
            **self._header(Topic.FACTSHEET, 0.0),
            "typeSpecification": {
                "seriesName": f"fleet simulated {spec.kind.value}", "agvKinematic": "DIFF",
                "agvClass": "CARRIER",
                "maxLoadMass": spec.transport.max_payload_kg if spec.transport else 0.0,
                "localizationTypes": ["NATURAL"], "navigationTypes": ["AUTONOMOUS"]},
            "physicalParameters": {"speedMin": 0.0, "speedMax": spec.max_speed_mps,
                                   "accelerationMax": 1.0, "decelerationMax": 1.0,
                                   "heightMax": 1.0, "width": width, "length": length},
            "protocolLimits": {"maxStringLens": {}, "maxArrayLens": {},
                               "timing": {"minOrderInterval": 0.0, "minStateInterval": 0.1}},
            "protocolFeatures": {"optionalParameters": [], "agvActions": actions},
            "agvGeometry": {}, "loadSpecification": {}}

    # ---------------------------------------------------------------- messages in
    def arrived(self, name: str, payload: bytes) -> None:
        """A message on one of the vehicle's topics (called on paho's thread)."""
        topic = Topic.ORDER if name.endswith("/order") else Topic.INSTANT_ACTIONS
        header = -1
        try:
            doc = self.host.protocol.decode(topic, payload)
            header = int(doc["headerId"])
            if self.host.record:
                with self.host._lock:
                    self.host.received.append((name, doc))
        except MalformedMessage as err:
            self.host.dropped[f"invalid {topic.value}"] += 1
            log.warning("vehicle %s: invalid %s: %s", self.robot.spec.id, topic.value, err)
        with self._lock:
            # A lost order still counts as delivered for lockstep: nothing else is coming.
            self._got[topic] = max(self._got.get(topic, -1), header)
            if topic is Topic.ORDER and self.lose_orders > 0:
                self.lose_orders -= 1
                return
            self._inbox.append((topic, payload))

    @property
    def waiting(self) -> int:
        """Messages received and not yet acted on (`take_commands`)."""
        with self._lock:
            return len(self._inbox)

    def has_received(self, seq: int) -> bool:
        """True once the messages carrying commands up to `seq` are here."""
        if seq <= 0 or not self._online or self.silent:
            return True
        delivered = self.delivery(self.robot.spec.id)
        if delivered is None:
            return True  # not in the fleet: no commands are coming
        handled, headers = delivered
        if handled < seq:
            return False
        with self._lock:
            return all(max(self._got.get(t, -1), self._floor.get(t, -1)) >= h
                       for t, h in headers.items())

    def take_commands(self) -> None:
        """Act on every message received so far, in order."""
        with self._lock:
            inbox, self._inbox = self._inbox, []
        for topic, payload in inbox:
            try:
                doc = self.host.protocol.decode(topic, payload)
            except MalformedMessage as err:
                self._error("validationError", str(err), [])
                continue
            if topic is Topic.ORDER:
                self._on_order(doc)
            else:
                for action in doc["actions"]:
                    self._on_instant(action)
        self._start_actions()

    def _error(self, error_type: str, description: str, refs: list[tuple[str, str]],
               level: str = "WARNING") -> None:
        log.info("vehicle %s: %s: %s", self.robot.spec.id, error_type, description)
        self.errors.append({"errorType": error_type, "errorLevel": level,
                            "errorDescription": description,
                            "errorReferences": [{"referenceKey": k, "referenceValue": v}
                                                for k, v in refs]})

    def _on_order(self, doc: dict[str, Any]) -> None:
        refs = [("headerId", str(doc["headerId"])), ("orderId", doc["orderId"])]
        if self.reject_orders:
            self._error(self.reject_orders, "rejected (fault injection)", refs)
            return
        nodes = sorted(doc["nodes"], key=lambda n: n["sequenceId"])
        for n in nodes:
            position = n.get("nodePosition")
            if position is None or position["mapId"] != self.host.map_id:
                self._error("noRouteError", f"node {n['nodeId']} is not on map "
                            f"{self.host.map_id}", [*refs, ("nodeId", n["nodeId"])])
                return
            for a in n["actions"]:
                if a["actionType"] not in _ACTIONS:
                    self._error("orderError", f"unsupported action {a['actionType']}",
                                [*refs, ("actionId", a["actionId"])])
                    return
        base_nodes = [n for n in nodes if n["released"]]
        edge_seqs = sorted((e["sequenceId"], e["released"]) for e in doc["edges"])
        if not base_nodes or base_nodes != nodes[:len(base_nodes)] or any(
                released and not before for (_, before), (_, released)
                in itertools.pairwise(edge_seqs)):
            # The base comes first, the horizon after it; never a released node after one
            # that is not.
            self._error("validationError", "no released node, or a released node or edge "
                        "after the horizon", refs)
            return
        horizon = [_Node(n["nodeId"], n["sequenceId"], n["nodePosition"]["x"],
                         n["nodePosition"]["y"]) for n in nodes[len(base_nodes):]]
        released_edges = [e for e in doc["edges"] if e["released"]]
        if doc["orderId"] == self.order_id:
            if doc["orderUpdateId"] == self.update_id:
                return  # the same update again (a resend): nothing to do
            if doc["orderUpdateId"] < self.update_id:
                self._error("orderUpdateError", f"update {doc['orderUpdateId']} after "
                            f"{self.update_id}", refs)
                return
            first = nodes[0]
            end = self.nodes[self.base_end]
            if (first["nodeId"], first["sequenceId"]) != (end.node_id, end.sequence_id):
                self._error("orderUpdateError", f"update starts at {first['nodeId']}, the base "
                            f"ends at {end.node_id}", refs)
                return
            self.update_id = doc["orderUpdateId"]
            self._extend(base_nodes[1:], released_edges, extend=True)
            self.horizon = horizon  # the new horizon replaces the old one
            self.updates.append((self.order_id, self.update_id, len(base_nodes), len(horizon)))
            self.errors = []
            return
        # A new order: only with nothing left to do, standing at its first node.
        if self.robot.moving or any(a.status in ("WAITING", "INITIALIZING", "RUNNING")
                                    for a in self.actions):
            self._error("orderError", "a new order while the current one runs", refs)
            return
        first = nodes[0]["nodePosition"]
        away = math.hypot(first["x"] - self.robot.pose.x, first["y"] - self.robot.pose.y)
        if away > _REACH_M:
            self._error("noRouteError", f"first node {nodes[0]['nodeId']} is {away:.2f} m "
                        "away", refs)
            return
        self.order_id, self.update_id = doc["orderId"], doc["orderUpdateId"]
        self.errors = []
        self.nodes, self.actions = {}, [a for a in self.actions if a.action_type in _INSTANT]
        self.base_end = 0
        base = nodes[0]["sequenceId"] // 2
        self._base = base
        self.nodes[0] = _Node(nodes[0]["nodeId"], nodes[0]["sequenceId"], first["x"], first["y"],
                              list(nodes[0]["actions"]))
        self.last_node = (nodes[0]["nodeId"], nodes[0]["sequenceId"])
        self._queue_actions(0, nodes[0]["actions"])
        self.robot.apply(robot_link_pb2.RobotCommand(follow_path=robot_link_pb2.FollowPath(
            path_id=self.order_id, first_index=1)))
        self._extend(base_nodes[1:], released_edges, extend=False)
        self.horizon = horizon
        self.updates.append((self.order_id, self.update_id, len(base_nodes), len(horizon)))

    def _extend(self, nodes: list[dict[str, Any]], edges: list[dict[str, Any]],
                extend: bool) -> None:
        speed = {e["endNodeId"]: e.get("maxSpeed", 0.0) for e in edges}
        waypoints = []
        first = self.base_end + 1
        for n in nodes:
            index = n["sequenceId"] // 2 - self._base
            position = n["nodePosition"]
            self.nodes[index] = _Node(n["nodeId"], n["sequenceId"], position["x"],
                                      position["y"], list(n["actions"]))
            self._queue_actions(index, n["actions"])
            waypoints.append(robot_link_pb2.TimedWaypoint(
                x=position["x"], y=position["y"], theta=position.get("theta", 0.0), t_s=0.0,
                max_speed_mps=speed.get(n["nodeId"], 0.0)))
            self.base_end = index
        if waypoints:
            self.robot.apply(robot_link_pb2.RobotCommand(follow_path=robot_link_pb2.FollowPath(
                path_id=self.order_id, first_index=first, waypoints=waypoints)))

    def _queue_actions(self, index: int, actions: list[dict[str, Any]]) -> None:
        for a in actions:
            self.actions.append(_ActionState(a["actionId"], a["actionType"], node_index=index))
            self._params[a["actionId"]] = {p["key"]: p["value"]
                                           for p in a.get("actionParameters", [])}

    def _start_actions(self) -> None:
        """Start the node actions whose node the vehicle has reached, one at a time."""
        robot = self.robot
        running = robot.action is not None and \
            robot.action.status == common_pb2.ACTION_STATUS_RUNNING
        for a in self.actions:
            if a.action_type in _INSTANT:
                continue
            if a.started:
                if a.status in ("RUNNING",) and robot.action is not None \
                        and robot.action.action_id == a.action_id:
                    if robot.action.status == common_pb2.ACTION_STATUS_SUCCEEDED:
                        a.status = "FINISHED"
                    elif robot.action.status == common_pb2.ACTION_STATUS_FAILED:
                        a.status = "FAILED"
                continue
            if running or robot.reached < a.node_index or robot.moving:
                continue
            params = self._params.get(a.action_id, {})
            robot.apply(robot_link_pb2.RobotCommand(action=robot_link_pb2.PerformAction(
                action_id=a.action_id, kind=_ACTIONS[a.action_type],
                load_id=str(params.get("loadId", "")), program=str(params.get("program", "")),
                station_id=str(params.get("stationName", "")),
                duration_s=float(params.get("duration", 0.0)))))
            a.started = True
            a.status = "RUNNING"
            if a.action_type == "startCharging":
                a.status = "FINISHED"  # the standard: finished once charging has begun
            running = True

    def _charging_action(self) -> Any:
        action = self.robot.action
        if action is not None and action.kind == robot_link_pb2.ACTION_KIND_CHARGE and \
                action.status == common_pb2.ACTION_STATUS_RUNNING:
            return action
        return None

    def _on_instant(self, action: dict[str, Any]) -> None:
        action_id, kind = action["actionId"], action["actionType"]
        if action_id in self._seen_instant:
            return  # sent again: it is here already
        self._seen_instant.add(action_id)
        state = _ActionState(action_id, kind, status="FINISHED", started=True)
        if kind == "startPause":
            self.robot.apply(robot_link_pb2.RobotCommand(pause=robot_link_pb2.Pause(
                reason="startPause")))
        elif kind == "stopPause":
            self.robot.apply(robot_link_pb2.RobotCommand(resume=robot_link_pb2.Resume()))
        elif kind in ("cancelOrder", "stopCharging"):
            if kind == "cancelOrder" and not self.order_id:
                state.status = "FAILED"
                self._error("noOrderToCancel", "no order to cancel", [("actionId", action_id)])
            self.robot.apply(robot_link_pb2.RobotCommand(cancel=robot_link_pb2.Cancel(
                reason=kind)))
            if kind == "cancelOrder":
                # Stop at the next node: the rest of the base and the horizon are dropped.
                self.horizon = []
                keep = self.robot.reached + 1
                for index in [i for i in self.robot.waypoints if i > keep]:
                    del self.robot.waypoints[index]
                for index in [i for i in self.nodes if i > keep]:
                    del self.nodes[index]
                self.base_end = min(self.base_end, max(self.nodes, default=0))
                for a in self.actions:
                    if a.status in ("WAITING", "INITIALIZING", "RUNNING"):
                        a.status = "FAILED"
        elif kind == "factsheetRequest":
            self.host.publish(self, Topic.FACTSHEET, self.factsheet())
        else:
            state.status = "FAILED"
            self._error("unsupportedActionType", kind, [("actionId", action_id)])
        self.actions.append(state)

    # ---------------------------------------------------------------- state up
    def send_state(self, t_s: float) -> None:
        """Publish this tick's state."""
        if not self._online or self.silent:
            return
        self._start_actions()
        self.host.publish(self, Topic.STATE, self.state_doc(t_s))

    def send_position(self, t_s: float) -> None:
        """Publish the position on `visualization` if `visualization_hz` says it is time."""
        hz = self.host.visualization_hz
        if hz <= 0 or not self._online or self.silent or t_s - self._shown_at < 1.0 / hz - 1e-9:
            return
        self._shown_at = t_s
        robot = self.robot
        theta = math.atan2(math.sin(robot.pose.theta), math.cos(robot.pose.theta))
        self.host.publish(self, Topic.VISUALIZATION, {
            **self._header(Topic.VISUALIZATION, t_s),
            "agvPosition": {"x": robot.pose.x, "y": robot.pose.y, "theta": theta,
                            "mapId": self.host.map_id, "positionInitialized": True},
            "velocity": {"vx": robot.speed * math.cos(theta),
                         "vy": robot.speed * math.sin(theta), "omega": 0.0}})

    def state_doc(self, t_s: float) -> dict[str, Any]:
        """The vehicle's `state` at t_s."""
        robot = self.robot
        reached = min(robot.reached, self.base_end) if self.order_id else 0
        node = self.nodes.get(reached)
        last_id, last_seq = (node.node_id, node.sequence_id) if node else ("", 0)
        node_states = [{"nodeId": n.node_id, "sequenceId": n.sequence_id, "released": True}
                       for i, n in sorted(self.nodes.items()) if i > reached]
        edge_states = [{"edgeId": f"e{i}", "sequenceId": n.sequence_id - 1, "released": True}
                       for i, n in sorted(self.nodes.items()) if i > reached]
        if self.order_id:
            node_states += [{"nodeId": n.node_id, "sequenceId": n.sequence_id,
                             "released": False} for n in self.horizon]
            edge_states += [{"edgeId": f"e{n.sequence_id // 2 - self._base}",
                             "sequenceId": n.sequence_id - 1, "released": False}
                            for n in self.horizon]
        charging = self._charging_action() is not None
        errors = list(self.errors)
        for fault in robot.faults:
            errors.append({"errorType": "vehicleFault", "errorLevel": "FATAL",
                           "errorDescription": fault, "errorReferences": []})
        theta = math.atan2(math.sin(robot.pose.theta), math.cos(robot.pose.theta))
        doc: dict[str, Any] = {
            **self._header(Topic.STATE, t_s),
            "orderId": self.order_id, "orderUpdateId": self.update_id,
            "lastNodeId": last_id, "lastNodeSequenceId": last_seq,
            "nodeStates": node_states, "edgeStates": edge_states,
            "driving": robot.speed > 1e-9, "paused": robot.paused,
            "operatingMode": self.operating_mode,
            "agvPosition": {"x": robot.pose.x, "y": robot.pose.y, "theta": theta,
                            "mapId": self.host.map_id, "positionInitialized": True},
            "velocity": {"vx": robot.speed * math.cos(theta), "vy": robot.speed * math.sin(theta),
                         "omega": 0.0},
            "batteryState": {"batteryCharge": 100.0 * robot.battery, "charging": charging},
            "actionStates": [{"actionId": a.action_id, "actionType": a.action_type,
                              "actionStatus": a.status} for a in self.actions[-32:]],
            "errors": errors,
            "safetyState": dict(self.safety),
            "loads": [{"loadId": robot.load_id}] if robot.load_id else [],
        }
        return doc



def vehicle_specs(robots: list[SimRobot]) -> tuple[VehicleSpec, ...]:
    """What the master is told about the simulated vehicles (a vehicles file's content)."""
    return tuple(VehicleSpec(
        key=VehicleKey(MANUFACTURER, r.spec.id), robot_id=r.spec.id, kind=r.spec.kind.value,
        footprint_radius_m=r.spec.radius_m, max_speed_mps=r.spec.max_speed_mps,
        max_payload_kg=r.spec.transport.max_payload_kg if r.spec.transport else 0.0,
        weld_programs=tuple(sorted(r.spec.weld.programs)) if r.spec.weld else ())
        for r in robots)


class VdaFleet:
    """A run's VDA 5050 side: the master (in this process) and the simulated vehicles."""

    def __init__(self, master: Vda5050Master, vehicles: VdaVehicles,
                 links: list[VdaLink]) -> None:
        self.master = master
        self.vehicles = vehicles
        self.links = links

    @staticmethod
    async def start(broker: str, target: str, map_id: str, robots: list[SimRobot],
                    shared: bool = True, silence_timeout_s: float = 30.0,
                    visualization_hz: float = 0.0, from_factsheets: bool = False) -> VdaFleet:
        """Start a master relaying `robots` (as vehicles on `broker`) to `target`; it knows
        them in advance (a vehicles file), or `from_factsheets` only."""
        # Lockstep vehicles speak once per tick: a slow planning step is not silence.
        master = Vda5050Master(MasterOptions(
            broker=broker, target=target,
            vehicles=() if from_factsheets else vehicle_specs(robots),
            discover=from_factsheets, silence_timeout_s=silence_timeout_s))
        await master.start()
        vehicles = VdaVehicles(broker, map_id, shared=shared, visualization_hz=visualization_hz)
        links = [vehicles.link(r, master.delivery) for r in robots]
        return VdaFleet(master, vehicles, links)

    def counters(self) -> dict[str, int]:
        """What the master and the vehicles did and dropped, for a run's result."""
        stats = self.master.stats
        out = {"states forwarded": stats.states_forwarded, "joins": stats.joins,
               "positions forwarded": stats.positions_forwarded,
               "safety stops": stats.safety_stops,
               "resends": stats.resends, "restarts": stats.restarts,
               "rejections": stats.rejections, "broker connects": stats.broker_connects}
        out.update({f"published {k}": v for k, v in stats.published.items()})
        out.update({f"left: {k}": v for k, v in stats.leaves.items()})
        out.update({f"master dropped {k}": v for k, v in stats.dropped.items()})
        out.update({f"vehicles dropped {k}": v for k, v in self.vehicles.dropped.items()})
        return out

    async def stop(self) -> None:
        """Take the vehicles offline, stop the master."""
        for link in self.links:
            await link.disconnect()
        self.vehicles.close()
        await self.master.stop()
