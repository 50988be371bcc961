"""A simulated robot on gRPC RobotLink, exactly as a robot driver would connect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc

from fleet.model import RobotKind
from fleet.v1 import common_pb2, robot_link_pb2, robot_link_pb2_grpc
from sim.robot import SimRobot

__all__ = ["GrpcLink", "register_request"]

log = logging.getLogger(__name__)

_KIND_TO_WIRE = {RobotKind.AGV: common_pb2.ROBOT_KIND_AGV,
                 RobotKind.MOBILE_WELDER: common_pb2.ROBOT_KIND_MOBILE_WELDER,
                 RobotKind.FIXED_WELDER: common_pb2.ROBOT_KIND_FIXED_WELDER}


def register_request(robot: SimRobot) -> robot_link_pb2.RegisterRequest:
    """What the robot tells the coordinator when it registers: its spec and where it is."""
    spec = robot.spec
    req = robot_link_pb2.RegisterRequest(
        robot_id=spec.id, kind=_KIND_TO_WIRE[spec.kind],
        footprint_radius_m=spec.radius_m, max_speed_mps=spec.max_speed_mps,
        pose=common_pb2.Pose(x=robot.pose.x, y=robot.pose.y, theta=robot.pose.theta))
    if spec.transport is not None:
        req.transport.max_payload_kg = spec.transport.max_payload_kg
    if spec.weld is not None:
        req.weld.programs.extend(sorted(spec.weld.programs))
    return req


@dataclass(slots=True)
class _Stream:
    call: grpc.aio.StreamStreamCall[robot_link_pb2.RobotUpdate, robot_link_pb2.RobotCommand]
    outbox: asyncio.Queue[robot_link_pb2.RobotUpdate | None]
    received: list[robot_link_pb2.RobotCommand] = field(default_factory=list)
    last_seq: int = 0
    reader: asyncio.Task[None] | None = None
    broken: bool = False


class GrpcLink:
    """One robot's RobotLink session: register, then a stream of states up, commands down."""

    def __init__(self, robot: SimRobot, stub: robot_link_pb2_grpc.RobotLinkStub) -> None:
        self.robot = robot
        self.stub = stub
        self.stream: _Stream | None = None
        self.commands = 0
        """Commands received over every stream."""

    @property
    def connected(self) -> bool:
        """True while the stream is up."""
        return self.stream is not None and not self.stream.broken

    async def connect(self) -> bool:
        """Register and open the stream; False if the coordinator refused or is away."""
        await self.disconnect()
        spec = self.robot.spec
        try:
            reply = await self.stub.Register(register_request(self.robot), timeout=5.0)
        except grpc.aio.AioRpcError as err:
            log.info("robot %s: register failed: %s %s", spec.id, err.code(), err.details())
            return False
        outbox: asyncio.Queue[robot_link_pb2.RobotUpdate | None] = asyncio.Queue()
        outbox.put_nowait(robot_link_pb2.RobotUpdate(hello=robot_link_pb2.Hello(
            robot_id=spec.id, session_id=reply.session_id)))

        async def updates() -> AsyncIterator[robot_link_pb2.RobotUpdate]:
            while True:
                item = await outbox.get()
                if item is None:
                    return
                yield item

        stream = _Stream(call=self.stub.Connect(updates()), outbox=outbox)
        stream.reader = asyncio.create_task(self._read(stream))
        self.stream = stream
        return True

    async def _read(self, stream: _Stream) -> None:
        try:
            async for command in stream.call:
                stream.received.append(command)
                stream.last_seq = command.seq
                self.commands += 1
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.CANCELLED:
                log.info("robot %s: stream closed: %s %s", self.robot.spec.id, err.code(),
                         err.details())
        finally:
            stream.broken = True

    def send_state(self, t_s: float) -> None:
        """Queue this tick's state report."""
        if self.stream is not None and not self.stream.broken:
            self.stream.outbox.put_nowait(robot_link_pb2.RobotUpdate(
                state=self.robot.state(t_s)))

    def take_commands(self) -> None:
        """Apply every command received so far, in order."""
        if self.stream is not None:
            received, self.stream.received = self.stream.received, []
            for command in received:
                self.robot.apply(command)

    def has_received(self, seq: int) -> bool:
        """True once the command numbered `seq` has arrived (or the stream is gone)."""
        return self.stream is None or self.stream.broken or self.stream.last_seq >= seq

    async def disconnect(self) -> None:
        """Close the stream."""
        stream, self.stream = self.stream, None
        if stream is None:
            return
        stream.outbox.put_nowait(None)
        stream.call.cancel()
        if stream.reader is not None:
            stream.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stream.reader

    async def restart(self) -> None:
        """The robot's driver restarts: the stream drops and the robot forgets its commands.

        The simulator registers it again at its next tick, since it then stands still.
        """
        await self.disconnect()
        self.robot.reboot()
