"""The delivery worker: sends outbox messages through notifiers, in its own thread.

Messages live in the store (enqueued with the alert state change that caused them), so a
notifier that is down gets them later and a restart resumes every pending one.

**Each process delivers only through the notifiers it has.** Processes of different configs
may share one store; a worker reads only the messages addressed to its own notifier names and
leaves the others to the process that has theirs (they wait, and are counted as
``elsewhere`` in :class:`DeliveryHealth`). One process at a time delivers through a notifier:
a pass takes the store lease ``driftscope:outbox-delivery:<notifier>`` of each of its
notifiers, so processes running one config on a shared database never send a message twice,
and processes of two configs never wait for each other's lease.

What a pass does with the due messages of one notifier:

* **Serialised per notifier, in order per monitor.** One thread sends, one message at a
  time; after a rate limit, a block or a server error the whole notifier waits (its later
  messages are deferred to the same time), so a limited endpoint is not hammered. The
  messages of one notifier and monitor form a queue that leaves strictly oldest first: a
  message is never sent while an older one of its queue is still waiting (also after a
  restart, when the in-memory wait is gone), so a receiver never hears "resolved" before
  the "firing" it resolves.
* **Merging only where the configuration asks.** Without a cooldown every message is sent
  on its own, however long the receiver was down. With a cooldown
  (``NotifierSettings.cooldown``, per notifier *and* monitor, the grouping Alertmanager's
  ``group_interval`` uses) a channel hears about one monitor at most once per cooldown: a
  message due inside the cooldown is deferred to its end rather than dropped, and then the
  waiting messages of that queue are merged into one notification that keeps every change
  in order (:func:`merge_notifications`: a key that fired at T1 and resolved at T2 says
  exactly that). The merged messages are all marked sent with the same external id.
* **Silences** are checked again at send time: a silence added after a message was
  enqueued removes its matching changes; a message left with none is marked ``muted``.
* **Outcomes** (:class:`~driftscope.core.contracts.notifier.DeliveryOutcome`, one handler
  each in :attr:`DeliveryWorker._ON_OUTCOME`): ``DELIVERED`` → ``sent``. ``RATE_LIMITED``
  (a 429) → wait its ``retry_after``, retry; it does not use up an attempt. ``BLOCKED`` (a
  429 without rate-limit headers) → wait ``block_backoff``. ``GONE`` (401/403/404/410) →
  ``failed``, and the notifier is disabled (its status saved with a hash of its settings)
  until its configuration changes; later messages to it fail with the reason. ``REJECTED``
  (other 4xx) → ``failed``. ``TRANSIENT`` (5xx, connection error, a notifier that raised)
  → retried: ``fast_attempts`` retries on an exponential backoff with jitter, then every
  ``backoff_max``, until the message is ``give_up_after`` old; then it is ``given_up``
  (kept, with the reason, and shown on /readyz, /metrics, ``driftscope alerts`` and the
  dashboard until retention prunes it).

Exactly once: a message is marked sent right after the receiver accepted it, and
:meth:`DeliveryWorker.stop` lets the send in flight finish and be recorded. Only a process
killed between the receiver's answer and that update can send a message twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar

from pydantic import BaseModel, SecretStr

from driftscope.core.alerting.config import DeliverySettings
from driftscope.core.contracts.notifier import (
    DeliveryOutcome,
    DeliveryResult,
    Notification,
    Notifier,
    NotifierSettings,
    redact,
)
from driftscope.core.contracts.store import NotifierStatus, OutboxMessage, Silence, Store
from driftscope.core.durations import format_duration

log = logging.getLogger(__name__)

LEASE_NAME = "driftscope:outbox-delivery"
"""The prefix of each notifier's delivery lease: ``driftscope:outbox-delivery:<notifier>``."""


def lease_name(notifier: str) -> str:
    """The store lease a process holds while it delivers through ``notifier``."""
    return f"{LEASE_NAME}:{notifier}"


