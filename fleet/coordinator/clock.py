"""Clocks: the coordinator reads time only through one of these."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "WallClock"]


class Clock(Protocol):
    """Seconds since some fixed origin."""

    def now(self) -> float:
        """Current time, seconds."""
        ...


class WallClock:
    """Unix time: for a coordinator driving real robots."""

    def now(self) -> float:
        """Seconds since the Unix epoch."""
        return time.time()


class ManualClock:
    """Simulated time, moved forward only by `advance_to` (the simulator's SimClock calls)."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = start_s

    def now(self) -> float:
        """Simulated seconds."""
        return self._now

    def advance_to(self, t_s: float) -> None:
        """Move the clock to `t_s`; it never goes backwards."""
        self._now = max(self._now, t_s)
