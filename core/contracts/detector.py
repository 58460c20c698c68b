"""The detector contract: how a plugin compares a current window with a reference.

A detector works in two steps. ``fit`` turns the reference sample of one feature into a
*profile* (sorted values for KS, bin edges and proportions for PSI) once; the engine caches
that profile, keyed by the reference file's content hash, so a scheduled run never re-reads
or re-sorts the reference. ``score`` compares one current window with a profile.

The engine, not the detector, cleans the data: it counts and removes missing values (NaN,
``None``, and the empty string for categories) and infinities, reports those counts in
``details``, and never calls ``score`` on an empty sample. A detector therefore receives only
finite numbers (numeric features) or non-missing category labels as strings (categorical
features); :class:`FeatureSample` refuses anything else with a clear error, so that a plugin
author calling a detector directly cannot have NaN scored silently either.

A detector class declares everything else the engine needs (its settings model, the feature
kinds it scores, its threshold, whether it decides on a p-value, whether it can score from
counts): see :class:`Detector`. The engine reads nothing from a detector's settings but
``features`` and ``prediction``, which every :class:`DetectorSettings` has.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from driftscope.core.contracts.types import (
    BinCounts,
    CategoryCounts,
    Compared,
    DriftsWhen,
    FeatureKind,
    ResultStatus,
    Task,
)

#: The label of the bin that collects categories absent from the reference (PSI, chi2).
UNSEEN = "<unseen>"


class DetectorSettings(BaseModel):
    """Settings every detector accepts; a detector extends this with its own fields.

    ``type`` is the registered name that chose the detector. ``features`` restricts the
    detector to some features (all applicable ones when omitted); ``prediction`` says whether
    it also checks the model's prediction.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    features: list[str] | None = Field(
        default=None, description="Only these features (default: every feature it applies to)."
    )
    prediction: bool = Field(default=True, description="Also check the model's prediction.")


class PValueSettings(DetectorSettings):
    """Settings of a detector that decides on a p-value: its significance level ``p_value``.

    KS and chi-square extend this; an outside p-value detector should too, so that every
    p-value detector reads its level from the same, equally validated, field.
    """

    p_value: float = Field(
        default=0.05,
        gt=0.0,
        lt=1.0,
        description=(
            "Significance level: a feature drifts when its p-value, after the monitor's "
            "multiple-testing correction, is below this."
        ),
    )


SettingsT = TypeVar("SettingsT", bound=DetectorSettings)
PValueSettingsT = TypeVar("PValueSettingsT", bound=PValueSettings)
ProfileT = TypeVar("ProfileT")


