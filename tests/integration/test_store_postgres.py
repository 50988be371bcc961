"""The PostgreSQL store on a real server: reopening, concurrent writers, lost connections,
and a coordinator that restarts on it and finishes its missions."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from fleet.model import (
    EventKind,
    Mission,
    MissionEvent,
    Registration,
    RobotKind,
    RobotSpec,
    Task,
    TaskKind,
    TransportCapability,
    UnavailableError,
)
from fleet.store import open_store
from fleet.v1 import missions_pb2, missions_pb2_grpc
from tests.conftest import SMALL_MAP, Served, postgres_schema_url, serve
from tests.integration.test_dispatch_flow import agv, move
from tests.integration.test_mission_flow import drive, register

psycopg = pytest.importorskip("psycopg", reason="the postgres extra is not installed")


@pytest.fixture
def url() -> Iterator[str]:
    yield from postgres_schema_url()


def mission(mission_id: str) -> Mission:
    task = Task(id="t1", kind=TaskKind.TRANSPORT, pickup="in", dropoff="out", mass_kg=5.0)
    return Mission(id=mission_id, tasks=(task,), deadline_s=60.0, labels={"line": "3"})


def accepted(mission_id: str) -> MissionEvent:
    return MissionEvent(kind=EventKind.ACCEPTED, mission_id=mission_id, time_s=0.5)


def test_what_was_written_is_there_after_reopening(url: str) -> None:
    robot = RobotSpec("agv-1", RobotKind.AGV, 0.4, 1.2, transport=TransportCapability(500.0))
    with open_store(url) as first:  # type: ignore[attr-defined]
        first.add_mission(mission("m1"), accepted("m1"))
        first.append([MissionEvent(EventKind.ASSIGNED, "m1", 1.0, "t1", "agv-1", detail="x")])
        first.put_robot(robot)
    with open_store(url) as again:  # type: ignore[attr-defined]
        assert again.missions() == [mission("m1")]
        assert [(e.seq, e.kind) for e in again.events()] == [(1, EventKind.ACCEPTED),
                                                             (2, EventKind.ASSIGNED)]
        assert again.robots() == [Registration(robot)]


def test_concurrent_writers_get_distinct_increasing_seqs(url: str) -> None:
    stores = [open_store(url) for _ in range(3)]
    stores[0].add_mission(mission("m1"), accepted("m1"))
    errors: list[BaseException] = []

    def write(k: int) -> None:
        try:
            for i in range(40):
                stores[k].append([MissionEvent(EventKind.STEP_DONE, "m1", float(i), "t1",
                                               f"agv-{k}", step=i)] * 2)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    seqs = [e.seq for e in stores[1].events()]
    assert seqs == list(range(1, 1 + 1 + 3 * 40 * 2))
    # Each batch of two stayed together: a transaction's events are consecutive.
    events = stores[2].events(after_seq=1)
    assert all(events[i].robot_id == events[i + 1].robot_id for i in range(0, len(events), 2))
    for s in stores:
        s.close()


def test_a_dropped_connection_fails_one_call_and_the_next_reconnects(url: str) -> None:
    store = open_store(url)
    store.add_mission(mission("m1"), accepted("m1"))
    pid = store._connection.info.backend_pid  # type: ignore[attr-defined]
    with psycopg.connect(url.split("?")[0], autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(UnavailableError) as raised:
        store.append([MissionEvent(EventKind.STARTED, "m1", 1.0, "t1", "agv-1")])
    assert raised.value.field == "store"
    written = store.append([MissionEvent(EventKind.STARTED, "m1", 1.0, "t1", "agv-1")])
    assert [e.seq for e in written] == [2]
    assert [e.kind for e in store.events()] == [EventKind.ACCEPTED, EventKind.STARTED]
    store.close()


def test_an_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(UnavailableError) as raised:
        open_store("postgresql://postgres@127.0.0.1:1/test")
    assert raised.value.field == "store"
    assert "cannot reach" in str(raised.value)


def test_a_coordinator_restarted_on_postgres_finishes_every_mission(url: str) -> None:
    robots = [agv("agv-a", 0), agv("agv-b", 3)]
    jobs = [move(f"job-{k}", "in-1", "out-1") for k in range(4)]

    def states(served: Served) -> dict[str, int]:
        reply = missions_pb2_grpc.MissionsStub(served.channel).List(
            missions_pb2.ListMissionsRequest(), timeout=10)
        return {m.mission_id: m.state for m in reply.missions}

    done = missions_pb2.MISSION_STATE_COMPLETED

    async def first_half(served: Served) -> None:
        await register(served.address, robots)
        for spec in jobs:
            missions_pb2_grpc.MissionsStub(served.channel).Submit(
                missions_pb2.SubmitMissionRequest(mission=spec), timeout=10)
        await drive(served.address, robots, 1500, stop=lambda reply: reply.open_missions <= 2)

    for served in serve(SMALL_MAP, url):
        asyncio.run(first_half(served))
        before = states(served)
    assert sum(v == done for v in before.values()) >= 2 and len(before) == 4
    for served in serve(SMALL_MAP, url):
        # A new coordinator process would read the same: missions and roster come back.
        assert states(served) == before
        asyncio.run(drive(served.address, robots, 1500,
                          stop=lambda reply: reply.open_missions == 0))
        after = states(served)
    assert after == {k: done for k in before}
