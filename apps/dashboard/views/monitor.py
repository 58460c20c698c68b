"""Monitor: one monitor's drift over time, which features drift when, reference against
current for one report, the prediction's own drift, and the model's measured performance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from driftscope.apps.dashboard import charts, ui
from driftscope.apps.dashboard.data.alerts import alert_rows, alerts_by_monitor
from driftscope.apps.dashboard.data.catalog import MonitorInfo, monitors
from driftscope.apps.dashboard.data.display import (
    STATE_BADGE_COLORS,
    STATE_ICONS,
    STATE_LABELS,
    format_age,
    metric_label,
)
from driftscope.apps.dashboard.data.drift import (
    DetectorSeries,
    detectors_of,
    drawable,
    drift_series,
    heatmap,
)
from driftscope.apps.dashboard.data.glossary import HEATMAP_HELP, MEASURE_HELP, detector_help
from driftscope.apps.dashboard.data.performance import PerformanceSeries, performance_series
from driftscope.apps.dashboard.data.reports import (
    ReportSummary,
    comparison,
    monitor_state,
    report_features,
    report_label,
    result_numbers,
    results_for_feature,
    sample_line,
    summarize_report,
)
from driftscope.apps.dashboard.data.values import latest_report, sorted_reports
from driftscope.apps.dashboard.report_download import report_download_button

DEFAULT_LINES = 5


def _header(monitor: MonitorInfo, reports: list[Any], alerts: list[Any], more: bool) -> None:
    latest = latest_report(reports)
    state = monitor_state(latest, alerts)
    color = STATE_BADGE_COLORS.get(state, "gray")
    icon = STATE_ICONS.get(state, "")
    st.markdown(f"# {monitor.name} :{color}-badge[{icon} {STATE_LABELS.get(state, state)}]")
    parts = [f"model **{monitor.model}**"]
    if monitor.schedule:
        parts.append(monitor.schedule)
    if monitor.window:
        parts.append(f"window {monitor.window}")
    if monitor.detectors:
        parts.append(f"detectors {', '.join(monitor.detectors)}")
    runs = f"the newest {len(reports)} runs" if more else f"{len(reports)} run(s)"
    parts.append(f"{runs} in the last {ui.time_range()}")
    st.caption(" · ".join(parts))


def _run_now(name: str) -> None:
    if st.button("Run now", icon=":material/play_arrow:", width="stretch"):
        _, error = ui.run_monitor(name)
        if error is not None:
            st.error(error.message, icon=":material/cloud_off:")
        else:
            st.rerun()


def _metrics(latest: Mapping[str, Any], perf: list[PerformanceSeries]) -> ReportSummary:
    summary = summarize_report(latest)
    cols = st.columns(5)
    cols[0].metric(
        "Last run",
        format_age(summary.created_at, short=True),
        border=True,
        help=f"{summary.created_at:%Y-%m-%d %H:%M:%S} UTC" if summary.created_at else None,
    )
    cols[1].metric(
        "Features drifting",
        f"{len(summary.drifted_features)} / {summary.feature_count}",
        border=True,
    )
    cols[2].metric(
        "Window rows",
        f"{summary.rows:,}" if summary.rows is not None else "-",
        delta=f"{summary.labelled_rows:,} labelled" if summary.labelled_rows is not None else None,
        delta_color="off",
        delta_arrow="off",
        border=True,
    )
    cols[3].metric(
        "Prediction",
        "Drifting" if summary.prediction_drifted else "Stable",
        border=True,
        help="Whether the distribution of the model's own output drifted in the last run.",
    )
    latest_perf = next((p for p in perf if p.values), None)
    if latest_perf is not None:
        change = latest_perf.latest_change
        cols[4].metric(
            metric_label(latest_perf.metric),
            f"{latest_perf.values[-1]:.3f}",
            delta=f"{change:+.1%} vs reference" if change is not None else None,
            delta_color="inverse" if latest_perf.lower_is_better else "normal",
            border=True,
            help=detector_help("performance"),
        )
    else:
        cols[4].metric("Performance", "-", border=True, help="Needs labelled rows.")
    return summary


def _status_notes(summary: ReportSummary, model: str) -> None:
    if summary.status == "waiting_for_predictions":
        st.info(
            f"Waiting for the first predictions of `{model}`: send some to "
            f"`POST /v1/models/{model}/predict` (or log outside ones with `/records`). No "
            "alert is raised until traffic has been seen.",
            icon=":material/hourglass_empty:",
        )
    if summary.status == "insufficient_data":
        st.warning(
            f"The last window had {summary.rows or 0} rows, too few to check drift. Send more "
            f"predictions to `POST /v1/models/{model}/predict` or widen the monitor's window.",
            icon=":material/hourglass_empty:",
        )
    if summary.failed:
        with st.expander(
            f":violet[{len(summary.failed)} detector run(s) failed in the last report]"
        ):
            for line in summary.failed:
                st.markdown(f"- {line}")


def _heatmap_section(reports: list[Any], name: str) -> None:
    detectors = detectors_of(reports, "feature")
    if not detectors:
        return
    st.subheader("Which features drift when", help=HEATMAP_HELP)
    detector = (
        st.segmented_control(
            "Detector",
            detectors,
            default=detectors[0],
            key=f"heatmap_detector-{name}",
            required=True,
            help=" ".join(detector_help(d) for d in detectors),
        )
        or detectors[0]
    )
    hm = heatmap(reports, detector)
    if not hm.times:
        st.caption("No results of this detector in the range.")
        return
    st.plotly_chart(charts.heatmap_figure(hm), key="heatmap", config=charts.PLOTLY_CONFIG)
    st.caption(
        "Each cell is one run: green is well inside the threshold, red is past it. "
        "Features that drifted most often are at the top."
    )


def _lines_section(reports: list[Any], name: str) -> None:
    series = drift_series(reports, "feature")
    if not series:
        return
    st.subheader(
        "Drift over time",
        help="One chart per detector: its value in each run for the chosen features, the "
        "dashed line its threshold, red rings the runs it called drift. p-values are drawn on "
        "a log scale (drift below the line), statistics on a linear one (drift above it).",
    )
    ranked: dict[str, None] = {}
    for ds in series.values():
        for feature in ds.ranked_features():
            ranked.setdefault(feature, None)
    names = list(ranked)
    chosen = st.multiselect(
        "Features",
        names,
        default=names[:DEFAULT_LINES],
        key=f"line_features-{name}",
        help="The features that drifted most are chosen first.",
    )
    if not chosen:
        st.caption("Choose features to draw.")
        return
    shown, skipped = drawable(series, chosen)
    for ds in skipped:
        st.caption(
            f"**{ds.detector.upper()}** scores none of the chosen features; it scores "
            f"{', '.join(ds.ranked_features()[:5])}"
            f"{' …' if len(ds.series) > 5 else ''}.",
            help=detector_help(ds.detector),
        )
    for start in range(0, len(shown), 2):
        cols = st.columns(2)
        for col, ds in zip(cols, shown[start : start + 2], strict=False):
            with col:
                _chart_title(ds)
                st.plotly_chart(
                    charts.drift_lines(ds, chosen),
                    key=f"lines-{ds.detector}",
                    config=charts.PLOTLY_CONFIG,
                )


def _chart_title(ds: DetectorSeries) -> None:
    """A drift chart's title line, with what the detector and its measure mean."""
    threshold = f", threshold {ds.threshold:g}" if ds.threshold is not None else ""
    st.markdown(
        f"**{ds.detector.upper()}** · {ds.measure}{threshold}",
        help=f"{detector_help(ds.detector)}\n\n{MEASURE_HELP[ds.measure]}",
    )


