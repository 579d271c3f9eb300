"""Security headers on every response: no MIME sniffing, no framing by other sites, and a
strict Content-Security-Policy (the pages load only this server's own scripts and styles;
none is inline). Swagger UI at /docs starts from one inline script: its policy allows
exactly that script, by hash, plus the inline styles and data: images Swagger UI uses."""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


def script_hashes(html: str) -> list[str]:
    """CSP source expressions ('sha256-...') of every inline <script> in `html`."""
    hashes = []
    for body in re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.S):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        hashes.append(f"'sha256-{digest}'")
    return hashes


def docs_policy(html: str) -> str:
    """The policy of the Swagger UI page `html`: its own inline script by hash."""
    scripts = " ".join(["'self'", *script_hashes(html)])
    return (
        f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )


class SecurityHeadersMiddleware:
    """Adds the headers above to every HTTP response (a response's own CSP is kept)."""

    def __init__(self, app: ASGIApp, policies: dict[str, str] | None = None) -> None:
        self.app = app
        self.policies = policies or {}  # path -> Content-Security-Policy for that path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.policies.get(scope["path"], STRICT_POLICY).encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((k, v) for k, v in COMMON if k not in present)
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", policy))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
