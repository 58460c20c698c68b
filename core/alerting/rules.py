"""Alert rules: turn one monitor report into alert state changes and outbox messages.

Pure logic, no I/O: :func:`evaluate` takes a report, the monitor's rule settings, the
current states of its keys and the active silences, and returns what to commit.

Keys are ``(monitor, detector, feature)``. A drift key moves

    ok/resolved --drifted--> pending (only when ``for_runs`` > 1) --``for_runs``--> firing
    firing --``resolve_runs`` clean runs--> resolved --drifted--> firing (or pending) ...
    pending --clean--> ok

The monitor itself has the key ``(monitor, "monitor", "")``: a report with status
``insufficient_data`` (fewer rows than ``min_samples``) moves it to ``no_data``, which is
announced (a broken pipeline is news); while it is there every drift key is held exactly as
it was, so a starved window cannot flap alerts. The next report with data moves it to
``resolved`` and announces the recovery. Results (or whole reports) with status ``failed``
or ``insufficient_data`` change nothing. A report ``waiting_for_predictions`` (the model has
never had one: a new deployment) changes nothing either, unless the monitor is already in
``no_data``, which it then keeps.

What gets announced: entering ``firing`` or ``no_data``, and ``resolved`` after either. A
key that stays ``firing``/``no_data`` is announced again once ``repeat_every`` has passed
since it was last announced, and also at the first run after a change that was not
announced (because a silence covered it): that is how Alertmanager's repeat interval and
notification log behave. ``pending`` and its return to ``ok`` are recorded, never sent.

Grouping: every announced key of one run goes into ONE
:class:`~driftscope.core.contracts.notifier.Notification`, enqueued once per notifier of the
monitor, as Alertmanager groups alerts.

Silences: a change that matches an active silence is recorded as an event with
``silenced=True`` and is not enqueued at all (so it is not sent, and the key's
``last_notified_at`` is untouched). A silence added after a message was enqueued is applied
by the delivery worker, which then marks a fully covered message ``muted``.

Notifier cooldowns are not applied here but by the delivery worker, on the outbox: see
:mod:`driftscope.core.alerting.delivery`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from driftscope.core.alerting.config import AlertRuleSettings
from driftscope.core.contracts.comparison import copy_comparison, result_context
from driftscope.core.contracts.notifier import AlertChange, Notification
from driftscope.core.contracts.report import Report, ResultRow
from driftscope.core.contracts.store import (
    AlertEvent,
    AlertState,
    AlertStateName,
    OutboxMessage,
    Silence,
)

MONITOR_DETECTOR = "monitor"
"""The detector name of a monitor's own key (its ``no_data`` state); its feature is ""."""

_ANNOUNCED_STATES: frozenset[str] = frozenset({"firing", "no_data"})

Key = tuple[str, str, str]


@dataclass(frozen=True)
class MonitorAlerting:
    """What the alert rules need to know about one monitor."""

    rules: AlertRuleSettings = field(default_factory=AlertRuleSettings)
    notify: tuple[str, ...] = ()
    model: str | None = None
    min_samples: int | None = None
    dashboard_url: str | None = None


@dataclass
class Evaluation:
    """What one report changes: states to upsert, events to append, messages to enqueue.

    ``changes`` is the grouped list of announced changes (the content of every message).
    """

    states: list[AlertState]
    events: list[AlertEvent]
    messages: list[OutboxMessage]
    changes: list[AlertChange]

    @property
    def empty(self) -> bool:
        return not (self.states or self.events or self.messages)


def result_key(monitor: str, row: ResultRow) -> Key:
    """The alert key of a result row; rows without a feature use their kind as feature."""
    return (monitor, row.detector, row.feature if row.feature is not None else row.kind)


def is_announced(from_state: str, to_state: str) -> bool:
    """Whether a transition is sent to notifiers (pending and ok are only recorded)."""
    if to_state in _ANNOUNCED_STATES:
        return True
    return to_state == "resolved" and from_state in _ANNOUNCED_STATES


