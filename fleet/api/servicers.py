"""gRPC servicers: translate, validate, hand off to the coordinator, map errors to statuses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from fleet.api.auth import Principal
from fleet.api.convert import (
    command_to_wire,
    event_to_wire,
    floor_to_wire,
    mission_from_wire,
    mission_state_from_wire,
    mission_to_wire,
    robot_to_wire,
    spec_from_wire,
    state_from_wire,
)
from fleet.api.errors import describe, status_of
from fleet.coordinator import Addressed, Channel, Coordinator, CoordinatorRunner, ManualClock
from fleet.model import (
    FleetError,
    InfeasibleError,
    InvalidInputError,
    MissionEvent,
    RobotState,
    check_id,
)
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


Identify = Callable[[grpc.aio.ServicerContext[Any, Any]], Principal | None]
"""Who a call's token belongs to (None without access control)."""


def _registration(request: robot_link_pb2.RegisterRequest
                  ) -> Callable[[Coordinator], tuple[robot_link_pb2.RegisterReply, str]]:
    """Validate a registration; the returned call registers the robot on the worker and
    returns the reply and the session id (InvalidInputError here if the request is bad)."""
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
                 identify: Identify | None = None) -> None:
        self.runner = runner
        self.state_arrived = state_arrived
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
        try:
            self._check_robot(context, robot_id)
        except FleetError as err:
            await context.abort(status_of(err), describe(err))
        # gRPC tells at once when the call ends (a robot that hangs up and registers again
        # right away must not find itself still connected).
        context.add_done_callback(lambda _: self.runner.stream_ended(robot_id, session_id))
        try:
            channel = await self.runner.connect(robot_id, session_id)
        except FleetError as err:
            await context.abort(status_of(err), describe(err))
            raise
        failure: list[FleetError] = []

        async def read() -> None:
            try:
                async for update in request_iterator:
                    if update.WhichOneof("body") != "state":
                        raise InvalidInputError("only state messages may follow the hello",
                                                field="body", value=update.WhichOneof("body"))
                    self.runner.report(robot_id, channel, state_from_wire(update.state))
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
                yield command_to_wire(seq, command)
        finally:
            reader.cancel()
            self.runner.disconnect(robot_id, channel)
            self.state_arrived.set()
        if failure:
            await context.abort(status_of(failure[0]), describe(failure[0]))

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
            await context.abort(status_of(link.failure), describe(link.failure))


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

    async def read(self, updates: AsyncIterator[robot_link_pb2.GatewayUpdate]) -> None:
        """Take the gateway's messages until its side ends."""
        try:
            async for update in updates:
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
            state: RobotState = state_from_wire(wire)
            self.runner.report(robot_id, channel, state)
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
        self.ended = True
        channels, self.channels = self.channels, {}
        for robot_id, channel in channels.items():
            self.runner.disconnect(robot_id, channel)
        self.service.state_arrived.set()


