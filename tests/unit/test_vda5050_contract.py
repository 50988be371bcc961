"""The VDA 5050 contract: every message fleet builds validates against the official schema,
orders follow the standard's update rules, and states read back as RobotState."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

pytest.importorskip("jsonschema", reason="the vda5050 extra is not installed: "
                    "pip install -e '.[vda5050]'")

from fleet.v1 import common_pb2, robot_link_pb2
from fleet.vda5050.contract import (
    MalformedMessage,
    Outgoing,
    Protocol,
    Topic,
    Translator,
    VehicleKey,
    VehicleSpec,
    read_timestamp,
    register_request,
    timestamp,
    vehicle_from_factsheet,
)

V21 = Protocol()
KEY = VehicleKey("acme", "agv-7")


def sent(out: Outgoing, header_id: int = 1) -> dict[str, Any]:
    """The message as it goes on the wire, validated against the official schema."""
    doc = {**V21.header(KEY, header_id, 1000.0), **out.body}
    return json.loads(V21.encode(out.topic, doc))


def follow(path_id: str, first: int, points: list[tuple[float, float]], complete: bool = False,
           speed: float = 0.0, seq: int = 1) -> robot_link_pb2.RobotCommand:
    return robot_link_pb2.RobotCommand(seq=seq, follow_path=robot_link_pb2.FollowPath(
        path_id=path_id, first_index=first, complete=complete, waypoints=[
            robot_link_pb2.TimedWaypoint(x=x, y=y, theta=0.5, t_s=1.0, max_speed_mps=speed)
            for x, y in points]))


def state(order_id: str = "", update_id: int = 0, last_seq: int = 0, header_id: int = 1,
          **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        **V21.header(KEY, header_id, 12.5), "orderId": order_id, "orderUpdateId": update_id,
        "lastNodeId": "", "lastNodeSequenceId": last_seq, "nodeStates": [], "edgeStates": [],
        "driving": False, "operatingMode": "AUTOMATIC",
        "agvPosition": {"x": 1.5, "y": 2.5, "theta": 0.25, "mapId": "small",
                        "positionInitialized": True},
        "velocity": {"vx": 0.3, "vy": 0.4}, "actionStates": [],
        "batteryState": {"batteryCharge": 80.0, "charging": False}, "errors": [],
        "safetyState": {"eStop": "NONE", "fieldViolation": False}}
    doc.update(extra)
    return V21.validate(Topic.STATE, doc)


def translator() -> Translator:
    t = Translator(KEY, "small")
    t.read_state(state())  # where the vehicle stands: node 0 of new orders
    return t


# ------------------------------------------------------------------------- topics, time
def test_topics_follow_the_standard_and_connection_alone_has_qos_1() -> None:
    assert V21.topic(KEY, Topic.ORDER) == "uagv/v2/acme/agv-7/order"
    assert V21.subscription(Topic.STATE) == "uagv/v2/+/+/state"
    assert V21.parse_topic("uagv/v2/acme/agv-7/instantActions") == (KEY, Topic.INSTANT_ACTIONS)
    assert {t: t.qos for t in Topic if t.qos} == {Topic.CONNECTION: 1}
    for bad in ("uagv/v3/acme/agv-7/state", "uagv/v2/acme/state", "uagv/v2/acme/agv-7/odom"):
        with pytest.raises(MalformedMessage, match="topic"):
            V21.parse_topic(bad)


def test_version_is_a_parameter_with_its_own_schemas() -> None:
    v3 = Protocol("3.0")
    assert (v3.major, v3.version_field) == ("v3", "3.0.0")
    assert v3.topic(KEY, Topic.STATE) == "uagv/v3/acme/agv-7/state"
    with pytest.raises(MalformedMessage, match="version"):
        Protocol("9.9").validate(Topic.STATE, {})


def test_timestamps_round_trip_to_the_millisecond() -> None:
    assert timestamp(12.5) == "1970-01-01T00:00:12.500Z"
    assert read_timestamp(timestamp(1_764_680_000.123)) == pytest.approx(1_764_680_000.123)
    assert read_timestamp("2026-12-02T12:00:03.25+01:00") == pytest.approx(
        read_timestamp("2026-12-02T11:00:03.25Z"))
    with pytest.raises(MalformedMessage, match="timestamp"):
        read_timestamp("yesterday")


# ------------------------------------------------------------------------- orders
def test_a_new_path_is_a_new_order_from_where_the_vehicle_stands() -> None:
    t = translator()
    [out] = t.command(follow("agv-7/p1", 1, [(2.5, 2.5), (3.5, 2.5)], speed=0.8))
    doc = sent(out)
    assert out.topic is Topic.ORDER
    assert (doc["orderId"], doc["orderUpdateId"]) == ("path:agv-7/p1", 0)
    assert [n["sequenceId"] for n in doc["nodes"]] == [0, 2, 4]
    assert [e["sequenceId"] for e in doc["edges"]] == [1, 3]
    assert doc["nodes"][0]["nodePosition"] == {"x": 1.5, "y": 2.5, "mapId": "small"}
    assert doc["nodes"][2]["nodePosition"]["x"] == 3.5
    assert all(n["released"] for n in doc["nodes"]) and all(e["released"] for e in doc["edges"])
    assert [e["maxSpeed"] for e in doc["edges"]] == [0.8, 0.8]
    assert [(e["startNodeId"], e["endNodeId"]) for e in doc["edges"]] == [("n0", "n1"),
                                                                          ("n1", "n2")]


def test_more_of_the_same_path_extends_the_order_stitched_on_its_last_base_node() -> None:
    t = translator()
    [first] = t.command(follow("p1", 1, [(2.5, 2.5), (3.5, 2.5)]))
    [update] = t.command(follow("p1", 3, [(4.5, 2.5)], complete=True))
    a, b = sent(first), sent(update, 2)
    assert (b["orderId"], b["orderUpdateId"]) == (a["orderId"], 1)
    assert (b["nodes"][0]["nodeId"], b["nodes"][0]["sequenceId"]) == (
        a["nodes"][-1]["nodeId"], a["nodes"][-1]["sequenceId"])
    assert [n["sequenceId"] for n in b["nodes"]] == [4, 6]
    assert [e["sequenceId"] for e in b["edges"]] == [5]
    assert "maxSpeed" not in b["edges"][0]  # 0: the vehicle's own top speed
    # The end of a complete path holds the heading the coordinator asks for.
    assert b["nodes"][-1]["nodePosition"]["theta"] == pytest.approx(0.5)


def test_a_repeated_release_adds_only_what_is_new_and_a_rewrite_is_refused() -> None:
    t = translator()
    t.command(follow("p1", 1, [(2.5, 2.5), (3.5, 2.5)]))
    [update] = t.command(follow("p1", 2, [(3.5, 2.5), (4.5, 2.5)]))
    assert [n["sequenceId"] for n in sent(update)["nodes"]] == [4, 6]
    assert t.command(follow("p1", 2, [(9.5, 9.5)])) == []
    assert "rewrites" in t.dropped[-1]
    assert t.command(follow("p1", 7, [(9.5, 9.5)])) == []
    assert t.command(follow("p2", 3, [(9.5, 9.5)])) == []
    assert len(t.dropped) == 3


def planned_follow(path_id: str, first: int, points: list[tuple[float, float]],
                   planned: list[tuple[float, float]], complete: bool = False
                   ) -> robot_link_pb2.RobotCommand:
    command = follow(path_id, first, points, complete)
    command.follow_path.planned.extend(
        robot_link_pb2.TimedWaypoint(x=x, y=y, t_s=2.0, max_speed_mps=0.4) for x, y in planned)
    return command


def test_the_planned_part_is_the_horizon_numbered_on_from_the_base() -> None:
    t = translator()
    [out] = t.command(planned_follow("p1", 1, [(2.5, 2.5)], [(3.5, 2.5), (4.5, 2.5)]))
    doc = sent(out)
    assert [(n["sequenceId"], n["released"]) for n in doc["nodes"]] == [
        (0, True), (2, True), (4, False), (6, False)]
    assert [(e["sequenceId"], e["released"]) for e in doc["edges"]] == [
        (1, True), (3, False), (5, False)]
    assert [(e["startNodeId"], e["endNodeId"]) for e in doc["edges"]][1:] == [
        ("n1", "n2"), ("n2", "n3")]
    assert doc["edges"][2]["maxSpeed"] == 0.4


def test_an_update_releases_horizon_nodes_under_their_ids_and_replaces_the_horizon() -> None:
    t = translator()
    [first] = t.command(planned_follow("p1", 1, [(2.5, 2.5)], [(3.5, 2.5), (4.5, 2.5)]))
    # The plan changed after waypoint 2: the new horizon replaces the old one.
    [update] = t.command(planned_follow("p1", 2, [(3.5, 2.5)], [(3.5, 3.5)]))
    a, b = sent(first), sent(update, 2)
    assert (b["orderId"], b["orderUpdateId"]) == (a["orderId"], 1)
    # Stitched on the last base node (n1, 2): released, as the standard asks.
    assert (b["nodes"][0]["nodeId"], b["nodes"][0]["sequenceId"], b["nodes"][0]["released"]) \
        == ("n1", 2, True)
    assert [(n["nodeId"], n["sequenceId"], n["released"]) for n in b["nodes"][1:]] == [
        ("n2", 4, True), ("n3", 6, False)]
    assert a["nodes"][2]["nodeId"] == b["nodes"][1]["nodeId"]  # released as planned
    assert b["nodes"][2]["nodePosition"]["y"] == 3.5
    # Only the horizon changed: an update all the same; unchanged: nothing.
    [only] = t.command(planned_follow("p1", 3, [], [(4.5, 3.5)]))
    c = sent(only, 3)
    assert c["orderUpdateId"] == 2
    assert [(n["sequenceId"], n["released"]) for n in c["nodes"]] == [(4, True), (6, False)]
    assert t.command(planned_follow("p1", 3, [], [(4.5, 3.5)])) == []
    # Complete: no horizon is left.
    [last] = t.command(planned_follow("p1", 3, [(4.5, 3.5)], [(9.0, 9.0)], complete=True))
    d = sent(last, 4)
    assert d["orderUpdateId"] == 3 and all(n["released"] for n in d["nodes"])
    assert all(e["released"] for e in d["edges"])


def test_the_horizon_is_capped_and_may_be_turned_off() -> None:
    planned = [(2.5 + i, 2.5) for i in range(1, 40)]
    t = translator()
    [out] = t.command(planned_follow("p1", 1, [(2.5, 2.5)], planned))
    assert sum(not n["released"] for n in sent(out)["nodes"]) == t.horizon_nodes == 20
    none = Translator(KEY, "small", horizon_nodes=0)
    none.read_state(state())
    [out] = none.command(planned_follow("p1", 1, [(2.5, 2.5)], planned))
    assert all(n["released"] for n in sent(out)["nodes"])


def test_a_resent_update_carries_the_horizon_again() -> None:
    t = translator()
    t.command(planned_follow("p1", 1, [(2.5, 2.5)], [(3.5, 2.5)]))
    t.read_state(state("path:p1", 0))
    t.command(planned_follow("p1", 2, [(3.5, 2.5)], [(4.5, 2.5)]))
    [again] = t.catch_up(1)
    doc = sent(again)
    assert [(n["sequenceId"], n["released"]) for n in doc["nodes"]] == [
        (2, True), (4, True), (6, False)]


@pytest.mark.parametrize(("kind", "action_type", "params"), [
    (robot_link_pb2.ACTION_KIND_PICK, "pick", {"loadId": "boom-17", "stationName": "cut-1"}),
    (robot_link_pb2.ACTION_KIND_DROP, "drop", {"loadId": "boom-17", "stationName": "cut-1"}),
    (robot_link_pb2.ACTION_KIND_WELD, "weld", {"program": "BOOM-A", "duration": 90.0,
                                               "stationName": "cut-1"}),
    (robot_link_pb2.ACTION_KIND_CHARGE, "startCharging", {"duration": 90.0,
                                                          "stationName": "cut-1"}),
])
def test_actions_are_orders_of_one_node_with_the_action(kind: int, action_type: str,
                                                        params: dict[str, Any]) -> None:
    t = translator()
    duration = 90.0 if kind in (robot_link_pb2.ACTION_KIND_WELD,
                                robot_link_pb2.ACTION_KIND_CHARGE) else 0.0
    [out] = t.command(robot_link_pb2.RobotCommand(seq=3, action=robot_link_pb2.PerformAction(
        action_id="m1/t1#1", kind=kind, station_id="cut-1", load_id="boom-17",
        program="BOOM-A", duration_s=duration)))
    doc = sent(out)
    assert doc["orderId"] == "action:m1/t1#1" and doc["edges"] == []
    [node] = doc["nodes"]
    [action] = node["actions"]
    assert (action["actionId"], action["actionType"], action["blockingType"]) == (
        "m1/t1#1", action_type, "HARD")
    got = {p["key"]: p["value"] for p in action["actionParameters"]}
    assert got == params


def test_pause_resume_and_cancel_are_instant_actions() -> None:
    t = translator()
    pause = sent(t.command(robot_link_pb2.RobotCommand(seq=1, pause=robot_link_pb2.Pause()))[0])
    resume = sent(t.command(robot_link_pb2.RobotCommand(seq=2, resume=robot_link_pb2.Resume()))[0])
    assert [a["actionType"] for a in pause["actions"] + resume["actions"]] == [
        "startPause", "stopPause"]
    cancel = robot_link_pb2.RobotCommand(seq=3, cancel=robot_link_pb2.Cancel(reason="x"))
    # Driving: the released base is driven to its end, nothing to cancel.
    t.command(follow("p1", 1, [(2.5, 2.5)]))
    assert t.command(cancel) == []
    t.command(robot_link_pb2.RobotCommand(seq=4, action=robot_link_pb2.PerformAction(
        action_id="w1", kind=robot_link_pb2.ACTION_KIND_WELD, program="A", duration_s=5)))
    [out] = t.command(cancel)
    assert sent(out)["actions"][0]["actionType"] == "cancelOrder"
    t.command(robot_link_pb2.RobotCommand(seq=5, action=robot_link_pb2.PerformAction(
        action_id="c1", kind=robot_link_pb2.ACTION_KIND_CHARGE, duration_s=5)))
    [out] = t.command(cancel)
    assert sent(out)["actions"][0]["actionType"] == "stopCharging"


# ------------------------------------------------------------------------- states
def test_state_reads_as_robot_state() -> None:
    t = translator()
    t.command(follow("p1", 1, [(2.5, 2.5), (3.5, 2.5)]))
    reading = t.read_state(state("path:p1", 0, last_seq=2, driving=True,
                                 loads=[{"loadId": "boom-17"}]))
    s = reading.state
    assert (s.pose.x, s.pose.y, s.pose.theta) == (1.5, 2.5, 0.25)
    assert s.speed_mps == pytest.approx(0.5) and s.battery == pytest.approx(0.8)
    assert (s.path_id, s.waypoints_reached, s.load_id) == ("p1", 1, "boom-17")
    assert s.stamp_s == pytest.approx(12.5)
    assert s.mode == common_pb2.ROBOT_MODE_MOVING and reading.automatic
    assert not reading.behind and not reading.restarted


def test_action_states_map_to_action_status_and_stay_known() -> None:
    t = translator()
    t.command(robot_link_pb2.RobotCommand(seq=1, action=robot_link_pb2.PerformAction(
        action_id="a1", kind=robot_link_pb2.ACTION_KIND_PICK, load_id="L")))
    running = [{"actionId": "a1", "actionType": "pick", "actionStatus": "RUNNING"}]
    s = t.read_state(state("action:a1", actionStates=running)).state
    assert (s.action_id, s.action_status, s.mode) == ("a1", common_pb2.ACTION_STATUS_RUNNING,
                                                      common_pb2.ROBOT_MODE_ACTING)
    done = [{"actionId": "a1", "actionType": "pick", "actionStatus": "FINISHED"}]
    assert t.read_state(state("action:a1", actionStates=done)).state.action_status == \
        common_pb2.ACTION_STATUS_SUCCEEDED
    # The next order replaces the vehicle's actionStates: the outcome is still reported.
    t.command(follow("p2", 1, [(2.5, 2.5)]))
    s = t.read_state(state("path:p2", header_id=5)).state
    assert (s.action_id, s.action_status) == ("a1", common_pb2.ACTION_STATUS_SUCCEEDED)


def test_a_charge_runs_while_the_vehicle_charges() -> None:
    t = translator()
    t.command(robot_link_pb2.RobotCommand(seq=1, action=robot_link_pb2.PerformAction(
        action_id="c1", kind=robot_link_pb2.ACTION_KIND_CHARGE)))
    done = [{"actionId": "c1", "actionType": "startCharging", "actionStatus": "FINISHED"}]
    charging = t.read_state(state("action:c1", actionStates=done,
                                  batteryState={"batteryCharge": 50.0, "charging": True}))
    assert charging.state.action_status == common_pb2.ACTION_STATUS_RUNNING
    assert charging.state.mode == common_pb2.ROBOT_MODE_CHARGING
    ended = t.read_state(state("action:c1", actionStates=done))
    assert ended.state.action_status == common_pb2.ACTION_STATUS_SUCCEEDED


def test_fatal_errors_and_order_rejections_are_faults_warnings_are_not() -> None:
    t = translator()
    t.command(follow("p1", 1, [(2.5, 2.5)]))
    warning = {"errorType": "batteryLow", "errorLevel": "WARNING"}
    assert not t.read_state(state(errors=[warning])).state.faults
    fatal = {"errorType": "laserBlind", "errorLevel": "FATAL", "errorDescription": "dirty"}
    s = t.read_state(state(errors=[fatal])).state
    assert list(s.faults) == ["laserBlind: dirty"] and s.mode == common_pb2.ROBOT_MODE_FAULT
    for error_type in ("validationError", "orderError", "orderUpdateError", "noRouteError"):
        rejected = {"errorType": error_type, "errorLevel": "WARNING", "errorReferences": [
            {"referenceKey": "orderId", "referenceValue": "path:p1"}]}
        reading = t.read_state(state(errors=[rejected]))
        assert reading.rejections and error_type in reading.state.faults[0]
    other = {"errorType": "orderError", "errorLevel": "WARNING", "errorReferences": [
        {"referenceKey": "orderId", "referenceValue": "someone-else"}]}
    assert not t.read_state(state(errors=[other])).rejections


def test_a_rejected_order_is_not_sent_again() -> None:
    t = translator()
    t.command(follow("p1", 1, [(2.5, 2.5)]))
    assert t.read_state(state()).behind  # not shown yet: it may have been lost
    rejected = {"errorType": "noRouteError", "errorLevel": "WARNING", "errorReferences": [
        {"referenceKey": "orderId", "referenceValue": "path:p1"}]}
    assert not t.read_state(state(errors=[rejected])).behind
    assert not t.read_state(state(header_id=2)).behind  # nor once the error is gone
    t.command(follow("p2", 1, [(2.5, 3.5)]))
    assert t.read_state(state(header_id=3)).behind  # a new order is a new chance


def test_new_base_request_is_read() -> None:
    t = translator()
    assert t.read_state(state(newBaseRequest=True)).new_base_request
    assert not t.read_state(state(header_id=2)).new_base_request


@pytest.mark.parametrize(("safety", "why"), [
    ({"eStop": "MANUAL", "fieldViolation": False}, "eStop MANUAL"),
    ({"eStop": "AUTOACK", "fieldViolation": False}, "eStop AUTOACK"),
    ({"eStop": "REMOTE", "fieldViolation": True}, "eStop REMOTE, fieldViolation"),
    ({"eStop": "NONE", "fieldViolation": True}, "fieldViolation"),
])
def test_a_safety_stop_reads_as_paused_until_cleared(safety: dict[str, Any], why: str) -> None:
    t = translator()
    t.command(follow("p1", 1, [(2.5, 2.5)]))
    reading = t.read_state(state("path:p1", 0, driving=False, safetyState=safety))
    assert reading.safety_stop == why
    assert reading.state.mode == common_pb2.ROBOT_MODE_PAUSED
    assert list(reading.state.faults) == [f"safety stop: {why}"]
    clear = t.read_state(state("path:p1", 0, header_id=2, nodeStates=[
        {"nodeId": "n1", "sequenceId": 2, "released": True}]))
    assert clear.safety_stop == "" and not clear.state.faults
    assert clear.state.mode == common_pb2.ROBOT_MODE_MOVING


def test_a_fatal_error_during_a_safety_stop_stays_a_fault() -> None:
    t = translator()
    fatal = {"errorType": "driveBroken", "errorLevel": "FATAL"}
    s = t.read_state(state(errors=[fatal], safetyState={"eStop": "MANUAL",
                                                        "fieldViolation": False})).state
    assert s.mode == common_pb2.ROBOT_MODE_FAULT
    assert list(s.faults) == ["driveBroken", "safety stop: eStop MANUAL"]


def test_operating_modes_other_than_automatic_get_no_orders() -> None:
    t = translator()
    assert not t.read_state(state(operatingMode="MANUAL")).automatic
    assert t.read_state(state(operatingMode="SEMIAUTOMATIC")).automatic


def test_a_vehicle_that_forgets_an_acknowledged_order_has_restarted() -> None:
    t = translator()
    t.command(follow("p1", 1, [(2.5, 2.5), (3.5, 2.5)]))
    assert t.read_state(state("", header_id=2)).behind  # not yet there: behind, not restarted
    assert not t.read_state(state("path:p1", header_id=3)).restarted
    assert t.read_state(state("", header_id=4)).restarted
    t2 = translator()
    t2.read_state(state(header_id=10))
    assert t2.read_state(state(header_id=0)).restarted  # header ids began again


def test_a_restarted_vehicle_gets_the_rest_of_its_released_path_once() -> None:
    t = translator()
    t.command(follow("p1", 1, [(2.5, 2.5), (3.5, 2.5), (4.5, 2.5)]))
    t.read_state(state("path:p1", last_seq=2))
    [out] = t.recovery(1)
    doc = sent(out)
    assert doc["orderId"].startswith("recover:p1")
    assert [n["nodePosition"]["x"] for n in doc["nodes"]] == [1.5, 3.5, 4.5]
    assert t.recovering
    t.read_state(state(doc["orderId"], last_seq=4))
    assert t.recovery(2) == []  # at the end: nothing more
    assert t.order is None


def test_a_lost_update_is_sent_again_stitched_on_the_vehicles_base() -> None:
    t = translator()
    t.command(follow("p1", 1, [(2.5, 2.5)]))
    t.command(follow("p1", 2, [(3.5, 2.5)]))
    t.command(follow("p1", 3, [(4.5, 2.5)]))
    nodes = [{"nodeId": "n1", "sequenceId": 2, "released": True}]
    reading = t.read_state(state("path:p1", 0, nodeStates=nodes))
    assert reading.behind
    [out] = t.catch_up(Translator.base_end(state("path:p1", 0, nodeStates=nodes)))
    doc = sent(out)
    assert doc["orderUpdateId"] == 2
    assert [n["sequenceId"] for n in doc["nodes"]] == [2, 4, 6]
    assert sent(t.catch_up(-1)[0])["nodes"][0]["sequenceId"] == 0


@pytest.mark.parametrize("breakage", ["json", "missing", "type", "enum"])
def test_invalid_states_are_malformed(breakage: str) -> None:
    doc = state()
    if breakage == "json":
        payload = b"{not json"
    else:
        if breakage == "missing":
            del doc["batteryState"]
        elif breakage == "type":
            doc["lastNodeSequenceId"] = "three"
        else:
            doc["operatingMode"] = "AUTOPILOT"
        payload = json.dumps(doc).encode()
    with pytest.raises(MalformedMessage, match="state"):
        V21.decode(Topic.STATE, payload)


def test_a_state_on_another_map_or_without_position_is_malformed() -> None:
    t = translator()
    with pytest.raises(MalformedMessage, match="mapId"):
        t.read_state(state(agvPosition={"x": 0.0, "y": 0.0, "theta": 0.0, "mapId": "hall-2",
                                        "positionInitialized": True}))
    doc = state()
    del doc["agvPosition"]
    with pytest.raises(MalformedMessage, match="agvPosition"):
        t.read_state(doc)


# ------------------------------------------------------------------------- vehicles
def factsheet(weld: bool) -> dict[str, Any]:
    actions: list[dict[str, Any]] = [{"actionType": "pick", "actionScopes": ["NODE"]}]
    if weld:
        actions = [{"actionType": "weld", "actionScopes": ["NODE"], "actionParameters": [
            {"key": "program", "valueDataType": "STRING", "description": "BOOM-A, ARM-B"}]}]
    return V21.validate(Topic.FACTSHEET, {
        **V21.header(KEY, 0, 0.0),
        "typeSpecification": {"seriesName": "x", "agvKinematic": "DIFF", "agvClass": "CARRIER",
                              "maxLoadMass": 800.0, "localizationTypes": ["NATURAL"],
                              "navigationTypes": ["AUTONOMOUS"]},
        "physicalParameters": {"speedMin": 0.0, "speedMax": 1.2, "accelerationMax": 1.0,
                               "decelerationMax": 1.0, "heightMax": 1.0, "width": 0.6,
                               "length": 0.8},
        "protocolLimits": {"maxStringLens": {}, "maxArrayLens": {},
                           "timing": {"minOrderInterval": 0.0, "minStateInterval": 0.1}},
        "protocolFeatures": {"optionalParameters": [], "agvActions": actions},
        "agvGeometry": {}, "loadSpecification": {}})


def test_vehicles_register_from_their_factsheet() -> None:
    agv = vehicle_from_factsheet(factsheet(weld=False))
    assert (agv.robot_id, agv.kind, agv.max_payload_kg, agv.max_speed_mps) == (
        "agv-7", "agv", 800.0, 1.2)
    assert agv.footprint_radius_m == pytest.approx(0.5)
    welder = vehicle_from_factsheet(factsheet(weld=True))
    assert (welder.kind, welder.weld_programs, welder.max_payload_kg) == (
        "mobile_welder", ("BOOM-A", "ARM-B"), 0.0)
    req = register_request(welder, common_pb2.Pose(x=1.0, y=2.0))
    assert list(req.weld.programs) == ["BOOM-A", "ARM-B"] and not req.HasField("transport")


@pytest.mark.parametrize(("entry", "match"), [
    ({"serial_number": "a"}, "manufacturer"),
    ({"manufacturer": "m", "serial_number": "a", "kind": "crane"}, "kind"),
    ({"manufacturer": "m", "serial_number": "a:b"}, "robot_id"),
    ({"manufacturer": "m", "serial_number": "a", "max_speed_mps": "fast"}, "fast"),
])
def test_bad_vehicle_entries_name_the_field(entry: dict[str, Any], match: str) -> None:
    with pytest.raises(MalformedMessage, match=match):
        VehicleSpec.from_document(entry)


def test_every_theta_sent_is_within_the_schemas_range() -> None:
    t = translator()
    cmd = follow("p1", 1, [(2.5, 2.5)], complete=True)
    cmd.follow_path.waypoints[0].theta = 3 * math.pi
    sent(t.command(cmd)[0])  # validates: theta normalized into [-pi, pi]


def test_the_compiled_schemas_agree_with_jsonschema() -> None:
    """The run-time check (fastjsonschema) accepts and rejects exactly what jsonschema does."""
    import random

    import jsonschema

    from fleet.vda5050 import contract

    if contract._fast_validator("2.1", "state") is None:
        pytest.skip("fastjsonschema is not installed")
    reference = jsonschema.Draft202012Validator(contract._schema("2.1", "state"))
    fast = contract._fast_validator("2.1", "state")
    rng = random.Random(5)
    base = state(actionStates=[{"actionId": "a", "actionType": "pick",
                                "actionStatus": "RUNNING"}],
                 errors=[{"errorType": "x", "errorLevel": "FATAL"}])
    junk: list[Any] = [None, "text", -1, 2.5, True, [], {}, ["x"], {"a": 1}]
    for _ in range(300):
        doc = json.loads(json.dumps(base))
        where: Any = doc
        path = [rng.choice(list(doc))]
        while isinstance(where[path[-1]], dict | list) and where[path[-1]] and rng.random() < 0.6:
            where = where[path[-1]]
            path.append(rng.choice(list(where)) if isinstance(where, dict)
                        else rng.randrange(len(where)))
        if isinstance(where, dict) and rng.random() < 0.3:
            del where[path[-1]]
        else:
            where[path[-1]] = rng.choice(junk)
        try:
            fast(doc)
            fast_ok = True
        except Exception:
            fast_ok = False
        assert fast_ok == reference.is_valid(doc), (path, doc)
