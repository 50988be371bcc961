"""Who may call what: access tokens with roles, checked on every call.

`fleet serve --tokens tokens.yaml` turns it on; without a tokens file the server is open (a
warning says so), as on a developer's laptop or in the simulator. The file:

    tokens:
      - name: mes-line-3            # shown in the log next to what it did
        token: "a long random secret"
        roles: [planner]
      - name: control-room
        token_sha256: "9f86d0...c6e5"  # or the secret's SHA-256, hex, to keep it off disk
        roles: [operator, viewer]
      - name: ros-bridge-hall-2
        token: "another long random secret"
        roles: [robot]
        robots: ["agv-2*", "welder-07"]  # the robot ids it may speak for (shell patterns)

Roles: `robot` (RobotLink: robots and their drivers, the ROS 2 bridge), `planner` (submit and
cancel missions, read them), `operator` (pause and resume robots, read everything), `viewer`
(read missions, robots and the floor), `simulator` (SimClock), `admin` (everything). Clients
send `authorization: Bearer <token>`. A call without a known token gets UNAUTHENTICATED; a
token whose roles do not cover the method gets PERMISSION_DENIED naming the roles that would.
Health checks stay open for probes; server reflection needs a known token (any role), so
that what the server offers is not told to anyone who reaches the port.

Under mutual TLS (`fleet serve --client-ca`), a call without a token is identified by its
client certificate instead (`fleet.api.certs`: the certificate names robot id patterns and
roles).

`robots` (for tokens with the robot role) lists the robot ids, or shell-style patterns of ids,
that the token may register, connect or speak for through a gateway; a robot outside them is
refused with PERMISSION_DENIED naming the token. Without `robots` a token speaks for any robot.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import yaml

from fleet.api.errors import abort as fail
from fleet.model import (
    FleetError,
    InvalidInputError,
    PermissionDeniedError,
    UnauthenticatedError,
)

__all__ = ["ROLES", "Principal", "TokenAuth", "load_tokens", "roles_for"]

log = logging.getLogger(__name__)

ROLES = ("robot", "planner", "operator", "viewer", "simulator", "admin")

_READERS = frozenset({"planner", "operator", "viewer"})
_METHOD_ROLES: dict[str, frozenset[str]] = {
    "/fleet.v1.RobotLink/Register": frozenset({"robot"}),
    "/fleet.v1.RobotLink/Connect": frozenset({"robot"}),
    "/fleet.v1.RobotLink/Gateway": frozenset({"robot"}),
    "/fleet.v1.Missions/Submit": frozenset({"planner"}),
    "/fleet.v1.Missions/SubmitOrder": frozenset({"planner"}),
    "/fleet.v1.Missions/Cancel": frozenset({"planner", "operator"}),
    "/fleet.v1.Missions/Get": _READERS,
    "/fleet.v1.Missions/List": _READERS,
    "/fleet.v1.Missions/WatchEvents": _READERS,
    "/fleet.v1.Fleet/ListRobots": _READERS,
    "/fleet.v1.Fleet/GetFloorMap": _READERS | {"robot"},
    "/fleet.v1.Fleet/ListCapabilities": _READERS,
    "/fleet.v1.Fleet/PauseRobot": frozenset({"operator"}),
    "/fleet.v1.Fleet/ResumeRobot": frozenset({"operator"}),
    "/fleet.v1.SimClock/Advance": frozenset({"simulator"}),
}
_OPEN_PREFIXES = ("/grpc.health.v1.Health/",)
_ANY_ROLE_PREFIXES = ("/grpc.reflection.",)
_AUDITED = frozenset({"/fleet.v1.Missions/Submit", "/fleet.v1.Missions/SubmitOrder",
                      "/fleet.v1.Missions/Cancel",
                      "/fleet.v1.Fleet/PauseRobot", "/fleet.v1.Fleet/ResumeRobot"})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a token belongs to, and what it may do."""

    name: str
    roles: frozenset[str]
    robots: tuple[str, ...] = ("*",)
    """Shell-style patterns of the robot ids this token may speak for."""

    def check_robot(self, robot_id: str) -> None:
        """PermissionDeniedError unless this token may speak for `robot_id`."""
        if "admin" in self.roles or any(fnmatch.fnmatchcase(robot_id, p)
                                        for p in self.robots):
            return
        raise PermissionDeniedError(
            f"robot_id {robot_id!r}: token {self.name!r} may speak only for robots "
            f"{', '.join(self.robots)}", field="robot_id", value=robot_id)


