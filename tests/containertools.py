"""Podman as the container tests drive it: a store of their own under .cache/container/,
a local Debian base image made with debootstrap (no container registry is reachable
here), and the settings this machine needs, given to podman in configuration files
(CONTAINERS_CONF, CONTAINERS_STORAGE_CONF) so that the commands stay the README's.

This machine runs rootful podman 4.3 on cgroups v1: its default runtime (crun) fails
there ("cgroups in hybrid mode not supported"), runc works; containers need explicit
ulimits ("setrlimit ... operation not permitted" otherwise); the overlay storage
driver works on the repository's disk. A Docker engine takes the same build and run
commands without any of this.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "container"
BASE_IMAGE = "localhost/corpustrace-test-base:bookworm-1"
IMAGE = "localhost/corpustrace:test"
HOST_CA = "/etc/ssl/host-ca.crt"  # in the base image: the CA bundle the host trusts
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
runtime = "runc"
"""
STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{graphroot}"
runroot = "{runroot}"
"""


class PodmanError(RuntimeError):
    pass


def missing_tools() -> str | None:
    """Why the container test cannot run here, or None when it can."""
    if shutil.which("podman") is None:
        return "podman is not installed (scripts/test installs podman, runc, debootstrap as root)"
    if os.geteuid() != 0:
        return "the container test drives rootful podman: run it as root"
    if shutil.which("runc") is None:
        return "runc is not installed (apt-get install runc)"
    if shutil.which("debootstrap") is None and not image_exists(BASE_IMAGE):
        return "debootstrap is not installed and the base image is not cached"
    return None


def podman_env() -> dict[str, str]:
    """The environment podman runs in: the test's own store (images survive between
    runs; `rm -rf .cache/container` starts afresh), its run state in the temp dir (gone
    after a reboot, as podman expects), runc and the ulimits."""
    key = hashlib.sha256(str(CACHE).encode()).hexdigest()[:12]
    runroot = Path(tempfile.gettempdir()) / f"corpustrace-podman-{key}"
    CACHE.mkdir(parents=True, exist_ok=True)
    files = {
        "containers.conf": CONTAINERS_CONF,
        "storage.conf": STORAGE_CONF.format(graphroot=CACHE / "storage", runroot=runroot),
    }
    for name, text in files.items():
        path = CACHE / name
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
    return {
        **os.environ,
        "CONTAINERS_CONF": str(CACHE / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(CACHE / "storage.conf"),
    }


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `podman ARGS`; raise PodmanError with the output's tail when it fails."""
    argv = ["podman", *args]
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=podman_env(),
    )
    if check and proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-4000:]
        raise PodmanError(f"{' '.join(argv)} exited {proc.returncode}:\n{tail}")
    return proc


def image_exists(name: str) -> bool:
    return podman("image", "exists", name, check=False).returncode == 0


def host_ca_bundle() -> Path | None:
    """The CA bundle the host trusts (pip's, else OpenSSL's default): the base image
    trusts it too, so pip in the build gets through a TLS-inspecting proxy as the
    host does."""
    for candidate in (os.environ.get("PIP_CERT"), ssl.get_default_verify_paths().cafile):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def ensure_base(suite: str = "bookworm", mirror: str = "http://deb.debian.org/debian") -> str:
    """The local base image: Debian `suite` (minbase) from debootstrap, imported once
    and kept in the test's store. It has no Python: the Dockerfile installs it."""
    if image_exists(BASE_IMAGE):
        return BASE_IMAGE
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE, prefix="rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        proc = subprocess.run(
            ["debootstrap", "--variant=minbase", suite, str(rootfs), mirror],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if proc.returncode != 0:
            raise PodmanError(f"debootstrap failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
        changes: list[str] = []
        bundle = host_ca_bundle()
        if bundle is not None:
            target = rootfs / HOST_CA.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(bundle, target)
            changes = ["--change", f"ENV PIP_CERT={HOST_CA}"]
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        argv = ["podman", "import", *changes, "-", BASE_IMAGE]
        imp = subprocess.run(
            argv, stdin=tar.stdout, capture_output=True, timeout=600, env=podman_env()
        )
        tar.wait()
        if tar.returncode != 0 or imp.returncode != 0:
            raise PodmanError(f"podman import failed:\n{imp.stderr.decode()[-4000:]}")
    return BASE_IMAGE


def build_image(base: str, extra: Sequence[str] = ()) -> str:
    """Build docker/Dockerfile from the working tree on `base`. `--format docker` keeps
    the HEALTHCHECK (the OCI format has none); `--network host` reaches PyPI here."""
    podman(
        "build",
        "--format",
        "docker",
        "--network",
        "host",
        "--build-arg",
        f"BASE={base}",
        *extra,
        "-f",
        str(REPO / "docker" / "Dockerfile"),
        "-t",
        IMAGE,
        str(REPO),
        timeout=1800,
    )
    podman("image", "prune", "--force", check=False)  # earlier builds' untagged images
    return IMAGE
