"""The monitor engine: one run of one monitor.

Read the current window from the store, clean each column (missing values and infinities are
counted, not dropped silently), score every detector on every feature it applies to and on
the model's prediction, correct p-values across features, summarise each column on both
sides (:mod:`driftscope.core.monitoring.summaries`), and build one report.
"""

from __future__ import annotations

import logging
import math
import numbers
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import numpy as np

from driftscope.core.config.yaml_file import DriftscopeConfig, MonitorConfig
from driftscope.core.contracts.detector import (
    Detector,
    DetectorResult,
    FeatureSample,
    LabelledSample,
    PerformanceDetector,
    missing_categories,
)
from driftscope.core.contracts.report import (
    FeatureSummary,
    Report,
    ResultKind,
    ResultRow,
    WindowInfo,
)
from driftscope.core.contracts.store import Store, WindowData
from driftscope.core.contracts.types import BinCounts, CategoryCounts, FeatureKind
from driftscope.core.contracts.window_detector import (
    WindowDetector,
    WindowResult,
    WindowSample,
    window_sample,
)
from driftscope.core.errors import PluginError
from driftscope.core.monitoring.correction import adjust_p_values
from driftscope.core.monitoring.model_loading import LoadedModel
from driftscope.core.monitoring.profiles import ProfileCache
from driftscope.core.monitoring.summaries import describe_reference, summarize
from driftscope.core.plugin_system.manager import PluginManager
from driftscope.core.validation import EARLIEST

log = logging.getLogger(__name__)

AnyDetector = Detector[Any, Any] | PerformanceDetector[Any, Any] | WindowDetector[Any, Any]

# below this many window rows, handing features to threads costs more than it saves
PARALLEL_MIN_ROWS = 20_000


@dataclass(frozen=True)
class Column:
    """One thing a feature detector can look at: a feature, or the prediction."""

    name: str
    kind: FeatureKind
    result_kind: ResultKind
    reference: np.ndarray
    current: np.ndarray


def clean(values: np.ndarray, kind: FeatureKind) -> tuple[np.ndarray, dict[str, int]]:
    """Drop missing and infinite values, and say how many there were.

    The reference and every window go through here, so one rule decides what is missing on
    both sides: NaN for numbers; ``None``, NaN and the empty string for categories
    (:func:`missing_categories`).
    """
    if kind == "numeric":
        values = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(values)
        if finite.all():
            return values, {"missing": 0, "infinite": 0}
        missing = int(np.isnan(values).sum())
        return values[finite], {
            "missing": missing,
            "infinite": int(len(values) - finite.sum() - missing),
        }
    present = ~missing_categories(np.asarray(values, dtype=object))
    return values[present], {"missing": int((~present).sum()), "infinite": 0}


def clean_counts(counts: CategoryCounts) -> CategoryCounts:
    """A store's category counts under :func:`clean`'s rule: a category the rule calls
    missing (the empty string) is counted as missing, as :func:`clean` would count it."""
    labels = np.array(list(counts.counts), dtype=object)
    absent = missing_categories(labels)
    if not absent.any():
        return counts
    kept = {str(k): counts.counts[k] for k in labels[~absent]}
    return CategoryCounts(kept, counts.missing + sum(counts.counts[k] for k in labels[absent]))


def labelled_rows(labels: np.ndarray) -> int:
    """How many rows of a window carry a label: one that is neither ``None`` nor NaN (a
    regressor's missing label reads back as NaN)."""
    if labels.dtype.kind == "f":
        return int(labels.size - np.count_nonzero(np.isnan(labels)))
    labels = np.asarray(labels, dtype=object)
    # NaN is the one value unequal to itself
    present = (labels == labels) & (labels != None)  # noqa: E711 - elementwise
    return int(np.count_nonzero(present))


