"""What the fan-out sends to shard groups: calls, the caller interface, the remaining
time of a request, and the small caches of answers that an immutable index allows."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from corpustrace import deadline

K = TypeVar("K", bytes, int)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A bounded, thread-safe least-recently-used map (results of an immutable index)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[K]) -> list[V | None]:
        with self._lock:
            out = [self._items.get(k) for k in keys]
            for k, hit in zip(keys, out, strict=True):
                if hit is not None:
                    self._items.move_to_end(k)
            return out

    def put_many(self, keys: Sequence[K], values: Sequence[V]) -> None:
        with self._lock:
            for k, v in zip(keys, values, strict=True):
                self._items[k] = v
                self._items.move_to_end(k)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def remaining_seconds() -> float | None:
    """What is left of the current deadline (None: no limit); DeadlineExceeded if none."""
    current = deadline.current()
    if current is None:
        return None
    current.check()
    return None if current.expires is None else max(0.0, current.expires - time.monotonic())


class Call(NamedTuple):
    group: int
    method: str
    args: tuple[Any, ...]


class Caller(Protocol):
    """Runs a batch of group calls together; raises ShardsUnavailable for a group that
    has no live replica left."""

    def call(self, calls: Sequence[Call]) -> list[Any]: ...

    def status(self) -> dict[str, Any]: ...

    def close(self) -> None: ...
