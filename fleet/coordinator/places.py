"""Where robots wait: parking places, the open floor next to a station, a spot to make way.

A robot must never wait where it blocks others: on a station's door (a part could not be
dropped), in front of a station another robot must reach. These functions find the nearest
place that nobody stands on or is heading for.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping

import numpy as np

from fleet.coordinator.config import CoordinatorConfig
from fleet.coordinator.estimates import Estimates
from fleet.coordinator.robots import RobotRecord
from fleet.coordinator.site import Site
from fleet.coordinator.work import Go, Work
from fleet.model import Cell, RobotKind, battery_model
from fleet.traffic import Traffic

__all__ = ["Places"]

log = logging.getLogger(__name__)


class Places:
    """Finds places to wait for the robots in `robots` on the site's floor."""

    def __init__(self, site: Site, traffic: Traffic, robots: Mapping[str, RobotRecord],
                 estimates: Estimates, config: CoordinatorConfig) -> None:
        self.site = site
        self.traffic = traffic
        self.robots = robots
        self.estimates = estimates
        self.config = config
        self._no_rest_place: set[str] = set()

    def _goals(self) -> Iterable[Go]:
        """Every drive still ahead in the robots' current work."""
        for r in self.robots.values():
            if r.work is not None:
                for step in r.work.remaining:
                    if isinstance(step, Go):
                        yield step

    def _occupied(self) -> set[Cell]:
        return {self.traffic.plan_end(rid) for rid, r in self.robots.items() if r.placed}

    def open_floor_cell(self, robot_id: str, near: Cell | None = None,
                        keep: Cell | None = None) -> Cell | None:
        """The open-floor cell (`Site.open_floor`) nearest the robot (or `near`) that nobody
        stands on or is heading for (`keep`, where the robot itself stands, counts as
        free); ties go to the lowest (row, column)."""
        taken = self._occupied() | {g.cell for g in self._goals()}
        if keep is not None:
            taken.discard(keep)
        distance = self.site.distances.get(near if near is not None
                                           else self.traffic.plan_end(robot_id))
        masked = np.where(self.site.open_floor, distance, np.inf)
        for r, c in taken:
            masked[r, c] = np.inf
        flat = int(np.argmin(masked))
        if not math.isfinite(float(masked.flat[flat])):
            return None
        row, col = divmod(flat, masked.shape[1])
        return (row, col)

    def free_parking(self, robot_id: str) -> str | None:
        """The nearest parking place nobody stands on or is heading for."""
        taken = {g.station_id for g in self._goals()}
        occupied = self._occupied()
        cells = self.site.station_cells
        spots = [s for s in self.site.rest_places
                 if s not in taken and cells[s] not in occupied]
        if not spots:
            if robot_id not in self._no_rest_place:
                self._no_rest_place.add(robot_id)
                log.warning("robot %s: no free parking place or charger to wait at", robot_id)
            return None
        self._no_rest_place.discard(robot_id)
        # Paths on the grid are as long either way: one table from where the robot stands
        # serves every spot.
        table = self.site.distances.get(self.traffic.plan_end(robot_id))
        return min(spots, key=lambda s: (float(table[cells[s]]), s))

    def rest_for_idle(self, robot: RobotRecord) -> Go | None:
        """Where a robot with nothing to do goes when it stands on a work station: a free
        parking place, else the nearest open floor; None if it may stay."""
        rid = robot.spec.id
        if not self.site.on_work_station(self.traffic.plan_end(rid)):
            return None
        spot = self.free_parking(rid)
        if spot is not None:
            return Go(spot, self.site.station_cells[spot], f"park at {spot}")
        cell = self.open_floor_cell(rid)
        if cell is None:
            return None
        return Go("", cell, f"wait on the open floor at {cell}")

    def make_way(self, robot: RobotRecord, work: Work, now: float) -> None:
        """Leave a work station for the nearest place to wait before going on with the work.

        The nearest of a free parking place and a free open-floor cell: on a large floor the
        parking area may be a hundred metres away, and a trip there and back costs time and
        charge nobody planned for. A detour the battery cannot cover is not made.
        """
        rid = robot.spec.id
        here = self.traffic.plan_end(rid)
        if not self.site.on_work_station(here) or robot.state is None:
            return
        distance = self.site.distances.get(here)
        places: list[tuple[float, str, Cell]] = []
        spot = self.free_parking(rid)
        if spot is not None:
            cell = self.site.station_cells[spot]
            places.append((float(distance[cell]), spot, cell))
        open_cell = self.open_floor_cell(rid)
        if open_cell is not None:
            places.append((float(distance[open_cell]), "", open_cell))
        if not places:
            return
        metres, spot_id, cell = min(places, key=lambda p: p[0])
        metres *= self.site.floor.resolution_m
        # There and back again, on top of what the work still needs.
        model = battery_model(robot.spec.kind)
        _, _, after = self.estimates.current(robot)
        if robot.spec.kind is not RobotKind.FIXED_WELDER and (
                after - model.drive(2 * metres) - self.estimates.home_charge(robot, work.steps)
                < model.reserve):
            log.warning("robot %s: a %.0f m detour to make way would leave too little charge; "
                        "it waits where it is", rid, metres)
            work.blocked_since_s = now
            return
        where = spot_id or f"the open floor at {cell}"
        log.info("robot %s: leaves its station for %s (%.0f m) to make way", rid, where, metres)
        work.detour = Go(spot_id, cell, f"make way at {where}")
        work.blocked_since_s = None

    def wait_near(self, robot: RobotRecord, work: Work, step: Go) -> bool:
        """Send a robot whose task is not ready yet to wait at the open-floor cell nearest
        its station; True if a trip there was set up (False: it waits where it is)."""
        rid = robot.spec.id
        if not robot.placed or not self.traffic.arrived(rid):
            return False
        here = self.traffic.plan_end(rid)
        near = self.open_floor_cell(rid, step.cell, keep=here)
        if near is None or near == here:
            return False
        work.detour = Go("", near, f"wait near {step.station_id}")
        return True

    def approach(self, robot: RobotRecord, work: Work, step: Go) -> bool:
        """The robot's next station is held by another robot: if it is far, drive meanwhile
        to the open floor next to the station (True), so that it is there when the station
        frees instead of crossing the floor only then."""
        rid = robot.spec.id
        if not step.station_id or not robot.placed or not self.traffic.arrived(rid):
            return False
        here = self.traffic.plan_end(rid)
        travel = self.site.travel
        far = travel.from_cell_m(here, step.station_id)
        if not math.isfinite(far) or far <= self.config.approach_m:
            return False
        near = self.open_floor_cell(rid, step.cell, keep=here)
        if near is None or travel.from_cell_m(near, step.station_id) > far / 2:
            return False
        log.info("robot %s: drives to %s next to %s (%.0f m away) until it is free", rid,
                 near, step.station_id, far)
        work.detour = Go("", near, f"wait near {step.station_id}")
        return True
