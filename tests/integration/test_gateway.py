"""The batched link: one gateway stream speaks for many robots, over a real gRPC channel."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from fleet.api.auth import load_tokens
from fleet.client import open_channel
from fleet.gateway import Gateway, GatewayRefused
from fleet.v1 import (
    common_pb2,
    fleet_pb2,
    fleet_pb2_grpc,
    missions_pb2,
    missions_pb2_grpc,
    robot_link_pb2,
    robot_link_pb2_grpc,
    simulation_pb2,
    simulation_pb2_grpc,
)
from tests.conftest import SMALL_MAP, Served, serve
from tests.integration.test_api_bad_input import agv, stations
from tests.integration.test_dispatch_flow import move

GATEWAY_SECRET = "gateway-secret-0123456789"
ADMIN_SECRET = "admin-secret-0123456789"


class Recorder:
    """What a gateway hands out: commands per robot, ended links."""

    def __init__(self) -> None:
        self.commands: dict[str, list[robot_link_pb2.RobotCommand]] = {}
        self.ended: list[tuple[str, grpc.StatusCode, str]] = []
        self.arrived = asyncio.Event()

    def on_commands(self, robot_id: str, commands: object) -> None:
        self.commands.setdefault(robot_id, []).extend(commands)  # type: ignore[call-overload]
        self.arrived.set()

    def on_ended(self, robot_id: str, code: grpc.StatusCode, message: str) -> None:
        self.ended.append((robot_id, code, message))
        self.arrived.set()

    async def until(self, cond: object, timeout_s: float = 10.0) -> None:
        async def wait() -> None:
            while not cond():  # type: ignore[operator]
                self.arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.arrived.wait(), 0.2)
        await asyncio.wait_for(wait(), timeout_s)


def state(req: robot_link_pb2.RegisterRequest, t: float, seq: int,
          **changes: object) -> robot_link_pb2.RobotState:
    msg = robot_link_pb2.RobotState(robot_id=req.robot_id, stamp_s=t, pose=req.pose,
                                    battery=0.9, mode=common_pb2.ROBOT_MODE_IDLE, seq=seq)
    for key, value in changes.items():
        setattr(msg, key, value)
    return msg


def connected(served: Served) -> set[str]:
    reply = fleet_pb2_grpc.FleetStub(served.channel).ListRobots(
        fleet_pb2.ListRobotsRequest(connected_only=True), timeout=10,
        metadata=[("authorization", f"Bearer {ADMIN_SECRET}")])
    return {r.robot_id for r in reply.robots}


def two_agvs(served: Served) -> list[robot_link_pb2.RegisterRequest]:
    parks = stations(served, "parking")
    floor = served.coordinator.floor  # type: ignore[attr-defined]
    out = []
    for k, rid in enumerate(("agv-a1", "agv-a2")):
        p = floor.stations[parks[k]].pose
        out.append(agv(served, rid, pose=common_pb2.Pose(x=p.x, y=p.y)))
    return out


def test_robots_join_report_and_get_their_commands_over_one_stream(
        small_server: Served) -> None:
    reqs = two_agvs(small_server)

    async def run() -> None:
        rec = Recorder()
        channel = open_channel(small_server.address, token="")
        gateway = Gateway(channel, rec.on_commands, rec.on_ended)
        replies = await asyncio.gather(*(gateway.join(r) for r in reqs))
        assert [r.robot_id for r in replies] == ["agv-a1", "agv-a2"]
        assert all(r.session_id and r.floor_name for r in replies)
        assert connected(small_server) == {"agv-a1", "agv-a2"}
        # A bad join is refused with the status Register gives, naming the field; the
        # robots that joined are not affected.
        with pytest.raises(GatewayRefused) as err:
            await gateway.join(agv(small_server, "agv-bad", footprint_radius_m=-1.0))
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "footprint_radius_m" in err.value.message
        # The same robot twice: refused, the first join stays.
        with pytest.raises(GatewayRefused) as err:
            await gateway.join(reqs[0])
        assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert connected(small_server) == {"agv-a1", "agv-a2"}

        # States of both go up in one message; a mission is dispatched; the commands come
        # back addressed, numbered from 1 per robot.
        missions = missions_pb2_grpc.MissionsStub(channel)
        clock = simulation_pb2_grpc.SimClockStub(channel)
        pickup, dropoff = stations(small_server, "pickup")[0], stations(small_server,
                                                                          "dropoff")[0]
        await missions.Submit(missions_pb2.SubmitMissionRequest(
            mission=move("job-1", pickup, dropoff)), timeout=10)
        for r in reqs:
            gateway.send_state(state(r, 0.5, 1))
        reply = await clock.Advance(simulation_pb2.AdvanceRequest(time_s=0.5), timeout=20)
        assert set(reply.last_command_seq) == {"agv-a1", "agv-a2"}
        await rec.until(lambda: sum(len(c) for c in rec.commands.values()) >=
                        sum(reply.last_command_seq.values()))
        (robot, commands), = ((k, v) for k, v in rec.commands.items() if v)
        assert [c.seq for c in commands] == list(range(1, len(commands) + 1))
        assert commands[0].WhichOneof("body") == "follow_path"
        assert reply.last_command_seq[robot] == len(commands)

        # A state for a robot that never joined ends nothing but answers for that id; a bad
        # state ends that robot's link only.
        gateway._call.joined.add("ghost")  # type: ignore[union-attr]  # bypass the client's own check
        gateway.send_state(state(reqs[0], 1.0, 2, robot_id="ghost"))
        gateway.send_state(state(reqs[1], 1.0, 2, battery=7.0))
        await rec.until(lambda: len(rec.ended) >= 2)
        ended = {rid: (code, msg) for rid, code, msg in rec.ended}
        assert ended["ghost"][0] == grpc.StatusCode.FAILED_PRECONDITION
        assert "has not joined" in ended["ghost"][1]
        assert ended["agv-a2"][0] == grpc.StatusCode.INVALID_ARGUMENT
        assert "state.battery" in ended["agv-a2"][1]
        assert connected(small_server) == {"agv-a1"}
        # The robot whose link ended joins again on the same stream.
        await gateway.join(reqs[1])
        assert connected(small_server) == {"agv-a1", "agv-a2"}
        # Leaving is a disconnect; closing the stream disconnects everyone left.
        gateway.leave("agv-a1")
        await _until(lambda: connected(small_server) == {"agv-a2"})
        await gateway.close()
        await _until(lambda: connected(small_server) == set())
        await channel.close()
    asyncio.run(run())


async def _until(cond: object, timeout_s: float = 10.0) -> None:
    async def wait() -> None:
        while not cond():  # type: ignore[operator]
            await asyncio.sleep(0.05)
    await asyncio.wait_for(wait(), timeout_s)


@pytest.fixture
def scoped(tmp_path: Path) -> Iterator[Served]:
    path = tmp_path / "tokens.yaml"
    path.write_text(f"""tokens:
  - name: hall-a-gateway
    token: {GATEWAY_SECRET}
    roles: [robot]
    robots: ["agv-a*"]
  - name: admin
    token: {ADMIN_SECRET}
    roles: [admin]
