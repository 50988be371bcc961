"""The line without traffic: a discrete-event model in which dispatchers and CP-SAT compete.

Robots drive station to station along the planning grid's shortest paths at their top speed
(no other robots in the way), picks and drops take `HANDLING_S`, welds their duration. Tasks
become ready by the coordinator's rules (release, dependencies and start delay, the weld's part
in the cell, room in the destination cell). The same model, written as a CP-SAT program, gives
the optimum for small instances; the gap between a dispatcher and that optimum is measured
here, where both see the same world.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.line import Line
from fleet.dispatch import (
    Candidate,
    Dispatcher,
    GridTravel,
    Inventory,
    Job,
    Outlook,
    capable,
    cell_backlogs,
    holding_station,
    mission_tails,
    reserved_shares,
    waiting_part,
)
from fleet.floor import FloorMap, StationKind
from fleet.model import (
    Cell,
    Mission,
    MissionRecord,
    RobotKind,
    RobotSpec,
    Task,
    TaskKey,
    TaskKind,
    TaskState,
)

HANDLING_S = 20.0
_HOLDING = {StationKind.BUFFER, StationKind.WELD_CELL}


@dataclass(slots=True)
class _Robot:
    spec: RobotSpec
    cell: Cell
    """Where it stands, or will stand once its current task is done."""
    home: str
    free_at: float = 0.0
    busy_s: float = 0.0
    queue: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Gate:
    """A task given out ahead: its robot drives to the first station and waits there."""

    key: tuple[str, str]
    depart_s: float
    origin: Cell
    arrive_s: float
    work_s: float


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a run achieved, in the line's terms."""

    makespan_s: float
    tardiness_s: float
    utilization: float
    completed: int

    @property
    def parts_per_hour(self) -> float:
        return 3600.0 * self.completed / self.makespan_s if self.makespan_s > 0 else 0.0


def start_stations(floor: FloorMap, line: Line) -> dict[str, str]:
    """The station each robot starts on (fixed welders: their cell)."""
    out = {}
    for spec, pose in line.robots:
        if spec.id in line.home_cells:
            out[spec.id] = line.home_cells[spec.id]
            continue
        out[spec.id] = min(floor.stations.values(), key=lambda s: math.hypot(
            s.pose.x - pose.x, s.pose.y - pose.y)).id
    return out


def work_seconds(task: Task, spec: RobotSpec, travel: GridTravel) -> tuple[float, str]:
    """(seconds of the task itself once its robot stands at the first station, the station
    where it ends)."""
    if task.kind is TaskKind.TRANSPORT:
        return (travel.between_m(task.pickup, task.dropoff) / spec.max_speed_mps
                + 2 * HANDLING_S, task.dropoff)
    return task.duration_s, task.cell


def task_seconds(task: Task, spec: RobotSpec, here: Cell, travel: GridTravel) -> tuple[
        float, float, str]:
    """(seconds from cell `here` to the first station, seconds of the task itself, the
    station where it ends)."""
    drive = 0.0 if spec.kind is RobotKind.FIXED_WELDER else travel.from_cell_m(
        here, _first(task)) / spec.max_speed_mps
    return (drive, *work_seconds(task, spec, travel))


def cell_along(travel: GridTravel, start: Cell, station: str, cells: int) -> Cell:
    """The cell a robot reaches after driving `cells` cells of a shortest path from `start`
    towards the station (downhill in the station's cost-to-go table)."""
    table = travel.table(station)
    here = start
    rows, cols = table.shape
    for _ in range(cells):
        r, c = here
        best = here
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nr < rows and 0 <= nc < cols and table[nr, nc] < table[best]:
                best = (nr, nc)
        if best == here:
            break
        here = best
    return here


