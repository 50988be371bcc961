"""Traffic: plans per robot, and the release of each plan cell by cell in a safe order.

Each robot's plan is a list of visits (cell, planned steps). Waypoint k of a path is visit k
(visit 0 is where the robot stands when the plan is made). A visit leaves the reservation
table when its robot reaches the next cell. A visit is released to its robot only when no
visit planned in the same cell before it is still open: a robot enters a cell only after
every robot planned there earlier has left (the action-dependency ordering of Hönig et al.,
RA-L 2019), and a released visit is committed so that no later plan can come before it.
Planned times only order the visits, so a robot that runs late makes others wait; it never
makes them collide. Together with the planner's one-step gap between
occupants, two robots' centres are never closer than one cell.
"""

from __future__ import annotations

import enum
import itertools
import logging
from dataclasses import dataclass, field

import numpy as np

from fleet.model import Cell, InfeasibleError
from fleet.planning import DistanceTables
from fleet.planning.spacetime import plan_sipp, plan_spacetime
from fleet.traffic.reservations import FOREVER, ReservationTable, Visit

__all__ = ["PathSearch", "Release", "Traffic", "check_invariants"]

log = logging.getLogger(__name__)

SINCE_EVER = -(1 << 60)
"""Start step of a robot's first visit: whoever is planned into its cell waits for it."""


class PathSearch(enum.Enum):
    """How a robot's path through the reservations is found (the same rule, the same
    earliest arrival; they may differ in which of equally early paths they pick)."""

    SIPP = "sipp"
    """Compiled safe-interval planning (`planning.spacetime.plan_sipp`): the default."""
    SPACETIME_ASTAR = "spacetime-astar"
    """The Python space-time A* (`planning.spacetime.plan_spacetime`): the reference the
    compiled planner is tested against, kept for comparison in benchmarks."""


@dataclass(frozen=True, slots=True)
class Release:
    """Waypoints newly released to a robot: visits first_index.. of path `path_id`."""

    path_id: str
    first_index: int
    cells: tuple[Cell, ...]
    steps: tuple[int, ...]
    """Planned arrival step of each released cell."""
    complete: bool
    planned: tuple[Cell, ...] = ()
    """The next cells of the plan after the released ones (at most `Traffic.planned_ahead`),
    not released yet: they may change."""
    planned_steps: tuple[int, ...] = ()
    """Planned arrival step of each of `planned`."""


@dataclass(slots=True)
class _Track:
    visits: list[Visit]
    path_id: str = ""
    reached: int = 0
    """Index of the visit the robot has last arrived at."""
    released: int = 0
    """Index of the last visit released to the robot."""
    sent: int = 0
    """Index of the last visit sent to the robot."""
    schedule: list[int] = field(default_factory=list)
    """Planned arrival step of each visit as released (before its start was committed)."""


