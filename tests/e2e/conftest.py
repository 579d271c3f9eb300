"""Browser tests: real headless Chromium (Debian's, never a downloaded one) driving a
real uvicorn server, with a fake OpenAI-compatible chat server on loopback."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import servertools
from corpustrace.server import Settings, create_app
from corpustrace.tokenizer_load import load_tokenizer

CHROMIUM = os.environ.get("CORPUSTRACE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _skip_reason() -> str | None:
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return (
            f"no Chromium at {CHROMIUM}: install Debian's with "
            "`apt-get install -y chromium` to run the browser tests"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the 'playwright' Python package is not installed (.venv/bin/pip install playwright)"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = _skip_reason()
    if reason is None:
        return
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _no_env_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CORPUSTRACE_") and name != "CORPUSTRACE_TEST_CHROMIUM":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def e2e_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("e2e-index") / "index"
    return servertools.build_index(out, load_tokenizer("bytes"), servertools.corpus())


@pytest.fixture(scope="session")
def chat_server(e2e_index: Path) -> Iterator[str]:
    """Base URL of the app, with the fake chat model configured."""
    with servertools.fake_openai_server() as fake:
        settings = Settings(index=e2e_index, openai_base_url=fake.url, openai_model="fake-model")
        with servertools.live_server(create_app(settings)) as url:
            yield url


@pytest.fixture(scope="session")
def plain_server(e2e_index: Path) -> Iterator[str]:
    """Base URL of the app with no chat model."""
    with servertools.live_server(create_app(Settings(index=e2e_index))) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped: Playwright's sync API runs an event loop in the main thread while
    it is open, which would break later tests that call asyncio.run()."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class PageProblems:
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(browser: Any, problems: PageProblems) -> Iterator[Any]:
    """A fresh page (laptop-sized); console errors, uncaught errors and dialogs (an
    alert() from injected markup) of it and of the tabs it opens are collected and must
    stay empty. Links to documents open a new tab: see `servertools.open_tab`."""
    context = browser.new_context(viewport={"width": 1366, "height": 860})

    def on_dialog(dialog: Any) -> None:
        problems.dialogs.append(dialog.message)
        dialog.dismiss()

    def watch(page: Any) -> None:  # every page of the context: a tab opened by a link too
        page.set_default_timeout(15_000)
        page.on("console", lambda m: m.type == "error" and problems.console_errors.append(m.text))
        page.on("pageerror", lambda e: problems.page_errors.append(str(e)))
        page.on("dialog", on_dialog)

    context.on("page", watch)
    page = context.new_page()
    yield page
    context.close()
    assert problems.console_errors == [], problems.console_errors
    assert problems.page_errors == [], problems.page_errors
    assert problems.dialogs == [], problems.dialogs