def simulate(floor: FloorMap, line: Line, dispatcher: Dispatcher, travel: GridTravel,
             cells: dict[str, Cell], dt_s: float = 1.0, limit_s: float = 50000.0,
             trace: list[tuple[float, str, str, float, float]] | None = None) -> Outcome:
    """Run the line with this dispatcher in the traffic-free model.

    As in the coordinator, work given out ahead is offered again (`Job.holder`) while its
    robot drives there or waits: the dispatcher may keep it, give it to another robot, or
    give the holder other work from where it stands on its way (the held task goes back).
    """
    starts = start_stations(floor, line)
    robots = {spec.id: _Robot(spec, cells[starts[spec.id]],
                              line.home_cells.get(spec.id, "")) for spec, _ in line.robots}
    missions = {m.id: m for m in line.missions}
    order = {m.id: i for i, m in enumerate(line.missions)}
    tasks = {(m.id, t.id): t for m in line.missions for t in m.tasks}
    state = dict.fromkeys(tasks, "pending")
    done_at: dict[tuple[str, str], float] = {}
    contents: dict[str, list[str]] = {s: [] for s in floor.stations}
    # (time, kind, key, robot): "pick" / "drop" / "done" at absolute times
    events: list[tuple[float, str, tuple[str, str], str]] = []
    nominal = RobotSpec("x", RobotKind.AGV, 0.4, 1.0)
    tails = {m.id: mission_tails(m.tasks, lambda t: work_seconds(t, nominal, travel)[0])
             for m in line.missions}
    gated: dict[str, _Gate] = {}
    """Robots on their way to (or at) a task's first station, waiting for it to be ready."""

    def ready_time(key: tuple[str, str]) -> float | None:
        mid, _ = key
        task = tasks[key]
        deps = [(mid, d) for d in task.depends_on]
        if not all(state[d] == "done" for d in deps):
            return None
        return max([missions[mid].release_s or 0.0, *(done_at[d] + task.delay_s for d in deps)])

    def begin(robot: _Robot, key: tuple[str, str], at: float) -> None:
        task = tasks[key]
        approach, work, end = task_seconds(task, robot.spec, robot.cell, travel)
        state[key] = "active"
        robot.busy_s += approach
        gated[robot.spec.id] = _Gate(key, at, robot.cell, at + approach, work)
        robot.cell = cells[end]
        robot.free_at = math.inf
        release_gates(at)

    def position(rid: str, now: float) -> Cell:
        """Where a robot holding work given out ahead stands now."""
        gate, robot = gated[rid], robots[rid]
        first = _first(tasks[gate.key])
        if now >= gate.arrive_s or robot.spec.kind is RobotKind.FIXED_WELDER:
            return cells[first]
        driven = (now - gate.depart_s) * robot.spec.max_speed_mps
        return cell_along(travel, gate.origin, first, int(driven / floor.resolution_m))

    def let_go(rid: str, now: float) -> None:
        """The holder gives its task back and stands free where it is."""
        gate, robot = gated[rid], robots[rid]
        robot.cell = position(rid, now)
        del gated[rid]
        robot.busy_s -= max(0.0, gate.arrive_s - now)
        robot.free_at = now
        if state[gate.key] == "active":
            state[gate.key] = "pending"

    def release_gates(now: float) -> None:
        for rid in sorted(gated):
            gate = gated[rid]
            ready = ready_time(gate.key)
            if ready is None or ready > now + 1e-9:
                continue
            del gated[rid]
            robot = robots[rid]
            go = max(gate.arrive_s, ready)
            if tasks[gate.key].kind is TaskKind.TRANSPORT:
                events.append((go + HANDLING_S, "pick", gate.key, rid))
            events.append((go + gate.work_s, "done", gate.key, rid))
            robot.free_at = go + gate.work_s
            robot.busy_s += gate.work_s
            if trace is not None:
                trace.append((now, rid, f"{gate.key[0]}/{gate.key[1]}", go, go + gate.work_s))

    def is_holding(station: str) -> bool:
        return floor.stations[station].kind in _HOLDING

    t = 0.0
    while t < limit_s and any(s != "done" for s in state.values()):
        t += dt_s
        events.sort()
        while events and events[0][0] <= t + 1e-9:
            when, kind, key, rid = events.pop(0)
            task = tasks[key]
            if kind == "pick":
                if task.load_id in contents[task.pickup]:
                    contents[task.pickup].remove(task.load_id)
                continue
            state[key], done_at[key] = "done", when
            if task.kind is TaskKind.TRANSPORT and is_holding(task.dropoff):
                contents[task.dropoff].append(task.load_id)
            robot = robots[rid]
            if robot.queue:
                begin(robot, robot.queue.pop(0), when)
            release_gates(when)
        release_gates(t)
        # Loads in each cell plus transports given out and not yet dropped there.
        holding = {s: len(v) for s, v in contents.items()}
        for key, s in state.items():
            if s in ("assigned", "active") and tasks[key].kind is TaskKind.TRANSPORT:
                holding[tasks[key].dropoff] += 1
        backlog = cell_backlogs([
            waiting_part(t_.dropoff, f"{k[0]}/{k[1]}", missions[k[0]].tasks, t_,
                         tails[k[0]][t_.id])
            for k, t_ in tasks.items() if state[k] == "pending"
            and t_.kind is TaskKind.TRANSPORT and is_holding(t_.dropoff)])
        held = {g.key: rid for rid, g in gated.items() if _reoptimizable(tasks[g.key])}
        jobs = []
        for key in [*held, *(k for k, s in state.items() if s == "pending")]:
            mid, _ = key
            mission, task = missions[mid], tasks[key]
            if (mission.release_s or 0.0) > t:
                continue
            deps = [(mid, d) for d in task.depends_on]
            ready = ready_time(key)
            if ready is None and all(state[d] in ("done", "active") for d in deps):
                # Predecessors under way: ready when the last is done and its delay is over.
                ends = [done_at[d] if state[d] == "done" else next(
                    (e[0] for e in events if e[1] == "done" and e[2] == d), None)
                    for d in deps]
                if all(e is not None for e in ends):
                    ready = max([mission.release_s or 0.0,
                                 *(e + task.delay_s for e in ends if e is not None)])
            if ready is None:
                continue
            if ready > t and not (task.kind is TaskKind.WELD or is_holding(task.pickup or "")):
                continue  # look-ahead is for the weld cells' work only, as in the coordinator
            if task.kind is TaskKind.WELD and ready <= t and \
                    task.load_id not in contents[task.cell]:
                continue
            if key not in held and task.kind is TaskKind.TRANSPORT and \
                    is_holding(task.dropoff):
                if holding[task.dropoff] >= floor.stations[task.dropoff].capacity:
                    continue
                if not dispatcher.schedules_ahead:
                    holding[task.dropoff] += 1
            cell = holding_station(mission.tasks, task, is_holding)
            jobs.append(Job(mid, task, mission.priority, mission.deadline_s, order[mid],
                            _first(task), ready, tails[mid][task.id],
                            backlog(cell, f"{mid}/{task.id}") if cell else 0.0,
                            max(0.0, ready - t), held.get(key, "")))
        if not jobs:
            continue
        fleet = [Candidate(r.spec, r.home) for r in robots.values()]
        reserved = reserved_shares(
            [(tasks[k], work_seconds(tasks[k], nominal, travel)[0]) for k, s_ in state.items()
             if s_ == "pending" and (missions[k[0]].release_s or 0.0) <= t],
            fleet, capable)
        candidates = []
        for rid in sorted(robots):
            robot = robots[rid]
            if robot.queue:
                continue
            if rid in gated and gated[rid].key not in held:
                continue
            if rid in gated:
                candidates.append(Candidate(robot.spec, robot.home, position(rid, t), 0.0,
                                            1.0, reserved.get(rid, 0.0)))
                continue
            free_in = max(0.0, robot.free_at - t)
            candidates.append(Candidate(robot.spec, robot.home, robot.cell, free_in, 1.0,
                                        reserved.get(rid, 0.0)))
        if dispatcher.schedules_ahead:
            out = dispatcher.assign(jobs, candidates, t, travel, outlook(
                t, missions, order, tasks, state, done_at, events, gated, contents, floor))
        else:
            out = dispatcher.assign(jobs, candidates, t, travel)
        given = {(a.job.mission_id, a.job.task.id): a.robot_id for a in out}
        got = {a.robot_id: (a.job.mission_id, a.job.task.id) for a in out}
        for rid in sorted(gated):
            key = gated[rid].key
            if key not in held:
                continue
            if got.get(rid, key) != key or given.get(key, rid) != rid:
                let_go(rid, t)
        for a in out:
            key = (a.job.mission_id, a.job.task.id)
            robot = robots[a.robot_id]
            gate = gated.get(a.robot_id)
            if gate is not None and gate.key == key:
                continue
            if robot.free_at <= t + 1e-9:
                begin(robot, key, t)
            else:
                state[key] = "assigned"
                robot.queue.append(key)
    finish = {mid: max(done_at.get((mid, x.id), math.inf) for x in m.tasks)
              for mid, m in missions.items()}
    done = [f for f in finish.values() if math.isfinite(f)]
    makespan = max(done, default=0.0)
    tardiness = sum(max(0.0, finish[mid] - (m.deadline_s or math.inf))
                    for mid, m in missions.items() if math.isfinite(finish[mid]))
    busy = sum(r.busy_s for r in robots.values() if r.spec.kind is not RobotKind.FIXED_WELDER)
    mobile = sum(r.spec.kind is not RobotKind.FIXED_WELDER for r in robots.values())
    return Outcome(makespan, tardiness, busy / (mobile * makespan) if makespan else 0.0,
                   len(done))


