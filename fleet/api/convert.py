"""Wire messages to domain types and back. Generated code stops here."""

from __future__ import annotations

import math

from google.protobuf.timestamp_pb2 import Timestamp

from fleet.coordinator import CapabilityGroup, MissionRecord, RobotRecord
from fleet.floor import FloorMap
from fleet.model import (
    ActionKind,
    ActionStatus,
    Command,
    EventKind,
    FollowPath,
    InvalidInputError,
    Mission,
    MissionEvent,
    MissionState,
    PerformAction,
    Pose,
    RobotKind,
    RobotMode,
    RobotSpec,
    RobotState,
    StopAction,
    Task,
    TaskKind,
    TaskState,
    TransportCapability,
    WeldCapability,
)
from fleet.production import Order
from fleet.v1 import common_pb2, fleet_pb2, missions_pb2, robot_link_pb2

__all__ = [
    "command_to_wire",
    "event_to_wire",
    "floor_to_wire",
    "mission_from_wire",
    "mission_state_from_wire",
    "mission_to_spec",
    "mission_to_wire",
    "order_from_wire",
    "robot_to_wire",
    "spec_from_wire",
    "state_from_wire",
]

_KIND_FROM_WIRE = {
    common_pb2.ROBOT_KIND_AGV: RobotKind.AGV,
    common_pb2.ROBOT_KIND_MOBILE_WELDER: RobotKind.MOBILE_WELDER,
    common_pb2.ROBOT_KIND_FIXED_WELDER: RobotKind.FIXED_WELDER,
}
_KIND_TO_WIRE = {v: k for k, v in _KIND_FROM_WIRE.items()}
_MODE_FROM_WIRE = {
    common_pb2.ROBOT_MODE_UNSPECIFIED: RobotMode.IDLE,
    common_pb2.ROBOT_MODE_IDLE: RobotMode.IDLE,
    common_pb2.ROBOT_MODE_MOVING: RobotMode.MOVING,
    common_pb2.ROBOT_MODE_ACTING: RobotMode.ACTING,
    common_pb2.ROBOT_MODE_CHARGING: RobotMode.CHARGING,
    common_pb2.ROBOT_MODE_PAUSED: RobotMode.PAUSED,
    common_pb2.ROBOT_MODE_FAULT: RobotMode.FAULT,
}
_MODE_TO_WIRE = {v: k for k, v in _MODE_FROM_WIRE.items() if k}
_ACTION_STATUS_FROM_WIRE = {
    common_pb2.ACTION_STATUS_UNSPECIFIED: ActionStatus.NONE,
    common_pb2.ACTION_STATUS_RUNNING: ActionStatus.RUNNING,
    common_pb2.ACTION_STATUS_SUCCEEDED: ActionStatus.SUCCEEDED,
    common_pb2.ACTION_STATUS_FAILED: ActionStatus.FAILED,
}
_ACTION_TO_WIRE = {
    ActionKind.PICK: robot_link_pb2.ACTION_KIND_PICK,
    ActionKind.DROP: robot_link_pb2.ACTION_KIND_DROP,
    ActionKind.WELD: robot_link_pb2.ACTION_KIND_WELD,
    ActionKind.CHARGE: robot_link_pb2.ACTION_KIND_CHARGE,
}
_MISSION_STATE_TO_WIRE = {
    MissionState.ACCEPTED: missions_pb2.MISSION_STATE_ACCEPTED,
    MissionState.ACTIVE: missions_pb2.MISSION_STATE_ACTIVE,
    MissionState.COMPLETED: missions_pb2.MISSION_STATE_COMPLETED,
    MissionState.FAILED: missions_pb2.MISSION_STATE_FAILED,
    MissionState.CANCELLED: missions_pb2.MISSION_STATE_CANCELLED,
}
_MISSION_STATE_FROM_WIRE = {v: k for k, v in _MISSION_STATE_TO_WIRE.items()}
_TASK_STATE_TO_WIRE = {
    TaskState.PENDING: missions_pb2.TASK_STATE_PENDING,
    TaskState.ASSIGNED: missions_pb2.TASK_STATE_ASSIGNED,
    TaskState.ACTIVE: missions_pb2.TASK_STATE_ACTIVE,
    TaskState.DONE: missions_pb2.TASK_STATE_DONE,
    TaskState.FAILED: missions_pb2.TASK_STATE_FAILED,
    TaskState.CANCELLED: missions_pb2.TASK_STATE_CANCELLED,
}
_EVENT_TO_WIRE = {
    EventKind.ACCEPTED: missions_pb2.MISSION_EVENT_ACCEPTED,
    EventKind.ASSIGNED: missions_pb2.MISSION_EVENT_ASSIGNED,
    EventKind.UNASSIGNED: missions_pb2.MISSION_EVENT_UNASSIGNED,
    EventKind.STARTED: missions_pb2.MISSION_EVENT_STARTED,
    EventKind.STEP_DONE: missions_pb2.MISSION_EVENT_STEP_DONE,
    EventKind.TASK_DONE: missions_pb2.MISSION_EVENT_TASK_DONE,
    EventKind.COMPLETED: missions_pb2.MISSION_EVENT_COMPLETED,
    EventKind.FAILED: missions_pb2.MISSION_EVENT_FAILED,
    EventKind.CANCELLED: missions_pb2.MISSION_EVENT_CANCELLED,
}


