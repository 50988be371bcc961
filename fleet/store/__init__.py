"""Durable state: an append-only log of mission events, the missions and the robot roster.

The coordinator writes here before it acknowledges anything, and rebuilds its state from here
after a restart. `open_store` picks the implementation from a URL; SQLite is the default and
needs no server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from fleet.model import InvalidInputError, Mission, MissionEvent, Registration, RobotSpec
from fleet.store.sqlite import SqliteStore

__all__ = ["EventStore", "SqliteStore", "open_store"]


@runtime_checkable
class EventStore(Protocol):
    """Where the coordinator's truth survives restarts. Every call has committed on return."""

    def add_mission(self, mission: Mission, accepted: MissionEvent) -> MissionEvent:
        """Store a new mission with its ACCEPTED event atomically; returns the event with seq.

        Raises `AlreadyExistsError(field="mission.id")` if the id was used before.
        """
        ...

    def append(self, events: Sequence[MissionEvent]) -> list[MissionEvent]:
        """Append events in one transaction; returns them with strictly increasing seq."""
        ...

    def missions(self) -> list[Mission]:
        """Every mission, in submission order."""
        ...

    def events(self, after_seq: int = 0, mission_id: str | None = None) -> list[MissionEvent]:
        """Events after `after_seq` (of one mission if given), ordered by seq."""
        ...

    def put_robot(self, spec: RobotSpec, home_station: str = "") -> None:
        """Insert or replace a robot's registration (`home_station`: a fixed welder's cell)."""
        ...

    def robots(self) -> list[Registration]:
        """Every registered robot, ordered by id."""
        ...

    def close(self) -> None:
        """Release the connection; the store is unusable afterwards."""
        ...


_SQLITE_PREFIX = "sqlite://"


def open_store(url: str) -> EventStore:
    """Open (creating if needed) the store a URL names.

    Accepted forms, as SQLAlchemy spells them: `sqlite:///relative/path.db`,
    `sqlite:////absolute/path.db`, `sqlite://` or `sqlite:///:memory:` (in memory), a bare
    file path, or `:memory:`; and `postgresql://user:password@host:port/database` (or
    `postgres://`), optionally with `?schema=NAME` (default `fleet`), which needs the
    `fleet[postgres]` extra. Anything else raises `InvalidInputError(field="store")`.
    """
    if not url:
        raise InvalidInputError("store URL is empty", field="store", value=url)
    if "://" not in url:
        return SqliteStore(url)
    if url.startswith(("postgresql://", "postgres://")):
        from fleet.store.postgres import PostgresStore

        return PostgresStore(url)
    if not url.startswith(_SQLITE_PREFIX):
        scheme = url.split("://", 1)[0]
        raise InvalidInputError(
            f"unknown store scheme {scheme!r} in {url!r}; use sqlite:///path.db, a file path, "
            ":memory: or postgresql://host/database",
            field="store",
            value=url,
        )
    rest = url[len(_SQLITE_PREFIX) :]
    if rest in ("", "/", "/:memory:"):
        return SqliteStore(":memory:")
    if not rest.startswith("/"):
        # sqlite://host/... : SQLite has no host.
        raise InvalidInputError(
            f"store URL {url!r} names a host; use sqlite:///relative.db or sqlite:////absolute.db",
            field="store",
            value=url,
        )
    return SqliteStore(rest[1:])
