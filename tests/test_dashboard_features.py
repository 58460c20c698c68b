"""The dashboard's per-feature views (apps/dashboard/data/features.py, the distribution and
data-quality figures, and the help texts) on reports in the published shape, with summaries
made by the engine's own summariser from arrays whose numbers numpy gives independently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from driftscope.apps.dashboard import charts
from driftscope.apps.dashboard.data.features import (
    QUALITY_DECISION,
    distribution,
    feature_table,
    filter_rows,
    latest_quality,
    quality_over_time,
    summaries,
)
from driftscope.apps.dashboard.data.glossary import (
    CORRECTION_HELP,
    DETECTOR_HELP,
    TABLE_HELP,
    band_help,
    correction_help,
    detector_help,
)
from driftscope.apps.dashboard.data.quality import (
    decision_text,
    flagged_checks,
    quality_decisions,
    quality_flags,
)
from driftscope.apps.dashboard.data.reports import finding_lines, summarize_report
from driftscope.core.contracts.report import FeatureSummary
from driftscope.core.monitoring.summaries import describe_reference, summarize
from support.reports import report, result

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RNG = np.random.default_rng(11)
AGE_REFERENCE = RNG.normal(40, 10, 2000)
COLOUR_REFERENCE = RNG.choice(["red", "green", "blue"], 2000).astype(object)


def _age_window(shift: float, missing: int = 0, absurd: int = 0) -> np.ndarray:
    values = np.random.default_rng(int(shift * 10) + missing).normal(40 + shift, 10, 500)
    values[:missing] = np.nan
    values[missing : missing + absurd] = 1e308
    return values


def _colour_window(unseen: int) -> np.ndarray:
    values = np.random.default_rng(unseen).choice(["red", "green", "blue"], 400).astype(object)
    values[:unseen] = "purple"
    values[unseen : unseen + 4] = None
    return values


def _summaries(age: np.ndarray, colour: np.ndarray) -> list[FeatureSummary]:
    return [
        summarize("age", "numeric", "feature", describe_reference(AGE_REFERENCE, "numeric"), age),
        summarize(
            "colour",
            "categorical",
            "feature",
            describe_reference(COLOUR_REFERENCE, "categorical"),
            colour,
        ),
    ]


def published(minutes: int, age: np.ndarray, colour: np.ndarray, **kw: Any) -> dict[str, Any]:
    """A run with ks and psi on age, chi2 on colour, and both columns' summaries."""
    made = report(
        results=[
            result("age", "ks", 0.3, p_value=1e-6, threshold=0.05, drifted=True),
            result("age", "psi", 0.4, threshold=0.25, drifted=True),
            result("colour", "chi2", 1.2, p_value=0.55, threshold=0.05),
        ],
        at=T0 + timedelta(minutes=minutes),
        id=f"r{minutes}",
        **kw,
    )
    made.features = _summaries(age, colour)
    return made.to_dict()


def test_the_table_has_each_detectors_columns_and_both_sides_numbers() -> None:
    age, colour = _age_window(8, missing=25, absurd=2), _colour_window(unseen=30)
    table = feature_table(published(0, age, colour))
    assert [d.value for d in table.detectors] == ["ks p-value", "psi statistic", "chi2 p-value"]
    assert table.columns[:3] == ["feature", "kind", "drifted"]
    assert {"reference mean", "current std", "missing", "out of range", "unseen"} <= set(
        table.columns
    )
    first, second = table.rows
    assert first["feature"] == "age" and first["drifted"]  # drifting first
    assert (first["ks p-value"], first["ks threshold"], first["ks decision"]) == (
        1e-6,
        0.05,
        "drift",
    )
    assert first["psi statistic"] == 0.4 and first["chi2 p-value"] is None
    finite = age[np.isfinite(age)]
    assert first["current mean"] == pytest.approx(float(np.mean(finite.astype(np.longdouble))))
    assert first["reference std"] == pytest.approx(float(np.std(AGE_REFERENCE, ddof=1)))
    assert first["missing"] == pytest.approx(25 / 500)
    assert first["out of range"] == pytest.approx(
        np.sum((finite < AGE_REFERENCE.min()) | (finite > AGE_REFERENCE.max())) / 500
    )
    assert first["unseen"] is None  # numeric: no categories
    assert second["feature"] == "colour" and second["kind"] == "categorical"
    assert second["unseen"] == pytest.approx(30 / 400) and second["missing"] == pytest.approx(
        4 / 400
    )
    assert second["chi2 decision"] == "ok" and second["current mean"] is None


