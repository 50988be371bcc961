"""What every store shares: the tables, the row layout, and the checks on what is written.

The SQL is plain (TEXT, BIGINT, DOUBLE PRECISION, `ON CONFLICT ... DO UPDATE`) so that
SQLite and PostgreSQL keep the same tables; only the placeholder differs (`?` or `%s`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from fleet.model import EventKind, InvalidInputError, Mission, MissionEvent, NotFoundError

__all__ = ["EVENT_COLUMNS", "SCHEMA", "SCHEMA_VERSION", "EventRow", "check_accepted",
           "check_appendable", "event_from_row", "event_row", "missing_missions"]

SCHEMA_VERSION = 1
"""The layout of the tables below; a store refuses a database written by a newer layout."""

SCHEMA = (
    """
    CREATE TABLE missions (
        id TEXT PRIMARY KEY,
        accepted_seq BIGINT NOT NULL UNIQUE,
        spec TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE events (
        seq BIGINT PRIMARY KEY,
        mission_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        time_s DOUBLE PRECISION NOT NULL,
        task_id TEXT NOT NULL,
        robot_id TEXT NOT NULL,
        step INTEGER NOT NULL,
        detail TEXT NOT NULL
    )
    """,
    "CREATE INDEX events_by_mission ON events (mission_id, seq)",
    """
    CREATE TABLE robots (
        id TEXT PRIMARY KEY,
        spec TEXT NOT NULL
    )
    """,
)

EVENT_COLUMNS = "seq, mission_id, kind, time_s, task_id, robot_id, step, detail"

EventRow = tuple[int, str, str, float, str, str, int, str]


def check_accepted(mission: Mission, accepted: MissionEvent) -> None:
    """A mission is stored with its own ACCEPTED event, not yet numbered."""
    if accepted.kind is not EventKind.ACCEPTED:
        raise InvalidInputError(
            f"a mission is stored with its ACCEPTED event, got {accepted.kind.name}",
            field="event.kind",
            value=accepted.kind.value,
        )
    if accepted.mission_id != mission.id:
        raise InvalidInputError(
            f"ACCEPTED event names mission {accepted.mission_id!r}, not {mission.id!r}",
            field="event.mission_id",
            value=accepted.mission_id,
        )
    _check_event(accepted)


def check_appendable(events: Sequence[MissionEvent]) -> None:
    """Appended events are not ACCEPTED (those come with their mission) nor numbered yet."""
    for event in events:
        if event.kind is EventKind.ACCEPTED:
            raise InvalidInputError(
                "ACCEPTED events are stored by add_mission, together with the mission",
                field="event.kind",
                value=event.kind.value,
            )
        _check_event(event)


def missing_missions(wanted: set[str], found: set[str]) -> None:
    """Raise NotFoundError naming the missions events were given for but never added."""
    missing = sorted(wanted - found)
    if missing:
        raise NotFoundError(
            f"events for missions never added: {', '.join(map(repr, missing))}",
            field="event.mission_id",
            value=missing[0],
        )


def _check_event(event: MissionEvent) -> None:
    if not math.isfinite(event.time_s):
        raise InvalidInputError(
            f"event {event.kind.name} of mission {event.mission_id!r} has time {event.time_s}",
            field="event.time_s",
            value=event.time_s,
        )
    if event.seq != 0:
        raise InvalidInputError(
            f"event {event.kind.name} of mission {event.mission_id!r} was stored already "
            f"(seq {event.seq}); the store gives seq",
            field="event.seq",
            value=event.seq,
        )


def event_row(event: MissionEvent, seq: int) -> EventRow:
    """The row of an event numbered `seq`."""
    return (seq, event.mission_id, event.kind.value, event.time_s, event.task_id,
            event.robot_id, event.step, event.detail)


def event_from_row(row: EventRow) -> MissionEvent:
    """The event a row holds."""
    seq, mission_id, kind, time_s, task_id, robot_id, step, detail = row
    return MissionEvent(kind=EventKind(kind), mission_id=mission_id, time_s=float(time_s),
                        task_id=task_id, robot_id=robot_id, step=int(step), detail=detail,
                        seq=int(seq))
