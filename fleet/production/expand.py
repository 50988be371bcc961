"""Expanding a production order into missions: one mission per unit, its routing as tasks.

For a unit of a model whose routing is cut -> weld -> machine -> paint -> assemble:

    to-weld-1 (cutter outfeed -> weld cell)          the mission's release: order + cut time
    weld-1    (at the cell, on the part, after to-weld-1)
    to-machine-2 (cell -> machine infeed)
    to-paint-3   (machine outfeed -> booth infeed, start delay: the machining time)
    to-assemble-4 (booth outfeed -> assembly, start delay: the paint time)

Robots do transports and welds; the machines' own time (cutting, machining, painting) is the
start delay of the transport that takes the part away, and cutting delays the release.
Consecutive welds stay in one cell (the part stays in its fixture). Each process's centre is
chosen as the one with the least queued work (`queued_work`: seconds of welds and machine time
of unfinished tasks, plus one per transport still to pick or drop there), ties to the first
listed, and the work of each unit is counted before the next unit's choice: the units of one
order spread over the centres.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fleet.model import InvalidInputError, Mission, MissionRecord, Task, TaskKind, check_id
from fleet.production.routing import Catalog, Center, Process

__all__ = ["MAX_UNITS", "Order", "expand_order", "queued_work", "unit_ids"]

MAX_UNITS = 1000
"""Units one order may ask for."""


@dataclass(frozen=True, slots=True)
class Order:
    """A production order: `count` units of `model`, released at `release_s` (coordinator
    clock seconds), due by `deadline_s` (None: no deadline)."""

    id: str
    model: str
    count: int = 1
    release_s: float = 0.0
    deadline_s: float | None = None
    priority: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)


def unit_ids(order_id: str, count: int) -> list[str]:
    """The mission ids of an order's units: ORDER-1 .. ORDER-count."""
    return [f"{order_id}-{k}" for k in range(1, count + 1)]


def queued_work(missions: Iterable[MissionRecord]) -> dict[str, float]:
    """Seconds of work still queued at each station by the given open missions."""
    work: dict[str, float] = {}
    for record in missions:
        if record.state.finished:
            continue
        for t in record.tasks.values():
            if t.state.finished:
                continue
            task = t.task
            if task.kind is TaskKind.WELD:
                work[task.cell] = work.get(task.cell, 0.0) + task.duration_s
            elif task.kind is TaskKind.TRANSPORT:
                work[task.pickup] = work.get(task.pickup, 0.0) + task.delay_s + 1.0
                work[task.dropoff] = work.get(task.dropoff, 0.0) + 1.0
    return work


def expand_order(catalog: Catalog, order: Order,
                 queued: Mapping[str, float] | None = None) -> tuple[Mission, ...]:
    """The missions of an order's units (not yet submitted); errors name the order's field."""
    check_id("order.order_id", order.id)
    if len(order.id) > 56:
        raise InvalidInputError(f"order.order_id {order.id!r} is longer than 56 characters "
                                "(unit ids append -N)", field="order.order_id", value=order.id)
    if not 1 <= order.count <= MAX_UNITS:
        raise InvalidInputError(f"order.count {order.count} is not between 1 and {MAX_UNITS}",
                                field="order.count", value=order.count)
    if order.release_s < 0:
        raise InvalidInputError(f"order.release_s {order.release_s} is negative",
                                field="order.release_s", value=order.release_s)
    if order.deadline_s is not None and order.deadline_s <= order.release_s:
        raise InvalidInputError(f"order.deadline_s {order.deadline_s} is not after its "
                                f"release {order.release_s}", field="order.deadline_s",
                                value=order.deadline_s)
    routing = catalog.routing(order.model, field="order.model")
    work = dict(queued or {})
    masses = routing.masses_kg()
    missions = []
    for unit, mission_id in enumerate(unit_ids(order.id, order.count), start=1):
        # Choose each operation's centre; the unit's own work counts for the next one.
        chosen: list[Center] = []
        for op in routing.operations:
            if op.process is Process.WELD and chosen and routing.operations[
                    len(chosen) - 1].process is Process.WELD:
                chosen.append(chosen[-1])
            else:
                centers = catalog.centers[op.process]
                chosen.append(min(centers, key=lambda c: work.get(c.station, 0.0)))
            work[chosen[-1].station] = work.get(chosen[-1].station, 0.0) + op.duration_s
        tasks: list[Task] = []
        last = ""  # the task that brought the part where it is
        pending_delay = 0.0  # the machine time before the part may be taken on
        here = chosen[0].outbound
        step = 0
        for i, op in enumerate(routing.operations[1:], start=1):
            center = chosen[i]
            if center.inbound != here:
                step += 1
                task_id = f"to-{op.process.value}-{step}"
                tasks.append(Task(task_id, TaskKind.TRANSPORT, (last,) if last else (),
                                  pickup=here, dropoff=center.inbound, load_id=mission_id,
                                  mass_kg=masses[i - 1], delay_s=pending_delay if last else 0.0))
                last = task_id
            pending_delay = 0.0
            if op.process is Process.WELD:
                step += 1
                task_id = f"weld-{step}"
                tasks.append(Task(task_id, TaskKind.WELD, (last,), cell=center.inbound,
                                  program=op.program, duration_s=op.duration_s,
                                  load_id=mission_id))
                last = task_id
            else:
                pending_delay = op.duration_s
            here = center.outbound
        labels = {**order.labels, "order": order.id, "model": order.model,
                  "unit": str(unit), "order_release_s": f"{order.release_s:g}"}
        cut_s = routing.operations[0].duration_s
        missions.append(Mission(mission_id, tuple(tasks), order.priority, order.deadline_s,
                                release_s=order.release_s + cut_s, labels=labels))
    return tuple(missions)
