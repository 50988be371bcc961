"""The project's error hierarchy: every failure a caller can act on has a type here.

Each error names the offending field and value, so the API layer can turn it into a status
and a message without guessing. `fleet/api` maps each type to exactly one gRPC status code.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExistsError",
    "FleetError",
    "InfeasibleError",
    "InvalidInputError",
    "NotFoundError",
    "PermissionDeniedError",
    "UnauthenticatedError",
    "UnavailableError",
]


class FleetError(Exception):
    """Base of every error the service raises on purpose."""

    def __init__(self, message: str, *, field: str = "", value: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.value = value

    def __str__(self) -> str:
        return self.message


class InvalidInputError(FleetError):
    """The request itself is malformed: a bad id, a negative mass, an empty mission."""


class NotFoundError(FleetError):
    """The request names something that does not exist: a station, a robot, a mission."""


class InfeasibleError(FleetError):
    """The request is well formed but cannot be carried out in the current state."""


class AlreadyExistsError(FleetError):
    """The request would create something that exists already."""


class UnavailableError(FleetError):
    """A part the service needs (its database, robots not back since a restart) is not there
    now; nothing was changed, and the same request may be retried (after `retry_after_s`
    seconds, if given)."""

    def __init__(self, message: str, *, field: str = "", value: object = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message, field=field, value=value)
        self.retry_after_s = retry_after_s


class UnauthenticatedError(FleetError):
    """The call carries no access token the server knows."""


class PermissionDeniedError(FleetError):
    """The call's token is known, but does not cover what it asks for: its roles, or the
    robots it may speak for."""