def _finite(field: str, value: float) -> float:
    if not math.isfinite(value):
        raise InvalidInputError(f"{field} {value} is not a finite number", field=field,
                                value=value)
    return value


def _pose(field: str, msg: common_pb2.Pose) -> Pose:
    x, y, theta = msg.x, msg.y, msg.theta
    if not math.isfinite(x + y + theta):  # finite only if all three are (inf - inf is nan)
        _finite(f"{field}.x", x)
        _finite(f"{field}.y", y)
        _finite(f"{field}.theta", theta)
    return Pose(x, y, theta)


def spec_from_wire(req: robot_link_pb2.RegisterRequest) -> tuple[RobotSpec, Pose]:
    """A registration as a robot spec and the pose it stands at."""
    kind = _KIND_FROM_WIRE.get(req.kind)
    if kind is None:
        raise InvalidInputError(f"kind {req.kind} is not a robot kind", field="kind",
                                value=req.kind)
    if not req.HasField("pose"):
        raise InvalidInputError("pose is required", field="pose", value=None)
    transport = (TransportCapability(_finite("transport.max_payload_kg",
                                             req.transport.max_payload_kg))
                 if req.HasField("transport") else None)
    weld = (WeldCapability(frozenset(req.weld.programs)) if req.HasField("weld") else None)
    spec = RobotSpec(req.robot_id, kind,
                     _finite("footprint_radius_m", req.footprint_radius_m),
                     _finite("max_speed_mps", req.max_speed_mps), transport, weld)
    return spec, _pose("pose", req.pose)


def state_from_wire(msg: robot_link_pb2.RobotState) -> RobotState:
    """A robot's state report."""
    mode = _MODE_FROM_WIRE.get(msg.mode)
    if mode is None:
        raise InvalidInputError(f"state.mode {msg.mode} is not a robot mode",
                                field="state.mode", value=msg.mode)
    status = _ACTION_STATUS_FROM_WIRE.get(msg.action_status)
    if status is None:
        raise InvalidInputError(f"state.action_status {msg.action_status} is not an action "
                                "status", field="state.action_status", value=msg.action_status)
    battery = _finite("state.battery", msg.battery)
    if not 0.0 <= battery <= 1.0:
        raise InvalidInputError(f"state.battery {battery} is outside 0..1",
                                field="state.battery", value=battery)
    return RobotState(
        robot_id=msg.robot_id, stamp_s=_finite("state.stamp_s", msg.stamp_s),
        pose=_pose("state.pose", msg.pose), speed_mps=_finite("state.speed_mps", msg.speed_mps),
        battery=battery, mode=mode, path_id=msg.path_id,
        waypoints_reached=msg.waypoints_reached, action_id=msg.action_id,
        action_status=status, action_progress=msg.action_progress, load_id=msg.load_id,
        faults=tuple(msg.faults), seq=msg.seq)


def capability_to_wire(group: CapabilityGroup) -> fleet_pb2.Capability:
    """One group of `Fleet.ListCapabilities`."""
    return fleet_pb2.Capability(
        kind=_KIND_TO_WIRE[group.kind], max_payload_kg=group.max_payload_kg,
        programs=group.programs, cell_station=group.cell_station, robot_ids=group.robot_ids,
        declared_count=group.declared_count)


