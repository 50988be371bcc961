"""The runner once it is closing: streams that end as the server stops are dropped quietly,
and a call that still comes gets a clear UNAVAILABLE, not the thread pool's RuntimeError."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fleet.coordinator import Coordinator, ManualClock
from fleet.coordinator.runner import Channel, CoordinatorRunner
from fleet.floor import load_floor
from fleet.model import UnavailableError
from fleet.store import open_store

SMALL_MAP = Path(__file__).resolve().parents[3] / "maps" / "small.yaml"


def test_after_close_ended_streams_are_dropped_and_calls_are_unavailable(
        tmp_path: Path) -> None:
    coordinator = Coordinator(load_floor(SMALL_MAP), open_store(str(tmp_path / "f.db")),
                              ManualClock())

    async def run() -> None:
        runner = CoordinatorRunner(coordinator)
        assert await runner.call(lambda c: c.clock.now()) == 0.0
        channel = runner.channels["agv-1"] = Channel("agv-1", 1, "s1")
        await runner.close()
        runner.disconnect("agv-1", channel)  # no worker left: nothing to tell, no error
        runner.stream_ended("agv-2", "s2")
        assert channel.closed and "agv-1" not in runner.channels
        with pytest.raises(UnavailableError) as err:
            await runner.call(lambda c: c.clock.now())
        assert "shutting down" in err.value.message
    try:
        asyncio.run(run())
    finally:
        coordinator.store.close()
