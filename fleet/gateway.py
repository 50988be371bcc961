"""The client side of the batched link: one stream that speaks for many robots.

Gateways (the ROS 2 bridge, the simulator, a VDA 5050 master, a vendor's fleet manager) use a
`Gateway` instead of one Register call and Connect stream per robot (`RobotLink.Gateway` in
protos/fleet/v1/robot_link.proto). Robots join and leave; every state sent in one turn of the
event loop goes up in one message; commands come back in batches and are handed out per robot.
Each joined robot behaves as it would on a stream of its own: commands are numbered from 1 per
join, and if the link of one robot ends (a bad state) the others go on.

If the stream breaks (the coordinator restarts), every joined robot's link ends with
UNAVAILABLE; the next `join` opens a new stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import grpc

from fleet.v1 import robot_link_pb2, robot_link_pb2_grpc

__all__ = ["Gateway", "GatewayRefused"]

log = logging.getLogger(__name__)

OnCommands = Callable[[str, Sequence[robot_link_pb2.RobotCommand]], None]
"""Commands that arrived for one robot, in order."""
OnEnded = Callable[[str, grpc.StatusCode, str], None]
"""One robot's link ended: its id, the status code and why."""


class GatewayRefused(Exception):
    """The coordinator refused a robot's join (or the stream broke before it answered)."""

    def __init__(self, robot_id: str, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{robot_id}: {code.name} {message}")
        self.robot_id = robot_id
        self.code = code
        self.message = message


_CODES = {c.value[0]: c for c in grpc.StatusCode}


@dataclass(slots=True)
class _Call:
    """One Gateway stream and what waits to go up on it."""

    call: grpc.aio.StreamStreamCall[robot_link_pb2.GatewayUpdate,
                                    robot_link_pb2.GatewayCommands] | None = None
    outgoing: list[robot_link_pb2.GatewayUpdate] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    joining: dict[str, asyncio.Future[robot_link_pb2.RegisterReply]] = field(
        default_factory=dict)
    joined: set[str] = field(default_factory=set)
    reader: asyncio.Task[None] | None = None
    broken: bool = False
    closing: bool = False

    def pending(self) -> robot_link_pb2.GatewayUpdate:
        """The message being filled (the coordinator handles its joins, then its states,
        then its leaves)."""
        if not self.outgoing:
            self.outgoing.append(robot_link_pb2.GatewayUpdate())
        return self.outgoing[-1]


class Gateway:
    """Many robots on one `RobotLink.Gateway` stream of `channel`."""

    def __init__(self, channel: grpc.aio.Channel, on_commands: OnCommands,
                 on_ended: OnEnded) -> None:
        self._stub = robot_link_pb2_grpc.RobotLinkStub(channel)
        self._on_commands = on_commands
        self._on_ended = on_ended
        self._call: _Call | None = None
        self.sent_states = 0
        """States sent so far, over every stream."""

    @property
    def open(self) -> bool:
        """True while a stream is up."""
        return self._call is not None and not self._call.broken

    def joined(self, robot_id: str) -> bool:
        """True while the robot's link on the current stream is up."""
        return self._call is not None and not self._call.broken and \
            robot_id in self._call.joined

    async def join(self, request: robot_link_pb2.RegisterRequest,
                   timeout_s: float = 10.0) -> robot_link_pb2.RegisterReply:
        """Join a robot (opening the stream if none is up); GatewayRefused if the coordinator
        refuses it, or cannot be reached within `timeout_s`."""
        call = self._ensure_open()
        robot_id = request.robot_id
        if robot_id in call.joining:
            raise GatewayRefused(robot_id, grpc.StatusCode.ALREADY_EXISTS,
                                 "a join of this robot is under way")
        future: asyncio.Future[robot_link_pb2.RegisterReply] = \
            asyncio.get_running_loop().create_future()
        call.joining[robot_id] = future
        if robot_id in call.pending().leave:
            # It left in the message being filled: join in the next one, after the leave.
            call.outgoing.append(robot_link_pb2.GatewayUpdate())
        call.pending().join.append(request)
        call.wake.set()
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout_s)
        except TimeoutError:
            # A late acceptance is answered with a leave (`_take`).
            if call.joining.get(robot_id) is future:
                del call.joining[robot_id]
            raise GatewayRefused(robot_id, grpc.StatusCode.DEADLINE_EXCEEDED,
                                 f"no answer to the join within {timeout_s} s") from None

    def send_state(self, state: robot_link_pb2.RobotState) -> None:
        """Queue a joined robot's state; everything queued in one turn of the loop goes up
        in one message. Dropped (with no error) if the robot's link is not up."""
        call = self._call
        if call is None or call.broken or state.robot_id not in call.joined:
            return
        call.pending().states.append(state)
        self.sent_states += 1
        call.wake.set()

    def leave(self, robot_id: str) -> None:
        """A robot leaves: the coordinator handles it as a stream that ended."""
        call = self._call
        if call is None or call.broken or robot_id not in call.joined:
            return
        call.joined.discard(robot_id)
        call.pending().leave.append(robot_id)
        call.wake.set()

    async def close(self) -> None:
        """End the stream (every joined robot leaves)."""
        call, self._call = self._call, None
        if call is None:
            return
        call.closing = True
        call.wake.set()
        if call.call is not None:
            call.call.cancel()
        if call.reader is not None:
            call.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await call.reader
        self._break(call, grpc.StatusCode.CANCELLED, "the gateway closed its stream")

    # -- the stream ---------------------------------------------------------------------
    def _ensure_open(self) -> _Call:
        call = self._call
        if call is not None and not call.broken:
            return call
        call = self._call = _Call()
        call.call = self._stub.Gateway(self._updates(call))
        call.reader = asyncio.create_task(self._read(call))
        return call

    async def _updates(self, call: _Call) -> AsyncIterator[robot_link_pb2.GatewayUpdate]:
        while not call.closing and not call.broken:
            await call.wake.wait()
            call.wake.clear()
            # Let everything queued in this turn of the loop join the message.
            await asyncio.sleep(0)
            updates, call.outgoing = call.outgoing, []
            for update in updates:
                if update.join or update.states or update.leave:
                    yield update

    async def _read(self, call: _Call) -> None:
        code, message = grpc.StatusCode.UNAVAILABLE, "the gateway's stream ended"
        try:
            assert call.call is not None
            async for batch in call.call:
                self._take(call, batch)
        except grpc.aio.AioRpcError as err:
            code, message = err.code(), err.details() or ""
            if code != grpc.StatusCode.CANCELLED:
                log.info("gateway stream closed: %s %s", code.name, message)
        finally:
            self._break(call, code, message)

    def _take(self, call: _Call, batch: robot_link_pb2.GatewayCommands) -> None:
        for result in batch.joined:
            future = call.joining.pop(result.robot_id, None)
            if result.code == 0:
                if future is None or future.done():
                    # Nobody waits for this robot any more (the join timed out).
                    call.pending().leave.append(result.robot_id)
                    call.wake.set()
                    continue
                call.joined.add(result.robot_id)
                future.set_result(result.reply)
            elif future is not None and not future.done():
                future.set_exception(GatewayRefused(
                    result.robot_id, _CODES.get(result.code, grpc.StatusCode.UNKNOWN),
                    result.message))
        by_robot: dict[str, list[robot_link_pb2.RobotCommand]] = {}
        for addressed in batch.commands:
            by_robot.setdefault(addressed.robot_id, []).append(addressed.command)
        for robot_id, commands in by_robot.items():
            if robot_id in call.joined:
                self._on_commands(robot_id, commands)
        for ended in batch.ended:
            if ended.robot_id in call.joined:
                call.joined.discard(ended.robot_id)
                self._on_ended(ended.robot_id,
                               _CODES.get(ended.code, grpc.StatusCode.UNKNOWN), ended.message)

    def _break(self, call: _Call, code: grpc.StatusCode, message: str) -> None:
        if call.broken:
            return
        call.broken = True
        call.wake.set()
        for robot_id, future in call.joining.items():
            if not future.done():
                future.set_exception(GatewayRefused(robot_id, code, message))
        call.joining.clear()
        joined, call.joined = call.joined, set()
        for robot_id in sorted(joined):
            self._on_ended(robot_id, code, message)