def test_the_table_of_a_report_saved_before_summaries_lists_results_only() -> None:
    old = published(0, _age_window(0), _colour_window(0))
    del old["features"]
    table = feature_table(old)
    assert not table.has_summaries and "reference mean" not in table.columns
    assert [r["feature"] for r in table.rows] == ["age", "colour"]
    assert distribution(summaries(old).get("age")) is None
    assert quality_over_time([old], "missing").runs == 0


def test_filters_by_name_kind_and_drift() -> None:
    rows = feature_table(published(0, _age_window(8), _colour_window(5))).rows
    assert [r["feature"] for r in filter_rows(rows, text="COL")] == ["colour"]
    assert [r["feature"] for r in filter_rows(rows, kinds=["numeric"])] == ["age"]
    assert [r["feature"] for r in filter_rows(rows, only_drifting=True)] == ["age"]
    assert filter_rows(rows, text="zzz") == []


def test_a_numeric_distribution_holds_every_counted_value() -> None:
    age = _age_window(25, missing=10, absurd=3)  # far to the right: many values past the max
    views = summaries(published(0, age, _colour_window(0)))
    dist = distribution(views["age"])
    assert dist is not None and dist.kind == "numeric" and len(dist.labels) == 20
    finite = age[np.isfinite(age)]
    assert dist.current_total == finite.size and dist.reference_total == AGE_REFERENCE.size
    assert sum(dist.current) + dist.below[1] + dist.above[1] == pytest.approx(1)
    assert dist.above[1] == pytest.approx(np.mean(finite > AGE_REFERENCE.max()))
    inner, _ = np.histogram(
        AGE_REFERENCE, bins=np.linspace(AGE_REFERENCE.min(), AGE_REFERENCE.max(), 21)
    )
    assert dist.reference == pytest.approx((inner / AGE_REFERENCE.size).tolist())
    assert dist.left[0] == pytest.approx(AGE_REFERENCE.min()) and dist.below_label.startswith("< ")

    fig = charts.distribution_figure(dist, "age")
    names = [t.name for t in fig.data]
    assert names[:2] == [
        f"reference (n = {AGE_REFERENCE.size:,})",
        f"current (n = {finite.size:,})",
    ]
    assert list(fig.data[0].width) == pytest.approx(np.diff([*dist.left, dist.right[-1]]).tolist())
    outside = [t for t in fig.data if t.marker.pattern.shape == "/"]
    assert len(outside) == 2  # above the reference's range, reference and current
    assert fig.data[1].y == pytest.approx(dist.current)
    assert fig.layout.legend.yref == "container"  # under the plot, clear of the toolbar


def test_a_categorical_distribution_pairs_bars_and_keeps_unseen_only_when_present() -> None:
    views = summaries(published(0, _age_window(0), _colour_window(unseen=40)))
    dist = distribution(views["colour"])
    assert dist is not None and dist.kind == "categorical"
    assert dist.labels[-1] == "(unseen)" and "(other)" not in dist.labels  # no other: 3 colours
    assert dist.current[-1] == pytest.approx(40 / (400 - 4))
    assert sum(dist.reference) == pytest.approx(1) and dist.reference[-1] == 0
    fig = charts.distribution_figure(dist, "colour")
    assert fig.layout.barmode == "group" and list(fig.data[0].x) == dist.labels
    clean = distribution(summaries(published(0, _age_window(0), _colour_window(0)))["colour"])
    assert clean is not None and "(unseen)" not in clean.labels


def test_data_quality_over_time_per_column() -> None:
    reports = [
        published(10, _age_window(0, missing=50), _colour_window(unseen=0)),
        published(0, _age_window(0, missing=0), _colour_window(unseen=20)),
        published(20, _age_window(0, missing=5, absurd=4), _colour_window(unseen=0)),
    ]
    missing = quality_over_time(reports, "missing")
    assert missing.runs == 3
    assert [s.feature for s in missing.series] == ["age", "colour"]  # worst first
    age = missing.series[0]
    assert age.shares == pytest.approx([0, 50 / 500, 5 / 500])  # oldest run first
    assert age.times == sorted(age.times)
    unseen = quality_over_time(reports, "unseen")
    (colour,) = unseen.series  # only categorical columns can have unseen categories
    assert colour.shares == pytest.approx([20 / 400, 0, 0]) and unseen.clean == []
    infinite = quality_over_time(reports, "infinite")
    assert infinite.series == [] and infinite.clean == ["age"]
    assert quality_over_time(reports, "out_of_range").series[0].counts[-1] >= 4
    fig = charts.quality_figure(missing)
    assert [t.name for t in fig.data] == ["age", "colour"]
    assert fig.layout.yaxis.tickformat == ".1%"
    (latest,) = [r for r in latest_quality(reports[2]) if r["feature"] == "age"]
    assert latest["missing"] == pytest.approx(5 / 500) and latest["unseen"] is None


