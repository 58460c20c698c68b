"""The ``webhook`` notifier: a generic JSON POST, for Slack-style bridges and
PagerDuty-style receivers.

The request::

    POST <url>
    Content-Type: application/json
    User-Agent: driftscope-alerts
    X-Driftscope-Event: alert            (or "test" for driftscope notify-test)
    X-Driftscope-Timestamp: 1718000000   (Unix seconds when the request was signed)
    X-Driftscope-Signature: sha256=<hex> (only when ``secret`` is set)
    Idempotency-Key: <hex>               (the same for every retry of one notification)

    {
      "schema": "driftscope.alert/v1",
      "monitor": "cancer-drift", "model": "cancer",
      "state": "firing",                  # firing | no_data | resolved | ok
      "created_at": "2024-06-10T12:00:00+00:00",
      "report_id": "…", "dashboard_url": "…" | null, "test": false,
      "window": {"start": "…", "end": "…", "rows": 500, "labelled_rows": 120,
                 "sampled_rows": null, "min_samples": 200},
      "counts": {"firing": 2, "resolved": 1},
      "changes": [{"detector": "ks", "feature": "age", "kind": "feature",
                   "from_state": "ok", "to_state": "firing",
                   "at": "2024-06-10T12:00:00+00:00",
                   "compared": "p_value", "value": 0.0369, "threshold": 0.05,
                   "drifts_when": "below", "p_value": 0.0123, "p_value_adjusted": 0.0369,
                   "statistic": 0.41, "statistic_floor": 0.1,
                   "comparison": "adjusted p-value 0.0369 < threshold 0.05 (raw 0.0123)
                                  · statistic 0.41 ≥ floor 0.1"},   # one line
                  …]
    }

``changes`` are state changes oldest first. A message merged during a notifier's cooldown
keeps every change, so one key may appear several times ("ok → firing" at T1, then
"firing → resolved" at T2); ``state`` and ``counts`` count each key once, by its last
change. ``from_state == to_state`` is a reminder that a key is still firing.

In each change, ``value`` is the number the decision compared with ``threshold`` and
``compared`` says which number it is: ``"p_value"`` (KS, chi-square: the p-value after the
monitor's correction, also in ``p_value_adjusted``; ``statistic`` is then the test
statistic, held against ``statistic_floor`` when KS has a ``min_statistic``),
``"statistic"`` (PSI; a model's metric, where ``drifts_when: "below"`` makes ``threshold``
its lowest acceptable value and ``"above"`` an error metric's highest), or ``"rows"`` (a
monitor's ``no_data``: the window's rows against ``min_samples``). ``comparison`` says the
same in words. ``context`` adds what the result's details say, in words, or ``null``: an
estimate's band and realized value, the features carrying a multivariate change, the check a
data-quality finding failed (see ``driftscope.result_context``). Messages enqueued before
these fields existed carry ``null`` in them.

The signature is ``"sha256=" + hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") +
b"." + body, hashlib.sha256).hexdigest()``: the lowercase hex HMAC-SHA256, keyed with the
secret, of the timestamp header's value, a full stop and the exact request body bytes. A
receiver recomputes it over the raw body, compares in constant time, and rejects old
timestamps to stop replays (see :func:`verify_signature` and the README's recipe).

Responses are classified by :meth:`driftscope.DeliveryOutcome.from_status`, as for every
notifier: 2xx delivered (a JSON ``id`` is kept as the external id); 429 retried after
``Retry-After`` (seconds or an HTTP date) or a JSON ``retry_after``, or reported as a
block when neither is given; 401/403/404/410 disable the notifier; another 4xx fails the
message; 5xx and connection errors are retried with backoff. The URL, the secret and the
header values are secrets: they appear in no log, error or repr.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx
from pydantic import ConfigDict, Field, SecretStr, field_validator

from driftscope import (
    DeliveryOutcome,
    DeliveryResult,
    Duration,
    Notification,
    Notifier,
    NotifierRecord,
    NotifierSettings,
    comparison_text,
    hookimpl,
    protect_secrets,
    redact,
)

SCHEMA = "driftscope.alert/v1"
SIGNATURE_HEADER = "X-Driftscope-Signature"
TIMESTAMP_HEADER = "X-Driftscope-Timestamp"
EVENT_HEADER = "X-Driftscope-Event"


class WebhookSettings(NotifierSettings):
    """Settings of the ``webhook`` notifier."""

    # a rejected URL must not be echoed back in the validation error
    model_config = ConfigDict(hide_input_in_errors=True)

    type: Literal["webhook"] = "webhook"
    url: SecretStr = Field(description="Where to POST (a secret: it often carries a token).")
    secret: SecretStr | None = Field(
        default=None, description="Sign each request with HMAC-SHA256 using this key."
    )
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="Extra request headers, e.g. Authorization."
    )
    timeout: Duration = Field(
        default=timedelta(seconds=10), description="HTTP timeout of one send."
    )

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: SecretStr) -> SecretStr:
        try:
            url = httpx.URL(value.get_secret_value().strip())
        except (httpx.InvalidURL, TypeError, ValueError):
            raise ValueError("url is not a valid URL (not shown: it is a secret)") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("url must be an http:// or https:// URL (not shown: it is a secret)")
        return value


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Driftscope-Signature`` value for a body sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance: timedelta = timedelta(minutes=5),
    now: datetime | None = None,
) -> bool:
    """Check a request's signature and that its timestamp is recent (for receivers)."""
    try:
        sent = datetime.fromtimestamp(int(timestamp), UTC)
    except (TypeError, ValueError, OverflowError):
        return False
    if abs((now or datetime.now(UTC)) - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def build_body(notification: Notification) -> dict[str, Any]:
    """The JSON document of the module docstring."""
    data = notification.to_dict()
    counts: dict[str, int] = {}
    for change in notification.latest():
        counts[change.to_state] = counts.get(change.to_state, 0) + 1
    changes = [
        {**data_change, "comparison": comparison_text(change)}
        for data_change, change in zip(data["changes"], notification.changes, strict=True)
    ]
    return {
        "schema": SCHEMA,
        "monitor": data["monitor"],
        "model": data["model"],
        "state": notification.state,
        "created_at": data["created_at"],
        "report_id": data["report_id"],
        "dashboard_url": data["dashboard_url"],
        "test": data["test"],
        "window": data["window"],
        "counts": counts,
        "changes": changes,
    }


#: Path segments and query values this long are tokens, secret on their own.
TOKEN_MIN = 16


def url_secrets(url: httpx.URL) -> list[str]:
    """The parts of a webhook URL a receiver may echo back in an error ("cannot POST
    /hooks/<token>"): its path and query, raw and decoded, and every token-length segment
    or query value. The host alone is not a secret; errors may name it."""
    found = {url.raw_path.decode("ascii"), url.path}
    if url.query:
        found.add(url.query.decode("ascii"))
    segments = [*url.path.split("/"), *url.params.values()]
    found.update(s for s in segments if len(s) >= TOKEN_MIN)
    return [s for s in found if len(s) > 1]


class WebhookNotifier(Notifier[WebhookSettings]):
    """POSTs alerts as JSON to any URL, optionally signed with HMAC-SHA256."""

    Settings = WebhookSettings

    def __init__(self, settings: WebhookSettings) -> None:
        super().__init__(settings)
        self.settings: WebhookSettings = settings
        raw = settings.url.get_secret_value()
        self._url = httpx.URL(raw.strip())
        self._secrets = [raw, raw.strip(), str(self._url), *url_secrets(self._url)]
        self._secrets += [v.get_secret_value() for v in settings.headers.values()]
        if settings.secret is not None:
            self._secrets.append(settings.secret.get_secret_value())
        protect_secrets(self._secrets)
        self._lock = threading.Lock()
        self._client = httpx.Client(
            timeout=settings.timeout.total_seconds(), headers={"User-Agent": "driftscope-alerts"}
        )

    def close(self) -> None:
        self._client.close()

    def send(self, notification: Notification) -> DeliveryResult:
        document = build_body(notification)
        body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {k: v.get_secret_value() for k, v in self.settings.headers.items()}
        headers.update(
            {
                "Content-Type": "application/json",
                EVENT_HEADER: "test" if notification.test else "alert",
                TIMESTAMP_HEADER: timestamp,
                "Idempotency-Key": hashlib.sha256(body).hexdigest()[:32],
            }
        )
        if self.settings.secret is not None:
            headers[SIGNATURE_HEADER] = sign(
                self.settings.secret.get_secret_value(), timestamp, body
            )
        with self._lock:
            try:
                response = self._client.post(self._url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                return DeliveryResult(
                    DeliveryOutcome.TRANSIENT,
                    error=redact(
                        f"could not reach the webhook: {type(exc).__name__}: {exc}", self._secrets
                    ),
                )
        return self._result(response)

    def _result(self, response: httpx.Response) -> DeliveryResult:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if 200 <= status < 300:
            ident = body.get("id") if isinstance(body, dict) else None
            return DeliveryResult.from_status(
                status, external_id=str(ident) if ident is not None else None
            )
        detail = f"webhook answered HTTP {status}"
        if isinstance(body, dict):
            reason = body.get("message") or body.get("error")
            if reason:
                detail += f": {str(reason)[:300]}"
        # a 429 that says how long to wait is a rate limit; one that does not is a block
        retry_after = _retry_after(response, body) if status == 429 else None
        return DeliveryResult.from_status(
            status, retry_after=retry_after, error=redact(detail, self._secrets)
        )


def _retry_after(response: httpx.Response, body: Any) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date) or a JSON
    ``retry_after``; ``None`` when neither holds a usable number."""
    header = response.headers.get("retry-after")
    if header is not None:
        seconds = _seconds(header)
        if seconds is not None:
            return seconds
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    if isinstance(body, dict):
        return _seconds(body.get("retry_after"))
    return None


def _seconds(value: Any) -> float | None:
    """A finite number of seconds (negative counts as 0), or ``None`` ("nan" and "inf" are
    not a wait)."""
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


@hookimpl
def driftscope_notifiers() -> Iterator[NotifierRecord]:
    yield NotifierRecord("webhook", WebhookNotifier)
