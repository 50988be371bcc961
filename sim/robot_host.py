"""Simulated ROS 2 robots in a process of their own (`fleet sim-robots`), beside the world.

The robots speak the fleet's ROS contract (`sim.ros_link`: one node, one namespace each) and
step their kinematics on the ticks of the world process (`sim.world`), to which they report
where they went. Such a process can be killed and started again mid-run like a robot's
software: it takes its robots' pose, battery and load from the world (the hardware did not
move), announces them with a new boot id, and has forgotten every plan and action; the
bridge and the coordinator handle the rest.

Between ticks (while the world waits for a slow or dead robot process) the robots keep
speaking: every `heartbeat_s` they publish their unchanged state again, a microsecond later
than the last, so that only a robot whose process is gone falls silent for the bridge.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from std_msgs.msg import String

from fleet.model import InvalidInputError, Pose, RobotSpec
from fleet.ros import contract
from sim.robot import SimRobot
from sim.ros_link import RosLink, RosRobots
from sim.world import TRUTH_TOPIC, WORLD_TOPIC, spec_record

__all__ = ["HostOptions", "check_same_robot", "run_robot_host"]

log = logging.getLogger(__name__)

_NUDGE_S = 1e-6
"""How much later than the last a repeated state is stamped."""


@dataclass(frozen=True, slots=True)
class HostOptions:
    """How a robot process behaves; times in real seconds."""

    domain_id: int | None = None
    command_timeout_s: float = 5.0
    """Wait at most this long for the commands of the last step before a tick."""
    fresh_command_timeout_s: float = 1.0
    """The same for a robot that has had no command since its start (the seq the world
    names may belong to the session of its previous life)."""
    heartbeat_s: float = 1.0


class _Hosted:
    """One robot of this process, with its ROS endpoints."""

    def __init__(self, link: RosLink) -> None:
        self.link = link
        self.robot: SimRobot = link.robot
        self.stamp_s = 0.0

    def adopt(self, record: dict[str, Any], why: str) -> None:
        x, y, theta = (float(v) for v in record["pose"])
        robot = self.robot
        if (robot.pose.x, robot.pose.y, robot.pose.theta) != (x, y, theta) or \
                robot.battery != record["battery"] or robot.load_id != record["load_id"]:
            if why:
                log.warning("robot %s: the world has it at (%.2f, %.2f), not (%.2f, %.2f) "
                            "(%s): taking the world's", robot.spec.id, x, y, robot.pose.x,
                            robot.pose.y, why)
            robot.pose = Pose(x, y, theta)
            robot.battery, robot.load_id = float(record["battery"]), str(record["load_id"])

    def speak(self, stamp_s: float | None = None) -> None:
        """Publish the robot's state at stamp_s, or again a moment after the last one."""
        self.stamp_s = self.stamp_s + _NUDGE_S if stamp_s is None else stamp_s
        self.link.send_state(self.stamp_s)


