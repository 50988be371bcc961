"""The simulated world for ROS robots in their own processes: clock, ground truth, topics.

With `fleet sim --ros --external-robots` the simulator process is only the world: it drives
the coordinator's clock (SimClock.Advance), submits the missions and writes the trajectory log,
while the simulated robots run in `fleet sim-robots` processes (`sim.robot_host`) that can be
killed and started again like any robot's software. Two simulator-only topics (not part of
the integrator contract in `fleet.ros.contract`) connect them, JSON in std_msgs/String:

- `/fleet_sim/world` (world to robots, reliable and latched, so that a robot process started
  late gets the current tick): `{"t_s", "dt_s", "substeps", "last_command_seq": {id: seq},
  "robots": {id: {"pose": [x, y, theta], "battery", "load_id", "spec"}}}`. `substeps` 0 is a call to
  connect and speak (before the run); `"done": true` ends the run. `robots` is the ground
  truth at the start of the tick: the world is the physics, so a robot process takes its
  robot's pose, battery and load from it when it starts (a robot does not teleport when its
  software restarts) and whenever its own idea differs (a move the world did not record did
  not happen). `spec` (kind, footprint, top speed, payload, weld programs) lets a robot
  process check that it simulates the same fleet.
- `/fleet_sim/truth` (robots to world, reliable): `{"t_s", "robots": {id: {"poses": [[x, y,
  theta], ...one per substep], "battery", "load_id", "busy_s"}}}` once per tick and process.

Each tick the world waits (at most `robot_timeout_s`, real seconds) for the truth of every
robot it has heard from; a robot whose process does not answer is held where it stands and
the run goes on without it until its process answers again.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import math
import tempfile
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
from std_msgs.msg import String

from fleet.client import open_channel
from fleet.floor import FloorMap
from fleet.model import RobotKind, RobotSpec
from fleet.ros import contract
from fleet.ros.node import RosNode
from fleet.v1 import (
    fleet_pb2,
    fleet_pb2_grpc,
    missions_pb2_grpc,
    simulation_pb2,
    simulation_pb2_grpc,
)
from sim.check import check_log
from sim.scenario import Scenario
from sim.trajlog import TrajectoryLog

if TYPE_CHECKING:
    from sim.runner import SimOptions, SimResult

__all__ = ["TRUTH_TOPIC", "WORLD_TOPIC", "run_world", "spec_record"]

log = logging.getLogger(__name__)

WORLD_TOPIC = "/fleet_sim/world"
TRUTH_TOPIC = "/fleet_sim/truth"

_Pose = tuple[float, float, float]


def spec_record(spec: RobotSpec) -> dict[str, Any]:
    """What a robot is, as the world message carries it."""
    return {"kind": spec.kind.value, "radius_m": spec.radius_m,
            "max_speed_mps": spec.max_speed_mps,
            "max_payload_kg": spec.transport.max_payload_kg if spec.transport else None,
            "weld_programs": sorted(spec.weld.programs) if spec.weld else []}


class _Body:
    """What the world knows of one robot: where it is, its battery and its load."""

    __slots__ = ("battery", "busy_s", "load_id", "pose", "present", "spec")

    def __init__(self, pose: _Pose, spec: dict[str, Any] | None = None) -> None:
        self.pose = pose
        self.battery = 1.0
        self.load_id = ""
        self.busy_s = 0.0
        self.present = True
        self.spec = spec or {}

    def record(self) -> dict[str, Any]:
        return {"pose": list(self.pose), "battery": self.battery, "load_id": self.load_id,
                "spec": self.spec}


async def run_world(floor: FloorMap, scenario: Scenario, options: SimOptions,
                    progress: Callable[[int, int, float], None] | None = None) -> SimResult:
    """Run the scenario's missions with the robots in other processes (`fleet sim-robots`)."""
    from sim.runner import SimResult, finish, submit

    # TLS and the access token come from FLEET_TLS_CA and FLEET_TOKEN (fleet.client).
    channel = open_channel(options.target, options=[
        ("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000)])
    missions = missions_pb2_grpc.MissionsStub(channel)
    clock = simulation_pb2_grpc.SimClockStub(channel)
    bodies = {spec.id: _Body((pose.x, pose.y, pose.theta), spec_record(spec))
              for spec, pose in scenario.robots}
    mobile = [spec for spec, _ in scenario.robots if spec.kind is not RobotKind.FIXED_WELDER]
    log_path = options.log_path or tempfile.mkstemp(prefix="fleet-sim-", suffix=".jsonl")[1]
    result = SimResult(robots=len(bodies), log_path=log_path)
    pending = sorted(scenario.missions, key=lambda m: m[0])
    substeps = max(1, round(options.period_s / options.dt_s))
    dt = options.period_s / substeps
    ros = RosNode("fleet_sim_world", options.ros_domain_id)
    truths: collections.deque[dict[str, Any]] = collections.deque()
    lock = threading.Lock()

    def on_truth(msg: String) -> None:
        try:
            doc = json.loads(msg.data)
        except ValueError as err:
            log.warning("dropped a truth message that is not JSON: %s", err)
            return
        with lock:
            truths.append(doc)

    def make() -> Any:
        ros.node.create_subscription(String, TRUTH_TOPIC, on_truth, contract.RELIABLE_QOS)
        return ros.node.create_publisher(String, WORLD_TOPIC, contract.LATCHED_QOS)
    world = ros.call(make)

    def announce(t_s: float, steps: int, seqs: dict[str, int], **extra: Any) -> None:
        doc = {"t_s": t_s, "dt_s": dt, "substeps": steps, "last_command_seq": seqs,
               "robots": {rid: b.record() for rid, b in bodies.items()}, **extra}
        world.publish(String(data=json.dumps(doc)))

    t = 0.0
    first_submit: float | None = None
    seqs: dict[str, int] = {}
    try:
        await channel.channel_ready()
        await _wait_registered(fleet_pb2_grpc.FleetStub(channel), set(bodies), announce)
        with TrajectoryLog(log_path, options.map_path,
                           [(s.id, s.radius_m, s.max_speed_mps) for s in mobile],
                           seed=options.seed, floor=floor.name) as trajlog:
            trajlog.write(t, {s.id: bodies[s.id].pose for s in mobile})
            while t < options.time_limit_s:
                t_next = round(t + options.period_s, 6)
                announce(t_next, substeps, seqs)
                answered = await _gather_truth(truths, lock, t_next, bodies, substeps,
                                               options.robot_timeout_s)
                for k in range(substeps):
                    poses = {}
                    for s in mobile:
                        got = answered.get(s.id)
                        poses[s.id] = (tuple(got["poses"][k]) if got is not None
                                       else bodies[s.id].pose)
                    trajlog.write(round(t + (k + 1) * dt, 6), poses)
                for rid, got in answered.items():
                    body = bodies[rid]
                    x, y, theta = got["poses"][-1]
                    body.pose = (float(x), float(y), float(theta))
                    body.battery, body.load_id = float(got["battery"]), str(got["load_id"])
                    body.busy_s += float(got["busy_s"])
                t = t_next
                try:
                    while pending and pending[0][0] <= t:
                        await submit(missions, pending[0][1])
                        pending.pop(0)
                        result.submitted += 1
                        first_submit = t if first_submit is None else first_submit
                    reply = await clock.Advance(simulation_pb2.AdvanceRequest(time_s=t),
                                                timeout=30.0)
                except grpc.aio.AioRpcError as err:
                    if err.code() not in (grpc.StatusCode.UNAVAILABLE,
                                          grpc.StatusCode.DEADLINE_EXCEEDED,
                                          grpc.StatusCode.CANCELLED):
                        raise
                    log.warning("coordinator unreachable at t=%.1f s: %s", t, err.details())
                    result.outages += 1
                    seqs = {}
                    await asyncio.sleep(0.05)
                    continue
                seqs = dict(reply.last_command_seq)
                if progress is not None:
                    progress(result.submitted - reply.open_missions, len(scenario.missions), t)
                if not pending and reply.open_missions == 0:
                    break
        await finish(missions, result, first_submit or 0.0, t,
                     [b.busy_s for b in bodies.values()],
                     scenario.mission_ids())
    finally:
        announce(t, 0, {}, done=True)
        await asyncio.sleep(0.2)  # let the robot processes hear that the run is over
        await channel.close()
        ros.close()
    result.check = check_log(log_path, map_path=options.map_path)
    return result


async def _gather_truth(truths: collections.deque[dict[str, Any]], lock: threading.Lock,
                        t_s: float, bodies: dict[str, _Body], substeps: int,
                        timeout_s: float) -> dict[str, dict[str, Any]]:
    """The robots' answers for tick t_s: every present robot's, or what came in time."""
    answered: dict[str, dict[str, Any]] = {}
    start = time.monotonic()
    deadline = start + timeout_s
    while True:
        with lock:
            docs = list(truths)
            truths.clear()
        for doc in docs:
            if not isinstance(doc, dict) or not math.isclose(doc.get("t_s", -1.0), t_s,
                                                             abs_tol=1e-9):
                continue  # a late answer to a tick the world has moved on from
            for rid, got in doc.get("robots", {}).items():
                if rid not in bodies:
                    log.warning("truth for unknown robot %r dropped", rid)
                elif len(got.get("poses", ())) != substeps:
                    log.warning("truth for %s at t=%.1f s has %d poses, not %d: dropped", rid,
                                t_s, len(got.get("poses", ())), substeps)
                else:
                    answered[rid] = got
        missing = [rid for rid, b in bodies.items() if b.present and rid not in answered]
        if not missing:
            if time.monotonic() - start > 1.0:
                log.warning("the tick to t=%.1f s waited %.1f s for its robots", t_s,
                            time.monotonic() - start)
            break
        if time.monotonic() >= deadline:
            for rid in missing:
                bodies[rid].present = False
                log.warning("robot %s did not answer the tick to t=%.1f s within %.0f s: "
                            "held where it stands", rid, t_s, timeout_s)
            break
        await asyncio.sleep(0.0005)
    for rid in answered:
        if not bodies[rid].present:
            bodies[rid].present = True
            log.warning("robot %s answers again at t=%.1f s", rid, t_s)
    return answered


async def _wait_registered(stub: fleet_pb2_grpc.FleetStub, want: set[str],
                           announce: Callable[..., None], timeout_s: float = 120.0) -> None:
    """Call the robots to connect until the bridge has registered every one of them."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        announce(0.0, 0, {})
        reply = await stub.ListRobots(fleet_pb2.ListRobotsRequest(), timeout=10.0)
        if want <= {r.robot_id for r in reply.robots if r.connected}:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the robots were not all registered within {timeout_s:.0f} s: start "
                       "them with `fleet sim-robots` and a bridge with `fleet ros-bridge`")
