"""The dashboard's pages under ``streamlit.testing.v1.AppTest`` against a live API.

The API runs with uvicorn on 127.0.0.1 (a subprocess) over a SQLite store the test fills
through the real runtime (see :mod:`support.dashboard_live`): ``cancer-drift`` drifts in the
second half of its hour, ``cancer-stable`` stays clean, ``cancer-idle`` never ran. The tests
read the Plotly figures the pages build out of the element tree and check their series.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import streamlit as st
import yaml
from streamlit.testing.v1 import AppTest

from support.api_helpers import ServerProcess, free_port
from support.dashboard_live import (
    BACKFILL_DAYS,
    BACKFILL_DRIFT_FROM,
    GAPPY_FEATURE,
    BackfillScenario,
    ColoursScenario,
    LiveScenario,
    build_colours,
    build_history,
    gappy_share,
    start_backfill_api,
    start_live_api,
)

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[1] / "apps" / "dashboard" / "app.py")
API_KEY = "dashboard-test-key"  # the dashboard's key: read scope, as deployments give it
ADMIN_KEY = "dashboard-test-admin-key"  # builds the scene through the API


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> LiveScenario:
    return build_history(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(scope="module")
def live_api(scenario: LiveScenario) -> Iterator[ServerProcess]:
    server = start_live_api(
        scenario, scenario.config.parent, DRIFTSCOPE_API_KEY=ADMIN_KEY, DRIFTSCOPE_READ_KEYS=API_KEY
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sparse_api(scenario: LiveScenario) -> Iterator[ServerProcess]:
    """An API over a second store: one monitor that can never get enough labels, and one
    run of it through the API."""
    folder = scenario.config.parent
    document = yaml.safe_load(scenario.config.read_text(encoding="utf-8"))
    document["store"] = {"type": "sql", "url": f"sqlite:///{folder / 'sparse.db'}"}
    document["monitors"] = [
        {
            "name": "cancer-sparse",
            "model": "cancer",
            "every": "1h",
            "window": {"last": "1h", "min_samples": 20},
            "detectors": [
                {"type": "psi", "threshold": 0.25},
                {
                    "type": "performance",
                    "metric": "accuracy",
                    "max_drop": 0.15,
                    "min_samples": 100_000,
                },
            ],
        }
    ]
    config = folder / "sparse.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    server = ServerProcess(
        {"DRIFTSCOPE_CONFIG": str(config), "DRIFTSCOPE_SCHEDULER": "false"},
        log_path=folder / "sparse-api.log",
    ).start()
    try:
        rows = [
            {f: float(v) for f, v in zip(scenario.features, values, strict=True)}
            for values in _holdout_rows(scenario, 40)
        ]
        with httpx.Client(base_url=server.url, timeout=60) as client:
            client.post("/v1/models/cancer/predict", json={"rows": rows}).raise_for_status()
            client.post("/v1/monitors/cancer-sparse/run").raise_for_status()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def empty_api(scenario: LiveScenario) -> Iterator[ServerProcess]:
    """An API with a model and no monitors."""
    folder = scenario.config.parent
    document = yaml.safe_load(scenario.config.read_text(encoding="utf-8"))
    document["store"] = {"type": "sql", "url": f"sqlite:///{folder / 'empty.db'}"}
    document["monitors"] = []
    document.pop("notifiers", None)
    config = folder / "empty.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    with ServerProcess(
        {"DRIFTSCOPE_CONFIG": str(config), "DRIFTSCOPE_SCHEDULER": "false"},
        log_path=folder / "empty-api.log",
    ) as server:
        yield server


@pytest.fixture(scope="module")
def backfill_api(scenario: LiveScenario) -> Iterator[BackfillScenario]:
    """An API whose monitor was backfilled over last week through the API, then run once."""
    made = start_backfill_api(scenario, scenario.config.parent)
    yield made
    made.server.stop()


def api_reports(url: str, monitor: str, key: str | None = None) -> list[dict[str, Any]]:
    """The oracle: a monitor's reports as the API answers them in full, oldest window first."""
    headers = {"X-API-Key": key} if key else {}
    listed = httpx.get(
        f"{url}/v1/monitors/{monitor}/reports",
        params={"limit": 500},
        headers=headers,
        timeout=60,
    ).json()["reports"]
    return sorted(listed, key=lambda r: datetime.fromisoformat(r["window"]["end"]))


def of(report: dict[str, Any], detector: str, feature: str | None = None) -> dict[str, Any]:
    """The result of ``detector`` (on ``feature``) in one report."""
    return next(
        r
        for r in report["results"]
        if r["detector"] == detector and (feature is None or r["feature"] == feature)
    )


