"""The HTML report (``driftscope.apps.report``): its table, charts and facts from a report's
JSON, with and without per-feature summaries, and what it does with hostile names.

Summaries are written here in the shape the engine writes into ``Report.features``; the
figures the file must show are worked out by hand or with numpy. Reports without summaries
come from real monitor runs over the demo model.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftscope.apps.report import render_report_html, report_facts, report_file_name
from driftscope.core.config.yaml_file import load_config
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from support.factories import demo_model, log_traffic, write_config
from support.report_html import ReportDocument, categorical_summary, numeric_summary
from support.reports import report, result

# the contract's example, completed: 1,162 finite current values = 1,200 rows - 36 missing - 2
# infinite; 17 of them above the reference's maximum
AGE: dict[str, Any] = {
    "name": "age",
    "kind": "numeric",
    "result_kind": "feature",
    "reference": {"rows": 5000, "missing": 0, "infinite": 0, "out_of_range": 0, "unseen": 0,
                  "mean": 41.2, "std": 9.8, "min": 18.0, "max": 90.0, "distinct": None},
    "current": {"rows": 1200, "missing": 36, "infinite": 2, "out_of_range": 17, "unseen": 0,
                "mean": 47.9, "std": 11.0, "min": 19.0, "max": 1e308, "distinct": None},
    "histogram": {"edges": [18.0, 36.0, 54.0, 72.0, 90.0],
                  "reference": [0, 1500, 2000, 1000, 500, 0],
                  "current": [0, 200, 400, 300, 245, 17],
                  "categories": None},
}  # fmt: skip
SEX: dict[str, Any] = {
    "name": "sex",
    "kind": "categorical",
    "result_kind": "feature",
    "reference": {"rows": 5000, "missing": 0, "infinite": 0, "out_of_range": 0, "unseen": 0,
                  "mean": None, "std": None, "min": None, "max": None, "distinct": 2},
    "current": {"rows": 1200, "missing": 24, "infinite": 0, "out_of_range": 0, "unseen": 60,
                "mean": None, "std": None, "min": None, "max": None, "distinct": 3},
    "histogram": {"edges": None, "reference": [2600, 2400, 0, 0], "current": [500, 616, 0, 60],
                  "categories": ["F", "M", "(other)", "(unseen)"]},
}  # fmt: skip


def summarised_report(features: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A report with ks and psi on age, chi2 and psi on sex, psi on the prediction, and
    ``features`` as its summaries."""
    made = report(
        results=[
            result("age", "ks", 0.31, p_value=1e-9, threshold=0.05, drifted=True,
                   details={"p_value_adjusted": 2e-9, "correction": "bonferroni"}),
            result("age", "psi", 0.42, drifted=True),
            result("sex", "chi2", 18.5, p_value=0.0004, threshold=0.05, drifted=True,
                   details={"p_value_adjusted": 0.0008, "correction": "bonferroni"}),
            result("sex", "psi", 0.08, details={"severity": "ok"}),
            result("prediction", "psi", 0.02, kind="prediction"),
        ],
        rows=1200,
        **extra,
    ).to_dict()  # fmt: skip
    made["features"] = features
    return made


def test_summaries_fill_the_reference_against_current_columns() -> None:
    page = ReportDocument(render_report_html(summarised_report([AGE, SEX])))
    table = page.tables["columns"]
    group = "current (reference)"

    def shown(name: str, header: str) -> tuple[str, str]:
        cell = table.cell(name, header, group)
        return cell.text, cell.note

    assert shown("age", "mean") == ("47.9", "ref 41.2")
    assert shown("age", "std") == ("11", "ref 9.8")
    assert shown("age", "missing") == ("3.0%", "ref 0%")  # 36 / 1200
    assert shown("age", "out of range") == ("1.4%", "")  # 17 / 1200
    assert shown("age", "unseen") == ("–", "")  # not a categorical column
    assert shown("sex", "unseen") == ("5.0%", "")  # 60 / 1200
    assert shown("sex", "missing") == ("2.0%", "ref 0%")  # 24 / 1200
    assert shown("sex", "mean") == ("–", "")
    assert shown("sex", "out of range") == ("–", "")
    assert table.cell("age", "kind").text == "numeric"
    assert table.cell("sex", "kind").text == "categorical"
    # each detector's value, threshold and decision, the p-value as corrected with the raw one
    assert table.cell("age", "statistic", "ks").text == "0.31"
    p_value = table.cell("age", "p-value", "ks")
    assert (p_value.text, p_value.note) == ("2.000e-09", "raw 1.000e-09")
    # one threshold for every column of a detector is stated once, under its name
    assert table.group("ks").note == "p < 0.05" and table.group("psi").note == "≥ 0.25"
    assert ("ks", "threshold") not in table.columns()
    assert table.cell("age", "decision", "ks").text == "drift"
    assert table.cell("sex", "decision", "psi").text == "ok"
    assert table.cell("age", "statistic", "chi2").text == "–"  # chi2 never saw age
    assert "holds no per-feature summaries" not in page.text


