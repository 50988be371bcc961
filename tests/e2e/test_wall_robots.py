"""`fleet sim-robots --server`: simulated gRPC robots on the wall clock, in processes of their
own beside a wall-clock `fleet serve`; one is killed and started again mid-run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from fleet.v1 import missions_pb2
from tests.conftest import ROOT, SMALL_MAP
from tests.e2e.test_sim import ENV, free_port, kill, states


def robots(port: int, part: str, state: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleet.cli", "sim-robots", "--server", f"127.0.0.1:{port}",
         "--map", str(SMALL_MAP), "--robots", "4", "--seed", "1", "--part", part,
         "--state", str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV, cwd=ROOT)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # a restarted process first says whose state it took up
        lines.append(line)
        if "connected" in line:
            return proc
    raise AssertionError("fleet sim-robots ended before connecting:\n" + "".join(lines))


def submit(port: int, mission_id: str, cell: str) -> None:
    mission = (f'{{"missionId": "{mission_id}", "tasks": [{{"taskId": "bring", "transport": '
               f'{{"pickupStation": "in-1", "dropoffStation": "{cell}", "loadId": '
               f'"{mission_id}-p", "massKg": 100}}}}, {{"taskId": "weld", "dependsOn": '
               f'["bring"], "weld": {{"cellStation": "{cell}", "program": "BOOM-A", '
               f'"durationS": 5}}}}, {{"taskId": "take", "dependsOn": ["weld"], "transport": '
               f'{{"pickupStation": "{cell}", "dropoffStation": "out-1", "loadId": '
               f'"{mission_id}-p", "massKg": 100}}}}]}}')
    out = subprocess.run([sys.executable, "-m", "fleet.cli", "submit", "-", "--server",
                          f"127.0.0.1:{port}"], input=mission, capture_output=True, text=True,
                         env=ENV, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_wall_clock_robots_in_two_processes_finish_missions_through_a_restart(
        tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "fleet.cli", "serve", "--map", str(SMALL_MAP), "--db",
         str(tmp_path / "fleet.db"), "--address", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV, cwd=ROOT)
    procs = [server]
    try:
        assert server.stdout is not None and "serving" in server.stdout.readline()
        first = robots(port, "1/2", tmp_path / "part1.json")
        procs += [first, robots(port, "2/2", tmp_path / "part2.json")]
        submit(port, "a", "weld-1")
        submit(port, "b", "weld-2")
        time.sleep(8.0)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        procs.append(robots(port, "1/2", tmp_path / "part1.json"))
        deadline = time.monotonic() + 240  # picks and drops take 20 s each
        seen: dict[str, int] = {}
        while time.monotonic() < deadline:
            seen = states(port)
            if len(seen) == 2 and all(v != missions_pb2.MISSION_STATE_ACTIVE and
                                      v != missions_pb2.MISSION_STATE_ACCEPTED
                                      for v in seen.values()):
                break
            time.sleep(0.5)
        assert seen == {"a": missions_pb2.MISSION_STATE_COMPLETED,
                        "b": missions_pb2.MISSION_STATE_COMPLETED}, seen
    finally:
        for proc in procs[1:]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        kill(*procs)
