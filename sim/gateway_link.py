"""Simulated robots on one batched gateway link (`fleet.gateway`), as a gateway would run them.

`GatewayHub` owns the one `Gateway` stream and hands each robot its commands; `GatewayLink` is
one robot's `Link` over it, with the same behaviour as a robot on a stream of its own
(`sim.grpc_link.GrpcLink`): commands are applied at the robot's next tick, and a robot whose
link ended stands still at the end of what was released and joins again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import grpc

from fleet.gateway import Gateway, GatewayRefused
from fleet.v1 import robot_link_pb2
from sim.grpc_link import register_request
from sim.robot import SimRobot

__all__ = ["GatewayHub", "GatewayLink"]

log = logging.getLogger(__name__)


class GatewayLink:
    """One robot's link through the hub's gateway stream."""

    def __init__(self, robot: SimRobot, hub: GatewayHub) -> None:
        self.robot = robot
        self.hub = hub
        self.received: list[robot_link_pb2.RobotCommand] = []
        self.last_seq = 0
        self.commands = 0
        """Commands received over every join."""

    @property
    def connected(self) -> bool:
        """True while the robot's link is up."""
        return self.hub.gateway.joined(self.robot.spec.id)

    async def connect(self) -> bool:
        """Join (again); False if the coordinator refused or is away."""
        await self.disconnect()
        self.received, self.last_seq = [], 0
        try:
            await self.hub.gateway.join(register_request(self.robot), timeout_s=5.0)
        except GatewayRefused as err:
            log.info("robot %s: join refused: %s %s", self.robot.spec.id, err.code.name,
                     err.message)
            return False
        return True

    def send_state(self, t_s: float) -> None:
        """Queue this tick's state report (it goes up with every other robot's)."""
        self.hub.gateway.send_state(self.robot.state(t_s))

    def take_commands(self) -> None:
        """Apply every command received so far, in order."""
        received, self.received = self.received, []
        for command in received:
            self.robot.apply(command)

    def has_received(self, seq: int) -> bool:
        """True once the command numbered `seq` has arrived (or the link is gone)."""
        return not self.connected or self.last_seq >= seq

    def deliver(self, commands: Sequence[robot_link_pb2.RobotCommand]) -> None:
        """Commands arrived for this robot."""
        self.received.extend(commands)
        self.last_seq = commands[-1].seq
        self.commands += len(commands)

    async def disconnect(self) -> None:
        """Leave the gateway's stream."""
        self.hub.gateway.leave(self.robot.spec.id)

    async def restart(self) -> None:
        """The robot's driver restarts: it leaves and forgets its commands; the simulator
        joins it again at its next tick, since it then stands still."""
        await self.disconnect()
        self.received = []
        self.robot.reboot()


class GatewayHub:
    """The one gateway stream of a simulation's robots."""

    def __init__(self, channel: grpc.aio.Channel, on_commands: Callable[
            [str, list[robot_link_pb2.RobotCommand]], None] | None = None) -> None:
        """`on_commands(robot_id, commands)`, if given, sees each robot's commands as they
        come off the stream (before the robot's next tick applies them)."""
        self.gateway = Gateway(channel, self._commands, self._ended)
        self.links: dict[str, GatewayLink] = {}
        self.on_commands = on_commands

    def link(self, robot: SimRobot) -> GatewayLink:
        """The robot's link through this hub."""
        link = self.links[robot.spec.id] = GatewayLink(robot, self)
        return link

    def _commands(self, robot_id: str, commands: Sequence[robot_link_pb2.RobotCommand]) -> None:
        link = self.links.get(robot_id)
        if link is not None:
            link.deliver(commands)
            if self.on_commands is not None:
                self.on_commands(robot_id, list(commands))

    def _ended(self, robot_id: str, code: grpc.StatusCode, message: str) -> None:
        if code != grpc.StatusCode.CANCELLED:
            log.info("robot %s: link ended: %s %s", robot_id, code.name, message)

    async def close(self) -> None:
        """End the stream."""
        await self.gateway.close()