def test_the_histograms_are_the_summaries_counts_as_shares() -> None:
    page = ReportDocument(render_report_html(summarised_report([AGE, SEX])))
    age = page.figure_of("age")
    reference, current = age["data"]
    assert (reference["name"], current["name"]) == ("reference", "current")
    assert reference["type"] == current["type"] == "bar"
    assert reference["x"] == ["&lt; 18", "18 – 36", "36 – 54", "54 – 72", "72 – 90", "&gt; 90"]
    expected_ref = np.array(AGE["histogram"]["reference"]) / 5000
    expected_cur = np.array(AGE["histogram"]["current"]) / 1162
    np.testing.assert_allclose(reference["y"], expected_ref)
    np.testing.assert_allclose(current["y"], expected_cur)
    sex = page.figure_of("sex")
    assert sex["data"][0]["x"] == ["F", "M", "(other)", "(unseen)"]
    np.testing.assert_allclose(sex["data"][1]["y"], np.array([500, 616, 0, 60]) / 1176)


def test_summaries_built_from_raw_values_are_drawn_with_their_numpy_histogram() -> None:
    rng = np.random.default_rng(7)
    reference = rng.normal(40, 10, 2000)
    current = np.concatenate([rng.normal(48, 12, 990), [np.nan] * 8, [np.inf, -np.inf]])
    summary = numeric_summary("age", reference, current, bins=12)
    page = ReportDocument(render_report_html(summarised_report([summary])))
    drawn = page.figure_of("age")["data"]
    edges = np.linspace(reference.min(), reference.max(), 13)
    finite = current[np.isfinite(current)]
    inner, _ = np.histogram(finite[(finite >= edges[0]) & (finite <= edges[-1])], bins=edges)
    below, above = (finite < edges[0]).sum(), (finite > edges[-1]).sum()
    np.testing.assert_allclose(drawn[1]["y"], np.array([below, *inner, above]) / finite.size)
    assert len(drawn[0]["x"]) == 14 and len(set(drawn[0]["x"])) == 14
    table = page.tables["columns"]
    out_of_range = (below + above) / current.size
    assert table.cell("age", "out of range", "current (reference)").text == f"{out_of_range:.1%}"