""")
    yield from serve(SMALL_MAP, str(tmp_path / "fleet.db"),
                     tokens=load_tokens(path))  # type: ignore[arg-type]


def test_a_gateway_speaks_only_for_the_robots_its_token_names(scoped: Served) -> None:
    ok, = two_agvs(scoped)[:1]
    outsider = agv(scoped, "agv-b1", pose=ok.pose)

    async def run() -> None:
        rec = Recorder()
        channel = open_channel(scoped.address, token=GATEWAY_SECRET)
        gateway = Gateway(channel, rec.on_commands, rec.on_ended)
        with pytest.raises(GatewayRefused) as err:
            await gateway.join(outsider)
        assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
        assert "hall-a-gateway" in err.value.message and "agv-b1" in err.value.message
        await gateway.join(ok)
        assert connected(scoped) == {"agv-a1"}
        # The per-robot calls are held to the same names.
        stub = robot_link_pb2_grpc.RobotLinkStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as rpc_err:
            await stub.Register(outsider, timeout=10)
        assert rpc_err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        await gateway.close()
        await channel.close()
        # Without a token the stream is refused as a whole.
        bare = open_channel(scoped.address, token="")
        anonymous = Gateway(bare, rec.on_commands, rec.on_ended)
        with pytest.raises(GatewayRefused) as err:
            await anonymous.join(ok)
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
        await anonymous.close()
        await bare.close()
    asyncio.run(run())


def test_a_tokens_file_with_bad_robot_patterns_is_refused(tmp_path: Path) -> None:
    from fleet.model import InvalidInputError

    path = tmp_path / "tokens.yaml"
    path.write_text(f"tokens:\n  - name: gw\n    token: {GATEWAY_SECRET}\n    roles: [robot]\n"
                    "    robots: []\n")
    with pytest.raises(InvalidInputError) as err:
        load_tokens(path)
    assert err.value.field == "tokens[0].robots"
