"""The Content-Security-Policy in real Chromium: every page works under it and reports no
violation (the page fixture also fails on any console error), Swagger UI included."""

from __future__ import annotations

from typing import Any

import pytest

import servertools

pytestmark = pytest.mark.e2e

LISTEN = """() => {
  window.__csp = [];
  document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
}"""


def violations(page: Any) -> list[str]:
    return list(page.evaluate("window.__csp || []"))


def test_pages_run_under_the_policy(page: Any, plain_server: str) -> None:
    page.add_init_script(f"({LISTEN})()")
    response = page.goto(plain_server + "/trace")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page.fill("#trace-response", servertools.MILL_REPLY)
    page.click("#trace-submit")
    page.wait_for_selector("#trace-output .hl")
    page.locator("#trace-output .hl").first.click()
    assert violations(page) == []
    for path in ("/", "/playground", "/documents/0"):
        page.goto(plain_server + path)
        page.wait_for_load_state("networkidle")
        assert violations(page) == [], path


def test_swagger_ui_runs_under_its_policy(page: Any, plain_server: str) -> None:
    """Swagger UI's bundle and its inline start-up script run (it renders into the page)
    with no violation (test_api_docs.py checks what it renders)."""
    page.add_init_script(f"({LISTEN})()")
    page.goto(plain_server + "/docs")
    page.wait_for_function("() => document.querySelector('#swagger-ui .swagger-ui') !== null")
    page.wait_for_load_state("networkidle")
    assert page.locator("#swagger-ui").inner_text().strip()
    assert violations(page) == []
