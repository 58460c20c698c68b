"""Alert delivery from the ``/readyz`` answer: each notifier's outbox counts and last error,
and the messages still pending or given up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from driftscope.apps.dashboard.data.values import as_int, items, parse_time


@dataclass
class NotifierDelivery:
    """Delivery status of one notifier: counts per outbox status and the last error.

    ``retrying`` counts pending messages that met an error; ``given_up`` those still
    undelivered after the delivery's ``give_up_after``.
    """

    name: str
    type: str | None = None
    sent: int = 0
    pending: int = 0
    retrying: int = 0
    failed: int = 0
    given_up: int = 0
    muted: int = 0
    disabled: bool = False
    disabled_reason: str | None = None
    last_error: str | None = None
    last_sent_at: datetime | None = None
    waiting_until: datetime | None = None
    oldest_pending_at: datetime | None = None

    @property
    def status(self) -> Literal["ok", "retrying", "failed", "given up", "disabled", "idle"]:
        """The one word for this notifier's delivery (the worst that applies)."""
        if self.disabled:
            return "disabled"
        if self.given_up:
            return "given up"
        if self.failed:
            return "failed"
        if self.retrying or (self.pending and self.last_error):
            return "retrying"
        if self.pending or self.sent:
            return "ok"
        return "idle"


@dataclass
class OutboxMessageRow:
    """One pending or given-up alert message, as ``/readyz`` lists it."""

    id: str
    notifier: str
    monitor: str
    status: str
    created_at: datetime | None
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    changes: list[str]


def _notifier_from_health(name: str, n: Mapping[str, Any]) -> NotifierDelivery:
    return NotifierDelivery(
        name=str(n.get("name", name)),
        type=n.get("type") if isinstance(n.get("type"), str) else None,
        sent=as_int(n.get("sent")) or 0,
        pending=as_int(n.get("pending")) or 0,
        retrying=as_int(n.get("retrying")) or 0,
        failed=as_int(n.get("failed")) or 0,
        given_up=as_int(n.get("given_up")) or 0,
        muted=as_int(n.get("muted")) or 0,
        disabled=bool(n.get("disabled", False)),
        disabled_reason=n.get("disabled_reason") if n.get("disabled_reason") else None,
        last_error=str(n["last_error"]) if n.get("last_error") else None,
        last_sent_at=parse_time(n.get("last_sent_at")),
        waiting_until=parse_time(n.get("waiting_until")),
        oldest_pending_at=parse_time(n.get("oldest_pending_at")),
    )


def _delivery_summary(payload: Any) -> Mapping[str, Any] | None:
    """``checks.delivery.data`` of a ``/readyz`` answer, or a mapping's ``delivery``."""
    if not isinstance(payload, Mapping):
        return None
    delivery = payload.get("delivery")
    checks = payload.get("checks")
    if isinstance(checks, Mapping) and isinstance(checks.get("delivery"), Mapping):
        delivery = checks["delivery"].get("data")
    return delivery if isinstance(delivery, Mapping) else None


def delivery_status(payload: Any) -> list[NotifierDelivery]:
    """Delivery per notifier from the ``/readyz`` answer (``checks.delivery.data``) or any
    mapping with a ``delivery`` summary.

    ``notifiers`` of the delivery health summary is a mapping by name or a list.
    """
    delivery = _delivery_summary(payload)
    found: dict[str, NotifierDelivery] = {}
    if delivery is not None:
        notifiers = delivery.get("notifiers")
        if isinstance(notifiers, Mapping):
            for name, n in notifiers.items():
                if isinstance(n, Mapping):
                    found[str(name)] = _notifier_from_health(str(name), n)
        else:
            for n in items(notifiers):
                name = str(n.get("name", "?"))
                found[name] = _notifier_from_health(name, n)
    return sorted(found.values(), key=lambda n: n.name)


def outbox_messages(payload: Any) -> list[OutboxMessageRow]:
    """The pending and given-up messages of the delivery summary (see
    :func:`delivery_status`), given up first, then oldest first."""
    delivery = _delivery_summary(payload)
    if delivery is None:
        return []
    rows = []
    for m in items(delivery.get("messages")):
        changes = m.get("changes")
        rows.append(
            OutboxMessageRow(
                id=str(m.get("id", "?")),
                notifier=str(m.get("notifier", "?")),
                monitor=str(m.get("monitor", "?")),
                status=str(m.get("status", "?")),
                created_at=parse_time(m.get("created_at")),
                attempts=as_int(m.get("attempts")) or 0,
                next_attempt_at=parse_time(m.get("next_attempt_at")),
                last_error=str(m["last_error"]) if m.get("last_error") else None,
                changes=[str(c) for c in changes] if isinstance(changes, list) else [],
            )
        )
    oldest = datetime.min.replace(tzinfo=UTC)
    rows.sort(key=lambda r: (r.status != "given_up", r.created_at or oldest))
    return rows
