"""The discord notifier against a strict local stand-in for Discord's webhook endpoint."""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from driftscope.core.contracts.notifier import AlertChange, Notification
from driftscope.plugins.notifiers.discord import (
    COLOURS,
    DiscordSettings,
    WebhookURL,
    build_payload,
)
from support.discord_standin import (
    WEBHOOK_ID,
    WEBHOOK_TOKEN,
    DiscordStandIn,
    Reply,
    accepted,
    blocked,
    discord_notifier,
    rate_limited,
    secret_free,
    server_error,
    unknown_webhook,
    validate,
)

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def notification(
    changes: list[AlertChange] | None = None, *, dashboard: str | None = None
) -> Notification:
    return Notification(
        monitor="credit",
        model="credit-model",
        created_at=NOW,
        changes=changes
        or [AlertChange("psi", "age", "ok", "firing", statistic=0.41, threshold=0.25)],
        report_id="r1",
        window={
            "start": "2024-06-01T11:00:00+00:00",
            "end": NOW.isoformat(),
            "rows": 500,
            "labelled_rows": 40,
            "min_samples": 200,
        },
        dashboard_url=dashboard,
    )


def test_url_is_rewritten_to_v10_with_wait_and_only_thread_id_kept() -> None:
    for path in ("/api/webhooks", "/api/v6/webhooks", "/api/v9/webhooks"):
        raw = f"https://discord.com{path}/{WEBHOOK_ID}/{WEBHOOK_TOKEN}?thread_id=42&wait=false&x=1"
        url = WebhookURL(raw).url
        assert url.path == f"/api/v10/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"
        assert dict(url.params) == {"thread_id": "42", "wait": "true"}
    assert WebhookURL(f"https://discordapp.com/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}").url.host


@pytest.mark.parametrize(
    "bad",
    [
        f"https://discord.com/api/webhooks/123/{WEBHOOK_TOKEN}",
        f"https://discord.com/api/channels/{WEBHOOK_ID}/{WEBHOOK_TOKEN}",
        f"http://discord.com/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}",
        "not a url at all " + WEBHOOK_TOKEN,
    ],
)
def test_a_bad_url_is_rejected_without_echoing_it(bad: str) -> None:
    with pytest.raises(ValidationError) as info:
        DiscordSettings(name="ops", webhook_url=SecretStr(bad))
    assert WEBHOOK_TOKEN not in str(info.value) and WEBHOOK_ID not in str(info.value)
    assert WEBHOOK_TOKEN not in repr(info.value.errors())


def test_firing_message_is_saved_with_wait_and_its_id_kept(discord: DiscordStandIn) -> None:
    notifier = discord_notifier(discord.url)
    result = notifier.send(notification(dashboard="https://dash.example/d"))
    assert result.delivered and result.status_code == 200
    request = discord.requests[-1]
    assert request.path == f"/api/v10/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"
    assert request.query["wait"] == ["true"]
    assert result.external_id == request.reply["id"]
    body = request.body
    assert body["allowed_mentions"] == {"parse": []}
    embed = body["embeds"][0]
    assert "credit" in embed["title"] and "firing" in embed["title"]
    assert embed["color"] == COLOURS["firing"]
    assert embed["url"] == "https://dash.example/d"
    assert "https://dash.example/d" in embed["description"]
    assert "500 rows" in embed["description"] and "40 labelled" in embed["description"]
    field = embed["fields"][0]
    assert "age" in field["name"] and "psi" in field["name"]
    assert "0.41" in field["value"] and "0.25" in field["value"]
    notifier.close()


def test_colours_of_resolved_and_no_data() -> None:
    resolved = build_payload(
        notification([AlertChange("psi", "age", "firing", "resolved", 0.01, 0.25)])
    )
    assert resolved["embeds"][0]["color"] == COLOURS["resolved"]
    no_data = build_payload(
        notification([AlertChange("monitor", "", "ok", "no_data", 12.0, 200.0, kind="monitor")])
    )
    embed = no_data["embeds"][0]
    assert embed["color"] == COLOURS["no_data"] == 0xF2A900
    assert "no data" in embed["title"] and "12 rows" in embed["fields"][0]["value"]
    assert "embeds" in resolved and resolved["embeds"][0]["color"] != COLOURS["firing"]


def test_a_merged_message_tells_each_keys_changes_in_order() -> None:
    fired, resolved = NOW - timedelta(minutes=9), NOW - timedelta(minutes=2)
    psi = {"compared": "statistic", "drifts_when": "at_or_above"}
    payload = build_payload(
        notification(
            [
                AlertChange("psi", "age", "ok", "firing", 0.41, 0.25, at=fired, **psi),
                AlertChange("psi", "income", "ok", "firing", 0.52, 0.25, at=fired, **psi),
                AlertChange("psi", "age", "firing", "resolved", 0.01, 0.25, at=resolved, **psi),
            ]
        )
    )
    embed = payload["embeds"][0]
    assert embed["title"] == "credit: firing"  # income still fires
    assert "1 firing · 1 resolved" in embed["description"]
    by_name = {f["name"]: f["value"] for f in embed["fields"]}
    assert by_name["🟢 age · psi"].splitlines() == [
        f"ok → firing at {fired:%Y-%m-%d %H:%M:%S} UTC",
        "statistic 0.41 ≥ threshold 0.25",
        f"firing → resolved at {resolved:%Y-%m-%d %H:%M:%S} UTC",
        "statistic 0.01 < threshold 0.25",
    ]
    assert [f["name"] for f in embed["fields"]] == ["🔴 income · psi", "🟢 age · psi"]
    assert validate(payload) == []


