"""The operations planners and operators call, defined once for every front end.

Each operation takes the request message of the wire contract, validates it, runs on the
coordinator's worker and returns the reply message, or raises a `FleetError` that names the
field. The gRPC servicers (`fleet.api.servicers`) and the HTTP routes (`fleet.http`) are thin
front ends over these: they differ only in how a request arrives and how an error is told
(the one table in `fleet.api.errors`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from google.protobuf.timestamp_pb2 import Timestamp

from fleet.api.convert import (
    capability_to_wire,
    event_to_wire,
    floor_to_wire,
    mission_from_wire,
    mission_state_from_wire,
    mission_to_wire,
    robot_to_wire,
)
from fleet.api.limits import check
from fleet.coordinator import Coordinator, CoordinatorRunner
from fleet.model import InvalidInputError, MissionEvent, check_id
from fleet.v1 import fleet_pb2, missions_pb2

__all__ = ["MAX_PAGE_SIZE", "Operations"]

MAX_PAGE_SIZE = 1000
"""Most missions one List call returns."""


class Operations:
    """Submit, cancel, get, list and watch missions; list, pause and resume robots; the floor."""

    def __init__(self, runner: CoordinatorRunner) -> None:
        self.runner = runner

    # -- missions ----------------------------------------------------------------------------
    async def submit(self, request: missions_pb2.SubmitMissionRequest
                     ) -> missions_pb2.MissionStatus:
        """Validate and durably accept a mission."""
        check(request)
        if not request.HasField("mission"):
            raise InvalidInputError("mission is required", field="mission", value=None)
        mission = mission_from_wire(request.mission)
        return await self.runner.call(lambda c: mission_to_wire(c.submit(mission)))

    async def cancel(self, request: missions_pb2.CancelMissionRequest
                     ) -> missions_pb2.MissionStatus:
        """Cancel an unfinished mission."""
        check(request)
        mission_id = check_id("mission_id", request.mission_id)
        return await self.runner.call(lambda c: mission_to_wire(c.cancel(mission_id,
                                                                         request.reason)))

    async def get(self, request: missions_pb2.GetMissionRequest) -> missions_pb2.MissionStatus:
        """One mission's status."""
        check(request)
        mission_id = check_id("mission_id", request.mission_id)
        return await self.runner.call(lambda c: mission_to_wire(c.get(mission_id)))

    async def list_missions(self, request: missions_pb2.ListMissionsRequest
                            ) -> missions_pb2.ListMissionsReply:
        """A page of missions in submission order, filtered by state and labels."""
        check(request)
        size = request.page_size or 100
        if not 0 < size <= MAX_PAGE_SIZE:
            raise InvalidInputError(f"page_size {size} is outside 1..{MAX_PAGE_SIZE}",
                                    field="page_size", value=size)
        start = 0
        if request.page_token:
            if not request.page_token.isdigit():
                raise InvalidInputError(f"page_token {request.page_token!r} is not one "
                                        "this server gave", field="page_token",
                                        value=request.page_token)
            start = int(request.page_token)
        states = [mission_state_from_wire(s) for s in request.states]
        labels = dict(request.labels)

        def run(c: Coordinator) -> missions_pb2.ListMissionsReply:
            found = c.list_missions(states, labels)
            page = found[start:start + size]
            token = str(start + size) if start + size < len(found) else ""
            return missions_pb2.ListMissionsReply(
                missions=[mission_to_wire(m) for m in page], next_page_token=token)
        return await self.runner.call(run)

    async def watch_events(self, request: missions_pb2.WatchEventsRequest
                           ) -> AsyncGenerator[missions_pb2.MissionEventMessage, None]:
        """Mission events: those after `after_seq` from the store (none if negative), then
        each as it is written; only one mission's with `mission_id`."""
        check(request)
        mission_id = request.mission_id
        if mission_id:
            check_id("mission_id", mission_id)
            await self.runner.call(lambda c: c.get(mission_id))
        queue = self.runner.watch()
        try:
            last = 0
            if request.after_seq >= 0:
                history = await self.runner.call(lambda c: c.store.events(
                    request.after_seq, mission_id or None))
                for e in history:
                    last = e.seq
                    yield event_to_wire(e)
            while True:
                event: MissionEvent = await queue.get()
                if event.seq <= last or (mission_id and event.mission_id != mission_id):
                    continue
                stamp = Timestamp()
                stamp.GetCurrentTime()
                yield event_to_wire(event, stamp)
        finally:
            self.runner.unwatch(queue)

    # -- robots and the floor ----------------------------------------------------------------
    async def list_robots(self, request: fleet_pb2.ListRobotsRequest
                          ) -> fleet_pb2.ListRobotsReply:
        """Every robot the coordinator knows (only connected ones with `connected_only`)."""
        check(request)
        return await self.runner.call(lambda c: fleet_pb2.ListRobotsReply(robots=[
            robot_to_wire(r, c.latest_state(rid)) for rid, r in sorted(c.robots.items())
            if r.connected or not request.connected_only]))

    async def floor_map(self, request: fleet_pb2.GetFloorMapRequest) -> fleet_pb2.FloorMap:
        """The floor the coordinator plans on (it never changes while it runs)."""
        check(request)
        return floor_to_wire(self.runner.coordinator.floor)

    async def capabilities(self, request: fleet_pb2.ListCapabilitiesRequest
                           ) -> fleet_pb2.ListCapabilitiesReply:
        """What missions are checked against: the roster, then the declared fleet."""
        return await self.runner.call(lambda c: fleet_pb2.ListCapabilitiesReply(
            capabilities=[capability_to_wire(g) for g in c.capabilities()]))

    async def pause(self, request: fleet_pb2.PauseRobotRequest) -> fleet_pb2.RobotInfo:
        """An operator holds a robot."""
        check(request)
        robot_id = check_id("robot_id", request.robot_id)
        return await self.runner.call(lambda c: robot_to_wire(
            c.pause(robot_id, request.reason), c.latest_state(robot_id)))

    async def resume(self, request: fleet_pb2.ResumeRobotRequest) -> fleet_pb2.RobotInfo:
        """Release an operator's hold."""
        check(request)
        robot_id = check_id("robot_id", request.robot_id)
        return await self.runner.call(lambda c: robot_to_wire(c.resume(robot_id),
                                                              c.latest_state(robot_id)))
