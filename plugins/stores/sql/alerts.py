"""Alert states and events, the outbox of notifications, silences and notifier status."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from driftscope import AlertEvent, AlertState, NotifierStatus, OutboxMessage, Silence, StoreError

from .base import StoreBase
from .tables import T_EVENTS, T_NOTIFIERS, T_OUTBOX, T_SILENCES, T_STATES
from .values import _dumps


class AlertsMixin(StoreBase):
    """Keep alert states, events, outbox messages, silences and notifier status."""

    def get_alert_states(self, monitor: str) -> dict[tuple[str, str, str], AlertState]:
        """Current alert states of one monitor, by key."""
        with self._tx("reading alert states") as conn:
            rows = conn.execute(select(T_STATES).where(T_STATES.c.monitor == monitor)).all()
        states = [AlertState(**row._asdict()) for row in rows]
        return {s.key: s for s in states}

    def list_alert_states(self, state: str | None = None) -> list[AlertState]:
        """Alert states of every monitor, optionally only one state."""
        query = select(T_STATES).order_by(
            T_STATES.c.monitor, T_STATES.c.detector, T_STATES.c.feature
        )
        if state is not None:
            query = query.where(T_STATES.c.state == state)
        with self._tx("listing alert states") as conn:
            rows = conn.execute(query).all()
        return [AlertState(**row._asdict()) for row in rows]

    def commit_alert_changes(
        self,
        states: Sequence[AlertState],
        events: Sequence[AlertEvent],
        messages: Sequence[OutboxMessage],
    ) -> None:
        """Upsert states, append events and enqueue messages in one transaction.

        The events' ``id`` fields are set to the ids the database gave them.
        """
        new_ids: list[int] = []
        with self._tx("committing alert changes", write=True) as conn:
            if states:
                rows = [_state_values(s) for s in states]
                conn.execute(self._upsert(T_STATES, rows), rows)
            if events:
                rows = [_event_values(e) for e in events]
                new_ids = list(
                    conn.execute(
                        T_EVENTS.insert().returning(T_EVENTS.c.id, sort_by_parameter_order=True),
                        rows,
                    ).scalars()
                )
            if messages:
                conn.execute(T_OUTBOX.insert(), [_message_values(m) for m in messages])
        if events:
            for event_, new_id in zip(events, new_ids, strict=True):
                event_.id = int(new_id)

    def list_alert_events(
        self, *, monitor: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[AlertEvent]:
        """Alert history, newest first."""
        query = select(T_EVENTS)
        if monitor is not None:
            query = query.where(T_EVENTS.c.monitor == monitor)
        if since is not None:
            query = query.where(T_EVENTS.c.at >= since)
        query = query.order_by(T_EVENTS.c.at.desc(), T_EVENTS.c.id.desc()).limit(limit)
        with self._tx("listing alert events") as conn:
            rows = conn.execute(query).all()
        return [AlertEvent(**row._asdict()) for row in rows]

    # -- outbox ------------------------------------------------------------------------------------
    def due_messages(
        self, now: datetime, limit: int = 50, *, notifiers: Collection[str] | None = None
    ) -> list[OutboxMessage]:
        """Pending messages due at ``now`` (no next attempt set, or not after now), oldest
        first; with ``notifiers``, only those to these notifier names."""
        if notifiers is not None and not notifiers:
            return []
        query = (
            select(T_OUTBOX)
            .where(T_OUTBOX.c.status == "pending")
            .where(or_(T_OUTBOX.c.next_attempt_at.is_(None), T_OUTBOX.c.next_attempt_at <= now))
            .order_by(T_OUTBOX.c.created_at, T_OUTBOX.c.id)
            .limit(limit)
        )
        if notifiers is not None:
            query = query.where(T_OUTBOX.c.notifier.in_(sorted(notifiers)))
        with self._tx("reading due messages") as conn:
            rows = conn.execute(query).all()
        return [_message(row) for row in rows]

    def update_message(self, message: OutboxMessage) -> None:
        """Save a message's status, attempts, next attempt, error, sent time and external id."""
        with self._tx("updating an outbox message", write=True) as conn:
            result = conn.execute(
                update(T_OUTBOX)
                .where(T_OUTBOX.c.id == message.id)
                .values(
                    status=message.status,
                    attempts=message.attempts,
                    next_attempt_at=message.next_attempt_at,
                    last_error=message.last_error,
                    sent_at=message.sent_at,
                    external_id=message.external_id,
                )
            )
            if result.rowcount == 0:
                raise StoreError(f"outbox message {message.id!r} does not exist")

    def list_messages(
        self,
        *,
        status: str | None = None,
        limit: int = 100,
        notifiers: Collection[str] | None = None,
    ) -> list[OutboxMessage]:
        """Outbox messages, newest first, optionally only one status and only those to
        the given notifier names."""
        if notifiers is not None and not notifiers:
            return []
        query = select(T_OUTBOX)
        if status is not None:
            query = query.where(T_OUTBOX.c.status == status)
        if notifiers is not None:
            query = query.where(T_OUTBOX.c.notifier.in_(sorted(notifiers)))
        query = query.order_by(T_OUTBOX.c.created_at.desc(), T_OUTBOX.c.id.desc()).limit(limit)
        with self._tx("listing outbox messages") as conn:
            rows = conn.execute(query).all()
        return [_message(row) for row in rows]

    # -- silences ----------------------------------------------------------------------------------
    def add_silence(self, silence: Silence) -> None:
        """Save (or replace) a silence."""
        values = asdict(silence)  # the table's columns are the dataclass's fields
        with self._tx("saving a silence", write=True) as conn:
            conn.execute(self._upsert(T_SILENCES, values), values)

    def list_silences(self, *, active_at: datetime | None = None) -> list[Silence]:
        """Every silence, or only those with ``starts_at <= active_at < ends_at``."""
        query = select(T_SILENCES).order_by(T_SILENCES.c.starts_at, T_SILENCES.c.id)
        if active_at is not None:
            query = query.where(
                and_(T_SILENCES.c.starts_at <= active_at, T_SILENCES.c.ends_at > active_at)
            )
        with self._tx("listing silences") as conn:
            rows = conn.execute(query).all()
        return [Silence(**row._asdict()) for row in rows]

    def delete_silence(self, silence_id: str) -> bool:
        """Remove a silence; False when none has that id."""
        with self._tx("deleting a silence", write=True) as conn:
            result = conn.execute(delete(T_SILENCES).where(T_SILENCES.c.id == silence_id))
        return result.rowcount > 0

    # -- notifier status ---------------------------------------------------------------------------
    def get_notifier_status(self, name: str) -> NotifierStatus | None:
        """A notifier's saved status, or ``None``."""
        with self._tx("reading a notifier status") as conn:
            row = conn.execute(select(T_NOTIFIERS).where(T_NOTIFIERS.c.name == name)).first()
        return None if row is None else NotifierStatus(**row._asdict())

    def set_notifier_status(self, status: NotifierStatus) -> None:
        """Save a notifier's status."""
        values = asdict(status)  # the table's columns are the dataclass's fields
        with self._tx("saving a notifier status", write=True) as conn:
            conn.execute(self._upsert(T_NOTIFIERS, values), values)


def _state_values(state: AlertState) -> dict[str, Any]:
    return asdict(state)  # the table's columns are the dataclass's fields


def _event_values(event_: AlertEvent) -> dict[str, Any]:
    values = asdict(event_)
    del values["id"]  # assigned by the database
    return values


def _message_values(message: OutboxMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "notifier": message.notifier,
        "monitor": message.monitor,
        "payload": _dumps(message.payload),
        "created_at": message.created_at,
        "status": message.status,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at,
        "last_error": message.last_error,
        "sent_at": message.sent_at,
        "external_id": message.external_id,
    }


def _message(row: Any) -> OutboxMessage:
    values = row._asdict()
    values["payload"] = json.loads(values["payload"])
    return OutboxMessage(**values)
