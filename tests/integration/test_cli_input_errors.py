"""The CLI's input errors: one line naming the problem, exit status 2, no traceback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import SMALL_MAP, Served, serve


def fleet(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleet.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fleet: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve(SMALL_MAP, str(tmp_path_factory.mktemp("cli") / "fleet.db"))


@pytest.mark.parametrize(("stdin", "words"), [
    ("", ("empty",)),
    ("   \n", ("empty",)),
    ('{"mission_id": ', ("not JSON", "line")),
    ('{"mission_id": "m", "prority": 1}', ("unknown field", "prority")),
    ('{"mission_id": "m", "priority": "high"}', ("priority", "high")),
    ("[]", ("no mission",)),
    ("[1, 2]", ("mission 1", "not an object")),
    ('{"mission_id": "a"}\n{oops}\n', ("line 2", "not JSON")),
    ('"just a string"', ("str", "not an object")),
])
def test_submit_refuses_bad_input_in_one_line(served: Served, stdin: str,
                                              words: tuple[str, ...]) -> None:
    one_line_error(fleet("submit", "-", "--server", served.address, stdin=stdin), *words)


def test_submit_takes_a_list_and_json_lines_and_get_shows_the_mission(served: Served) -> None:
    def mission(mission_id: str) -> dict[str, object]:
        return {"mission_id": mission_id, "tasks": [{"task_id": "t1", "park": {
            "robot_id": "agv-x", "station": "park-1"}}]}
    listed = json.dumps([mission("l1"), mission("l2")])
    # No robot agv-x: refused by the server, one line naming the mission and the field.
    one_line_error(fleet("submit", "-", "--server", served.address, stdin=listed),
                   "mission 1 of 2", "NOT_FOUND", "robot_id")
    lines = "\n".join(json.dumps(mission(m)) for m in ("j1", "j2"))
    one_line_error(fleet("submit", "-", "--server", served.address, stdin=lines),
                   "mission 1 of 2")
    one_line_error(fleet("get", "nope", "--server", served.address), "NOT_FOUND", "nope")


def test_server_address_needs_a_port() -> None:
    one_line_error(fleet("serve", "--map", "small", "--address", "localhost"), "HOST:PORT")
    one_line_error(fleet("missions", "--server", "localhost"), "HOST:PORT")


def test_serve_on_a_busy_port_says_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        one_line_error(fleet("serve", "--map", "small", "--db", str(tmp_path / "f.db"),
                             "--address", f"127.0.0.1:{port}"), "cannot listen", str(port))


def test_serve_refuses_an_open_http_api_beyond_loopback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    one_line_error(fleet("serve", "--map", "small", "--db", str(tmp_path / "f.db"),
                         "--address", "127.0.0.1:0", "--http", "0.0.0.0:0"),
                   "--http 0.0.0.0:0", "beyond loopback", "--tokens")


def test_every_option_shows_its_default_in_help() -> None:
    import argparse

    from fleet.cli import _parser

    parser = _parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for option in sub._actions:
                    if option.help == argparse.SUPPRESS or isinstance(
                            option, argparse._HelpAction):
                        continue
                    assert option.help, (name, option.dest)
                text = sub.format_help()
                assert "default" in text or name in ("view", "check-log", "map", "mapf"), name


def test_map_lists_station_ids() -> None:
    result = fleet("map", "small")
    assert result.returncode == 0
    assert "in-1" in result.stdout and "weld-1" in result.stdout


def test_get_shows_tasks_robot_times_and_progress_and_events_read_as_words(
        served: Served) -> None:
    from fleet._cli_client import describe_event
    from fleet.v1 import common_pb2, missions_pb2, robot_link_pb2, robot_link_pb2_grpc

    floor = served.coordinator.floor  # type: ignore[attr-defined]
    park = floor.stations["park-3"].pose
    robot_link_pb2_grpc.RobotLinkStub(served.channel).Register(robot_link_pb2.RegisterRequest(
        robot_id="agv-7", kind=common_pb2.ROBOT_KIND_AGV, footprint_radius_m=0.4,
        max_speed_mps=1.0, pose=common_pb2.Pose(x=park.x, y=park.y),
        transport=robot_link_pb2.TransportCapability(max_payload_kg=500)), timeout=10)
    missions = [{"mission_id": f"cli-{k}", "deadline_s": 900, "tasks": [
        {"task_id": "t1", "transport": {"pickup_station": "in-1", "dropoff_station": "out-1",
                                        "load_id": f"load-{k}", "mass_kg": 50}}]}
        for k in (1, 2)]
    result = fleet("submit", "-", "--server", served.address,
                   stdin="\n".join(json.dumps(m) for m in missions))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cli-1", "cli-2"]
    shown = fleet("get", "cli-2", "--server", served.address)
    assert shown.returncode == 0, shown.stderr
    assert "mission cli-2: accepted" in shown.stdout
    assert "deadline 900.0 s" in shown.stdout and "0/1 tasks done" in shown.stdout
    assert "load-2 (50 kg) in-1 -> out-1" in shown.stdout
    event = missions_pb2.MissionEventMessage(
        seq=7, kind=missions_pb2.MISSION_EVENT_ASSIGNED, mission_id="cli-2", task_id="t1",
        robot_id="agv-7", detail="nearest\nrobot", time_s=3.25)
    assert describe_event(event) == "#7 t=3.2 s  cli-2/t1 assigned to agv-7: nearest\\nrobot"
