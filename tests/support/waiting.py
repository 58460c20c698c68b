"""Waiting for what another thread or process does, and controlling time where code reads it.

A test never sleeps a fixed time and hopes the other side was quick enough: on a loaded
runner it is not. It waits on an event, or polls a condition with a generous deadline
(:func:`wait_until`, :func:`wait_until_async`), and where the code under test reads the
time (leases, backoff, schedules) it injects a :class:`ManualClock` and moves time itself.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

#: How long any one condition may take on a loaded CI machine before the test fails.
DEADLINE = 30.0
_POLL = 0.01


def wait_until(
    predicate: Callable[[], bool], timeout: float = DEADLINE, what: str = "the condition"
) -> None:
    """Poll ``predicate`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(_POLL)


async def wait_until_async(
    predicate: Callable[[], bool | Awaitable[bool]],
    timeout: float = DEADLINE,
    what: str = "the condition",
) -> None:
    """:func:`wait_until` on an event loop: the loop keeps running while it polls, and the
    predicate may be a coroutine function (an HTTP request to the app under test, say)."""
    deadline = time.monotonic() + timeout
    while True:
        held = predicate()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        await asyncio.sleep(_POLL)


class ManualClock:
    """A clock that stands still until the test moves it: pass it where code takes a
    ``clock: Callable[[], datetime]``. Thread-safe."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when``."""
        with self._lock:
            self._now = when

    def advance(self, by: timedelta) -> datetime:
        """Move forward by ``by``; return the new time."""
        with self._lock:
            self._now += by
            return self._now
