"""Alerts end to end: rules → store outbox → delivery worker → a Discord stand-in.

Uses the real SQL store (the ``store`` fixture: SQLite, and PostgreSQL when reachable) and
a real HTTP server on 127.0.0.1 that behaves like Discord's webhook endpoint.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from driftscope import Notifier, NotifierSettings, hookimpl
from driftscope.core.alerting.config import AlertRuleSettings, DeliverySettings
from driftscope.core.alerting.delivery import DeliveryWorker, config_hash, merge_notifications
from driftscope.core.alerting.manager import AlertManager, EventSink
from driftscope.core.alerting.rules import MonitorAlerting
from driftscope.core.contracts.notifier import (
    AlertChange,
    DeliveryOutcome,
    DeliveryResult,
    Notification,
)
from driftscope.core.contracts.store import OutboxMessage, Store, StoreSettings
from driftscope.core.plugin_system.manager import PluginManager
from driftscope.plugins.notifiers.log import LogNotifier, LogSettings
from driftscope.plugins.stores.sql import SQLStore
from support.discord_standin import (
    WEBHOOK_TOKEN,
    DiscordStandIn,
    Reply,
    blocked,
    discord_notifier,
    rate_limited,
    secret_free,
    server_error,
    unknown_webhook,
)
from support.reports import T0, report
from support.waiting import wait_until

FAST = DeliverySettings(
    backoff_initial=timedelta(milliseconds=50),
    backoff_max=timedelta(milliseconds=200),
    poll_interval=timedelta(milliseconds=20),
    fast_attempts=2,
    give_up_after=timedelta(minutes=10),
)


def manager_for(
    store: Store, *monitors: str, notify: EventSink | None = None, **rules: Any
) -> AlertManager:
    alerting = MonitorAlerting(rules=AlertRuleSettings(**rules), notify=("ops",), min_samples=100)
    return AlertManager(store, notify, {m: alerting for m in monitors})


def messages(store: Store, status: str | None = None) -> list[OutboxMessage]:
    return store.list_messages(status=status, limit=1000)  # type: ignore[arg-type]


def _note(at: datetime, *changes: AlertChange) -> Notification:
    return Notification(monitor="credit", model="m", created_at=at, changes=list(changes))


def test_merging_two_messages_keeps_each_keys_history_in_order() -> None:
    t1, t2 = T0, T0 + timedelta(minutes=7)
    first = _note(
        t1,
        AlertChange("psi", "age", "ok", "firing", 0.4, 0.25, at=t1),
        AlertChange("psi", "income", "ok", "firing", 0.5, 0.25, at=t1),
    )
    second = _note(t2, AlertChange("psi", "age", "firing", "resolved", 0.01, 0.25, at=t2))
    merged = merge_notifications([first, second])
    history = merged.history()
    assert [(c.from_state, c.to_state, c.at, c.statistic) for c in history[("psi", "age")]] == [
        ("ok", "firing", t1, 0.4),
        ("firing", "resolved", t2, 0.01),
    ]
    assert [(c.from_state, c.to_state) for c in history[("psi", "income")]] == [("ok", "firing")]
    assert [(c.feature, c.to_state) for c in merged.latest()] == [
        ("age", "resolved"),
        ("income", "firing"),
    ]
    assert merged.state == "firing" and merged.created_at == t2
    # a message stored before changes carried their time takes its notification's
    old = _note(t1, AlertChange("psi", "age", "ok", "firing"))
    assert merge_notifications([old, second]).changes[0].at == t1
    # and the merged message survives the outbox's JSON round trip unchanged
    assert Notification.from_dict(merged.to_dict()) == merged
    # payloads enqueued before changes had a time still load
    stored = old.to_dict()
    for change in stored["changes"]:
        del change["at"]
    assert Notification.from_dict(stored).changes[0].at is None


def test_grouping_cooldown_and_a_resolution_held_for_the_next_message(
    store: Store, discord: DiscordStandIn
) -> None:
    notifier = discord_notifier(discord.url, cooldown="30m")
    manager = manager_for(store, "credit", repeat_every="4h")
    worker = DeliveryWorker(store, {"ops": notifier}, FAST)
    features = {f"feature_{i}": True for i in range(40)}

    manager.handle_report(report(features, at=T0), now=T0)
    assert worker.run_once(now=T0) == 1
    assert len(discord.accepted) == 1  # 40 drifting features, one message
    assert len(discord.accepted[0].body["embeds"][0]["fields"]) == 25

    # still drifting 5 minutes later: no repeat inside repeat_every
    at = T0 + timedelta(minutes=5)
    assert manager.handle_report(report(features, at=at), now=at) == []
    assert worker.run_once(now=T0 + timedelta(minutes=5)) == 0
    assert len(discord.requests) == 1

    # everything recovers inside the notifier's 30m cooldown: held, not lost
    calm = dict.fromkeys(features, False)
    at = T0 + timedelta(minutes=10)
    events = manager.handle_report(report(calm, at=at), now=at)
    assert {e.to_state for e in events} == {"resolved"} and len(events) == 40
    assert worker.run_once(now=at) == 0
    held = messages(store, "pending")
    assert len(held) == 1 and held[0].next_attempt_at == T0 + timedelta(minutes=30)
    # feature_0 drifts again, also inside the cooldown
    at = T0 + timedelta(minutes=20)
    manager.handle_report(report(calm | {"feature_0": True}, at=at), now=at)
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
    # and feature_0's field tells what happened to it, in order, not "firing → firing"
    (field,) = [f for f in embed["fields"] if f["name"].startswith("🔴 feature_0 ")]
    lines = [line for line in field["value"].splitlines() if " at " in line]
    assert lines == [
        "firing → resolved at 2024-06-01 12:10:00 UTC",
        "resolved → firing at 2024-06-01 12:20:00 UTC",
    ]
    notifier.close()


def test_a_429_is_honoured_before_retrying(
    store: Store, discord: DiscordStandIn, record_property: Callable[[str, Any], None]
) -> None:
    discord.script(rate_limited(0.3))
    notifier = discord_notifier(discord.url)
    worker = DeliveryWorker(store, {"ops": notifier}, FAST)
    manager_for(store, "credit").handle_report(report({"age": True}))
    worker.start()
    try:
        wait_until(lambda: len(discord.accepted) == 1, what="the retried send")
    finally:
        assert worker.stop(timeout=30)
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
    passes = 0
    run_once = worker.run_once

    def counted(now: datetime | None = None) -> int:  # the worker's loop calls run_once
        nonlocal passes
        delivered = run_once(now)
        passes += 1
        return delivered

    worker.run_once = counted  # type: ignore[method-assign]
    manager_for(store, "credit").handle_report(report({"age": True}))
    worker.start()
    try:
        wait_until(lambda: messages(store, "sent") != [], what="the message sent")
        after_sent = passes
        # several whole passes after the one that sent it: nothing else may be sent
        wait_until(lambda: passes >= after_sent + 3, what="three more delivery passes")
    finally:
        assert worker.stop(timeout=30)
    assert [r.status for r in discord.requests] == [500, 200]
    (message,) = messages(store)
    assert message.attempts == 2 and message.last_error is None
    notifier.close()


def drive(worker: DeliveryWorker, store: Store, until: datetime) -> list[datetime]:
    """Run the worker at each time a pending message falls due, up to ``until``, as its
    clock would; return the times it ran."""
    ran = []
    while True:
        due = [m.next_attempt_at for m in messages(store, "pending") if m.next_attempt_at]
        if not due or min(due) > until:
            return ran
        ran.append(min(due))
        worker.run_once(now=min(due))


def test_a_receiver_down_for_long_is_retried_until_give_up_after(
    store: Store, discord: DiscordStandIn
) -> None:
    settings = DeliverySettings(
        fast_attempts=2,
        backoff_initial=timedelta(seconds=1),
        backoff_max=timedelta(minutes=1),
        give_up_after=timedelta(hours=1),
    )
    discord.script(*[server_error() for _ in range(500)])
    worker = DeliveryWorker(store, {"ops": discord_notifier(discord.url)}, settings)
    manager = manager_for(store, "credit", "other")
    manager.handle_report(report({"age": True}, at=T0), now=T0)
    worker.run_once(now=T0)
    ran = drive(worker, store, T0 + timedelta(seconds=65))
    # waits after each failure: 1 s and 2 s (the fast attempts), then the 60 s cap, each
    # with equal jitter (half to all of the step)
    steps = [b - a for a, b in zip([T0, *ran], ran, strict=False)]
    assert len(steps) >= 3
    assert timedelta(seconds=0.5) <= steps[0] <= timedelta(seconds=1)
    assert timedelta(seconds=1) <= steps[1] <= timedelta(seconds=2)
    assert all(timedelta(seconds=30) <= s <= timedelta(minutes=1) for s in steps[2:])

    late = T0 + timedelta(seconds=70)  # the message that failed after one attempt
    manager.handle_report(report({"age": True}, monitor="other", at=late), now=late)
    drive(worker, store, T0 + timedelta(minutes=59))
    assert len(discord.requests) > 50  # still trying after an hour's worth of minutes
    assert {m.status for m in messages(store)} == {"pending"}
    health = worker.health()
    ops = health.notifiers["ops"]
    # "other" has not been tried yet: it waits behind the notifier's backoff
    assert health.degraded and ops.pending == 2 and ops.retrying == 1 and ops.given_up == 0
    assert ops.oldest_pending_at == T0
    assert any("retrying" in p for p in health.problems)
    assert {m.monitor for m in health.messages} == {"credit", "other"}

    # past give_up_after, each message is given up at its first failed attempt after it
    drive(worker, store, T0 + timedelta(hours=1, minutes=1))
    by_monitor = {m.monitor: m for m in messages(store)}
    assert by_monitor["credit"].status == "given_up"
    assert "given up: undelivered 1h after it was created" in (
        by_monitor["credit"].last_error or ""
    )
    assert by_monitor["other"].status == "pending"  # created 70 s later: it has 70 s more
    drive(worker, store, T0 + timedelta(hours=2))
    assert by_monitor["other"].created_at == late
    assert {m.status for m in messages(store)} == {"given_up"}
    assert sum(m.attempts for m in messages(store)) == len(discord.requests)
    health = worker.health()
    assert health.degraded and health.notifiers["ops"].given_up == 2
    assert any("2 message(s) given up" in p for p in health.problems)
    assert [m.status for m in health.messages] == ["given_up", "given_up"]


def test_without_a_cooldown_messages_are_sent_one_by_one_in_order(
    store: Store, discord: DiscordStandIn
) -> None:
    discord.script(server_error(), server_error(), server_error())
    worker = DeliveryWorker(store, {"ops": discord_notifier(discord.url)}, FAST)
    manager = manager_for(store, "credit")
    script = [(T0, True), (T0 + timedelta(minutes=1), False), (T0 + timedelta(minutes=2), True)]
    for at, drifted in script:
        manager.handle_report(report({"age": drifted}, at=at), now=at)
    # all three waited through the same outage: still three messages, never merged
    drive(worker, store, T0 + timedelta(hours=1))
    assert [r.status for r in discord.requests] == [500, 500, 500, 200, 200, 200]
    told = []
    for request in discord.accepted:
        (field,) = request.body["embeds"][0]["fields"]
        told.append(field["value"].splitlines()[0])
    assert told == [
        "ok → firing at 2024-06-01 12:00:00 UTC",
        "firing → resolved at 2024-06-01 12:01:00 UTC",
        "resolved → firing at 2024-06-01 12:02:00 UTC",
    ]
    assert all(m.status == "sent" for m in messages(store))


def test_a_newer_message_never_overtakes_a_waiting_older_one_after_a_restart(
    sqlite_url: str, discord: DiscordStandIn
) -> None:
    first = SQLStore(StoreSettings(url=SecretStr(sqlite_url)))
    first.open()
    manager = manager_for(first, "credit")
    discord.script(server_error())
    manager.handle_report(report({"age": True}, at=T0), now=T0)
    first_worker = DeliveryWorker(first, {"ops": discord_notifier(discord.url)}, FAST)
    first_worker.run_once(now=T0)
    assert first_worker.stop()  # hands the delivery lease back
    (waiting,) = messages(first, "pending")
    assert waiting.next_attempt_at is not None and waiting.next_attempt_at > T0
    later = T0 + timedelta(milliseconds=1)
    manager.handle_report(report({"age": False}, at=later), now=later)
    first.close()

    # a new process: no memory of the wait, and the resolution is due before the firing
    second = SQLStore(StoreSettings(url=SecretStr(sqlite_url)))
    second.open()
    worker = DeliveryWorker(second, {"ops": discord_notifier(discord.url)}, FAST)
    assert worker.run_once(now=later) == 0
    assert len(discord.requests) == 1
    assert worker.run_once(now=waiting.next_attempt_at) == 2
    told = [r.body["embeds"][0]["fields"][0]["value"].split(" at ")[0] for r in discord.accepted]
    assert told == ["ok → firing", "firing → resolved"]
    second.close()


# Discord answers a deleted webhook with 404; 410 Gone says the same, and is treated the same
@pytest.mark.parametrize(
    "gone",
    [unknown_webhook(), Reply(410, {"message": "Unknown Webhook", "code": 10015})],
    ids=["404", "410"],
)
def test_a_404_or_410_disables_the_notifier_until_its_config_changes(
    store: Store, discord: DiscordStandIn, gone: Reply
) -> None:
    discord.script(gone)
    notifier = discord_notifier(discord.url)
    worker = DeliveryWorker(store, {"ops": notifier}, FAST)
    manager = manager_for(store, "credit", "other")
    manager.handle_report(report({"age": True}))
    worker.run_once()
    (message,) = messages(store)
    assert message.status == "failed" and "Unknown Webhook" in (message.last_error or "")
    status = store.get_notifier_status("ops")
    assert status is not None and status.disabled and str(gone.status) in (status.reason or "")
    assert status.config_hash == config_hash(notifier.settings)
    assert WEBHOOK_TOKEN not in status.config_hash

    health = worker.health()
    assert health.degraded and health.notifiers["ops"].disabled
    assert any("disabled" in p for p in health.problems)
    # later messages fail at once, without calling the deleted webhook again
    manager.handle_report(report({"age": True}, monitor="other"))
    worker.run_once()
    assert len(discord.requests) == 1
    assert all(m.status == "failed" for m in messages(store))
    assert "disabled" in (messages(store)[0].last_error or "")

    # a changed configuration (a restart with a new config) enables it again
    assert worker.stop()
    changed = discord_notifier(discord.url, username="driftscope")
    worker2 = DeliveryWorker(store, {"ops": changed}, FAST)
    manager.handle_report(report({"income": True}, monitor="other"))
    assert worker2.run_once() == 1
    assert not store.get_notifier_status("ops").disabled  # type: ignore[union-attr]
    secret_free([repr(health.to_dict())], [WEBHOOK_TOKEN])
    notifier.close()
    changed.close()


def test_a_block_backs_off_for_minutes(store: Store, discord: DiscordStandIn) -> None:
    discord.script(blocked())
    worker = DeliveryWorker(store, {"ops": discord_notifier(discord.url)}, FAST)
    manager_for(store, "credit").handle_report(report({"age": True}), now=T0)
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
        manager.handle_report(report({"age": True}, monitor=monitor))
    # the first send is held by the receiver: the worker is stopped while it is in flight
    answer = threading.Event()
    discord.script(Reply(0, hold=answer))
    worker = DeliveryWorker(first_store, {"ops": discord_notifier(discord.url)}, FAST)
    worker.start()
    stopped: list[bool] = []
    stopper = threading.Thread(target=lambda: stopped.append(worker.stop(timeout=60)))
    try:
        wait_until(lambda: len(discord.arrivals) == 1, what="the first send")
        assert discord.requests == []  # still in flight: its answer is held
        stopper.start()
        wait_until(lambda: worker.stopping, what="the stop request")
        assert worker.running and stopper.is_alive()  # stop waits for the send in flight
    finally:
        answer.set()
    stopper.join(60)
    assert stopped == [True]
    assert len(discord.arrivals) == 1  # nothing was sent after the stop
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
    manager.handle_report(report({"age": True}))
    silence = manager.add_silence("credit", timedelta(hours=2), "known issue", feature="age")
    assert [s.id for s in manager.list_silences()] == [silence.id]
    worker = DeliveryWorker(store, {"ops": discord_notifier(discord.url)}, FAST)
    assert worker.run_once() == 0
    (message,) = messages(store)
    assert message.status == "muted" and silence.id in (message.last_error or "")
    assert discord.requests == []
    assert manager.remove_silence(silence.id) and not manager.remove_silence(silence.id)


def test_messages_of_a_notifier_this_process_lacks_wait_for_the_process_that_has_it(
    store: Store, discord: DiscordStandIn
) -> None:
    manager_for(store, "credit").handle_report(report({"age": True}))
    worker = DeliveryWorker(store, {"other": discord_notifier(discord.url, name="other")}, FAST)
    assert worker.run_once() == 0
    (message,) = messages(store)
    assert message.status == "pending" and message.attempts == 0 and message.last_error is None
    health = worker.health()
    assert "ops" not in health.notifiers and health.elsewhere == {"ops": 1}
    assert not health.degraded and discord.requests == []
    assert DeliveryWorker(store, {"ops": discord_notifier(discord.url)}, FAST).run_once() == 1


class _Scripted(Notifier):
    """A notifier that answers each send with the next scripted result (or object)."""

    def __init__(self, *answers: object) -> None:
        super().__init__(NotifierSettings(name="ops", type="scripted"))
        self.answers = list(answers)
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> DeliveryResult:
        self.sent.append(notification)
        return self.answers.pop(0)  # type: ignore[return-value]


# What the worker must do with each outcome, written out by hand from the delivery rules:
# (message status, attempts counted, next attempt, notifier disabled). "backoff" is the first
# transient retry: FAST's backoff_initial (50 ms) with equal jitter, so 25 to 50 ms.
OUTCOME_EFFECTS: dict[str, tuple[str, int, object, bool]] = {
    "delivered": ("sent", 1, None, False),
    "rate_limited": ("pending", 0, T0 + timedelta(seconds=30), False),
    "blocked": ("pending", 0, T0 + timedelta(minutes=10), False),  # block_backoff default
    "gone": ("failed", 1, None, True),
    "rejected": ("failed", 1, None, False),
    "transient": ("pending", 1, "backoff", False),
}


@pytest.mark.parametrize("outcome", list(DeliveryOutcome), ids=str)
def test_each_outcome_does_what_the_delivery_rules_say(
    store: Store, outcome: DeliveryOutcome
) -> None:
    status, attempts, next_attempt, disabled = OUTCOME_EFFECTS[outcome.value]
    wait = 30.0 if outcome is DeliveryOutcome.RATE_LIMITED else None
    notifier = _Scripted(DeliveryResult(outcome, retry_after=wait, status_code=None, error="x"))
    worker = DeliveryWorker(store, {"ops": notifier}, FAST)
    manager_for(store, "credit").handle_report(report({"age": True}), now=T0)
    assert worker.run_once(now=T0) == (1 if status == "sent" else 0)
    (message,) = messages(store)
    assert (message.status, message.attempts) == (status, attempts)
    if next_attempt == "backoff":
        assert message.next_attempt_at is not None
        assert (
            T0 + timedelta(milliseconds=25)
            <= message.next_attempt_at
            <= T0 + timedelta(milliseconds=50)
        )
    else:
        assert message.next_attempt_at == next_attempt
    notifier_status = store.get_notifier_status("ops")
    assert bool(notifier_status and notifier_status.disabled) is disabled


def test_a_notifier_returning_no_result_is_retried_with_the_reason(store: Store) -> None:
    notifier = _Scripted(None, DeliveryResult(DeliveryOutcome.DELIVERED))
    worker = DeliveryWorker(store, {"ops": notifier}, FAST)
    manager_for(store, "credit").handle_report(report({"age": True}), now=T0)
    assert worker.run_once(now=T0) == 0
    (message,) = messages(store)
    assert message.status == "pending" and message.attempts == 1
    assert "returned NoneType, not a DeliveryResult" in (message.last_error or "")
    assert message.next_attempt_at is not None
    assert worker.run_once(now=message.next_attempt_at) == 1


def test_only_one_worker_delivers_per_database(store: Store, discord: DiscordStandIn) -> None:
    manager_for(store, "credit").handle_report(report({"age": True}))
    first = DeliveryWorker(store, {"ops": discord_notifier(discord.url)}, FAST)
    second = DeliveryWorker(store, {"ops": discord_notifier(discord.url)}, FAST)
    assert store.acquire_lease("driftscope:outbox-delivery:ops", first.owner, 30)
    assert second.run_once() == 0 and discord.requests == []
    assert first.run_once() == 1


def test_log_notifier_writes_alerts_to_the_log(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    notifier = LogNotifier(LogSettings(name="ops"))
    manager_for(store, "credit").handle_report(report({"age": True}))
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
    manager = manager_for(store, "credit", notify=plugins.notify)
    events = manager.handle_report(report({"age": True, "income": True}))
    assert len(events) == 2 and good.seen == ["firing", "firing"]
    # counted where report observers are counted, the counter /metrics exports
    assert plugins.errors == {("broken-observer", "driftscope_alert_changed"): 2}
    assert any("broken-observer" in r.getMessage() for r in caplog.records)
    assert len(store.list_alert_events(monitor="credit")) == 2


def test_the_webhook_url_is_in_no_log_line_or_stored_error(
    store: Store, discord: DiscordStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    discord.script(server_error(), rate_limited(0.05), unknown_webhook())
    notifier = discord_notifier(discord.url)
    worker = DeliveryWorker(store, {"ops": notifier}, FAST)
    manager_for(store, "credit").handle_report(report({"age": True}), now=T0)
    worker.run_once(now=T0)
    drive(worker, store, T0 + timedelta(hours=1))  # each retry at its due time
    assert len(discord.requests) == 3
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


def test_a_held_lease_is_renewed_once_half_of_it_has_passed_not_on_every_pass(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    acquired: list[float] = []
    acquire = store.acquire_lease

    def counted(name: str, owner: str, seconds: float) -> bool:
        acquired.append(seconds)
        return acquire(name, owner, seconds)

    monkeypatch.setattr(store, "acquire_lease", counted)
    seconds = [0.0]
    settings = FAST.model_copy(update={"lease": timedelta(seconds=30)})
    worker = DeliveryWorker(store, {"ops": _Scripted(None)}, settings, monotonic=lambda: seconds[0])
    for _ in range(5):  # five polls within the first half of the lease: one write
        worker.run_once()
        seconds[0] += 2.9
    assert acquired == [30.0]
    seconds[0] = 15.0  # half of it has passed: the next pass renews it
    worker.run_once()
    assert acquired == [30.0, 30.0]
    # still held in the store: another worker cannot take it
    assert not store.acquire_lease("driftscope:outbox-delivery:ops", "someone else", 30)


def test_a_lease_taken_over_while_the_worker_was_stopped_is_found_lost(
    store: Store, discord: DiscordStandIn
) -> None:
    seconds = [0.0]
    worker = DeliveryWorker(
        store, {"ops": discord_notifier(discord.url)}, FAST, monotonic=lambda: seconds[0]
    )
    worker.run_once()  # takes the lease
    store.release_lease("driftscope:outbox-delivery:ops", worker.owner)
    assert store.acquire_lease("driftscope:outbox-delivery:ops", "another process", 30)
    manager_for(store, "credit").handle_report(report({"age": True}))
    seconds[0] = 31.0  # the worker was stopped for longer than its lease
    assert worker.run_once() == 0 and discord.requests == []
