"""Commands are atomic under store failure: a write that fails changes nothing, a retry works.

The store fails on demand (`FailingStore`), as a lost database connection does: the call gets
`UnavailableError` ("nothing was changed"); the state, the robots and what they were told are
as before; once the store is back the same call succeeds.
"""

from __future__ import annotations

import copy

import pytest

from fleet.model import (
    EventKind,
    InfeasibleError,
    MissionState,
    StopAction,
    TaskState,
    UnavailableError,
)
from tests.unit.coordinator.lockstep import FailingStore, Lockstep, agv, transport

PARKING = [(7.5, 1.5), (9.5, 1.5), (11.5, 1.5)]


def busy_run() -> tuple[Lockstep, FailingStore]:
    """Two AGVs; agv-1 has picked its load and drives it, agv-2 drives to its pickup."""
    store = FailingStore()
    run = Lockstep([agv("agv-1", *PARKING[0]), agv("agv-2", *PARKING[1])], store=store)
    run.connect()
    run.submit(transport("first"), transport("second", "in-1", "weld-2"),
               transport("third", "buf-1", "out-1"))
    run.run(lambda: run.coordinator.get("first").tasks["move"].picked, max_s=300)
    assert run.coordinator.get("first").tasks["move"].picked
    return run, store


def test_cancel_when_the_store_fails_changes_nothing_and_a_retry_succeeds() -> None:
    run, store = busy_run()
    c = run.coordinator
    robot = c.get("first").tasks["move"].robot_id
    before = copy.deepcopy(c.state)
    events_before = len(store.events())
    store.failing = True
    with pytest.raises(UnavailableError):
        c.cancel("first", "no longer needed")
    assert c.state == before
    assert c.robots[robot].work is not None and str(c.robots[robot].work.key) == "first/move"
    out = c.take_output()
    assert not out.commands and not out.events
    store.failing = False
    c.cancel("first", "no longer needed")  # not FAILED_PRECONDITION: nothing had changed
    assert c.get("first").state is MissionState.CANCELLED
    out = c.take_output()
    assert [cmd for rid, _, cmd in out.commands if rid == robot] == [
        StopAction("cancel", "no longer needed")]
    written = store.events()[events_before:]
    assert [e.kind for e in written] == [EventKind.CANCELLED]
    with pytest.raises(InfeasibleError):
        c.cancel("first", "again")
    run.close()


def test_pause_when_the_store_fails_changes_nothing_and_a_retry_succeeds() -> None:
    run, store = busy_run()
    c = run.coordinator
    # agv-2 has not touched its task: a pause gives it back, which needs the store.
    other = next(rid for rid, r in c.robots.items()
                 if r.work is not None and not c.state.task(r.work.key).picked)
    key = c.robots[other].work.key
    before = copy.deepcopy(c.state)
    store.failing = True
    with pytest.raises(UnavailableError):
        c.pause(other, "tyre check")
    assert c.state == before and not c.robots[other].hold
    assert c.robots[other].work is not None and c.robots[other].work.key == key
    assert not c.take_output().commands
    store.failing = False
    c.pause(other, "tyre check")
    assert c.robots[other].hold == "tyre check"
    assert c.state.task(key).state is TaskState.PENDING
    assert [cmd for rid, _, cmd in c.take_output().commands if rid == other] == [
        StopAction("pause", "tyre check")]
    run.close()


def test_submit_when_the_store_fails_is_not_accepted_and_a_retry_is() -> None:
    run, store = busy_run()
    c = run.coordinator
    store.failing = True
    with pytest.raises(UnavailableError):
        c.submit(transport("late"))
    assert "late" not in c.missions
    store.failing = False
    c.submit(transport("late"))
    assert c.get("late").state is MissionState.ACCEPTED
    run.close()


def test_a_step_whose_write_fails_sends_nothing_until_its_events_are_written() -> None:
    run, store = busy_run()
    c = run.coordinator
    held_back = 0
    store.failing = True
    # Robots go on reporting and the coordinator deciding, but once a step's events could
    # not be written no robot is told anything.
    for _ in range(60):
        run.move()
        run.clock.advance_to(run.t)
        try:
            c.step()
        except UnavailableError:
            assert c.journal.pending
        if c.journal.pending:
            out = c.take_output()
            assert not out.commands and not out.events
        else:
            run.deliver()
        held_back = max(held_back, len(c.journal.pending))
    # The robots stopped at the end of what they were released: nothing further happened.
    assert held_back >= 1
    assert all(not r.moving for r in run.robots.values())
    store.failing = False
    run.tick()
    assert not c.journal.pending
    # What was decided while the store was down is written, in order, before anything new.
    kinds = [e.kind for e in store.events()]
    assert kinds.count(EventKind.ACCEPTED) == 3
    run.run(max_s=900)
    assert [run.state_of(m) for m in ("first", "second", "third")] == [
        MissionState.COMPLETED] * 3
    run.close()
