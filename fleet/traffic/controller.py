"""Traffic: plans per robot, and the release of each plan cell by cell in a safe order.

Each robot's plan is a list of visits (cell, planned steps). Waypoint k of a path is visit k
(visit 0 is where the robot stands when the plan is made). A visit leaves the reservation
table when its robot reaches the next cell. A visit is released to its robot only when no
visit planned in the same cell before it is still open: a robot enters a cell only after
every robot planned there earlier has left (the action-dependency ordering of Hönig et al.,
RA-L 2019). Planned times only order the visits, so a robot that runs late makes others
wait; it never makes them collide. Together with the planner's one-step gap between
occupants, two robots' centres are never closer than one cell.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from fleet.model import Cell, InfeasibleError
from fleet.planning import DistanceTables
from fleet.planning.spacetime import plan_spacetime
from fleet.traffic.reservations import FOREVER, ReservationTable, Visit

__all__ = ["Release", "Traffic"]

log = logging.getLogger(__name__)

SINCE_EVER = -(1 << 60)
"""Start step of a robot's first visit: whoever is planned into its cell waits for it."""


@dataclass(frozen=True, slots=True)
class Release:
    """Waypoints newly released to a robot: visits first_index.. of path `path_id`."""

    path_id: str
    first_index: int
    cells: tuple[Cell, ...]
    steps: tuple[int, ...]
    """Planned arrival step of each released cell."""
    complete: bool


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
    goal_steps: list[int] = field(default_factory=list)


class Traffic:
    """Owns the reservation table and every robot's plan on one occupancy grid."""

    def __init__(self, free: np.ndarray, *, horizon: int = 8,
                 distances: DistanceTables | None = None) -> None:
        self.free = free
        self.horizon = horizon
        self.table = ReservationTable()
        self.distances = distances if distances is not None else DistanceTables(free, 4)
        self._tracks: dict[str, _Track] = {}
        self._path_counter = 0

    # -- robots entering and leaving ------------------------------------------------------
    def place(self, robot_id: str, cell: Cell) -> list[str]:
        """Put a robot at a cell where it stands from now on (registration).

        Raises InfeasibleError if another robot's released path runs through the cell.
        Returns the robots whose unreleased plans crossed the cell: their plans are cut back
        to what was released, and they need a new plan.
        """
        self.remove(robot_id)
        cut: list[str] = []
        for v in self.table.visits_at(cell):
            track = self._tracks[v.robot_id]
            idx = track.visits.index(v)
            if idx <= track.released:
                raise InfeasibleError(
                    f"cell {cell} is on the path released to robot {v.robot_id}; "
                    "register again once it has passed", field="pose", value=cell)
            cut.append(v.robot_id)
        for other in sorted(set(cut)):
            self._cut_to_released(other)
        visit = Visit(robot_id, cell, SINCE_EVER, FOREVER)
        self.table.add(visit)
        self._tracks[robot_id] = _Track(visits=[visit])
        return sorted(set(cut))

    def remove(self, robot_id: str) -> None:
        """Forget a robot and its plan."""
        track = self._tracks.pop(robot_id, None)
        if track is not None:
            for v in track.visits[track.reached:]:
                self.table.remove(v)

    def hold(self, robot_id: str) -> None:
        """The robot will drive no further than released (its link dropped): keep only that."""
        if robot_id in self._tracks:
            self._cut_to_released(robot_id)

    # -- planning -------------------------------------------------------------------------
    def cell_of(self, robot_id: str) -> Cell:
        """Where the robot's current plan ends (where it stands once it has arrived)."""
        return self._tracks[robot_id].visits[-1].cell

    def plan(self, robot_id: str, goal: Cell, now_step: int) -> str:
        """Plan the robot from the end of its current plan to `goal`; returns the path id.

        The robot must have arrived at the end of its current plan. Raises
        InvalidInputError/InfeasibleError when no path can be found now; the robot's
        reservations are then unchanged.
        """
        track = self._tracks[robot_id]
        last = track.visits[-1]
        start_step = max(now_step, last.start + 1)
        self.table.remove(last)
        try:
            cells = plan_spacetime(self.free, last.cell, goal, start_step, self.table, robot_id,
                                   self.distances.get(goal))
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
        self._path_counter += 1
        path_id = f"{robot_id}/p{self._path_counter}"
        self._tracks[robot_id] = _Track(visits=visits, path_id=path_id)
        return path_id

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

    def path_id(self, robot_id: str) -> str:
        """Id of the robot's current path, empty if it has none."""
        return self._tracks[robot_id].path_id

    def release(self, now_step: int | None = None) -> dict[str, Release]:
        """Release every visit whose predecessors in its cell have left; returns what is new.

        With `now_step`, a released visit counts as starting then for plans made later.
        """
        out: dict[str, Release] = {}
        planned: dict[int, int] = {}
        """Planned steps of the visits released now: the waypoints keep their times."""
        for robot_id in sorted(self._tracks):
            track = self._tracks[robot_id]
            last = len(track.visits) - 1
            limit = min(last, track.reached + self.horizon)
            while track.released < limit:
                nxt = track.visits[track.released + 1]
                if self.table.planned_before(nxt):
                    break
                track.released += 1
                planned[id(nxt)] = nxt.start
                if now_step is not None and nxt.start > now_step:
                    # Released: the robot may drive in at any time from now on, so later
                    # plans must not put anyone in this cell before it.
                    nxt.start = now_step
            if track.released > track.sent:
                first = track.sent + 1
                new = track.visits[first:track.released + 1]
                out[robot_id] = Release(track.path_id, first,
                                        tuple(v.cell for v in new),
                                        tuple(planned.get(id(v), v.start) for v in new),
                                        track.released == last)
                track.sent = track.released
        return out

    def waiting_on(self, robot_id: str) -> list[str]:
        """Robots whose open visits hold this robot's next unreleased cell (for diagnostics)."""
        track = self._tracks[robot_id]
        if track.released + 1 >= len(track.visits):
            return []
        return sorted({v.robot_id for v in self.table.planned_before(
            track.visits[track.released + 1])})

    def _cut_to_released(self, robot_id: str) -> None:
        track = self._tracks[robot_id]
        for v in track.visits[track.released + 1:]:
            self.table.remove(v)
        del track.visits[track.released + 1:]
        track.visits[-1].end = FOREVER
        log.info("robot %s: plan cut back to its released cells", robot_id)
