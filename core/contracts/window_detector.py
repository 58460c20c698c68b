"""The window detector contract: detectors that look at every column of a window at once.

A feature detector (:class:`~driftscope.core.contracts.detector.Detector`) sees one cleaned
column at a time, and a performance detector only the labelled rows. Some questions need the
rows whole: how well a classifier tells the window from the reference (all features
together), what the model's accuracy probably is before labels arrive (its probabilities on
every row), how many values went missing (the values the engine would otherwise clean away).
A :class:`WindowDetector` gets exactly that: the reference and the window as
:class:`WindowSample`, nothing cleaned, and returns any number of results, each naming what
it is about (a feature, a metric, or the window as a whole).

Like the other detectors it works in two steps: :meth:`WindowDetector.fit` makes a profile of
the reference once (the engine caches it by the reference's content and the settings), and
:meth:`WindowDetector.score` compares one window with it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal

import numpy as np

from driftscope.core.contracts.detector import (
    DetectorResult,
    DetectorSettings,
    ProfileT,
    SettingsT,
    common_contract_problems,
)
from driftscope.core.contracts.types import Compared, DriftsWhen, FeatureKind, Task

#: What a window detector's result is about: one feature, the model's performance (a metric
#: named in ``feature``), or the window as a whole (all features together).
WindowResultKind = Literal["feature", "performance", "multivariate"]


@dataclass(frozen=True)
class WindowSample:
    """Every row of one sample (the reference, or a window), as the store holds it.

    Nothing is cleaned: ``features`` maps each feature name, in the model's feature order, to
    a float64 array (NaN where missing, ``±inf`` kept) for a numeric feature or an object
    array of ``str`` or ``None`` for a categorical one; ``kinds`` gives each feature's kind.
    ``predictions`` and ``labels`` are object arrays of ``str`` for classifiers (``None``
    where a row has no label) and float64 for regressors (NaN where unlabelled).
    ``probabilities`` is ``(rows, len(classes))``, columns in ``classes`` order, or ``None``
    when the model gives none.
    """

    features: Mapping[str, np.ndarray]
    kinds: Mapping[str, FeatureKind]
    task: Task
    predictions: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray | None = None
    classes: tuple[str, ...] | None = None

    @property
    def rows(self) -> int:
        """How many rows the sample holds."""
        return len(self.predictions)

    def labelled(self) -> np.ndarray:
        """A boolean mask of the rows that have a label."""
        if self.task == "classification":
            return np.array([v is not None for v in self.labels], dtype=bool)
        return np.isfinite(np.asarray(self.labels, dtype=np.float64))


@dataclass
class WindowResult(DetectorResult):
    """One finding of a window detector: a :class:`DetectorResult` that also says what it is
    about. ``kind`` is ``"feature"`` (``feature`` names it), ``"performance"`` (``feature``
    names the metric, e.g. ``"roc_auc"``) or ``"multivariate"`` (``feature`` is ``None``)."""

    kind: WindowResultKind = "multivariate"
    feature: str | None = None


class WindowDetector(ABC, Generic[SettingsT, ProfileT]):
    """Base class of a detector that scores a window as a whole, generic in its settings and
    profile types like :class:`~driftscope.core.contracts.detector.Detector`.

    A subclass declares its pydantic ``Settings`` (a subclass of
    :class:`~driftscope.core.contracts.detector.DetectorSettings`), :attr:`threshold` (what
    the engine puts on a result it makes when the detector raised), and implements
    :meth:`fit` and :meth:`score`. The engine applies no multiple-testing correction to its
    results: a window detector that tests several hypotheses decides on them itself.

    The engine calls it once per run, but runs overlap: the scheduler, ``POST
    /v1/monitors/{name}/run`` and backfills each run in their own thread, with the same
    instance (one per monitor) and the same cached profile (shared by every monitor with the
    same settings and reference). So ``fit`` and ``score`` must be safe to call from several
    threads at once: keep per-call state in locals, never on ``self`` or in the profile. A
    detector that cannot sets :attr:`thread_safe` to ``False``, and the engine then calls
    the ``fit`` and ``score`` of its class one at a time.
    """

    Settings: ClassVar[type[DetectorSettings]] = DetectorSettings
    #: whether ``fit`` and ``score`` may run in several threads at once (see above)
    thread_safe: ClassVar[bool] = True

    def __init__(self, settings: SettingsT) -> None:
        self.settings: SettingsT = settings

    @property
    def name(self) -> str:
        return self.settings.type

    @property
    @abstractmethod
    def threshold(self) -> float:
        """The threshold of a result this detector could not make (from its settings)."""

    @property
    def compared(self) -> Compared:
        """What each result compares with its threshold: its ``statistic`` (the default), or
        ``"p_value"`` for a detector that decides on p-values it corrects itself."""
        return "statistic"

    @property
    def drifts_when(self) -> DriftsWhen:
        """On which side of the threshold drift lies: ``"at_or_above"`` (the default: a
        statistic that grows with drift), ``"above"``, or ``"below"`` (an estimated metric
        where higher is better). Alerts write the comparison with it."""
        return "at_or_above"

    @property
    def statistic_floor(self) -> float | None:
        """An effect-size floor shown beside the statistic, if the detector has one."""
        return None

    @abstractmethod
    def fit(self, reference: WindowSample) -> ProfileT:
        """Compute the profile of the reference; called once per reference file and settings.

        Raise ``ValueError`` with a clear message when the reference cannot serve (a
        classifier without probabilities for an estimator that needs them, say): the engine
        reports it on the run's result, and the next run tries again.
        """

    @abstractmethod
    def score(self, profile: ProfileT, current: WindowSample) -> list[WindowResult]:
        """Compare a window with a profile made by :meth:`fit`: one result per thing decided
        (per metric, per feature, or one for the whole window), never an empty list.

        Never raise for the window's data: a window it cannot score (too few rows, no
        probabilities, no labels) gets ``failed`` or ``insufficient_data`` results whose
        ``error`` says why. The engine turns an exception into one failed result too, but
        logs it as the plugin's error, which a window short of data is not."""

    @classmethod
    def contract_problems(cls) -> list[str]:
        """What this class misses of the contract, one sentence each (none: complete)."""
        return common_contract_problems(cls, cls.Settings)


def window_sample(
    features: Mapping[str, np.ndarray],
    kinds: Mapping[str, FeatureKind],
    task: Task,
    predictions: np.ndarray,
    labels: np.ndarray | None,
    probabilities: np.ndarray | None,
    classes: tuple[str, ...] | None,
) -> WindowSample:
    """A :class:`WindowSample`, with ``labels`` all missing when there are none."""
    if labels is None:
        labels = (
            np.full(len(predictions), None, dtype=object)
            if task == "classification"
            else np.full(len(predictions), np.nan)
        )
    return WindowSample(
        features=dict(features),
        kinds=dict(kinds),
        task=task,
        predictions=predictions,
        labels=labels,
        probabilities=probabilities,
        classes=classes,
    )


AnyWindowDetector = WindowDetector[Any, Any]
