"""What a demo run did and found: the summary gathered from the traffic and the store, saved as
``summary.json`` and printed as a table with the verdict at the end of ``driftscope demo``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from driftscope.apps.demo.options import API_LOG, SUMMARY_NAME
from driftscope.apps.demo.simulate import TrafficStats
from driftscope.apps.demo.watching import StoreWatcher


@dataclass
class DemoSummary:
    """What the demo did and found; printed at the end and saved as ``summary.json``."""

    predictions_sent: int = 0
    predictions_failed: int = 0
    labels_sent: int = 0
    drift_injected_after: int | None = None
    traffic_seconds: float = 0.0
    reports: int = 0
    drift_detected: bool = False
    detected_after_requests: int | None = None
    detected_after_seconds: float | None = None
    #: every feature (or ``prediction``, ``probability:…``, ``performance``) that drifted in
    #: any run since the drift began: the keys the alert lines fired for
    drifted_features: list[str] = field(default_factory=list)
    #: those the first run that detected the drift found
    first_drifted_features: list[str] = field(default_factory=list)
    false_alarms: int = 0
    #: features flagged by runs before the drift began (their alert lines come first)
    false_alarm_features: list[str] = field(default_factory=list)
    alerts_fired: int = 0
    alerts_firing_now: int = 0
    alerts_resolved: int = 0
    no_data_alerts: int = 0
    messages: dict[str, dict[str, int]] = field(default_factory=dict)
    api_url: str = ""
    dashboard_url: str | None = None
    folder: str = ""
    #: the moment the summary describes: reports and alert changes up to it (ISO 8601)
    summarised_at: str | None = None

    @property
    def alerts_delivered(self) -> int:
        """Messages every notifier reported as sent."""
        return sum(counts.get("sent", 0) for counts in self.messages.values())

    @property
    def ok(self) -> bool:
        """Drift was detected in the drifted phase and an alert was recorded: one fired in
        this run, or (reusing a folder) one from an earlier run is still firing."""
        return self.drift_detected and (self.alerts_fired > 0 or self.alerts_firing_now > 0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (with ``ok`` and ``alerts_delivered``)."""
        data = asdict(self)
        data["alerts_delivered"] = self.alerts_delivered
        data["ok"] = self.ok
        return data


def summarise(
    stats: TrafficStats,
    watcher: StoreWatcher,
    *,
    api_url: str,
    dashboard_url: str | None,
    folder: Path,
    at: datetime | None = None,
) -> DemoSummary:
    """Gather the summary from the traffic stats and the store, and save it as
    ``summary.json`` in ``folder``: the reports and alert changes up to ``at`` (default now;
    the caller makes sure every run that began by then has saved its report)."""
    summary = DemoSummary(
        predictions_sent=stats.sent,
        predictions_failed=stats.failed,
        labels_sent=stats.labels_sent,
        drift_injected_after=stats.drift_start,
        traffic_seconds=round(stats.elapsed, 1),
        api_url=api_url,
        dashboard_url=dashboard_url,
        folder=str(folder),
    )
    # one moment for everything: the monitor keeps running while the summary is read
    now = at or datetime.now(UTC)
    summary.summarised_at = now.isoformat()
    reports = [r for r in watcher.reports() if r.created_at <= now]
    events = [e for e in watcher.events() if e.at <= now]
    summary.reports = len(reports)
    drift_start = stats.drift_started_at
    if drift_start is not None:
        early = [r for r in reports if r.drifted and r.created_at < drift_start]
        summary.false_alarms = len(early)
        summary.false_alarm_features = _drifted_in(early)
        detected = [r for r in reports if r.drifted and r.created_at >= drift_start]
        if detected:
            first = detected[0]
            summary.drift_detected = True
            summary.detected_after_seconds = round(
                (first.created_at - drift_start).total_seconds(), 1
            )
            summary.detected_after_requests = stats.answered_before(first.created_at) - (
                stats.drift_start or 0
            )
            summary.first_drifted_features = _drifted_in([first])
            # every run since, not only the first: later runs (more drifted rows, the labels
            # for accuracy) flag more, and the alert lines printed them
            summary.drifted_features = _drifted_in(detected)
    drift_events = [e for e in events if e.detector != "monitor"]
    summary.alerts_fired = sum(1 for e in drift_events if e.to_state == "firing")
    summary.alerts_resolved = sum(1 for e in drift_events if e.to_state == "resolved")
    summary.alerts_firing_now = watcher.firing_keys()
    summary.no_data_alerts = sum(
        1 for e in events if e.detector == "monitor" and e.to_state == "no_data"
    )
    summary.messages = watcher.message_counts()
    (folder / SUMMARY_NAME).write_text(
        json.dumps(summary.to_dict(), indent=2) + "\n", encoding="utf-8"
    )
    return summary


def _drifted_in(reports: list[Any]) -> list[str]:
    """The features (or prediction columns, or ``performance``) any of ``reports`` found
    drifting, named as alert keys name them."""
    return sorted({r.feature or r.kind for report in reports for r in report.results if r.drifted})


def print_summary(console: Console, summary: DemoSummary, *, replace: bool, folder: Path) -> None:
    """Print the summary table and the verdict; ``replace`` says whether the run started
    afresh, and ``folder`` is where its logs are."""
    table = Table(title="driftscope demo summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row(
        "predictions sent",
        f"{summary.predictions_sent} in {summary.traffic_seconds:g}s"
        + (f" ({summary.predictions_failed} failed)" if summary.predictions_failed else ""),
    )
    table.add_row("labels sent", str(summary.labels_sent))
    table.add_row("drift injected after", f"{summary.drift_injected_after} predictions")
    table.add_row("monitor runs", str(summary.reports))
    if summary.drift_detected:
        table.add_row(
            "drift first detected",
            f"{summary.detected_after_requests} predictions and "
            f"{summary.detected_after_seconds:g}s after it started, in "
            + ", ".join(summary.first_drifted_features),
        )
        table.add_row(
            "drifted features",
            f"{len(summary.drifted_features)}: {', '.join(summary.drifted_features)}",
        )
    else:
        table.add_row("drift first detected", "[red]not detected[/]")
    if summary.false_alarms:
        why = (
            " (rows of an earlier run are still in the window: --replace starts afresh)"
            if not replace
            else ""
        )
        table.add_row(
            "runs flagging drift before it began",
            f"{summary.false_alarms} ({', '.join(summary.false_alarm_features)}){why}",
        )
    table.add_row(
        "alerts fired",
        f"{summary.alerts_fired} (resolved {summary.alerts_resolved}, "
        f"no-data {summary.no_data_alerts}); {summary.alerts_firing_now} firing now",
    )
    delivered = (
        "; ".join(
            f"{name}: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
            for name, counts in summary.messages.items()
        )
        or "no messages"
    )
    table.add_row("alert messages", delivered)
    console.print(table)
    if summary.ok:
        console.print("[bold green]drift detected and alerted[/]")
    else:
        console.print(
            "[bold red]the demo did not see drift detected and alerted[/] "
            f"(see {folder / API_LOG})",
            highlight=False,
        )
