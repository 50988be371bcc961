"""The VDA 5050 master control: every vehicle on the broker joins the fleet.

One MQTT connection (paho-mqtt, its network loop on its own thread) carries every
vehicle's `state`, `connection` and `factsheet` up and `order` and `instantActions` down;
one batched coordinator link (`fleet.gateway.Gateway`, the RobotLink.Gateway stream) carries
every vehicle's session: states of one loop turn go up in one message. The paho thread only
queues raw messages; the asyncio loop owns the master's state, as in the ROS bridge.

- A vehicle joins (a Gateway join) once the master knows what it is (`--vehicles` file or its
  `factsheet`, asked for with the instant action `factsheetRequest`) and its state shows an
  initialized position in AUTOMATIC or SEMIAUTOMATIC mode. In another mode it leaves: it gets
  no orders, and the coordinator's disconnect rules take over its jobs.
- A vehicle whose `connection` turns OFFLINE or CONNECTIONBROKEN (its last will), or that is
  silent for `silence_timeout_s`, leaves at once; it joins again when it speaks again.
- Orders and instant actions go out at QoS 0 as the standard says. An order update the
  vehicle's state does not show within `resend_s` is sent again, stitched on the base the
  vehicle reports (vehicles drop a duplicate order update); so is an instant action that
  does not appear in its `actionStates`.
- A vehicle that forgot an order it had acknowledged restarted: it leaves, gets the released
  waypoints it had not reached as a recovery order from where it stands, and joins again at
  their end (the contract of a dropped link: finish what was released, stop, register
  again). Nothing else is sent to it; in particular no `cancelOrder`.
- An order rejection (`validationError`, `orderError`, `orderUpdateError`, `noRouteError`)
  and any FATAL error is reported as a fault: the dispatcher's failure rules take over. A
  rejected order is never sent again; the vehicle leaves (it will not drive what the
  coordinator released) and joins again once it stands, where it stands.
- A safety stop (`safetyState.eStop` not NONE, `fieldViolation`) is reported as PAUSED: the
  coordinator keeps the vehicle's work and cells, gives it nothing new, and it goes on when
  the stop clears.
- `visualization` messages (subscribed unless `MasterOptions.visualization` is off) move a
  copy of the last state sent up to their newer position: positions between states.
- Invalid messages (schema, JSON, map, topic) are logged, dropped and counted.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from fleet.client import open_channel
from fleet.gateway import Gateway, GatewayRefused
from fleet.v1 import common_pb2, robot_link_pb2
from fleet.vda5050.contract import (
    MalformedMessage,
    Outgoing,
    Protocol,
    Topic,
    Translator,
    VehicleKey,
    VehicleSpec,
    register_request,
    vehicle_from_factsheet,
)

__all__ = ["MasterOptions", "MasterStats", "Vda5050Master", "load_vehicles_file",
           "parse_broker"]

log = logging.getLogger(__name__)


def parse_broker(url: str) -> tuple[str, int, str]:
    """(host, port, interface name) of `mqtt://HOST[:PORT][/INTERFACE]` (port 1883 and
    interface `uagv` by default)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "mqtt" or not parsed.hostname:
        raise ValueError(f"broker {url!r} is not mqtt://HOST[:PORT][/INTERFACE]")
    interface = parsed.path.strip("/") or "uagv"
    if "/" in interface or "+" in interface or "#" in interface:
        raise ValueError(f"broker {url!r}: interface name {interface!r} is not one topic level")
    return parsed.hostname, parsed.port or 1883, interface


@dataclass(frozen=True, slots=True)
class MasterOptions:
    """How the master behaves; times in real seconds."""

    broker: str
    """mqtt://HOST[:PORT][/INTERFACE]: the interface name (default uagv) is the first level
    of every topic."""
    target: str
    """The coordinator, HOST:PORT."""
    version: str = "2.1"
    """VDA 5050 version: 2.1 (3.0 schemas ship too; zones and leases are not used)."""
    vehicles: tuple[VehicleSpec, ...] = ()
    """Vehicles known in advance (a vehicles file)."""
    discover: bool = True
    """Also take vehicles from their factsheets."""
    silence_timeout_s: float = 5.0
    resend_s: float = 1.0
    client_id: str = ""
    token: str | None = None
    """Access token for the coordinator; None: `FLEET_TOKEN`, as every client."""
    horizon_nodes: int = 20
    """At most this many planned, unreleased nodes in an order's horizon (0: none)."""
    visualization: bool = True
    """Take positions from `visualization` messages between states too."""