def outlook(now: float, missions: dict[str, Mission], order: dict[str, int],
            tasks: dict[tuple[str, str], Task], state: dict[tuple[str, str], str],
            done_at: dict[tuple[str, str], float],
            events: list[tuple[float, str, tuple[str, str], str]], gated: dict[str, _Gate],
            contents: dict[str, list[str]],
            floor: FloorMap) -> Outlook:
    """The model's state as the coordinator would show it to a dispatcher."""
    states = {"pending": TaskState.PENDING, "assigned": TaskState.ASSIGNED,
              "active": TaskState.ACTIVE, "done": TaskState.DONE}
    records = []
    for mid, m in missions.items():
        record = MissionRecord.new(m, order[mid])
        for t in m.tasks:
            tr = record.tasks[t.id]
            tr.state = states[state[(mid, t.id)]]
            tr.done_s = done_at.get((mid, t.id))
        records.append(record)
    under_way: dict[TaskKey, float] = {}
    for when, kind, key, _ in events:
        if kind == "done":
            under_way[TaskKey(*key)] = max(0.0, when - now)
    for gate in gated.values():
        under_way.setdefault(TaskKey(*gate.key), max(0.0, gate.arrive_s - now) + gate.work_s)
    return Outlook(records, under_way, Inventory(floor.stations, contents))


