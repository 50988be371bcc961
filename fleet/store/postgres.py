"""The event log in PostgreSQL, for shared deployments (`pip install 'fleet[postgres]'`).

Same tables as the SQLite store, in their own schema (`fleet` unless the URL says
`?schema=NAME`), created on first open. Every call is one transaction that has committed
when the call returns; with PostgreSQL's default `synchronous_commit=on` that means it is on
disk. Writers lock the events table (`EXCLUSIVE`: readers never wait), so `seq` grows in
commit order and a reader replaying "after seq N" never misses an event committed later
with a lower number. A dropped connection is opened again on the next call; the call that
met the drop fails and changes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fleet.model import (
    AlreadyExistsError,
    InfeasibleError,
    InvalidInputError,
    Mission,
    MissionEvent,
    Registration,
    RobotSpec,
    UnavailableError,
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

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore", "split_url"]

_log = logging.getLogger(__name__)

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_LOCK_KEY = 0x666C656574
"""Advisory lock key ('fleet') taken while a schema is created, so two openers agree."""
_PLACEHOLDERS = "%s, %s, %s, %s, %s, %s, %s, %s"


def split_url(url: str) -> tuple[str, str]:
    """(libpq connection URL, schema name) from a store URL with an optional `?schema=`."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = "fleet"
    kept = []
    for key, value in query:
        if key == "schema":
            schema = value
        else:
            kept.append((key, value))
    if not _SCHEMA_NAME.fullmatch(schema):
        raise InvalidInputError(
            f"schema {schema!r} in the store URL must be 1-63 of lower-case letters, digits "
            "and '_', not starting with a digit", field="store", value=url)
    scheme = "postgresql" if parts.scheme in ("postgres", "postgresql") else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(kept), "")), schema


