"""The coordinator on the wall clock, as in a plant: a robot in real time finishes a job."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import grpc

from fleet.floor import load_floor
from fleet.v1 import missions_pb2, missions_pb2_grpc, robot_link_pb2_grpc
from sim.grpc_link import GrpcLink
from sim.robot import SimRobot
from sim.scenario import make_fleet
from tests.conftest import SMALL_MAP, serve


def test_a_robot_in_real_time_completes_a_transport(tmp_path: Path) -> None:
    floor = load_floor(SMALL_MAP)
    spec, pose = make_fleet(floor, 1, random.Random(0))[0]
    robot = SimRobot(spec, pose)
    robot.ACTION_TIME_S = {k: 0.5 for k in SimRobot.ACTION_TIME_S}
    kinds = {s.id: s.kind.value for s in floor.stations.values()}
    pickup = next(s for s, k in kinds.items() if k == "pickup")
    dropoff = next(s for s, k in kinds.items() if k == "dropoff")

    for served in serve(SMALL_MAP, str(tmp_path / "wall.db"), sim_clock=False):
        missions = missions_pb2_grpc.MissionsStub(served.channel)

        async def run(address: str) -> int:
            async with grpc.aio.insecure_channel(address) as channel:
                link = GrpcLink(robot, robot_link_pb2_grpc.RobotLinkStub(channel))
                assert await link.connect()
                spec_ = missions_pb2.MissionSpec(mission_id="wall-1")
                spec_.tasks.add(task_id="t", transport=missions_pb2.TransportTask(
                    pickup_station=pickup, dropoff_station=dropoff, load_id="l-1",
                    mass_kg=10))
                await missions_pb2_grpc.MissionsStub(channel).Submit(
                    missions_pb2.SubmitMissionRequest(mission=spec_), timeout=10)
                last = time.time()
                for _ in range(1200):  # at most 60 s of real time
                    await asyncio.sleep(0.05)
                    now = time.time()
                    link.take_commands()
                    robot.tick(now, now - last)
                    last = now
                    link.send_state(now)
                    status = await missions_pb2_grpc.MissionsStub(channel).Get(
                        missions_pb2.GetMissionRequest(mission_id="wall-1"), timeout=10)
                    if status.state == missions_pb2.MISSION_STATE_COMPLETED:
                        break
                await link.disconnect()
                return int(status.state)

        state = asyncio.run(run(served.address))
        assert state == missions_pb2.MISSION_STATE_COMPLETED
        final = missions.Get(missions_pb2.GetMissionRequest(mission_id="wall-1"), timeout=10)
        assert [t.steps_done for t in final.tasks] == [4]
