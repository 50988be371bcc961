"""The coordinator's live records of missions, tasks and robots."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fleet.model import (
    ActionKind,
    Cell,
    Command,
    Mission,
    MissionState,
    RobotSpec,
    RobotState,
    Task,
    TaskKind,
    TaskState,
)

__all__ = ["Act", "Channel", "Go", "MissionRecord", "RobotRecord", "TaskRecord", "Work",
           "steps_for"]


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


@dataclass(slots=True)
class MissionRecord:
    """A mission and where it stands."""

    mission: Mission
    order: int
    state: MissionState = MissionState.ACCEPTED
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    reason: str = ""
    finished_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Go:
    """Drive to a station."""

    station_id: str
    cell: Cell
    name: str


@dataclass(frozen=True, slots=True)
class Act:
    """Perform an action at the station where the robot stands."""

    kind: ActionKind
    station_id: str
    name: str
    load_id: str = ""
    program: str = ""
    duration_s: float = 0.0


@dataclass(slots=True)
class Work:
    """What a robot is doing: a mission task, or parking when `mission_id` is empty."""

    mission_id: str
    task_id: str
    steps: list[Go | Act]
    index: int = 0
    path_id: str = ""
    action_sent: bool = False
    started: bool = False
    blocked_since_s: float | None = None
    detour: Go | None = None
    """A trip to make way, done before the current step."""

    @property
    def parking(self) -> bool:
        """True for the coordinator's own trips: parking, making way, charging."""
        return not self.mission_id

    @property
    def current(self) -> Go | Act:
        """The step under way: a detour to make way first, if there is one."""
        return self.detour if self.detour is not None else self.steps[self.index]

    def action_id(self) -> str:
        """The id of the current step's action, stable across restarts."""
        return f"{self.mission_id}/{self.task_id}/{self.index}"


class Channel:
    """The command stream to one connected robot; commands are numbered from 1."""

    def __init__(self, robot_id: str) -> None:
        self.robot_id = robot_id
        self.queue: asyncio.Queue[tuple[int, Command] | None] = asyncio.Queue()
        self.seq = 0
        self.closed = False

    def send(self, command: Command) -> int:
        """Queue a command; returns its sequence number."""
        self.seq += 1
        self.queue.put_nowait((self.seq, command))
        return self.seq

    def close(self) -> None:
        """End the stream (the server side stops iterating)."""
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)


@dataclass(slots=True)
class RobotRecord:
    """A robot known to the coordinator."""

    spec: RobotSpec
    session_id: str = ""
    channel: Channel | None = None
    state: RobotState | None = None
    disconnected_at: float | None = None
    work: Work | None = None
    queue: list[Work] = field(default_factory=list)
    """Mission tasks given to the robot to do after `work` (not started)."""
    home_station: str = ""
    """For a fixed welder, its weld cell."""
    placed: bool = False
    """True once the robot stands in the traffic grid."""
    progress: tuple[str, int, int] = ("", 0, 0)
    """(path id, last cell reached, last released) as of `progress_at`."""
    progress_at: float = 0.0
    hold: str = ""
    """Why an operator holds the robot (pause), "" if not held."""

    @property
    def connected(self) -> bool:
        """True while its command stream is open."""
        return self.channel is not None and not self.channel.closed


def steps_for(task: Task, robot: RobotSpec, cells: dict[str, Cell],
              fixed: bool) -> list[Go | Act]:
    """The steps a robot takes to do a task; fixed robots skip the driving."""
    if task.kind is TaskKind.TRANSPORT:
        return [Go(task.pickup, cells[task.pickup], f"go to {task.pickup}"),
                Act(ActionKind.PICK, task.pickup, f"pick {task.load_id}", load_id=task.load_id),
                Go(task.dropoff, cells[task.dropoff], f"go to {task.dropoff}"),
                Act(ActionKind.DROP, task.dropoff, f"drop {task.load_id}", load_id=task.load_id)]
    if task.kind is TaskKind.CHARGE:
        # No duration: the coordinator works it out from the battery when it sends the action.
        return [Go(task.cell, cells[task.cell], f"go to {task.cell}"),
                Act(ActionKind.CHARGE, task.cell, "charge")]
    if task.kind is TaskKind.PARK:
        return [Go(task.cell, cells[task.cell], f"park at {task.cell}")]
    weld = Act(ActionKind.WELD, task.cell, f"weld {task.program}", program=task.program,
               duration_s=task.duration_s)
    if fixed:
        return [weld]
    return [Go(task.cell, cells[task.cell], f"go to {task.cell}"), weld]
