"""Connecting to a coordinator as a client: robot drivers, the ROS 2 bridge, the simulator and
the CLI all open their channel here, so TLS and the access token work the same everywhere.

The token goes in the `authorization` metadata of every call as `Bearer <token>` (the server
side is `fleet/api/auth.py`). Both default to the environment: `FLEET_TOKEN` for the token
and `FLEET_TLS_CA` for the PEM file of the certificate authority that signed the server's
certificate (TLS is used when it is set).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from fleet.model import InvalidInputError

__all__ = ["ENV_TLS_CA", "ENV_TOKEN", "MAX_MESSAGE_BYTES", "MESSAGE_SIZE_OPTIONS", "open_channel"]

ENV_TOKEN = "FLEET_TOKEN"
ENV_TLS_CA = "FLEET_TLS_CA"

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""Largest gRPC message a coordinator and its clients send or take: 4 MiB (gRPC's default
receive size, set on both sides on purpose). A mission at its limits (1,000 tasks) is about
150 KB, a large floor map well under 1 MB; anything bigger is refused as RESOURCE_EXHAUSTED
before it is parsed."""
MESSAGE_SIZE_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
)
"""The channel and server options that set those sizes."""


class _Token:
    """Adds `authorization: Bearer <token>` to a call's metadata."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata.add(*self._header)
        return grpc.aio.ClientCallDetails(details.method, details.timeout, metadata,
                                          details.credentials, details.wait_for_ready)


# grpc.aio files each interceptor under the first call kind it implements, so each kind
# needs an interceptor of its own.
class _UnaryUnary(_Token, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _UnaryStream(_Token, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_stream(self, continuation: Any, details: Any,
                                     request: Any) -> Any:
        return await continuation(self._details(details), request)


class _StreamUnary(_Token, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_unary(self, continuation: Any, details: Any,
                                     request_iterator: Any) -> Any:
        return await continuation(self._details(details), request_iterator)


class _StreamStream(_Token, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_stream(self, continuation: Any, details: Any,
                                      request_iterator: Any) -> Any:
        return await continuation(self._details(details), request_iterator)


def open_channel(target: str, *, token: str | None = None, tls_ca: str | None = None,
                 options: Sequence[tuple[str, Any]] = ()) -> grpc.aio.Channel:
    """A grpc.aio channel to a coordinator at `target` ("host:port").

    `token` and `tls_ca` default to `FLEET_TOKEN` and `FLEET_TLS_CA`; an empty token sends
    none, an empty CA file means plain TCP.
    """
    token = os.environ.get(ENV_TOKEN, "") if token is None else token
    ca = os.environ.get(ENV_TLS_CA, "") if tls_ca is None else tls_ca
    options = [*MESSAGE_SIZE_OPTIONS, *options]
    interceptors = ([kind(token) for kind in (_UnaryUnary, _UnaryStream, _StreamUnary,
                                              _StreamStream)] if token else None)
    if not ca:
        return grpc.aio.insecure_channel(target, options=list(options),
                                         interceptors=interceptors)
    try:
        root = Path(ca).read_bytes()
    except OSError as err:
        raise InvalidInputError(f"TLS CA file {ca!r} cannot be read: {err.strerror}",
                                field="tls_ca", value=ca) from err
    return grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(root),
                                   options=list(options), interceptors=interceptors)
