"""The coordinator killed again and again under load, end to end (a black-box report, as a test).

The report: `fleet serve` (SQLite and PostgreSQL) killed ten times while `fleet sim --server`
drove the robots and three planners submitted and cancelled missions; every acknowledged
mission survived, but the trajectory log showed collisions.

Here: `fleet serve --sim-clock` on the plant, `fleet sim --server` driving its robots, three
planner threads submitting transport and weld missions over gRPC and cancelling some, and the
coordinator SIGKILLed a few times, each time soon after robots were given paths, then started
again on the same store and port. The oracle is the independent checker on the trajectory log
(no collision) and the missions the coordinator acknowledged (each on the server, finished,
completed unless an acknowledged cancel targeted it).
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from fleet.floor import StationKind, load_floor
from fleet.v1 import common_pb2, fleet_pb2, fleet_pb2_grpc, missions_pb2, missions_pb2_grpc
from sim.check import check_log
from sim.scenario import make_missions
from tests.conftest import PLANT_MAP, postgres_schema_url
from tests.e2e import test_sim
from tests.e2e.test_sim import free_port, kill, start_server, start_sim, states

MAP = PLANT_MAP
ROBOTS = 10
SIM_MISSIONS = 12
"""Missions `fleet sim` submits itself (`sim-0001`...), on the simulated clock."""
PLANNERS = 3
MISSIONS_PER_PLANNER = 8
"""At most; a planner stops submitting once the coordinator has been killed for the last
time."""
CANCEL_SHARE = 0.3
"""Share of a planner's submissions followed by a cancel of one of its missions."""
KILLS = 4
SEED = 11

RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
"""What a call gets while the coordinator is down or going down: try again."""
CALL_PATIENCE_S = 90.0
"""How long a planner keeps retrying one call (real seconds)."""
FINISH_WITHIN_S = 240.0
"""How long (real seconds) the acknowledged missions may take to finish after the last kill."""
FINISHED = {missions_pb2.MISSION_STATE_COMPLETED, missions_pb2.MISSION_STATE_FAILED,
            missions_pb2.MISSION_STATE_CANCELLED}
KEEP_OPEN = "keep-the-run-open"
"""A mission released long after the run, cancelled at its end: `fleet sim --server` stops
once no mission is open, and a planner's mission acknowledged just after that moment would
never be driven."""

STATE_NAME = missions_pb2.MissionStateValue.Name
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ")
CHANNEL_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 100),
                   ("grpc.max_reconnect_backoff_ms", 500)]
"""Reconnect at once when the coordinator is back, instead of backing off for minutes."""


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The coordinator's store: a SQLite file, or a fresh schema of the test PostgreSQL."""
    if request.param == "sqlite":
        yield str(tmp_path / "fleet.db")
    else:
        yield from postgres_schema_url()


class Output:
    """Every line a process prints, read by a thread (a pipe nobody reads blocks its writer)."""

    def __init__(self, proc: subprocess.Popen[str], prefix: str, sink: deque[str]) -> None:
        assert proc.stdout is not None
        stdout = proc.stdout

        def read() -> None:
            for line in stdout:
                sink.append(prefix + line.rstrip("\n"))
        self.thread = threading.Thread(target=read, daemon=True)
        self.thread.start()


