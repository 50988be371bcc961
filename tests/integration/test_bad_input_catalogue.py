"""A catalogue of bad requests over every RPC, through a real channel, on both stores.

Each case asserts the status code, the stable reason code (google.rpc.ErrorInfo), the field
named in the BadRequest details, that the message stays short whatever the value's size, and
that the server stays healthy; every mission accepted before the catalogue is unchanged after
each case. One server per store for the whole module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from tests.conftest import SMALL_MAP, Served, postgres_schema_url, serve

C = grpc.StatusCode
MB = "x" * 1_000_000
NAN, INF = math.nan, math.inf


@dataclass
class World:
    """A served coordinator with robots registered and missions accepted."""

    served: Served
    missions: missions_pb2_grpc.MissionsStub
    fleet: fleet_pb2_grpc.FleetStub
    link: robot_link_pb2_grpc.RobotLinkStub
    clock: simulation_pb2_grpc.SimClockStub
    health: health_pb2_grpc.HealthStub
    accepted: dict[str, missions_pb2.MissionStatus]
    park: dict[str, common_pb2.Pose]


def agv(robot_id: str, pose: common_pb2.Pose, **changes: object) -> robot_link_pb2.RegisterRequest:
    req = robot_link_pb2.RegisterRequest(
        robot_id=robot_id, kind=common_pb2.ROBOT_KIND_AGV, footprint_radius_m=0.4,
        max_speed_mps=1.0, pose=pose,
        transport=robot_link_pb2.TransportCapability(max_payload_kg=1000))
    for key, value in changes.items():
        if key == "clear":
            req.ClearField(str(value))
        elif isinstance(value, common_pb2.Pose | robot_link_pb2.TransportCapability
                        | robot_link_pb2.WeldCapability):
            getattr(req, key).CopyFrom(value)
        else:
            setattr(req, key, value)
    return req


def welder(robot_id: str, pose: common_pb2.Pose) -> robot_link_pb2.RegisterRequest:
    return robot_link_pb2.RegisterRequest(
        robot_id=robot_id, kind=common_pb2.ROBOT_KIND_MOBILE_WELDER, footprint_radius_m=0.4,
        max_speed_mps=1.0, pose=pose, weld=robot_link_pb2.WeldCapability(programs=["BOOM-A"]))


def move(mission_id: str = "m", **fields: object) -> missions_pb2.MissionSpec:
    spec = missions_pb2.MissionSpec(mission_id=mission_id)
    spec.tasks.add(task_id="t1", transport=missions_pb2.TransportTask(
        pickup_station="in-1", dropoff_station="out-1", load_id="load-1", mass_kg=100))
    for key, value in fields.items():
        if key == "labels":
            spec.labels.update(value)  # type: ignore[call-overload]
        else:
            setattr(spec, key, value)
    return spec


def weld_job(mission_id: str = "w") -> missions_pb2.MissionSpec:
    spec = missions_pb2.MissionSpec(mission_id=mission_id)
    spec.tasks.add(task_id="bring", transport=missions_pb2.TransportTask(
        pickup_station="in-1", dropoff_station="weld-1", load_id="part", mass_kg=300))
    spec.tasks.add(task_id="weld", depends_on=["bring"], weld=missions_pb2.WeldTask(
        cell_station="weld-1", program="BOOM-A", duration_s=20, part_load_id="part"))
    return spec


def _world(db: str) -> Iterator[World]:
    for served in serve(SMALL_MAP, db):
        floor = served.coordinator.floor  # type: ignore[attr-defined]
        park = {s.id: common_pb2.Pose(x=s.pose.x, y=s.pose.y) for s in floor.stations.values()
                if s.kind.value == "parking"}
        world = World(served, missions_pb2_grpc.MissionsStub(served.channel),
                      fleet_pb2_grpc.FleetStub(served.channel),
                      robot_link_pb2_grpc.RobotLinkStub(served.channel),
                      simulation_pb2_grpc.SimClockStub(served.channel),
                      health_pb2_grpc.HealthStub(served.channel), {}, park)
        world.link.Register(agv("agv-1", park["park-1"]), timeout=10)
        world.link.Register(welder("welder-1", park["park-2"]), timeout=10)
        for spec in (move("keep-move", priority=3, labels={"order": "A-1"}, release_s=10,
                          deadline_s=900), weld_job("keep-weld")):
            world.missions.Submit(missions_pb2.SubmitMissionRequest(mission=spec), timeout=10)
        world.accepted = {m: world.missions.Get(missions_pb2.GetMissionRequest(mission_id=m),
                                                timeout=10)
                          for m in ("keep-move", "keep-weld")}
        yield world


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if request.param == "sqlite":
        yield from _world(str(tmp_path_factory.mktemp("catalogue") / "fleet.db"))
    else:
        for url in postgres_schema_url():
            yield from _world(url)


# -- the catalogue -----------------------------------------------------------------------------

Call = Callable[[World], object]


@dataclass(frozen=True)
class Case:
    name: str
    rpc: str
    call: Call
    code: grpc.StatusCode
    reason: str
    field: str


CASES: list[Case] = []


def case(name: str, rpc: str, call: Call, code: grpc.StatusCode, reason: str,
         field: str) -> None:
    CASES.append(Case(name, rpc, call, code, reason, field))


def submit(spec: missions_pb2.MissionSpec | None) -> Call:
    req = (missions_pb2.SubmitMissionRequest() if spec is None
           else missions_pb2.SubmitMissionRequest(mission=spec))
    return lambda w: w.missions.Submit(req, timeout=10)


def mutated(fn: Callable[[missions_pb2.MissionSpec], object],
            base: Callable[[], missions_pb2.MissionSpec] = move) -> missions_pb2.MissionSpec:
    spec = base()
    fn(spec)
    return spec


def _labels(n: int) -> dict[str, str]:
    return {f"k{i}": "v" for i in range(n)}


# Submit: the mission's own fields.
for name, value, reason in [("space", "bad id", "INVALID_ID"), ("dash-first", "-x", "INVALID_ID"),
                            ("65-chars", "a" * 65, "INVALID_ID"), ("1MB", MB, "INVALID_ID"),
                            ("nul", "a\x00b", "INVALID_ID"), ("newline", "a\nb", "INVALID_ID"),
                            ("unicode", "misión", "INVALID_ID")]:
    case(f"mission_id-{name}", "Submit", submit(move(value)), C.INVALID_ARGUMENT, reason,
         "mission.mission_id")
case("mission-missing", "Submit", submit(None), C.INVALID_ARGUMENT, "REQUIRED", "mission")
case("tasks-empty", "Submit", submit(missions_pb2.MissionSpec(mission_id="e")),
     C.INVALID_ARGUMENT, "REQUIRED", "mission.tasks")
case("tasks-1001", "Submit", submit(mutated(lambda s: [s.tasks.add().CopyFrom(s.tasks[0])
                                                       for _ in range(1000)])),
     C.INVALID_ARGUMENT, "TOO_MANY", "mission.tasks")
case("tasks-10000", "Submit", submit(mutated(lambda s: [s.tasks.add().CopyFrom(s.tasks[0])
                                                        for _ in range(9999)])),
     C.INVALID_ARGUMENT, "TOO_MANY", "mission.tasks")
for value in (1001, -1001, 2**31 - 1, -(2**31)):
    case(f"priority-{value}", "Submit", submit(move(priority=value)), C.INVALID_ARGUMENT,
         "OUT_OF_RANGE", "mission.priority")
for field in ("deadline_s", "release_s"):
    for value, reason in [(NAN, "NOT_FINITE"), (INF, "NOT_FINITE"), (-INF, "NOT_FINITE"),
                          (-1.0, "OUT_OF_RANGE"), (1e11, "OUT_OF_RANGE"),
                          (1e308, "OUT_OF_RANGE")]:
        case(f"{field}-{value}", "Submit", submit(move(**{field: value})), C.INVALID_ARGUMENT,
             reason, f"mission.{field}")
case("deadline-before-release", "Submit", submit(move(release_s=100, deadline_s=50)),
     C.INVALID_ARGUMENT, "INCONSISTENT", "mission.deadline_s")
case("deadline-equals-release", "Submit", submit(move(release_s=100, deadline_s=100)),
     C.INVALID_ARGUMENT, "INCONSISTENT", "mission.deadline_s")
case("labels-33", "Submit", submit(mutated(lambda s: s.labels.update(_labels(33)))),
     C.INVALID_ARGUMENT, "TOO_MANY", "mission.labels")
case("labels-10000", "Submit", submit(mutated(lambda s: s.labels.update(_labels(10_000)))),
     C.INVALID_ARGUMENT, "TOO_MANY", "mission.labels")
case("label-key-65", "Submit", submit(mutated(lambda s: s.labels.update({"k" * 65: "v"}))),
     C.INVALID_ARGUMENT, "TOO_LONG", "mission.labels key")
case("label-key-empty", "Submit", submit(mutated(lambda s: s.labels.update({"": "v"}))),
     C.INVALID_ARGUMENT, "REQUIRED", "mission.labels key")
case("label-value-257", "Submit", submit(mutated(lambda s: s.labels.update({"k": "v" * 257}))),
     C.INVALID_ARGUMENT, "TOO_LONG", "mission.labels['k']")
case("label-value-1MB", "Submit", submit(mutated(lambda s: s.labels.update({"k": MB}))),
     C.INVALID_ARGUMENT, "TOO_LONG", "mission.labels['k']")
case("exists", "Submit", submit(move("keep-move")), C.ALREADY_EXISTS, "ALREADY_EXISTS",
     "keep-move")

# Submit: tasks.
T0 = "mission.tasks[0]"
for name, value, reason in [("empty", "", "REQUIRED"), ("space", "a b", "INVALID_ID"),
                            ("65", "t" * 65, "INVALID_ID"), ("1MB", MB, "INVALID_ID")]:
    case(f"task_id-{name}", "Submit",
         submit(mutated(lambda s, v=value: setattr(s.tasks[0], "task_id", v))),
         C.INVALID_ARGUMENT, reason, f"{T0}.task_id")
case("task_id-twice", "Submit",
     submit(mutated(lambda s: s.tasks.add().CopyFrom(s.tasks[0]))), C.INVALID_ARGUMENT,
     "DUPLICATE", "mission.tasks[1].task_id")
case("depends_on-ghost", "Submit",
     submit(mutated(lambda s: s.tasks[0].depends_on.append("ghost"))), C.INVALID_ARGUMENT,
     "BAD_REFERENCE", f"{T0}.depends_on")
case("depends_on-self", "Submit",
     submit(mutated(lambda s: s.tasks[0].depends_on.append("t1"))), C.INVALID_ARGUMENT,
     "BAD_REFERENCE", f"{T0}.depends_on")
case("depends_on-bad-id", "Submit",
     submit(mutated(lambda s: s.tasks[0].depends_on.append("a b"))), C.INVALID_ARGUMENT,
     "INVALID_ID", f"{T0}.depends_on[0]")
case("depends_on-1001", "Submit",
     submit(mutated(lambda s: s.tasks[0].depends_on.extend(["t1"] * 1001))),
     C.INVALID_ARGUMENT, "TOO_MANY", f"{T0}.depends_on")


def _cycle(s: missions_pb2.MissionSpec, n: int) -> None:
    for k in range(1, n):
        s.tasks.add().CopyFrom(s.tasks[0])
        s.tasks[k].task_id = f"t{k + 1}"
    for k in range(n):
        s.tasks[k].depends_on.append(f"t{(k + 1) % n + 1}")


case("cycle-2", "Submit", submit(mutated(lambda s: _cycle(s, 2))), C.INVALID_ARGUMENT, "CYCLE",
     "mission.tasks.depends_on")
case("cycle-1000", "Submit", submit(mutated(lambda s: _cycle(s, 1000))), C.INVALID_ARGUMENT,
     "CYCLE", "mission.tasks.depends_on")
for value, reason in [(NAN, "NOT_FINITE"), (INF, "NOT_FINITE"), (-1.0, "OUT_OF_RANGE"),
                      (1e9, "OUT_OF_RANGE")]:
    case(f"start_delay-{value}", "Submit",
         submit(mutated(lambda s, v=value: setattr(s.tasks[0], "start_delay_s", v))),
         C.INVALID_ARGUMENT, reason, f"{T0}.start_delay_s")
case("task-no-kind", "Submit",
     submit(missions_pb2.MissionSpec(mission_id="k", tasks=[missions_pb2.TaskSpec(
         task_id="t1")])), C.INVALID_ARGUMENT, "REQUIRED", T0)

TR = f"{T0}.transport"
for field, value, code, reason in [
        ("pickup_station", "", C.INVALID_ARGUMENT, "REQUIRED"),
        ("pickup_station", "p" * 129, C.INVALID_ARGUMENT, "TOO_LONG"),
        ("pickup_station", MB, C.INVALID_ARGUMENT, "TOO_LONG"),
        ("pickup_station", "nowhere", C.NOT_FOUND, "NOT_FOUND"),
        ("pickup_station", "park-1", C.INVALID_ARGUMENT, "WRONG_STATION_KIND"),
        ("pickup_station", "charger-1", C.INVALID_ARGUMENT, "WRONG_STATION_KIND"),
        ("dropoff_station", "", C.INVALID_ARGUMENT, "REQUIRED"),
        ("dropoff_station", "nowhere", C.NOT_FOUND, "NOT_FOUND"),
        ("dropoff_station", "park-2", C.INVALID_ARGUMENT, "WRONG_STATION_KIND"),
        ("load_id", "", C.INVALID_ARGUMENT, "REQUIRED"),
        ("load_id", "a/b", C.INVALID_ARGUMENT, "INVALID_ID"),
        ("load_id", MB, C.INVALID_ARGUMENT, "INVALID_ID"),
        ("mass_kg", NAN, C.INVALID_ARGUMENT, "NOT_FINITE"),
        ("mass_kg", INF, C.INVALID_ARGUMENT, "NOT_FINITE"),
        ("mass_kg", -1.0, C.INVALID_ARGUMENT, "OUT_OF_RANGE"),
        ("mass_kg", 1e6, C.INVALID_ARGUMENT, "OUT_OF_RANGE"),
        ("mass_kg", 1e308, C.INVALID_ARGUMENT, "OUT_OF_RANGE"),
        ("mass_kg", 5000.0, C.FAILED_PRECONDITION, "INFEASIBLE")]:
    named = TR if reason == "INFEASIBLE" else f"{TR}.{field}"
    case(f"transport-{field}-{str(value)[:12]}", "Submit",
         submit(mutated(lambda s, f=field, v=value: setattr(s.tasks[0].transport, f, v))),
         code, reason, named if reason != "INFEASIBLE" else T0)
case("transport-same-stations", "Submit",
     submit(mutated(lambda s: setattr(s.tasks[0].transport, "dropoff_station", "in-1"))),
     C.INVALID_ARGUMENT, "INCONSISTENT", TR)

WT = "mission.tasks[1].weld"
for field, value, code, reason in [
        ("cell_station", "", C.INVALID_ARGUMENT, "REQUIRED"),
        ("cell_station", "c" * 200, C.INVALID_ARGUMENT, "TOO_LONG"),
        ("cell_station", "out-1", C.INVALID_ARGUMENT, "WRONG_STATION_KIND"),
        ("cell_station", "nowhere", C.NOT_FOUND, "NOT_FOUND"),
        ("program", "", C.INVALID_ARGUMENT, "REQUIRED"),
        ("program", "BOOM A", C.INVALID_ARGUMENT, "INVALID_ID"),
        ("program", "OTHER", C.FAILED_PRECONDITION, "INFEASIBLE"),
        ("duration_s", 0.0, C.INVALID_ARGUMENT, "OUT_OF_RANGE"),
        ("duration_s", -5.0, C.INVALID_ARGUMENT, "OUT_OF_RANGE"),
        ("duration_s", NAN, C.INVALID_ARGUMENT, "NOT_FINITE"),
        ("duration_s", INF, C.INVALID_ARGUMENT, "NOT_FINITE"),
        ("duration_s", 1e308, C.INVALID_ARGUMENT, "OUT_OF_RANGE"),
        ("duration_s", 86_401.0, C.INVALID_ARGUMENT, "OUT_OF_RANGE"),
        ("part_load_id", "a b", C.INVALID_ARGUMENT, "INVALID_ID"),
        ("part_load_id", "other-part", C.INVALID_ARGUMENT, "PART_NEVER_BROUGHT")]:
    named = {"INFEASIBLE": "mission.tasks[1]",
             "NOT_FOUND": f"{WT}.cell_station"}.get(reason, f"{WT}.{field}")
    if field == "cell_station" and reason in ("WRONG_STATION_KIND", "NOT_FOUND", "TOO_LONG"):
        # The part is brought to weld-1, not to the weld's cell any more.
        named = f"{WT}.cell_station"
    def change(s: missions_pb2.MissionSpec, f: str = field, v: object = value) -> None:
        if f == "cell_station":  # without a part, so only the cell is at fault
            s.tasks[1].weld.part_load_id = ""
        setattr(s.tasks[1].weld, f, v)
    case(f"weld-{field}-{str(value)[:12]}", "Submit", submit(mutated(change, weld_job)), code,
         reason, named)
case("weld-part-brought-elsewhere", "Submit",
     submit(mutated(lambda s: setattr(s.tasks[0].transport, "dropoff_station", "weld-2"),
                    weld_job)), C.INVALID_ARGUMENT, "PART_NEVER_BROUGHT",
     f"{WT}.part_load_id")


def pinned(kind: str, robot: str, station: str) -> missions_pb2.MissionSpec:
    spec = missions_pb2.MissionSpec(mission_id="pin")
    task = spec.tasks.add(task_id="t1")
    if kind == "charge":
        task.charge.CopyFrom(missions_pb2.ChargeTask(robot_id=robot, charger_station=station))
    else:
        task.park.CopyFrom(missions_pb2.ParkTask(robot_id=robot, station=station))
    return spec


for kind, robot, station, code, reason, field in [
        ("charge", "", "charger-1", C.INVALID_ARGUMENT, "REQUIRED", "charge.robot_id"),
        ("charge", "a b", "charger-1", C.INVALID_ARGUMENT, "INVALID_ID", "charge.robot_id"),
        ("charge", "ghost", "charger-1", C.NOT_FOUND, "NOT_FOUND", "charge.robot_id"),
        ("charge", "agv-1", "", C.INVALID_ARGUMENT, "REQUIRED", "charge.charger_station"),
        ("charge", "agv-1", "park-1", C.INVALID_ARGUMENT, "WRONG_STATION_KIND",
         "charge.charger_station"),
        ("charge", "agv-1", "nowhere", C.NOT_FOUND, "NOT_FOUND", "charge.charger_station"),
        ("park", MB, "park-1", C.INVALID_ARGUMENT, "INVALID_ID", "park.robot_id"),
        ("park", "ghost", "park-1", C.NOT_FOUND, "NOT_FOUND", "park.robot_id"),
        ("park", "agv-1", "in-1", C.INVALID_ARGUMENT, "WRONG_STATION_KIND", "park.station"),
        ("park", "agv-1", "s" * 129, C.INVALID_ARGUMENT, "TOO_LONG", "park.station")]:
    case(f"{kind}-{robot[:8]}-{station[:10]}", "Submit", submit(pinned(kind, robot, station)),
         code, reason, f"{T0}.{field}")

# Cancel, Get, List, WatchEvents.
for rpc, make in (("Cancel", lambda m: missions_pb2.CancelMissionRequest(mission_id=m)),
                  ("Get", lambda m: missions_pb2.GetMissionRequest(mission_id=m))):
    for name, value, code, reason in [("empty", "", C.INVALID_ARGUMENT, "REQUIRED"),
                                      ("space", "a b", C.INVALID_ARGUMENT, "INVALID_ID"),
                                      ("1MB", MB, C.INVALID_ARGUMENT, "INVALID_ID"),
                                      ("escape", "\x1b[31m", C.INVALID_ARGUMENT, "INVALID_ID"),
                                      ("unknown", "nope", C.NOT_FOUND, "NOT_FOUND")]:
        req = make(value)
        case(f"{rpc.lower()}-{name}", rpc,
             lambda w, r=req, rpc=rpc: getattr(w.missions, rpc)(r, timeout=10), code, reason,
             "mission_id")
for name, reason_text in [("201", "r" * 201), ("1MB", MB)]:
    req = missions_pb2.CancelMissionRequest(mission_id="keep-move", reason=reason_text)
    case(f"cancel-reason-{name}", "Cancel", lambda w, r=req: w.missions.Cancel(r, timeout=10),
         C.INVALID_ARGUMENT, "TOO_LONG", "reason")
for name, req, reason, field in [
        ("page_size-1001", missions_pb2.ListMissionsRequest(page_size=1001), "OUT_OF_RANGE",
         "page_size"),
        ("page_size-max", missions_pb2.ListMissionsRequest(page_size=2**32 - 1),
         "OUT_OF_RANGE", "page_size"),
        ("page_token-letters", missions_pb2.ListMissionsRequest(page_token="zz"),
         "INVALID_INPUT", "page_token"),
        ("page_token-long", missions_pb2.ListMissionsRequest(page_token="1" * 21), "TOO_LONG",
         "page_token"),
        ("states-unset", missions_pb2.ListMissionsRequest(states=[0]), "UNKNOWN_ENUM",
         "states[0]"),
        ("states-99", missions_pb2.ListMissionsRequest(states=[99]), "UNKNOWN_ENUM",
         "states[0]"),
        ("states-17", missions_pb2.ListMissionsRequest(states=[1] * 17), "TOO_MANY", "states"),
        ("labels-33", missions_pb2.ListMissionsRequest(labels=_labels(33)), "TOO_MANY",
         "labels"),
        ("label-key-1MB", missions_pb2.ListMissionsRequest(labels={MB: "v"}), "TOO_LONG",
         "labels key")]:
    case(f"list-{name}", "List", lambda w, r=req: w.missions.List(r, timeout=10),
         C.INVALID_ARGUMENT, reason, field)


def watch(req: missions_pb2.WatchEventsRequest) -> Call:
    def run(w: World) -> object:
        call = w.missions.WatchEvents(req, timeout=10)
        try:
            return next(call)
        finally:
            call.cancel()
    return run


for name, req, code, reason, field in [
        ("bad-id", missions_pb2.WatchEventsRequest(mission_id="a b"), C.INVALID_ARGUMENT,
         "INVALID_ID", "mission_id"),
        ("1MB", missions_pb2.WatchEventsRequest(mission_id=MB), C.INVALID_ARGUMENT,
         "INVALID_ID", "mission_id"),
        ("unknown", missions_pb2.WatchEventsRequest(mission_id="nope"), C.NOT_FOUND,
         "NOT_FOUND", "mission_id"),
        ("after_seq--2", missions_pb2.WatchEventsRequest(after_seq=-2), C.INVALID_ARGUMENT,
         "OUT_OF_RANGE", "after_seq")]:
    case(f"watch-{name}", "WatchEvents", watch(req), code, reason, field)

# SubmitOrder (this server serves no line: a good order is FAILED_PRECONDITION).
for name, changes, code, reason, field in [
        ("order_id-empty", {"order_id": ""}, C.INVALID_ARGUMENT, "REQUIRED", "order.order_id"),
        ("order_id-57", {"order_id": "o" * 57}, C.INVALID_ARGUMENT, "TOO_LONG",
         "order.order_id"),
        ("order_id-1MB", {"order_id": MB}, C.INVALID_ARGUMENT, "INVALID_ID", "order.order_id"),
        ("model-empty", {"model": ""}, C.INVALID_ARGUMENT, "REQUIRED", "order.model"),
        ("model-65", {"model": "m" * 65}, C.INVALID_ARGUMENT, "TOO_LONG", "order.model"),
        ("count-1001", {"count": 1001}, C.INVALID_ARGUMENT, "OUT_OF_RANGE", "order.count"),
        ("priority-5000", {"priority": 5000}, C.INVALID_ARGUMENT, "OUT_OF_RANGE",
         "order.priority"),
        ("release-nan", {"release_s": NAN}, C.INVALID_ARGUMENT, "NOT_FINITE",
         "order.release_s"),
        ("deadline-inf", {"deadline_s": INF}, C.INVALID_ARGUMENT, "NOT_FINITE",
         "order.deadline_s"),
        ("deadline-before-release", {"release_s": 500, "deadline_s": 100},
         C.INVALID_ARGUMENT, "INCONSISTENT", "order.deadline_s"),
        ("labels-33", {"labels": _labels(33)}, C.INVALID_ARGUMENT, "TOO_MANY",
         "order.labels"),
        ("no-line", {}, C.FAILED_PRECONDITION, "INFEASIBLE", "order.model")]:
    req = missions_pb2.SubmitOrderRequest(order_id="o-1", model="EX26-LR", count=2)
    for key, value in changes.items():
        if key == "labels":
            req.labels.update(value)  # type: ignore[arg-type]
        else:
            setattr(req, key, value)
    case(f"order-{name}", "SubmitOrder", lambda w, r=req: w.missions.SubmitOrder(r, timeout=10),
         code, reason, field)

# PauseRobot, ResumeRobot.
for rpc, make in (("PauseRobot", lambda r: fleet_pb2.PauseRobotRequest(robot_id=r)),
                  ("ResumeRobot", lambda r: fleet_pb2.ResumeRobotRequest(robot_id=r))):
    for name, value, code, reason in [("empty", "", C.INVALID_ARGUMENT, "REQUIRED"),
                                      ("space", "a b", C.INVALID_ARGUMENT, "INVALID_ID"),
                                      ("1MB", MB, C.INVALID_ARGUMENT, "INVALID_ID"),
                                      ("unknown", "ghost", C.NOT_FOUND, "NOT_FOUND")]:
        req = make(value)
        case(f"{rpc.lower()}-{name}", rpc,
             lambda w, r=req, rpc=rpc: getattr(w.fleet, rpc)(r, timeout=10), code, reason,
             "robot_id")
for name, text in [("201", "r" * 201), ("1MB", MB)]:
    req = fleet_pb2.PauseRobotRequest(robot_id="agv-1", reason=text)
    case(f"pause-reason-{name}", "PauseRobot",
         lambda w, r=req: w.fleet.PauseRobot(r, timeout=10), C.INVALID_ARGUMENT, "TOO_LONG",
         "reason")
case("resume-not-paused", "ResumeRobot",
     lambda w: w.fleet.ResumeRobot(fleet_pb2.ResumeRobotRequest(robot_id="agv-1"), timeout=10),
     C.FAILED_PRECONDITION, "INFEASIBLE", "robot_id")


# Register.
def register(**changes: object) -> Call:
    robot_id = str(changes.pop("robot_id", "probe"))
    pose = changes.pop("pose", None)
    return lambda w: w.link.Register(agv(robot_id, pose or w.park["park-3"],  # type: ignore[arg-type]
                                         **changes), timeout=10)


for name, changes, code, reason, field in [
        ("robot_id-empty", {"robot_id": ""}, C.INVALID_ARGUMENT, "REQUIRED", "robot_id"),
        ("robot_id-space", {"robot_id": "bad id!"}, C.INVALID_ARGUMENT, "INVALID_ID",
         "robot_id"),
        ("robot_id-65", {"robot_id": "r" * 65}, C.INVALID_ARGUMENT, "INVALID_ID", "robot_id"),
        ("robot_id-1MB", {"robot_id": MB}, C.INVALID_ARGUMENT, "INVALID_ID", "robot_id"),
        ("kind-unset", {"kind": 0}, C.INVALID_ARGUMENT, "UNKNOWN_ENUM", "kind"),
        ("kind-99", {"kind": 99}, C.INVALID_ARGUMENT, "UNKNOWN_ENUM", "kind"),
        ("radius-0", {"footprint_radius_m": 0.0}, C.INVALID_ARGUMENT, "OUT_OF_RANGE",
         "footprint_radius_m"),
        ("radius-neg", {"footprint_radius_m": -1.0}, C.INVALID_ARGUMENT, "OUT_OF_RANGE",
         "footprint_radius_m"),
        ("radius-nan", {"footprint_radius_m": NAN}, C.INVALID_ARGUMENT, "NOT_FINITE",
         "footprint_radius_m"),
        ("radius-11", {"footprint_radius_m": 11.0}, C.INVALID_ARGUMENT, "OUT_OF_RANGE",
         "footprint_radius_m"),
        ("radius-over-cell", {"footprint_radius_m": 2.0}, C.INVALID_ARGUMENT, "OUT_OF_RANGE",
         "footprint_radius_m"),
        ("speed-0", {"max_speed_mps": 0.0}, C.INVALID_ARGUMENT, "OUT_OF_RANGE",
         "max_speed_mps"),
        ("speed-inf", {"max_speed_mps": INF}, C.INVALID_ARGUMENT, "NOT_FINITE",
         "max_speed_mps"),
        ("speed-21", {"max_speed_mps": 21.0}, C.INVALID_ARGUMENT, "OUT_OF_RANGE",
         "max_speed_mps"),
        ("pose-missing", {"clear": "pose"}, C.INVALID_ARGUMENT, "REQUIRED", "pose"),
        ("pose-x-nan", {"pose": common_pb2.Pose(x=NAN, y=1)}, C.INVALID_ARGUMENT,
         "NOT_FINITE", "pose.x"),
        ("pose-y-1e6", {"pose": common_pb2.Pose(x=1, y=1e6)}, C.INVALID_ARGUMENT,
         "OUT_OF_RANGE", "pose.y"),
        ("pose-theta-inf", {"pose": common_pb2.Pose(x=1, y=1, theta=INF)},
         C.INVALID_ARGUMENT, "NOT_FINITE", "pose.theta"),
        ("pose-off-floor", {"pose": common_pb2.Pose(x=-500, y=3)}, C.INVALID_ARGUMENT,
         "INVALID_INPUT", "pose"),
        ("payload-0", {"transport": robot_link_pb2.TransportCapability(max_payload_kg=0)},
         C.INVALID_ARGUMENT, "OUT_OF_RANGE", "transport.max_payload_kg"),
        ("payload-nan", {"transport": robot_link_pb2.TransportCapability(max_payload_kg=NAN)},
         C.INVALID_ARGUMENT, "NOT_FINITE", "transport.max_payload_kg"),
        ("payload-1e6", {"transport": robot_link_pb2.TransportCapability(max_payload_kg=1e6)},
         C.INVALID_ARGUMENT, "OUT_OF_RANGE", "transport.max_payload_kg"),
        ("agv-without-transport", {"clear": "transport"}, C.INVALID_ARGUMENT, "REQUIRED",
         "transport"),
        ("welder-without-weld", {"kind": common_pb2.ROBOT_KIND_MOBILE_WELDER},
         C.INVALID_ARGUMENT, "REQUIRED", "weld"),
        ("weld-programs-65", {"weld": robot_link_pb2.WeldCapability(
            programs=[f"P{i}" for i in range(65)])}, C.INVALID_ARGUMENT, "TOO_MANY",
         "weld.programs"),
        ("weld-program-bad", {"weld": robot_link_pb2.WeldCapability(programs=["a b"])},
         C.INVALID_ARGUMENT, "INVALID_ID", "weld.programs[0]"),
        ("weld-programs-empty", {"kind": common_pb2.ROBOT_KIND_MOBILE_WELDER,
                                 "weld": robot_link_pb2.WeldCapability()},
         C.INVALID_ARGUMENT, "REQUIRED", "weld.programs")]:
    case(f"register-{name}", "Register", register(**changes), code, reason, field)


def _in_obstacle(w: World) -> object:
    floor = w.served.coordinator.floor  # type: ignore[attr-defined]
    p = floor.obstacles[0].polygon.representative_point()
    return w.link.Register(agv("probe", common_pb2.Pose(x=p.x, y=p.y)), timeout=10)


case("register-in-obstacle", "Register", _in_obstacle, C.FAILED_PRECONDITION, "INFEASIBLE",
     "pose")


# Connect: the hello, then states after a good hello.
def connect(first: robot_link_pb2.RobotUpdate | None = None,
            state: robot_link_pb2.RobotState | None = None) -> Call:
    def run(w: World) -> object:
        updates = []
        if first is not None:
            updates.append(first)
        else:
            reply = w.link.Register(agv("probe", w.park["park-3"]), timeout=10)
            updates.append(robot_link_pb2.RobotUpdate(hello=robot_link_pb2.Hello(
                robot_id="probe", session_id=reply.session_id)))
        if state is not None:
            updates.append(robot_link_pb2.RobotUpdate(state=state))
        return list(w.link.Connect(iter(updates), timeout=10))
    return run


def hello(robot_id: str, session_id: str) -> robot_link_pb2.RobotUpdate:
    return robot_link_pb2.RobotUpdate(hello=robot_link_pb2.Hello(robot_id=robot_id,
                                                                 session_id=session_id))


for name, first, code, reason, field in [
        ("state-first", robot_link_pb2.RobotUpdate(state=robot_link_pb2.RobotState(
            robot_id="agv-1")), C.INVALID_ARGUMENT, "REQUIRED", "hello"),
        ("robot_id-bad", hello("a b", "s"), C.INVALID_ARGUMENT, "INVALID_ID",
         "hello.robot_id"),
        ("robot_id-1MB", hello(MB, "s"), C.INVALID_ARGUMENT, "INVALID_ID", "hello.robot_id"),
        ("session-empty", hello("agv-1", ""), C.INVALID_ARGUMENT, "REQUIRED",
         "hello.session_id"),
        ("session-129", hello("agv-1", "s" * 129), C.INVALID_ARGUMENT, "TOO_LONG",
         "hello.session_id"),
        ("robot-unknown", hello("ghost", "s"), C.NOT_FOUND, "NOT_FOUND", "robot_id"),
        ("session-forged", hello("agv-1", "forged"), C.FAILED_PRECONDITION, "INFEASIBLE",
         "session")]:
    case(f"connect-{name}", "Connect", connect(first), code, reason, field)


def good_state(**changes: object) -> robot_link_pb2.RobotState:
    s = robot_link_pb2.RobotState(robot_id="probe", stamp_s=0.0, battery=0.9,
                                  mode=common_pb2.ROBOT_MODE_IDLE, seq=1)
    for key, value in changes.items():
        if key == "pose":
            s.pose.CopyFrom(value)  # type: ignore[arg-type]
        elif key == "faults":
            s.faults.extend(value)  # type: ignore[arg-type]
        else:
            setattr(s, key, value)
    return s


for name, changes, reason, field in [
        ("robot_id-other", {"robot_id": "agv-1"}, "INVALID_INPUT", "state.robot_id"),
        ("robot_id-bad", {"robot_id": "a b"}, "INVALID_ID", "state.robot_id"),
        ("stamp-nan", {"stamp_s": NAN}, "NOT_FINITE", "state.stamp_s"),
        ("stamp-neg", {"stamp_s": -1.0}, "OUT_OF_RANGE", "state.stamp_s"),
        ("pose-x-inf", {"pose": common_pb2.Pose(x=INF)}, "NOT_FINITE", "state.pose.x"),
        ("pose-y-1e9", {"pose": common_pb2.Pose(y=1e9)}, "OUT_OF_RANGE", "state.pose.y"),
        ("speed-nan", {"speed_mps": NAN}, "NOT_FINITE", "state.speed_mps"),
        ("speed-1000", {"speed_mps": 1000.0}, "OUT_OF_RANGE", "state.speed_mps"),
        ("battery-1.5", {"battery": 1.5}, "OUT_OF_RANGE", "state.battery"),
        ("battery-nan", {"battery": NAN}, "NOT_FINITE", "state.battery"),
        ("progress-2", {"action_progress": 2.0}, "OUT_OF_RANGE", "state.action_progress"),
        ("mode-99", {"mode": 99}, "UNKNOWN_ENUM", "state.mode"),
        ("action_status-99", {"action_status": 99}, "UNKNOWN_ENUM", "state.action_status"),
        ("path_id-129", {"path_id": "p" * 129}, "TOO_LONG", "state.path_id"),
        ("action_id-1MB", {"action_id": MB}, "TOO_LONG", "state.action_id"),
        ("load_id-bad", {"load_id": "a b"}, "INVALID_ID", "state.load_id"),
        ("faults-33", {"faults": ["f"] * 33}, "TOO_MANY", "state.faults"),
        ("fault-129", {"faults": ["f" * 129]}, "TOO_LONG", "state.faults[0]")]:
    case(f"state-{name}", "Connect", connect(state=good_state(**changes)), C.INVALID_ARGUMENT,
         reason, field)


# Gateway: an oversized batch ends the stream; a bad robot's join is refused alone.
def gateway(update: robot_link_pb2.GatewayUpdate) -> Call:
    def run(w: World) -> object:
        replies = list(w.link.Gateway(iter([update]), timeout=10))
        for batch in replies:
            for joined in batch.joined:
                if joined.code:
                    raise _JoinRefused(joined)
        return replies
    return run


class _JoinRefused(Exception):
    def __init__(self, joined: robot_link_pb2.JoinResult) -> None:
        super().__init__(joined.message)
        self.joined = joined


for name, update, field in [
        ("join-1001", robot_link_pb2.GatewayUpdate(join=[robot_link_pb2.RegisterRequest(
            robot_id=f"g{i}") for i in range(1001)]), "join"),
        ("states-1001", robot_link_pb2.GatewayUpdate(states=[robot_link_pb2.RobotState(
            robot_id="g") for _ in range(1001)]), "states"),
        ("leave-1001", robot_link_pb2.GatewayUpdate(leave=["g"] * 1001), "leave")]:
    case(f"gateway-{name}", "Gateway", gateway(update), C.INVALID_ARGUMENT, "TOO_MANY", field)
case("gateway-join-bad-robot", "Gateway",
     gateway(robot_link_pb2.GatewayUpdate(join=[robot_link_pb2.RegisterRequest(
         robot_id="bad id", kind=common_pb2.ROBOT_KIND_AGV)])), C.INVALID_ARGUMENT, "JOIN",
     "robot_id")

# SimClock.Advance.
for name, req, reason, field in [
        ("time-nan", simulation_pb2.AdvanceRequest(time_s=NAN), "NOT_FINITE", "time_s"),
        ("time-inf", simulation_pb2.AdvanceRequest(time_s=INF), "NOT_FINITE", "time_s"),
        ("time-neg", simulation_pb2.AdvanceRequest(time_s=-1.0), "OUT_OF_RANGE", "time_s"),
        ("time-1e11", simulation_pb2.AdvanceRequest(time_s=1e11), "OUT_OF_RANGE", "time_s"),
        ("wait-nan", simulation_pb2.AdvanceRequest(time_s=0, wait_timeout_s=NAN),
         "NOT_FINITE", "wait_timeout_s"),
        ("wait-neg", simulation_pb2.AdvanceRequest(time_s=0, wait_timeout_s=-1), "OUT_OF_RANGE",
         "wait_timeout_s"),
        ("wait-601", simulation_pb2.AdvanceRequest(time_s=0, wait_timeout_s=601),
         "OUT_OF_RANGE", "wait_timeout_s")]:
    case(f"advance-{name}", "Advance", lambda w, r=req: w.clock.Advance(r, timeout=10),
         C.INVALID_ARGUMENT, reason, field)


# -- the checks --------------------------------------------------------------------------------

def details_of(err: grpc.RpcError) -> tuple[error_details_pb2.ErrorInfo,
                                            error_details_pb2.BadRequest | None]:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None, "the error carries no google.rpc.Status"
    info, bad = None, None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
    assert info is not None, "the error carries no ErrorInfo"
    assert info.domain == "fleet.v1"
    return info, bad


def assert_unharmed(w: World) -> None:
    assert w.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status == \
        health_pb2.HealthCheckResponse.SERVING
    for mission_id, before in w.accepted.items():
        now = w.missions.Get(missions_pb2.GetMissionRequest(mission_id=mission_id), timeout=10)
        assert now == before, mission_id


def test_the_catalogue_is_large_and_covers_every_rpc_with_inputs() -> None:
    assert len(CASES) >= 150
    assert len({c.name for c in CASES}) == len(CASES)
    rpcs = {m.name for f in (missions_pb2, fleet_pb2, robot_link_pb2, simulation_pb2)
            for s in f.DESCRIPTOR.services_by_name.values() for m in s.methods
            if m.input_type.fields}
    assert rpcs - {c.rpc for c in CASES} == {"ListRobots"}  # one bool: nothing to get wrong


@pytest.mark.parametrize("bad", CASES, ids=[c.name for c in CASES])
def test_bad_request_is_refused_clearly(world: World, bad: Case) -> None:
    if bad.reason == "JOIN":
        with pytest.raises(_JoinRefused) as refused:
            bad.call(world)
        assert refused.value.joined.code == bad.code.value[0]
        assert bad.field in refused.value.joined.message
        assert len(refused.value.joined.message) < 1200
        assert_unharmed(world)
        return
    with pytest.raises(grpc.RpcError) as raised:
        bad.call(world)
    err = raised.value
    assert err.code() == bad.code, err.details()
    info, request = details_of(err)
    assert info.reason == bad.reason, err.details()
    named = [v.field for v in request.field_violations] if request else []
    assert any(bad.field in f for f in [*named, info.metadata.get("field", "")]) or \
        bad.field in err.details(), (named, err.details())
    # However long the value, the message and the details stay short and printable.
    assert len(err.details()) <= 1100
    assert err.details().isprintable()
    assert sum(len(v) for _, v in err.trailing_metadata() or ()) < 8000
    assert_unharmed(world)


def test_every_violation_is_reported_not_only_the_first(world: World) -> None:
    spec = move("bad id", deadline_s=NAN, priority=5000)
    spec.labels["k" * 100] = "v"
    spec.tasks[0].transport.mass_kg = -1
    spec.tasks[0].start_delay_s = INF
    with pytest.raises(grpc.RpcError) as raised:
        world.missions.Submit(missions_pb2.SubmitMissionRequest(mission=spec), timeout=10)
    info, bad = details_of(raised.value)
    assert bad is not None
    fields = {v.field for v in bad.field_violations}
    assert {"mission.mission_id", "mission.deadline_s", "mission.priority",
            "mission.labels key", "mission.tasks[0].transport.mass_kg",
            "mission.tasks[0].start_delay_s"} <= fields
    assert info.metadata["violations"] == str(len(bad.field_violations))
    assert "more problems" in raised.value.details()
    assert_unharmed(world)


def test_a_flood_of_violations_is_reported_bounded(world: World) -> None:
    spec = move("flood")
    for k in range(999):
        spec.tasks.add().CopyFrom(spec.tasks[0])
        spec.tasks[k + 1].task_id = f"bad id {k}"
    with pytest.raises(grpc.RpcError) as raised:
        world.missions.Submit(missions_pb2.SubmitMissionRequest(mission=spec), timeout=10)
    info, bad = details_of(raised.value)
    assert bad is not None and len(bad.field_violations) == 10
    assert info.metadata["violations"] == "999"
    assert_unharmed(world)


# -- fuzzing Submit ----------------------------------------------------------------------------

_text = st.one_of(st.sampled_from(["in-1", "out-1", "weld-1", "park-1", "agv-1", "BOOM-A",
                                   "t1", "t2", "part", ""]),
                  st.text(max_size=80), st.text(alphabet="ab-_.", min_size=1, max_size=70))
_number = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0.0, 1.0, 20.0, 100.0, 1e10, -1.0]))


@st.composite
def _tasks(draw: st.DrawFn) -> missions_pb2.TaskSpec:
    task = missions_pb2.TaskSpec(task_id=draw(_text), depends_on=draw(st.lists(_text,
                                                                                max_size=3)),
                                 start_delay_s=draw(_number))
    kind = draw(st.sampled_from(["transport", "weld", "charge", "park", "none"]))
    if kind == "transport":
        task.transport.CopyFrom(missions_pb2.TransportTask(
            pickup_station=draw(_text), dropoff_station=draw(_text), load_id=draw(_text),
            mass_kg=draw(_number)))
    elif kind == "weld":
        task.weld.CopyFrom(missions_pb2.WeldTask(cell_station=draw(_text), program=draw(_text),
                                                 duration_s=draw(_number),
                                                 part_load_id=draw(_text)))
    elif kind == "charge":
        task.charge.CopyFrom(missions_pb2.ChargeTask(robot_id=draw(_text),
                                                     charger_station=draw(_text)))
    elif kind == "park":
        task.park.CopyFrom(missions_pb2.ParkTask(robot_id=draw(_text), station=draw(_text)))
    return task


_missions = st.builds(
    lambda mission_id, tasks, priority, deadline, release, labels: missions_pb2.MissionSpec(
        mission_id=mission_id, tasks=tasks, priority=priority, deadline_s=deadline,
        release_s=release, labels=labels),
    _text, st.lists(_tasks(), max_size=4), st.integers(-(2**31), 2**31 - 1), _number, _number,
    st.dictionaries(_text, _text, max_size=3))


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(spec=_missions)
def test_fuzzed_submits_get_a_clear_status_never_a_crash(world: World,
                                                         spec: missions_pb2.MissionSpec) -> None:
    try:
        world.missions.Submit(missions_pb2.SubmitMissionRequest(mission=spec), timeout=10)
    except grpc.RpcError as err:
        assert err.code() in {C.INVALID_ARGUMENT, C.NOT_FOUND, C.FAILED_PRECONDITION,
                              C.ALREADY_EXISTS}, (err.code(), err.details())
        details_of(err)
        assert len(err.details()) <= 1100
    assert_unharmed(world)


def test_log_lines_of_a_pause_reason_are_escaped(world: World,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    from fleet.logs import EscapingFormatter, JsonFormatter

    reason = "blocked\n2026-01-01 00:00:00 INFO fleet: forged line\x1b[31m\x00"
    with caplog.at_level("INFO"):
        world.fleet.PauseRobot(fleet_pb2.PauseRobotRequest(robot_id="agv-1", reason=reason),
                               timeout=10)
        world.fleet.ResumeRobot(fleet_pb2.ResumeRobotRequest(robot_id="agv-1"), timeout=10)
    records = [r for r in caplog.records if "forged" in r.getMessage()]
    assert records, "the pause was not logged"
    for record in records:
        for formatter in (EscapingFormatter("%(levelname)s %(message)s"), JsonFormatter()):
            line = formatter.format(record)
            assert "\n" not in line and "\x1b" not in line and "\x00" not in line
    assert_unharmed(world)


