"""The live view's feed and the replay of a trajectory log.

One `FrameFeed` per server takes a snapshot of the fleet `rate_hz` times a second (6: at
least 5 reach a page while the worker is busy with control steps) while at least one page is
open, serializes it once and hands the same bytes to every page: the
coordinator's cost is one worker call per frame, whatever the number of pages. A page that
falls behind gets the newest frame, never a backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fleet.api import FleetServer
from fleet.api.snapshot import FrameView, RobotView, frame
from fleet.model import InvalidInputError

__all__ = ["FrameFeed", "frame_json", "load_replay"]

log = logging.getLogger(__name__)


def _xy(points: tuple[tuple[float, float], ...]) -> list[list[float]]:
    return [[round(x, 3), round(y, 3)] for x, y in points]


def _robot_json(r: RobotView) -> dict[str, Any]:
    return {"id": r.id, "kind": r.kind, "state": r.state.value, "x": round(r.x, 3),
            "y": round(r.y, 3), "theta": round(r.theta, 3), "radius_m": r.radius_m,
            "battery": round(r.battery, 3), "load_id": r.load_id, "hold": r.hold,
            "task": r.task, "queue": list(r.queue), "faults": list(r.faults),
            "released": _xy(r.released), "planned": _xy(r.planned)}


def frame_json(view: FrameView) -> dict[str, Any]:
    """A frame as the page reads it."""
    return {"t": round(view.time_s, 3), "robots": [_robot_json(r) for r in view.robots]}


class FrameFeed:
    """Frames of the fleet for every open page, taken only while one is open."""

    def __init__(self, server: FleetServer, rate_hz: float = 6.0) -> None:
        self.server = server
        self.period_s = 1.0 / rate_hz
        self._pages: set[asyncio.Queue[bytes]] = set()
        self._task: asyncio.Task[None] | None = None
        self.frames = 0
        """Frames taken so far (for the bench and tests)."""

    async def pages(self) -> AsyncIterator[bytes]:
        """Serialized frames (each one SSE `frame` event) for one page, until it leaves."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1)
        self._pages.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        try:
            while True:
                yield await queue.get()
        finally:
            self._pages.discard(queue)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while self._pages:
            try:
                view = await self.server.runner.call(frame)
            except Exception:  # a frame is never worth stopping the feed for
                log.exception("view: taking a frame failed")
            else:
                self.frames += 1
                data = json.dumps(frame_json(view), separators=(",", ":"))
                event = f"event: frame\ndata: {data}\n\n".encode()
                for queue in self._pages:
                    if queue.full():
                        queue.get_nowait()
                    queue.put_nowait(event)
            # Frames on a fixed schedule (a slow one does not push the next ones back); a
            # feed that fell more than a frame behind starts its schedule again.
            due += self.period_s
            now = loop.time()
            if due < now - self.period_s:
                due = now
            await asyncio.sleep(max(0.0, due - now))

    async def close(self) -> None:
        """Stop taking frames."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


MAX_REPLAY_FRAMES = 5000
"""Most frames a replay sends the page (longer logs are thinned evenly)."""


def load_replay(path: str | Path) -> dict[str, Any]:
    """A trajectory log (see ARCHITECTURE: a header line, then one line per tick) as the
    page replays it: {"header": ..., "frames": [{"t": s, "poses": {id: [x, y, theta]}}]}.
    Raises InvalidInputError naming the line that is not what the format says."""
    source = str(path)
    try:
        with open(path, encoding="utf-8") as f:
            lines = sum(1 for _ in f)
    except OSError as err:
        raise InvalidInputError(f"log {source!r} cannot be read: {err.strerror}", field="log",
                                value=source) from err
    stride = max(1, -(-(lines - 1) // MAX_REPLAY_FRAMES))
    header: dict[str, Any] | None = None
    frames: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if number > 2 and (number - 2) % stride and number != lines:
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as err:
                raise InvalidInputError(f"log {source!r} line {number} is not JSON: {err}",
                                        field="log", value=number) from err
            if number == 1:
                if not isinstance(doc, dict) or "robots" not in doc:
                    raise InvalidInputError(f"log {source!r} line 1 must describe the run "
                                            "(map, robots)", field="log", value=1)
                header = doc
            elif not isinstance(doc, dict) or "t" not in doc or "poses" not in doc:
                raise InvalidInputError(f"log {source!r} line {number} needs t and poses",
                                        field="log", value=number)
            else:
                frames.append({"t": doc["t"], "poses": doc["poses"]})
    if header is None:
        raise InvalidInputError(f"log {source!r} is empty", field="log", value=source)
    return {"header": header, "frames": frames}
