"""The event log on one SQLite file: the default store, no server needed.

Every call is one transaction that has committed when the call returns. With the write-ahead
log (`journal_mode=WAL`) and `synchronous=FULL`, a committed transaction survives a killed
process and a power cut; readers in other connections never wait for the writer. Measured on
the project's 2-core CI machines: about 0.3-0.5 ms per commit.

The SQL stays plain (TEXT, INTEGER, REAL, `ON CONFLICT ... DO UPDATE`) so that the PostgreSQL
store can keep the same tables.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from fleet.model import (
    AlreadyExistsError,
    InfeasibleError,
    Mission,
    MissionEvent,
    NotFoundError,
    Registration,
    RobotSpec,
)
from fleet.store._codec import (
    decode_mission,
    decode_registration,
    encode_mission,
    encode_robot,
)
from fleet.store._rules import (
    EVENT_COLUMNS,
    SCHEMA,
    SCHEMA_VERSION,
    EventRow,
    check_accepted,
    check_appendable,
    event_from_row,
    event_row,
    missing_missions,
)

__all__ = ["SCHEMA_VERSION", "SqliteStore"]

_log = logging.getLogger(__name__)

_BUSY_TIMEOUT_S = 10.0
"""How long a write waits for another process's write transaction before giving up."""

_MAX_PARAMETERS = 500
"""Bound on `?` placeholders in one statement (SQLite's own limit is far higher)."""

# In SQLite only "INTEGER PRIMARY KEY" makes the column the row id (no second index).
_SQLITE_SCHEMA = tuple(s.replace("seq BIGINT PRIMARY KEY", "seq INTEGER PRIMARY KEY")
                       for s in SCHEMA)


