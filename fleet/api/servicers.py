"""gRPC servicers: translate, validate, hand off to the coordinator, map errors to statuses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc

from fleet.api.auth import Principal
from fleet.api.convert import (
    command_to_wire,
    mission_to_wire,
    order_from_wire,
    spec_from_wire,
    state_from_wire,
)
from fleet.api.errors import abort, describe, status_of
from fleet.api.limits import check
from fleet.api.metrics import CommandLatency, FleetMetrics
from fleet.api.operations import Operations
from fleet.api.orders import submit_order
from fleet.coordinator import Addressed, Channel, Coordinator, CoordinatorRunner, ManualClock
from fleet.model import FleetError, InfeasibleError, InvalidInputError, Reason, RobotState
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
        await abort(context, err)
        raise  # unreachable: abort raises


async def _answer(context: grpc.aio.ServicerContext[Any, Any], reply: Awaitable[T]) -> T:
    """Await an operation's reply; its errors become the status of fleet/api/errors' table."""
    try:
        return await reply
    except FleetError as err:
        await abort(context, err)
        raise  # unreachable: abort raises


Identify = Callable[[grpc.aio.ServicerContext[Any, Any]], Principal | None]
"""Who a call's token belongs to (None without access control)."""


def _registration(request: robot_link_pb2.RegisterRequest
                  ) -> Callable[[Coordinator], tuple[robot_link_pb2.RegisterReply, str]]:
    """Validate a registration; the returned call registers the robot on the worker and
    returns the reply and the session id (InvalidInputError here if the request is bad)."""
    check(request)
    spec, pose = spec_from_wire(request)

    def run(c: Coordinator) -> tuple[robot_link_pb2.RegisterReply, str]:
        session = c.register(spec, pose)
        return robot_link_pb2.RegisterReply(
            robot_id=spec.id, session_id=session, floor_name=c.floor.name,
            resolution_m=c.floor.resolution_m), session
    return run


def _code(err: FleetError) -> int:
    code: tuple[int, str] = status_of(err).value
    return code[0]


class RobotLinkService(robot_link_pb2_grpc.RobotLinkServicer):
    """Robots and their drivers, one stream each, and gateways, many robots on one stream."""

    def __init__(self, runner: CoordinatorRunner, state_arrived: asyncio.Event,
                 metrics: FleetMetrics | None = None, identify: Identify | None = None) -> None:
        self.runner = runner
        self.state_arrived = state_arrived
        self.metrics = metrics or FleetMetrics()
        self.identify = identify

    def _check_robot(self, context: grpc.aio.ServicerContext[Any, Any], robot_id: str) -> None:
        """PermissionDeniedError if the call's token may not speak for `robot_id`."""
        who = self.identify(context) if self.identify is not None else None
        if who is not None:
            who.check_robot(robot_id)

    async def Register(self, request: robot_link_pb2.RegisterRequest,
                       context: grpc.aio.ServicerContext[Any, Any]
                       ) -> robot_link_pb2.RegisterReply:
        try:
            self._check_robot(context, request.robot_id)
            run = _registration(request)
            reply, _ = await self.runner.register(run, request.robot_id)
        except FleetError as err:
            await abort(context, err)
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
            await abort(context, InvalidInputError(
                "the first message of a stream must be a hello", field="hello",
                reason=Reason.REQUIRED))
        robot_id, session_id = first.hello.robot_id, first.hello.session_id
        try:
            check(first.hello)
            self._check_robot(context, robot_id)
        except FleetError as err:
            await abort(context, err)
        # gRPC tells at once when the call ends (a robot that hangs up and registers again
        # right away must not find itself still connected).
        context.add_done_callback(lambda _: self.runner.stream_ended(robot_id, session_id))
        try:
            channel = await self.runner.connect(robot_id, session_id)
        except FleetError as err:
            await abort(context, err)
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
                    check(update.state)
                    state = state_from_wire(update.state)
                    self.runner.report(robot_id, channel, state)
                    self.metrics.stream_states.inc()
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
            await abort(context, failure[0])

    async def Gateway(self, request_iterator: AsyncIterator[robot_link_pb2.GatewayUpdate],
                      context: grpc.aio.ServicerContext[Any, Any]
                      ) -> AsyncIterator[robot_link_pb2.GatewayCommands]:
        link = _GatewayStream(self, context)
        context.add_done_callback(lambda _: link.end())
        reader = asyncio.create_task(link.read(request_iterator))
        try:
            while True:
                batch = await link.next_batch()
                if batch is None:
                    break
                yield batch
        finally:
            reader.cancel()
            link.end()
        if link.failure is not None:
            await abort(context, link.failure)


_Item = Addressed | robot_link_pb2.JoinResult | robot_link_pb2.LinkEnded | None