def evaluate(
    report: Report,
    alerting: MonitorAlerting,
    states: Mapping[Key, AlertState],
    silences: Iterable[Silence] = (),
    now: datetime | None = None,
    *,
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> Evaluation:
    """Apply the alert rules to one report. ``states`` is not modified."""
    return _Evaluator(report, alerting, states, list(silences), now or datetime.now(UTC)).run(
        new_id
    )


class _Evaluator:
    def __init__(
        self,
        report: Report,
        alerting: MonitorAlerting,
        states: Mapping[Key, AlertState],
        silences: Sequence[Silence],
        now: datetime,
    ) -> None:
        self.report = report
        self.alerting = alerting
        self.rules = alerting.rules
        self.monitor = report.monitor
        self.original = dict(states)
        self.working: dict[Key, AlertState] = {k: replace(s) for k, s in states.items()}
        self.silences = silences
        self.now = now
        self.events: list[AlertEvent] = []
        self.changes: list[tuple[AlertState, AlertChange]] = []
        self.changed_keys: set[Key] = set()
        self.kinds: dict[Key, str] = {}
        self.contexts: dict[Key, str | None] = {}

    # -- helpers -----------------------------------------------------------------------------
    def state_of(self, key: Key) -> AlertState:
        if key not in self.working:
            self.working[key] = AlertState(monitor=key[0], detector=key[1], feature=key[2])
        return self.working[key]

    def silenced(self, state: AlertState) -> bool:
        return any(
            s.matches(state.monitor, state.detector, state.feature, self.now) for s in self.silences
        )

    def kind_of(self, state: AlertState) -> str:
        if state.detector == MONITOR_DETECTOR and state.feature == "":
            return "monitor"
        return self.kinds.get(state.key, "feature")

    def transition(self, state: AlertState, to_state: AlertStateName) -> None:
        from_state = state.state
        silenced = self.silenced(state)
        event = AlertEvent(
            monitor=state.monitor,
            detector=state.detector,
            feature=state.feature,
            from_state=from_state,
            to_state=to_state,
            at=self.now,
            report_id=self.report.id,
            silenced=silenced,
        )
        copy_comparison(state, event)
        self.events.append(event)
        state.state = to_state
        state.changed_at = self.now
        self.changed_keys.add(state.key)
        if is_announced(from_state, to_state) and not silenced:
            self.announce(state, from_state)

    def announce(self, state: AlertState, from_state: str) -> None:
        change = AlertChange(
            detector=state.detector,
            feature=state.feature,
            from_state=from_state,
            to_state=state.state,
            kind=self.kind_of(state),
            at=self.now,
            context=self.contexts.get(state.key),
        )
        copy_comparison(state, change)
        self.changes.append((state, change))

    def repeat_if_due(self, state: AlertState) -> None:
        """Announce a key that stays firing/no_data when its repeat (or held change) is due."""
        if state.state not in _ANNOUNCED_STATES or state.key in self.changed_keys:
            return
        if self.silenced(state):
            return
        last = state.last_notified_at
        due = (
            last is None
            or (state.changed_at is not None and last < state.changed_at)
            or self.now - last >= self.rules.repeat_every
        )
        if due:
            self.announce(state, state.state)

    # -- the rules ---------------------------------------------------------------------------
    def run(self, new_id: Callable[[], str]) -> Evaluation:
        status = self.report.status
        if status == "waiting_for_predictions":
            monitor_key = (self.monitor, MONITOR_DETECTOR, "")
            # once announced, a no_data alert stays until data comes back, even if the
            # model's predictions have since all been pruned
            if monitor_key in self.working and self.working[monitor_key].state == "no_data":
                status = "insufficient_data"
        if status not in ("failed", "waiting_for_predictions"):
            monitor_state = self.state_of((self.monitor, MONITOR_DETECTOR, ""))
            if status == "insufficient_data":
                self.enter_no_data(monitor_state)
            else:
                if monitor_state.state == "no_data":
                    self.set_window_statistic(monitor_state)
                    self.transition(monitor_state, "resolved")
                self.apply_results()
                for state in list(self.working.values()):
                    self.repeat_if_due(state)
        messages = self.build_messages(new_id)
        return Evaluation(
            states=self.changed_states(),
            events=self.events,
            messages=messages,
            changes=[c for _, c in self.changes],
        )

    def set_window_statistic(self, state: AlertState) -> None:
        """The monitor's key compares the window's rows with ``min_samples``."""
        rows = float(self.report.window.rows)
        state.statistic = rows
        state.threshold = (
            float(self.alerting.min_samples) if self.alerting.min_samples is not None else None
        )
        state.compared, state.value, state.drifts_when = "rows", rows, "below"
        state.p_value = state.p_value_adjusted = state.statistic_floor = None
        state.report_id = self.report.id

    def enter_no_data(self, state: AlertState) -> None:
        self.set_window_statistic(state)
        if state.state != "no_data":
            self.transition(state, "no_data")
        else:
            self.repeat_if_due(state)

    def apply_results(self) -> None:
        rows: dict[Key, ResultRow] = {}
        for row in self.report.results:
            if row.status != "ok":
                continue
            key = result_key(self.monitor, row)
            # two detector blocks of one type on one feature: the drifted one speaks
            if key not in rows or (row.drifted and not rows[key].drifted):
                rows[key] = row
        for key, row in rows.items():
            self.kinds[key] = row.kind
            self.contexts[key] = result_context(row.details)
            self.apply_row(self.state_of(key), row)

    def apply_row(self, state: AlertState, row: ResultRow) -> None:
        at_rest = state.state in ("ok", "resolved")
        if row.drifted:
            state.consecutive_drifted += 1
            state.consecutive_clean = 0
        else:
            state.consecutive_drifted = 0
            # counting clean runs only matters while firing; not counting them at rest keeps
            # a clean key's row untouched run after run
            state.consecutive_clean = state.consecutive_clean + 1 if not at_rest else 0
        if row.drifted or not at_rest:
            copy_comparison(row, state)
            state.report_id = self.report.id

        if row.drifted:
            if state.state in ("ok", "resolved", "pending"):
                if state.consecutive_drifted >= self.rules.for_runs:
                    self.transition(state, "firing")
                elif state.state != "pending":
                    self.transition(state, "pending")
        elif state.state == "pending":
            self.transition(state, "ok")
        elif state.state == "firing" and state.consecutive_clean >= self.rules.resolve_runs:
            self.transition(state, "resolved")
            state.consecutive_clean = 0

    def build_messages(self, new_id: Callable[[], str]) -> list[OutboxMessage]:
        if not self.changes or not self.alerting.notify:
            return []
        for state, _ in self.changes:
            state.last_notified_at = self.now
        notification = Notification(
            monitor=self.monitor,
            model=self.alerting.model or self.report.model,
            created_at=self.now,
            changes=[c for _, c in self.changes],
            report_id=self.report.id,
            window=window_dict(self.report, self.alerting.min_samples),
            dashboard_url=self.alerting.dashboard_url,
        )
        payload = notification.to_dict()
        return [
            OutboxMessage(
                id=new_id(),
                notifier=name,
                monitor=self.monitor,
                payload=payload,
                created_at=self.now,
                next_attempt_at=self.now,
            )
            for name in dict.fromkeys(self.alerting.notify)
        ]

    def changed_states(self) -> list[AlertState]:
        pristine = AlertState(monitor="", detector="", feature="")
        out = []
        for key, state in self.working.items():
            before = self.original.get(key)
            if before is None:
                if (
                    state.state == pristine.state
                    and state.consecutive_drifted == 0
                    and state.changed_at is None
                ):
                    continue
            elif state == before:
                continue
            out.append(state)
        return out


def window_dict(report: Report, min_samples: int | None) -> dict[str, object]:
    """The JSON-ready window summary a notification carries."""
    window = report.window
    return {
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "rows": window.rows,
        "labelled_rows": window.labelled_rows,
        "sampled_rows": window.sampled_rows,
        "min_samples": min_samples,
    }
