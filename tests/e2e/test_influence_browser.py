"""The Influence tab in real headless Chromium, on the trace and chat pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

import influencetools
import servertools
from corpustrace.server import Settings, create_app
from influencetools import World
from servertools import screenshot

pytestmark = pytest.mark.e2e
TEXT = "The mill was built in the eighteenth century by a family of weavers."


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return influencetools.world(tmp_path_factory)


@pytest.fixture(scope="module")
def influence_server(world: World) -> Iterator[str]:
    with servertools.fake_openai_server() as fake:
        settings = Settings(
            index=world.index, influence=world.store, openai_base_url=fake.url, openai_model="fake"
        )
        with servertools.live_server(create_app(settings)) as url:
            yield url


def open_influence_tab(page: Any) -> Any:
    tab = page.get_by_role("tab", name="Influence")
    tab.click()
    assert tab.get_attribute("aria-selected") == "true"
    page.wait_for_selector("#doc-panel .influence-proponent")
    return tab


def test_trace_page_shows_proponents_opponents_and_links(page: Any, influence_server: str) -> None:
    page.goto(influence_server + "/trace")
    page.fill("#trace-prompt", "Tell me about the mill")
    page.fill("#trace-response", TEXT)
    page.click("#trace-submit")
    page.wait_for_selector("#trace-output .hl")
    tabs = page.locator("#doc-panel .panel-tab").all_inner_texts()
    assert tabs[0] == "Verbatim" and tabs[-1] == "Influence"  # beside Lexical
    assert page.locator("#doc-panel article.doc").first.is_visible()  # verbatim first
    open_influence_tab(page)
    cards = page.locator("#doc-panel .influence-proponent")
    assert cards.count() == 10
    assert page.locator("#doc-panel .influence-opponent").count() == 0
    first = cards.first
    assert re.fullmatch(r"score [+\u2212]\d\.\d{3}", first.locator(".influence-score").inner_text())
    assert first.locator("mark").inner_text().strip() != ""
    assert re.search(r"tokens \d+\u2013\d+", first.inner_text())
    assert "training chunks scored" in page.locator("#doc-panel .influence-note").inner_text()
    screenshot(page, "influence-trace")

    page.check("#influence-opponents")
    page.wait_for_selector("#doc-panel .influence-opponent")
    assert page.locator("#doc-panel .influence-opponent").count() == 10

    page.get_by_role("tab", name="Verbatim").click()
    assert not cards.first.is_visible()
    assert page.locator("#doc-panel article.doc").first.is_visible()
    page.get_by_role("tab", name="Influence").click()
    chunk = cards.first.locator("mark").inner_text().strip()
    page = servertools.open_tab(page, cards.first.locator("a.open-doc"))
    assert re.search(r"/documents/\d+\?mark=", page.url)
    page.wait_for_selector("#doc-text mark")
    marked = " ".join(page.locator("#doc-text mark").all_inner_texts())
    assert chunk.split()[0] in marked


def test_chat_answer_gets_an_influence_tab(page: Any, influence_server: str) -> None:
    page.goto(influence_server + "/")
    page.fill("#chat-input", "Tell me about the mill")
    page.press("#chat-input", "Enter")
    page.wait_for_selector(".msg-assistant .hl")
    open_influence_tab(page)
    assert page.locator("#doc-panel .influence-proponent").count() == 10
    screenshot(page, "influence-chat")


def test_no_store_no_tab(page: Any, plain_server: str) -> None:
    page.goto(plain_server + "/trace")
    page.fill("#trace-response", TEXT)
    page.click("#trace-submit")
    page.wait_for_selector("#trace-output .hl")
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("tab", name="Influence").count() == 0
    assert page.locator("#doc-panel article.doc").count() > 0
