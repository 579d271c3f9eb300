"""Issue 9, point 3, with real sockets against a real uvicorn server: connections that
stall in the request head or body are closed after their limits, and the number of
open connections is bounded, while ordinary requests keep being answered."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

import servertools
from corpustrace.server import Settings, create_app
from corpustrace.server.serve import uvicorn_options

HALF_HEAD = b"POST /api/trace HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le"
HEAD_THEN_PART_OF_BODY = (
    b"POST /api/trace HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b'Content-Length: 100\r\n\r\n{"response": '
)


@contextmanager
def server(index: Path, **overrides: object) -> Iterator[str]:
    settings = Settings(index=index, **overrides)  # type: ignore[arg-type]
    with servertools.live_server(create_app(settings), **uvicorn_options(settings)) as url:
        yield url


def connect(url: str, first: bytes = b"") -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    if first:
        sock.sendall(first)
    return sock


def read_until_closed(sock: socket.socket, within: float) -> bytes | None:
    """Everything the server sends until it closes; None if still open after `within` s."""
    sock.settimeout(within)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return data


def test_stalled_connections_are_closed(index_dir: Path) -> None:
    with server(index_dir, header_timeout_s=1.0, body_timeout_s=1.0) as url:
        silent = [connect(url) for _ in range(10)]
        half_head = [connect(url, HALF_HEAD) for _ in range(10)]
        half_body = [connect(url, HEAD_THEN_PART_OF_BODY) for _ in range(10)]
        started = time.monotonic()
        assert httpx.get(url + "/api/health").status_code == 200  # answered meanwhile
        for sock in silent + half_head:
            assert read_until_closed(sock, 4.0) == b"", "a stalled head was not closed"
        for sock in half_body:
            answer = read_until_closed(sock, 4.0)
            assert answer is not None, "a stalled body was not closed"
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
            assert b"did not arrive within 1 s" in answer
        assert time.monotonic() - started < 8.0
        for sock in silent + half_head + half_body:
            sock.close()
        assert httpx.get(url + "/api/health").status_code == 200


def read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response (head and Content-Length body), however it is split."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")).split(
            b":"
        )[1]
    )
    while len(body) < length:
        body += sock.recv(65536)
    return data


def test_a_slow_but_steady_client_is_served(index_dir: Path) -> None:
    """The head limit counts from the connection's start: a head sent in pieces within
    it is fine, and keep-alive requests each get a fresh limit."""
    with server(index_dir, header_timeout_s=2.0) as url:
        sock = connect(url, b"GET /api/health HTTP/1.1\r\n")
        time.sleep(0.5)
        sock.sendall(b"Host: 127.0.0.1\r\n\r\n")
        sock.settimeout(5)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(1.0)
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        sock.close()


def test_open_connections_are_bounded(index_dir: Path) -> None:
    with server(index_dir, max_connections=5, header_timeout_s=1.5) as url:
        idle = [connect(url) for _ in range(5)]
        time.sleep(0.2)
        with httpx.Client(base_url=url) as http:
            assert http.get("/api/health").status_code == 503
        for sock in idle:
            assert read_until_closed(sock, 4.0) == b""  # the head limit frees them
            sock.close()
        assert httpx.get(url + "/api/health").status_code == 200


def test_serve_passes_the_limits_to_uvicorn(index_dir: Path) -> None:
    options = uvicorn_options(Settings(index=index_dir, max_connections=7, header_timeout_s=3))
    assert options["limit_concurrency"] == 7 and options["timeout_keep_alive"] == 5.0
    assert options["http"].header_timeout_s == 3
