"""What one running app holds: the engine (opened once), chat backends, a bounded thread
pool for blocking work, and an LRU cache of trace results for identical requests."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import Request

from corpustrace import deadline as deadlines
from corpustrace.cluster.errors import ClusterError
from corpustrace.deadline import Deadline
from corpustrace.engine.engine import Engine
from corpustrace.engine.protocol import ClusterReport, SearchEngine
from corpustrace.errors import IndexFormatError, TokenizerError
from corpustrace.models.base import ChatBackend
from corpustrace.server.errors import Overloaded, Timeout, Unavailable
from corpustrace.server.schemas import TraceResponse
from corpustrace.server.settings import Settings
from corpustrace.trace import TraceParams, trace
from corpustrace.trace.pii import without_pii
from corpustrace.trace.repeats import fold_repeats
from corpustrace.trace.takedown import Takedown, TakedownFile

T = TypeVar("T")
logger = logging.getLogger("corpustrace")
TraceKey = tuple[str, str, TraceParams, int]  # ..., takedown version


class LRUCache:
    """A small thread-safe least-recently-used map; size 0 keeps nothing."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Any, value: Any) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class AppState:
    """Shared by every request of one app; built by `create_app`, opened at start-up (the
    engine), closed at shutdown."""

    def __init__(
        self, settings: Settings, backends: list[ChatBackend], engine: SearchEngine | None = None
    ) -> None:
        self.settings = settings
        self._engine = engine
        self.backends = {b.name: b for b in backends}
        self.pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="corpustrace-work")
        self.admission = Admission(settings.workers + settings.queue_size)
        self.traces = LRUCache(settings.cache_size)
        self._inflight: dict[TraceKey, asyncio.Future[bytes]] = {}
        self.influence: Any = None  # an InfluenceIndex when a store is configured
        self.takedown_file = TakedownFile(settings.takedown) if settings.takedown else None
        self._closing = False

    @property
    def engine(self) -> SearchEngine:
        if self._engine is None:
            raise Unavailable("the index is not open (the server is starting or stopping)")
        return self._engine

    def open(self) -> None:
        """Open the engine over `settings.index` (at start-up, not in the factory): the
        local one, or over the Ray cluster at `settings.ray_address` (docs/scale.md)."""
        if self._engine is None:
            engine = open_engine(self.settings)
            try:  # the library parses tokenizer.json on first use; a server before serving
                _ = engine.tokenizer.hf
                engine.tokenizer.warm()
            except TokenizerError as exc:
                engine.close()
                raise IndexFormatError(str(exc)) from exc
            self._engine = engine

    @property
    def is_cluster(self) -> bool:
        """Whether the engine is a cluster's (it reports groups and replicas)."""
        return isinstance(self._engine, ClusterReport)

    def cluster_status(self) -> dict[str, Any] | None:
        """The cluster's groups and replicas (blocking: pings them), None when local."""
        engine = self._engine
        return engine.cluster_status() if isinstance(engine, ClusterReport) else None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) on the bounded pool; the time limit counts the wait for a thread too.

        At most `workers + queue_size` jobs are admitted (running or waiting for a
        thread); beyond that the request answers 503 with Retry-After at once, so work
        never piles up without bound. The job runs under a `Deadline` of the request's
        limit: on time-out the request answers 504, a job still waiting is taken off
        the queue (and one that reaches a thread after its deadline is not started),
        and a running one stops at its next check, so its thread is free again.
        """
        if self._closing:
            raise Unavailable("the server is shutting down")
        if not self.admission.enter():
            raise Overloaded(
                f"the server is busy ({self.admission.slots} requests running or queued); "
                f"retry in {self.settings.retry_after_s} s",
                headers={"Retry-After": str(self.settings.retry_after_s)},
            )
        deadline = Deadline(self.settings.request_timeout_s)
        try:
            submitted = self.pool.submit(_within, deadline, functools.partial(fn, *args))
        except BaseException:
            self.admission.leave()
            raise
        submitted.add_done_callback(lambda _: self.admission.leave())
        try:
            async with asyncio.timeout(self.settings.request_timeout_s):
                return await asyncio.wrap_future(submitted)
        except TimeoutError:
            deadline.cancel()
            submitted.cancel()  # still queued: never runs
            raise Timeout(
                f"the request took longer than {self.settings.request_timeout_s:g} s"
            ) from None

    def takedown(self) -> Takedown | None:
        """The takedown list as the file reads now (re-read when it changed; blocking)."""
        return self.takedown_file.current(self.engine) if self.takedown_file else None

    async def trace(self, response: str, prompt: str, params: TraceParams) -> tuple[bytes, bool]:
        """The JSON body of the trace (a TraceResponse) and whether it was cached.

        The body is validated and serialised on the pool, not on the event loop. Identical
        requests arriving while one is computed wait for that one instead of repeating it.
        """
        takedown = await self.run(self.takedown) if self.takedown_file else None
        key: TraceKey = (response, prompt, params, takedown.version if takedown else 0)
        hit = self.traces.get(key)
        if hit is not None:
            return as_cached(hit), True
        pending = self._inflight.get(key)
        if pending is not None and not pending.cancelled():
            try:
                return as_cached(await asyncio.shield(pending)), True
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this request itself was cancelled
        return await self._compute(key, takedown), False

    async def _compute(self, key: TraceKey, takedown: Takedown | None) -> bytes:
        shared: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        shared.add_done_callback(_consume)
        self._inflight[key] = shared
        try:
            pii, fold = self.settings.pii_filter, self.settings.fold_repeats
            body = await self.run(trace_json, self.engine, *key[:3], takedown, pii, fold)
        except BaseException as exc:
            if isinstance(exc, Exception):
                shared.set_exception(exc)
            else:
                shared.cancel()
            raise
        finally:
            self._inflight.pop(key, None)
        shared.set_result(body)
        self.traces.put(key, body)
        return body

    def warm_up(self) -> None:
        """Start-up work off the event loop: local models, so the first chat does not wait
        for a model to load (token bytes are computed per id as traces need them)."""
        threading.Thread(target=self._warm, name="corpustrace-warm-up", daemon=True).start()

    def _warm(self) -> None:
        for backend in self.backends.values():
            load = getattr(backend, "load", None)
            if callable(load):
                try:
                    load()
                except Exception as exc:  # reported again, as a chat error, when used
                    logger.warning("chat model %s failed to load: %s", backend.name, exc)

    def close(self) -> None:
        """Stop accepting work, wait for the jobs in flight (each ends by its deadline at
        the latest), then close the engine."""
        self._closing = True
        self.pool.shutdown(wait=True)
        if self._engine is not None:
            self._engine.close()


class Admission:
    """A thread-safe count of admitted jobs, at most `slots` at once."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.admitted = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            if self.admitted >= self.slots:
                return False
            self.admitted += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.admitted -= 1