def test_summaries_of_a_malformed_answer_are_empty_not_an_error() -> None:
    assert summaries({"features": "nope"}) == {}
    assert (
        summaries({"features": [{"name": 3}, "x", {"name": "a", "current": "?"}]})["a"].current.rows
        is None
    )
    broken = summaries(
        {
            "features": [
                {
                    "name": "a",
                    "kind": "numeric",
                    "histogram": {"edges": [1], "reference": [1], "current": [1, 2]},
                }
            ]
        }
    )
    assert distribution(broken["a"]) is None
    assert feature_table(None).rows == []


def test_every_statistic_and_correction_has_a_help_text() -> None:
    for detector in ("psi", "ks", "chi2", "performance"):
        assert len(detector_help(detector)) > 150, detector
        assert detector_help(detector) == DETECTOR_HELP[detector]
    assert "threshold" in detector_help("psi") and "0.25" in detector_help("psi")
    assert "0.05" in detector_help("ks") and "0.05" in detector_help("chi2")
    assert "plugin" in detector_help("median-shift")
    for correction in ("none", "bonferroni", "fdr"):
        assert correction_help(correction) == CORRECTION_HELP[correction]
    assert correction_help(None) is None
    table = feature_table(published(0, _age_window(0), _colour_window(0)))
    fixed = [
        c for c in table.columns if not any(c.startswith(d.detector + " ") for d in table.detectors)
    ]
    assert all(c in TABLE_HELP for c in fixed), fixed


# -- the quality detector's decisions ------------------------------------------------------------


def _quality_rows(age: np.ndarray, colour: np.ndarray) -> list[Any]:
    """The real quality detector's results on the two windows, as a report holds them."""
    from driftscope import WindowSample
    from driftscope.plugins.detectors.quality import QualityDetector, QualitySettings

    def sample(a: np.ndarray, c: np.ndarray) -> WindowSample:
        return WindowSample(
            features={"age": a, "colour": c},
            kinds={"age": "numeric", "colour": "categorical"},
            task="classification",
            predictions=np.array(["1"] * len(a), dtype=object),
            labels=np.array([None] * len(a), dtype=object),
        )

    detector = QualityDetector(QualitySettings(type="quality"))
    profile = detector.fit(sample(AGE_REFERENCE, COLOUR_REFERENCE))
    # the fixtures' windows differ in length (500 ages, 400 colours): each column is scored
    # in a window of its own, beside reference values of the other column
    age_results = detector.score(profile, sample(age, COLOUR_REFERENCE[: len(age)]))
    colour_results = detector.score(profile, sample(AGE_REFERENCE[: len(colour)], colour))
    found = []
    for name, scored in (("age", age_results), ("colour", colour_results)):
        (row,) = [r for r in scored if r.feature == name]
        found.append(
            result(
                name,
                "quality",
                row.statistic,
                threshold=row.threshold,
                drifted=row.drifted,
                details=row.details,
            )
        )
    return found


def judged(minutes: int, age: np.ndarray, colour: np.ndarray) -> dict[str, Any]:
    """A run with the quality detector besides ks, psi and chi2, and both summaries."""
    made = report(
        results=[
            result("age", "ks", 0.02, p_value=0.6, threshold=0.05),
            *_quality_rows(age, colour),
        ],
        at=T0 + timedelta(minutes=minutes),
        id=f"q{minutes}",
    )
    made.features = _summaries(age, colour)
    return made.to_dict()


