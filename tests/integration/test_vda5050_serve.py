"""`fleet serve --vda5050`: the master runs inside the serving process (a real subprocess on
the wall clock); a simulated vehicle on the broker, found by its factsheet, finishes a
transport mission, and the server stops cleanly with its master."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

pytest.importorskip("paho.mqtt", reason="the vda5050 extra is not installed: "
                    "pip install -e '.[vda5050]'")

from fleet.floor import load_floor
from fleet.model import Pose
from fleet.v1 import fleet_pb2, fleet_pb2_grpc, missions_pb2, missions_pb2_grpc, robot_link_pb2
from sim.robot import SimRobot
from sim.scenario import make_scenario
from sim.vda_link import VdaVehicles
from tests.conftest import ROOT, SMALL_MAP
from tests.e2e.test_sim import ENV, free_port, kill
from tests.integration.test_cli_input_errors import fleet, one_line_error
from tests.mqtt_broker import Sniffer, any_broker, sniff, stop_sniffer


@pytest.fixture
def broker() -> Iterator[str]:
    yield from any_broker()


ADMIN = "test-admin-token-0123456789"


def serve(tmp_path: Path, port: int, broker: str, tokens: bool) -> subprocess.Popen[str]:
    extra = []
    if tokens:
        # Only the test's own token is in the file: the master needs one of its own.
        (tmp_path / "tokens.yaml").write_text(
            f"tokens:\n  - {{name: test, token: {ADMIN}, roles: [admin]}}\n")
        extra = ["--tokens", str(tmp_path / "tokens.yaml")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleet.cli", "serve", "--map", str(SMALL_MAP), "--db",
         str(tmp_path / "fleet.db"), "--address", f"127.0.0.1:{port}", "--vda5050", broker,
         *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={k: v for k, v in ENV.items() if k != "FLEET_TOKEN"}, cwd=ROOT)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "serving" in line:
            assert "VDA 5050 master" in line, line
            return proc
    raise AssertionError("fleet serve ended before serving:\n" + "".join(lines))


class Bearer(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """The test's token on every call."""

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        metadata = [*(details.metadata or ()), ("authorization", f"Bearer {ADMIN}")]
        return continuation(details._replace(metadata=metadata), request)


def agv() -> SimRobot:
    """One AGV two cells east of the pickup, short picks and drops (a wall-clock run)."""
    spec = next(s for s, _ in make_scenario(load_floor(SMALL_MAP), 3, 1, 1).robots
                if s.transport is not None)
    robot = SimRobot(spec, Pose(3.5, 3.5, 0.0))
    robot.ACTION_TIME_S = {robot_link_pb2.ACTION_KIND_PICK: 0.5,  # type: ignore[misc]
                           robot_link_pb2.ACTION_KIND_DROP: 0.5}
    return robot


def transport(mission_id: str) -> missions_pb2.SubmitMissionRequest:
    return missions_pb2.SubmitMissionRequest(mission=missions_pb2.MissionSpec(
        mission_id=mission_id, tasks=[missions_pb2.TaskSpec(
            task_id="bring", transport=missions_pb2.TransportTask(
                pickup_station="in-1", dropoff_station="out-1", load_id=f"{mission_id}-p",
                mass_kg=50.0))]))


@pytest.mark.parametrize("tokens", [False, True], ids=["open", "with-tokens"])
def test_fleet_serve_with_vda5050_relays_a_vehicle_that_finishes_a_transport(
        tmp_path: Path, broker: str, tokens: bool) -> None:
    port = free_port()
    sniffer: Sniffer = sniff(broker)
    server = serve(tmp_path, port, broker, tokens)
    vehicles = VdaVehicles(broker, load_floor(SMALL_MAP).name, shared=False)
    robot = agv()
    link = vehicles.link(robot, lambda _: None)
    channel = grpc.intercept_channel(grpc.insecure_channel(f"127.0.0.1:{port}"),
                                     *([Bearer()] if tokens else []))
    missions = missions_pb2_grpc.MissionsStub(channel)
    fleet = fleet_pb2_grpc.FleetStub(channel)
    try:
        asyncio.run(link.connect())
        # The vehicle drives on the wall clock, as the coordinator does.
        state = missions_pb2.MISSION_STATE_UNSPECIFIED
        submitted = False
        deadline = time.monotonic() + 120.0
        last = time.time()
        while state != missions_pb2.MISSION_STATE_COMPLETED:
            assert time.monotonic() < deadline, f"mission state {state}"
            assert server.poll() is None, "fleet serve ended"
            now = time.time()
            link.take_commands()
            robot.tick(now, now - last)
            link.send_state(now)
            last = now
            time.sleep(0.05)
            if not submitted and any(r.connected for r in fleet.ListRobots(
                    fleet_pb2.ListRobotsRequest(), timeout=10).robots):
                # It joined (the master knows it from its factsheet): the mission may come.
                missions.Submit(transport("m1"), timeout=10)
                submitted = True
            if submitted:
                state = missions.Get(missions_pb2.GetMissionRequest(mission_id="m1"),
                                     timeout=10).state
        orders = [o for o in sniffer.by_topic("order")
                  if o["serialNumber"] == robot.spec.id]
        actions = {a["actionType"] for o in orders for n in o["nodes"] for a in n["actions"]}
        assert {"pick", "drop"} <= actions
        sniffer.check_all()
        # SIGTERM: the master stops with the server, the process ends on its own.
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=30)
        assert server.returncode == 0, out
    finally:
        channel.close()
        asyncio.run(link.disconnect())
        vehicles.close()
        stop_sniffer(sniffer)
        kill(server)


@pytest.mark.parametrize(("args", "words"), [
    (("--vda5050", "http://broker:1883"), ("broker", "mqtt://")),
    (("--vda5050-vehicles", "vehicles.yaml"), ("--vda5050-vehicles needs --vda5050",)),
    (("--vda5050", "mqtt://127.0.0.1:1", "--vda5050-vehicles", "/nonexistent/v.yaml"),
     ("vehicles",)),
])
def test_fleet_serve_refuses_bad_vda5050_options_in_one_line(
        tmp_path: Path, args: tuple[str, ...], words: tuple[str, ...]) -> None:
    one_line_error(fleet("serve", "--map", "small", "--db", str(tmp_path / "f.db"),
                         "--address", f"127.0.0.1:{free_port()}", *args), *words)
