"""The Docker deployment for real, as README's "Docker" section runs it (with podman):
build the image from the working tree on a local Debian base, build an index with the
image's own `corpustrace build`, serve it read-only and use it from the host."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

import servertools
from containertools import REPO, PodmanError, build_image, ensure_base, missing_tools, podman
from corpustrace.cli import main
from corpustrace.server import Settings, create_app

pytestmark = pytest.mark.container

LABEL = "corpustrace-test"  # every container this module starts carries it
BUILDER = "1000:1000"  # the host user the README's `--user "$(id -u):$(id -g)"` stands for
SERVER_ENV = {"CORPUSTRACE_MAX_PAGE_SIZE": "50"}  # configured only by CORPUSTRACE_* variables
TRACE = {"prompt": "Tell me about the mill", "response": servertools.MILL_REPLY}


@pytest.fixture(autouse=True)
def _no_env_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CORPUSTRACE_"):
            monkeypatch.delenv(name)


def remove_containers() -> None:
    ids = podman("ps", "--all", "--quiet", "--filter", f"label={LABEL}").stdout.split()
    if ids:
        podman("rm", "--force", *ids, check=False)


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    reason = missing_tools()
    if reason is not None:
        pytest.skip(reason)
    remove_containers()  # left by a run that was killed
    started = time.monotonic()
    base = ensure_base()
    based = time.monotonic()
    tag = build_image(base)
    print(f"base image {based - started:.0f}s, image build {time.monotonic() - based:.0f}s")
    yield tag
    remove_containers()


@pytest.fixture(scope="module")
def index_dir(image: str, tmp_path_factory: pytest.TempPathFactory, bpe_path: Path) -> Path:
    """README: `docker run --rm --network none --user "$(id -u):$(id -g)" -v data:/data:ro
    -v index:/index IMAGE build /data/corpus.jsonl --out /index --tokenizer ...`."""
    root = tmp_path_factory.mktemp("container")
    data, index = root / "data", root / "index"
    data.mkdir()
    index.mkdir()
    with (data / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for text, meta in servertools.corpus():
            fh.write(json.dumps({"text": text, **meta}) + "\n")
    (data / "tokenizer.json").write_bytes(bpe_path.read_bytes())
    for path in (root, data, *data.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    uid, gid = (int(n) for n in BUILDER.split(":"))
    os.chown(index, uid, gid)
    podman(
        "run", "--rm", "--label", LABEL, "--network", "none", "--user", BUILDER,
        "-v", f"{data}:/data:ro", "-v", f"{index}:/index",
        image, "build", "/data/corpus.jsonl", "--out", "/index",
        "--tokenizer", "/data/tokenizer.json", "--quiet",
        timeout=300,
    )  # fmt: skip
    return index


@pytest.fixture(scope="module")
def server(image: str, index_dir: Path) -> Iterator[tuple[str, str]]:
    """README: `docker run -d --name corpustrace -p 127.0.0.1:8000:8000
    -v index:/index:ro IMAGE`, on a port podman picks. Yields (name, base URL)."""
    name = f"{LABEL}-{os.getpid()}"
    env = [arg for key, value in SERVER_ENV.items() for arg in ("-e", f"{key}={value}")]
    podman(
        "run", "-d", "--name", name, "--label", LABEL, *env,
        "-p", "127.0.0.1::8000", "-v", f"{index_dir}:/index:ro", image,
    )  # fmt: skip
    try:
        host_port = podman("port", name, "8000/tcp").stdout.strip().splitlines()[0]
        assert host_port.startswith("127.0.0.1:")  # published on loopback only
        url = f"http://{host_port}"
        wait_healthy(name, url)
        yield name, url
    finally:
        podman("rm", "--force", name, check=False)


def wait_healthy(name: str, url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        state = podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
        if state != "running" or time.monotonic() > deadline:
            logs = podman("logs", name, check=False)
            raise PodmanError(f"server is {state}:\n{(logs.stdout + logs.stderr)[-4000:]}")
        time.sleep(0.5)


def inspect(name: str) -> Any:
    return json.loads(podman("inspect", name).stdout)[0]


def test_image_runs_as_a_user_with_a_health_check(image: str) -> None:
    about = inspect(image)
    config = about["Config"]
    assert config["User"] == "corpustrace"
    assert config["Entrypoint"] == ["corpustrace"] and config["Cmd"] == ["serve"]
    check = config.get("Healthcheck") or about["Healthcheck"]  # docker | podman
    assert "/api/health" in " ".join(check["Test"])
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["CORPUSTRACE_INDEX"] == "/index" and env["CORPUSTRACE_HOST"] == "0.0.0.0"


def test_index_built_by_the_image(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert {p.stat().st_uid for p in index_dir.rglob("*")} == {int(BUILDER.split(":")[0])}
    capsys.readouterr()
    assert main(["verify", str(index_dir)]) == 0  # the host's code reads what the image wrote
    assert "intact" in capsys.readouterr().out
    assert main(["info", str(index_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] == len(servertools.corpus())


def test_health_info_trace_and_pages_from_the_host(
    server: tuple[str, str], index_dir: Path
) -> None:
    _, url = server
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/api/health").json()["status"] == "ok"
        info = client.get("/api/info").json()
        assert info["documents"] == len(servertools.corpus())
        assert info["limits"]["max_page_size"] == int(SERVER_ENV["CORPUSTRACE_MAX_PAGE_SIZE"])
        answer = client.post("/api/trace", json=TRACE)
        assert answer.status_code == 200, answer.text
        spans = answer.json()["spans"]
        corpus_text = "\n".join(text for text, _ in servertools.corpus())
        assert spans and all(span["text"] in corpus_text for span in spans)
        assert any("eighteenth century" in span["text"] for span in spans)
        page = client.get("/trace")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        doc = answer.json()["documents"][0]["doc"]
        page = client.get(f"/documents/{doc}")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    # The same code on the host, over the same index, gives the same answer.
    with TestClient(create_app(Settings(index=index_dir))) as local:
        expected = local.post("/api/trace", json=TRACE).json()
    assert spans == expected["spans"]
    assert answer.json()["documents"] == expected["documents"]


def test_server_is_not_root_and_index_mount_is_read_only(
    server: tuple[str, str], index_dir: Path
) -> None:
    name, _ = server
    assert podman("exec", name, "id", "-u").stdout.strip() == "10001"
    before = sorted(p.name for p in index_dir.rglob("*"))
    for user in ("10001", "0"):  # even root inside the container cannot write
        proc = podman("exec", "--user", user, name, "touch", "/index/probe", check=False)
        assert proc.returncode != 0 and "Read-only file system" in proc.stderr
    assert sorted(p.name for p in index_dir.rglob("*")) == before


def test_health_check_passes(server: tuple[str, str]) -> None:
    name, _ = server
    assert podman("healthcheck", "run", name, check=False).returncode == 0
    assert inspect(name)["State"]["Health"]["Status"] == "healthy"


def test_compose_file_matches_the_tested_commands() -> None:
    """docker/compose.yaml is not run here (no compose tool for podman 4.3 with
    profiles); it must say what the commands above do."""
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((REPO / "docker" / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    for name in ("corpustrace", "build"):
        build = services[name]["build"]
        assert (REPO / "docker" / build["context"] / build["dockerfile"]).resolve() == (
            REPO / "docker" / "Dockerfile"
        )
    serve = services["corpustrace"]
    assert serve["volumes"] == ["./index:/index:ro"]
    assert all(port.startswith("127.0.0.1:") for port in serve["ports"])
    assert all(key.startswith("CORPUSTRACE_") for key in serve["environment"])
    builder = services["build"]
    assert builder["network_mode"] == "none" and "./index:/index" in builder["volumes"]
    assert builder["command"] == [
        "build", "/data/corpus.jsonl", "--out", "/index", "--tokenizer", "/data/tokenizer.json"
    ]  # fmt: skip
    assert services["model"]["profiles"] == ["model"]
