"""The HTTP/JSON API: one route per operation of `fleet.api.operations`, nothing more.

Each route names the gRPC method it is the same operation as: the access check
(`TokenAuth.authorize`) and the roles are that method's, and the OpenAPI document is built
from the same table and the messages' descriptors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from fleet.api import FleetServer
from fleet.api.errors import error_body, http_status_of
from fleet.api.operations import Operations
from fleet.http._wire import decode_json, parse_request, to_json
from fleet.model import FleetError
from fleet.v1 import fleet_pb2, missions_pb2

__all__ = ["ROUTES", "ApiRoute", "authorize", "error_response", "sse_line"]

log = logging.getLogger(__name__)

Call = Callable[[Operations, Any], Awaitable[Message]]


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """One operation over HTTP."""

    verb: str
    path: str
    rpc: str
    """The gRPC method of the same operation (its roles apply)."""
    request: type[Message]
    reply: type[Message]
    call: Call
    summary: str
    body_field: str | None = None
    """Where the JSON body goes: a field of the request, "" for the whole request, None for
    no body."""
    query: tuple[str, ...] = ()
    created: bool = False
    """Answer 201 instead of 200."""


ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute("POST", "/api/v1/missions", "/fleet.v1.Missions/Submit",
             missions_pb2.SubmitMissionRequest, missions_pb2.MissionStatus,
             lambda o, r: o.submit(r), "Submit a mission (body: a MissionSpec)",
             body_field="mission", created=True),
    ApiRoute("GET", "/api/v1/missions", "/fleet.v1.Missions/List",
             missions_pb2.ListMissionsRequest, missions_pb2.ListMissionsReply,
             lambda o, r: o.list_missions(r), "List missions, filtered by state and labels",
             query=("states", "labels", "page_size", "page_token")),
    ApiRoute("GET", "/api/v1/missions/{mission_id}", "/fleet.v1.Missions/Get",
             missions_pb2.GetMissionRequest, missions_pb2.MissionStatus,
             lambda o, r: o.get(r), "One mission's status"),
    ApiRoute("POST", "/api/v1/missions/{mission_id}/cancel", "/fleet.v1.Missions/Cancel",
             missions_pb2.CancelMissionRequest, missions_pb2.MissionStatus,
             lambda o, r: o.cancel(r), "Cancel a mission (body: {\"reason\": ...})",
             body_field=""),
    ApiRoute("GET", "/api/v1/robots", "/fleet.v1.Fleet/ListRobots",
             fleet_pb2.ListRobotsRequest, fleet_pb2.ListRobotsReply,
             lambda o, r: o.list_robots(r), "List robots", query=("connected_only",)),
    ApiRoute("POST", "/api/v1/robots/{robot_id}/pause", "/fleet.v1.Fleet/PauseRobot",
             fleet_pb2.PauseRobotRequest, fleet_pb2.RobotInfo,
             lambda o, r: o.pause(r), "Hold a robot (body: {\"reason\": ...})",
             body_field=""),
    ApiRoute("POST", "/api/v1/robots/{robot_id}/resume", "/fleet.v1.Fleet/ResumeRobot",
             fleet_pb2.ResumeRobotRequest, fleet_pb2.RobotInfo,
             lambda o, r: o.resume(r), "Release an operator's hold", body_field=""),
    ApiRoute("GET", "/api/v1/floor", "/fleet.v1.Fleet/GetFloorMap",
             fleet_pb2.GetFloorMapRequest, fleet_pb2.FloorMap,
             lambda o, r: o.floor_map(r), "The floor map"),
    ApiRoute("GET", "/api/v1/capabilities", "/fleet.v1.Fleet/ListCapabilities",
             fleet_pb2.ListCapabilitiesRequest, fleet_pb2.ListCapabilitiesReply,
             lambda o, r: o.capabilities(r),
             "What missions are checked against: the roster, then the declared fleet"),
)

EVENTS_RPC = "/fleet.v1.Missions/WatchEvents"


def error_response(err: FleetError) -> JSONResponse:
    """An error as the HTTP status of the one table, with the message naming the field."""
    return JSONResponse(error_body(err), status_code=http_status_of(err))


def authorize(server: FleetServer, request: Request, rpc: str) -> None:
    """The gRPC method's access check on the request's bearer token (none if open)."""
    if server.tokens is not None:
        who = server.tokens.bearer(request.headers.get("authorization", ""))
        server.tokens.authorize(who, rpc)


def endpoint(server: FleetServer, route: ApiRoute
             ) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint of one route."""
    async def handle(request: Request) -> Response:
        try:
            authorize(server, request, route.rpc)
            body = None
            if route.body_field is not None:
                body = decode_json(await request.body())
            query = [(k, v) for k, v in request.query_params.multi_items()]
            message = parse_request(route.request, body=body, body_field=route.body_field or "",
                                    path=dict(request.path_params), query=query)
            reply = await route.call(server.operations, message)
        except FleetError as err:
            return error_response(err)
        return JSONResponse(to_json(reply), status_code=201 if route.created else 200)
    return handle


def sse_line(kind: str, data: object) -> bytes:
    """One Server-Sent Event."""
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


KEEPALIVE_S = 15.0


async def with_keepalive(events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Pass events on; a comment line when nothing came for `KEEPALIVE_S` (proxies keep the
    connection open, and a closed client is noticed)."""
    iterator = events.__aiter__()
    pending: asyncio.Task[bytes] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(iterator.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_S)
            if not done:
                yield b": keep-alive\n\n"
                continue
            try:
                item = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield item
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending


def events_endpoint(server: FleetServer) -> Callable[[Request], Awaitable[Response]]:
    """GET /api/v1/events: WatchEvents as Server-Sent Events (`event: mission`)."""
    async def handle(request: Request) -> Response:
        try:
            authorize(server, request, EVENTS_RPC)
            message = parse_request(missions_pb2.WatchEventsRequest,
                                    query=list(request.query_params.multi_items()))
            if message.mission_id:
                # Checked before the answer, so a bad id gets its status, not an empty stream.
                await server.operations.get(missions_pb2.GetMissionRequest(
                    mission_id=message.mission_id))
        except FleetError as err:
            return error_response(err)

        async def stream() -> AsyncIterator[bytes]:
            yield b": stream open\n\n"
            events = server.operations.watch_events(message)
            try:
                async for e in events:
                    yield sse_line("mission", to_json(e))
            except FleetError as err:
                yield sse_line("error", error_body(err)["error"])
            finally:
                await events.aclose()
        return StreamingResponse(with_keepalive(stream()), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})
    return handle