class Traffic:
    """Owns the reservation table and every robot's plan on one occupancy grid."""

    def __init__(self, free: np.ndarray, *, horizon: int = 8,
                 distances: DistanceTables | None = None, incarnation: str = "",
                 search: PathSearch = PathSearch.SIPP,
                 one_way: np.ndarray | None = None, planned_ahead: int = 20) -> None:
        """`incarnation` names this controller's lifetime in its path ids (`robot/inc.N`): a
        controller started after a restart must never hand out a path id the one before it
        did, or a robot's report about its old path would count as progress on the new one.
        `one_way` (the floor grid's `forbidden_moves`) keeps plans with one-way zones; the
        distance tables must be built with the same (they are the heuristic).
        `planned_ahead`: how many of the planned cells after the released ones a release
        carries (for drivers that show them, a VDA 5050 horizon): a bound on what each
        release costs, whatever the plan's length."""
        self.free = free
        self.horizon = horizon
        self.planned_ahead = planned_ahead
        self.search = search
        self.one_way = one_way if one_way is not None and np.any(one_way) else None
        self.incarnation = incarnation
        rows, cols = free.shape
        self.table = ReservationTable((rows, cols))
        self.distances = distances if distances is not None else DistanceTables(
            free, 4, one_way=self.one_way)
        self._tracks: dict[str, _Track] = {}
        self._path_counter = 0

    # -- robots entering and leaving ------------------------------------------------------
    def check_place(self, robot_id: str, cell: Cell) -> None:
        """Raise InfeasibleError if `place` would refuse the cell (changes nothing)."""
        for v in self.table.visits_at(cell):
            if v.robot_id == robot_id:
                continue
            track = self._tracks[v.robot_id]
            if track.visits.index(v) <= track.released:
                raise InfeasibleError(
                    f"cell {cell} is on the path released to robot {v.robot_id}; "
                    "register again once it has passed", field="pose", value=cell)

    def place(self, robot_id: str, cell: Cell) -> list[str]:
        """Put a robot at a cell where it stands from now on (registration).

        Raises InfeasibleError if another robot's released path runs through the cell.
        Returns the robots whose unreleased plans crossed the cell: their plans are cut back
        to what was released, and they need a new plan.
        """
        self.remove(robot_id)
        self.check_place(robot_id, cell)
        cut = sorted({v.robot_id for v in self.table.visits_at(cell)})
        cut = sorted({r for other in cut for r in self.cut(other)})
        visit = Visit(robot_id, cell, SINCE_EVER, FOREVER)
        self.table.add(visit)
        self._tracks[robot_id] = _Track(visits=[visit])
        return cut

    def remove(self, robot_id: str) -> None:
        """Forget a robot and its plan."""
        track = self._tracks.pop(robot_id, None)
        if track is not None:
            for v in track.visits[track.reached:]:
                self.table.remove(v)

    def hold(self, robot_id: str) -> list[str]:
        """The robot will drive no further than released (its link dropped): keep only that.

        Returns the robots whose plans were cut as a consequence (see `cut`).
        """
        return self.cut(robot_id)[1:] if robot_id in self._tracks else []

    # -- planning -------------------------------------------------------------------------
    def plan_end(self, robot_id: str) -> Cell:
        """Where the robot's current plan ends (where it stands once it has arrived)."""
        return self._tracks[robot_id].visits[-1].cell

    def plan(self, robot_id: str, goal: Cell, now_step: int) -> str:
        """Plan the robot from the end of its current plan to `goal`; returns the path id.

        If the robot is still driving its released cells (its plan was cut short), the new
        cells extend the same path; otherwise a new path starts where it stands. Raises
        InvalidInputError/InfeasibleError when no path can be found now; the robot's
        reservations are then unchanged.
        """
        track = self._tracks[robot_id]
        last = track.visits[-1]
        start_step = max(now_step, last.start + 1)
        self.table.remove(last)
        try:
            if self.search is PathSearch.SIPP:
                cells = plan_sipp(self.free, last.cell, goal, start_step, self.table.arrays,
                                  self.table.robot_index(robot_id), self.distances.get(goal),
                                  one_way=self.one_way)
            else:
                cells = plan_spacetime(self.free, last.cell, goal, start_step, self.table,
                                       robot_id, self.distances.get(goal),
                                       one_way=self.one_way)
        except Exception:
            self.table.add(last)
            raise
        # Compress the per-step cells into visits; the first continues the current visit.
        visits: list[Visit] = []
        step = start_step
        for cell in cells:
            if visits and visits[-1].cell == cell:
                visits[-1].end = step
            else:
                visits.append(Visit(robot_id, cell, step, step))
            step += 1
        visits[0].start = last.start
        visits[-1].end = FOREVER
        for v in visits:
            self.table.add(v)
        if track.path_id and track.reached < len(track.visits) - 1:
            track.visits[-1:] = visits
            return track.path_id
        self._path_counter += 1
        path_id = (f"{robot_id}/{self.incarnation}.{self._path_counter}" if self.incarnation
                   else f"{robot_id}/p{self._path_counter}")
        self._tracks[robot_id] = _Track(visits=visits, path_id=path_id)
        return path_id

    def cut(self, robot_id: str) -> list[str]:
        """Drop the robot's unreleased cells; it will stop at the end of what was released.

        Its last released cell is then held with no end, so every robot planned into that
        cell after it is cut too, and so on: the remaining plans stay mutually consistent,
        which is what keeps the release order free of cycles. Returns every robot cut,
        this one first; they need new plans.
        """
        cut: list[str] = []
        todo = [robot_id]
        while todo:
            rid = todo.pop(0)
            if rid in cut or rid not in self._tracks:
                continue
            cut.append(rid)
            todo.extend(self._cut_to_released(rid))
        return cut

    def freeze(self, robot_id: str) -> list[str]:
        """The robot has stopped and may stay anywhere on its released cells indefinitely.

        Every cell it still holds becomes held with no end; robots planned through those
        cells after it are cut (see `cut`). Returns the robots cut, the frozen one first.
        """
        cut = self.cut(robot_id)
        track = self._tracks.get(robot_id)
        if track is None:
            return cut
        for v in track.visits[track.reached:]:
            if v.end != FOREVER:
                v.end = FOREVER
                for other in self.table.visits_at(v.cell):
                    if other.robot_id != robot_id and other.start > v.start:
                        cut.extend(r for r in self.cut(other.robot_id) if r not in cut)
        return cut

    def shrink(self, robot_id: str) -> list[str]:
        """The robot is in fault: it keeps only the cell it stands in and the one it was
        entering, held with no end; the rest of what it was released goes to others.

        Returns the robots whose plans were cut as a consequence (see `cut`), this one first.
        """
        track = self._tracks.get(robot_id)
        if track is None:
            return []
        keep = min(track.released, track.reached + 1)
        for v in track.visits[keep + 1:]:
            self.table.remove(v)
        del track.visits[keep + 1:]
        track.released = track.sent = keep
        return self.freeze(robot_id)

    def wait_for(self) -> dict[str, list[str]]:
        """Which robots each stuck robot waits for.

        A robot is stuck when it has reached the last cell released to it and the next one
        is still held by robots planned there before it. A robot with released cells left
        to drive is not stuck: it will free the cells others wait for.
        """
        out: dict[str, list[str]] = {}
        for rid in sorted(self._tracks):
            track = self._tracks[rid]
            if track.reached == track.released and (waits := self.waiting_on(rid)):
                out[rid] = waits
        return out

    @staticmethod
    def find_cycle(waits: dict[str, list[str]]) -> list[str]:
        """A cycle of robots waiting on each other (a deadlock), or an empty list.

        Depth-first with an explicit stack, so a long chain of waits needs no deep recursion.
        """
        state: dict[str, int] = {}
        for root in sorted(waits):
            if root in state:
                continue
            path: list[str] = [root]
            todo: list[list[str]] = [list(reversed(waits.get(root, ())))]
            state[root] = 1
            while path:
                if not todo[-1]:
                    state[path.pop()] = 2
                    todo.pop()
                    continue
                other = todo[-1].pop()
                if state.get(other) == 1:
                    return path[path.index(other):]
                if other not in state:
                    state[other] = 1
                    path.append(other)
                    todo.append(list(reversed(waits.get(other, ()))))
        return []

    def expects_motion(self, robot_id: str) -> bool:
        """True if the robot has released cells it has not reached yet."""
        track = self._tracks[robot_id]
        return track.released > track.reached

    def overdue_steps(self, robot_id: str, now_step: int) -> int:
        """How many steps the robot is behind its plan on its released cells: `now_step`
        minus the step it was planned to arrive in its next released cell (0 if it has none
        to drive, or is not late). A robot that waits where its plan has it wait (for a cell
        others hold until later) is not late."""
        track = self._tracks[robot_id]
        if track.released <= track.reached or track.reached >= len(track.schedule):
            return 0
        return max(0, now_step - track.schedule[track.reached])

    def progress(self, robot_id: str) -> tuple[str, int, int]:
        """(path id, last cell reached, last cell released): changes when the robot advances
        or is given more cells."""
        track = self._tracks[robot_id]
        return track.path_id, track.reached, track.released

    # -- execution ------------------------------------------------------------------------
    def report(self, robot_id: str, path_id: str, waypoints_reached: int) -> None:
        """Apply a robot's progress: visits it has left leave the table."""
        track = self._tracks.get(robot_id)
        if track is None or path_id != track.path_id or not path_id:
            return
        reached = min(waypoints_reached, track.released)
        while track.reached < reached:
            self.table.remove(track.visits[track.reached])
            track.reached += 1

    def arrived(self, robot_id: str) -> bool:
        """True if the robot stands at the end of its plan."""
        track = self._tracks[robot_id]
        return track.reached == len(track.visits) - 1

    def route(self, robot_id: str) -> tuple[list[Cell], int]:
        """The cells the robot has yet to drive, from the one it reached last, and how many
        of those after the first are released to it (for views; ([], 0) if it is not placed)."""
        track = self._tracks.get(robot_id)
        if track is None:
            return [], 0
        return [v.cell for v in track.visits[track.reached:]], track.released - track.reached

    def path_id(self, robot_id: str) -> str:
        """Id of the robot's current path, empty if it has none."""
        return self._tracks[robot_id].path_id

    def release(self, now_step: int) -> dict[str, Release]:
        """Release every visit whose predecessors in its cell have left; returns what is new.

        A released visit is committed: its start moves up to `now_step` if it was planned
        later, so no plan made from now on can put another robot into that cell before it.
        No open visit there started earlier (that is the release condition), so the order
        of the cell's visits is unchanged.
        """
        out: dict[str, Release] = {}
        for robot_id in sorted(self._tracks):
            track = self._tracks[robot_id]
            last = len(track.visits) - 1
            limit = min(last, track.reached + self.horizon)
            while track.released < limit:
                nxt = track.visits[track.released + 1]
                if self.table.planned_before(nxt):
                    break
                track.schedule.append(nxt.start)
                nxt.start = min(nxt.start, now_step)
                track.released += 1
            if track.released > track.sent:
                first = track.sent + 1
                new = track.visits[first:track.released + 1]
                ahead = track.visits[track.released + 1:track.released + 1 +
                                     self.planned_ahead]
                out[robot_id] = Release(track.path_id, first,
                                        tuple(v.cell for v in new),
                                        tuple(track.schedule[-len(new):]),
                                        track.released == last,
                                        tuple(v.cell for v in ahead),
                                        tuple(v.start for v in ahead))
                track.sent = track.released
        return out

    def waiting_on(self, robot_id: str) -> list[str]:
        """Robots whose open visits hold this robot's next unreleased cell (for diagnostics)."""
        track = self._tracks[robot_id]
        if track.released + 1 >= len(track.visits):
            return []
        return sorted({v.robot_id for v in self.table.planned_before(
            track.visits[track.released + 1])})

    def _cut_to_released(self, robot_id: str) -> list[str]:
        """Drop unreleased visits; returns robots planned into the now open-ended cell later."""
        track = self._tracks[robot_id]
        for v in track.visits[track.released + 1:]:
            self.table.remove(v)
        dropped = len(track.visits) - track.released - 1
        del track.visits[track.released + 1:]
        last = track.visits[-1]
        affected: list[str] = []
        if last.end != FOREVER:
            last.end = FOREVER
            affected = sorted({v.robot_id for v in self.table.visits_at(last.cell)
                               if v.robot_id != robot_id and v.start > last.start})
        if dropped:
            log.info("robot %s: plan cut back to its released cells", robot_id)
        return affected