class MissionsService(missions_pb2_grpc.MissionsServicer):
    """Planners: submit, cancel, query, watch."""

    def __init__(self, runner: CoordinatorRunner) -> None:
        self.runner = runner

    async def Submit(self, request: missions_pb2.SubmitMissionRequest,
                     context: grpc.aio.ServicerContext[Any, Any]
                     ) -> missions_pb2.MissionStatus:
        if not request.HasField("mission"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "mission is required")
        try:
            mission = mission_from_wire(request.mission)
        except FleetError as err:
            await context.abort(status_of(err), describe(err))
            raise
        return await _call(context, self.runner, lambda c: mission_to_wire(c.submit(mission)))

    async def Cancel(self, request: missions_pb2.CancelMissionRequest,
                     context: grpc.aio.ServicerContext[Any, Any]
                     ) -> missions_pb2.MissionStatus:
        return await _call(context, self.runner, lambda c: mission_to_wire(c.cancel(
            check_id("mission_id", request.mission_id), request.reason)))

    async def Get(self, request: missions_pb2.GetMissionRequest,
                  context: grpc.aio.ServicerContext[Any, Any]) -> missions_pb2.MissionStatus:
        return await _call(context, self.runner, lambda c: mission_to_wire(c.get(
            check_id("mission_id", request.mission_id))))

    async def List(self, request: missions_pb2.ListMissionsRequest,
                   context: grpc.aio.ServicerContext[Any, Any]
                   ) -> missions_pb2.ListMissionsReply:
        def run(c: Coordinator) -> missions_pb2.ListMissionsReply:
            size = request.page_size or 100
            if size > 1000:
                raise InvalidInputError(f"page_size {size} is above 1000", field="page_size",
                                        value=size)
            start = 0
            if request.page_token:
                if not request.page_token.isdigit():
                    raise InvalidInputError(f"page_token {request.page_token!r} is not one "
                                            "this server gave", field="page_token",
                                            value=request.page_token)
                start = int(request.page_token)
            states = [mission_state_from_wire(s) for s in request.states]
            found = c.list_missions(states, dict(request.labels))
            page = found[start:start + size]
            token = str(start + size) if start + size < len(found) else ""
            return missions_pb2.ListMissionsReply(
                missions=[mission_to_wire(m) for m in page], next_page_token=token)
        return await _call(context, self.runner, run)

    async def WatchEvents(self, request: missions_pb2.WatchEventsRequest,
                          context: grpc.aio.ServicerContext[Any, Any]
                          ) -> AsyncIterator[missions_pb2.MissionEventMessage]:
        if request.mission_id:
            await _call(context, self.runner, lambda c: c.get(request.mission_id))
        queue = self.runner.watch()
        try:
            last = 0
            if request.after_seq >= 0:
                history = await _call(context, self.runner, lambda c: c.store.events(
                    request.after_seq, request.mission_id or None))
                for e in history:
                    last = e.seq
                    yield event_to_wire(e)
            while True:
                event: MissionEvent = await queue.get()
                if event.seq <= last or (request.mission_id and
                                         event.mission_id != request.mission_id):
                    continue
                stamp = Timestamp()
                stamp.GetCurrentTime()
                yield event_to_wire(event, stamp)
        finally:
            self.runner.unwatch(queue)


class FleetService(fleet_pb2_grpc.FleetServicer):
    """Operators: robots and the floor."""

    def __init__(self, runner: CoordinatorRunner) -> None:
        self.runner = runner

    async def ListRobots(self, request: fleet_pb2.ListRobotsRequest,
                         context: grpc.aio.ServicerContext[Any, Any]
                         ) -> fleet_pb2.ListRobotsReply:
        return await _call(context, self.runner, lambda c: fleet_pb2.ListRobotsReply(robots=[
            robot_to_wire(r, c.latest_state(rid)) for rid, r in sorted(c.robots.items())
            if r.connected or not request.connected_only]))

    async def GetFloorMap(self, request: fleet_pb2.GetFloorMapRequest,
                          context: grpc.aio.ServicerContext[Any, Any]) -> fleet_pb2.FloorMap:
        return floor_to_wire(self.runner.coordinator.floor)

    async def PauseRobot(self, request: fleet_pb2.PauseRobotRequest,
                         context: grpc.aio.ServicerContext[Any, Any]) -> fleet_pb2.RobotInfo:
        robot_id = request.robot_id
        return await _call(context, self.runner, lambda c: robot_to_wire(c.pause(
            check_id("robot_id", robot_id), request.reason), c.latest_state(robot_id)))

    async def ResumeRobot(self, request: fleet_pb2.ResumeRobotRequest,
                          context: grpc.aio.ServicerContext[Any, Any]) -> fleet_pb2.RobotInfo:
        robot_id = request.robot_id
        return await _call(context, self.runner, lambda c: robot_to_wire(c.resume(
            check_id("robot_id", robot_id)), c.latest_state(robot_id)))


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


