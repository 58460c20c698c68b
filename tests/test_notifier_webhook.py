"""The generic webhook notifier: documented JSON body, HMAC signature, response handling."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from driftscope.core.contracts.notifier import AlertChange, Notification
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
        ((429, {"Retry-After": "7"}, b""), {"retry_after": 7.0}),
        ((429, {}, b'{"retry_after": 1.5}'), {"retry_after": 1.5}),
        ((429, {}, b""), {"blocked": True, "retry_after": None}),
        ((410, {}, b'{"message": "gone"}'), {"disable": True, "permanent": True}),
        ((401, {}, b""), {"disable": True}),
        ((422, {}, b'{"error": "bad payload"}'), {"permanent": True, "disable": False}),
        ((503, {}, b""), {"permanent": False, "disable": False, "retry_after": None}),
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
