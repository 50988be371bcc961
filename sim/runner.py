"""Running a simulation: robots, missions and the coordinator's clock in lockstep.

Every control tick (`period_s` of simulated time) the robots move in `dt_s` sub-steps (each
logged), report their state, and the simulator advances the coordinator's clock with
SimClock.Advance, then waits for every command of that step to reach its robot before moving
on. Nothing depends on real time, so a run is repeatable with the same seed.

`pipelined` runs the robots beside the coordinator's step instead of after it: the robots
report at t, and while the coordinator steps at t they drive from t to t + `period_s` on the
commands they already have; the step's commands apply from t + `period_s` (a command
latency of one control period, as a robot on a slow network would see). With the
coordinator in another process, the simulation then uses a second core. Still repeatable.

If the coordinator goes away, the robots finish their released paths and stop, and the
simulator keeps trying until it is back; robots register again once they stand still.

Robots connect over gRPC RobotLink (`sim.grpc_link`) or, with `ros=True`, as ROS 2 robots
(`sim.ros_link`) that a `fleet ros-bridge` relays to the coordinator, or, with `vda5050`, as
VDA 5050 vehicles on an MQTT broker (`sim.vda_link`) with a master in this process.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import tempfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc

from fleet.client import open_channel
from fleet.floor import FloorMap
from fleet.model import InvalidInputError, RobotKind
from fleet.v1 import (
    fleet_pb2,
    fleet_pb2_grpc,
    missions_pb2,
    missions_pb2_grpc,
    robot_link_pb2_grpc,
    simulation_pb2,
    simulation_pb2_grpc,
)
from sim.check import CheckReport, check_log
from sim.gateway_link import GatewayHub
from sim.grpc_link import GrpcLink
from sim.robot import SimRobot
from sim.scenario import Scenario
from sim.trajlog import TrajectoryLog

__all__ = ["SimOptions", "SimResult", "collect", "run_simulation", "submit"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SimOptions:
    """How to run a simulation."""

    target: str
    """Address of the coordinator, host:port."""
    map_path: str
    log_path: str | None = None
    period_s: float = 0.5
    dt_s: float = 0.1
    time_limit_s: float = 6 * 3600.0
    seed: int = 0
    delays_per_hour: float = 0.0
    """Fault injection: how often a moving robot is held up (5 to 30 s), per robot-hour."""
    stops: tuple[tuple[str, float], ...] = ()
    """Fault injection: robots that break down for good, at the first moment at or after
    the given time when they are driving in an aisle (at least 2 m from every station)."""
    ros: bool = False
    """Robots are ROS 2 robots (a bridge relays them) instead of gRPC clients."""
    per_robot_streams: bool = False
    """gRPC robots each open a RobotLink stream of their own, as a robot's own driver does,
    instead of sharing one batched gateway stream, as a gateway does."""
    ros_domain_id: int | None = None
    restarts: tuple[tuple[str, float], ...] = ()
    """Fault injection: (robot id, simulated seconds) after which that robot's driver
    restarts, at the first moment it is driving."""
    external_robots: bool = False
    """The ROS robots run in `fleet sim-robots` processes; this one is only the world
    (`sim.world`): clock, missions, trajectory log."""
    pace: float = 0.0
    """Simulated seconds per wall second, to watch a run live (0: as fast as it goes)."""
    robot_timeout_s: float = 10.0
    """With external robots: how long (real seconds) a tick waits for a robot process
    before holding its robots where they stand."""
    vda5050: str = ""
    """mqtt://HOST:PORT: robots are VDA 5050 vehicles on this broker, relayed by a master
    (`fleet.vda5050`) this process runs (`sim.vda_link`)."""
    vda_factsheets: bool = False
    """With vda5050: the master learns the vehicles from their factsheets only (else it is
    given them, as a vehicles file would)."""
    vda_visualization_hz: float = 0.0
    """With vda5050: vehicles also publish `visualization` this often (simulated Hz, at
    most once per simulation substep `dt_s`)."""
    safety_stops: tuple[tuple[str, float, float, str], ...] = ()
    """Fault injection with vda5050: (robot id, simulated seconds, duration s, what) : at the
    first moment at or after the time that the robot drives, its safety stops it for the
    duration; what: an `eStop` kind (AUTOACK, MANUAL, REMOTE) or `fieldViolation`."""
    pipelined: bool = False
    """Robots drive the next control period while the coordinator steps, and apply the
    step's commands one period late (see the module); gRPC robots only."""
    check: bool = True
    """Run the independent checker (`sim.check`) on the trajectory log at the end; without
    it `SimResult.check` stays None and the caller checks the log itself (a benchmark that
    times the run and the check apart)."""