def times(values: list[str]) -> list[datetime]:
    """A figure's x values (ISO text, as Plotly's JSON has them) as aware datetimes."""
    out = []
    for value in values:
        moment = datetime.fromisoformat(value)
        out.append(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return out


def _holdout_rows(scenario: LiveScenario, count: int) -> list[list[float]]:
    from support.api_helpers import demo_rows

    rows = demo_rows(scenario.config.parent, count)
    return [[row[f] for f in scenario.features] for row in rows]


@pytest.fixture(autouse=True)
def _served_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The dashboard listens on loopback, as `driftscope dashboard` does by default (a
    dashboard served on other addresses must have a sign-in); no password unless a test
    sets one."""
    monkeypatch.delenv("DRIFTSCOPE_DASHBOARD_PASSWORD_HASH", raising=False)
    before = st.get_option("server.address")
    st.config.set_option("server.address", "127.0.0.1")
    yield
    st.config.set_option("server.address", before)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def run_page(
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    page: str | None = None,
    *,
    key: str | None = None,
    query: dict[str, str] | None = None,
) -> AppTest:
    monkeypatch.setenv("DRIFTSCOPE_API_URL", url)
    if key is None:
        monkeypatch.delenv("DRIFTSCOPE_API_KEY", raising=False)
    else:
        monkeypatch.setenv("DRIFTSCOPE_API_KEY", key)
    at = AppTest.from_file(APP, default_timeout=60)
    if page is not None:
        at.switch_page(f"views/{page}.py")
    for name, value in (query or {}).items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def figures(at: AppTest) -> list[dict[str, Any]]:
    """Every Plotly figure on the page, as the JSON Streamlit sends the browser."""
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def trace_names(figure: dict[str, Any]) -> list[str]:
    return [t.get("name") for t in figure["data"]]


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for kind in ("info", "success", "warning", "error") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


# -- Overview ----------------------------------------------------------------------------------


def test_overview_states_cards_and_firing_alerts(
    live_api: ServerProcess, scenario: LiveScenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(monkeypatch, live_api.url, key=API_KEY)
    assert not at.error, [e.value for e in at.error]
    text = texts(at)
    assert "#### cancer-drift :red-badge[:material/notifications_active: Alert firing]" in text
    assert "#### cancer-stable :green-badge[:material/check_circle: OK]" in text
    assert "#### cancer-idle :gray-badge[:material/hourglass_empty: No data]" in text
    assert "No reports in this range yet" in text
    # the state counters: one firing (and so drifting too), one ok, one without data
    counters = {m.label: m.value for m in at.metric if m.proto.show_border}
    assert sorted(counters.values()) == ["0", "1", "1", "1", "1"], counters
    assert any("Alert firing" in label and value == "1" for label, value in counters.items())
    assert any("Drifting" in label and value == "1" for label, value in counters.items())
    assert any("OK" in label and value == "1" for label, value in counters.items())
    assert any("No data" in label and value == "1" for label, value in counters.items())
    # the alerts firing now name the drifting features
    assert "**cancer-drift**" in text
    for feature in scenario.drifting[:3]:
        assert f"{feature} · ks, psi" in text
    # model health from /v1/models/cancer/stats
    predictions = next(m.value for m in at.metric if m.label == "Predictions")
    assert int(predictions.replace(",", "")) > 1000
    labelled = next(m.value for m in at.metric if m.label == "Labelled")
    assert labelled.endswith("%") and 50 <= int(labelled[:-1]) <= 90
    assert next(m.value for m in at.metric if m.label == "Latency p50").endswith(" ms")
    # the last run's drift of the features together and its data-quality flags, said apart
    assert ":orange[**Also drifting:** the features together (domain_classifier)" in text
    assert ":red[**Data quality:** " in text and "(out of reference range)" in text
    drift_card, stable_card = [m.value for m in at.metric if m.label == "Features drifting"]
    assert int(drift_card.split(" / ")[0]) >= len(scenario.drifting)
    assert drift_card.endswith(f" / {len(scenario.features)}")
    assert stable_card == f"0 / {len(scenario.stable)}"


# -- Monitor -----------------------------------------------------------------------------------


def test_monitor_page_draws_heatmap_lines_comparisons_prediction_and_performance(
    live_api: ServerProcess, scenario: LiveScenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(
        monkeypatch, live_api.url, "monitor", key=API_KEY, query={"monitor": "cancer-drift"}
    )
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="monitor").value == "cancer-drift"
    text = texts(at)
    assert "# cancer-drift :red-badge[:material/notifications_active: Alert firing]" in text
    figs = figures(at)
    kinds = [[t["type"] for t in f["data"]] for f in figs]

    # the feature × time heatmap: every feature, one column per run, the drifting ones on top
    heatmap = next(f for f, k in zip(figs, kinds, strict=True) if k == ["heatmap"])
    (cells,) = heatmap["data"]
    assert len(cells["y"]) == len(scenario.features)
    assert len(cells["x"]) == 13  # 12 runs from the history and one through the API
    assert set(cells["y"][:5]) == set(scenario.drifting)
    top = cells["z"][0]
    assert all(v >= 1 for v in top[-6:]) and all(v < 1 for v in top[:6])
    stable_row = cells["y"].index(scenario.stable[0])
    assert all(v is None or v < 1 for v in cells["z"][stable_row])

    # drift over time: one chart per detector, a series per chosen feature and the threshold
    outputs = {"prediction", "probability:1"}
    lines = [f for f in figs if "threshold" in trace_names(f) and "drifted" in trace_names(f)]
    by_detector = {
        f["layout"]["meta"]["detector"]: f for f in lines if not outputs & set(trace_names(f))
    }
    assert set(by_detector) == {"ks", "psi", "quality"}
    psi = by_detector["psi"]
    assert psi["layout"]["yaxis"]["title"]["text"] == "statistic (drift above the line)"
    psi_names = trace_names(psi)
    assert set(scenario.drifting) <= set(psi_names)
    threshold = psi["data"][psi_names.index("threshold")]
    assert threshold["y"] == [0.25, 0.25]
    radius = psi["data"][psi_names.index("mean radius")]
    assert len(radius["y"]) == 13
    assert max(radius["y"][:6]) < 0.25 < min(radius["y"][-6:])
    ks = by_detector["ks"]
    assert ks["layout"]["yaxis"]["type"] == "log"
    assert ks["data"][trace_names(ks).index("threshold")]["y"] == [0.05, 0.05]

    # reference against current of the newest report and its most drifted feature
    assert at.selectbox(key="cmp_feature-cancer-drift").value in scenario.drifting
    feature = at.selectbox(key="cmp_feature-cancer-drift").value
    compare = [f for f in figs if trace_names(f)[:2] == ["reference", "current"]]
    shapes = {tuple(t["type"] for t in f["data"][:2]) for f in compare}
    assert ("scatter", "scatter") in shapes  # the KS ECDFs
    assert ("bar", "bar") in shapes  # the PSI bins
    ecdf = next(f for f in compare if f["data"][0]["type"] == "scatter")
    assert ecdf["layout"]["xaxis"]["title"]["text"] in (feature, "probability:1")
    assert len(ecdf["data"][0]["x"]) > 10
    bars = next(f for f in compare if f["data"][0]["type"] == "bar")
    assert sum(bars["data"][0]["y"]) == pytest.approx(1.0, abs=1e-6)
    # the numbers in plain lines (st.metric cut them short in a third of the page), each
    # p-value with its correction and raw value
    assert "statistic **" in text and "threshold **0.050**" in text
    assert "p-value **" in text and ":gray[(bonferroni; raw " in text
    assert "reference n = 171 · current n = 100" in text
    assert not [f for f in figs if not f["data"]], "an empty chart"
    # every chart's legend under the plot, clear of Plotly's toolbar
    assert all(f["layout"]["legend"]["yref"] == "container" for f in figs)

    # the prediction's own drift
    prediction = [f for f in lines if {"prediction", "probability:1"} & set(trace_names(f))]
    assert prediction, "no chart of the prediction's drift"
    assert any(m.label == "Output" for m in at.selectbox)

    # performance against the reference and the limit
    performance = next(
        f for f in figs if "reference" in trace_names(f) and "Accuracy" in trace_names(f)
    )
    names = trace_names(performance)
    assert names[0] == "Accuracy" and names[2].startswith("limit")
    accuracy = performance["data"][0]["y"]
    limit = performance["data"][2]["y"][0]
    assert min(accuracy[:6]) > limit > max(accuracy[-6:])
    assert next(m for m in at.metric if m.label == "Accuracy").delta.endswith("vs reference")

    # what the API says the runs found (the oracle), oldest window first
    runs = api_reports(live_api.url, "cancer-drift", API_KEY)
    assert len(runs) == 13

    # the features together: the domain classifier's AUC in every run against each run's
    # threshold, drifting exactly in the runs the API says
    (together,) = [f for f in figs if f["layout"].get("meta", {}).get("kind") == "multivariate"]
    names = trace_names(together)
    auc = together["data"][names.index("domain_classifier AUC")]
    found = [of(r, "domain_classifier") for r in runs]
    assert auc["y"] == pytest.approx([r["statistic"] for r in found])
    assert times(auc["x"]) == [datetime.fromisoformat(r["window"]["end"]) for r in runs]
    threshold_line = together["data"][names.index(next(n for n in names if "threshold" in n))]
    assert threshold_line["y"][-1] == pytest.approx(found[-1]["threshold"])
    assert [r["drifted"] for r in found] == [False] * 6 + [True] * 7  # drifted from the 7th
    # and where: the newest run's ranking, largest first, as the API's details give it
    (where,) = [f for f in figs if f["layout"].get("meta", {}).get("kind") == "ranking"]
    ranked = [e for e in found[-1]["details"]["ranking"] if e["importance"] > 0][:15]
    bars = {y: x for trace in where["data"] for y, x in zip(trace["y"], trace["x"], strict=True)}
    assert [e["feature"] for e in ranked] == [
        f for f in reversed(where["layout"]["yaxis"]["categoryarray"]) if f in bars
    ][: len(ranked)]
    for entry in ranked:
        assert bars[entry["feature"]] == pytest.approx(entry["importance"])
    assert set(bars) & set(scenario.drifting)  # the change is where the drift was made
    flagged = next(t for t in where["data"] if t["name"] == "flagged by a per-feature test")
    assert set(flagged["y"]) <= set(scenario.drifting) | set(scenario.features)
    assert "carried by " in text and "learned from the reference's own halves" in text

    # estimated performance: per metric the estimate with its band, the realized value
    # where the window had labels, the reference and the limit
    estimates = {
        f["layout"]["meta"]["metric"]: f
        for f in figs
        if f["layout"].get("meta", {}).get("detector") == "cbpe"
    }
    assert set(estimates) == {"roc_auc", "accuracy"}
    for metric, fig in estimates.items():
        names = trace_names(fig)
        label = {"roc_auc": "ROC AUC", "accuracy": "Accuracy"}[metric]
        assert names == [
            "band upper",
            "band: ± 3 SE at the window's size",
            f"estimated {label}",
            f"realized {label}",
            "reference",
            "limit (−15%)",
        ]
        results = [of(r, "cbpe", metric) for r in runs]
        upper, lower, line, realized = fig["data"][:4]
        assert line["y"] == pytest.approx([r["statistic"] for r in results])
        assert upper["y"] == pytest.approx([r["details"]["upper"] for r in results])
        assert lower["y"] == pytest.approx([r["details"]["lower"] for r in results])
        assert lower["fill"] == "tonexty"
        assert realized["y"] == pytest.approx([r["details"]["realized"] for r in results])
        reference = fig["data"][4]["y"][0]
        assert reference == pytest.approx(results[-1]["details"]["reference_value"])
        assert fig["data"][5]["y"][0] == pytest.approx(results[-1]["threshold"])
    assert "Estimated before labels arrive" in text
    assert "± 3 standard errors of ROC AUC at each window's size" in text
    # a link to every feature of the chosen run
    (link,) = [p for p in at.get("page_link") if "Every feature of this run" in p.proto.label]
    assert "features" in link.proto.page


def test_monitor_page_offers_the_chosen_run_as_an_html_download(
    live_api: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    from driftscope.apps.dashboard.client import ApiClient, ApiError
    from driftscope.apps.dashboard.report_download import file_name

    at = run_page(
        monkeypatch, live_api.url, "monitor", key=API_KEY, query={"monitor": "cancer-drift"}
    )
    (button,) = at.get("download_button")
    assert button.proto.label == "Download this run as HTML"
    assert "without a network" in button.proto.help
    chosen = at.selectbox(key="cmp_report-cancer-drift").value
    # pressed, the button fetches the API's file of that run with the dashboard's read key
    # (the browser test presses it), under the name the API gives the file
    client = ApiClient(live_api.url, API_KEY)
    assert f"Run {chosen}" in client.download(f"/v1/reports/{chosen}/html").decode()
    report = client.get(f"/v1/reports/{chosen}")
    answer = httpx.get(
        f"{live_api.url}/v1/reports/{chosen}/html", headers={"X-API-Key": API_KEY}, timeout=60
    )
    assert answer.headers["content-disposition"] == f'attachment; filename="{file_name(report)}"'
    with pytest.raises(ApiError) as refused:
        client.download("/v1/reports/0f0f/html")
    assert refused.value.status == 404 and "unknown report '0f0f'" in refused.value.message


def test_monitor_page_of_a_stable_monitor(
    live_api: ServerProcess, scenario: LiveScenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(
        monkeypatch, live_api.url, "monitor", key=API_KEY, query={"monitor": "cancer-stable"}
    )
    assert "# cancer-stable :green-badge[:material/check_circle: OK]" in texts(at)
    (heatmap,) = [f for f in figures(at) if f["data"][0]["type"] == "heatmap"]
    assert sorted(heatmap["data"][0]["y"]) == sorted(scenario.stable)
    assert all(v < 1 for row in heatmap["data"][0]["z"] for v in row if v is not None)
    assert "This monitor has no performance detector" in texts(at)


def test_monitor_without_reports_says_what_to_do(
    live_api: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(
        monkeypatch, live_api.url, "monitor", key=API_KEY, query={"monitor": "cancer-idle"}
    )
    assert not figures(at)
    (info,) = at.info
    assert info.value.startswith("No reports for cancer-idle in the last 24h.")
    assert "POST /v1/models/cancer/predict" in info.value and "Run now" in info.value


def test_monitor_without_enough_labels_says_what_to_do(
    sparse_api: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(monkeypatch, sparse_api.url, "monitor")
    assert at.selectbox(key="monitor").value == "cancer-sparse"
    notes = [i.value for i in at.info]
    assert any(
        n.startswith("Not enough labelled rows yet to measure accuracy")
        and "POST /v1/models/cancer/feedback" in n
        for n in notes
    ), notes
    assert any(f["data"][0]["type"] == "heatmap" for f in figures(at))
    assert next(m for m in at.metric if m.label == "Performance").value == "-"


# -- Features and Data quality ------------------------------------------------------------------


def test_features_page_table_filters_and_distribution(
    live_api: ServerProcess, scenario: LiveScenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(
        monkeypatch, live_api.url, "features", key=API_KEY, query={"monitor": "cancer-drift"}
    )
    assert not at.error, [e.value for e in at.error]
    frame = at.dataframe[0].value
    columns = list(frame.columns)
    for name in ("feature", "kind", "drifted", "ks p-value", "ks threshold", "ks decision"):
        assert name in columns
    assert {"psi statistic", "reference mean", "current mean", "current std", "missing"} <= set(
        columns
    )
    outputs = {"prediction", "probability:1"}
    assert set(frame["feature"]) == set(scenario.features) | outputs
    drifting = frame[frame["drifted"]]["feature"].tolist()
    assert set(scenario.drifting) <= set(drifting)
    assert frame["feature"].tolist()[: len(drifting)] == drifting  # drifting rows first
    radius = frame[frame["feature"] == "mean radius"].iloc[0]
    assert radius["ks decision"] == "drift" and radius["current mean"] > radius["reference mean"]
    # where the domain classifier saw the change, and the quality detector's decision
    assert columns[3] == "domain_classifier share of change" and "quality decision" in columns
    newest = api_reports(live_api.url, "cancer-drift", API_KEY)[-1]
    shares = dict(zip(frame["feature"], frame["domain_classifier share of change"], strict=True))
    for entry in of(newest, "domain_classifier")["details"]["ranking"]:
        assert shares[entry["feature"]] == pytest.approx(100 * entry["importance"])
    quality = of(newest, "quality", "mean radius")
    if quality["drifted"]:
        assert radius["quality decision"].startswith("flagged: out of range +")
    # filtering
    at.text_input(key="feature_filter-cancer-drift").set_value("radius").run()
    assert set(at.dataframe[0].value["feature"]) == {"mean radius", "radius error", "worst radius"}
    at.text_input(key="feature_filter-cancer-drift").set_value("").run()
    at.toggle(key="only_drifting-cancer-drift").set_value(True).run()
    assert set(at.dataframe[0].value["feature"]) == set(drifting)
    # the distribution of one feature beside its drift over time
    figs = figures(at)
    (dist,) = [f for f in figs if f["layout"].get("meta", {}).get("kind") == "numeric"]
    names = trace_names(dist)
    assert names[0] == "reference (n = 171)" and names[1].startswith("current (n = ")
    assert sum(dist["data"][0]["y"]) <= 1.0 + 1e-9
    over_time = [f for f in figs if "threshold" in trace_names(f)]
    assert over_time and over_time[0]["layout"]["shapes"]  # the shown run is marked
    text = texts(at)
    assert "p-values corrected with bonferroni" in text
    # an older run, from the history: its window missed a value in every 12th row
    older = at.selectbox(key="run").options[1]
    at.selectbox(key="run").set_value(older).run()
    frame = at.dataframe[0].value
    at.toggle(key="only_drifting-cancer-drift").set_value(False).run()
    frame = at.dataframe[0].value
    gappy = frame[frame["feature"] == GAPPY_FEATURE].iloc[0]
    assert gappy["missing"] == pytest.approx(100 * gappy_share())  # shown in percent


def test_data_quality_page_over_time(
    live_api: ServerProcess, scenario: LiveScenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(
        monkeypatch, live_api.url, "quality", key=API_KEY, query={"monitor": "cancer-drift"}
    )
    assert not at.error, [e.value for e in at.error]
    figs = {
        f["layout"]["meta"]["measure"]: f for f in figures(at) if "measure" in f["layout"]["meta"]
    }
    missing = figs["missing"]
    assert trace_names(missing) == [GAPPY_FEATURE, "flagged by the quality detector"]
    shares = missing["data"][0]["y"]
    assert len(shares) == 13 and max(shares) == pytest.approx(gappy_share())
    assert shares[0] == 0 and shares[-1] == 0  # stable first, and the API's batch is whole
    # the drifted features moved past the reference's range
    assert set(scenario.drifting[:3]) <= set(trace_names(figs["out_of_range"]))
    assert "infinite" not in figs
    successes = [s.value for s in at.success]
    assert any(s.startswith("None in any of") for s in successes)
    tables = {tuple(frame.value.columns): frame.value for frame in at.dataframe}
    (last_run,) = [t for cols, t in tables.items() if "rows" in cols]
    assert last_run.shape[0] == len(scenario.features) + 2

    # the quality detector's decisions: the gappy column flagged on "missing" in the
    # drifted runs of the history (ringed on the missing chart), and the last run's flags
    # as the API reports them
    runs = api_reports(live_api.url, "cancer-drift", API_KEY)
    (flags,) = [
        f for f in figures(at) if f["layout"].get("meta", {}).get("kind") == "quality flags"
    ]
    missing_flags = next(t for t in flags["data"] if t["name"] == "missing")
    assert set(missing_flags["y"]) == {GAPPY_FEATURE}
    expected = [
        datetime.fromisoformat(r["window"]["end"])
        for r in runs
        if of(r, "quality", GAPPY_FEATURE)["drifted"]
    ]
    assert times(missing_flags["x"]) == expected and len(expected) == 6
    ring = next(t for t in missing["data"] if t["name"] == "flagged by the quality detector")
    assert times(ring["x"]) == expected
    assert ring["y"] == pytest.approx([gappy_share()] * 6)
    newest = runs[-1]
    flagged_now = {
        r["feature"]: r["details"]["worst"]
        for r in newest["results"]
        if r["detector"] == "quality" and r["drifted"]
    }
    assert flagged_now and set(flagged_now.values()) == {"out_of_range"}
    (flagged_table,) = [t for cols, t in tables.items() if "check" in cols]
    assert set(flagged_table["feature"]) == set(flagged_now)
    assert set(flagged_table["check"]) == {"out of reference range"}
    first = flagged_table.iloc[0]
    detail = of(newest, "quality", first["feature"])["details"]["checks"]["out_of_range"]
    assert first["window"] == pytest.approx(100 * detail["current"])
    assert first["increase"] == pytest.approx(100 * detail["increase"])
    decisions = dict(zip(last_run["feature"], last_run["quality detector"], strict=True))
    assert {f for f, d in decisions.items() if d.startswith("flagged")} == set(flagged_now)
    assert decisions[GAPPY_FEATURE] == "ok"  # the API's batch is whole


def test_a_backfilled_week_is_drawn_where_its_windows_end(
    backfill_api: BackfillScenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = backfill_api.server.url
    runs = api_reports(url, "cancer-backfill")
    assert [r["backfilled"] for r in runs] == [True] * BACKFILL_DAYS + [False]
    ends = [datetime.fromisoformat(r["window"]["end"]) for r in runs]
    assert ends[:BACKFILL_DAYS] == backfill_api.ends  # the times the backfill asked for
    made = [datetime.fromisoformat(r["created_at"]) for r in runs]
    assert max(made) - min(made) < timedelta(hours=1) < ends[-1] - ends[0]

    at = run_page(monkeypatch, url, "monitor", query={"monitor": "cancer-backfill"})
    assert not at.error, [e.value for e in at.error]
    text = texts(at)
    assert f"⟲ {BACKFILL_DAYS} of these runs were backfilled" in text
    figs = figures(at)
    # every time axis places each run at its window's end: a week, not a few seconds
    (heatmap,) = [f for f in figs if f["data"][0]["type"] == "heatmap"]
    assert times(heatmap["data"][0]["x"]) == ends
    (together,) = [f for f in figs if f["layout"].get("meta", {}).get("kind") == "multivariate"]
    auc = next(t for t in together["data"] if t["name"] == "domain_classifier AUC")
    assert times(auc["x"]) == ends
    drifted = [of(r, "domain_classifier")["drifted"] for r in runs]
    assert drifted == [False] * BACKFILL_DRIFT_FROM + [True] * (len(runs) - BACKFILL_DRIFT_FROM)
    measured = next(f for f in figs if "Accuracy" in trace_names(f))
    assert times(measured["data"][0]["x"]) == ends
    estimate = next(f for f in figs if "estimated Accuracy" in trace_names(f))
    line = estimate["data"][trace_names(estimate).index("estimated Accuracy")]
    assert times(line["x"]) == ends
    # the backfilled stretch is shaded, once in the legend, from its first window's start
    # to its last window's end; the run made as usual is outside it
    lines = next(f for f in figs if f["layout"].get("meta", {}).get("detector") == "psi")
    (shade,) = [s for s in lines["layout"]["shapes"] if s.get("name") == "backfilled runs"]
    first_start = datetime.fromisoformat(runs[0]["window"]["start"])
    assert times([shade["x0"], shade["x1"]]) == [first_start, ends[BACKFILL_DAYS - 1]]
    assert shade["showlegend"] is True
    # where runs are listed, the backfilled ones say so
    options = at.selectbox(key="cmp_report-cancer-backfill").options
    marked = [o for o in options if "⟲ backfilled" in o]
    assert len(marked) == BACKFILL_DAYS and len(options) == BACKFILL_DAYS + 1
    assert options[0] == options[0].split(" · ⟲")[0]  # the newest, made as usual

    # the Features page lists the runs the same way and says which one it shows
    at = run_page(monkeypatch, url, "features", query={"monitor": "cancer-backfill"})
    assert "⟲ backfilled" not in texts(at)  # the newest run, made as usual
    at.selectbox(key="run").set_value(runs[2]["id"]).run()
    assert "⟲ backfilled" in texts(at)
    assert sum("⟲ backfilled" in o for o in at.selectbox(key="run").options) == BACKFILL_DAYS


@pytest.fixture(scope="module")
def colours_api(scenario: LiveScenario) -> Iterator[tuple[ServerProcess, ColoursScenario]]:
    """An API over a store with one run of a model with a categorical feature."""
    made = build_colours(scenario.config.parent)
    with ServerProcess(
        {"DRIFTSCOPE_CONFIG": str(made.config), "DRIFTSCOPE_SCHEDULER": "false"},
        log_path=made.config.parent / "colours-api.log",
    ) as server:
        yield server, made


def test_categorical_features_unseen_categories_and_one_run(
    colours_api: tuple[ServerProcess, ColoursScenario], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, made = colours_api
    # the monitor page: chi-square is named, not drawn empty, when only x is chosen
    at = run_page(monkeypatch, server.url, "monitor")
    at.multiselect(key="line_features-colours-drift").set_value(["x"]).run()
    assert not at.exception
    assert all(f["data"] for f in figures(at)), "an empty chart"
    assert "**CHI2** scores none of the chosen features; it scores colour" in texts(at)
    lines = [f for f in figures(at) if "threshold" in trace_names(f)]
    for fig in lines:  # one run: a readable time axis, not a few milliseconds
        low, high = (datetime.fromisoformat(v) for v in fig["layout"]["xaxis"]["range"])
        assert high - low >= timedelta(minutes=10)

    # the features page: unseen share, and paired bars with the unseen category
    at = run_page(monkeypatch, server.url, "features", query={"feature": "colour"})
    frame = at.dataframe[0].value
    colour = frame[frame["feature"] == "colour"].iloc[0]
    assert colour["kind"] == "categorical"
    assert colour["unseen"] == pytest.approx(100 * made.unseen / made.rows)
    assert colour["missing"] == pytest.approx(100 * made.missing_colour / made.rows)
    assert colour["chi2 decision"] == "drift"
    x = frame[frame["feature"] == "x"].iloc[0]
    assert x["missing"] == pytest.approx(100 * made.missing_x / made.rows)
    assert x["out of range"] > 0
    (bars,) = [f for f in figures(at) if f["layout"].get("meta", {}).get("kind") == "categorical"]
    assert bars["data"][0]["x"][-1] == "(unseen)"
    assert bars["data"][1]["y"][-1] == pytest.approx(
        made.unseen / (made.rows - made.missing_colour)
    )
    assert "p-values corrected with fdr" in texts(at)

    # the data-quality page: every measure, from the one run
    at = run_page(monkeypatch, server.url, "quality")
    figs = {f["layout"]["meta"]["measure"]: f for f in figures(at)}
    assert set(figs) == {"missing", "infinite", "out_of_range", "unseen"}
    assert figs["unseen"]["data"][0]["name"] == "colour"
    assert figs["unseen"]["data"][0]["y"] == [pytest.approx(made.unseen / made.rows)]
    assert figs["infinite"]["data"][0]["y"] == [pytest.approx(made.infinite_x / made.rows)]


# -- Alerts ------------------------------------------------------------------------------------


def test_alerts_page_history_and_delivery(
    live_api: ServerProcess, scenario: LiveScenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(monkeypatch, live_api.url, "alerts", key=API_KEY)
    assert not at.error, [e.value for e in at.error]
    counts = {m.label.split(" ")[-1]: m.value for m in at.metric}
    assert int(counts["Firing]"]) >= len(scenario.drifting)
    (timeline,) = figures(at)
    names = trace_names(timeline)
    assert "firing" in names
    firing = timeline["data"][names.index("firing")]
    assert any(y == f"cancer-drift · {scenario.drifting[0]} · psi" for y in firing["y"])
    # by their columns, not their place: a table of waiting messages shows while any wait
    tables = {tuple(frame.value.columns): frame.value for frame in at.dataframe}
    (active,) = [t for cols, t in tables.items() if "state" in cols and "alert" in cols]
    (history,) = [t for cols, t in tables.items() if "change" in cols]
    assert set(active["state"]) == {"firing"}
    assert f"{scenario.drifting[0]} · ks" in set(active["alert"])
    assert "ok → firing" in set(history["change"])
    # delivery per notifier, from /readyz
    text = texts(at)
    assert "**console** · log" in text
    sent = [m for m in at.metric if m.label == "Sent"]
    assert sent and int(sent[0].value) >= 1


def test_alerts_page_without_alerts(
    empty_api: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(monkeypatch, empty_api.url, "alerts")
    assert [s.value for s in at.success] == ["Nothing is firing, pending or out of data."]
    assert any(i.value.startswith("No state changes in this range.") for i in at.info)
    assert not figures(at)


# -- empty and error states --------------------------------------------------------------------


def test_no_monitors_says_what_to_do(
    empty_api: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(monkeypatch, empty_api.url)
    assert any(i.value.startswith("No monitors configured yet.") for i in at.info)
    assert [s.value for s in at.success] == ["No alerts firing."]
    at = run_page(monkeypatch, empty_api.url, "monitor")
    assert any(i.value.startswith("No monitors configured yet.") for i in at.info)


@pytest.mark.parametrize(
    ("page", "path"),
    [(None, "/v1/monitors"), ("monitor", "/v1/monitors"), ("alerts", "/v1/alerts")],
)
def test_unreachable_api_is_one_line_with_the_url(
    page: str | None, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    at = run_page(monkeypatch, url, page)
    (error,) = at.error
    assert error.value.startswith(f"Cannot reach the driftscope API at {url}{path}:")
    assert "\n" not in error.value
    assert not figures(at)


def test_a_wrong_api_key_is_one_line_with_the_status(
    live_api: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(monkeypatch, live_api.url, key="not-the-key")
    (error,) = at.error
    assert error.value == (
        f"The driftscope API at {live_api.url}/v1/monitors answered 401: a valid API key is "
        "required. Check DRIFTSCOPE_API_KEY."
    )


def test_time_range_and_auto_refresh(
    live_api: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(
        monkeypatch, live_api.url, "monitor", key=API_KEY, query={"monitor": "cancer-drift"}
    )
    (full,) = [f for f in figures(at) if f["data"][0]["type"] == "heatmap"]
    at.selectbox(key="time_range").set_value("1h").run()
    assert not at.exception
    assert "run(s) in the last 1h" in texts(at)
    (recent,) = [f for f in figures(at) if f["data"][0]["type"] == "heatmap"]
    assert len(recent["data"][0]["x"]) < len(full["data"][0]["x"])
    at.toggle(key="auto_refresh").set_value(True).run()
    assert not at.exception
    assert at.selectbox(key="refresh_every").value == "30 s"
    assert any(f["data"][0]["type"] == "heatmap" for f in figures(at))


# -- sign-in -----------------------------------------------------------------------------------

PASSWORD = "correct horse battery staple"


def scrypt_hash(password: str, salt: bytes = b"sixteen byte salt"[:16]) -> str:
    """The stored form, built from hashlib alone (the oracle for driftscope.core.auth)."""
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    return f"scrypt:{2**14}:8:1:{b64(salt)}:{b64(digest)}"


def shows_data(at: AppTest) -> bool:
    return "cancer-drift" in texts(at) or bool(at.metric)


def every_text(at: AppTest) -> str:
    parts = [texts(at)]
    parts += [str(e.proto) for kind in ("button", "text_input") for e in at.get(kind)]
    return "\n".join(parts)


def test_a_public_dashboard_asks_for_the_password(
    live_api: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    st.config.set_option("server.address", "0.0.0.0")
    monkeypatch.setenv("DRIFTSCOPE_DASHBOARD_PASSWORD_HASH", scrypt_hash(PASSWORD))
    at = run_page(monkeypatch, live_api.url, key=API_KEY)
    assert not shows_data(at)
    (field,) = at.text_input
    assert field.label == "Password"
    field.set_value("correct horse battery stapler")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong password."]
    assert not shows_data(at)
    at.text_input[0].set_value(PASSWORD)
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "#### cancer-drift" in texts(at)
    assert not at.text_input  # the form is gone
    assert API_KEY not in every_text(at)
    # signing out closes the door again
    at.button(key="sign_out").click().run()
    assert not shows_data(at) and at.text_input[0].label == "Password"


def test_a_deep_link_lands_on_its_page_after_sign_in(
    live_api: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTSCOPE_DASHBOARD_PASSWORD_HASH", scrypt_hash(PASSWORD))
    at = run_page(monkeypatch, live_api.url, "alerts", key=API_KEY)
    assert not shows_data(at) and not figures(at)
    at.text_input[0].set_value(PASSWORD)
    at.button[0].click().run()
    assert any(m.label == "Sent" for m in at.metric)  # the alerts page's delivery cards


def test_a_public_dashboard_without_any_sign_in_shows_nothing(
    live_api: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    st.config.set_option("server.address", "0.0.0.0")
    at = run_page(monkeypatch, live_api.url, key=API_KEY)
    (error,) = at.error
    assert "has no sign-in" in error.value and "driftscope hash-password" in error.value
    assert not shows_data(at) and not at.text_input


def test_a_malformed_password_hash_is_named_not_shown(
    live_api: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = "scrypt:1048576:64:1:c2l4dGVlbiBieXRlIHNhbHQ:c2l4dGVlbiBieXRlIHNhbHQc2l4dGVl"
    monkeypatch.setenv("DRIFTSCOPE_DASHBOARD_PASSWORD_HASH", bad)
    at = run_page(monkeypatch, live_api.url, key=API_KEY)
    (error,) = at.error
    assert error.value.startswith("DRIFTSCOPE_DASHBOARD_PASSWORD_HASH is not usable: scrypt N")
    assert bad not in error.value and not shows_data(at)


def test_oidc_login_when_an_identity_provider_is_configured(
    live_api: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTSCOPE_DASHBOARD_PASSWORD_HASH", scrypt_hash(PASSWORD))
    monkeypatch.setenv("DRIFTSCOPE_API_URL", live_api.url)
    monkeypatch.setenv("DRIFTSCOPE_API_KEY", API_KEY)
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["auth"] = {
        "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
        "cookie_secret": "a-test-cookie-secret",
        "client_id": "driftscope",
        "client_secret": "not-used",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
    }
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]  # st.login's button, not the password
    assert not at.text_input and not shows_data(at)
    at.user = {"is_logged_in": True, "name": "Ada Lovelace", "email": "ada@example.org"}
    at.run()
    assert not at.exception and not at.error
    assert "#### cancer-drift" in texts(at)
    assert ":material/person: Ada Lovelace" in [c.value for c in at.sidebar.caption]


def test_run_now_with_the_read_key_is_refused_in_one_line(
    live_api: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(
        monkeypatch, live_api.url, "monitor", key=API_KEY, query={"monitor": "cancer-stable"}
    )
    next(b for b in at.button if b.label == "Run now").click().run()
    (error,) = at.error
    assert error.value == (
        f"The driftscope API at {live_api.url}/v1/monitors/cancer-stable/run answered 403: "
        "this API key has the read scope; this endpoint needs admin. The dashboard's key "
        "(DRIFTSCOPE_API_KEY) does not have that scope."
    )
    assert API_KEY not in error.value
