"""The event log is the state: replaying any prefix of a run rebuilds the live state exactly.

Random runs on the small floor (transports, welds, cancels, operator pauses, a robot fault,
a dropped link), each applied event snapshotted as it happened; then for every cut of the log
a fresh `FleetState` rebuilt from the stored events must equal the snapshot, and a coordinator
restarted from the store must be where the live one is.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest

from fleet.api.convert import mission_from_wire
from fleet.coordinator import Coordinator, FleetState, ManualClock
from fleet.coordinator.state import replay
from fleet.dispatch import HOLDING_KINDS
from fleet.model import FleetError, MissionEvent
from sim.scenario import make_missions
from tests.unit.coordinator.lockstep import Lockstep


def fresh_state(run: Lockstep) -> FleetState:
    holding = frozenset(s.id for s in run.floor.stations.values() if s.kind in HOLDING_KINDS)
    state = FleetState(run.floor.stations, holding)
    for entry in run.store.robots():
        state.register(entry.spec)
    return state


def random_run(seed: int, tmp_path: Path) -> tuple[Lockstep, list[FleetState]]:
    """A run with random trouble; returns it and the live state after each applied event."""
    rng = random.Random(seed)
    run = Lockstep(4, store=None, log=tmp_path / "run.jsonl")
    snapshots: list[FleetState] = []
    state = run.coordinator.state
    apply, accept = state.apply, state.accept

    def applied(event: MissionEvent) -> set[str]:
        changed = apply(event)
        snapshots.append(copy.deepcopy(state))
        return changed

    def accepted(mission):  # type: ignore[no-untyped-def]
        record = accept(mission)
        snapshots.append(copy.deepcopy(state))
        return record

    state.apply, state.accept = applied, accepted  # type: ignore[method-assign]
    run.connect()
    timed = [(t, mission_from_wire(spec)) for t, spec in
             make_missions(run.floor, 8, rng, spacing_s=rng.choice((5.0, 20.0)))]
    faulted = rng.choice(sorted(run.robots))
    fault_at = rng.uniform(40, 200)
    while run.t < 900 and (timed or run.coordinator.open_missions()):
        while timed and timed[0][0] <= run.t:
            run.submit(timed.pop(0)[1])
        roll = rng.random()
        try:
            if roll < 0.003:
                open_ = [m.mission.id for m in run.coordinator.list_missions()
                         if not m.state.finished]
                if open_:
                    run.coordinator.cancel(rng.choice(open_), "changed plans")
            elif roll < 0.008:
                run.coordinator.pause(rng.choice(sorted(run.robots)), "check")
            elif roll < 0.03:
                paused = [rid for rid, r in run.coordinator.robots.items() if r.hold]
                if paused:
                    run.coordinator.resume(rng.choice(paused))
        except FleetError:
            pass
        if fault_at <= run.t < fault_at + 0.5:
            run.robots[faulted].faults.append("bumper")
        run.tick()
    return run, snapshots


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_replaying_any_prefix_of_the_log_rebuilds_the_live_state(seed: int,
                                                                tmp_path: Path) -> None:
    run, snapshots = random_run(seed, tmp_path)
    try:
        events = run.store.events()
        missions = {m.id: m for m in run.store.missions()}
        assert len(events) == len(snapshots) > 20
        rng = random.Random(seed)
        cuts = sorted({*rng.sample(range(1, len(events) + 1), min(40, len(events))),
                       len(events)})
        for cut in cuts:
            state = fresh_state(run)
            replay(state, missions, events[:cut])
            assert state == snapshots[cut - 1], f"cut after event {cut}: {events[cut - 1]}"
        assert fresh_state(run) != snapshots[-1]  # the comparison can fail
        report = run.check()
        assert report.ok and not report.collisions
    finally:
        run.close()


def test_a_coordinator_restarted_from_its_store_is_where_the_live_one_was(
        tmp_path: Path) -> None:
    run, _ = random_run(5, tmp_path)
    try:
        live = run.coordinator
        again = Coordinator(run.floor, run.store, ManualClock(run.t), incarnation="b")
        assert again.state == live.state
        for rid, robot in live.robots.items():
            mine = again.robots[rid].work
            theirs = robot.work
            # Errands (charging, parking) are the live coordinator's own and are not kept.
            if theirs is None or theirs.key is None:
                assert mine is None
                continue
            assert mine is not None and (mine.key, mine.index, mine.name) == (
                theirs.key, theirs.index, theirs.name)
    finally:
        run.close()
