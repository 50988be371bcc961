"""The one table from the project's errors to gRPC status codes."""

from __future__ import annotations

import grpc

from fleet.model import (
    AlreadyExistsError,
    FleetError,
    InfeasibleError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
)

__all__ = ["STATUS_OF", "describe", "status_of"]

STATUS_OF: dict[type[FleetError], grpc.StatusCode] = {
    InvalidInputError: grpc.StatusCode.INVALID_ARGUMENT,
    NotFoundError: grpc.StatusCode.NOT_FOUND,
    InfeasibleError: grpc.StatusCode.FAILED_PRECONDITION,
    AlreadyExistsError: grpc.StatusCode.ALREADY_EXISTS,
    UnavailableError: grpc.StatusCode.UNAVAILABLE,
    PermissionDeniedError: grpc.StatusCode.PERMISSION_DENIED,
}


def status_of(error: FleetError) -> grpc.StatusCode:
    """The status code for an error, by the nearest listed base class."""
    for cls in type(error).__mro__:
        if issubclass(cls, FleetError) and cls in STATUS_OF:
            return STATUS_OF[cls]
    return grpc.StatusCode.INTERNAL


def describe(error: FleetError) -> str:
    """The status message: the error's own, led by the field it concerns if it does not say."""
    if error.field and error.field not in error.message:
        return f"{error.field}: {error.message}"
    return error.message
