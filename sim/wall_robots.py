"""Simulated robots on the wall clock over gRPC (`fleet sim-robots --server HOST:PORT`).

The robots connect to a coordinator that runs on the wall clock (`fleet serve`) as a gateway
would: one batched gateway stream (`fleet.gateway`) for all of a process's robots (or, with
`per_robot_streams`, one RobotLink stream per robot, as a robot's own driver would); states at
`rate_hz`, stamped with Unix time, commands applied as they arrive. Several such processes can
run side by side, each with its share of the fleet (`--only`, `--part`).

A process can be killed and started again, like a robot's software: with `state_path` it
writes its robots' state (pose, battery, load, the released path and how far along it they
are) every second, and takes it up again on start, so the hardware has not moved. Until a
robot is connected again it finishes what it was released, stops, and then registers from
where it stands, as the RobotLink contract asks.

For benchmarks (`bench.fleet_wall`) a process can also write its robots' trajectory log
(`log_path`, Unix time; `sim.trajlog.merge_logs` puts several processes' logs on one clock for
`sim.check`) and measure release waits (`ReleaseWaits`) on the gateway link.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.client import open_channel
from fleet.model import Pose, RobotKind, RobotSpec
from fleet.v1 import robot_link_pb2, robot_link_pb2_grpc
from sim.gateway_link import GatewayHub, GatewayLink
from sim.grpc_link import GrpcLink
from sim.robot import SimRobot, Waypoint
from sim.trajlog import TrajectoryLog

__all__ = ["ReleaseWaits", "WallOptions", "WallStats", "run_wall_robots"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WallOptions:
    """How the robots run."""

    target: str
    """The coordinator, host:port."""
    rate_hz: float = 10.0
    """State reports per second per robot (and kinematic steps)."""
    state_path: str | None = None
    """Where to keep the robots' state across a restart of this process."""
    save_every_s: float = 1.0
    per_robot_streams: bool = False
    """One RobotLink stream per robot instead of one gateway stream for all."""
    log_path: str | None = None
    """Write the robots' trajectory log here (`sim.trajlog`, times in Unix seconds)."""
    map_path: str = ""
    """The floor, named in the trajectory log's header."""


@dataclass(slots=True)
class WallStats:
    """What the process did."""

    ticks: int = 0
    states_sent: int = 0
    commands: int = 0
    late_ticks: int = 0
    """Ticks that began more than one period late (the process could not keep up)."""
    release_waits: list[tuple[float, float]] = field(default_factory=list)
    """(Unix time the release arrived, seconds waited) for each wait `ReleaseWaits` saw."""


class ReleaseWaits:
    """How long robots stand at the end of what they were released of a path still to come.

    A wait starts with the first state a robot sends while it stands on the last waypoint
    released of a path not yet `complete`, and ends when the next waypoints of that path (or
    a new path) arrive: the time from the state that finishes a released segment to the next
    release reaching the robot. It includes the coordinator's whole reaction (the report
    waiting for a control step, the step, the command's way back) and, where the next cell
    is still held by another robot, the wait for that robot: an upper bound on command
    latency. Arrival is taken when the gateway stream delivers the command, not at the
    robot's next tick. Only the gateway link reports arrivals.
    """

    def __init__(self) -> None:
        self.waiting_since: dict[str, float] = {}
        self.open_path: dict[str, str] = {}
        """Robot id -> its path id while waypoints may still follow."""
        self.waits: list[tuple[float, float]] = []

    def state_sent(self, robot: SimRobot, t_s: float) -> None:
        """A state left for the coordinator."""
        rid = robot.spec.id
        if (rid not in self.waiting_since and not robot.moving and robot.path_id
                and self.open_path.get(rid) == robot.path_id):
            self.waiting_since[rid] = t_s

    def arrived(self, robot_id: str, commands: list[robot_link_pb2.RobotCommand]) -> None:
        """Commands for the robot came off the stream."""
        now = time.time()
        for command in commands:
            if command.WhichOneof("body") != "follow_path":
                continue
            fp = command.follow_path
            if fp.complete:
                self.open_path.pop(robot_id, None)
            else:
                self.open_path[robot_id] = fp.path_id
            since = self.waiting_since.pop(robot_id, None)
            if since is not None and fp.waypoints:
                self.waits.append((now, now - since))