class PostgresStore:
    """An `EventStore` in a PostgreSQL database. Thread-safe (calls are serialized)."""

    def __init__(self, url: str) -> None:
        self._conninfo, self.schema = split_url(url)
        try:
            import psycopg  # noqa: F401  (optional dependency: fleet[postgres])
        except ImportError as err:
            raise InfeasibleError(
                "the PostgreSQL store needs psycopg: pip install 'fleet[postgres]'",
                field="store", value=url) from err
        self._url = url
        self._lock = threading.Lock()
        self._connection: psycopg.Connection[Any] | None = None
        with self._lock, self._unavailable():
            self._create_schema(self._connect())
        _log.debug("opened PostgreSQL store %s (schema %s)", self._redacted(), self.schema)

    # ------------------------------------------------------------------ the contract
    def add_mission(self, mission: Mission, accepted: MissionEvent) -> MissionEvent:
        """Store the mission's spec and its ACCEPTED event in one transaction; see
        `EventStore.add_mission`."""
        check_accepted(mission, accepted)
        spec = encode_mission(mission)
        with self._transaction() as cur:
            cur.execute("SELECT 1 FROM missions WHERE id = %s", (mission.id,))
            if cur.fetchone() is not None:
                raise AlreadyExistsError(f"mission {mission.id!r} exists already",
                                         field="mission.id", value=mission.id)
            seq = _last_seq(cur) + 1
            cur.execute(f"INSERT INTO events ({EVENT_COLUMNS}) VALUES ({_PLACEHOLDERS})",
                        event_row(accepted, seq))
            cur.execute("INSERT INTO missions (id, accepted_seq, spec) VALUES (%s, %s, %s)",
                        (mission.id, seq, spec))
        return dataclasses.replace(accepted, seq=seq)

    def append(self, events: Sequence[MissionEvent]) -> list[MissionEvent]:
        """Append events in one transaction, all or nothing; see `EventStore.append`."""
        if not events:
            return []
        check_appendable(events)
        wanted = {event.mission_id for event in events}
        with self._transaction() as cur:
            cur.execute("SELECT id FROM missions WHERE id = ANY(%s)", (sorted(wanted),))
            missing_missions(wanted, {row[0] for row in cur.fetchall()})
            first = _last_seq(cur) + 1
            cur.executemany(f"INSERT INTO events ({EVENT_COLUMNS}) VALUES ({_PLACEHOLDERS})",
                            [event_row(event, first + i) for i, event in enumerate(events)])
        return [dataclasses.replace(event, seq=first + i) for i, event in enumerate(events)]

    def missions(self) -> list[Mission]:
        """Every stored mission, in the order they were added."""
        rows = self._read("SELECT spec FROM missions ORDER BY accepted_seq", ())
        return [decode_mission(spec) for (spec,) in rows]

    def events(self, after_seq: int = 0, mission_id: str | None = None) -> list[MissionEvent]:
        """Events with `seq > after_seq`, of one mission if `mission_id` is given, by seq."""
        query = f"SELECT {EVENT_COLUMNS} FROM events WHERE seq > %s"
        parameters: tuple[int | str, ...] = (after_seq,)
        if mission_id is not None:
            query += " AND mission_id = %s"
            parameters += (mission_id,)
        rows: list[EventRow] = self._read(query + " ORDER BY seq", parameters)
        return [event_from_row(row) for row in rows]

    def put_robot(self, spec: RobotSpec, home_station: str = "") -> None:
        """Insert or replace the robot's registration (keyed by `spec.id`)."""
        with self._transaction() as cur:
            cur.execute("INSERT INTO robots (id, spec) VALUES (%s, %s) "
                        "ON CONFLICT (id) DO UPDATE SET spec = excluded.spec",
                        (spec.id, encode_robot(spec, home_station)))

    def robots(self) -> list[Registration]:
        """Every registered robot, ordered by id."""
        return [decode_registration(spec) for (spec,) in self._read(
            "SELECT spec FROM robots ORDER BY id", ())]

    def close(self) -> None:
        """Close the connection. Idempotent."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            self._closed = True

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresStore({self._redacted()!r}, schema={self.schema!r})"

    # ------------------------------------------------------------------ internals
    _closed = False

    def _redacted(self) -> str:
        """The URL without its password, for logs."""
        parts = urlsplit(self._conninfo)
        netloc = parts.netloc
        if "@" in netloc and ":" in netloc.split("@", 1)[0]:
            user = netloc.split("@", 1)[0].split(":", 1)[0]
            netloc = f"{user}:***@{netloc.split('@', 1)[1]}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))

    def _connect(self) -> psycopg.Connection[Any]:
        """The open connection, opened (again) if there is none or it broke."""
        import psycopg

        if self._closed:
            raise InfeasibleError("the store is closed", field="store", value=self._redacted())
        conn = self._connection
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        if conn is not None:
            _log.warning("PostgreSQL store %s: connection lost; connecting again",
                         self._redacted())
            conn.close()
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10)
            conn.execute(f"SET search_path TO {self.schema}")
        except psycopg.OperationalError as err:
            raise UnavailableError(f"cannot reach the PostgreSQL store {self._redacted()}: "
                                   f"{str(err).strip()}", field="store",
                                   value=self._redacted()) from err
        self._connection = conn
        return conn

    def _create_schema(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            # Two processes opening a new database at once: one creates, the other waits.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            conn.execute(f"SET search_path TO {self.schema}")
            found = conn.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
                "AND table_name = 'schema_version'", (self.schema,)).fetchone()
            if found is None:
                conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                for statement in SCHEMA:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)",
                             (SCHEMA_VERSION,))
                return
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            version = None if row is None else row[0]
            if version is not None and version > SCHEMA_VERSION:
                raise InfeasibleError(
                    f"store schema {self.schema!r} has schema version {version}; this fleet "
                    f"reads up to {SCHEMA_VERSION}: upgrade fleet",
                    field="store.schema_version", value=version)

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Cursor[Any]]:
        """One write transaction, committed on exit, rolled back on any exception."""
        with self._lock, self._unavailable():
            conn = self._connect()
            with conn.transaction(), conn.cursor() as cur:
                # Serialize writers (readers go on) so that seq follows commit order.
                cur.execute("LOCK TABLE events IN EXCLUSIVE MODE")
                yield cur

    def _read(self, query: str, parameters: tuple[int | str, ...]) -> list[Any]:
        with self._lock, self._unavailable():
            conn = self._connect()
            with conn.cursor() as cur:
                cur.execute(query, parameters)
                return cur.fetchall()

    @contextmanager
    def _unavailable(self) -> Iterator[None]:
        """A lost connection becomes UnavailableError: the call changed nothing (or, if the
        server went away after committing, a retried add_mission says ALREADY_EXISTS)."""
        import psycopg

        try:
            yield
        except psycopg.OperationalError as err:
            raise UnavailableError(f"the PostgreSQL store {self._redacted()} failed: "
                                   f"{str(err).strip()}", field="store",
                                   value=self._redacted()) from err


def _last_seq(cur: psycopg.Cursor[Any]) -> int:
    cur.execute("SELECT MAX(seq) FROM events")
    row = cur.fetchone()
    return 0 if row is None or row[0] is None else int(row[0])
