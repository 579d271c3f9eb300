"""The "Lexical" tab of the document panel in real headless Chromium, as a person uses it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import servertools
from corpustrace.lexical import LexicalIndex, build_lexical
from corpustrace.server import Settings, create_app
from servertools import screenshot

pytestmark = pytest.mark.e2e
TEXT = "The mill was built in the eighteenth century by a family of weavers."
PROMPT = "Who built the mill?"


@pytest.fixture(scope="module")
def lexical_index(e2e_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("e2e-lexical") / "index"
    shutil.copytree(e2e_index, copy)
    build_lexical(copy)
    return copy


@pytest.fixture(scope="module")
def lexical_server(lexical_index: Path) -> Iterator[str]:
    with servertools.fake_openai_server() as fake:
        settings = Settings(index=lexical_index, openai_base_url=fake.url, openai_model="fake")
        with servertools.live_server(create_app(settings)) as url:
            yield url


def open_lexical_tab(page: Any) -> Any:
    tab = page.locator("#tab-lexical")
    tab.click()
    assert tab.get_attribute("aria-selected") == "true"
    assert page.locator("#pane-lexical").is_visible()
    assert not page.locator("#pane-verbatim").is_visible()
    page.wait_for_selector("#pane-lexical article.lexical-doc")
    return page.locator("#pane-lexical article.lexical-doc")


def test_trace_page_lexical_tab(page: Any, lexical_server: str, lexical_index: Path) -> None:
    page.goto(f"{lexical_server}/trace")
    page.fill("#trace-prompt", PROMPT)
    page.fill("#trace-response", TEXT)
    page.click("#trace-submit")
    page.wait_for_selector("#trace-output .hl")
    assert page.locator("#pane-verbatim article.doc").count() > 0
    cards = open_lexical_tab(page)
    _, expected = LexicalIndex.open(lexical_index).search(PROMPT + " " + TEXT, limit=10)
    shown = [int(cards.nth(i).get_attribute("data-doc")) for i in range(cards.count())]
    assert shown == [h.doc for h in expected]
    first = cards.first
    assert first.locator("h3").inner_text() == "Sample line 1"  # the mill's own line
    assert first.locator(".badge").inner_text().lower() == "verbatim"
    marks = {m.lower() for m in first.locator(".snippet mark").all_inner_texts()}
    assert {"mill", "weavers"} <= marks
    assert "Lexical matches (" in page.locator("#pane-lexical .lexical-title").inner_text()
    screenshot(page, "trace-lexical")
    # Arrow keys move between tabs; the verbatim documents are still there.
    page.focus("#tab-lexical")
    page.keyboard.press("ArrowLeft")
    assert page.locator("#tab-verbatim").get_attribute("aria-selected") == "true"
    assert page.locator("#pane-verbatim article.doc").first.is_visible()
    # Opening a lexical hit shows the document with its matched words marked.
    open_lexical_tab(page)
    page = servertools.open_tab(page, cards.first.locator("a.open-doc"))
    page.wait_for_selector("#document mark")
    assert "weavers" in {m.lower() for m in page.locator("#document mark").all_inner_texts()}


def test_chat_page_lexical_tab(page: Any, lexical_server: str) -> None:
    page.goto(lexical_server + "/")
    page.fill("#chat-input", "Tell me about the mill")
    page.press("#chat-input", "Enter")
    page.wait_for_selector(".msg-assistant .hl")
    cards = open_lexical_tab(page)
    titles = [cards.nth(i).locator("h3").inner_text() for i in range(cards.count())]
    assert "Sample line 1" in titles[:3]


def test_index_without_lexical_part_says_how_to_build_it(page: Any, plain_server: str) -> None:
    page.goto(f"{plain_server}/trace")
    page.fill("#trace-response", TEXT)
    page.click("#trace-submit")
    page.wait_for_selector("#trace-output .hl")
    page.click("#tab-lexical")
    page.wait_for_function(
        "document.querySelector('#pane-lexical .lexical-list')"
        ".textContent.includes('lexical build')"
    )


def test_trace_page_ranking_choice(page: Any, lexical_server: str) -> None:
    """A verbatim copy is "high" by default and "low" under OLMoTrace's rerank."""
    page.goto(f"{lexical_server}/trace")
    page.fill("#trace-response", TEXT)
    page.click("#trace-submit")
    page.wait_for_selector("#trace-output .hl")
    assert page.locator("#trace-output .hl").first.get_attribute("data-level") == "high"
    page.click("details.params summary")
    page.select_option("select[name=ranking]", "olmotrace")
    page.click("#trace-submit")
    page.wait_for_selector("#trace-output .hl[data-level=low]")
