"""gRPC health while the coordinator works: answered during a slow step, NOT_SERVING when
steps keep failing, SERVING again when they succeed."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import threading
import time
from collections.abc import Sequence

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fleet.dispatch import Assignment, Candidate, Job, OptimalDispatcher, Travel
from fleet.v1 import (
    missions_pb2,
    missions_pb2_grpc,
    robot_link_pb2_grpc,
    simulation_pb2,
    simulation_pb2_grpc,
)
from sim.grpc_link import GrpcLink
from sim.robot import SimRobot
from tests.conftest import SMALL_MAP, serve
from tests.integration.test_dispatch_flow import agv, move
from tests.unit.coordinator.lockstep import FailingStore

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class SlowPlanner(OptimalDispatcher):
    """Thinks for `think_s` of CPU (a Python loop, holding the interpreter) per round."""

    def __init__(self, think_s: float) -> None:
        super().__init__()
        self.think_s = think_s
        self.rounds: list[tuple[float, float]] = []

    def assign(self, jobs: Sequence[Job], robots: Sequence[Candidate], now_s: float,
               travel: Travel) -> list[Assignment]:
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < self.think_s:
            n += sum(i * i for i in range(200))
        self.rounds.append((start, time.monotonic()))
        return OptimalDispatcher.assign(self, jobs, robots, now_s, travel)


async def tick(address: str, robots: list[SimRobot], t: float,
               links: list[GrpcLink]) -> simulation_pb2.AdvanceReply:
    for link in links:
        link.send_state(t)
    async with grpc.aio.insecure_channel(address) as channel:
        return await simulation_pb2_grpc.SimClockStub(channel).Advance(
            simulation_pb2.AdvanceRequest(time_s=t), timeout=30)


def health(channel: grpc.Channel) -> int:
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""),
                                                      timeout=10)
    return int(reply.status)


def test_health_is_answered_within_50_ms_while_a_slow_step_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    planner = SlowPlanner(think_s=2.0)
    with contextlib.contextmanager(serve)(SMALL_MAP, str(tmp_path / "fleet.db"),
                                          dispatcher=planner) as served:
        robot = agv("agv-1", 0)
        latencies: list[tuple[float, float]] = []
        stop = threading.Event()

        def probe() -> None:
            with grpc.insecure_channel(served.address) as channel:
                health(channel)
                while not stop.is_set():
                    start = time.monotonic()
                    assert health(channel) == SERVING
                    latencies.append((start, time.monotonic() - start))
                    time.sleep(0.02)

        async def run() -> None:
            async with grpc.aio.insecure_channel(served.address) as channel:
                link = GrpcLink(robot, robot_link_pb2_grpc.RobotLinkStub(channel))
                assert await link.connect()
                await missions_pb2_grpc.MissionsStub(channel).Submit(
                    missions_pb2.SubmitMissionRequest(mission=move("job", "in-1", "out-1")),
                    timeout=10)
                prober = threading.Thread(target=probe)
                prober.start()
                try:
                    await tick(served.address, [robot], 0.5, [link])
                finally:
                    stop.set()
                    prober.join(timeout=10)
                await link.disconnect()

        asyncio.run(run())
        assert planner.rounds, "the planner never ran"
        start, end = planner.rounds[0]
        during = [s for t, s in latencies if start <= t and t + s <= end]
        assert len(during) >= 10
        print(f"health during a {end - start:.1f} s step: {len(during)} checks, median "
              f"{1000 * statistics.median(during):.1f} ms, max {1000 * max(during):.1f} ms")
        assert statistics.median(during) < 0.050
        assert max(during) < 1.0


def test_health_turns_not_serving_when_steps_keep_failing_and_back_when_they_succeed(
        ) -> None:
    store = FailingStore()
    with contextlib.contextmanager(serve)(SMALL_MAP, store, http=True) as served:
        robot = agv("agv-1", 0)

        ready: list[int] = []

        def readyz() -> int:
            return httpx.get(f"{served.http_url}/readyz", timeout=10).status_code

        async def run() -> list[tuple[str, int]]:
            seen: list[tuple[str, int]] = []
            async with grpc.aio.insecure_channel(served.address) as channel:
                link = GrpcLink(robot, robot_link_pb2_grpc.RobotLinkStub(channel))
                assert await link.connect()
                await missions_pb2_grpc.MissionsStub(channel).Submit(
                    missions_pb2.SubmitMissionRequest(mission=move("job", "in-1", "out-1")),
                    timeout=10)
                store.failing = True
                t = 0.0
                for _ in range(4):
                    t += 0.5
                    try:
                        await tick(served.address, [robot], t, [link])
                        seen.append(("ok", health(served.channel)))
                    except grpc.aio.AioRpcError as err:
                        seen.append((err.code().name, health(served.channel)))
                    ready.append(readyz())
                store.failing = False
                t += 0.5
                await tick(served.address, [robot], t, [link])
                seen.append(("ok", health(served.channel)))
                ready.append(readyz())
                await link.disconnect()
            return seen

        seen = asyncio.run(run())
        assert seen == [("UNAVAILABLE", SERVING), ("UNAVAILABLE", SERVING),
                        ("UNAVAILABLE", NOT_SERVING), ("UNAVAILABLE", NOT_SERVING),
                        ("ok", SERVING)]
        # The HTTP readiness endpoint reads the same signal.
        assert ready == [200, 200, 503, 503, 200]


def test_a_stalled_control_loop_turns_readiness_and_health_off_until_steps_end_again(
        tmp_path) -> None:  # type: ignore[no-untyped-def]
    planner = SlowPlanner(think_s=8.0)
    with contextlib.contextmanager(serve)(SMALL_MAP, str(tmp_path / "fleet.db"),
                                          sim_clock=False, dispatcher=planner,
                                          http=True) as served:
        robot = agv("agv-1", 0)

        async def run() -> list[tuple[int, int]]:
            seen: list[tuple[int, int]] = []
            async with grpc.aio.insecure_channel(served.address) as channel:
                link = GrpcLink(robot, robot_link_pb2_grpc.RobotLinkStub(channel))
                assert await link.connect()
                link.send_state(0.0)
                await missions_pb2_grpc.MissionsStub(channel).Submit(
                    missions_pb2.SubmitMissionRequest(mission=move("job", "in-1", "out-1")),
                    timeout=10)
                async with httpx.AsyncClient(timeout=10) as http:
                    for _ in range(70):
                        reply = await http.get(f"{served.http_url}/readyz")
                        seen.append((reply.status_code, health(served.channel)))
                        if reply.status_code == 503:
                            assert "no control step has ended" in reply.json()["reason"]
                        if len(seen) > 2 and seen[-1] == (200, SERVING) and \
                                any(s[0] == 503 for s in seen):
                            break
                        await asyncio.sleep(0.25)
                await link.disconnect()
            return seen

        seen = asyncio.run(run())
        assert planner.rounds, "the planner never ran"
        assert (503, NOT_SERVING) in seen, seen
        assert seen[-1] == (200, SERVING), seen
