"""What each statistic means, for someone who has never met it: the help texts of the charts
and table headers (``help=`` on Streamlit elements and column configs, and captions).

Each text says what is measured, how to read the number, and why the threshold sits where
it does by default. Detectors from plugins get a text that says where to look.
"""

from __future__ import annotations

DETECTOR_HELP: dict[str, str] = {
    "psi": (
        "Population Stability Index: how far the window's distribution moved from the "
        "reference's. The reference is cut into bins (by quantiles, each holding an equal "
        "share of it), and PSI adds up (window share − reference share) × ln(window share / "
        "reference share) over the bins. 0 means identical shares. The usual rule of thumb: "
        "below 0.1 nothing to see, 0.1–0.25 a moderate shift, above 0.25 (the default "
        "threshold) a shift large enough to act on. PSI measures how much moved, not whether "
        "it could be chance, so it stays meaningful on large windows."
    ),
    "ks": (
        "Kolmogorov–Smirnov test, for numeric columns. D is the largest vertical gap between "
        "the reference's and the window's cumulative distributions (0: identical, 1: no "
        "overlap at all). The p-value is the chance of a gap at least this large if both "
        "samples came from the same distribution: drift is a p-value below the threshold "
        "(0.05 by default, so a stable column is flagged at most 1 run in 20 by chance). On "
        "large windows even harmless shifts get tiny p-values, which is why a floor on D "
        "(min_statistic, e.g. 0.1) can be required as well."
    ),
    "chi2": (
        "Chi-square test, for categorical columns and predicted classes. It compares how many "
        "rows fall in each category with the counts the reference's shares predict "
        "(categories the reference never had form one more column). The p-value is the chance "
        "of a difference at least this large by chance alone: drift is a p-value below the "
        "threshold (0.05 by default). Cramér's V in the details tells how large the "
        "difference is, since big windows make small ones significant."
    ),
    "performance": (
        "The model's own metric (accuracy, F1, ROC AUC; or an error such as MAE or RMSE) on "
        "the window's labelled rows, against its value on the reference. Drift is a relative "
        "drop larger than max_drop (for error metrics, a rise): the limit is reference × "
        "(1 − max_drop), e.g. 0.15 allows accuracy 0.95 to fall to 0.81. It needs labels "
        "(POST …/feedback), so it lags the other detectors."
    ),
    "cbpe": (
        "Confidence-based performance estimation: the classifier's ROC AUC, accuracy, F1, "
        "precision or recall estimated from its probabilities alone, before any label "
        "arrives. If the probabilities are calibrated (checked, and corrected, on the "
        "labelled reference), a row predicted with 90% confidence is right 9 times in 10, so "
        "summing them over the window gives the expected confusion matrix and every metric "
        "from it. Drift is an estimate below the limit, reference × (1 − max_drop): 0.15 "
        "lets ROC AUC 0.95 fall to 0.81. It cannot see a change that leaves the model "
        "confident and wrong (the labels' own meaning moving), which is why the realized "
        "value is drawn beside it once labels exist."
    ),
    "dle": (
        "Direct loss estimation, for regressors: a second model learned on the reference "
        "predicts how large each row's error will be from its inputs and the prediction, so "
        "the window's MAE and RMSE are estimated before labels arrive. Drift is an estimate "
        "above the limit, reference × (1 + max_drop): 0.15 lets an MAE of 2.0 grow to 2.3. "
        "The realized error is drawn beside it once labels exist."
    ),
    "domain_classifier": (
        "Domain classifier: a gradient-boosted classifier is trained to tell the window's "
        "rows from the reference's, on every feature at once, and its cross-validated ROC "
        "AUC is the statistic. 0.5 means it cannot tell them apart (nothing changed); 1 means "
        "it always can. It sees changes no single-feature test can, such as two features "
        "whose correlation flips while each keeps its own distribution. Drift is an AUC at "
        "or above the threshold, which unless configured is learned from the reference "
        "alone: its own random halves give the AUC of no change, and the threshold is that "
        "plus z (3) standard deviations at the window's sample size, so it moves a little "
        "with the window's size."
    ),
    "quality": (
        "Data quality: per feature, the share of rows that are missing, infinite, outside the "
        "reference's range (or the configured bounds), or of a category the reference never "
        "had, each compared with the same share in the reference. The statistic is the "
        "largest increase of a share, in absolute terms (0.38 = 38 more rows in a hundred); "
        "a feature is flagged when it is above max_increase (0.05 by default: five more "
        "broken rows in a hundred than the reference had). A broken upstream join (a column "
        "suddenly 40% missing) shows here, while a drift test only sees the values left."
    ),
}

CORRECTION_HELP: dict[str, str] = {
    "none": (
        "No correction: each feature's p-value is compared with the threshold on its own. "
        "With 20 features tested at 0.05, about one stable feature per run is flagged by "
        "chance."
    ),
    "bonferroni": (
        "Bonferroni correction: each p-value is multiplied by the number of features tested "
        "(at most 1) before it is compared with the threshold, so the chance that even one "
        "stable feature is flagged in a run stays below the threshold. Strict: fewest false "
        "alarms, but a weak drift is found later."
    ),
    "fdr": (
        "Benjamini–Hochberg (false discovery rate) correction: p-values are adjusted so that, "
        "of the features flagged, the expected share of false alarms stays below the "
        "threshold. Finds more of the real drifts than Bonferroni when several features move "
        "at once."
    ),
}

