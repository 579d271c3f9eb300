"""Document cards (issue 10, point 5), in real Chromium: title, source name (never the
server's path) and URL on compact lines, the rest behind "Details", so that several cards
fit on a laptop screen."""

from __future__ import annotations

from typing import Any

import pytest

import servertools
from servertools import screenshot

pytestmark = pytest.mark.e2e


def traced(page: Any, base: str) -> None:
    page.goto(f"{base}/trace")
    page.fill("#trace-response", servertools.MILL_REPLY)
    page.click("details.params summary")
    page.fill("input[name=span_density]", "1")
    page.click("#trace-submit")
    page.wait_for_selector("#doc-panel article.doc")


def visible_cards(page: Any) -> int:
    """Cards wholly inside the panel's visible part (the panel scrolls on its own)."""
    return int(
        page.evaluate(
            """() => {
      const panel = document.getElementById('doc-panel').getBoundingClientRect();
      const bottom = Math.min(panel.bottom, window.innerHeight);
      return [...document.querySelectorAll('#doc-panel article.doc')]
        .map((c) => c.getBoundingClientRect())
        .filter((r) => r.top >= panel.top && r.bottom <= bottom)
        .length;
    }"""
        )
    )


def test_cards_are_compact_with_details_on_demand(page: Any, plain_server: str) -> None:
    traced(page, plain_server)
    card = page.locator("#doc-panel article.doc", has_text="Sample line 1").first
    number = card.locator("h3").inner_text().removeprefix("Sample line ")
    assert card.locator(".doc-source .source").inner_text() == "sample.txt"
    url = card.locator(".doc-source a.url")
    assert url.inner_text() == f"example.org/sample/{number}"
    assert url.get_attribute("href") == f"https://example.org/sample/{number}"
    assert url.get_attribute("target") == "_blank"
    details = card.locator("dl.meta")
    assert details.is_hidden()
    assert "tests/data" not in card.inner_text() and f"sample-{number}" not in card.inner_text()

    card.locator("button.details-toggle").click()
    assert details.is_visible()
    keys = details.locator("dt").all_inner_texts()
    pairs = dict(zip(keys, details.locator("dd").all_inner_texts(), strict=True))
    assert pairs["id"] == f"sample-{number}" and pairs["source"] == "tests/data/sample.txt"
    assert pairs["index"].startswith("#")
    card.locator("button.details-toggle").click()
    assert details.is_hidden()

    shown = visible_cards(page)
    assert page.locator("#doc-panel article.doc").count() >= 6
    # Six metadata rows per card let 2.5 fit before. Tracing the first word as if it
    # followed a space (leading_space) finds more spans here, so cards hold more snippets.
    assert shown >= 3, shown
    screenshot(page, "cards")


def test_source_name_drops_the_directories(page: Any, plain_server: str) -> None:
    page.goto(f"{plain_server}/trace")
    names = page.evaluate(
        """() => ['/srv/corpus/wiki-part-3.jsonl.zst', 'C:\\\\data\\\\books.txt', 'wiki',
                  'https://example.org/dump.json', 'dir/'].map(DocCards.sourceName)"""
    )
    assert names == [
        "wiki-part-3.jsonl.zst",
        "books.txt",
        "wiki",
        "https://example.org/dump.json",
        "dir",
    ]
