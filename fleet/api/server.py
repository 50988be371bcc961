"""Building and running the gRPC server around a coordinator."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from fleet.api.auth import Principal, TokenAuth
from fleet.api.servicers import FleetService, MissionsService, RobotLinkService, SimClockService
from fleet.coordinator import Coordinator, CoordinatorRunner, ManualClock
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
                 period_s: float, health_servicer: health.aio.HealthServicer) -> None:
        self.server = server
        self.health = health_servicer
        self.port = port
        self.runner = runner
        self.coordinator = runner.coordinator
        self.period_s = period_s
        self._ticker: asyncio.Task[None] | None = None
        self._health_updates: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start serving; on the wall clock, also start the periodic control step."""
        await self.server.start()
        await self._set_health(True)
        if not isinstance(self.coordinator.clock, ManualClock):
            self._ticker = asyncio.create_task(self.runner.run_ticker(self.period_s))

    def health_changed(self, serving: bool, reason: str) -> None:
        """The runner turned (un)healthy: every service's health status follows."""
        task = asyncio.ensure_future(self._set_health(serving))
        self._health_updates.add(task)
        task.add_done_callback(self._health_updates.discard)

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
        await self.server.stop(grace_s)
        await self.runner.close()

    async def wait(self) -> None:
        """Serve until stopped."""
        await self.server.wait_for_termination()


def create_server(coordinator: Coordinator, address: str = "127.0.0.1:0",
                  period_s: float = 0.2, *, tokens: dict[bytes, Principal] | None = None,
                  tls: tuple[bytes, bytes] | None = None) -> FleetServer:
    """Build the server (not started); ask for port 0 to get a free port.

    `tokens` (from `load_tokens`) turns on access control; `tls` is (certificate chain PEM,
    private key PEM) for TLS.
    """
    auth = TokenAuth(tokens) if tokens else None
    interceptors = [auth] if auth is not None else []
    if not tokens and not address.startswith(("127.", "localhost", "[::1]")):
        log.warning("serving %s without access tokens: anyone who reaches the port can "
                    "submit missions and command robots (fleet serve --tokens)", address)
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)], interceptors=interceptors)
    runner = CoordinatorRunner(coordinator)
    state_arrived = asyncio.Event()
    identify = None if auth is None else (
        lambda context: auth.principal(context.invocation_metadata()))
    robot_link_pb2_grpc.add_RobotLinkServicer_to_server(
        RobotLinkService(runner, state_arrived, identify), server)
    missions_pb2_grpc.add_MissionsServicer_to_server(MissionsService(runner), server)
    fleet_pb2_grpc.add_FleetServicer_to_server(FleetService(runner), server)
    simulation_pb2_grpc.add_SimClockServicer_to_server(
        SimClockService(runner, state_arrived), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME), server)
    if tls is not None:
        chain, key = tls
        port = server.add_secure_port(address, grpc.ssl_server_credentials([(key, chain)]))
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    fleet_server = FleetServer(server, port, runner, period_s, health_servicer)
    runner.on_health = fleet_server.health_changed
    return fleet_server
