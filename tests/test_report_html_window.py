"""The HTML report's view of the window detectors: estimated performance (``cbpe``, ``dle``)
with its band against the realized value, multivariate drift (``domain_classifier``) with
where the change is, data quality (``quality``) in the column table, and backfilled runs.

Reports come from real monitor runs over the demo model (``support.window_runs``: one
window before its labels and backfilled after them) or from the detectors themselves on data
whose answer is known. Expected figures are the report's own numbers, and where there is an
independent oracle (pandas on the labels that were attached, numpy on the rows that lost
their value), that oracle too.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftscope import WindowSample
from driftscope.apps.report import render_report_html
from driftscope.plugins.detectors.dle import DLEDetector, DLESettings
from driftscope.plugins.detectors.domain_classifier import (
    DomainClassifierDetector,
    DomainClassifierSettings,
)
from support.report_html import HtmlTable, ReportDocument
from support.reports import report, result
from support.window_runs import BROKEN_FEATURE, WindowRuns, window_runs

HOSTILE = "<script>alert(1)</script>"
# the features drifted_rows shifts: the demo's first three and its 11th and 12th
DRIFTED = {"mean radius", "mean texture", "mean perimeter", "radius error", "texture error"}


@pytest.fixture(scope="module")
def runs(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> WindowRuns:
    return window_runs(tmp_path_factory.mktemp("window-runs"), demo_dir)


def _results(data: dict[str, Any], detector: str) -> list[dict[str, Any]]:
    return [r for r in data["results"] if r["detector"] == detector]


def _row(table: HtmlTable, **wanted: str) -> dict[str, Any]:
    """The body row whose cells under the given headers read as given, by header."""
    headers = [h.text for h in table.groups]
    for cells in table.rows:
        row = dict(zip(headers, cells, strict=True))
        if all(row[h].text == v for h, v in wanted.items()):
            return row
    raise KeyError(wanted)


def _sort(cell: Any) -> float:
    return float(cell.attrs["data-sort"])


def _band(text: str) -> tuple[float, float]:
    low, high = text.split(" – ")
    return float(low), float(high)


# -- estimated performance ---------------------------------------------------------------------
def test_estimates_show_band_threshold_reference_and_the_realized_value(runs: WindowRuns) -> None:
    data = runs.with_labels
    page = ReportDocument(render_report_html(data))
    assert "Estimated performance (an estimate: no labels needed)" in page.text
    table = page.tables["estimated-performance"]
    estimates = _results(data, "cbpe")
    assert [r["feature"] for r in estimates] == ["roc_auc", "accuracy", "f1"]
    for result_row in estimates:
        details = result_row["details"]
        row = _row(table, detector="cbpe", metric=result_row["feature"])
        assert _sort(row["estimate"]) == result_row["statistic"]
        low, high = _band(row["band"].text)
        assert low == pytest.approx(details["lower"], rel=5e-4)
        assert high == pytest.approx(details["upper"], rel=5e-4)
        assert row["band"].note.startswith("± 3 SE")  # cbpe's default band_sigmas
        assert row["threshold"].text.startswith("≥ ")  # the lowest acceptable value
        assert _sort(row["threshold"]) == result_row["threshold"]
        assert _sort(row["reference"]) == details["reference_value"]
        assert _sort(row["realized"]) == details["realized"]
        assert row["realized"].note.startswith(f"{len(runs.labelled)} labelled rows")
        assert row["decision"].text == ("drift" if result_row["drifted"] else "ok")
    # the realized accuracy is the labels' own (pandas on what was attached), and the bar is
    # the model's accuracy on its reference less max_drop
    accuracy = _row(table, metric="accuracy")
    realized = float((runs.labelled["prediction"] == runs.labelled["label"]).mean())
    assert _sort(accuracy["realized"]) == pytest.approx(realized, abs=1e-12)
    assert _sort(accuracy["reference"]) == pytest.approx(runs.reference_accuracy, abs=1e-12)
    assert _sort(accuracy["threshold"]) == pytest.approx(0.85 * runs.reference_accuracy)
    # a third of the labels were flipped after the fact: no estimate from probabilities can
    # see that, and the page says the realized value fell outside the band
    assert "outside the band" in accuracy["realized"].note
    # the note follows what cbpe decided on this reference, whichever way it went
    calibrated = estimates[0]["details"]["calibrated"]
    note = "calibrated on the labelled reference" if calibrated else "used as given"
    assert note in page.text


def test_the_estimate_chart_draws_each_band_against_its_realized_value(runs: WindowRuns) -> None:
    data = runs.with_labels
    page = ReportDocument(render_report_html(data))
    (chart,) = [f for f in page.figures if f["layout"].get("meta") == {"estimated": "cbpe"}]
    estimate, realized = chart["data"]
    rows = _results(data, "cbpe")
    assert estimate["x"] == realized["x"] == [r["feature"] for r in rows]
    np.testing.assert_allclose(estimate["y"], [r["statistic"] for r in rows])
    band = estimate["error_y"]
    np.testing.assert_allclose(
        np.array(estimate["y"]) + band["array"], [r["details"]["upper"] for r in rows]
    )
    np.testing.assert_allclose(
        np.array(estimate["y"]) - band["arrayminus"], [r["details"]["lower"] for r in rows]
    )
    np.testing.assert_allclose(realized["y"], [r["details"]["realized"] for r in rows])
    thresholds = [s["y0"] for s in chart["layout"]["shapes"] if s["name"] == "threshold"]
    np.testing.assert_allclose(thresholds, [r["threshold"] for r in rows])
    # every value drawn is inside the axis
    low, high = chart["layout"]["yaxis"]["range"]
    for row in rows:
        for value in (row["details"]["lower"], row["details"]["upper"], row["details"]["realized"]):
            assert low < value < high


def test_before_the_labels_the_page_says_there_are_none_yet(runs: WindowRuns) -> None:
    page = ReportDocument(render_report_html(runs.before_labels))
    table = page.tables["estimated-performance"]
    for metric in ("roc_auc", "accuracy", "f1"):
        realized = _row(table, metric=metric)["realized"]
        assert (realized.text, realized.note) == ("–", "no labels yet")
    (chart,) = [f for f in page.figures if f["layout"].get("meta") == {"estimated": "cbpe"}]
    assert [t["name"] for t in chart["data"]] == ["estimate (band)"]
    assert "No labels in this window yet" in page.text
    # the performance detector, which needs labels, had none
    (accuracy,) = page.tables["performance"].rows
    assert accuracy[-1].text == "insufficient data"


def test_the_performance_detectors_rows_stay_apart_and_as_they_were(runs: WindowRuns) -> None:
    data = runs.with_labels
    page = ReportDocument(render_report_html(data))
    table = page.tables["performance"]
    assert [h.text for h in table.groups] == [
        "metric", "reference", "current", "change", "limit", "labelled rows", "decision",
    ]  # fmt: skip
    (row,) = table.rows
    (measured,) = _results(data, "performance")
    assert [c.text for c in row] == [
        "accuracy",
        f"{measured['details']['reference_value']:.4g}",
        f"{measured['statistic']:.4g}",
        f"{measured['details']['relative_change']:+.1%}",
        f"{measured['threshold']:.4g}",
        "114",
        "drift",
    ]
    assert "Measured on the window's labelled rows" in page.text
    assert "Performance fell past its limit (accuracy)." in page.text


def _regression(rng: np.random.Generator, mean: float, rows: int) -> WindowSample:
    """y = 2x + (0.5 + |x|)·ε and a model predicting 2x: its error grows away from 0."""
    x = rng.normal(mean, 1.0, size=rows)
    return WindowSample(
        features={"x": x},
        kinds={"x": "numeric"},
        task="regression",
        predictions=2 * x,
        labels=2 * x + (0.5 + np.abs(x)) * rng.normal(size=rows),
    )


def test_error_estimates_are_held_to_a_ceiling() -> None:
    detector = DLEDetector(DLESettings(type="dle", max_iter=30))
    profile = detector.fit(_regression(np.random.default_rng(1), 0.0, 6_000))
    found = detector.score(profile, _regression(np.random.default_rng(2), 1.5, 2_000))
    data = report(results=[result(r.feature, "dle", r.statistic, threshold=r.threshold,
                                  drifted=r.drifted, kind="performance", details=r.details)
                           for r in found]).to_dict()  # fmt: skip
    page = ReportDocument(render_report_html(data))
    table = page.tables["estimated-performance"]
    for r in found:
        row = _row(table, detector="dle", metric=r.feature or "")
        assert row["threshold"].text.startswith("≤ ")  # the highest acceptable error
        assert row["decision"].text == "drift"  # far from 0 the errors are larger
        assert _sort(row["realized"]) == r.details["realized"]
    assert "Estimated performance fell past its limit (mae by dle, rmse by dle)." in page.text
    assert "drift found" in page.text


# -- multivariate drift ------------------------------------------------------------------------
def test_multivariate_drift_shows_auc_threshold_and_where_the_change_is(runs: WindowRuns) -> None:
    data = runs.with_labels
    page = ReportDocument(render_report_html(data))
    (found,) = _results(data, "domain_classifier")
    details = found["details"]
    row = _row(page.tables["multivariate"], detector="domain_classifier")
    assert _sort(row["AUC"]) == found["statistic"]
    assert row["AUC"].note == (
        f"folds {min(details['auc_folds']):.4g} – {max(details['auc_folds']):.4g}"
    )
    assert row["threshold"].text == f"≥ {found['threshold']:.4g}"
    assert row["threshold set"].text == "learned from 3 reference splits"
    null = details["no_drift_auc"]
    z = (found["threshold"] - null["mean"]) / null["std_at_sample_size"]
    assert row["threshold set"].note == (
        f"no-drift AUC {null['mean']:.4g} ± {null['std_at_sample_size']:.3g}; "
        f"threshold = mean + {z:.3g} SD"
    )
    assert f"{z:.3g}" == "3"  # the detector's default z
    assert row["decision"].text == "drift"
    # the ranking, in the detector's order, with each share
    ranking = details["ranking"]
    shown = page.tables["ranking-0"].rows
    assert [cells[1].text for cells in shown] == [r["feature"] for r in ranking]
    assert [_sort(cells[2]) for cells in shown] == [r["importance"] for r in ranking]
    assert ranking[0]["feature"] in DRIFTED  # the data's answer: a shifted feature leads
    # the bar chart: the features with a share, most important on top
    (bars,) = [
        f for f in page.figures if f["layout"].get("meta") == {"ranking": "domain_classifier"}
    ]
    used = [r for r in ranking if r["importance"] > 0]
    assert bars["data"][0]["orientation"] == "h"
    assert bars["data"][0]["y"] == [r["feature"] for r in used]
    assert bars["data"][0]["x"] == [r["importance"] for r in used]
    assert bars["layout"]["yaxis"]["categoryarray"] == [r["feature"] for r in used][::-1]
    top = ", ".join(r["feature"] for r in ranking[:3])
    assert f"The features that carry most of the change: {top}." in page.text
    assert f"The features together drifted (domain_classifier AUC {found['statistic']:.4g}" in (
        page.text
    )


def _correlated(rng: np.random.Generator, rows: int, rho: float, first: str) -> WindowSample:
    z1 = rng.normal(size=rows)
    z2 = rho * z1 + math.sqrt(1 - rho**2) * rng.normal(size=rows)
    features = {first: z1, "x2": z2, "x3": rng.normal(size=rows)}
    return WindowSample(
        features=features,
        kinds=dict.fromkeys(features, "numeric"),  # type: ignore[arg-type]
        task="classification",
        predictions=np.array(["1"] * rows, dtype=object),
        labels=np.array([None] * rows, dtype=object),
    )


@pytest.fixture(scope="module")
def flipped() -> dict[str, Any]:
    """A correlation that flips while every marginal stays put, with a configured threshold
    and a feature whose name is markup."""
    detector = DomainClassifierDetector(
        DomainClassifierSettings(type="domain_classifier", threshold=0.7)
    )
    profile = detector.fit(_correlated(np.random.default_rng(1), 4_000, 0.8, HOSTILE))
    (found,) = detector.score(profile, _correlated(np.random.default_rng(2), 2_000, -0.8, HOSTILE))
    row = result(None, "domain_classifier", found.statistic, threshold=found.threshold,
                 drifted=found.drifted, kind="multivariate", details=found.details)  # fmt: skip
    return report(results=[row]).to_dict()


def test_a_configured_threshold_is_said_so_and_names_stay_text(flipped: dict[str, Any]) -> None:
    document = render_report_html(flipped)
    assert HOSTILE not in document
    page = ReportDocument(document)
    row = _row(page.tables["multivariate"], detector="domain_classifier")
    assert row["threshold"].text == "≥ 0.7"
    assert (row["threshold set"].text, row["threshold set"].note) == ("configured", "")
    assert row["decision"].text == "drift"
    ranked = [cells[1].text for cells in page.tables["ranking-0"].rows]
    assert set(ranked[:2]) == {HOSTILE, "x2"}  # read back as the text it is
    (bars,) = [f for f in page.figures if "ranking" in f["layout"].get("meta", {})]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in bars["data"][0]["y"]
    assert HOSTILE not in bars["data"][0]["y"]
    # a multivariate drift alone is a drift of the run
    assert "drift found" in page.text and "The features together drifted" in page.text


# -- data quality ------------------------------------------------------------------------------
def test_quality_names_the_worst_check_and_its_increase(runs: WindowRuns) -> None:
    data = runs.with_labels
    page = ReportDocument(render_report_html(data))
    table = page.tables["columns"]
    assert table.group("quality").note == "> +5.0 pts"
    assert ("quality", "worst check") in table.columns()
    broken = table.cell(BROKEN_FEATURE, "worst check", "quality")
    lost = runs.lost.mean()  # numpy on the rows that lost their value
    assert broken.text == f"missing +{lost * 100:.1f} pts"
    assert broken.note == f"0% → {lost:.1%}"
    assert float(broken.attrs["data-sort"] or "nan") == pytest.approx(lost, abs=1e-12)
    assert "infinite: 0% → 0% (+0.0 pts)" in (broken.attrs["title"] or "")
    assert table.cell(BROKEN_FEATURE, "decision", "quality").text == "drift"
    # a shifted feature: values past the reference's range
    quality = {r["feature"]: r for r in _results(data, "quality")}
    shifted = quality["mean texture"]["details"]["checks"]["out_of_range"]
    cell = table.cell("mean texture", "worst check", "quality")
    assert cell.text == f"out of range +{shifted['increase'] * 100:.1f} pts"
    # a feature whose shares did not grow says so instead of naming a check
    calm = next(name for name, r in quality.items() if r["statistic"] <= 0)
    assert table.cell(calm, "worst check", "quality").text == "no increase"
    assert f"{BROKEN_FEATURE} (missing +{lost * 100:.1f} pts)" in page.text
    overview = next(f for f in page.figures if f["layout"].get("meta") == {"detector": "quality"})
    hovers = [c for trace in overview["data"] for c in trace["customdata"]]
    assert f"missing +{lost * 100:.1f} pts" in hovers


# -- backfilled runs ---------------------------------------------------------------------------
def test_a_backfilled_report_says_so_in_its_header(runs: WindowRuns) -> None:
    later = ReportDocument(render_report_html(runs.with_labels))
    end = runs.with_labels["window"]["end"][:19].replace("T", " ")
    assert re.search(
        rf"Backfilled: this run was made afterwards \(.+ UTC\) over a past window that ended "
        rf"{re.escape(end)} UTC",
        later.text,
    ), later.text[:600]
    badges = [a.get("class") for tag, a in later.tags if tag == "span"]
    assert "badge warn" in badges
    first = ReportDocument(render_report_html(runs.before_labels))
    assert "Backfilled" not in first.text and "backfilled" not in first.text


# -- malformed -------------------------------------------------------------------------------
def test_malformed_window_results_cost_only_themselves() -> None:
    odd = [
        result("roc_auc", "cbpe", math.nan, kind="performance",
               details={"lower": "x", "upper": None, "standard_error": -1, "realized_rows": "2"}),
        result(None, "domain_classifier", 0.9, kind="multivariate",
               details={"ranking": [1, {"feature": None}, {"feature": "a", "importance": "x"},
                                    {"feature": "b", "importance": 0.5}],
                        "auc_folds": "folds", "no_drift_auc": [1]}),
        result("age", "quality", 0.3, drifted=True, details={"checks": {"missing": 4, 5: {}},
                                                             "worst": ["missing"]}),
        result("city", "quality", 0.3, details={"checks": {"unseen": {"increase": "a lot"}}}),
    ]  # fmt: skip
    page = ReportDocument(render_report_html(report(results=odd).to_dict()))
    estimate = _row(page.tables["estimated-performance"], metric="roc_auc")
    assert (estimate["estimate"].text, estimate["band"].text) == ("–", "–")
    assert [c[1].text for c in page.tables["ranking-0"].rows] == ["b"]
    table = page.tables["columns"]
    assert table.cell("age", "worst check", "quality").text == "0.3"  # no checks to name
    assert table.cell("city", "worst check", "quality").text == "0.3"  # no increase known
