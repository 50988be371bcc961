"""/metrics scraped after a simulation, its figures checked against what the simulation did
(the simulator's own result and the coordinator's event log, both counted independently of
the metrics)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fleet.floor import load_floor
from fleet.model import EventKind
from sim.runner import SimOptions, run_simulation
from sim.scenario import make_scenario
from tests.conftest import SMALL_MAP, assert_clean_log, serve


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@pytest.mark.parametrize("per_robot_streams", [False, True], ids=["gateway", "streams"])
def test_metrics_count_what_the_simulation_did(tmp_path: Path, per_robot_streams: bool) -> None:
    floor = load_floor(SMALL_MAP)
    scenario = make_scenario(floor, 3, 6, seed=2)
    for served in serve(SMALL_MAP, str(tmp_path / "fleet.db"), http=True):
        log = tmp_path / "run.jsonl"
        result = asyncio.run(run_simulation(floor, scenario, SimOptions(
            target=served.address, map_path=str(SMALL_MAP), log_path=str(log), seed=2,
            per_robot_streams=per_robot_streams)))
        assert result.ok, result.summary()
        assert_clean_log(log)
        store = served.coordinator.store  # type: ignore[attr-defined]
        events = served.call(lambda store=store: store.events(0))
        m = scrape(served.http_url)

        def value(name: str, m: dict[tuple[str, tuple[tuple[str, str], ...]], float] = m,
                  **labels: str) -> float:
            return m[(name, tuple(sorted(labels.items())))]
        kinds = [e.kind for e in events]
        assert value("fleet_tasks_total", outcome="assigned") == kinds.count(EventKind.ASSIGNED)
        assert value("fleet_tasks_total", outcome="finished") == \
            kinds.count(EventKind.TASK_DONE) > 0
        assert value("fleet_tasks_total", outcome="failed") == sum(
            1 for e in events if e.kind is EventKind.FAILED and e.task_id)
        assert value("fleet_missions", state="completed") == result.completed == 6
        assert value("fleet_missions", state="active") == 0
        # One control step per Advance call the simulator made: two instruments agree.
        advances = value("fleet_grpc_calls_total", method="/fleet.v1.SimClock/Advance",
                         code="OK")
        assert advances > 10
        assert value("fleet_control_step_seconds_count") == advances
        assert value("fleet_dispatch_seconds_count") <= advances
        assert value("fleet_store_write_seconds_count") == advances
        assert value("fleet_grpc_calls_total", method="/fleet.v1.Missions/Submit",
                     code="OK") == result.submitted == 6
        if per_robot_streams:
            assert value("fleet_grpc_calls_total", method="/fleet.v1.RobotLink/Register",
                         code="OK") == len(scenario.robots)
        else:  # every robot joined through the one gateway stream
            assert ("fleet_grpc_calls_total", (("code", "OK"),
                                               ("method", "/fleet.v1.RobotLink/Register"))) \
                not in m
        # Every robot acknowledged paths and actions it was sent.
        assert value("fleet_command_latency_seconds_count") >= kinds.count(EventKind.TASK_DONE)
        assert value("fleet_control_step_cpu_seconds_total") > 0
        # The simulator's robots report before every step: each step reacted to reports,
        # and none can have waited less than the step itself took.
        assert value("fleet_reaction_seconds_count") == advances
        assert value("fleet_reaction_seconds_sum") >= value("fleet_control_step_seconds_sum")
        assert sum(value("fleet_robots", state=s) for s in
                   ("idle", "moving", "acting", "charging", "paused", "fault", "silent")) == \
            len(scenario.robots)
