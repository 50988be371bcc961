"""The ROS 2 contract: message conversions both ways, and the JSON schemas, good and bad."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

pytest.importorskip("rclpy", reason="the ROS 2 extra is not installed: pip install -e '.[ros]'")

from std_msgs.msg import String

from fleet.model import Pose
from fleet.ros import contract
from fleet.ros.contract import MalformedMessage, PlanPose, Report


def test_namespace_of_robot_ids_with_dashes_and_dots() -> None:
    assert contract.default_namespace("agv-01") == "agv_01"
    assert contract.default_namespace("cell.7-b") == "cell_7_b"
    assert contract.default_namespace("7up") == "r7up"
    assert contract.topic("agv_01", "odom") == "/agv_01/odom"
    with pytest.raises(MalformedMessage):
        contract.topic("agv-01", "odom")


def test_time_round_trips_to_the_nanosecond() -> None:
    t = contract.time_of(1234.5678901234)
    assert (t.sec, t.nanosec) == (1234, 567890123)
    assert contract.stamp_key(t) == "1234.567890123"
    assert contract.stamp_to_s(contract.time_of(23.1)) == pytest.approx(23.1, abs=1e-9)


def test_odometry_round_trip_keeps_pose_heading_and_speed() -> None:
    msg = contract.odometry_message(12.5, Pose(3.0, -4.0, 2.5), 1.2)
    assert (msg.header.frame_id, msg.child_frame_id) == ("odom", "base_link")
    stamp, pose, speed = contract.read_odometry(msg)
    assert stamp == 12.5 and speed == pytest.approx(1.2)
    assert (pose.x, pose.y) == (3.0, -4.0)
    assert pose.theta == pytest.approx(2.5)


def test_odometry_in_the_map_frame_is_accepted() -> None:
    msg = contract.odometry_message(1.0, Pose(1.0, 2.0, -3.0), 0.0, frame_id="map")
    assert contract.read_odometry(msg)[1].theta == pytest.approx(-3.0)


@pytest.mark.parametrize("breakage", ["frame", "nan", "quaternion"])
def test_bad_odometry_is_malformed(breakage: str) -> None:
    msg = contract.odometry_message(1.0, Pose(1.0, 2.0, 0.0), 0.5)
    if breakage == "frame":
        msg.header.frame_id = "base_link"
    elif breakage == "nan":
        msg.pose.pose.position.x = math.nan
    else:
        msg.pose.pose.orientation.w = 0.0
    with pytest.raises(MalformedMessage, match="odom"):
        contract.read_odometry(msg)


def test_battery_percentage_is_a_fraction() -> None:
    assert contract.read_battery(contract.battery_message(1.0, 0.42)) == pytest.approx(0.42)
    for bad in (1.5, -0.1, math.nan):
        msg = contract.battery_message(1.0, 0.5)
        msg.percentage = bad
        with pytest.raises(MalformedMessage, match="battery_state"):
            contract.read_battery(msg)


def test_diagnostics_round_trip() -> None:
    report = Report(stamp_s=7.5, mode="acting", plan_stamp="3.000000000", waypoints_reached=4,
                    action_id="m1/weld", action_status="running", action_progress=0.25,
                    load_id="boom-1", faults=["E12 hot", "W3"])
    msg = contract.diagnostics_message("welder-01", report)
    assert msg.status[0].hardware_id == "welder-01"
    assert msg.status[0].level == msg.status[0].WARN
    assert contract.read_diagnostics(msg) == report


def test_diagnostics_without_a_fleet_status_are_ignored() -> None:
    msg = contract.diagnostics_message("a", Report(stamp_s=1.0))
    msg.status[0].name = "motor"
    assert contract.read_diagnostics(msg) is None


@pytest.mark.parametrize(("key", "value"), [("mode", "dancing"), ("action_status", "maybe"),
                                            ("waypoints_reached", "-1"),
                                            ("waypoints_reached", "two"),
                                            ("action_progress", "1.5")])
def test_bad_diagnostics_are_malformed(key: str, value: str) -> None:
    msg = contract.diagnostics_message("a", Report(stamp_s=1.0))
    for kv in msg.status[0].values:
        if kv.key == key:
            kv.value = value
    with pytest.raises(MalformedMessage, match="diagnostics"):
        contract.read_diagnostics(msg)


def test_plan_round_trip_keeps_times_and_the_stamp_that_names_it() -> None:
    poses = [PlanPose(0.5, 0.5, 0.0, 10.0), PlanPose(1.5, 0.5, 0.0, 11.0),
             PlanPose(1.5, 1.5, math.pi / 2, 12.25)]
    msg = contract.plan_message(contract.time_of(10.0), poses)
    assert msg.header.frame_id == "map"
    key, back = contract.read_plan(msg)
    assert key == "10.000000000"
    assert [(p.x, p.y, p.t_s) for p in back] == [(p.x, p.y, p.t_s) for p in poses]
    assert back[2].theta == pytest.approx(math.pi / 2)


def test_bad_plans_are_malformed() -> None:
    msg = contract.plan_message(contract.time_of(1.0), [PlanPose(0.0, 0.0, 0.0, 1.0)])
    msg.header.frame_id = "odom"
    with pytest.raises(MalformedMessage, match="frame_id"):
        contract.read_plan(msg)
    with pytest.raises(MalformedMessage, match="no poses"):
        contract.read_plan(contract.plan_message(contract.time_of(1.0), []))


def test_plan_limits_carry_what_a_path_cannot_speed_limits_and_complete() -> None:
    poses = [PlanPose(0.5, 0.5, 0.0, 10.0), PlanPose(1.5, 0.5, 0.0, 11.0, 0.5),
             PlanPose(2.5, 0.5, 0.0, 13.0, 0.5), PlanPose(3.5, 0.5, 0.0, 14.0)]
    stamp = contract.time_of(10.0)
    msg = contract.plan_limits_message(stamp, poses, complete=True)
    key, limits, complete = contract.read_plan_limits(msg)
    # The same key as the plan it belongs to, one entry per pose.
    assert key == contract.read_plan(contract.plan_message(stamp, poses))[0]
    assert limits == [0.0, 0.5, 0.5, 0.0]
    assert complete is True


@pytest.mark.parametrize(("doc", "problem"), [
    ({"plan_stamp": "1.000000000", "max_speed_mps": [0, -0.5], "complete": False}, "minimum"),
    ({"plan_stamp": "1.0", "max_speed_mps": [0], "complete": False}, "plan_stamp"),
    ({"plan_stamp": "1.000000000", "max_speed_mps": [], "complete": False}, "max_speed_mps"),
    ({"plan_stamp": "1.000000000", "max_speed_mps": [0]}, "complete"),
    ({"plan_stamp": "1.000000000", "max_speed_mps": [0], "complete": True, "x": 1}, "x"),
])
def test_bad_plan_limits_are_malformed(doc: dict[str, Any], problem: str) -> None:
    with pytest.raises(MalformedMessage, match=problem):
        contract.read_plan_limits(String(data=json.dumps(doc)))


GOOD_ACTIONS: list[dict[str, Any]] = [
    {"seq": 1, "command": "pick", "action_id": "m/1", "station_id": "in-1", "load_id": "L1"},
    {"seq": 2, "command": "drop", "action_id": "m/2", "station_id": "out", "load_id": "L1",
     "duration_s": 15.0},
    {"seq": 3, "command": "weld", "action_id": "m/3", "station_id": "weld-3",
     "program": "BOOM-A", "duration_s": 90},
    {"seq": 4, "command": "charge", "action_id": "c/1", "station_id": "charger-1"},
    {"seq": 5, "command": "pause", "reason": "operator"},
    {"seq": 6, "command": "resume"},
    {"seq": 7, "command": "cancel"},
]

BAD_ACTIONS: list[tuple[dict[str, Any], str]] = [
    ({"command": "pick", "action_id": "a", "station_id": "s", "load_id": "l"}, "seq"),
    ({"seq": 0, "command": "resume"}, "seq"),
    ({"seq": 1, "command": "dance"}, "command"),
    ({"seq": 1, "command": "pick", "action_id": "a", "station_id": "s"}, "load_id"),
    ({"seq": 1, "command": "weld", "action_id": "a", "station_id": "s", "program": "P"},
     "duration_s"),
    ({"seq": 1, "command": "weld", "action_id": "a", "station_id": "s", "program": "P",
      "duration_s": -1}, "duration_s"),
    ({"seq": 1, "command": "pause", "action_id": "a"}, "not"),
    ({"seq": 1, "command": "resume", "speed": 2}, "speed"),
    ({"seq": 1, "command": "pick", "action_id": "", "station_id": "s", "load_id": "l"},
     "action_id"),
]


@pytest.mark.parametrize("doc", GOOD_ACTIONS)
def test_every_action_command_passes_its_schema(doc: dict[str, Any]) -> None:
    msg = contract.to_json_message("action", doc)
    assert contract.from_json_message("action", msg) == doc


@pytest.mark.parametrize(("doc", "word"), BAD_ACTIONS)
def test_bad_action_commands_are_refused_naming_the_problem(doc: dict[str, Any],
                                                            word: str) -> None:
    with pytest.raises(MalformedMessage, match=word):
        contract.to_json_message("action", doc)


def test_text_that_is_not_json_is_malformed() -> None:
    with pytest.raises(MalformedMessage, match="not JSON"):
        contract.from_json_message("action", String(data="{seq: 1"))
    with pytest.raises(MalformedMessage):
        contract.from_json_message("action", String(data="[1, 2]"))


def test_action_status_schema() -> None:
    contract.validate("action_status", {"seq": 3, "status": "accepted"})
    contract.validate("action_status", {"seq": 3, "action_id": "m/3", "status": "succeeded"})
    with pytest.raises(MalformedMessage, match="action_id"):
        contract.validate("action_status", {"seq": 3, "status": "failed"})
    with pytest.raises(MalformedMessage, match="status"):
        contract.validate("action_status", {"seq": 3, "status": "done"})


def test_robot_info_schema() -> None:
    good = {"robot_id": "agv-01", "kind": "agv", "footprint_radius_m": 0.45,
            "max_speed_mps": 1.2, "max_payload_kg": 1000, "boot_id": "abc"}
    contract.validate("robot_info", good)
    for change in ({"robot_id": "agv 01"}, {"kind": "forklift"}, {"footprint_radius_m": 0},
                   {"weld_programs": []}, {"namespace": "agv-01"}):
        with pytest.raises(MalformedMessage):
            contract.validate("robot_info", {**good, **change})


def test_command_sync_schema() -> None:
    contract.validate("command_sync", {"seq": 4, "plan_stamp": "12.500000000",
                                       "plan_length": 5, "action_seq": 3})
    contract.validate("command_sync", {"seq": 4, "plan_stamp": "", "plan_length": 0,
                                       "action_seq": 0})
    with pytest.raises(MalformedMessage, match="plan_stamp"):
        contract.validate("command_sync", {"seq": 4, "plan_stamp": "12.5", "plan_length": 5,
                                           "action_seq": 3})


def test_schemas_are_valid_draft_2020_12() -> None:
    import jsonschema

    for name in ("action", "action_status", "robot_info", "command_sync"):
        jsonschema.Draft202012Validator.check_schema(contract.schema(name))
