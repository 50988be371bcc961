"""The control center's Starlette app and its uvicorn server inside the gRPC server's loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from importlib import resources
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from fleet.api import FleetServer
from fleet.api.convert import event_to_wire
from fleet.api.server import is_loopback
from fleet.http._openapi import openapi_document
from fleet.http._routes import (
    EVENTS_RPC,
    ROUTES,
    authorize,
    endpoint,
    error_response,
    events_endpoint,
    sse_line,
    with_keepalive,
)
from fleet.http._view import FrameFeed
from fleet.http._wire import to_json
from fleet.model import FleetError, InvalidInputError

__all__ = ["HttpServer", "check_exposure", "create_app", "create_replay_app", "parse_address"]

log = logging.getLogger(__name__)

STATIC = resources.files("fleet.http") / "static"


def _static_routes(mode: dict[str, Any]) -> list[BaseRoute]:
    index = str(STATIC / "index.html")

    async def page(request: Request) -> Response:
        return FileResponse(index, headers={"Cache-Control": "no-store"})

    async def mode_info(request: Request) -> Response:
        return JSONResponse(mode)
    return [Route("/", page), Route("/api/v1/mode", mode_info),
            Mount("/static", StaticFiles(directory=str(STATIC)), name="static")]


def create_app(server: FleetServer, *, rate_hz: float = 6.0) -> Starlette:
    """The control center over a started gRPC server: page, JSON API, SSE, metrics, health."""
    feed = FrameFeed(server, rate_hz)
    routes: list[BaseRoute] = [
        Route(r.path, endpoint(server, r), methods=[r.verb]) for r in ROUTES]
    routes.append(Route("/api/v1/events", events_endpoint(server)))

    async def view_stream(request: Request) -> Response:
        """The page's feed: `frame` events at `rate_hz`, `mission` events as they happen."""
        try:
            authorize(server, request, EVENTS_RPC)
        except FleetError as err:
            return error_response(err)
        return StreamingResponse(with_keepalive(_view_events(server, feed)),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    async def metrics(request: Request) -> Response:
        await server.metrics.refresh(server.runner)
        return Response(generate_latest(server.metrics.registry),
                        media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(request: Request) -> Response:
        ready, reason = server.ready()
        return JSONResponse({"ready": ready, "reason": reason},
                            status_code=200 if ready else 503)

    document = openapi_document(ROUTES)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    routes += [Route("/api/v1/view/stream", view_stream), Route("/metrics", metrics),
               Route("/healthz", healthz), Route("/readyz", readyz),
               Route("/openapi.json", openapi)]
    routes += _static_routes({"mode": "live", "auth": server.tokens is not None})

    app = Starlette(routes=routes)
    app.state.feed = feed
    return app


async def _view_events(server: FleetServer, feed: FrameFeed) -> AsyncIterator[bytes]:
    """Frames and mission events merged into one stream for a page."""
    out: asyncio.Queue[bytes] = asyncio.Queue(maxsize=256)

    async def frames() -> None:
        async for event in feed.pages():
            await out.put(event)

    # A page opened late shows what happened just before, then each event as it comes.
    recent, queue = server.runner.watch_recent()
    for e in recent:
        out.put_nowait(sse_line("mission", to_json(event_to_wire(e))))

    async def missions() -> None:
        while True:
            e = await queue.get()
            if out.full():
                continue  # a page that does not read loses events, not the server
            out.put_nowait(sse_line("mission", to_json(event_to_wire(e))))
    tasks = [asyncio.create_task(frames()), asyncio.create_task(missions())]
    try:
        yield b": stream open\n\n"
        while True:
            yield await out.get()
    finally:
        server.runner.unwatch(queue)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def create_replay_app(floor: dict[str, Any], replay: dict[str, Any]) -> Starlette:
    """The same page over a recorded run: `floor` as GET /api/v1/floor answers it, `replay`
    from `load_replay`."""
    async def floor_map(request: Request) -> Response:
        return JSONResponse(floor)

    async def frames(request: Request) -> Response:
        return JSONResponse(replay)
    routes: list[BaseRoute] = [Route("/api/v1/floor", floor_map),
                               Route("/api/v1/replay", frames)]
    routes += _static_routes({"mode": "replay", "auth": False})
    return Starlette(routes=routes)


def parse_address(address: str) -> tuple[str, int]:
    """HOST:PORT (port 0 for any free one); InvalidInputError naming `http` otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise InvalidInputError(f"http address {address!r} must be HOST:PORT", field="http",
                                value=address)
    return host.strip("[]"), int(port)


class _InLoopServer(uvicorn.Server):
    """uvicorn on the caller's loop: the process's own signal handling stays in charge."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:
        pass


def check_exposure(server: FleetServer, address: str, *, insecure: bool = False) -> None:
    """Refuse (InvalidInputError, field "http") an HTTP listener that would be less secure
    than the gRPC server beside it, before anything listens.

    The HTTP API authenticates by bearer token only: under mutual TLS without tokens nobody
    could use it, so it is refused with the reason; beyond loopback without tokens it would
    be open to the network, so it is refused unless `insecure`, as gRPC is."""
    auth = server.tokens
    if auth is not None and not auth.has_tokens:
        raise InvalidInputError(
            f"--http {address[:80]}: the HTTP API checks bearer tokens only (client "
            "certificates are checked on gRPC); give --tokens for its users",
            field="http", value=address[:80])
    if auth is None and not is_loopback(address) and not insecure:
        raise InvalidInputError(
            f"--http {address[:80]} is beyond loopback: serving the HTTP API without access "
            "tokens would let anyone who reaches the port submit missions and command "
            "robots; give --tokens, or --insecure to serve it open anyway",
            field="http", value=address[:80])


class HttpServer:
    """uvicorn serving an app on the running loop (beside grpc.aio), on a socket bound at
    construction, so `port` is known before it starts (ask for port 0 in tests).

    `tls`: (certificate chain file, private key file) to serve HTTPS, as the gRPC server
    does with the same files."""

    def __init__(self, app: Starlette, address: str = "127.0.0.1:0",
                 tls: tuple[str, str] | None = None) -> None:
        host, port = parse_address(address)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind((host, port))
        except OSError as err:
            self.socket.close()
            raise OSError(f"cannot listen on {address} for HTTP: {err.strerror}") from err
        self.socket.listen(128)
        self.socket.setblocking(False)
        self.host = host
        self.port: int = self.socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=1,
                                ssl_certfile=tls[0] if tls else None,
                                ssl_keyfile=tls[1] if tls else None)
        self.scheme = "https" if tls else "http"
        self.app = app
        self._server = _InLoopServer(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The page's address."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}/"

    async def start(self) -> None:
        """Start serving on the running loop; returns once it accepts connections."""
        self._task = asyncio.create_task(self._server.serve(sockets=[self.socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise OSError("the HTTP server stopped while starting")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop serving (open event streams are closed)."""
        if self._task is None:
            return
        self._server.should_exit = True
        feed = getattr(self.app.state, "feed", None)
        if isinstance(feed, FrameFeed):
            await feed.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.socket.close()