class Link(Protocol):
    """How one simulated robot reaches the coordinator (`GrpcLink`, `RosLink`)."""

    @property
    def connected(self) -> bool:
        """True while connected."""
        ...

    async def connect(self) -> bool:
        """Connect (again); False if that failed."""
        ...

    def send_state(self, t_s: float) -> None:
        """Report the robot's state at t_s."""
        ...

    def take_commands(self) -> None:
        """Apply every command received so far."""
        ...

    def has_received(self, seq: int) -> bool:
        """True once the command numbered seq (or a later one) has arrived."""
        ...

    async def restart(self) -> None:
        """The robot's driver restarts."""
        ...

    async def disconnect(self) -> None:
        """Disconnect."""
        ...


@dataclass(slots=True)
class SimResult:
    """What a run achieved."""

    submitted: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    sim_time_s: float = 0.0
    makespan_s: float = 0.0
    utilization: float = 0.0
    robots: int = 0
    check: CheckReport | None = None
    log_path: str = ""
    outages: int = 0
    reasons: dict[str, str] = field(default_factory=dict)
    link_counters: dict[str, int] = field(default_factory=dict)
    """What the robots' link did and dropped (VDA 5050: the master's and vehicles' counts)."""

    @property
    def ok(self) -> bool:
        """Every mission completed and the log is collision-free."""
        return (self.completed == self.submitted and self.check is not None
                and self.check.ok)

    def summary(self) -> str:
        """A few lines for a person."""
        lines = [
            f"missions done     {self.completed} of {self.submitted}"
            + (f" ({self.failed} failed, {self.cancelled} cancelled)"
               if self.failed or self.cancelled else ""),
            f"makespan          {self.makespan_s:.1f} s simulated",
            f"robot utilization {100 * self.utilization:.1f} % ({self.robots} robots)",
        ]
        if self.check is not None:
            c = self.check.closest_approach
            if c is not None:
                lines.append(f"closest approach  {c.distance:.3f} m between centres, clearance "
                             f"{c.clearance:.3f} m ({c.robot_a} and {c.robot_b} at "
                             f"t={c.t:.1f} s)")
            lines.append(f"collisions        {len(self.check.collisions)}, obstacle hits "
                         f"{len(self.check.obstacle_hits)}, speed violations "
                         f"{len(self.check.speed_violations)}")
        if self.outages:
            lines.append(f"coordinator outages survived: {self.outages}")
        for mission_id, reason in sorted(self.reasons.items())[:10]:
            lines.append(f"  {mission_id}: {reason}")
        lines.append(f"trajectory log    {self.log_path}")
        return "\n".join(lines)


async def _connect(links: Sequence[Link], together: bool) -> bool:
    """Connect the links not connected, in order; True if all are connected. `together`:
    all at once (through a gateway their joins go up in one message)."""
    todo = [link for link in links if not link.connected]
    if together:
        return all(await asyncio.gather(*(link.connect() for link in todo)))
    ok = True
    for link in todo:
        ok = await link.connect() and ok
    return ok


