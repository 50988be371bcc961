"""`fleet watch` end to end: the CLI as its own process follows a real coordinator's event
stream and prints each event in plain words as it happens, escaped, filtered by mission."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from fleet.v1 import (
    fleet_pb2,
    fleet_pb2_grpc,
    missions_pb2,
    missions_pb2_grpc,
    robot_link_pb2,
    robot_link_pb2_grpc,
    simulation_pb2,
    simulation_pb2_grpc,
)
from tests.conftest import Served
from tests.integration.test_api_bad_input import agv, stations
from tests.integration.test_dispatch_flow import move
from tests.integration.test_gateway import state


class Watch:
    """`fleet watch` running as a process; its output lines as they come."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "fleet.cli", "watch", *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def until(self, words: str, timeout_s: float = 60.0) -> list[str]:
        """Every line up to and including the first containing `words`."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                assert self.process.poll() is None, self.process.stderr.read()  # type: ignore[union-attr]
                continue
            seen.append(line)
            if words in line:
                return seen
        raise AssertionError(f"no line with {words!r} within {timeout_s} s; saw {seen}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def watching(small_server: Served) -> Iterator[tuple[Served, Watch]]:
    everything = Watch("--server", small_server.address)
    try:
        yield small_server, everything
    finally:
        everything.stop()


def test_watch_prints_events_in_plain_words_as_they_happen(
        watching: tuple[Served, Watch]) -> None:
    served, everything = watching
    pickup, dropoff = stations(served, "pickup")[0], stations(served, "dropoff")[0]
    link = robot_link_pb2_grpc.RobotLinkStub(served.channel)
    missions = missions_pb2_grpc.MissionsStub(served.channel)
    req = agv(served, "agv-1")
    session = link.Register(req, timeout=10).session_id
    missions.Submit(missions_pb2.SubmitMissionRequest(mission=move("job-1", pickup, dropoff)),
                    timeout=10)
    assert everything.until("job-1 accepted")[-1].startswith("#1 t=0.0 s  job-1 accepted")

    # A robot connects and reports: the dispatcher gives it the task, saying why.
    updates: queue.Queue[robot_link_pb2.RobotUpdate | None] = queue.Queue()
    updates.put(robot_link_pb2.RobotUpdate(hello=robot_link_pb2.Hello(
        robot_id="agv-1", session_id=session)))

    def requests() -> Iterator[robot_link_pb2.RobotUpdate]:
        while (update := updates.get()) is not None:
            yield update
    stream = link.Connect(requests(), timeout=60)
    fleet = fleet_pb2_grpc.FleetStub(served.channel)
    while not fleet.ListRobots(fleet_pb2.ListRobotsRequest(connected_only=True),
                               timeout=10).robots:
        time.sleep(0.01)
    updates.put(robot_link_pb2.RobotUpdate(state=state(req, 1.0, 1)))
    simulation_pb2_grpc.SimClockStub(served.channel).Advance(
        simulation_pb2.AdvanceRequest(time_s=1.0), timeout=20)
    assigned = everything.until("assigned to agv-1")[-1]
    assert "job-1/move assigned to agv-1: " in assigned and "cost" in assigned

    # A second mission, cancelled with a reason that tries to forge a log line.
    missions.Submit(missions_pb2.SubmitMissionRequest(mission=move("job-2", pickup, dropoff)),
                    timeout=10)
    missions.Cancel(missions_pb2.CancelMissionRequest(
        mission_id="job-2", reason="line stop\n#99 t=0.0 s  job-1 completed\x1b[2J"), timeout=10)
    cancelled = everything.until("job-2 cancelled")[-1]
    assert cancelled.endswith(r"job-2 cancelled: line stop\n#99 t=0.0 s  job-1 completed\x1b[2J")
    # One mission's events, from its beginning, as JSON objects.
    one = Watch("--server", served.address, "--mission", "job-2", "--json")
    try:
        lines = one.until("CANCELLED")
    finally:
        one.stop()
    kinds = [json.loads(line)["kind"] for line in lines]
    assert kinds == ["MISSION_EVENT_ACCEPTED", "MISSION_EVENT_CANCELLED"]
    assert all(json.loads(line)["missionId"] == "job-2" for line in lines)
    assert json.loads(lines[-1])["detail"].startswith("line stop\n#99")
    updates.put(None)
    stream.cancel()


def test_watch_of_an_unknown_mission_says_so_in_one_line(small_server: Served) -> None:
    watch = Watch("--server", small_server.address, "--mission", "nope")
    assert watch.process.wait(timeout=60) == 2
    assert watch.process.stderr is not None
    assert watch.process.stderr.read().strip() == \
        "fleet: NOT_FOUND: mission_id: mission 'nope' not found"