class _GatewayStream:
    """One gateway's stream: the robots that joined on it, and what goes back to it."""

    def __init__(self, service: RobotLinkService,
                 context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self.service = service
        self.runner = service.runner
        self.context = context
        self.channels: dict[str, Channel] = {}
        self.outbox: asyncio.Queue[_Item] = asyncio.Queue()
        self.failure: FleetError | None = None
        self.ended = False
        self.latency: dict[str, CommandLatency] = {}
        """Per joined robot: commands waiting for the robot to name them (metrics)."""
        service.metrics.streams.inc()

    async def read(self, updates: AsyncIterator[robot_link_pb2.GatewayUpdate]) -> None:
        """Take the gateway's messages until its side ends."""
        try:
            async for update in updates:
                check(update)
                if update.join:
                    await self._join(update.join)
                for wire in update.states:
                    self._report(wire)
                for robot_id in update.leave:
                    channel = self.channels.pop(robot_id, None)
                    if channel is not None:
                        self.runner.disconnect(robot_id, channel)
                if update.states or update.leave:
                    self.service.state_arrived.set()
        except FleetError as err:
            self.failure = err
        except (grpc.aio.AioRpcError, asyncio.CancelledError):
            pass
        finally:
            self.outbox.put_nowait(None)

    async def _join(self, requests: Sequence[robot_link_pb2.RegisterRequest]) -> None:
        joins: list[tuple[str, Callable[[Coordinator],
                                        tuple[robot_link_pb2.RegisterReply, str]]]] = []
        for request in requests:
            try:
                self.service._check_robot(self.context, request.robot_id)
                if request.robot_id in self.channels:
                    raise InfeasibleError(f"robot_id {request.robot_id!r} has joined this "
                                          "gateway's stream already", field="robot_id",
                                          value=request.robot_id)
                joins.append((request.robot_id, _registration(request)))
            except FleetError as err:
                self.outbox.put_nowait(robot_link_pb2.JoinResult(
                    robot_id=request.robot_id, code=_code(err), message=describe(err)))

        def joined(results: list[tuple[robot_link_pb2.RegisterReply, Channel] | FleetError]
                   ) -> None:
            for (robot_id, _), result in zip(joins, results, strict=True):
                if isinstance(result, FleetError):
                    self.outbox.put_nowait(robot_link_pb2.JoinResult(
                        robot_id=robot_id, code=_code(result), message=describe(result)))
                else:
                    reply, channel = result
                    self.channels[robot_id] = channel
                    self.outbox.put_nowait(robot_link_pb2.JoinResult(robot_id=robot_id,
                                                                     reply=reply))
        if joins:
            await self.runner.join(joins, self.outbox.put_nowait, joined)
            self.service.state_arrived.set()
            if self.ended:
                # The call ended while the robots were joining.
                self.end()

    def _report(self, wire: robot_link_pb2.RobotState) -> None:
        robot_id = wire.robot_id
        channel = self.channels.get(robot_id)
        try:
            if channel is None:
                raise InfeasibleError(f"robot_id {robot_id!r} has not joined this gateway's "
                                      "stream: join it first", field="states.robot_id",
                                      value=robot_id)
            check(wire)
            state: RobotState = state_from_wire(wire)
            self.runner.report(robot_id, channel, state)
            self.service.metrics.gateway_states.inc()
            latency = self.latency.get(robot_id)
            if latency is not None:
                latency.reported(state)
        except FleetError as err:
            log.warning("gateway: ending robot %s's link: %s", robot_id, err)
            if channel is not None:
                del self.channels[robot_id]
                self.runner.disconnect(robot_id, channel)
            self.outbox.put_nowait(robot_link_pb2.LinkEnded(
                robot_id=robot_id, code=_code(err), message=describe(err)))

    async def next_batch(self) -> robot_link_pb2.GatewayCommands | None:
        """Everything queued for the gateway, as one message (None once its side ended)."""
        items = [await self.outbox.get()]
        while not self.outbox.empty():
            items.append(self.outbox.get_nowait())
        batch = robot_link_pb2.GatewayCommands()
        done = False
        for item in items:
            if item is None:
                done = True
            elif isinstance(item, Addressed):
                latency = self.latency.get(item.robot_id)
                if latency is None:
                    latency = self.latency[item.robot_id] = CommandLatency(
                        self.service.metrics.command_latency_seconds)
                latency.sent(item.command)
                batch.commands.add(robot_id=item.robot_id).command.CopyFrom(
                    command_to_wire(item.seq, item.command))
            elif isinstance(item, robot_link_pb2.JoinResult):
                batch.joined.append(item)
            else:
                batch.ended.append(item)
        if done and not (batch.joined or batch.commands or batch.ended):
            return None
        if done:
            self.outbox.put_nowait(None)
        return batch

    def end(self) -> None:
        """The call ended: every robot on it disconnects (once)."""
        if not self.ended:
            self.service.metrics.streams.dec()
        self.ended = True
        channels, self.channels = self.channels, {}
        for robot_id, channel in channels.items():
            self.runner.disconnect(robot_id, channel)
        self.service.state_arrived.set()


class MissionsService(missions_pb2_grpc.MissionsServicer):
    """Planners: submit, cancel, query, watch (the operations of `fleet.api.operations`)."""

    def __init__(self, operations: Operations, catalog: Catalog | None = None) -> None:
        self.operations = operations
        self.catalog = catalog
        """The routings of the line this coordinator serves (SubmitOrder), if any."""

    async def SubmitOrder(self, request: missions_pb2.SubmitOrderRequest,
                          context: grpc.aio.ServicerContext[Any, Any]
                          ) -> missions_pb2.SubmitOrderReply:
        try:
            check(request)
            order = order_from_wire(request)
        except FleetError as err:
            await abort(context, err)
            raise
        catalog = self.catalog
        return await _call(context, self.operations.runner,
                           lambda c: missions_pb2.SubmitOrderReply(
                               missions=[mission_to_wire(r)
                                         for r in submit_order(c, catalog, order)]))

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
            await abort(context, err)


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

    async def ListCapabilities(self, request: fleet_pb2.ListCapabilitiesRequest,
                               context: grpc.aio.ServicerContext[Any, Any]
                               ) -> fleet_pb2.ListCapabilitiesReply:
        return await _answer(context, self.operations.capabilities(request))

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
        try:
            check(request)
        except FleetError as err:
            await abort(context, err)
        if request.time_s < clock.now() - 1e-9:
            await abort(context, InvalidInputError(
                f"time_s {request.time_s} is before the clock's {clock.now()}",
                field="time_s", reason=Reason.OUT_OF_RANGE))
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
                    await abort(context, err)
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


