"""The ``discord`` notifier: one embed per notification, posted to a Discord webhook.

Follows discord.py's webhook client:

* The configured URL is rewritten to the versioned path ``/api/v10/webhooks/{id}/{token}``
  (an unversioned URL gets Discord's old v6 semantics) and posted with ``?wait=true``, so
  success means Discord saved the message; its id is returned as ``external_id``. Of the
  configured query parameters only ``thread_id`` is kept.
* Sends to one webhook are serialised (one lock per webhook id, shared by every notifier
  instance in the process). After a response with ``X-RateLimit-Remaining: 0`` the next
  send first waits ``X-RateLimit-Reset-After``: inline when that is short
  (``max_inline_wait``), otherwise it hands the wait back to the delivery worker.
* A 429 with rate-limit headers (``X-RateLimit-*`` or ``Via``) is a rate limit: retry after
  the JSON ``retry_after`` (or the ``Retry-After`` header). A 429 without them is a block by
  Discord's edge, reported as ``blocked`` so the worker backs off for minutes.
* Responses are classified by :meth:`driftscope.DeliveryOutcome.from_status`, as for every
  notifier: 401, 403, 404 and 410 disable the notifier (Discord restricts clients that keep
  calling a deleted webhook, and 410 Gone says the same); another 4xx fails the message; a
  5xx is retried with backoff.
* ``allowed_mentions: {"parse": []}``: feature names can never ping anyone.
* Discord's limits are honoured by truncating and summarising ("+12 more features"), never
  by a 400: see :func:`build_payload`.

The webhook URL is a secret: it is a ``SecretStr``, it is redacted from httpx's request log
and from every error text, and it appears in no repr.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Literal

import httpx
from pydantic import ConfigDict, Field, SecretStr, field_validator

from driftscope import (
    MAX_RETRY_AFTER,
    AlertChange,
    DeliveryOutcome,
    DeliveryResult,
    Duration,
    Notification,
    Notifier,
    NotifierRecord,
    NotifierSettings,
    comparison_with_context,
    hookimpl,
    protect_secrets,
    redact,
)

# Discord's documented limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
CONTENT_LIMIT = 2000
EMBEDS_LIMIT = 10
FIELDS_LIMIT = 25
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
AUTHOR_LIMIT = 256
TOTAL_LIMIT = 6000
USERNAME_LIMIT = 80

COLOURS = {"firing": 0xE01E37, "resolved": 0x2EB67D, "no_data": 0xF2A900, "ok": 0x8A8F98}
_STATE_TEXT = {"firing": "firing", "resolved": "resolved", "no_data": "no data", "ok": "ok"}
_ICONS = {"firing": "🔴", "resolved": "🟢", "no_data": "🟡", "pending": "🟠", "ok": "⚪"}
_ORDER = {"firing": 0, "no_data": 1, "resolved": 2}
_SUMMARY_RESERVE = 200

_PATH = re.compile(
    r"^/api(?:/v\d+)?/webhooks/(?P<id>[0-9]{17,20})/(?P<token>[A-Za-z0-9._-]{60,})/?$"
)
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_BAD_URL = (
    "is not a Discord webhook URL: expected "
    "https://discord.com/api/webhooks/<id>/<token> (the URL itself is not shown: it is a secret)"
)


class WebhookURL:
    """A parsed Discord webhook URL: the versioned endpoint to post to, and its parts."""

    def __init__(self, raw: str) -> None:
        try:
            url = httpx.URL(raw.strip())
        except (httpx.InvalidURL, TypeError, ValueError):
            raise ValueError(_BAD_URL) from None
        match = _PATH.match(url.path)
        local = url.host in _LOCAL_HOSTS
        if match is None or not url.host or url.scheme not in ("https", "http"):
            raise ValueError(_BAD_URL)
        if url.scheme == "http" and not local:
            raise ValueError("webhook_url must use https (http is allowed only for localhost)")
        self.webhook_id = match["id"]
        self.token = match["token"]
        params: dict[str, str] = {}
        thread_id = url.params.get("thread_id")
        if thread_id is not None:
            if not thread_id.isdigit():
                raise ValueError("webhook_url: thread_id must be a number")
            params["thread_id"] = thread_id
        params["wait"] = "true"
        self.url = url.copy_with(
            path=f"/api/v10/webhooks/{self.webhook_id}/{self.token}", params=params, fragment=None
        )
        self.secrets = (raw, raw.strip(), str(url), str(self.url), self.token)

    def __repr__(self) -> str:
        return "WebhookURL(***)"


class DiscordSettings(NotifierSettings):
    """Settings of the ``discord`` notifier."""

    # a rejected URL must not be echoed back in the validation error
    model_config = ConfigDict(hide_input_in_errors=True)

    type: Literal["discord"] = "discord"
    webhook_url: SecretStr = Field(description="The channel's webhook URL (a secret).")
    username: str | None = Field(
        default=None, max_length=USERNAME_LIMIT, description="Override the webhook's name."
    )
    avatar_url: str | None = Field(default=None, description="Override the webhook's avatar.")
    timeout: Duration = Field(
        default=timedelta(seconds=10), description="HTTP timeout of one send."
    )
    max_inline_wait: Duration = Field(
        default=timedelta(seconds=2),
        description="Wait this long at most for a rate-limit reset before sending; a longer "
        "wait is handed back to the delivery worker.",
    )

    @field_validator("webhook_url")
    @classmethod
    def _valid_webhook(cls, value: SecretStr) -> SecretStr:
        WebhookURL(value.get_secret_value())
        return value


class _Bucket:
    """The rate-limit state of one webhook, shared by every notifier posting to it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset_at = 0.0  # time.monotonic() before which the bucket is exhausted

    def wait_needed(self) -> float:
        return max(0.0, self.reset_at - time.monotonic())

    def exhaust_for(self, seconds: float) -> None:
        # a wait past what one answer may impose would hold the bucket shut for good
        seconds = min(seconds, MAX_RETRY_AFTER)
        self.reset_at = max(self.reset_at, time.monotonic() + seconds)


