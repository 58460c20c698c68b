"""Alerts end to end: rules → store outbox → delivery worker → a Discord stand-in.

Uses the real SQL store (the ``store`` fixture: SQLite, and PostgreSQL when reachable) and
a real HTTP server on 127.0.0.1 that behaves like Discord's webhook endpoint.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

import driftscope.plugins.notifiers.discord as discord_module
from driftscope import Notifier, hookimpl
from driftscope.core.alerting.config import AlertRuleSettings, DeliverySettings
from driftscope.core.alerting.delivery import DeliveryWorker, config_hash
from driftscope.core.alerting.manager import AlertManager
from driftscope.core.alerting.rules import MonitorAlerting
from driftscope.core.contracts.report import Report, ResultRow, WindowInfo
from driftscope.core.contracts.store import OutboxMessage, Store, StoreSettings
from driftscope.core.plugin_system.manager import PluginManager
from driftscope.plugins.notifiers.discord import DiscordNotifier, DiscordSettings
from driftscope.plugins.notifiers.log import LogNotifier, LogSettings
from driftscope.plugins.stores.sql import SQLStore
from support.discord_standin import (
    WEBHOOK_TOKEN,
    DiscordStandIn,
    Reply,
    blocked,
    rate_limited,
    secret_free,
    server_error,
    unknown_webhook,
)

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
FAST = DeliverySettings(
    backoff_initial=timedelta(milliseconds=50),
    backoff_max=timedelta(milliseconds=200),
    poll_interval=timedelta(milliseconds=20),
    max_attempts=3,
)


@pytest.fixture(autouse=True)
def _fresh_buckets() -> Iterator[None]:
    discord_module._buckets.clear()
    yield
    discord_module._buckets.clear()


@pytest.fixture
def discord() -> Iterator[DiscordStandIn]:
    with DiscordStandIn() as standin:
        yield standin


def report(monitor: str, drifted: dict[str, bool], at: datetime = T0) -> Report:
    return Report(
        id=uuid.uuid4().hex,
        monitor=monitor,
        model="credit-model",
        created_at=at,
        window=WindowInfo(start=at - timedelta(hours=1), end=at, rows=500, labelled_rows=0),
        results=[
            ResultRow("feature", name, "psi", 0.4 if flag else 0.01, None, 0.25, flag)
            for name, flag in drifted.items()
        ],
    )


def discord_notifier(url: str, **extra: Any) -> DiscordNotifier:
    settings = {"name": "ops", "type": "discord", "webhook_url": SecretStr(url)} | extra
    return DiscordNotifier(DiscordSettings(**settings))


def manager_for(store: Store, *monitors: str, hook: Any = None, **rules: Any) -> AlertManager:
    alerting = MonitorAlerting(rules=AlertRuleSettings(**rules), notify=("ops",), min_samples=100)
    return AlertManager(store, hook, {m: alerting for m in monitors})


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def messages(store: Store, status: str | None = None) -> list[OutboxMessage]:
    return store.list_messages(status=status, limit=1000)  # type: ignore[arg-type]


def test_grouping_cooldown_and_a_resolution_held_for_the_next_message(
    store: Store, discord: DiscordStandIn
) -> None:
    notifier = discord_notifier(discord.url, cooldown="30m")
    manager = manager_for(store, "credit", repeat_every="4h")
    worker = DeliveryWorker(store, {"ops": notifier}, FAST)
    features = {f"feature_{i}": True for i in range(40)}

    manager.handle_report(report("credit", features, T0), now=T0)
    assert worker.run_once(now=T0) == 1
    assert len(discord.accepted) == 1  # 40 drifting features, one message
    assert len(discord.accepted[0].body["embeds"][0]["fields"]) == 25

    # still drifting 5 minutes later: no repeat inside repeat_every
    at = T0 + timedelta(minutes=5)
    assert manager.handle_report(report("credit", features, at), now=at) == []
    assert worker.run_once(now=T0 + timedelta(minutes=5)) == 0
    assert len(discord.requests) == 1

    # everything recovers inside the notifier's 30m cooldown: held, not lost
    calm = dict.fromkeys(features, False)
    at = T0 + timedelta(minutes=10)
    events = manager.handle_report(report("credit", calm, at), now=at)
    assert {e.to_state for e in events} == {"resolved"} and len(events) == 40
    assert worker.run_once(now=at) == 0
    held = messages(store, "pending")
    assert len(held) == 1 and held[0].next_attempt_at == T0 + timedelta(minutes=30)
    # feature_0 drifts again, also inside the cooldown
    at = T0 + timedelta(minutes=20)
    manager.handle_report(report("credit", calm | {"feature_0": True}, at), now=at)
    assert worker.run_once(now=at) == 0
    assert len(discord.requests) == 1

    # the cooldown ends: one message carries both, merged per key
    assert worker.run_once(now=T0 + timedelta(minutes=30)) == 2
    assert len(discord.requests) == 2 and discord.requests[1].status == 200
    sent = messages(store, "sent")
    assert len(sent) == 3 and len({m.external_id for m in sent}) == 2
    embed = discord.requests[1].body["embeds"][0]
    assert "firing" in embed["title"]  # feature_0 fires again, so the message is red
    assert "39 resolved" in embed["description"] and "1 firing" in embed["description"]
    notifier.close()


def test_a_429_is_honoured_before_retrying(
    store: Store, discord: DiscordStandIn, record_property: Callable[[str, Any], None]
) -> None:
    discord.script(rate_limited(0.3))
    notifier = discord_notifier(discord.url)
    worker = DeliveryWorker(store, {"ops": notifier}, FAST)
    manager_for(store, "credit").handle_report(report("credit", {"age": True}))
    worker.start()
    try:
        wait_for(lambda: len(discord.accepted) == 1)
    finally:
        assert worker.stop(timeout=5)
    waited = discord.requests[1].at - discord.requests[0].at
    record_property("waited_after_429_s", round(waited, 3))
    assert waited >= 0.3, waited
    assert [r.status for r in discord.requests] == [429, 200]
    (message,) = messages(store)
    assert message.status == "sent" and message.attempts == 1
    notifier.close()


def test_a_500_then_success_delivers_once(store: Store, discord: DiscordStandIn) -> None:
    discord.script(server_error())
    notifier = discord_notifier(discord.url)
    worker = DeliveryWorker(store, {"ops": notifier}, FAST)
    manager_for(store, "credit").handle_report(report("credit", {"age": True}))
    worker.start()
    try:
        wait_for(lambda: messages(store, "sent") != [])
        time.sleep(0.15)  # several more polls: nothing else may be sent
    finally:
        worker.stop()
    assert [r.status for r in discord.requests] == [500, 200]
    (message,) = messages(store)
    assert message.attempts == 2 and message.last_error is None
    notifier.close()


def test_server_errors_give_up_after_max_attempts(store: Store, discord: DiscordStandIn) -> None:
    discord.script(server_error(), server_error(), server_error())
    worker = DeliveryWorker(store, {"ops": discord_notifier(discord.url)}, FAST)
    manager_for(store, "credit").handle_report(report("credit", {"age": True}))
    worker.start()
    try:
        wait_for(lambda: messages(store, "failed") != [])
    finally:
        worker.stop()
    (message,) = messages(store)
    assert message.attempts == 3 and "gave up after 3 attempts" in (message.last_error or "")
    assert len(discord.requests) == 3


def test_a_404_disables_the_notifier_until_its_config_changes(
    store: Store, discord: DiscordStandIn
) -> None:
    discord.script(unknown_webhook())
    notifier = discord_notifier(discord.url)
    worker = DeliveryWorker(store, {"ops": notifier}, FAST)
    manager = manager_for(store, "credit", "other")
    manager.handle_report(report("credit", {"age": True}))
    worker.run_once()
    (message,) = messages(store)
    assert message.status == "failed" and "Unknown Webhook" in (message.last_error or "")
    status = store.get_notifier_status("ops")
    assert status is not None and status.disabled and "404" in (status.reason or "")
    assert status.config_hash == config_hash(notifier.settings)
    assert WEBHOOK_TOKEN not in status.config_hash

    health = worker.health()
    assert health.degraded and health.notifiers["ops"].disabled
    assert any("disabled" in p for p in health.problems)
    # later messages fail at once, without calling the deleted webhook again
    manager.handle_report(report("other", {"age": True}))
    worker.run_once()
    assert len(discord.requests) == 1
    assert all(m.status == "failed" for m in messages(store))
    assert "disabled" in (messages(store)[0].last_error or "")

    # a changed configuration (a restart with a new config) enables it again
    assert worker.stop()
    changed = discord_notifier(discord.url, username="driftscope")
    worker2 = DeliveryWorker(store, {"ops": changed}, FAST)
    manager.handle_report(report("other", {"income": True}))
    assert worker2.run_once() == 1
    assert not store.get_notifier_status("ops").disabled  # type: ignore[union-attr]
    secret_free([repr(health.to_dict())], [WEBHOOK_TOKEN])
    notifier.close()
    changed.close()


def test_a_block_backs_off_for_minutes(store: Store, discord: DiscordStandIn) -> None:
    discord.script(blocked())
    worker = DeliveryWorker(store, {"ops": discord_notifier(discord.url)}, FAST)
    manager_for(store, "credit").handle_report(report("credit", {"age": True}), now=T0)
    worker.run_once(now=T0)
    worker.run_once(now=T0 + timedelta(minutes=5))
    assert len(discord.requests) == 1
    (message,) = messages(store)
    assert message.status == "pending" and message.attempts == 0
    assert message.next_attempt_at == T0 + timedelta(minutes=10)
    assert "blocked" in (message.last_error or "")
    assert worker.run_once(now=T0 + timedelta(minutes=10)) == 1


def test_a_restart_resumes_pending_messages_and_sends_each_once(
    sqlite_url: str, discord: DiscordStandIn
) -> None:
    first_store = SQLStore(StoreSettings(url=SecretStr(sqlite_url)))
    first_store.open()
    monitors = ("a", "b", "c")
    manager = manager_for(first_store, *monitors)
    for monitor in monitors:
        manager.handle_report(report(monitor, {"age": True}))
    # the first send is slow: the worker is stopped while it is in flight
    discord.script(Reply(0, delay=0.4))
    worker = DeliveryWorker(first_store, {"ops": discord_notifier(discord.url)}, FAST)
    worker.start()
    wait_for(lambda: len(discord.arrivals) == 1)
    assert discord.requests == []  # still in flight
    assert worker.stop(timeout=5)
    assert len(messages(first_store, "sent")) == 1  # the in-flight send finished and was recorded
    assert len(messages(first_store, "pending")) == 2
    first_store.close()

    second_store = SQLStore(StoreSettings(url=SecretStr(sqlite_url)))
    second_store.open()
    worker2 = DeliveryWorker(second_store, {"ops": discord_notifier(discord.url)}, FAST)
    assert worker2.run_once() == 2
    assert worker2.run_once() == 0
    titles = sorted(r.body["embeds"][0]["title"] for r in discord.accepted)
    assert len(discord.accepted) == 3 and len(set(titles)) == 3
    assert all(m.status == "sent" for m in messages(second_store))
    second_store.close()


def test_a_silence_added_after_enqueueing_mutes_the_message(
    store: Store, discord: DiscordStandIn
) -> None:
    manager = manager_for(store, "credit")
    manager.handle_report(report("credit", {"age": True}))
    silence = manager.add_silence("credit", timedelta(hours=2), "known issue", feature="age")
    assert [s.id for s in manager.list_silences()] == [silence.id]
    worker = DeliveryWorker(store, {"ops": discord_notifier(discord.url)}, FAST)
    assert worker.run_once() == 0
    (message,) = messages(store)
    assert message.status == "muted" and silence.id in (message.last_error or "")
    assert discord.requests == []
    assert manager.remove_silence(silence.id) and not manager.remove_silence(silence.id)


def test_messages_of_an_unconfigured_notifier_fail_with_the_reason(store: Store) -> None:
    manager_for(store, "credit").handle_report(report("credit", {"age": True}))
    worker = DeliveryWorker(store, {}, FAST)
    worker.run_once()
    (message,) = messages(store)
    assert message.status == "failed" and "not configured" in (message.last_error or "")
    assert worker.health().notifiers["ops"].failed == 1


def test_only_one_worker_delivers_per_database(store: Store, discord: DiscordStandIn) -> None:
    manager_for(store, "credit").handle_report(report("credit", {"age": True}))
    first = DeliveryWorker(store, {"ops": discord_notifier(discord.url)}, FAST)
    second = DeliveryWorker(store, {"ops": discord_notifier(discord.url)}, FAST)
    assert store.acquire_lease("driftscope:outbox-delivery", first.owner, 30)
    assert second.run_once() == 0 and discord.requests == []
    assert first.run_once() == 1


def test_log_notifier_writes_alerts_to_the_log(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    notifier = LogNotifier(LogSettings(name="ops"))
    manager_for(store, "credit").handle_report(report("credit", {"age": True}))
    assert DeliveryWorker(store, {"ops": notifier}, FAST).run_once() == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "driftscope.alerts"]
    assert any("ALERT credit firing" in line for line in lines)
    assert any("psi/age: ok -> firing" in line for line in lines)


class _Observers:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def driftscope_alert_changed(self, event: Any) -> None:
        self.seen.append(event.to_state)


class _Broken:
    @hookimpl
    def driftscope_alert_changed(self, event: Any) -> None:
        raise RuntimeError("observer bug")


def test_a_raising_observer_is_logged_with_its_name_and_never_propagates(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    plugins = PluginManager()
    good = _Observers()
    plugins.register(good, "good-observer")
    plugins.register(_Broken(), "broken-observer")
    manager = manager_for(store, "credit", hook=plugins.hook)
    events = manager.handle_report(report("credit", {"age": True, "income": True}))
    assert len(events) == 2 and good.seen == ["firing", "firing"]
    assert manager.observer_errors == {"broken-observer": 2}
    assert any("broken-observer" in r.getMessage() for r in caplog.records)
    assert len(store.list_alert_events(monitor="credit")) == 2


def test_the_webhook_url_is_in_no_log_line_or_stored_error(
    store: Store, discord: DiscordStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    discord.script(server_error(), rate_limited(0.05), unknown_webhook())
    notifier = discord_notifier(discord.url)
    worker = DeliveryWorker(store, {"ops": notifier}, FAST)
    manager_for(store, "credit").handle_report(report("credit", {"age": True}))
    for _ in range(20):
        worker.run_once()
        if messages(store, "failed"):
            break
        time.sleep(0.06)
    assert messages(store, "failed")
    stored = [repr(m) for m in messages(store)] + [repr(store.get_notifier_status("ops"))]
    secret_free(
        [caplog.text, *stored, repr(worker), repr(worker.health().to_dict())],
        [WEBHOOK_TOKEN, discord.url],
    )
    assert isinstance(notifier, Notifier)
    notifier.close()


def test_the_outbox_of_a_notifier_stays_within_its_bound(
    store: Store, discord: DiscordStandIn
) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)  # not due: as if the notifier were backing off
    waiting = [
        OutboxMessage(
            uuid.uuid4().hex,
            "ops",
            "credit",
            {"n": i},
            T0 + timedelta(minutes=i),
            next_attempt_at=later,
        )
        for i in range(5)
    ]
    store.commit_alert_changes([], [], waiting)
    bounded = FAST.model_copy(update={"max_pending": 2})
    worker = DeliveryWorker(store, {"ops": discord_notifier(discord.url)}, bounded)
    assert worker.run_once() == 0
    by_id = {m.id: m for m in messages(store)}
    assert [by_id[m.id].status for m in waiting] == ["failed"] * 3 + ["pending"] * 2
    assert "more than 2 messages waiting" in (by_id[waiting[0].id].last_error or "")
    assert worker.overflowed == 3
    assert worker.health().notifiers["ops"].pending == 2
    assert discord.requests == []