@dataclass(slots=True)
class MasterStats:
    """What the master has done, for logs, tests and the benchmark."""

    states_forwarded: int = 0
    published: collections.Counter[str] = field(default_factory=collections.Counter)
    joins: int = 0
    leaves: collections.Counter[str] = field(default_factory=collections.Counter)
    resends: int = 0
    restarts: int = 0
    rejections: int = 0
    new_base_requests: int = 0
    positions_forwarded: int = 0
    """Positions from `visualization` messages sent up between states."""
    stale_positions: int = 0
    """`visualization` messages not newer than the last state sent up (not forwarded)."""
    safety_stops: int = 0
    broker_connects: int = 0
    dropped: collections.Counter[str] = field(default_factory=collections.Counter)

    def drop(self, reason: str, vehicle: str, detail: object) -> None:
        """Count a dropped message (and log the first few of each kind)."""
        self.dropped[reason] += 1
        if self.dropped[reason] <= 5:
            log.warning("vehicle %s: dropped %s: %s", vehicle, reason, detail)


@dataclass(slots=True)
class _Vehicle:
    key: VehicleKey
    spec: VehicleSpec | None = None
    refused: VehicleSpec | None = None
    translator: Translator | None = None
    joined: bool = False
    joining: asyncio.Task[None] | None = None
    retry_at: float = 0.0
    last_seen: float = 0.0
    last_state: dict[str, Any] | None = None
    reached: int = 0
    seq: int = 0
    headers: dict[Topic, int] = field(default_factory=dict)
    handled_seq: int = 0
    order_sent_at: float = 0.0
    instant_pending: dict[str, tuple[Outgoing, float]] = field(default_factory=dict)
    factsheet_asked: bool = False
    fault: str = ""
    safety_stop: str = ""
    settle: bool = False
    """It left after rejecting an order: it joins again once it stands (not before it has
    finished any base it had accepted)."""
    forwarded: robot_link_pb2.RobotState | None = None
    """The last state sent up (a `visualization` message moves a copy of it)."""

    @property
    def name(self) -> str:
        return self.spec.robot_id if self.spec else self.key.serial_number