def command_to_wire(seq: int, command: Command) -> robot_link_pb2.RobotCommand:
    """A command as the robot receives it."""
    out = robot_link_pb2.RobotCommand(seq=seq)
    if isinstance(command, FollowPath):
        out.follow_path.path_id = command.path_id
        out.follow_path.first_index = command.first_index
        out.follow_path.complete = command.complete
        for w in command.waypoints:
            out.follow_path.waypoints.add(x=w.x, y=w.y, theta=w.theta, t_s=w.t_s,
                                          max_speed_mps=w.max_speed_mps)
        for w in command.planned:
            out.follow_path.planned.add(x=w.x, y=w.y, theta=w.theta, t_s=w.t_s,
                                        max_speed_mps=w.max_speed_mps)
    elif isinstance(command, PerformAction):
        out.action.CopyFrom(robot_link_pb2.PerformAction(
            action_id=command.action_id, kind=_ACTION_TO_WIRE[command.kind],
            station_id=command.station_id, load_id=command.load_id, program=command.program,
            duration_s=command.duration_s))
    elif isinstance(command, StopAction):
        if command.kind == "pause":
            out.pause.reason = command.reason
        elif command.kind == "resume":
            out.resume.SetInParent()
        else:
            out.cancel.reason = command.reason
    return out


def mission_from_wire(msg: missions_pb2.MissionSpec) -> Mission:
    """A submitted mission; field checks that need the floor happen in the coordinator."""
    tasks = []
    for i, t in enumerate(msg.tasks):
        which = t.WhichOneof("kind")
        if which == "transport":
            tr = t.transport
            tasks.append(Task(t.task_id, TaskKind.TRANSPORT, tuple(t.depends_on),
                              pickup=tr.pickup_station, dropoff=tr.dropoff_station,
                              load_id=tr.load_id, mass_kg=tr.mass_kg,
                              delay_s=_delay(i, t.start_delay_s)))
        elif which == "weld":
            w = t.weld
            tasks.append(Task(t.task_id, TaskKind.WELD, tuple(t.depends_on), cell=w.cell_station,
                              program=w.program, duration_s=w.duration_s,
                              load_id=w.part_load_id, delay_s=_delay(i, t.start_delay_s)))
        elif which == "charge":
            tasks.append(Task(t.task_id, TaskKind.CHARGE, tuple(t.depends_on),
                              cell=t.charge.charger_station, robot=t.charge.robot_id,
                              delay_s=_delay(i, t.start_delay_s)))
        elif which == "park":
            tasks.append(Task(t.task_id, TaskKind.PARK, tuple(t.depends_on),
                              cell=t.park.station, robot=t.park.robot_id,
                              delay_s=_delay(i, t.start_delay_s)))
        else:
            raise InvalidInputError(f"mission.tasks[{i}] is none of transport, weld, charge, "
                                    "park", field=f"mission.tasks[{i}]", value=t.task_id)
    deadline = _finite("mission.deadline_s", msg.deadline_s)
    release = _finite("mission.release_s", msg.release_s)
    if release < 0:
        raise InvalidInputError(f"mission.release_s {release} is negative",
                                field="mission.release_s", value=release)
    return Mission(msg.mission_id, tuple(tasks), msg.priority,
                   deadline if deadline != 0 else None, labels=dict(msg.labels),
                   release_s=release if release != 0 else None)


def _delay(index: int, value: float) -> float:
    field = f"mission.tasks[{index}].start_delay_s"
    delay = _finite(field, value)
    if delay < 0:
        raise InvalidInputError(f"{field} {delay} is negative", field=field, value=delay)
    return delay


def order_from_wire(msg: missions_pb2.SubmitOrderRequest) -> Order:
    """A production order; the routing and its checks come with `expand_order`."""
    release = _finite("order.release_s", msg.release_s)
    deadline = _finite("order.deadline_s", msg.deadline_s)
    return Order(msg.order_id, msg.model, msg.count or 1, release,
                 deadline if deadline != 0 else None, msg.priority, dict(msg.labels))


def mission_state_from_wire(value: int) -> MissionState:
    """A state filter value."""
    state = _MISSION_STATE_FROM_WIRE.get(value)  # type: ignore[call-overload]
    if state is None:
        raise InvalidInputError(f"states contains {value}, not a mission state",
                                field="states", value=value)
    return state  # type: ignore[no-any-return]


def mission_to_spec(mission: Mission) -> missions_pb2.MissionSpec:
    """A domain mission as a planner submits it (the inverse of `mission_from_wire`)."""
    spec = missions_pb2.MissionSpec(mission_id=mission.id, priority=mission.priority,
                                    deadline_s=mission.deadline_s or 0.0,
                                    release_s=mission.release_s or 0.0,
                                    labels=mission.labels)
    spec.tasks.extend(_task_spec(t) for t in mission.tasks)
    return spec


