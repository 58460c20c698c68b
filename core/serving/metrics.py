"""Prometheus metrics of a serving process (prometheus-client, one registry per app).

Label values are bounded: model, monitor, detector and feature names come from the config
and the models' schemas, error reasons from a fixed list. Prediction ids and raw values are
never labels. Drift gauges take at most :data:`MAX_DRIFT_SERIES` series.

The log queue, plugin error and scheduler figures are read when /metrics is scraped (a
custom collector), so the request path only pays for the counters and the histogram.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from driftscope.core.contracts.report import Report
from driftscope.core.plugin_system.hookspecs import hookimpl

if TYPE_CHECKING:
    from driftscope.core.alerting.delivery import DeliveryWorker
    from driftscope.core.monitoring.profiles import ProfileCache
    from driftscope.core.monitoring.scheduler import MonitorScheduler
    from driftscope.core.plugin_system.manager import PluginManager
    from driftscope.core.serving.log_writer import PredictionLogWriter

log = logging.getLogger(__name__)

ErrorReason = Literal[
    "validation", "too_large", "queue_full", "log_failed", "store_refused", "model_error"
]
MAX_DRIFT_SERIES = 10_000
# single-row scoring of a small model takes around a millisecond; batches take longer
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0015,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


class ApiMetrics:
    """The metrics of one API process, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._predictions = Counter(
            "driftscope_predictions",
            "Rows predicted and logged, by model.",
            ["model"],
            registry=r,
        )
        self._records = Counter(
            "driftscope_records",
            "Rows of predictions made elsewhere logged through /records, by model.",
            ["model"],
            registry=r,
        )
        self._errors = Counter(
            "driftscope_prediction_errors",
            "Predict/records requests refused, by model and reason.",
            ["model", "reason"],
            registry=r,
        )
        self._latency = Histogram(
            "driftscope_prediction_latency_seconds",
            "Time to validate, score and queue one predict request, by model.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._labels = Counter(
            "driftscope_labels_updated",
            "Predictions that received a ground-truth label (relabels included), by model.",
            ["model"],
            registry=r,
        )
        self._unknown_labels = Counter(
            "driftscope_labels_unknown_ids",
            "Feedback labels naming a prediction id the store does not have, by model.",
            ["model"],
            registry=r,
        )
        self._drift_statistic = Gauge(
            "driftscope_drift_statistic",
            "Latest statistic of each detector on each feature of a monitor.",
            ["monitor", "detector", "feature"],
            registry=r,
        )
        self._drift_p_value = Gauge(
            "driftscope_drift_p_value",
            "Latest p-value of each detector on each feature of a monitor (tests only).",
            ["monitor", "detector", "feature"],
            registry=r,
        )
        self._drifted = Gauge(
            "driftscope_drift_detected",
            "1 when the latest run found drift for the key, else 0.",
            ["monitor", "detector", "feature"],
            registry=r,
        )
        self._report_rows = Gauge(
            "driftscope_report_window_rows",
            "Rows in the window of a monitor's latest report.",
            ["monitor"],
            registry=r,
        )
        self._report_time = Gauge(
            "driftscope_report_timestamp_seconds",
            "Creation time of a monitor's latest report (Unix seconds).",
            ["monitor"],
            registry=r,
        )
        self._drift_keys: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()
        self._children: dict[str, tuple[Any, Any]] = {}
        self._dynamic = _DynamicCollector()
        r.register(self._dynamic)

    # -- request path --------------------------------------------------------------------------
    def _model(self, model: str) -> tuple[Any, Any]:
        children = self._children.get(model)
        if children is None:
            children = (self._predictions.labels(model), self._latency.labels(model))
            self._children[model] = children
        return children

    def predicted(self, model: str, rows: int, seconds: float) -> None:
        """Count a served predict request's rows and observe its latency."""
        predictions, latency = self._model(model)
        predictions.inc(rows)
        latency.observe(seconds)

    def recorded(self, model: str, rows: int) -> None:
        self._records.labels(model).inc(rows)

    def prediction_error(self, model: str, reason: ErrorReason) -> None:
        """Count a refused predict/records request of a configured model."""
        self._errors.labels(model, reason).inc()

    def labelled(self, model: str, updated: int, unknown: int) -> None:
        self._labels.labels(model).inc(updated)
        if unknown:
            self._unknown_labels.labels(model).inc(unknown)

    # -- drift ---------------------------------------------------------------------------------
    def observe_report(self, report: Report) -> None:
        """Set the drift gauges from a monitor's newest report."""
        with self._lock:
            self._report_rows.labels(report.monitor).set(report.window.rows)
            self._report_time.labels(report.monitor).set(report.created_at.timestamp())
            for row in report.results:
                key = (report.monitor, row.detector, row.feature or row.kind)
                if key not in self._drift_keys:
                    if len(self._drift_keys) >= MAX_DRIFT_SERIES:
                        continue
                    self._drift_keys.add(key)
                statistic = row.statistic if row.statistic is not None else float("nan")
                p_value = row.p_value if row.p_value is not None else float("nan")
                self._drift_statistic.labels(*key).set(statistic)
                self._drift_p_value.labels(*key).set(p_value)
                self._drifted.labels(*key).set(1.0 if row.drifted else 0.0)

    # -- scrape-time sources -------------------------------------------------------------------
    def watch(
        self,
        *,
        logger: Callable[[], PredictionLogWriter | None] | None = None,
        plugins: PluginManager | None = None,
        scheduler: Callable[[], MonitorScheduler | None] | None = None,
        profile_cache: ProfileCache | None = None,
        delivery: DeliveryWorker | None = None,
    ) -> None:
        """Report these objects' counters on every scrape."""
        self._dynamic.logger = logger
        self._dynamic.plugins = plugins
        self._dynamic.scheduler = scheduler
        self._dynamic.profile_cache = profile_cache
        self._dynamic.delivery = delivery

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)