def roles_for(method: str) -> frozenset[str]:
    """The roles that may call `method` (besides admin); empty for an open or unknown one."""
    return _METHOD_ROLES.get(method, frozenset())


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def load_tokens(path: str | Path) -> dict[bytes, Principal]:
    """Read a tokens file; keys are the tokens' SHA-256 digests. Raises InvalidInputError
    naming the entry and field that is wrong."""
    source = str(path)
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise InvalidInputError(f"tokens file {source!r} cannot be read: {err.strerror}",
                                field="tokens", value=source) from err
    except yaml.YAMLError as err:
        raise InvalidInputError(f"tokens file {source!r} is not YAML: {err}", field="tokens",
                                value=source) from err
    entries = doc.get("tokens") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InvalidInputError(f"tokens file {source!r} needs a non-empty list 'tokens'",
                                field="tokens", value=source)
    out: dict[bytes, Principal] = {}
    names: set[str] = set()
    for k, entry in enumerate(entries):
        where = f"tokens[{k}]"
        if not isinstance(entry, dict):
            raise InvalidInputError(f"{where} in {source!r} must be a mapping", field=where,
                                    value=entry)
        name = entry.get("name")
        if not isinstance(name, str) or not name or name in names:
            raise InvalidInputError(f"{where}.name in {source!r} must be a unique non-empty "
                                    f"string, got {name!r}", field=f"{where}.name", value=name)
        names.add(name)
        secret, hashed = entry.get("token"), entry.get("token_sha256")
        if (secret is None) == (hashed is None):
            raise InvalidInputError(f"{where} ({name}) in {source!r} needs exactly one of "
                                    "token, token_sha256", field=f"{where}.token", value=None)
        if secret is not None:
            if not isinstance(secret, str) or len(secret) < 16:
                raise InvalidInputError(f"{where}.token ({name}) in {source!r} must be a "
                                        "string of at least 16 characters",
                                        field=f"{where}.token", value="***")
            digest = _digest(secret)
        else:
            try:
                digest = bytes.fromhex(str(hashed))
            except ValueError:
                digest = b""
            if len(digest) != 32:
                raise InvalidInputError(f"{where}.token_sha256 ({name}) in {source!r} must be "
                                        "64 hex digits", field=f"{where}.token_sha256",
                                        value=hashed)
        roles = entry.get("roles")
        if not isinstance(roles, list) or not roles or not all(r in ROLES for r in roles):
            raise InvalidInputError(f"{where}.roles ({name}) in {source!r} must list roles "
                                    f"from {', '.join(ROLES)}, got {roles!r}",
                                    field=f"{where}.roles", value=roles)
        robots = entry.get("robots", ["*"])
        if not isinstance(robots, list) or not robots or not all(
                isinstance(r, str) and r for r in robots):
            raise InvalidInputError(f"{where}.robots ({name}) in {source!r} must be a "
                                    f"non-empty list of robot ids or patterns, got {robots!r}",
                                    field=f"{where}.robots", value=robots)
        if digest in out:
            raise InvalidInputError(f"{where} ({name}) in {source!r} repeats the token of "
                                    f"{out[digest].name}", field=f"{where}.token", value="***")
        out[digest] = Principal(name, frozenset(roles), tuple(robots))
    return out