def _result_panel(result: Mapping[str, Any], feature: str, key: str) -> None:
    detector = str(result.get("detector", "?"))
    status = str(result.get("status", "ok"))
    with st.container(border=True):
        head, badge = st.columns([3, 1], vertical_alignment="center")
        head.markdown(f"**{detector.upper()}**")
        with badge:
            if status != "ok":
                st.badge(status.replace("_", " "), color="violet" if status == "failed" else "gray")
            elif result.get("drifted"):
                st.badge("drift", color="red", icon=":material/trending_up:")
            else:
                st.badge("ok", color="green", icon=":material/check:")
        if status != "ok":
            st.caption(str(result.get("error") or "No result for this window."))
            return
        comp = comparison(result)
        if comp is not None:
            st.plotly_chart(
                charts.comparison_figure(comp, feature, detector),
                key=key,
                config=charts.PLOTLY_CONFIG,
            )
        # plain lines, not st.metric: three metrics in a third of the page cut numbers short
        st.markdown(
            "  \n".join(
                f"{n.label} **{n.value}**" + (f" :gray[({n.note})]" if n.note else "")
                for n in result_numbers(result)
            ),
            help=detector_help(detector),
        )
        line = sample_line(result)
        if line is not None:
            st.caption(line)


def _compare_section(reports: list[Any], name: str) -> Mapping[str, Any] | None:
    """Reference against current for a chosen report and feature; returns the report."""
    newest_first = list(reversed(sorted_reports(reports)))
    by_id = {str(r.get("id")): r for r in newest_first if report_features(r, "feature")}
    if not by_id:
        return newest_first[0] if newest_first else None
    st.subheader(
        "Reference against current",
        help="What each detector compared in one run: the bins PSI and chi-square count "
        "(shares of rows), or the two cumulative distributions KS measures the largest gap "
        "between. The Features page shows every column's histogram of the run.",
    )
    left, right = st.columns(2)
    report_id = left.selectbox(
        "Report",
        list(by_id),
        format_func=lambda i: report_label(by_id[i]),
        key=f"cmp_report-{name}",
    )
    report = ui.detailed(by_id[str(report_id)])
    report_download_button(report, key=f"download-{name}")
    features = report_features(report, "feature")
    feature = right.selectbox("Feature", features, key=f"cmp_feature-{name}")
    results = results_for_feature(report, str(feature))
    cols = st.columns(max(len(results), 1))
    for i, (col, result) in enumerate(zip(cols, results, strict=False)):
        with col:
            _result_panel(result, str(feature), key=f"cmp-{i}-{result.get('detector')}")
    st.page_link(
        ui.page_path("features"),
        label="Every feature of this run: its table and distributions",
        icon=":material/arrow_forward:",
        query_params={"monitor": name, "run": str(report_id), "feature": str(feature)},
    )
    return report


