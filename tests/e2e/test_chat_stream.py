"""A streamed answer under the user's control (issue 10, point 3), in real Chromium: the
list follows the answer, Stop stops it (the model's stream ends on the server too), "New
chat" works while it streams, a cut answer says so, old documents are marked old."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import servertools
from corpustrace.server import Settings, create_app
from servertools import FakeOpenAI, screenshot

pytestmark = pytest.mark.e2e
LIST = "document.getElementById('messages')"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with servertools.fake_openai_server() as server:
        yield server


@pytest.fixture(scope="module")
def server(e2e_index: Path, fake: FakeOpenAI) -> Iterator[str]:
    settings = Settings(index=e2e_index, openai_base_url=fake.url, openai_model="fake-model")
    with servertools.live_server(create_app(settings)) as url:
        yield url


def ask(page: Any, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")


def answer_chars(page: Any) -> int:
    return len(page.locator(".msg-assistant .body").last.inner_text())


def wait_closed(fake: FakeOpenAI, streams: int) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while len(fake.streams) < streams:
        assert time.monotonic() < deadline, "the model's stream did not end"
        time.sleep(0.05)
    return fake.streams[-1]


def test_scroll_follows_and_stop_stops(page: Any, server: str, fake: FakeOpenAI) -> None:
    page.goto(server + "/")
    ask(page, "Tell me about the mill")
    page.wait_for_selector(".msg-assistant .trace-info")
    assert page.locator("#doc-panel .panel-stale").is_hidden()
    streams = len(fake.streams)

    ask(page, "Tell me slowly")
    assert page.locator("#chat-stop").is_visible() and page.locator("#chat-send").is_hidden()
    # The previous answer's documents are marked as old while the new one streams.
    assert page.locator("#doc-panel .panel-stale").is_visible()
    assert "stale" in (page.locator("#doc-panel").get_attribute("class") or "")
    # The list scrolls with the answer once it overflows...
    page.wait_for_function(
        f"() => {{ const l = {LIST}; return l.scrollHeight > l.clientHeight + 150"
        " && l.scrollHeight - l.scrollTop - l.clientHeight < 30; }"
    )
    assert page.locator("#chat-status").inner_text() == "The model is writing\u2026"
    screenshot(page, "chat-streaming")
    # ... until the reader scrolls up: then it stays where the reader is.
    page.evaluate(f"() => {{ {LIST}.scrollTop = 0; }}")
    grown = answer_chars(page) + 40
    page.wait_for_function(
        "n => document.querySelector('.msg-assistant:last-child .body').textContent.length > n",
        arg=grown,
    )
    assert page.evaluate(f"() => {LIST}.scrollTop") == 0

    page.click("#chat-stop")
    closed = wait_closed(fake, streams + 1)
    assert closed["complete"] is False
    assert closed["sent"] < len(servertools.SLOW_REPLY.split(" ")) // 2
    last = page.locator(".msg-assistant").last
    last.locator(".trace-info").wait_for()  # what was written is traced
    assert last.locator(".note").inner_text() == "Stopped."
    assert page.locator("#chat-send").is_visible() and page.locator("#chat-stop").is_hidden()
    assert page.locator("#doc-panel .panel-stale").is_hidden()
    stopped_at = answer_chars(page)
    time.sleep(0.5)
    assert answer_chars(page) == stopped_at
    assert servertools.SLOW_REPLY.startswith(last.locator(".body").inner_text())
    screenshot(page, "chat-stopped")


def test_new_chat_while_streaming(page: Any, server: str, fake: FakeOpenAI) -> None:
    page.goto(server + "/")
    streams = len(fake.streams)
    ask(page, "Tell me slowly")
    page.wait_for_function("() => document.querySelector('.msg-assistant .body').textContent")
    page.click("#chat-reset")
    assert page.locator("#chat-confirm").is_visible()
    page.click("#chat-discard")
    assert wait_closed(fake, streams + 1)["complete"] is False
    assert page.locator(".msg").count() == 0
    assert page.locator("#chat-send").is_visible()
    time.sleep(0.3)
    assert page.locator(".msg").count() == 0  # nothing of the old answer comes back
    ask(page, "Tell me about the mill")
    page.wait_for_selector(".msg-assistant .trace-info")
    assert page.locator(".msg").count() == 2


def test_answer_cut_at_the_token_limit(page: Any, e2e_index: Path, fake: FakeOpenAI) -> None:
    settings = Settings(
        index=e2e_index, openai_base_url=fake.url, openai_model="m", chat_max_tokens=5
    )
    with servertools.live_server(create_app(settings)) as url:
        page.goto(url + "/")
        ask(page, "Tell me about the mill")
        note = page.locator(".msg-assistant .note")
        note.wait_for()
        assert note.inner_text() == "Cut at the limit of 5 tokens."
        body = page.locator(".msg-assistant .body").inner_text()
        assert body == " ".join(servertools.MILL_REPLY.split(" ")[:5])
