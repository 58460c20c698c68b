"""Watching what the demo's monitor finds: the store read while the API writes it, and the
alert changes printed as they are recorded.

:class:`StoreWatcher` opens the demo's store through the plugin manager, as the API does, and
reads this run's reports, alert history and outbox; :class:`AlertPrinter` polls it from a
thread and prints each new alert change, grouped by the report that caused it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from driftscope.apps.demo.options import MONITOR
from driftscope.apps.demo.simulate import TrafficStats
from driftscope.core.contracts.comparison import comparison_text
from driftscope.core.contracts.store import AlertEvent, Store

# alert changes printed per report; the rest are counted
SHOWN_PER_REPORT = 12


class StoreWatcher:
    """Reads the demo's store (reports, alert history, outbox) while the API writes it."""

    def __init__(self, config_path: Path, since: datetime) -> None:
        from driftscope.core.config.yaml_file import load_config
        from driftscope.core.plugin_system.manager import create_plugin_manager

        plugins = create_plugin_manager()
        config = load_config(config_path, plugins)
        settings = config.store_settings
        self.store: Store = plugins.get("store", settings.type)(settings)
        self.store.open()
        self.since = since
        self._seen: set[int] = set()
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the store connection."""
        self.store.close()

    def new_events(self) -> list[AlertEvent]:
        """Alert changes recorded since the last call (oldest first)."""
        with self._lock:
            events = self.store.list_alert_events(monitor=MONITOR, since=self.since, limit=1000)
            fresh = [e for e in events if e.id is not None and e.id not in self._seen]
            self._seen.update(e.id for e in fresh if e.id is not None)
        return sorted(fresh, key=lambda e: (e.at, e.id or 0))

    def events(self) -> list[AlertEvent]:
        """Every alert change of this run, oldest first."""
        with self._lock:
            events = self.store.list_alert_events(monitor=MONITOR, since=self.since, limit=10_000)
        return sorted(events, key=lambda e: (e.at, e.id or 0))

    def reports(self) -> list[Any]:
        """Every report of this run, oldest first."""
        with self._lock:
            reports = self.store.list_reports(MONITOR, since=self.since, limit=10_000)
        return sorted(reports, key=lambda r: r.created_at)

    def firing_keys(self) -> int:
        """How many of the monitor's alert keys are firing now."""
        with self._lock:
            states = self.store.get_alert_states(MONITOR)
        return sum(1 for state in states.values() if state.state == "firing")

    def message_counts(self) -> dict[str, dict[str, int]]:
        """Outbox messages of this run by notifier and status (sent, pending, failed...)."""
        with self._lock:
            messages = self.store.list_messages(limit=10_000)
        counts: dict[str, Counter[str]] = {}
        for message in messages:
            if message.created_at >= self.since and message.monitor == MONITOR:
                counts.setdefault(message.notifier, Counter())[message.status] += 1
        return {name: dict(c) for name, c in sorted(counts.items())}


def describe_event(event: AlertEvent) -> str:
    """One line for an alert change: what changed, and the number its decision compared
    beside the threshold it was compared with."""
    if event.detector == "monitor":
        rows = "?" if event.statistic is None else f"{event.statistic:.0f}"
        need = "?" if event.threshold is None else f"{event.threshold:.0f}"
        what = f"window has {rows} rows (needs {need})"
    elif event.detector == "performance":
        what = f"the model's measured quality: {comparison_text(event)}"
    else:
        what = f"{event.detector} on {event.feature}: {comparison_text(event)}"
    colour = {"firing": "bold red", "no_data": "yellow", "resolved": "green"}.get(
        event.to_state, "dim"
    )
    muted = " [dim](silenced)[/]" if event.silenced else ""
    return f"[{colour}]{event.to_state:>8}[/] {what}{muted}"


class AlertPrinter:
    """Prints every alert change ``watcher`` records, grouped by report, from a thread that
    polls every ``interval`` seconds; ``stats`` gives the traffic so far (or ``None``) to say
    how many predictions each alert came after."""

    def __init__(
        self,
        watcher: StoreWatcher,
        console: Console,
        stats: Callable[[], TrafficStats | None],
        interval: float = 0.5,
    ) -> None:
        self.watcher = watcher
        self.console = console
        self.stats = stats
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: alert changes after this moment are held back, not printed (see ``hold_after``)
        self._horizon: datetime | None = None
        self._held: list[AlertEvent] = []
        self._printing = threading.Lock()

    def hold_after(self, moment: datetime | None) -> None:
        """Print no alert change recorded after ``moment`` until it is moved (``None``: print
        everything), so what was printed before the summary is what the summary, taken at
        that moment, describes; held changes are printed once the moment moves past them."""
        with self._printing:
            self._horizon = moment

    def start(self) -> None:
        """Start polling in a daemon thread."""

        def loop() -> None:
            while not self._stop.wait(self.interval):
                self.print_new()

        self._thread = threading.Thread(target=loop, name="demo-alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (waiting up to 5 s for the thread)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def print_new(self) -> None:
        """Print the alert changes recorded since the last call (up to the moment given to
        :meth:`hold_after`)."""
        with self._printing:
            try:
                fresh = self.watcher.new_events()
            except Exception as exc:  # the store is busy or gone: try again at the next poll
                self.console.log(f"[dim]could not read alerts: {exc}[/]")
                return
            events = self._held + fresh
            horizon = self._horizon
            self._held = [] if horizon is None else [e for e in events if e.at > horizon]
            self._print([e for e in events if horizon is None or e.at <= horizon])

    def _print(self, events: list[AlertEvent]) -> None:
        by_report: dict[str | None, list[AlertEvent]] = {}
        for event in events:
            by_report.setdefault(event.report_id, []).append(event)
        for group in by_report.values():
            at = group[0].at.astimezone().strftime("%H:%M:%S")
            states = Counter(e.to_state for e in group)
            head = ", ".join(f"{n} {s}" for s, n in states.items())
            self.console.print(
                f"[bold]alert[/] {at} {MONITOR}: {head}{self._when(group[0].at)}",
                highlight=False,
            )
            for event in group[:SHOWN_PER_REPORT]:
                self.console.print(f"  {describe_event(event)}", highlight=False)
            if len(group) > SHOWN_PER_REPORT:
                self.console.print(f"  … and {len(group) - SHOWN_PER_REPORT} more", highlight=False)

    def _when(self, moment: datetime) -> str:
        """`` (after N predictions, M of them drifted)`` for an alert printed at ``moment``."""
        stats = self.stats()
        if stats is None:
            return ""
        answered = stats.answered_before(moment)
        drifted = answered - stats.drift_start if stats.drift_start is not None else 0
        if drifted > 0:
            return f" (after {answered} predictions, {drifted} of them drifted)"
        return f" (after {answered} predictions)"
