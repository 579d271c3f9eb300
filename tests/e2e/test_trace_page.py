"""The trace page (issue 10, point 6), in real Chromium: an error clears the previous
result, the over-long text is refused in words that say nothing was traced, and the time
shown is the trace's total, not the total plus its steps."""

from __future__ import annotations

import re
from typing import Any

import pytest

import servertools

pytestmark = pytest.mark.e2e


def submit(page: Any, text: str) -> Any:
    page.fill("#trace-response", text)
    with page.expect_response(re.compile(r"/api/trace$")) as answer:
        page.click("#trace-submit")
    return answer.value


def test_error_clears_the_previous_result(page: Any, plain_server: str, problems: Any) -> None:
    page.goto(plain_server + "/trace")
    result = submit(page, servertools.MILL_REPLY).json()
    page.wait_for_selector("#trace-output .hl")
    # The time shown is the measured total (the steps are parts of it, not added to it).
    timings = result["timings_ms"]
    shown = re.search(r"(\d+) ms", page.locator("#trace-summary").inner_text())
    assert shown and int(shown.group(1)) == round(timings["total"])
    assert sum(v for k, v in timings.items() if k != "total") <= timings["total"] + 1
    assert page.locator("#doc-panel article.doc").count() > 0

    response = submit(page, "x" * 20_001)  # the server's max_response_chars is 20,000
    assert response.status == 413
    page.wait_for_selector("#trace-status.error")
    message = page.locator("#trace-status").inner_text()
    assert message.startswith("nothing was traced: the response has 20,001 characters")
    assert "shorten it" in message
    assert page.locator("#trace-result").is_hidden()
    assert page.locator("#trace-output").inner_text() == ""
    assert page.locator("#doc-panel article.doc").count() == 0
    expected = [e for e in problems.console_errors if "status of 413" in e]
    assert len(expected) == 1
    problems.console_errors.remove(expected[0])

    submit(page, servertools.MILL_REPLY)  # and the next good trace shows again
    page.wait_for_selector("#trace-output .hl")
    assert page.locator("#trace-status").inner_text() == ""
