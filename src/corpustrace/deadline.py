"""A deadline for one piece of work, checked between steps and inside long loops.

Python threads cannot be interrupted, so work that must stop when its caller gives up
(the server's request time limit) checks a `Deadline` now and then and raises
`DeadlineExceeded` once it has passed or was cancelled. The trace pipeline takes one
explicitly; the engine's inner search loops read the one made current with `active`
(a context variable, so each thread and each request sees only its own).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from corpustrace.errors import DeadlineExceeded


class Deadline:
    """Expires `seconds` from now (never when None), or earlier when `cancel()`ed."""

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = seconds
        self.expires = None if seconds is None else time.monotonic() + seconds
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Make every later `check` raise (thread-safe)."""
        self._cancelled.set()

    @property
    def expired(self) -> bool:
        if self._cancelled.is_set():
            return True
        return self.expires is not None and time.monotonic() >= self.expires

    def check(self) -> None:
        if self.expired:
            limit = "" if self.seconds is None else f" of {self.seconds:g} s"
            raise DeadlineExceeded(f"the work was stopped: its time limit{limit} was reached")


_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "corpustrace_deadline", default=None
)


@contextmanager
def active(deadline: Deadline | None) -> Iterator[None]:
    """Make `deadline` the one `check()` reads in this thread (context) while inside."""
    token = _current.set(deadline)
    try:
        yield
    finally:
        _current.reset(token)


def current() -> Deadline | None:
    return _current.get()


def check() -> None:
    """Raise DeadlineExceeded when the current deadline has passed (no-op without one)."""
    deadline = _current.get()
    if deadline is not None:
        deadline.check()
