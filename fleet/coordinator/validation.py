"""What the coordinator accepts: missions the floor and the fleet can do, robots that fit.

Every check raises the project's error with the field it concerns and the offending value;
nothing is changed before every check has passed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from fleet.coordinator.robots import RobotRecord
from fleet.coordinator.site import Site
from fleet.dispatch import PINNED_KINDS, Candidate, capable
from fleet.floor import Station, StationKind
from fleet.model import (
    Cell,
    FleetError,
    InfeasibleError,
    InvalidInputError,
    Mission,
    NotFoundError,
    Pose,
    Reason,
    RobotKind,
    RobotSpec,
    Task,
    TaskKind,
    UnavailableError,
    Violations,
    check_id,
    shorten,
)

__all__ = ["MAX_REASON", "MAX_TASKS", "RETRY_AFTER_S", "cell_at", "check_mission", "check_spec",
           "home_of"]

MAX_TASKS = 1000
"""Most tasks in one mission: a production order's routing has tens; a larger graph is
refused rather than slowing every control step for every mission."""
MAX_REASON = 200
"""Longest operator reason accepted (pause), in characters."""
RETRY_AFTER_S = 5.0
"""The retry hint of a mission refused only until robots of the roster register again."""

_PICKUP_KINDS = {StationKind.PICKUP, StationKind.BUFFER, StationKind.WELD_CELL,
                 StationKind.DROPOFF}


def check_spec(spec: RobotSpec, resolution_m: float) -> None:
    """A robot's registration: it must fit a planning cell and declare what it can do."""
    check_id("robot_id", spec.id)
    limit = 0.45 * resolution_m
    if not (0 < spec.radius_m <= limit):
        raise InvalidInputError(
            f"footprint_radius_m {spec.radius_m} must be above 0 and at most {limit:.3f} m "
            f"(robots must fit in 90 % of a {resolution_m} m planning cell)",
            field="footprint_radius_m", value=spec.radius_m, reason=Reason.OUT_OF_RANGE)
    if not (0 < spec.max_speed_mps < 20):
        raise InvalidInputError(f"max_speed_mps {spec.max_speed_mps} must be in (0, 20)",
                                field="max_speed_mps", value=spec.max_speed_mps,
                                reason=Reason.OUT_OF_RANGE)
    if spec.kind is RobotKind.AGV and spec.transport is None:
        raise InvalidInputError("an AGV must declare its transport capability",
                                field="transport", value=None, reason=Reason.REQUIRED)
    if spec.kind is not RobotKind.AGV and spec.weld is None:
        raise InvalidInputError(f"a {spec.kind.value} must declare its weld programs",
                                field="weld", value=None, reason=Reason.REQUIRED)
    if spec.transport is not None and not (spec.transport.max_payload_kg > 0):
        raise InvalidInputError(
            f"transport.max_payload_kg {spec.transport.max_payload_kg} must be positive",
            field="transport.max_payload_kg", value=spec.transport.max_payload_kg,
            reason=Reason.OUT_OF_RANGE)
    if spec.weld is not None:
        if not spec.weld.programs:
            raise InvalidInputError("weld.programs must name at least one program",
                                    field="weld.programs", value=[], reason=Reason.REQUIRED)
        for program in sorted(spec.weld.programs):
            check_id("weld.programs", program)


def home_of(site: Site, spec: RobotSpec, pose: Pose) -> str:
    """A fixed welder's weld cell: the one within 3 m of where it stands ("" for others)."""
    if spec.kind is not RobotKind.FIXED_WELDER:
        return ""
    cells = [site.stations[s] for s in site.weld_cells]
    near = min(cells, key=lambda s: math.hypot(s.pose.x - pose.x, s.pose.y - pose.y),
               default=None)
    if near is None or math.hypot(near.pose.x - pose.x, near.pose.y - pose.y) > 3.0:
        raise InfeasibleError("a fixed welder must stand within 3 m of a weld cell station",
                              field="pose", value=(pose.x, pose.y))
    return near.id


def cell_at(site: Site, pose: Pose, tolerance: float) -> Cell:
    """The drivable cell a registering robot stands on, within `tolerance` of a cell (as a
    fraction of its size) of its centre."""
    grid = site.grid
    try:
        cell = grid.cell_of(pose.x, pose.y)
    except InvalidInputError as err:
        raise InvalidInputError(f"pose ({pose.x}, {pose.y}) is off the floor",
                                field="pose", value=(pose.x, pose.y)) from err
    cx, cy = grid.center_of(cell)
    tol = tolerance * site.floor.resolution_m
    if not grid.is_free(cell):
        raise InfeasibleError(f"pose ({pose.x}, {pose.y}) is not on a drivable cell",
                              field="pose", value=(pose.x, pose.y))
    if math.hypot(cx - pose.x, cy - pose.y) > tol:
        raise InfeasibleError(
            f"pose ({pose.x}, {pose.y}) is not at a cell centre: drive to ({cx}, {cy}) "
            "and register again", field="pose", value=(pose.x, pose.y))
    return cell


