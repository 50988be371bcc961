"""Where missions and tasks stand: the records the coordinator keeps and dispatch reads."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from fleet.model.missions import Mission, MissionState, Task, TaskKind, TaskState

__all__ = ["MissionRecord", "TaskKey", "TaskRecord", "TransportStep"]


class TransportStep(enum.IntEnum):
    """The steps of a transport, in the order a robot does them; the index of each is what a
    STEP_DONE event's `step` says."""

    GO_TO_PICKUP = 0
    PICK = 1
    GO_TO_DROPOFF = 2
    DROP = 3


@dataclass(frozen=True, slots=True, order=True)
class TaskKey:
    """Names one task of one mission."""

    mission_id: str
    task_id: str

    def __str__(self) -> str:
        return f"{self.mission_id}/{self.task_id}"


@dataclass(slots=True)
class TaskRecord:
    """A task and where it stands."""

    task: Task
    state: TaskState = TaskState.PENDING
    robot_id: str = ""
    steps_done: int = 0
    steps_total: int = 0
    done_s: float | None = None
    """Coordinator-clock seconds when it was done."""
    attempt: int = 0
    """How many times it has been given to a robot: part of its action ids, so that a robot's
    report on an earlier attempt is never taken for this one."""

    @property
    def delivered(self) -> bool:
        """True once a transport's load has been dropped (always False for other tasks)."""
        return self.task.kind is TaskKind.TRANSPORT and self.steps_done > TransportStep.DROP

    @property
    def picked(self) -> bool:
        """True once a transport's load is on board or delivered."""
        return self.task.kind is TaskKind.TRANSPORT and self.steps_done > TransportStep.PICK


@dataclass(slots=True)
class MissionRecord:
    """A mission and where it stands."""

    mission: Mission
    order: int
    """Submission order, from 0."""
    state: MissionState = MissionState.ACCEPTED
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    reason: str = ""
    finished_s: float = 0.0

    @classmethod
    def new(cls, mission: Mission, order: int) -> MissionRecord:
        """The record of a mission just accepted."""
        return cls(mission, order, tasks={t.id: TaskRecord(t) for t in mission.tasks})

    def released(self, now_s: float) -> bool:
        """True if the mission is open and its release time has come."""
        return not self.state.finished and (self.mission.release_s or 0.0) <= now_s
