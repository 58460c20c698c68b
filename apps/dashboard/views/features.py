"""Features: one run of one monitor, feature by feature. A sortable, filterable table of every
column (each detector's value, threshold and decision; both sides' means and spreads; the
window's missing, out-of-range and unseen shares), then one column's reference-against-current
distribution beside its drift statistic over time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from driftscope.apps.dashboard import charts, ui
from driftscope.apps.dashboard.data.catalog import monitors
from driftscope.apps.dashboard.data.drift import drift_series
from driftscope.apps.dashboard.data.features import (
    FeatureTable,
    FeatureView,
    distribution,
    feature_table,
    filter_rows,
    summaries,
)
from driftscope.apps.dashboard.data.glossary import (
    BACKFILL_HELP,
    DISTRIBUTION_HELP,
    MEASURE_HELP,
    QUALITY_DETECTOR_HELP,
    RANKING_HELP,
    TABLE_HELP,
    correction_help,
    detector_help,
)
from driftscope.apps.dashboard.data.quality import QUALITY_DETECTOR
from driftscope.apps.dashboard.data.reports import (
    backfill_spans,
    correction_of,
    report_label,
    summarize_report,
)
from driftscope.apps.dashboard.data.values import is_backfilled, report_time, sorted_reports

# shares in percent with one decimal (0.3%, which Streamlit's "percent" preset rounds to 0%);
# the frame holds them as percentages. (A page script's bare strings are printed by
# Streamlit's "magic", so constants here carry comments, not docstrings.)
SHARE_FORMAT = "%.1f%%"
DECISION_WIDTH = 240  # pixels: the quality decision, "flagged: out of range +42.0 pts", whole
SHARE_COLUMNS = ("missing", "out of range", "unseen")
NUMBER_FORMAT = "%.4g"
ROW_HEIGHT = 35
MAX_TABLE_HEIGHT = 600


def _column_config(table: FeatureTable) -> dict[str, Any]:
    """Each column's type, format and help text (what the number means)."""
    config: dict[str, Any] = {
        "feature": st.column_config.TextColumn("feature", help=TABLE_HELP["feature"], pinned=True),
        "kind": st.column_config.TextColumn("kind", help=TABLE_HELP["kind"], width="small"),
        "drifted": st.column_config.CheckboxColumn(
            "drifted", help=TABLE_HELP["drifted"], width="small"
        ),
    }
    for d in table.detectors:
        what = detector_help(d.detector)
        config[d.value] = st.column_config.NumberColumn(
            d.value, help=f"{what} {MEASURE_HELP[d.measure]}", format=NUMBER_FORMAT
        )
        config[d.threshold] = st.column_config.NumberColumn(
            d.threshold,
            help=f"What {d.detector}'s {d.measure} is compared with: drift "
            + ("below it." if d.measure == "p-value" else "at or above it."),
            format="%g",
        )
        config[d.decision] = st.column_config.TextColumn(
            d.decision,
            help=QUALITY_DETECTOR_HELP
            if d.detector == QUALITY_DETECTOR
            else f"drift, ok, or why {d.detector} could not decide (failed, insufficient data).",
            width=DECISION_WIDTH if d.detector == QUALITY_DETECTOR else None,
        )
    for name in ("reference mean", "current mean", "reference std", "current std"):
        config[name] = st.column_config.NumberColumn(
            name, help=TABLE_HELP[name], format=NUMBER_FORMAT
        )
    for name in SHARE_COLUMNS:
        config[name] = st.column_config.NumberColumn(
            name, help=TABLE_HELP[name], format=SHARE_FORMAT
        )
    for name in table.change_shares:
        config[name] = st.column_config.NumberColumn(name, help=RANKING_HELP, format=SHARE_FORMAT)
    return config


def _table_section(report: Mapping[str, Any], name: str) -> list[str]:
    """The per-feature table with its filters; returns the features it shows."""
    table = feature_table(report)
    if not table.rows:
        st.info("This run has no per-feature results.", icon=":material/table_rows:")
        return []
    st.subheader(
        "Every feature of the run",
        help="Click a column header to sort by it; filter by name, kind or drift above. "
        "Hover a header for what its number means.",
    )
    text_col, kind_col, drift_col = st.columns([3, 2, 1], vertical_alignment="bottom")
    text = text_col.text_input(
        "Filter features", key=f"feature_filter-{name}", placeholder="part of a name"
    )
    kinds = sorted({str(r["kind"]) for r in table.rows})
    chosen_kinds = kind_col.multiselect("Kinds", kinds, default=kinds, key=f"kinds-{name}")
    only = drift_col.toggle("Only drifting", key=f"only_drifting-{name}")
    rows = filter_rows(table.rows, text=text, kinds=chosen_kinds, only_drifting=only)
    drifting = sum(1 for r in table.rows if r["drifted"])
    note = f"{len(rows)} of {len(table.rows)} columns shown · {drifting} drifting"
    if not table.has_summaries:
        note += " · this run was saved before per-feature summaries existed"
    st.caption(note)  # between the filters and the table, under the table's own toolbar
    frame = pd.DataFrame(rows, columns=table.columns)
    for column in (*SHARE_COLUMNS, *table.change_shares):
        if column in frame:
            frame[column] = pd.to_numeric(frame[column]) * 100
    st.dataframe(
        frame,
        column_config=_column_config(table),
        hide_index=True,
        key=f"feature_table-{name}",
        placeholder="–",
        height=min(ROW_HEIGHT * (len(rows) + 1) + 3, MAX_TABLE_HEIGHT),
    )
    return [str(r["feature"]) for r in rows] or [str(r["feature"]) for r in table.rows]


