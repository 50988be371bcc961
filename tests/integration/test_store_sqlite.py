"""The SQLite store on real files: reopening, surviving SIGKILL, readers beside a writer."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import fleet
from fleet.model import (
    EventKind,
    InfeasibleError,
    Mission,
    MissionEvent,
    Registration,
    RobotKind,
    RobotSpec,
    Task,
    TaskKind,
    TransportCapability,
)
from fleet.store import SqliteStore, open_store

REPO_ROOT = Path(fleet.__file__).resolve().parents[1]


def mission(mission_id: str) -> Mission:
    task = Task(id="t1", kind=TaskKind.TRANSPORT, pickup="in", dropoff="out", mass_kg=5.0)
    return Mission(id=mission_id, tasks=(task,), deadline_s=60.0, labels={"cell": "3"})


def accepted(mission_id: str) -> MissionEvent:
    return MissionEvent(kind=EventKind.ACCEPTED, mission_id=mission_id, time_s=0.5)


def started(mission_id: str, robot_id: str = "agv-1") -> MissionEvent:
    return MissionEvent(
        kind=EventKind.STARTED, mission_id=mission_id, time_s=1.5, task_id="t1", robot_id=robot_id
    )


def test_reopening_the_file_shows_everything_and_seq_continues(tmp_path: Path) -> None:
    path = tmp_path / "fleet.db"
    robot = RobotSpec(
        id="agv-1",
        kind=RobotKind.AGV,
        radius_m=0.45,
        max_speed_mps=1.2,
        transport=TransportCapability(max_payload_kg=300.0),
    )
    with SqliteStore(path) as store:
        written = [store.add_mission(mission(f"m{i}"), accepted(f"m{i}")) for i in range(3)]
        written += store.append([started("m0"), started("m2")])
        store.put_robot(robot)
        missions = store.missions()

    reopened = open_store(f"sqlite:///{path}")
    try:
        assert reopened.missions() == missions
        assert reopened.events() == written
        assert reopened.robots() == [Registration(robot)]
        (later,) = reopened.append([started("m1")])
        assert later.seq == written[-1].seq + 1
    finally:
        reopened.close()


def test_store_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "fleet.db"
    with SqliteStore(path) as store:
        store.add_mission(mission("m"), accepted("m"))
        assert Path(f"{path}-wal").exists()
        connection = sqlite3.connect(path)
        try:
            assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert connection.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
        finally:
            connection.close()


def test_a_store_written_by_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fleet.db"
    SqliteStore(path).close()
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("UPDATE schema_version SET version = 99")
    connection.close()
    with pytest.raises(InfeasibleError) as raised:
        SqliteStore(path)
    assert raised.value.field == "store.schema_version"
    assert raised.value.value == 99


WRITER = textwrap.dedent(
    """
    import sys
    from fleet.model import EventKind, Mission, MissionEvent, Task, TaskKind
    from fleet.store import open_store

    store = open_store(sys.argv[1])
    task = Task(id="t1", kind=TaskKind.TRANSPORT, pickup="in", dropoff="out")
    i = 0
    while True:
        mission_id = f"m{i}"
        store.add_mission(
            Mission(id=mission_id, tasks=(task,)),
            MissionEvent(kind=EventKind.ACCEPTED, mission_id=mission_id, time_s=float(i)),
        )
        store.append(
            [
                MissionEvent(kind=EventKind.ASSIGNED, mission_id=mission_id, time_s=float(i)),
                MissionEvent(kind=EventKind.STARTED, mission_id=mission_id, time_s=float(i)),
            ]
        )
        # Acknowledge only after both calls returned, like the coordinator does.
        sys.stdout.write(f"{mission_id}\\n")
        sys.stdout.flush()
        i += 1
    """
)


def test_sigkilled_writer_loses_nothing_it_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "fleet.db"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    writer = subprocess.Popen(
        [sys.executable, str(script), str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    acknowledged: list[str] = []
    try:
        assert writer.stdout is not None
        while len(acknowledged) < 150:
            line = writer.stdout.readline()
            assert line, f"writer died early: {writer.stderr.read() if writer.stderr else ''}"
            acknowledged.append(line.strip())
    finally:
        writer.send_signal(signal.SIGKILL)
        remaining, _ = writer.communicate(timeout=30)
    acknowledged += remaining.split()
    assert writer.returncode == -signal.SIGKILL

    with SqliteStore(path) as store:
        stored = [m.id for m in store.missions()]
        events = store.events()
    assert stored[: len(acknowledged)] == acknowledged
    # Nothing half-written: every stored mission has its ACCEPTED event, and every append
    # that made it is whole.
    whole = [EventKind.ACCEPTED, EventKind.ASSIGNED, EventKind.STARTED]
    by_mission: dict[str, list[EventKind]] = {}
    for event in events:
        by_mission.setdefault(event.mission_id, []).append(event.kind)
    assert set(by_mission) == set(stored)
    for mission_id in acknowledged:
        assert by_mission[mission_id] == whole
    for kinds in by_mission.values():
        assert kinds in (whole[:1], whole)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    check = sqlite3.connect(path)
    try:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        check.close()


def test_reader_is_not_blocked_by_an_open_write_transaction(tmp_path: Path) -> None:
    path = tmp_path / "fleet.db"
    with SqliteStore(path) as store:
        store.add_mission(mission("m1"), accepted("m1"))
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            "INSERT INTO events (seq, mission_id, kind, time_s, task_id, robot_id, step, detail) "
            "VALUES (2, 'm1', 'started', 1.0, '', '', -1, '')"
        )
        began = time.perf_counter()
        with SqliteStore(path) as reader:
            assert [e.seq for e in reader.events()] == [1]
            assert [m.id for m in reader.missions()] == ["m1"]
        assert time.perf_counter() - began < 1.0
        writer.execute("COMMIT")
    finally:
        writer.close()
    with SqliteStore(path) as reader:
        assert [e.seq for e in reader.events()] == [1, 2]


def test_concurrent_reader_sees_only_whole_transactions(tmp_path: Path) -> None:
    path = tmp_path / "fleet.db"
    batches = 200
    with SqliteStore(path) as setup:
        setup.add_mission(mission("m1"), accepted("m1"))
    failure: list[BaseException] = []

    def write() -> None:
        try:
            with SqliteStore(path) as writer:
                for i in range(batches):
                    writer.append([started("m1", f"agv-{i}")] * 3)
        except BaseException as error:  # handed to the test thread below
            failure.append(error)

    thread = threading.Thread(target=write)
    thread.start()
    sizes: list[int] = []
    with SqliteStore(path) as reader:
        writing = True
        while writing:
            writing = thread.is_alive()  # read once more after the writer is done
            events = reader.events()
            assert [e.seq for e in events] == list(range(1, len(events) + 1))
            assert (len(events) - 1) % 3 == 0
            robots = [e.robot_id for e in events[1:]]
            assert robots == [f"agv-{i // 3}" for i in range(len(robots))]
            sizes.append(len(events))
    thread.join(timeout=60)
    assert not failure
    assert sizes[-1] == 1 + 3 * batches
    assert len(set(sizes)) > 2, "the reader should have seen the log grow"