def _reoptimizable(task: Task) -> bool:
    """Work given out ahead that may change hands, as in the coordinator: a weld."""
    return task.kind is TaskKind.WELD


def _first(task: Task) -> str:
    """The station where a task begins."""
    return task.pickup if task.kind is TaskKind.TRANSPORT else task.cell


def solve_cpsat(floor: FloorMap, line: Line, travel: GridTravel, time_limit_s: float = 60.0,
                trace: list[tuple[float, str, str, float, float]] | None = None
                ) -> tuple[float, bool]:
    """The minimum makespan of the traffic-free model (CP-SAT); (makespan s, proven optimal)."""
    best, proven, _ = solve_cpsat_bound(floor, line, travel, time_limit_s, trace)
    return best, proven


def solve_cpsat_bound(floor: FloorMap, line: Line, travel: GridTravel,
                      time_limit_s: float = 60.0,
                      trace: list[tuple[float, str, str, float, float]] | None = None
                      ) -> tuple[float, bool, float]:
    """CP-SAT on the traffic-free model: (best makespan found s, proven optimal, best lower
    bound on the makespan s)."""
    from ortools.sat.python import cp_model

    starts = start_stations(floor, line)
    specs = [spec for spec, _ in line.robots]
    keys = [(m.id, t.id) for m in line.missions for t in m.tasks]
    tasks = {(m.id, t.id): t for m in line.missions for t in m.tasks}
    mission_of = {m.id: m for m in line.missions}
    # Fixed welders sit at their cell; others start where they stand.
    home = line.home_cells

    def last(task: Task) -> str:
        return task.dropoff if task.kind is TaskKind.TRANSPORT else task.cell

    def ahead(task: Task) -> bool:
        return task.kind is TaskKind.WELD or floor.stations[task.pickup].kind in _HOLDING

    def able(spec: RobotSpec, task: Task) -> bool:
        return capable(Candidate(spec, home.get(spec.id, "")), task)

    def setup(spec: RobotSpec, src: str, task: Task) -> int:
        if spec.kind is RobotKind.FIXED_WELDER:
            return 0
        return math.ceil(travel.between_m(src, _first(task)) / spec.max_speed_mps)

    def work(spec: RobotSpec, task: Task) -> int:
        return math.ceil(work_seconds(task, spec, travel)[0])

    horizon = int(sum(max(work(s, tasks[k]) + setup(s, starts[s.id], tasks[k]) for s in specs
                          if able(s, tasks[k])) + 600 for k in keys)
                  + max((m.release_s or 0) for m in line.missions))
    model = cp_model.CpModel()
    start = {k: model.new_int_var(0, horizon, f"s{k}") for k in keys}   # robot at first station
    end = {k: model.new_int_var(0, horizon, f"e{k}") for k in keys}
    ready = {k: model.new_int_var(0, horizon, f"r{k}") for k in keys}
    # When the task is given to its robot: not before it is ready (nor, for a transport into
    # a cell, before the cell has room); the robot sets off for it then.
    offer = {k: model.new_int_var(0, horizon, f"o{k}") for k in keys}
    for k in keys:
        mid, _ = k
        task = tasks[k]
        model.add(ready[k] >= int(mission_of[mid].release_s or 0))
        for d in task.depends_on:
            model.add(ready[k] >= end[(mid, d)] + math.ceil(task.delay_s))
        model.add(offer[k] >= ready[k])
        model.add(start[k] >= offer[k])
    on: dict[tuple[tuple[str, str], str], cp_model.IntVar] = {}
    for spec in specs:
        mine = [k for k in keys if able(spec, tasks[k])]
        for k in mine:
            on[k, spec.id] = model.new_bool_var(f"on{k}{spec.id}")
            model.add(end[k] == start[k] + work(spec, tasks[k])).only_enforce_if(on[k, spec.id])
        # One route per robot through the tasks it does (node 0: its start, and the end).
        arcs = []
        index = {k: i + 1 for i, k in enumerate(mine)}
        for k in mine:
            lit = on[k, spec.id]
            arcs.append((index[k], index[k], ~lit))
            first_lit = model.new_bool_var("")
            arcs.append((0, index[k], first_lit))
            # A robot may set off for a weld cell's work before it is ready (look-ahead)
            # and wait there; for other work it sets off once the work is given out.
            model.add(start[k] >= (0 if ahead(tasks[k]) else offer[k])
                      + setup(spec, starts[spec.id], tasks[k])).only_enforce_if(first_lit)
            arcs.append((index[k], 0, model.new_bool_var("")))
            for j in mine:
                if j == k:
                    continue
                lit2 = model.new_bool_var("")
                arcs.append((index[k], index[j], lit2))
                gap = setup(spec, last(tasks[k]), tasks[j])
                model.add(start[j] >= end[k] + gap).only_enforce_if(lit2)
                if not ahead(tasks[j]):
                    model.add(start[j] >= offer[j] + gap).only_enforce_if(lit2)
        if mine:
            arcs.append((0, 0, model.new_bool_var("")))
            model.add_circuit(arcs)
    for k in keys:
        model.add_exactly_one(on[k, s.id] for s in specs if (k, s.id) in on)
    # A weld cell's fixture holds one part: from its drop until the next transport picks it.
    for cell in {t.dropoff for t in tasks.values() if t.kind is TaskKind.TRANSPORT
                 and floor.stations[t.dropoff].kind in _HOLDING}:
        intervals = []
        for m in line.missions:
            into = [t for t in m.tasks if t.kind is TaskKind.TRANSPORT and t.dropoff == cell]
            out = [t for t in m.tasks if t.kind is TaskKind.TRANSPORT and t.pickup == cell]
            for t_in in into:
                leaving = [t for t in out if t.load_id == t_in.load_id]
                lo = end[(m.id, t_in.id)]
                hi = start[(m.id, leaving[0].id)] + math.ceil(HANDLING_S) if leaving else \
                    model.new_constant(horizon)
                # The cell is reserved from when the transport into it is given out until
                # the part is picked again.
                begin = offer[(m.id, t_in.id)]
                model.add(begin <= lo)
                size = model.new_int_var(0, horizon, "")
                stop = model.new_int_var(0, horizon, "")
                model.add(stop == hi)
                intervals.append(model.new_interval_var(begin, size, stop, ""))
        model.add_no_overlap(intervals)
    makespan = model.new_int_var(0, horizon, "makespan")
    for k in keys:
        model.add(makespan >= end[k])
    model.minimize(makespan)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = 2
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return math.nan, False, float(solver.best_objective_bound)
    if trace is not None:
        for (k, rid), lit in on.items():
            if solver.value(lit):
                trace.append((float(solver.value(ready[k])), rid, f"{k[0]}/{k[1]}",
                              float(solver.value(start[k])), float(solver.value(end[k]))))
    return (float(solver.value(makespan)), status == cp_model.OPTIMAL,
            float(solver.best_objective_bound))


def dispatchers() -> Sequence[tuple[str, Dispatcher]]:
    """The contestants."""
    from fleet.dispatch import NearestDispatcher, OptimalDispatcher
    return (("optimal", OptimalDispatcher()), ("nearest", NearestDispatcher()))