def _side_line(view: FeatureView) -> str:
    """A caption comparing both sides' counts and moments."""
    ref, cur = view.reference, view.current
    parts = [f"reference {ref.rows or 0:,} rows · window {cur.rows or 0:,} rows"]
    if view.kind == "numeric":
        for label, a, b in (("mean", ref.mean, cur.mean), ("std", ref.std, cur.std)):
            if a is not None or b is not None:
                parts.append(f"{label} {_num(a)} → {_num(b)}")
    elif ref.distinct is not None or cur.distinct is not None:
        parts.append(f"categories {ref.distinct or 0} → {cur.distinct or 0}")
    if view.sampled:
        parts.append("window sampled")
    return " · ".join(parts)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _distribution_section(
    reports: list[Any], report: Mapping[str, Any], features: list[str], name: str
) -> None:
    views = summaries(report)
    choices = [f for f in features if f in views] or list(views)
    if not choices:
        return
    st.subheader(
        "Distribution of one feature",
        help=DISTRIBUTION_HELP,
    )
    feature = str(
        st.selectbox("Feature", choices, key="feature", bind="query-params", help=DISTRIBUTION_HELP)
    )
    view = views[feature]
    left, right = st.columns([3, 2])
    with left:
        dist = distribution(view)
        st.markdown(f"**{feature}** in this run", help=DISTRIBUTION_HELP)
        if dist is None or dist.empty:
            st.caption("No values to draw: the reference has no finite value for bins.")
        else:
            st.plotly_chart(
                charts.distribution_figure(dist, feature),
                key="distribution",
                config=charts.PLOTLY_CONFIG,
            )
        st.caption(_side_line(view))
    with right:
        kind = view.result_kind if view.result_kind in ("feature", "prediction") else "feature"
        series = {d: s for d, s in drift_series(reports, kind).items() if feature in s.series}
        if not series:
            st.caption("No detector scored this column in the range.")
            return
        detectors = list(series)
        detector = (
            st.segmented_control(
                "Drift over time",
                detectors,
                default=detectors[0],
                key=f"feature_detector-{name}",
                required=True,
                help=" ".join(detector_help(d) for d in detectors),
            )
            or detectors[0]
        )
        ds = series[str(detector)]
        shown_at = report_time(report)
        st.plotly_chart(
            charts.mark_backfilled(
                charts.drift_lines(ds, [feature], height=340, highlight=shown_at),
                backfill_spans(reports),
            ),
            key="feature_drift",
            config=charts.PLOTLY_CONFIG,
        )
        threshold = f" (threshold {ds.threshold:g})" if ds.threshold is not None else ""
        st.caption(
            f"{ds.detector.upper()} {ds.measure}{threshold} of {feature} in every run of the "
            "range; the dotted line marks the run shown on the left."
        )


def render() -> None:
    """Draw the Features page."""
    configured = monitors(ui.get("/v1/monitors"))
    st.title("Features")
    if not configured:
        st.info(
            "No monitors configured yet. Add a `monitors:` block to the config the API runs "
            "with and restart `driftscope serve`.",
            icon=":material/add_chart:",
        )
        return
    pick, run_col = st.columns(2)
    name = ui.pick_monitor([m.name for m in configured], pick)
    reports, _ = ui.monitor_reports(name)
    newest_first = [r for r in reversed(sorted_reports(reports)) if r.get("results")]
    if not newest_first:
        st.info(
            f"No runs of {name} with results in the last {ui.time_range()}: widen the time "
            "range, or run the monitor from its page.",
            icon=":material/hourglass_empty:",
        )
        return
    by_id = {str(r.get("id")): r for r in newest_first}
    run_id = run_col.selectbox(
        "Run",
        list(by_id),
        format_func=lambda i: report_label(by_id[i]),
        key="run",
        bind="query-params",
        help="Newest first, with how many features drifted in each.",
    )
    report = ui.detailed(by_id[str(run_id)])
    summary = summarize_report(report)
    correction = correction_of(report)
    facts = [f"model **{report.get('model', '?')}**"]
    if summary.rows is not None:
        facts.append(f"{summary.rows:,} window rows")
    sampled = (report.get("window") or {}).get("sampled_rows")
    if sampled:
        facts.append(f"sampled to {sampled:,} rows (PSI and chi-square counted every row)")
    if correction:
        facts.append(f"p-values corrected with {correction}")
    if is_backfilled(report):
        made = summarize_report(report).created_at
        facts.append(
            ":orange[⟲ backfilled]"
            + (f" on {made:%Y-%m-%d %H:%M} UTC" if made is not None else "")
            + " over a past window"
        )
    st.caption(
        " · ".join(facts),
        help="\n\n".join(
            h
            for h in (correction_help(correction), BACKFILL_HELP if is_backfilled(report) else None)
            if h
        )
        or None,
    )
    features = _table_section(report, name)
    _distribution_section(reports, report, features, name)


ui.page(render)