async def run_simulation(floor: FloorMap, scenario: Scenario, options: SimOptions,
                         progress: Callable[[int, int, float], None] | None = None
                         ) -> SimResult:
    """Run the scenario against the coordinator at `options.target` until every mission ends."""
    if options.external_robots:
        if not options.ros:
            raise InvalidInputError("robots in processes of their own are ROS robots: add "
                                    "--ros", field="external_robots", value=True)
        injected = [name for name, given in (("delays", options.delays_per_hour),
                                             ("stop", options.stops),
                                             ("restart_robot", options.restarts)) if given]
        if injected:
            raise InvalidInputError(f"{', '.join(injected)}: fault injection needs the robots "
                                    "in this process (kill a `fleet sim-robots` process "
                                    "instead)", field=injected[0], value=True)
        from sim.world import run_world
        return await run_world(floor, scenario, options, progress)
    # Reconnect quickly after a coordinator restart instead of backing off for minutes.
    # TLS and the access token come from FLEET_TLS_CA and FLEET_TOKEN (fleet.client).
    channel = open_channel(options.target, options=[
        ("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000)])
    link = robot_link_pb2_grpc.RobotLinkStub(channel)
    missions = missions_pb2_grpc.MissionsStub(channel)
    clock = simulation_pb2_grpc.SimClockStub(channel)
    robots = [SimRobot(spec, pose) for spec, pose in scenario.robots]
    safety = sorted(options.safety_stops, key=lambda s: s[1])
    if safety and not options.vda5050:
        raise InvalidInputError("safety stops are VDA 5050 safety states: add vda5050",
                                field="safety_stops", value=len(safety))
    unknown_ids = sorted({s[0] for s in safety} - {r.spec.id for r in robots})
    if unknown_ids:
        raise InvalidInputError(f"safety stops name robots not in the fleet: {unknown_ids}",
                                field="safety_stops", value=unknown_ids)
    if options.pipelined and (options.ros or options.vda5050):
        raise InvalidInputError("pipelined robots are gRPC robots (ROS 2 and VDA 5050 robots "
                                "are driven by a bridge or master at their own pace)",
                                field="pipelined", value=True)
    ros_robots = None
    vda = None
    hub: GatewayHub | None = None
    links: list[Link]
    if options.vda5050:
        from sim.vda_link import VdaFleet
        vda = await VdaFleet.start(options.vda5050, options.target, floor.name, robots,
                                   visualization_hz=options.vda_visualization_hz,
                                   from_factsheets=options.vda_factsheets)
        links = list(vda.links)
    elif options.ros:
        from sim.ros_link import RosRobots
        ros_robots = RosRobots(options.ros_domain_id)
        links = [ros_robots.link(r) for r in robots]
    elif options.per_robot_streams:
        links = [GrpcLink(r, link) for r in robots]
    else:
        hub = GatewayHub(channel)
        links = [hub.link(r) for r in robots]
    restarts = sorted(options.restarts, key=lambda r: r[1])
    log_path = options.log_path or tempfile.mkstemp(prefix="fleet-sim-", suffix=".jsonl")[1]
    result = SimResult(robots=len(robots), log_path=log_path)
    pending = sorted(scenario.missions, key=lambda m: m[0])
    substeps = max(1, round(options.period_s / options.dt_s))
    dt = options.period_s / substeps
    t = 0.0
    faults = random.Random(options.seed * 7919 + 17)
    stops = dict(options.stops)
    unknown = sorted(set(stops) - {r.spec.id for r in robots})
    if unknown:
        raise InvalidInputError(f"stop names robots not in the fleet: {unknown}",
                                field="stop", value=unknown)
    unknown = sorted({robot_id for robot_id, _ in restarts} - {r.spec.id for r in robots})
    if unknown:
        raise InvalidInputError(f"restart names robots not in the fleet: {unknown}",
                                field="restart_robot", value=unknown)
    safety_ends: list[tuple[float, int]] = []
    first_submit: float | None = None
    up = True
    try:
        await channel.channel_ready()
        while not await _connect(links, together=hub is not None):
            await asyncio.sleep(0.2)
        if options.ros or vda is not None:
            await _wait_registered(fleet_pb2_grpc.FleetStub(channel), links, robots)
        # Fixed welders belong to their cell (behind its fence) and never move: not logged.
        mobile = [r for r in robots if r.spec.kind is not RobotKind.FIXED_WELDER]
        with TrajectoryLog(log_path, options.map_path,
                           [(r.spec.id, r.spec.radius_m, r.spec.max_speed_mps) for r in mobile],
                           seed=options.seed, floor=floor.name) as trajlog:
            trajlog.write(t, {r.spec.id: (r.pose.x, r.pose.y, r.pose.theta) for r in mobile})
            paced_from: float | None = None

            def drive(t: float) -> None:
                """The robots drive from t for one control period, logged every substep."""
                for k in range(substeps):
                    ts = t + (k + 1) * dt
                    for robot in robots:
                        robot.tick(ts, dt)
                    if vda is not None:
                        for vehicle in vda.links:
                            vehicle.send_position(ts)
                    trajlog.write(ts, {r.spec.id: (r.pose.x, r.pose.y, r.pose.theta)
                                       for r in mobile})

            async def after_drive(t: float) -> None:
                """What happens to the robots at t, once they have driven there."""
                # A restart is due at its time, but happens while the robot is driving, so
                # that it always interrupts a path.
                for due in [r for r in restarts if r[1] <= t]:
                    robot_id = due[0]
                    for robot, robot_link in zip(robots, links, strict=True):
                        if robot.spec.id == robot_id and robot.moving:
                            log.warning("robot %s restarts at t=%.1f s", robot_id, t)
                            await robot_link.restart()
                            restarts.remove(due)
                _inject_faults(robots, t, options, faults, stops, floor)
                if vda is not None and (safety or safety_ends):
                    _safety_stops(vda.links, t, safety, safety_ends)

            driven = False
            """Pipelined: the robots have already driven this period, beside the last step."""
            while t < options.time_limit_s:
                if not driven:
                    drive(t)
                    t = round(t + options.period_s, 6)
                    await after_drive(t)
                driven = False
                try:
                    while pending and pending[0][0] <= t:
                        _, spec = pending[0]
                        await submit(missions, spec)
                        pending.pop(0)
                        result.submitted += 1
                        first_submit = t if first_submit is None else first_submit
                    await _connect([robot_link for robot, robot_link in zip(robots, links,
                                                                            strict=True)
                                    if not robot_link.connected and not robot.moving],
                                   together=hub is not None)
                    for robot_link in links:
                        robot_link.send_state(t)
                    advance = asyncio.ensure_future(clock.Advance(
                        simulation_pb2.AdvanceRequest(time_s=t), timeout=30.0))
                    if options.pipelined:
                        # On a thread, so that this loop sends the reports and the Advance
                        # and takes in the commands meanwhile.
                        try:
                            await asyncio.to_thread(drive, t)
                        finally:
                            t = round(t + options.period_s, 6)
                            driven = True
                        await after_drive(t)
                    reply = await advance
                    if not up:
                        log.warning("coordinator is back at t=%.1f s", t)
                        up = True
                except grpc.aio.AioRpcError as err:
                    if err.code() not in (grpc.StatusCode.UNAVAILABLE,
                                          grpc.StatusCode.DEADLINE_EXCEEDED,
                                          grpc.StatusCode.CANCELLED):
                        raise
                    if up:
                        log.warning("coordinator unreachable at t=%.1f s: %s", t,
                                    err.details())
                        result.outages += 1
                        up = False
                    await asyncio.sleep(0.05)
                    continue
                await _wait_commands(links, robots, dict(reply.last_command_seq))
                for robot_link in links:
                    robot_link.take_commands()
                if options.pace > 0:
                    now = asyncio.get_running_loop().time()
                    if paced_from is None:
                        paced_from = now - t / options.pace
                    await asyncio.sleep(max(0.0, paced_from + t / options.pace - now))
                if progress is not None:
                    progress(result.submitted - reply.open_missions, len(scenario.missions), t)
                if not pending and reply.open_missions == 0:
                    break
        await finish(missions, result, first_submit or 0.0, t,
                     [r.busy_s for r in robots], scenario.mission_ids())
    finally:
        for robot_link in links:
            await robot_link.disconnect()
        if hub is not None:
            await hub.close()
        await channel.close()
        if ros_robots is not None:
            ros_robots.close()
        if vda is not None:
            await vda.stop()
            result.link_counters = vda.counters()
    if options.check:
        result.check = check_log(log_path, map_path=options.map_path)
    return result


def _safety_stops(vehicles: Sequence[Any], t: float,
                  due: list[tuple[str, float, float, str]],
                  ends: list[tuple[float, int]]) -> None:
    """Start the safety stops that are due on a driving vehicle; clear those that ended."""
    for end, index in [e for e in ends if e[0] <= t]:
        vehicles[index].safety = {"eStop": "NONE", "fieldViolation": False}
        ends.remove((end, index))
        log.warning("robot %s: safety stop cleared at t=%.1f s", vehicles[index].robot.spec.id,
                    t)
    for stop in [s for s in due if s[1] <= t]:
        robot_id, _, duration_s, what = stop
        for index, vehicle in enumerate(vehicles):
            if vehicle.robot.spec.id == robot_id and vehicle.robot.moving:
                vehicle.safety = ({"eStop": "NONE", "fieldViolation": True}
                                  if what == "fieldViolation"
                                  else {"eStop": what, "fieldViolation": False})
                vehicle.robot.hold_until_s = t + duration_s
                ends.append((t + duration_s, index))
                due.remove(stop)
                log.warning("robot %s: safety stop (%s) at t=%.1f s for %.0f s", robot_id,
                            what, t, duration_s)


def _inject_faults(robots: list[SimRobot], t: float, options: SimOptions,
                   rng: random.Random, stops: dict[str, float], floor: FloorMap) -> None:
    """Hold some moving robots up for a while; break the chosen ones down for good."""
    chance = options.delays_per_hour * options.period_s / 3600.0
    for robot in robots:
        if not robot.moving or robot.faults:
            continue
        at = stops.get(robot.spec.id)
        # Whether it is in an aisle (2 m from every station) is asked only of a robot due to
        # stop: for every moving robot every tick, it was a third of a 1,000-robot run.
        if at is not None and t >= at and all(
                math.hypot(s.pose.x - robot.pose.x, s.pose.y - robot.pose.y) >= 2.0
                for s in floor.stations.values()):
            robot.faults = ["e-stop pressed (injected)"]
            log.warning("robot %s stops for good at t=%.1f s", robot.spec.id, t)
        elif chance > 0 and t > robot.hold_until_s and rng.random() < chance:
            robot.hold_until_s = t + rng.uniform(5.0, 30.0)


async def submit(stub: missions_pb2_grpc.MissionsStub,
                 spec: missions_pb2.MissionSpec | missions_pb2.SubmitOrderRequest) -> None:
    """Submit a mission (or a production order); one stored before an outage whose reply
    was lost counts as done."""
    try:
        if isinstance(spec, missions_pb2.SubmitOrderRequest):
            await stub.SubmitOrder(spec, timeout=10.0)  # idempotent: a resend is answered
            return
        await stub.Submit(missions_pb2.SubmitMissionRequest(mission=spec), timeout=10.0)
    except grpc.aio.AioRpcError as err:
        # Submitted before an outage whose reply was lost: it is stored, that is what counts.
        if err.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise


async def _wait_commands(links: list[Link], robots: list[SimRobot],
                         last_seq: dict[str, int]) -> None:
    for _ in range(20000):
        if all(link.has_received(last_seq.get(r.spec.id, 0))
               for link, r in zip(links, robots, strict=True)):
            return
        await asyncio.sleep(0.0005)
    log.warning("commands of this step did not all arrive in time")


async def _wait_registered(stub: fleet_pb2_grpc.FleetStub, links: list[Link],
                           robots: list[SimRobot], timeout_s: float = 60.0) -> None:
    """Wait until the bridge has registered every robot, so the run starts with all of them."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    want = {r.spec.id for r in robots}
    t = 0.0
    while loop.time() < deadline:
        # The bridge registers a robot once it hears from it: keep talking.
        for robot_link in links:
            robot_link.send_state(t)
        t += 1e-6
        reply = await stub.ListRobots(fleet_pb2.ListRobotsRequest(), timeout=10.0)
        if want <= {r.robot_id for r in reply.robots if r.connected}:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the bridge did not register every robot within {timeout_s:.0f} s")


async def finish(stub: missions_pb2_grpc.MissionsStub, result: SimResult,
                 first_submit: float, t: float, busy_s: list[float],
                 ours: Collection[str]) -> None:
    """Fill in `result` at the end of a run: simulated time, the outcomes and makespan of the
    missions it submitted (`ours`; others' may share the coordinator), and utilization from
    each robot's busy seconds."""
    result.sim_time_s = t
    await collect(stub, result, first_submit, ours)
    result.utilization = sum(busy_s) / (len(busy_s) * t) if busy_s and t > 0 else 0.0


async def collect(stub: missions_pb2_grpc.MissionsStub, result: SimResult,
                  first_submit: float, ours: Collection[str]) -> None:
    """Count the outcomes and the makespan of the missions in `ours` into `result`."""
    token = ""
    last_finish = first_submit
    while True:
        reply = await stub.List(missions_pb2.ListMissionsRequest(page_size=1000,
                                                                 page_token=token),
                                timeout=10.0)
        for m in reply.missions:
            if m.mission_id not in ours:
                continue
            if m.state == missions_pb2.MISSION_STATE_COMPLETED:
                result.completed += 1
                last_finish = max(last_finish, m.finished_s)
            elif m.state == missions_pb2.MISSION_STATE_FAILED:
                result.failed += 1
                result.reasons[m.mission_id] = m.reason
            elif m.state == missions_pb2.MISSION_STATE_CANCELLED:
                result.cancelled += 1
                result.reasons[m.mission_id] = m.reason
        token = reply.next_page_token
        if not token:
            break
    result.makespan_s = max(0.0, last_finish - first_submit) if math.isfinite(
        last_finish) else 0.0