def test_a_long_history_keeps_its_newest_changes() -> None:
    start = NOW - timedelta(hours=5)
    changes = [
        AlertChange(
            "psi",
            "age",
            *(("ok", "firing") if i % 2 == 0 else ("firing", "resolved")),
            statistic=0.4,
            threshold=0.25,
            at=start + timedelta(minutes=i),
        )
        for i in range(60)
    ]
    (field,) = build_payload(notification(changes))["embeds"][0]["fields"]
    lines = field["value"].splitlines()
    assert len(field["value"]) <= 1024
    assert lines[0].startswith("(+") and lines[0].endswith(" earlier changes)")
    hidden = int(lines[0][2:].split()[0])
    assert len(lines[1:]) == 2 * (60 - hidden)
    assert (
        lines[-2] == f"firing → resolved at {start + timedelta(minutes=59):%Y-%m-%d %H:%M:%S} UTC"
    )


def test_the_standin_is_strict() -> None:
    too_many = {"embeds": [{"title": "x", "fields": [{"name": "a", "value": "b"}] * 26}]}
    assert validate(too_many)
    too_long = {"embeds": [{"title": "t" * 257}]}
    assert validate(too_long)
    total = {
        "embeds": [{"description": "d" * 4000, "fields": [{"name": "n", "value": "v" * 1000}] * 3}]
    }
    assert any("6000" in p for p in validate(total))


def test_200_drifting_features_with_long_names_fit_discords_limits(
    discord: DiscordStandIn,
) -> None:
    changes = [
        AlertChange("psi", f"{i:03d}_" + "feature_name_" * 23, "ok", "firing", 0.5 + i / 1000, 0.25)
        for i in range(200)
    ]
    assert all(len(c.feature) >= 300 for c in changes)
    notifier = discord_notifier(discord.url)
    result = notifier.send(notification(changes, dashboard="https://dash.example/"))
    assert result.delivered, result.error
    request = discord.requests[-1]
    assert request.status == 200 and request.problems == []
    fields = request.body["embeds"][0]["fields"]
    assert len(fields) <= 25
    summary = fields[-1]
    assert summary["name"].startswith("+") and summary["name"].endswith("more features")
    shown = len(fields) - 1
    assert summary["name"] == f"+{200 - shown} more features"
    notifier.close()


def test_rate_limit_headers_make_the_next_send_wait(discord: DiscordStandIn) -> None:
    discord.script(
        accepted(**{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "0.3"}), accepted()
    )
    notifier = discord_notifier(discord.url)
    assert notifier.send(notification()).delivered
    assert notifier.send(notification()).delivered
    gap = discord.requests[1].at - discord.requests[0].at
    assert gap >= 0.3, gap
    notifier.close()


def test_a_second_notifier_on_the_same_webhook_shares_the_bucket(discord: DiscordStandIn) -> None:
    discord.script(accepted(**{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "5"}))
    first, second = discord_notifier(discord.url), discord_notifier(discord.url, name="other")
    assert first.send(notification()).delivered
    waiting = second.send(notification())
    assert not waiting.delivered and waiting.retry_after is not None and waiting.retry_after > 4
    assert len(discord.requests) == 1  # nothing sent into an exhausted bucket
    first.close()
    second.close()


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (rate_limited(0.3), {"outcome": "rate_limited", "retry_after": 0.3}),
        (blocked(), {"outcome": "blocked", "retry_after": None}),
        (server_error(), {"outcome": "transient", "retry_after": None}),
        (unknown_webhook(), {"outcome": "gone"}),
        # 410 Gone says what Discord's 404 says: the webhook is gone; never call it again
        (Reply(410, {"message": "Unknown Webhook", "code": 10015}), {"outcome": "gone"}),
        (Reply(401, {"message": "401: Unauthorized", "code": 0}), {"outcome": "gone"}),
        (Reply(400, {"message": "Invalid Form Body", "code": 50035}), {"outcome": "rejected"}),
        (Reply(403, {"message": "Missing Access", "code": 50001}), {"outcome": "gone"}),
    ],
)
def test_responses_map_to_delivery_results(
    discord: DiscordStandIn, reply: Reply, expected: dict[str, object]
) -> None:
    discord.script(reply)
    result = discord_notifier(discord.url).send(notification())
    assert not result.delivered
    for name, value in expected.items():
        assert getattr(result, name) == value, (name, result)
    assert result.error and WEBHOOK_TOKEN not in result.error


def test_the_webhook_url_appears_in_no_log_error_or_repr(
    discord: DiscordStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    notifier = discord_notifier(discord.url)
    discord.script(unknown_webhook())
    results = [notifier.send(notification()), notifier.send(notification())]
    # a closed port: httpx's connection error text must be scrubbed as well
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    gone = discord_notifier(
        f"http://127.0.0.1:{closed_port}/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"
    )
    results.append(gone.send(notification()))
    assert not results[-1].delivered and results[-1].error
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # httpx did log
    texts = [caplog.text, repr(notifier), repr(notifier.settings), str(notifier.settings)]
    texts += [notifier.settings.model_dump_json(), repr(results), repr(notifier._webhook)]
    secret_free(texts, [WEBHOOK_TOKEN, discord.url])
    notifier.close()
    gone.close()


def test_httpx_request_error_text_is_scrubbed() -> None:
    transport = httpx.MockTransport(
        lambda request: (_ for _ in ()).throw(httpx.ConnectError(f"boom {request.url}"))
    )
    notifier = discord_notifier(f"https://discord.com/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}")
    notifier._client = httpx.Client(transport=transport)
    result = notifier.send(notification())
    assert not result.delivered and "boom" in (result.error or "")
    secret_free([result.error or ""], [WEBHOOK_TOKEN])
