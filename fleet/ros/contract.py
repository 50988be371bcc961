"""The ROS 2 interface of fleet: topic names, QoS, frames, and conversions both ends share.

Everything here is plain data in and out; no node, no threads. The bridge (fleet side) and
the simulated robots (robot side) both use it, so the two ends cannot drift apart.

Per robot, under its namespace `/<ns>/`:

| topic | type | direction | what |
|---|---|---|---|
| `robot_info` | std_msgs/String (JSON, latched) | robot to fleet | who the robot is |
| `odom` | nav_msgs/Odometry | robot to fleet | pose and speed (the heartbeat) |
| `battery_state` | sensor_msgs/BatteryState | robot to fleet | state of charge |
| `diagnostics` | diagnostic_msgs/DiagnosticArray | robot to fleet | mode, faults, progress |
| `action_status` | std_msgs/String (JSON) | robot to fleet | acknowledgement, completion |
| `plan` | nav_msgs/Path | fleet to robot | the released path, timed poses |
| `plan_limits` | std_msgs/String (JSON) | fleet to robot | speed limits, `complete` |
| `action` | std_msgs/String (JSON) | fleet to robot | pick, drop, weld, charge, ... |
| `command_sync` | std_msgs/String (JSON) | fleet to robot | seq of the last command |

JSON messages are validated against the schemas in `fleet/ros/schemas/` on both ends.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry, Path
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import BatteryState
from std_msgs.msg import String

from fleet.model import Pose

__all__ = [
    "ACTION_COMMANDS",
    "DIAGNOSTIC_NAME",
    "FRAME_BASE",
    "FRAME_MAP",
    "FRAME_ODOM",
    "LATCHED_QOS",
    "RELIABLE_QOS",
    "MalformedMessage",
    "PlanPose",
    "Report",
    "default_namespace",
    "diagnostics_message",
    "from_json_message",
    "odometry_message",
    "plan_limits_message",
    "plan_message",
    "read_battery",
    "read_diagnostics",
    "read_odometry",
    "read_plan",
    "read_plan_limits",
    "schema",
    "stamp_key",
    "stamp_to_s",
    "time_of",
    "to_json_message",
    "topic",
    "validate",
]

FRAME_MAP = "map"
FRAME_ODOM = "odom"
FRAME_BASE = "base_link"
DIAGNOSTIC_NAME = "fleet"
ACTION_COMMANDS = ("pick", "drop", "weld", "charge", "pause", "resume", "cancel")

# Commands and plans must not be lost: reliable, and deep enough for a burst of a step.
RELIABLE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50,
                          reliability=ReliabilityPolicy.RELIABLE)
# robot_info is latched: a bridge that starts later still gets it.
LATCHED_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)

_NAMESPACE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


class MalformedMessage(ValueError):
    """A message that breaks the contract; the receiver logs, drops and counts it."""


def default_namespace(robot_id: str) -> str:
    """The ROS namespace of a robot id: '-' and '.' (not allowed in ROS names) become '_'."""
    ns = re.sub(r"[^A-Za-z0-9_]", "_", robot_id)
    if not ns[:1].isalpha():
        ns = "r" + ns
    return ns


def topic(namespace: str, name: str) -> str:
    """The full topic name of `name` under a robot's namespace."""
    if not _NAMESPACE.match(namespace):
        raise MalformedMessage(f"namespace {namespace!r} is not a valid ROS namespace")
    return f"/{namespace}/{name}"


# ------------------------------------------------------------------------- time
def time_of(stamp_s: float) -> Time:
    """A builtin_interfaces/Time for `stamp_s` seconds (non-negative)."""
    ns = round(max(0.0, stamp_s) * 1e9)
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def stamp_to_s(stamp: Time) -> float:
    """Seconds of a builtin_interfaces/Time."""
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def stamp_key(stamp: Time) -> str:
    """A Time as the exact text `sec.nanosec`: plans are told apart by their stamp."""
    return f"{stamp.sec}.{stamp.nanosec:09d}"


