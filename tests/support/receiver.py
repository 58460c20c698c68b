"""A webhook endpoint on 127.0.0.1 for notifier and delivery tests.

It records every POST (headers, raw body, the status it answered) and answers each with the
next scripted reply, or with ``default`` once the script is used up; a test can change
``default`` at any time (a receiver that is down, then comes back). Use it as a context
manager::

    with WebhookReceiver() as receiver:
        receiver.script((429, {"Retry-After": "7"}, b""))
        ... post to receiver.url ...
        receiver.wait_for_requests(1)
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

Reply = tuple[int, dict[str, str], bytes]
"""A status, headers (``Content-Length`` is added) and a body."""

OK: Reply = (200, {}, b'{"id": "r-1"}')


@dataclass(frozen=True)
class Received:
    """One POST the receiver took, and the status it answered."""

    headers: dict[str, str]
    raw: bytes
    status: int

    @property
    def body(self) -> Any:
        """The body as JSON."""
        return json.loads(self.raw)

    @property
    def idempotency_key(self) -> str:
        """The request's ``Idempotency-Key`` header."""
        return self.headers["Idempotency-Key"]


class WebhookReceiver:
    """Records POSTs to ``url`` and answers them as scripted (see the module's docstring)."""

    def __init__(self, path: str = "/hooks/driftscope", default: Reply = OK) -> None:
        self.path = path
        self.default = default
        self._script: deque[Reply] = deque()
        self._received: list[Received] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, body = receiver._take(dict(self.headers), raw)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _take(self, headers: dict[str, str], raw: bytes) -> Reply:
        with self._changed:
            reply = self._script.popleft() if self._script else self.default
            self._received.append(Received(headers, raw, reply[0]))
            self._changed.notify_all()
        return reply

    @property
    def url(self) -> str:
        """The endpoint's URL (its path is ``path``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    @property
    def requests(self) -> list[Received]:
        """Every request so far, in arrival order."""
        with self._changed:
            return list(self._received)

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order."""
        with self._changed:
            self._script.extend(replies)

    def wait_for_requests(self, count: int, timeout: float = 60.0) -> None:
        """Wait until ``count`` requests have arrived; fail after ``timeout`` seconds."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._received) >= count, timeout):
                raise AssertionError(f"{len(self._received)} requests, expected {count}")

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
