"""Settings: environment variables with the CORPUSTRACE_ prefix, validated at start-up."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from corpustrace.server import Settings, serve

# The package exports the function `serve`, which hides the module of the same name.
serve_module = importlib.import_module("corpustrace.server.serve")


def test_defaults_are_safe() -> None:
    settings = Settings()
    assert settings.host == "127.0.0.1" and settings.port == 8000
    assert settings.api_token is None and settings.cors_origins == []


def test_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CORPUSTRACE_INDEX", str(tmp_path))
    monkeypatch.setenv("CORPUSTRACE_API_TOKEN", "s3cr3t-value")
    monkeypatch.setenv("CORPUSTRACE_CORS_ORIGINS", '["https://ui.example"]')
    monkeypatch.setenv("CORPUSTRACE_MAX_PAGE_SIZE", "7")
    settings = Settings()
    assert settings.index == tmp_path
    assert (
        settings.api_token is not None and settings.api_token.get_secret_value() == "s3cr3t-value"
    )
    assert "s3cr3t" not in repr(settings)  # secrets stay out of logs
    assert settings.cors_origins == ["https://ui.example"]
    assert settings.max_page_size == 7


@pytest.mark.parametrize(
    ("name", "value"),
    [("CORPUSTRACE_PORT", "abc"), ("CORPUSTRACE_WORKERS", "0"), ("CORPUSTRACE_PORT", "70000")],
)
def test_invalid_values_fail_at_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_unknown_argument_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(max_pagesize=3)  # type: ignore[call-arg]


def test_serve_runs_uvicorn_on_the_configured_address(
    monkeypatch: pytest.MonkeyPatch, index_dir: Path
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(serve_module.uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    serve(Settings(index=index_dir, port=8123))
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123
    assert seen["app"].title == "corpustrace"
