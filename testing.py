"""Contract checks a plugin author calls from their own tests.

    from driftscope.testing import check_detector, check_notifier

    def test_mean_shift_keeps_the_detector_contract():
        check_detector(MeanShiftDetector, settings={"threshold": 0.5})

    def test_my_webhook_keeps_the_notifier_contract():
        check_notifier(MyWebhook, settings=lambda url: {"url": url + "/hook/" + "t" * 32})

Each check exercises the plugin the way driftscope does, on data it generates itself, and
raises :class:`AssertionError` listing every broken promise, each naming the case and the
field (``numeric case 'constant window': details['bins'][2] is nan``). It returns a
:class:`CheckReport` of what it ran and what it skipped (and why), so a test can also
assert that a check it relies on actually ran.

The checks are about observable behaviour only: what ``fit``, ``score`` and ``send`` return,
not how a plugin computes it. They need no test framework (no pytest import) and start no
process; :func:`check_notifier` starts a real HTTP server on 127.0.0.1 (:class:`LocalReceiver`).
"""

from __future__ import annotations

import json
import logging
import math
import secrets as _secrets
import socket
import sys
import threading
import time
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from pydantic import BaseModel, SecretStr, ValidationError

from driftscope import (
    AlertChange,
    BinCounts,
    CategoryCounts,
    DeliveryOutcome,
    DeliveryResult,
    Detector,
    DetectorResult,
    DetectorSettings,
    FeatureKind,
    FeatureSample,
    LabelledSample,
    Notification,
    Notifier,
    NotifierSettings,
    PerformanceDetector,
    ResultRow,
    Task,
    WindowDetector,
    WindowResult,
    WindowSample,
    comparison_text,
    count_bins,
    count_categories,
    redact,
)

__all__ = [
    "WINDOW_FEATURES",
    "CheckReport",
    "LocalReceiver",
    "ReceivedRequest",
    "check_detector",
    "check_notifier",
    "json_problems",
    "sample_notification",
    "secret_forms",
]

FEATURE_KINDS: tuple[str, ...] = ("numeric", "categorical")
TASKS: tuple[str, ...] = ("classification", "regression")
RESULT_STATUSES: frozenset[str] = frozenset({"ok", "failed", "insufficient_data"})
#: How long one call into the plugin may take before the check calls it hung.
CALL_TIMEOUT = 60.0
#: A URL secret's path segments and query values this long or longer count as secrets on
#: their own (tokens); shorter ones (ids, words like "hooks") do not.
SECRET_PART_MIN = 21
#: The most rounds one thread of the thread-safety check scores every case.
MAX_ROUNDS = 1000


@dataclass
class CheckReport:
    """What a contract check ran (``passed``) and what did not apply (``skipped``, with why)."""

    subject: str
    passed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class _Problems:
    """Collects every broken promise, so one run of a check lists them all."""

    def __init__(self, subject: str, contract: str, secrets: Iterable[str] = ()) -> None:
        self.subject = subject
        self.contract = contract
        self.items: list[str] = []
        self.cause: BaseException | None = None
        self.secrets: list[str] = list(secrets)

    def add(self, where: str, message: str) -> None:
        # the check's own message must not print a secret either
        self.items.append(redact(f"{where}: {message}", self.secrets))

    def raised(self, where: str, what: str, exc: BaseException, hint: str = "") -> None:
        self.cause = self.cause or exc
        self.add(where, f"{what} raised {type(exc).__name__}: {exc}{hint}")

    def __len__(self) -> int:
        return len(self.items)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        lines = "\n".join(f"  - {item}" for item in self.items)
        error = AssertionError(f"{self.subject} breaks the {self.contract} contract:\n{lines}")
        if self.cause is not None and not any(s and s in str(self.cause) for s in self.secrets):
            raise error from self.cause
        raise error


# -- values that JSON (and so the store and the API) can hold -----------------------------
def json_problems(value: Any, path: str = "details") -> list[str]:
    """Why ``value`` would not survive being stored as strict JSON, one line per place.

    Allowed: ``None``, ``bool``, ``int``, finite ``float`` (numpy's float64 is a float),
    ``str``, lists and tuples of those, and dicts with ``str`` keys. NaN and infinities are
    refused (strict JSON has neither), as are numpy integers and arrays, which the standard
    ``json`` module cannot write.
    """
    if value is None or isinstance(value, bool | str):
        return []
    if isinstance(value, int):
        return []
    if isinstance(value, float):
        return [] if math.isfinite(value) else [f"{path} is {value!r} (JSON has no NaN or inf)"]
    if isinstance(value, list | tuple):
        found: list[str] = []
        for i, item in enumerate(value):
            found += json_problems(item, f"{path}[{i}]")
        return found
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            if not isinstance(key, str):
                found.append(
                    f"{path} has the key {key!r} of type {type(key).__name__} (JSON keys are "
                    "str: it would come back changed)"
                )
            found += json_problems(item, f"{path}[{key!r}]")
        return found
    return [f"{path} is a {type(value).__module__}.{type(value).__name__}, not a JSON value"]


def _finite_number(value: Any) -> bool:
    """A real number (Python's or numpy's, not a bool or a numeric string) that is finite."""
    if isinstance(value, bool | np.bool_) or not isinstance(
        value, int | float | np.integer | np.floating
    ):
        return False
    return math.isfinite(float(value))


# -- detectors --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Case:
    """One generated scoring problem: a reference and a current sample of one kind."""

    kind: str
    name: str
    reference: Any  # FeatureSample or LabelledSample
    current: Any
    typical: bool = False  # ordinary data: the detector must score it ("ok")
    identical: bool = False  # the current sample is the reference: never drift

    @property
    def where(self) -> str:
        return f"{self.kind} case {self.name!r}"


def _numeric(name: str, values: Any) -> FeatureSample:
    return FeatureSample(name, "numeric", np.asarray(values, dtype=np.float64))


def _categorical(name: str, values: Any) -> FeatureSample:
    return FeatureSample(name, "categorical", np.asarray([str(v) for v in values], dtype=object))


def _numeric_cases(rng: np.random.Generator) -> list[_Case]:
    reference = _numeric("x", rng.normal(0.0, 1.0, 1000))
    ties = _numeric("ties", rng.integers(0, 5, 500))
    money = _numeric("amount", rng.lognormal(10.0, 1.0, 800))
    return [
        _Case(
            "numeric", "same distribution", reference, _numeric("x", rng.normal(0, 1, 400)), True
        ),
        _Case("numeric", "shifted mean", reference, _numeric("x", rng.normal(1.5, 1.0, 400))),
        _Case("numeric", "wider spread", reference, _numeric("x", rng.normal(0.0, 3.0, 400))),
        _Case("numeric", "window equal to the reference", reference, reference, identical=True),
        _Case("numeric", "constant window", reference, _numeric("x", np.full(60, 0.25))),
        _Case("numeric", "single-value window", reference, _numeric("x", [0.5])),
        _Case(
            "numeric",
            "window outside the reference range",
            reference,
            _numeric("x", rng.uniform(1e6, 2e6, 100)),
        ),
        _Case(
            "numeric",
            "constant reference",
            _numeric("c", np.full(300, 3.0)),
            _numeric("c", rng.normal(3.0, 1.0, 100)),
        ),
        _Case(
            "numeric",
            "constant reference, same constant window",
            _numeric("c", np.full(300, 3.0)),
            _numeric("c", np.full(120, 3.0)),
            identical=True,
        ),
        _Case("numeric", "two-row reference", _numeric("t", [1.0, 2.0]), _numeric("t", [1.5, 9.0])),
        _Case("numeric", "integer ties", ties, _numeric("ties", rng.integers(0, 5, 300))),
        _Case(
            "numeric", "large magnitudes", money, _numeric("amount", rng.lognormal(10.5, 1, 300))
        ),
        _Case(
            "numeric",
            "tiny magnitudes",
            _numeric("tiny", rng.normal(0.0, 1e-9, 500)),
            _numeric("tiny", rng.normal(1e-9, 1e-9, 200)),
        ),
    ]


def _categorical_cases(rng: np.random.Generator) -> list[_Case]:
    labels = ["a", "b", "c", "d", "e"]
    weights = [0.4, 0.25, 0.15, 0.1, 0.1]
    reference = _categorical("colour", rng.choice(labels, 1000, p=weights))
    unicode_labels = ["café", "東京", "naïve ✓", "a b", "Z"]
    many = [f"cat-{i:03d}" for i in range(300)]
    return [
        _Case(
            "categorical",
            "same distribution",
            reference,
            _categorical("colour", rng.choice(labels, 400, p=weights)),
            True,
        ),
        _Case(
            "categorical",
            "shifted proportions",
            reference,
            _categorical("colour", rng.choice(labels, 400, p=[0.1, 0.1, 0.15, 0.25, 0.4])),
        ),
        _Case("categorical", "window equal to the reference", reference, reference, identical=True),
        _Case(
            "categorical",
            "unseen categories",
            reference,
            _categorical("colour", rng.choice(["a", "x", "y", "zz"], 300)),
        ),
        _Case(
            "categorical", "single-category window", reference, _categorical("colour", ["b"] * 50)
        ),
        _Case("categorical", "single-value window", reference, _categorical("colour", ["a"])),
        _Case(
            "categorical",
            "single-category reference",
            _categorical("one", ["only"] * 200),
            _categorical("one", rng.choice(["only", "other"], 100)),
        ),
        _Case(
            "categorical",
            "single-category reference, same window",
            _categorical("one", ["only"] * 200),
            _categorical("one", ["only"] * 80),
            identical=True,
        ),
        _Case(
            "categorical",
            "unicode labels",
            _categorical("city", rng.choice(unicode_labels, 500)),
            _categorical("city", rng.choice(unicode_labels, 200)),
        ),
        _Case(
            "categorical",
            "300 categories",
            _categorical("id", rng.choice(many, 3000)),
            _categorical("id", rng.choice(many[:150], 1000)),
        ),
    ]


