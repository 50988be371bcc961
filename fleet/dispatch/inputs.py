"""What a dispatch round is offered: the ready jobs, the loads at the stations, the work to come.

The coordinator keeps where every mission stands (`MissionRecord`) and the loads at the
stations; this module turns that into the dispatcher's `Job`s by the line's rules:

- a task is ready once its mission is released, its dependencies are done, its start delay
  is over, a weld's part is in its cell and a transport's destination has room;
- looking ahead (`Dispatcher.lookahead_s` > 0), the weld cells' work about to become ready is
  offered too: a weld whose part is on its way, a transport out of a cell whose weld is under
  way, and the next part for a full cell once the part in it is being taken out; and for a
  dispatcher with `delay_lookahead`, a transport whose dependencies are done and whose start
  delay (paint, curing) runs;
- never more transports into a weld cell or buffer than it has room for.

Pure: plain records in, jobs out; the coordinator's estimates come in as numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from fleet.dispatch.costs import cell_backlogs, holding_station, waiting_part
from fleet.dispatch.nearest import Job
from fleet.floor import Station, StationKind
from fleet.model import (
    MissionRecord,
    RobotKind,
    Task,
    TaskKey,
    TaskKind,
    TaskRecord,
    TaskState,
)

__all__ = ["HOLDING_KINDS", "PINNED_KINDS", "Inventory", "Outlook", "Round", "may_begin",
           "ready_at", "work_to_come"]

HOLDING_KINDS = frozenset({StationKind.BUFFER, StationKind.WELD_CELL})
"""Stations that hold loads (a transport into one must respect its capacity); a dropoff's
machine takes its loads in."""

PINNED_KINDS = frozenset({TaskKind.CHARGE, TaskKind.PARK})
"""Tasks a mission gives to a robot it names: they bypass the dispatcher."""


class Inventory:
    """The loads standing at each station (dropped and not yet picked), oldest first, and the
    room the holding stations have."""

    def __init__(self, stations: Mapping[str, Station],
                 contents: Mapping[str, Sequence[str]]) -> None:
        self.stations = stations
        self.contents = contents
        self.holding = tuple(s for s, st in stations.items() if st.kind in HOLDING_KINDS)
        """The stations that hold loads (weld cells, buffers)."""

    def holds(self, station_id: str) -> bool:
        """True for a weld cell or buffer: loads stay there until picked."""
        return self.stations[station_id].kind in HOLDING_KINDS

    def loads(self, station_id: str) -> Sequence[str]:
        """Loads at the station now."""
        return self.contents.get(station_id, ())

    def capacity(self, station_id: str) -> int:
        """Loads the station holds at most."""
        return self.stations[station_id].capacity

    def room_for(self, task: Task) -> bool:
        """True if the transport's destination can take its load now."""
        if not self.holds(task.dropoff):
            return True
        return len(self.loads(task.dropoff)) < self.capacity(task.dropoff)

    def part_in(self, task: Task) -> bool:
        """True unless the task is a weld whose part is not in its cell yet."""
        return not (task.kind is TaskKind.WELD and task.load_id
                    and task.load_id not in self.loads(task.cell))


@dataclass(frozen=True, slots=True)
class Outlook:
    """All the known work, beyond the jobs of one round: what a dispatcher that schedules
    ahead (`fleet.dispatch.schedule.ScheduleDispatcher`) plans with.

    `missions` are the open missions (released or not) in submission order, `under_way` the
    tasks that are some robot's current work with their estimated seconds left, `inventory`
    the loads at the stations and the room of the holding ones, `speed_factors` the pace each
    kind of robot has been seen to drive at (a fraction of top speed; `DrivePace`), where it
    is known.
    """

    missions: Sequence[MissionRecord]
    under_way: Mapping[TaskKey, float]
    inventory: Inventory
    speed_factors: Mapping[RobotKind, float] = field(default_factory=dict)