def check_invariants(traffic: Traffic) -> list[str]:
    """Safety invariants of the release order; returns violations (empty when sound).

    A cell is released to at most one robot at a time, a robot's released, unreached cell
    has no open visit planned there before it by another robot, and two robots' visits of
    a cell are at least a step apart in planned time (the consistency that rules out
    cycles of robots waiting on each other).
    """
    problems: list[str] = []
    holders: dict[Cell, str] = {}
    tracks = traffic._tracks  # the checker reads the controller's own records on purpose
    for rid in sorted(tracks):
        track = tracks[rid]
        for i in range(track.reached, track.released + 1):
            v = track.visits[i]
            other = holders.get(v.cell)
            if other is not None and other != rid:
                problems.append(f"cell {v.cell} held by {other} and {rid}")
            holders[v.cell] = rid
            if i > track.reached:
                earlier = traffic.table.planned_before(v)
                if earlier:
                    problems.append(f"{rid} released into {v.cell} before "
                                    f"{[e.robot_id for e in earlier]}")
    for cell in traffic.table.cells():
        ordered = sorted(traffic.table.visits_at(cell), key=lambda v: v.start)
        for a, b in itertools.pairwise(ordered):
            if a.robot_id != b.robot_id and not a.end + 1 < b.start:
                problems.append(f"cell {cell}: {a.robot_id} [{a.start}, {a.end}] overlaps "
                                f"{b.robot_id} [{b.start}, {b.end}]")
    return problems
