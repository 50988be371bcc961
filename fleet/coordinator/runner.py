"""Running a coordinator beside an event loop: its calls on one worker thread, never the loop.

The loop serves gRPC (robot streams, planners, health checks); every coordinator call, the
control step with its planning, dispatch and store transaction included, runs on the
runner's one worker thread, in the order the loop hands them over. The loop never waits for
a step: while one runs it goes on answering calls and taking in robot reports (`Inbox`).
After each call the loop delivers what it produced: commands to the robots' streams,
events to watchers. Repeated failed steps turn the runner unhealthy, with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

from fleet.coordinator.core import Coordinator
from fleet.coordinator.journal import Output
from fleet.model import Command, FleetError, MissionEvent, RobotState, UnavailableError

__all__ = ["RECENT_EVENTS", "Addressed", "Channel", "CoordinatorRunner"]

RECENT_EVENTS = 200
"""Events a newly opened view is shown from before it opened."""

log = logging.getLogger(__name__)
T = TypeVar("T")

UNHEALTHY_AFTER = 3
"""Consecutive failed control steps after which the runner reports itself not serving."""


class Addressed(NamedTuple):
    """A command for one robot of a gateway."""

    robot_id: str
    seq: int
    command: Command


class Channel:
    """The command stream to one connected robot; commands are numbered from 1.

    A robot on a stream of its own reads its commands from `queue`; a robot that joined
    through a gateway has its commands handed to the gateway's `sink` instead, addressed.
    """

    def __init__(self, robot_id: str, stream: int, session_id: str = "",
                 sink: Callable[[Addressed], None] | None = None) -> None:
        self.robot_id = robot_id
        self.stream = stream
        self.session_id = session_id
        self.sink = sink
        self.queue: asyncio.Queue[tuple[int, Command] | None] = asyncio.Queue()
        self.seq = 0
        self.closed = False
        self.ended = False
        """True once the coordinator has been told the stream ended."""

    def send(self, command: Command) -> int:
        """Queue a command; returns its sequence number."""
        self.seq += 1
        if self.sink is not None:
            self.sink(Addressed(self.robot_id, self.seq, command))
        else:
            self.queue.put_nowait((self.seq, command))
        return self.seq

    def close(self) -> None:
        """End the stream (the server side stops iterating)."""
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)


@dataclass(slots=True)
class _Outcome(Generic[T]):
    value: T | None
    error: BaseException | None
    output: Output


class CoordinatorRunner:
    """A coordinator on a worker thread, its robots' command streams and its watchers.

    `on_health(serving, reason)` is called (on the loop) when the runner turns unhealthy
    after `UNHEALTHY_AFTER` failed steps in a row, and when a step succeeds again.
    """

    def __init__(self, coordinator: Coordinator,
                 on_health: Callable[[bool, str], None] | None = None) -> None:
        self.coordinator = coordinator
        self.on_health = on_health
        self.channels: dict[str, Channel] = {}
        self.serving = True
        self.reason = ""
        self._watchers: list[asyncio.Queue[MissionEvent]] = []
        self._recent: deque[MissionEvent] = deque(maxlen=RECENT_EVENTS)
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="fleet-coordinator")
        self._closed = False
        self._failed_steps = 0
        self._ended: set[tuple[str, str]] = set()
        self.step_observers: list[Callable[[Coordinator], None]] = []
        """Called on the worker after each control step (metrics read `step_times` there)."""
        self.delivery_observers: list[Callable[[Coordinator], None]] = []
        """Called on the loop once a control step's commands are on the robots' streams."""

    # -- calls -------------------------------------------------------------------------------
    async def call(self, fn: Callable[[Coordinator], T]) -> T:
        """Run `fn(coordinator)` on the worker thread; deliver its output; return its value
        (or raise its error, after delivering what it produced before raising)."""
        outcome = await self._submit(fn)
        self._deliver(outcome.output)
        if outcome.error is not None:
            raise outcome.error
        return outcome.value  # type: ignore[return-value]

    def _submit(self, fn: Callable[[Coordinator], T]) -> asyncio.Future[_Outcome[T]]:
        """Queue `fn` on the worker now (calls run in the order they are submitted);
        UnavailableError once the runner is closing (the server is stopping)."""
        if self._closed:
            raise UnavailableError("the coordinator is shutting down", retry_after_s=1.0)
        return asyncio.get_running_loop().run_in_executor(self._worker, self._run, fn)

    def _run(self, fn: Callable[[Coordinator], T]) -> _Outcome[T]:
        try:
            value: T | None = fn(self.coordinator)
            error: BaseException | None = None
        except Exception as err:
            value, error = None, err
        return _Outcome(value, error, self.coordinator.take_output())

    async def step(self, before: Callable[[Coordinator], bool] | None = None) -> bool:
        """One control step; counts failures toward the health status.

        `before(coordinator)`, if given, runs first in the same worker call: the step runs
        only if it returns True (nothing can happen in between). Returns whether it ran.
        """
        def run(c: Coordinator) -> bool:
            if before is not None and not before(c):
                return False
            try:
                c.step()
            finally:
                for observe in self.step_observers:
                    observe(c)
            return True
        try:
            ran = await self.call(run)
            for observe in self.delivery_observers:
                observe(self.coordinator)
        except Exception as err:
            self._failed_steps += 1
            if self._failed_steps >= UNHEALTHY_AFTER and self.serving:
                self._set_health(False, f"{self._failed_steps} control steps in a row failed; "
                                        f"the last: {err!r}")
            raise
        if ran and self._failed_steps:
            self._failed_steps = 0
            if not self.serving:
                self._set_health(True, "")
        return ran

    async def run_ticker(self, period_s: float) -> None:
        """The wall clock's control loop, for ever: a step every `period_s`, start to start
        (a report waits at most one period for the step that takes it in); a step that
        overruns is followed by the next at once, after a yield to the event loop."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            try:
                await self.step()
            except Exception:
                log.exception("control step failed; continuing")
            due = max(due + period_s, loop.time())
            await asyncio.sleep(due - loop.time())

    def _set_health(self, serving: bool, reason: str) -> None:
        self.serving, self.reason = serving, reason
        if serving:
            log.warning("control steps succeed again: serving")
        else:
            log.error("not serving: %s", reason)
        if self.on_health is not None:
            self.on_health(serving, reason)

    # -- robot streams ----------------------------------------------------------------------
    async def register(self, fn: Callable[[Coordinator], T], robot_id: str) -> T:
        """A robot registers (`fn` calls `Coordinator.register`): a stream of it that has
        ended but not been torn down yet is told to the coordinator first."""
        channel = self.channels.get(robot_id)
        if channel is not None and channel.closed:
            self.disconnect(robot_id, channel)
        return await self.call(fn)

    async def connect(self, robot_id: str, session_id: str) -> Channel:
        """Open a robot's command stream (see `Coordinator.connect`)."""
        outcome = await self._submit(lambda c: c.connect(robot_id, session_id))
        channel = None
        if outcome.error is None:
            assert outcome.value is not None
            channel = self.channels[robot_id] = Channel(robot_id, outcome.value, session_id)
        self._deliver(outcome.output)
        if outcome.error is not None:
            raise outcome.error
        assert channel is not None
        if (robot_id, session_id) in self._ended:
            # The call ended while it was being connected (`stream_ended`).
            self._ended.discard((robot_id, session_id))
            channel.close()
            channel.ended = True
            del self.channels[robot_id]
        return channel

    async def join(self, joins: Sequence[tuple[str, Callable[[Coordinator], tuple[T, str]]]],
                   sink: Callable[[Addressed], None],
                   joined: Callable[[list[tuple[T, Channel] | FleetError]], None]
                   ) -> list[tuple[T, Channel] | FleetError]:
        """Robots join through a gateway, in one worker call: for each (robot id, `register`)
        pair, `register(coordinator)` registers the robot (returning a reply and the session
        id) and its stream opens at once, with commands going to `sink`. A robot that cannot
        join gets its error in its place; the others are not affected. `joined(results)` runs
        before the commands the joins produced are handed to `sink`."""
        for robot_id, _ in joins:
            stale = self.channels.get(robot_id)
            if stale is not None and stale.closed:
                self.disconnect(robot_id, stale)

        def run(c: Coordinator) -> list[tuple[T, str, int] | FleetError]:
            out: list[tuple[T, str, int] | FleetError] = []
            for robot_id, register in joins:
                try:
                    value, session = register(c)
                    out.append((value, session, c.connect(robot_id, session)))
                except FleetError as err:
                    out.append(err)
            return out
        outcome = await self._submit(run)
        results: list[tuple[T, Channel] | FleetError] = []
        for (robot_id, _), item in zip(joins, outcome.value or (), strict=False):
            if isinstance(item, FleetError):
                results.append(item)
                continue
            value, session, stream = item
            channel = self.channels[robot_id] = Channel(robot_id, stream, session, sink)
            results.append((value, channel))
        joined(results)
        self._deliver(outcome.output)
        if outcome.error is not None:
            raise outcome.error
        return results

    def stream_ended(self, robot_id: str, session_id: str) -> None:
        """The robot's call ended (gRPC says so at once, even while its stream is still
        being opened): the coordinator hears of it before any later call of the robot."""
        channel = self.channels.get(robot_id)
        if channel is not None and channel.session_id == session_id:
            self.disconnect(robot_id, channel)
            return
        self._ended.add((robot_id, session_id))
        self._tell(lambda c: c.end_session(robot_id, session_id))

    def disconnect(self, robot_id: str, channel: Channel) -> None:
        """The robot's stream ended; the coordinator hears of it on the worker (once)."""
        channel.close()
        if channel.ended:
            return
        channel.ended = True
        if self.channels.get(robot_id) is channel:
            del self.channels[robot_id]
        stream = channel.stream
        self._tell(lambda c: c.disconnect(robot_id, stream))

    def _tell(self, fn: Callable[[Coordinator], None]) -> None:
        """Queue `fn` on the worker without waiting for it; once the runner is closing, streams
        that end as the server stops have no one left to tell (the worker takes no more)."""
        if self._closed:
            return
        self._submit(fn).add_done_callback(self._delivered)

    def _delivered(self, done: asyncio.Future[_Outcome[None]]) -> None:
        outcome = done.result()
        self._deliver(outcome.output)
        if outcome.error is not None:
            log.error("a coordinator call failed: %r", outcome.error)

    def report(self, robot_id: str, channel: Channel, state: RobotState) -> None:
        """A state report arrived on the robot's stream (InvalidInputError if it names
        another robot)."""
        self.coordinator.report(robot_id, channel.stream, state)

    def all_reported(self, t_s: float) -> bool:
        """True if every robot connected to the coordinator has a report stamped at or after
        `t_s` (as of now: a stream being opened on the worker may not count yet)."""
        return self.coordinator.inbox.all_reported(t_s)

    def last_command_seq(self) -> dict[str, int]:
        """Sequence number of the last command sent on each open stream."""
        return {rid: ch.seq for rid, ch in self.channels.items() if not ch.closed}

    # -- watchers ----------------------------------------------------------------------------
    def watch(self) -> asyncio.Queue[MissionEvent]:
        """A queue receiving every event written from now on; `unwatch` it when done."""
        queue: asyncio.Queue[MissionEvent] = asyncio.Queue()
        self._watchers.append(queue)
        return queue

    def watch_recent(self) -> tuple[list[MissionEvent], asyncio.Queue[MissionEvent]]:
        """The last `RECENT_EVENTS` events written since the start, and a queue of those
        written from now on (none missed, none twice); `unwatch` it when done."""
        return list(self._recent), self.watch()

    def unwatch(self, queue: asyncio.Queue[MissionEvent]) -> None:
        """Stop delivering events to a queue."""
        if queue in self._watchers:
            self._watchers.remove(queue)

    def _deliver(self, output: Output) -> None:
        for rid, stream, command in output.commands:
            channel = self.channels.get(rid)
            if channel is not None and channel.stream == stream and not channel.closed:
                channel.send(command)
        self._recent.extend(output.events)
        for queue in self._watchers:
            for event in output.events:
                queue.put_nowait(event)

    async def close(self) -> None:
        """Finish the call under way and stop the worker thread."""
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(None, self._worker.shutdown, True)
