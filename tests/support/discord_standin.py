"""A local HTTP server that behaves like Discord's webhook endpoint, for notifier tests.

It serves ``POST /api/v10/webhooks/{id}/{token}`` on 127.0.0.1 and:

* validates the JSON body against Discord's limits and answers 400 with Discord's
  ``Invalid Form Body`` error when a limit is broken (as Discord would);
* answers 204, or 200 with the saved message (an ``id``) when ``?wait=true`` is given;
* or plays back scripted replies (429 with ``retry_after`` JSON, ``Retry-After`` and
  ``X-RateLimit-*`` headers; a 429 with no rate-limit headers; 500; 404 Unknown Webhook);
* records every request with its arrival time (``time.monotonic()``).

Use it as a context manager::

    with DiscordStandIn() as discord:
        discord.script(rate_limited(0.3), accepted())
        ... post to discord.url ...

or as the ``discord`` fixture (tests/conftest.py), with :func:`discord_notifier` for the real
notifier pointed at it.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import SecretStr

from driftscope.plugins.notifiers.discord import DiscordNotifier, DiscordSettings

WEBHOOK_ID = "112233445566778899"
WEBHOOK_TOKEN = "Zx9_-kQ2.vN4mP7rT1yW3uE5iO8aS0dF6gH2jK4lL6zX8cV0bN1mQ3wE5rT7yU9iOp"

LIMITS = {
    "content": 2000,
    "embeds": 10,
    "title": 256,
    "description": 4096,
    "fields": 25,
    "field_name": 256,
    "field_value": 1024,
    "footer": 2048,
    "author": 256,
    "total": 6000,
    "username": 80,
}


@dataclass
class Reply:
    """One scripted answer; ``delay`` seconds pass before it is sent, and with ``hold`` it
    is sent only once the test sets that event (a receiver slow for as long as a test needs,
    however busy the machine)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hold: threading.Event | None = None


def accepted(**headers: str) -> Reply:
    """A normal success (204, or 200 + message with ``?wait=true``), with extra headers."""
    return Reply(status=0, headers=dict(headers))


