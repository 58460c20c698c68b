"""What is configured: the monitors of ``/v1/monitors`` (schedule, window, detectors) and the
model names of ``/v1/models``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from driftscope.apps.dashboard.data.display import format_duration
from driftscope.apps.dashboard.data.values import as_float, as_int, items, parse_time


@dataclass
class MonitorInfo:
    """A configured monitor as ``/v1/monitors`` describes it."""

    name: str
    model: str
    every: str | None
    cron: str | None
    window: str | None
    min_samples: int | None
    detectors: list[str]
    notify: list[str]
    latest_at: datetime | None

    @property
    def schedule(self) -> str | None:
        """``every 1m`` or ``cron */5 * * * *``."""
        if self.every:
            return f"every {self.every}"
        if self.cron:
            return f"cron {self.cron}"
        return None


def monitors(payload: Any) -> list[MonitorInfo]:
    """The monitors in a ``/v1/monitors`` answer, in its order."""
    out = []
    for m in items(payload, "monitors"):
        if not m.get("name"):
            continue
        detectors = []
        for d in m.get("detectors") or []:
            if isinstance(d, Mapping):
                d = d.get("type")
            if d:
                detectors.append(str(d))
        window = m.get("window")
        latest = m.get("latest_report")
        out.append(
            MonitorInfo(
                name=str(m["name"]),
                model=str(m.get("model") or "?"),
                every=format_duration(as_float(m.get("every_seconds")))
                or (str(m["every"]) if m.get("every") else None),
                cron=str(m["cron"]) if m.get("cron") else None,
                window=format_duration(as_float(m.get("window_seconds")))
                or (
                    str(window.get("last"))
                    if isinstance(window, Mapping) and window.get("last")
                    else None
                ),
                min_samples=as_int(m.get("min_samples")),
                detectors=detectors,
                notify=[str(n) for n in m.get("notify") or []],
                latest_at=parse_time(latest.get("created_at"))
                if isinstance(latest, Mapping)
                else None,
            )
        )
    return out


def monitor_names(payload: Any) -> list[str]:
    """The monitor names in a ``/v1/monitors`` answer, in its order."""
    return [str(m["name"]) for m in items(payload, "monitors") if m.get("name")]


def model_names(payload: Any) -> list[str]:
    """The model names in a ``/v1/models`` answer."""
    return [str(m["name"]) for m in items(payload, "models") if m.get("name")]