async def run_robot_host(robots: list[tuple[RobotSpec, Pose]], options: HostOptions,
                         ready: asyncio.Event | None = None) -> int:
    """Run these robots until the world says the run is over; returns the ticks stepped."""
    if not robots:
        raise InvalidInputError("a robot process needs at least one robot", field="only",
                                value=[])
    host = RosRobots(options.domain_id)
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def on_world(msg: String) -> None:
        try:
            doc = json.loads(msg.data)
        except ValueError as err:
            log.warning("dropped a world message that is not JSON: %s", err)
            return
        loop.call_soon_threadsafe(inbox.put_nowait, doc)

    hosted = {spec.id: _Hosted(host.link(SimRobot(spec, pose))) for spec, pose in robots}
    truth = await host.ros.run(lambda: host.ros.node.create_publisher(
        String, TRUTH_TOPIC, contract.RELIABLE_QOS))
    await host.ros.run(lambda: host.ros.node.create_subscription(
        String, WORLD_TOPIC, on_world, contract.LATCHED_QOS))
    if ready is not None:
        ready.set()
    last_t = -1.0
    ticks = 0
    try:
        while True:
            try:
                doc = await asyncio.wait_for(inbox.get(), options.heartbeat_s)
            except TimeoutError:
                for h in hosted.values():
                    if h.link.connected:
                        h.speak()
                continue
            if doc.get("done"):
                log.info("the world says the run is over after %d ticks", ticks)
                return ticks
            records = doc.get("robots", {})
            unknown = sorted(set(hosted) - set(records))
            if unknown:
                raise InvalidInputError(f"robots {unknown} are not in the world's fleet: "
                                        "start with the world's --map, --robots and --seed",
                                        field="only", value=unknown)
            for rid, h in hosted.items():
                if not h.link.connected:
                    check_same_robot(h.robot.spec, records[rid])
                    h.adopt(records[rid], "")
                    robot = h.robot
                    log.warning("robot %s starts at (%.2f, %.2f)%s", rid, robot.pose.x,
                                robot.pose.y, f" with load {robot.load_id}" if robot.load_id
                                else "")
                    await h.link.connect()
                    # It stands where the world had it at the start of this tick.
                    h.stamp_s = float(doc["t_s"]) - int(doc["substeps"]) * float(doc["dt_s"])
            steps = int(doc["substeps"])
            t_s = float(doc["t_s"])
            if steps == 0:
                for h in hosted.values():
                    h.speak()
                continue
            if t_s <= last_t + 1e-9:
                continue  # the latched tick again
            for rid, h in hosted.items():
                h.adopt(records[rid], "a tick it missed")
            await _wait_commands(hosted, doc.get("last_command_seq", {}), options)
            answer = {}
            dt = float(doc["dt_s"])
            for rid, h in hosted.items():
                robot = h.robot
                paused = robot.paused
                h.link.take_commands()
                if robot.paused != paused:
                    log.info("robot %s %s at t=%.1f s at (%.3f, %.3f)", rid,
                             "is held" if robot.paused else "goes on", t_s - steps * dt,
                             robot.pose.x, robot.pose.y)
                busy = robot.busy_s
                poses = []
                for k in range(steps):
                    robot.tick(t_s - (steps - k - 1) * dt, dt)
                    poses.append([robot.pose.x, robot.pose.y, robot.pose.theta])
                answer[rid] = {"poses": poses, "battery": robot.battery,
                               "load_id": robot.load_id, "busy_s": robot.busy_s - busy}
            truth.publish(String(data=json.dumps({"t_s": t_s, "robots": answer})))
            for h in hosted.values():
                h.speak(t_s)
            last_t = t_s
            ticks += 1
    finally:
        for h in hosted.values():
            await h.link.disconnect()
        host.close()


def check_same_robot(spec: RobotSpec, record: dict[str, Any]) -> None:
    """InvalidInputError unless the world simulates the same robot as this process."""
    mine = spec_record(spec)
    theirs = record.get("spec", {})
    differ = sorted(k for k in mine if theirs.get(k) != mine[k])
    if differ:
        raise InvalidInputError(
            f"robot {spec.id}: the world has another {', '.join(differ)} "
            f"({', '.join(f'{k}={theirs.get(k)!r}' for k in differ)}, here "
            f"{', '.join(f'{k}={mine[k]!r}' for k in differ)}): start with the world's "
            "--map, --robots and --seed", field="seed", value=spec.id)


async def _wait_commands(hosted: dict[str, _Hosted], seqs: dict[str, int],
                         options: HostOptions) -> None:
    """Wait until each robot has the commands of the last step (bounded)."""
    start = spoke = time.monotonic()
    while True:
        now = time.monotonic()
        elapsed = now - start
        if now - spoke >= options.heartbeat_s:
            spoke = now
            for h in hosted.values():
                h.speak()
        waiting = [rid for rid, h in hosted.items()
                   if not h.link.has_received(int(seqs.get(rid, 0)))
                   and elapsed < (options.command_timeout_s if h.link.synced
                                  else options.fresh_command_timeout_s)]
        if not waiting:
            late = [rid for rid, h in hosted.items()
                    if h.link.synced and not h.link.has_received(int(seqs.get(rid, 0)))]
            if late:
                log.warning("robots %s: the commands of the last step did not arrive in "
                            "%.0f s", late, options.command_timeout_s)
            return
        await asyncio.sleep(0.0005)