def _task_spec(task: Task) -> missions_pb2.TaskSpec:
    out = missions_pb2.TaskSpec(task_id=task.id, depends_on=list(task.depends_on),
                                start_delay_s=task.delay_s)
    if task.kind is TaskKind.TRANSPORT:
        out.transport.CopyFrom(missions_pb2.TransportTask(
            pickup_station=task.pickup, dropoff_station=task.dropoff, load_id=task.load_id,
            mass_kg=task.mass_kg))
    elif task.kind is TaskKind.CHARGE:
        out.charge.CopyFrom(missions_pb2.ChargeTask(robot_id=task.robot,
                                                    charger_station=task.cell))
    elif task.kind is TaskKind.PARK:
        out.park.CopyFrom(missions_pb2.ParkTask(robot_id=task.robot, station=task.cell))
    else:
        out.weld.CopyFrom(missions_pb2.WeldTask(cell_station=task.cell, program=task.program,
                                                duration_s=task.duration_s,
                                                part_load_id=task.load_id))
    return out


def mission_to_wire(record: MissionRecord) -> missions_pb2.MissionStatus:
    """A mission's status."""
    m = record.mission
    out = missions_pb2.MissionStatus(
        mission_id=m.id, state=_MISSION_STATE_TO_WIRE[record.state], priority=m.priority,
        deadline_s=m.deadline_s or 0.0, reason=record.reason, submitted_s=m.submitted_s,
        finished_s=record.finished_s, labels=m.labels, release_s=m.release_s or 0.0)
    for t in record.tasks.values():
        out.tasks.add(spec=_task_spec(t.task), state=_TASK_STATE_TO_WIRE[t.state],
                      robot_id=t.robot_id, steps_done=t.steps_done,
                      steps_total=t.steps_total or (4 if t.task.kind is TaskKind.TRANSPORT
                                                    else 2))
    return out


def event_to_wire(e: MissionEvent, written: Timestamp | None = None
                  ) -> missions_pb2.MissionEventMessage:
    """A mission event."""
    out = missions_pb2.MissionEventMessage(
        seq=e.seq, kind=_EVENT_TO_WIRE[e.kind], mission_id=e.mission_id, task_id=e.task_id,
        robot_id=e.robot_id, step=e.step, detail=e.detail, time_s=e.time_s)
    if written is not None:
        out.written_at.CopyFrom(written)
    return out


def robot_to_wire(record: RobotRecord, latest: RobotState | None = None
                  ) -> fleet_pb2.RobotInfo:
    """A robot as operators see it, with its `latest` report if newer than its record's."""
    spec, state = record.spec, latest or record.state
    out = fleet_pb2.RobotInfo(robot_id=spec.id, kind=_KIND_TO_WIRE[spec.kind],
                              connected=record.connected, footprint_radius_m=spec.radius_m,
                              max_speed_mps=spec.max_speed_mps,
                              paused_reason=record.hold)
    if state is not None:
        out.pose.CopyFrom(common_pb2.Pose(x=state.pose.x, y=state.pose.y,
                                          theta=state.pose.theta))
        out.mode = _MODE_TO_WIRE[state.mode]
        out.battery = state.battery
        out.load_id = state.load_id
        out.faults.extend(state.faults)
    if record.work is not None and record.work.key is not None:
        out.current_task = str(record.work.key)
    return out


def floor_to_wire(floor: FloorMap) -> fleet_pb2.FloorMap:
    """The floor map."""
    def poly(p: object) -> fleet_pb2.Polygon:
        coords = list(p.exterior.coords)[:-1]  # type: ignore[attr-defined]
        return fleet_pb2.Polygon(xy=[v for xy in coords for v in xy])

    out = fleet_pb2.FloorMap(name=floor.name, resolution_m=floor.resolution_m,
                             outline=poly(floor.outline), yaml=floor.source_text)
    for o in floor.obstacles:
        out.obstacles.append(poly(o.polygon))
    for z in floor.zones:
        out.zones.add(id=z.id, kind=z.kind.value, polygon=poly(z.polygon),
                      speed_limit_mps=z.speed_limit_mps or 0.0)
    for s in floor.stations.values():
        out.stations.add(id=s.id, kind=s.kind.value, area=s.area,
                         pose=common_pb2.Pose(x=s.pose.x, y=s.pose.y, theta=s.pose.theta))
    return out
