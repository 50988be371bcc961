"""Access tokens with roles, and TLS, on a real server over loopback."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fleet.api.auth import load_tokens
from fleet.client import open_channel
from fleet.model import InvalidInputError, Pose, RobotKind, RobotSpec, TransportCapability
from fleet.v1 import (
    fleet_pb2,
    fleet_pb2_grpc,
    missions_pb2,
    missions_pb2_grpc,
    robot_link_pb2_grpc,
    simulation_pb2,
    simulation_pb2_grpc,
)
from sim.grpc_link import GrpcLink
from sim.robot import SimRobot
from tests.conftest import ROOT, SMALL_MAP, Served, serve
from tests.integration.test_api_bad_input import agv
from tests.integration.test_dispatch_flow import move

SECRETS = {role: f"{role}-secret-0123456789" for role in
           ("robot", "planner", "operator", "viewer", "admin")}


def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.yaml"
    lines = ["tokens:"]
    for role, secret in SECRETS.items():
        if role == "viewer":  # one entry by digest, to keep the secret off disk
            digest = hashlib.sha256(secret.encode()).hexdigest()
            lines += [f"  - name: {role}-app", f"    token_sha256: {digest}",
                      f"    roles: [{role}]"]
        else:
            lines += [f"  - name: {role}-app", f"    token: {secret}", f"    roles: [{role}]"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Served]:
    yield from serve(SMALL_MAP, str(tmp_path / "fleet.db"),
                     tokens=load_tokens(tokens_file(tmp_path)))  # type: ignore[arg-type]


def auth(role: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {SECRETS[role]}")]


def code_of(call, *args, **kwargs) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as err:
        call(*args, timeout=10, **kwargs)
    return err.value.code()  # type: ignore[no-any-return]


def test_calls_need_a_known_token_and_a_role_that_covers_them(secured: Served) -> None:
    fleet = fleet_pb2_grpc.FleetStub(secured.channel)
    missions = missions_pb2_grpc.MissionsStub(secured.channel)
    clock = simulation_pb2_grpc.SimClockStub(secured.channel)
    submit = missions_pb2.SubmitMissionRequest(mission=move("job", "in-1", "out-1"))
    # Health stays open for probes.
    health = health_pb2_grpc.HealthStub(secured.channel).Check(
        health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    # No token, a wrong token: UNAUTHENTICATED.
    assert code_of(fleet.ListRobots, fleet_pb2.ListRobotsRequest()) == \
        grpc.StatusCode.UNAUTHENTICATED
    assert code_of(missions.Submit, submit, metadata=[("authorization", "Bearer nope")]) == \
        grpc.StatusCode.UNAUTHENTICATED
    # A viewer reads but does not submit or pause; the message names the roles needed.
    fleet.ListRobots(fleet_pb2.ListRobotsRequest(), timeout=10, metadata=auth("viewer"))
    with pytest.raises(grpc.RpcError) as err:
        missions.Submit(submit, timeout=10, metadata=auth("viewer"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "viewer-app" in err.value.details() and "planner" in err.value.details()
    assert code_of(fleet.PauseRobot, fleet_pb2.PauseRobotRequest(robot_id="agv-1"),
                   metadata=auth("viewer")) == grpc.StatusCode.PERMISSION_DENIED
    # Nothing was stored by the refused calls.
    assert missions.List(missions_pb2.ListMissionsRequest(), timeout=10,
                         metadata=auth("viewer")).missions == []
    # A planner submits and cancels; an operator pauses (here: an unknown robot, so the
    # call got past the check); a robot may not submit; the admin may drive the clock.
    link = robot_link_pb2_grpc.RobotLinkStub(secured.channel)
    assert code_of(link.Register, agv(secured), metadata=auth("planner")) == \
        grpc.StatusCode.PERMISSION_DENIED
    link.Register(agv(secured), timeout=10, metadata=auth("robot"))
    missions.Submit(submit, timeout=10, metadata=auth("planner"))
    assert code_of(fleet.PauseRobot, fleet_pb2.PauseRobotRequest(robot_id="ghost"),
                   metadata=auth("operator")) == grpc.StatusCode.NOT_FOUND
    assert code_of(missions.Submit, submit, metadata=auth("robot")) == \
        grpc.StatusCode.PERMISSION_DENIED
    assert code_of(clock.Advance, simulation_pb2.AdvanceRequest(time_s=1.0),
                   metadata=auth("planner")) == grpc.StatusCode.PERMISSION_DENIED
    clock.Advance(simulation_pb2.AdvanceRequest(time_s=1.0), timeout=10,
                  metadata=auth("admin"))
    missions.Cancel(missions_pb2.CancelMissionRequest(mission_id="job", reason="test"),
                    timeout=10, metadata=auth("planner"))


def test_robots_connect_with_a_robot_token_through_the_client_channel(
        secured: Served) -> None:
    robot = SimRobot(RobotSpec("agv-1", RobotKind.AGV, 0.45, 1.0,
                               transport=TransportCapability(500.0)), Pose(7.5, 1.5, 0.0))

    async def connect(token: str) -> bool:
        async with open_channel(secured.address, token=token, tls_ca="") as channel:
            link = GrpcLink(robot, robot_link_pb2_grpc.RobotLinkStub(channel))
            ok = await link.connect()
            if ok:
                link.send_state(0.5)
                await asyncio.sleep(0.3)
                ok = link.connected
                await link.disconnect()
            return ok

    assert not asyncio.run(connect(""))
    assert not asyncio.run(connect(SECRETS["viewer"]))
    assert asyncio.run(connect(SECRETS["robot"]))


def test_the_cli_sends_its_token(secured: Served) -> None:
    def robots(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "fleet.cli", "robots", "--server",
                               secured.address, *extra], capture_output=True, text=True,
                              cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})

    refused = robots()
    assert refused.returncode == 2 and "UNAUTHENTICATED" in refused.stderr
    assert robots("--token", SECRETS["viewer"]).returncode == 0


@pytest.mark.parametrize(("text", "field"), [
    ("tokens: []\n", "tokens"),
    ("tokens:\n  - {name: a, roles: [planner]}\n", "tokens[0].token"),
    ("tokens:\n  - {name: a, token: short, roles: [planner]}\n", "tokens[0].token"),
    ("tokens:\n  - {name: a, token: 0123456789abcdefg, roles: [boss]}\n", "tokens[0].roles"),
    ("tokens:\n  - {name: a, token_sha256: xyz, roles: [viewer]}\n", "tokens[0].token_sha256"),
    ("tokens:\n  - {name: a, token: 0123456789abcdefg, roles: [viewer]}\n"
     "  - {name: a, token: 0123456789abcdefh, roles: [viewer]}\n", "tokens[1].name"),
    ("tokens:\n  - {name: a, token: 0123456789abcdefg, roles: [viewer]}\n"
     "  - {name: b, token: 0123456789abcdefg, roles: [robot]}\n", "tokens[1].token"),
])
def test_a_bad_tokens_file_names_the_entry(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInputError) as err:
        load_tokens(path)
    assert err.value.field == field


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    done = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"openssl could not make a test certificate: {done.stderr[-200:]}")
    return cert, key


def test_tls_with_a_token(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    tokens = load_tokens(tokens_file(tmp_path))

    async def listed(address: str, tls_ca: str) -> int:
        async with open_channel(address, token=SECRETS["viewer"], tls_ca=tls_ca) as channel:
            reply = await fleet_pb2_grpc.FleetStub(channel).ListRobots(
                fleet_pb2.ListRobotsRequest(), timeout=5)
            return len(reply.robots)

    for served in serve(SMALL_MAP, str(tmp_path / "fleet.db"), tokens=tokens,  # type: ignore[arg-type]
                        tls=(cert.read_bytes(), key.read_bytes())):
        assert asyncio.run(listed(served.address, str(cert))) == 0
        # Plain TCP to a TLS port does not get through.
        with pytest.raises(grpc.aio.AioRpcError) as err:
            asyncio.run(listed(served.address, ""))
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(InvalidInputError) as bad:
        open_channel("127.0.0.1:1", tls_ca=str(tmp_path / "missing.pem"))
    assert bad.value.field == "tls_ca"
