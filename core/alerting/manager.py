"""The alert manager: applies the alert rules to each report and commits the outcome.

For one report it loads the monitor's alert states and the active silences, evaluates the rules
(:mod:`driftscope.core.alerting.rules`), commits states, events and outbox messages in ONE store
transaction, and only then tells observers (``driftscope_alert_changed``) through the plugin
manager's :meth:`~driftscope.core.plugin_system.manager.PluginManager.notify`, the one event path
report observers take too: an observer that raises is logged with its plugin's name and counted
on /metrics, and never reaches the caller.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from driftscope.core.alerting.rules import Evaluation, MonitorAlerting, evaluate
from driftscope.core.contracts.report import Report
from driftscope.core.contracts.store import AlertEvent, Silence, Store
from driftscope.core.validation import (
    MAX_FEATURE_NAME_CHARS,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_REASON_CHARS,
    Problem,
    RequestValidationFailed,
    duration_field,
    require_text,
    text_problem,
)

log = logging.getLogger(__name__)

AlertingLookup = Callable[[str], MonitorAlerting | None] | Mapping[str, MonitorAlerting]


class UnknownMonitorError(LookupError):
    """A silence or report names a monitor the configuration does not have."""


class EventSink(Protocol):
    """Fires an event hook by name, each observer on its own (``PluginManager.notify``)."""

    def __call__(self, hook_name: str, /, **kwargs: Any) -> None: ...


class AlertManager:
    """Turns reports into alert states, history and outbox messages.

    :param store: An opened store.
    :param notify: Fires ``driftscope_alert_changed`` for each recorded change, isolating
        each observer (``PluginManager.notify``); ``None`` fires nothing.
    :param monitors: The alert settings of each monitor, as a mapping or a function of the
        monitor name (returning ``None`` for an unknown monitor).
    :param on_enqueued: Called after messages were committed (e.g. to wake the delivery
        worker so an alert leaves at once instead of at its next poll).
    """

    def __init__(
        self,
        store: Store,
        notify: EventSink | None,
        monitors: AlertingLookup,
        *,
        on_enqueued: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self._notify = notify
        self._monitors = monitors
        self.on_enqueued = on_enqueued
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def alerting(self, monitor: str) -> MonitorAlerting | None:
        """The alert settings of a monitor, or ``None`` when it is not configured."""
        if isinstance(self._monitors, Mapping):
            return self._monitors.get(monitor)
        return self._monitors(monitor)

    def _lock(self, monitor: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(monitor, threading.Lock())

    def evaluate(self, report: Report, now: datetime | None = None) -> Evaluation:
        """What ``report`` would change, without committing anything."""
        alerting = self.alerting(report.monitor)
        if alerting is None:
            raise UnknownMonitorError(f"no alert settings for monitor {report.monitor!r}")
        now = now or datetime.now(UTC)
        states = self.store.get_alert_states(report.monitor)
        silences = self.store.list_silences(active_at=now)
        return evaluate(report, alerting, states, silences, now)

    def handle_report(self, report: Report, now: datetime | None = None) -> list[AlertEvent]:
        """Apply the rules to a saved report, commit the result, then notify observers.

        :return: The recorded state changes (silenced ones included).
        """
        # one monitor's reports are evaluated one at a time in this process; across
        # processes the scheduler's lease already runs each monitor once
        with self._lock(report.monitor):
            evaluation = self.evaluate(report, now)
            if evaluation.empty:
                return []
            self.store.commit_alert_changes(
                evaluation.states, evaluation.events, evaluation.messages
            )
        for event in evaluation.events:
            log.info(
                "alert %s/%s/%s: %s -> %s%s",
                event.monitor,
                event.detector,
                event.feature,
                event.from_state,
                event.to_state,
                " (silenced)" if event.silenced else "",
            )
            if self._notify is not None:
                self._notify("driftscope_alert_changed", event=event)
        if evaluation.messages and self.on_enqueued is not None:
            self.on_enqueued()
        return evaluation.events

    # -- silences --------------------------------------------------------------------------
    def add_silence(
        self,
        monitor: str,
        duration: timedelta | str,
        reason: str,
        *,
        feature: str | None = None,
        detector: str | None = None,
        created_by: str | None = None,
        now: datetime | None = None,
    ) -> Silence:
        """Mute alert changes of a monitor (optionally one feature/detector) for a while.

        ``duration`` is a timedelta or text such as ``"2h"``, positive and at most ten
        years. Bad values (text no store can hold, a bad duration, an empty reason) raise
        :class:`RequestValidationFailed` naming each field as the API's body does
        (``("body", "reason")``); an unknown monitor raises :class:`UnknownMonitorError`.
        """
        fields = {
            "monitor": (monitor, MAX_NAME_CHARS),
            "reason": (reason, MAX_REASON_CHARS),
            "feature": (feature, MAX_FEATURE_NAME_CHARS),
            "detector": (detector, MAX_NAME_CHARS),
            "created_by": (created_by, MAX_NAME_CHARS),
        }
        problems: list[Problem] = []
        for name, (value, limit) in fields.items():
            problem = None if value is None else text_problem(value, limit)
            if problem is not None:
                problems.append(Problem(("body", name), problem[1], problem[0], field=name))
        if not reason.strip():
            problems.append(
                Problem(("body", "reason"), "a silence needs a reason", "missing", field="reason")
            )
        length, duration_problem = duration_field(duration, ("body", "duration"))
        if duration_problem is not None:
            problems.append(duration_problem)
        if problems:
            raise RequestValidationFailed(problems)
        assert length is not None
        if self.alerting(monitor) is None:
            raise UnknownMonitorError(f"unknown monitor {monitor!r}")
        start = now or datetime.now(UTC)
        silence = Silence(
            id=uuid.uuid4().hex[:12],
            monitor=monitor,
            starts_at=start,
            ends_at=start + length,
            reason=reason.strip(),
            feature=feature,
            detector=detector,
            created_by=created_by,
        )
        self.store.add_silence(silence)
        log.info(
            "silence %s added for %s (feature=%s, detector=%s) until %s: %s",
            silence.id,
            monitor,
            feature or "*",
            detector or "*",
            silence.ends_at.isoformat(),
            silence.reason,
        )
        return silence

    def list_silences(
        self, *, active_only: bool = True, now: datetime | None = None
    ) -> list[Silence]:
        """Active silences (or every saved one), soonest to end first."""
        silences = self.store.list_silences(
            active_at=(now or datetime.now(UTC)) if active_only else None
        )
        return sorted(silences, key=lambda s: s.ends_at)

    def remove_silence(self, silence_id: str) -> bool:
        """Delete a silence; False when there is none with that id. An id no store can hold
        raises :class:`RequestValidationFailed` (at ``("path", "silence_id")``)."""
        require_text(silence_id, ("path", "silence_id"), MAX_ID_CHARS)
        removed = self.store.delete_silence(silence_id)
        if removed:
            log.info("silence %s removed", silence_id)
        return removed