def ready_at(record: MissionRecord, task: Task, now_s: float,
             under_way: Mapping[TaskKey, float]) -> float | None:
    """When the task's dependencies are done and its start delay over: a time (maybe past),
    an estimate while the last dependencies are under way as some robot's current work
    (`under_way`: seconds left of each), or None if some dependency has not started."""
    mission = record.mission
    times = [mission.release_s or mission.submitted_s]
    for dep_id in task.depends_on:
        dep = record.tasks[dep_id]
        if dep.state is TaskState.DONE:
            times.append((dep.done_s or 0.0) + task.delay_s)
            continue
        left = under_way.get(TaskKey(mission.id, dep_id))
        if dep.state is not TaskState.ACTIVE or left is None:
            return None
        times.append(now_s + left + task.delay_s)
    return max(times)


def may_begin(record: MissionRecord, task: Task, now_s: float, inventory: Inventory) -> bool:
    """True once a task (maybe given out ahead) may begin: released, dependencies done, start
    delay over, its part in the cell."""
    if any(record.tasks[d].state is not TaskState.DONE for d in task.depends_on):
        return False
    start = ready_at(record, task, now_s, {})
    if start is None or start > now_s + 1e-9:
        return False
    return inventory.part_in(task)


def work_to_come(missions: Sequence[MissionRecord], now_s: float,
                 seconds_of: Callable[[MissionRecord, Task], float]
                 ) -> list[tuple[Task, float]]:
    """The released missions' tasks nobody has been given yet, with their seconds of work: what
    `reserved_shares` splits among the robots able to do them."""
    return [(t.task, seconds_of(r, t.task)) for r in missions if r.released(now_s)
            for t in r.tasks.values()
            if t.state is TaskState.PENDING and t.task.kind not in PINNED_KINDS]


def _on_its_way(t: TaskRecord) -> bool:
    """A transport given to a robot whose load has not been dropped yet."""
    return (t.task.kind is TaskKind.TRANSPORT and not t.delivered
            and t.state in (TaskState.ASSIGNED, TaskState.ACTIVE))


def _cell_work(task: Task, inventory: Inventory) -> bool:
    """A weld, or a transport out of a weld cell or buffer: the work looking ahead is for."""
    return task.kind is TaskKind.WELD or (task.kind is TaskKind.TRANSPORT
                                          and inventory.holds(task.pickup))


