"""The HTTP/JSON API through a real HTTP client against a real server (uvicorn in the gRPC
server's loop): every operation, every error status, tokens and roles, and the same outcome
as the gRPC call of the same operation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from fleet.api.auth import load_tokens
from fleet.api.errors import ERRORS
from fleet.http import ROUTES
from fleet.v1 import missions_pb2, missions_pb2_grpc, robot_link_pb2_grpc
from tests.conftest import SMALL_MAP, Served, serve
from tests.integration.test_api_bad_input import agv
from tests.integration.test_auth import SECRETS, tokens_file
from tests.integration.test_dispatch_flow import move


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from serve(SMALL_MAP, str(tmp_path / "fleet.db"), http=True)


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Served]:
    yield from serve(SMALL_MAP, str(tmp_path / "fleet.db"), http=True,
                     tokens=load_tokens(tokens_file(tmp_path)))  # type: ignore[arg-type]


def spec_json(mission_id: str, pickup: str = "in-1", dropoff: str = "out-1",
              **fields: object) -> dict[str, object]:
    return json_format.MessageToDict(move(mission_id, pickup, dropoff, **fields),
                                     preserving_proto_field_name=True)


def error_of(reply: httpx.Response) -> dict[str, str]:
    doc = reply.json()
    assert set(doc) == {"error"}, doc
    return doc["error"]  # type: ignore[no-any-return]


def test_every_mission_operation_over_http(served: Served) -> None:
    robot_link_pb2_grpc.RobotLinkStub(served.channel).Register(agv(served), timeout=10)
    with httpx.Client(base_url=served.http_url, timeout=10) as http:
        created = http.post("/api/v1/missions", json=spec_json("job-1", labels={"line": "3"}))
        assert created.status_code == 201, created.text
        status = created.json()
        assert status["mission_id"] == "job-1"
        assert status["state"] == "MISSION_STATE_ACCEPTED"
        assert status["tasks"][0]["spec"]["transport"]["pickup_station"] == "in-1"
        assert http.post("/api/v1/missions", json=spec_json("job-2")).status_code == 201
        got = http.get("/api/v1/missions/job-1")
        assert got.status_code == 200 and got.json() == status
        # List: filtered by state (with or without the enum's prefix) and by label; pages.
        listed = http.get("/api/v1/missions", params={"states": "accepted"}).json()
        assert [m["mission_id"] for m in listed["missions"]] == ["job-1", "job-2"]
        assert http.get("/api/v1/missions", params={"states": "MISSION_STATE_COMPLETED"}
                        ).json()["missions"] == []
        labelled = http.get("/api/v1/missions", params={"labels": "line:3"}).json()
        assert [m["mission_id"] for m in labelled["missions"]] == ["job-1"]
        page = http.get("/api/v1/missions", params={"page_size": 1}).json()
        assert [m["mission_id"] for m in page["missions"]] == ["job-1"]
        rest = http.get("/api/v1/missions", params={"page_size": 1,
                                                    "page_token": page["next_page_token"]})
        assert [m["mission_id"] for m in rest.json()["missions"]] == ["job-2"]
        # Cancel, then cancel again: the second is refused as the state forbids it.
        cancelled = http.post("/api/v1/missions/job-2/cancel", json={"reason": "not needed"})
        assert cancelled.status_code == 200
        assert http.get("/api/v1/missions/job-2").json()["state"] == \
            "MISSION_STATE_CANCELLED"
        again = http.post("/api/v1/missions/job-2/cancel")
        assert again.status_code == 400
        assert error_of(again)["code"] == "FAILED_PRECONDITION"
        assert "cancelled already" in error_of(again)["message"]
        # Events: the stored history, then live ones, as Server-Sent Events.
        with http.stream("GET", "/api/v1/events", params={"mission_id": "job-2"}) as events:
            assert events.status_code == 200
            assert events.headers["content-type"].startswith("text/event-stream")
            kinds = []
            for line in events.iter_lines():
                if line.startswith("data: "):
                    kinds.append(json.loads(line[6:])["kind"])
                if len(kinds) == 2:
                    break
        assert kinds == ["MISSION_EVENT_ACCEPTED", "MISSION_EVENT_CANCELLED"]


def test_robots_floor_health_and_the_openapi_document(served: Served) -> None:
    robot_link_pb2_grpc.RobotLinkStub(served.channel).Register(agv(served), timeout=10)
    with httpx.Client(base_url=served.http_url, timeout=10) as http:
        robots = http.get("/api/v1/robots").json()["robots"]
        assert [r["robot_id"] for r in robots] == ["agv-1"]
        assert http.get("/api/v1/robots", params={"connected_only": "true"}
                        ).json()["robots"] == []
        paused = http.post("/api/v1/robots/agv-1/pause", json={"reason": "inspection"})
        assert paused.status_code == 200 and paused.json()["paused_reason"] == "inspection"
        resumed = http.post("/api/v1/robots/agv-1/resume")
        assert resumed.status_code == 200 and resumed.json()["paused_reason"] == ""
        floor = http.get("/api/v1/floor").json()
        assert floor["name"] == served.coordinator.floor.name  # type: ignore[attr-defined]
        assert {s["id"] for s in floor["stations"]} >= {"in-1", "out-1"}
        assert "zones" in floor and len(floor["outline"]["xy"]) >= 6
        assert http.get("/healthz").status_code == 200
        ready = http.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"ready": True, "reason": ""}
        doc = http.get("/openapi.json").json()
        assert doc["openapi"].startswith("3.")
        for route in ROUTES:
            operation = doc["paths"][route.path][route.verb.lower()]
            assert operation["operationId"] == route.rpc.rsplit("/", 1)[1]
        spec = doc["components"]["schemas"]["MissionSpec"]["properties"]
        assert spec["tasks"]["type"] == "array" and spec["priority"]["type"] == "integer"
        page = http.get("/")
        assert page.status_code == 200 and "fleet control center" in page.text
        assert http.get("/static/app.js").status_code == 200


BAD_SUBMITS: list[tuple[str, object, int, str]] = [
    # (what, body, HTTP status, field named)
    ("unknown station", spec_json("m1", pickup="nowhere"), 404,
     "mission.tasks[0].transport.pickup_station"),
    ("negative mass", spec_json("m2", mass=-5.0), 400, "mission.tasks[0].transport.mass_kg"),
    ("bad id", spec_json("not an id!"), 400, "mission.mission_id"),
    ("no tasks", {"mission_id": "m3"}, 400, "mission.tasks"),
    ("wrong type", {"mission_id": "m4", "priority": "high"}, 400, "mission.priority"),
    ("unknown field", {"mission_id": "m5", "colour": "red"}, 400, "mission.colour"),
]


@pytest.mark.parametrize(("what", "body", "status", "field"), BAD_SUBMITS,
                         ids=[b[0] for b in BAD_SUBMITS])
def test_a_bad_mission_gets_the_status_and_field_grpc_gives(
        served: Served, what: str, body: dict[str, object], status: int, field: str) -> None:
    robot_link_pb2_grpc.RobotLinkStub(served.channel).Register(agv(served), timeout=10)
    with httpx.Client(base_url=served.http_url, timeout=10) as http:
        reply = http.post("/api/v1/missions", json=body)
    assert reply.status_code == status, reply.text
    error = error_of(reply)
    assert error["field"] == field
    assert field.rsplit(".", 1)[-1] in error["message"]
    # The same request over gRPC: the same code, by the one table, and the same message
    # (only for bodies the JSON mapping accepts: the others never reach an operation).
    spec = missions_pb2.MissionSpec()
    try:
        json_format.ParseDict(body, spec)
    except json_format.ParseError:
        return
    with pytest.raises(grpc.RpcError) as err:
        missions_pb2_grpc.MissionsStub(served.channel).Submit(
            missions_pb2.SubmitMissionRequest(mission=spec), timeout=10)
    assert err.value.code().name == error["code"]
    assert err.value.details() == error["message"]
    # ... and the same reason code and field violations as the gRPC status's details.
    status_details = rpc_status.from_call(err.value)  # type: ignore[arg-type]
    assert status_details is not None
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    status_details.details[0].Unpack(info)
    assert info.reason == error["reason"]
    if len(status_details.details) > 1:
        status_details.details[1].Unpack(bad)
    assert [(v.field, v.reason) for v in bad.field_violations] == [
        (v["field"], v["reason"]) for v in error["violations"]]
    assert any(s.grpc == err.value.code() and s.http == status for s in ERRORS.values())


def test_other_bad_requests_name_their_field(served: Served) -> None:
    with httpx.Client(base_url=served.http_url, timeout=10) as http:
        cases = [
            (http.post("/api/v1/missions", content=b"{not json"), 400, "body"),
            (http.post("/api/v1/missions", content=b"[1, 2]"), 400, "body"),
            (http.get("/api/v1/missions/ghost"), 404, "mission_id"),
            (http.get("/api/v1/missions/bad%20id"), 400, "mission_id"),
            (http.post("/api/v1/missions/ghost/cancel"), 404, "mission_id"),
            (http.get("/api/v1/missions", params={"page_size": 5000}), 400, "page_size"),
            (http.get("/api/v1/missions", params={"page_token": "x"}), 400, "page_token"),
            (http.get("/api/v1/missions", params={"states": "lost"}), 400, "states[0]"),
            (http.get("/api/v1/missions", params={"labels": "nocolon"}), 400, "labels"),
            (http.get("/api/v1/missions", params={"colour": "red"}), 400, "colour"),
            (http.post("/api/v1/robots/ghost/pause"), 404, "robot_id"),
            (http.post("/api/v1/robots/ghost/resume"), 404, "robot_id"),
            (http.get("/api/v1/events", params={"mission_id": "ghost"}), 404, "mission_id"),
        ]
        # A mission that exists already.
        robot_link_pb2_grpc.RobotLinkStub(served.channel).Register(agv(served), timeout=10)
        assert http.post("/api/v1/missions", json=spec_json("twice")).status_code == 201
        cases.append((http.post("/api/v1/missions", json=spec_json("twice")), 409,
                      "mission.mission_id"))
    for reply, status, field in cases:
        assert reply.status_code == status, (reply.request.url, reply.text)
        assert error_of(reply)["field"] == field, (reply.request.url, reply.text)


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {SECRETS[role]}"}


def test_tokens_and_roles_are_those_of_grpc(secured: Served) -> None:
    with httpx.Client(base_url=secured.http_url, timeout=10) as http:
        # No token, an unknown token: 401.
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
            reply = http.get("/api/v1/robots", headers=headers)
            assert reply.status_code == 401
            assert error_of(reply)["code"] == "UNAUTHENTICATED"
            assert error_of(reply)["reason"] == "UNAUTHENTICATED"
            assert error_of(reply)["field"] == "authorization"
        assert http.get("/api/v1/view/stream").status_code == 401
        assert http.get("/api/v1/events").status_code == 401
        # A viewer reads but neither submits nor pauses; the message names the roles needed.
        assert http.get("/api/v1/robots", headers=bearer("viewer")).status_code == 200
        assert http.get("/api/v1/floor", headers=bearer("robot")).status_code == 200
        refused = http.post("/api/v1/missions", json=spec_json("job"), headers=bearer("viewer"))
        assert refused.status_code == 403
        assert error_of(refused)["reason"] == "PERMISSION_DENIED"
        assert "viewer-app" in error_of(refused)["message"]
        assert "planner" in error_of(refused)["message"]
        assert http.post("/api/v1/robots/agv-1/pause",
                         headers=bearer("planner")).status_code == 403
        assert http.post("/api/v1/missions", json=spec_json("job"),
                         headers=bearer("robot")).status_code == 403
        # Nothing was stored by refused calls.
        assert http.get("/api/v1/missions", headers=bearer("viewer")).json()["missions"] == []
        # The roles that may, may: planner submits and cancels, operator pauses and resumes.
        robot_link_pb2_grpc.RobotLinkStub(secured.channel).Register(
            agv(secured), timeout=10, metadata=[("authorization", f"Bearer {SECRETS['robot']}")])
        assert http.post("/api/v1/missions", json=spec_json("job"),
                         headers=bearer("planner")).status_code == 201
        assert http.post("/api/v1/robots/agv-1/pause", json={"reason": "check"},
                         headers=bearer("operator")).status_code == 200
        assert http.post("/api/v1/robots/agv-1/resume",
                         headers=bearer("admin")).status_code == 200
        assert http.post("/api/v1/missions/job/cancel",
                         headers=bearer("operator")).status_code == 200
        # Probes and metrics stay open, as gRPC health does.
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").status_code == 200
        assert http.get("/metrics").status_code == 200
        with http.stream("GET", "/api/v1/view/stream", headers=bearer("viewer")) as stream:
            assert stream.status_code == 200
            for line in stream.iter_lines():
                if line.startswith("event: frame"):
                    break