def open_engine(settings: Settings) -> SearchEngine:
    if settings.ray_address is None:
        return Engine.open(settings.index_paths)
    if settings.extra_indexes:
        raise ClusterError("several indexes are served by the local engine only (not --ray)")
    try:
        from corpustrace.cluster.ray_engine import RayEngine  # the distributed extra
    except ImportError as exc:
        raise ClusterError(
            f"serving over Ray needs the distributed extra (pip install "
            f"'corpustrace[distributed]'): {exc}"
        ) from exc
    return RayEngine.open(
        settings.index,
        settings.ray_address,
        replicas=settings.ray_replicas,
        actor_cpus=settings.ray_actor_cpus,
        call_timeout_s=settings.ray_call_timeout_s,
    )


def _within(deadline: Deadline, fn: Callable[[], T]) -> T:
    deadline.check()  # waited in the queue past its deadline: nobody wants the answer
    with deadlines.active(deadline):
        return fn()


_NOT_CACHED = b',"cached":false}'
_CACHED = b',"cached":true}'


def trace_json(
    engine: SearchEngine,
    response: str,
    prompt: str,
    params: TraceParams,
    takedown: Takedown | None = None,
    pii_filter: bool = False,
    repeats: bool = False,
) -> bytes:
    """The TraceResponse JSON of a fresh trace (`cached` false, its last field), without
    PII documents and with repeated documents folded when asked."""
    traced = trace(engine, response, prompt, params, takedown=takedown)
    if pii_filter:
        traced = without_pii(traced)
    if repeats:
        traced = fold_repeats(traced, lambda doc: engine.document(doc).tokens)
    result = traced.to_dict()
    body = TraceResponse.model_validate({**result, "cached": False}).model_dump_json().encode()
    assert body.endswith(_NOT_CACHED), "cached must stay the last field of TraceResponse"
    return body


def as_cached(body: bytes) -> bytes:
    return body[: -len(_NOT_CACHED)] + _CACHED


def _consume(future: asyncio.Future[Any]) -> None:
    """Mark a shared future's exception as seen when no other request waited on it."""
    if not future.cancelled():
        future.exception()


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.corpustrace
    return state
