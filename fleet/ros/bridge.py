"""The bridge: ROS 2 robots join the fleet over the same RobotLink contract as gRPC robots.

One rclpy node serves every robot (namespaced topics, see `fleet.ros.contract`), and one
batched gateway stream (`fleet.gateway`) carries every robot's link to the coordinator: a
robot joins with its `robot_info` and its latest pose, then its states go up and its commands
come down on that stream, with the semantics of a RobotLink stream of its own.

- A state goes up when a robot's `odom` and `diagnostics` with the same stamp have both
  arrived (or `pair_wait_s` after an odom whose diagnostics lag), with the latest battery.
- A robot silent for `silence_timeout_s` (no odom) has its stream closed: the coordinator's
  disconnect rules take over its jobs. It registers again when it speaks again.
- A robot whose node restarted (a new boot_id in `robot_info`) has lost its plan and action:
  its stream is closed (the coordinator holds its released cells), the bridge hands it the
  rest of its released path again (a new plan from where it stands), and once it has driven
  to the end of it, it registers again and the coordinator plans for it afresh. That keeps
  the contract of a dropped stream: finish what was released, stop, register again.
- If the coordinator goes away, every robot registers again once it is back.
- Malformed, out-of-order and duplicate messages are logged, dropped and counted.

ROS callbacks run on the node's thread and only queue the raw message; everything else runs
on the asyncio loop, which owns the bridge's state.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry, Path
from sensor_msgs.msg import BatteryState
from std_msgs.msg import String

from fleet.client import open_channel
from fleet.gateway import Gateway, GatewayRefused
from fleet.model import Pose
from fleet.ros import contract
from fleet.ros.contract import MalformedMessage, PlanPose, Report
from fleet.ros.node import RosNode
from fleet.v1 import common_pb2, robot_link_pb2

__all__ = ["BridgeOptions", "BridgeStats", "RosBridge"]

log = logging.getLogger(__name__)

_INFO_TOPIC = re.compile(r"^/([A-Za-z][A-Za-z0-9_]*)/robot_info$")
_KINDS = {"agv": common_pb2.ROBOT_KIND_AGV, "mobile_welder": common_pb2.ROBOT_KIND_MOBILE_WELDER,
          "fixed_welder": common_pb2.ROBOT_KIND_FIXED_WELDER}
_MODES = {"idle": common_pb2.ROBOT_MODE_IDLE, "moving": common_pb2.ROBOT_MODE_MOVING,
          "acting": common_pb2.ROBOT_MODE_ACTING, "charging": common_pb2.ROBOT_MODE_CHARGING,
          "paused": common_pb2.ROBOT_MODE_PAUSED, "fault": common_pb2.ROBOT_MODE_FAULT}
_STATUSES = {"none": common_pb2.ACTION_STATUS_UNSPECIFIED,
             "running": common_pb2.ACTION_STATUS_RUNNING,
             "succeeded": common_pb2.ACTION_STATUS_SUCCEEDED,
             "failed": common_pb2.ACTION_STATUS_FAILED}
_ACTION_NAMES = {robot_link_pb2.ACTION_KIND_PICK: "pick", robot_link_pb2.ACTION_KIND_DROP: "drop",
                 robot_link_pb2.ACTION_KIND_WELD: "weld",
                 robot_link_pb2.ACTION_KIND_CHARGE: "charge"}
_KEEP_PLANS = 8


@dataclass(frozen=True, slots=True)
class BridgeOptions:
    """How the bridge behaves; times in real seconds."""

    target: str
    """The coordinator, host:port."""
    robots: tuple[dict[str, Any], ...] = ()
    """Robots known in advance (robot_info documents, e.g. from a --robots file)."""
    discover: bool = True
    """Also find robots by their `robot_info` topics."""
    silence_timeout_s: float = 3.0
    pair_wait_s: float = 0.1
    discovery_period_s: float = 0.5
    domain_id: int | None = None
    executor: str = "events"
    """rclpy executor: 'events' (rclpy.experimental.EventsExecutor) or 'single'."""


@dataclass(slots=True)
class BridgeStats:
    """What the bridge has done, for logs, tests and the benchmark."""

    states_forwarded: int = 0
    commands_published: int = 0
    registrations: int = 0
    silent_closes: int = 0
    restarts: int = 0
    dropped: collections.Counter[str] = field(default_factory=collections.Counter)
    ack_latency_s: list[float] = field(default_factory=list)

    def drop(self, reason: str, robot: str, detail: object) -> None:
        """Count a dropped message (and log the first few of each kind)."""
        self.dropped[reason] += 1
        if self.dropped[reason] <= 5:
            log.warning("robot %s: dropped %s: %s", robot, reason, detail)


@dataclass(slots=True)
class _Session:
    """One join of a robot on the gateway stream, until its link ends."""

    seq: int = 0
    closing: str = ""
    ended: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class _Robot:
    namespace: str
    configured: dict[str, Any] | None = None
    announced: dict[str, Any] | None = None
    rejected: dict[str, Any] | None = None
    # latest input
    odom: tuple[float, Pose, float] | None = None
    odom_seen: float = 0.0
    report: Report | None = None
    battery: float = 1.0
    forwarded_stamp: float = -math.inf
    pending_since: float | None = None
    # session and what has gone down to the robot
    session: _Session | None = None
    task: asyncio.Task[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    path_id: str = ""
    plan_stamp: Time | None = None
    plan: list[PlanPose] = field(default_factory=list)
    plans: dict[str, str] = field(default_factory=dict)
    action_seq: int = 0
    sent_at: dict[int, float] = field(default_factory=dict)
    recovery: list[PlanPose] = field(default_factory=list)
    recovery_stamp: str = ""
    recovery_sent: float = 0.0
    publishers: dict[str, Any] = field(default_factory=dict)
    subscriptions: list[Any] = field(default_factory=list)

    @property
    def info(self) -> dict[str, Any] | None:
        return self.configured or self.announced

    @property
    def robot_id(self) -> str:
        info = self.info
        return str(info["robot_id"]) if info else self.namespace


class RosBridge:
    """Relays every discovered ROS 2 robot to the coordinator at `options.target`."""

    def __init__(self, options: BridgeOptions) -> None:
        self.options = options
        self.stats = BridgeStats()
        self.robots: dict[str, _Robot] = {}
        self._inbox: collections.deque[tuple[str, str, Any]] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_scheduled = False
        self._ros: RosNode | None = None
        self._channel: grpc.aio.Channel | None = None
        self._gateway: Gateway | None = None
        self._by_id: dict[str, _Robot] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Open the ROS node and the gRPC channel; start discovery and the robots' sessions."""
        self._loop = asyncio.get_running_loop()
        self._ros = RosNode("fleet_bridge", self.options.domain_id, self.options.executor)
        # TLS and the access token come from FLEET_TLS_CA and FLEET_TOKEN (fleet.client).
        self._channel = open_channel(self.options.target, options=[
            ("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000)])
        self._gateway = Gateway(self._channel, self._commands_down, self._link_ended)
        for doc in self.options.robots:
            info = contract.validate("robot_info", dict(doc))
            ns = info.get("namespace") or contract.default_namespace(info["robot_id"])
            await self._add_robot(ns, configured=info)
        self._tasks.append(asyncio.create_task(self._housekeeping()))
        if self.options.discover:
            self._tasks.append(asyncio.create_task(self._discover()))

    async def stop(self) -> None:
        """Close every session, the channel and the node."""
        self._stopped.set()
        for r in self.robots.values():
            self._close(r, "bridge stopping")
            if r.task is not None:
                r.task.cancel()
        tasks = self._tasks + [r.task for r in self.robots.values() if r.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._gateway is not None:
            await self._gateway.close()
        if self._channel is not None:
            await self._channel.close()
        if self._ros is not None:
            self._ros.close()

    async def run_forever(self) -> None:
        """Start, then run until `stop`."""
        await self.start()
        await self._stopped.wait()

    # ---------------------------------------------------------------- robots
    async def _add_robot(self, namespace: str, configured: dict[str, Any] | None = None) -> None:
        if namespace in self.robots:
            return
        r = _Robot(namespace=namespace, configured=configured)
        self.robots[namespace] = r
        assert self._ros is not None
        node = self._ros.node

        def make() -> None:
            def sub(msg_type: Any, name: str, qos: Any) -> Any:
                def queue(msg: Any, ns: str = namespace, kind: str = name) -> None:
                    self._inbox.append((ns, kind, msg))
                    self._wake()
                return node.create_subscription(msg_type, contract.topic(namespace, name),
                                                queue, qos)
            r.subscriptions = [
                sub(String, "robot_info", contract.LATCHED_QOS),
                sub(Odometry, "odom", 10),
                sub(BatteryState, "battery_state", 10),
                sub(DiagnosticArray, "diagnostics", 10),
                sub(String, "action_status", contract.RELIABLE_QOS)]
            r.publishers = {
                name: node.create_publisher(msg_type, contract.topic(namespace, name),
                                            contract.RELIABLE_QOS)
                for name, msg_type in (("plan", Path), ("plan_limits", String),
                                       ("action", String), ("command_sync", String))}
        await self._ros.run(make)
        r.task = asyncio.create_task(self._run_robot(r))
        log.info("robot namespace /%s: listening", namespace)

    async def _discover(self) -> None:
        assert self._ros is not None
        while True:
            names = await self._ros.run(self._ros.node.get_topic_names_and_types)
            for name, types in names:
                m = _INFO_TOPIC.match(name)
                if m and "std_msgs/msg/String" in types and m.group(1) not in self.robots:
                    await self._add_robot(m.group(1))
            await asyncio.sleep(self.options.discovery_period_s)

    # ---------------------------------------------------------------- input
    def _wake(self) -> None:
        # Called on the ROS thread: wake the loop once per batch, not once per message.
        if not self._drain_scheduled and self._loop is not None:
            self._drain_scheduled = True
            with contextlib.suppress(RuntimeError):  # loop closed while stopping
                self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._drain_scheduled = False
        while self._inbox:
            ns, kind, msg = self._inbox.popleft()
            r = self.robots.get(ns)
            if r is None:
                continue
            try:
                getattr(self, f"_on_{kind}")(r, msg)
            except MalformedMessage as err:
                self.stats.drop(f"malformed {kind}", r.robot_id, err)

    def _remaining_plan(self, r: _Robot) -> list[PlanPose]:
        """The released waypoints the robot has not reached yet (by its last report)."""
        if r.recovery:  # restarted again while recovering
            report = r.report
            if r.recovery_stamp and report is not None and report.plan_stamp == r.recovery_stamp:
                return r.recovery[report.waypoints_reached:]
            return r.recovery
        if not r.plan or r.report is None:
            return []
        reached = 0
        if r.plans.get(r.report.plan_stamp) == r.path_id and r.path_id:
            reached = r.report.waypoints_reached
        return r.plan[reached + 1:]

    def _on_robot_info(self, r: _Robot, msg: String) -> None:
        info = contract.from_json_message("robot_info", msg)
        expected = info.get("namespace") or contract.default_namespace(info["robot_id"])
        if expected != r.namespace:
            raise MalformedMessage(f"robot_info: robot {info['robot_id']!r} belongs in "
                                   f"/{expected}, not /{r.namespace}")
        old, r.announced = r.announced, info
        if old is not None and old.get("boot_id") != info.get("boot_id"):
            self.stats.restarts += 1
            log.warning("robot %s: node restarted (boot %s): registering again", r.robot_id,
                        info.get("boot_id"))
            r.recovery = self._remaining_plan(r)
            r.recovery_stamp = ""
            self._close(r, "robot node restarted")
            r.report, r.odom = None, None
            r.forwarded_stamp = -math.inf
        r.wake.set()

    def _on_odom(self, r: _Robot, msg: Odometry) -> None:
        stamp, pose, speed = contract.read_odometry(msg)
        if r.odom is not None and stamp <= r.odom[0]:
            self.stats.drop("odom out of order" if stamp < r.odom[0] else "odom duplicate",
                            r.robot_id, f"stamp {stamp} after {r.odom[0]}")
            return
        r.odom = (stamp, pose, speed)
        r.odom_seen = time.monotonic()
        r.pending_since = r.odom_seen
        self._try_forward(r)
        r.wake.set()

    def _on_diagnostics(self, r: _Robot, msg: DiagnosticArray) -> None:
        report = contract.read_diagnostics(msg)
        if report is None:
            return
        if r.report is not None and report.stamp_s < r.report.stamp_s:
            self.stats.drop("diagnostics out of order", r.robot_id,
                            f"stamp {report.stamp_s} after {r.report.stamp_s}")
            return
        r.report = report
        self._try_forward(r)

    def _on_battery_state(self, r: _Robot, msg: BatteryState) -> None:
        r.battery = contract.read_battery(msg)

    def _on_action_status(self, r: _Robot, msg: String) -> None:
        doc = contract.from_json_message("action_status", msg)
        sent = r.sent_at.pop(doc["seq"], None)
        if doc["status"] in ("accepted", "rejected") and sent is not None:
            self.stats.ack_latency_s.append(time.monotonic() - sent)
            del self.stats.ack_latency_s[:-10000]
        if doc["status"] == "rejected":
            log.warning("robot %s rejected command %d: %s", r.robot_id, doc["seq"],
                        doc.get("reason", ""))
        else:
            log.debug("robot %s: command %d %s", r.robot_id, doc["seq"], doc["status"])

    # ---------------------------------------------------------------- states up
    def _try_forward(self, r: _Robot, force: bool = False) -> None:
        if r.odom is None or r.session is None or r.session.closing:
            return
        stamp = r.odom[0]
        if stamp <= r.forwarded_stamp:
            return
        paired = r.report is not None and abs(r.report.stamp_s - stamp) < 1e-9
        if not (paired or force):
            return
        r.forwarded_stamp = stamp
        r.pending_since = None
        r.session.seq += 1
        assert self._gateway is not None
        self._gateway.send_state(self._state(r, r.session.seq))
        self.stats.states_forwarded += 1

    def _state(self, r: _Robot, seq: int) -> robot_link_pb2.RobotState:
        assert r.odom is not None
        stamp, pose, speed = r.odom
        report = r.report or Report(stamp_s=stamp)
        msg = robot_link_pb2.RobotState(
            robot_id=r.robot_id, stamp_s=stamp,
            pose=common_pb2.Pose(x=pose.x, y=pose.y, theta=pose.theta),
            speed_mps=speed, battery=r.battery, mode=_MODES[report.mode],
            action_id=report.action_id, action_status=_STATUSES[report.action_status],
            action_progress=report.action_progress, load_id=report.load_id,
            faults=report.faults, seq=seq)
        path_id = r.plans.get(report.plan_stamp, "")
        if path_id:
            msg.path_id = path_id
            msg.waypoints_reached = report.waypoints_reached
        return msg

    async def _housekeeping(self) -> None:
        """Forward odometry whose diagnostics lag; close the streams of silent robots."""
        while True:
            now = time.monotonic()
            for r in self.robots.values():
                if (r.pending_since is not None
                        and now - r.pending_since >= self.options.pair_wait_s):
                    self._try_forward(r, force=True)
                if r.recovery:
                    self._recover(r, now)
                if (r.session is not None and not r.session.closing
                        and now - r.odom_seen > self.options.silence_timeout_s):
                    self.stats.silent_closes += 1
                    log.warning("robot %s silent for %.1f s: closing its stream", r.robot_id,
                                now - r.odom_seen)
                    self._close(r, "robot silent")
                    r.odom = None
            await asyncio.sleep(min(0.05, self.options.pair_wait_s))

    # ---------------------------------------------------------------- the session
    def _ready(self, r: _Robot) -> bool:
        return (r.info is not None and r.info is not r.rejected and r.odom is not None
                and not r.recovery
                and time.monotonic() - r.odom_seen <= self.options.silence_timeout_s)

    def _recover(self, r: _Robot, now: float) -> None:
        """Drive a restarted robot to the end of what was released before it may register."""
        if r.odom is None:
            return
        report = r.report
        if r.recovery_stamp and report is not None and report.plan_stamp == r.recovery_stamp:
            if report.waypoints_reached >= len(r.recovery):
                log.info("robot %s finished its released path after a restart", r.robot_id)
                r.recovery, r.recovery_stamp = [], ""
                r.wake.set()
            return
        if now - r.recovery_sent < 0.5:
            return
        # (Re)send until the restarted robot's subscription has it: published before the
        # robot's subscriber matched, a message is lost.
        if not r.recovery_stamp:
            stamp_s, pose, _ = r.odom
            r.plan_stamp = self._new_plan_stamp(r, stamp_s)
            r.recovery_stamp = contract.stamp_key(r.plan_stamp)
            r.plan = [PlanPose(pose.x, pose.y, pose.theta, stamp_s), *r.recovery]
            log.info("robot %s restarted mid-path: sending the %d released waypoints left",
                     r.robot_id, len(r.recovery))
        self._publish_plan(r, complete=True)
        r.recovery_sent = now

    async def _run_robot(self, r: _Robot) -> None:
        backoff = 0.2
        while not self._stopped.is_set():
            while not self._ready(r):
                r.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(r.wake.wait(), 0.5)
            session = await self._join(r)
            if session is None:
                await asyncio.sleep(backoff)
                backoff = min(2.0, backoff * 2)
                continue
            backoff = 0.2
            await session.ended.wait()
            log.info("robot %s: session ended (%s)", r.robot_id, session.closing)

    async def _join(self, r: _Robot) -> _Session | None:
        """Join the robot on the gateway stream; its session, or None if refused."""
        info, odom = r.info, r.odom
        assert info is not None and odom is not None and self._gateway is not None
        pose = odom[1]
        req = robot_link_pb2.RegisterRequest(
            robot_id=info["robot_id"], kind=_KINDS[info["kind"]],
            footprint_radius_m=info["footprint_radius_m"], max_speed_mps=info["max_speed_mps"],
            pose=common_pb2.Pose(x=pose.x, y=pose.y, theta=pose.theta))
        if "max_payload_kg" in info:
            req.transport.max_payload_kg = info["max_payload_kg"]
        if "weld_programs" in info:
            req.weld.programs.extend(info["weld_programs"])
        # Commands for the robot may come in the same message as the answer to its join.
        session = _Session()
        self._by_id[r.robot_id] = r
        r.session = session
        r.path_id, r.plan_stamp, r.plan, r.action_seq = "", None, [], 0
        try:
            await self._gateway.join(req)
        except GatewayRefused as err:
            if r.session is session:
                r.session = None
            if err.code in (grpc.StatusCode.INVALID_ARGUMENT,
                            grpc.StatusCode.PERMISSION_DENIED):
                log.error("robot %s: the coordinator refused it: %s", r.robot_id, err.message)
                r.rejected = info
            elif err.code == grpc.StatusCode.FAILED_PRECONDITION:
                log.debug("robot %s: join: %s", r.robot_id, err.message)
            else:
                log.info("robot %s: join: %s %s", r.robot_id, err.code.name, err.message)
            return None
        if r.session is not session:  # closed (silent, restarted) while joining
            self._gateway.leave(r.robot_id)
            return None
        self.stats.registrations += 1
        log.info("robot %s registered at %.2f, %.2f", r.robot_id, pose.x, pose.y)
        r.forwarded_stamp = -math.inf
        self._try_forward(r, force=True)
        return session

    def _link_ended(self, robot_id: str, code: grpc.StatusCode, message: str) -> None:
        """The coordinator ended the robot's link (or the gateway stream broke)."""
        r = self._by_id.get(robot_id)
        if r is None or r.session is None:
            return
        session, r.session = r.session, None
        if not session.closing:
            log.warning("robot %s: link ended by the coordinator: %s %s", robot_id, code.name,
                        message)
            session.closing = "link ended"
        session.ended.set()

    def _close(self, r: _Robot, why: str) -> None:
        session = r.session
        if session is None or session.closing:
            return
        session.closing = why
        r.session = None
        if self._gateway is not None:
            self._gateway.leave(r.robot_id)
        session.ended.set()

    def _commands_down(self, robot_id: str,
                       commands: Sequence[robot_link_pb2.RobotCommand]) -> None:
        r = self._by_id.get(robot_id)
        if r is None or r.session is None:
            return
        for command in commands:
            self._command_down(r, command)

    # ---------------------------------------------------------------- commands down
    def _command_down(self, r: _Robot, command: robot_link_pb2.RobotCommand) -> None:
        body = command.WhichOneof("body")
        if body == "follow_path":
            if not self._plan_down(r, command.follow_path):
                return
        else:
            doc: dict[str, Any] = {"seq": command.seq}
            if body == "action":
                a = command.action
                name = _ACTION_NAMES.get(a.kind)
                if name is None:
                    self.stats.drop("command of unknown action kind", r.robot_id, a.kind)
                    return
                doc.update(command=name, action_id=a.action_id, station_id=a.station_id)
                if name in ("pick", "drop"):
                    doc["load_id"] = a.load_id
                if name == "weld":
                    doc.update(program=a.program, duration_s=a.duration_s)
                elif a.duration_s > 0 and name != "charge":
                    doc["duration_s"] = a.duration_s
            elif body in ("pause", "cancel"):
                doc.update(command=body, reason=getattr(command, body).reason)
            elif body == "resume":
                doc["command"] = "resume"
            else:
                self.stats.drop("empty command", r.robot_id, command.seq)
                return
            try:
                msg = contract.to_json_message("action", doc)
            except MalformedMessage as err:
                self.stats.drop("command breaking the action schema", r.robot_id, err)
                return
            r.publishers["action"].publish(msg)
            r.action_seq = command.seq
            r.sent_at[command.seq] = time.monotonic()
            if len(r.sent_at) > 1000:
                r.sent_at.pop(next(iter(r.sent_at)))
        self.stats.commands_published += 1
        r.publishers["command_sync"].publish(contract.to_json_message("command_sync", {
            "seq": command.seq, "action_seq": r.action_seq, "plan_length": len(r.plan),
            "plan_stamp": contract.stamp_key(r.plan_stamp) if r.plan_stamp else ""}))

    @staticmethod
    def _new_plan_stamp(r: _Robot, stamp_s: float) -> Time:
        """A plan stamp at stamp_s, later than any earlier plan of this robot."""
        stamp = contract.time_of(stamp_s)
        last = r.plan_stamp
        if last is not None and (stamp.sec, stamp.nanosec) <= (last.sec, last.nanosec):
            ns = last.sec * 1_000_000_000 + last.nanosec + 1
            stamp = Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)
        return stamp

    def _plan_down(self, r: _Robot, fp: robot_link_pb2.FollowPath) -> bool:
        if fp.path_id != r.path_id:
            # A new path: poses[0] is where the robot stands; its stamp names the plan.
            stamp_s, pose, _ = r.odom or (0.0, Pose(0.0, 0.0, 0.0), 0.0)
            stamp = self._new_plan_stamp(r, stamp_s)
            r.path_id, r.plan_stamp = fp.path_id, stamp
            r.plan = [PlanPose(pose.x, pose.y, pose.theta, stamp_s)]
            r.plans[contract.stamp_key(stamp)] = fp.path_id
            while len(r.plans) > _KEEP_PLANS:
                r.plans.pop(next(iter(r.plans)))
        if fp.first_index < 1 or fp.first_index > len(r.plan):
            self.stats.drop("path segment with a gap", r.robot_id,
                            f"{fp.path_id} from {fp.first_index}, have {len(r.plan) - 1}")
            return False
        del r.plan[fp.first_index:]
        r.plan.extend(PlanPose(w.x, w.y, w.theta, w.t_s, w.max_speed_mps)
                      for w in fp.waypoints)
        self._publish_plan(r, fp.complete)
        return True

    @staticmethod
    def _publish_plan(r: _Robot, complete: bool) -> None:
        """The plan, and just before it its limits (nav_msgs/Path cannot carry them)."""
        assert r.plan_stamp is not None
        r.publishers["plan_limits"].publish(
            contract.plan_limits_message(r.plan_stamp, r.plan, complete))
        r.publishers["plan"].publish(contract.plan_message(r.plan_stamp, r.plan))


def load_robots_file(path: str) -> tuple[dict[str, Any], ...]:
    """The robots of a YAML or JSON file: a list of robot_info documents under `robots:`."""
    import yaml

    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    robots = doc.get("robots") if isinstance(doc, dict) else None
    if not isinstance(robots, list):
        raise MalformedMessage(f"{path}: expected a mapping with a list under 'robots'")
    out = []
    for i, entry in enumerate(robots):
        try:
            out.append(contract.validate("robot_info", entry))
        except MalformedMessage as err:
            raise MalformedMessage(f"{path}: robots[{i}]: {err}") from err
    return tuple(out)


def new_boot_id() -> str:
    """A fresh boot id for a robot_info document."""
    return uuid.uuid4().hex[:16]

