"""The robots as the live coordinator knows them: sessions, last reports, holds, current work.

None of this is durable: after a restart every robot registers again and reports where it
stands; what it was given is in the `FleetState`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.coordinator.site import Site
from fleet.coordinator.work import Work
from fleet.model import Cell, InvalidInputError, RobotMode, RobotSpec, RobotState
from fleet.traffic import Traffic

__all__ = ["RobotRecord", "resting_cell", "standing_cell"]


@dataclass(slots=True)
class RobotRecord:
    """A robot known to the coordinator."""

    spec: RobotSpec
    session_id: str = ""
    stream: int = 0
    """The number of its open command stream; 0 while it has none."""
    state: RobotState | None = None
    """Its last state report (as of the control step that took it in)."""
    disconnected_at: float | None = None
    registered_at: float | None = None
    """When it registered, while it has not opened its stream since (the registration
    expires after `CoordinatorConfig.registration_timeout_s`)."""
    work: Work | None = None
    """What it does now: the head of its queue, or an errand."""
    home_station: str = ""
    """For a fixed welder, its weld cell."""
    placed: bool = False
    """True once the robot stands in the traffic grid."""
    progress: tuple[str, int, int] = ("", 0, 0)
    """(path id, last cell reached, last released) as of `progress_at`."""
    progress_at: float = 0.0
    hold: str = ""
    """Why an operator holds the robot (pause), "" if not held."""
    frozen: bool = False
    """True while it counts as stopped and others are planned around the cells it holds."""

    @property
    def connected(self) -> bool:
        """True while its command stream is open."""
        return self.stream != 0

    @property
    def working(self) -> bool:
        """Connected, reporting, and neither in fault nor paused (by itself or an operator)."""
        return (self.connected and self.state is not None and not self.hold
                and self.state.mode not in (RobotMode.FAULT, RobotMode.PAUSED))


def resting_cell(robot: RobotRecord, site: Site, traffic: Traffic) -> Cell:
    """Where the robot will stand once it has driven what it was planned (a fixed welder: at
    its cell)."""
    if robot.placed:
        return traffic.plan_end(robot.spec.id)
    return site.station_cells.get(robot.home_station, (0, 0))


def standing_cell(robot: RobotRecord, site: Site, traffic: Traffic) -> Cell:
    """The planning cell under the robot now (its plan's end may be far ahead)."""
    if robot.placed and robot.state is not None:
        try:
            cell = site.grid.cell_of(robot.state.pose.x, robot.state.pose.y)
        except InvalidInputError:
            return resting_cell(robot, site, traffic)
        if site.grid.is_free(cell):
            return cell
    return resting_cell(robot, site, traffic)
