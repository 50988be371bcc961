"""Prometheus metrics of one server: what the control loop, the store, the robots' links and
the gRPC calls cost and count. Each server has its own registry (no global state); the
HTTP front end serves it on /metrics.

Where each figure comes from:
- control step, dispatch, planning and store write times: `Coordinator.step_times` and
  `phase_times`, read on the worker right after each step (`observe_step`);
- tasks assigned/finished/failed: the mission events the runner delivers (`count_events`);
- robots by state, missions by state, connected robots: one worker call per scrape (`refresh`);
- command latency: from a path or action leaving on a robot's stream to the robot's first
  report that names it (`CommandLatency`), so it includes the robot's report period;
- robot states accepted, by link (a robot's own stream or a gateway): counted where the
  servicer hands them to the runner;
- gRPC calls by method and status code: a server interceptor (`CallCounter`);
- robot reports refused as implausible, by reason: the coordinator's `Inbox`, read after
  each step.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fleet.api.snapshot import ViewState, counts
from fleet.coordinator import Coordinator, CoordinatorRunner, Implausible
from fleet.model import EventKind, FollowPath, MissionEvent, MissionState, PerformAction, RobotState

__all__ = ["CallCounter", "CommandLatency", "FleetMetrics"]

_STEP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5,
                 1.0, 2.5, 5.0)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0)


class FleetMetrics:
    """The instruments, on their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.step_seconds = Histogram("fleet_control_step_seconds",
                                      "Wall time of a control step", registry=r,
                                      buckets=_STEP_BUCKETS)
        self.step_cpu_seconds = Counter("fleet_control_step_cpu_seconds",
                                        "CPU time of control steps (worker thread)", registry=r)
        self.dispatch_seconds = Histogram("fleet_dispatch_seconds",
                                          "Wall time of a step's dispatch round", registry=r,
                                          buckets=_STEP_BUCKETS)
        self.plan_seconds = Histogram("fleet_planning_seconds",
                                      "Wall time of a step's planning and path release",
                                      registry=r, buckets=_STEP_BUCKETS)
        self.store_write_seconds = Histogram("fleet_store_write_seconds",
                                             "Wall time of a step's store transaction",
                                             registry=r, buckets=_STEP_BUCKETS)
        self.command_latency_seconds = Histogram(
            "fleet_command_latency_seconds",
            "From a path or action sent to a robot to its first report naming it",
            registry=r, buckets=_LATENCY_BUCKETS)
        self.reaction_seconds = Histogram(
            "fleet_reaction_seconds",
            "From the arrival of the earliest report a control step took in to that step's "
            "commands handed to the robots' streams",
            registry=r, buckets=_LATENCY_BUCKETS)
        self.tasks = Counter("fleet_tasks", "Task events", ["outcome"], registry=r)
        for outcome in ("assigned", "finished", "failed"):
            self.tasks.labels(outcome)
        self.robots = Gauge("fleet_robots", "Robots by state", ["state"], registry=r)
        self.missions = Gauge("fleet_missions", "Missions by state", ["state"], registry=r)
        self.connected = Gauge("fleet_connected_robots", "Robots with an open link", registry=r)
        self.streams = Gauge("fleet_robot_streams", "Open robot link streams", registry=r)
        self.states = Counter("fleet_robot_states", "Robot state reports accepted, by link",
                              ["link"], registry=r)
        self.stream_states = self.states.labels("stream")
        self.gateway_states = self.states.labels("gateway")
        self.grpc_calls = Counter("fleet_grpc_calls", "gRPC calls by method and status code",
                                  ["method", "code"], registry=r)
        self.implausible_reports = Counter(
            "fleet_implausible_reports", "Robot state reports refused as implausible, by reason",
            ["reason"], registry=r)
        for reason in Implausible:
            self.implausible_reports.labels(reason.value)
        self._implausible_seen: dict[Implausible, int] = {}
        self.expired_registrations = Counter(
            "fleet_expired_registrations", "Robot registrations let go because the robot never "
            "opened its stream", registry=r)
        self._expired_seen = 0
        self.last_step_at: float | None = None
        """time.monotonic() when the last control step ended (None before the first)."""

    def observe_delivery(self, c: Coordinator) -> None:
        """Record how long the step's longest-waiting report waited for its commands (on
        the loop, from `delivery_observers`)."""
        arrived = c.inbox.first_arrival
        if arrived is not None:
            self.reaction_seconds.observe(time.monotonic() - arrived)

    def observe_step(self, c: Coordinator) -> None:
        """Record the step that just ended (on the worker, from `step_observers`)."""
        self.last_step_at = time.monotonic()
        if c.step_times:
            wall, cpu = c.step_times[-1]
            self.step_seconds.observe(wall)
            self.step_cpu_seconds.inc(cpu)
        phases = c.phase_times
        if "dispatch" in phases:
            self.dispatch_seconds.observe(phases.pop("dispatch"))
        if "plan" in phases:
            self.plan_seconds.observe(phases.pop("plan"))
        if "store_write" in phases:
            self.store_write_seconds.observe(phases.pop("store_write"))
        for reason, total in c.inbox.implausible_counts().items():
            new = total - self._implausible_seen.get(reason, 0)
            if new > 0:
                self.implausible_reports.labels(reason.value).inc(new)
                self._implausible_seen[reason] = total
        expired = c.expired_registrations
        if expired > self._expired_seen:
            self.expired_registrations.inc(expired - self._expired_seen)
            self._expired_seen = expired

    def count_events(self, events: Iterable[MissionEvent]) -> None:
        """Count the task outcomes among delivered events."""
        for e in events:
            if e.kind is EventKind.ASSIGNED:
                self.tasks.labels("assigned").inc()
            elif e.kind is EventKind.TASK_DONE:
                self.tasks.labels("finished").inc()
            elif e.kind is EventKind.FAILED and e.task_id:
                self.tasks.labels("failed").inc()

    async def follow(self, runner: CoordinatorRunner) -> None:
        """Count events as the runner delivers them, until cancelled."""
        queue = runner.watch()
        try:
            while True:
                self.count_events([await queue.get()])
        finally:
            runner.unwatch(queue)

    async def refresh(self, runner: CoordinatorRunner) -> None:
        """Set the gauges from the coordinator's state (one worker call)."""
        figures = await runner.call(counts)
        for state in ViewState:
            self.robots.labels(state.value).set(figures.robots.get(state, 0))
        for mission_state in MissionState:
            self.missions.labels(mission_state.value).set(
                figures.missions.get(mission_state.value, 0))
        self.connected.set(figures.connected)