@dataclass(frozen=True)
class FeatureSample:
    """The clean values of one feature (or of the prediction) in one sample.

    ``values`` is a float64 array of finite numbers for a numeric feature, or an object
    array of ``str`` category labels for a categorical one. A sample holding missing values
    (NaN, ``None``) or infinities is refused with a :class:`ValueError` naming the feature
    and how many there are: a detector never scores them silently, also when a plugin
    author calls ``fit`` or ``score`` outside the engine (which removes and counts them).
    """

    name: str
    kind: FeatureKind
    values: np.ndarray
    #: True only for values already cleaned by this rule, as the engine's are: skips the check
    #: (a pass over the values) when a sample is built again for each detector of a run
    assume_clean: bool = field(default=False, kw_only=True, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.assume_clean:
            return
        problem = _unclean(self.kind, self.values)
        if problem is not None:
            raise ValueError(
                f"feature {self.name!r}: {problem}; a detector scores only clean values, so "
                "remove them first (the engine does, and counts them in the report's details)"
            )


def _unclean(kind: FeatureKind, values: np.ndarray) -> str | None:
    """What in a sample's values a detector must not see, or None when they are clean."""
    size = len(values)
    if kind == "numeric":
        try:
            numbers = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            return "a numeric sample must hold numbers"
        finite = np.isfinite(numbers)
        if finite.all():
            return None
        missing = int(np.isnan(numbers).sum())
        infinite = size - int(finite.sum()) - missing
        found = [f"{missing} missing (NaN)"] if missing else []
        found += [f"{infinite} infinite"] if infinite else []
        return f"{' and '.join(found)} of its {size} values"
    missing = int(np.count_nonzero(missing_categories(np.asarray(values, dtype=object))))
    return f"{missing} missing (None, NaN or empty) of its {size} values" if missing else None


def missing_categories(labels: np.ndarray) -> np.ndarray:
    """Which entries of an object array of category labels are missing: ``None``, NaN or the
    empty string. This is driftscope's one rule for a missing category, applied to the
    reference and to every window alike (an empty CSV field, a JSON ``null`` and ``""``
    mean the same)."""
    try:
        # two passes in C: falsy values (None and "", but also 0 or False, checked one by
        # one below since they are rare) and NaN, the one value unequal to itself
        falsy = ~labels.astype(bool)
        absent = np.asarray(labels != labels, dtype=bool)
    except TypeError:  # a value whose truth or comparison is undefined (pandas.NA)
        return np.array([_missing_category(v) for v in labels.tolist()], dtype=bool)
    for i in np.flatnonzero(falsy):
        absent[i] = _missing_category(labels[i])
    return absent


def _missing_category(value: Any) -> bool:
    if isinstance(value, str):
        return value == ""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN
    except TypeError:  # pandas.NA: a missing value whose comparisons have no truth value
        return True


@dataclass(frozen=True)
class LabelledSample:
    """The labelled rows of a sample, for performance detectors.

    ``y_true`` and ``y_pred`` have one entry per labelled row (strings for classifiers,
    float64 for regressors). ``proba`` is an ``(n, len(classes))`` array of class
    probabilities when the model gives them, with columns in ``classes`` order.
    """

    task: Task
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None = None
    classes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        kind: FeatureKind = "categorical" if self.task == "classification" else "numeric"
        for name, values in (("y_true (the labels)", self.y_true), ("y_pred", self.y_pred)):
            problem = _unclean(kind, values)
            if problem is not None:
                raise ValueError(
                    f"{name}: {problem}; a performance detector scores only rows with both "
                    "a label and a prediction, so remove the others first (the engine does)"
                )

    @property
    def size(self) -> int:
        return len(self.y_true)


@dataclass
class DetectorResult:
    """What one detector found for one feature (or the prediction, or the model's metric).

    ``details`` holds what a chart needs to draw the comparison (bin edges and both
    proportions, or both ECDFs sampled at fixed points) plus sample counts; it must be
    JSON-serialisable (plain floats, ints, strings, lists and dicts).
    """

    statistic: float | None
    p_value: float | None
    threshold: float
    drifted: bool
    status: ResultStatus = "ok"
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Detector(ABC, Generic[SettingsT, ProfileT]):
    """Base class of a feature drift detector, generic in its settings and profile types.

    ``class PSIDetector(Detector[PSISettings, PSIProfile])`` types ``self.settings`` as
    ``PSISettings`` and ties :meth:`fit`'s return type to what :meth:`score` receives, so a
    type checker holds a plugin to the contract. A subclass declares everything the engine
    needs; the engine reads nothing else (no guessing at its settings' field names):

    * ``Settings``: its pydantic settings model (a subclass of :class:`DetectorSettings`),
      which validates the detector's YAML block;
    * ``applies_to``: the feature kinds it scores;
    * :attr:`threshold`: the number its decided value is compared with, read from its
      settings. The engine puts it on results the detector did not make (a failure, too few
      values), so every result of the detector shows the same threshold;
    * ``uses_p_value``: whether the value it decides on is a p-value. Such a detector
      produces one per feature; the engine then applies the monitor's multiple-testing
      correction and decides again through :meth:`decide` with the adjusted p-value.
      :class:`PValueDetector` declares this, and the threshold, from :class:`PValueSettings`;
    * :meth:`decide`: whether a value means drift. By default a statistic at or above the
      threshold, or a p-value below it; override to add conditions (KS's effect-size floor),
      and declare such a floor in :attr:`statistic_floor` so alerts show it beside the
      statistic (:attr:`compared` and :attr:`drifts_when` follow from ``uses_p_value``);
    * ``scores_counts``: whether it can score from counts the store computed over a whole
      window (PSI over fixed bins, chi-square over categories). Such a detector implements
      :meth:`score_counts`, and :meth:`bin_edges` when it scores numeric features: when a
      window is larger than the monitor's ``window.max_rows``, the engine then has the store
      count the whole window in the database (no rows reach Python) instead of scoring the
      uniform sample that KS gets;
    * ``thread_safe``: whether its ``fit``/``score`` may run concurrently (the default).

    :meth:`contract_problems` lists what a subclass misses; the plugin manager refuses such a
    detector when a config names it.
    """

    Settings: ClassVar[type[DetectorSettings]] = DetectorSettings
    applies_to: ClassVar[frozenset[FeatureKind]] = frozenset({"numeric"})
    uses_p_value: ClassVar[bool] = False
    #: the engine scores features of one run in parallel threads unless a detector says its
    #: ``fit``/``score`` must not run concurrently (set False for such detectors)
    thread_safe: ClassVar[bool] = True
    scores_counts: ClassVar[bool] = False

    def __init__(self, settings: SettingsT) -> None:
        self.settings: SettingsT = settings

    @property
    def name(self) -> str:
        return self.settings.type

    @property
    @abstractmethod
    def threshold(self) -> float:
        """The number this detector's value is compared with (from its settings)."""

    @property
    def compared(self) -> Compared:
        """Which number :meth:`decide` holds against :attr:`threshold`: the p-value with
        ``uses_p_value``, else the statistic. Alerts show that number beside the threshold."""
        return "p_value" if self.uses_p_value else "statistic"

    @property
    def drifts_when(self) -> DriftsWhen:
        """On which side of the threshold drift lies: below it for a p-value, at or above it
        for a statistic (the default :meth:`decide`)."""
        return "below" if self.uses_p_value else "at_or_above"

    @property
    def statistic_floor(self) -> float | None:
        """An effect size the statistic must also reach for drift (KS's ``min_statistic``),
        shown beside the statistic in alerts; ``None`` when :meth:`decide` has none."""
        return None

    @abstractmethod
    def fit(self, reference: FeatureSample) -> ProfileT:
        """Compute the reference profile of one feature; called once per reference file."""

    @abstractmethod
    def score(self, profile: ProfileT, current: FeatureSample) -> DetectorResult:
        """Compare a current sample with a profile made by :meth:`fit`."""

    def decide(self, result: DetectorResult, value: float) -> bool:
        """Whether ``value`` means drift: with ``uses_p_value`` a (possibly corrected) p-value
        below :attr:`threshold`, otherwise a statistic at or above it. ``result`` is the rest
        of what :meth:`score` found, for detectors whose decision needs more."""
        if self.uses_p_value:
            return bool(value < self.threshold)
        return bool(value >= self.threshold)

    def bin_edges(self, profile: ProfileT) -> np.ndarray:
        """Numeric features, with ``scores_counts``: the inner edges of the right-closed bins
        whose window counts :meth:`score_counts` needs (see
        :class:`~driftscope.core.contracts.types.BinCounts`)."""
        raise NotImplementedError(f"detector {self.name!r} does not score from counts")

    def score_counts(self, profile: ProfileT, counts: BinCounts | CategoryCounts) -> DetectorResult:
        """With ``scores_counts``: compare a window summarised by the store with a profile.

        ``counts`` is a :class:`~driftscope.core.contracts.types.BinCounts` over
        :meth:`bin_edges` for a numeric feature, a
        :class:`~driftscope.core.contracts.types.CategoryCounts` for a categorical one.
        Missing and infinite values are already excluded (the engine reports them).
        """
        raise NotImplementedError(f"detector {self.name!r} does not score from counts")

    @classmethod
    def contract_problems(cls) -> list[str]:
        """What this class misses of the detector contract, one sentence each (none: complete)."""
        problems = common_contract_problems(cls, cls.Settings)
        kinds = cls.applies_to
        if not (isinstance(kinds, AbstractSet) and kinds and kinds <= {"numeric", "categorical"}):
            problems.append(
                f"applies_to must be a non-empty set of 'numeric' and 'categorical', got {kinds!r}"
            )
        elif cls.scores_counts:
            if cls.score_counts is Detector.score_counts:
                problems.append("sets scores_counts but does not implement score_counts")
            if "numeric" in kinds and cls.bin_edges is Detector.bin_edges:
                problems.append(
                    "sets scores_counts for numeric features but does not implement bin_edges"
                )
        return problems


class PValueDetector(Detector[PValueSettingsT, ProfileT]):
    """Base class of a detector that decides on a p-value (KS, chi-square).

    It declares ``uses_p_value`` and reads its threshold from :class:`PValueSettings`'
    ``p_value``: a feature drifts when its p-value, after the monitor's multiple-testing
    correction, is below that level. Subclasses extend :class:`PValueSettings` for their own
    settings, and may override :meth:`decide` to add conditions (calling it first).
    """

    Settings: ClassVar[type[DetectorSettings]] = PValueSettings
    uses_p_value: ClassVar[bool] = True

    @property
    def threshold(self) -> float:
        """The significance level, ``settings.p_value``."""
        return self.settings.p_value

    @classmethod
    def contract_problems(cls) -> list[str]:
        """The detector contract's problems, and a settings model without ``p_value``."""
        problems = super().contract_problems()
        if isinstance(cls.Settings, type) and not issubclass(cls.Settings, PValueSettings):
            problems.append(
                "a PValueDetector's Settings must be a subclass of driftscope.PValueSettings, "
                f"got {cls.Settings.__qualname__}"
            )
        return problems


class PerformanceDetector(ABC, Generic[SettingsT, ProfileT]):
    """Base class of a detector that compares the model's measured quality with the reference,
    generic in its settings and profile types like :class:`Detector`.

    It sees only labelled rows. ``fit`` gets the labelled reference (with the model's
    predictions on it), ``score`` the labelled rows of the window. Its own results carry the
    limit the metric was compared with; :attr:`threshold` is what the engine puts on a result
    it makes when the detector raised (the setting that bounds the decision, e.g. the largest
    tolerated drop).
    """

    Settings: ClassVar[type[DetectorSettings]] = DetectorSettings

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
        """The metric (the result's ``statistic``) is what is compared with the limit."""
        return "statistic"

    @property
    def drifts_when(self) -> DriftsWhen:
        """Drift is a metric below its lowest acceptable value (the default: higher is
        better); a detector of an error metric, where lower is better, returns ``"above"``
        (its highest acceptable value)."""
        return "below"

    @property
    def statistic_floor(self) -> float | None:
        """Performance detectors have no effect-size floor."""
        return None

    @abstractmethod
    def fit(self, reference: LabelledSample) -> ProfileT:
        """Compute the reference value of the metric; called once per reference file."""

    @abstractmethod
    def score(self, profile: ProfileT, current: LabelledSample) -> DetectorResult:
        """Compute the metric on the window and decide whether it dropped too far."""

    @classmethod
    def contract_problems(cls) -> list[str]:
        """What this class misses of the contract, one sentence each (none: complete)."""
        return common_contract_problems(cls, cls.Settings)


def common_contract_problems(cls: type, settings: object) -> list[str]:
    """The settings model and the abstract members every detector class must get right."""
    problems: list[str] = []
    if not (isinstance(settings, type) and issubclass(settings, DetectorSettings)):
        problems.append(
            f"Settings must be a subclass of driftscope.DetectorSettings, got {settings!r}"
        )
    abstract: frozenset[str] = getattr(cls, "__abstractmethods__", frozenset())
    problems.extend(f"does not implement {name}" for name in sorted(abstract))
    return problems
