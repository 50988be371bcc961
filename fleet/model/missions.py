"""Missions and tasks as planners submit them, and the events that tell their story."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "EventKind",
    "Mission",
    "MissionEvent",
    "MissionState",
    "Task",
    "TaskKind",
    "TaskState",
]


class TaskKind(enum.Enum):
    """What a task asks a robot to do."""

    TRANSPORT = "transport"
    WELD = "weld"
    CHARGE = "charge"
    """Recharge at a charger: submitted for a given robot (the coordinator also sends robots
    to charge on its own)."""
    PARK = "park"
    """Go to a parking place: submitted for a given robot."""


@dataclass(frozen=True, slots=True)
class Task:
    """One job inside a mission.

    A transport moves load `load_id` of `mass_kg` kilograms from station `pickup` to station
    `dropoff`; a weld runs `program` for `duration_s` seconds at weld cell `cell` on the part
    `load_id` (if given, the weld waits until that part is in the cell). A charge or park task
    sends robot `robot` to station `cell`.
    """

    id: str
    kind: TaskKind
    depends_on: tuple[str, ...] = ()
    pickup: str = ""
    dropoff: str = ""
    load_id: str = ""
    mass_kg: float = 0.0
    cell: str = ""
    program: str = ""
    duration_s: float = 0.0
    delay_s: float = 0.0
    """Seconds to wait after the last dependency is done (a machine's process time: paint,
    curing) before the task may start."""
    robot: str = ""
    """For charge and park tasks: the robot that must go."""


@dataclass(frozen=True, slots=True)
class Mission:
    """A planner's request: tasks with dependencies, a priority and an optional deadline."""

    id: str
    tasks: tuple[Task, ...]
    priority: int = 0
    """Higher runs first."""
    deadline_s: float | None = None
    """Seconds on the coordinator's clock by which the mission should be done."""
    submitted_s: float = 0.0
    release_s: float | None = None
    """Seconds on the coordinator's clock before which no task starts (the part is not there
    yet)."""
    labels: dict[str, str] = field(default_factory=dict)


class TaskState(enum.Enum):
    """Where a task stands."""

    PENDING = "pending"
    ASSIGNED = "assigned"
    ACTIVE = "active"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True once the task can no longer change."""
        return self in (TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED)


class MissionState(enum.Enum):
    """Where a mission stands."""

    ACCEPTED = "accepted"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True once the mission can no longer change."""
        return self in (MissionState.COMPLETED, MissionState.FAILED, MissionState.CANCELLED)


class EventKind(enum.Enum):
    """What happened to a mission; the event log is a sequence of these."""

    ACCEPTED = "accepted"
    ASSIGNED = "assigned"
    UNASSIGNED = "unassigned"
    STARTED = "started"
    STEP_DONE = "step_done"
    TASK_DONE = "task_done"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class MissionEvent:
    """One entry of the event log. `seq` is given by the store when it is written."""

    kind: EventKind
    mission_id: str
    time_s: float
    task_id: str = ""
    robot_id: str = ""
    step: int = -1
    """Index of the finished step within the task, for STEP_DONE."""
    detail: str = ""
    """Reason for FAILED/CANCELLED/UNASSIGNED, the step's name for STEP_DONE, why for ASSIGNED."""
    seq: int = 0