class CommandLatency:
    """One robot stream's commands waiting for the robot to name them in a report."""

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram
        self.waiting: dict[str, float] = {}

    def sent(self, command: object) -> None:
        """A command left on the stream."""
        if isinstance(command, FollowPath) and command.path_id not in self.waiting:
            self.waiting[command.path_id] = time.monotonic()
        elif isinstance(command, PerformAction):
            self.waiting[command.action_id] = time.monotonic()

    def reported(self, state: RobotState) -> None:
        """A report arrived: the path and action it names are acknowledged."""
        if not self.waiting:
            return
        now = time.monotonic()
        for key in (state.path_id, state.action_id):
            sent = self.waiting.pop(key, None) if key else None
            if sent is not None:
                self.histogram.observe(now - sent)


Behaviour = Callable[..., Any]


class CallCounter(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Counts every gRPC call by method and the status code it ended with."""

    def __init__(self, metrics: FleetMetrics) -> None:
        self.calls = metrics.grpc_calls

    def _count(self, method: str, context: grpc.aio.ServicerContext[Any, Any],
               error: BaseException | None) -> None:
        code = context.code()
        if code is None:
            code = (grpc.StatusCode.OK if error is None else
                    grpc.StatusCode.CANCELLED if isinstance(error, asyncio.CancelledError)
                    else grpc.StatusCode.UNKNOWN)
        name = code.name if isinstance(code, grpc.StatusCode) else str(code)
        self.calls.labels(method, name).inc()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        method = details.method
        ser, de = handler.response_serializer, handler.request_deserializer

        def unary(behaviour: Behaviour) -> Behaviour:
            async def run(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                try:
                    reply = await behaviour(request, context)
                except BaseException as err:
                    self._count(method, context, err)
                    raise
                self._count(method, context, None)
                return reply
            return run

        def streaming(behaviour: Behaviour) -> Behaviour:
            async def run(request: Any, context: grpc.aio.ServicerContext[Any, Any]
                          ) -> AsyncIterator[Any]:
                error: BaseException | None = None
                try:
                    replies = behaviour(request, context)
                    if inspect.isawaitable(replies):
                        # Written with context.write (the health service's Watch).
                        await replies
                    else:
                        async for reply in replies:
                            yield reply
                except BaseException as err:
                    error = err
                    raise
                finally:
                    self._count(method, context, error)
            return run

        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(unary(handler.unary_unary), de, ser)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(unary(handler.stream_unary), de, ser)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(streaming(handler.unary_stream), de,
                                                        ser)
        return grpc.stream_stream_rpc_method_handler(streaming(handler.stream_stream), de, ser)