def rate_limited(retry_after: float) -> Reply:
    """A Discord rate limit: JSON ``retry_after``, ``Retry-After`` and ``X-RateLimit-*``."""
    return Reply(
        429,
        {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
        {
            "Retry-After": str(math.ceil(retry_after)),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": str(retry_after),
            "X-RateLimit-Bucket": "abcd1234",
            "X-RateLimit-Scope": "user",
            "Via": "1.1 google",
        },
    )


def blocked() -> Reply:
    """A 429 from Discord's edge: no rate-limit headers at all (a temporary ban)."""
    return Reply(429, "error code: 1015", {"Content-Type": "text/plain"})


def server_error() -> Reply:
    return Reply(500, {"message": "500: Internal Server Error", "code": 0})


def unknown_webhook() -> Reply:
    return Reply(404, {"message": "Unknown Webhook", "code": 10015})


@dataclass
class Recorded:
    """One request the stand-in received."""

    at: float
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int
    problems: list[str]
    reply: Any = None


def secret_free(texts: list[str], secrets: list[str]) -> None:
    """Assert that no text contains any of the secrets (or the token part of a URL)."""
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"a secret leaked into: {text[:200]!r}"


def validate(body: Any) -> list[str]:
    """Everything in ``body`` that Discord would reject with a 400."""
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    problems = []
    content = body.get("content") or ""
    embeds = body.get("embeds") or []
    if not content and not embeds:
        problems.append("cannot send an empty message")
    if len(content) > LIMITS["content"]:
        problems.append(f"content: {len(content)} > {LIMITS['content']}")
    if len(body.get("username") or "") > LIMITS["username"]:
        problems.append("username too long")
    if len(embeds) > LIMITS["embeds"]:
        problems.append(f"embeds: {len(embeds)} > {LIMITS['embeds']}")
    total = 0
    for i, embed in enumerate(embeds):
        title = embed.get("title") or ""
        description = embed.get("description") or ""
        footer = (embed.get("footer") or {}).get("text") or ""
        author = (embed.get("author") or {}).get("name") or ""
        fields = embed.get("fields") or []
        for name, value, limit in (
            ("title", title, LIMITS["title"]),
            ("description", description, LIMITS["description"]),
            ("footer", footer, LIMITS["footer"]),
            ("author", author, LIMITS["author"]),
        ):
            if len(value) > limit:
                problems.append(f"embeds[{i}].{name}: {len(value)} > {limit}")
        if len(fields) > LIMITS["fields"]:
            problems.append(f"embeds[{i}].fields: {len(fields)} > {LIMITS['fields']}")
        total += len(title) + len(description) + len(footer) + len(author)
        for j, item in enumerate(fields):
            name, value = item.get("name") or "", item.get("value") or ""
            if not name or not value:
                problems.append(f"embeds[{i}].fields[{j}]: name and value are required")
            if len(name) > LIMITS["field_name"]:
                problems.append(f"embeds[{i}].fields[{j}].name: {len(name)}")
            if len(value) > LIMITS["field_value"]:
                problems.append(f"embeds[{i}].fields[{j}].value: {len(value)}")
            total += len(name) + len(value)
        color = embed.get("color")
        if color is not None and not (isinstance(color, int) and 0 <= color <= 0xFFFFFF):
            problems.append(f"embeds[{i}].color invalid")
    if total > LIMITS["total"]:
        problems.append(f"embeds: {total} characters > {LIMITS['total']}")
    return problems


class DiscordStandIn:
    """A scripted, strict stand-in for one Discord webhook on 127.0.0.1."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.arrivals: list[float] = []  # when each request arrived, before any scripted delay
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1_200_000_000_000_000_000)
        self.deleted = False
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

            def do_POST(self) -> None:
                standin._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The webhook URL as a user would paste it (unversioned, like Discord shows it)."""
        return f"{self.base}/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, then normally again."""
        with self._lock:
            self._script.extend(replies)

    @property
    def accepted(self) -> list[Recorded]:
        """The requests that were answered with success."""
        return [r for r in self.requests if 200 <= r.status < 300]

    def __enter__(self) -> DiscordStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        arrived = time.monotonic()
        self.arrivals.append(arrived)
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self._lock:
            reply = self._script.popleft() if self._script else accepted()
        problems: list[str] = []
        expected = f"/api/v10/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"
        if reply.delay:
            time.sleep(reply.delay)
        if reply.hold is not None and not reply.hold.wait(60):
            raise AssertionError("a held reply was never released")
        if parts.path != expected or self.deleted:
            reply = unknown_webhook()
        elif reply.status == 0:
            problems = validate(body)
            if problems:
                reply = Reply(
                    400,
                    {"message": "Invalid Form Body", "code": 50035, "errors": problems},
                    reply.headers,
                )
            elif query.get("wait") == ["true"]:
                message_id = str(next(self._ids))
                reply = Reply(200, {"id": message_id, "type": 0, **body}, reply.headers)
            else:
                reply = Reply(204, None, reply.headers)
        self.requests.append(
            Recorded(
                at=arrived,
                path=parts.path,
                query=query,
                headers=dict(handler.headers),
                body=body,
                status=reply.status,
                problems=problems,
                reply=reply.body,
            )
        )
        payload = b""
        if reply.body is not None:
            payload = (
                reply.body.encode()
                if isinstance(reply.body, str)
                else json.dumps(reply.body).encode()
            )
        handler.send_response(reply.status)
        headers = {"Content-Type": "application/json", **reply.headers}
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if payload:
            handler.wfile.write(payload)


def discord_notifier(url: str, **extra: Any) -> DiscordNotifier:
    """The real Discord notifier ``ops`` posting to ``url``; ``extra`` sets more of its
    settings (``cooldown``, ``username`` ...)."""
    settings = {"name": "ops", "type": "discord", "webhook_url": SecretStr(url)} | extra
    return DiscordNotifier(DiscordSettings(**settings))
