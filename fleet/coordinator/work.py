"""What a robot does for a task, step by step, and how far it has got.

A task becomes steps (`steps_for`): drive to a station (`Go`), act there (`Act`). A robot's
`Work` is its current task (the head of its queue in the `FleetState`) or an errand of the
coordinator's own (charge, park, wait somewhere), with the progress only the live coordinator
knows: the path it was given, whether its action was sent, a detour it makes first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fleet.model import ActionKind, Cell, RobotKind, Task, TaskKey, TaskKind, TransportStep

__all__ = ["Act", "Go", "Step", "Work", "steps_for"]


@dataclass(frozen=True, slots=True)
class Go:
    """Drive to a station (or, with an empty `station_id`, to a cell of the open floor)."""

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


Step = Go | Act


def steps_for(task: Task, robot_kind: RobotKind, cells: Mapping[str, Cell]) -> tuple[Step, ...]:
    """The steps a robot takes to do a task; a fixed welder skips the driving.

    A transport's steps are in `TransportStep` order, which STEP_DONE events count by.
    """
    if task.kind is TaskKind.TRANSPORT:
        steps: dict[TransportStep, Step] = {
            TransportStep.GO_TO_PICKUP: Go(task.pickup, cells[task.pickup],
                                           f"go to {task.pickup}"),
            TransportStep.PICK: Act(ActionKind.PICK, task.pickup, f"pick {task.load_id}",
                                    load_id=task.load_id),
            TransportStep.GO_TO_DROPOFF: Go(task.dropoff, cells[task.dropoff],
                                            f"go to {task.dropoff}"),
            TransportStep.DROP: Act(ActionKind.DROP, task.dropoff, f"drop {task.load_id}",
                                    load_id=task.load_id)}
        return tuple(steps[s] for s in TransportStep)
    if task.kind is TaskKind.CHARGE:
        # No duration: the coordinator works it out from the battery when it sends the action.
        return (Go(task.cell, cells[task.cell], f"go to {task.cell}"),
                Act(ActionKind.CHARGE, task.cell, "charge"))
    if task.kind is TaskKind.PARK:
        return (Go(task.cell, cells[task.cell], f"park at {task.cell}"),)
    weld = Act(ActionKind.WELD, task.cell, f"weld {task.program}", program=task.program,
               duration_s=task.duration_s)
    if robot_kind is RobotKind.FIXED_WELDER:
        return (weld,)
    return (Go(task.cell, cells[task.cell], f"go to {task.cell}"), weld)


@dataclass(slots=True)
class Work:
    """A robot's current task (`key`) or errand (`key` None), and how far it has got.

    `name` identifies it in action ids: for a task, `mission/task/attempt` (the attempt is
    durable, so a report about an earlier attempt never counts for this one); for an errand,
    an id that includes the coordinator's incarnation.
    """

    key: TaskKey | None
    name: str
    steps: tuple[Step, ...]
    index: int = 0
    """The step under way; for a task, the same as its `TaskRecord.steps_done`."""
    path_id: str = ""
    action_sent: bool = False
    blocked_since_s: float | None = None
    failed_plans: int = 0
    """Searches for a path to `failed_cell` that found none, one after another."""
    failed_cell: Cell | None = None
    plan_again_at_s: float = 0.0
    """No new search for a path to `failed_cell` before this time (see
    `CoordinatorConfig.plan_retry_s`); a path to anywhere else may be searched at once."""
    detour: Go | None = None
    """A trip to make way or to wait somewhere, done before the current step."""

    @property
    def errand(self) -> bool:
        """True for the coordinator's own trips: parking, making way, charging."""
        return self.key is None

    @property
    def current(self) -> Step:
        """The step under way: a detour first, if there is one."""
        return self.detour if self.detour is not None else self.steps[self.index]

    @property
    def remaining(self) -> tuple[Step, ...]:
        """The detour, if any, and the steps not done yet."""
        rest = self.steps[self.index:]
        return (self.detour, *rest) if self.detour is not None else rest

    def action_id(self) -> str:
        """The id of the current step's action."""
        return f"{self.name}/{self.index}"
