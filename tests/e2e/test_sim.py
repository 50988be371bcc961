"""The simulator end to end: real processes, real gRPC, checked by the independent checker."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from fleet.v1 import missions_pb2, missions_pb2_grpc
from sim.check import check_log
from tests.conftest import ROOT, SMALL_MAP, assert_clean_log

ENV = {**os.environ, "PYTHONPATH": str(ROOT),
       "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))}


def fleet(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    kwargs.setdefault("env", ENV)
    return subprocess.run([sys.executable, "-m", "fleet.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, **kwargs)


def test_small_fleet_finishes_every_mission_without_collision(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    png = tmp_path / "run.png"
    out = fleet("sim", "--map", str(SMALL_MAP), "--robots", "4", "--missions", "8", "--seed",
                "2", "--log", str(log), "--plot", str(png), timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "missions done     8 of 8" in out.stdout
    report = check_log(log)
    assert report.ok and report.ticks > 100
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_run(tmp_path: Path) -> None:
    digests = []
    for i in range(2):
        log = tmp_path / f"run{i}.jsonl"
        out = fleet("sim", "--map", str(SMALL_MAP), "--robots", "3", "--missions", "4",
                    "--seed", "7", "--log", str(log), timeout=600)
        assert out.returncode == 0, out.stdout + out.stderr
        digests.append(hashlib.sha256(log.read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db: Path | str, port: int,
                 map_path: Path = SMALL_MAP) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleet.cli", "serve", "--sim-clock", "--map", str(map_path),
         "--db", str(db), "--address", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV, cwd=ROOT)
    assert proc.stdout is not None
    # A restarted coordinator may log (recovery warnings) before it says it serves.
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "serving" in line:
            return proc
    raise AssertionError("fleet serve ended before serving:\n" + "".join(lines))


def start_sim(port: int, log: Path, robots: int, missions: int,
              seed: int, map_path: Path = SMALL_MAP, *extra: str) -> subprocess.Popen[str]:
    """`fleet sim --server` against the coordinator on `port`, logging to `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", "fleet.cli", "sim", "--server", f"127.0.0.1:{port}", "--map",
         str(map_path), "--robots", str(robots), "--missions", str(missions), "--seed",
         str(seed), "--log", str(log), "--no-progress", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV, cwd=ROOT)


def wait_for_states(port: int, ready: Callable[[dict[str, int]], bool],
                    what: str) -> dict[str, int]:
    """Poll the missions' states until `ready` says so (at most 300 s)."""
    deadline = time.monotonic() + 300
    s: dict[str, int] = {}
    while time.monotonic() < deadline:
        s = states(port)
        if ready(s):
            return s
        time.sleep(0.1)
    raise AssertionError(f"{what}: {s}")


def kill(*procs: subprocess.Popen[str]) -> None:
    """Kill whatever of `procs` still runs (a failed test must not leave servers behind)."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def states(port: int) -> dict[str, int]:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = missions_pb2_grpc.MissionsStub(channel).List(
            missions_pb2.ListMissionsRequest(page_size=1000), timeout=10)
    return {m.mission_id: m.state for m in reply.missions}


@pytest.mark.parametrize("pipelined", [False, True], ids=["lockstep", "pipelined"])
def test_coordinator_killed_mid_run_restarts_and_every_mission_completes(
        tmp_path: Path, pipelined: bool) -> None:
    db, log, port = tmp_path / "fleet.db", tmp_path / "run.jsonl", free_port()
    server = start_server(db, port)
    sim = start_sim(port, log, 4, 10, 3, SMALL_MAP, *(["--pipelined"] if pipelined else []))
    try:
        # Wait until the run is well under way: some missions done, others open.
        def under_way(s: dict[str, int]) -> bool:
            done = sum(v == missions_pb2.MISSION_STATE_COMPLETED for v in s.values())
            return done >= 2 and len(s) - done >= 3

        s = wait_for_states(port, under_way, "run never got under way")
        open_before = {k for k, v in s.items() if v != missions_pb2.MISSION_STATE_COMPLETED}
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        time.sleep(1.0)
        server = start_server(db, port)
        out, _ = sim.communicate(timeout=600)
        assert sim.returncode == 0, out
        assert "missions done     10 of 10" in out
        assert "outages survived: 1" in out
        after = states(port)
        assert len(after) == 10
        assert all(v == missions_pb2.MISSION_STATE_COMPLETED for v in after.values())
        assert open_before
        assert_clean_log(log)
    finally:
        kill(sim, server)


def test_pipelined_robots_beside_a_coordinator_process_repeat_their_run(
        tmp_path: Path) -> None:
    """Robots driving while the coordinator (another process) steps, its commands one
    period late: every mission done, a clean log, and the same log again from a fresh
    coordinator with the same seed (the pipeline keeps the run repeatable)."""
    digests = []
    for i in range(2):
        log, port = tmp_path / f"run{i}.jsonl", free_port()
        server = start_server(tmp_path / f"fleet{i}.db", port)
        sim = start_sim(port, log, 4, 8, 5, SMALL_MAP, "--pipelined")
        try:
            out, _ = sim.communicate(timeout=600)
            assert sim.returncode == 0, out
            assert "missions done     8 of 8" in out, out
            assert_clean_log(log)
            digests.append(hashlib.sha256(log.read_bytes()).hexdigest())
        finally:
            kill(sim, server)
    assert digests[0] == digests[1]


def test_pipelined_refuses_ros_robots() -> None:
    out = fleet("sim", "--map", str(SMALL_MAP), "--robots", "2", "--missions", "1",
                "--ros", "--pipelined", "--no-progress", timeout=120)
    assert out.returncode != 0
    assert "pipelined" in out.stderr and "gRPC robots" in out.stderr, out.stderr


def test_the_main_job_ten_robots_thirty_missions_on_the_plant(tmp_path: Path) -> None:
    """The README's first command: every mission done, zero collisions in the log."""
    log = tmp_path / "run.jsonl"
    out = fleet("sim", "--robots", "10", "--missions", "30", "--seed", "1", "--log", str(log),
                timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "missions done     30 of 30" in out.stdout
    report = check_log(log)
    assert report.ok
    assert report.closest_approach is not None and report.closest_approach.clearance > 0


def test_delays_and_a_broken_down_robot_end_without_collision_or_deadlock(
        tmp_path: Path) -> None:
    """Robots held up at random, one breaks down in an aisle: others wait or go round it."""
    log = tmp_path / "run.jsonl"
    out = fleet("sim", "--map", str(SMALL_MAP), "--robots", "5", "--missions", "20", "--seed",
                "5", "--delays", "40", "--stop", "agv-01@150", "--log", str(log),
                "--time-limit", "5000", "--no-progress", "--log-level", "INFO",
                env={**ENV, "FLEET_SELF_CHECK": "1"}, timeout=600)
    assert "agv-01 stops for good" in out.stderr
    assert "in fault: holding only its own cells" in out.stderr
    assert "invariants broken" not in out.stderr
    assert "deadlock" not in out.stderr
    # Every mission ended: done, or failed because its robot broke down on the way.
    done = int(out.stdout.split("missions done")[1].split()[0])
    failed = out.stdout.count("e-stop pressed")
    assert done + failed == 20 and failed <= 1, out.stdout
    assert_clean_log(log)


def test_a_fleet_as_large_as_its_rest_places_still_finishes(tmp_path: Path) -> None:
    """Eight robots for six parking places and two chargers: nobody idles on a work station."""
    log = tmp_path / "run.jsonl"
    out = fleet("sim", "--map", str(SMALL_MAP), "--robots", "8", "--missions", "12", "--seed",
                "3", "--log", str(log), "--no-progress", "--time-limit", "6000",
                env={**ENV, "FLEET_SELF_CHECK": "1"}, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "missions done     12 of 12" in out.stdout
    assert "invariants broken" not in out.stderr
    assert check_log(log).ok


def test_operator_pauses_and_resumes_a_robot_from_the_cli_during_a_run(
        tmp_path: Path) -> None:
    """`fleet pause` / `fleet resume` against a live coordinator: the held robot is shown as
    paused, the run still finishes every mission, and the log has no collision."""
    db, log, port = tmp_path / "fleet.db", tmp_path / "run.jsonl", free_port()
    server = start_server(db, port)
    address = f"127.0.0.1:{port}"
    sim = start_sim(port, log, robots=3, missions=6, seed=2)
    try:
        wait_for_states(port, lambda s: missions_pb2.MISSION_STATE_ACTIVE in s.values(),
                        "run never got under way")
        held = fleet("pause", "agv-01", "--reason", "tyre check", "--server", address)
        assert held.returncode == 0, held.stderr
        assert "agv-01: tyre check" in held.stdout
        listed = fleet("robots", "--server", address)
        assert "paused: tyre check" in listed.stdout
        bad = fleet("resume", "agv-02", "--server", address)
        assert bad.returncode == 2 and "FAILED_PRECONDITION" in bad.stderr
        assert "robot_id" in bad.stderr
        time.sleep(1.0)
        released = fleet("resume", "agv-01", "--server", address)
        assert released.returncode == 0 and "agv-01: released" in released.stdout
        out, _ = sim.communicate(timeout=600)
        assert sim.returncode == 0, out
        assert "missions done     6 of 6" in out
        assert_clean_log(log)
    finally:
        kill(sim, server)


def test_robots_keep_to_one_way_lanes(tmp_path: Path) -> None:
    """The small shop with its aisle split into an eastbound and a westbound lane: every
    mission completes and the independent checker finds no move against a lane."""
    log = tmp_path / "run.jsonl"
    floor = ROOT / "tests" / "data" / "floors" / "one_way_shop.yaml"
    out = fleet("sim", "--map", str(floor), "--robots", "4", "--missions", "8", "--seed", "3",
                "--log", str(log), timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "missions done     8 of 8" in out.stdout
    report = check_log(log)
    assert report.map_path is not None and report.ticks > 100
    assert report.ok and report.one_way_violations == []