class Vda5050Master:
    """Relays every VDA 5050 vehicle on `options.broker` to the coordinator."""

    def __init__(self, options: MasterOptions) -> None:
        self.options = options
        host, port, interface = parse_broker(options.broker)
        self._broker = (host, port)
        self.protocol = Protocol(options.version, interface)
        self.stats = MasterStats()
        self.vehicles: dict[VehicleKey, _Vehicle] = {}
        self._by_robot: dict[str, _Vehicle] = {}
        for spec in options.vehicles:
            self._vehicle(spec.key).spec = spec
            self._by_robot[spec.robot_id] = self.vehicles[spec.key]
        self._inbox: collections.deque[tuple[str, bytes]] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_scheduled = False
        self._channel: grpc.aio.Channel | None = None
        self._link: Gateway | None = None
        self._mqtt: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self.connected = asyncio.Event()

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Connect to the coordinator and the broker (reconnecting to both by themselves)."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self._loop = asyncio.get_running_loop()
        self._channel = open_channel(self.options.target, token=self.options.token, options=[
            ("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000)])
        self._link = Gateway(self._channel, self._on_commands, self._on_ended)
        host, port = self._broker
        client = mqtt.Client(CallbackAPIVersion.VERSION2,
                             client_id=self.options.client_id or f"fleet-master-{id(self):x}",
                             protocol=mqtt.MQTTv311)
        client.reconnect_delay_set(min_delay=1, max_delay=2)
        client.max_queued_messages_set(10000)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.connect_async(host, port, keepalive=10)
        client.loop_start()
        self._mqtt = client
        self._tasks.append(asyncio.create_task(self._housekeeping()))

    async def stop(self) -> None:
        """Leave every vehicle's session, close the channel and the MQTT connection."""
        self._stopped.set()
        for task in self._tasks + [v.joining for v in self.vehicles.values() if v.joining]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._link is not None:
            await self._link.close()
        if self._channel is not None:
            await self._channel.close()
        if self._mqtt is not None:
            self._mqtt.disconnect()
            self._mqtt.loop_stop()

    async def run_forever(self) -> None:
        """Start, then run until `stop`."""
        await self.start()
        await self._stopped.wait()

    def delivery(self, robot_id: str) -> tuple[int, dict[Topic, int]] | None:
        """(seq of the last command handled, headerId last published per topic) of a joined
        robot, None if it is not in the fleet: a simulated vehicle has a command once it has
        these messages."""
        v = self._by_robot.get(robot_id)
        if v is None or not v.joined:
            return None
        return v.handled_seq, dict(v.headers)

    # ---------------------------------------------------------------- MQTT (paho's thread)
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log.warning("broker refused the connection: %s", reason)
            return
        topics = [Topic.CONNECTION, Topic.STATE, Topic.FACTSHEET]
        if self.options.visualization:
            topics.append(Topic.VISUALIZATION)
        client.subscribe([(self.protocol.subscription(t), t.qos) for t in topics])
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._broker_up)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        log.warning("broker connection lost (%s): reconnecting", reason)
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self.connected.clear)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self._inbox.append((message.topic, message.payload))
        if not self._drain_scheduled and self._loop is not None:
            self._drain_scheduled = True
            with contextlib.suppress(RuntimeError):  # loop closed while stopping
                self._loop.call_soon_threadsafe(self._drain)

    # ---------------------------------------------------------------- input (the loop)
    def _broker_up(self) -> None:
        self.stats.broker_connects += 1
        self.connected.set()
        log.info("connected to the broker %s", self.options.broker)

    def _vehicle(self, key: VehicleKey) -> _Vehicle:
        v = self.vehicles.get(key)
        if v is None:
            v = self.vehicles[key] = _Vehicle(key)
        return v

    def _drain(self) -> None:
        self._drain_scheduled = False
        while self._inbox:
            name, payload = self._inbox.popleft()
            try:
                key, topic = self.protocol.parse_topic(name)
            except MalformedMessage as err:
                self.stats.drop("message on a foreign topic", name, err)
                continue
            v = self.vehicles.get(key)
            try:
                doc = self.protocol.decode(topic, payload)
                if doc["serialNumber"] != key.serial_number or \
                        doc["manufacturer"] != key.manufacturer:
                    raise MalformedMessage(f"{topic.value}: header names "
                                           f"{doc['manufacturer']}/{doc['serialNumber']}")
                v = self._vehicle(key)
                if topic is Topic.STATE:
                    self._on_state(v, doc)
                elif topic is Topic.CONNECTION:
                    self._on_connection(v, doc)
                elif topic is Topic.FACTSHEET:
                    self._on_factsheet(v, doc)
                elif topic is Topic.VISUALIZATION:
                    self._on_visualization(v, doc)
            except MalformedMessage as err:
                self.stats.drop(f"invalid {topic.value}", v.name if v else key.serial_number,
                                err)

    def _on_connection(self, v: _Vehicle, doc: dict[str, Any]) -> None:
        state = doc["connectionState"]
        log.info("vehicle %s: connection %s", v.name, state)
        if state != "ONLINE":
            self._leave(v, f"connection {state}")

    def _on_factsheet(self, v: _Vehicle, doc: dict[str, Any]) -> None:
        if v.spec is not None or not self.options.discover:
            return
        spec = vehicle_from_factsheet(doc)
        if spec.robot_id in self._by_robot:
            raise MalformedMessage(f"factsheet: robot id {spec.robot_id!r} is taken by "
                                   "another vehicle")
        v.spec = spec
        self._by_robot[spec.robot_id] = v
        log.info("vehicle %s/%s from its factsheet: %s", v.key.manufacturer,
                 v.key.serial_number, spec.kind)
        if v.last_state is not None:
            self._on_state(v, v.last_state)

    def _on_state(self, v: _Vehicle, doc: dict[str, Any]) -> None:
        now = time.monotonic()
        v.last_seen, v.last_state = now, doc
        if v.spec is None:
            if self.options.discover and not v.factsheet_asked:
                v.factsheet_asked = True
                self._publish(v, Outgoing(Topic.INSTANT_ACTIONS, {"actions": [{
                    "actionId": "factsheet-1", "actionType": "factsheetRequest",
                    "blockingType": "NONE"}]}))
            self.stats.drop("state of an unknown vehicle", v.name, "no factsheet, not listed")
            return
        t = v.translator
        if not v.joined:
            if t is not None and t.recovering:
                self._recover(v, t, doc)
                return
            settling = v.settle and (doc["driving"] or bool(doc["nodeStates"]))
            if doc["operatingMode"] in ("AUTOMATIC", "SEMIAUTOMATIC") and v.joining is None \
                    and now >= v.retry_at and v.refused is not v.spec and not settling:
                v.joining = asyncio.create_task(self._join(v, doc))
            return
        assert t is not None and self._link is not None
        reading = t.read_state(doc)
        if reading.restarted:
            self.stats.restarts += 1
            log.warning("vehicle %s restarted: it forgot its order %s at waypoint %d", v.name,
                        t.order.order_id if t.order else "(none)", v.reached)
            self._leave(v, "vehicle restarted")
            for out in t.recovery(v.reached):
                self._publish(v, out)
            return
        if not reading.automatic:
            self._leave(v, f"operatingMode {reading.operating_mode}")
            return
        v.reached = reading.state.waypoints_reached if reading.state.path_id else v.reached
        if reading.behind and now - v.order_sent_at >= self.options.resend_s:
            order = t.order
            assert order is not None
            base = Translator.base_end(doc) if doc["orderId"] == order.order_id else -1
            self.stats.resends += 1
            for out in t.catch_up(base):
                self._publish(v, out)
        if v.instant_pending:
            seen = {a["actionId"] for a in doc["actionStates"]}
            for action_id, (out, sent) in list(v.instant_pending.items()):
                if action_id in seen:
                    del v.instant_pending[action_id]
                elif now - sent >= self.options.resend_s:
                    self.stats.resends += 1
                    self._publish(v, out)
        if reading.rejections and reading.rejections[0] != v.fault:
            self.stats.rejections += 1
            log.warning("vehicle %s: %s", v.name, "; ".join(reading.rejections))
        v.fault = reading.rejections[0] if reading.rejections else ""
        if reading.safety_stop != v.safety_stop:
            if reading.safety_stop:
                self.stats.safety_stops += 1
                log.warning("vehicle %s: safety stop (%s): paused, its cells stay held",
                            v.name, reading.safety_stop)
            else:
                log.warning("vehicle %s: safety stop cleared", v.name)
            v.safety_stop = reading.safety_stop
        if reading.new_base_request:
            self.stats.new_base_requests += 1
        v.seq += 1
        reading.state.robot_id = v.name
        reading.state.seq = v.seq
        if v.forwarded is not None and reading.state.stamp_s < v.forwarded.stamp_s:
            # A visualization stamped later went up already: this state's position is older.
            reading.state.stamp_s = v.forwarded.stamp_s
            reading.state.pose.CopyFrom(v.forwarded.pose)
        v.forwarded = reading.state
        self._link.send_state(reading.state)
        self.stats.states_forwarded += 1
        if reading.new_rejection:
            # It will not drive what the coordinator released to it: as with a dropped link,
            # it leaves (its fault went up first) and registers again where it stops.
            self._leave(v, "order rejected")
            v.settle = True

    def _on_visualization(self, v: _Vehicle, doc: dict[str, Any]) -> None:
        t, last = v.translator, v.forwarded
        if not v.joined or t is None or last is None or self._link is None:
            return  # positions matter only between the states of a vehicle in the fleet
        moved = t.read_position(doc, last)
        if moved is None:
            self.stats.stale_positions += 1
            return
        v.seq += 1
        moved.seq = v.seq
        v.forwarded = moved
        self._link.send_state(moved)
        self.stats.positions_forwarded += 1

    def _recover(self, v: _Vehicle, t: Translator, doc: dict[str, Any]) -> None:
        order = t.order
        assert order is not None
        if doc["orderId"] != order.order_id:
            if time.monotonic() - v.order_sent_at >= self.options.resend_s:
                t.read_state(doc)  # where it stands now
                self.stats.resends += 1
                for out in t.catch_up(-1):
                    self._publish(v, out)
            return
        if doc["lastNodeSequenceId"] >= 2 * order.end and not doc["driving"]:
            log.info("vehicle %s finished its released path after a restart (%s, node %d of %d)",
                     v.name, order.order_id, doc["lastNodeSequenceId"], 2 * order.end)
            t.order = None
            v.reached = 0
            self._on_state(v, doc)

    async def _join(self, v: _Vehicle, doc: dict[str, Any]) -> None:
        assert v.spec is not None and self._link is not None
        spec = v.spec
        try:
            position = doc.get("agvPosition")
            if position is None or not position["positionInitialized"]:
                self.stats.drop("state without a position", v.name, "cannot register yet")
                return
            pose = common_pb2.Pose(x=position["x"], y=position["y"], theta=position["theta"])
            reply = await self._link.join(register_request(spec, pose))
        except GatewayRefused as err:
            v.retry_at = time.monotonic() + 1.0
            if err.code == grpc.StatusCode.INVALID_ARGUMENT:
                log.error("vehicle %s: the coordinator refused it: %s", v.name, err.message)
                v.refused = spec
            else:
                log.info("vehicle %s: register: %s", v.name, err)
            return
        finally:
            v.joining = None
        if v.translator is None:
            v.translator = Translator(v.key, reply.floor_name, self.options.horizon_nodes)
        v.translator.map_id = reply.floor_name
        v.joined, v.seq, v.handled_seq, v.fault, v.forwarded = True, 0, 0, "", None
        v.settle = False
        self.stats.joins += 1
        log.info("vehicle %s joined the fleet at %.2f, %.2f", v.name, pose.x, pose.y)
        if v.last_state is not None:
            try:
                self._on_state(v, v.last_state)
            except MalformedMessage as err:
                self.stats.drop("invalid state", v.name, err)

    def _leave(self, v: _Vehicle, why: str) -> None:
        if not v.joined:
            return
        v.joined = False
        v.retry_at = time.monotonic() + 0.5
        self.stats.leaves[why.split(" ")[0]] += 1
        log.warning("vehicle %s leaves the fleet: %s", v.name, why)
        assert self._link is not None
        self._link.leave(v.name)

    async def _housekeeping(self) -> None:
        while True:
            now = time.monotonic()
            for v in self.vehicles.values():
                if v.joined and now - v.last_seen > self.options.silence_timeout_s:
                    self._leave(v, f"silent for {now - v.last_seen:.1f} s")
            await asyncio.sleep(0.25)

    # ---------------------------------------------------------------- commands down
    def _on_commands(self, robot_id: str,
                     commands: Sequence[robot_link_pb2.RobotCommand]) -> None:
        v = self._by_robot.get(robot_id)
        if v is None or v.translator is None or not v.joined:
            self.stats.drop("command for a vehicle that left", robot_id, len(commands))
            return
        for command in commands:
            for out in v.translator.command(command):
                self._publish(v, out)
            v.handled_seq = max(v.handled_seq, command.seq)
        for problem in v.translator.dropped:
            self.stats.drop("command fleet cannot send", v.name, problem)
        v.translator.dropped.clear()

    def _on_ended(self, robot_id: str, code: grpc.StatusCode, details: str) -> None:
        v = self._by_robot.get(robot_id)
        if v is None:
            return
        if v.joined and not self._stopped.is_set():
            log.warning("vehicle %s: the coordinator ended its session: %s %s", robot_id,
                        code.name, details)
            v.joined = False
            v.retry_at = time.monotonic() + 0.5

    def _publish(self, v: _Vehicle, out: Outgoing) -> None:
        header_id = v.headers.get(out.topic, 0) + 1
        doc = {**self.protocol.header(v.key, header_id, time.time()), **out.body}
        try:
            payload = self.protocol.encode(out.topic, doc)
        except MalformedMessage as err:
            self.stats.drop(f"outgoing {out.topic.value} breaking the schema", v.name, err)
            return
        v.headers[out.topic] = header_id
        now = time.monotonic()
        if out.topic is Topic.ORDER:
            v.order_sent_at = now
        elif out.topic is Topic.INSTANT_ACTIONS:
            for action in out.body["actions"]:
                if action["actionType"] != "factsheetRequest":
                    v.instant_pending[action["actionId"]] = (out, now)
        self.stats.published[out.topic.value] += 1
        self._mqtt.publish(self.protocol.topic(v.key, out.topic), payload, qos=out.topic.qos)


def load_vehicles_file(path: str) -> tuple[VehicleSpec, ...]:
    """The vehicles of a YAML or JSON file: a list under `vehicles:` (see VehicleSpec)."""
    import yaml

    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    entries = doc.get("vehicles") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise MalformedMessage(f"{path}: expected a mapping with a list under 'vehicles'")
    specs = tuple(VehicleSpec.from_document(e, where=f"{path}: vehicles[{i}]")
                  if isinstance(e, dict) else _not_mapping(path, i) for i, e in enumerate(entries))
    ids = [s.robot_id for s in specs]
    if len(set(ids)) != len(ids):
        raise MalformedMessage(f"{path}: robot ids repeat: {sorted(ids)}")
    return specs


def _not_mapping(path: str, i: int) -> VehicleSpec:
    raise MalformedMessage(f"{path}: vehicles[{i}] is not a mapping")
