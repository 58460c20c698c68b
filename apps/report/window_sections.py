"""The page's sections for the window detectors' results that are not about one column:
estimated performance (``cbpe``, ``dle``: the estimate, its band, the bar it is held to and
the realized value once labels arrived) and multivariate drift (``domain_classifier``: the
AUC against its threshold, how that threshold was set, and where the change is).

Each builder appends its figures to the page's figure list and refers to them by index.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from driftscope.apps.report.cells import Cell, Chart
from driftscope.apps.report.figures import Figure, estimate_figure, ranking_figure
from driftscope.apps.report.formatting import DASH, number_text
from driftscope.apps.report.window_findings import Estimate, Multivariate

ESTIMATE_HELP = (
    "Estimated from what the model sees and says now, with no label needed: cbpe sums a "
    "classifier's (calibrated) probabilities into the expected confusion matrix; dle learned "
    "a regressor's errors from its inputs on the reference. The band is the estimate ± a few "
    "standard errors of the value the labels will give at this window's size: the realized "
    "value should fall inside it. Drift when the estimate is past the threshold, the "
    "reference's own value less the allowed drop (or, for an error, plus the allowed rise)."
)
MULTIVARIATE_HELP = (
    "A classifier is trained to tell the window's rows from the reference's, on all features "
    "at once; its cross-validated ROC AUC says how well it can. 0.5 means the two are "
    "indistinguishable, 1 that they share nothing. This sees changes no single-feature test "
    "does, such as a correlation that flips while every feature's own distribution stays "
    "put. Drift when the AUC reaches the threshold. The ranking says where the change is: "
    "how much of the classifier's skill each feature carries (how far its AUC falls when "
    "that feature's values are shuffled), as shares of the total."
)


def _decision_cell(decision: str, error: str | None) -> Cell:
    badge = {"drift": "drift", "ok": "ok", "failed": "failed"}.get(decision, "other")
    order = {"drift": 0, "ok": 2}.get(decision, 3)
    return Cell(decision, sort=order, css="text", badge=badge, title=error)


# -- estimated performance ---------------------------------------------------------------------
@dataclass(frozen=True)
class EstimateSection:
    """The estimated-performance table, its notes and one chart per estimating detector."""

    rows: list[list[Cell]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)


ESTIMATE_HEADERS = (
    ("detector", "The detector that made the estimate."),
    ("metric", "The metric estimated (multiclass: macro average)."),
    ("estimate", "The metric as estimated from this window's rows, without labels."),
    ("band", "Where the realized value should fall: the estimate ± k standard errors of the "
     "realized metric at this window's size (cut at the metric's bounds)."),
    ("threshold", "The lowest acceptable value (the highest for an error such as MAE): "
     "the reference's own value less the allowed drop."),
    ("reference", "The metric on the labelled reference."),
    ("change", "The estimate against the reference's value."),
    ("realized", "The metric on the window's labelled rows, once labels arrived."),
    ("rows", "Rows the estimate was made from."),
    ("decision", "drift when the estimate is past the threshold."),
)  # fmt: skip


def _band_cell(e: Estimate) -> Cell:
    if e.lower is None or e.upper is None:
        return Cell(DASH)
    sigmas = e.band_sigmas
    note = None
    if sigmas is not None:
        note = f"± {sigmas:.3g} SE (SE {number_text(e.standard_error, 3)})"
    return Cell(f"{number_text(e.lower)} – {number_text(e.upper)}", sort=e.lower, note=note)


def _threshold_cell(e: Estimate) -> Cell:
    if e.threshold is None:
        return Cell(DASH)
    sign = "≤" if e.lower_is_better else "≥"
    note = None
    if e.reference_value:
        note = f"reference {e.threshold / e.reference_value - 1:+.0%}"
    which = "highest" if e.lower_is_better else "lowest"
    return Cell(
        f"{sign} {number_text(e.threshold)}",
        sort=e.threshold,
        note=note,
        title=f"the {which} acceptable {e.metric}",
    )


def _realized_cell(e: Estimate) -> Cell:
    if e.realized is not None:
        rows = f"{e.realized_rows:,} labelled rows" if e.realized_rows is not None else None
        where = {True: "inside the band", False: "outside the band", None: None}[e.realized_in_band]
        note = " · ".join(part for part in (rows, where) if part)
        css = "outside" if e.realized_in_band is False else ""
        return Cell(number_text(e.realized), sort=e.realized, css=css, note=note or None)
    if e.realized_error is not None:
        return Cell(DASH, note="not computable", title=e.realized_error)
    return Cell(DASH, note="no labels yet")


def _estimate_row(e: Estimate) -> list[Cell]:
    change = e.relative_change
    return [
        Cell(e.detector, sort=e.detector, css="text"),
        Cell(e.metric, sort=e.metric, css="text"),
        Cell(number_text(e.estimate), sort=e.estimate),
        _band_cell(e),
        _threshold_cell(e),
        Cell(number_text(e.reference_value), sort=e.reference_value),
        Cell(DASH if change is None else f"{change:+.1%}", sort=change),
        _realized_cell(e),
        Cell(DASH if e.rows is None else f"{e.rows:,}", sort=e.rows),
        _decision_cell(e.decision, e.error),
    ]


def _calibration_note(e: Estimate) -> str | None:
    if e.calibrated is None:
        return None
    how = (
        "calibrated on the labelled reference (isotonic regression)"
        if e.calibrated
        else "used as given (calibrating did not lower the held-out calibration error)"
    )
    note = f"{e.detector}: the model's probabilities were {how}"
    if e.ece_before is not None and e.ece_after is not None:
        note += (
            f"; held-out expected calibration error {number_text(e.ece_before, 3)} as given, "
            f"{number_text(e.ece_after, 3)} calibrated"
        )
    return note + "."


def estimate_section(estimates: list[Estimate], figures: list[Figure]) -> EstimateSection:
    """The table of every estimated metric, a note on each detector's calibration, and a
    chart per detector of its estimates with their bands against the realized values."""
    if not estimates:
        return EstimateSection()
    by_detector: dict[str, list[Estimate]] = {}
    for e in estimates:
        by_detector.setdefault(e.detector, []).append(e)
    notes: list[str] = []
    charts: list[Chart] = []
    for detector, found in by_detector.items():
        note = next((n for n in map(_calibration_note, found) if n), None)
        if note is not None:
            notes.append(note)
        figure = estimate_figure(found)
        if figure is None:
            continue
        figures.append(figure)
        labelled = max((e.realized_rows or 0 for e in found), default=0)
        caption = (
            f"The realized value (◆) from {labelled:,} labelled rows beside each estimate."
            if any(e.realized is not None for e in found)
            else "No labels in this window yet: the realized values will join the estimates "
            "when they arrive."
        )
        charts.append(
            Chart(
                title=f"{detector}: estimate and band against realized",
                caption=caption,
                figure=len(figures) - 1,
            )
        )
    return EstimateSection([_estimate_row(e) for e in estimates], notes, charts)


# -- multivariate drift ------------------------------------------------------------------------
MULTIVARIATE_HEADERS = (
    ("detector", "The detector that compared all features at once."),
    ("AUC", "Cross-validated ROC AUC of telling the window from the reference (0.5: "
     "indistinguishable); the folds' range below."),
    ("threshold", "The AUC at or above which the window drifted."),
    ("threshold set", "Learned from the reference alone (random halves of it against each "
     "other give the AUC of no drift; the threshold is their mean plus z standard "
     "deviations at this sample size), or configured."),
    ("rows compared", "Rows sampled from each side."),
    ("decision", "drift when the AUC reaches the threshold."),
)  # fmt: skip
RANKING_HEADERS = (
    ("rank", ""),
    ("feature", "The feature."),
    ("share", "Its share of the classifier's importance."),
    ("AUC drop", "How far the AUC fell when this feature's values were shuffled."),
)


@dataclass(frozen=True)
class MultivariateBlock:
    """One multivariate result: its row of the summary table, and where the change is."""

    detector: str
    cells: list[Cell]
    ranking: list[list[Cell]]
    chart: Chart | None


def _threshold_source_cell(m: Multivariate) -> Cell:
    if m.threshold_from is None:
        return Cell(DASH, css="text")
    if not m.learned:
        return Cell("configured", css="text")
    splits = len(m.no_drift_splits)
    text = f"learned from {splits} reference splits" if splits else f"from {m.threshold_from}"
    note = None
    if m.no_drift_mean is not None and m.no_drift_std is not None:
        note = f"no-drift AUC {number_text(m.no_drift_mean)} ± {number_text(m.no_drift_std, 3)}"
        if m.threshold is not None and m.no_drift_std > 0:
            z = (m.threshold - m.no_drift_mean) / m.no_drift_std
            note += f"; threshold = mean + {z:.3g} SD"
    return Cell(text, css="text", note=note)


def _multivariate_cells(m: Multivariate) -> list[Cell]:
    folds = f"folds {number_text(min(m.folds))} – {number_text(max(m.folds))}" if m.folds else None
    rows = DASH if m.sample_rows is None else f"{m.sample_rows:,} a side"
    window = None if m.current_rows is None else f"of {m.current_rows:,} window rows"
    return [
        Cell(m.detector, sort=m.detector, css="text"),
        Cell(number_text(m.statistic), sort=m.statistic, note=folds),
        Cell(DASH if m.threshold is None else f"≥ {number_text(m.threshold)}", sort=m.threshold),
        _threshold_source_cell(m),
        Cell(rows, sort=m.sample_rows, note=window),
        _decision_cell(m.decision, m.error),
    ]


def _ranking_rows(m: Multivariate) -> list[list[Cell]]:
    return [
        [
            Cell(str(rank), sort=rank),
            Cell(r.feature, sort=r.feature, css="text wrap"),
            Cell(f"{r.importance:.1%}", sort=r.importance),
            Cell(number_text(r.auc_drop), sort=r.auc_drop),
        ]
        for rank, r in enumerate(m.ranking, start=1)
    ]


def multivariate_blocks(
    found: list[Multivariate], figures: list[Figure]
) -> list[MultivariateBlock]:
    """One block per multivariate result: its summary row, its ranking as a table and as a
    horizontal bar chart."""
    blocks = []
    for m in found:
        figure = ranking_figure(m)
        chart = None
        if figure is not None:
            figures.append(figure)
            top = ", ".join(r.feature for r in m.ranking[:3])
            caption = (
                f"The features that carry most of the change: {top}."
                if m.drifted
                else f"The window was not told apart from the reference; what the classifier "
                f"leaned on, little as it was: {top}."
            )
            chart = Chart(
                title=f"Where the change is ({m.detector})",
                caption=caption,
                figure=len(figures) - 1,
            )
        blocks.append(
            MultivariateBlock(m.detector, _multivariate_cells(m), _ranking_rows(m), chart)
        )
    return blocks