class SqliteStore:
    """An `EventStore` on one SQLite database file, or in memory for tests (":memory:").

    Safe to share between threads (calls are serialized by a lock) and between processes
    (SQLite's file locks; a writer waits up to 10 s for another). Usable as a context manager.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        location = os.fspath(path)
        if location != ":memory:":
            parent = Path(location).parent
            if not parent.is_dir():
                raise NotFoundError(
                    f"store directory {str(parent)!r} does not exist", field="store", value=location
                )
        self._location = location
        self._lock = threading.Lock()
        # isolation_level=None: no implicit transactions; every write says BEGIN and COMMIT.
        self._connection = sqlite3.connect(
            location,
            timeout=_BUSY_TIMEOUT_S,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            self._configure()
            self._create_schema()
        except BaseException:
            self._connection.close()
            raise
        _log.debug("opened SQLite store %s", location)

    @property
    def location(self) -> str:
        """The database file's path as given, or ":memory:"."""
        return self._location

    def add_mission(self, mission: Mission, accepted: MissionEvent) -> MissionEvent:
        """Store the mission's spec and its ACCEPTED event in one transaction.

        Returns the event with its `seq`. Raises `AlreadyExistsError(field="mission.id")` if a
        mission with this id was stored before, `InvalidInputError` if `accepted` is not this
        mission's ACCEPTED event, carries a seq already or has a non-finite time.
        """
        check_accepted(mission, accepted)
        spec = encode_mission(mission)
        with self._transaction() as connection:
            exists = connection.execute(
                "SELECT 1 FROM missions WHERE id = ?", (mission.id,)
            ).fetchone()
            if exists is not None:
                raise AlreadyExistsError(
                    f"mission {mission.id!r} exists already", field="mission.id", value=mission.id
                )
            seq = _last_seq(connection) + 1
            connection.execute(
                f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                event_row(accepted, seq),
            )
            connection.execute(
                "INSERT INTO missions (id, accepted_seq, spec) VALUES (?, ?, ?)",
                (mission.id, seq, spec),
            )
        return dataclasses.replace(accepted, seq=seq)

    def append(self, events: Sequence[MissionEvent]) -> list[MissionEvent]:
        """Append events in one transaction; returns them with strictly increasing `seq`.

        All or nothing. Raises `NotFoundError(field="event.mission_id")` for an event of a
        mission that was never added, `InvalidInputError` for an ACCEPTED event (those come
        with `add_mission`), an event that carries a seq already or has a non-finite time.
        """
        if not events:
            return []
        check_appendable(events)
        with self._transaction() as connection:
            _check_missions_exist(connection, {event.mission_id for event in events})
            first = _last_seq(connection) + 1
            connection.executemany(
                f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [event_row(event, first + i) for i, event in enumerate(events)],
            )
        return [dataclasses.replace(event, seq=first + i) for i, event in enumerate(events)]

    def missions(self) -> list[Mission]:
        """Every stored mission, in the order they were added."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT spec FROM missions ORDER BY accepted_seq"
            ).fetchall()
        return [decode_mission(spec) for (spec,) in rows]

    def events(self, after_seq: int = 0, mission_id: str | None = None) -> list[MissionEvent]:
        """Events with `seq > after_seq`, of one mission if `mission_id` is given, by seq."""
        query = f"SELECT {EVENT_COLUMNS} FROM events WHERE seq > ?"
        parameters: tuple[int | str, ...] = (after_seq,)
        if mission_id is not None:
            query += " AND mission_id = ?"
            parameters += (mission_id,)
        query += " ORDER BY seq"
        with self._lock:
            rows: list[EventRow] = self._connection.execute(query, parameters).fetchall()
        return [event_from_row(row) for row in rows]

    def put_robot(self, spec: RobotSpec, home_station: str = "") -> None:
        """Insert or replace the robot's registration (keyed by `spec.id`)."""
        with self._transaction() as connection:
            connection.execute(
                "INSERT INTO robots (id, spec) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET spec = excluded.spec",
                (spec.id, encode_robot(spec, home_station)),
            )

    def robots(self) -> list[Registration]:
        """Every registered robot, ordered by id."""
        with self._lock:
            rows = self._connection.execute("SELECT spec FROM robots ORDER BY id").fetchall()
        return [decode_registration(spec) for (spec,) in rows]

    def close(self) -> None:
        """Close the database; later calls raise `sqlite3.ProgrammingError`. Idempotent."""
        with self._lock:
            self._connection.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteStore({self._location!r})"

    def _configure(self) -> None:
        connection = self._connection
        (mode,) = connection.execute("PRAGMA journal_mode=WAL").fetchone()
        if mode != "wal" and self._location != ":memory:":
            # Happens on file systems without shared memory (some network mounts): still
            # durable, but readers then wait for writers.
            _log.warning("SQLite store %s runs in journal mode %r, not WAL", self._location, mode)
        connection.execute("PRAGMA synchronous=FULL")

    def _create_schema(self) -> None:
        # Opening an existing store only reads, so it never waits for another writer.
        if self._schema_version(self._connection) is None:
            with self._transaction() as connection:
                # Re-read under the write lock: another process may have just created it.
                if self._schema_version(connection) is None:
                    connection.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                    for statement in _SQLITE_SCHEMA:
                        connection.execute(statement)
                    connection.execute(
                        "INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,)
                    )

    def _schema_version(self, connection: sqlite3.Connection) -> int | None:
        """The file's schema version, None for a new file; refuses a newer layout."""
        table = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
        if table is None:
            return None
        (version,) = connection.execute("SELECT MAX(version) FROM schema_version").fetchone()
        if version is None:
            return None
        if version > SCHEMA_VERSION:
            raise InfeasibleError(
                f"store {self._location!r} has schema version {version}; this fleet reads up "
                f"to {SCHEMA_VERSION}: upgrade fleet",
                field="store.schema_version",
                value=version,
            )
        return int(version)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed on exit, rolled back on any exception."""
        with self._lock:
            connection = self._connection
            # IMMEDIATE takes the write lock now, so the seq read inside cannot go stale.
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                # SQLite rolls back by itself after some errors (disk full, I/O).
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise


def _check_missions_exist(connection: sqlite3.Connection, mission_ids: set[str]) -> None:
    wanted = sorted(mission_ids)
    found: set[str] = set()
    for start in range(0, len(wanted), _MAX_PARAMETERS):
        chunk = wanted[start : start + _MAX_PARAMETERS]
        placeholders = ", ".join("?" * len(chunk))
        rows = connection.execute(
            f"SELECT id FROM missions WHERE id IN ({placeholders})", chunk
        ).fetchall()
        found.update(mission_id for (mission_id,) in rows)
    missing_missions(mission_ids, found)


def _last_seq(connection: sqlite3.Connection) -> int:
    row = connection.execute("SELECT MAX(seq) FROM events").fetchone()
    return 0 if row[0] is None else int(row[0])