class MonitorEngine:
    """Runs monitors against a store, caching reference profiles between runs."""

    def __init__(
        self,
        config: DriftscopeConfig,
        plugins: PluginManager,
        store: Store,
        models: dict[str, LoadedModel],
        cache: ProfileCache | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.plugins = plugins
        self.store = store
        self.models = models
        self.cache = cache if cache is not None else ProfileCache(config.profile_cache_size)
        self.clock = clock
        self.threads = config.threads
        self._pool: ThreadPoolExecutor | None = None
        self._detectors: dict[str, list[AnyDetector]] = {}

    def detectors(self, monitor: MonitorConfig) -> list[AnyDetector]:
        """The detector instances of a monitor, built once from its validated settings.

        Each one's declared threshold is read here, once: a detector whose threshold is not
        a finite number raises :class:`PluginError` naming it, instead of failing later.
        """
        if monitor.name not in self._detectors:
            built = [self.plugins.get("detector", s.type)(s) for s in monitor.detector_settings]
            for detector in built:
                self._check_threshold(detector)
            self._detectors[monitor.name] = built
        return self._detectors[monitor.name]

    def _check_threshold(self, detector: AnyDetector) -> None:
        plugin = self.plugins.plugin_of("detector", detector.name)
        try:
            value = detector.threshold
            valid = isinstance(value, numbers.Real) and not isinstance(value, bool)
            valid = valid and math.isfinite(value)
        except Exception as exc:
            raise PluginError(
                f"detector {detector.name!r} (plugin {plugin!r}): reading its threshold "
                f"raised {type(exc).__name__}: {exc}"
            ) from exc
        if not valid:
            raise PluginError(
                f"detector {detector.name!r} (plugin {plugin!r}): its threshold must be a "
                f"finite number, got {type(value).__name__}"
            )

    def run(
        self, monitor_name: str, *, now: datetime | None = None, backfill: bool = False
    ) -> Report:
        """Run one monitor on its window ending ``now`` (default: the clock), save its report,
        and fire ``driftscope_report_ready``. ``backfill`` marks a report made afterwards over
        a past window (:attr:`Report.backfilled`)."""
        started = time.perf_counter()
        monitor = self.config.monitor(monitor_name)
        model = self.models[monitor.model]
        end = now or self.clock()
        # a backfill may ask for a window ending near the earliest time a store holds
        start = end - monitor.window.last if end - EARLIEST > monitor.window.last else EARLIEST
        data = self.store.read_window(model.name, start, end, max_rows=monitor.window.max_rows)
        if data.sampled_from is None:
            # the rows at hand are the whole window: counting them spares a second scan
            rows, labelled = data.rows, labelled_rows(data.labels)
        else:
            rows, labelled = self.store.count_predictions(model.name, start, end)
        window = WindowInfo(start, end, rows, labelled)
        report = Report(
            id=uuid.uuid4().hex,
            monitor=monitor.name,
            model=model.name,
            created_at=self.clock(),
            window=window,
            results=[],
            backfilled=backfill,
        )
        if rows < monitor.window.min_samples:
            # an empty window of a model that never had a prediction is a new deployment,
            # not a broken pipeline: no no_data alert for it
            waiting = rows == 0 and not self.store.has_predictions(model.name)
            report.status = "waiting_for_predictions" if waiting else "insufficient_data"
        else:
            if data.sampled_from is not None:
                window.sampled_rows = data.rows
            columns = self._columns(monitor, model, data)
            report.results = self._score(monitor, model, data, columns)
            report.features = self._summaries(model, columns, sampled=data.sampled_from is not None)
            if report.results and all(r.status == "failed" for r in report.results):
                report.status = "failed"
        report.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        self.store.save_report(report)
        self.plugins.notify("driftscope_report_ready", report=report)
        return report

    # -- scoring -----------------------------------------------------------------------------
    def _columns(
        self, monitor: MonitorConfig, model: LoadedModel, data: WindowData
    ) -> list[Column]:
        ref = model.reference
        wanted = set(monitor.features) if monitor.features else None
        columns = [
            Column(f.name, f.kind, "feature", ref.columns[f.name], data.columns[f.name])
            for f in model.schema.features
            if wanted is None or f.name in wanted
        ]
        task = model.schema.task
        columns.append(
            Column(
                "prediction",
                "categorical" if task == "classification" else "numeric",
                "prediction",
                ref.predictions,
                data.prediction,
            )
        )
        classes = model.schema.classes or ()
        if (
            task == "classification"
            and len(classes) == 2
            and ref.probabilities is not None
            and data.probabilities is not None
        ):
            columns.append(
                Column(
                    f"probability:{classes[1]}",
                    "numeric",
                    "prediction",
                    ref.probabilities[:, 1],
                    data.probabilities[:, 1],
                )
            )
        return columns

    def _score(
        self, monitor: MonitorConfig, model: LoadedModel, data: WindowData, columns: list[Column]
    ) -> list[ResultRow]:
        results: list[ResultRow] = []
        cleaned = {c.name: (clean(c.reference, c.kind), clean(c.current, c.kind)) for c in columns}
        for detector in self.detectors(monitor):
            if isinstance(detector, PerformanceDetector):
                results.append(self._performance(detector, model, data))
                continue
            if isinstance(detector, WindowDetector):
                results.extend(self._window(detector, model, data))
                continue
            scored = [c for c in columns if _applies(detector, c)]
            # a sampled window: count all its counted features in the store at once, whole
            counted = [c for c in scored if data.sampled_from is not None and _counts(detector, c)]
            store_counts = self._count_in_store(detector, model, counted, cleaned, data)
            counted_names = {c.name for c in counted}
            rows: list[Callable[[], ResultRow]] = []
            for column in scored:
                (ref_values, ref_counts), (cur_values, cur_counts) = cleaned[column.name]
                if column.name in counted_names:
                    rows.append(
                        partial(
                            self._counted_feature,
                            detector,
                            model,
                            column,
                            ref_values,
                            ref_counts,
                            store_counts,
                        )
                    )
                    continue
                rows.append(
                    partial(
                        self._feature,
                        detector,
                        model,
                        column,
                        ref_values,
                        ref_counts,
                        cur_values,
                        cur_counts,
                    )
                )
            parallel = detector.thread_safe and data.rows >= PARALLEL_MIN_ROWS
            found = self._run_all(rows, parallel=parallel)
            if detector.uses_p_value:
                self._correct(detector, monitor, found)
            results.extend(found)
        return results

    def _summaries(
        self, model: LoadedModel, columns: list[Column], *, sampled: bool
    ) -> list[FeatureSummary]:
        """Each column's summary against its reference side, which is cached with the
        profiles. A column whose summary fails is left out and logged: the report and its
        detector results stand without it."""
        summaries: list[FeatureSummary] = []
        for column in columns:
            try:
                key = (model.reference.digest, "summary", column.name, column.kind)
                reference = self.cache.get_or_fit(
                    key, partial(describe_reference, column.reference, column.kind)
                )
                summaries.append(
                    summarize(
                        column.name,
                        column.kind,
                        column.result_kind,
                        reference,
                        column.current,
                        sampled=sampled,
                    )
                )
            except Exception as exc:
                log.error(
                    "summarising %s of model %s failed: %s",
                    column.name,
                    model.name,
                    exc,
                    exc_info=exc,
                )
        return summaries

    def _run_all(self, tasks: list[Callable[[], ResultRow]], *, parallel: bool) -> list[ResultRow]:
        """Run one detector's per-feature tasks, in order of the tasks. Sorting and searching
        release the GIL, so thread-safe detectors score features on several cores at once."""
        if not parallel or self.threads < 2 or len(tasks) < 2:
            return [task() for task in tasks]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="driftscope-score")
        return list(self._pool.map(lambda task: task(), tasks))

    def close(self) -> None:
        """Stop the scoring threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _feature(
        self,
        detector: Detector[Any, Any],
        model: LoadedModel,
        column: Column,
        ref_values: np.ndarray,
        ref_counts: dict[str, int],
        cur_values: np.ndarray,
        cur_counts: dict[str, int],
    ) -> ResultRow:
        counts = {
            "reference_missing": ref_counts["missing"],
            "reference_infinite": ref_counts["infinite"],
            "current_missing": cur_counts["missing"],
            "current_infinite": cur_counts["infinite"],
        }
        threshold = float(detector.threshold)
        if len(cur_values) == 0 or len(ref_values) == 0:
            which = "current window" if len(cur_values) == 0 else "reference"
            sizes = {"reference_size": len(ref_values), "current_size": len(cur_values)}
            return _insufficient(
                detector, column, threshold, f"no finite values in the {which}", counts | sizes
            )
        try:
            profile = self._profile(detector, model, column, ref_values)
            current = FeatureSample(column.name, column.kind, cur_values, assume_clean=True)
            result = detector.score(profile, current)
        except Exception as exc:
            return self._failure(detector, column.result_kind, column.name, threshold, exc, counts)
        result.details.update(counts)
        # every result says how many values it compared, whether or not its detector does
        result.details.setdefault("reference_size", len(ref_values))
        result.details.setdefault("current_size", len(cur_values))
        return _row(column.result_kind, column.name, detector, result)

    def _counted_feature(
        self,
        detector: Detector[Any, Any],
        model: LoadedModel,
        column: Column,
        ref_values: np.ndarray,
        ref_counts: dict[str, int],
        store_counts: dict[str, BinCounts | CategoryCounts | Exception],
    ) -> ResultRow:
        """Score a feature of a sampled (too large) window from counts the store computed over
        the WHOLE window in the database (see :meth:`_count_in_store`), for detectors that
        need only counts (PSI, chi2). A failed count fails this result with its error."""
        threshold = float(detector.threshold)
        counts: dict[str, Any] = {
            "reference_missing": ref_counts["missing"],
            "reference_infinite": ref_counts["infinite"],
        }
        if len(ref_values) == 0:
            return _insufficient(
                detector,
                column,
                threshold,
                "no finite values in the reference",
                counts | {"reference_size": 0},
            )
        try:
            profile = self._profile(detector, model, column, ref_values)
            counted = store_counts[column.name]
            if isinstance(counted, Exception):
                raise counted
            if isinstance(counted, CategoryCounts):
                counted = clean_counts(counted)
            counts["current_infinite"] = counted.infinite if isinstance(counted, BinCounts) else 0
            counts["current_missing"] = counted.missing
            counts["counted_in_store"] = True
            if counted.total == 0:
                sizes = {"reference_size": len(ref_values), "current_size": 0}
                return _insufficient(
                    detector,
                    column,
                    threshold,
                    "no finite values in the current window",
                    counts | sizes,
                )
            result = detector.score_counts(profile, counted)
        except Exception as exc:
            return self._failure(detector, column.result_kind, column.name, threshold, exc, counts)
        result.details.update(counts)
        result.details.setdefault("reference_size", len(ref_values))
        result.details.setdefault("current_size", counted.total)
        return _row(column.result_kind, column.name, detector, result)

    def _count_in_store(
        self,
        detector: Detector[Any, Any],
        model: LoadedModel,
        columns: list[Column],
        cleaned: dict[str, Any],
        data: WindowData,
    ) -> dict[str, BinCounts | CategoryCounts | Exception]:
        """Count the whole window of ``columns`` in the store: one batched call for the
        numeric features (bins over the detector's edges) and one for the categorical ones.

        Each feature maps to its counts, or to the exception that stopped them (fitting its
        profile, its edges, or the batched count), so that only the results concerned fail.
        A feature with an empty reference is left out (:meth:`_counted_feature` reports it).
        """
        found: dict[str, BinCounts | CategoryCounts | Exception] = {}
        edges: dict[str, np.ndarray] = {}
        categorical: list[str] = []
        for column in columns:
            (ref_values, _), _ = cleaned[column.name]
            if len(ref_values) == 0:
                continue
            try:
                profile = self._profile(detector, model, column, ref_values)
                if column.kind == "numeric":
                    edges[column.name] = detector.bin_edges(profile)
                else:
                    categorical.append(column.name)
            except Exception as exc:
                found[column.name] = exc
        start, end = data.start, data.end
        batches: list[tuple[list[str], Callable[[], dict[str, Any]]]] = [
            (list(edges), lambda: self.store.bin_counts_many(model.name, edges, start, end)),
            (
                categorical,
                lambda: self.store.category_counts_many(model.name, categorical, start, end),
            ),
        ]
        for names, count in batches:
            if not names:
                continue
            try:
                found.update(count())
            except Exception as exc:
                found.update(dict.fromkeys(names, exc))
        return found

    def _profile(
        self,
        detector: Detector[Any, Any],
        model: LoadedModel,
        column: Column,
        ref_values: np.ndarray,
    ) -> Any:
        """The detector's cached profile of a column's clean reference values."""
        key = (
            model.reference.digest,
            detector.settings.model_dump_json(),
            column.name,
            column.kind,
        )
        return self.cache.get_or_fit(
            key,
            lambda: detector.fit(
                FeatureSample(column.name, column.kind, ref_values, assume_clean=True)
            ),
        )

    def _performance(
        self, detector: PerformanceDetector[Any, Any], model: LoadedModel, data: WindowData
    ) -> ResultRow:
        threshold = float(detector.threshold)
        try:
            ref = model.reference
            labels = ref.labels
            if labels is None:
                raise ValueError(f"model {model.name!r} has no target column in its reference data")
            key = (ref.digest, detector.settings.model_dump_json(), "performance")
            profile = self.cache.get_or_fit(
                key,
                lambda: detector.fit(_labelled(model, labels, ref.predictions, ref.probabilities)),
            )
            result = detector.score(
                profile, _labelled(model, data.labels, data.prediction, data.probabilities)
            )
        except Exception as exc:
            return self._failure(detector, "performance", None, threshold, exc, {})
        return _row("performance", None, detector, result)

    def _window(
        self, detector: WindowDetector[Any, Any], model: LoadedModel, data: WindowData
    ) -> list[ResultRow]:
        """A window detector on the whole reference and window; one failed result when it
        raises or breaks its contract (no results, or something else than results)."""
        try:
            ref = model.reference
            key = (ref.digest, detector.settings.model_dump_json(), "window")
            with _one_at_a_time(detector):
                profile = self.cache.get_or_fit(
                    key,
                    lambda: detector.fit(
                        _window_sample(
                            model, ref.columns, ref.predictions, ref.labels, ref.probabilities
                        )
                    ),
                )
                current = _window_sample(
                    model, data.columns, data.prediction, data.labels, data.probabilities
                )
                found = detector.score(profile, current)
            if not isinstance(found, list) or not found:
                raise TypeError(
                    f"score() must return a non-empty list of WindowResult, got {found!r}"
                )
            bad = [r for r in found if not isinstance(r, WindowResult)]
            if bad:
                raise TypeError(f"score() returned {type(bad[0]).__name__}, not WindowResult")
        except Exception as exc:
            return [
                self._failure(detector, "multivariate", None, float(detector.threshold), exc, {})
            ]
        return [_row(r.kind, r.feature, detector, r) for r in found]

    def _failure(
        self,
        detector: AnyDetector,
        kind: ResultKind,
        feature: str | None,
        threshold: float,
        exc: Exception,
        details: dict[str, Any],
    ) -> ResultRow:
        plugin = self.plugins.plugin_of("detector", detector.name)
        self.plugins.record_error(plugin, f"detector:{detector.name}")
        log.error(
            "detector %s (plugin %s) failed on %s: %s",
            detector.name,
            plugin,
            feature or kind,
            exc,
            exc_info=exc,
        )
        return ResultRow(
            kind,
            feature,
            detector.name,
            None,
            None,
            threshold,
            False,
            "failed",
            f"{type(exc).__name__}: {exc}",
            details,
            **_declared(detector),
        )

    @staticmethod
    def _correct(
        detector: Detector[Any, Any], monitor: MonitorConfig, rows: list[ResultRow]
    ) -> None:
        tested = [r for r in rows if r.status == "ok" and r.p_value is not None]
        if not tested:
            return
        p_values = [r.p_value for r in tested if r.p_value is not None]
        adjusted = adjust_p_values(p_values, monitor.correction)
        for row, p_adj in zip(tested, adjusted, strict=True):
            row.details["p_value_adjusted"] = float(p_adj)
            row.details["correction"] = monitor.correction
            # the decision below compares the adjusted p-value: that is the value alerts show
            row.value = float(p_adj)
            if monitor.correction != "none":
                row.p_value_adjusted = float(p_adj)
            result = DetectorResult(
                row.statistic,
                row.p_value,
                row.threshold,
                row.drifted,
                row.status,
                row.error,
                row.details,
            )
            row.drifted = bool(detector.decide(result, float(p_adj)))


#: One lock per window detector class that is not thread-safe. Runs overlap (the scheduler,
#: POST /run, backfills, each in its own thread) and share one instance per monitor and the
#: cached profiles of every monitor with the same settings, so the lock is the class's.
_SERIAL_LOCKS: dict[type, threading.Lock] = {}
_SERIAL_LOCKS_GUARD = threading.Lock()


def _one_at_a_time(detector: WindowDetector[Any, Any]) -> AbstractContextManager[Any]:
    """Nothing for a thread-safe window detector; else its class's lock, so that its ``fit``
    and ``score`` run one call at a time in the process."""
    if detector.thread_safe:
        return nullcontext()
    with _SERIAL_LOCKS_GUARD:
        return _SERIAL_LOCKS.setdefault(type(detector), threading.Lock())


def _applies(detector: Detector[Any, Any], column: Column) -> bool:
    """Whether a feature detector scores this column (its kinds, features and settings)."""
    if column.kind not in detector.applies_to:
        return False
    if column.result_kind == "prediction":
        return bool(detector.settings.prediction)
    return detector.settings.features is None or column.name in detector.settings.features


def _counts(detector: Detector[Any, Any], column: Column) -> bool:
    """Whether this column is scored from store counts when its window is sampled."""
    return detector.scores_counts and column.result_kind == "feature"


def _insufficient(
    detector: Detector[Any, Any],
    column: Column,
    threshold: float,
    why: str,
    details: dict[str, Any],
) -> ResultRow:
    return ResultRow(
        column.result_kind,
        column.name,
        detector.name,
        None,
        None,
        threshold,
        False,
        "insufficient_data",
        why,
        details,
        **_declared(detector),
    )


def _declared(detector: AnyDetector) -> dict[str, Any]:
    """What a detector declares about its decisions: the number it compares with its
    threshold, on which side drift lies, and its statistic floor."""
    floor = detector.statistic_floor
    return {
        "compared": detector.compared,
        "drifts_when": detector.drifts_when,
        "statistic_floor": None if floor is None else float(floor),
    }


def _row(
    kind: ResultKind, feature: str | None, detector: AnyDetector, result: DetectorResult
) -> ResultRow:
    statistic = None if result.statistic is None else float(result.statistic)
    p_value = None if result.p_value is None else float(result.p_value)
    declared = _declared(detector)
    return ResultRow(
        kind,
        feature,
        detector.name,
        statistic,
        p_value,
        float(result.threshold),
        bool(result.drifted),
        result.status,
        result.error,
        result.details,
        value=p_value if declared["compared"] == "p_value" else statistic,
        **declared,
    )


def _window_sample(
    model: LoadedModel,
    columns: dict[str, np.ndarray],
    predictions: np.ndarray,
    labels: np.ndarray | None,
    probabilities: np.ndarray | None,
) -> WindowSample:
    features = {f.name: _with_none_missing(columns[f.name], f.kind) for f in model.schema.features}
    kinds = {f.name: f.kind for f in model.schema.features}
    return window_sample(
        features,
        kinds,
        model.schema.task,
        predictions,
        labels,
        probabilities,
        model.schema.classes,
    )


def _with_none_missing(values: np.ndarray, kind: FeatureKind) -> np.ndarray:
    """A categorical column with every missing category (:func:`missing_categories`) as
    ``None``, the one form a window detector is promised."""
    if kind == "numeric":
        return values
    absent = missing_categories(np.asarray(values, dtype=object))
    if not absent.any():
        return values
    out = np.array(values, dtype=object)
    out[absent] = None
    return out


def _labelled(
    model: LoadedModel,
    labels: np.ndarray,
    predictions: np.ndarray,
    probabilities: np.ndarray | None,
) -> LabelledSample:
    task = model.schema.task
    # a row is scored when it has both a label and a prediction, by the rule clean() follows
    if task == "classification":
        labels, predictions = np.asarray(labels, object), np.asarray(predictions, object)
        mask = ~(missing_categories(labels) | missing_categories(predictions))
        y_true = labels[mask].astype(str).astype(object)
        y_pred = predictions[mask].astype(str).astype(object)
    else:
        labels = np.asarray(labels, dtype=np.float64)
        predictions = np.asarray(predictions, dtype=np.float64)
        mask = np.isfinite(labels) & np.isfinite(predictions)
        y_true, y_pred = labels[mask], predictions[mask]
    proba = probabilities[mask] if probabilities is not None else None
    return LabelledSample(task, y_true, y_pred, proba, model.schema.classes)
