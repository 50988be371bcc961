"""What leaves the coordinator: events to the store and to watchers, commands to robots.

Nothing is seen outside before it is durable. A command (submit, cancel, pause) decides its
events, writes them, and only then applies them: a write that fails changes nothing. The
control step applies its events as it decides them (each decision builds on the last) and
writes them all in one transaction at its end; should that write fail, they stay pending,
are written first by the next write, and until then no command reaches a robot and no event
a watcher.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fleet.coordinator.state import FleetState
from fleet.model import (
    Command,
    FleetError,
    Mission,
    MissionEvent,
    MissionRecord,
    UnavailableError,
)
from fleet.store import EventStore

__all__ = ["Journal", "Outbox", "Output"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Output:
    """What one call produced for the outside world, in order: events written, commands to
    send, each command with the robot and the stream it was decided for."""

    events: list[MissionEvent] = field(default_factory=list)
    commands: list[tuple[str, int, Command]] = field(default_factory=list)


class Outbox:
    """Commands for robots, held until the events that led to them are durable."""

    def __init__(self) -> None:
        self._commands: list[tuple[str, int, Command]] = []

    def send(self, robot_id: str, stream: int, command: Command) -> None:
        """Queue a command for the robot's stream `stream` (dropped if that stream is gone)."""
        self._commands.append((robot_id, stream, command))

    def take(self) -> list[tuple[str, int, Command]]:
        """Every queued command, oldest first; the outbox is empty afterwards."""
        out, self._commands = self._commands, []
        return out


class Journal:
    """Applies events to the `FleetState` and writes them to the store, in that order or the
    other (see the module). `on_change(robots)` hears which robots' current task changed."""

    def __init__(self, state: FleetState, store: EventStore,
                 on_change: Callable[[set[str]], None]) -> None:
        self.state = state
        self.store = store
        self.on_change = on_change
        self.pending: list[MissionEvent] = []
        """Applied, not yet written (the control step's, or a failed write's)."""
        self.written: list[MissionEvent] = []
        """Written, not yet published."""

    def emit(self, event: MissionEvent) -> None:
        """Apply an event now; it is written by the next `commit`."""
        self.pending.append(event)
        self.on_change(self.state.apply(event))

    def commit(self) -> None:
        """Write the pending events in one transaction. Raises `UnavailableError` (they stay
        pending) if the store cannot take them."""
        if not self.pending:
            return
        stored = self._append(self.pending)
        self.pending = []
        self.written.extend(stored)

    def record(self, events: Sequence[MissionEvent]) -> None:
        """A command's events: written (with anything pending, first) and then applied; if the
        write fails, `UnavailableError` and nothing changed."""
        if not events:
            self.commit()
            return
        stored = self._append([*self.pending, *events])
        self.pending = []
        self.written.extend(stored)
        for event in events:
            self.on_change(self.state.apply(event))

    def accept(self, mission: Mission, accepted: MissionEvent) -> MissionRecord:
        """Store a new mission with its ACCEPTED event, then add it to the state."""
        self.commit()
        stored = self.store.add_mission(mission, accepted)
        self.written.append(stored)
        return self.state.accept(mission)

    def durable(self) -> bool:
        """True if every applied event is written."""
        return not self.pending

    def take_written(self) -> list[MissionEvent]:
        """Events written since the last call, for watchers."""
        out, self.written = self.written, []
        return out

    def _append(self, events: Sequence[MissionEvent]) -> list[MissionEvent]:
        try:
            return self.store.append(events)
        except FleetError:
            raise
        except Exception as err:
            # A store that fails in a way it does not name (a full disk, a lost file) is
            # treated the same: nothing was written, the caller may retry.
            log.exception("store write of %d events failed", len(events))
            raise UnavailableError(f"the store could not write {len(events)} events: {err}; "
                                   "nothing was changed", field="store") from err