@pytest.fixture(scope="module")
def monitor_run(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real report: the demo model's monitor (ks, psi, chi2, performance) over drifted
    traffic; reports made today hold no summaries."""
    folder = tmp_path_factory.mktemp("report-run")
    path = write_config(folder, f"sqlite:///{folder / 'store.db'}", model_folder=demo_dir)
    runtime = Runtime(load_config(path, create_plugin_manager()), create_plugin_manager())
    try:
        log_traffic(runtime.store, runtime.models["cancer"], demo_model(demo_dir), drift=True)
        made = runtime.run_monitor("cancer-drift")
        return {"report": made.to_dict(), "config": runtime.config}
    finally:
        runtime.close()


def test_a_real_runs_summaries_reach_the_html(monitor_run: dict[str, Any]) -> None:
    data = monitor_run["report"]
    assert data["features"], "a monitor run summarises every column it read"
    page = ReportDocument(render_report_html(data))
    assert "holds no per-feature summaries" not in page.text
    groups = {group for group, _ in page.tables["columns"].columns()}
    assert groups > {"", "ks", "psi", "chi2"}  # the summaries' columns beside the detectors'


def test_a_report_without_summaries_is_drawn_from_what_the_detectors_kept(
    monitor_run: dict[str, Any],
) -> None:
    # a report saved before runs carried summaries
    data = {**monitor_run["report"], "features": []}
    page = ReportDocument(render_report_html(data))
    assert "holds no per-feature summaries" in page.text
    table = page.tables["columns"]
    groups = {group for group, _ in table.columns()}
    assert groups == {"", "ks", "psi", "chi2"}  # no summary columns, performance apart
    features = {r["feature"] for r in data["results"] if r["kind"] == "feature"}
    outputs = {r["feature"] for r in data["results"] if r["kind"] == "prediction"}
    names = [cells[0].text for cells in table.rows]
    assert set(names) == features | outputs and len(names) == len(features | outputs)
    drifted = {r["feature"] for r in data["results"] if r["kind"] == "feature" and r["drifted"]}
    assert drifted and set(names[: len(drifted)]) == drifted  # the drifting features first
    flagged = {cells[0].text for cells, attrs in zip(table.rows, table.row_attrs, strict=True)
               if attrs.get("data-drifted") == "true"}  # fmt: skip
    assert flagged == drifted | {r["feature"] for r in data["results"]
                                 if r["kind"] == "prediction" and r["drifted"]}  # fmt: skip
    # every p-value is the one the decision was made on: the adjusted one
    for row in data["results"]:
        if row["detector"] != "ks" or row["kind"] != "feature":
            continue
        cell = table.cell(row["feature"], "p-value", "ks")
        adjusted = row["details"]["p_value_adjusted"]
        assert float(cell.attrs["data-sort"] or "nan") == pytest.approx(adjusted, rel=1e-12, abs=0)
    # the ks chart draws each column at the p-value it was decided on (1e-16 at least)
    ks_chart = next(f for f in page.figures if f["layout"].get("meta") == {"detector": "ks"})
    drawn = {y: x for trace in ks_chart["data"] for x, y in zip(trace["x"], trace["y"],
                                                                strict=True)}  # fmt: skip
    for row in data["results"]:
        if row["detector"] == "ks":
            label = row["feature"] + ("" if row["kind"] == "feature" else " (output)")
            decided = max(row["details"]["p_value_adjusted"], 1e-16)
            assert drawn[label] == pytest.approx(decided, rel=1e-12, abs=0), label
    # the distribution of a drifted feature: the PSI bins the detector compared
    name = sorted(drifted)[0]
    psi = next(r for r in data["results"] if r["feature"] == name and r["detector"] == "psi")
    bars = page.figure_of(name)["data"]
    np.testing.assert_allclose(bars[0]["y"], psi["details"]["bins"]["reference"])
    np.testing.assert_allclose(bars[1]["y"], psi["details"]["bins"]["current"])
    # the model's performance, apart
    performance = page.tables["performance"]
    (accuracy,) = performance.rows
    row = next(r for r in data["results"] if r["kind"] == "performance")
    assert accuracy[0].text == "accuracy"
    assert accuracy[-1].text == ("drift" if row["drifted"] else "ok")
    # one chart per detector across the columns, one per column
    detectors = [f for f in page.figures if "detector" in f["layout"].get("meta", {})]
    assert [f["layout"]["meta"]["detector"] for f in detectors] == ["ks", "psi", "chi2"]
    assert len(page.figures) == 3 + len(names)


def test_the_window_and_the_monitors_settings_are_stated(monitor_run: dict[str, Any]) -> None:
    data = monitor_run["report"]
    facts = report_facts(monitor_run["config"], data["monitor"], data["model"])
    page = ReportDocument(render_report_html(data, facts))
    text = page.text
    assert f"Run {data['id']}" in text
    assert f"rows {data['window']['rows']:,}" in text
    start = datetime.fromisoformat(data["window"]["start"])
    assert f"from {start:%Y-%m-%d %H:%M:%S} UTC" in text
    assert "schedule every 1h" in text
    assert "window the last 1h, at least 50 rows" in text
    assert "detector ks p_value 0.05" in text
    assert "detector performance metric accuracy; max_drop 0.15; min_samples 30" in text
    assert "correction bonferroni" in text
    assert "model file cancer.skops" in text and "reference cancer_reference.csv" in text
    assert "they may have changed since the run" in text

    gone = report_facts(monitor_run["config"], "retired-monitor", "old-model")
    assert gone.monitor == [] and gone.model == []
    assert "The monitor 'retired-monitor' is not in the config any more." in gone.notes


HOSTILE = "<script>alert(1)</script>"
HOSTILE_CATEGORY = "<img src=x onerror=alert(2)>"


def _hostile_report() -> dict[str, Any]:
    data = summarised_report(
        [
            numeric_summary(HOSTILE, [1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 9.0]),
            categorical_summary("city", ["a", "b", HOSTILE_CATEGORY], ["a", HOSTILE_CATEGORY]),
        ],
        monitor="m</title><script>alert(3)</script>",
    )
    data["results"].extend(
        [
            asdict(result(HOSTILE, "psi", 0.5, drifted=True)),
            asdict(result(
                "city", "chi2", None, threshold=0.05, status="failed",
                error="</td></tr></table><script>alert(4)</script>",
            )),
        ]
    )  # fmt: skip
    return data


def test_names_with_markup_are_text_never_markup() -> None:
    document = render_report_html(_hostile_report())
    for raw in (HOSTILE, HOSTILE_CATEGORY, "alert(3)</script>", "<script>alert(4)"):
        assert raw not in document
    page = ReportDocument(document)
    # three scripts: the figure data (never run), Plotly, and the page's own
    assert [attrs.get("type") for attrs, _ in page.scripts] == ["application/json", None, None]
    assert all("alert(" not in content for _, content in page.scripts[1:])
    table = page.tables["columns"]
    assert table.cell(HOSTILE, "decision", "psi").text == "drift"  # read back as its text
    failed = table.cell("city", "decision", "chi2")
    assert (
        failed.text == "failed"
        and failed.attrs["title"] == "</td></tr></table><script>alert(4)</script>"
    )
    assert "driftscope report: m</title><script>alert(3)</script>" in page.text
    # in the charts the names are entities, which Plotly draws as the characters
    figure = page.figure_of(HOSTILE)
    assert figure["layout"]["meta"]["column"] == HOSTILE  # data, never drawn
    city = page.figure_of("city")["data"][0]["x"]
    assert "&lt;img src=x onerror=alert(2)&gt;" in city
    overview = next(f for f in page.figures if f["layout"].get("meta", {}).get("detector") == "psi")
    labels = [y for trace in overview["data"] for y in trace["y"]]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in labels


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def test_the_page_may_run_only_its_own_scripts_and_fetch_nothing() -> None:
    page = ReportDocument(render_report_html(summarised_report([AGE, SEX])))
    assert page.csp is not None
    policy = dict(
        (part.split()[0], part.split()[1:]) for part in page.csp.split(";") if part.strip()
    )
    assert policy["default-src"] == ["'none'"]
    executable = [content for attrs, content in page.scripts if attrs.get("type") is None]
    assert sorted(policy["script-src"]) == sorted(_sha256(s) for s in executable)
    assert "connect-src" not in policy  # falls back to default-src 'none'
    # nothing is loaded from anywhere: no src, no stylesheet, links only within the page
    for tag, attrs in page.tags:
        assert "src" not in attrs, (tag, attrs)
        href = attrs.get("href")
        assert href is None or href.startswith("#"), (tag, attrs)
    assert len(page.scripts[1][1]) > 1_000_000  # Plotly itself is in the file


def test_malformed_summaries_and_results_cost_only_themselves() -> None:
    broken_histogram = {**AGE, "histogram": {**AGE["histogram"], "current": [1, 2]}}
    no_rows = {**SEX, "name": "no-rows", "reference": {"missing": 3}}
    data = summarised_report([broken_histogram, no_rows, 17, "x", {"name": ["a"]}])
    data["results"].extend(
        [
            "not a result",
            {"kind": "feature", "feature": "odd", "detector": "psi", "statistic": math.nan,
             "p_value": "small", "threshold": math.inf, "drifted": "yes", "details": [1]},
        ]
    )  # fmt: skip
    page = ReportDocument(render_report_html(data))
    table = page.tables["columns"]
    # age keeps its figures; its chart falls back to nothing the detectors kept
    assert table.cell("age", "mean", "current (reference)").note == "ref 41.2"
    assert all(f["layout"].get("meta", {}).get("column") != "age" for f in page.figures)
    assert table.cell("odd", "statistic", "psi").text == "–"
    assert table.cell("odd", "threshold", "psi").text == "≥ ∞"  # psi's differ: a column
    assert table.cell("age", "threshold", "psi").text == "≥ 0.25"
    assert table.cell("odd", "decision", "psi").text == "ok"  # "yes" is not true
    assert "no-rows" not in [cells[0].text for cells in table.rows]

    for features in (None, "x", {"age": AGE}):
        ReportDocument(render_report_html({**summarised_report([]), "features": features}))


def test_a_run_without_enough_data_says_so() -> None:
    data = report(status="insufficient_data", rows=7).to_dict()
    page = ReportDocument(render_report_html(data))
    assert "The window had 7 rows, too few to check drift" in page.text
    assert "not enough data" in page.text
    assert "columns" not in page.tables


@pytest.mark.parametrize(
    ("monitor", "expected"),
    [
        ("cancer-drift", "driftscope-cancer-drift-20240601-120000.html"),
        ('a"b/../c\r\nd', "driftscope-a_b_.._c_d-20240601-120000.html"),
        ("", "driftscope-report-20240601-120000.html"),
    ],
)
def test_the_file_name_is_safe_in_a_header_and_a_folder(monitor: str, expected: str) -> None:
    data = report(monitor="x", at=datetime(2024, 6, 1, 12, 0, tzinfo=UTC)).to_dict()
    name = report_file_name({**data, "monitor": monitor})
    assert name == expected
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", name)