@dataclass
class Planner:
    """One planner thread: its missions, and what the coordinator acknowledged of its calls."""

    name: str
    address: str
    specs: list[missions_pb2.MissionSpec]
    rng: random.Random
    submitted: dict[str, str] = field(default_factory=dict)
    """Acknowledged missions: id -> how (an OK reply, or ALREADY_EXISTS after a retry)."""
    cancelled: dict[str, int] = field(default_factory=dict)
    """Acknowledged cancels: mission id -> the state in the OK reply."""
    cancel_refused: dict[str, str] = field(default_factory=dict)
    """Cancels refused (FAILED_PRECONDITION: finished already, or cancelled by an earlier
    attempt whose reply was lost): mission id -> why."""
    retries: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def cancel_tried(self) -> set[str]:
        return set(self.cancelled) | set(self.cancel_refused)

    def run(self, stop: threading.Event) -> None:
        with grpc.insecure_channel(self.address, options=CHANNEL_OPTIONS) as channel:
            stub = missions_pb2_grpc.MissionsStub(channel)
            for spec in self.specs:
                if stop.is_set():
                    return
                self._submit(stub, spec)
                if self.submitted and self.rng.random() < CANCEL_SHARE:
                    # Mostly a recent mission (likely under way), now and then an old one.
                    recent = list(self.submitted)[-3:]
                    self._cancel(stub, self.rng.choice(recent))
                stop.wait(self.rng.uniform(1.0, 3.0))

    def _call(self, method: Callable[..., Any], request: Any) -> tuple[Any, Any, int]:
        """(reply, None, attempts), or (None, the last error, attempts) once it is not one
        to retry or patience has run out."""
        deadline = time.monotonic() + CALL_PATIENCE_S
        attempts = 0
        while True:
            attempts += 1
            try:
                return method(request, timeout=5.0), None, attempts
            except grpc.RpcError as err:
                code = err.code()  # type: ignore[attr-defined]
                if code in RETRYABLE and time.monotonic() < deadline:
                    self.retries[code.name] += 1
                    time.sleep(0.2)
                    continue
                return None, err, attempts

    def _submit(self, stub: missions_pb2_grpc.MissionsStub,
                spec: missions_pb2.MissionSpec) -> None:
        reply, err, attempts = self._call(stub.Submit,
                                          missions_pb2.SubmitMissionRequest(mission=spec))
        if reply is not None:
            self.submitted[spec.mission_id] = "OK"
        elif err.code() is grpc.StatusCode.ALREADY_EXISTS and attempts > 1:
            self.submitted[spec.mission_id] = "ALREADY_EXISTS after a failed attempt"
        else:
            self.errors.append(f"Submit {spec.mission_id} (attempt {attempts}): "
                               f"{err.code().name} {err.details()}")

    def _cancel(self, stub: missions_pb2_grpc.MissionsStub, mission_id: str) -> None:
        reply, err, attempts = self._call(stub.Cancel, missions_pb2.CancelMissionRequest(
            mission_id=mission_id, reason=f"{self.name} changed its mind"))
        if reply is not None:
            self.cancelled[mission_id] = reply.state
        elif err.code() is grpc.StatusCode.FAILED_PRECONDITION:
            self.cancel_refused[mission_id] = f"{err.details()} (attempt {attempts})"
        else:
            self.errors.append(f"Cancel {mission_id} (attempt {attempts}): "
                               f"{err.code().name} {err.details()}")


def planner_missions(index: int, rng: random.Random) -> list[missions_pb2.MissionSpec]:
    """Transports and weld jobs on the map, made the way `fleet sim` makes its own (so the
    simulated fleet can do them), renamed so that mission and load ids are the planner's."""
    specs = [spec for _, spec in make_missions(load_floor(MAP), MISSIONS_PER_PLANNER, rng)]
    for i, spec in enumerate(specs):
        spec.mission_id = f"planner{index}-{i + 1:02d}"
        spec.labels["planner"] = str(index)
        for task in spec.tasks:
            if task.HasField("transport"):
                task.transport.load_id = f"{spec.mission_id}-part"
    return specs


def keep_open_mission() -> missions_pb2.MissionSpec:
    """A transport released only long after the run ends (see KEEP_OPEN)."""
    floor = load_floor(MAP)
    pickup = next(s.id for s in floor.stations.values() if s.kind is StationKind.PICKUP)
    dropoff = next(s.id for s in floor.stations.values() if s.kind is StationKind.DROPOFF)
    spec = missions_pb2.MissionSpec(mission_id=KEEP_OPEN, release_s=1e9)
    spec.tasks.add(task_id="move", transport=missions_pb2.TransportTask(
        pickup_station=pickup, dropoff_station=dropoff, load_id="no-such-part", mass_kg=1.0))
    return spec


