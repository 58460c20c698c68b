"""Population Stability Index drift detector (``type: psi``) for numeric and categorical features.

``PSI = sum_i (q_i - p_i) * ln(q_i / p_i)`` over bins, with ``p`` the reference proportions
and ``q`` the window's. The bins are fixed on the reference alone, in ``fit``, so the PSI of
two windows scored against one profile uses identical bins and is comparable (Evidently and
frouros take edges from reference and current together; NannyML fits them on the reference,
as here):

* numeric, ``binning: quantile`` (default): inner edges at the reference's 1/bins, 2/bins, ...
  quantiles (``inverted_cdf``: each edge is a reference value, so with no ties every bin
  holds exactly 1/bins of the reference); ``binning: uniform``: equal-width inner edges
  between the reference's minimum and maximum (computed on the range scaled by a power of
  two, so a range wider than float64 can hold, such as -1.5e308 to 1.5e308, gives finite
  edges rather than overflowing to ``inf``). Repeated edges (a reference with many ties)
  are merged, so a discrete feature gets one bin per value rather than empty bins. Bins are
  right-closed, ``(-inf, e1], (e1, e2], ..., (ek, +inf)``: the outer bins are open-ended
  and catch values outside the reference range. A constant reference ``c`` gets the three
  bins ``< c``, ``= c``, ``> c``.
* categorical: one bin per reference category plus an ``<unseen>`` bin for categories the
  reference never had.

Empty bins: the proportion of a bin that holds no values (on either side) is replaced by
``epsilon`` (default 1e-4) before the formula, without renormalising; every other bin keeps
its true proportion, however small (a window of over 10,000 rows can put one value in a
bin, a proportion below 1e-4, and that proportion is used as it is). A bin empty on one
side then contributes about ``q * ln(q / 1e-4)``, at most ln(1e4) = 9.2 — large enough to
flag a new region, but never the hundreds frouros reports when it fills empty bins with
2.2e-308 — and PSI stays finite, since every proportion in the formula is positive.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from driftscope import (
    UNSEEN,
    BinCounts,
    CategoryCounts,
    Detector,
    DetectorRecord,
    DetectorResult,
    DetectorSettings,
    FeatureKind,
    FeatureSample,
    cap_bins,
    hookimpl,
)

#: How many unseen category names ``details`` lists (most frequent first).
MAX_UNSEEN_LISTED = 10

Severity = Literal["ok", "warn", "drift"]


class PSISettings(DetectorSettings):
    """Settings of the ``psi`` detector."""

    threshold: float = Field(
        default=0.25,
        gt=0.0,
        description="PSI at or above which the feature has drifted (severity 'drift').",
    )
    warn: float = Field(
        default=0.1,
        gt=0.0,
        description="PSI at or above which severity is 'warn' (a moderate shift, not drift).",
    )
    bins: int = Field(
        default=10,
        ge=2,
        le=1000,
        description="Number of bins for numeric features (fewer when the reference has ties).",
    )
    binning: Literal["quantile", "uniform"] = Field(
        default="quantile",
        description="Numeric bin edges from reference quantiles or equal widths over its range.",
    )
    epsilon: float = Field(
        default=1e-4,
        gt=0.0,
        lt=0.01,
        description=(
            "The proportion an empty bin counts as, so that it gives a finite PSI (bins "
            "holding any values keep their true proportions)."
        ),
    )

    @model_validator(mode="after")
    def _warn_below_threshold(self) -> PSISettings:
        if self.warn > self.threshold:
            raise ValueError(f"warn ({self.warn}) must not exceed threshold ({self.threshold})")
        return self


@dataclass(frozen=True)
class NumericPSIProfile:
    """Reference bins of a numeric feature: finite inner edges and reference proportions.

    Bin ``i`` is ``(edges[i-1], edges[i]]`` with ``edges[-1] = -inf`` and ``edges[k] = +inf``.
    """

    edges: np.ndarray
    counts: np.ndarray
    labels: tuple[str, ...]

    @property
    def size(self) -> int:
        return int(self.counts.sum())

    def bin_counts(self, values: np.ndarray) -> np.ndarray:
        """How many values fall in each bin."""
        return _numeric_counts(self.edges, np.sort(np.asarray(values, dtype=np.float64)))


@dataclass(frozen=True)
class CategoricalPSIProfile:
    """Reference bins of a categorical feature: its categories plus the unseen bin."""

    categories: tuple[str, ...]
    index: dict[str, int]
    counts: np.ndarray  # len(categories) + 1; the last (unseen) is 0 for the reference

    @property
    def size(self) -> int:
        return int(self.counts.sum())

    @property
    def labels(self) -> tuple[str, ...]:
        return (*self.categories, UNSEEN)

    def bin_counts(self, values: np.ndarray) -> tuple[np.ndarray, Counter[str]]:
        """Counts per bin and the counts of each unseen category."""
        return self.map_counts(Counter(values.tolist()))

    def map_counts(self, tally: Mapping[str, int]) -> tuple[np.ndarray, Counter[str]]:
        """Bin counts from the count of each category (unseen ones go to the last bin)."""
        counts = np.zeros(len(self.categories) + 1, dtype=np.int64)
        unseen: Counter[str] = Counter()
        for label, n in tally.items():
            i = self.index.get(label)
            if i is None:
                unseen[label] = n
            else:
                counts[i] = n
        counts[-1] = sum(unseen.values())
        return counts, unseen


PSIProfile = NumericPSIProfile | CategoricalPSIProfile


class PSIDetector(Detector[PSISettings, PSIProfile]):
    """Population Stability Index over bins fixed on the reference (quantiles by default)."""

    Settings: ClassVar[type[DetectorSettings]] = PSISettings
    applies_to: ClassVar[frozenset[FeatureKind]] = frozenset({"numeric", "categorical"})
    uses_p_value: ClassVar[bool] = False
    scores_counts: ClassVar[bool] = True

    @property
    def threshold(self) -> float:
        """PSI at or above which a feature has drifted, ``settings.threshold``."""
        return self.settings.threshold

    def fit(self, reference: FeatureSample) -> PSIProfile:
        """Fix the bins on the reference and count it into them."""
        if len(reference.values) == 0:
            raise ValueError(f"feature {reference.name!r}: the reference is empty")
        if reference.kind == "categorical":
            tally = Counter(np.asarray(reference.values, dtype=object).tolist())
            categories = tuple(sorted(tally, key=lambda c: (-tally[c], c)))
            counts = np.array([tally[c] for c in categories] + [0], dtype=np.int64)
            counts.flags.writeable = False
            return CategoricalPSIProfile(
                categories, {c: i for i, c in enumerate(categories)}, counts
            )
        values = np.sort(np.asarray(reference.values, dtype=np.float64))
        edges = reference_edges(values, self.settings.bins, self.settings.binning)
        counts = _numeric_counts(edges, values)
        edges.flags.writeable = False
        counts.flags.writeable = False
        return NumericPSIProfile(edges, counts, bin_labels(edges))

    def score(self, profile: PSIProfile, current: FeatureSample) -> DetectorResult:
        """Count the window into the reference bins and compute PSI."""
        if len(current.values) == 0:
            raise ValueError(f"feature {current.name!r}: the current window is empty")
        if isinstance(profile, CategoricalPSIProfile):
            if current.kind != "categorical":
                raise TypeError(f"feature {current.name!r}: categorical profile, numeric window")
            counts, unseen = profile.bin_counts(np.asarray(current.values, dtype=object))
            return self._result(profile, counts, unseen)
        if current.kind != "numeric":
            raise TypeError(f"feature {current.name!r}: numeric profile, categorical window")
        return self._result(profile, profile.bin_counts(current.values), None)

    def bin_edges(self, profile: PSIProfile) -> np.ndarray:
        """The profile's finite inner edges: :meth:`score` bins a window exactly as
        :class:`core.BinCounts` does around them (right-closed, open outer bins)."""
        if not isinstance(profile, NumericPSIProfile):
            raise TypeError("a categorical PSI profile has categories, not bin edges")
        return profile.edges

    def score_counts(
        self, profile: PSIProfile, counts: BinCounts | CategoryCounts
    ) -> DetectorResult:
        """PSI of a window counted by the store: bin counts over :meth:`bin_edges` for a
        numeric profile, category counts (mapped to the profile's categories and the unseen
        bin) for a categorical one. Equal to :meth:`score` on the same values."""
        if isinstance(profile, CategoricalPSIProfile):
            if not isinstance(counts, CategoryCounts):
                raise TypeError("categorical PSI profile needs CategoryCounts")
            mapped, unseen = profile.map_counts(counts.counts)
            if mapped.sum() == 0:
                raise ValueError("the current window is empty")
            return self._result(profile, mapped, unseen)
        if not isinstance(counts, BinCounts):
            raise TypeError("numeric PSI profile needs BinCounts")
        binned = np.asarray(counts.counts, dtype=np.int64)
        if binned.shape != profile.counts.shape:
            raise ValueError(
                f"{binned.size} bin counts for {profile.edges.size} edges "
                f"(expected {profile.counts.size})"
            )
        if binned.sum() == 0:
            raise ValueError("the current window is empty")
        return self._result(profile, binned, None)

    def _result(
        self, profile: PSIProfile, counts: np.ndarray, unseen: Counter[str] | None
    ) -> DetectorResult:
        """PSI and its details from the window's counts in the profile's bins (the one
        computation behind :meth:`score` and :meth:`score_counts`)."""
        extra: dict[str, Any] = {}
        binning: str = self.settings.binning
        if isinstance(profile, CategoricalPSIProfile):
            extra["unseen_categories"] = most_common(unseen or Counter(), MAX_UNSEEN_LISTED)
            edges: list[float] = []
            binning = "categories"
        else:
            edges = [float(e) for e in profile.edges]
        eps = self.settings.epsilon
        ref_p = profile.counts / profile.size
        cur_p = counts / counts.sum()
        terms = psi_terms(ref_p, cur_p, eps)
        value = float(terms.sum())
        severity = self.severity(value)
        bins = {
            "edges": edges,
            "labels": list(profile.labels),
            "reference": [float(p) for p in ref_p],
            "current": [float(q) for q in cur_p],
            "reference_counts": [int(c) for c in profile.counts],
            "current_counts": [int(c) for c in counts],
            "contributions": [float(t) for t in terms],
        }
        if isinstance(profile, CategoricalPSIProfile):
            bins = cap_bins(bins, terms)  # many categories: the largest contributions
        return DetectorResult(
            statistic=value,
            p_value=None,
            threshold=self.threshold,
            drifted=severity == "drift",
            details={
                "severity": severity,
                "warn": self.settings.warn,
                "bins": bins,
                "binning": binning,
                "epsilon": eps,
                "epsilon_note": (
                    f"an empty bin counts as a proportion of {eps:g} in the PSI formula, so it "
                    "contributes a finite amount; other bins keep their true proportions"
                ),
                **extra,
                "reference_size": profile.size,
                "current_size": int(counts.sum()),
            },
        )

    def severity(self, value: float) -> Severity:
        """``drift`` at or above ``threshold``, ``warn`` at or above ``warn``, else ``ok``."""
        if value >= self.threshold:
            return "drift"
        if value >= self.settings.warn:
            return "warn"
        return "ok"


def most_common(tally: Counter[str], limit: int) -> dict[str, int]:
    """The ``limit`` most frequent entries, ties by name, so that the listing does not depend
    on the order the values (or a database's groups) came in."""
    return dict(sorted(tally.items(), key=lambda item: (-item[1], item[0]))[:limit])


def psi_terms(ref_p: np.ndarray, cur_p: np.ndarray, epsilon: float) -> np.ndarray:
    """Each bin's contribution ``(q - p) ln(q / p)``, an empty bin's proportion (0) replaced
    by ``epsilon`` on either side; non-empty bins keep their proportions."""
    p = np.where(ref_p > 0, ref_p, epsilon)
    q = np.where(cur_p > 0, cur_p, epsilon)
    return (q - p) * np.log(q / p)


def reference_edges(sorted_values: np.ndarray, bins: int, binning: str) -> np.ndarray:
    """Finite, strictly increasing inner edges computed from the sorted reference only."""
    n = sorted_values.size
    lo, hi = float(sorted_values[0]), float(sorted_values[-1])
    if binning == "quantile":
        # inverted_cdf quantile i/bins: the ceil(i*n/bins)-th smallest value (exact integers)
        idx = np.array([-(-i * n // bins) - 1 for i in range(1, bins)], dtype=np.intp)
        edges = np.unique(sorted_values[idx])
    elif binning == "uniform":
        edges = uniform_edges(lo, hi, bins) if hi > lo else np.empty(0)
    else:
        raise ValueError(f"unknown binning {binning!r}")
    if lo == hi:
        # constant reference: bins "< c", "= c", "> c"
        return np.array([np.nextafter(lo, -np.inf), lo])
    return edges.astype(np.float64)


def uniform_edges(lo: float, hi: float, bins: int) -> np.ndarray:
    """The ``bins - 1`` distinct inner edges of equal-width bins over ``[lo, hi]``.

    ``hi - lo`` overflows to ``inf`` when the range is wider than float64 holds (-1.5e308 to
    1.5e308), and ``np.linspace`` then returns ``inf`` and ``nan`` edges. Both ends are
    scaled by a power of two into [-1, 1] first (exact, so any range float64 can hold
    gives the same edges as the plain formula), spaced there, and scaled back.
    """
    _, exponent = np.frexp(max(abs(lo), abs(hi)))
    scaled = np.linspace(np.ldexp(lo, -exponent), np.ldexp(hi, -exponent), bins + 1)
    return np.unique(np.ldexp(scaled[1:-1], exponent))


def _numeric_counts(edges: np.ndarray, sorted_values: np.ndarray) -> np.ndarray:
    """Counts in the right-closed bins ``(-inf, e1], ..., (ek, inf)`` of sorted values."""
    at_or_below = np.searchsorted(sorted_values, edges, side="right")
    return np.diff(np.concatenate(([0], at_or_below, [sorted_values.size]))).astype(np.int64)


def bin_labels(edges: np.ndarray) -> tuple[str, ...]:
    """Readable labels of the right-closed bins around ``edges``."""
    if edges.size == 0:
        return ("all",)
    text = [_fmt(e) for e in edges]
    labels = [f"<= {text[0]}"]
    for i in range(1, edges.size):
        if edges[i - 1] == np.nextafter(edges[i], -np.inf):
            labels.append(f"= {text[i]}")
        else:
            labels.append(f"({text[i - 1]}, {text[i]}]")
    labels.append(f"> {text[-1]}")
    if edges.size == 2 and labels[1].startswith("="):
        labels[0] = f"< {text[1]}"
    return tuple(labels)


def _fmt(value: float) -> str:
    return f"{value:.6g}"


@hookimpl
def driftscope_detectors() -> Any:
    """Register the ``psi`` detector."""
    yield DetectorRecord("psi", PSIDetector)
