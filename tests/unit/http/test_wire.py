"""JSON and query strings to request messages: every misfit names its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.api.errors import ERRORS
from fleet.http import load_replay, parse_address
from fleet.http._wire import decode_json, parse_request
from fleet.model import FleetError, InvalidInputError
from fleet.v1 import missions_pb2


def field_of(fn, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError) as err:
        fn(*args, **kwargs)
    return err.value.field


def test_query_fills_repeated_enum_and_map_fields() -> None:
    request = parse_request(missions_pb2.ListMissionsRequest, query=[
        ("states", "active"), ("states", "MISSION_STATE_FAILED"), ("labels", "line:3"),
        ("page_size", "20")])
    assert list(request.states) == [missions_pb2.MISSION_STATE_ACTIVE,
                                    missions_pb2.MISSION_STATE_FAILED]
    assert dict(request.labels) == {"line": "3"} and request.page_size == 20


def test_body_goes_to_its_field_and_path_parameters_win() -> None:
    request = parse_request(missions_pb2.CancelMissionRequest, body={"reason": "late",
                            "mission_id": "other"}, path={"mission_id": "m1"})
    assert (request.mission_id, request.reason) == ("m1", "late")
    submit = parse_request(missions_pb2.SubmitMissionRequest, body={"mission_id": "x"},
                           body_field="mission")
    assert submit.mission.mission_id == "x"


@pytest.mark.parametrize(("body", "field"), [
    ({"priority": "high"}, "mission.priority"),
    ({"tasks": [{"transport": {"mass_kg": "lots"}}]}, "mission.tasks[0].transport.mass_kg"),
    ({"colour": "red"}, "mission.colour"),
])
def test_a_body_that_does_not_fit_names_the_field(body: dict[str, object], field: str) -> None:
    assert field_of(parse_request, missions_pb2.SubmitMissionRequest, body=body,
                    body_field="mission") == field


def test_bad_bodies_and_queries_name_body_or_parameter() -> None:
    assert field_of(decode_json, b"{") == "body"
    assert field_of(decode_json, b"3") == "body"
    assert decode_json(b"  ") == {}
    assert field_of(parse_request, missions_pb2.ListMissionsRequest,
                    query=[("nope", "1")]) == "nope"
    assert field_of(parse_request, missions_pb2.ListMissionsRequest,
                    query=[("labels", "x")]) == "labels"


def test_every_error_type_has_an_http_status() -> None:
    for cls in ERRORS:
        assert issubclass(cls, FleetError)
    assert {s.http for s in ERRORS.values()} <= {400, 401, 403, 404, 409, 503}


def test_addresses_and_replay_logs_are_checked(tmp_path: Path) -> None:
    assert parse_address("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_address("[::1]:0") == ("::1", 0)
    for bad in ("8080", "host:", "host:99999", ":80"):
        assert field_of(parse_address, bad) == "http"
    log = tmp_path / "run.jsonl"
    log.write_text('{"map": "small", "robots": [{"id": "a", "radius": 0.4}]}\n'
                   + "".join(f'{{"t": {i / 10}, "poses": {{"a": [{i}, 1, 0]}}}}\n'
                             for i in range(30)))
    replay = load_replay(log)
    assert replay["header"]["robots"][0]["id"] == "a" and len(replay["frames"]) == 30
    log.write_text('{"map": "small", "robots": []}\n{"t": 1}\n')
    assert field_of(load_replay, log) == "log"
    assert field_of(load_replay, tmp_path / "missing.jsonl") == "log"