def call_until_answered(address: str, fn: Callable[[grpc.Channel], Any]) -> Any:
    """Run `fn(channel)`, again while the coordinator is unavailable (at most 60 s)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with grpc.insecure_channel(address) as channel:
                return fn(channel)
        except grpc.RpcError as err:
            if err.code() not in RETRYABLE or time.monotonic() > deadline:  # type: ignore[attr-defined]
                raise
            time.sleep(0.2)


def wait_until_registered(address: str, robots: int, timeout_s: float) -> None:
    """Wait until the coordinator knows `robots` robots."""
    deadline = time.monotonic() + timeout_s
    known = 0
    while time.monotonic() < deadline:
        reply = call_until_answered(address, lambda ch: fleet_pb2_grpc.FleetStub(ch).ListRobots(
            fleet_pb2.ListRobotsRequest(connected_only=True), timeout=5.0))
        known = len(reply.robots)
        if known >= robots:
            return
        time.sleep(0.1)
    raise AssertionError(f"only {known} of {robots} robots registered within {timeout_s} s")


def wait_until_driving(address: str, timeout_s: float) -> bool:
    """Wait until some connected robot reports it is driving; False after timeout_s."""
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
        stub = fleet_pb2_grpc.FleetStub(channel)
        while time.monotonic() < deadline:
            try:
                reply = stub.ListRobots(fleet_pb2.ListRobotsRequest(connected_only=True),
                                        timeout=5.0)
                if any(r.mode == common_pb2.ROBOT_MODE_MOVING for r in reply.robots):
                    return True
            except grpc.RpcError as err:
                if err.code() not in RETRYABLE:  # type: ignore[attr-defined]
                    raise
            time.sleep(0.05)
    return False


@pytest.mark.timeout(600)
def test_coordinator_killed_under_load_loses_no_mission_and_robots_never_collide(
        store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(test_sim.ENV, "FLEET_SELF_CHECK", "1")
    log, port = tmp_path / "run.jsonl", free_port()
    address = f"127.0.0.1:{port}"
    rng = random.Random(SEED)
    server_lines: deque[str] = deque(maxlen=400)
    sim_lines: deque[str] = deque(maxlen=2000)
    notes: list[str] = []
    begun = time.monotonic()
    stop = threading.Event()
    planners = [Planner(f"planner{i}", address, planner_missions(i, random.Random(SEED * 100 + i)),
                        random.Random(SEED * 1000 + i)) for i in range(PLANNERS)]
    acknowledged = {f"sim-{i:04d}" for i in range(1, SIM_MISSIONS + 1)}
    server: subprocess.Popen[str] | None = None
    sim: subprocess.Popen[str] | None = None

    def note(what: str) -> None:
        notes.append(f"{time.monotonic() - begun:6.1f} s: {what}")

    try:
        server = start_server(store, port, MAP)
        Output(server, "[serve #0] ", server_lines)
        sim = start_sim(port, log, ROBOTS, SIM_MISSIONS, SEED, MAP)
        sim_output = Output(sim, "", sim_lines)
        # Missions are accepted only once a robot that can do them has registered.
        wait_until_registered(address, ROBOTS, 120.0)
        call_until_answered(address, lambda ch: missions_pb2_grpc.MissionsStub(ch).Submit(
            missions_pb2.SubmitMissionRequest(mission=keep_open_mission()), timeout=10))
        threads = [threading.Thread(target=p.run, args=(stop,), daemon=True) for p in planners]
        for thread in threads:
            thread.start()
        for k in range(1, KILLS + 1):
            # Soon after robots were given paths: a moment a restart catches them driving.
            if not wait_until_driving(address, 60.0):
                note(f"no robot drove within 60 s before kill {k}")
            time.sleep(rng.uniform(0.0, 2.0))
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=10)
            note(f"kill {k}")
            time.sleep(rng.uniform(0.2, 1.0))
            server = start_server(store, port, MAP)
            Output(server, f"[serve #{k}] ", server_lines)
            note("serving again")
        time.sleep(3.0)
        stop.set()
        for thread in threads:
            thread.join(timeout=CALL_PATIENCE_S + 30)
        note("planners done")

        acknowledged |= {mid for p in planners for mid in p.submitted}
        # The simulator keeps ticking (the keep-open mission is open) until all are finished.
        deadline = time.monotonic() + FINISH_WITHIN_S
        open_ = acknowledged
        while time.monotonic() < deadline and sim.poll() is None:
            seen = states(port)
            open_ = {mid for mid in acknowledged if seen.get(mid) not in FINISHED}
            if not open_:
                break
            time.sleep(0.5)
        note(f"{len(acknowledged) - len(open_)} of {len(acknowledged)} acknowledged missions "
             "finished" + ("" if not open_ else f"; gave up waiting for {sorted(open_)}"))
        call_until_answered(address, lambda ch: missions_pb2_grpc.MissionsStub(ch).Cancel(
            missions_pb2.CancelMissionRequest(mission_id=KEEP_OPEN, reason="run over"),
            timeout=10))
        sim.wait(timeout=120)
        sim_output.thread.join(timeout=10)
        note(f"simulator exited with {sim.returncode}")
        final = states(port)
    finally:
        stop.set()
        kill(*(proc for proc in (sim, server) if proc is not None))

    report = check_log(log, map_path=MAP)
    problems: list[str] = []
    if report.collisions:
        problems.append(f"{len(report.collisions)} collisions, first (t, robot, robot, "
                        f"distance m): {[tuple(c) for c in report.collisions[:5]]}")
    if report.obstacle_hits or report.speed_violations:
        problems.append(f"{len(report.obstacle_hits)} obstacle hits, first "
                        f"{report.obstacle_hits[:3]}; {len(report.speed_violations)} speed "
                        f"violations, first {report.speed_violations[:3]}")
    if not any(line.startswith("missions done") for line in sim_lines):
        problems.append(f"the simulator ended without its summary (exit {sim.returncode})")
    elif sim.returncode != 0:
        # It counts only its own missions (the planners' share the coordinator).
        problems.append(f"the simulator exited with {sim.returncode}")
    expected = {mid: {missions_pb2.MISSION_STATE_COMPLETED} for mid in acknowledged}
    for p in planners:
        problems.extend(f"{p.name}: {e}" for e in p.errors)
        for mid in p.cancel_tried:
            expected[mid] = {missions_pb2.MISSION_STATE_CANCELLED,
                             missions_pb2.MISSION_STATE_COMPLETED}
        for mid, state in p.cancelled.items():
            # An acknowledged cancel found the mission unfinished: it ends cancelled.
            if state == missions_pb2.MISSION_STATE_CANCELLED:
                expected[mid] = {missions_pb2.MISSION_STATE_CANCELLED}
    lost = sorted(mid for mid in acknowledged if mid not in final)
    unfinished = {mid: STATE_NAME(final[mid]) for mid in sorted(acknowledged)
                  if mid in final and final[mid] not in FINISHED}
    wrong = {mid: (STATE_NAME(final[mid]), sorted(STATE_NAME(s) for s in want))
             for mid, want in sorted(expected.items())
             if mid in final and final[mid] in FINISHED and final[mid] not in want}
    if lost:
        problems.append(f"acknowledged missions not on the server: {lost}")
    if unfinished:
        problems.append(f"acknowledged missions not finished: {unfinished}")
    if wrong:
        problems.append(f"missions that ended otherwise than acknowledged (got, wanted): {wrong}")
    outages = [line for line in sim_lines if "unreachable" in line or "is back" in line]
    summary = [line for line in sim_lines if not LOG_LINE.match(line)]
    calls = {p.name: (len(p.submitted), len(p.cancelled), len(p.cancel_refused),
                      dict(p.retries)) for p in planners}
    assert not problems, "\n".join([
        "PROBLEMS:", *(f"  - {p}" for p in problems),
        f"store {store}, log {log}",
        f"planners (acknowledged submits, acknowledged cancels, refused cancels, retries): "
        f"{calls}",
        "timeline:", *(f"  {n}" for n in notes),
        "simulator outages:", *(f"  {line}" for line in outages),
        "simulator summary:", *(f"  {line}" for line in summary),
        "server output (tail):", *(f"  {line}" for line in list(server_lines)[-40:]),
    ])
