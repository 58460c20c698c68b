"""Overview: every monitor and model at a glance, and the alerts firing now."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import streamlit as st

from driftscope.apps.dashboard import ui
from driftscope.apps.dashboard.data.alerts import alert_rows, alerts_by_monitor, firing_by_feature
from driftscope.apps.dashboard.data.catalog import MonitorInfo, model_names, monitors
from driftscope.apps.dashboard.data.display import STATE_BADGE_COLORS, STATE_ICONS, STATE_LABELS
from driftscope.apps.dashboard.data.reports import (
    drifted_count_series,
    finding_lines,
    monitor_state,
    state_tallies,
    summarize_report,
)
from driftscope.apps.dashboard.data.stats import ModelHealth, model_health
from driftscope.apps.dashboard.data.values import items, latest_report

REPORTS_PER_MONITOR = 200


def _monitor_card(monitor: MonitorInfo, reports: list[Any], alerts: list[dict[str, Any]]) -> None:
    name = monitor.name
    latest = latest_report(reports)
    state = monitor_state(latest, alerts)
    with st.container(border=True):
        color = STATE_BADGE_COLORS.get(state, "gray")
        icon = STATE_ICONS.get(state, "")
        st.markdown(f"#### {name} :{color}-badge[{icon} {STATE_LABELS.get(state, state)}]")
        parts = [f"model **{monitor.model}**"]
        if monitor.schedule:
            parts.append(monitor.schedule)
        if monitor.window:
            parts.append(f"window {monitor.window}")
        st.caption(" · ".join(parts))
        if latest is None:
            st.markdown(
                ":gray[No reports in this range yet. The scheduler runs the monitor once "
                "predictions arrive; run it now to check the current window.]"
            )
            _run_button(name)
            return
        summary = summarize_report(latest)
        counts = drifted_count_series(reports)
        left, right = st.columns(2)
        left.metric(
            "Features drifting",
            f"{len(summary.drifted_features)} / {summary.feature_count}",
            chart_data=counts if len(counts) > 1 else None,
            chart_type="area",
            help="Drifted features in the last run; the sparkline shows each run in the range.",
        )
        right.metric(
            "Window rows",
            f"{summary.rows:,}" if summary.rows is not None else "-",
            help="Rows in the last run's window (labelled rows in brackets).",
            delta=f"{summary.labelled_rows:,} labelled" if summary.labelled_rows else None,
            delta_color="off",
            delta_arrow="off",
        )
        when = f"last run {ui.when(summary.created_at)}"
        if summary.backfilled and summary.window_end is not None:
            when = f"newest window ends {ui.when(summary.window_end)} · ⟲ backfilled"
        st.caption(f":material/schedule: {when}")
        for line in finding_lines(summary):
            st.markdown(line)
        st.page_link(
            ui.page_path("monitor"),
            label="Open monitor",
            icon=":material/arrow_forward:",
            query_params={"monitor": name},
        )


def _run_button(name: str) -> None:
    if st.button("Run now", key=f"run-{name}", icon=":material/play_arrow:"):
        _, error = ui.run_monitor(name)
        if error is not None:
            st.error(error.message, icon=":material/cloud_off:")
        else:
            st.rerun()


def _model_card(health: ModelHealth, error: str | None) -> None:
    with st.container(border=True):
        st.markdown(f"#### {health.model}")
        if error:
            st.caption(f":red[{error}]")
            return
        if not health.count:
            st.markdown(
                ":gray[No predictions in this range. Send some with "
                f"`POST /v1/models/{health.model}/predict` (or log outside predictions with "
                f"`/records`).]"
            )
            return
        a, b, c, d = st.columns(4)
        a.metric("Predictions", f"{health.count:,}")
        b.metric("Rate", f"{health.per_minute:,.1f}/min" if health.per_minute is not None else "-")
        c.metric(
            "Latency p50",
            f"{health.latency_p50_ms:.1f} ms" if health.latency_p50_ms is not None else "-",
            delta=f"p99 {health.latency_p99_ms:.1f} ms"
            if health.latency_p99_ms is not None
            else None,
            delta_color="off",
            delta_arrow="off",
        )
        d.metric(
            "Labelled",
            f"{health.labelled_share:.0%}" if health.labelled_share is not None else "-",
            delta=f"{health.labelled:,} rows" if health.labelled is not None else None,
            delta_color="off",
            delta_arrow="off",
            help="Share of the range's predictions with a ground-truth label (POST /feedback).",
        )
        if health.last_at is not None:
            st.caption(f":material/schedule: last prediction {ui.when(health.last_at)}")


def _badge_text(feature: str, detectors: list[str]) -> str:
    """``mean radius · ks, psi``, or just ``performance`` when the feature is the detector."""
    if detectors == [feature]:
        return feature
    return f"{feature} · {', '.join(sorted(detectors))}"


def render() -> None:
    """Draw the Overview page."""
    configured = monitors(ui.get("/v1/monitors"))
    models = model_names(ui.get("/v1/models"))
    alert_payload, alert_error = ui.try_get("/v1/alerts")
    alerts = alert_rows(alert_payload) if alert_error is None else []
    by_monitor = alerts_by_monitor(alerts)

    st.title("Overview")
    st.caption(f"{len(configured)} monitor(s) · {len(models)} model(s) · last {ui.time_range()}")
    if not configured:
        st.info(
            "No monitors configured yet. Add a `monitors:` block to the config the API runs "
            "with (see `configs/example.yaml`), check it with `driftscope check CONFIG`, and "
            "restart `driftscope serve`.",
            icon=":material/add_chart:",
        )

    reports = {
        m.name: items(
            ui.get(
                f"/v1/monitors/{m.name}/reports",
                since=ui.since(),
                limit=REPORTS_PER_MONITOR,
                details=False,
            ),
            "reports",
        )
        for m in configured
    }
    firing = [a for a in alerts if a.state in ("firing", "no_data")]

    if configured:
        counts = state_tallies(
            {name: latest_report(rs) for name, rs in reports.items()}, by_monitor
        )
        tallies = st.columns(len(counts))  # ok, drifting, firing, failing, no_data
        for col, (state, count) in zip(tallies, counts.items(), strict=True):
            col.metric(
                f":{STATE_BADGE_COLORS[state]}[{STATE_ICONS[state]} {STATE_LABELS[state]}]",
                count,
                border=True,
                help="Monitors whose last run found drift, whether or not their alert fires."
                if state == "drifting"
                else f"Monitors whose state is {STATE_LABELS[state].lower()}.",
            )

    st.subheader(
        "Alerts firing now",
        help="Per monitor, the features whose alert fires, with the detectors that flagged "
        "them. The Alerts page has the history and how each notifier delivered it.",
    )
    if alert_error is not None:
        st.warning(alert_error.message, icon=":material/cloud_off:")
    elif firing:
        grouped = firing_by_feature(firing)
        since: dict[str, datetime] = {}
        for a in firing:  # the oldest change: how long this monitor has been alerting
            if a.since is not None and (a.monitor not in since or a.since < since[a.monitor]):
                since[a.monitor] = a.since
        for monitor_name, features in grouped.items():
            keys = sum(len(d) for d in features.values())
            with st.container(border=True):
                st.markdown(
                    f":red[:material/notifications_active: **{monitor_name}**] · "
                    f"{keys} alert(s) on {len(features)} feature(s) · since "
                    f"{ui.when(since.get(monitor_name))}"
                )
                st.markdown(
                    " ".join(
                        f":red-badge[{_badge_text(feature, detectors)}]"
                        for feature, detectors in features.items()
                    )
                )
        st.page_link(
            ui.page_path("alerts"),
            label="Alert history and delivery",
            icon=":material/arrow_forward:",
        )
    else:
        st.success("No alerts firing.", icon=":material/check_circle:")

    if configured:
        st.subheader(
            "Monitors",
            help="Each monitor's state from its last run and its alerts; the sparkline counts "
            "drifted features in each run of the range. Open one to see which features drift.",
        )
        per_row = 3
        for start in range(0, len(configured), per_row):
            cols = st.columns(per_row)
            for col, monitor in zip(cols, configured[start : start + per_row], strict=False):
                with col:
                    _monitor_card(monitor, reports[monitor.name], by_monitor.get(monitor.name, []))

    if models:
        st.subheader(
            "Models",
            help="Traffic of each model in the range: predictions, rate, latency and how many "
            "have a ground-truth label (needed to measure performance).",
        )
        cols = st.columns(min(len(models), 2))
        for i, model in enumerate(models):
            stats, error = ui.try_get(f"/v1/models/{model}/stats", last=ui.time_range())
            with cols[i % len(cols)]:
                _model_card(
                    model_health(model, stats, ui.span()),
                    error.message if error is not None else None,
                )


ui.page(render)