_buckets: dict[str, _Bucket] = {}
_buckets_guard = threading.Lock()


def _bucket(webhook_id: str) -> _Bucket:
    with _buckets_guard:
        return _buckets.setdefault(webhook_id, _Bucket())


class DiscordNotifier(Notifier[DiscordSettings]):
    """Posts alerts to a Discord channel through a webhook."""

    Settings = DiscordSettings

    def __init__(self, settings: DiscordSettings) -> None:
        super().__init__(settings)
        self.settings: DiscordSettings = settings
        self._webhook = WebhookURL(settings.webhook_url.get_secret_value())
        protect_secrets(self._webhook.secrets)
        self._bucket = _bucket(self._webhook.webhook_id)
        self._client = httpx.Client(
            timeout=settings.timeout.total_seconds(),
            headers={"User-Agent": "driftscope-alerts (+https://github.com/driftscope)"},
        )

    def close(self) -> None:
        self._client.close()

    def _scrub(self, text: str) -> str:
        return redact(text, self._webhook.secrets)

    def send(self, notification: Notification) -> DeliveryResult:
        payload = build_payload(
            notification, username=self.settings.username, avatar_url=self.settings.avatar_url
        )
        with self._bucket.lock:
            wait = self._bucket.wait_needed()
            if wait > self.settings.max_inline_wait.total_seconds():
                return DeliveryResult(
                    DeliveryOutcome.RATE_LIMITED,
                    retry_after=wait,
                    error=f"Discord rate limit bucket exhausted; retrying in {wait:.1f}s",
                )
            if wait > 0:
                time.sleep(wait)
            try:
                response = self._client.post(self._webhook.url, json=payload)
            except httpx.HTTPError as exc:
                return DeliveryResult(
                    DeliveryOutcome.TRANSIENT,
                    error=self._scrub(f"could not reach Discord: {type(exc).__name__}: {exc}"),
                )
            self._track_rate_limit(response)
            return self._result(response)

    def _track_rate_limit(self, response: httpx.Response) -> None:
        headers = response.headers
        if headers.get("x-ratelimit-remaining") == "0":
            reset_after = _float(headers.get("x-ratelimit-reset-after"))
            if reset_after is not None:
                self._bucket.exhaust_for(reset_after)

    def _result(self, response: httpx.Response) -> DeliveryResult:
        status = response.status_code
        body = _json(response)
        if 200 <= status < 300:
            message_id = body.get("id") if isinstance(body, dict) else None
            return DeliveryResult.from_status(
                status, external_id=str(message_id) if message_id is not None else None
            )
        detail = self._scrub(_discord_error(status, body))
        if status != 429:
            return DeliveryResult.from_status(status, error=detail)
        headers = response.headers
        rate_limited = "via" in headers or any(
            name.lower().startswith("x-ratelimit") for name in headers
        )
        if not rate_limited:
            return DeliveryResult.from_status(
                status,
                rate_limit_signalled=False,
                error=f"{detail} without rate-limit headers: blocked by Discord",
            )
        retry_after = _float(body.get("retry_after")) if isinstance(body, dict) else None
        if retry_after is None:
            retry_after = _float(headers.get("retry-after"))
        if retry_after is None:
            retry_after = _float(headers.get("x-ratelimit-reset-after")) or 1.0
        self._bucket.exhaust_for(retry_after)
        return DeliveryResult.from_status(
            status, retry_after=retry_after, rate_limit_signalled=True, error=detail
        )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _float(value: Any) -> float | None:
    """A finite number, or ``None`` ("nan" and "inf" from a header are not a wait)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and math.isfinite(number) else None


def _discord_error(status: int, body: Any) -> str:
    text = f"Discord answered HTTP {status}"
    if isinstance(body, dict):
        if body.get("message"):
            text += f": {body['message']}"
        if body.get("code"):
            text += f" (code {body['code']})"
        if body.get("errors"):
            text += f" {_clip(str(body['errors']), 400)}"
    return text


# -- the payload -------------------------------------------------------------------------------
def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(change: AlertChange) -> str:
    return "" if change.at is None else f" at {change.at.strftime('%Y-%m-%d %H:%M:%S')} UTC"


def _transition(change: AlertChange) -> str:
    if change.from_state == change.to_state:  # announced again while it stays there
        return f"still {_STATE_TEXT.get(change.to_state, change.to_state)}"
    return f"{change.from_state} → {change.to_state}"


def _history_line(change: AlertChange) -> str:
    if change.kind == "monitor":
        rows = "n/a" if change.statistic is None else str(int(change.statistic))
        minimum = "n/a" if change.threshold is None else str(int(change.threshold))
        detail = f"{rows} rows in the window, minimum {minimum}"
    else:
        detail = comparison_with_context(change)  # each number beside its own threshold
    return f"{_transition(change)}{_when(change)}\n{detail}"


def _field(history: list[AlertChange], monitor: str) -> dict[str, Any]:
    """One field per key: every change of the key in order, so a merged message reads
    "ok → firing at T1 … firing → resolved at T2"; the oldest give way to a count first."""
    last = history[-1]
    icon = _ICONS.get(last.to_state, "⚪")
    if last.kind == "monitor":
        name = f"{icon} {monitor} · {_STATE_TEXT.get(last.to_state, last.to_state)}"
    else:
        name = f"{icon} {last.feature or last.kind} · {last.detector}"
    lines = [_history_line(c) for c in history]
    value = "\n".join(lines)
    dropped = 0
    while len(value) > FIELD_VALUE_LIMIT and len(lines) > 1:
        lines.pop(0)
        dropped += 1
        value = f"(+{dropped} earlier changes)\n" + "\n".join(lines)
    return {
        "name": _clip(name, FIELD_NAME_LIMIT),
        "value": _clip(value, FIELD_VALUE_LIMIT),
        "inline": False,
    }


def _description(notification: Notification) -> str:
    lines = []
    if notification.test:
        lines.append("This is a test message from driftscope: the notifier works.")
    lines.append(f"Model **{notification.model}**")
    window = notification.window
    if window:
        text = f"Window {window.get('start', '?')} → {window.get('end', '?')}"
        text += f": {window.get('rows', '?')} rows, {window.get('labelled_rows', 0)} labelled"
        if window.get("sampled_rows"):
            text += f", {window['sampled_rows']} sampled"
        if window.get("min_samples"):
            text += f" (minimum {window['min_samples']})"
        lines.append(text)
    counts: dict[str, int] = {}
    for change in notification.latest():
        counts[change.to_state] = counts.get(change.to_state, 0) + 1
    if counts:
        lines.append(" · ".join(f"{n} {_STATE_TEXT.get(s, s)}" for s, n in sorted(counts.items())))
    if notification.dashboard_url:
        lines.append(f"[Open the dashboard]({notification.dashboard_url})")
    return _clip("\n".join(lines), DESCRIPTION_LIMIT)


def build_payload(
    notification: Notification, *, username: str | None = None, avatar_url: str | None = None
) -> dict[str, Any]:
    """The webhook body for a notification, within every Discord limit.

    One embed; a field for each changed key, as many as fit in 25 fields and 6,000
    characters (firing first, then no data, then resolved, by where each key ended up), each
    telling the key's changes in order; a last field "+N more features" names the rest as
    far as they fit.
    """
    state = notification.state
    prefix = "[TEST] " if notification.test else ""
    title = _clip(f"{prefix}{notification.monitor}: {_STATE_TEXT.get(state, state)}", TITLE_LIMIT)
    description = _description(notification)
    footer = _clip(
        f"driftscope · report {notification.report_id}" if notification.report_id else "driftscope",
        FOOTER_LIMIT,
    )
    histories = sorted(notification.history().values(), key=lambda h: _ORDER.get(h[-1].to_state, 3))
    changes = [h[-1] for h in histories]
    fields = [_field(h, notification.monitor) for h in histories]

    budget = TOTAL_LIMIT - len(title) - len(description) - len(footer)
    max_shown = FIELDS_LIMIT if len(fields) <= FIELDS_LIMIT else FIELDS_LIMIT - 1
    shown: list[dict[str, Any]] = []
    for i, item in enumerate(fields):
        more_after = i < len(fields) - 1
        cost = len(item["name"]) + len(item["value"])
        if len(shown) >= max_shown or cost > budget - (_SUMMARY_RESERVE if more_after else 0):
            break
        shown.append(item)
        budget -= cost
    hidden = changes[len(shown) :]
    if hidden:
        name = f"+{len(hidden)} more " + ("feature" if len(hidden) == 1 else "features")
        room = min(FIELD_VALUE_LIMIT, budget - len(name))
        names = ", ".join(
            f"{c.feature or notification.monitor} ({c.detector}, {c.to_state})" for c in hidden
        )
        if room >= 1:
            shown.append({"name": name, "value": _clip(names, room), "inline": False})

    embed: dict[str, Any] = {
        "title": title,
        "description": description,
        "color": COLOURS.get(state, COLOURS["ok"]),
        "fields": shown,
        "footer": {"text": footer},
        "timestamp": notification.created_at.isoformat(),
    }
    if notification.dashboard_url and notification.dashboard_url.startswith(
        ("http://", "https://")
    ):
        embed["url"] = notification.dashboard_url
    content = _clip(
        f"{prefix}driftscope: **{notification.monitor}** is {_STATE_TEXT.get(state, state)}",
        CONTENT_LIMIT,
    )
    payload: dict[str, Any] = {
        "content": content,
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    }
    if username:
        payload["username"] = _clip(username, USERNAME_LIMIT)
    if avatar_url:
        payload["avatar_url"] = avatar_url
    return payload


@hookimpl
def driftscope_notifiers() -> Iterator[NotifierRecord]:
    yield NotifierRecord("discord", DiscordNotifier)
