"""Benchmark: state messages per second and command latency through the ROS 2 bridge.

Three processes, as in a deployment: a stand-in coordinator (a bare RobotLink server in this
process that counts states and sends every robot an action command once a second), the
bridge (`fleet ros-bridge`), and N robots on one ROS node publishing odom, diagnostics and
battery_state at --rate Hz. Command latency is one way, coordinator to robot callback
(gRPC + bridge + DDS), measured with the shared wall clock. Needs fleet[ros].

    python bench/ros_bridge.py                # 50 and 200 robots at 10 Hz
    python bench/ros_bridge.py --robots 50 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fleet.v1 import robot_link_pb2, robot_link_pb2_grpc  # noqa: E402


class StandInCoordinator(robot_link_pb2_grpc.RobotLinkServicer):  # type: ignore[misc]
    """Registers anyone, counts states, sends one action per robot per second."""

    def __init__(self) -> None:
        self.states = 0
        self.connected: set[str] = set()

    async def Register(self, request: Any, context: Any) -> Any:
        return robot_link_pb2.RegisterReply(robot_id=request.robot_id, session_id="s",
                                            floor_name="bench", resolution_m=0.5)

    async def Connect(self, request_iterator: AsyncIterator[Any], context: Any
                      ) -> AsyncIterator[Any]:
        first = await request_iterator.__anext__()
        robot_id = first.hello.robot_id
        self.connected.add(robot_id)

        async def read() -> None:
            async for _ in request_iterator:
                self.states += 1
        reader = asyncio.create_task(read())
        seq = 0
        await asyncio.sleep(random.random())
        try:
            while not reader.done():
                seq += 1
                yield robot_link_pb2.RobotCommand(seq=seq, action=robot_link_pb2.PerformAction(
                    action_id=f"bench-{time.time_ns()}", kind=robot_link_pb2.ACTION_KIND_PICK,
                    station_id="s", load_id="l"))
                await asyncio.sleep(1.0)
        finally:
            reader.cancel()
            self.connected.discard(robot_id)


def robots_main(count: int, rate_hz: float, seconds: float, executor: str) -> None:
    """The robots' process: one node, `count` namespaced robots; prints latencies as JSON."""
    from diagnostic_msgs.msg import DiagnosticArray
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import BatteryState
    from std_msgs.msg import String

    from fleet.model import Pose
    from fleet.ros import contract
    from fleet.ros.node import RosNode

    ros = RosNode("bench_robots", executor=executor)
    node = ros.node
    latencies: list[float] = []

    def on_action(msg: String) -> None:
        doc = json.loads(msg.data)
        latencies.append(time.time() - int(doc["action_id"].split("-")[1]) * 1e-9)

    robots = []

    def make() -> None:
        for i in range(count):
            ns = f"bench_{i:03d}"
            pubs = {name: node.create_publisher(t, contract.topic(ns, name), qos)
                    for name, t, qos in (("robot_info", String, contract.LATCHED_QOS),
                                         ("odom", Odometry, 10),
                                         ("battery_state", BatteryState, 10),
                                         ("diagnostics", DiagnosticArray, 10))}
            node.create_subscription(String, contract.topic(ns, "action"), on_action,
                                     contract.RELIABLE_QOS)
            pubs["robot_info"].publish(contract.to_json_message("robot_info", {
                "robot_id": ns, "kind": "agv", "footprint_radius_m": 0.4,
                "max_speed_mps": 1.0, "max_payload_kg": 100.0, "boot_id": "b"}))
            robots.append((ns, pubs))
    ros.call(make, timeout_s=60)
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    print("ready", flush=True)
    period = 1.0 / rate_hz
    start = time.monotonic()
    next_tick = start
    while time.monotonic() - start < seconds and not stopping:
        stamp = time.time()
        for ns, pubs in robots:
            pose = Pose(1.0, 2.0, 0.0)
            pubs["diagnostics"].publish(contract.diagnostics_message(ns, contract.Report(
                stamp_s=stamp)))
            pubs["battery_state"].publish(contract.battery_message(stamp, 0.9))
            pubs["odom"].publish(contract.odometry_message(stamp, pose, 0.5))
        next_tick += period
        time.sleep(max(0.0, next_tick - time.monotonic()))
    print(json.dumps({"latencies": latencies}), flush=True)
    ros.close()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(count: int, rate_hz: float, seconds: float, executor: str
              ) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ROS_DOMAIN_ID": str(random.randint(1, 100)),
           "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    coordinator = StandInCoordinator()
    server = grpc.aio.server()
    robot_link_pb2_grpc.add_RobotLinkServicer_to_server(coordinator, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    bridge = subprocess.Popen([sys.executable, "-m", "fleet.cli", "ros-bridge", "--server",
                               f"127.0.0.1:{port}", "--ros-executor", executor], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    robots = subprocess.Popen([sys.executable, __file__, "--robots-process", str(count),
                               "--rate", str(rate_hz), "--seconds", str(seconds + 60),
                               "--executor", executor],
                              env=env, stdout=subprocess.PIPE, text=True)
    assert robots.stdout is not None
    try:
        deadline = time.monotonic() + 90
        while len(coordinator.connected) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(coordinator.connected)} of {count} registered")
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)
        states0, cpu0, t0 = coordinator.states, cpu_s(bridge.pid), time.monotonic()
        robots_cpu0 = cpu_s(robots.pid)
        await asyncio.sleep(seconds)
        states1, cpu1, t1 = coordinator.states, cpu_s(bridge.pid), time.monotonic()
        robots_cpu1 = cpu_s(robots.pid)
        robots.terminate()
        out, _ = robots.communicate(timeout=30)
    finally:
        for proc in (robots, bridge):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        await server.stop(0)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    latencies = sorted(json.loads(lines[-1])["latencies"]) if lines else []
    return {"robots": count, "executor": executor, "offered": count * rate_hz,
            "states_per_s": (states1 - states0) / (t1 - t0),
            "bridge_cpu": (cpu1 - cpu0) / (t1 - t0),
            "robots_cpu": (robots_cpu1 - robots_cpu0) / (t1 - t0),
            "p50_ms": 1e3 * statistics.median(latencies) if latencies else float("nan"),
            "p95_ms": 1e3 * latencies[int(0.95 * (len(latencies) - 1))] if latencies
            else float("nan"),
            "max_ms": 1e3 * latencies[-1] if latencies else float("nan"),
            "commands": len(latencies)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--robots", type=int, action="append")
    p.add_argument("--rate", type=float, default=10.0, help="state messages per robot per s")
    p.add_argument("--seconds", type=float, default=10.0, help="measuring window")
    p.add_argument("--executor", action="append", choices=("events", "single"),
                   help="rclpy executor of the bridge and the robots (default: both, in turn)")
    p.add_argument("--robots-process", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.robots_process:
        executor = (args.executor or ["events"])[0]
        robots_main(args.robots_process, args.rate, args.seconds, executor)
        return
    rows = [asyncio.run(run(n, args.rate, args.seconds, executor))
            for executor in args.executor or ["events", "single"]
            for n in args.robots or [50, 200]]
    print(f"{'executor':>8} {'robots':>6} {'offered/s':>9} {'states/s':>9} {'bridge CPU':>10} "
          f"{'cmd p50 ms':>10} {'p95 ms':>7} {'max ms':>7} {'commands':>8} {'robots CPU':>10}")
    for r in rows:
        print(f"{r['executor']:>8} {r['robots']:>6} {r['offered']:>9.0f} {r['states_per_s']:>9.0f} "
              f"{100 * r['bridge_cpu']:>9.0f}% {r['p50_ms']:>10.1f} {r['p95_ms']:>7.1f} "
              f"{r['max_ms']:>7.1f} {r['commands']:>8} {100 * r['robots_cpu']:>9.0f}%")


if __name__ == "__main__":
    main()
