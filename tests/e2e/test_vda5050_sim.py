"""VDA 5050 end to end: simulated vehicles, the master and a coordinator through a real broker.

A bystander client on the broker records every message of a run and checks each against the
official schema with jsonschema; the trajectory log is checked by the independent checker.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("paho.mqtt", reason="the vda5050 extra is not installed: "
                    "pip install -e '.[vda5050]'")

from fleet.floor import load_floor
from sim.runner import SimOptions, SimResult, run_simulation
from sim.scenario import make_scenario
from tests.conftest import SMALL_MAP, assert_clean_log, serve
from tests.mqtt_broker import Mosquitto, Sniffer, any_broker, interface_name, sniff, stop_sniffer


@pytest.fixture
def broker() -> Iterator[str]:
    yield from any_broker()


@pytest.fixture
def sniffer(broker: str) -> Iterator[Sniffer]:
    s = sniff(broker)
    yield s
    stop_sniffer(s)


def run(tmp_path: Path, broker: str, robots: int, missions: int, seed: int,
        **options: object) -> SimResult:
    floor = load_floor(SMALL_MAP)
    scenario = make_scenario(floor, robots, missions, seed)
    for served in serve(SMALL_MAP, str(tmp_path / "fleet.db")):
        return asyncio.run(run_simulation(floor, scenario, SimOptions(
            target=served.address, map_path=str(SMALL_MAP), log_path=str(tmp_path / "run.jsonl"),
            seed=seed, vda5050=broker, **options)))  # type: ignore[arg-type]
    raise AssertionError("unreachable")


def no_drops(result: SimResult) -> None:
    dropped = {k: v for k, v in result.link_counters.items() if "dropped" in k}
    assert not dropped, dropped


def check_order_rules(orders: list[dict[str, Any]]) -> int:
    """The standard's order rules on every order of a run, in the order sent: the base
    (released) before the horizon, sequenceIds counting up by one from node to edge to
    node, a new orderId from orderUpdateId 0, each next orderUpdateId stitched on the last
    base node of the update before (a resend repeats its orderUpdateId). Returns how many
    horizon nodes were sent."""
    horizon = 0
    last: dict[str, dict[str, Any]] = {}
    for o in orders:
        nodes, edges = o["nodes"], o["edges"]
        released = [n["released"] for n in nodes]
        assert released == sorted(released, reverse=True) and released[0], o
        assert [e["released"] for e in edges] == released[1:], o
        seqs = [n["sequenceId"] for n in nodes]
        assert seqs == list(range(seqs[0], seqs[0] + 2 * len(nodes), 2)), o
        assert [e["sequenceId"] for e in edges] == [s + 1 for s in seqs[:-1]], o
        assert all((e["startNodeId"], e["endNodeId"]) == (a["nodeId"], b["nodeId"])
                   for e, a, b in zip(edges, nodes, nodes[1:], strict=False)), o
        horizon += released.count(False)
        before = last.get(o["serialNumber"])
        if before is None or before["orderId"] != o["orderId"]:
            assert o["orderUpdateId"] == 0, o
        elif o["orderUpdateId"] == before["orderUpdateId"] + 1:
            stitch = [n for n in before["nodes"] if n["released"]][-1]
            assert (nodes[0]["nodeId"], nodes[0]["sequenceId"]) == (
                stitch["nodeId"], stitch["sequenceId"]), (before, o)
        else:
            assert o["orderUpdateId"] == before["orderUpdateId"], (before, o)  # a resend
        last[o["serialNumber"]] = o
    return horizon


def test_transport_and_weld_missions_finish_through_the_broker(
        tmp_path: Path, broker: str, sniffer: Sniffer) -> None:
    # The master knows the vehicles from their factsheets alone (the welder's programs too).
    result = run(tmp_path, broker, robots=3, missions=4, seed=2, vda_factsheets=True)
    assert result.ok, result.summary()
    assert_clean_log(result.log_path)
    no_drops(result)
    assert sniffer.by_topic("factsheet")
    # Every message of the run, both ways, validates against the official v2.1 schemas.
    assert sniffer.check_all() > 300
    actions = {a["actionType"] for o in sniffer.by_topic("order") for n in o["nodes"]
               for a in n["actions"]}
    assert {"pick", "drop", "weld"} <= actions
    orders = sniffer.by_topic("order")
    assert any(o["orderUpdateId"] > 0 for o in orders), "no path was released piece by piece"
    # The planned part went out as the horizon, and every update kept the standard's rules.
    assert check_order_rules(orders) > 0, "no horizon was sent"
    assert {c["connectionState"] for c in sniffer.by_topic("connection")} >= {"ONLINE",
                                                                            "OFFLINE"}


def test_a_vehicle_restarting_mid_order_is_never_sent_cancel_order(
        tmp_path: Path, broker: str, sniffer: Sniffer) -> None:
    result = run(tmp_path, broker, robots=3, missions=4, seed=1,
                 restarts=(("agv-01", 40.0),))
    assert result.ok, result.summary()
    assert_clean_log(result.log_path)
    no_drops(result)
    assert result.link_counters["restarts"] >= 1
    instant = [a["actionType"] for m in sniffer.by_topic("instantActions") for a in m["actions"]]
    assert "cancelOrder" not in instant
    recoveries = [o for o in sniffer.by_topic("order") if o["orderId"].startswith("recover:")]
    assert len({o["orderId"] for o in recoveries}) == 1, "one recovery order, not a loop"
    sniffer.check_all()


def test_the_broker_going_away_and_coming_back_loses_no_mission(tmp_path: Path) -> None:
    own = Mosquitto()
    own.start()
    broker = f"mqtt://127.0.0.1:{own.port}/{interface_name()}"
    outage = threading.Event()

    def cut() -> None:
        time.sleep(4.0)
        own.stop()
        outage.set()
        time.sleep(3.0)
        own.start()

    cutter = threading.Thread(target=cut, daemon=True)
    cutter.start()
    try:
        result = run(tmp_path, broker, robots=3, missions=4, seed=1)
    finally:
        cutter.join(timeout=30)
        own.stop()
    assert outage.is_set(), "the run ended before the broker went away"
    assert result.ok, result.summary()
    assert result.link_counters["broker connects"] >= 2
    assert_clean_log(result.log_path)


def test_a_safety_stopped_vehicle_keeps_its_cells_gets_no_new_order_and_goes_on(
        tmp_path: Path, broker: str, sniffer: Sniffer) -> None:
    result = run(tmp_path, broker, robots=3, missions=4, seed=2,
                 safety_stops=(("agv-01", 15.0, 40.0, "MANUAL"),
                               ("agv-02", 30.0, 20.0, "fieldViolation")))
    # Nobody drove into the stopped vehicles' cells, and every mission finished after.
    assert result.ok, result.summary()
    assert_clean_log(result.log_path)
    no_drops(result)
    assert result.link_counters["safety stops"] == 2
    for serial in ("agv-01", "agv-02"):
        ours = [(name.rsplit("/", 1)[-1], json.loads(p)) for name, p in list(sniffer.messages)
                if name.split("/")[3] == serial and name.rsplit("/", 1)[-1] in ("state",
                                                                               "order")]
        stopped = [i for i, (topic, doc) in enumerate(ours) if topic == "state" and (
            doc["safetyState"]["eStop"] != "NONE" or doc["safetyState"]["fieldViolation"])]
        assert stopped, f"{serial} never reported its safety stop"
        order_id = ours[stopped[0]][1]["orderId"]
        during = [doc for topic, doc in ours[stopped[0]:stopped[-1] + 1] if topic == "order"]
        assert all(o["orderId"] == order_id for o in during), "a new order during the stop"
        after = [doc for topic, doc in ours[stopped[-1] + 1:] if topic == "state"]
        assert after and after[0]["safetyState"] == {"eStop": "NONE", "fieldViolation": False}
        moved = {(round(d["agvPosition"]["x"], 2), round(d["agvPosition"]["y"], 2))
                 for d in after}
        assert len(moved) > 1, f"{serial} did not go on after its safety stop"
    sniffer.check_all()


def test_vehicles_publishing_visualization_move_between_states(
        tmp_path: Path, broker: str, sniffer: Sniffer) -> None:
    result = run(tmp_path, broker, robots=2, missions=2, seed=1, vda_visualization_hz=10.0)
    assert result.ok, result.summary()
    assert_clean_log(result.log_path)
    no_drops(result)
    shown = sniffer.by_topic("visualization")
    # 10 Hz of simulated time against a state every 0.5 s: more positions than states.
    assert len(shown) > 2 * len(sniffer.by_topic("state"))
    assert result.link_counters["positions forwarded"] > len(shown) // 2
    sniffer.check_all()


def test_a_vehicle_reporting_a_fatal_error_is_a_fault_and_gets_no_new_order(
        tmp_path: Path, broker: str, sniffer: Sniffer) -> None:
    result = run(tmp_path, broker, robots=3, missions=4, seed=2, stops=(("agv-01", 20.0),))
    # Every mission ended: done by the others, or failed with the vehicle's load on board.
    assert result.completed + result.failed == result.submitted and result.failed <= 1, \
        result.summary()
    assert_clean_log(result.log_path)
    ours = [(name.rsplit("/", 1)[-1], json.loads(p)) for name, p in list(sniffer.messages)
            if name.split("/")[3] == "agv-01"]
    fatal = [i for i, (topic, doc) in enumerate(ours) if topic == "state" and any(
        e["errorLevel"] == "FATAL" for e in doc["errors"])]
    assert fatal, "agv-01 never reported its breakdown"
    order_id = ours[fatal[0]][1]["orderId"]
    later = {doc["orderId"] for topic, doc in ours[fatal[0]:] if topic == "order"}
    assert later <= {order_id}, f"orders after the fault: {later}"
    sniffer.check_all()
