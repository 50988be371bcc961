"""The project's error hierarchy: every failure a caller can act on has a type here.

Each error names the offending field and value, so the API layer can turn it into a status
and a message without guessing. `fleet/api` maps each type to exactly one gRPC status code.
Each error also carries a stable `Reason` (clients match it, not the text) and, for a request
with several problems, every field violation found (`Violations` collects them).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "MAX_VIOLATIONS",
    "AlreadyExistsError",
    "FieldViolation",
    "FleetError",
    "InfeasibleError",
    "InvalidInputError",
    "NotFoundError",
    "PermissionDeniedError",
    "Reason",
    "UnauthenticatedError",
    "UnavailableError",
    "Violations",
]

MAX_VIOLATIONS = 10
"""Most field violations one error lists (its count says how many were found): an error's
details travel in the reply's metadata, which a client caps (8 KiB by default)."""


class Reason(enum.Enum):
    """Stable reason codes, sent as `google.rpc.ErrorInfo.reason` and in HTTP error bodies.
    Values never change meaning; new ones may be added."""

    # Input that is malformed in itself (INVALID_ARGUMENT).
    INVALID_INPUT = "INVALID_INPUT"
    """Malformed in a way no finer code names."""
    MALFORMED = "MALFORMED"
    """Not parseable: JSON that is not JSON, a field of the wrong type, an unknown field."""
    REQUIRED = "REQUIRED"
    """A field that must be set is empty or missing."""
    INVALID_ID = "INVALID_ID"
    """An id that is not 1-64 letters, digits, '.', '_' or '-'."""
    TOO_LONG = "TOO_LONG"
    """A string longer than its limit."""
    TOO_MANY = "TOO_MANY"
    """A list or map with more entries than its limit."""
    NOT_FINITE = "NOT_FINITE"
    """A number that is NaN or infinite."""
    OUT_OF_RANGE = "OUT_OF_RANGE"
    """A number outside its documented range."""
    UNKNOWN_ENUM = "UNKNOWN_ENUM"
    """An enum value the contract does not define."""
    DUPLICATE = "DUPLICATE"
    """A value that must be unique within the request is repeated."""
    INCONSISTENT = "INCONSISTENT"
    """Fields that contradict each other: a deadline before the release, pickup = dropoff."""
    BAD_REFERENCE = "BAD_REFERENCE"
    """A reference to no other part of the request (depends_on naming no task)."""
    CYCLE = "CYCLE"
    """Tasks that depend on each other in a cycle."""
    PART_NEVER_BROUGHT = "PART_NEVER_BROUGHT"
    """A weld waits for a part that no transport of its mission brings to its cell."""
    WRONG_STATION_KIND = "WRONG_STATION_KIND"
    """A station of a kind the task cannot use (a weld at a dropoff)."""
    # The other kinds of error, one code each unless a finer one is given.
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    INFEASIBLE = "INFEASIBLE"
    UNAVAILABLE = "UNAVAILABLE"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    INTERNAL = "INTERNAL"


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One problem with one field: its path (`mission.tasks[2].weld.duration_s`), a sentence
    naming the field, the limit and a shortened value, and the reason code."""

    field: str
    description: str
    reason: Reason


class FleetError(Exception):
    """Base of every error the service raises on purpose."""

    default_reason = Reason.INTERNAL

    def __init__(self, message: str, *, field: str = "", value: object = None,
                 reason: Reason | None = None,
                 violations: Sequence[FieldViolation] = (), found: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.value = value
        self.violations: tuple[FieldViolation, ...] = tuple(violations)
        """Every field violation found (at most MAX_VIOLATIONS of them)."""
        self.found = max(found, len(self.violations))
        """How many violations were found, listed or not."""
        self.reason: Reason = (reason or (self.violations[0].reason if self.violations
                                          else self.default_reason))

    def __str__(self) -> str:
        return self.message

    def field_violations(self) -> tuple[FieldViolation, ...]:
        """The violations to report: those collected, or the error's own field as one."""
        if self.violations:
            return self.violations
        if self.field:
            return (FieldViolation(self.field, self.message, self.reason),)
        return ()


class InvalidInputError(FleetError):
    """The request itself is malformed: a bad id, a negative mass, an empty mission."""

    default_reason = Reason.INVALID_INPUT


class NotFoundError(FleetError):
    """The request names something that does not exist: a station, a robot, a mission."""

    default_reason = Reason.NOT_FOUND


class InfeasibleError(FleetError):
    """The request is well formed but cannot be carried out in the current state."""

    default_reason = Reason.INFEASIBLE


class AlreadyExistsError(FleetError):
    """The request would create something that exists already."""

    default_reason = Reason.ALREADY_EXISTS


class UnavailableError(FleetError):
    """A part the service needs (its database, robots not back since a restart) is not there
    now; nothing was changed, and the same request may be retried (after `retry_after_s`
    seconds, if given)."""

    def __init__(self, message: str, *, field: str = "", value: object = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message, field=field, value=value)
        self.retry_after_s = retry_after_s

    default_reason = Reason.UNAVAILABLE


class UnauthenticatedError(FleetError):
    """The call carries no access token the server knows."""

    default_reason = Reason.UNAUTHENTICATED


class PermissionDeniedError(FleetError):
    """The call's token is known, but does not cover what it asks for: its roles, or the
    robots it may speak for."""

    default_reason = Reason.PERMISSION_DENIED


class Violations:
    """Collects every field violation of a request, then raises them as one
    InvalidInputError (the first few in its message, up to MAX_VIOLATIONS in its details)."""

    def __init__(self) -> None:
        self.found: list[FieldViolation] = []

    def add(self, field: str, description: str, reason: Reason) -> None:
        """Record one violation."""
        self.found.append(FieldViolation(field, description, reason))

    def take(self, error: FleetError) -> None:
        """Record an error raised by a check as its violations."""
        self.found.extend(error.field_violations() or
                          (FieldViolation(error.field, error.message, error.reason),))

    def __bool__(self) -> bool:
        return bool(self.found)

    def raise_if_any(self) -> None:
        """Raise the violations found, if any."""
        if not self.found:
            return
        listed = self.found[:MAX_VIOLATIONS]
        message = "; ".join(v.description for v in listed[:3])
        if len(self.found) > 3:
            message += f" (and {len(self.found) - 3} more problems)"
        first = listed[0]
        raise InvalidInputError(message, field=first.field, reason=first.reason,
                                violations=listed, found=len(self.found))
