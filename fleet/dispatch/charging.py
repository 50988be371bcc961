"""Charging: which free robots go to which charger, before any job is assigned."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fleet.dispatch.costs import CostWeights, affordable, estimate
from fleet.dispatch.nearest import Candidate, Job, capable
from fleet.dispatch.travel import Travel
from fleet.model import RobotKind, battery_model

__all__ = ["ChargeOrder", "may_charge", "plan_charging"]


@dataclass(frozen=True, slots=True)
class ChargeOrder:
    """Send a robot to a charger, and why."""

    robot_id: str
    charger: str
    duration_s: float
    """Seconds on the charger: from the charge expected on arrival to `charged_enough`."""
    reason: str


def may_charge(robot: Candidate) -> bool:
    """True if `plan_charging` could send this robot to charge: it drives, and its state of
    charge is below its kind's `go_charge_below` or `charged_enough`."""
    model = battery_model(robot.spec.kind)
    return (robot.spec.kind is not RobotKind.FIXED_WELDER
            and robot.battery < max(model.go_charge_below, model.charged_enough))


def plan_charging(robots: Sequence[Candidate], jobs: Sequence[Job], chargers: Sequence[str],
                  travel: Travel, weights: CostWeights | None = None,
                  on_charger: Mapping[str, str] | None = None) -> list[ChargeOrder]:
    """Free robots that must charge, each to the nearest charger nobody holds.

    A robot charges when its state of charge is below its kind's `go_charge_below`, or when
    there are jobs it could do but none it can afford (it would not reach a charger above its
    reserve afterwards). Chargers are reserved resources: `chargers` lists the free ones, and
    each is given at most once; a robot already standing on a charger (`on_charger`, robot id
    to charger) charges there. Lowest battery first.
    """
    weights = weights or CostWeights()
    free = list(chargers)
    out: list[ChargeOrder] = []
    for robot in sorted(robots, key=lambda r: (r.battery, r.spec.id)):
        standing = (on_charger or {}).get(robot.spec.id, "")
        if robot.free_in_s > 0 or not may_charge(robot) or not (free or standing):
            continue
        model = battery_model(robot.spec.kind)
        reason = ""
        if robot.battery < model.go_charge_below:
            reason = (f"battery {100 * robot.battery:.0f} % is below "
                      f"{100 * model.go_charge_below:.0f} %")
        elif robot.battery < model.charged_enough:
            cells = np.array([robot.cell], dtype=np.int64)
            mine = [j for j in jobs if capable(robot, j.task)]
            if mine and not any(affordable(
                    robot.spec, robot.battery,
                    float(travel.from_cells_m(cells, j.first_station)[0])
                    if j.first_station else 0.0,
                    estimate(j.task, travel, weights), travel)[0] for j in mine):
                reason = (f"battery {100 * robot.battery:.0f} % is too low for any of the "
                          f"{len(mine)} jobs it could do")
        if not reason:
            continue
        cells = np.array([robot.cell], dtype=np.int64)
        if standing:
            charger, dists = standing, {standing: 0.0}
        else:
            dists = {c: float(travel.from_cells_m(cells, c)[0]) for c in free}
            charger = min(free, key=lambda c: (dists[c], c))
            free.remove(charger)
        arrive = robot.battery - model.drive(dists[charger])
        out.append(ChargeOrder(robot.spec.id, charger, model.charge_time_s(arrive),
                               f"{reason}: charge at {charger} ({dists[charger]:.0f} m away)"))
    return out
