"""A coordinator in one process with simulated robots in lockstep: no gRPC, no threads.

The robots are the simulator's (`sim.robot.SimRobot`); commands and states pass through the
same wire conversions as over gRPC (`fleet.api.convert`). Every tick writes the robots' poses
to a trajectory log, which the independent checker (`sim.check`) reads.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from fleet.api.convert import command_to_wire, state_from_wire
from fleet.coordinator import Coordinator, CoordinatorConfig, ManualClock
from fleet.dispatch import Dispatcher
from fleet.floor import load_floor
from fleet.model import (
    EventKind,
    Mission,
    MissionEvent,
    MissionState,
    Pose,
    Registration,
    RobotKind,
    RobotSpec,
    Task,
    TaskKind,
    TransportCapability,
    UnavailableError,
    WeldCapability,
)
from fleet.store import EventStore, SqliteStore
from sim.check import CheckReport, check_log
from sim.robot import SimRobot
from sim.scenario import make_fleet
from sim.trajlog import TrajectoryLog
from tests.conftest import SMALL_MAP

TICK_S = 0.5


def agv(name: str, x: float, y: float, payload: float = 1000.0) -> tuple[RobotSpec, Pose]:
    """An AGV standing at (x, y)."""
    return (RobotSpec(name, RobotKind.AGV, 0.45, 1.0,
                      transport=TransportCapability(payload)), Pose(x, y, 0.0))


def welder(name: str, x: float, y: float, programs: Iterable[str] = ("BOOM-A",),
           kind: RobotKind = RobotKind.MOBILE_WELDER) -> tuple[RobotSpec, Pose]:
    """A welder standing at (x, y)."""
    return (RobotSpec(name, kind, 0.45, 1.0, weld=WeldCapability(frozenset(programs))),
            Pose(x, y, 0.0))


def transport(mission_id: str, pickup: str = "in-1", dropoff: str = "out-1", *,
              mass: float = 100.0, **fields: object) -> Mission:
    """A one-task transport mission."""
    return Mission(mission_id, (Task("move", TaskKind.TRANSPORT, pickup=pickup,
                                     dropoff=dropoff, load_id=f"{mission_id}-load",
                                     mass_kg=mass),), **fields)  # type: ignore[arg-type]


def weld_chain(mission_id: str, cell: str, tasks: int, duration_s: float = 1.0) -> Mission:
    """A chain of `tasks` welds at one cell, each after the one before."""
    return Mission(mission_id, tuple(
        Task(f"w{k}", TaskKind.WELD, depends_on=(f"w{k - 1}",) if k else (), cell=cell,
             program="BOOM-A", duration_s=duration_s) for k in range(tasks)))


class Lockstep:
    """A coordinator and its robots, stepped together (see the module)."""

    def __init__(self, fleet: Iterable[tuple[RobotSpec, Pose]] | int = 4, *,
                 map_path: Path = SMALL_MAP, store: EventStore | None = None,
                 dispatcher: Dispatcher | None = None,
                 config: CoordinatorConfig | None = None, log: Path | None = None,
                 incarnation: str = "a") -> None:
        self.map_path = map_path
        self.floor = load_floor(map_path)
        self.store = store if store is not None else SqliteStore(":memory:")
        self.clock = ManualClock()
        if isinstance(fleet, int):
            fleet = make_fleet(self.floor, fleet, random.Random(0))
        self.robots = {spec.id: SimRobot(spec, pose) for spec, pose in fleet}
        self.coordinator = Coordinator(self.floor, self.store, self.clock, config, dispatcher,
                                       incarnation=incarnation)
        self.streams: dict[str, int] = {}
        self.seq: dict[str, int] = {}
        self.t = 0.0
        self.events: list[MissionEvent] = []
        self.log_path = log
        self._log = (TrajectoryLog(log, map_path, [(r.spec.id, r.spec.radius_m,
                                                     r.spec.max_speed_mps)
                                                    for r in self.robots.values()])
                     if log is not None else None)

    # -- robots --------------------------------------------------------------------------
    def connect(self, *robot_ids: str) -> None:
        """Register and connect robots (all by default), as a driver would."""
        for rid in robot_ids or tuple(self.robots):
            robot = self.robots[rid]
            session = self.coordinator.register(robot.spec, robot.pose)
            self.streams[rid] = self.coordinator.connect(rid, session)
            self.deliver()

    def disconnect(self, robot_id: str) -> None:
        """The robot's stream drops."""
        self.coordinator.disconnect(robot_id, self.streams.pop(robot_id))

    # -- time ----------------------------------------------------------------------------
    def tick(self) -> None:
        """Move the robots one tick, report their states, step the coordinator, hand them
        the commands."""
        self.move()
        self.clock.advance_to(self.t)
        self.coordinator.step()
        self.deliver()

    def move(self) -> None:
        """Move the robots one tick and report their states (no step)."""
        for k in range(5):
            for robot in self.robots.values():
                robot.tick(self.t + (k + 1) * TICK_S / 5, TICK_S / 5)
        self.t = round(self.t + TICK_S, 6)
        if self._log is not None:
            self._log.write(self.t, {rid: (r.pose.x, r.pose.y, r.pose.theta)
                                     for rid, r in self.robots.items()})
        for rid, stream in self.streams.items():
            self.coordinator.report(rid, stream, state_from_wire(self.robots[rid].state(self.t)))

    def run(self, until: Callable[[], bool] | None = None, max_s: float = 2000.0) -> float:
        """Tick until `until()` holds (default: no mission open) or `max_s` have passed."""
        done = until or (lambda: self.coordinator.open_missions() == 0)
        while self.t < max_s and not done():
            self.tick()
        return self.t

    def deliver(self) -> None:
        """Hand the robots the commands the coordinator has released, note its events."""
        out = self.coordinator.take_output()
        self.events.extend(out.events)
        for rid, stream, command in out.commands:
            if self.streams.get(rid) == stream:
                self.seq[rid] = self.seq.get(rid, 0) + 1
                self.robots[rid].apply(command_to_wire(self.seq[rid], command))

    # -- missions --------------------------------------------------------------------------
    def submit(self, *missions: Mission) -> None:
        """Submit missions now."""
        for mission in missions:
            self.coordinator.submit(mission)
            self.deliver()

    def state_of(self, mission_id: str) -> MissionState:
        """Where a mission stands."""
        return self.coordinator.get(mission_id).state

    def kinds(self, mission_id: str) -> list[EventKind]:
        """The kinds of a mission's events so far, in order."""
        return [e.kind for e in self.events if e.mission_id == mission_id]

    def check(self) -> CheckReport:
        """The independent checker's report on the trajectory log so far."""
        assert self._log is not None and self.log_path is not None
        self._log.flush()
        return check_log(self.log_path, map_path=self.map_path)

    def close(self) -> None:
        """Close the log and the store."""
        if self._log is not None:
            self._log.close()
        self.store.close()


class FailingStore:
    """A SQLite store in memory whose writes fail on demand, as a lost database would:
    `UnavailableError`, nothing written."""

    def __init__(self) -> None:
        self.inner = SqliteStore(":memory:")
        self.failing = False
        self.refused = 0

    def _check(self) -> None:
        if self.failing:
            self.refused += 1
            raise UnavailableError("the test store is down; nothing was changed",
                                   field="store")

    def add_mission(self, mission: Mission, accepted: MissionEvent) -> MissionEvent:
        self._check()
        return self.inner.add_mission(mission, accepted)

    def append(self, events: Sequence[MissionEvent]) -> list[MissionEvent]:
        self._check()
        return self.inner.append(events)

    def put_robot(self, spec: RobotSpec, home_station: str = "") -> None:
        self._check()
        self.inner.put_robot(spec, home_station)

    def missions(self) -> list[Mission]:
        return self.inner.missions()

    def events(self, after_seq: int = 0, mission_id: str | None = None) -> list[MissionEvent]:
        return self.inner.events(after_seq, mission_id)

    def robots(self) -> list[Registration]:
        return self.inner.robots()

    def close(self) -> None:
        self.inner.close()
