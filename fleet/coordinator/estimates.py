"""How long a robot's work will take, where it ends, and what charge it leaves."""

from __future__ import annotations

import math
from collections.abc import Sequence

from fleet.coordinator.robots import RobotRecord, resting_cell, standing_cell
from fleet.coordinator.site import Site
from fleet.coordinator.work import Go, Step
from fleet.dispatch import DETOUR, CostWeights, DrivePace, estimate, mission_tails
from fleet.model import ActionKind, Cell, MissionRecord, RobotKind, Task, battery_model
from fleet.traffic import Traffic

__all__ = ["Estimates", "Outlook"]

Outlook = tuple[float, Cell, float]
"""(seconds until done, the cell the robot then stands on, its state of charge then)."""


class Estimates:
    """Estimates of robots' work with the dispatcher's cost model (`CostWeights`)."""

    def __init__(self, site: Site, traffic: Traffic, weights: CostWeights,
                 nominal_speed_mps: float) -> None:
        self.site = site
        self.traffic = traffic
        self.weights = weights
        self.nominal_speed_mps = nominal_speed_mps
        self.pace = DrivePace(weights.speed_factor)
        """The pace robots have been seen to drive at: the estimates of their current work
        and the schedule's drives use it."""
        self._tails: dict[str, dict[str, float]] = {}
        self._seconds: dict[str, dict[str, float]] = {}
        self._current: dict[str, tuple[tuple[object, ...], Outlook]] = {}

    def begin_step(self) -> None:
        """A control step begins: forget the last step's outlooks of current work."""
        self._current.clear()

    def current(self, robot: RobotRecord) -> Outlook:
        """The robot's current work, from where it stands now with its charge now.

        Worked out once per step for the same work, step of it, path and report (the battery
        check and the dispatch round both ask, for every busy robot)."""
        work = robot.work
        assert work is not None and robot.state is not None
        key = (work.name, work.index, work.path_id, id(robot.state))
        known = self._current.get(robot.spec.id)
        if known is not None and known[0] == key:
            return known[1]
        outlook = self._current_now(robot)
        self._current[robot.spec.id] = (key, outlook)
        return outlook

    def _current_now(self, robot: RobotRecord) -> Outlook:
        work = robot.work
        assert work is not None and robot.state is not None
        first_left = 1.0
        if robot.state.action_id == work.action_id():
            first_left = max(0.0, 1.0 - robot.state.action_progress)
        seconds, end, after = self._sum(robot, work.steps[work.index:],
                                        standing_cell(robot, self.site, self.traffic),
                                        robot.state.battery, first_left)
        return seconds, end or resting_cell(robot, self.site, self.traffic), after

    def after(self, robot: RobotRecord, steps: Sequence[Step], start: Cell,
              battery: float) -> Outlook:
        """Steps of a queued task, from where the work before it ends with the charge then."""
        seconds, end, after = self._sum(robot, steps, start, battery, 1.0)
        return seconds, end or start, after

    def home_charge(self, robot: RobotRecord, steps: Sequence[Step]) -> float:
        """Charge needed to reach a charger from where the steps end (with the margin the
        dispatcher plans with)."""
        if robot.spec.kind is RobotKind.FIXED_WELDER:
            return 0.0
        ends = [s.station_id for s in steps if isinstance(s, Go) and s.station_id]
        if not ends:
            return 0.0
        model = battery_model(robot.spec.kind)
        return model.drive(DETOUR * self.site.travel.to_charger_m(ends[-1]))

    def tail(self, record: MissionRecord, task_id: str) -> float:
        """Seconds of the mission's work after the task (its longest chain)."""
        tails = self._tails.get(record.mission.id)
        if tails is None:
            speed = self.nominal_speed_mps * self.weights.speed_factor
            tails = dict(mission_tails(
                record.mission.tasks,
                lambda t: estimate(t, self.site.travel, self.weights).seconds(speed)))
            self._tails[record.mission.id] = tails
        return tails.get(task_id, 0.0)

    def task_seconds(self, record: MissionRecord, task: Task) -> float:
        """Seconds of the task's own work at the dispatcher's speed (worked out once)."""
        known = self._seconds.setdefault(record.mission.id, {})
        seconds = known.get(task.id)
        if seconds is None:
            speed = self.nominal_speed_mps * self.weights.speed_factor
            seconds = known[task.id] = estimate(task, self.site.travel,
                                                self.weights).seconds(speed)
        return seconds

    def forget(self, mission_id: str) -> None:
        """A mission ended: drop what was worked out for it."""
        self._tails.pop(mission_id, None)
        self._seconds.pop(mission_id, None)

    def _sum(self, robot: RobotRecord, steps: Sequence[Step], cell: Cell, charge: float,
             first_left: float) -> tuple[float, Cell | None, float]:
        speed = robot.spec.max_speed_mps * self.pace.factor(robot.spec.kind)
        model = battery_model(robot.spec.kind)
        travel = self.site.travel
        metres = handling = weld = 0.0
        here = ""
        for k, step in enumerate(steps):
            if isinstance(step, Go):
                metres += (travel.from_cell_m(cell, step.station_id) if not here
                           else travel.between_m(here, step.station_id))
                here = step.station_id
                continue
            left = first_left if k == 0 else 1.0
            if step.kind is ActionKind.WELD:
                weld += left * step.duration_s
            else:
                handling += left * (step.duration_s or self.weights.handling_s)
        if not math.isfinite(metres):
            metres = 0.0
        seconds = metres / speed + handling + weld
        after = charge - model.drive(metres) - model.idle(handling) - model.weld(weld)
        return seconds, self.site.station_cells[here] if here else None, after
