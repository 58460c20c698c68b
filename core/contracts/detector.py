"""The detector contract: how a plugin compares a current window with a reference.

A detector works in two steps. ``fit`` turns the reference sample of one feature into a
*profile* (sorted values for KS, bin edges and proportions for PSI) once; the engine caches
that profile, keyed by the reference file's content hash, so a scheduled run never re-reads
or re-sorts the reference. ``score`` compares one current window with a profile.

The engine, not the detector, cleans the data: it counts and removes missing values (NaN,
``None``) and infinities, reports those counts in ``details``, and never calls ``score`` on an
empty sample. A detector therefore receives only finite numbers (numeric features) or
non-missing category labels as strings (categorical features).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from driftscope.core.contracts.store import BinCounts, CategoryCounts

FeatureKind = Literal["numeric", "categorical"]
ResultStatus = Literal["ok", "failed", "insufficient_data"]
Task = Literal["classification", "regression"]


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


@dataclass(frozen=True)
class FeatureSample:
    """The clean values of one feature (or of the prediction) in one sample.

    ``values`` is a float64 array of finite numbers for a numeric feature, or an object
    array of ``str`` category labels for a categorical one.
    """

    name: str
    kind: FeatureKind
    values: np.ndarray


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


class Detector(ABC):
    """Base class of a feature drift detector.

    Subclasses set ``Settings`` to their pydantic settings model (a subclass of
    :class:`DetectorSettings`), ``applies_to`` to the feature kinds they can score, and
    ``uses_p_value`` when their decision is a p-value below ``settings.p_value``; the engine
    then applies the monitor's multiple-testing correction and calls :meth:`decide` again.

    A detector whose statistic needs only counts (PSI over fixed bins, chi-square over
    categories) may also set ``scores_counts`` and implement :meth:`bin_edges` and
    :meth:`score_counts`: when a window is larger than the monitor's ``window.max_rows``,
    the engine then has the store count the whole window in the database (no rows reach
    Python) instead of scoring the uniform sample that KS gets.
    """

    Settings: ClassVar[type[DetectorSettings]] = DetectorSettings
    applies_to: ClassVar[frozenset[FeatureKind]] = frozenset({"numeric"})
    uses_p_value: ClassVar[bool] = False
    #: the engine scores features of one run in parallel threads unless a detector says its
    #: ``fit``/``score`` must not run concurrently (set False for such detectors)
    thread_safe: ClassVar[bool] = True
    scores_counts: ClassVar[bool] = False

    def __init__(self, settings: DetectorSettings) -> None:
        self.settings = settings

    @property
    def name(self) -> str:
        return self.settings.type

    @abstractmethod
    def fit(self, reference: FeatureSample) -> Any:
        """Compute the reference profile of one feature; called once per reference file."""

    @abstractmethod
    def score(self, profile: Any, current: FeatureSample) -> DetectorResult:
        """Compare a current sample with a profile made by :meth:`fit`."""

    def decide(self, result: DetectorResult, p_value: float) -> bool:
        """Decide drift from a (possibly corrected) p-value; p-value detectors override."""
        return result.drifted

    def bin_edges(self, profile: Any) -> np.ndarray:
        """Numeric features, with ``scores_counts``: the inner edges of the right-closed bins
        whose window counts :meth:`score_counts` needs (see
        :class:`~driftscope.core.contracts.store.BinCounts`)."""
        raise NotImplementedError(f"detector {self.name!r} does not score from counts")

    def score_counts(self, profile: Any, counts: BinCounts | CategoryCounts) -> DetectorResult:
        """With ``scores_counts``: compare a window summarised by the store with a profile.

        ``counts`` is a :class:`~driftscope.core.contracts.store.BinCounts` over :meth:`bin_edges`
        for a numeric feature, a :class:`~driftscope.core.contracts.store.CategoryCounts` for a
        categorical one. Missing and infinite values are already excluded (the engine reports them).
        """
        raise NotImplementedError(f"detector {self.name!r} does not score from counts")


class PerformanceDetector(ABC):
    """Base class of a detector that compares the model's measured quality with the reference.

    It sees only labelled rows. ``fit`` gets the labelled reference (with the model's
    predictions on it), ``score`` the labelled rows of the window.
    """

    Settings: ClassVar[type[DetectorSettings]] = DetectorSettings

    def __init__(self, settings: DetectorSettings) -> None:
        self.settings = settings

    @property
    def name(self) -> str:
        return self.settings.type

    @abstractmethod
    def fit(self, reference: LabelledSample) -> Any:
        """Compute the reference value of the metric; called once per reference file."""

    @abstractmethod
    def score(self, profile: Any, current: LabelledSample) -> DetectorResult:
        """Compute the metric on the window and decide whether it dropped too far."""
