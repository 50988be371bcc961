"""VDA 5050 end to end: simulated vehicles, the master and a coordinator through a real broker.

A bystander client on the broker records every message of a run and checks each against the
official schema with jsonschema; the trajectory log is checked by the independent checker.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

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


def test_transport_and_weld_missions_finish_through_the_broker(
        tmp_path: Path, broker: str, sniffer: Sniffer) -> None:
    result = run(tmp_path, broker, robots=3, missions=4, seed=2)
    assert result.ok, result.summary()
    assert_clean_log(result.log_path)
    no_drops(result)
    # Every message of the run, both ways, validates against the official v2.1 schemas.
    assert sniffer.check_all() > 300
    actions = {a["actionType"] for o in sniffer.by_topic("order") for n in o["nodes"]
               for a in n["actions"]}
    assert {"pick", "drop", "weld"} <= actions
    orders = sniffer.by_topic("order")
    assert any(o["orderUpdateId"] > 0 for o in orders), "no path was released piece by piece"
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
