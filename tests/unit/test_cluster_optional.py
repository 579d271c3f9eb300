"""Ray stays optional: only corpustrace.cluster imports it, and build, trace and serve
run in a process where importing ray fails."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from corpustrace.cluster.errors import ClusterError
from corpustrace.server import Settings
from corpustrace.server.state import open_engine

SRC = Path(__file__).parents[2] / "src" / "corpustrace"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_cluster_package_imports_ray() -> None:
    offenders = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if "ray" in imported_modules(p) and p.parent.name != "cluster"
    ]
    assert offenders == []


SCRIPT = """
import sys
sys.modules["ray"] = None  # `import ray` raises ImportError from here on
from pathlib import Path
from fastapi.testclient import TestClient
from corpustrace.index.builder import BuildOptions, build
from corpustrace.server import Settings, create_app
out = Path(sys.argv[1])
(out.parent / "c.jsonl").write_text('{"text": "The mill was built by weavers."}\\n')
build(BuildOptions([str(out.parent / "c.jsonl")], out, tokenizer="bytes", quiet=True))
with TestClient(create_app(Settings(index=out))) as client:
    body = client.post("/api/trace", json={"response": "The mill was built."}).json()
    assert body["spans"], body
    assert client.get("/api/health").json()["cluster"] is None
print("ok")
"""


def test_build_trace_and_serve_without_ray(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "index")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_serving_over_ray_without_ray_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.delitem(sys.modules, "corpustrace.cluster.ray_engine", raising=False)
    settings = Settings(index=tmp_path, ray_address="127.0.0.1:1")
    with pytest.raises(ClusterError, match="distributed extra"):
        open_engine(settings)
