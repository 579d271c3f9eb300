"""Bounds on slow clients: the time to send a request's head, the time to send its body,
and (through uvicorn's `limit_concurrency`) the number of open connections.

uvicorn's h11 protocol never times out a connection that has sent part of a request
head (its keep-alive timer only runs between requests), so `header_timeout_protocol`
makes a subclass that closes a connection whose head is not complete within the limit,
counted from the connection's start or the end of its previous response. The body is
bounded in the ASGI app: `BodyTimeoutMiddleware` answers 408 and closes the connection
when the body is not complete within its limit.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol


class _HeaderTimeoutH11(H11Protocol):
    header_timeout_s: float = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the head of a request has arrived
            self._disarm()

    def on_response_complete(self) -> None:
        self._arm()  # waiting for the next request's head (a pipelined one disarms it)
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def header_timeout_protocol(seconds: float) -> type[H11Protocol]:
    """An h11 protocol class for uvicorn (`http=`) that closes connections whose request
    head takes longer than `seconds`."""
    return type("HeaderTimeoutH11", (_HeaderTimeoutH11,), {"header_timeout_s": seconds})


class BodyTimeoutMiddleware:
    """408 (and the connection closed) when a request body takes longer than `seconds`
    to arrive, counted from the first read. Reads after the body is complete (an app
    waiting for the client to disconnect) are not limited."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        state: dict[str, Any] = {"until": None, "complete": False}

        async def timed_receive() -> Message:
            if state["complete"]:
                return await receive()
            if state["until"] is None:
                state["until"] = loop.time() + self.seconds
            try:
                async with asyncio.timeout_at(state["until"]):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(
                    408,
                    f"the request body did not arrive within {self.seconds:g} s",
                    headers={"Connection": "close"},
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                state["complete"] = True
            return message

        await self.app(scope, timed_receive, send)