def config_hash(settings: BaseModel) -> str:
    """A SHA-256 of a notifier's settings, secrets included, so a changed URL or token
    counts as a new configuration; the secrets themselves are never stored."""
    data = _reveal(settings.model_dump(mode="python"))
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Mapping):
        return {str(k): _reveal(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_reveal(v) for v in value]
    return value


def secret_values(settings: BaseModel) -> list[str]:
    """Every secret string in a settings model (for redacting error text)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for _field, item in value:  # a model iterates over its (field, value) pairs
                walk(item)
        elif isinstance(value, Mapping):
            for v in value.values():
                walk(v)
        elif isinstance(value, list | tuple | set | frozenset):
            for v in value:
                walk(v)

    walk(settings)
    return found


def merge_notifications(notifications: Sequence[Notification]) -> Notification:
    """One notification telling everything several notifications of one monitor told.

    Every change is kept, in the order of the notifications (oldest first), each with the
    time it happened, so a key that fired at T1 and resolved at T2 reads "ok → firing at
    T1, firing → resolved at T2" (:meth:`Notification.history`) rather than a collapsed
    "ok → resolved" that never happened. Window, report and time are the newest's.
    """
    if not notifications:
        raise ValueError("nothing to merge")
    changes = [
        change if change.at is not None else replace(change, at=notification.created_at)
        for notification in notifications
        for change in notification.changes
    ]
    return replace(notifications[-1], changes=changes)


def without_silenced(
    notification: Notification, silences: Iterable[Silence], at: datetime
) -> tuple[Notification, list[str]]:
    """Drop the changes an active silence covers; also return the ids of those silences."""
    silences = list(silences)
    kept = []
    used: list[str] = []
    for change in notification.changes:
        matched = [
            s.id
            for s in silences
            if s.matches(notification.monitor, change.detector, change.feature, at)
        ]
        if matched:
            used.extend(i for i in matched if i not in used)
        else:
            kept.append(change)
    return replace(notification, changes=kept), used


@dataclass
class NotifierHealth:
    """The delivery status of one notifier.

    ``retrying`` counts pending messages that already met an error (a receiver that is down
    or limiting us); ``given_up`` those still undelivered ``give_up_after`` their creation.
    """

    name: str
    type: str | None
    pending: int = 0
    retrying: int = 0
    failed: int = 0
    given_up: int = 0
    sent: int = 0
    disabled: bool = False
    disabled_reason: str | None = None
    last_error: str | None = None
    last_sent_at: datetime | None = None
    waiting_until: datetime | None = None
    oldest_pending_at: datetime | None = None


@dataclass(frozen=True)
class MessageSummary:
    """One pending or given-up outbox message, as /readyz, the CLI and the dashboard list it.

    ``changes`` are short texts (``"psi/age: ok → firing"``), oldest first.
    """

    id: str
    notifier: str
    monitor: str
    status: str
    created_at: datetime
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    changes: tuple[str, ...]

    @classmethod
    def of(cls, message: OutboxMessage) -> MessageSummary:
        raw = message.payload.get("changes") if isinstance(message.payload, Mapping) else None
        changes = tuple(
            f"{c.get('detector', '?')}/{c.get('feature', '?')}: "
            f"{c.get('from_state', '?')} → {c.get('to_state', '?')}"
            for c in (raw if isinstance(raw, list) else [])
            if isinstance(c, Mapping)
        )
        return cls(
            id=message.id,
            notifier=message.notifier,
            monitor=message.monitor,
            status=message.status,
            created_at=message.created_at,
            attempts=message.attempts,
            next_attempt_at=message.next_attempt_at,
            last_error=message.last_error,
            changes=changes,
        )


@dataclass
class DeliveryHealth:
    """What /readyz, /metrics and ``driftscope alerts`` show about alert delivery.

    Counts come from the newest ``limit`` messages of each status; ``messages`` lists the
    newest pending and given-up messages (at most ``MAX_LISTED`` of each).
    """

    MAX_LISTED: ClassVar[int] = 20

    running: bool
    notifiers: dict[str, NotifierHealth] = field(default_factory=dict)
    messages: list[MessageSummary] = field(default_factory=list)
    #: pending messages to notifiers this process does not have, by notifier name: another
    #: config's on the same store (its own process delivers them), or a notifier since
    #: removed from the config. Shown, never delivered nor failed here.
    elsewhere: dict[str, int] = field(default_factory=dict)

    @property
    def degraded(self) -> bool:
        """A notifier is disabled, is retrying, or has failed or given-up messages."""
        return any(
            n.disabled or n.failed or n.given_up or n.retrying for n in self.notifiers.values()
        )

    @property
    def problems(self) -> list[str]:
        """One line per notifier that is disabled, retrying, or lost messages."""
        lines = []
        for n in self.notifiers.values():
            if n.disabled:
                lines.append(f"notifier {n.name} is disabled: {n.disabled_reason}")
            if n.retrying:
                since = n.oldest_pending_at.isoformat() if n.oldest_pending_at else "?"
                lines.append(
                    f"notifier {n.name}: {n.pending} message(s) waiting, {n.retrying} retrying "
                    f"(oldest from {since}): {n.last_error}"
                )
            if n.given_up:
                lines.append(f"notifier {n.name}: {n.given_up} message(s) given up")
            if n.failed:
                lines.append(f"notifier {n.name}: {n.failed} failed message(s): {n.last_error}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        notifiers = {}
        for name, n in self.notifiers.items():
            data = asdict(n)
            for key in ("last_sent_at", "waiting_until", "oldest_pending_at"):
                data[key] = iso(data[key])
            notifiers[name] = data
        messages = []
        for m in self.messages:
            data = asdict(m)
            data["created_at"] = iso(m.created_at)
            data["next_attempt_at"] = iso(m.next_attempt_at)
            data["changes"] = list(m.changes)
            messages.append(data)
        return {
            "running": self.running,
            "degraded": self.degraded,
            "problems": self.problems,
            "notifiers": notifiers,
            "messages": messages,
            "elsewhere": dict(self.elsewhere),
        }


@dataclass(frozen=True)
class _Attempt:
    """One send and its result, as the worker's outcome handlers need them."""

    name: str
    settings: NotifierSettings
    group: list[OutboxMessage]
    result: DeliveryResult
    error: str | None  # the result's error with the notifier's secrets redacted
    now: datetime

    @property
    def reason(self) -> str:
        return self.error or f"HTTP {self.result.status_code}"


_OutcomeHandler = Callable[["DeliveryWorker", _Attempt], tuple[int, bool]]


class DeliveryWorker:
    """Delivers the outbox; see the module docstring for the rules.

    :param store: An opened store (thread-safe).
    :param notifiers: The configured notifiers by instance name.
    :param settings: Retry, backoff and polling settings.
    :param owner: This worker's lease owner id (random by default).
    :param batch_size: Due messages read per pass.
    :param clock: Returns the current UTC time (tests pass a fake one).
    :param rng: Source of backoff jitter.
    :param monotonic: Seconds on a clock that never goes back, for the age of a lease.
    """

    def __init__(
        self,
        store: Store,
        notifiers: Mapping[str, Notifier[Any]],
        settings: DeliverySettings | None = None,
        *,
        owner: str | None = None,
        batch_size: int = 50,
        clock: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.notifiers = dict(notifiers)
        self.settings = settings or DeliverySettings()
        self.owner = owner or f"delivery-{uuid.uuid4().hex[:12]}"
        self.batch_size = batch_size
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rng = rng or random.Random()
        self._waiting_until: dict[str, datetime] = {}
        self._last_sent: dict[tuple[str, str], datetime] | None = None
        self._pass_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._monotonic = monotonic  # measures how old a lease is
        self._leases: dict[str, float] = {}  # notifier -> monotonic time its lease was taken
        self.overflowed = 0  # messages failed because their notifier's outbox was over its bound

    def __repr__(self) -> str:
        return f"DeliveryWorker(notifiers={sorted(self.notifiers)!r}, running={self.running})"

    # -- the background thread ---------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        """:meth:`stop` was called: the thread finishes the send in flight and ends."""
        return self._stop.is_set()

    def start(self) -> None:
        """Deliver in a daemon thread until :meth:`stop`."""
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="driftscope-delivery", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for due messages now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop after the send in flight (if any) is finished and recorded.

        :return: True when the thread ended within ``timeout`` seconds.
        """
        self._stop.set()
        self._wake.set()
        thread, stopped = self._thread, True
        if thread is not None:
            thread.join(timeout)
            stopped = not thread.is_alive()
            if stopped:
                self._thread = None
        if stopped:
            for name in list(self._leases):
                try:
                    self.store.release_lease(lease_name(name), self.owner)
                except Exception:
                    log.exception("could not release the delivery lease of notifier %s", name)
            self._leases.clear()
        return stopped

    def _loop(self) -> None:
        poll = self.settings.poll_interval.total_seconds()
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("alert delivery pass failed; retrying in %.1fs", poll)
            self._wake.wait(poll)
            self._wake.clear()

    # -- one pass ----------------------------------------------------------------------------
    def run_once(self, now: datetime | None = None) -> int:
        """Process the due messages once (each is attempted at most once).

        :param now: The time to act at (defaults to the clock, read again after each send).
        :return: How many messages were delivered.
        """
        with self._pass_lock:
            start = now or self._clock()
            mine = [name for name in sorted(self.notifiers) if self._hold_lease(name)]
            if not mine:
                return 0
            due = self._due_queues(self._enforce_bound(mine), start)
            if not due:
                return 0
            if self._last_sent is None:
                self._last_sent = self._load_last_sent()
            silences = self.store.list_silences(active_at=start)
            by_notifier: dict[str, list[list[OutboxMessage]]] = {}
            for queue in due:
                by_notifier.setdefault(queue[0].notifier, []).append(queue)
            delivered = 0
            for name, queues in by_notifier.items():
                if self._stop.is_set():
                    break
                delivered += self._process_notifier(name, queues, now, silences)
            return delivered

    def _hold_lease(self, notifier: str) -> bool:
        """Whether this worker may deliver through ``notifier``: takes its lease when it
        holds none, and renews it once half of it has passed, so a long pass never outlives
        its claim (another process would then send the same messages).

        Checked at the start of each pass and before each send. Renewing only at half-life,
        not on every poll, spares the store a write transaction each second per notifier
        (on SQLite, the commit that runs the automatic checkpoint, and a lock the API's log
        writer would find taken); a lease that lapsed while the process was stopped is
        found lost at the next check, since the monotonic clock kept running.
        """
        lease = self.settings.lease.total_seconds()
        taken = self._leases.get(notifier)
        if taken is None or self._monotonic() - taken >= lease / 2:
            if self.store.acquire_lease(lease_name(notifier), self.owner, lease):
                self._leases[notifier] = self._monotonic()
            else:
                self._leases.pop(notifier, None)
        return notifier in self._leases

    def _due_queues(self, pending: list[OutboxMessage], now: datetime) -> list[list[OutboxMessage]]:
        """The messages to attempt now, as one list per (notifier, monitor) queue.

        Each list is the due head of its queue: its messages oldest first, up to the first
        one that is not yet due, so nothing overtakes an older message that is waiting.
        Queues come in the order of their oldest message; ``batch_size`` bounds the total.
        """
        queues: dict[tuple[str, str], list[OutboxMessage]] = {}
        for message in sorted(pending, key=lambda m: (m.created_at, m.id)):
            queues.setdefault((message.notifier, message.monitor), []).append(message)
        due: list[list[OutboxMessage]] = []
        budget = self.batch_size
        for queue in queues.values():
            head: list[OutboxMessage] = []
            for message in queue:
                if budget <= 0 or (
                    message.next_attempt_at is not None and message.next_attempt_at > now
                ):
                    break
                head.append(message)
                budget -= 1
            if head:
                due.append(head)
        return due

    def _enforce_bound(self, notifiers: list[str]) -> list[OutboxMessage]:
        """Keep the waiting messages of each of ``notifiers`` (this worker's, whose leases
        it holds) within ``max_pending``: a notifier that has been down long enough to pile
        up more fails its oldest messages, with the reason, so the outbox stays bounded and
        the loss is visible on /readyz and /metrics.

        :return: The pending messages of ``notifiers`` left.
        """
        bound = self.settings.max_pending
        pending: dict[str, list[OutboxMessage]] = {}
        for message in self.store.list_messages(
            status="pending", limit=100_000, notifiers=notifiers
        ):
            pending.setdefault(message.notifier, []).append(message)
        left: list[OutboxMessage] = []
        for name, messages in pending.items():
            messages.sort(key=lambda m: (m.created_at, m.id))
            excess = max(0, len(messages) - bound)
            left.extend(messages[excess:])
            if not excess:
                continue
            for message in messages[:excess]:
                message.status = "failed"
                message.last_error = (
                    f"dropped: notifier {name!r} had more than {bound} messages waiting "
                    "(delivery.max_pending); is it down?"
                )
                message.next_attempt_at = None
                self.store.update_message(message)
                self.overflowed += 1
            log.error(
                "notifier %s: outbox over its bound of %d; oldest messages failed", name, bound
            )
        return left

    def _now(self, fixed: datetime | None) -> datetime:
        return fixed or self._clock()

    def _load_last_sent(self) -> dict[tuple[str, str], datetime]:
        last: dict[tuple[str, str], datetime] = {}
        for message in self.store.list_messages(
            status="sent", limit=1000, notifiers=list(self.notifiers)
        ):
            if message.sent_at is None:
                continue
            key = (message.notifier, message.monitor)
            if key not in last or message.sent_at > last[key]:
                last[key] = message.sent_at
        return last

    def _process_notifier(
        self,
        name: str,
        queues: list[list[OutboxMessage]],
        fixed_now: datetime | None,
        silences: Sequence[Silence],
    ) -> int:
        now = self._now(fixed_now)
        notifier = self.notifiers.get(name)
        if notifier is None:  # never read: the pass reads only this worker's notifiers
            return 0
        everything = [m for queue in queues for m in queue]
        reason = self._disabled_reason(notifier, now)
        if reason is not None:
            self._fail(everything, f"notifier {name!r} is disabled: {reason}", now)
            return 0
        waiting = self._waiting_until.get(name)
        if waiting is not None and waiting > now:
            self._defer(everything, waiting)
            return 0

        delivered = 0
        assert self._last_sent is not None
        for i, queue in enumerate(queues):
            if self._stop.is_set():
                break
            now = self._now(fixed_now)
            waiting = self._waiting_until.get(name)
            if waiting is not None and waiting > now:
                self._defer([m for q in queues[i:] for m in q], waiting)
                break
            cooldown = notifier.settings.cooldown
            if cooldown is None:
                sent, stop = self._send_one_by_one(notifier, queue, fixed_now, silences)
            else:
                last = self._last_sent.get((name, queue[0].monitor))
                if last is not None and now < last + cooldown:
                    self._defer(queue, last + cooldown)
                    continue
                sent, stop = self._deliver(notifier, queue, fixed_now, silences)
            delivered += sent
            if stop:
                # disabled: the next pass fails what is left with the reason; waiting: the
                # next pass defers it
                break
        return delivered

    def _send_one_by_one(
        self,
        notifier: Notifier[Any],
        queue: list[OutboxMessage],
        fixed_now: datetime | None,
        silences: Sequence[Silence],
    ) -> tuple[int, bool]:
        delivered = 0
        for i, message in enumerate(queue):
            if self._stop.is_set():
                return delivered, True
            sent, stop = self._deliver(notifier, [message], fixed_now, silences)
            delivered += sent
            if stop:
                waiting = self._waiting_until.get(notifier.name)
                if waiting is not None:
                    self._defer(queue[i + 1 :], waiting)
                return delivered, True
        return delivered, False

    def _deliver(
        self,
        notifier: Notifier[Any],
        group: list[OutboxMessage],
        fixed_now: datetime | None,
        silences: Sequence[Silence],
    ) -> tuple[int, bool]:
        """Send ``group`` (one message, or a cooldown's merged queue) once.

        :return: How many messages were delivered, and whether the notifier must not be
            used again in this pass (it is waiting or was disabled).
        """
        name = notifier.name
        if not self._hold_lease(name):
            log.warning("lost the delivery lease of %s; another process delivers now", name)
            return 0, True
        start = self._now(fixed_now)
        try:
            notification = merge_notifications([Notification.from_dict(m.payload) for m in group])
        except (KeyError, TypeError, ValueError) as exc:
            self._fail(group, f"unreadable message payload: {type(exc).__name__}: {exc}", start)
            return 0, False
        notification, used = without_silenced(notification, silences, start)
        if not notification.changes:
            for message in group:
                message.status = "muted"
                message.next_attempt_at = None
                message.last_error = "muted by silence " + ", ".join(used)
                self.store.update_message(message)
            return 0, False

        secrets = secret_values(notifier.settings)
        try:
            result = notifier.send(notification)
        except Exception as exc:  # a notifier must not raise; treat it as transient
            detail = redact(f"{type(exc).__name__}: {exc}", secrets)
            log.warning("notifier %s raised while sending: %s", name, detail)
            result = DeliveryResult(DeliveryOutcome.TRANSIENT, error=detail)
        if not isinstance(result, DeliveryResult):
            returned = type(result).__name__
            log.warning("notifier %s returned %s instead of a DeliveryResult", name, returned)
            result = DeliveryResult(
                DeliveryOutcome.TRANSIENT,
                error=f"notifier {name!r} returned {returned}, not a DeliveryResult",
            )
        attempt = _Attempt(
            name=name,
            settings=notifier.settings,
            group=group,
            result=result,
            error=redact(result.error, secrets) if result.error else None,
            now=self._now(fixed_now),
        )
        return self._ON_OUTCOME[result.outcome](self, attempt)

    # -- what each outcome does: the table _ON_OUTCOME ----------------------------------------
    def _on_delivered(self, attempt: _Attempt) -> tuple[int, bool]:
        group, now = attempt.group, attempt.now
        for message in group:
            message.status = "sent"
            message.attempts += 1
            message.sent_at = now
            message.next_attempt_at = None
            message.last_error = None
            message.external_id = attempt.result.external_id
            self.store.update_message(message)
        assert self._last_sent is not None
        self._last_sent[(attempt.name, group[0].monitor)] = now
        log.info(
            "alert for %s delivered through %s (%d message(s) merged)",
            group[0].monitor,
            attempt.name,
            len(group),
        )
        return len(group), False

    def _on_gone(self, attempt: _Attempt) -> tuple[int, bool]:
        name, now, reason = attempt.name, attempt.now, attempt.reason
        self.store.set_notifier_status(
            NotifierStatus(
                name=name,
                config_hash=config_hash(attempt.settings),
                disabled=True,
                reason=reason,
                changed_at=now,
            )
        )
        log.error("notifier %s disabled until its configuration changes: %s", name, reason)
        self._fail(attempt.group, f"notifier disabled: {reason}", now, attempted=True)
        return 0, True

    def _on_rejected(self, attempt: _Attempt) -> tuple[int, bool]:
        self._fail(attempt.group, attempt.reason, attempt.now, attempted=True)
        log.error("alert through %s failed permanently: %s", attempt.name, attempt.error)
        return 0, False

    def _on_rate_limited(self, attempt: _Attempt) -> tuple[int, bool]:
        return self._wait(attempt, max(0.0, attempt.result.retry_after or 0.0), "rate limited")

    def _on_blocked(self, attempt: _Attempt) -> tuple[int, bool]:
        wait = self.settings.block_backoff.total_seconds()
        return self._wait(attempt, wait, "blocked (429 without rate-limit headers)")

    def _on_transient(self, attempt: _Attempt) -> tuple[int, bool]:
        self._retry_later(attempt.name, attempt.group, attempt.reason, attempt.now)
        return 0, True

    #: What the worker does after each outcome: every handler returns how many messages
    #: were delivered and whether the notifier must not be used again in this pass.
    _ON_OUTCOME: ClassVar[Mapping[DeliveryOutcome, _OutcomeHandler]] = MappingProxyType(
        {
            DeliveryOutcome.DELIVERED: _on_delivered,
            DeliveryOutcome.GONE: _on_gone,
            DeliveryOutcome.REJECTED: _on_rejected,
            DeliveryOutcome.RATE_LIMITED: _on_rate_limited,
            DeliveryOutcome.BLOCKED: _on_blocked,
            DeliveryOutcome.TRANSIENT: _on_transient,
        }
    )

    def _wait(self, attempt: _Attempt, wait: float, what: str) -> tuple[int, bool]:
        """The receiver asked us to hold off: the notifier and the group wait ``wait``
        seconds, and the attempt is not counted."""
        until = attempt.now + timedelta(seconds=wait)
        self._waiting_until[attempt.name] = until
        for message in attempt.group:
            message.next_attempt_at = until
            message.last_error = f"{what}; retrying in {wait:.1f}s"
            self.store.update_message(message)
        log.warning("notifier %s %s; waiting %.1fs", attempt.name, what, wait)
        return 0, True

    def _retry_later(
        self, name: str, group: list[OutboxMessage], reason: str, now: datetime
    ) -> None:
        """After a transient failure: give up the messages older than ``give_up_after``,
        schedule the rest (and the notifier) for the next attempt."""
        give_up_after = self.settings.give_up_after
        keep: list[OutboxMessage] = []
        for message in group:
            message.attempts += 1
            if now - message.created_at < give_up_after:
                keep.append(message)
                continue
            message.status = "given_up"
            message.next_attempt_at = None
            message.last_error = (
                f"given up: undelivered {format_duration(give_up_after)} after it was "
                f"created ({message.attempts} attempts): {reason}"
            )
            self.store.update_message(message)
            log.error(
                "alert %s through %s given up after %d attempts: %s",
                message.id,
                name,
                message.attempts,
                reason,
            )
        if not keep:
            return
        attempts = max(m.attempts for m in keep)
        delay = self._backoff(attempts)
        until = now + timedelta(seconds=delay)
        self._waiting_until[name] = until
        for message in keep:
            message.next_attempt_at = until
            message.last_error = reason
            self.store.update_message(message)
        log.warning(
            "alert through %s failed (attempt %d), retrying in %.2fs: %s",
            name,
            attempts,
            delay,
            reason,
        )

    def _backoff(self, attempts: int) -> float:
        """The wait after the ``attempts``-th failed attempt, with equal jitter (never less
        than half the step, so the backoff still grows)."""
        cap = self.settings.backoff_max.total_seconds()
        if attempts <= self.settings.fast_attempts:
            step = min(cap, self.settings.backoff_initial.total_seconds() * 2.0 ** (attempts - 1))
        else:
            step = cap
        return step / 2 + self._rng.random() * step / 2

    def _defer(self, messages: Iterable[OutboxMessage], until: datetime) -> None:
        for message in messages:
            if message.next_attempt_at is None or message.next_attempt_at < until:
                message.next_attempt_at = until
                self.store.update_message(message)

    def _fail(
        self,
        messages: Iterable[OutboxMessage],
        reason: str,
        now: datetime,
        *,
        attempted: bool = False,
    ) -> None:
        for message in messages:
            message.status = "failed"
            message.next_attempt_at = None
            message.last_error = reason
            if attempted:
                message.attempts += 1
            self.store.update_message(message)

    def _disabled_reason(self, notifier: Notifier[Any], now: datetime) -> str | None:
        status = self.store.get_notifier_status(notifier.name)
        if status is None or not status.disabled:
            return None
        if status.config_hash == config_hash(notifier.settings):
            return status.reason or "disabled"
        self.store.set_notifier_status(
            NotifierStatus(
                name=notifier.name,
                config_hash=config_hash(notifier.settings),
                disabled=False,
                reason=None,
                changed_at=now,
            )
        )
        log.info(
            "notifier %s was disabled; its configuration changed, enabled again", notifier.name
        )
        return None

    # -- health ------------------------------------------------------------------------------
    def health(self, *, limit: int = 10_000) -> DeliveryHealth:
        """Counts per notifier of this worker (pending, retrying, failed, given up, sent),
        disabled notifiers with their reasons, the newest pending and given-up messages, and
        the pending messages to notifiers it does not have (``elsewhere``)."""
        health = DeliveryHealth(running=self.running)

        def entry(name: str) -> NotifierHealth:
            if name not in health.notifiers:
                notifier = self.notifiers.get(name)
                health.notifiers[name] = NotifierHealth(
                    name=name, type=notifier.settings.type if notifier else None
                )
            return health.notifiers[name]

        for name in sorted(self.notifiers):
            item = entry(name)
            item.waiting_until = self._waiting_until.get(name)
            notifier = self.notifiers[name]
            status = self.store.get_notifier_status(name)
            if (
                status is not None
                and status.disabled
                and status.config_hash == config_hash(notifier.settings)
            ):
                item.disabled = True
                item.disabled_reason = status.reason
        mine = list(self.notifiers)
        pending = []
        for message in self.store.list_messages(status="pending", limit=limit):  # newest first
            if message.notifier not in self.notifiers:
                health.elsewhere[message.notifier] = health.elsewhere.get(message.notifier, 0) + 1
                continue
            pending.append(message)
            item = entry(message.notifier)
            item.pending += 1
            item.oldest_pending_at = message.created_at
            if message.last_error is not None:
                item.retrying += 1
                if item.last_error is None:
                    item.last_error = message.last_error
        given_up = self.store.list_messages(status="given_up", limit=limit, notifiers=mine)
        for message in given_up:
            entry(message.notifier).given_up += 1
        for message in self.store.list_messages(status="failed", limit=limit, notifiers=mine):
            item = entry(message.notifier)
            item.failed += 1
            if item.last_error is None:
                item.last_error = message.last_error
        for message in self.store.list_messages(status="sent", limit=limit, notifiers=mine):
            item = entry(message.notifier)
            item.sent += 1
            if message.sent_at and (
                item.last_sent_at is None or message.sent_at > item.last_sent_at
            ):
                item.last_sent_at = message.sent_at
        listed = pending[: DeliveryHealth.MAX_LISTED] + given_up[: DeliveryHealth.MAX_LISTED]
        health.messages = [MessageSummary.of(m) for m in listed]
        return health
