"""How robots use their batteries: one consumption model shared by dispatch and the simulator.

State of charge (soc) runs from 0 (empty) to 1 (full). A robot drains per metre driven, per
second standing or handling loads, and per minute of welding, and gains charge at a fixed rate
on a charger.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.model.robots import RobotKind

__all__ = ["BatteryModel", "battery_model"]


@dataclass(frozen=True, slots=True)
class BatteryModel:
    """Consumption and charging of one kind of robot, in state-of-charge units (0 to 1)."""

    per_m: float
    """Drained per metre driven."""
    per_idle_s: float
    """Drained per second not driving (standing, picking, dropping)."""
    per_weld_min: float
    """Drained per minute of welding."""
    charge_per_s: float
    """Gained per second on a charger."""
    go_charge_below: float = 0.3
    """A free robot below this goes to charge."""
    charged_enough: float = 0.9
    """Charging stops here."""
    reserve: float = 0.05
    """Never planned below this, even after reaching a charger."""

    def drive(self, metres: float) -> float:
        """Charge used driving `metres`."""
        return self.per_m * metres

    def weld(self, seconds: float) -> float:
        """Charge used welding for `seconds`."""
        return self.per_weld_min * seconds / 60.0

    def idle(self, seconds: float) -> float:
        """Charge used standing or handling for `seconds`."""
        return self.per_idle_s * seconds

    def charge_time_s(self, soc: float) -> float:
        """Seconds on a charger from `soc` to `charged_enough`."""
        return max(0.0, self.charged_enough - soc) / self.charge_per_s


_MODELS = {
    # A loaded AGV: about 1.25 km per charge.
    RobotKind.AGV: BatteryModel(per_m=8e-4, per_idle_s=2e-5, per_weld_min=0.0,
                                charge_per_s=5e-3),
    # A mobile welder drives less but welding draws hard.
    RobotKind.MOBILE_WELDER: BatteryModel(per_m=1e-3, per_idle_s=2e-5, per_weld_min=6e-3,
                                          charge_per_s=5e-3),
    # Fixed welders are wired to the grid.
    RobotKind.FIXED_WELDER: BatteryModel(per_m=0.0, per_idle_s=0.0, per_weld_min=0.0,
                                         charge_per_s=1.0, go_charge_below=0.0, reserve=0.0),
}


def battery_model(kind: RobotKind) -> BatteryModel:
    """The consumption model of a kind of robot."""
    return _MODELS[kind]
