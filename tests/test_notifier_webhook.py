"""The generic webhook notifier: documented JSON body, HMAC signature, response handling."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from driftscope.core.alerting.config import DeliverySettings
from driftscope.core.alerting.delivery import DeliveryWorker
from driftscope.core.alerting.manager import AlertManager
from driftscope.core.alerting.rules import MonitorAlerting
from driftscope.core.contracts.notifier import AlertChange, Notification
from driftscope.core.contracts.store import Store
from driftscope.plugins.notifiers.webhook import (
    SCHEMA,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookNotifier,
    WebhookSettings,
    sign,
    verify_signature,
)
from support.discord_standin import secret_free
from support.receiver import Reply, WebhookReceiver
from support.reports import report

SECRET_PATH = "/hooks/T000/B000/s3cr3t-path-token-xyz"
HMAC_KEY = "hmac-key-that-must-stay-private"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET_PATH) as r:
        yield r


def notifier_for(url: str, **extra: Any) -> WebhookNotifier:
    settings = {"name": "hook", "type": "webhook", "url": SecretStr(url)} | extra
    return WebhookNotifier(WebhookSettings(**settings))


def notification() -> Notification:
    return Notification(
        monitor="credit",
        model="credit-model",
        created_at=datetime(2024, 6, 1, 12, tzinfo=UTC),
        changes=[
            AlertChange("psi", "age", "ok", "firing", 0.41, 0.25),
            AlertChange("ks", "income", "firing", "resolved", 0.02, 0.1, p_value=0.4),
        ],
        report_id="r1",
        window={"rows": 500},
    )


def test_body_follows_the_documented_schema_and_the_signature_verifies(
    receiver: WebhookReceiver,
) -> None:
    notifier = notifier_for(receiver.url, secret=SecretStr(HMAC_KEY))
    result = notifier.send(notification())
    assert result.delivered and result.external_id == "r-1"
    (received,) = receiver.requests
    headers, raw = received.headers, received.raw
    body = json.loads(raw)
    assert body["schema"] == SCHEMA and body["state"] == "firing"
    assert body["counts"] == {"firing": 1, "resolved": 1}
    assert body["changes"][1]["p_value"] == 0.4 and body["window"] == {"rows": 500}
    assert headers["X-Driftscope-Event"] == "alert" and headers["Idempotency-Key"]
    timestamp, signature = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
    assert signature.startswith("sha256=")
    assert verify_signature(HMAC_KEY, timestamp, raw, signature)
    assert not verify_signature("wrong key", timestamp, raw, signature)
    assert not verify_signature(HMAC_KEY, timestamp, raw + b" ", signature)
    old = datetime.fromtimestamp(int(timestamp), UTC) + timedelta(minutes=10)
    assert not verify_signature(HMAC_KEY, timestamp, raw, signature, now=old)
    assert sign(HMAC_KEY, timestamp, raw) == signature
    notifier.close()


def test_the_signature_header_is_hmac_sha256_over_the_timestamp_a_dot_and_the_body(
    receiver: WebhookReceiver,
) -> None:
    """A known answer computed here with ``hmac`` from the documented recipe, not with
    ``sign()``: dropping the timestamp from the signed bytes (or the dot, or signing a
    re-serialised body) changes the header the receiver got."""
    before = int(time.time())
    notifier = notifier_for(receiver.url, secret=SecretStr(HMAC_KEY))
    assert notifier.send(notification()).delivered
    after = int(time.time())
    notifier.close()
    (received,) = receiver.requests
    timestamp = received.headers[TIMESTAMP_HEADER]
    assert re.fullmatch(r"[0-9]+", timestamp) and before <= int(timestamp) <= after
    signed = timestamp.encode("ascii") + b"." + received.raw
    expected = hmac.new(HMAC_KEY.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    assert received.headers[SIGNATURE_HEADER] == f"sha256={expected}"
    unstamped = hmac.new(HMAC_KEY.encode("utf-8"), received.raw, hashlib.sha256).hexdigest()
    assert received.headers[SIGNATURE_HEADER] != f"sha256={unstamped}"


README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_webhook_recipe() -> tuple[Callable[..., bool], str]:
    """The README's receiver-side ``verify`` function, executed as printed, and the
    signature it states for its worked example."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("With a `secret`, every request carries") :]
    start = section.index("```python\n") + len("```python\n")
    code = section[start : section.index("\n```\n", start)]
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    example = re.search(r"the signature is\s+`(sha256=[0-9a-f]{64})`", section)
    assert example, "the README's worked example is gone"
    return namespace["verify"], example.group(1)  # type: ignore[return-value]


