"""The security cases over real channels: no token, a wrong token, each role on each RPC,
robot tokens outside their ids, plaintext against TLS, client certificates (mutual TLS) of
the plant CA and of another CA, and a server that will not serve the network open."""

from __future__ import annotations

import asyncio
import itertools
import ssl
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from fleet.api import create_server
from fleet.api.auth import ROLES, load_tokens, roles_for
from fleet.api.certs import ClientCert, write_dev_pki
from fleet.cli import main
from fleet.coordinator import Coordinator, ManualClock
from fleet.floor import load_floor
from fleet.http import check_exposure
from fleet.model import InvalidInputError
from fleet.store import open_store
from fleet.v1 import (
    common_pb2,
    fleet_pb2,
    missions_pb2,
    missions_pb2_grpc,
    robot_link_pb2,
    robot_link_pb2_grpc,
    simulation_pb2,
)
from tests.conftest import SMALL_MAP, Served, serve
from tests.integration.test_api_bad_input import agv
from tests.integration.test_bad_input_catalogue import details_of
from tests.integration.test_dispatch_flow import move

SECRETS = {role: f"{role}-secret-0123456789abcdef" for role in ROLES}
SCOPED = "scoped-robot-secret-0123456789"

# Every RPC with a request that gets past the access check (what happens after does not
# matter here); streaming ones with their kind.
RPCS: dict[str, tuple[object, str]] = {
    "/fleet.v1.RobotLink/Register": (robot_link_pb2.RegisterRequest(), "unary"),
    "/fleet.v1.RobotLink/Connect": (robot_link_pb2.RobotUpdate(), "bidi"),
    "/fleet.v1.RobotLink/Gateway": (robot_link_pb2.GatewayUpdate(), "bidi"),
    "/fleet.v1.Missions/Submit": (missions_pb2.SubmitMissionRequest(), "unary"),
    "/fleet.v1.Missions/SubmitOrder": (missions_pb2.SubmitOrderRequest(), "unary"),
    "/fleet.v1.Missions/Cancel": (missions_pb2.CancelMissionRequest(mission_id="x"), "unary"),
    "/fleet.v1.Missions/Get": (missions_pb2.GetMissionRequest(mission_id="x"), "unary"),
    "/fleet.v1.Missions/List": (missions_pb2.ListMissionsRequest(), "unary"),
    "/fleet.v1.Missions/WatchEvents": (missions_pb2.WatchEventsRequest(), "server"),
    "/fleet.v1.Fleet/ListRobots": (fleet_pb2.ListRobotsRequest(), "unary"),
    "/fleet.v1.Fleet/GetFloorMap": (fleet_pb2.GetFloorMapRequest(), "unary"),
    "/fleet.v1.Fleet/ListCapabilities": (fleet_pb2.ListCapabilitiesRequest(), "unary"),
    "/fleet.v1.Fleet/PauseRobot": (fleet_pb2.PauseRobotRequest(robot_id="x"), "unary"),
    "/fleet.v1.Fleet/ResumeRobot": (fleet_pb2.ResumeRobotRequest(robot_id="x"), "unary"),
    "/fleet.v1.SimClock/Advance": (simulation_pb2.AdvanceRequest(time_s=0.0), "unary"),
}


def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.yaml"
    lines = ["tokens:"]
    for role, secret in SECRETS.items():
        lines += [f"  - name: {role}-app", f"    token: {secret}", f"    roles: [{role}]"]
    lines += ["  - name: hall-a", f"    token: {SCOPED}", "    roles: [robot]",
              '    robots: ["agv-a*"]']
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("secured")
    yield from serve(SMALL_MAP, str(tmp / "fleet.db"),
                     tokens=load_tokens(tokens_file(tmp)))  # type: ignore[arg-type]


def refusal_of(channel: grpc.Channel, method: str, metadata: list[tuple[str, str]]
               ) -> grpc.RpcError | None:
    """The error the call ends with, None if it passes."""
    request, kind = RPCS[method]
    ser = type(request).SerializeToString  # type: ignore[attr-defined]
    try:
        if kind == "unary":
            channel.unary_unary(method, request_serializer=ser)(
                request, timeout=5, metadata=metadata)
        elif kind == "server":
            next(iter(channel.unary_stream(method, request_serializer=ser)(
                request, timeout=0.5, metadata=metadata)))
        else:
            next(iter(channel.stream_stream(method, request_serializer=ser)(
                iter([request]), timeout=0.5, metadata=metadata)))
    except grpc.RpcError as err:
        return err
    except StopIteration:  # a stream that ended without a message
        pass
    return None


def code_of(channel: grpc.Channel, method: str, metadata: list[tuple[str, str]]
            ) -> grpc.StatusCode:
    err = refusal_of(channel, method, metadata)
    return grpc.StatusCode.OK if err is None else err.code()  # type: ignore[no-any-return]