def check_mission(mission: Mission, site: Site, robots: Mapping[str, RobotRecord],
                  declared: Sequence[Candidate] = ()) -> None:
    """A mission the floor and the fleet can do: valid ids, known stations of the right kind,
    dependencies on other tasks of the mission and without a cycle, a robot for each task
    among the roster (`robots`, every robot that ever registered) or the `declared` fleet."""
    check_id("mission.mission_id", mission.id)
    if not mission.tasks:
        raise InvalidInputError(f"mission {mission.id!r} has no tasks",
                                field="mission.tasks", value=[], reason=Reason.REQUIRED)
    if len(mission.tasks) > MAX_TASKS:
        raise InvalidInputError(f"mission {mission.id!r} has {len(mission.tasks)} tasks; at "
                                f"most {MAX_TASKS} are allowed in one mission (split it)",
                                field="mission.tasks", value=len(mission.tasks),
                                reason=Reason.TOO_MANY)
    if mission.deadline_s is not None and not (mission.deadline_s >= 0):
        raise InvalidInputError(f"mission.deadline_s {mission.deadline_s} is negative",
                                field="mission.deadline_s", value=mission.deadline_s,
                                reason=Reason.OUT_OF_RANGE)
    if mission.release_s is not None and not (mission.release_s >= 0):
        raise InvalidInputError(f"mission.release_s {mission.release_s} is negative",
                                field="mission.release_s", value=mission.release_s,
                                reason=Reason.OUT_OF_RANGE)
    # Every malformed field is reported together; a missing station or robot (another
    # status) only when nothing is malformed.
    invalid = Violations()
    other: FleetError | None = None
    ids: set[str] = set()
    for i, task in enumerate(mission.tasks):
        where = f"mission.tasks[{i}]"
        try:
            check_id(f"{where}.task_id", task.id)
            if task.id in ids:
                raise InvalidInputError(f"{where}.task_id {task.id!r} is used twice",
                                        field=f"{where}.task_id", value=task.id,
                                        reason=Reason.DUPLICATE)
            ids.add(task.id)
            _check_task(task, where, site, robots, declared)
        except InvalidInputError as err:
            invalid.take(err)
        except FleetError as err:
            other = other or err
    for i, task in enumerate(mission.tasks):
        for dep in task.depends_on:
            if dep not in ids or dep == task.id:
                invalid.add(f"mission.tasks[{i}].depends_on",
                            f"mission.tasks[{i}].depends_on names {shorten(dep)}, which is not "
                            "another task of this mission", Reason.BAD_REFERENCE)
    invalid.raise_if_any()
    if other is not None:
        raise other
    _check_acyclic(mission.tasks)


def _check_acyclic(tasks: tuple[Task, ...]) -> None:
    """Dependencies must form no cycle (Kahn's algorithm, linear in tasks and dependencies)."""
    followers: dict[str, list[str]] = {t.id: [] for t in tasks}
    indegree = {t.id: len(set(t.depends_on)) for t in tasks}
    for t in tasks:
        for dep in set(t.depends_on):
            followers[dep].append(t.id)
    ready = [t for t, n in indegree.items() if n == 0]
    seen = 0
    while ready:
        done = ready.pop()
        seen += 1
        for f in followers[done]:
            indegree[f] -= 1
            if indegree[f] == 0:
                ready.append(f)
    if seen != len(tasks):
        cyclic = sorted(t for t, n in indegree.items() if n > 0)
        shown = cyclic if len(cyclic) <= 10 else [*cyclic[:10], f"... {len(cyclic) - 10} more"]
        raise InvalidInputError(f"mission.tasks depend on each other in a cycle: {shown}",
                                field="mission.tasks.depends_on", value=shown,
                                reason=Reason.CYCLE)