def _classification(
    rng: np.random.Generator, n: int, flip: float, classes: tuple[str, str] = ("no", "yes")
) -> LabelledSample:
    truth = rng.integers(0, 2, n)
    wrong = rng.random(n) < flip
    predicted = np.where(wrong, 1 - truth, truth)
    confidence = rng.uniform(0.55, 0.99, n)
    positive = np.where(predicted == 1, confidence, 1.0 - confidence)
    proba = np.column_stack((1.0 - positive, positive))
    names = np.array(classes, dtype=object)
    return LabelledSample("classification", names[truth], names[predicted], proba, classes)


def _regression(rng: np.random.Generator, n: int, noise: float) -> LabelledSample:
    truth = rng.normal(10.0, 2.0, n)
    return LabelledSample("regression", truth, truth + rng.normal(0.0, noise, n))


def _labelled_subset(sample: LabelledSample, rows: Sequence[int]) -> LabelledSample:
    index = np.asarray(rows, dtype=np.intp)
    proba = None if sample.proba is None else sample.proba[index]
    return LabelledSample(
        sample.task, sample.y_true[index], sample.y_pred[index], proba, sample.classes
    )


def _classification_cases(rng: np.random.Generator) -> list[_Case]:
    reference = _classification(rng, 600, 0.1)
    one_class = _classification(rng, 200, 0.1)
    only_yes = [i for i, v in enumerate(one_class.y_true) if v == "yes"]
    everything_wrong = _classification(rng, 200, 1.0)
    return [
        _Case("classification", "same quality", reference, _classification(rng, 300, 0.1), True),
        _Case("classification", "degraded", reference, _classification(rng, 300, 0.5)),
        _Case(
            "classification", "window equal to the reference", reference, reference, identical=True
        ),
        _Case("classification", "every prediction wrong", reference, everything_wrong),
        _Case(
            "classification",
            "labels of one class",
            reference,
            _labelled_subset(one_class, only_yes),
        ),
        _Case("classification", "three labelled rows", reference, _classification(rng, 3, 0.1)),
        _Case("classification", "one labelled row", reference, _classification(rng, 1, 0.0)),
    ]


def _regression_cases(rng: np.random.Generator) -> list[_Case]:
    reference = _regression(rng, 600, 0.5)
    truth = rng.normal(10.0, 2.0, 300)
    perfect = LabelledSample("regression", truth, truth.copy())
    return [
        _Case("regression", "same quality", reference, _regression(rng, 300, 0.5), True),
        _Case("regression", "degraded", reference, _regression(rng, 300, 3.0)),
        _Case("regression", "window equal to the reference", reference, reference, identical=True),
        _Case("regression", "perfect reference", perfect, _regression(rng, 200, 0.5)),
        _Case("regression", "three labelled rows", reference, _regression(rng, 3, 0.5)),
        _Case("regression", "one labelled row", reference, _regression(rng, 1, 0.5)),
    ]


_CASES: dict[str, Callable[[np.random.Generator], list[_Case]]] = {
    "numeric": _numeric_cases,
    "categorical": _categorical_cases,
    "classification": _classification_cases,
    "regression": _regression_cases,
}


def _arrays(sample: Any) -> list[np.ndarray]:
    if isinstance(sample, FeatureSample):
        return [sample.values]
    arrays = [sample.y_true, sample.y_pred]
    return arrays if sample.proba is None else [*arrays, sample.proba]


def _canonical(result: DetectorResult | list[WindowResult]) -> str:
    """A result (or a window detector's list of them) as comparable text: equal text means
    equal results, field by field and in the same order."""
    if isinstance(result, list):
        return "[" + ",".join(_canonical(item) for item in result) + "]"
    data = {f.name: getattr(result, f.name) for f in fields(result)}
    return json.dumps(data, sort_keys=True, default=repr)


def _result_fields(result: Any, where: str, problems: _Problems, uses_p_value: bool) -> bool:
    """Check one result against the DetectorResult contract; False when it is not one."""
    if not isinstance(result, DetectorResult):
        problems.add(where, f"returned {type(result).__name__}, not a DetectorResult")
        return False
    if result.status not in RESULT_STATUSES:
        problems.add(where, f"status {result.status!r} is not one of {sorted(RESULT_STATUSES)}")
    if result.statistic is not None and not _finite_number(result.statistic):
        problems.add(where, f"statistic {result.statistic!r} is not a finite number")
    if result.p_value is not None:
        if not _finite_number(result.p_value):
            problems.add(where, f"p_value {result.p_value!r} is not a finite number")
        elif not 0.0 <= float(result.p_value) <= 1.0:
            problems.add(where, f"p_value {result.p_value!r} is outside [0, 1]")
    if not _finite_number(result.threshold):
        problems.add(where, f"threshold {result.threshold!r} is not a finite number")
    if not isinstance(result.drifted, bool | np.bool_):
        problems.add(where, f"drifted is a {type(result.drifted).__name__}, not a bool")
    if result.error is not None and not isinstance(result.error, str):
        problems.add(where, f"error is a {type(result.error).__name__}, not a str")
    if result.status == "ok":
        if result.statistic is None:
            problems.add(where, "status 'ok' without a statistic")
        if uses_p_value and result.p_value is None:
            problems.add(where, "uses_p_value is set, yet an 'ok' result has no p_value")
    else:
        if result.drifted:
            problems.add(where, f"status {result.status!r} but drifted is true")
        if not (isinstance(result.error, str) and result.error.strip()):
            problems.add(where, f"status {result.status!r} without an error saying why")
    if not isinstance(result.details, dict):
        problems.add(where, f"details is a {type(result.details).__name__}, not a dict")
    else:
        for problem in json_problems(result.details):
            problems.add(where, problem)
    return True


def _decide_consistent(
    detector: Detector, result: DetectorResult, where: str, problems: _Problems
) -> None:
    """The engine re-decides p-value results after its multiple-testing correction."""
    if result.status != "ok" or result.p_value is None or not _finite_number(result.p_value):
        return
    try:
        again = detector.decide(result, float(result.p_value))
        certain_no = detector.decide(result, 1.0)
    except Exception as exc:
        problems.raised(where, "decide()", exc)
        return
    if not isinstance(again, bool | np.bool_):
        problems.add(where, f"decide() returned a {type(again).__name__}, not a bool")
    if bool(again) != bool(result.drifted):
        problems.add(
            where,
            f"decide(result, its own p_value {result.p_value!r}) gives {bool(again)}, but the "
            f"result says drifted={bool(result.drifted)}",
        )
    if certain_no:
        problems.add(
            where, "decide(result, p_value=1.0) says drifted: a p-value of 1 is no evidence"
        )


def _settings_model(
    detector_cls: type[Any], settings: Mapping[str, Any] | DetectorSettings | None
) -> DetectorSettings:
    model = getattr(detector_cls, "Settings", None)
    if not (isinstance(model, type) and issubclass(model, DetectorSettings)):
        raise AssertionError(
            f"{detector_cls.__name__}.Settings must be a subclass of driftscope.DetectorSettings"
        )
    if isinstance(settings, DetectorSettings):
        return settings
    if isinstance(settings, BaseModel):
        raise TypeError(f"settings must be a dict or a DetectorSettings, got {type(settings)!r}")
    data = {"type": _default_type(detector_cls), **dict(settings or {})}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValueError(
            f"the settings given to check {detector_cls.__name__} do not validate against "
            f"{model.__name__}: {exc}"
        ) from None


def _default_type(cls: type[Any]) -> str:
    return "".join(c if c.isalnum() else "-" for c in cls.__name__.lower()) or "plugin"


def _float_fields(model: type[BaseModel]) -> list[str]:
    found = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        args = typing.get_args(annotation)
        if annotation is float or (
            typing.get_origin(annotation) in (typing.Union, types.UnionType) and float in args
        ):
            found.append(name)
    return found


def _check_settings_model(
    model: type[BaseModel], valid: BaseModel, problems: _Problems, report: CheckReport
) -> None:
    """A YAML block with a typo or a NaN must be refused at start-up, naming the field."""
    data = valid.model_dump()
    try:
        model.model_validate({**data, "no_such_setting": 1})
    except ValidationError:
        report.passed.append("settings: an unknown key is refused")
    else:
        problems.add(
            "settings",
            f"{model.__name__} accepts an unknown key (a typo in YAML would be ignored): "
            "keep extra='forbid' from the base class",
        )
    for name in _float_fields(model):
        try:
            model.model_validate({**data, name: float("nan")})
        except ValidationError:
            continue
        problems.add(
            "settings",
            f"{model.__name__} accepts {name}=NaN (every comparison with NaN is false, so the "
            "detector would silently never fire): constrain it, e.g. Field(gt=0) or "
            "allow_inf_nan=False",
        )
    report.passed.append("settings: NaN refused in every float field")


