"""The one table from the project's errors to statuses: a gRPC code and an HTTP status each.

The HTTP column follows the mapping Google's API design guide gives for gRPC codes (the one
grpc-gateway uses), so an HTTP client and a gRPC client of the same operation read the same
outcome; the HTTP error body carries the gRPC code's name as well.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from fleet.model import (
    AlreadyExistsError,
    FleetError,
    InfeasibleError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
    UnavailableError,
)

__all__ = ["ERRORS", "STATUS_OF", "Status", "describe", "http_status_of", "status_of"]


@dataclass(frozen=True, slots=True)
class Status:
    """How one kind of error is told on each front end."""

    grpc: grpc.StatusCode
    http: int


ERRORS: dict[type[FleetError], Status] = {
    InvalidInputError: Status(grpc.StatusCode.INVALID_ARGUMENT, 400),
    NotFoundError: Status(grpc.StatusCode.NOT_FOUND, 404),
    InfeasibleError: Status(grpc.StatusCode.FAILED_PRECONDITION, 400),
    AlreadyExistsError: Status(grpc.StatusCode.ALREADY_EXISTS, 409),
    UnavailableError: Status(grpc.StatusCode.UNAVAILABLE, 503),
    UnauthenticatedError: Status(grpc.StatusCode.UNAUTHENTICATED, 401),
    PermissionDeniedError: Status(grpc.StatusCode.PERMISSION_DENIED, 403),
}
_INTERNAL = Status(grpc.StatusCode.INTERNAL, 500)

STATUS_OF: dict[type[FleetError], grpc.StatusCode] = {
    cls: status.grpc for cls, status in ERRORS.items()}
"""The gRPC column of `ERRORS`."""


def _status(error: FleetError) -> Status:
    for cls in type(error).__mro__:
        if issubclass(cls, FleetError) and cls in ERRORS:
            return ERRORS[cls]
    return _INTERNAL


def status_of(error: FleetError) -> grpc.StatusCode:
    """The gRPC status code for an error, by the nearest listed base class."""
    return _status(error).grpc


def http_status_of(error: FleetError) -> int:
    """The HTTP status for an error, by the nearest listed base class."""
    return _status(error).http


def describe(error: FleetError) -> str:
    """The status message: the error's own, led by the field it concerns if it does not say."""
    if error.field and error.field not in error.message:
        return f"{error.field}: {error.message}"
    return error.message
