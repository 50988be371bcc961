"""The master's link to the coordinator: many vehicles over one gRPC channel.

`CoordinatorLink` is what the master needs (the shape of `fleet.gateway.Gateway`, the
batched RobotLink.Gateway stream). `StreamsLink` provides it over the per-robot
`Register` + `Connect` calls, all multiplexed on ONE grpc.aio channel (one TCP connection,
HTTP/2 streams inside it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import grpc

from fleet.v1 import robot_link_pb2, robot_link_pb2_grpc

__all__ = ["CommandsHandler", "CoordinatorLink", "EndedHandler", "JoinRefused", "StreamsLink"]

log = logging.getLogger(__name__)

CommandsHandler = Callable[[str, Sequence[robot_link_pb2.RobotCommand]], None]
"""Called on the event loop with a robot id and the commands that arrived for it."""
EndedHandler = Callable[[str, grpc.StatusCode, str], None]
"""Called on the event loop when a robot's session ended (not after `leave`)."""


class JoinRefused(Exception):
    """The coordinator refused a robot's registration."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


class CoordinatorLink(Protocol):
    """Robots' sessions with the coordinator, as one gateway holds them."""

    async def join(self, request: robot_link_pb2.RegisterRequest
                   ) -> robot_link_pb2.RegisterReply:
        """Register a robot and open its session; JoinRefused if the coordinator says no."""
        ...

    def send_state(self, state: robot_link_pb2.RobotState) -> None:
        """Queue a joined robot's state."""
        ...

    def leave(self, robot_id: str) -> None:
        """End a robot's session (its jobs follow the coordinator's disconnect rules)."""
        ...

    async def close(self) -> None:
        """End every session."""
        ...


@dataclass(slots=True)
class _Session:
    outbox: asyncio.Queue[robot_link_pb2.RobotUpdate | None]
    call: grpc.aio.StreamStreamCall[robot_link_pb2.RobotUpdate, robot_link_pb2.RobotCommand]
    reader: asyncio.Task[None] | None = None
    left: bool = False


class StreamsLink:
    """`CoordinatorLink` over Register + one Connect stream per robot, on one channel."""

    def __init__(self, channel: grpc.aio.Channel, on_commands: CommandsHandler,
                 on_ended: EndedHandler) -> None:
        self._stub = robot_link_pb2_grpc.RobotLinkStub(channel)
        self._on_commands = on_commands
        self._on_ended = on_ended
        self._sessions: dict[str, _Session] = {}

    async def join(self, request: robot_link_pb2.RegisterRequest
                   ) -> robot_link_pb2.RegisterReply:
        """Register, then open the robot's stream with its Hello."""
        self.leave(request.robot_id)
        try:
            reply: robot_link_pb2.RegisterReply = await self._stub.Register(request,
                                                                            timeout=5.0)
        except grpc.aio.AioRpcError as err:
            raise JoinRefused(err.code(), err.details() or "") from err
        outbox: asyncio.Queue[robot_link_pb2.RobotUpdate | None] = asyncio.Queue()
        outbox.put_nowait(robot_link_pb2.RobotUpdate(hello=robot_link_pb2.Hello(
            robot_id=request.robot_id, session_id=reply.session_id)))

        async def updates() -> AsyncIterator[robot_link_pb2.RobotUpdate]:
            while (item := await outbox.get()) is not None:
                yield item

        session = _Session(outbox=outbox, call=self._stub.Connect(updates()))
        session.reader = asyncio.create_task(self._read(request.robot_id, session))
        self._sessions[request.robot_id] = session
        return reply

    async def _read(self, robot_id: str, session: _Session) -> None:
        code, details = grpc.StatusCode.OK, "stream ended"
        try:
            async for command in session.call:
                self._on_commands(robot_id, (command,))
        except grpc.aio.AioRpcError as err:
            code, details = err.code(), err.details() or ""
        except asyncio.CancelledError:
            if not session.left:
                raise
        finally:
            if self._sessions.get(robot_id) is session:
                del self._sessions[robot_id]
            if not session.left:
                session.left = True
                session.outbox.put_nowait(None)
                self._on_ended(robot_id, code, details)

    def send_state(self, state: robot_link_pb2.RobotState) -> None:
        """Queue the state on the robot's stream (dropped if it has none)."""
        session = self._sessions.get(state.robot_id)
        if session is not None and not session.left:
            session.outbox.put_nowait(robot_link_pb2.RobotUpdate(state=state))

    def leave(self, robot_id: str) -> None:
        """Close the robot's stream."""
        session = self._sessions.pop(robot_id, None)
        if session is None or session.left:
            return
        session.left = True
        session.outbox.put_nowait(None)
        session.call.cancel()

    def joined(self, robot_id: str) -> bool:
        """True while the robot's session is open."""
        return robot_id in self._sessions

    async def close(self) -> None:
        """Close every stream and wait for their readers."""
        sessions = list(self._sessions.items())
        for robot_id, _ in sessions:
            self.leave(robot_id)
        for _, session in sessions:
            if session.reader is not None:
                session.reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await session.reader
