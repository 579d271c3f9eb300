"""The bounded queue in front of the workers: admission, 503 with Retry-After, and jobs
whose deadline passed while queued are dropped, never computed."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from corpustrace.server import Settings
from corpustrace.server.errors import Overloaded, Timeout
from corpustrace.server.state import AppState


def state_of(index_dir: Path, **settings: object) -> AppState:
    return AppState(Settings(index=index_dir, **settings), [])  # type: ignore[arg-type]


def test_full_queue_refuses_with_retry_after(index_dir: Path) -> None:
    state = state_of(index_dir, workers=1, queue_size=2, retry_after_s=3)
    release = threading.Event()

    async def scenario() -> None:
        jobs = [asyncio.create_task(state.run(release.wait, 5)) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert state.admission.admitted == 3
        with pytest.raises(Overloaded) as refused:
            await state.run(lambda: "never")
        assert refused.value.status == 503
        assert refused.value.headers == {"Retry-After": "3"}
        release.set()
        assert await asyncio.gather(*jobs) == [True, True, True]
        await asyncio.sleep(0.01)
        assert state.admission.admitted == 0
        assert await state.run(lambda: "again") == "again"  # room again once drained

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        state.close()


def test_job_past_its_deadline_in_the_queue_is_not_computed(index_dir: Path) -> None:
    state = state_of(index_dir, workers=1, queue_size=4, request_timeout_s=0.2)
    release = threading.Event()
    computed: list[str] = []

    def slow() -> None:
        release.wait(5)  # ignores its own deadline: holds the only worker past it

    async def scenario() -> None:
        first = asyncio.create_task(state.run(slow))
        await asyncio.sleep(0.02)
        queued = asyncio.create_task(state.run(computed.append, "queued"))
        with pytest.raises(Timeout):
            await queued
        with pytest.raises(Timeout):
            await first
        release.set()
        await asyncio.sleep(0.1)
        assert state.admission.admitted == 0

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        state.close()
    assert computed == []