def bearer(secret: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {secret}")]


def test_every_rpc_is_listed_with_its_roles() -> None:
    assert all(roles_for(m) for m in RPCS)


@pytest.mark.parametrize("method", sorted(RPCS))
def test_no_token_and_a_wrong_token_are_unauthenticated_on_every_rpc(
        secured: Served, method: str) -> None:
    assert code_of(secured.channel, method, []) == grpc.StatusCode.UNAUTHENTICATED
    assert code_of(secured.channel, method, bearer("wrong-secret-0123456789")) == \
        grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("method", sorted(RPCS))
def test_auth_refusals_carry_their_reason_code_and_field(secured: Served, method: str) -> None:
    for metadata in ([], bearer("wrong-secret-0123456789")):
        err = refusal_of(secured.channel, method, metadata)
        assert err is not None
        info, _ = details_of(err)
        assert info.reason == "UNAUTHENTICATED"
        assert info.metadata["field"] == "authorization"
    denied = next(r for r in ROLES if r != "admin" and r not in roles_for(method))
    err = refusal_of(secured.channel, method, bearer(SECRETS[denied]))
    assert err is not None and err.code() == grpc.StatusCode.PERMISSION_DENIED
    info, _ = details_of(err)
    assert info.reason == "PERMISSION_DENIED"
    assert f"{denied}-app" in err.details()


@pytest.mark.parametrize(("role", "method"), list(itertools.product(ROLES, sorted(RPCS))))
def test_each_role_gets_exactly_the_rpcs_it_is_listed_for(secured: Served, role: str,
                                                          method: str) -> None:
    code = code_of(secured.channel, method, bearer(SECRETS[role]))
    allowed = role == "admin" or role in roles_for(method)
    assert (code != grpc.StatusCode.PERMISSION_DENIED) == allowed, code
    assert code != grpc.StatusCode.UNAUTHENTICATED


def test_health_is_open_and_reflection_needs_a_token(secured: Served) -> None:
    health = health_pb2_grpc.HealthStub(secured.channel).Check(
        health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(secured.channel)
    ask = reflection_pb2.ServerReflectionRequest(list_services="")
    with pytest.raises(grpc.RpcError) as err:
        next(iter(stub.ServerReflectionInfo(iter([ask]), timeout=10)))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    reply = next(iter(stub.ServerReflectionInfo(iter([ask]), timeout=10,
                                                metadata=bearer(SECRETS["viewer"]))))
    names = {s.name for s in reply.list_services_response.service}
    assert "fleet.v1.Missions" in names


def test_a_robot_token_speaks_only_for_its_robot_ids(secured: Served) -> None:
    link = robot_link_pb2_grpc.RobotLinkStub(secured.channel)
    with pytest.raises(grpc.RpcError) as err:
        link.Register(agv(secured, "agv-b1"), timeout=10, metadata=bearer(SCOPED))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "hall-a" in err.value.details() and "agv-b1" in err.value.details()
    # A robot registered by another token: the scoped one may not open its stream either.
    reply = link.Register(agv(secured, "agv-b2"), timeout=10,
                          metadata=bearer(SECRETS["robot"]))
    hello = robot_link_pb2.RobotUpdate(hello=robot_link_pb2.Hello(
        robot_id="agv-b2", session_id=reply.session_id))
    with pytest.raises(grpc.RpcError) as err:
        next(iter(link.Connect(iter([hello]), timeout=10, metadata=bearer(SCOPED))))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    elsewhere = common_pb2.Pose(x=9.5, y=1.5)
    assert link.Register(agv(secured, "agv-a7", pose=elsewhere), timeout=10,
                         metadata=bearer(SCOPED)).session_id


def test_beyond_loopback_the_server_refuses_to_serve_without_tokens(tmp_path: Path) -> None:
    async def build(**options: object) -> None:
        coordinator = Coordinator(load_floor(SMALL_MAP), open_store(str(tmp_path / "f.db")),
                                  ManualClock())
        try:
            server = create_server(coordinator, "0.0.0.0:0", **options)  # type: ignore[arg-type]
            await server.stop(0)
        finally:
            coordinator.store.close()
    with pytest.raises(InvalidInputError) as err:
        asyncio.run(build())
    assert err.value.field == "address" and "--insecure" in err.value.message
    asyncio.run(build(insecure=True))
    asyncio.run(build(tokens=load_tokens(tokens_file(tmp_path))))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The plant's development PKI (made by the CLI), and another CA's."""
    plant = tmp_path_factory.mktemp("plant")
    assert main(["certs", str(plant)]) == 0
    other = tmp_path_factory.mktemp("other")
    write_dev_pki(other, clients=[ClientCert("gateway", robots=("*",))], ca_name="other CA")
    return plant, other


def mtls_channel(address: str, ca: Path, client: Path | None,
                 stem: str = "") -> grpc.Channel:
    key = chain = None
    if client is not None:
        key = (client / f"{stem}.key").read_bytes()
        chain = (client / f"{stem}.pem").read_bytes()
    credentials = grpc.ssl_channel_credentials((ca / "ca.pem").read_bytes(), key, chain)
    return grpc.secure_channel(address, credentials)


def test_mutual_tls_maps_client_certificates_to_robot_ids_and_roles(
        tmp_path: Path, pki: tuple[Path, Path]) -> None:
    plant, other = pki
    tls = ((plant / "server.pem").read_bytes(), (plant / "server.key").read_bytes())
    for served in serve(SMALL_MAP, str(tmp_path / "fleet.db"), tls=tls,
                        client_ca=(plant / "ca.pem").read_bytes()):
        address = served.address
        # The gateway's certificate speaks for any robot; the robot's only for agv-1.
        with mtls_channel(address, plant, plant, "gateway") as channel:
            link = robot_link_pb2_grpc.RobotLinkStub(channel)
            assert link.Register(agv(served, "agv-7"), timeout=10).session_id
            with pytest.raises(grpc.RpcError) as err:
                missions_pb2_grpc.MissionsStub(channel).Submit(
                    missions_pb2.SubmitMissionRequest(mission=move("m", "in-1", "out-1")),
                    timeout=10)
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with mtls_channel(address, plant, plant, "robot-agv-1") as channel:
            link = robot_link_pb2_grpc.RobotLinkStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                link.Register(agv(served, "agv-2"), timeout=10)
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "cert:robot-agv-1" in err.value.details()
        # The planner's certificate carries its role.
        with mtls_channel(address, plant, plant, "planner") as channel:
            missions_pb2_grpc.MissionsStub(channel).Submit(
                missions_pb2.SubmitMissionRequest(mission=move("m", "in-1", "out-1")),
                timeout=10)
        # No certificate, a certificate of another CA, plaintext: no connection at all.
        for channel in (mtls_channel(address, plant, None),
                        mtls_channel(address, plant, other, "gateway"),
                        grpc.insecure_channel(address)):
            with channel, pytest.raises(grpc.RpcError) as err:
                robot_link_pb2_grpc.RobotLinkStub(channel).Register(agv(served, "agv-9"),
                                                                    timeout=5)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        # Health stays open to any client the TLS handshake admits.
        with mtls_channel(address, plant, plant, "robot-agv-1") as channel:
            assert health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10).status == \
                health_pb2.HealthCheckResponse.SERVING


def test_the_http_api_is_never_less_secure_than_grpc_beside_it(
        tmp_path: Path, pki: tuple[Path, Path]) -> None:
    plant, _ = pki
    tokens = load_tokens(tokens_file(tmp_path))
    for served in serve(SMALL_MAP, str(tmp_path / "open.db")):
        server = served.server
        check_exposure(server, "127.0.0.1:8080")  # type: ignore[arg-type]
        # open beyond loopback only when told
        with pytest.raises(InvalidInputError) as err:
            check_exposure(server, "0.0.0.0:8080")  # type: ignore[arg-type]
        assert err.value.field == "http" and "--tokens" in err.value.message
        assert "--insecure" in err.value.message
        check_exposure(server, "0.0.0.0:8080", insecure=True)  # type: ignore[arg-type]
    tls = ((plant / "server.pem").read_bytes(), (plant / "server.key").read_bytes())
    for served in serve(SMALL_MAP, str(tmp_path / "mtls.db"), tls=tls,
                        client_ca=(plant / "ca.pem").read_bytes()):
        # client certificates are checked on gRPC only: HTTP would admit nobody
        for address in ("127.0.0.1:8080", "0.0.0.0:8080"):
            with pytest.raises(InvalidInputError) as err:
                check_exposure(served.server, address, insecure=True)  # type: ignore[arg-type]
            assert err.value.field == "http" and "bearer tokens only" in err.value.message
    # with tokens and the gRPC server's certificate: HTTPS, tokens checked as on gRPC
    files = (str(plant / "server.pem"), str(plant / "server.key"))
    for served in serve(SMALL_MAP, str(tmp_path / "tls.db"), tls=tls, tokens=tokens,  # type: ignore[arg-type]
                        http=True, http_tls=files):
        check_exposure(served.server, "0.0.0.0:8080")  # type: ignore[arg-type]
        assert served.http_url.startswith("https://")
        with httpx.Client(verify=ssl.create_default_context(cafile=str(plant / "ca.pem"))) as web:
            assert web.get(f"{served.http_url}/api/v1/robots").status_code == 401
            ok = web.get(f"{served.http_url}/api/v1/robots",
                         headers={"authorization": f"Bearer {SECRETS['operator']}"})
            assert ok.status_code == 200
        with httpx.Client() as plain, pytest.raises(httpx.HTTPError):
            plain.get(served.http_url.replace("https://", "http://") + "/api/v1/robots")


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1:0", True), ("localhost:50051", True), ("[::1]:50051", True),
    ("0.0.0.0:50051", False), ("[::]:50051", False), ("10.1.2.3:50051", False),
    ("localhost.example.com:50051", False), ("127.0.0.1.example.com:1", False),
])
def test_only_loopback_addresses_count_as_loopback(address: str, loopback: bool) -> None:
    from fleet.api.server import is_loopback
    assert is_loopback(address) is loopback
