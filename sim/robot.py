"""A simulated robot's kinematics and command handling, apart from any transport.

`sim.grpc_link` connects it to the coordinator over gRPC RobotLink and `sim.ros_link` as a
ROS 2 robot; both hand it the RobotLink command messages and report its `state`.
The robot keeps to the contract: it drives only along released waypoints (never past the last
one), keeps to their times when early, reports its state once per control tick, and keeps the
outcome of its last action across reconnections.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from fleet.model import Pose, RobotSpec, battery_model
from fleet.v1 import common_pb2, robot_link_pb2

__all__ = ["SimRobot", "Waypoint"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Waypoint:
    """A released waypoint: where (metres), no sooner than when (seconds), how fast at most."""

    x: float
    y: float
    t_s: float
    max_speed_mps: float


@dataclass(slots=True)
class _Action:
    action_id: str
    kind: int
    load_id: str
    remaining_s: float
    duration_s: float
    status: common_pb2.ActionStatus = common_pb2.ACTION_STATUS_RUNNING


class SimRobot:
    """One simulated robot; `tick` moves it, `apply` takes a command, `state` reports."""

    ACTION_TIME_S = {robot_link_pb2.ACTION_KIND_PICK: 20.0,
                     robot_link_pb2.ACTION_KIND_DROP: 20.0}

    def __init__(self, spec: RobotSpec, pose: Pose) -> None:
        self.spec = spec
        self.model = battery_model(spec.kind)
        """The consumption model the dispatcher plans with, for this kind of robot."""
        self.pose = pose
        self.speed = 0.0
        self.battery = 1.0
        self.path_id = ""
        self.waypoints: dict[int, Waypoint] = {}
        self.reached = 0
        self.action: _Action | None = None
        self.load_id = ""
        self.paused = False
        self.busy_s = 0.0
        self.seq = 0
        self.hold_until_s = 0.0
        """Fault injection: the robot stands still until then (something in its way)."""
        self.faults: list[str] = []
        """Fault injection: while not empty the robot stands still and reports a fault."""

    # ---------------------------------------------------------------- motion
    @property
    def moving(self) -> bool:
        """True if released waypoints remain ahead."""
        return self.reached + 1 in self.waypoints

    def tick(self, t_s: float, dt_s: float) -> None:
        """Advance the robot from t_s - dt_s to t_s."""
        start = t_s - dt_s
        busy = False
        travelled = 0.0
        if self.action is not None and self.action.status == common_pb2.ACTION_STATUS_RUNNING \
                and not (self.paused and self.action.kind != robot_link_pb2.ACTION_KIND_CHARGE):
            # A pause holds a pick, drop or weld where it is; a charge goes on.
            busy = True
            self._use_battery_acting(dt_s)
            self.action.remaining_s -= dt_s
            if self.action.remaining_s <= 1e-9:
                self.action.status = common_pb2.ACTION_STATUS_SUCCEEDED
                if self.action.kind == robot_link_pb2.ACTION_KIND_PICK:
                    self.load_id = self.action.load_id
                elif self.action.kind == robot_link_pb2.ACTION_KIND_DROP:
                    self.load_id = ""
        elif self.faults:
            # The contract: a robot in fault keeps no released path past its current target.
            for index in [i for i in self.waypoints if i > self.reached + 1]:
                del self.waypoints[index]
            self.speed = 0.0
            self.battery -= self.model.idle(dt_s)
        elif t_s <= self.hold_until_s:
            self.speed = 0.0
            self.battery -= self.model.idle(dt_s)
        elif not self.paused and self.moving and self.battery > 0:
            busy = True
            travelled = self._drive(start, dt_s)
        else:
            self.speed = 0.0
            self.battery -= self.model.idle(dt_s)
        if busy:
            self.busy_s += dt_s
        # The same consumption model the dispatcher plans with.
        if travelled:
            self.battery -= self.model.drive(travelled)
        self.battery = min(1.0, max(0.0, self.battery))

    def _use_battery_acting(self, dt_s: float) -> None:
        assert self.action is not None
        model = self.model
        if self.action.kind == robot_link_pb2.ACTION_KIND_CHARGE:
            self.battery += model.charge_per_s * dt_s
        elif self.action.kind == robot_link_pb2.ACTION_KIND_WELD:
            self.battery -= model.weld(dt_s)
        else:
            self.battery -= model.idle(dt_s)

    def _drive(self, start: float, dt_s: float) -> float:
        t, remaining = start, dt_s
        travelled = 0.0
        while remaining > 1e-12 and self.moving:
            wp = self.waypoints[self.reached + 1]
            dx, dy = wp.x - self.pose.x, wp.y - self.pose.y
            dist = math.hypot(dx, dy)
            top = self.spec.max_speed_mps
            if wp.max_speed_mps > 0:
                top = min(top, wp.max_speed_mps)
            # Keep to the plan's times when early: no sooner than the waypoint's time.
            early = wp.t_s - t
            speed = top if early <= 1e-9 else min(top, dist / early)
            if dist <= 1e-9:
                self.reached += 1
                continue
            if speed <= 1e-9:
                break
            need = dist / speed
            theta = math.atan2(dy, dx)
            if need <= remaining:
                self.pose = Pose(wp.x, wp.y, theta)
                self.reached += 1
                remaining -= need
                t += need
                travelled += dist
            else:
                f = speed * remaining / dist
                self.pose = Pose(self.pose.x + dx * f, self.pose.y + dy * f, theta)
                travelled += speed * remaining
                remaining = 0.0
        self.speed = travelled / dt_s
        return travelled

    # ---------------------------------------------------------------- commands
    def apply(self, command: robot_link_pb2.RobotCommand) -> None:
        """Carry out one command from the coordinator."""
        body = command.WhichOneof("body")
        if body == "follow_path":
            fp = command.follow_path
            if fp.path_id != self.path_id:
                self.path_id, self.waypoints, self.reached = fp.path_id, {}, 0
            for i, w in enumerate(fp.waypoints):
                self.waypoints[fp.first_index + i] = Waypoint(w.x, w.y, w.t_s, w.max_speed_mps)
        elif body == "action":
            a = command.action
            duration = a.duration_s or self.ACTION_TIME_S.get(a.kind, 10.0)
            self.action = _Action(a.action_id, a.kind, a.load_id, duration, duration)
        elif body == "pause":
            log.info("robot %s pauses (%s)", self.spec.id, command.pause.reason)
            self.paused = True
        elif body == "resume":
            log.info("robot %s resumes", self.spec.id)
            self.paused = False
        elif (body == "cancel" and self.action is not None
              and self.action.status == common_pb2.ACTION_STATUS_RUNNING):
            running = self.action
            log.info("robot %s: action %s cancelled after %.1f of %.1f s (%s)", self.spec.id,
                     running.action_id, running.duration_s - running.remaining_s,
                     running.duration_s, command.cancel.reason)
            running.status = common_pb2.ACTION_STATUS_FAILED

    def state(self, t_s: float) -> robot_link_pb2.RobotState:
        """The state report for time t_s."""
        self.seq += 1
        if self.faults or (self.battery <= 0 and self.moving):
            mode = common_pb2.ROBOT_MODE_FAULT
        elif self.paused:
            mode = common_pb2.ROBOT_MODE_PAUSED
        elif self.action is not None and self.action.status == common_pb2.ACTION_STATUS_RUNNING:
            mode = common_pb2.ROBOT_MODE_ACTING
        elif self.moving:
            mode = common_pb2.ROBOT_MODE_MOVING
        else:
            mode = common_pb2.ROBOT_MODE_IDLE
        msg = robot_link_pb2.RobotState(
            robot_id=self.spec.id, stamp_s=t_s,
            pose=common_pb2.Pose(x=self.pose.x, y=self.pose.y, theta=self.pose.theta),
            speed_mps=self.speed, battery=self.battery, mode=mode, path_id=self.path_id,
            waypoints_reached=self.reached, load_id=self.load_id, seq=self.seq)
        if mode == common_pb2.ROBOT_MODE_FAULT:
            msg.faults.extend(self.faults or ["battery empty"])
        if self.action is not None:
            msg.action_id = self.action.action_id
            msg.action_status = self.action.status
            msg.action_progress = 1.0 - max(0.0, self.action.remaining_s) / max(
                self.action.duration_s, 1e-9)
        return msg

    def reboot(self) -> None:
        """The robot's driver restarts: it forgets its path, action and pause, and stands.

        It stays where it is, with its load and battery.
        """
        self.path_id, self.waypoints, self.reached = "", {}, 0
        self.action, self.paused, self.speed, self.seq = None, False, 0.0, 0