def _prediction_section(reports: list[Any], report: Mapping[str, Any] | None) -> None:
    series = drift_series(reports, "prediction")
    if not series:
        return
    st.subheader(
        "The prediction's own drift",
        help="The model's output is monitored like a feature: a shift in what it predicts "
        "often shows drift before labels arrive to measure accuracy.",
    )
    st.caption(
        "The distribution of what the model says, against its output on the reference; "
        "the right-hand side shows the report chosen above."
    )
    outputs = report_features(report, "prediction") if report is not None else []
    chart, compare = st.columns([3, 2]) if outputs else (st.container(), None)
    with chart:
        for ds in series.values():
            _chart_title(ds)
            st.plotly_chart(
                charts.drift_lines(ds, ds.ranked_features(), height=300),
                key=f"prediction-{ds.detector}",
                config=charts.PLOTLY_CONFIG,
            )
    if compare is not None and report is not None:
        with compare:
            output = (
                st.selectbox("Output", outputs, key="pred_output")
                if len(outputs) > 1
                else outputs[0]
            )
            for i, result in enumerate(results_for_feature(report, str(output))):
                _result_panel(result, str(output), key=f"pred-{i}-{result.get('detector')}")


def _performance_section(perf: list[PerformanceSeries], model: str) -> None:
    st.subheader("Model performance", help=detector_help("performance"))
    feedback = f"`POST /v1/models/{model}/feedback`"
    if not perf:
        st.info(
            "This monitor has no performance detector. Add one (for example "
            "`{type: performance, metric: accuracy, max_drop: 0.15}`) and send labels with "
            f"{feedback}.",
            icon=":material/insights:",
        )
        return
    for p in perf:
        if not p.values:
            st.info(
                "Not enough labelled rows yet to measure "
                f"{metric_label(p.metric, in_sentence=True)}: {p.skipped} run(s) "
                f"skipped ({p.last_skip_reason}). Send ground-truth labels with {feedback}.",
                icon=":material/label:",
            )
            continue
        st.plotly_chart(
            charts.performance_figure(p),
            key=f"perf-{p.detector}-{p.metric}",
            config=charts.PLOTLY_CONFIG,
        )
        if p.skipped:
            st.caption(f"{p.skipped} run(s) without enough labels are not drawn.")


def render() -> None:
    """Draw the Monitor page."""
    configured = monitors(ui.get("/v1/monitors"))
    if not configured:
        st.title("Monitor")
        st.info(
            "No monitors configured yet. Add a `monitors:` block to the config the API runs "
            "with and restart `driftscope serve`.",
            icon=":material/add_chart:",
        )
        return
    by_name = {m.name: m for m in configured}
    pick, run = st.columns([5, 1], vertical_alignment="bottom")
    name = ui.pick_monitor(list(by_name), pick)
    monitor = by_name[name]
    reports, more = ui.monitor_reports(name)
    alert_payload, _ = ui.try_get("/v1/alerts")
    alerts = alerts_by_monitor(alert_rows(alert_payload)).get(name, [])

    with run:
        _run_now(name)
    _header(monitor, reports, alerts, more)
    latest = latest_report(reports)
    if latest is None:
        schedule = monitor.schedule or "on its schedule"
        st.info(
            f"No reports for {name} in the last {ui.time_range()}. The scheduler runs it "
            f"{schedule} once predictions reach `POST /v1/models/{monitor.model}/predict`; "
            "widen the time range or press Run now.",
            icon=":material/hourglass_empty:",
        )
        return
    latest_full = ui.detailed(latest)
    perf = performance_series(reports, latest_full)
    summary = _metrics(latest, perf)
    _status_notes(summary, monitor.model)
    _heatmap_section(reports, name)
    _lines_section(reports, name)
    chosen = _compare_section(reports, name)
    _prediction_section(reports, chosen)
    _performance_section(perf, monitor.model)


ui.page(render)
