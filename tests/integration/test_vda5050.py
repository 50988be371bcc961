"""VDA 5050 through a real broker: vehicles reject bad orders with the standard's error
types and take a resent order once; the master drops invalid messages, lets a vehicle in
MANUAL go and takes a silent vehicle's last will (CONNECTIONBROKEN)."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("paho.mqtt", reason="the vda5050 extra is not installed: "
                    "pip install -e '.[vda5050]'")

from fleet.floor import load_floor
from fleet.v1 import (
    common_pb2,
    fleet_pb2,
    fleet_pb2_grpc,
    missions_pb2,
    missions_pb2_grpc,
    simulation_pb2,
    simulation_pb2_grpc,
)
from fleet.vda5050.contract import Protocol, Topic, VehicleKey
from fleet.vda5050.master import parse_broker
from sim.robot import SimRobot
from sim.scenario import make_scenario
from sim.vda_link import MANUFACTURER, VdaFleet, VdaLink, VdaVehicles
from tests.conftest import SMALL_MAP, Served
from tests.mqtt_broker import Sniffer, any_broker, sniff, stop_sniffer


@pytest.fixture
def broker() -> Iterator[str]:
    yield from any_broker()


def robots(n: int = 2) -> list[SimRobot]:
    scenario = make_scenario(load_floor(SMALL_MAP), n, 1, 1)
    return [SimRobot(spec, pose) for spec, pose in scenario.robots]


def wait(until: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not until():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


class Master:
    """The test as a master control: publishes orders to one simulated vehicle."""

    def __init__(self, broker: str, link: VdaLink) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        host, port, interface = parse_broker(broker)
        self.protocol = Protocol("2.1", interface)
        self.link = link
        self.header = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.connect(host, port)
        self.client.loop_start()

    def order(self, order_id: str, update_id: int, points: list[tuple[float, float]],
              first_seq: int = 0, map_id: str = "small", actions: list[Any] | None = None,
              raw: bytes | None = None) -> None:
        nodes = [{"nodeId": f"n{first_seq // 2 + i}", "sequenceId": first_seq + 2 * i,
                  "released": True, "nodePosition": {"x": x, "y": y, "mapId": map_id},
                  "actions": actions if actions and i == len(points) - 1 else []}
                 for i, (x, y) in enumerate(points)]
        edges = [{"edgeId": f"e{i}", "sequenceId": a["sequenceId"] + 1, "released": True,
                  "startNodeId": a["nodeId"], "endNodeId": b["nodeId"], "actions": []}
                 for i, (a, b) in enumerate(itertools.pairwise(nodes))]
        self.header += 1
        doc = {**self.protocol.header(self.link.key, self.header, 1.0), "orderId": order_id,
               "orderUpdateId": update_id, "nodes": nodes, "edges": edges}
        before = self.link.waiting
        payload = raw if raw is not None else self.protocol.encode(Topic.ORDER, doc)
        self.client.publish(self.protocol.topic(self.link.key, Topic.ORDER), payload)
        wait(lambda: self.link.waiting > before)
        self.link.take_commands()

    def errors(self) -> list[str]:
        return [e["errorType"] for e in self.link.state_doc(1.0)["errors"]]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def vehicle(broker: str) -> Iterator[Master]:
    host = VdaVehicles(broker, "small")
    robot = robots(1)[0]
    link = host.link(robot, lambda _: None)
    asyncio.run(link.connect())
    master = Master(broker, link)
    yield master
    master.close()
    host.close()


def test_a_vehicle_takes_a_resent_order_once(vehicle: Master) -> None:
    r = vehicle.link.robot
    x, y = r.pose.x, r.pose.y
    vehicle.order("o1", 0, [(x, y), (x + 1, y)])
    vehicle.order("o1", 1, [(x + 1, y), (x + 2, y)], first_seq=2)
    waypoints = dict(r.waypoints)
    vehicle.order("o1", 1, [(x + 1, y), (x + 2, y)], first_seq=2)  # the same update again
    assert r.waypoints == waypoints and len(waypoints) == 2
    assert vehicle.errors() == []
    doc = vehicle.link.state_doc(1.0)
    assert (doc["orderId"], doc["orderUpdateId"]) == ("o1", 1)


@pytest.mark.parametrize(("case", "error"), [
    ("older update", "orderUpdateError"),
    ("update not stitched", "orderUpdateError"),
    ("first node far away", "noRouteError"),
    ("another map", "noRouteError"),
    ("unsupported action", "orderError"),
    ("not JSON", "validationError"),
    ("breaks the schema", "validationError"),
    ("new order while driving", "orderError"),
])
def test_a_vehicle_rejects_bad_orders_with_the_standards_error(vehicle: Master, case: str,
                                                               error: str) -> None:
    r = vehicle.link.robot
    x, y = r.pose.x, r.pose.y
    vehicle.order("o1", 3, [(x, y), (x + 1, y)])
    if case == "older update":
        vehicle.order("o1", 2, [(x + 1, y), (x + 2, y)], first_seq=2)
    elif case == "update not stitched":
        vehicle.order("o1", 4, [(x + 5, y), (x + 6, y)], first_seq=8)
    elif case == "first node far away":
        r.waypoints.clear()
        vehicle.order("o2", 0, [(x + 5, y)])
    elif case == "another map":
        vehicle.order("o2", 0, [(x, y)], map_id="hall-2")
    elif case == "unsupported action":
        vehicle.order("o1", 4, [(x + 1, y)], first_seq=2, actions=[
            {"actionId": "a1", "actionType": "paint", "blockingType": "HARD"}])
    elif case == "not JSON":
        vehicle.order("", 0, [], raw=b"{not json")
    elif case == "breaks the schema":
        vehicle.order("", 0, [], raw=json.dumps({"orderId": 5}).encode())
    else:
        vehicle.order("o2", 0, [(x, y), (x, y + 1)])
    assert error in vehicle.errors()
    # The state carrying the error is valid, and the order in force is unchanged.
    doc = vehicle.link.host.protocol.validate(Topic.STATE, vehicle.link.state_doc(2.0))
    assert doc["orderId"] == "o1"


def join(fleet: VdaFleet, served: Served, t: list[float], want: int) -> None:
    stub = fleet_pb2_grpc.FleetStub(served.channel)

    def joined() -> bool:
        t[0] += 0.5
        for link in fleet.links:
            link.send_state(t[0])
        robots = stub.ListRobots(fleet_pb2.ListRobotsRequest())
        return sum(r.connected for r in robots.robots) == want
    wait(joined, 15.0)


def test_master_lets_manual_and_silent_vehicles_go_and_drops_invalid_messages(
        broker: str, small_server: Served) -> None:
    loop = asyncio.new_event_loop()
    sniffer: Sniffer = sniff(broker)
    fleet: VdaFleet = loop.run_until_complete(VdaFleet.start(
        broker, small_server.address, load_floor(SMALL_MAP).name, robots(2), shared=False,
        silence_timeout_s=30.0))
    fleet.vehicles.keepalive_s = 1
    stats = fleet.master.stats
    pump = asyncio.Event()

    async def spin() -> None:
        await pump.wait()
    task = loop.create_task(spin())
    thread = threading.Thread(target=loop.run_until_complete, args=(task,), daemon=True)
    try:
        for link in fleet.links:
            loop.run_until_complete(link.connect())
        thread.start()
        t = [0.0]
        join(fleet, small_server, t, 2)
        # Garbage on a vehicle's state topic is dropped and counted; the master goes on.
        key = VehicleKey(MANUFACTURER, fleet.links[0].robot.spec.id)
        topic = fleet.master.protocol.topic(key, Topic.STATE)
        sniffer.client.publish(topic, b"{not json")
        sniffer.client.publish(topic, json.dumps({"headerId": 1}).encode())
        wait(lambda: stats.dropped["invalid state"] >= 2)
        garbage = (b"{not json", json.dumps({"headerId": 1}).encode())
        wait(lambda: sum(p in garbage for _, p in sniffer.messages) == 2)
        sniffer.messages[:] = [m for m in sniffer.messages if m[1] not in garbage]
        # A person takes the first vehicle over: it leaves the fleet, and comes back.
        fleet.links[0].operating_mode = "MANUAL"
        join(fleet, small_server, t, 1)
        assert stats.leaves["operatingMode"] == 1
        fleet.links[0].operating_mode = "AUTOMATIC"
        join(fleet, small_server, t, 2)
        # The second one goes silent: the broker publishes its last will, the master lets go.
        fleet.links[1].kill()
        wait(lambda: stats.leaves["connection"] >= 1, 15.0)
        join(fleet, small_server, t, 1)
        wills = [c["connectionState"] for c in sniffer.by_topic("connection")
                 if c["serialNumber"] == fleet.links[1].robot.spec.id]
        assert wills[-1] == "CONNECTIONBROKEN"
        sniffer.check_all()
    finally:
        loop.call_soon_threadsafe(pump.set)
        thread.join(timeout=10)
        loop.run_until_complete(fleet.stop())
        loop.close()
        stop_sniffer(sniffer)


def test_a_vehicle_in_safety_stop_is_paused_gets_no_order_and_works_once_cleared(
        broker: str, small_server: Served) -> None:
    loop = asyncio.new_event_loop()
    sniffer: Sniffer = sniff(broker)
    agv = [r for r in robots(3) if r.spec.transport is not None][:1]
    fleet: VdaFleet = loop.run_until_complete(VdaFleet.start(
        broker, small_server.address, load_floor(SMALL_MAP).name, agv))
    link = fleet.links[0]
    pump = asyncio.Event()

    async def spin() -> None:
        await pump.wait()
    task = loop.create_task(spin())
    thread = threading.Thread(target=loop.run_until_complete, args=(task,), daemon=True)
    fleet_stub = fleet_pb2_grpc.FleetStub(small_server.channel)
    missions = missions_pb2_grpc.MissionsStub(small_server.channel)
    clock = simulation_pb2_grpc.SimClockStub(small_server.channel)
    t = [0.0]

    def step() -> None:
        """One period of the simulation, as `sim.runner` does it."""
        for k in range(5):
            link.robot.tick(t[0] + 0.1 * (k + 1), 0.1)
        t[0] += 0.5
        link.send_state(t[0])
        reply = clock.Advance(simulation_pb2.AdvanceRequest(time_s=t[0]), timeout=30)
        seq = dict(reply.last_command_seq).get(link.robot.spec.id, 0)
        wait(lambda: link.has_received(seq))
        link.take_commands()

    def mode() -> int:
        return next(r.mode for r in fleet_stub.ListRobots(fleet_pb2.ListRobotsRequest()).robots
                    if r.robot_id == link.robot.spec.id)

    def mission() -> int:
        return missions.Get(missions_pb2.GetMissionRequest(mission_id="m1")).state

    try:
        loop.run_until_complete(link.connect())
        thread.start()
        join(fleet, small_server, t, 1)
        # Someone presses the vehicle's e-stop: the coordinator sees it paused.
        link.safety = {"eStop": "MANUAL", "fieldViolation": False}
        for _ in range(20):
            step()
            if mode() == common_pb2.ROBOT_MODE_PAUSED:
                break
        assert mode() == common_pb2.ROBOT_MODE_PAUSED
        missions.Submit(missions_pb2.SubmitMissionRequest(mission=missions_pb2.MissionSpec(
            mission_id="m1", tasks=[missions_pb2.TaskSpec(
                task_id="bring", transport=missions_pb2.TransportTask(
                    pickup_station="in-1", dropoff_station="out-1", load_id="p1",
                    mass_kg=50.0))])))
        for _ in range(20):
            step()
        # Twenty control steps later: not given the job, not sent an order.
        assert mission() == missions_pb2.MISSION_STATE_ACCEPTED
        assert fleet.master.stats.published["order"] == 0 and link.updates == []
        # The e-stop is acknowledged: the vehicle takes the job and finishes it.
        link.safety = {"eStop": "NONE", "fieldViolation": False}
        for _ in range(600):
            step()
            if mission() == missions_pb2.MISSION_STATE_COMPLETED:
                break
        assert mission() == missions_pb2.MISSION_STATE_COMPLETED
        assert mode() != common_pb2.ROBOT_MODE_PAUSED
        assert fleet.master.stats.safety_stops == 1
        sniffer.check_all()
    finally:
        loop.call_soon_threadsafe(pump.set)
        thread.join(timeout=10)
        loop.run_until_complete(fleet.stop())
        loop.close()
        stop_sniffer(sniffer)