MEASURE_HELP: dict[str, str] = {
    "p-value": (
        "The chance of a difference at least this large between reference and window if "
        "nothing had changed; small means drift. When the monitor corrects for testing many "
        "features, the adjusted p-value is shown. Drawn on a log scale: each gridline is ten "
        "times smaller."
    ),
    "statistic": "The detector's statistic; larger means further from the reference.",
}

QUALITY_HELP: dict[str, str] = {
    "missing": "Share of the window's rows with no value for the column (null or NaN).",
    "infinite": "Share of the window's rows whose value is +∞ or −∞.",
    "out_of_range": (
        "Share of the window's rows with a finite value below the reference's minimum or "
        "above its maximum: values the model never saw in training (1e308 counts here)."
    ),
    "unseen": (
        "Share of the window's rows whose category never occurs in the reference: the model "
        "never saw it in training (an encoder may ignore it or fail)."
    ),
}

QUALITY_NAMES: dict[str, str] = {
    "missing": "missing",
    "infinite": "infinite",
    "out_of_range": "out of reference range",
    "unseen": "unseen category",
}
"""The data-quality measures a report's summaries count, as the pages name them."""

TABLE_HELP: dict[str, str] = {
    "feature": "The monitored column: an input feature, the prediction or a class probability.",
    "kind": "numeric or categorical: which detectors apply and how the distribution is drawn.",
    "drifted": "Whether any detector found drift on this column in the run.",
    "reference mean": "Mean of the reference's finite values (numeric columns).",
    "current mean": "Mean of the window's finite values (numeric columns).",
    "reference std": "Sample standard deviation of the reference's finite values.",
    "current std": "Sample standard deviation of the window's finite values.",
    "missing": QUALITY_HELP["missing"],
    "out of range": QUALITY_HELP["out_of_range"],
    "unseen": QUALITY_HELP["unseen"],
}

DISTRIBUTION_HELP = (
    "Both sides counted into the same bins, fixed on the reference: 20 equal-width bins "
    "between its minimum and maximum (for categories, its 20 most frequent ones). Bars are "
    "shares of each side's non-missing values, so a reference of 5,000 rows and a window of "
    "500 compare directly. Hatched bars at the ends hold values outside the reference's range; "
    "'(unseen)' holds categories the reference never had."
)


def band_help(sigmas: float | None) -> str:
    """What an estimate's shaded band is, with the standard errors it spans."""
    width = f"± {sigmas:g}" if sigmas is not None else "± a few (band_sigmas)"
    return (
        f"The shaded band is where the realized value is expected to fall: the estimate "
        f"{width} standard errors of the metric on a window of this size (binomial for "
        "accuracy, precision, recall and F1; Hanley–McNeil for ROC AUC; the spread of the "
        "errors for MAE and RMSE). Small windows give wide bands. Diamonds are the realized "
        "value on the window's labelled rows, once labels have arrived: inside the band, the "
        "estimate held."
    )


ESTIMATE_HELP = (
    "Estimated performance needs no labels: the estimate is there the moment a window "
    "closes, weeks before labels confirm it."
)

MULTIVARIATE_HELP = (
    "Whether the data moved as a whole, and where: the domain classifier's cross-validated "
    "ROC AUC at telling each window from the reference (0.5: no difference), against its "
    "threshold. A change spread thinly over many features, or one in how features relate, "
    "shows here even when no single feature drifts."
)

RANKING_HELP = (
    "Where the change is: how much the classifier relied on each feature to tell the window "
    "from the reference, measured by shuffling that feature's values and seeing how far its "
    "AUC fell (permutation importance), as shares of the total. The top few bars are where "
    "to look first. A feature high here that no per-feature test flagged changed in how it "
    "relates to the others, not in its own distribution."
)

QUALITY_DETECTOR_HELP = (
    "The quality detector's decision per column: flagged when the share of missing, "
    "infinite, out-of-range or unseen-category values grew by more than max_increase over "
    "the reference's own share; the check named is the one that grew most, in percentage "
    "points (+38.2 pts: 38.2 more broken rows in a hundred than the reference had)."
)

BACKFILL_HELP = (
    "A backfilled run was made afterwards over a past window (driftscope backfill, or "
    "POST /v1/monitors/{name}/run?at=…). Charts place it at its window's end, where its "
    "data is from; the time range counts runs by when they were made, so a backfill of last "
    "quarter made today shows today."
)

HEATMAP_HELP = (
    "One cell per feature and run, coloured by how far the result is from its threshold on "
    "one scale for every detector: green well inside, amber near, red past it (for p-values, "
    "log p / log threshold; for statistics, statistic / threshold)."
)


def detector_help(detector: str) -> str:
    """What a detector measures and why its threshold is where it is."""
    known = DETECTOR_HELP.get(detector.lower())
    if known is not None:
        return known
    return (
        f"'{detector}' is a detector from a plugin: its value is compared with its threshold "
        "each run. See the plugin's documentation for what it measures."
    )


def correction_help(correction: str | None) -> str | None:
    """What a monitor's multiple-testing correction does (``None`` when unknown)."""
    if correction is None:
        return None
    return CORRECTION_HELP.get(correction.lower())