def test_the_readme_recipe_verifies_a_real_request_and_its_worked_example_is_right(
    receiver: WebhookReceiver,
) -> None:
    verify, example = _readme_webhook_recipe()
    # the worked example, by hand (openssl gives the same: the README prints the command)
    by_hand = hmac.new(b"key", b'1718000000.{"a":1}', hashlib.sha256).hexdigest()
    assert example == f"sha256={by_hand}" == sign("key", "1718000000", b'{"a":1}')
    notifier = notifier_for(receiver.url, secret=SecretStr(HMAC_KEY))
    assert notifier.send(notification()).delivered
    notifier.close()
    (received,) = receiver.requests
    headers, raw = received.headers, received.raw
    assert verify(HMAC_KEY, headers, raw)
    assert not verify("wrong key", headers, raw)
    assert not verify(HMAC_KEY, headers, raw.replace(b'"credit"', b'"debit"'))
    # a replay under a fresh timestamp: the old signature does not cover it
    fresh = {**headers, TIMESTAMP_HEADER: str(int(headers[TIMESTAMP_HEADER]) + 1)}
    assert not verify(HMAC_KEY, fresh, raw)
    stale = {**headers, TIMESTAMP_HEADER: str(int(headers[TIMESTAMP_HEADER]) - 3600)}
    stale[SIGNATURE_HEADER] = sign(HMAC_KEY, stale[TIMESTAMP_HEADER], raw)
    assert not verify(HMAC_KEY, stale, raw)  # well signed, but an hour old


def test_a_merged_message_lists_every_change_in_order_and_counts_each_key_once(
    receiver: WebhookReceiver,
) -> None:
    t1 = datetime(2024, 6, 1, 12, tzinfo=UTC)
    t2 = t1 + timedelta(minutes=5)
    merged = Notification(
        monitor="credit",
        model="credit-model",
        created_at=t2,
        changes=[
            AlertChange("psi", "age", "ok", "firing", 0.41, 0.25, at=t1),
            AlertChange("psi", "age", "firing", "resolved", 0.02, 0.25, at=t2),
        ],
    )
    notifier = notifier_for(receiver.url)
    assert notifier.send(merged).delivered
    body = receiver.requests[0].body
    assert body["state"] == "resolved" and body["counts"] == {"resolved": 1}
    assert [(c["from_state"], c["to_state"], c["at"]) for c in body["changes"]] == [
        ("ok", "firing", "2024-06-01T12:00:00+00:00"),
        ("firing", "resolved", "2024-06-01T12:05:00+00:00"),
    ]
    notifier.close()