def _save(path: str, robots: Sequence[SimRobot]) -> None:
    doc = {r.spec.id: {"pose": [r.pose.x, r.pose.y, r.pose.theta], "battery": r.battery,
                       "load_id": r.load_id, "path_id": r.path_id, "reached": r.reached,
                       "waypoints": {str(i): [w.x, w.y, w.t_s, w.max_speed_mps]
                                     for i, w in r.waypoints.items()}}
           for r in robots}
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    os.replace(tmp, path)


def _restore(path: str, robots: Sequence[SimRobot]) -> int:
    """Take the robots' last saved state; returns how many were found."""
    try:
        doc: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return 0
    found = 0
    for robot in robots:
        saved = doc.get(robot.spec.id)
        if saved is None:
            continue
        found += 1
        robot.pose = Pose(*saved["pose"])
        robot.battery = float(saved["battery"])
        robot.load_id = str(saved["load_id"])
        # It remembers the path it was released (its software restarted, its plan is on
        # record); it finishes it before it registers again.
        robot.path_id = str(saved["path_id"])
        robot.reached = int(saved["reached"])
        robot.waypoints = {int(i): Waypoint(*w) for i, w in saved["waypoints"].items()}
    return found


async def run_wall_robots(fleet: Sequence[tuple[RobotSpec, Pose]], options: WallOptions,
                          stop: asyncio.Event, ready: asyncio.Event | None = None) -> WallStats:
    """Run the robots until `stop` is set; `ready` is set once every robot is connected."""
    robots = [SimRobot(spec, pose) for spec, pose in fleet]
    if options.state_path:
        found = _restore(options.state_path, robots)
        if found:
            log.warning("took up the saved state of %d robots from %s", found,
                        options.state_path)
    channel = open_channel(options.target, options=[
        ("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000)])
    hub: GatewayHub | None = None
    links: list[GrpcLink | GatewayLink]
    waits = ReleaseWaits()
    if options.per_robot_streams:
        stub = robot_link_pb2_grpc.RobotLinkStub(channel)
        links = [GrpcLink(r, stub) for r in robots]
    else:
        hub = GatewayHub(channel, on_commands=waits.arrived)
        links = [hub.link(r) for r in robots]
    stats = WallStats()
    mobile = [r for r in robots if r.spec.kind is not RobotKind.FIXED_WELDER]
    trajlog = (TrajectoryLog(options.log_path, options.map_path,
                             [(r.spec.id, r.spec.radius_m, r.spec.max_speed_mps)
                              for r in mobile]) if options.log_path else None)
    period = 1.0 / options.rate_hz
    last = time.time()
    next_tick = time.monotonic()
    saved_at = 0.0
    announced = False
    try:
        while not stop.is_set():
            next_tick += period
            delay = next_tick - time.monotonic()
            if delay < -period:
                stats.late_ticks += 1
                next_tick = time.monotonic()
            elif delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                    break
                except TimeoutError:
                    pass
            now = time.time()
            dt = max(0.0, now - last)
            last = now
            for link in links:
                link.take_commands()
            stats.commands = sum(link.commands for link in links)
            for robot in robots:
                robot.tick(now, dt)
            if trajlog is not None:
                trajlog.write(now, {r.spec.id: (r.pose.x, r.pose.y, r.pose.theta)
                                    for r in mobile})
            rejoin = []
            for robot, link in zip(robots, links, strict=True):
                if link.connected:
                    link.send_state(now)
                    waits.state_sent(robot, now)
                    stats.states_sent += 1
                elif not robot.moving:
                    # Standing still (what was released is driven): register again.
                    rejoin.append(link.connect())
            if rejoin:
                await asyncio.gather(*rejoin)
            stats.ticks += 1
            if not announced and all(link.connected for link in links):
                announced = True
                if ready is not None:
                    ready.set()
            if options.state_path and now - saved_at >= options.save_every_s:
                _save(options.state_path, robots)
                saved_at = now
    finally:
        stats.release_waits = waits.waits
        if trajlog is not None:
            trajlog.close()
        if options.state_path:
            _save(options.state_path, robots)
        for link in links:
            await link.disconnect()
        if hub is not None:
            await hub.close()
        await channel.close()
    return stats
