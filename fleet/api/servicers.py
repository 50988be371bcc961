"""gRPC servicers: translate, validate, hand off to the coordinator, map errors to statuses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from fleet.api.convert import (
    command_to_wire,
    spec_from_wire,
    state_from_wire,
)
from fleet.api.errors import describe, status_of
from fleet.api.metrics import CommandLatency, FleetMetrics
from fleet.api.operations import Operations
from fleet.coordinator import Coordinator, CoordinatorRunner, ManualClock
from fleet.model import FleetError, InvalidInputError
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

__all__ = ["FleetService", "MissionsService", "RobotLinkService", "SimClockService"]

log = logging.getLogger(__name__)
T = TypeVar("T")


async def _call(context: grpc.aio.ServicerContext[Any, Any], runner: CoordinatorRunner,
                fn: Callable[[Coordinator], T]) -> T:
    """Run `fn(coordinator)` on the coordinator's worker; its errors become the status of the
    table in fleet/api/errors."""
    try:
        return await runner.call(fn)
    except FleetError as err:
        await context.abort(status_of(err), describe(err))
        raise  # unreachable: abort raises


async def _answer(context: grpc.aio.ServicerContext[Any, Any], reply: Awaitable[T]) -> T:
    """Await an operation's reply; its errors become the status of fleet/api/errors' table."""
    try:
        return await reply
    except FleetError as err:
        await context.abort(status_of(err), describe(err))
        raise  # unreachable: abort raises


class RobotLinkService(robot_link_pb2_grpc.RobotLinkServicer):
    """Robots and their drivers."""

    def __init__(self, runner: CoordinatorRunner, state_arrived: asyncio.Event,
                 metrics: FleetMetrics | None = None) -> None:
        self.runner = runner
        self.state_arrived = state_arrived
        self.metrics = metrics or FleetMetrics()

    async def Register(self, request: robot_link_pb2.RegisterRequest,
                       context: grpc.aio.ServicerContext[Any, Any]
                       ) -> robot_link_pb2.RegisterReply:
        try:
            spec, pose = spec_from_wire(request)
        except FleetError as err:
            await context.abort(status_of(err), describe(err))
            raise

        def run(c: Coordinator) -> robot_link_pb2.RegisterReply:
            session = c.register(spec, pose)
            return robot_link_pb2.RegisterReply(
                robot_id=spec.id, session_id=session, floor_name=c.floor.name,
                resolution_m=c.floor.resolution_m)
        try:
            reply = await self.runner.register(run, spec.id)
        except FleetError as err:
            await context.abort(status_of(err), describe(err))
            raise
        self.state_arrived.set()
        return reply

    async def Connect(self, request_iterator: AsyncIterator[robot_link_pb2.RobotUpdate],
                      context: grpc.aio.ServicerContext[Any, Any]
                      ) -> AsyncIterator[robot_link_pb2.RobotCommand]:
        try:
            first = await request_iterator.__anext__()
        except StopAsyncIteration:
            return
        if first.WhichOneof("body") != "hello":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "the first message of a stream must be a hello")
        robot_id, session_id = first.hello.robot_id, first.hello.session_id
        # gRPC tells at once when the call ends (a robot that hangs up and registers again
        # right away must not find itself still connected).
        context.add_done_callback(lambda _: self.runner.stream_ended(robot_id, session_id))
        try:
            channel = await self.runner.connect(robot_id, session_id)
        except FleetError as err:
            await context.abort(status_of(err), describe(err))
            raise
        failure: list[FleetError] = []
        latency = CommandLatency(self.metrics.command_latency_seconds)
        self.metrics.streams.inc()

        async def read() -> None:
            try:
                async for update in request_iterator:
                    if update.WhichOneof("body") != "state":
                        raise InvalidInputError("only state messages may follow the hello",
                                                field="body", value=update.WhichOneof("body"))
                    state = state_from_wire(update.state)
                    self.runner.report(robot_id, channel, state)
                    latency.reported(state)
                    self.state_arrived.set()
            except FleetError as err:
                failure.append(err)
                log.warning("robot %s: closing its stream: %s", robot_id, err)
            except (grpc.aio.AioRpcError, asyncio.CancelledError):
                pass
            finally:
                channel.close()

        reader = asyncio.create_task(read())
        try:
            while True:
                item = await channel.queue.get()
                if item is None:
                    break
                seq, command = item
                latency.sent(command)
                yield command_to_wire(seq, command)
        finally:
            self.metrics.streams.dec()
            reader.cancel()
            self.runner.disconnect(robot_id, channel)
            self.state_arrived.set()
        if failure:
            await context.abort(status_of(failure[0]), describe(failure[0]))


class MissionsService(missions_pb2_grpc.MissionsServicer):
    """Planners: submit, cancel, query, watch (the operations of `fleet.api.operations`)."""

    def __init__(self, operations: Operations) -> None:
        self.operations = operations

    async def Submit(self, request: missions_pb2.SubmitMissionRequest,
                     context: grpc.aio.ServicerContext[Any, Any]
                     ) -> missions_pb2.MissionStatus:
        return await _answer(context, self.operations.submit(request))

    async def Cancel(self, request: missions_pb2.CancelMissionRequest,
                     context: grpc.aio.ServicerContext[Any, Any]
                     ) -> missions_pb2.MissionStatus:
        return await _answer(context, self.operations.cancel(request))

    async def Get(self, request: missions_pb2.GetMissionRequest,
                  context: grpc.aio.ServicerContext[Any, Any]) -> missions_pb2.MissionStatus:
        return await _answer(context, self.operations.get(request))

    async def List(self, request: missions_pb2.ListMissionsRequest,
                   context: grpc.aio.ServicerContext[Any, Any]
                   ) -> missions_pb2.ListMissionsReply:
        return await _answer(context, self.operations.list_missions(request))

    async def WatchEvents(self, request: missions_pb2.WatchEventsRequest,
                          context: grpc.aio.ServicerContext[Any, Any]
                          ) -> AsyncIterator[missions_pb2.MissionEventMessage]:
        try:
            async for event in self.operations.watch_events(request):
                yield event
        except FleetError as err:
            await context.abort(status_of(err), describe(err))


class FleetService(fleet_pb2_grpc.FleetServicer):
    """Operators: robots and the floor (the operations of `fleet.api.operations`)."""

    def __init__(self, operations: Operations) -> None:
        self.operations = operations

    async def ListRobots(self, request: fleet_pb2.ListRobotsRequest,
                         context: grpc.aio.ServicerContext[Any, Any]
                         ) -> fleet_pb2.ListRobotsReply:
        return await _answer(context, self.operations.list_robots(request))

    async def GetFloorMap(self, request: fleet_pb2.GetFloorMapRequest,
                          context: grpc.aio.ServicerContext[Any, Any]) -> fleet_pb2.FloorMap:
        return await _answer(context, self.operations.floor_map(request))

    async def PauseRobot(self, request: fleet_pb2.PauseRobotRequest,
                         context: grpc.aio.ServicerContext[Any, Any]) -> fleet_pb2.RobotInfo:
        return await _answer(context, self.operations.pause(request))

    async def ResumeRobot(self, request: fleet_pb2.ResumeRobotRequest,
                          context: grpc.aio.ServicerContext[Any, Any]) -> fleet_pb2.RobotInfo:
        return await _answer(context, self.operations.resume(request))


class SimClockService(simulation_pb2_grpc.SimClockServicer):
    """The simulator's hand on the coordinator's clock."""

    def __init__(self, runner: CoordinatorRunner, state_arrived: asyncio.Event) -> None:
        self.runner = runner
        self.state_arrived = state_arrived
        self._lock = asyncio.Lock()

    async def Advance(self, request: simulation_pb2.AdvanceRequest,
                      context: grpc.aio.ServicerContext[Any, Any]
                      ) -> simulation_pb2.AdvanceReply:
        clock = self.runner.coordinator.clock
        if not isinstance(clock, ManualClock):
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                "this coordinator runs on the wall clock; start it with "
                                "--sim-clock to drive it from a simulator")
            raise AssertionError("unreachable")
        if request.time_s < clock.now() - 1e-9:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"time_s {request.time_s} is before the clock's "
                                f"{clock.now()}")
        async with self._lock:
            # Step once every connected robot has reported this tick (or the wait is over);
            # the last check and the step are one call on the worker, so a robot that
            # connects in between is waited for too.
            t = request.time_s
            loop = asyncio.get_running_loop()
            deadline = loop.time() + (request.wait_timeout_s or 5.0)

            def reported(c: Coordinator) -> bool:
                if loop.time() < deadline and not c.all_reported(t):
                    return False
                clock.advance_to(t)
                return True
            while True:
                if not await _wait_for(lambda: self.runner.all_reported(t), self.state_arrived,
                                       deadline):
                    log.warning("t=%.1f s: gave up waiting for robot states after %.1f s", t,
                                request.wait_timeout_s or 5.0)
                try:
                    if await self.runner.step(reported):
                        break
                except FleetError as err:
                    await context.abort(status_of(err), describe(err))
            open_missions = await _call(context, self.runner, lambda c: c.open_missions())
            return simulation_pb2.AdvanceReply(
                time_s=clock.now(), last_command_seq=self.runner.last_command_seq(),
                open_missions=open_missions)


async def _wait_for(ready: Callable[[], bool], signal: asyncio.Event,
                    deadline: float) -> bool:
    """Wait until `ready()` holds, re-checking whenever `signal` fires, until the loop's
    clock reaches `deadline`; False if it did not."""
    loop = asyncio.get_running_loop()
    while not ready():
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        signal.clear()
        try:
            await asyncio.wait_for(signal.wait(), remaining)
        except TimeoutError:
            continue
    return True


