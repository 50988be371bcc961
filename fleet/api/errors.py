"""The one table from the project's errors to statuses: a gRPC code and an HTTP status each.

The HTTP column follows the mapping Google's API design guide gives for gRPC codes (the one
grpc-gateway uses), so an HTTP client and a gRPC client of the same operation read the same
outcome; the HTTP error body carries the gRPC code's name as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from fleet.model import (
    AlreadyExistsError,
    FleetError,
    InfeasibleError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
    UnavailableError,
    escape,
)

__all__ = ["ERRORS", "ERROR_DOMAIN", "MAX_MESSAGE_CHARS", "STATUS_OF", "Status", "abort",
           "describe", "error_body", "http_status_of", "rich_status", "status_of"]


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


MAX_MESSAGE_CHARS = 1024
"""Longest status message: a backstop behind the checks, which never echo more than a short
prefix of a value (`fleet.model.shorten`)."""


def describe(error: FleetError) -> str:
    """The status message: the error's own, led by the field it concerns if it does not say,
    escaped and cut at MAX_MESSAGE_CHARS."""
    message = error.message
    if error.field and error.field not in message:
        message = f"{error.field}: {message}"
    message = escape(message)
    if len(message) > MAX_MESSAGE_CHARS:
        message = f"{message[:MAX_MESSAGE_CHARS]}…({len(message)} chars)"
    return message


ERROR_DOMAIN = "fleet.v1"
"""`google.rpc.ErrorInfo.domain` of every error fleet sends."""


def rich_status(error: FleetError) -> status_pb2.Status:
    """The error as a `google.rpc.Status`: code, message, an `ErrorInfo` with the stable reason
    code and, when fields are at fault, a `BadRequest` listing every violation (bounded); a
    retryable refusal with a known delay (`UnavailableError.retry_after_s`) adds a
    `RetryInfo`."""
    code = status_of(error)
    info = error_details_pb2.ErrorInfo(reason=error.reason.value, domain=ERROR_DOMAIN)
    if error.field:
        info.metadata["field"] = error.field
    violations = error.field_violations()
    if violations:
        info.metadata["violations"] = str(error.found)
    out = status_pb2.Status(code=code.value[0], message=describe(error))
    out.details.add().Pack(info)
    if violations:
        bad = error_details_pb2.BadRequest()
        for v in violations:
            bad.field_violations.add(field=v.field, description=v.description,
                                     reason=v.reason.value)
        out.details.add().Pack(bad)
    if isinstance(error, UnavailableError) and error.retry_after_s is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromTimedelta(timedelta(seconds=error.retry_after_s))
        out.details.add().Pack(retry)
    return out


async def abort(context: grpc.aio.ServicerContext[Any, Any], error: FleetError) -> NoReturn:
    """End a call with the error's status and rich details (the one way servicers fail)."""
    await context.abort_with_status(rpc_status.to_status(rich_status(error)))
    raise AssertionError("unreachable: abort raises")


def error_body(error: FleetError) -> dict[str, object]:
    """The error as the HTTP API's JSON body says it: the same code, reason and violations
    as the gRPC status's details."""
    return {"error": {
        "code": status_of(error).name, "reason": error.reason.value, "field": error.field,
        "message": describe(error),
        "violations": [{"field": v.field, "description": v.description,
                        "reason": v.reason.value} for v in error.field_violations()],
        "violations_found": error.found or len(error.field_violations())}}
