"""The JSON codec: every field of missions and robot specs survives the round trip."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.model import (
    InvalidInputError,
    Mission,
    Registration,
    RobotKind,
    RobotSpec,
    Task,
    TaskKind,
    TransportCapability,
    WeldCapability,
)
from fleet.store._codec import (
    decode_mission,
    decode_registration,
    decode_robot,
    encode_mission,
    encode_robot,
)

names = st.text(min_size=0, max_size=12)
ids = st.text(min_size=1, max_size=12)
finite = st.floats(allow_nan=False, allow_infinity=False)

tasks = st.builds(
    Task,
    id=ids,
    kind=st.sampled_from(TaskKind),
    depends_on=st.lists(ids, max_size=3).map(tuple),
    pickup=names,
    dropoff=names,
    load_id=names,
    mass_kg=finite,
    cell=names,
    program=names,
    duration_s=finite,
    robot=names,
)

missions = st.builds(
    Mission,
    id=ids,
    tasks=st.lists(tasks, max_size=4).map(tuple),
    priority=st.integers(min_value=-(2**62), max_value=2**62),
    deadline_s=st.none() | finite,
    submitted_s=finite,
    labels=st.dictionaries(names, names, max_size=3),
)

robots = st.builds(
    RobotSpec,
    id=ids,
    kind=st.sampled_from(RobotKind),
    radius_m=finite,
    max_speed_mps=finite,
    transport=st.none() | st.builds(TransportCapability, max_payload_kg=finite),
    weld=st.none() | st.builds(WeldCapability, programs=st.frozensets(names, max_size=4)),
)


@given(missions)
def test_mission_round_trips(mission: Mission) -> None:
    assert decode_mission(encode_mission(mission)) == mission


@given(robots, st.sampled_from(["", "weld-1"]))
def test_robot_round_trips(spec: RobotSpec, home: str) -> None:
    assert decode_robot(encode_robot(spec, home)) == spec
    assert decode_registration(encode_robot(spec, home)) == Registration(spec, home)


def test_a_robot_written_without_a_home_reads_as_one_without() -> None:
    spec = RobotSpec(id="r", kind=RobotKind.AGV, radius_m=0.5, max_speed_mps=1.0)
    assert "home" not in json.loads(encode_robot(spec))
    document = json.loads(encode_robot(spec, "weld-1"))
    assert document["home"] == "weld-1"
    document["home"] = 7
    with pytest.raises(InvalidInputError):
        decode_registration(json.dumps(document))


def test_mission_keeps_enum_deadline_labels_and_dependency_order() -> None:
    mission = Mission(
        id="m-1",
        tasks=(
            Task(id="a", kind=TaskKind.TRANSPORT, pickup="s1", dropoff="s2", mass_kg=12.5),
            Task(id="b", kind=TaskKind.WELD, depends_on=("a", "0"), cell="w1", duration_s=30.0),
        ),
        priority=3,
        deadline_s=120.0,
        submitted_s=1.25,
        labels={"line": "B", "shift": "night"},
    )
    decoded = decode_mission(encode_mission(mission))
    assert decoded == mission
    assert decoded.tasks[1].kind is TaskKind.WELD
    assert decoded.tasks[1].depends_on == ("a", "0")


def test_absent_deadline_is_null_and_stays_absent() -> None:
    mission = Mission(id="m", tasks=())
    assert json.loads(encode_mission(mission))["deadline_s"] is None
    assert decode_mission(encode_mission(mission)).deadline_s is None


def test_weld_programs_are_written_sorted() -> None:
    spec = RobotSpec(
        id="w",
        kind=RobotKind.MOBILE_WELDER,
        radius_m=0.6,
        max_speed_mps=0.8,
        weld=WeldCapability(programs=frozenset({"seam-b", "seam-a"})),
    )
    assert json.loads(encode_robot(spec))["weld"] == {"programs": ["seam-a", "seam-b"]}


def test_integral_numbers_from_foreign_writers_read_as_floats() -> None:
    text = encode_robot(RobotSpec(id="r", kind=RobotKind.AGV, radius_m=1.0, max_speed_mps=2.0))
    document = json.loads(text)
    document["radius_m"] = 1
    decoded = decode_robot(json.dumps(document))
    assert decoded.radius_m == 1.0
    assert isinstance(decoded.radius_m, float)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"v": 99, "id": "m"}',
        '{"v": 1, "id": "m"}',
        '{"v": 1, "id": 5, "tasks": [], "priority": 0, "deadline_s": null, '
        '"submitted_s": 0.0, "labels": {}}',
        '{"v": 1, "id": "m", "tasks": [], "priority": true, "deadline_s": null, '
        '"submitted_s": 0.0, "labels": {}}',
    ],
)
def test_damaged_mission_raises_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        decode_mission(text)
    assert raised.value.field == "mission"


def test_damaged_robot_raises_invalid_input() -> None:
    document = json.loads(
        encode_robot(RobotSpec(id="r", kind=RobotKind.AGV, radius_m=0.5, max_speed_mps=1.0))
    )
    document["kind"] = "hovercraft"
    with pytest.raises(InvalidInputError) as raised:
        decode_robot(json.dumps(document))
    assert raised.value.field == "robot"
