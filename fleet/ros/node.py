"""One rclpy node in its own context, spun by one background thread.

Both the bridge and the simulated robots use a single node for all robots: one node per robot
costs a full core at 50 robots (the executor rebuilds its wait set on every wake-up).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

import rclpy
from rclpy.context import Context
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

__all__ = ["RosNode"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class RosNode:
    """A node with a private context (so tests and two nodes in a process stay apart)."""

    def __init__(self, name: str, domain_id: int | None = None,
                 executor: str = "events") -> None:
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = Node(name, context=self.context)
        self.executor: Executor
        if executor == "events":
            # rclpy's C++ events executor: about 3x the messages per second of the
            # SingleThreadedExecutor with hundreds of subscriptions on one node, and a tenth
            # of the latency (bench/ros_bridge.py). Still under rclpy.experimental.
            from rclpy.experimental.events_executor import EventsExecutor
            self.executor = EventsExecutor(context=self.context)
        elif executor == "single":
            self.executor = SingleThreadedExecutor(context=self.context)
        else:
            raise ValueError(f"executor {executor!r} is not 'events' or 'single'")
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name=f"ros-{name}", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            while self.context.ok():
                self.executor.spin_once(timeout_sec=0.1)
        except ExternalShutdownException:
            pass
        except Exception:  # the spin thread must say why it died, not vanish
            if self.context.ok():
                log.exception("ROS executor stopped")

    def call(self, fn: Callable[[], T], timeout_s: float = 10.0) -> T:
        """Run `fn` on the executor's thread and return its result.

        Creating or destroying subscriptions and publishers from another thread races with the
        executor rebuilding its wait set; routing them through the executor serializes them.
        """
        if threading.current_thread() is self._thread:
            return fn()
        done = threading.Event()
        box: list[T] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                box.append(fn())
            except BaseException as err:  # handed to the caller below
                failure.append(err)
            finally:
                done.set()
        self.executor.create_task(run)
        if not done.wait(timeout_s):
            raise TimeoutError(f"ROS executor did not run the call within {timeout_s} s")
        if failure:
            raise failure[0]
        return box[0]

    async def run(self, fn: Callable[[], T]) -> T:
        """`call` without blocking the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, self.call, fn)

    def close(self) -> None:
        """Stop spinning, destroy the node and shut the context down."""
        if self.context.ok():
            self.context.try_shutdown()
        self._thread.join(timeout=5.0)
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
