"""The chat keeps its conversation (issue 10, point 1): documents open in a new tab, and
the conversation survives Back, reload and a visit to another page; "New chat" asks."""

from __future__ import annotations

import re
from typing import Any

import pytest

import servertools

pytestmark = pytest.mark.e2e


def chat(page: Any, text: str, answers: int) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('.msg-assistant .trace-info').length >= n", arg=answers
    )


def assert_conversation(page: Any) -> None:
    page.wait_for_selector(".msg-assistant .hl")
    users = page.locator(".msg-user .body").all_inner_texts()
    answers = page.locator(".msg-assistant .body").all_inner_texts()
    assert users == ["Where does the river begin?", "Tell me about the mill"]
    assert answers == [servertools.RIVER_REPLY, servertools.MILL_REPLY]
    assert page.locator(".msg-assistant .trace-info").count() == 2
    assert page.locator("#doc-panel article.doc").count() > 0


def test_conversation_survives_documents_back_and_reload(page: Any, chat_server: str) -> None:
    page.goto(chat_server + "/")
    chat(page, "Where does the river begin?", 1)
    chat(page, "Tell me about the mill", 2)

    link = page.locator("#doc-panel article.doc a.open-doc").first
    with page.context.expect_page() as opened:
        link.click()
    document = opened.value
    document.wait_for_selector("#doc-text mark")
    assert re.search(r"/documents/\d+", document.url)
    document.close()
    assert urlpath(page.url) == "/"
    assert_conversation(page)

    page.click("nav a[href='/playground']")
    page.wait_for_url(re.compile(r"/playground$"))
    page.go_back()
    page.wait_for_url(re.compile(r"/$"))
    assert_conversation(page)

    page.reload()
    assert_conversation(page)
    # The next question carries the restored conversation to the model.
    chat(page, "And the mill again?", 3)
    assert page.locator(".msg-assistant .body").nth(2).inner_text() == servertools.MILL_REPLY


def urlpath(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_new_chat_asks_before_discarding(page: Any, chat_server: str) -> None:
    page.goto(chat_server + "/")
    confirm = page.locator("#chat-confirm")
    page.click("#chat-reset")  # nothing to lose yet: no question asked
    assert not confirm.is_visible()
    chat(page, "Where does the river begin?", 1)

    page.click("#chat-reset")
    assert confirm.is_visible()
    page.click("#chat-keep")
    assert not confirm.is_visible()
    assert page.locator(".msg-assistant").count() == 1

    page.click("#chat-reset")
    page.click("#chat-discard")
    assert page.locator(".msg").count() == 0
    assert page.locator("#messages .hint").is_visible()
    assert page.locator("#doc-panel article.doc").count() == 0
    page.reload()
    assert page.locator("#messages .hint").is_visible()
    assert page.locator(".msg").count() == 0
