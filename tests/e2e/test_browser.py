"""The UI in real headless Chromium: chat, trace, span filter, documents, playground."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import servertools
from servertools import screenshot

pytestmark = pytest.mark.e2e

MARKUP_TEXT = "It said: " + servertools.SCRIPT_DOC


def trace_text(page: Any, base: str, text: str, prompt: str = "", density: str = "") -> None:
    page.goto(f"{base}/trace")
    page.fill("#trace-prompt", prompt)
    page.fill("#trace-response", text)
    if density:
        page.click("details.params summary")
        page.fill("input[name=span_density]", density)
    page.click("#trace-submit")
    page.wait_for_selector("#trace-output .hl")


def test_chat_streams_traces_and_filters(page: Any, chat_server: str) -> None:
    page.goto(chat_server + "/")
    assert page.locator("#no-model").count() == 0
    page.fill("#chat-input", "Tell me about the mill")
    page.press("#chat-input", "Enter")
    answer = page.locator(".msg-assistant .body")
    page.wait_for_selector(".msg-assistant .hl")
    assert answer.inner_text() == servertools.MILL_REPLY
    assert page.locator(".msg-user .body").inner_text() == "Tell me about the mill"
    docs = page.locator("#doc-panel article.doc")
    assert docs.count() > 0
    first = page.locator(".msg-assistant .hl").first
    assert re.search(r"occurs \d+ times? in the corpus", first.get_attribute("title") or "")
    assert first.get_attribute("class").split()[1] in {"hl-high", "hl-medium", "hl-low"}
    screenshot(page, "chat")

    span_text = first.inner_text()
    first.click()
    assert first.get_attribute("aria-pressed") == "true"
    filter_bar = page.locator("#doc-panel .panel-filter")
    assert filter_bar.is_visible()
    shown = page.locator("#doc-panel article.doc")
    assert 0 < shown.count() <= docs.count()
    for i in range(shown.count()):
        marks = shown.nth(i).locator(".snippet mark").all_inner_texts()
        assert any(span_text in m or m in span_text for m in marks), (span_text, marks)
    screenshot(page, "chat-filtered")
    first.click()  # a second click shows every document again
    assert not filter_bar.is_visible()


def test_chat_second_turn_keeps_the_conversation(page: Any, chat_server: str) -> None:
    page.goto(chat_server + "/")
    for text in ("Where does the river begin?", "And the mill?"):
        page.fill("#chat-input", text)
        page.click("#chat-send")
        page.wait_for_function(
            "n => document.querySelectorAll('.msg-assistant .trace-info').length >= n",
            arg=2 if text.startswith("And") else 1,
        )
    bodies = page.locator(".msg-assistant .body").all_inner_texts()
    assert bodies == [servertools.RIVER_REPLY, servertools.MILL_REPLY]


def test_no_model_shows_a_notice(page: Any, plain_server: str) -> None:
    page.goto(plain_server + "/")
    assert page.locator("#no-model").is_visible()
    assert page.locator("#chat-form").count() == 0
    assert page.locator("#no-model a[href='/trace']").count() == 1
    screenshot(page, "chat-no-model")


def test_trace_page_keyboard_and_context(page: Any, plain_server: str) -> None:
    trace_text(page, plain_server, servertools.MILL_REPLY, "Tell me about the mill", "0.5")
    assert page.locator("#trace-output").inner_text() == servertools.MILL_REPLY
    assert "span" in page.locator("#trace-summary").inner_text()
    screenshot(page, "trace")
    spans = page.locator("#trace-output .hl")
    spans.first.focus()
    page.keyboard.press("Enter")
    assert spans.first.get_attribute("aria-pressed") == "true"
    assert page.locator("#doc-panel .panel-filter").is_visible()
    page.keyboard.press(" ")  # Space toggles it off again
    assert spans.first.get_attribute("aria-pressed") == "false"

    card = page.locator("#doc-panel article.doc").first
    card.locator("button", has_text="Show context").click()
    context = card.locator(".context")
    assert context.is_visible()
    assert context.locator("mark").count() >= 1
    assert card.locator("button[aria-expanded=true]").count() == 1


def test_open_document_marks_every_match(page: Any, plain_server: str) -> None:
    trace_text(page, plain_server, servertools.MILL_REPLY, density="1")
    link = page.locator("#doc-panel article.doc a.open-doc").first
    marks_wanted = parse_qs(urlsplit(link.get_attribute("href")).query)["mark"]
    trace_page = page
    page = servertools.open_tab(page, link)  # a new tab: the trace stays where it was
    assert re.search(r"/documents/\d+", page.url)
    assert trace_page.url.endswith("/trace") and trace_page.locator("#trace-output .hl").count()
    page.wait_for_selector("#doc-text mark")
    found = page.locator("#doc-text mark").all_inner_texts()
    assert found and all(any(m in w or w in m for w in marks_wanted) for m in found)
    assert page.locator("#doc-meta dt", has_text="source").count() == 1
    screenshot(page, "document")


def test_markup_document_is_shown_as_text(page: Any, plain_server: str) -> None:
    trace_text(page, plain_server, MARKUP_TEXT, density="1")
    panel = page.locator("#doc-panel")
    card = panel.locator("article.doc", has_text="<i>markup</i> document")
    assert card.count() == 1
    assert "<script>" in card.locator(".snippets").inner_text()
    assert panel.locator("script, b, i").count() == 0
    assert page.evaluate("window.__pwned") is None
    screenshot(page, "trace-markup")

    page = servertools.open_tab(page, card.locator("a.open-doc"))
    page.wait_for_selector("#doc-text mark")
    assert servertools.SCRIPT_DOC in page.locator("#doc-text").inner_text()
    assert page.locator("#doc-text script, #doc-text b").count() == 0
    assert "<i>markup</i> document" in page.locator("#doc-title").inner_text()
    assert page.evaluate("window.__pwned") is None
    screenshot(page, "document-markup")


def test_playground(page: Any, plain_server: str) -> None:
    page.goto(plain_server + "/playground")
    page.wait_for_function("() => document.getElementById('index-info').textContent.length > 0")
    page.fill("#count-query", "the river")
    page.click("#count-form button")
    page.wait_for_selector("#count-result .big")
    assert page.locator("#count-result .big").inner_text() == "8 occurrences"
    assert page.locator("#count-result .chip").count() == len("the river")

    page.fill("#ntd-prompt", "the mil")
    page.click("#ntd-form button")
    page.wait_for_selector("#ntd-result table")
    assert page.locator("#ntd-result td.tok").first.inner_text() == "l"

    page.check("#ntd-infgram")
    page.fill("#ntd-prompt", "zzzz the mil")
    page.click("#ntd-form button")
    page.wait_for_selector("#ntd-result q")
    assert page.locator("#ntd-result q").inner_text() == " the mil"

    page.fill("#search-query", "river")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#search-result li.hit mark")
    assert set(page.locator("#search-result mark").all_inner_texts()) == {"river"}
    assert page.locator("#search-pager").is_visible()
    page.click("#search-next")
    page.wait_for_function(
        "() => document.getElementById('search-page').textContent.startsWith('11')"
    )
    screenshot(page, "playground")

    page.check("input[name=search-mode][value=cnf]")
    page.fill("#search-query", "mill\nbaker | weavers")
    page.click("#search-form button[type=submit]")
    page.wait_for_function(
        "() => document.getElementById('search-status').textContent.includes('matching document')"
    )
    assert page.locator("#search-result li.hit").count() >= 1


def test_bad_input_shows_the_server_message(page: Any, plain_server: str, problems: Any) -> None:
    page.goto(plain_server + "/trace")
    page.fill("#trace-response", "some text")
    page.click("details.params summary")
    page.fill("input[name=span_density]", "5")
    # The browser itself refuses 5 (max=1); skip its check to see the server's answer.
    page.evaluate("document.getElementById('trace-form').noValidate = true")
    page.click("#trace-submit")
    page.wait_for_selector("#trace-status.error")
    assert "span_density" in page.locator("#trace-status").inner_text()
    # Chromium logs every 4xx fetch to the console; this one is the expected answer.
    expected = [e for e in problems.console_errors if "status of 400" in e]
    assert len(expected) == 1
    problems.console_errors.remove(expected[0])