@contextmanager
def _fast_thread_switches() -> Iterator[None]:
    """Switch threads as often as CPython allows, so races show up in a short run."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _check_threads(
    detector: Any,
    scored: list[tuple[_Case, Any, str]],
    threads: int,
    rounds: int,
    stress_seconds: float,
    problems: _Problems,
) -> None:
    """Score every case from ``threads`` threads at once with ONE detector instance (as the
    engine does) and compare each result with the sequential one.

    Each thread scores every case at least ``rounds`` times and goes on for at least
    ``stress_seconds`` (at most ``MAX_ROUNDS`` rounds): a race in a fast detector is a
    narrow window, hit only by many calls."""
    barrier = threading.Barrier(threads)
    mismatches: list[str] = []
    errors: list[tuple[str, BaseException]] = []
    lock = threading.Lock()
    broken = threading.Event()
    until: list[float] = []

    def work(offset: int) -> None:
        try:
            if barrier.wait(timeout=CALL_TIMEOUT) == 0:
                until.append(time.monotonic() + stress_seconds)
        except threading.BrokenBarrierError:
            return
        round_ = 0
        while round_ < MAX_ROUNDS and not broken.is_set():
            if round_ >= rounds and until and time.monotonic() >= until[0]:
                return
            round_ += 1
            for i in range(len(scored)):
                case, profile, expected = scored[(i + offset) % len(scored)]
                try:
                    # half of the calls fit again: the engine fits and scores concurrently
                    if (i + round_) % 2:
                        profile = detector.fit(case.reference)
                    got = _canonical(detector.score(profile, case.current))
                except Exception as exc:
                    with lock:
                        errors.append((case.where, exc))
                    broken.set()
                    return
                if got != expected:
                    with lock:
                        mismatches.append(case.where)
                    broken.set()
                    return

    workers = [
        threading.Thread(target=work, args=(k,), name=f"check-detector-{k}", daemon=True)
        for k in range(threads)
    ]
    with _fast_thread_switches():
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(CALL_TIMEOUT * 5)
    if any(worker.is_alive() for worker in workers):
        problems.add("thread safety", "scoring from several threads did not finish (deadlock?)")
    for where, exc in errors[:3]:
        problems.raised(f"thread safety, {where}", "score()", exc)
    if mismatches:
        problems.add(
            "thread safety",
            f"scoring from {threads} threads at once gave a different result than scoring "
            f"alone ({', '.join(sorted(set(mismatches))[:3])}): the detector keeps per-call "
            "state on self or mutates the profile; fix that or set thread_safe = False",
        )


def _check_counts(
    detector: Detector, case: _Case, profile: Any, expected: str, problems: _Problems
) -> None:
    """A detector that scores counts must give what score() gives on the same values."""
    try:
        counts: BinCounts | CategoryCounts
        if case.kind == "numeric":
            counts = count_bins(case.current.values, detector.bin_edges(profile))
        else:
            counts = count_categories(case.current.values)
        result = detector.score_counts(profile, counts)
    except Exception as exc:
        problems.raised(case.where, "score_counts()", exc)
        return
    if _canonical(result) != expected:
        problems.add(
            f"{case.where}: score_counts()",
            "differs from score() on the same values (the engine uses score_counts for "
            "windows larger than window.max_rows)",
        )


def _thread_check(
    detector_cls: type[Any],
    model: DetectorSettings,
    scored: list[tuple[_Case, Any, str]],
    threads: int,
    rounds: int,
    stress_seconds: float,
    problems: _Problems,
    report: CheckReport,
) -> None:
    if getattr(detector_cls, "thread_safe", True):
        if scored:
            _check_threads(detector_cls(model), scored, threads, rounds, stress_seconds, problems)
            report.passed.append(f"thread safety: {threads} threads, {stress_seconds:g} s")
    else:
        report.skipped.append("thread safety: the detector sets thread_safe = False")


def check_detector(
    detector_cls: type[Detector] | type[PerformanceDetector] | type[WindowDetector],
    settings: Mapping[str, Any] | DetectorSettings | None = None,
    *,
    kinds: Iterable[str] | None = None,
    seed: int = 0,
    threads: int = 8,
    rounds: int | None = None,
    stress_seconds: float = 0.5,
) -> CheckReport:
    """Check a detector class against driftscope's detector contract on generated data.

    :param detector_cls: A subclass of :class:`driftscope.Detector`,
        :class:`driftscope.PerformanceDetector` or :class:`driftscope.WindowDetector`.
    :param settings: The detector's YAML block without ``type`` (a dict), or a validated
        settings model. Default: the settings model's defaults.
    :param kinds: Which cases to generate. Feature detectors: ``"numeric"`` and/or
        ``"categorical"`` (default: the class's ``applies_to``). Performance and window
        detectors: ``"classification"`` and/or ``"regression"`` (default: both; a detector
        may decline a task, saying why, but must score at least one).
    :param seed: Seeds the generated data.
    :param threads: How many threads score at once in the thread-safety check.
    :param rounds: How many times each thread scores every case, at least. Default: 4, and
        1 for a window detector (each of its calls may train models).
    :param stress_seconds: How long the threads go on scoring, at least (a race in a fast
        detector is a narrow window, hit only by many calls).
    :returns: A :class:`CheckReport`.
    :raises AssertionError: Listing every broken promise, each with its case and field.

    What it checks, for every generated case (ordinary data, shifted data, the reference
    itself, constant and single-value windows, ties, unseen and unicode categories, very
    large and very small numbers, ...):

    * the settings model refuses unknown keys and NaN in every float field;
    * ``fit`` then ``score`` never raise on valid input and return a
      :class:`driftscope.DetectorResult` whose statistic, p-value and threshold are finite
      numbers (never NaN), the p-value in [0, 1], ``status`` one of ok, failed,
      insufficient_data, a non-ok result not drifted and saying why in ``error``;
    * ``details`` is a dict that strict JSON can hold (no NaN, numpy scalars or arrays);
    * ordinary data scores ``ok``; a window equal to the reference is not drifted;
    * with ``uses_p_value``, ``decide`` reproduces ``drifted`` from the result's own
      p-value and never calls a p-value of 1 drift;
    * determinism: the same inputs give the same result, from the same or a new instance;
    * ``fit`` and ``score`` leave their input arrays unchanged;
    * with ``scores_counts``, ``score_counts`` equals ``score`` on the same values;
    * unless ``thread_safe`` is false, one instance scoring from several threads at once
      gives every result it gives alone.

    A window detector gets :class:`driftscope.WindowSample` cases of a generated model with
    the features of :data:`WINDOW_FEATURES` (age, score, income: numeric; colour, city:
    categorical), as a binary classifier, a multiclass one (both with calibrated
    probabilities) and a regressor: held-out windows of the reference's distribution with
    and without labels, a shifted window, the reference itself, a window with missing values
    (a 40% broken join), infinities, values far out of range, unseen and missing categories
    and rows without probabilities, windows of five rows and of one, a window without any
    probabilities, references without labels or probabilities, a perfect regressor, and
    constant columns. The same checks apply, and:

    * ``fit`` may refuse a reference it cannot use only with a ``ValueError`` saying why
      (the engine reports its text on the run's result); ``score`` never raises: a window it
      cannot score gets ``failed`` or ``insufficient_data`` results saying why;
    * ``score`` returns a non-empty list of :class:`driftscope.WindowResult`, each ``kind``
      one of feature, performance, multivariate, with ``feature`` a feature of the window
      (and of the settings' ``features``, when set), a metric's name, or ``None``
      respectively, no two with the same alert key (``feature``, or ``kind`` without one);
    * ``threshold``, ``compared`` (statistic or p_value), ``drifts_when`` and
      ``statistic_floor`` are valid, and an ``ok`` result's ``drifted`` is what its alert
      will print: its statistic (or p-value) on the drift side of its threshold;
    * it may decline a whole task (a classifier-only estimator and a regressor, say), by
      refusing the reference or with non-ok results on every ordinary window; it must score
      at least one task's ordinary windows all ``ok``, and on an ordinary window either all
      its results are ``ok`` or none;
    * a new instance is compared on the ordinary windows and the reference itself, and the
      thread-safety check scores the first ordinary window of each model (each call may
      train models, so the check stays a few seconds long with small settings).
    """
    is_class = isinstance(detector_cls, type)
    performance = is_class and issubclass(detector_cls, PerformanceDetector)
    window = is_class and issubclass(detector_cls, WindowDetector)
    if not (performance or window or (is_class and issubclass(detector_cls, Detector))):
        raise TypeError(
            "check_detector needs a Detector, PerformanceDetector or WindowDetector subclass, "
            f"got {detector_cls!r}"
        )
    subject = detector_cls.__name__
    report = CheckReport(subject)
    problems = _Problems(subject, "detector")
    model = _settings_model(detector_cls, settings)
    if window:
        tasks = tuple(kinds) if kinds is not None else TASKS
        unknown_tasks = [k for k in tasks if k not in TASKS]
        if unknown_tasks or not tasks:
            raise ValueError(
                f"kinds {unknown_tasks or list(tasks)!r} cannot be checked for {subject}: "
                f"choose from {TASKS}"
            )
        ordinary = _check_window_detector(detector_cls, model, tasks, seed, problems, report)
        # each call may train models: one round of the first ordinary window of each model
        rounds = 1 if rounds is None else rounds
        _thread_check(
            detector_cls, model, ordinary, threads, rounds, stress_seconds, problems, report
        )
        problems.raise_if_any()
        return report
    allowed = TASKS if performance else FEATURE_KINDS
    if performance:
        declared: tuple[str, ...] = TASKS
    else:
        applies: frozenset[str] = getattr(detector_cls, "applies_to", frozenset())
        unknown = sorted(set(applies) - set(FEATURE_KINDS))
        if unknown or not applies:
            problems.add(
                "applies_to", f"{set(applies)!r} must be a non-empty subset of {FEATURE_KINDS}"
            )
        declared = tuple(k for k in FEATURE_KINDS if k in applies)
    chosen = tuple(kinds) if kinds is not None else declared
    bad = [k for k in chosen if k not in allowed or k not in declared]
    if bad or not chosen:
        raise ValueError(
            f"kinds {bad or list(chosen)!r} cannot be checked for {subject}: choose from {declared}"
        )
    _check_settings_model(type(model), model, problems, report)
    uses_p_value = bool(getattr(detector_cls, "uses_p_value", False))
    rng = np.random.default_rng(seed)
    scored: list[tuple[_Case, Any, str]] = []
    ok_kinds: set[str] = set()
    for kind in chosen:
        for case in _CASES[kind](rng):
            outcome = _check_case(detector_cls, model, case, uses_p_value, performance, problems)
            if outcome is None:
                continue
            profile, expected, status = outcome
            scored.append((case, profile, expected))
            if status == "ok":
                ok_kinds.add(kind)
            if case.typical and status != "ok" and not performance:
                problems.add(case.where, f"ordinary data scored {status!r}, not 'ok'")
        report.passed.append(f"{kind}: result fields, JSON details, determinism, inputs unchanged")
    if performance and not ok_kinds and scored:
        problems.add("performance", f"no case scored 'ok' for {', '.join(chosen)}")

    rounds = 4 if rounds is None else rounds
    _thread_check(detector_cls, model, scored, threads, rounds, stress_seconds, problems, report)
    if not performance and getattr(detector_cls, "scores_counts", False):
        detector = detector_cls(model)
        for case, profile, expected in scored:
            if isinstance(detector, Detector) and case.kind in FEATURE_KINDS:
                _check_counts(detector, case, profile, expected, problems)
        report.passed.append("score_counts equals score on the same values")
    elif not performance:
        report.skipped.append("score_counts: the detector does not set scores_counts")
    problems.raise_if_any()
    return report


def _check_case(
    detector_cls: type[Any],
    model: BaseModel,
    case: _Case,
    uses_p_value: bool,
    performance: bool,
    problems: _Problems,
) -> tuple[Any, str, str] | None:
    """Fit and score one case with every per-result check; the profile, the result's
    canonical text and its status, or None when it could not be scored."""
    before = [a.copy() for a in (*_arrays(case.reference), *_arrays(case.current))]
    detector = detector_cls(model)
    try:
        profile = detector.fit(case.reference)
    except Exception as exc:
        problems.raised(case.where, "fit()", exc)
        return None
    try:
        result = detector.score(profile, case.current)
    except Exception as exc:
        problems.raised(case.where, "score()", exc)
        return None
    after = [*_arrays(case.reference), *_arrays(case.current)]
    if not all(
        a.shape == b.shape and np.array_equal(a, b) for a, b in zip(before, after, strict=True)
    ):
        problems.add(
            case.where, "fit() or score() changed its input arrays (the engine shares them)"
        )
    if not _result_fields(result, case.where, problems, uses_p_value):
        return None
    if not performance and uses_p_value:
        _decide_consistent(detector, result, case.where, problems)
    if case.identical and result.drifted:
        problems.add(case.where, "a window equal to the reference is flagged as drifted")
    expected = _canonical(result)
    try:
        again = _canonical(detector.score(profile, case.current))
        fresh = detector_cls(model)
        anew = _canonical(fresh.score(fresh.fit(case.reference), case.current))
    except Exception as exc:
        problems.raised(case.where, "scoring the same inputs again", exc)
        return None
    if again != expected:
        problems.add(case.where, "scoring the same inputs twice gave different results")
    elif anew != expected:
        problems.add(case.where, "a new instance with the same settings gave a different result")
    return profile, expected, str(result.status)


# -- window detectors -------------------------------------------------------------------------
#: The features of the model whose windows a window detector is checked on, in its feature
#: order, with their kinds: name them in settings such as ``features`` or ``bounds``.
WINDOW_FEATURES: dict[str, FeatureKind] = {
    "age": "numeric",
    "score": "numeric",
    "income": "numeric",
    "colour": "categorical",
    "city": "categorical",
}
WINDOW_RESULT_KINDS: frozenset[str] = frozenset({"feature", "performance", "multivariate"})
#: What a window detector may compare with its thresholds, and on which side drift may lie.
WINDOW_COMPARED: frozenset[str] = frozenset({"statistic", "p_value"})
DRIFTS_WHEN: frozenset[str] = frozenset({"below", "at_or_above", "above"})
_COLOURS = ("red", "green", "blue", "black")
_USUAL_COLOURS = (0.4, 0.3, 0.2, 0.1)
_SHIFTED_COLOURS = (0.1, 0.2, 0.3, 0.4)
_COLOUR_EFFECT = {"red": 0.5, "green": -0.3, "blue": 0.0, "black": -0.6}
_CITIES = ("café", "東京", "naïve ✓", "São Paulo")
_BINARY: tuple[str, ...] = ("no", "yes")
_MULTICLASS: tuple[str, ...] = ("low", "mid", "high")
#: The generated models of each task, and how a case names them (``kind`` of a _Case).
_VARIANTS: dict[str, tuple[str, ...]] = {
    "classification": ("binary", "multiclass"),
    "regression": ("regression",),
}
_MODELS = {
    "binary": "binary classifier",
    "multiclass": "multiclass classifier",
    "regression": "regressor",
}


def _draw_features(rng: np.random.Generator, rows: int, *, shifted: bool) -> dict[str, np.ndarray]:
    """Two correlated numbers, a skewed amount, and two categories (one with non-ASCII
    labels); ``shifted`` moves age, income and the colours' proportions."""
    age = rng.normal(52.0 if shifted else 40.0, 10.0, rows)
    score = 0.6 * (age - 40.0) / 10.0 + 0.8 * rng.normal(0.0, 1.0, rows)
    income = rng.lognormal(10.4 if shifted else 10.0, 0.5, rows)
    colours = rng.choice(len(_COLOURS), rows, p=_SHIFTED_COLOURS if shifted else _USUAL_COLOURS)
    cities = rng.choice(len(_CITIES), rows)
    return {
        "age": age,
        "score": score,
        "income": income,
        "colour": np.array([_COLOURS[i] for i in colours], dtype=object),
        "city": np.array([_CITIES[i] for i in cities], dtype=object),
    }


def _serve(
    rng: np.random.Generator, variant: str, features: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple[str, ...] | None]:
    """The generated model on these rows: its predictions, the truth, its probabilities and
    classes. A classifier's probabilities are calibrated (the truth is drawn from them); a
    regressor's error grows with the distance of ``age`` from its mean."""
    z = (features["age"] - 40.0) / 10.0
    effect = np.array([_COLOUR_EFFECT[c] for c in features["colour"]], dtype=np.float64)
    rows = len(z)
    if variant == "regression":
        mean = 3.0 * z + 2.0 * features["score"] + effect
        return mean, mean + rng.normal(0.0, 1.0, rows) * (0.5 + 0.8 * np.abs(z)), None, None
    if variant == "binary":
        positive = 1.0 / (1.0 + np.exp(-(1.5 * z - features["score"] + effect)))
        proba, classes = np.column_stack([1.0 - positive, positive]), _BINARY
    else:
        logits = np.column_stack([np.zeros(rows), 1.2 * z + effect, 0.5 - features["score"]])
        scaled = np.exp(logits - logits.max(axis=1, keepdims=True))
        proba, classes = scaled / scaled.sum(axis=1, keepdims=True), _MULTICLASS
    drawn = (rng.random(rows)[:, None] > np.cumsum(proba, axis=1)).sum(axis=1)
    names = np.array(classes, dtype=object)
    return names[proba.argmax(axis=1)], names[np.minimum(drawn, len(classes) - 1)], proba, classes


def _break(
    rng: np.random.Generator, features: Mapping[str, np.ndarray], proba: np.ndarray | None
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """What upstream faults make of a window: a broken join (40% of ``age`` missing),
    infinities, values far out of range, missing and unseen categories, and rows sent
    without probabilities (NaN, as a store returns them)."""
    rows = len(features["age"])
    out = {name: values.copy() for name, values in features.items()}
    out["age"][rng.random(rows) < 0.4] = np.nan
    pick = rng.random(rows)
    out["income"][pick < 0.05] = np.inf
    out["income"][(pick >= 0.05) & (pick < 0.1)] = -np.inf
    out["score"][rng.random(rows) < 0.05] = 1e12
    pick = rng.random(rows)
    out["colour"][pick < 0.1] = None
    out["colour"][(pick >= 0.1) & (pick < 0.2)] = "purple"
    out["city"][rng.random(rows) < 0.2] = "Zürich"
    if proba is not None:
        proba = proba.copy()
        proba[rng.random(rows) < 0.3] = np.nan
    return out, proba


def _make_window(
    rng: np.random.Generator,
    variant: str,
    rows: int,
    *,
    shifted: bool = False,
    labelled: float = 1.0,
    probabilities: bool = True,
    broken: bool = False,
) -> WindowSample:
    """``rows`` rows of the generated model, a ``labelled`` share of them with a label."""
    features = _draw_features(rng, rows, shifted=shifted)
    predictions, truth, proba, classes = _serve(rng, variant, features)
    task: Task = "regression" if variant == "regression" else "classification"
    labels = truth.copy()
    labels[rng.random(rows) >= labelled] = np.nan if task == "regression" else None
    if broken:
        features, proba = _break(rng, features, proba)
    return WindowSample(
        features=features,
        kinds=dict(WINDOW_FEATURES),
        task=task,
        predictions=predictions,
        labels=labels,
        probabilities=proba if probabilities else None,
        classes=classes,
    )


def _with_constants(sample: WindowSample) -> WindowSample:
    """The sample with ``score`` one number and ``city`` one category on every row."""
    features = dict(sample.features)
    features["score"] = np.zeros(sample.rows)
    features["city"] = np.full(sample.rows, _CITIES[0], dtype=object)
    return replace(sample, features=features)


def _variant_cases(variant: str, rng: np.random.Generator) -> list[_Case]:
    """The cases of one kind of model. A multiclass model gets only the cases whose answer
    depends on the number of classes: the others are the binary model's."""

    def make(rows: int, **options: Any) -> WindowSample:
        return _make_window(rng, variant, rows, **options)

    def case(name: str, reference: WindowSample, current: WindowSample, **flags: bool) -> _Case:
        return _Case(_MODELS[variant], name, reference, current, **flags)

    reference = make(1000)
    cases = [
        case("same distribution", reference, make(400), typical=True),
        case("same distribution, no labels yet", reference, make(400, labelled=0.0), typical=True),
        case("window equal to the reference", reference, reference, identical=True),
        case(
            "missing values, infinities, unseen categories",
            reference,
            make(300, labelled=0.5, broken=True),
        ),
    ]
    if variant != "regression":
        without = make(300, probabilities=False)
        cases.append(case("window without probabilities", reference, without))
    if variant == "multiclass":
        return cases
    cases += [
        case("shifted, a third labelled", reference, make(400, shifted=True, labelled=1 / 3)),
        case("five rows", reference, make(5)),
        case("one unlabelled row", reference, make(1, labelled=0.0)),
        case("reference without labels", make(1000, labelled=0.0), make(400)),
    ]
    if variant == "binary":
        without = make(1000, probabilities=False)
        cases.append(
            case("reference without probabilities", without, make(400, probabilities=False))
        )
    else:
        perfect = make(1000)
        perfect = replace(perfect, labels=perfect.predictions.copy())
        cases.append(case("perfect reference", perfect, make(400)))
    constant = _with_constants(make(1000))
    cases.append(case("constant columns", constant, _with_constants(make(400))))
    return cases


def _window_cases(task: str, rng: np.random.Generator) -> list[_Case]:
    """Every case of one task: binary and multiclass classifiers, or a regressor."""
    return [case for variant in _VARIANTS[task] for case in _variant_cases(variant, rng)]


def _window_parts(sample: WindowSample) -> dict[str, Any]:
    """Everything of a sample a detector could change in place, by name."""
    parts: dict[str, Any] = {"feature names": list(sample.features), "kinds": dict(sample.kinds)}
    for name, values in sample.features.items():
        parts[f"features[{name!r}]"] = values
    parts.update(
        predictions=sample.predictions, labels=sample.labels, probabilities=sample.probabilities
    )
    return parts


def _copied(parts: dict[str, Any]) -> dict[str, Any]:
    return {k: v.copy() if isinstance(v, np.ndarray | list | dict) else v for k, v in parts.items()}


def _same(before: Any, after: Any) -> bool:
    if not (isinstance(before, np.ndarray) and isinstance(after, np.ndarray)):
        return bool(before is after or before == after)
    if before.shape != after.shape or before.dtype != after.dtype:
        return False
    if before.dtype.kind in "fc":
        return bool(np.array_equal(before, after, equal_nan=True))
    # a list compares its items by identity first: NaN and None stay equal to themselves
    return bool(before.tolist() == after.tolist())


def _changed(before: dict[str, Any], sample: WindowSample) -> list[str]:
    """Which parts of ``sample`` differ from the copy ``before`` made of them."""
    after = _window_parts(sample)
    return [name for name in {**before, **after} if not _same(before.get(name), after.get(name))]


@dataclass(frozen=True)
class _Declared:
    """What a window detector declares about its decisions (its alerts print them)."""

    compared: str = "statistic"
    drifts_when: str = "at_or_above"
    floor: float | None = None


def _window_declarations(detector: Any, problems: _Problems) -> _Declared:
    where = "declarations"
    try:
        threshold = detector.threshold
        compared, drifts_when = detector.compared, detector.drifts_when
        floor = detector.statistic_floor
    except Exception as exc:
        problems.raised(where, "reading threshold, compared, drifts_when, statistic_floor", exc)
        return _Declared()
    if not _finite_number(threshold):
        problems.add(
            where,
            f"threshold {threshold!r} is not a finite number (the engine refuses to build the "
            "monitor, and puts it on a result it makes when the detector raised)",
        )
    if compared not in WINDOW_COMPARED:
        problems.add(where, f"compared {compared!r} is not one of {sorted(WINDOW_COMPARED)}")
        compared = "statistic"
    if drifts_when not in DRIFTS_WHEN:
        problems.add(where, f"drifts_when {drifts_when!r} is not one of {sorted(DRIFTS_WHEN)}")
        drifts_when = "at_or_above"
    if floor is not None and not _finite_number(floor):
        problems.add(where, f"statistic_floor {floor!r} is neither None nor a finite number")
        floor = None
    if not isinstance(getattr(type(detector), "thread_safe", True), bool):
        problems.add(where, "thread_safe must be a bool")
    return _Declared(compared, drifts_when, None if floor is None else float(floor))


def _window_where(case: _Case, result: WindowResult) -> str:
    about = f" {result.feature!r}" if result.feature is not None else ""
    return f"{case.where}, {result.kind} result{about}"


def _check_about(
    result: WindowResult,
    sample: WindowSample,
    settings: DetectorSettings,
    where: str,
    problems: _Problems,
) -> None:
    """``kind`` and ``feature`` say what a result is about, as the WindowResult contract has it."""
    kind, feature = result.kind, result.feature
    if kind not in WINDOW_RESULT_KINDS:
        problems.add(where, f"kind {kind!r} is not one of {sorted(WINDOW_RESULT_KINDS)}")
    elif kind == "feature":
        if not (isinstance(feature, str) and feature in sample.features):
            problems.add(
                where,
                f"a feature result must name a feature of the window "
                f"({', '.join(sample.features)}), got {feature!r}",
            )
        elif settings.features is not None and feature not in settings.features:
            problems.add(
                where, f"feature {feature!r} is not among the settings' {settings.features}"
            )
    elif kind == "performance":
        if not (isinstance(feature, str) and feature.strip()):
            problems.add(
                where, f"a performance result must name its metric in feature, got {feature!r}"
            )
    elif feature is not None:
        problems.add(where, f"a multivariate result is about no one feature, yet names {feature!r}")


def _check_decision(
    result: WindowResult, declared: _Declared, where: str, problems: _Problems
) -> None:
    """An ``ok`` result's ``drifted`` is what its comparison says: alerts print the
    comparison (``compared``, ``drifts_when``), so the two must never disagree."""
    if result.status != "ok" or not _finite_number(result.threshold):
        return
    if not isinstance(result.drifted, bool | np.bool_):
        return
    threshold, statistic = float(result.threshold), result.statistic
    has_statistic = statistic is not None and _finite_number(statistic)
    if declared.compared == "p_value":
        if result.p_value is None or not _finite_number(result.p_value):
            return
        value: float = float(result.p_value)
        holds = value < threshold
        if holds and declared.floor is not None and has_statistic:
            holds = float(statistic) >= declared.floor  # type: ignore[arg-type]
    else:
        if not has_statistic:
            return
        value = float(statistic)  # type: ignore[arg-type]
        holds = {
            "below": value < threshold,
            "above": value > threshold,
            "at_or_above": value >= threshold,
        }[declared.drifts_when]
    if bool(result.drifted) == holds:
        return
    row = ResultRow(
        result.kind,
        result.feature,
        "check",
        float(statistic) if has_statistic else None,  # type: ignore[arg-type]
        result.p_value,
        threshold,
        bool(result.drifted),
        compared=declared.compared,  # type: ignore[arg-type]
        value=value,
        drifts_when=declared.drifts_when,  # type: ignore[arg-type]
        statistic_floor=declared.floor,
    )
    problems.add(
        where,
        f"drifted is {bool(result.drifted)}, but its alert would read {comparison_text(row)!r} "
        f"(compared {declared.compared!r}, drifts_when {declared.drifts_when!r})",
    )


def _check_window_results(
    found: list[Any],
    case: _Case,
    declared: _Declared,
    settings: DetectorSettings,
    problems: _Problems,
) -> bool:
    """Every result of one score() call; False when the list holds something else."""
    keys: set[Any] = set()
    valid = True
    for result in found:
        if not isinstance(result, WindowResult):
            problems.add(
                case.where,
                f"score() returned a {type(result).__name__} in its list, not a WindowResult",
            )
            valid = False
            continue
        where = _window_where(case, result)
        _result_fields(result, where, problems, declared.compared == "p_value")
        _check_about(result, case.current, settings, where, problems)
        _check_decision(result, declared, where, problems)
        # the alert key of a result (core/alerting/rules.py result_key)
        key = result.feature if result.feature is not None else result.kind
        try:
            duplicate = key in keys
            keys.add(key)
        except TypeError:
            continue
        if duplicate:
            problems.add(
                where,
                f"two results share the alert key {key!r}: alerts keep one state per "
                "detector and feature (or kind), so one of them would never be seen",
            )
    return valid


@dataclass
class _Fitted:
    """A reference fitted by the instance that scores its windows and, once a case asks
    for it (:func:`_fresh`), by a new instance with the same settings."""

    detector: Any
    profile: Any
    fresh: Any = None
    fresh_profile: Any = None


def _fit_window_reference(
    detector_cls: type[Any], model: DetectorSettings, case: _Case, problems: _Problems
) -> _Fitted | str | None:
    """Fit a case's reference. A ``ValueError`` with a message refuses the reference (its
    text is returned); None when the detector broke."""
    before = _copied(_window_parts(case.reference))
    try:
        detector = detector_cls(model)
        profile = detector.fit(case.reference)
    except ValueError as exc:
        reason = str(exc).strip()
        if not reason:
            problems.raised(
                case.where, "fit()", exc, "without a message: say why it refuses the reference"
            )
            return None
        _unchanged(before, case, "fit()", problems)
        return reason
    except Exception as exc:
        problems.raised(
            case.where,
            "fit()",
            exc,
            " (only a ValueError saying why may refuse a reference; anything else is a bug "
            "the engine logs as the plugin's error)",
        )
        return None
    _unchanged(before, case, "fit()", problems)
    return _Fitted(detector, profile)


def _fresh(
    detector_cls: type[Any], model: DetectorSettings, case: _Case, fitted: _Fitted
) -> tuple[Any, Any]:
    """A new instance and its own profile of the case's reference, made once."""
    if fitted.fresh is None:
        fresh = detector_cls(model)
        fitted.fresh_profile = fresh.fit(case.reference)
        fitted.fresh = fresh
    return fitted.fresh, fitted.fresh_profile


def _unchanged(before: dict[str, Any], case: _Case, call: str, problems: _Problems) -> None:
    changed = _changed(before, case.reference)
    if changed:
        problems.add(
            case.where,
            f"{call} changed its inputs (the reference's {', '.join(changed)}): the engine "
            "shares them",
        )


def _check_window_case(
    detector_cls: type[Any],
    case: _Case,
    fitted: _Fitted,
    declared: _Declared,
    settings: DetectorSettings,
    problems: _Problems,
) -> tuple[str, list[WindowResult]] | None:
    """Score one case with every check; its canonical text and results, or None."""
    before = _copied(_window_parts(case.current))
    reference_before = _copied(_window_parts(case.reference))
    try:
        found = fitted.detector.score(fitted.profile, case.current)
    except Exception as exc:
        problems.raised(
            case.where,
            "score()",
            exc,
            " (a window it cannot score gets a 'failed' or 'insufficient_data' result saying "
            "why; an exception is logged as the plugin's error)",
        )
        return None
    if not isinstance(found, list) or not found:
        shown = f"an empty {type(found).__name__}" if not found else type(found).__name__
        problems.add(
            case.where,
            f"score() returned {shown}, not a non-empty list of WindowResult (the engine fails "
            "the detector's result)",
        )
        return None
    if not _check_window_results(found, case, declared, settings, problems):
        return None
    changed = _changed(before, case.current)
    if case.reference is not case.current:
        changed += [f"reference's {part}" for part in _changed(reference_before, case.reference)]
    if changed:
        problems.add(
            case.where,
            f"score() changed its inputs ({', '.join(changed)}): the engine shares them",
        )
    if case.identical:
        for result in found:
            if result.drifted:
                problems.add(
                    _window_where(case, result),
                    "a window equal to the reference is flagged as drifted",
                )
    expected = _canonical(found)
    try:
        again = _canonical(fitted.detector.score(fitted.profile, case.current))
    except Exception as exc:
        problems.raised(case.where, "scoring the same inputs again", exc)
        return None
    if again != expected:
        problems.add(case.where, "scoring the same inputs twice gave different results")
    elif case.typical or case.identical:
        # a new instance on the windows that take the whole path (each call may train models)
        try:
            fresh, profile = _fresh(detector_cls, settings, case, fitted)
            anew = _canonical(fresh.score(profile, case.current))
        except Exception as exc:
            problems.raised(case.where, "fitting and scoring with a new instance", exc)
            return None
        if anew != expected:
            problems.add(case.where, "a new instance with the same settings gave different results")
    return expected, found


def _check_window_detector(
    detector_cls: type[Any],
    model: DetectorSettings,
    chosen: tuple[str, ...],
    seed: int,
    problems: _Problems,
    report: CheckReport,
) -> list[tuple[_Case, Any, str]]:
    """Every single-threaded check of a window detector; the first ordinary window of each
    model it scored, for the thread-safety check."""
    for problem in detector_cls.contract_problems():
        problems.add("class", problem)
    _check_settings_model(type(model), model, problems, report)
    try:
        declared = _window_declarations(detector_cls(model), problems)
    except Exception as exc:
        problems.raised("settings", "creating the detector", exc)
        return []
    report.passed.append("declarations: threshold, compared, drifts_when, statistic_floor")
    rng = np.random.default_rng(seed)
    ordinary: dict[str, tuple[_Case, Any, str]] = {}  # by model: binary, multiclass, regression
    accepted: list[str] = []
    declined: list[str] = []
    for task in chosen:
        reasons: dict[str, list[str]] = {}  # why it declined: the ordinary windows it declined
        # per task, so that every reference in the table is alive (ids stay unique)
        cases = _window_cases(task, rng)
        fits: dict[int, _Fitted | str | None] = {}
        for case in cases:
            if id(case.reference) not in fits:
                fits[id(case.reference)] = _fit_window_reference(
                    detector_cls, model, case, problems
                )
            fitted = fits[id(case.reference)]
            if fitted is None:
                continue
            if isinstance(fitted, str):
                if case.typical:
                    why = f"fit() refused the reference: {fitted}"
                    reasons.setdefault(why, []).append(f"{case.kind} {case.name!r}")
                continue
            outcome = _check_window_case(detector_cls, case, fitted, declared, model, problems)
            if outcome is None:
                continue
            expected, found = outcome
            if not case.typical:
                continue
            ordinary.setdefault(case.kind, (case, fitted.profile, expected))
            statuses = {str(r.status) for r in found}
            if statuses == {"ok"}:
                if task not in accepted:
                    accepted.append(task)
            elif "ok" not in statuses:
                why = f"{found[0].status}: {found[0].error}"
                reasons.setdefault(why, []).append(f"{case.kind} {case.name!r}")
            else:
                for result in found:
                    if result.status != "ok":
                        problems.add(
                            _window_where(case, result),
                            f"ordinary data scored {result.status!r} ({result.error}) while "
                            "the detector's other results scored 'ok'",
                        )
        if task in accepted:
            report.passed.append(
                f"{task}: result fields, JSON details, decisions, determinism, inputs unchanged"
            )
        elif reasons:
            said = [f"{why} ({', '.join(cases)})" for why, cases in reasons.items()]
            report.skipped.append(f"{task}: declined: {'; '.join(said)}")
            declined += said
    if not accepted and declined:
        problems.add(
            "window detector",
            f"no ordinary window of {', '.join(chosen)} scored 'ok' (a detector may decline "
            f"a task, not every one): {'; '.join(declined[:3])}",
        )
    return list(ordinary.values())


# -- notifiers --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReceivedRequest:
    """One HTTP request a :class:`LocalReceiver` received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


Reply = tuple[int, Any, Mapping[str, str]]


class LocalReceiver:
    """A real HTTP server on 127.0.0.1 that records every request and answers as told.

    Use it as a context manager. :meth:`respond` sets the answer to every following request:
    a status, a body (a JSON-serialisable value, ``bytes``, or a function of the
    :class:`ReceivedRequest` returning either) and headers. The default answer is
    ``200 {"id": "1"}``.
    """

    def __init__(self) -> None:
        self._requests: list[ReceivedRequest] = []
        self._reply: tuple[int, Any, dict[str, str]] = (200, {"id": "1"}, {})
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = self._read_chunked()
                else:
                    body = self.rfile.read(length) if length else b""
                request = ReceivedRequest(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                status, payload, headers = receiver._record(request)
                if callable(payload):
                    payload = payload(request)
                data = (
                    payload
                    if isinstance(payload, bytes)
                    else (b"" if payload is None else json.dumps(payload).encode())
                )
                self.send_response(status)
                if payload is not None and not isinstance(payload, bytes):
                    self.send_header("Content-Type", "application/json")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if data and self.command != "HEAD":
                    self.wfile.write(data)

            def _read_chunked(self) -> bytes:
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()

            do_POST = do_PUT = do_PATCH = do_GET = do_DELETE = do_HEAD = _handle

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the requests are recorded, not printed."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def _record(self, request: ReceivedRequest) -> tuple[int, Any, dict[str, str]]:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()
            return self._reply

    def respond(
        self, status: int = 200, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> None:
        """Answer every following request with ``status``, ``body`` and ``headers``."""
        with self._changed:
            self._reply = (status, body, dict(headers or {}))

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request received so far, oldest first."""
        with self._changed:
            return list(self._requests)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[ReceivedRequest]:
        """Wait until ``count`` requests have arrived (or ``timeout``); return them all."""
        with self._changed:
            self._changed.wait_for(lambda: len(self._requests) >= count, timeout)
            return list(self._requests)

    def start(self) -> LocalReceiver:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="driftscope-local-receiver",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> LocalReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def sample_notification(*, test: bool = False) -> Notification:
    """A notification like the ones driftscope sends: a firing feature, a resolved one with
    a p-value, a monitor with too few rows, and names with non-ASCII characters."""
    return Notification(
        monitor="check-monitor",
        model="check-model",
        created_at=datetime(2024, 6, 10, 12, 0, tzinfo=UTC),
        changes=[
            AlertChange("psi", "mean radius", "pending", "firing", 0.41, 0.25),
            AlertChange("ks", "naïve ✓ feature", "firing", "resolved", 0.05, 0.05, 0.2),
            AlertChange("min_samples", "", "ok", "no_data", 12.0, 200.0, kind="monitor"),
        ],
        report_id="report-1",
        window={
            "start": "2024-06-10T11:00:00+00:00",
            "end": "2024-06-10T12:00:00+00:00",
            "rows": 500,
            "labelled_rows": 120,
            "sampled_rows": None,
            "min_samples": 200,
        },
        dashboard_url="http://127.0.0.1:8501/",
        test=test,
    )


def _secret_values(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secret_values(getattr(value, name))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _secret_values(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _secret_values(item)


def secret_forms(values: Iterable[str]) -> list[str]:
    """Every form of each secret a leak could show: the value, stripped, and for a URL its
    path and query, and each path segment or query value of 21 characters or more (tokens).

    The host of a URL is not a secret on its own, so an error may name it.
    """
    found: set[str] = set()
    for value in values:
        if not value:
            continue
        found.update({value, value.strip()})
        try:
            parts = urlsplit(value.strip())
        except ValueError:
            continue
        if parts.scheme and parts.netloc:
            rest = parts.path + (f"?{parts.query}" if parts.query else "")
            if len(rest) > 1:
                found.add(rest)
            pieces = parts.path.split("/") + [p.split("=", 1)[-1] for p in parts.query.split("&")]
            found.update(p for p in pieces if len(p) >= SECRET_PART_MIN)
    return sorted((s for s in found if s), key=len, reverse=True)


def _leaks(text: str, secrets: Sequence[str]) -> bool:
    return any(secret in text for secret in secrets)


class _LogCapture(logging.Handler):
    """Every log record of the process while a check runs, formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self._formatter.format(record))
        except Exception as exc:  # a record that cannot format is reported, not raised
            self.lines.append(f"unformattable record {record.msg!r}: {exc}")


@contextmanager
def _captured_logs() -> Iterator[_LogCapture]:
    handler = _LogCapture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _call_with_deadline(function: Callable[[], Any], timeout: float = CALL_TIMEOUT) -> Any:
    """Run ``function`` in a thread; raise TimeoutError when it has not returned in time."""
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="driftscope-check-call", daemon=True).start()
    if not done.wait(timeout):
        raise TimeoutError(f"did not return within {timeout:.0f} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@dataclass(frozen=True)
class _Scenario:
    """One answer of the receiver and the outcome the notifier must make of it."""

    name: str
    status: int
    expect: DeliveryOutcome
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


def _echo(request: ReceivedRequest) -> dict[str, Any]:
    """A hostile receiver's error: it repeats the request's path and headers back."""
    headers = ", ".join(f"{k}={v}" for k, v in request.headers.items())
    return {"message": f"cannot {request.method} {request.path} ({headers})", "code": 0}


_RATE_LIMIT_HEADERS = {
    "Retry-After": "7",
    "X-RateLimit-Limit": "5",
    "X-RateLimit-Remaining": "0",
    "X-RateLimit-Reset-After": "7",
    "X-RateLimit-Bucket": "check",
}
#: The wait the rate-limit answer asks for, and how far a notifier may round it.
_RATE_LIMIT_WAIT = 7.0
_RATE_LIMIT_SLACK = 1.0

#: Why each outcome is the right one, for the message naming a wrong one.
_WHY: dict[DeliveryOutcome, str] = {
    DeliveryOutcome.DELIVERED: "the receiver accepted the message",
    DeliveryOutcome.RATE_LIMITED: "a 429 with rate-limit headers asks us to wait, then resend",
    DeliveryOutcome.BLOCKED: (
        "a 429 without rate-limit headers is a block by the receiver's edge, not a rate limit "
        "that says how long to wait"
    ),
    DeliveryOutcome.GONE: "the endpoint is gone or refuses us: the notifier must stop using it",
    DeliveryOutcome.REJECTED: (
        "the receiver refused this message: retrying it cannot help, but the endpoint still "
        "works for other messages"
    ),
    DeliveryOutcome.TRANSIENT: "the failure is temporary: the message must be retried later",
}

# 429 scenarios last: a notifier may remember a rate limit and hold later sends back.
# 401 and 403 take whatever core's classification gives them, so this check and the
# delivery worker never disagree about a refused credential.
_SCENARIOS: tuple[_Scenario, ...] = (
    _Scenario("200 with an id", 200, DeliveryOutcome.DELIVERED, {"id": "4242"}),
    _Scenario("204 without a body", 204, DeliveryOutcome.DELIVERED),
    _Scenario("500 echoing the request", 500, DeliveryOutcome.TRANSIENT, _echo),
    _Scenario("503 without a body", 503, DeliveryOutcome.TRANSIENT),
    _Scenario("400 echoing the request", 400, DeliveryOutcome.REJECTED, _echo),
    _Scenario("422 echoing the request", 422, DeliveryOutcome.REJECTED, _echo),
    _Scenario("401", 401, DeliveryOutcome.from_status(401), _echo),
    _Scenario("403", 403, DeliveryOutcome.from_status(403), _echo),
    _Scenario("404 echoing the request", 404, DeliveryOutcome.GONE, _echo),
    _Scenario("410 without a body", 410, DeliveryOutcome.GONE),
    _Scenario("429 without rate-limit headers", 429, DeliveryOutcome.BLOCKED, _echo),
    _Scenario(
        "429 rate limit, retry after 7 s",
        429,
        DeliveryOutcome.RATE_LIMITED,
        {"retry_after": _RATE_LIMIT_WAIT},
        _RATE_LIMIT_HEADERS,
    ),
)


def _result_contract(result: Any, where: str, problems: _Problems) -> bool:
    """The DeliveryResult invariants the delivery worker relies on.

    DeliveryResult validates most of them when it is built; they are checked again because
    a plugin can return a subclass, or change a frozen result with ``object.__setattr__``.
    """
    if not isinstance(result, DeliveryResult):
        problems.add(where, f"send() returned {type(result).__name__}, not a DeliveryResult")
        return False
    outcome = result.outcome
    if not isinstance(outcome, DeliveryOutcome):
        problems.add(where, f"outcome {outcome!r} is not a driftscope.DeliveryOutcome")
        return False
    if outcome is DeliveryOutcome.RATE_LIMITED:
        wait = result.retry_after
        if not (wait is not None and _finite_number(wait) and float(wait) >= 0):
            problems.add(
                where,
                f"rate_limited with retry_after {wait!r}: it must be the "
                "number of seconds >= 0 to wait",
            )
    elif result.retry_after is not None:
        problems.add(
            where,
            f"retry_after {result.retry_after!r} belongs to a rate_limited result, "
            f"not a {outcome.value} one (the worker would ignore it)",
        )
    if outcome is not DeliveryOutcome.DELIVERED and not (
        isinstance(result.error, str) and result.error.strip()
    ):
        problems.add(
            where, f"{outcome.value}, not delivered, and no error saying why (the outbox shows it)"
        )
    status = result.status_code
    if status is not None and not (
        isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599
    ):
        problems.add(where, f"status_code {status!r} is not an HTTP status")
    return True


def _expect_outcome(
    expected: DeliveryOutcome,
    answered: str,
    result: DeliveryResult,
    where: str,
    problems: _Problems,
) -> None:
    if result.outcome is not expected:
        problems.add(
            where,
            f"{answered}, so the outcome must be {expected.value} ({_WHY[expected]}), "
            f"got {result.outcome.value}",
        )


def _expectation(
    scenario: _Scenario, result: DeliveryResult, where: str, problems: _Problems
) -> None:
    if result.status_code is not None and result.status_code != scenario.status:
        problems.add(
            where, f"status_code {result.status_code} but the receiver answered {scenario.status}"
        )
    _expect_outcome(
        scenario.expect, f"the receiver answered {scenario.status}", result, where, problems
    )
    if scenario.expect is DeliveryOutcome.RATE_LIMITED:
        after = result.retry_after
        if not (
            after is not None
            and _finite_number(after)
            and abs(float(after) - _RATE_LIMIT_WAIT) <= _RATE_LIMIT_SLACK
        ):
            problems.add(
                where,
                f"the receiver asked to retry after {_RATE_LIMIT_WAIT:g} s, the result says "
                f"retry_after={after!r}",
            )


def _notifier_settings(notifier_cls: type[Notifier], data: Mapping[str, Any]) -> NotifierSettings:
    model = getattr(notifier_cls, "Settings", None)
    if not (isinstance(model, type) and issubclass(model, NotifierSettings)):
        raise AssertionError(
            f"{notifier_cls.__name__}.Settings must be a subclass of driftscope.NotifierSettings"
        )
    values = dict(data)
    values.setdefault("name", "check")
    if model.model_fields["type"].is_required():
        values.setdefault("type", _default_type(notifier_cls))
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ValueError(
            f"the settings given to check {notifier_cls.__name__} do not validate against "
            f"{model.__name__} ({exc.error_count()} error(s); values not shown: they may be "
            f"secrets): {[(e['loc'], e['msg']) for e in exc.errors()]}"
        ) from None


def _secret_fields(model: type[BaseModel]) -> list[str]:
    names = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if annotation is SecretStr or SecretStr in typing.get_args(annotation):
            names.append(name)
    return names


def _check_rejected_secrets(
    model: type[BaseModel], valid: NotifierSettings, problems: _Problems, report: CheckReport
) -> None:
    """A rejected secret must not be echoed by the validation error's text (logs and
    tracebacks print it; ``driftscope check`` prints each error's message)."""
    data = {name: getattr(valid, name) for name in type(valid).model_fields}
    for name in _secret_fields(model):
        text_probe = f"::not a valid value:: probe{_secrets.token_hex(12)}"
        number_probe = 10**17 + _secrets.randbelow(10**17)  # not a string: always rejected
        for probe in (text_probe, number_probe):
            try:
                model.model_validate({**data, name: probe})
            except ValidationError as exc:
                if str(probe) in f"{exc}\n{exc!r}":
                    problems.add(
                        "settings",
                        f"a rejected {name} is repeated in the validation error: set "
                        "model_config = ConfigDict(hide_input_in_errors=True)",
                    )
                    break
    report.passed.append("settings: a rejected secret is not echoed")


def check_notifier(
    notifier_cls: type[Notifier],
    settings: Mapping[str, Any] | Callable[[str], Mapping[str, Any]] | None = None,
    *,
    secrets: Iterable[str] = (),
    notification: Notification | None = None,
) -> CheckReport:
    """Check a notifier class against driftscope's notifier contract.

    :param notifier_cls: A subclass of :class:`driftscope.Notifier`.
    :param settings: The notifier's YAML block (``name`` and ``type`` may be left out).
        For a notifier that talks HTTP, pass a function of a base URL
        (``http://127.0.0.1:<port>``) returning the block: the check then starts a
        :class:`LocalReceiver` there and sends through it. Put a long random token in
        the URL's path, as real webhook URLs have, so a leak of it is caught.
    :param secrets: Further values that must never show (every ``SecretStr`` in the
        settings is already one).
    :param notification: What to send; default :func:`sample_notification`.
    :returns: A :class:`CheckReport`.
    :raises AssertionError: Listing every broken promise, each with its scenario.

    Always: ``send`` returns a :class:`driftscope.DeliveryResult` (never raises) whose
    ``outcome`` is a :class:`driftscope.DeliveryOutcome`, with ``retry_after`` only when
    rate limited, an ``error`` saying why whenever it is not delivered, and a real HTTP
    status (or none) in ``status_code``; no secret appears in the notifier's or its
    settings' repr, in any result, in any log line written meanwhile, or in the error for
    a rejected secret setting.

    With a receiver, a fresh notifier per answer, each answer's outcome as
    :meth:`driftscope.DeliveryOutcome.from_status` classifies it: 200 and 204 are
    ``delivered`` (and a request did arrive); 500, 503 and a refused connection are
    ``transient``; 400 and 422 are ``rejected``; 404 and 410 are ``gone``; 401 and 403 are
    what ``from_status`` makes of them (today ``gone``); a 429 with ``Retry-After: 7`` (and
    Discord's rate-limit headers and body) is ``rate_limited`` with ``retry_after`` 7, one
    without rate-limit headers ``blocked``. A ``status_code`` must be the one answered.
    Error bodies repeat the request's path and headers back, as some receivers do, so a
    notifier that copies them into ``error`` unredacted is caught.
    """
    if not (isinstance(notifier_cls, type) and issubclass(notifier_cls, Notifier)):
        raise TypeError(f"check_notifier needs a Notifier subclass, got {notifier_cls!r}")
    subject = notifier_cls.__name__
    report = CheckReport(subject)
    message = notification or sample_notification()
    with _captured_logs() as logs:
        if callable(settings):
            with LocalReceiver() as receiver:
                problems = _check_over_http(
                    notifier_cls, settings, receiver, message, secrets, report
                )
        else:
            problems = _check_direct(notifier_cls, settings or {}, message, secrets, report)
    leaked = [line for line in logs.lines if _leaks(line, problems.secrets)]
    if leaked:
        problems.add(
            "logs",
            f"{len(leaked)} log line(s) written during the check show a secret, e.g. "
            f"{redact(leaked[0], problems.secrets)!r}",
        )
    else:
        report.passed.append(f"no secret in {len(logs.lines)} log line(s)")
    problems.raise_if_any()
    return report


def _start(
    notifier_cls: type[Notifier], parsed: NotifierSettings, where: str, problems: _Problems
) -> Notifier | None:
    try:
        notifier = notifier_cls(parsed)
    except Exception as exc:
        problems.raised(where, "creating the notifier", exc)
        return None
    for text in (repr(notifier), str(notifier), repr(notifier.settings), str(notifier.settings)):
        if _leaks(text, problems.secrets):
            problems.add(where, "a secret shows in the notifier's or its settings' repr")
            break
    return notifier


def _send(
    notifier: Notifier, message: Notification, where: str, problems: _Problems
) -> DeliveryResult | None:
    try:
        result = _call_with_deadline(lambda: notifier.send(message))
    except Exception as exc:
        problems.raised(where, "send()", exc, " (it must return a DeliveryResult, never raise)")
        return None
    if not _result_contract(result, where, problems):
        return None
    if _leaks(repr(result), problems.secrets):
        problems.add(where, "a secret shows in the DeliveryResult (error or external_id)")
    return result


def _close(notifier: Notifier, where: str, problems: _Problems) -> None:
    try:
        _call_with_deadline(notifier.close)
    except Exception as exc:
        problems.raised(where, "close()", exc)


def _check_direct(
    notifier_cls: type[Notifier],
    settings: Mapping[str, Any],
    message: Notification,
    secrets: Iterable[str],
    report: CheckReport,
) -> _Problems:
    parsed = _notifier_settings(notifier_cls, settings)
    problems = _Problems(
        notifier_cls.__name__, "notifier", secret_forms([*_secret_values(parsed), *secrets])
    )
    _check_rejected_secrets(type(parsed), parsed, problems, report)
    notifier = _start(notifier_cls, parsed, "send", problems)
    if notifier is None:
        return problems
    try:
        for sent in (message, sample_notification(test=True)):
            where = "send (test message)" if sent.test else "send"
            result = _send(notifier, sent, where, problems)
            if result is not None and not result.delivered:
                problems.add(where, f"{result.outcome.value}, not delivered: {result.error}")
    finally:
        _close(notifier, "send", problems)
    report.passed.append("send: a DeliveryResult, delivered, for an alert and a test message")
    report.skipped.append("HTTP answers: settings is not a function of a receiver URL")
    return problems


def _check_over_http(
    notifier_cls: type[Notifier],
    settings: Callable[[str], Mapping[str, Any]],
    receiver: LocalReceiver,
    message: Notification,
    secrets: Iterable[str],
    report: CheckReport,
) -> _Problems:
    # a port that refuses connections: bound, never listening
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        dead = _notifier_settings(notifier_cls, settings(dead_url))
        parsed = _notifier_settings(notifier_cls, settings(receiver.url))
        problems = _Problems(
            notifier_cls.__name__,
            "notifier",
            secret_forms([*_secret_values(parsed), *_secret_values(dead), *secrets]),
        )
        _check_rejected_secrets(type(parsed), parsed, problems, report)
        where = "unreachable endpoint"
        notifier = _start(notifier_cls, dead, where, problems)
        if notifier is not None:
            try:
                result = _send(notifier, message, where, problems)
                if result is not None:
                    _expect_outcome(
                        DeliveryOutcome.TRANSIENT,
                        "the connection was refused",
                        result,
                        where,
                        problems,
                    )
            finally:
                _close(notifier, where, problems)
    report.passed.append("unreachable endpoint: retried later")
    # before the answers below: a notifier may hold sends back after a rate limit
    receiver.respond(200, {"id": "4243"})
    notifier = _start(notifier_cls, parsed, "test message", problems)
    if notifier is not None:
        try:
            result = _send(notifier, sample_notification(test=True), "test message", problems)
            if result is not None and not result.delivered:
                problems.add(
                    "test message", f"{result.outcome.value}, not delivered: {result.error}"
                )
        finally:
            _close(notifier, "test message", problems)
    report.passed.append("a test message is delivered")
    for scenario in _SCENARIOS:
        where = f"receiver answers {scenario.name}"
        receiver.respond(scenario.status, scenario.body, scenario.headers)
        before = len(receiver.requests)
        notifier = _start(notifier_cls, parsed, where, problems)
        if notifier is None:
            continue
        try:
            result = _send(notifier, message, where, problems)
        finally:
            _close(notifier, where, problems)
        if result is None:
            continue
        if len(receiver.requests) == before:
            problems.add(where, "no request reached the receiver")
            continue
        _expectation(scenario, result, where, problems)
    report.passed.append(f"HTTP answers: {', '.join(s.name for s in _SCENARIOS)}")
    return problems