def _denied(handler: grpc.RpcMethodHandler, error: FleetError) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that only aborts with `error`'s status."""
    async def abort(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await fail(context, error)

    async def abort_stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await fail(context, error)
        yield  # pragma: no cover - makes this an async generator

    async def first(requests: Any) -> None:
        # Take the client's first message before refusing: a grpc.aio client whose write
        # meets an already closed stream reports INTERNAL instead of this status
        # (grpc/grpc#36066).
        with contextlib.suppress(Exception):
            await asyncio.wait_for(requests.__anext__(), 1.0)

    async def abort_client_stream(requests: Any,
                                  context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await first(requests)
        await fail(context, error)

    async def abort_bidi(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await first(requests)
        await fail(context, error)
        yield  # pragma: no cover - makes this an async generator

    ser, de = handler.response_serializer, handler.request_deserializer
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(abort, de, ser)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(abort_stream, de, ser)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(abort_client_stream, de, ser)
    return grpc.stream_stream_rpc_method_handler(abort_bidi, de, ser)


def _checked(handler: grpc.RpcMethodHandler,
             check: Callable[[grpc.aio.ServicerContext[Any, Any]], None]
             ) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that runs `check(context)` first and aborts
    with the status of the FleetError it raises."""
    ser, de = handler.response_serializer, handler.request_deserializer

    async def refuse(context: grpc.aio.ServicerContext[Any, Any], err: FleetError) -> None:
        await fail(context, err)

    if handler.unary_unary is not None:
        unary = handler.unary_unary

        async def uu(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            try:
                check(context)
            except FleetError as err:
                await refuse(context, err)
            return await unary(request, context)
        return grpc.unary_unary_rpc_method_handler(uu, de, ser)
    if handler.unary_stream is not None:
        server_stream = handler.unary_stream

        async def us(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            try:
                check(context)
            except FleetError as err:
                await refuse(context, err)
            async for item in server_stream(request, context):
                yield item
        return grpc.unary_stream_rpc_method_handler(us, de, ser)
    if handler.stream_unary is not None:
        client_stream = handler.stream_unary

        async def su(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            try:
                check(context)
            except FleetError as err:
                await refuse(context, err)
            return await client_stream(requests, context)
        return grpc.stream_unary_rpc_method_handler(su, de, ser)
    bidi = handler.stream_stream

    async def ss(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            check(context)
        except FleetError as err:
            with contextlib.suppress(Exception):  # see `_denied`
                await asyncio.wait_for(requests.__anext__(), 1.0)
            await refuse(context, err)
        async for item in bidi(requests, context):
            yield item
    return grpc.stream_stream_rpc_method_handler(ss, de, ser)


FromCertificate = Callable[[bytes], "Principal | None"]
"""The principal a verified client certificate (PEM) names (`fleet.api.certs`)."""


class TokenAuth(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Checks every call's bearer token against the tokens file's roles; with
    `from_certificate` (mutual TLS), a call without a token by its client certificate."""

    def __init__(self, tokens: dict[bytes, Principal],
                 from_certificate: FromCertificate | None = None) -> None:
        self._tokens = tokens
        self._from_certificate = from_certificate

    @property
    def has_tokens(self) -> bool:
        """True if some caller can authenticate by token (not only by client certificate)."""
        return bool(self._tokens)

    def identify(self, context: grpc.aio.ServicerContext[Any, Any]) -> Principal | None:
        """Who makes the call: its token's principal, else its client certificate's."""
        who = self.principal(context.invocation_metadata())
        if who is None and self._from_certificate is not None:
            pems = context.auth_context().get("x509_pem_cert") or []
            if pems:
                who = self._from_certificate(pems[0])
        return who

    def principal(self, metadata: Any) -> Principal | None:
        """The principal whose token the call's metadata carries, or None."""
        for key, value in metadata or ():
            if key == "authorization" and isinstance(value, str):
                return self.bearer(value)
        return None

    def bearer(self, authorization: str) -> Principal | None:
        """The principal of an `authorization: Bearer <token>` value (gRPC metadata or the
        HTTP header), or None."""
        if not authorization.startswith("Bearer "):
            return None
        digest = _digest(authorization[len("Bearer "):].strip())
        for known, who in self._tokens.items():
            if hmac.compare_digest(known, digest):
                return who
        return None

    def authorize(self, who: Principal | None, method: str) -> None:
        """Raise UnauthenticatedError without a known token, PermissionDeniedError if the
        token's roles do not cover `method` (a gRPC method name, which HTTP routes name too)."""
        if method.startswith(_OPEN_PREFIXES):
            return
        if who is None:
            log.warning("refused %s: no known token", method)
            raise UnauthenticatedError("authorization: a known access token is needed "
                                       "('authorization: Bearer <token>')",
                                       field="authorization", value=None)
        if method.startswith(_ANY_ROLE_PREFIXES):
            return
        allowed = roles_for(method)
        if "admin" not in who.roles and not (who.roles & allowed):
            log.warning("refused %s to %s (roles %s)", method, who.name, sorted(who.roles))
            raise PermissionDeniedError(
                f"authorization: token {who.name!r} has roles {', '.join(sorted(who.roles))}; "
                f"{method} needs one of {', '.join(sorted(allowed | {'admin'}))}",
                field="authorization", value=who.name)
        if method in _AUDITED:
            log.info("%s called by %s", method, who.name)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = details.method
        handler = await continuation(details)
        if handler is None:
            return handler
        who = self.principal(details.invocation_metadata)
        if who is None and self._from_certificate is not None and \
                not method.startswith(_OPEN_PREFIXES):
            # The client certificate is known only to the call's context.
            return _checked(handler, lambda context: self.authorize(self.identify(context),
                                                                    method))
        try:
            self.authorize(who, method)
        except FleetError as err:
            return _denied(handler, err)
        return handler
