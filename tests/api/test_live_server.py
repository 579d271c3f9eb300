"""One test against a real uvicorn server on a free loopback port."""

from __future__ import annotations

from pathlib import Path

import httpx

import servertools
from corpustrace.server import Settings, create_app


def test_real_server_answers_api_pages_and_static(index_dir: Path) -> None:
    app = create_app(Settings(index=index_dir))
    with servertools.live_server(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/api/health").json()["status"] == "ok"
        traced = http.post("/api/trace", json={"response": servertools.MILL_REPLY}).json()
        assert traced["spans"] and traced["cached"] is False
        assert http.post("/api/trace", json={"response": servertools.MILL_REPLY}).json()["cached"]
        page = http.get("/trace")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        for asset in ("common.js", "traceview.js", "trace.js", "style.css", "favicon.svg"):
            assert http.get(f"/static/{asset}").status_code == 200, asset
        r = http.post("/api/trace", content=b"{", headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_json"
        big = http.post("/api/trace", content=b"x" * 2_000_000)
        assert big.status_code == 413