# ------------------------------------------------------------------------- JSON
@cache
def schema(name: str) -> dict[str, Any]:
    """The published JSON schema `name` (action, action_status, robot_info, command_sync,
    plan_limits)."""
    text = (resources.files("fleet.ros") / "schemas" / f"{name}.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator(name: str) -> Any:
    import jsonschema

    cls = jsonschema.validators.validator_for(schema(name))
    cls.check_schema(schema(name))
    return cls(schema(name))


def validate(name: str, doc: Any) -> dict[str, Any]:
    """`doc` if it satisfies schema `name`, else MalformedMessage naming the first problem."""
    errors = sorted(_validator(name).iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(message)"
        raise MalformedMessage(f"{name}: {where}: {err.message}")
    result: dict[str, Any] = doc
    return result


def to_json_message(name: str, doc: dict[str, Any]) -> String:
    """A std_msgs/String carrying `doc`, checked against schema `name` before it leaves."""
    return String(data=json.dumps(validate(name, doc), separators=(",", ":"),
                                  sort_keys=True))


def from_json_message(name: str, msg: String) -> dict[str, Any]:
    """The document a std_msgs/String carries, checked against schema `name`."""
    try:
        doc = json.loads(msg.data)
    except ValueError as err:
        raise MalformedMessage(f"{name}: not JSON: {err}") from err
    return validate(name, doc)


# ------------------------------------------------------------------------- odometry
def odometry_message(stamp_s: float, pose: Pose, speed_mps: float,
                     frame_id: str = FRAME_ODOM) -> Odometry:
    """Odometry of a robot whose odom frame coincides with the map (perfect localization)."""
    msg = Odometry()
    msg.header.stamp = time_of(stamp_s)
    msg.header.frame_id = frame_id
    msg.child_frame_id = FRAME_BASE
    msg.pose.pose.position.x = pose.x
    msg.pose.pose.position.y = pose.y
    msg.pose.pose.orientation.z = math.sin(pose.theta / 2)
    msg.pose.pose.orientation.w = math.cos(pose.theta / 2)
    msg.twist.twist.linear.x = speed_mps
    return msg


def _yaw(x: float, y: float, z: float, w: float) -> float:
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def read_odometry(msg: Odometry) -> tuple[float, Pose, float]:
    """(stamp seconds, pose in the map frame, speed m/s) of an Odometry message.

    The pose must be in `map` (a localized robot) or `odom` (taken to coincide with `map`:
    robots whose odometry drifts publish their localized pose in `map`).
    """
    if msg.header.frame_id.lstrip("/") not in (FRAME_MAP, FRAME_ODOM):
        raise MalformedMessage(f"odom: header.frame_id {msg.header.frame_id!r} is not "
                               f"{FRAME_MAP!r} or {FRAME_ODOM!r}")
    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    tw = msg.twist.twist.linear
    values = (p.x, p.y, q.x, q.y, q.z, q.w, tw.x, tw.y)
    if not all(math.isfinite(v) for v in values):
        raise MalformedMessage("odom: pose or twist is not finite")
    norm = math.sqrt(q.x * q.x + q.y * q.y + q.z * q.z + q.w * q.w)
    if norm < 1e-6:
        raise MalformedMessage("odom: orientation is a zero quaternion")
    pose = Pose(p.x, p.y, _yaw(q.x / norm, q.y / norm, q.z / norm, q.w / norm))
    return stamp_to_s(msg.header.stamp), pose, math.hypot(tw.x, tw.y)


# ------------------------------------------------------------------------- battery
def battery_message(stamp_s: float, fraction: float) -> BatteryState:
    """A BatteryState with `percentage` (0 to 1, as the message defines it)."""
    msg = BatteryState()
    msg.header.stamp = time_of(stamp_s)
    msg.percentage = float(fraction)
    msg.present = True
    return msg


def read_battery(msg: BatteryState) -> float:
    """State of charge 0 to 1 from BatteryState.percentage."""
    value = float(msg.percentage)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise MalformedMessage(f"battery_state: percentage {value} is not within 0 to 1")
    return value


# ------------------------------------------------------------------------- diagnostics
_MODES = ("idle", "moving", "acting", "charging", "paused", "fault")
_ACTION_STATUSES = ("none", "running", "succeeded", "failed")


@dataclass(slots=True)
class Report:
    """What a robot says about itself in its `diagnostics` (DiagnosticStatus named 'fleet')."""

    stamp_s: float
    mode: str = "idle"
    plan_stamp: str = ""
    waypoints_reached: int = 0
    action_id: str = ""
    action_status: str = "none"
    action_progress: float = 0.0
    load_id: str = ""
    faults: list[str] = field(default_factory=list)


def diagnostics_message(robot_id: str, report: Report) -> DiagnosticArray:
    """The robot's DiagnosticArray: one status named 'fleet', level ERROR when in fault."""
    status = DiagnosticStatus()
    status.name = DIAGNOSTIC_NAME
    status.hardware_id = robot_id
    if report.mode == "fault":
        status.level = DiagnosticStatus.ERROR
    elif report.faults:
        status.level = DiagnosticStatus.WARN
    else:
        status.level = DiagnosticStatus.OK
    status.message = "; ".join(report.faults) or report.mode
    status.values = [KeyValue(key=k, value=v) for k, v in (
        ("mode", report.mode), ("plan_stamp", report.plan_stamp),
        ("waypoints_reached", str(report.waypoints_reached)),
        ("action_id", report.action_id), ("action_status", report.action_status),
        ("action_progress", f"{report.action_progress:.4f}"),
        ("load_id", report.load_id), ("faults", ";".join(report.faults)))]
    msg = DiagnosticArray()
    msg.header.stamp = time_of(report.stamp_s)
    msg.status = [status]
    return msg


def read_diagnostics(msg: DiagnosticArray) -> Report | None:
    """The fleet Report in a DiagnosticArray; None if it has no status named 'fleet'."""
    for status in msg.status:
        if status.name != DIAGNOSTIC_NAME:
            continue
        values = {kv.key: kv.value for kv in status.values}
        report = Report(stamp_s=stamp_to_s(msg.header.stamp))
        report.mode = values.get("mode", "idle")
        if report.mode not in _MODES:
            raise MalformedMessage(f"diagnostics: mode {report.mode!r} is not one of {_MODES}")
        report.action_status = values.get("action_status", "none")
        if report.action_status not in _ACTION_STATUSES:
            raise MalformedMessage(f"diagnostics: action_status {report.action_status!r} "
                                   f"is not one of {_ACTION_STATUSES}")
        try:
            report.waypoints_reached = int(values.get("waypoints_reached", "0"))
            report.action_progress = float(values.get("action_progress", "0"))
        except ValueError as err:
            raise MalformedMessage(f"diagnostics: {err}") from err
        if report.waypoints_reached < 0:
            raise MalformedMessage("diagnostics: waypoints_reached is negative")
        if not 0.0 <= report.action_progress <= 1.0:
            raise MalformedMessage(f"diagnostics: action_progress {report.action_progress} "
                                   "is not within 0 to 1")
        report.plan_stamp = values.get("plan_stamp", "")
        report.action_id = values.get("action_id", "")
        report.load_id = values.get("load_id", "")
        report.faults = [f for f in values.get("faults", "").split(";") if f]
        return report
    return None


# ------------------------------------------------------------------------- plan
@dataclass(frozen=True, slots=True)
class PlanPose:
    """One pose of a plan: where (map frame, metres, radians) and when (seconds).

    `max_speed_mps` is the speed limit on the way to it (0: the robot's own top speed); it
    travels in the plan's `plan_limits` companion, nav_msgs/Path has no field for it.
    """

    x: float
    y: float
    theta: float
    t_s: float
    max_speed_mps: float = 0.0


def plan_message(stamp: Time, poses: list[PlanPose]) -> Path:
    """The released path as a nav_msgs/Path in `map`.

    poses[0] is where the robot stood when the path was planned; poses[i] is waypoint i,
    stamped with when to reach it. header.stamp names the path: a plan with the stamp of the
    one the robot follows extends it (keep going); a new stamp replaces it.
    """
    msg = Path()
    msg.header.stamp = stamp
    msg.header.frame_id = FRAME_MAP
    out = []
    for p in poses:
        ps = PoseStamped()
        ps.header.stamp = time_of(p.t_s)
        ps.header.frame_id = FRAME_MAP
        ps.pose.position.x = p.x
        ps.pose.position.y = p.y
        ps.pose.orientation.z = math.sin(p.theta / 2)
        ps.pose.orientation.w = math.cos(p.theta / 2)
        out.append(ps)
    msg.poses = out
    return msg


def read_plan(msg: Path) -> tuple[str, list[PlanPose]]:
    """(stamp key, poses) of a plan; MalformedMessage if not in `map` or not finite."""
    if msg.header.frame_id.lstrip("/") != FRAME_MAP:
        raise MalformedMessage(f"plan: header.frame_id {msg.header.frame_id!r} is not "
                               f"{FRAME_MAP!r}")
    if not msg.poses:
        raise MalformedMessage("plan: no poses")
    poses = []
    for i, ps in enumerate(msg.poses):
        p, q = ps.pose.position, ps.pose.orientation
        if ps.header.frame_id.lstrip("/") not in ("", FRAME_MAP):
            raise MalformedMessage(f"plan: poses[{i}] is in {ps.header.frame_id!r}")
        if not all(math.isfinite(v) for v in (p.x, p.y, q.x, q.y, q.z, q.w)):
            raise MalformedMessage(f"plan: poses[{i}] is not finite")
        poses.append(PlanPose(p.x, p.y, _yaw(q.x, q.y, q.z, q.w), stamp_to_s(ps.header.stamp)))
    return stamp_key(msg.header.stamp), poses


def plan_limits_message(stamp: Time, poses: list[PlanPose], complete: bool) -> String:
    """The plan's companion: its poses' speed limits and whether more will follow."""
    return to_json_message("plan_limits", {
        "plan_stamp": stamp_key(stamp), "max_speed_mps": [p.max_speed_mps for p in poses],
        "complete": complete})


def read_plan_limits(msg: String) -> tuple[str, list[float], bool]:
    """(plan stamp key, speed limit per pose, complete) of a plan_limits message."""
    doc = from_json_message("plan_limits", msg)
    return doc["plan_stamp"], [float(v) for v in doc["max_speed_mps"]], doc["complete"]