def test_retries_of_one_notification_share_an_idempotency_key(receiver: WebhookReceiver) -> None:
    notifier = notifier_for(receiver.url)
    notifier.send(notification())
    notifier.send(notification())
    keys = {r.idempotency_key for r in receiver.requests}
    assert len(keys) == 1 and SIGNATURE_HEADER not in receiver.requests[0].headers


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ((429, {"Retry-After": "7"}, b""), {"outcome": "rate_limited", "retry_after": 7.0}),
        ((429, {}, b'{"retry_after": 1.5}'), {"outcome": "rate_limited", "retry_after": 1.5}),
        ((429, {}, b""), {"outcome": "blocked", "retry_after": None}),
        # "inf" and "nan" are no wait: without another, the 429 is a block
        ((429, {"Retry-After": "inf"}, b""), {"outcome": "blocked", "retry_after": None}),
        ((429, {"Retry-After": "nan"}, b'{"retry_after": 2}'), {"retry_after": 2.0}),
        # one answer parks the notifier for a day at most
        ((429, {"Retry-After": "1e300"}, b""), {"outcome": "rate_limited", "retry_after": 86400}),
        ((410, {}, b'{"message": "gone"}'), {"outcome": "gone"}),
        ((404, {}, b""), {"outcome": "gone"}),
        ((403, {}, b""), {"outcome": "gone"}),
        ((401, {}, b""), {"outcome": "gone"}),
        ((422, {}, b'{"error": "bad payload"}'), {"outcome": "rejected"}),
        ((400, {}, b""), {"outcome": "rejected"}),
        ((503, {}, b""), {"outcome": "transient", "retry_after": None}),
        ((500, {}, b""), {"outcome": "transient"}),
        ((301, {"Location": "http://127.0.0.1:9/"}, b""), {"outcome": "transient"}),
    ],
)
def test_responses_map_to_delivery_results(
    receiver: WebhookReceiver, reply: Reply, expected: dict[str, Any]
) -> None:
    receiver.script(reply)
    result = notifier_for(receiver.url).send(notification())
    assert not result.delivered and result.status_code == reply[0]
    for name, value in expected.items():
        assert getattr(result, name) == value, (name, result)


T0 = datetime(2024, 6, 1, 12, tzinfo=UTC)


def _enqueue_one_alert(store: Store) -> None:
    """A drifting report through the alert rules: one outbox message for ``hook``."""
    manager = AlertManager(store, None, {"credit": MonitorAlerting(notify=("hook",))})
    manager.handle_report(report({"age": True}, id="r-1", at=T0), now=T0)


def test_a_410_disables_the_webhook_notifier_through_the_worker(
    store: Store, receiver: WebhookReceiver
) -> None:
    receiver.script((410, {}, b'{"message": "gone"}'))
    notifier = notifier_for(receiver.url)
    worker = DeliveryWorker(store, {"hook": notifier}, DeliverySettings())
    _enqueue_one_alert(store)
    assert worker.run_once(now=T0) == 0
    (message,) = store.list_messages(limit=10)
    assert message.status == "failed" and "HTTP 410" in (message.last_error or "")
    status = store.get_notifier_status("hook")
    assert status is not None and status.disabled and "410" in (status.reason or "")
    secret_free([status.reason or "", message.last_error or ""], [SECRET_PATH])
    notifier.close()


def test_a_retry_after_far_in_the_future_waits_a_day_at_most(
    store: Store, receiver: WebhookReceiver
) -> None:
    # 1e300 seconds used to overflow the worker's datetime arithmetic and fail every pass
    receiver.script((429, {"Retry-After": "1e300"}, b""))
    notifier = notifier_for(receiver.url)
    worker = DeliveryWorker(store, {"hook": notifier}, DeliverySettings())
    _enqueue_one_alert(store)
    assert worker.run_once(now=T0) == 0
    (message,) = store.list_messages(limit=10)
    assert message.status == "pending" and message.attempts == 0
    assert message.next_attempt_at == T0 + timedelta(days=1)
    assert worker.run_once(now=T0 + timedelta(days=1)) == 1
    notifier.close()


def test_secrets_appear_in_no_log_error_or_repr(
    receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.script((500, {}, b""))
    notifier = notifier_for(
        receiver.url,
        secret=SecretStr(HMAC_KEY),
        headers={"Authorization": SecretStr("Bearer tok-123456")},
    )
    results = [notifier.send(notification()), notifier.send(notification())]
    closed = notifier_for("http://127.0.0.1:9" + SECRET_PATH)
    results.append(closed.send(notification()))
    assert not results[-1].delivered
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)
    secret_free(
        [
            caplog.text,
            repr(results),
            repr(notifier),
            repr(notifier.settings),
            notifier.settings.model_dump_json(),
        ],
        [SECRET_PATH, HMAC_KEY, "tok-123456"],
    )
    with pytest.raises(ValidationError) as info:
        WebhookSettings(name="x", url=SecretStr("ftp://example.com" + SECRET_PATH))
    secret_free([str(info.value)], [SECRET_PATH])
    notifier.close()
    closed.close()
