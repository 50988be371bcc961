"""The coordinator's durable state: what the event log says, and nothing else.

`FleetState` changes only by `accept` (a mission and its ACCEPTED event) and `apply` (every
other event). The same two functions run live and on replay, so a coordinator restarted from
its store is in exactly the state it was in when its last event was written. What is not here
is volatile and rebuilt when robots connect again: robot sessions, released paths, the
coordinator's own errands (charging, parking, making way).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping

from fleet.floor import Station
from fleet.model import (
    EventKind,
    Mission,
    MissionEvent,
    MissionRecord,
    MissionState,
    RobotKind,
    RobotSpec,
    TaskKey,
    TaskKind,
    TaskRecord,
    TaskState,
    TransportStep,
)

__all__ = ["FleetState", "replay", "step_count"]

log = logging.getLogger(__name__)

_ENDS = {EventKind.COMPLETED: MissionState.COMPLETED, EventKind.FAILED: MissionState.FAILED,
         EventKind.CANCELLED: MissionState.CANCELLED}


def step_count(kind: TaskKind, robot_kind: RobotKind) -> int:
    """How many steps a robot of this kind takes for a task of this kind (see `steps_for`)."""
    if kind is TaskKind.TRANSPORT:
        return len(TransportStep)
    if kind is TaskKind.PARK:
        return 1
    if kind is TaskKind.WELD and robot_kind is RobotKind.FIXED_WELDER:
        return 1
    return 2


class FleetState:
    """Missions and their tasks, each robot's queue of tasks, and the loads at the stations.

    A robot's queue holds the tasks given to it in the order they were given; its head is its
    current task. Equality compares everything the log determines.
    """

    def __init__(self, stations: Mapping[str, Station], holding: frozenset[str]) -> None:
        self.missions: dict[str, MissionRecord] = {}
        self._open: dict[str, MissionRecord] = {}
        """The unfinished missions, in submission order (kept by `accept` and `_end`, so a
        round over the open missions does not pass every mission ever accepted)."""
        self.queues: dict[str, list[TaskKey]] = {}
        self.contents: dict[str, list[str]] = {s: [] for s in stations}
        """Loads standing at each station (dropped and not yet picked), oldest first."""
        self.roster: dict[str, RobotSpec] = {}
        """Every robot that ever registered, as it last did."""
        self._holding = holding
        self.replaying = False
        """True while `replay` rebuilds the state: what was logged live is not logged again."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FleetState):
            return NotImplemented
        mine = {r: q for r, q in self.queues.items() if q}
        theirs = {r: q for r, q in other.queues.items() if q}
        return (self.missions == other.missions and mine == theirs
                and self.contents == other.contents)

    __hash__ = None  # type: ignore[assignment]

    # -- queries ----------------------------------------------------------------------------
    def task(self, key: TaskKey) -> TaskRecord:
        """The record of a task."""
        return self.missions[key.mission_id].tasks[key.task_id]

    def head(self, robot_id: str) -> TaskKey | None:
        """The robot's current task, if it has one."""
        queue = self.queues.get(robot_id)
        return queue[0] if queue else None

    def queued(self, robot_id: str) -> list[TaskKey]:
        """The tasks given to the robot after its current one."""
        return self.queues.get(robot_id, [])[1:]

    def open_missions(self) -> Iterator[MissionRecord]:
        """Unfinished missions in submission order."""
        return iter(list(self._open.values()))

    # -- changes ----------------------------------------------------------------------------
    def register(self, spec: RobotSpec) -> None:
        """A robot registered (stored apart from the event log, before its first event)."""
        self.roster[spec.id] = spec

    def accept(self, mission: Mission) -> MissionRecord:
        """A mission was accepted (its ACCEPTED event)."""
        record = MissionRecord.new(mission, len(self.missions))
        self.missions[mission.id] = record
        self._open[mission.id] = record
        return record

    def apply(self, e: MissionEvent) -> set[str]:
        """Apply one event; returns the robots whose current task changed."""
        record = self.missions.get(e.mission_id)
        if record is None:
            log.error("event %s names unknown mission %r: ignored", e.kind.value, e.mission_id)
            return set()
        if e.kind in _ENDS:
            return self._end(record, e)
        task = record.tasks.get(e.task_id)
        if task is None:
            log.error("event %s names unknown task %s/%s: ignored", e.kind.value,
                      e.mission_id, e.task_id)
            return set()
        key = TaskKey(e.mission_id, e.task_id)
        if e.kind is EventKind.ASSIGNED:
            spec = self.roster.get(e.robot_id)
            task.state, task.robot_id = TaskState.ASSIGNED, e.robot_id
            task.attempt += 1
            task.steps_total = step_count(task.task.kind,
                                          spec.kind if spec else RobotKind.AGV)
            queue = self.queues.setdefault(e.robot_id, [])
            queue.append(key)
            return {e.robot_id} if len(queue) == 1 else set()
        if e.kind is EventKind.UNASSIGNED:
            holder = task.robot_id
            task.state, task.robot_id, task.steps_done = TaskState.PENDING, "", 0
            return self._dequeue(holder, key)
        if e.kind is EventKind.STARTED:
            task.state = TaskState.ACTIVE
            if record.state is MissionState.ACCEPTED:
                record.state = MissionState.ACTIVE
        elif e.kind is EventKind.STEP_DONE:
            task.steps_done = e.step + 1
            self._load_moved(task, e.step)
        elif e.kind is EventKind.TASK_DONE:
            task.state, task.done_s = TaskState.DONE, e.time_s
            return self._dequeue(task.robot_id, key)
        return set()

    def _end(self, record: MissionRecord, e: MissionEvent) -> set[str]:
        """A mission completed, failed or was cancelled: its unfinished tasks end with it."""
        record.state, record.finished_s = _ENDS[e.kind], e.time_s
        self._open.pop(record.mission.id, None)
        record.reason = e.detail
        changed: set[str] = set()
        if e.kind is not EventKind.COMPLETED:
            self._clear_loads(record)
        for t in record.tasks.values():
            if t.state.finished:
                continue
            t.state = (TaskState.FAILED if e.kind is EventKind.FAILED and t.task.id == e.task_id
                       else TaskState.CANCELLED)
            if t.robot_id:
                changed |= self._dequeue(t.robot_id, TaskKey(record.mission.id, t.task.id))
        return changed

    def _dequeue(self, robot_id: str, key: TaskKey) -> set[str]:
        queue = self.queues.get(robot_id, [])
        if key not in queue:
            return set()
        was_head = queue[0] == key
        queue.remove(key)
        return {robot_id} if was_head else set()

    def _load_moved(self, task: TaskRecord, step: int) -> None:
        """A transport's pick takes its load off the pickup station, its drop puts it on a
        station that holds loads (a dropoff's machine takes it in)."""
        t = task.task
        if t.kind is not TaskKind.TRANSPORT:
            return
        if step == TransportStep.PICK and t.load_id in self.contents.get(t.pickup, []):
            self.contents[t.pickup].remove(t.load_id)
        elif step == TransportStep.DROP and t.dropoff in self._holding:
            self.contents[t.dropoff].append(t.load_id)

    def _clear_loads(self, record: MissionRecord) -> None:
        """A failed or cancelled mission's parts are taken off the stations (by people), so
        they do not hold a cell for ever."""
        loads = {t.load_id for t in record.mission.tasks if t.load_id}
        for station, held in self.contents.items():
            kept = [x for x in held if x not in loads]
            if len(kept) != len(held):
                log.log(logging.DEBUG if self.replaying else logging.WARNING,
                        "mission %s ended: its loads at %s are to be cleared by hand",
                        record.mission.id, station)
                self.contents[station] = kept


def replay(state: FleetState, missions: Mapping[str, Mission],
           events: Iterable[MissionEvent]) -> None:
    """Apply a stored event log to a state (`missions`: the stored missions by id)."""
    state.replaying = True
    try:
        for event in events:
            if event.kind is EventKind.ACCEPTED:
                state.accept(missions[event.mission_id])
            else:
                state.apply(event)
    finally:
        state.replaying = False
