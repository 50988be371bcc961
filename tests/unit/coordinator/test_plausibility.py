"""The pure check of a robot's report against the last one believed (small-shop floor)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from fleet.coordinator.plausibility import (
    FloorCheck,
    Implausible,
    ImplausibleReportError,
    Tolerance,
    check_report,
)
from fleet.coordinator.sessions import Inbox
from fleet.floor import load_floor
from fleet.model import ActionStatus, Pose, RobotState
from tests.conftest import SMALL_MAP

FLOOR = FloorCheck(load_floor(SMALL_MAP), Tolerance().jitter_m)
BEFORE = RobotState("agv-1", 10.0, Pose(7.5, 3.5), seq=5)
GIVEN = {"m-1/move/1/1"}


def check(report: RobotState, *, first: bool = False, elapsed_s: float = 0.0,
          ahead_s: float = 0.0, since_lag_s: float = 0.0,
          carried: str = "") -> Implausible | None:
    found = check_report(BEFORE, report, max_speed_mps=1.0, tolerance=Tolerance(),
                         floor=FLOOR, given=GIVEN.__contains__, first=first,
                         elapsed_s=elapsed_s, ahead_s=ahead_s, since_lag_s=since_lag_s,
                         carried_action=carried)
    return None if found is None else found.reason


def after(dt: float, dx: float = 0.0, dy: float = 0.0, **changes: object) -> RobotState:
    state = replace(BEFORE, stamp_s=BEFORE.stamp_s + dt,
                    pose=Pose(BEFORE.pose.x + dx, BEFORE.pose.y + dy), seq=BEFORE.seq + 1)
    return replace(state, **changes)  # type: ignore[arg-type]


def test_a_drive_at_top_speed_with_jitter_is_believed() -> None:
    assert check(after(1.0, 1.0)) is None
    # 1 m/s for 1 s, plus 10 % margin and 0.3 m of localization jitter
    assert check(after(1.0, 1.39)) is None
    assert check(after(0.0, 0.25)) is None


def test_a_jump_beyond_top_speed_and_jitter_is_too_fast() -> None:
    assert check(after(0.1, 8.0)) is Implausible.TOO_FAST
    assert check(after(1.0, 1.45)) is Implausible.TOO_FAST


def test_a_pose_inside_an_obstacle_or_off_the_floor_is_refused() -> None:
    # weld-cell-2's fence covers (6.5..11.5, 7.5..12)
    inside = replace(after(100.0), pose=Pose(9.0, 10.0))
    assert check(inside) is Implausible.IN_OBSTACLE
    assert check(replace(after(100.0), pose=Pose(-3.0, 3.5))) is Implausible.IN_OBSTACLE
    # at the edge of an obstacle, within the jitter: believed
    assert check(replace(after(100.0), pose=Pose(9.0, 7.6))) is None


def test_stamps_and_sequence_numbers_must_not_go_backwards() -> None:
    assert check(after(-0.5)) is Implausible.STAMP_BACKWARDS
    assert check(after(0.1, seq=5)) is Implausible.SEQ_BACKWARDS
    assert check(after(0.1, seq=2)) is Implausible.SEQ_BACKWARDS
    assert check(after(0.0)) is None
    # a robot that does not number its reports
    unnumbered = replace(BEFORE, seq=0)
    assert check_report(unnumbered, replace(after(0.1), seq=0), max_speed_mps=1.0,
                        tolerance=Tolerance(), floor=FLOOR, given=GIVEN.__contains__) is None


def test_stamps_may_not_run_ahead_of_the_coordinators_clock() -> None:
    lead, drift = Tolerance().stamp_lead_s, Tolerance().clock_drift
    # as far ahead as the least-ahead report, or behind it (a late delivery): believed
    assert check(after(0.5)) is None
    assert check(after(30.0), ahead_s=-2.0) is None
    assert check(after(0.5), ahead_s=lead) is None
    # further ahead than the lead: refused, whatever the pose
    assert check(after(1e9), ahead_s=1e9) is Implausible.STAMP_AHEAD
    assert check(after(0.1), ahead_s=1.01 * lead) is Implausible.STAMP_AHEAD
    assert check(after(0.1), ahead_s=math.nan) is Implausible.STAMP_AHEAD
    # a clock that gains a little over hours is not a lie
    hours = 8 * 3600.0
    assert check(after(0.1), ahead_s=lead + 0.5 * drift * hours, since_lag_s=hours) is None
    assert check(after(0.1), ahead_s=lead + 2 * drift * hours,
                 since_lag_s=hours) is Implausible.STAMP_AHEAD
    # the first report of a stream starts the count
    assert check(after(0.1), first=True, elapsed_s=1.0, ahead_s=1e9) is None


def test_a_result_for_an_action_never_given_is_refused() -> None:
    done = after(0.1, action_id="m-1/move/1/3", action_status=ActionStatus.SUCCEEDED)
    assert check(done) is Implausible.UNKNOWN_ACTION
    assert check(replace(done, action_status=ActionStatus.FAILED)) is Implausible.UNKNOWN_ACTION
    assert check(replace(done, action_id="m-1/move/1/1")) is None
    assert check(replace(done, action_status=ActionStatus.NONE)) is None
    # an outcome carried over from before a reconnection, as the stream's first report said
    assert check(done, carried="m-1/move/1/3") is None


def test_the_first_report_is_checked_against_the_registered_pose_and_the_time_since() -> None:
    moved = replace(BEFORE, stamp_s=1234.0, pose=Pose(9.5, 3.5), seq=1)
    assert check(moved, first=True, elapsed_s=0.1) is Implausible.TOO_FAST
    assert check(moved, first=True, elapsed_s=2.0) is None
    # its stamp and seq start the stream's count, whatever they are
    assert check(replace(moved, stamp_s=0.0, seq=0, pose=BEFORE.pose), first=True) is None


@pytest.mark.parametrize("reason", list(Implausible))
def test_every_reason_has_a_stable_label(reason: Implausible) -> None:
    assert reason.value == reason.name.lower()


def test_a_result_for_the_current_action_before_it_was_given_is_not_believed() -> None:
    from fleet.model import EventKind, Mission, RobotKind, RobotMode, Task, TaskKind, TaskState
    from tests.unit.coordinator.lockstep import Lockstep, welder

    run = Lockstep([welder("fixed-1", 3.5, 6.5, kind=RobotKind.FIXED_WELDER)])
    run.connect()
    run.submit(Mission("m", (Task("weld", TaskKind.WELD, cell="weld-1", program="BOOM-A",
                                  duration_s=5.0),), release_s=30.0))
    run.run(lambda: run.coordinator.get("m").tasks["weld"].state is TaskState.ASSIGNED,
            max_s=10)
    # The robot comes back on a new stream and claims, first thing, that the weld it was
    # never sent succeeded.
    run.disconnect("fixed-1")
    run.connect("fixed-1")
    c = run.coordinator
    lie = RobotState("fixed-1", 40.0, Pose(3.5, 6.5), action_id="m/weld/1/0",
                     action_status=ActionStatus.SUCCEEDED)
    c.report("fixed-1", run.streams["fixed-1"], lie)
    run.clock.advance_to(40.0)
    c.step()
    run.deliver()
    record = c.get("m").tasks["weld"]
    assert record.state is TaskState.PENDING and record.steps_done == 0
    back = [e for e in run.events if e.kind is EventKind.UNASSIGNED]
    assert back and "implausible report (unknown_action)" in back[-1].detail
    assert c.robots["fixed-1"].state.mode is RobotMode.FAULT  # type: ignore[union-attr]
    assert c.inbox.implausible_counts() == {Implausible.UNKNOWN_ACTION: 1}


def test_a_robot_that_reports_seldom_and_is_delivered_late_is_believed() -> None:
    """The inbox's lag bookkeeping: a vehicle that reports every 30 s, with its clock 1000 s
    off the coordinator's, one report delivered 5 s late; then one stamped in the future."""
    now = [0.0]
    inbox = Inbox(FLOOR, Tolerance(), lambda: now[0])
    start = RobotState("agv-1", 1000.0, Pose(7.5, 3.5), seq=0)
    inbox.open("agv-1", 1, start, max_speed_mps=1.0)
    for n, (arrival, stamp) in enumerate([(0.1, 1000.0), (35.0, 1030.0), (60.1, 1060.0),
                                          (90.2, 1090.0)], start=1):
        now[0] = arrival
        inbox.put("agv-1", 1, replace(start, stamp_s=stamp, seq=n))
    now[0] = 120.0
    with pytest.raises(ImplausibleReportError) as err:
        inbox.put("agv-1", 1, replace(start, stamp_s=1200.0, seq=9, pose=Pose(9.5, 3.5)))
    assert err.value.finding is Implausible.STAMP_AHEAD
    assert inbox.implausible_counts() == {Implausible.STAMP_AHEAD: 1}


