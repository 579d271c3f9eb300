"""Issue 9, point 4: security headers on pages, API, static files and errors; the API
token from a file rather than the command line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from corpustrace.cli import main
from corpustrace.server import Settings
from corpustrace.server.headers import STRICT_POLICY, script_hashes
from servertools import ClientFactory

PATHS = [
    "/",
    "/trace",
    "/playground",
    "/documents/0",
    "/api/health",
    "/api/info",
    "/static/style.css",
    "/openapi.json",
    "/api/documents/999999",
    "/no-such-page",
]


@pytest.mark.parametrize("path", PATHS)
def test_every_response_has_the_security_headers(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["content-security-policy"] == STRICT_POLICY
    assert "frame-ancestors 'none'" in STRICT_POLICY and "'unsafe-inline'" not in STRICT_POLICY


def test_errors_from_middleware_have_them_too(client: TestClient) -> None:
    r = client.post("/api/trace", content=b"x" * 2_000_000)
    assert r.status_code == 413 and r.headers["x-content-type-options"] == "nosniff"


def test_pages_have_no_inline_script(client: TestClient) -> None:
    for path in ("/", "/trace", "/playground", "/documents/0"):
        html = client.get(path).text
        assert script_hashes(html) == [], path
        assert not re.search(r"\son[a-z]+=", html), f"inline event handler on {path}"


def test_swagger_ui_allows_exactly_its_own_inline_script(client: TestClient) -> None:
    page = client.get("/docs")
    policy = page.headers["content-security-policy"]
    hashes = script_hashes(page.text)
    assert len(hashes) == 1 and hashes[0] in policy
    assert "frame-ancestors 'none'" in policy and "'unsafe-eval'" not in policy


def test_api_token_from_a_file(make_client: ClientFactory, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("file-s3cret\n", encoding="utf-8")
    client = make_client(api_token_file=secret)
    assert client.get("/api/info").status_code == 401
    ok = client.get("/api/info", headers={"Authorization": "Bearer file-s3cret"})
    assert ok.status_code == 200
    assert Settings(api_token="direct", api_token_file=secret).api_token.get_secret_value() == (  # type: ignore[union-attr]
        "direct"
    )
    with pytest.raises(ValidationError, match="cannot be read"):
        Settings(api_token_file=tmp_path / "missing")
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="empty"):
        Settings(api_token_file=tmp_path / "empty")


def test_token_file_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "t").write_text("env-file-token", encoding="utf-8")
    monkeypatch.setenv("CORPUSTRACE_API_TOKEN_FILE", str(tmp_path / "t"))
    token = Settings().api_token
    assert token is not None and token.get_secret_value() == "env-file-token"


def test_serve_help_prefers_the_environment_or_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--api-token-file" in text
    assert "prefer CORPUSTRACE_API_TOKEN or --api-token-file" in text


def test_serve_reads_the_token_file_option(tmp_path: Path, index_dir: Path) -> None:
    import argparse

    from corpustrace.cli_serve import SERVE_OPTIONS, make_settings

    (tmp_path / "t").write_text("cli-file-token\n", encoding="utf-8")
    args = argparse.Namespace(index=index_dir, **dict.fromkeys(SERVE_OPTIONS))
    args.api_token_file = tmp_path / "t"
    token = make_settings(args).api_token
    assert token is not None and token.get_secret_value() == "cli-file-token"
