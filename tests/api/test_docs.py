"""The docs keep in step with the code: every setting and every route is documented,
and every JSON route declares its response model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from corpustrace.server.settings import ENV_PREFIX, Settings

API_MD = Path(__file__).parents[2] / "docs" / "api.md"


def settings_rows() -> dict[str, list[str]]:
    text = API_MD.read_text(encoding="utf-8")
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`" + ENV_PREFIX):
            rows[cells[0].strip("`")] = cells[1:]
    return rows


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    field = Settings.model_fields[name]
    assert field.description, f"Settings.{name} has no description"
    rows = settings_rows()
    variable = ENV_PREFIX + name.upper()
    assert variable in rows, f"{variable} is missing from the settings table in docs/api.md"
    default = field.get_default(call_default_factory=True)
    documented = rows[variable][0]
    if default is None or hasattr(default, "get_secret_value"):
        assert documented == "—"
    else:
        assert documented.strip("`") == str(default), f"{variable}: default differs"


def test_no_stale_settings_in_docs() -> None:
    known = {ENV_PREFIX + n.upper() for n in Settings.model_fields}
    assert set(settings_rows()) <= known


def api_routes(client: TestClient) -> list[APIRoute]:
    return [
        r
        for r in client.app.routes  # type: ignore[attr-defined]
        if isinstance(r, APIRoute) and r.path.startswith("/api")
    ]


def test_every_route_has_a_documented_curl_example(client: TestClient) -> None:
    text = API_MD.read_text(encoding="utf-8")
    for route in api_routes(client):
        for method in route.methods:
            heading = f"`{method} {route.path}`"
            assert heading in text, f"{heading} has no section in docs/api.md"
        stem = route.path.split("{", 1)[0].rstrip("/")
        assert re.search(r"curl [^\n]*\$S" + re.escape(stem), text), f"no curl example for {stem}"


def test_every_json_route_declares_its_response(client: TestClient) -> None:
    for route in api_routes(client):
        if route.path == "/api/chat":
            assert "text/event-stream" in route.responses[200]["content"]
            continue
        assert route.response_model is not None, route.path
    schema = client.get("/openapi.json").json()
    assert "/api/trace" in schema["paths"]
    assert "TraceResponse" in schema["components"]["schemas"]


def test_swagger_ui_is_served_offline(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text
    assert "cdn" not in page.text.lower()
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert client.get(f"/static/swagger-ui/{asset}").status_code == 200
