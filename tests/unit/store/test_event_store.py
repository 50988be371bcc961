"""The event store's contract, on an in-memory SQLite database and on a real PostgreSQL."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

import fleet.store
from fleet.model import (
    AlreadyExistsError,
    EventKind,
    InvalidInputError,
    Mission,
    MissionEvent,
    NotFoundError,
    Registration,
    RobotKind,
    RobotSpec,
    Task,
    TaskKind,
    TransportCapability,
    WeldCapability,
)
from fleet.store import EventStore, SqliteStore
from tests.conftest import postgres_store


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[EventStore]:
    if request.param == "sqlite":
        with SqliteStore(":memory:") as opened:
            yield opened
    else:
        yield from postgres_store()


def mission(mission_id: str, **fields: object) -> Mission:
    task = Task(id="t1", kind=TaskKind.TRANSPORT, pickup="in", dropoff="out", mass_kg=20.0)
    return Mission(id=mission_id, tasks=(task,), **fields)  # type: ignore[arg-type]


def accepted(mission_id: str, time_s: float = 0.0) -> MissionEvent:
    return MissionEvent(kind=EventKind.ACCEPTED, mission_id=mission_id, time_s=time_s)


def event(kind: EventKind, mission_id: str, time_s: float = 1.0, **fields: object) -> MissionEvent:
    return MissionEvent(kind=kind, mission_id=mission_id, time_s=time_s, **fields)  # type: ignore[arg-type]


def test_public_api_is_pinned() -> None:
    assert sorted(fleet.store.__all__) == ["EventStore", "SqliteStore", "open_store"]


def test_the_store_satisfies_the_protocol(store: EventStore) -> None:
    assert isinstance(store, EventStore)


def test_add_mission_returns_accepted_event_with_seq(store: EventStore) -> None:
    written = store.add_mission(mission("m1"), accepted("m1", 2.5))
    assert written == MissionEvent(kind=EventKind.ACCEPTED, mission_id="m1", time_s=2.5, seq=1)
    assert store.events() == [written]


def test_mission_round_trips_through_the_store(store: EventStore) -> None:
    original = mission("m1", priority=5, deadline_s=300.0, submitted_s=4.0, labels={"line": "A"})
    store.add_mission(original, accepted("m1"))
    assert store.missions() == [original]


def test_missions_come_back_in_submission_order(store: EventStore) -> None:
    for mission_id in ["zeta", "alpha", "mid"]:
        store.add_mission(mission(mission_id), accepted(mission_id))
        store.append([event(EventKind.ASSIGNED, mission_id, robot_id="agv-1")])
    assert [m.id for m in store.missions()] == ["zeta", "alpha", "mid"]


def test_duplicate_mission_id_raises_already_exists_and_writes_nothing(
    store: EventStore,
) -> None:
    store.add_mission(mission("m1"), accepted("m1"))
    with pytest.raises(AlreadyExistsError) as raised:
        store.add_mission(mission("m1", priority=9), accepted("m1", 5.0))
    assert raised.value.field == "mission.id"
    assert raised.value.value == "m1"
    assert len(store.events()) == 1
    assert store.missions()[0].priority == 0


def test_add_mission_rejects_an_event_that_is_not_its_accepted_event(store: EventStore) -> None:
    with pytest.raises(InvalidInputError) as wrong_kind:
        store.add_mission(mission("m1"), event(EventKind.STARTED, "m1"))
    assert wrong_kind.value.field == "event.kind"
    with pytest.raises(InvalidInputError) as wrong_mission:
        store.add_mission(mission("m1"), accepted("m2"))
    assert wrong_mission.value.field == "event.mission_id"
    assert store.missions() == []
    assert store.events() == []


def test_append_gives_strictly_increasing_seq_across_calls(store: EventStore) -> None:
    first = store.add_mission(mission("m1"), accepted("m1"))
    batch = store.append(
        [
            event(EventKind.ASSIGNED, "m1", 1.0, task_id="t1", robot_id="agv-1", detail="nearest"),
            event(EventKind.STARTED, "m1", 2.0, task_id="t1", robot_id="agv-1"),
            event(EventKind.STEP_DONE, "m1", 3.0, task_id="t1", step=0, detail="pickup"),
        ]
    )
    later = store.append([event(EventKind.TASK_DONE, "m1", 4.0, task_id="t1")])
    seqs = [first.seq] + [e.seq for e in batch] + [e.seq for e in later]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert store.events() == [first, *batch, *later]


def test_append_keeps_every_field(store: EventStore) -> None:
    store.add_mission(mission("m1"), accepted("m1"))
    original = event(
        EventKind.STEP_DONE, "m1", 12.125, task_id="t1", robot_id="agv-7", step=2, detail="drop"
    )
    (written,) = store.append([original])
    assert store.events(after_seq=1) == [written]
    assert written.kind is EventKind.STEP_DONE
    assert (written.task_id, written.robot_id, written.step, written.detail) == (
        "t1",
        "agv-7",
        2,
        "drop",
    )
    assert written.time_s == 12.125


def test_events_filter_by_mission_and_after_seq(store: EventStore) -> None:
    for mission_id in ["a", "b"]:
        store.add_mission(mission(mission_id), accepted(mission_id))
    store.append(
        [
            event(EventKind.STARTED, "a"),
            event(EventKind.STARTED, "b"),
            event(EventKind.COMPLETED, "a"),
        ]
    )
    assert [(e.mission_id, e.kind) for e in store.events(mission_id="a")] == [
        ("a", EventKind.ACCEPTED),
        ("a", EventKind.STARTED),
        ("a", EventKind.COMPLETED),
    ]
    assert [e.seq for e in store.events(after_seq=2)] == [3, 4, 5]
    assert [e.seq for e in store.events(after_seq=3, mission_id="a")] == [5]
    assert store.events(mission_id="nobody") == []
    assert store.events(after_seq=5) == []


def test_append_of_nothing_is_a_no_op(store: EventStore) -> None:
    assert store.append([]) == []
    assert store.events() == []


def test_append_for_an_unknown_mission_writes_nothing(store: EventStore) -> None:
    store.add_mission(mission("m1"), accepted("m1"))
    with pytest.raises(NotFoundError) as raised:
        store.append([event(EventKind.STARTED, "m1"), event(EventKind.STARTED, "ghost")])
    assert raised.value.field == "event.mission_id"
    assert raised.value.value == "ghost"
    assert len(store.events()) == 1


def test_append_rejects_accepted_events_and_events_with_seq(store: EventStore) -> None:
    store.add_mission(mission("m1"), accepted("m1"))
    with pytest.raises(InvalidInputError) as accepted_again:
        store.append([accepted("m1")])
    assert accepted_again.value.field == "event.kind"
    (written,) = store.append([event(EventKind.STARTED, "m1")])
    with pytest.raises(InvalidInputError) as twice:
        store.append([written])
    assert twice.value.field == "event.seq"
    assert len(store.events()) == 2


def test_append_rejects_a_time_that_is_not_finite(store: EventStore) -> None:
    store.add_mission(mission("m1"), accepted("m1"))
    with pytest.raises(InvalidInputError) as raised:
        store.append([event(EventKind.STARTED, "m1", math.nan)])
    assert raised.value.field == "event.time_s"


def test_put_robot_upserts_the_roster(store: EventStore) -> None:
    agv = RobotSpec(
        id="agv-2",
        kind=RobotKind.AGV,
        radius_m=0.45,
        max_speed_mps=1.5,
        transport=TransportCapability(max_payload_kg=500.0),
    )
    welder = RobotSpec(
        id="agv-1",
        kind=RobotKind.MOBILE_WELDER,
        radius_m=0.6,
        max_speed_mps=0.8,
        weld=WeldCapability(programs=frozenset({"seam-a"})),
    )
    store.put_robot(agv)
    store.put_robot(welder)
    faster = RobotSpec(id="agv-2", kind=RobotKind.AGV, radius_m=0.45, max_speed_mps=2.0)
    store.put_robot(faster)
    assert store.robots() == [Registration(welder), Registration(faster)]
    # a fixed welder's cell is kept with it, and replaced with it
    fixed = RobotSpec(id="fw-1", kind=RobotKind.FIXED_WELDER, radius_m=0.5, max_speed_mps=0.0,
                      weld=WeldCapability(programs=frozenset({"seam-a"})))
    store.put_robot(fixed, "weld-1")
    assert store.robots()[-1] == Registration(fixed, "weld-1")
    store.put_robot(fixed, "weld-2")
    assert store.robots()[-1] == Registration(fixed, "weld-2")


def test_closed_store_refuses_calls() -> None:
    store = SqliteStore(":memory:")
    store.close()
    store.close()
    with pytest.raises(Exception, match="closed"):
        store.events()
