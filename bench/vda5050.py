"""Benchmark: state messages per second and order latency through the VDA 5050 master.

Three parties, the master in a process of its own as deployed (`fleet vda5050`): a stand-in
coordinator in this process (a bare RobotLink.Gateway server that accepts every join, counts
states and releases every vehicle one more waypoint of its path once a second, with the next
5 as planned: a horizon), the master,
and N vehicles on one MQTT connection in this process publishing a state at --rate Hz.
Order latency is one way, from the stand-in sending a FollowPath to the vehicle's MQTT
callback receiving the order update it became (gRPC + master + broker), on one clock.
Needs fleet[vda5050] and a broker (default the local Mosquitto).

    python bench/vda5050.py                 # 50 and 200 vehicles at 10 Hz
    python bench/vda5050.py --vehicles 50 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fleet.v1 import robot_link_pb2, robot_link_pb2_grpc  # noqa: E402
from fleet.vda5050.contract import Protocol, Topic, VehicleKey  # noqa: E402

MAP = "bench"
HORIZON = 5
"""Planned, unreleased waypoints after each release: every order update has a horizon."""


class StandIn(robot_link_pb2_grpc.RobotLinkServicer):  # type: ignore[misc]
    """Joins anyone, counts states, releases one waypoint per vehicle per second."""

    def __init__(self) -> None:
        self.states = 0
        self.joined: set[str] = set()
        self.sent_at: dict[tuple[str, int], float] = {}

    async def Gateway(self, request_iterator: AsyncIterator[Any], context: Any
                      ) -> AsyncIterator[Any]:
        out: asyncio.Queue[Any] = asyncio.Queue()

        async def read() -> None:
            async for update in request_iterator:
                if update.join:
                    out.put_nowait(robot_link_pb2.GatewayCommands(joined=[
                        robot_link_pb2.JoinResult(
                            robot_id=j.robot_id, code=0, reply=robot_link_pb2.RegisterReply(
                                robot_id=j.robot_id, session_id="s", floor_name=MAP,
                                resolution_m=1.0)) for j in update.join]))
                    self.joined.update(j.robot_id for j in update.join)
                self.states += len(update.states)

        async def release() -> None:
            seq: dict[str, int] = {}
            while True:
                await asyncio.sleep(1.0)
                batch = robot_link_pb2.GatewayCommands()
                for robot_id in sorted(self.joined):
                    n = seq[robot_id] = seq.get(robot_id, 0) + 1
                    batch.commands.append(robot_link_pb2.AddressedCommand(
                        robot_id=robot_id, command=robot_link_pb2.RobotCommand(
                            seq=n, follow_path=robot_link_pb2.FollowPath(
                                path_id="p", first_index=n, waypoints=[
                                    robot_link_pb2.TimedWaypoint(x=float(n), y=0.0)],
                                planned=[robot_link_pb2.TimedWaypoint(x=float(n + k), y=0.0)
                                         for k in range(1, HORIZON + 1)]))))
                    self.sent_at[(robot_id, n - 1)] = time.time()
                out.put_nowait(batch)

        tasks = [asyncio.create_task(read()), asyncio.create_task(release())]
        try:
            while True:
                yield await out.get()
        finally:
            for t in tasks:
                t.cancel()


class Vehicles:
    """N vehicles on one MQTT connection: states at a rate, orders timed on arrival."""

    def __init__(self, broker: str, n: int) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        from fleet.vda5050.master import parse_broker

        host, port, interface = parse_broker(broker)
        self.protocol = Protocol("2.1", interface)
        self.keys = [VehicleKey("bench", f"v{i:03d}") for i in range(n)]
        self.received: list[tuple[str, int, float]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=uuid.uuid4().hex)
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.subscribe(self.protocol.subscription(Topic.ORDER, "bench"))
        self.client.loop_start()
        self.header = 0
        self.order_update: dict[str, int] = {}

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        now = time.time()
        doc = json.loads(message.payload)
        self.order_update[doc["serialNumber"]] = doc["orderUpdateId"]
        self.received.append((doc["serialNumber"], doc["orderUpdateId"], now))

    def publish_states(self) -> None:
        self.header += 1
        for key in self.keys:
            doc = {**self.protocol.header(key, self.header, time.time()),
                   "orderId": "path:p" if key.serial_number in self.order_update else "",
                   "orderUpdateId": self.order_update.get(key.serial_number, 0),
                   "lastNodeId": "", "lastNodeSequenceId": 0, "nodeStates": [],
                   "edgeStates": [], "driving": False, "operatingMode": "AUTOMATIC",
                   "agvPosition": {"x": 0.5, "y": 0.5, "theta": 0.0, "mapId": MAP,
                                   "positionInitialized": True},
                   "actionStates": [], "batteryState": {"batteryCharge": 90.0,
                                                        "charging": False},
                   "errors": [], "safetyState": {"eStop": "NONE", "fieldViolation": False}}
            self.client.publish(self.protocol.topic(key, Topic.STATE),
                                json.dumps(doc, separators=(",", ":")))


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(n: int, rate: float, seconds: float, broker: str) -> dict[str, float]:
    server = grpc.aio.server()
    stand_in = StandIn()
    robot_link_pb2_grpc.add_RobotLinkServicer_to_server(stand_in, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    broker = f"{broker.rstrip('/')}/bench{random.randrange(10**6)}"
    vehicles = Vehicles(broker, n)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write("vehicles:\n" + "".join(
            f"  - {{manufacturer: bench, serial_number: {k.serial_number}}}\n"
            for k in vehicles.keys))
    master = subprocess.Popen([sys.executable, "-m", "fleet.cli", "vda5050", "--broker", broker,
                               "--server", f"127.0.0.1:{port}", "--vehicles", f.name,
                               "--no-discover"], stdout=subprocess.DEVNULL)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while len(stand_in.joined) < n and loop.time() < deadline:
            vehicles.publish_states()
            await asyncio.sleep(1 / rate)
        await asyncio.sleep(2.0)
        states0, cpu0, t0 = stand_in.states, cpu_s(master.pid), time.monotonic()
        offered = 0
        vehicles.received.clear()
        start = loop.time()
        ticks = 0
        while loop.time() - start < seconds:
            vehicles.publish_states()
            offered += n
            ticks += 1
            await asyncio.sleep(max(0.0, start + ticks / rate - loop.time()))
        wall = time.monotonic() - t0
        forwarded = stand_in.states - states0
        cpu = cpu_s(master.pid) - cpu0
        latency = sorted(got - stand_in.sent_at[(robot, update)]
                         for robot, update, got in vehicles.received
                         if (robot, update) in stand_in.sent_at)
    finally:
        master.terminate()
        master.wait(timeout=10)
        vehicles.client.loop_stop()
        await server.stop(0)
        os.unlink(f.name)
    pick = (lambda q: 1000 * latency[min(len(latency) - 1, int(q * len(latency)))]
            ) if latency else (lambda q: float("nan"))
    return {"vehicles": n, "offered": offered / wall, "forwarded": forwarded / wall,
            "cpu": 100 * cpu / wall, "p50": pick(0.5), "p95": pick(0.95),
            "orders": len(latency), "median": statistics.median(latency) if latency else 0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--vehicles", type=int, action="append")
    p.add_argument("--rate", type=float, default=10.0)
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    args = p.parse_args()
    rows = [asyncio.run(run(n, args.rate, args.seconds, args.broker))
            for n in args.vehicles or [50, 200]]
    print("| vehicles | states offered/s | forwarded/s | master CPU | order latency p50 / p95 "
          "| orders timed |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['vehicles']} | {r['offered']:,.0f} | {r['forwarded']:,.0f} | "
              f"{r['cpu']:.0f} % | {r['p50']:.1f} / {r['p95']:.1f} ms | {r['orders']} |")


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
