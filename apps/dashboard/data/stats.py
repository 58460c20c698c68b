"""A model's traffic from ``/v1/models/{model}/stats``: prediction rate, latency, labelled
share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from driftscope.apps.dashboard.data.values import as_float, as_int, as_mapping, parse_time


@dataclass
class ModelHealth:
    """A model's traffic over the selected range."""

    model: str
    count: int | None
    per_minute: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    labelled: int | None
    labelled_share: float | None
    last_at: datetime | None


def model_health(model: str, stats: Mapping[str, Any] | None, span: timedelta) -> ModelHealth:
    """Prediction rate, latency and labelled share from ``/v1/models/{model}/stats``.

    The rate comes from the answer when it has one (``rate_per_minute`` or
    ``rate_per_second``), else from the count over the range.
    """
    stats = as_mapping(stats)
    latency = as_mapping(stats.get("latency_ms"))
    count = as_int(stats.get("count", stats.get("predictions")))
    labelled = as_int(stats.get("labelled", stats.get("labelled_count")))
    per_minute = as_float(stats.get("rate_per_minute"))
    per_second = as_float(stats.get("rate_per_second"))
    if per_minute is None and per_second is not None:
        per_minute = per_second * 60
    if per_minute is None and count is not None and span.total_seconds() > 0:
        per_minute = count / (span.total_seconds() / 60)
    share = as_float(stats.get("labelled_share"))
    if share is None and count and labelled is not None:
        share = labelled / count
    return ModelHealth(
        model=model,
        count=count,
        per_minute=per_minute,
        latency_p50_ms=as_float(stats.get("latency_p50_ms", latency.get("p50"))),
        latency_p99_ms=as_float(stats.get("latency_p99_ms", latency.get("p99"))),
        labelled=labelled,
        labelled_share=share,
        last_at=parse_time(stats.get("last_at")),
    )
