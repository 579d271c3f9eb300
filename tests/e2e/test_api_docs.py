"""/docs in real Chromium renders the OpenAPI 3.1 schema (issue 10, point 2): the
operations are listed, under the page's strict policy, from files this server serves."""

from __future__ import annotations

from typing import Any

import pytest

from servertools import screenshot

pytestmark = pytest.mark.e2e


def test_docs_lists_the_trace_operation(page: Any, plain_server: str) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(plain_server + "/docs")
    trace = page.locator(".opblock-post .opblock-summary-path", has_text="/api/trace").first
    trace.wait_for()
    assert "Unable to render" not in page.locator("#swagger-ui").inner_text()
    assert page.locator(".opblock").count() >= 10
    page.locator(".info .version-stamp, .info .version").first.wait_for()
    trace.click()  # the operation opens with its request body schema
    page.locator(".opblock.is-open .opblock-body").first.wait_for()
    assert page.locator(".opblock.is-open").inner_text().count("response")
    screenshot(page, "api-docs")
    assert requests and all(u.startswith(plain_server) for u in requests), requests