class _DynamicCollector(Collector):
    """Reads the log queue, plugin errors and scheduler counters at scrape time."""

    def __init__(self) -> None:
        self.logger: Callable[[], PredictionLogWriter | None] | None = None
        self.plugins: PluginManager | None = None
        self.scheduler: Callable[[], MonitorScheduler | None] | None = None
        self.profile_cache: ProfileCache | None = None
        self.delivery: DeliveryWorker | None = None

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        logger = self.logger() if self.logger else None
        if logger is not None:
            yield _gauge("driftscope_log_queue_depth", "Rows waiting to be written.", logger.depth)
            yield _gauge(
                "driftscope_log_queue_capacity",
                "Bound of the log queue, in rows.",
                logger.queue_size,
            )
            yield _counter(
                "driftscope_log_rows_queued", "Rows accepted for logging.", logger.queued
            )
            yield _counter(
                "driftscope_log_rows_written", "Rows written to the store.", logger.written
            )
            yield _counter(
                "driftscope_log_rows_dropped",
                "Rows never written (only at shutdown with the store down); must stay 0.",
                logger.dropped,
            )
            yield _counter(
                "driftscope_log_rows_rejected",
                "Rows refused with 503 because the queue stayed full.",
                logger.rejected,
            )
            yield _counter(
                "driftscope_log_write_errors", "Failed store write attempts.", logger.write_errors
            )
            yield _counter(
                "driftscope_log_batches",
                "Batches (transactions) written; rows written / batches is the group size.",
                logger.batches,
            )
            yield _counter(
                "driftscope_log_rows_dead_lettered",
                "Rows the store refused (not an outage), kept as dead letters by this process.",
                logger.dead_lettered,
            )
            yield _gauge(
                "driftscope_log_dead_letters",
                "Dead letters kept in the store (all processes), as last counted.",
                logger.dead_letters_stored,
            )
            yield _gauge(
                "driftscope_log_healthy",
                "1 when the log writer is running and its last write succeeded.",
                1.0 if logger.healthy else 0.0,
            )
        if self.plugins is not None:
            family = CounterMetricFamily(
                "driftscope_plugin_errors",
                "Failures of plugin code (detectors, notifiers, observers), by plugin and place.",
                labels=["plugin", "where"],
            )
            for (plugin, where), count in list(self.plugins.errors.items()):
                family.add_metric([plugin, where], count)
            yield family
        scheduler = self.scheduler() if self.scheduler else None
        if scheduler is not None:
            yield _gauge(
                "driftscope_scheduler_running",
                "1 when the monitor scheduler runs.",
                1.0 if scheduler.running else 0.0,
            )
            yield _counter("driftscope_scheduler_runs", "Monitor runs done here.", scheduler.runs)
            yield _counter(
                "driftscope_scheduler_skipped",
                "Ticks another process ran (lease held elsewhere).",
                scheduler.skipped,
            )
            yield _counter(
                "driftscope_scheduler_failures", "Monitor runs that raised.", scheduler.failures
            )
        if self.profile_cache is not None:
            yield from _profile_cache_metrics(self.profile_cache)
        if self.delivery is not None:
            yield from _outbox_metrics(self.delivery)


def _profile_cache_metrics(cache: ProfileCache) -> Iterator[Metric]:
    yield _gauge("driftscope_profile_cache_entries", "Reference profiles cached.", len(cache))
    yield _gauge(
        "driftscope_profile_cache_capacity",
        "Bound of the profile cache (profile_cache_size).",
        cache.max_entries,
    )
    yield _counter("driftscope_profile_cache_hits", "Profiles served from the cache.", cache.hits)
    yield _counter(
        "driftscope_profile_cache_misses", "Profiles fitted on the reference.", cache.misses
    )


def _outbox_metrics(delivery: DeliveryWorker) -> Iterator[Metric]:
    health = delivery.health()
    families = {
        status: GaugeMetricFamily(
            f"driftscope_outbox_{status}",
            f"Outbox messages {status.replace('_', ' ')}, by notifier.",
            labels=["notifier"],
        )
        for status in ("pending", "failed", "given_up")
    }
    retrying = GaugeMetricFamily(
        "driftscope_outbox_retrying",
        "Pending outbox messages that met an error and wait for another attempt, by notifier.",
        labels=["notifier"],
    )
    oldest = GaugeMetricFamily(
        "driftscope_outbox_oldest_pending_timestamp_seconds",
        "Creation time (Unix seconds) of the oldest pending message, by notifier.",
        labels=["notifier"],
    )
    for name, item in health.notifiers.items():
        families["pending"].add_metric([name], item.pending)
        families["failed"].add_metric([name], item.failed)
        families["given_up"].add_metric([name], item.given_up)
        retrying.add_metric([name], item.retrying)
        if item.oldest_pending_at is not None:
            oldest.add_metric([name], item.oldest_pending_at.timestamp())
    yield from families.values()
    yield retrying
    yield oldest
    yield _gauge(
        "driftscope_outbox_capacity",
        "Bound of waiting messages per notifier (delivery.max_pending).",
        delivery.settings.max_pending,
    )
    yield _counter(
        "driftscope_outbox_overflowed",
        "Messages failed because their notifier's outbox was over its bound.",
        delivery.overflowed,
    )


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


class ReportMetricsObserver:
    """A plugin object that feeds every saved report into :meth:`ApiMetrics.observe_report`."""

    def __init__(self, metrics: ApiMetrics) -> None:
        self.metrics = metrics

    @hookimpl
    def driftscope_report_ready(self, report: Report) -> None:
        self.metrics.observe_report(report)
