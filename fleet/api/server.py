"""Building and running the gRPC server around a coordinator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from fleet.api.auth import Principal, TokenAuth
from fleet.api.certs import principal_of_certificate
from fleet.api.metrics import CallCounter, FleetMetrics
from fleet.api.operations import Operations
from fleet.api.servicers import FleetService, MissionsService, RobotLinkService, SimClockService
from fleet.client import MESSAGE_SIZE_OPTIONS
from fleet.coordinator import Coordinator, CoordinatorRunner, ManualClock
from fleet.model import InvalidInputError
from fleet.production import Catalog
from fleet.v1 import (
    fleet_pb2,
    fleet_pb2_grpc,
    missions_pb2,
    missions_pb2_grpc,
    robot_link_pb2,
    robot_link_pb2_grpc,
    simulation_pb2,
    simulation_pb2_grpc,
)

__all__ = ["FleetServer", "create_server"]

log = logging.getLogger(__name__)

SERVICE_NAMES = (
    robot_link_pb2.DESCRIPTOR.services_by_name["RobotLink"].full_name,
    missions_pb2.DESCRIPTOR.services_by_name["Missions"].full_name,
    fleet_pb2.DESCRIPTOR.services_by_name["Fleet"].full_name,
    simulation_pb2.DESCRIPTOR.services_by_name["SimClock"].full_name,
)


class FleetServer:
    """A started server: the grpc.aio server, its port, the coordinator's runner and, on the
    wall clock, its control loop."""

    def __init__(self, server: grpc.aio.Server, port: int, runner: CoordinatorRunner,
                 period_s: float, health_servicer: health.aio.HealthServicer,
                 metrics: FleetMetrics, operations: Operations,
                 tokens: TokenAuth | None = None) -> None:
        self.server = server
        self.health = health_servicer
        self.port = port
        self.runner = runner
        self.coordinator = runner.coordinator
        self.period_s = period_s
        self.metrics = metrics
        self.operations = operations
        self.tokens = tokens
        """The access check, None when the server is open (HTTP front ends use it too)."""
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stalled = ""

    async def start(self) -> None:
        """Start serving; on the wall clock, also start the periodic control step and the
        watchdog that turns the server unhealthy when the steps stall."""
        await self.server.start()
        await self._set_health(True)
        self._spawn(self.metrics.follow(self.runner))
        if not isinstance(self.coordinator.clock, ManualClock):
            self._ticker = asyncio.create_task(self.runner.run_ticker(self.period_s))
            self._spawn(self._watch_steps())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def ready(self) -> tuple[bool, str]:
        """Whether the server can do its job, and why not: the runner's health (failed steps,
        the store unreachable) and, on the wall clock, whether steps still end."""
        if not self.runner.serving:
            return False, self.runner.reason
        if self._stalled:
            return False, self._stalled
        return True, ""

    def stall_limit_s(self) -> float:
        """How long without a finished control step counts as a stalled loop."""
        return max(20 * self.period_s, 5.0)

    async def _watch_steps(self) -> None:
        started = time.monotonic()
        while True:
            await asyncio.sleep(self.period_s)
            last = self.metrics.last_step_at or started
            idle = time.monotonic() - last
            stalled = (f"no control step has ended for {idle:.1f} s"
                       if idle > self.stall_limit_s() else "")
            if bool(stalled) != bool(self._stalled):
                log.error("%s", stalled) if stalled else log.warning("control steps end again")
                self._stalled = stalled
                self.health_changed(self.runner.serving, stalled)
            else:
                self._stalled = stalled

    def health_changed(self, serving: bool, reason: str) -> None:
        """The runner turned (un)healthy or the loop stalled: every service's health status
        follows."""
        self._spawn(self._set_health(serving and not self._stalled))

    async def _set_health(self, serving: bool) -> None:
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for name in (*SERVICE_NAMES, ""):
            await self.health.set(name, status)

    async def stop(self, grace_s: float = 1.0) -> None:
        """Stop the step loop, the server and the coordinator's worker."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.server.stop(grace_s)
        await self.runner.close()

    async def wait(self) -> None:
        """Serve until stopped."""
        await self.server.wait_for_termination()


