"""The document panel as OLMoTrace's (issue 10, parity): cards grouped under High /
Medium / Low relevance, and "Locate spans" highlighting, in the response, exactly the
spans of one document; in real Chromium, on the trace page and in the chat."""

from __future__ import annotations

import re
from typing import Any

import pytest

import servertools
from servertools import screenshot

pytestmark = pytest.mark.e2e
LEVELS = ["high", "medium", "low"]
# Character ranges of the highlights drawn in an element (the fixture text is ASCII).
MARKED_RANGES = """(root) => {
  const out = []; let at = 0;
  const walk = (node) => {
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) { at += child.data.length; continue; }
      const start = at; walk(child);
      if (child.classList.contains('hl')) out.push([start, at]);
    }
  };
  walk(root); return out;
}"""


def traced(page: Any, base: str, text: str) -> dict[str, Any]:
    page.goto(f"{base}/trace")
    page.fill("#trace-response", text)
    page.click("details.params summary")
    page.fill("input[name=span_density]", "1")
    with page.expect_response(re.compile(r"/api/trace$")) as answer:
        page.click("#trace-submit")
    page.wait_for_selector("#doc-panel article.doc")
    result: dict[str, Any] = answer.value.json()
    return result


def covered(text: str, ranges: list[tuple[int, int]]) -> set[int]:
    """The positions inside the ranges, less the whitespace at each range's edges (the UI
    does not paint the space a byte-level token carries)."""
    out: set[int] = set()
    for start, end in ranges:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        out.update(range(start, end))
    return out


def test_cards_are_grouped_by_relevance(page: Any, plain_server: str) -> None:
    result = traced(page, plain_server, servertools.MILL_REPLY)
    groups = page.locator("#doc-panel .doc-group")
    levels = [g.get_attribute("class").split("group-")[1] for g in groups.all()]
    want = [lv for lv in LEVELS if any(d["level"] == lv for d in result["documents"])]
    assert levels == want and len(levels) >= 2
    for group, level in zip(groups.all(), levels, strict=True):
        title = group.locator(".group-title").text_content()
        cards = group.locator("article.doc")
        assert title == f"{level.capitalize()} relevance ({cards.count()})"
        shown = [int(c.get_attribute("data-doc")) for c in cards.all()]
        docs = {d["doc"]: d for d in result["documents"]}
        assert all(docs[d]["level"] == level for d in shown)
        relevances = [docs[d]["relevance"] for d in shown]
        assert relevances == sorted(relevances, reverse=True)
    assert page.locator("#doc-panel article.doc").count() == len(result["documents"])
    # A span's documents are grouped the same way.
    page.locator("#trace-output .hl").first.click()
    for group in page.locator("#doc-panel .doc-group").all():
        level = group.get_attribute("class").split("group-")[1]
        for card in group.locator("article.doc").all():
            assert f"level-{level}" in card.get_attribute("class")


def test_locate_spans_marks_exactly_the_documents_spans(page: Any, plain_server: str) -> None:
    result = traced(page, plain_server, servertools.MILL_REPLY)
    text = result["text"]
    output = page.locator("#trace-output")
    everything = covered(text, [(h["char_start"], h["char_end"]) for h in result["highlights"]])
    docs = sorted(result["documents"], key=lambda d: len(d["spans"]))
    tried = 0
    for doc in docs:
        spans = [result["spans"][i] for i in doc["spans"]]
        want = covered(text, [(s["char_start"], s["char_end"]) for s in spans])
        if want == everything:
            continue  # this document holds every span: locating it changes nothing
        card = page.locator(f"#doc-panel article.doc[data-doc='{doc['doc']}']")
        button = card.locator("button.locate")
        button.click()
        assert button.get_attribute("aria-pressed") == "true"
        assert button.inner_text() == "Show all spans"
        got = covered(text, [tuple(r) for r in output.evaluate(MARKED_RANGES)])
        assert got == want, doc["doc"]
        assert output.locator(".hl.located").count() == output.locator(".hl").count()
        assert output.inner_text() == text  # the text itself is untouched
        tried += 1
        screenshot(page, "locate-spans")
        button.click()  # again: every span is highlighted again
        assert button.get_attribute("aria-pressed") == "false"
        assert covered(text, [tuple(r) for r in output.evaluate(MARKED_RANGES)]) == everything
        assert output.locator(".hl.located").count() == 0
    assert tried >= 2


def test_locate_in_the_chat_and_switching_documents(page: Any, chat_server: str) -> None:
    page.goto(chat_server + "/")
    page.fill("#chat-input", "Tell me about the mill")
    page.press("#chat-input", "Enter")
    page.wait_for_selector(".msg-assistant .trace-info")
    body = page.locator(".msg-assistant .body")
    before = body.locator(".hl").count()
    cards = page.locator("#doc-panel article.doc")
    first, second = cards.nth(0), cards.nth(cards.count() - 1)
    first.locator("button.locate").click()
    assert body.locator(".hl.located").count() >= 1
    second.locator("button.locate").click()  # another card takes over
    assert first.locator("button.locate").get_attribute("aria-pressed") == "false"
    assert second.locator("button.locate").get_attribute("aria-pressed") == "true"
    # A located span still filters the panel to its documents when clicked.
    body.locator(".hl.located").first.click()
    assert page.locator("#doc-panel .panel-filter").is_visible()
    assert page.locator("#doc-panel button.locate[aria-pressed=true]").count() <= 1
    page.locator("#doc-panel .panel-filter button").click()
    page.locator("#doc-panel button.locate[aria-pressed=true]").click()
    assert body.locator(".hl").count() == before
    assert body.inner_text() == servertools.MILL_REPLY
