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
from fleet.vda5050.contract import REJECTION_ERRORS, Protocol, Topic, VehicleKey
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


class OneVehicle:
    """One simulated AGV in lockstep with a simulated-clock coordinator, through the broker
    and a master (its loop on a thread of its own), stepped as `sim.runner` does it."""

    def __init__(self, broker: str, served: Served) -> None:
        self.served = served
        self.loop = asyncio.new_event_loop()
        self.sniffer: Sniffer = sniff(broker)
        agv = [r for r in robots(3) if r.spec.transport is not None][:1]
        self.fleet: VdaFleet = self.loop.run_until_complete(VdaFleet.start(
            broker, served.address, load_floor(SMALL_MAP).name, agv))
        self.link = self.fleet.links[0]
        self.stats = self.fleet.master.stats
        self._pump = asyncio.Event()
        task = self.loop.create_task(self._pump.wait())
        self._thread = threading.Thread(target=self.loop.run_until_complete, args=(task,),
                                        daemon=True)
        self._fleet = fleet_pb2_grpc.FleetStub(served.channel)
        self.missions = missions_pb2_grpc.MissionsStub(served.channel)
        self._clock = simulation_pb2_grpc.SimClockStub(served.channel)
        self.t = [0.0]
        self.loop.run_until_complete(self.link.connect())
        self._thread.start()
        join(self.fleet, served, self.t, 1)

    def step(self, n: int = 1) -> None:
        """n periods of 0.5 s: the robot moves, reports, the coordinator steps, commands
        arrive and are taken."""
        for _ in range(n):
            for k in range(5):
                self.link.robot.tick(self.t[0] + 0.1 * (k + 1), 0.1)
            self.t[0] += 0.5
            self.link.send_state(self.t[0])
            reply = self._clock.Advance(simulation_pb2.AdvanceRequest(time_s=self.t[0]),
                                        timeout=30)
            seq = dict(reply.last_command_seq).get(self.link.robot.spec.id, 0)
            wait(lambda seq=seq: self.link.has_received(seq))
            self.link.take_commands()

    def step_until(self, done: Callable[[], bool], timeout_s: float = 60.0) -> None:
        """Step until `done` (a vehicle rejoining waits out the master's retry delay)."""
        deadline = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < deadline, "timed out"
            self.step()

    def robot(self) -> fleet_pb2.RobotInfo:
        return next(r for r in self._fleet.ListRobots(fleet_pb2.ListRobotsRequest()).robots
                    if r.robot_id == self.link.robot.spec.id)

    def submit(self, mission_id: str = "m1") -> None:
        self.missions.Submit(missions_pb2.SubmitMissionRequest(
            mission=missions_pb2.MissionSpec(mission_id=mission_id, tasks=[
                missions_pb2.TaskSpec(task_id="bring", transport=missions_pb2.TransportTask(
                    pickup_station="in-1", dropoff_station="out-1", load_id="p1",
                    mass_kg=50.0))])))

    def mission(self, mission_id: str = "m1") -> int:
        return self.missions.Get(missions_pb2.GetMissionRequest(mission_id=mission_id)).state

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._pump.set)
        self._thread.join(timeout=10)
        self.loop.run_until_complete(self.fleet.stop())
        self.loop.close()
        stop_sniffer(self.sniffer)


@pytest.fixture
def one(broker: str, small_server: Served) -> Iterator[OneVehicle]:
    vehicle = OneVehicle(broker, small_server)
    try:
        yield vehicle
    finally:
        vehicle.close()


def test_a_vehicle_in_safety_stop_is_paused_gets_no_order_and_works_once_cleared(
        one: OneVehicle) -> None:
    # Someone presses the vehicle's e-stop: the coordinator sees it paused.
    one.link.safety = {"eStop": "MANUAL", "fieldViolation": False}
    one.step_until(lambda: one.robot().mode == common_pb2.ROBOT_MODE_PAUSED)
    one.submit()
    one.step(20)
    # Twenty control steps later: not given the job, not sent an order.
    assert one.mission() == missions_pb2.MISSION_STATE_ACCEPTED
    assert one.stats.published["order"] == 0 and one.link.updates == []
    # The e-stop is acknowledged: the vehicle takes the job and finishes it.
    one.link.safety = {"eStop": "NONE", "fieldViolation": False}
    one.step_until(lambda: one.mission() == missions_pb2.MISSION_STATE_COMPLETED)
    assert one.robot().mode != common_pb2.ROBOT_MODE_PAUSED
    assert one.stats.safety_stops == 1
    one.sniffer.check_all()


@pytest.mark.parametrize("error", REJECTION_ERRORS)
def test_an_order_rejection_is_a_fault_and_the_rejected_order_is_not_sent_again(
        one: OneVehicle, error: str) -> None:
    one.link.reject_orders = error
    one.submit()
    one.step_until(lambda: one.stats.rejections == 1)
    sent = one.stats.published["order"]
    # It leaves (it will not drive what was released) and joins again where it stands,
    # in fault while it reports the rejection: the dispatcher's failure rules take over.
    one.step_until(lambda: one.robot().connected and
                   one.robot().mode == common_pb2.ROBOT_MODE_FAULT)
    assert any(error in fault for fault in one.robot().faults)
    assert one.stats.leaves["order"] == 1
    # Longer than the master's resend interval (1 s): a resend would have gone out.
    until = time.monotonic() + 2.5
    one.step_until(lambda: time.monotonic() > until)
    assert one.stats.published["order"] == sent, "the rejected order was sent again"
    assert one.mission() != missions_pb2.MISSION_STATE_COMPLETED
    # The vehicle is put right (its error cleared): it takes the job again and finishes it.
    one.link.reject_orders = ""
    one.link.errors = []
    one.step_until(lambda: one.mission() == missions_pb2.MISSION_STATE_COMPLETED)
    one.sniffer.check_all()


def test_a_lost_order_is_sent_again_and_taken_once(one: OneVehicle) -> None:
    one.link.lose_orders = 2
    one.submit()
    one.step_until(lambda: one.mission() == missions_pb2.MISSION_STATE_COMPLETED)
    assert one.link.lose_orders == 0 and one.stats.resends >= 2
    taken = [(order_id, update) for order_id, update, _, _ in one.link.updates]
    assert len(taken) == len(set(taken)), "an order (update) was taken twice"
    one.sniffer.check_all()
