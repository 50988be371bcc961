"""Simulated robots as ROS 2 robots: one node, one namespace per robot, the fleet's ROS contract.

Each robot publishes `robot_info` (latched, with a fresh boot_id whenever it connects),
`diagnostics`, `battery_state` and `odom` (in that order, the same stamp) every control tick,
and `action_status` when it accepts an action command and when the action ends. It follows
`plan`, once it holds the plan's `plan_limits` too (speed limits per waypoint), and `action`.
To keep the simulation in lockstep it reads `command_sync`: command seq has arrived once the
latest sync says so and the plan and action it names are here.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry, Path
from sensor_msgs.msg import BatteryState
from std_msgs.msg import String

from fleet.model import Pose
from fleet.ros import contract
from fleet.ros.contract import MalformedMessage, PlanPose, Report
from fleet.ros.node import RosNode
from fleet.v1 import common_pb2, robot_link_pb2
from sim.robot import SimRobot

__all__ = ["RosLink", "RosRobots"]

log = logging.getLogger(__name__)

_MODE_NAMES = {common_pb2.ROBOT_MODE_UNSPECIFIED: "idle", common_pb2.ROBOT_MODE_IDLE: "idle",
               common_pb2.ROBOT_MODE_MOVING: "moving", common_pb2.ROBOT_MODE_ACTING: "acting",
               common_pb2.ROBOT_MODE_CHARGING: "charging",
               common_pb2.ROBOT_MODE_PAUSED: "paused", common_pb2.ROBOT_MODE_FAULT: "fault"}
_STATUS_NAMES = {common_pb2.ACTION_STATUS_UNSPECIFIED: "none",
                 common_pb2.ACTION_STATUS_RUNNING: "running",
                 common_pb2.ACTION_STATUS_SUCCEEDED: "succeeded",
                 common_pb2.ACTION_STATUS_FAILED: "failed"}
_ACTION_KINDS = {"pick": robot_link_pb2.ACTION_KIND_PICK, "drop": robot_link_pb2.ACTION_KIND_DROP,
                 "weld": robot_link_pb2.ACTION_KIND_WELD,
                 "charge": robot_link_pb2.ACTION_KIND_CHARGE}
_KIND_NAMES = {"agv": "agv", "mobile_welder": "mobile_welder", "fixed_welder": "fixed_welder"}


class RosRobots:
    """The node every simulated ROS robot of a run lives on."""

    def __init__(self, domain_id: int | None = None) -> None:
        self.ros = RosNode("fleet_sim_robots", domain_id)
        self.dropped: collections.Counter[str] = collections.Counter()

    def link(self, robot: SimRobot) -> RosLink:
        """The ROS endpoints of one robot (opened by `connect`)."""
        return RosLink(self, robot)

    def close(self) -> None:
        """Shut the node down."""
        self.ros.close()


class RosLink:
    """One simulated robot's topics; the same interface as `sim.grpc_link.GrpcLink`."""

    def __init__(self, host: RosRobots, robot: SimRobot) -> None:
        self.host = host
        self.robot = robot
        self.namespace = contract.default_namespace(robot.spec.id)
        self._lock = threading.Lock()
        self._received: list[robot_link_pb2.RobotCommand] = []
        self._sync: dict[str, Any] | None = None
        self._plan_stamp = ""
        self._plan_length = 0
        self._plans: dict[str, list[PlanPose]] = {}
        self._limits: dict[str, list[float]] = {}
        self._action_seq = 0
        self._action_seqs: dict[str, int] = {}
        self._reported: tuple[str, int] = ("", 0)
        self._publishers: dict[str, Any] = {}
        self._subscriptions: list[Any] = []

    # ---------------------------------------------------------------- lifecycle
    @property
    def connected(self) -> bool:
        """True while the robot's topics are up."""
        return bool(self._publishers)

    @property
    def synced(self) -> bool:
        """True once a command_sync has arrived since the robot's topics came up."""
        with self._lock:
            return self._sync is not None

    async def connect(self) -> bool:
        """Open the robot's publishers and subscriptions and announce it (a new boot)."""
        await self.disconnect()
        node = self.host.ros.node
        ns = self.namespace

        def make() -> None:
            pubs = {name: node.create_publisher(t, contract.topic(ns, name), qos) for name, t, qos
                    in (("robot_info", String, contract.LATCHED_QOS),
                        ("odom", Odometry, 10), ("battery_state", BatteryState, 10),
                        ("diagnostics", DiagnosticArray, 10),
                        ("action_status", String, contract.RELIABLE_QOS))}
            self._subscriptions = [
                node.create_subscription(Path, contract.topic(ns, "plan"), self._on_plan,
                                         contract.RELIABLE_QOS),
                node.create_subscription(String, contract.topic(ns, "plan_limits"),
                                         self._on_limits, contract.RELIABLE_QOS),
                node.create_subscription(String, contract.topic(ns, "action"), self._on_action,
                                         contract.RELIABLE_QOS),
                node.create_subscription(String, contract.topic(ns, "command_sync"),
                                         self._on_sync, contract.RELIABLE_QOS)]
            self._publishers = pubs
        await self.host.ros.run(make)
        spec = self.robot.spec
        info: dict[str, Any] = {
            "robot_id": spec.id, "kind": _KIND_NAMES[spec.kind.value],
            "footprint_radius_m": spec.radius_m, "max_speed_mps": spec.max_speed_mps,
            "boot_id": _boot_id()}
        if spec.transport is not None:
            info["max_payload_kg"] = spec.transport.max_payload_kg
        if spec.weld is not None:
            info["weld_programs"] = sorted(spec.weld.programs)
        self._publishers["robot_info"].publish(contract.to_json_message("robot_info", info))
        return True

    async def disconnect(self) -> None:
        """Destroy the robot's topics (its node going away)."""
        pubs, subs = self._publishers, self._subscriptions
        self._publishers, self._subscriptions = {}, []
        with self._lock:
            self._received, self._sync = [], None
            self._plan_stamp, self._plan_length, self._action_seq = "", 0, 0
            self._plans, self._limits = {}, {}
        if not pubs and not subs:
            return
        node = self.host.ros.node

        def destroy() -> None:
            for p in pubs.values():
                node.destroy_publisher(p)
            for s in subs:
                node.destroy_subscription(s)
        await self.host.ros.run(destroy)

    async def restart(self) -> None:
        """The robot's node restarts: topics go and come back, its driver forgets everything."""
        await self.disconnect()
        self.robot.reboot()
        self._reported = ("", 0)
        await self.connect()

    # ---------------------------------------------------------------- state up
    def send_state(self, t_s: float) -> None:
        """Publish this tick's diagnostics, battery and odometry, and any action completion."""
        pubs = self._publishers
        if not pubs:
            return
        st = self.robot.state(t_s)
        report = Report(stamp_s=t_s, mode=_MODE_NAMES[st.mode], plan_stamp=st.path_id,
                        waypoints_reached=st.waypoints_reached, action_id=st.action_id,
                        action_status=_STATUS_NAMES[st.action_status],
                        action_progress=min(1.0, max(0.0, st.action_progress)),
                        load_id=st.load_id, faults=list(st.faults))
        if (st.action_id and st.action_status in (common_pb2.ACTION_STATUS_SUCCEEDED,
                                                  common_pb2.ACTION_STATUS_FAILED)
                and self._reported != (st.action_id, st.action_status)):
            self._reported = (st.action_id, st.action_status)
            seq = self._action_seqs.get(st.action_id)
            if seq is not None:
                pubs["action_status"].publish(contract.to_json_message("action_status", {
                    "seq": seq, "action_id": st.action_id,
                    "status": report.action_status}))
        pubs["diagnostics"].publish(contract.diagnostics_message(st.robot_id, report))
        pubs["battery_state"].publish(contract.battery_message(t_s, st.battery))
        pose = Pose(st.pose.x, st.pose.y, st.pose.theta)
        pubs["odom"].publish(contract.odometry_message(t_s, pose, st.speed_mps))

    # ---------------------------------------------------------------- commands down
    def _on_plan(self, msg: Path) -> None:
        try:
            key, poses = contract.read_plan(msg)
        except MalformedMessage as err:
            self._drop("malformed plan", err)
            return
        with self._lock:
            self._plans[key] = poses
            self._follow(key)

    def _on_limits(self, msg: String) -> None:
        try:
            key, limits, _complete = contract.read_plan_limits(msg)
        except MalformedMessage as err:
            self._drop("malformed plan_limits", err)
            return
        with self._lock:
            self._limits[key] = limits
            self._follow(key)

    def _follow(self, key: str) -> None:
        """Drive plan `key` once its poses and their speed limits are both here."""
        poses, limits = self._plans.get(key), self._limits.get(key)
        if poses is None or limits is None or len(limits) < len(poses):
            return
        self._received.append(robot_link_pb2.RobotCommand(follow_path=robot_link_pb2.FollowPath(
            path_id=key, first_index=1, waypoints=[
                robot_link_pb2.TimedWaypoint(x=p.x, y=p.y, theta=p.theta, t_s=p.t_s,
                                             max_speed_mps=limit)
                for p, limit in zip(poses[1:], limits[1:], strict=False)])))
        self._plan_stamp, self._plan_length = key, len(poses)
        for kept in (self._plans, self._limits):
            while len(kept) > 8:
                kept.pop(next(iter(kept)))

    def _on_action(self, msg: String) -> None:
        try:
            doc = contract.from_json_message("action", msg)
        except MalformedMessage as err:
            self._drop("malformed action", err)
            return
        seq, name = doc["seq"], doc["command"]
        command = robot_link_pb2.RobotCommand(seq=seq)
        if name in _ACTION_KINDS:
            command.action.CopyFrom(robot_link_pb2.PerformAction(
                action_id=doc["action_id"], kind=_ACTION_KINDS[name],
                station_id=doc["station_id"], load_id=doc.get("load_id", ""),
                program=doc.get("program", ""), duration_s=doc.get("duration_s", 0.0)))
            self._action_seqs[doc["action_id"]] = seq
            while len(self._action_seqs) > 100:
                self._action_seqs.pop(next(iter(self._action_seqs)))
        elif name == "pause":
            command.pause.reason = doc.get("reason", "")
        elif name == "resume":
            command.resume.SetInParent()
        else:
            command.cancel.reason = doc.get("reason", "")
        with self._lock:
            self._received.append(command)
            self._action_seq = seq
        pub = self._publishers.get("action_status")
        if pub is not None:
            ack: dict[str, Any] = {"seq": seq, "status": "accepted"}
            if "action_id" in doc:
                ack["action_id"] = doc["action_id"]
            pub.publish(contract.to_json_message("action_status", ack))

    def _on_sync(self, msg: String) -> None:
        try:
            doc = contract.from_json_message("command_sync", msg)
        except MalformedMessage as err:
            self._drop("malformed command_sync", err)
            return
        with self._lock:
            self._sync = doc

    def _drop(self, reason: str, err: Exception) -> None:
        self.host.dropped[reason] += 1
        log.warning("robot %s: dropped %s: %s", self.robot.spec.id, reason, err)

    def take_commands(self) -> None:
        """Apply every command received so far, in order."""
        with self._lock:
            received, self._received = self._received, []
        for command in received:
            self.robot.apply(command)

    def has_received(self, seq: int) -> bool:
        """True once every command up to `seq` is here (or the robot is offline)."""
        if seq <= 0 or not self._publishers:
            return True
        with self._lock:
            sync = self._sync
            if sync is None or sync["seq"] < seq:
                return False
            if self._action_seq < sync["action_seq"]:
                return False
            plan_here = (self._plan_stamp == sync["plan_stamp"]
                         and self._plan_length >= sync["plan_length"])
            return not sync["plan_stamp"] or plan_here


def _boot_id() -> str:
    import uuid

    return uuid.uuid4().hex[:16]