@pytest.mark.parametrize("name", ["small.yaml", "plant.yaml"])
def test_the_floor_check_answers_as_the_polygons_do(name: str) -> None:
    """The squares known clear only spare polygon tests: the answer is the polygons' own, at
    random points, at points on the squares' edges and corners, and off the floor."""
    import random

    import shapely

    floor = load_floor(SMALL_MAP.parent / name)
    check = FloorCheck(floor, Tolerance().jitter_m)
    jitter = Tolerance().jitter_m
    outline = floor.outline.buffer(jitter)
    blockers = [o.polygon for o in floor.obstacles] + [z.polygon for z in floor.keep_out_zones]
    blocked = shapely.union_all(blockers).buffer(-jitter) if blockers else None

    def reference(x: float, y: float) -> bool:
        point = shapely.Point(x, y)
        return not outline.contains(point) or (blocked is not None and blocked.contains(point))
    rng = random.Random(7)
    x0, y0, x1, y1 = outline.bounds
    side = floor.resolution_m / 2
    points = [(rng.uniform(x0 - 1, x1 + 1), rng.uniform(y0 - 1, y1 + 1)) for _ in range(3000)]
    points += [(x0 + side * rng.randint(0, 400) + dx, y0 + side * rng.randint(0, 300) + dy)
               for _ in range(1000) for dx, dy in [(0.0, 0.0)]]
    points += [(x0 + side * rng.randint(0, 400), rng.uniform(y0, y1)) for _ in range(1000)]
    disagree = [(x, y) for x, y in points if check.blocked(x, y) != reference(x, y)]
    assert not disagree
    assert any(reference(x, y) for x, y in points) and not all(reference(x, y) for x, y in points)
    assert check.blocked(math.nan, 1.0) and check.blocked(1.0, math.inf)


def test_the_inbox_notes_when_the_earliest_report_a_step_takes_in_arrived() -> None:
    """`first_arrival` (the reaction metric's start): the first accepted report since the last
    snapshot; reports on a closed stream and refused ones do not count."""
    import time

    inbox = Inbox(FLOOR, Tolerance(), lambda: 0.0)
    start = RobotState("agv-1", 0.0, Pose(7.5, 3.5), seq=0)
    inbox.open("agv-1", 1, start, max_speed_mps=1.0)
    inbox.snapshot()
    assert inbox.first_arrival is None
    before = time.monotonic()
    inbox.put("agv-1", 1, replace(start, stamp_s=0.1, seq=1))
    between = time.monotonic()
    inbox.put("agv-1", 1, replace(start, stamp_s=0.2, seq=2))
    inbox.snapshot()
    assert inbox.first_arrival is not None and before <= inbox.first_arrival <= between
    inbox.put("agv-1", 2, replace(start, stamp_s=0.3, seq=3))  # not its open stream
    with pytest.raises(ImplausibleReportError):
        inbox.put("agv-1", 1, replace(start, stamp_s=0.3, seq=3, pose=Pose(70.5, 3.5)))
    inbox.snapshot()
    assert inbox.first_arrival is None
