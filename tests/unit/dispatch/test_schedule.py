"""The schedule optimizer: its decoder against hand-computed schedules and against an
independent checker of the CP-SAT model's constraints, its search, and the dispatcher."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from fleet.dispatch import Candidate, Inventory, Job, Outlook, ScheduleDispatcher
from fleet.dispatch.schedule import (
    Instance,
    Schedule,
    build_instance,
    decode,
    greedy_schedule,
    improve,
)
from fleet.floor import Station, StationKind
from fleet.model import (
    Mission,
    MissionRecord,
    Pose,
    RobotKind,
    RobotSpec,
    Task,
    TaskKey,
    TaskKind,
    TaskState,
    TransportCapability,
    WeldCapability,
)

HANDLING = 20.0

# Stations on a line, x metres from the origin; a robot's cell is (0, x).
X = {"cut": 0.0, "cell": 10.0, "cell-b": 30.0, "paint": 20.0, "park": 5.0}
STATIONS = {
    "cut": Station("cut", StationKind.PICKUP, Pose(0, 0, 0)),
    "cell": Station("cell", StationKind.WELD_CELL, Pose(10, 0, 0)),
    "cell-b": Station("cell-b", StationKind.WELD_CELL, Pose(30, 0, 0)),
    "paint": Station("paint", StationKind.DROPOFF, Pose(20, 0, 0)),
    "park": Station("park", StationKind.PARKING, Pose(5, 0, 0)),
}


class LineTravel:
    """`Travel` along a straight corridor: metres are differences of x."""

    def from_cells_m(self, cells: npt.NDArray[np.int64], station_id: str
                     ) -> npt.NDArray[np.float64]:
        return np.abs(cells[:, 1].astype(np.float64) - X[station_id])

    def between_m(self, a: str, b: str) -> float:
        return abs(X[a] - X[b])

    def to_charger_m(self, station_id: str) -> float:
        return 0.0


TRAVEL = LineTravel()


def agv(name: str, at: str = "cut", speed: float = 1.0, free_in_s: float = 0.0) -> Candidate:
    return Candidate(RobotSpec(name, RobotKind.AGV, 0.45, speed,
                               transport=TransportCapability(1000.0)), "",
                     (0, int(X[at])), free_in_s)


def fixed_welder(name: str, cell: str = "cell") -> Candidate:
    return Candidate(RobotSpec(name, RobotKind.FIXED_WELDER, 0.45, 1.0,
                               weld=WeldCapability(frozenset({"P"}))), cell, (0, int(X[cell])))


def mobile_welder(name: str, at: str = "park") -> Candidate:
    return Candidate(RobotSpec(name, RobotKind.MOBILE_WELDER, 0.45, 1.0,
                               weld=WeldCapability(frozenset({"P"}))), "", (0, int(X[at])))


def part(mission_id: str, cell: str = "cell", weld_s: float = 30.0, delay_s: float = 0.0,
         release_s: float | None = None) -> Mission:
    """Cut -> cell, weld, cell -> paint (after `delay_s`)."""
    load = f"{mission_id}-part"
    return Mission(mission_id, (
        Task("in", TaskKind.TRANSPORT, pickup="cut", dropoff=cell, load_id=load, mass_kg=100),
        Task("weld", TaskKind.WELD, ("in",), cell=cell, program="P", duration_s=weld_s,
             load_id=load),
        Task("out", TaskKind.TRANSPORT, ("weld",), pickup=cell, dropoff="paint", load_id=load,
             mass_kg=100, delay_s=delay_s)), release_s=release_s)


def instance_of(missions: list[Mission], robots: list[Candidate], now_s: float = 0.0,
                contents: dict[str, list[str]] | None = None, stage: bool = False
                ) -> Instance:
    records = [MissionRecord.new(m, k) for k, m in enumerate(missions)]
    outlook = Outlook(records, {}, Inventory(STATIONS, contents or {}))
    instance, _ = build_instance([], robots, now_s, TRAVEL, outlook, handling_s=HANDLING,
                                 stage=stage)
    return instance


def times(instance: Instance, schedule: Schedule) -> dict[str, tuple[str, float, float]]:
    """Task -> (robot, start, end)."""
    return {f"{k.mission_id}/{k.task_id}": (instance.robot_ids[schedule.robot_of[i]],
                                            float(schedule.start[i]), float(schedule.end[i]))
            for i, k in enumerate(instance.keys)}


def put(instance: Instance, plan: list[tuple[str, str]]) -> Schedule:
    """Decode a list of (task, robot) in that priority order."""
    index = {f"{k.mission_id}/{k.task_id}": i for i, k in enumerate(instance.keys)}
    robots = {r: j for j, r in enumerate(instance.robot_ids)}
    order = np.array([index[t] for t, _ in plan], dtype=np.int64)
    robot_of = np.zeros(instance.size, dtype=np.int64)
    for t, r in plan:
        robot_of[index[t]] = robots[r]
    return decode(instance, order, robot_of)


# -- the decoder against hand-computed schedules ------------------------------------------

def test_precedence_setup_and_fixed_welder_without_setup() -> None:
    instance = instance_of([part("a")], [agv("agv", at="paint"), fixed_welder("fixed")])
    s = put(instance, [("a/in", "agv"), ("a/weld", "fixed"), ("a/out", "agv")])
    # The AGV drives 20 m to the cutter, 10 m with the part and two handlings: 20 + 50.
    # The fixed welder welds on arrival, no setup; the take-out may be driven to ahead
    # (the AGV already stands at the cell) and starts when the weld ends.
    assert times(instance, s) == {"a/in": ("agv", 20.0, 70.0),
                                  "a/weld": ("fixed", 70.0, 100.0),
                                  "a/out": ("agv", 100.0, 150.0)}
    assert s.makespan_s == 150.0


def test_a_mobile_welder_drives_ahead_and_a_start_delay_holds_the_next_task() -> None:
    instance = instance_of([part("a", delay_s=25.0)], [agv("agv"), mobile_welder("welder")])
    s = put(instance, [("a/in", "agv"), ("a/weld", "welder"), ("a/out", "agv")])
    t = times(instance, s)
    # The welder (5 m away) sets off before the part is in and waits: the weld starts at 50.
    assert t["a/weld"] == ("welder", 50.0, 80.0)
    # The take-out waits out the delay after the weld: 80 + 25.
    assert t["a/out"] == ("agv", 105.0, 155.0)


def test_a_transport_whose_start_delay_runs_may_be_driven_to_when_offered_ahead() -> None:
    # Painted at "paint", 60 s after the drop there: then to the cutter (as a stand-in for
    # assembly). The AGV stands at the cutter, 20 m from the paint booth.
    load = "a-part"
    mission = Mission("a", (
        Task("to-paint", TaskKind.TRANSPORT, pickup="cut", dropoff="paint", load_id=load),
        Task("on", TaskKind.TRANSPORT, ("to-paint",), pickup="paint", dropoff="cut",
             load_id=load, delay_s=60)))
    record = MissionRecord.new(mission, 0)
    record.tasks["to-paint"].state, record.tasks["to-paint"].done_s = TaskState.DONE, 0.0
    outlook = Outlook([record], {}, Inventory(STATIONS, {}))
    job = Job("a", mission.tasks[1], 0, None, 0, "paint", ready_in_s=50.0)

    def start_of(delay_ahead: bool) -> float:
        instance, _ = build_instance([job], [agv("agv")], 10.0, TRAVEL, outlook,
                                     handling_s=HANDLING, delay_ahead=delay_ahead)
        return float(greedy_schedule(instance).start[0])

    # Ready at 60: driven to ahead it begins then; otherwise the AGV sets off at 60.
    assert start_of(True) == 60.0
    assert start_of(False) == 80.0
    # A transport that waits for its release, not a start delay, is not offered ahead.
    later = MissionRecord.new(part("b", release_s=100.0), 1)
    instance, _ = build_instance([], [agv("agv")], 10.0, TRAVEL,
                                 Outlook([later], {}, Inventory(STATIONS, {})),
                                 handling_s=HANDLING, delay_ahead=True)
    assert not instance.ahead[instance.keys.index(TaskKey("b", "in"))]


def _two_parts_through_one_cell(stage: bool) -> dict[str, tuple[str, float, float]]:
    """Parts a and b through one weld cell: agv-1 brings a and takes it out, agv-2 brings b."""
    instance = instance_of([part("a"), part("b")],
                           [agv("agv-1"), agv("agv-2"), fixed_welder("fixed")], stage=stage)
    s = put(instance, [("a/in", "agv-1"), ("b/in", "agv-2"), ("a/weld", "fixed"),
                       ("a/out", "agv-1"), ("b/weld", "fixed"), ("b/out", "agv-1")])
    return times(instance, s)


def test_a_transport_into_a_full_cell_waits_for_the_part_in_it_to_be_picked() -> None:
    t = _two_parts_through_one_cell(stage=False)
    assert t["a/in"] == ("agv-1", 0.0, 50.0)
    assert t["a/out"] == ("agv-1", 80.0, 130.0)
    # b's transport is given out only once a's part is picked (80 + 20) and then drives
    # from the cutter where agv-2 waits: no setup, start 100.
    assert t["b/in"] == ("agv-2", 100.0, 150.0)
    assert t["b/weld"] == ("fixed", 150.0, 180.0)


def test_a_staged_part_is_fetched_once_the_take_out_is_given_and_dropped_once_picked() -> None:
    t = _two_parts_through_one_cell(stage=True)
    # a's take-out is given out at 80 (agv-1 stands at the cell), and so is b's transport:
    # agv-2 picks at the cutter (80-100), is at the cell at 110, after a's part was picked
    # (100), and drops by 130; unstaged it would set off only at 100 (the weld at 150).
    assert t["a/out"] == ("agv-1", 80.0, 130.0)
    assert t["b/in"] == ("agv-2", 80.0, 130.0)
    assert t["b/weld"] == ("fixed", 130.0, 160.0)


def test_the_list_order_of_a_cell_decides_which_part_goes_in_first() -> None:
    instance = instance_of([part("a"), part("b")], [agv("agv-1"), agv("agv-2"),
                                                    fixed_welder("fixed")])
    s = put(instance, [("b/in", "agv-2"), ("a/in", "agv-1"), ("a/weld", "fixed"),
                       ("a/out", "agv-1"), ("b/weld", "fixed"), ("b/out", "agv-2")])
    t = times(instance, s)
    assert t["b/in"][1] == 0.0
    assert t["a/in"][1] >= t["b/out"][1] + HANDLING


def test_a_part_already_in_the_cell_keeps_it_full_until_its_take_out() -> None:
    records = [MissionRecord.new(part("a"), 0), MissionRecord.new(part("b"), 1)]
    for task_id in ("in", "weld"):
        records[0].tasks[task_id].state = TaskState.DONE
        records[0].tasks[task_id].done_s = 0.0
    outlook = Outlook(records, {}, Inventory(STATIONS, {"cell": ["a-part"]}))
    instance, _ = build_instance([], [agv("agv-1", at="cell"), agv("agv-2"),
                                      fixed_welder("fixed")], 0.0, TRAVEL, outlook,
                                 handling_s=HANDLING)
    s = greedy_schedule(instance)
    t = times(instance, s)
    assert t["a/out"][1] == 0.0
    assert t["b/in"][1] >= HANDLING


# -- an independent checker of the CP-SAT model's constraints -----------------------------

@dataclass(frozen=True)
class Problem:
    missions: list[Mission]
    robots: list[Candidate]


def check(problem: Problem, instance: Instance, schedule: Schedule,
          staged: bool = False) -> list[str]:
    """Every violated constraint of the model (`bench.abstract.solve_cpsat`), worked out from
    the missions, the robots and the corridor, not from the instance's arrays; `staged`: a
    part for a full cell may be fetched once the take-out of the part in it is given out,
    and dropped once that part is picked."""
    errors: list[str] = []
    tasks = {TaskKey(m.id, t.id): (m, t) for m in problem.missions for t in m.tasks}
    robots = {r.spec.id: r for r in problem.robots}
    at = {k: (instance.robot_ids[schedule.robot_of[i]], float(schedule.start[i]),
              float(schedule.end[i])) for i, k in enumerate(instance.keys)}
    if set(at) != set(tasks):
        errors.append("not every task is scheduled")

    def first(t: Task) -> str:
        return t.pickup if t.kind is TaskKind.TRANSPORT else t.cell

    def last(t: Task) -> str:
        return t.dropoff if t.kind is TaskKind.TRANSPORT else t.cell

    def ahead(t: Task) -> bool:
        return t.kind is TaskKind.WELD or t.pickup in ("cell", "cell-b")

    def drive(r: Candidate, metres: float) -> float:
        return 0.0 if r.spec.kind is RobotKind.FIXED_WELDER else math.ceil(
            metres / r.spec.max_speed_mps - 1e-9)

    ready: dict[TaskKey, float] = {}
    for key, (m, t) in tasks.items():
        rid, start, end = at[key]
        r = robots[rid]
        if t.kind is TaskKind.TRANSPORT:
            work: float = math.ceil(abs(X[t.pickup] - X[t.dropoff]) / r.spec.max_speed_mps
                             + 2 * HANDLING - 1e-9)
            if r.spec.kind is RobotKind.FIXED_WELDER:
                errors.append(f"{key}: a fixed welder carries")
        else:
            work = t.duration_s
            if r.spec.kind is RobotKind.AGV or (r.spec.kind is RobotKind.FIXED_WELDER
                                                and r.home_station != t.cell):
                errors.append(f"{key}: {rid} cannot weld there")
        into_cell = t.kind is TaskKind.TRANSPORT and t.dropoff in ("cell", "cell-b")
        if abs(end - start - work) > 1e-6 and not (staged and into_cell
                                                    and end - start > work):
            errors.append(f"{key}: lasts {end - start}, not {work}")
        ready[key] = max([m.release_s or 0.0] + [at[TaskKey(m.id, d)][2] + t.delay_s
                                                 for d in t.depends_on])
        if start < ready[key] - 1e-6:
            errors.append(f"{key}: starts {start} before ready {ready[key]}")
    # Robots: one task at a time, with the drive between (from where each robot stands).
    offer: dict[TaskKey, float] = {}
    depart: dict[TaskKey, float] = {}
    for rid, r in robots.items():
        mine = sorted((k for k in at if at[k][0] == rid), key=lambda k: at[k][1])
        prev_end: float = 0.0
        here: float = r.cell[1]
        for k in mine:
            _, t = tasks[k]
            _, start, end = at[k]
            setup = drive(r, abs(here - X[first(t)]))
            if start < prev_end + setup - 1e-6:
                errors.append(f"{k}: {rid} cannot be there by {start}")
            # The latest it can have been given out: a robot sets off for work it may not
            # drive to ahead only once it is given out.
            offer[k] = start if ahead(t) else start - setup
            depart[k] = start - setup
            if offer[k] < ready[k] - 1e-6:
                errors.append(f"{k}: {rid} set off before it was given out")
            prev_end, here = end, X[last(t)]
    # Cells: from a transport in being given out until the part is picked again, one part.
    for cell in ("cell", "cell-b"):
        spans = []
        for m in problem.missions:
            into = next(t for t in m.tasks if t.kind is TaskKind.TRANSPORT and t.dropoff == cell) \
                if any(t.dropoff == cell for t in m.tasks) else None
            if into is None:
                continue
            out = next(t for t in m.tasks if t.kind is TaskKind.TRANSPORT and t.pickup == cell)
            kin, kout = TaskKey(m.id, into.id), TaskKey(m.id, out.id)
            spans.append((offer[kin], at[kout][1] + HANDLING, m.id, at[kin][2] - HANDLING,
                          depart[kout]))
        spans.sort(key=lambda span: span[3])  # by drop
        for (_, a1, ma, _, a_going), (b0, _, mb, b_drop, _) in itertools.pairwise(spans):
            if staged:
                if b0 < a_going - 1e-6:
                    errors.append(f"{cell}: {mb} fetched at {b0} before {ma}'s take-out "
                                  f"was given out ({a_going})")
                if b_drop < a1 - 1e-6:
                    errors.append(f"{cell}: {mb} dropped at {b_drop} while {ma} holds it "
                                  f"to {a1}")
            elif b0 < a1 - 1e-6:
                errors.append(f"{cell}: {mb} given out at {b0} while {ma} holds it to {a1}")
    return errors


def random_problem(rng: random.Random) -> Problem:
    missions = []
    for k in range(rng.randint(1, 6)):
        missions.append(part(f"m{k}", cell=rng.choice(("cell", "cell-b")),
                             weld_s=rng.randint(10, 60), delay_s=rng.choice((0, 0, 15)),
                             release_s=rng.choice((None, 10.0 * k))))
    robots = [agv(f"agv-{j}", at=rng.choice(list(X)), speed=rng.choice((1.0, 1.5)))
              for j in range(rng.randint(1, 3))]
    robots.append(fixed_welder("fixed", "cell"))
    robots += [mobile_welder(f"welder-{j}", at=rng.choice(list(X)))
               for j in range(rng.randint(1, 2))]
    return Problem(missions, robots)


@pytest.mark.parametrize("seed", range(40))
def test_every_decoded_schedule_keeps_the_model_constraints(seed: int) -> None:
    rng = random.Random(seed)
    problem = random_problem(rng)
    instance = instance_of(problem.missions, problem.robots)
    n = instance.size
    # Any priority list and any capable robot per task: the decoder makes it feasible.
    order = np.array(rng.sample(range(n), n), dtype=np.int64)
    robot_of = np.array([rng.choice(np.flatnonzero(instance.able[t]).tolist())
                         for t in range(n)], dtype=np.int64)
    for schedule in (decode(instance, order, robot_of), greedy_schedule(instance),
                     improve(instance, greedy_schedule(instance), iterations=50, destroy=3,
                             seed=seed)):
        assert math.isfinite(schedule.makespan_s)
        assert check(problem, instance, schedule) == []


@pytest.mark.parametrize("seed", range(40))
def test_staged_parts_keep_a_full_cell_to_one_part_and_never_deadlock(seed: int) -> None:
    rng = random.Random(1000 + seed)
    problem = random_problem(rng)
    instance = instance_of(problem.missions, problem.robots, stage=True)
    n = instance.size
    order = np.array(rng.sample(range(n), n), dtype=np.int64)
    robot_of = np.array([rng.choice(np.flatnonzero(instance.able[t]).tolist())
                         for t in range(n)], dtype=np.int64)
    for schedule in (decode(instance, order, robot_of), greedy_schedule(instance),
                     improve(instance, greedy_schedule(instance), iterations=50, destroy=3,
                             seed=seed)):
        # Every list decodes to a finite schedule: no staged part waits on a cell forever.
        assert math.isfinite(schedule.makespan_s)
        assert check(problem, instance, schedule, staged=True) == []


def test_the_checker_finds_a_broken_schedule() -> None:
    """The oracle must be able to fail: a schedule moved earlier by hand breaks it."""
    problem = Problem([part("a"), part("b")], [agv("agv-1"), agv("agv-2"),
                                               fixed_welder("fixed")])
    instance = instance_of(problem.missions, problem.robots)
    s = greedy_schedule(instance)
    broken = Schedule(s.order, s.robot_of, s.start - 5.0, s.end - 5.0, s.sequence,
                      s.makespan_s, s.cost)
    assert check(problem, instance, s) == []
    assert check(problem, instance, broken) != []


# -- the search ---------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_lns_is_never_worse_than_its_greedy_start(seed: int) -> None:
    problem = random_problem(random.Random(100 + seed))
    instance = instance_of(problem.missions, problem.robots)
    start = greedy_schedule(instance, mean_weight=0.05)
    better = improve(instance, start, iterations=80, destroy=4, seed=seed, mean_weight=0.05)
    assert better.cost <= start.cost
    assert check(problem, instance, better) == []


def test_the_search_is_deterministic_by_seed() -> None:
    problem = random_problem(random.Random(7))
    instance = instance_of(problem.missions, problem.robots)
    start = greedy_schedule(instance, 0.05)
    runs = [improve(instance, start, iterations=60, destroy=4, seed=3, mean_weight=0.05)
            for _ in range(2)]
    assert runs[0].order.tolist() == runs[1].order.tolist()
    assert runs[0].robot_of.tolist() == runs[1].robot_of.tolist()
    assert runs[0].cost == runs[1].cost


def test_lns_reaches_the_cp_sat_optimum_on_a_small_line() -> None:
    pytest.importorskip("ortools", reason="CP-SAT (ortools, the bench extra) is not installed")
    from bench.abstract import solve_cpsat, start_stations
    from bench.dispatch import PLANT, grid_travel, small_line
    from fleet.floor import load_floor

    floor = load_floor(PLANT)
    travel, cells = grid_travel(floor)
    line = small_line(floor, 3)
    optimum, proven = solve_cpsat(floor, line, travel, 30.0)
    assert proven
    starts = start_stations(floor, line)
    robots = [Candidate(spec, line.home_cells.get(spec.id, ""), cells[starts[spec.id]])
              for spec, _ in line.robots]
    records = [MissionRecord.new(m, k) for k, m in enumerate(line.missions)]
    outlook = Outlook(records, {}, Inventory(floor.stations, {}))
    instance, _ = build_instance([], robots, 0.0, travel, outlook, handling_s=HANDLING)
    best = improve(instance, greedy_schedule(instance), iterations=3000, destroy=4, seed=0)
    assert best.makespan_s == pytest.approx(optimum)


# -- the dispatcher -----------------------------------------------------------------------

def test_the_dispatcher_gives_out_only_what_starts_now_and_never_overfills_a_cell() -> None:
    from fleet.dispatch import Job

    missions = [part("a"), part("b")]
    records = [MissionRecord.new(m, k) for k, m in enumerate(missions)]
    outlook = Outlook(records, {}, Inventory(STATIONS, {}))
    jobs = [Job(m.id, m.tasks[0], 0, None, k, "cut") for k, m in enumerate(missions)]
    robots = [agv("agv-1"), agv("agv-2"), fixed_welder("fixed")]
    out = ScheduleDispatcher(speed_factor=1.0).assign(jobs, robots, 0.0, TRAVEL, outlook)
    # Both parts go to the one cell: only one transport into it now.
    assert len(out) == 1 and out[0].job.task.id == "in"
    assert "schedule of 6 tasks" in out[0].reason


@pytest.mark.parametrize("under_way", [True, False])
def test_a_part_is_staged_at_a_full_cell_only_on_a_take_out_under_way(under_way: bool) -> None:
    a, b = MissionRecord.new(part("a"), 0), MissionRecord.new(part("b"), 1)
    for task_id in ("in", "weld"):
        a.tasks[task_id].state, a.tasks[task_id].done_s = TaskState.DONE, 0.0
    a.tasks["in"].steps_done = 4
    # a's take-out is agv-1's: its current work, or queued behind other work.
    a.tasks["out"].state, a.tasks["out"].robot_id = TaskState.ASSIGNED, "agv-1"
    going = {TaskKey("a", "out"): 30.0} if under_way else {}
    outlook = Outlook([a, b], going, Inventory(STATIONS, {"cell": ["a-part"]}))
    job = Job("b", b.mission.tasks[0], 0, None, 1, "cut", ready_in_s=1.0)
    out = ScheduleDispatcher(speed_factor=1.0).assign([job], [agv("agv-2")], 0.0, TRAVEL,
                                                       outlook)
    # Staged, agv-2 fetches b's part now and waits next to the cell; never on a take-out
    # that might wait behind anything else.
    assert [(x.job.mission_id, x.robot_id) for x in out] == (
        [("b", "agv-2")] if under_way else [])


def test_the_dispatcher_is_deterministic() -> None:
    from fleet.dispatch import Job

    def once() -> list[tuple[str, str]]:
        missions = [part("a"), part("b", cell="cell-b"), part("c", release_s=30.0)]
        records = [MissionRecord.new(m, k) for k, m in enumerate(missions)]
        outlook = Outlook(records, {}, Inventory(STATIONS, {}))
        jobs = [Job(m.id, m.tasks[0], 0, None, k, "cut") for k, m in enumerate(missions[:2])]
        d = ScheduleDispatcher(speed_factor=1.0, time_budget_s=math.inf)
        out = d.assign(jobs, [agv("agv-1"), agv("agv-2", at="paint"), fixed_welder("fixed"),
                              mobile_welder("welder")], 0.0, TRAVEL, outlook)
        return [(a.job.mission_id, a.robot_id) for a in out]

    assert once() == once()


def test_no_feasible_schedule_falls_back_to_cost_and_says_so_once(
        caplog: pytest.LogCaptureFixture) -> None:
    """A part nobody takes out fills the cell b's part must go to: no schedule exists. The
    round assigns by cost; the log says so when it begins and when it ends, not each round."""
    import logging

    from fleet.dispatch import Job

    b = MissionRecord.new(part("b"), 0)
    job = Job("b", b.mission.tasks[0], 0, None, 0, "cut")
    robots = [agv("agv-1"), fixed_welder("fixed")]
    dispatcher = ScheduleDispatcher(speed_factor=1.0)
    stuck = Outlook([b], {}, Inventory(STATIONS, {"cell": ["stray-part"]}))
    with caplog.at_level(logging.DEBUG, logger="fleet.dispatch.schedule"):
        for now in (0.0, 1.0, 2.0):
            dispatcher.assign([job], robots, now, TRAVEL, stuck)
            assert dispatcher.last is not None
            assert not math.isfinite(dispatcher.last.makespan_s)
        dispatcher.assign([job], robots, 3.0, TRAVEL,
                          Outlook([b], {}, Inventory(STATIONS, {})))
    said = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in said] == [logging.WARNING, logging.DEBUG, logging.DEBUG,
                                            logging.INFO]
    assert "no feasible schedule of" in said[0][1] and "feasible schedule again" in said[3][1]
