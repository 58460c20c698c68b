"""Monitor: one monitor's drift over time, whether the features moved together and where,
which features drift when, reference against current for one report, the prediction's own
drift, and the model's performance, measured and estimated."""

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
from driftscope.apps.dashboard.data.glossary import (
    BACKFILL_HELP,
    ESTIMATE_HELP,
    HEATMAP_HELP,
    MEASURE_HELP,
    MULTIVARIATE_HELP,
    RANKING_HELP,
    band_help,
    detector_help,
)
from driftscope.apps.dashboard.data.multivariate import (
    MultivariateFinding,
    MultivariateSeries,
    carriers,
    multivariate_findings,
    multivariate_series,
)
from driftscope.apps.dashboard.data.performance import (
    PerformanceSeries,
    headline,
    performance_series,
)
from driftscope.apps.dashboard.data.reports import (
    BackfillSpan,
    ReportSummary,
    backfill_spans,
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
    spans = backfill_spans(reports)
    if spans:
        count = sum(s.runs for s in spans)
        st.caption(
            f":orange[⟲ {count} of these runs were backfilled]: made afterwards over past "
            f"windows from {spans[0].start:%Y-%m-%d %H:%M} to {spans[-1].end:%Y-%m-%d %H:%M} "
            "UTC, drawn where their windows end (shaded on the charts).",
            help=BACKFILL_HELP,
        )


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
    made = f"{summary.created_at:%Y-%m-%d %H:%M:%S} UTC" if summary.created_at else None
    if summary.backfilled and summary.window_end is not None:
        cols[0].metric(
            "Latest window",
            format_age(summary.window_end, short=True),
            delta="backfilled",
            delta_color="off",
            delta_arrow="off",
            border=True,
            help=f"The newest run's window ended {summary.window_end:%Y-%m-%d %H:%M:%S} UTC; "
            f"it was backfilled at {made}.",
        )
    else:
        cols[0].metric(
            "Last run", format_age(summary.created_at, short=True), border=True, help=made
        )
    together = summary.multivariate_drifted
    cols[1].metric(
        "Features drifting",
        f"{len(summary.drifted_features)} / {summary.feature_count}",
        delta="and together" if together else None,
        delta_color="inverse",
        delta_arrow="off",
        border=True,
        help="Features a drift detector flagged in the last run; 'and together' when the "
        f"features also drifted jointly ({', '.join(together) or 'a multivariate detector'}).",
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
    latest_perf = headline(perf)
    if latest_perf is not None:
        change = latest_perf.latest_change
        label = metric_label(latest_perf.metric)
        cols[4].metric(
            f"{label} (estimated)" if latest_perf.estimated else label,
            f"{latest_perf.values[-1]:.3f}",
            delta=f"{change:+.1%} vs reference" if change is not None else None,
            delta_color="inverse" if latest_perf.lower_is_better else "normal",
            border=True,
            help=detector_help(latest_perf.detector),
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


def _heatmap_section(reports: list[Any], name: str, spans: list[BackfillSpan]) -> None:
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
    st.plotly_chart(
        charts.mark_backfilled(charts.heatmap_figure(hm), spans, strip=True),
        key="heatmap",
        config=charts.PLOTLY_CONFIG,
    )
    st.caption(
        "Each cell is one run: green is well inside the threshold, red is past it. "
        "Features that drifted most often are at the top."
    )


def _lines_section(reports: list[Any], name: str, spans: list[BackfillSpan]) -> None:
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
                    charts.mark_backfilled(charts.drift_lines(ds, chosen), spans),
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


def _prediction_section(
    reports: list[Any], report: Mapping[str, Any] | None, spans: list[BackfillSpan]
) -> None:
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
                charts.mark_backfilled(
                    charts.drift_lines(ds, ds.ranked_features(), height=300), spans
                ),
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


def _performance_section(
    perf: list[PerformanceSeries], model: str, spans: list[BackfillSpan]
) -> None:
    detectors = list(dict.fromkeys(p.detector for p in perf)) or ["performance"]
    st.subheader("Model performance", help="\n\n".join(detector_help(d) for d in detectors))
    feedback = f"`POST /v1/models/{model}/feedback`"
    if not perf:
        st.info(
            "This monitor has no performance detector. Add one (for example "
            "`{type: performance, metric: accuracy, max_drop: 0.15}`) and send labels with "
            f"{feedback}, or estimate it before labels arrive with `{{type: cbpe}}` "
            "(classifiers) or `{type: dle}` (regressors).",
            icon=":material/insights:",
        )
        return
    for p in (p for p in perf if not p.estimated):
        if not p.values:
            st.info(
                "Not enough labelled rows yet to measure "
                f"{metric_label(p.metric, in_sentence=True)}: {p.skipped} run(s) "
                f"skipped ({p.last_skip_reason}). Send ground-truth labels with {feedback}.",
                icon=":material/label:",
            )
            continue
        st.plotly_chart(
            charts.mark_backfilled(charts.performance_figure(p), spans),
            key=f"perf-{p.detector}-{p.metric}",
            config=charts.PLOTLY_CONFIG,
        )
        if p.skipped:
            st.caption(f"{p.skipped} run(s) without enough labels are not drawn.")
    estimated = [p for p in perf if p.estimated]
    if not estimated:
        return
    st.markdown("**Estimated before labels arrive**", help=ESTIMATE_HELP)
    for start in range(0, len(estimated), 2):
        cols = st.columns(2)
        for col, p in zip(cols, estimated[start : start + 2], strict=False):
            with col:
                _estimate_chart(p, spans)


def _estimate_chart(p: PerformanceSeries, spans: list[BackfillSpan]) -> None:
    """One estimated metric: its title, the chart with the band and the realized values,
    and a line saying how to read them."""
    label = metric_label(p.metric)
    st.markdown(
        f"**Estimated {label}** · {p.detector}",
        help=f"{detector_help(p.detector)}\n\n{band_help(p.band_sigmas)}",
    )
    if not p.values:
        st.info(
            f"No estimate yet: {p.skipped} run(s) skipped ({p.last_skip_reason}).",
            icon=":material/hourglass_empty:",
        )
        return
    st.plotly_chart(
        charts.mark_backfilled(charts.performance_figure(p, height=300), spans),
        key=f"estimate-{p.detector}-{p.metric}",
        config=charts.PLOTLY_CONFIG,
    )
    sigmas = f"± {p.band_sigmas:g}" if p.band_sigmas is not None else "±"
    realized = (
        f"◆ realized on the labelled rows of {p.realized_runs} of {len(p.values)} run(s)"
        if p.realized_runs
        else "no run had labels yet to check it against"
    )
    if p.outside_band:
        realized += (
            f", outside the band in {p.outside_band}: a change the model's own confidence "
            "does not show (labels that now mean something else), which only labels reveal"
        )
    skipped = f" · {p.skipped} run(s) too small to estimate" if p.skipped else ""
    st.caption(
        f"Shaded: {sigmas} standard errors of {label} at each window's size · {realized}{skipped}"
    )


def _multivariate_section(reports: list[Any], name: str, spans: list[BackfillSpan]) -> None:
    """Whether the features moved together (the domain classifier), and for one run, which
    features carry the change."""
    all_series = multivariate_series(reports)
    if not all_series:
        return
    st.subheader("The features together: did the data move, and where", help=MULTIVARIATE_HELP)
    for series in all_series:
        chart, where = st.columns([3, 2])
        with chart:
            st.markdown(
                f"**{series.detector}** · ROC AUC of telling each window from the reference",
                help=detector_help(series.detector),
            )
            if not series.values:
                st.info(
                    f"No run scored yet: {series.skipped} run(s) skipped "
                    f"({series.last_skip_reason}).",
                    icon=":material/hourglass_empty:",
                )
                continue
            st.plotly_chart(
                charts.mark_backfilled(charts.multivariate_figure(series), spans),
                key=f"multivariate-{series.detector}",
                config=charts.PLOTLY_CONFIG,
            )
            threshold = (
                "its threshold is learned for each window's size"
                if series.threshold_varies
                else "the dashed line is its threshold"
            )
            st.caption(
                f"{series.drift_count} of {len(series.values)} run(s) drifted (red); "
                f"{threshold}; 0.5 means the window cannot be told from the reference."
            )
        with where:
            _ranking_panel(reports, series, name)


def _ranking_panel(reports: list[Any], series: MultivariateSeries, name: str) -> None:
    by_id = {str(r.get("id")): r for r in reports}
    runs = [
        (rid, drifted, value)
        for rid, drifted, value in zip(
            series.report_ids, series.drifted, series.values, strict=True
        )
        if rid in by_id
    ][::-1]
    if not runs:
        return
    facts = {rid: (drifted, value) for rid, drifted, value in runs}

    def label(rid: str) -> str:
        drifted, value = facts[rid]
        return f"{report_label(by_id[rid]).split(' · ')[0]} · AUC {value:.3f}" + (
            " · drift" if drifted else ""
        )

    chosen = str(
        st.selectbox(
            "Where the change is, in the run",
            [rid for rid, _, _ in runs],
            format_func=label,
            key=f"mv_report-{name}-{series.detector}",
            help=RANKING_HELP,
        )
    )
    report = ui.detailed(by_id[chosen])
    finding = next(
        (f for f in multivariate_findings(report) if f.detector == series.detector), None
    )
    if finding is None or not finding.ranking:
        st.caption("This run's result carries no feature ranking.")
        return
    if not any(r.importance > 0 for r in finding.ranking):
        st.caption(
            "The classifier relied on no feature: shuffling any one of them left its AUC "
            "where it was. " + _finding_line(finding)
        )
        return
    flagged = set(summarize_report(report).drifted_features)
    st.plotly_chart(
        charts.ranking_figure(finding.ranking, flagged),
        key=f"ranking-{series.detector}",
        config=charts.PLOTLY_CONFIG,
    )
    unused = sum(1 for r in finding.ranking if r.importance <= 0)
    st.caption(
        _finding_line(finding)
        + (f" · {unused} feature(s) it did not use are left out" if unused else "")
    )


def _finding_line(finding: MultivariateFinding) -> str:
    """The decision of one run in words: the AUC against its threshold and where it came
    from, and the features that carry most of the change."""
    auc, threshold = finding.statistic, finding.threshold
    parts = []
    if auc is not None and threshold is not None:
        relation = "≥" if finding.drifted else "<"
        parts.append(f"AUC {auc:.3f} {relation} threshold {threshold:.3f}")
    if finding.threshold_from == "configured":
        parts.append("threshold configured")
    elif finding.no_drift_mean is not None:
        spread = f" ± {finding.no_drift_std:.3f}" if finding.no_drift_std is not None else ""
        parts.append(
            f"learned from the reference's own halves (no-drift AUC "
            f"{finding.no_drift_mean:.3f}{spread})"
        )
    top = carriers(finding.ranking)
    if top:
        names = ", ".join(f"{r.feature} ({r.importance:.0%})" for r in top[:5])
        more = f" and {len(top) - 5} more" if len(top) > 5 else ""
        parts.append(f"carried by {names}{more}")
    return " · ".join(parts)


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
    spans = backfill_spans(reports)
    summary = _metrics(latest, perf)
    _status_notes(summary, monitor.model)
    _multivariate_section(reports, name, spans)
    _heatmap_section(reports, name, spans)
    _lines_section(reports, name, spans)
    chosen = _compare_section(reports, name)
    _prediction_section(reports, chosen, spans)
    _performance_section(perf, monitor.model, spans)


ui.page(render)
