"""The monitor's and the model's settings a report file states, read from the config.

The report itself holds the window (its times and row counts) and every result; how the
monitor is scheduled, which detector settings it runs and which files the model comes from
are in the config. They are read from the config the command or the API runs with, which
can have changed since the run: the file says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from driftscope.apps.report.formatting import DASH, duration_text
from driftscope.core.config.yaml_file import DriftscopeConfig, MonitorConfig

_COMMON_SETTINGS = frozenset({"type", "features", "prediction"})
_LISTED = 8  # names listed in a fact before "and N more"


@dataclass(frozen=True)
class Fact:
    """One labelled line of the report's facts."""

    label: str
    value: str


@dataclass(frozen=True)
class ReportFacts:
    """The monitor's and the model's settings, and notes on where they come from."""

    monitor: list[Fact] = field(default_factory=list)
    model: list[Fact] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _value_text(value: Any) -> str:
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return _names([_value_text(v) for v in value])
    return str(value)


def _names(names: list[str]) -> str:
    if not names:
        return DASH
    shown = ", ".join(names[:_LISTED])
    return shown if len(names) <= _LISTED else f"{shown} and {len(names) - _LISTED} more"


def _detector_facts(monitor: MonitorConfig) -> list[Fact]:
    facts = []
    for settings in monitor.detector_settings:
        # mode="json" writes a secret an outside detector might hold as asterisks
        dumped = settings.model_dump(mode="json")
        parts = [
            f"{key} {_value_text(value)}"
            for key, value in dumped.items()
            if key not in _COMMON_SETTINGS and not isinstance(value, dict)
        ]
        if settings.features is not None:
            parts.append(f"features {_names(settings.features)}")
        if not settings.prediction:
            parts.append("not on the prediction")
        facts.append(Fact(f"detector {settings.type}", "; ".join(parts) or "defaults"))
    return facts


def monitor_facts(monitor: MonitorConfig) -> list[Fact]:
    """The monitor's schedule, window, detectors with their settings, correction, features,
    alert rule and notifiers."""
    window = monitor.window
    schedule = f"every {duration_text(monitor.every)}" if monitor.every else f"cron {monitor.cron}"
    window_text = f"the last {duration_text(window.last)}, at least {window.min_samples:,} rows"
    if window.max_rows is not None:
        window_text += f", sampled down to {window.max_rows:,} rows"
    return [
        Fact("schedule", schedule),
        Fact("window", window_text),
        *_detector_facts(monitor),
        Fact("correction", monitor.correction),
        Fact("features", "all" if monitor.features is None else _names(monitor.features)),
        Fact(
            "alert",
            f"fires after {monitor.alert.for_runs} drifted run(s), resolves after "
            f"{monitor.alert.resolve_runs} clean run(s)",
        ),
        Fact("notifies", _names(monitor.notify) if monitor.notify else "log"),
    ]


def report_facts(config: DriftscopeConfig | None, monitor: str, model: str) -> ReportFacts:
    """The settings of ``monitor`` and ``model`` in ``config`` (``None``: no config known)."""
    if config is None:
        return ReportFacts(notes=["No config was given: the monitor's settings are not shown."])
    source = f" {config.source.name}" if config.source is not None else ""
    notes = [
        f"Monitor and model settings are those of the config{source} when this file was "
        "written; they may have changed since the run."
    ]
    monitor_part: list[Fact] = []
    found = next((m for m in config.monitors if m.name == monitor), None)
    if found is None:
        notes.append(f"The monitor {monitor!r} is not in the config any more.")
    else:
        monitor_part = monitor_facts(found)
    model_part: list[Fact] = []
    model_config = next((m for m in config.models if m.name == model), None)
    if model_config is None:
        notes.append(f"The model {model!r} is not in the config any more.")
    else:
        model_part = [
            Fact("model file", model_config.path.name if model_config.path else "records only"),
            Fact("reference", model_config.reference.name),
            Fact("task", model_config.task or "inferred from the model"),
            Fact("label column", model_config.target or DASH),
        ]
    return ReportFacts(monitor=monitor_part, model=model_part, notes=notes)