def _check_task(task: Task, where: str, site: Site, robots: Mapping[str, RobotRecord],
                declared: Sequence[Candidate]) -> None:
    if not (math.isfinite(task.delay_s) and task.delay_s >= 0):
        raise InvalidInputError(f"{where}.start_delay_s {task.delay_s} must be a "
                                "non-negative number of seconds",
                                field=f"{where}.start_delay_s", value=task.delay_s,
                                reason=Reason.OUT_OF_RANGE)
    if task.kind in PINNED_KINDS:
        _check_pinned(task, where, site, robots)
        return
    if task.kind is TaskKind.TRANSPORT:
        for name, station_id in (("pickup_station", task.pickup),
                                 ("dropoff_station", task.dropoff)):
            station = _station(site, f"{where}.transport.{name}", station_id)
            if station.kind not in _PICKUP_KINDS:
                raise InvalidInputError(
                    f"{where}.transport.{name} {station_id!r} is a {station.kind.value}, "
                    "not a place loads are handled", field=f"{where}.transport.{name}",
                    value=station_id, reason=Reason.WRONG_STATION_KIND)
        if task.pickup == task.dropoff:
            raise InvalidInputError(f"{where}.transport: pickup and dropoff are both "
                                    f"{task.pickup!r}", field=f"{where}.transport",
                                    value=task.pickup, reason=Reason.INCONSISTENT)
        check_id(f"{where}.transport.load_id", task.load_id)
        if not (math.isfinite(task.mass_kg) and task.mass_kg >= 0):
            raise InvalidInputError(f"{where}.transport.mass_kg {task.mass_kg} must be a "
                                    "non-negative number of kilograms",
                                    field=f"{where}.transport.mass_kg", value=task.mass_kg,
                                    reason=Reason.OUT_OF_RANGE)
        needs = f"carries {task.mass_kg} kg"
    else:
        station = _station(site, f"{where}.weld.cell_station", task.cell)
        if station.kind is not StationKind.WELD_CELL:
            raise InvalidInputError(f"{where}.weld.cell_station {task.cell!r} is a "
                                    f"{station.kind.value}, not a weld cell",
                                    field=f"{where}.weld.cell_station", value=task.cell,
                                    reason=Reason.WRONG_STATION_KIND)
        check_id(f"{where}.weld.program", task.program)
        if task.load_id:
            check_id(f"{where}.weld.part_load_id", task.load_id)
        if not (math.isfinite(task.duration_s) and task.duration_s > 0):
            raise InvalidInputError(f"{where}.weld.duration_s {task.duration_s} must be "
                                    "positive", field=f"{where}.weld.duration_s",
                                    value=task.duration_s, reason=Reason.OUT_OF_RANGE)
        needs = f"runs weld program {task.program!r} at {task.cell}"
    # Lazily: the first robot able to do it ends the search (most tasks, most fleets).
    if any(capable(Candidate(r.spec, r.home_station), task) for r in robots.values()) or \
            any(capable(c, task) for c in declared):
        return
    if task.kind is TaskKind.WELD:
        unplaced = sorted(r.spec.id for r in robots.values()
                          if r.spec.kind is RobotKind.FIXED_WELDER and not r.home_station
                          and r.spec.can_weld(task.program))
        if unplaced:
            raise UnavailableError(
                f"{where}: fixed welder {', '.join(unplaced[:5])} runs weld program "
                f"{task.program!r} but has not registered since the coordinator restarted, "
                f"so its weld cell is not known yet; retry after {RETRY_AFTER_S:.0f} s",
                field=where, value=task.id, retry_after_s=RETRY_AFTER_S)
    candidates = [*(Candidate(r.spec, r.home_station) for r in robots.values()), *declared]
    raise InfeasibleError(f"{where}: no robot of the fleet {needs}; "
                          f"{_what_there_is(task, candidates, bool(declared))}",
                          field=f"{where}", value=task.id)


def _what_there_is(task: Task, candidates: Sequence[Candidate], declared: bool) -> str:
    """What the fleet has instead, for the message of a task nobody can do."""
    fleet = "the roster and the declared fleet" if declared else \
        "the roster (no fleet declared: fleet serve --fleet FILE)"
    if not candidates:
        return f"{fleet} has no robots yet"
    if task.kind is TaskKind.TRANSPORT:
        loads = [c.spec.transport.max_payload_kg for c in candidates
                 if c.spec.transport is not None and c.spec.kind is not RobotKind.FIXED_WELDER]
        return (f"{fleet} carries at most {max(loads)} kg" if loads
                else f"{fleet} has no robot that transports")
    programs = sorted({p for c in candidates if c.spec.weld is not None
                       for p in c.spec.weld.programs})
    shown = ", ".join(programs[:10]) or "none"
    return f"weld programs {fleet} runs: {shown}"


def _check_pinned(task: Task, where: str, site: Site,
                  robots: Mapping[str, RobotRecord]) -> None:
    """A charge or park task: a registered robot that drives, and a station to go to."""
    what = task.kind.value
    field = f"{where}.{what}.{'charger_station' if task.kind is TaskKind.CHARGE else 'station'}"
    station = _station(site, field, task.cell)
    allowed = ({StationKind.CHARGER} if task.kind is TaskKind.CHARGE
               else {StationKind.PARKING, StationKind.CHARGER})
    if station.kind not in allowed:
        raise InvalidInputError(f"{field} {task.cell!r} is a {station.kind.value}, not a "
                                f"{' or '.join(sorted(k.value for k in allowed))}",
                                field=field, value=task.cell, reason=Reason.WRONG_STATION_KIND)
    check_id(f"{where}.{what}.robot_id", task.robot)
    robot = robots.get(task.robot)
    if robot is None:
        raise NotFoundError(f"{where}.{what}.robot_id {task.robot!r} is not registered",
                            field=f"{where}.{what}.robot_id", value=task.robot)
    if robot.spec.kind is RobotKind.FIXED_WELDER:
        raise InvalidInputError(f"{where}.{what}.robot_id {task.robot!r} is a fixed welder "
                                "and does not drive", field=f"{where}.{what}.robot_id",
                                value=task.robot)


def _station(site: Site, field: str, station_id: str) -> Station:
    if not station_id:
        raise InvalidInputError(f"{field} is empty", field=field, value=station_id,
                                reason=Reason.REQUIRED)
    station = site.stations.get(station_id)
    if station is None:
        raise NotFoundError(f"{field} {station_id!r}: no such station on floor "
                            f"{site.floor.name!r}", field=field, value=station_id)
    return station