def is_loopback(address: str) -> bool:
    """True if `address` ("host:port") listens on this machine only."""
    host = address.rsplit(":", 1)[0] if address.count(":") == 1 or "]" in address else address
    if host in ("localhost", "[::1]", "::1"):
        return True
    parts = host.split(".")
    return len(parts) == 4 and parts[0] == "127" and all(p.isdigit() for p in parts)


def create_server(coordinator: Coordinator, address: str = "127.0.0.1:0",
                  period_s: float = 0.05, *, tokens: dict[bytes, Principal] | None = None,
                  tls: tuple[bytes, bytes] | None = None,
                  catalog: Catalog | None = None, client_ca: bytes | None = None,
                  insecure: bool = False) -> FleetServer:
    """Build the server (not started); ask for port 0 to get a free port.

    `tokens` (from `load_tokens`) turns on access control; `tls` is (certificate chain PEM,
    private key PEM) for TLS; `catalog` (a line's routings) serves `Missions.SubmitOrder`,
    its stations checked against the coordinator's floor. `client_ca` (PEM, with `tls`)
    turns on mutual TLS: every client presents a certificate this CA signed, and a call
    without a token is identified by it (`fleet.api.certs`).

    Secure by default: beyond loopback, a server without tokens or client certificates is
    refused (InvalidInputError) unless `insecure`.
    """
    if catalog is not None:
        catalog.check_floor(coordinator.floor)
    if client_ca is not None and tls is None:
        raise InvalidInputError("client certificates (--client-ca) need TLS (--tls-cert, "
                                "--tls-key)", field="client_ca", value="set")
    if not tokens and client_ca is None and not is_loopback(address) and not insecure:
        raise InvalidInputError(
            f"address {address[:80]!r} is beyond loopback: serving it without access tokens "
            "would let anyone who reaches the port submit missions and command robots; give "
            "--tokens (or --client-ca), or --insecure to serve it open anyway",
            field="address", value=address[:80])
    from_certificate = principal_of_certificate if client_ca is not None else None
    auth = TokenAuth(tokens or {}, from_certificate) if tokens or client_ca else None
    metrics = FleetMetrics()
    interceptors: list[grpc.aio.ServerInterceptor] = [CallCounter(metrics)]
    if auth is not None:
        interceptors.append(auth)
    if auth is None and not is_loopback(address):
        log.warning("serving %r without access control (--insecure): anyone who reaches the "
                    "port can submit missions and command robots", address)
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0), *MESSAGE_SIZE_OPTIONS],
                             interceptors=interceptors)
    runner = CoordinatorRunner(coordinator)
    runner.step_observers.append(metrics.observe_step)
    runner.delivery_observers.append(metrics.observe_delivery)
    state_arrived = asyncio.Event()
    identify = None if auth is None else auth.identify
    robot_link_pb2_grpc.add_RobotLinkServicer_to_server(
        RobotLinkService(runner, state_arrived, metrics, identify), server)
    operations = Operations(runner)
    missions_pb2_grpc.add_MissionsServicer_to_server(MissionsService(operations, catalog),
                                                    server)
    fleet_pb2_grpc.add_FleetServicer_to_server(FleetService(operations), server)
    simulation_pb2_grpc.add_SimClockServicer_to_server(
        SimClockService(runner, state_arrived), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME), server)
    try:
        if tls is not None:
            chain, key = tls
            credentials = grpc.ssl_server_credentials(
                [(key, chain)], root_certificates=client_ca,
                require_client_auth=client_ca is not None)
            port = server.add_secure_port(address, credentials)
        else:
            port = server.add_insecure_port(address)
    except RuntimeError as err:  # grpc's "Failed to bind": the port is taken
        raise OSError(f"cannot listen on {address}: the address is in use or not "
                      "available here") from err
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    fleet_server = FleetServer(server, port, runner, period_s, health_servicer, metrics,
                               operations, auth)
    runner.on_health = fleet_server.health_changed
    return fleet_server