def test_a_column_that_goes_40_percent_missing_is_flagged_on_that_check() -> None:
    broken = judged(10, _age_window(0, missing=200), _colour_window(unseen=0))
    decisions = quality_decisions(broken)
    age, colour = decisions["age"], decisions["colour"]
    assert age.flagged and age.worst == "missing"
    assert age.increase == pytest.approx(200 / 500)  # the reference has no missing age
    assert age.allowed == 0.05
    assert [c.check for c in age.exceeded] == ["missing"]
    (missing,) = age.exceeded
    assert (missing.reference, missing.current) == (0.0, pytest.approx(200 / 500))
    assert decision_text(age) == "flagged: missing +40.0 pts"
    # colour: 4 missing of 400, one in a hundred: under the allowed five
    assert not colour.flagged and decision_text(colour) == "ok"
    assert colour.increase == pytest.approx(4 / 400)
    assert flagged_checks(broken) == {"age": "missing"}
    # a quality flag is not counted as drift of the feature, but said apart
    summary = summarize_report(broken)
    assert summary.drifted_features == [] and summary.quality_flagged == {"age": "missing"}
    assert finding_lines(summary) == [":red[**Data quality:** age (missing)]"]
    # the table of the last run puts the decision beside the shares, flagged columns first
    rows = latest_quality(broken)
    assert [r["feature"] for r in rows] == ["age", "colour"]
    assert rows[0][QUALITY_DECISION] == "flagged: missing +40.0 pts"
    assert rows[0]["missing"] == pytest.approx(200 / 500)
    # the features table too
    table = {r["feature"]: r for r in feature_table(broken).rows}
    assert table["age"]["quality decision"] == "flagged: missing +40.0 pts"
    assert table["age"]["quality statistic"] == pytest.approx(0.4)
    assert table["colour"]["quality decision"] == "ok"
    # a report listed without details keeps the decision, not every check
    listed = {
        **broken,
        "results": [
            {**r, "details": {"worst": r["details"].get("worst")}} for r in broken["results"]
        ],
    }
    assert decision_text(quality_decisions(listed)["age"]) == "flagged: missing +40.0 pts"
    assert quality_decisions(listed)["age"].exceeded == []


def test_the_quality_detectors_flags_over_time_beside_the_shares() -> None:
    reports = [
        judged(20, _age_window(0), _colour_window(unseen=80)),
        judged(0, _age_window(0), _colour_window(unseen=0)),
        judged(10, _age_window(0, missing=200), _colour_window(unseen=0)),
    ]
    flags = quality_flags(reports)
    assert flags.runs == 3 and flags.judged
    assert flags.flagged_features == ["age", "colour"]  # each once: by name
    flagged = [(p.feature, p.worst, p.time) for p in flags.points if p.flagged]
    assert flagged == [
        ("age", "missing", T0 + timedelta(minutes=10)),
        ("colour", "unseen", T0 + timedelta(minutes=20)),
    ]
    fig = charts.quality_flags_figure(flags)
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"ok", "missing", "unseen category"}
    assert list(by_name["missing"].y) == ["age"] and list(by_name["unseen category"].y) == [
        "colour"
    ]
    assert len(by_name["ok"].x) == 4  # 3 runs × 2 columns, less the 2 flags
    # the share charts ring the run where the detector flagged the column on that check
    missing = quality_over_time(reports, "missing")
    age = next(s for s in missing.series if s.feature == "age")
    assert age.flagged == [False, True, False]
    ring = next(t for t in charts.quality_figure(missing).data if t.name.startswith("flagged"))
    assert list(ring.x) == [T0 + timedelta(minutes=10)] and list(ring.y) == [pytest.approx(0.4)]
    unseen = quality_over_time(reports, "unseen")
    assert unseen.series[0].flagged == [False, False, True]
    # without the quality detector nothing is judged
    assert not quality_flags([published(0, _age_window(0), _colour_window(0))]).judged


def test_the_features_table_shows_the_domain_classifiers_share_of_the_change() -> None:
    run = published(0, _age_window(8), _colour_window(0))
    run["results"].append(
        {
            "kind": "multivariate",
            "feature": None,
            "detector": "domain_classifier",
            "statistic": 0.9,
            "p_value": None,
            "threshold": 0.6,
            "drifted": True,
            "status": "ok",
            "error": None,
            "details": {
                "ranking": [
                    {"feature": "age", "importance": 0.8, "auc_drop": 0.3},
                    {"feature": "colour", "importance": 0.2, "auc_drop": 0.05},
                ]
            },
        }
    )
    table = feature_table(run)
    assert table.change_shares == ["domain_classifier share of change"]
    assert table.columns[:4] == ["feature", "kind", "drifted", "domain_classifier share of change"]
    shares = {r["feature"]: r["domain_classifier share of change"] for r in table.rows}
    assert shares == {"age": 0.8, "colour": 0.2}
    assert "domain_classifier" not in [d.detector for d in table.detectors]


def test_the_window_detectors_have_help_texts() -> None:
    for detector in ("quality", "cbpe", "dle", "domain_classifier"):
        assert len(detector_help(detector)) > 150, detector
        assert "plugin" not in detector_help(detector)
    assert "0.05" in detector_help("quality") and "0.5" in detector_help("domain_classifier")
    assert "± 3 standard errors" in band_help(3.0)
    assert "± 2.5 standard errors" in band_help(2.5)
