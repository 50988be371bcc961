"""FleetState: each event kind does exactly what the log says, and only that."""

from __future__ import annotations

from fleet.coordinator import FleetState
from fleet.floor import Station, StationKind
from fleet.model import (
    EventKind,
    Mission,
    MissionEvent,
    MissionState,
    Pose,
    RobotKind,
    RobotSpec,
    Task,
    TaskKey,
    TaskKind,
    TaskState,
    TransportCapability,
    TransportStep,
    WeldCapability,
)

STATIONS = {"in": Station("in", StationKind.PICKUP, Pose(0, 0, 0)),
            "cell": Station("cell", StationKind.WELD_CELL, Pose(5, 0, 0)),
            "out": Station("out", StationKind.DROPOFF, Pose(9, 0, 0))}


def state_with(*missions: Mission) -> FleetState:
    state = FleetState(STATIONS, frozenset({"cell"}))
    state.register(RobotSpec("agv", RobotKind.AGV, 0.4, 1.0,
                             transport=TransportCapability(500.0)))
    state.register(RobotSpec("fixed", RobotKind.FIXED_WELDER, 0.4, 1.0,
                             weld=WeldCapability(frozenset({"P"}))))
    for m in missions:
        state.accept(m)
    return state


def bring(mission_id: str) -> Mission:
    return Mission(mission_id, (
        Task("bring", TaskKind.TRANSPORT, pickup="in", dropoff="cell", load_id=f"{mission_id}p"),
        Task("weld", TaskKind.WELD, depends_on=("bring",), cell="cell", program="P",
             duration_s=10)))


def ev(kind: EventKind, mission: str, task: str = "", robot: str = "", step: int = -1,
       detail: str = "") -> MissionEvent:
    return MissionEvent(kind, mission, 1.0, task, robot, step, detail)


def test_a_robots_queue_is_its_tasks_in_the_order_given_and_its_head_is_current() -> None:
    state = state_with(bring("a"), bring("b"))
    assert state.apply(ev(EventKind.ASSIGNED, "a", "bring", "agv")) == {"agv"}
    assert state.apply(ev(EventKind.ASSIGNED, "b", "bring", "agv")) == set()
    assert state.head("agv") == TaskKey("a", "bring")
    assert state.queued("agv") == [TaskKey("b", "bring")]
    assert state.apply(ev(EventKind.UNASSIGNED, "b", "bring", "agv")) == set()
    assert state.apply(ev(EventKind.TASK_DONE, "a", "bring", "agv")) == {"agv"}
    assert state.head("agv") is None
    assert state.task(TaskKey("b", "bring")).state is TaskState.PENDING
    assert state.task(TaskKey("a", "bring")).attempt == 1


def test_steps_count_by_robot_kind_and_loads_move_on_pick_and_drop() -> None:
    state = state_with(bring("a"))
    state.contents["in"].append("ap")
    state.apply(ev(EventKind.ASSIGNED, "a", "bring", "agv"))
    state.apply(ev(EventKind.ASSIGNED, "a", "weld", "fixed"))
    assert state.task(TaskKey("a", "bring")).steps_total == 4
    assert state.task(TaskKey("a", "weld")).steps_total == 1
    state.apply(ev(EventKind.STARTED, "a", "bring", "agv"))
    assert state.missions["a"].state is MissionState.ACTIVE
    state.apply(ev(EventKind.STEP_DONE, "a", "bring", "agv", TransportStep.PICK))
    assert state.contents["in"] == [] and state.task(TaskKey("a", "bring")).picked
    state.apply(ev(EventKind.STEP_DONE, "a", "bring", "agv", TransportStep.DROP))
    assert state.contents["cell"] == ["ap"] and state.task(TaskKey("a", "bring")).delivered


def test_a_failed_mission_ends_its_tasks_frees_its_robots_and_clears_its_loads() -> None:
    state = state_with(bring("a"), bring("b"))
    state.contents["cell"].append("ap")
    state.apply(ev(EventKind.ASSIGNED, "b", "bring", "agv"))
    state.apply(ev(EventKind.ASSIGNED, "a", "bring", "agv"))
    state.apply(ev(EventKind.ASSIGNED, "a", "weld", "fixed"))
    changed = state.apply(ev(EventKind.FAILED, "a", "weld", detail="weld failed"))
    assert changed == {"fixed"}  # agv's current task is b's, which goes on
    assert state.head("agv") == TaskKey("b", "bring") and state.queued("agv") == []
    record = state.missions["a"]
    assert (record.state, record.reason) == (MissionState.FAILED, "weld failed")
    assert record.tasks["weld"].state is TaskState.FAILED
    assert record.tasks["bring"].state is TaskState.CANCELLED
    assert state.contents["cell"] == []


def test_states_compare_by_what_the_log_determines() -> None:
    one, two = state_with(bring("a")), state_with(bring("a"))
    assert one == two
    one.apply(ev(EventKind.ASSIGNED, "a", "bring", "agv"))
    assert one != two
    two.apply(ev(EventKind.ASSIGNED, "a", "bring", "agv"))
    assert one == two
