"""The dispatcher's inputs on hand-made records: what is ready, what waits, what looks ahead."""

from __future__ import annotations

from fleet.dispatch import Inventory, Round, may_begin, mission_tails, ready_at, work_to_come
from fleet.floor import Station, StationKind
from fleet.model import (
    Mission,
    MissionRecord,
    Pose,
    Task,
    TaskKey,
    TaskKind,
    TaskState,
)

STATIONS = {
    "in": Station("in", StationKind.PICKUP, Pose(0, 0, 0)),
    "cell": Station("cell", StationKind.WELD_CELL, Pose(5, 0, 0)),
    "out": Station("out", StationKind.DROPOFF, Pose(9, 0, 0)),
}


def line_job(mission_id: str, order: int = 0, **fields: object) -> MissionRecord:
    """Bring a part into the cell, weld it, take it out."""
    part = f"{mission_id}-part"
    mission = Mission(mission_id, (
        Task("bring", TaskKind.TRANSPORT, pickup="in", dropoff="cell", load_id=part),
        Task("weld", TaskKind.WELD, depends_on=("bring",), cell="cell", program="P",
             duration_s=60, load_id=part),
        Task("take", TaskKind.TRANSPORT, depends_on=("weld",), pickup="cell", dropoff="out",
             load_id=part)), **fields)  # type: ignore[arg-type]
    return MissionRecord.new(mission, order)


def offered(records: list[MissionRecord], contents: dict[str, list[str]], now: float = 10.0,
            lookahead_s: float = 0.0,
            under_way: dict[TaskKey, float] | None = None) -> list[tuple[str, str, float]]:
    view = Round(records, Inventory(STATIONS, contents), under_way or {},
                 lambda r, t: 0.0, now, lookahead_s)
    return [(j.mission_id, j.task.id, j.ready_in_s) for r in records for j in view.jobs_of(r)]


def test_only_tasks_whose_dependencies_are_done_are_ready() -> None:
    a = line_job("a")
    assert offered([a], {"cell": []}) == [("a", "bring", 0.0)]
    a.tasks["bring"].state, a.tasks["bring"].done_s = TaskState.DONE, 5.0
    # The weld waits for its part, which the bring did not leave in the cell.
    assert offered([a], {"cell": []}) == []
    assert offered([a], {"cell": ["a-part"]}) == [("a", "weld", 0.0)]


def test_a_full_cell_gets_no_more_transports_in() -> None:
    a, b = line_job("a", 0), line_job("b", 1)
    assert offered([a, b], {"cell": []}) == [("a", "bring", 0.0)]
    assert offered([a, b], {"cell": ["x"]}) == []


def test_looking_ahead_offers_the_weld_whose_part_is_on_its_way() -> None:
    a = line_job("a")
    a.tasks["bring"].state = TaskState.ACTIVE
    a.tasks["bring"].robot_id = "agv"
    key = TaskKey("a", "bring")
    assert offered([a], {"cell": []}, lookahead_s=0.0, under_way={key: 30.0}) == []
    assert offered([a], {"cell": []}, lookahead_s=120.0, under_way={key: 30.0}) == [
        ("a", "weld", 30.0)]
    # Beyond the horizon, or not somebody's current work: not offered.
    assert offered([a], {"cell": []}, lookahead_s=20.0, under_way={key: 30.0}) == []
    assert offered([a], {"cell": []}, lookahead_s=120.0) == []


def test_the_next_part_is_offered_once_the_part_in_a_full_cell_is_being_taken_out() -> None:
    a, b = line_job("a", 0), line_job("b", 1)
    for t in ("bring", "weld"):
        a.tasks[t].state, a.tasks[t].done_s = TaskState.DONE, 1.0
    a.tasks["bring"].steps_done = 4
    a.tasks["take"].state, a.tasks["take"].robot_id = TaskState.ACTIVE, "agv"
    take = TaskKey("a", "take")
    assert offered([a, b], {"cell": ["a-part"]}, lookahead_s=120.0) == []
    assert offered([a, b], {"cell": ["a-part"]}, lookahead_s=120.0,
                   under_way={take: 20.0}) == [("b", "bring", 1.0)]


def test_ready_at_waits_for_release_and_start_delays() -> None:
    mission = Mission("m", (Task("a", TaskKind.WELD, cell="cell", program="P", duration_s=1),
                            Task("b", TaskKind.WELD, depends_on=("a",), cell="cell",
                                 program="P", duration_s=1, delay_s=30)), release_s=100.0)
    record = MissionRecord.new(mission, 0)
    assert ready_at(record, mission.tasks[0], 0.0, {}) == 100.0
    assert ready_at(record, mission.tasks[1], 0.0, {}) is None
    record.tasks["a"].state, record.tasks["a"].done_s = TaskState.DONE, 120.0
    assert ready_at(record, mission.tasks[1], 130.0, {}) == 150.0
    inventory = Inventory(STATIONS, {"cell": []})
    assert not may_begin(record, mission.tasks[1], 149.0, inventory)
    assert may_begin(record, mission.tasks[1], 150.0, inventory)
    assert not record.released(99.0) and record.released(100.0)


def test_a_transport_whose_start_delay_runs_is_offered_ahead_only_when_asked() -> None:
    part = "p"
    mission = Mission("m", (
        Task("in", TaskKind.TRANSPORT, pickup="in", dropoff="out", load_id=part),
        Task("out", TaskKind.TRANSPORT, depends_on=("in",), pickup="in", dropoff="out",
             load_id=part, delay_s=120)))
    record = MissionRecord.new(mission, 0)

    def offer(delay_lookahead: bool, lookahead_s: float = 600.0) -> list[tuple[str, float]]:
        view = Round([record], Inventory(STATIONS, {}), {}, lambda r, t: 0.0, 50.0,
                     lookahead_s, delay_lookahead=delay_lookahead)
        return [(j.task.id, j.ready_in_s) for j in view.jobs_of(record)]

    # The first transport under way: the second's ready time is not known yet.
    record.tasks["in"].state = TaskState.ACTIVE
    assert offer(True) == []
    record.tasks["in"].state, record.tasks["in"].done_s = TaskState.DONE, 40.0
    assert offer(False) == []
    assert offer(True) == [("out", 110.0)]
    assert offer(True, lookahead_s=100.0) == []  # beyond the look-ahead


def test_work_to_come_is_the_released_missions_pending_tasks() -> None:
    a, b = line_job("a", 0), line_job("b", 1, release_s=500.0)
    a.tasks["bring"].state = TaskState.ASSIGNED
    assert [t.id for t, _ in work_to_come([a, b], 10.0, lambda r, t: 1.0)] == ["weld", "take"]


def test_mission_tails_of_a_long_chain_need_no_deep_stack() -> None:
    chain = tuple(Task(f"t{k}", TaskKind.WELD, depends_on=(f"t{k - 1}",) if k else (),
                       cell="cell", program="P", duration_s=2.0) for k in range(5000))
    tails = mission_tails(chain, lambda t: t.duration_s)
    assert tails["t0"] == 2.0 * 4999 and tails["t4999"] == 0.0
