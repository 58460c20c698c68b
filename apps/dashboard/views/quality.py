"""Data quality: per monitored column and run, the share of the window's rows that were
missing, infinite, outside the reference's range, or of a category the reference never had
(the counts every report's per-feature summaries carry), and what the ``quality`` detector
decided about them: which columns it flagged, on which check, by how much."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from driftscope.apps.dashboard import charts, ui
from driftscope.apps.dashboard.data.catalog import monitors
from driftscope.apps.dashboard.data.features import (
    QUALITY_DECISION,
    QUALITY_MEASURES,
    latest_quality,
    quality_over_time,
)
from driftscope.apps.dashboard.data.glossary import (
    QUALITY_DETECTOR_HELP,
    QUALITY_HELP,
    QUALITY_NAMES,
    detector_help,
)
from driftscope.apps.dashboard.data.quality import (
    QualityDecision,
    QualityFlags,
    quality_decisions,
    quality_flags,
)
from driftscope.apps.dashboard.data.reports import BackfillSpan, backfill_spans
from driftscope.apps.dashboard.data.values import latest_report

LINES = 10
SHARE = "%.1f%%"
DECISION_WIDTH = 240  # pixels: "flagged: out of range +42.0 pts" whole
POINTS = "%+.1f pts"


def _percent(share: float | None) -> float | None:
    return None if share is None else share * 100


def _flagged_rows(decision: QualityDecision) -> list[dict[str, Any]]:
    """A flagged column's rows: one per check past the allowed increase (the worst check
    alone when the report does not give every check)."""
    allowed = _percent(decision.allowed)
    if not decision.exceeded:
        name = decision.worst or "?"
        return [
            {
                "feature": decision.feature,
                "check": QUALITY_NAMES.get(name, name),
                "increase": _percent(decision.increase),
                "allowed": allowed,
            }
        ]
    return [
        {
            "feature": decision.feature,
            "check": QUALITY_NAMES.get(c.check, c.check),
            "reference": _percent(c.reference),
            "window": _percent(c.current),
            "increase": _percent(c.increase),
            "allowed": allowed,
        }
        for c in decision.exceeded
    ]


def _detector_section(
    latest: Mapping[str, Any] | None, flags: QualityFlags, spans: list[BackfillSpan]
) -> None:
    """The quality detector's decisions: the columns it flagged over time, and in the last
    run each flagged column's checks against the reference's shares."""
    st.subheader(
        "What the quality detector decided",
        help=f"{QUALITY_DETECTOR_HELP}\n\n{detector_help('quality')}",
    )
    if not flags.judged:
        st.info(
            "This monitor has no `quality` detector: the shares below are counted in every "
            "run, but nothing judges them. Add `{type: quality, max_increase: 0.05}` to its "
            "detectors to flag, and alert on, a column whose share of broken values grows.",
            icon=":material/rule:",
        )
        return
    if not flags.flagged_features:
        st.success(
            f"No column flagged in any of the {flags.runs} run(s) it judged in the range.",
            icon=":material/check_circle:",
        )
    else:
        st.plotly_chart(
            charts.mark_backfilled(charts.quality_flags_figure(flags), spans),
            key="quality-flags",
            config=charts.PLOTLY_CONFIG,
        )
        st.caption(
            f"Columns flagged in at least one of {flags.runs} run(s), coloured by the check "
            "that grew most; grey where the column passed."
        )
    decisions = quality_decisions(ui.detailed(latest) if latest is not None else None)
    flagged = [d for d in decisions.values() if d.flagged]
    if not decisions:
        st.caption("The last run has no decision of the quality detector.")
        return
    if not flagged:
        st.markdown(f":green[No column flagged in the last run] ({len(decisions)} judged).")
        return
    st.markdown(
        f"**Flagged in the last run:** {len(flagged)} of {len(decisions)} column(s)",
        help=QUALITY_DETECTOR_HELP,
    )
    rows = [row for d in flagged for row in _flagged_rows(d)]
    frame = pd.DataFrame(
        rows, columns=["feature", "check", "reference", "window", "increase", "allowed"]
    )
    st.dataframe(
        frame,
        column_config={
            "feature": st.column_config.TextColumn("feature", pinned=True),
            "check": st.column_config.TextColumn(
                "check", help="Which share grew past the allowed increase."
            ),
            "reference": st.column_config.NumberColumn(
                "reference", help="The share of the reference's rows.", format=SHARE
            ),
            "window": st.column_config.NumberColumn(
                "window", help="The share of the last window's rows.", format=SHARE
            ),
            "increase": st.column_config.NumberColumn(
                "increase",
                help="Window share minus reference share, in percentage points.",
                format=POINTS,
            ),
            "allowed": st.column_config.NumberColumn(
                "allowed", help="The increase the detector tolerates (max_increase).", format=POINTS
            ),
        },
        hide_index=True,
        key="quality_flagged",
        placeholder="–",
    )


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
    flags = quality_flags(reports)
    spans = backfill_spans(reports)
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
    _detector_section(latest, flags, spans)
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
            charts.mark_backfilled(charts.quality_figure(view, limit=LINES), spans),
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
    judged = [QUALITY_DECISION] if any(QUALITY_DECISION in r for r in rows) else []
    frame = pd.DataFrame(rows, columns=["feature", "kind", *judged, *QUALITY_MEASURES, "rows"])
    for measure in QUALITY_MEASURES:  # in percent, one decimal: 0.3% is not 0%
        frame[measure] = pd.to_numeric(frame[measure]) * 100
    st.dataframe(
        frame.rename(columns=QUALITY_NAMES),
        column_config={
            QUALITY_NAMES[m]: st.column_config.NumberColumn(
                QUALITY_NAMES[m], help=QUALITY_HELP[m], format=SHARE
            )
            for m in QUALITY_MEASURES
        }
        | {"rows": st.column_config.NumberColumn("rows", help="Rows in the window.")}
        | {
            QUALITY_DECISION: st.column_config.TextColumn(
                QUALITY_DECISION, help=QUALITY_DETECTOR_HELP, width=DECISION_WIDTH
            )
        },
        hide_index=True,
        key="quality_table",
        placeholder="–",
        height=min(35 * (len(rows) + 1) + 3, 1200),
    )


ui.page(render)
