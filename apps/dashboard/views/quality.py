"""Data quality: per monitored column and run, the share of the window's rows that were
missing, infinite, outside the reference's range, or of a category the reference never had
(the counts every report's per-feature summaries carry)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from driftscope.apps.dashboard import charts, ui
from driftscope.apps.dashboard.data.catalog import monitors
from driftscope.apps.dashboard.data.features import (
    QUALITY_MEASURES,
    latest_quality,
    quality_over_time,
)
from driftscope.apps.dashboard.data.glossary import QUALITY_HELP, QUALITY_NAMES
from driftscope.apps.dashboard.data.values import latest_report

LINES = 10


def render() -> None:
    """Draw the Data quality page."""
    configured = monitors(ui.get("/v1/monitors"))
    st.title("Data quality")
    if not configured:
        st.info(
            "No monitors configured yet. Add a `monitors:` block to the config the API runs "
            "with and restart `driftscope serve`.",
            icon=":material/add_chart:",
        )
        return
    name = ui.pick_monitor([m.name for m in configured])
    reports, more = ui.monitor_reports(name)
    views = {m: quality_over_time(reports, m) for m in QUALITY_MEASURES}
    runs = max(v.runs for v in views.values())
    if not runs:
        st.info(
            f"No runs of {name} with per-feature summaries in the last {ui.time_range()}. "
            "Each run counts missing, infinite, out-of-range and unseen values in its window; "
            "widen the time range or run the monitor from its page.",
            icon=":material/hourglass_empty:",
        )
        return
    st.caption(
        f"The window of each of {runs} run(s) of **{name}** in the last {ui.time_range()}"
        + (" (the newest ones)" if more else "")
        + ": what share of its rows each problem touched, per column."
    )
    latest = latest_report(reports)
    cols = st.columns(len(QUALITY_MEASURES))
    rows = latest_quality(latest)
    for col, measure in zip(cols, QUALITY_MEASURES, strict=True):
        affected = sum(1 for r in rows if r.get(measure))
        col.metric(
            QUALITY_NAMES[measure].capitalize(),
            f"{affected} column(s)" if views[measure].applies else "n/a",
            border=True,
            help=f"Columns with any of it in the last run. {QUALITY_HELP[measure]}",
        )
    for measure in QUALITY_MEASURES:
        view = views[measure]
        if not view.applies:
            continue  # unseen categories need a categorical column, infinities a numeric one
        st.subheader(f"Rows {QUALITY_NAMES[measure]}", help=QUALITY_HELP[measure])
        if not view.series:
            st.success(
                f"None in any of {len(view.clean)} column(s), in every run of the range.",
                icon=":material/check_circle:",
            )
            continue
        st.plotly_chart(
            charts.quality_figure(view, limit=LINES),
            key=f"quality-{measure}",
            config=charts.PLOTLY_CONFIG,
        )
        shown = ", ".join(s.feature for s in view.series[:LINES])
        hidden = len(view.series) - LINES
        st.caption(
            f"Worst first: {shown}"
            + (f" and {hidden} more" if hidden > 0 else "")
            + (f" · none in {len(view.clean)} other column(s)" if view.clean else "")
        )
    st.subheader(
        "The last run, column by column",
        help="Each problem's share of the last window's rows; sort by clicking a header.",
    )
    frame = pd.DataFrame(rows, columns=["feature", "kind", *QUALITY_MEASURES, "rows"])
    for measure in QUALITY_MEASURES:  # in percent, one decimal: 0.3% is not 0%
        frame[measure] = pd.to_numeric(frame[measure]) * 100
    st.dataframe(
        frame.rename(columns=QUALITY_NAMES),
        column_config={
            QUALITY_NAMES[m]: st.column_config.NumberColumn(
                QUALITY_NAMES[m], help=QUALITY_HELP[m], format="%.1f%%"
            )
            for m in QUALITY_MEASURES
        }
        | {"rows": st.column_config.NumberColumn("rows", help="Rows in the window.")},
        hide_index=True,
        key="quality_table",
        placeholder="–",
        height=min(35 * (len(rows) + 1) + 3, 1200),
    )


ui.page(render)