class Round:
    """One dispatch round's view of the line; `jobs_of` gives each mission's jobs.

    `missions` are the open missions in submission order, `under_way` the tasks that are some
    robot's current work with its estimated seconds left, `tail` the seconds of a mission's
    work left after a task (longest chain), `held` the jobs given out ahead whose robot may
    still swap them (offered again with it as `Job.holder`), `claim_room` whether offered
    transports take the holding cells' places (see the attribute).
    """

    def __init__(self, missions: Sequence[MissionRecord], inventory: Inventory,
                 under_way: Mapping[TaskKey, float], tail: Callable[[MissionRecord, str], float],
                 now_s: float, lookahead_s: float = 0.0,
                 held: Mapping[TaskKey, str] | None = None, claim_room: bool = True,
                 delay_lookahead: bool = False) -> None:
        self.missions = missions
        self.inventory = inventory
        self.under_way = under_way
        self.tail = tail
        self.now_s = now_s
        self.lookahead_s = lookahead_s
        self.held = held
        self.claim_room = claim_room
        """True: each transport offered into a holding cell takes one of its places, so no
        more are offered than fit; False: every transport into a cell with room is offered
        (a dispatcher that `schedules_ahead` chooses which one goes)."""
        self.delay_lookahead = delay_lookahead
        """True: looking ahead also offers a transport whose dependencies are done and whose
        start delay is running (its ready time is known to the second): its robot can set off
        to be at the pickup when the delay ends, rather than cross the floor after it."""
        inv = inventory
        # Loads at each holding station plus the transports on their way to drop one there;
        # it grows as this round offers more transports into a station.
        self._holding: dict[str, int] = {s: len(inv.loads(s)) for s in inv.holding}
        for r in self.missions:
            for t in r.tasks.values():
                if _on_its_way(t) and inv.holds(t.task.dropoff):
                    self._holding[t.task.dropoff] += 1
        self._backlog = cell_backlogs([
            waiting_part(t.task.dropoff, f"{r.mission.id}/{t.task.id}", r.mission.tasks,
                         t.task, self.tail(r, t.task.id))
            for r in self.missions for t in r.tasks.values()
            if t.state is TaskState.PENDING and t.task.kind is TaskKind.TRANSPORT
            and inv.holds(t.task.dropoff)])
        self._leaving: dict[str, bool] = {}

    def jobs_of(self, record: MissionRecord) -> list[Job]:
        """The mission's tasks to offer this round (none if it is not released yet)."""
        if not record.released(self.now_s):
            return []
        mission, inv, now = record.mission, self.inventory, self.now_s
        held = self.held or {}
        jobs: list[Job] = []
        for task in record.tasks.values():
            t = task.task
            holder = held.get(TaskKey(mission.id, t.id), "")
            if (task.state is not TaskState.PENDING and not holder) or t.kind in PINNED_KINDS:
                continue
            start = ready_at(record, t, now, self.under_way)
            if start is None:
                continue
            ready_in_s = max(0.0, start - now)
            deps_done = all(record.tasks[d].state is TaskState.DONE for d in t.depends_on)
            if not deps_done:
                ready_in_s = max(ready_in_s, 1.0)
            delayed = self.delay_lookahead and deps_done and t.kind is TaskKind.TRANSPORT
            if not holder and ready_in_s > 0 and (ready_in_s > self.lookahead_s
                                                  or not (_cell_work(t, inv) or delayed)):
                continue
            if ready_in_s <= 0 and not inv.part_in(t):
                continue
            if not holder and t.kind is TaskKind.TRANSPORT and inv.holds(t.dropoff):
                # No more transports into a cell or buffer than it has room for; looking
                # ahead, one more once the part in it is being welded or taken out: its
                # robot brings the next part and waits next to the cell.
                room = inv.capacity(t.dropoff)
                if self.lookahead_s > 0 and self._holding[t.dropoff] == room and \
                        self.leaving(t.dropoff):
                    ready_in_s = max(ready_in_s, 1.0)
                elif self._holding[t.dropoff] >= room:
                    continue
                if self.claim_room:
                    self._holding[t.dropoff] += 1
            first = t.pickup if t.kind is TaskKind.TRANSPORT else t.cell
            cell = holding_station(mission.tasks, t, inv.holds)
            jobs.append(Job(mission.id, t, mission.priority, mission.deadline_s,
                            record.order, first, min(start, now), self.tail(record, t.id),
                            self._backlog(cell, f"{mission.id}/{t.id}") if cell else 0.0,
                            ready_in_s, holder))
        return jobs

    def outlook(self, speed_factors: Mapping[RobotKind, float] | None = None) -> Outlook:
        """The work this round's view knows about, for a dispatcher that schedules ahead, with
        the robots' observed pace if known."""
        return Outlook(self.missions, self.under_way, self.inventory, dict(speed_factors or {}))

    def leaving(self, station_id: str) -> bool:
        """True if the station is full, every load in it is being taken out as some robot's
        current work (into a place with room), and no load is on its way in: it is about
        to have room."""
        known = self._leaving.get(station_id)
        if known is None:
            known = self._leaving[station_id] = self._about_to_empty(station_id)
        return known

    def _about_to_empty(self, station_id: str) -> bool:
        inv = self.inventory
        loads = inv.loads(station_id)
        if not loads or len(loads) < inv.capacity(station_id):
            return False
        taken: set[str] = set()
        for record in self.missions:
            for task in record.tasks.values():
                t = task.task
                if not _on_its_way(task):
                    continue
                if t.dropoff == station_id:
                    return False
                # Only a robot already doing the take-out counts: a queued one might wait
                # behind a robot that waits for room elsewhere.
                if (t.pickup == station_id and t.load_id in loads
                        and TaskKey(record.mission.id, t.id) in self.under_way
                        and inv.room_for(t)):
                    taken.add(t.load_id)
        return taken >= set(loads)
