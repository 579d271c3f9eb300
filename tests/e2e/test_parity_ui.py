"""Issue 10 parity in the browser: index names and the index filter on document cards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import servertools
from corpustrace.server import Settings, create_app
from corpustrace.tokenizer_load import load_tokenizer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def phases_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    docs = servertools.corpus()
    root = tmp_path_factory.mktemp("phases-ui")
    tok = load_tokenizer("bytes")
    half = len(docs) // 2
    a = servertools.build_index(root / "pretrain", tok, docs[:half])
    b = servertools.build_index(root / "midtrain", tok, docs[half:])
    with servertools.live_server(create_app(Settings(index=a, extra_indexes=[b]))) as url:
        yield url


def test_cards_name_their_index_and_filter_by_it(page: Any, phases_server: str) -> None:
    page.goto(phases_server + "/trace")
    page.fill("#trace-response", servertools.RIVER_REPLY)
    page.click("details.params summary")
    page.fill("input[name=span_density]", "1")
    page.click("#trace-submit")
    page.wait_for_selector("#doc-panel article.doc .index-name")
    cards = page.locator("#doc-panel article.doc")
    names = set(page.locator("#doc-panel article.doc .index-name").all_inner_texts())
    assert names == {"pretrain", "midtrain"}
    assert page.locator("#index-filter").is_visible()
    page.select_option("#index-filter", "midtrain")
    shown = page.locator("#doc-panel article.doc:not([hidden])")
    assert 0 < shown.count() < cards.count()
    assert set(shown.locator(".index-name").all_inner_texts()) == {"midtrain"}
    page.select_option("#index-filter", "")
    assert page.locator("#doc-panel article.doc:not([hidden])").count() == cards.count()


def test_repeated_documents_show_one_card_with_a_badge(
    page: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    mill = "The mill by the river grinds grain."
    docs = [("Note: " + mill, {"id": f"copy-{i}", "title": "Mill"}) for i in range(3)]
    docs.append(("Other words. " + mill, {"id": "other", "title": "Other"}))
    index = servertools.build_index(
        tmp_path_factory.mktemp("repeats-ui") / "i", load_tokenizer("bytes"), docs
    )
    with servertools.live_server(create_app(Settings(index=index))) as url:
        page.goto(url + "/trace")
        page.fill("#trace-response", mill)
        page.click("#trace-submit")
        page.wait_for_selector("#doc-panel article.doc .badge-repeats")
        assert page.locator("#doc-panel article.doc").count() == 2
        badge = page.locator("#doc-panel .badge-repeats")
        assert badge.inner_text().lower() == "repeated 3 times"
        assert page.locator("#doc-panel .index-name").count() == 0  # one index: no label
        badge.click()
        links = page.locator("#doc-panel details.repeats li a")
        assert sorted(links.all_inner_texts()) == ["#1", "#2"]
        assert links.first.get_attribute("href") == "/documents/1"
