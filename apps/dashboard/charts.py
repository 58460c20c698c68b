"""Plotly figures of the shaped data in :mod:`driftscope.apps.dashboard.data` (no Streamlit here).

Each figure names its traces so a reader (and a test) can tell them apart: one trace per
feature, ``threshold`` for the decision line, ``reference`` and ``current`` for the two
samples, ``drifted`` for the runs that found drift.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import plotly.graph_objects as go

from driftscope.apps.dashboard.data.alerts import AlertEventRow
from driftscope.apps.dashboard.data.display import (
    ALERT_STATE_COLORS,
    CURRENT_COLOR,
    DRIFT_COLOR,
    OK_COLOR,
    REFERENCE_COLOR,
    format_number,
    metric_label,
)
from driftscope.apps.dashboard.data.drift import DetectorSeries, Heatmap
from driftscope.apps.dashboard.data.features import Distribution, QualityView
from driftscope.apps.dashboard.data.glossary import QUALITY_NAMES
from driftscope.apps.dashboard.data.multivariate import MultivariateSeries, RankedFeature
from driftscope.apps.dashboard.data.performance import PerformanceSeries
from driftscope.apps.dashboard.data.quality import CHECKS, QualityFlags, points
from driftscope.apps.dashboard.data.reports import BackfillSpan, Comparison, is_probability

THRESHOLD_COLOR = "#c0392b"
ECDF_PAD = 0.03
"""Share of the ECDF's x span added on each side."""
FONT = {"size": 13}
LINE_COLORS = (
    "#3b6fd8",
    "#f28e2b",
    "#59a14f",
    "#b07aa1",
    "#76b7b2",
    "#edc948",
    "#9c755f",
    "#4e79a7",
    "#ff9da7",
    "#bab0ac",
)
"""Series colours: no red, which is kept for drift and thresholds."""
P_VALUE_FLOOR = 1e-12
"""p-values below this are drawn at it, as downward triangles, and the chart says so (the
hover gives the real value)."""
FLOORED_SYMBOL = "triangle-down"
MODEBAR_SPACE = 36
"""Pixels kept free above the plot for Plotly's toolbar (the modebar), which it draws in the
figure's top-right corner."""
LEGEND = {
    "orientation": "h",
    "yref": "container",
    "y": 0,
    "yanchor": "bottom",
    "x": 0,
    "xanchor": "left",
}
"""Legends sit under the plot, where the toolbar never covers an entry (above the plot,
it hid the right-hand entries of almost every chart)."""
PLOTLY_CONFIG = {"displaylogo": False}
"""The ``config`` of every ``st.plotly_chart``."""
MIN_TIME_SPAN = timedelta(minutes=10)
"""Time axes span at least this: one run alone was drawn over a few milliseconds, with
ticks such as 01:18:39.4762."""
TIME_TICK_FORMATS = [
    {"dtickrange": [None, 60_000], "value": "%H:%M:%S"},
    # below a day only: daily ticks all read "00:00" (Plotly takes the first stop that fits)
    {"dtickrange": [60_000, 86_399_999], "value": "%H:%M\n%b %d"},
    {"dtickrange": [86_400_000, None], "value": "%b %d\n%Y"},
]
"""Date tick labels by tick spacing: never fractions of a second."""


def _layout(fig: go.Figure, *, height: int, title: str | None = None) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": MODEBAR_SPACE + (30 if title else 0), "b": 10},
        title={"text": title, "x": 0, "font": {"size": 15}} if title else None,
        legend=LEGEND,
        showlegend=True,  # a chart of one series still says which one it is
        hovermode="closest",
        font=FONT,
    )
    return fig


def _span(times: Sequence[datetime]) -> list[datetime]:
    """Where a horizontal line (a threshold, a reference value) runs: the runs' time span,
    widened as :func:`_time_axis` widens it, so that one run still shows the line."""
    if not times:
        return []
    lo, hi = min(times), max(times)
    if hi - lo < MIN_TIME_SPAN:
        pad = (MIN_TIME_SPAN - (hi - lo)) / 2
        return [lo - pad, hi + pad]
    return [lo, hi]


def _time_axis(fig: go.Figure, times: Sequence[datetime]) -> None:
    """A date x-axis with readable ticks, at least :data:`MIN_TIME_SPAN` wide."""
    fig.update_xaxes(type="date", tickformatstops=TIME_TICK_FORMATS)
    if times and max(times) - min(times) < MIN_TIME_SPAN:
        fig.update_xaxes(range=_span(times))


def drift_lines(
    series: DetectorSeries,
    features: Sequence[str],
    height: int = 340,
    *,
    highlight: datetime | None = None,
) -> go.Figure:
    """One detector's decision value of each chosen feature over time, the threshold drawn
    as a dashed line and drifted runs as red markers (a log axis for p-values, on which
    values below :data:`P_VALUE_FLOOR` are drawn at it as downward triangles and a note
    says so). ``highlight`` marks one run with a vertical line."""
    fig = go.Figure()
    all_times: list[datetime] = []
    drift_x: list[datetime] = []
    drift_y: list[float | None] = []
    drift_text: list[str] = []
    floor = P_VALUE_FLOOR if series.drift_below else None
    floored_any = False
    for i, name in enumerate(features):
        s = series.series.get(name)
        if s is None:
            continue
        all_times.extend(s.times)
        shown = _floored(s.values, floor)
        floored = [floor is not None and v is not None and v < floor for v in s.values]
        floored_any = floored_any or any(floored)
        fig.add_trace(
            go.Scatter(
                x=s.times,
                y=shown,
                name=name,
                mode="lines+markers",
                marker={
                    "size": [9 if b else 6 for b in floored],
                    "symbol": [FLOORED_SYMBOL if b else "circle" for b in floored],
                },
                line={"width": 2, "color": LINE_COLORS[i % len(LINE_COLORS)]},
                customdata=[
                    f"{format_number(v)} (below {P_VALUE_FLOOR:g}: drawn at it)"
                    if b
                    else format_number(v)
                    for v, b in zip(s.values, floored, strict=True)
                ],
                hovertemplate=f"<b>{name}</b><br>%{{x|%Y-%m-%d %H:%M:%S}}<br>"
                f"{series.measure} %{{customdata}}<extra></extra>",
            )
        )
        for t, v, d in zip(s.times, shown, s.drifted, strict=False):
            if d:
                drift_x.append(t)
                drift_y.append(v)
                drift_text.append(name)
    if drift_x:
        fig.add_trace(
            go.Scatter(
                x=drift_x,
                y=drift_y,
                name="drifted",
                mode="markers",
                text=drift_text,
                marker={
                    "size": 11,
                    "color": "rgba(0,0,0,0)",
                    "line": {"width": 2, "color": DRIFT_COLOR},
                },
                hovertemplate="<b>%{text}</b> drifted<br>%{x|%Y-%m-%d %H:%M:%S}<extra></extra>",
            )
        )
    if series.threshold is not None and all_times:
        fig.add_trace(
            go.Scatter(
                x=_span(all_times),
                y=[series.threshold, series.threshold],
                name="threshold",
                mode="lines",
                line={"color": THRESHOLD_COLOR, "dash": "dash", "width": 2},
                hovertemplate=f"threshold {series.threshold:g}<extra></extra>",
            )
        )
    fig.update_layout(meta={"detector": series.detector, "measure": series.measure})
    below = "drift below the line" if series.drift_below else "drift above the line"
    if series.drift_below:
        present = [v for s in series.series.values() for v in s.values if v is not None]
        low = max(min([*present, series.threshold or 1.0], default=1.0), P_VALUE_FLOOR)
        decades = max(1, math.ceil(-math.log10(low)))
        # from a decade below the smallest value (or the threshold) up to 1, which p-values
        # never pass: a range inside one decade would have no tick at all
        fig.update_yaxes(
            title_text=f"{series.measure} ({below})",
            type="log",
            exponentformat="power",
            dtick=max(1, math.ceil(decades / 5)),
            range=[-decades - 0.3, 0.15],
        )
        if floored_any:
            fig.add_annotation(
                text=f"▼ below {P_VALUE_FLOOR:g}, drawn at {P_VALUE_FLOOR:g}",
                xref="paper",
                x=1,
                xanchor="right",
                yref="y",
                y=math.log10(P_VALUE_FLOOR),
                yanchor="bottom",
                showarrow=False,
                font={"size": 11, "color": THRESHOLD_COLOR},
                bgcolor="rgba(255,255,255,0.8)",
            )
    else:
        fig.update_yaxes(title_text=f"{series.measure} ({below})", rangemode="tozero")
    if highlight is not None:
        fig.add_shape(
            type="line",
            xref="x",
            x0=highlight,
            x1=highlight,
            yref="paper",
            y0=0,
            y1=1,
            line={"color": "#555", "width": 1, "dash": "dot"},
        )
        all_times.append(highlight)
    _time_axis(fig, all_times)
    return _layout(fig, height=height)


def _floored(values: Sequence[float | None], floor: float | None) -> list[float | None]:
    if floor is None:
        return list(values)
    return [None if v is None else max(v, floor) for v in values]


def heatmap_figure(hm: Heatmap, height: int | None = None) -> go.Figure:
    """Features × runs coloured by how far each result is from its threshold: green well
    below, amber near, red past it; drifted cells carry a dot."""
    rows = max(len(hm.features), 1)
    # one run alone: give its column edges, or Plotly draws it a millisecond wide
    x: list[datetime] = (
        [hm.times[0] - MIN_TIME_SPAN / 4, hm.times[0] + MIN_TIME_SPAN / 4]
        if len(hm.times) == 1
        else list(hm.times)
    )
    fig = go.Figure(
        go.Heatmap(
            x=x,
            y=hm.features,
            z=hm.z,
            zmin=0,
            zmax=2,
            hovertext=hm.hover,
            hoverinfo="text",
            xgap=1,
            ygap=1,
            colorscale=[
                [0.0, "#e8f5ec"],
                [0.35, "#b7e1c3"],
                [0.495, "#f6d776"],
                [0.5, "#f29e4c"],
                [0.75, "#e05a47"],
                [1.0, "#9e1f1f"],
            ],
            colorbar={
                "tickvals": [0, 1, 2],
                "ticktext": ["far", "at threshold", "2× past"],
                "thickness": 12,
            },
            name=hm.detector,
        )
    )
    fig.update_yaxes(autorange="reversed", type="category", tickfont={"size": 12})
    fig.update_xaxes(showgrid=False)
    _time_axis(fig, hm.times)
    return _layout(fig, height=height or min(max(200, 140 + 22 * rows), 900))


def comparison_figure(
    comp: Comparison, feature: str, detector: str, height: int = 320
) -> go.Figure:
    """Reference against current: overlaid bin proportions (PSI, chi-square) or the two
    empirical CDFs (KS)."""
    fig = go.Figure()
    if comp.shape == "bins":
        for name, values, color in (
            ("reference", comp.reference, REFERENCE_COLOR),
            ("current", comp.current, CURRENT_COLOR),
        ):
            fig.add_trace(
                go.Bar(
                    x=[str(x) for x in comp.x],
                    y=values,
                    name=name,
                    marker={"color": color},
                    hovertemplate=f"{name}<br>%{{x}}<br>%{{y:.1%}}<extra></extra>",
                )
            )
        fig.update_layout(barmode="group", bargap=0.2, bargroupgap=0.05)
        fig.update_yaxes(title_text="share of rows", tickformat=".0%")
        fig.update_xaxes(title_text=f"{feature} bins", type="category")
    else:
        # the axis reaches a little past both samples' extremes, and both curves run to its
        # edges: the last step up to 100% is drawn inside the chart, not on its border
        lo, hi = min(comp.x), max(comp.x)
        pad = (hi - lo) * ECDF_PAD or max(abs(hi), 1.0) * ECDF_PAD
        if not math.isfinite(lo - pad) or not math.isfinite(hi + pad):
            pad = 0.0  # values near the float's limits: no room to pad
        x = [lo - pad, *comp.x, hi + pad]
        for name, values, color in (
            ("reference", comp.reference, REFERENCE_COLOR),
            ("current", comp.current, CURRENT_COLOR),
        ):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[0.0, *values, values[-1]],
                    name=name,
                    mode="lines",
                    line={"shape": "hv", "color": color, "width": 2.5},
                    hovertemplate=f"{name}<br>{feature} ≤ %{{x:.4g}}: %{{y:.1%}}<extra></extra>",
                )
            )
        gap = comp.gap_at_location()
        if gap is not None and comp.location is not None:
            fig.add_trace(
                go.Scatter(
                    x=[comp.location, comp.location],
                    y=list(gap),
                    name=f"largest gap (D = {abs(gap[0] - gap[1]):.3f})",
                    mode="lines+markers",
                    line={"color": THRESHOLD_COLOR, "width": 2, "dash": "dot"},
                    marker={"size": 6, "color": THRESHOLD_COLOR},
                    hovertemplate=f"D = {abs(gap[0] - gap[1]):.3f} at %{{x:.4g}}<extra></extra>",
                )
            )
        fig.update_yaxes(title_text="share of rows ≤ x (ECDF)", tickformat=".0%", range=[0, 1.02])
        fig.update_xaxes(title_text=feature, range=[lo - pad, hi + pad])
        if is_probability(feature):
            fig.update_xaxes(tickformat=".0%")
    fig.update_layout(meta={"detector": detector, "feature": feature})
    return _layout(fig, height=height)


def performance_figure(perf: PerformanceSeries, height: int = 320) -> go.Figure:
    """The metric per run against its reference value and the acceptable limit
    (reference × (1 − max_drop), or × (1 + max_drop) for error metrics). An estimated
    metric is drawn with its band as a shaded area and the realized value as diamonds."""
    fig = go.Figure()
    label = metric_label(perf.metric)
    if perf.estimated:
        _estimate_traces(fig, perf)
    else:
        colors = [DRIFT_COLOR if d else OK_COLOR for d in perf.drifted]
        fig.add_trace(
            go.Scatter(
                x=perf.times,
                y=perf.values,
                name=label,
                mode="lines+markers",
                marker={"size": 8, "color": colors},
                line={"color": CURRENT_COLOR, "width": 2},
                customdata=[[n if n is not None else "-"] for n in perf.labelled_rows],
                hovertemplate=f"{label} %{{y:.3f}}<br>%{{x|%Y-%m-%d %H:%M:%S}}"
                "<br>labelled rows %{customdata[0]}<extra></extra>",
            )
        )
    span = _span(perf.times)
    if perf.reference_value is not None and span:
        fig.add_trace(
            go.Scatter(
                x=span,
                y=[perf.reference_value] * 2,
                name="reference",
                mode="lines",
                line={"color": REFERENCE_COLOR, "width": 2},
                hovertemplate=f"reference {perf.reference_value:.3f}<extra></extra>",
            )
        )
    if perf.limit is not None and span:
        allowed = perf.allowed_change
        if allowed is not None:
            sign = "+" if perf.lower_is_better else "−"
            limit_name = f"limit ({sign}{allowed:.0%})"
        else:
            limit_name = "limit"
        fig.add_trace(
            go.Scatter(
                x=span,
                y=[perf.limit] * 2,
                name=limit_name,
                mode="lines",
                line={"color": THRESHOLD_COLOR, "dash": "dash", "width": 2},
                hovertemplate=f"limit {perf.limit:.3f}<extra></extra>",
            )
        )
    fig.update_yaxes(title_text=f"{label} (estimated)" if perf.estimated else label)
    fig.update_layout(meta={"detector": perf.detector, "metric": perf.metric})
    _time_axis(fig, perf.times)
    return _layout(fig, height=height)


BAND_FILL = "rgba(59, 111, 216, 0.16)"
REALIZED_COLOR = "#1f2937"


def _estimate_traces(fig: go.Figure, perf: PerformanceSeries) -> None:
    """The band (an invisible upper edge, then the lower edge filled up to it), the estimate
    line, and the realized value where the window had labels."""
    label = metric_label(perf.metric)
    sigmas = perf.band_sigmas
    band_name = f"band: ± {sigmas:g} SE at the window's size" if sigmas else "band"
    fig.add_trace(
        go.Scatter(
            x=perf.times,
            y=perf.upper,
            name="band upper",
            mode="lines",
            line={"width": 0},
            showlegend=False,
            legendgroup="band",
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=perf.times,
            y=perf.lower,
            name=band_name,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=BAND_FILL,
            legendgroup="band",
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=perf.times,
            y=perf.values,
            name=f"estimated {label}",
            mode="lines+markers",
            marker={"size": 8, "color": [DRIFT_COLOR if d else OK_COLOR for d in perf.drifted]},
            line={"color": CURRENT_COLOR, "width": 2},
            customdata=[
                [_num(lo), _num(hi), f"{n:,}" if n is not None else "-"]
                for lo, hi, n in zip(perf.lower, perf.upper, perf.realized_rows, strict=True)
            ],
            hovertemplate=f"estimated {label} %{{y:.3f}}<br>band %{{customdata[0]}} – "
            "%{customdata[1]}<br>%{x|%Y-%m-%d %H:%M:%S}<extra></extra>",
        )
    )
    seen = [
        (t, r, n)
        for t, r, n in zip(perf.times, perf.realized, perf.realized_rows, strict=True)
        if r is not None
    ]
    if seen:
        fig.add_trace(
            go.Scatter(
                x=[t for t, _, _ in seen],
                y=[r for _, r, _ in seen],
                name=f"realized {label}",
                mode="markers",
                marker={
                    "size": 10,
                    "symbol": "diamond",
                    "color": REALIZED_COLOR,
                    "line": {"width": 1, "color": "white"},
                },
                customdata=[[f"{n:,}" if n is not None else "-"] for _, _, n in seen],
                hovertemplate=f"realized {label} %{{y:.3f}}<br>on %{{customdata[0]}} "
                "labelled rows<br>%{x|%Y-%m-%d %H:%M:%S}<extra></extra>",
            )
        )


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def multivariate_figure(series: MultivariateSeries, height: int = 340) -> go.Figure:
    """A multivariate detector's value per run (the domain classifier's ROC AUC) against the
    threshold of each run, with 0.5, where the window cannot be told from the reference."""
    fig = go.Figure()
    span = _span(series.times)
    if span:
        fig.add_trace(
            go.Scatter(
                x=span,
                y=[0.5, 0.5],
                name="0.5: no difference",
                mode="lines",
                line={"color": REFERENCE_COLOR, "width": 1.5, "dash": "dot"},
                hovertemplate="AUC 0.5: the window cannot be told from the reference"
                "<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=series.times,
            y=series.values,
            name=f"{series.detector} AUC",
            mode="lines+markers",
            marker={"size": 8, "color": [DRIFT_COLOR if d else OK_COLOR for d in series.drifted]},
            line={"color": CURRENT_COLOR, "width": 2},
            customdata=[
                [_num(t), "DRIFT" if d else "ok", " (backfilled)" if b else ""]
                for t, d, b in zip(
                    series.thresholds, series.drifted, series.backfilled, strict=True
                )
            ],
            hovertemplate="AUC %{y:.3f} (threshold %{customdata[0]}): %{customdata[1]}"
            "<br>%{x|%Y-%m-%d %H:%M:%S}%{customdata[2]}<extra></extra>",
        )
    )
    known = [(t, v) for t, v in zip(series.times, series.thresholds, strict=True) if v is not None]
    if known:
        if series.threshold_varies:
            x, y, name = [t for t, _ in known], [v for _, v in known], "threshold (per window)"
        else:
            x, y, name = _span([t for t, _ in known]), [known[0][1]] * 2, "threshold"
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=name,
                mode="lines",
                line={"color": THRESHOLD_COLOR, "dash": "dash", "width": 2},
                hovertemplate="threshold %{y:.3f}<extra></extra>",
            )
        )
    present = [*series.values, *(t for t in series.thresholds if t is not None)]
    low = min([0.45, *present])
    fig.update_yaxes(title_text="ROC AUC, window vs reference", range=[low - 0.02, 1.02])
    fig.update_layout(meta={"detector": series.detector, "kind": "multivariate"})
    _time_axis(fig, series.times)
    return _layout(fig, height=height)


FLAGGED_BAR_COLOR = "#e05a47"
QUIET_BAR_COLOR = "#3b6fd8"


def ranking_figure(
    ranked: Sequence[RankedFeature], flagged: set[str] | None = None, limit: int = 15
) -> go.Figure:
    """Where the change is: the ``limit`` features the classifier relied on most, as
    horizontal bars of their share, the largest on top. With ``flagged`` (the features a
    per-feature test flagged in the same run), the bars say which the per-feature tests
    missed. Features the classifier did not use at all are left out."""
    shown = [r for r in ranked if r.importance > 0][:limit]
    order = [r.feature for r in shown]
    fig = go.Figure()
    groups: list[tuple[str, str, bool | None]] = [("share of the change", QUIET_BAR_COLOR, None)]
    if flagged is not None:
        groups = [
            ("flagged by a per-feature test", FLAGGED_BAR_COLOR, True),
            ("no per-feature test flagged it", QUIET_BAR_COLOR, False),
        ]
    for name, color, wanted in groups:
        chosen = [r for r in shown if wanted is None or (r.feature in (flagged or ())) == wanted]
        if not chosen:
            continue
        fig.add_trace(
            go.Bar(
                x=[r.importance for r in chosen],
                y=[r.feature for r in chosen],
                orientation="h",
                name=name,
                marker={"color": color},
                text=[f"{r.importance:.0%}" for r in chosen],
                textposition="outside",
                cliponaxis=False,
                customdata=[[_num(r.auc_drop)] for r in chosen],
                hovertemplate="<b>%{y}</b><br>%{x:.1%} of the change<br>AUC falls by "
                "%{customdata[0]} when it is shuffled<extra></extra>",
            )
        )
    top = max((r.importance for r in shown), default=0.0)
    fig.update_xaxes(
        title_text="share of the classifier's use",
        tickformat=".0%",
        range=[0, min(1.0, top * 1.18 + 0.02)],
    )
    fig.update_yaxes(
        type="category",
        categoryorder="array",
        categoryarray=order[::-1],
        automargin=True,
    )
    fig.update_layout(barmode="overlay", bargap=0.25, meta={"kind": "ranking"})
    return _layout(fig, height=max(220, 120 + 26 * len(shown)))


def quality_flags_figure(flags: QualityFlags, height: int | None = None) -> go.Figure:
    """The quality detector's decisions over time: one row per column it ever flagged, a
    marker per run, coloured by the check that grew most where it flagged the column and
    small and grey where it did not."""
    fig = go.Figure()
    rows = flags.flagged_features
    wanted = set(rows)
    shown = [p for p in flags.points if p.feature in wanted]
    calm = [p for p in shown if not p.flagged]
    if calm:
        fig.add_trace(
            go.Scatter(
                x=[p.time for p in calm],
                y=[p.feature for p in calm],
                name="ok",
                mode="markers",
                marker={"size": 7, "color": "#c9cdd3"},
                customdata=[[points(p.increase) if p.increase is not None else "-"] for p in calm],
                hovertemplate="<b>%{y}</b> ok<br>largest increase %{customdata[0]}"
                "<br>%{x|%Y-%m-%d %H:%M:%S}<extra></extra>",
            )
        )
    for i, check in enumerate((*CHECKS, None)):
        chosen = [p for p in shown if p.flagged and p.worst == check]
        if not chosen:
            continue
        title = QUALITY_NAMES.get(check, check) if check else "flagged"
        fig.add_trace(
            go.Scatter(
                x=[p.time for p in chosen],
                y=[p.feature for p in chosen],
                name=title,
                mode="markers",
                marker={
                    "size": 13,
                    "symbol": "square",
                    "color": QUALITY_COLORS[i % len(QUALITY_COLORS)],
                    "line": {"width": 1, "color": "white"},
                },
                customdata=[
                    [
                        points(p.increase) if p.increase is not None else "-",
                        f"{p.allowed * 100:.1f} pts" if p.allowed is not None else "-",
                    ]
                    for p in chosen
                ],
                hovertemplate=f"<b>%{{y}}</b> flagged: {title}<br>%{{customdata[0]}} over the "
                "reference (allowed +%{customdata[1]})<br>%{x|%Y-%m-%d %H:%M:%S}<extra></extra>",
            )
        )
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=rows[::-1])
    fig.update_layout(meta={"kind": "quality flags"})
    _time_axis(fig, [p.time for p in shown])
    return _layout(fig, height=height or min(150 + 30 * max(len(rows), 1), 700))


QUALITY_COLORS = ("#d63a3a", "#8e44ad", "#e67e22", "#b8860b", "#7f8c9d")
"""Marker colours of the checks, in :data:`CHECKS` order (then an unnamed check)."""


def _column_times(fig: go.Figure) -> list[datetime]:
    """The run times of a heatmap's columns (none for other figures)."""
    for trace in fig.data:
        if trace.type == "heatmap" and trace.x is not None:
            return sorted(x for x in trace.x if isinstance(x, datetime))
    return []


def _column_edges(columns: Sequence[datetime], span: BackfillSpan) -> tuple[datetime, datetime]:
    """Where a span's columns begin and end on a heatmap: halfway to the neighbouring
    columns, so a strip above the cells covers exactly the backfilled ones."""
    inside = [i for i, t in enumerate(columns) if span.start <= t <= span.end]
    if not inside:
        return span.start, span.end
    first, last = inside[0], inside[-1]

    def half_gap(i: int, j: int) -> timedelta:
        return (columns[j] - columns[i]) / 2 if 0 <= j < len(columns) else MIN_TIME_SPAN / 4

    before = half_gap(first - 1, first) if first > 0 else half_gap(first, first + 1)
    after = half_gap(last, last + 1) if last + 1 < len(columns) else half_gap(last - 1, last)
    return columns[first] - before, columns[last] + after


BACKFILL_FILL = "rgba(227, 160, 8, 0.13)"
BACKFILL_LINE = "#b7791f"
BACKFILL_NAME = "backfilled runs"


def mark_backfilled(
    fig: go.Figure, spans: Sequence[BackfillSpan], *, strip: bool = False
) -> go.Figure:
    """Shade the stretches of a time axis that backfilled runs cover, with one legend entry
    (``backfilled runs``). ``strip`` draws a band above the plot instead of shading it, for
    charts whose cells would hide the shade (the heatmap)."""
    columns = _column_times(fig) if strip else []
    for i, span in enumerate(spans):
        x0, x1 = _column_edges(columns, span) if columns else (span.start, span.end)
        made = (
            f"made {span.made_from:%Y-%m-%d %H:%M} UTC"
            if span.made_from is not None
            else "made later"
        )
        fig.add_shape(
            type="rect",
            xref="x",
            x0=x0,
            x1=x1,
            yref="paper",
            y0=1.0 if strip else 0.0,
            y1=1.04 if strip else 1.0,
            layer="above" if strip else "below",
            line={"width": 1 if strip else 0, "color": BACKFILL_LINE},
            fillcolor=BACKFILL_LINE if strip else BACKFILL_FILL,
            name=BACKFILL_NAME,
            legendgroup="backfilled",
            showlegend=i == 0,
        )
        if strip:
            continue  # above the plot the toolbar would cover a label: the legend names it
        fig.add_annotation(
            x=span.start,
            xref="x",
            xanchor="left",
            y=1.0,
            yref="paper",
            yanchor="top",
            text=f"⟲ {span.runs} backfilled",
            hovertext=f"{span.runs} run(s) made afterwards over past windows, {made}",
            showarrow=False,
            font={"size": 11, "color": BACKFILL_LINE},
            bgcolor="rgba(255, 255, 255, 0.75)",
        )
    return fig


def alert_timeline(events: Sequence[AlertEventRow], height: int | None = None) -> go.Figure:
    """Alert state changes over time: one row per alert key, one marker per change,
    coloured by the state it entered."""
    fig = go.Figure()
    subjects = sorted({f"{e.monitor} · {e.subject}" for e in events})
    for state, color in ALERT_STATE_COLORS.items():
        chosen = [e for e in events if e.to_state == state]
        if not chosen:
            continue
        fig.add_trace(
            go.Scatter(
                x=[e.at for e in chosen],
                y=[f"{e.monitor} · {e.subject}" for e in chosen],
                name=state,
                mode="markers",
                marker={
                    "size": 13,
                    "color": color,
                    "symbol": "circle",
                    "line": {"width": 1, "color": "white"},
                },
                customdata=[
                    [
                        e.from_state,
                        e.to_state,
                        e.comparison,
                        " (silenced)" if e.silenced else "",
                    ]
                    for e in chosen
                ],
                hovertemplate="%{y}<br>%{customdata[0]} → %{customdata[1]}%{customdata[3]}"
                "<br>%{customdata[2]}<br>%{x|%Y-%m-%d %H:%M:%S}<extra></extra>",
            )
        )
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=subjects[::-1])
    _time_axis(fig, [e.at for e in events])
    return _layout(fig, height=height or min(120 + 28 * max(len(subjects), 1), 700))


def distribution_figure(dist: Distribution, feature: str, height: int = 340) -> go.Figure:
    """Reference against current for one column of one run: overlaid histograms on the
    reference's bins (hatched bars at the ends for values outside its range), or paired bars
    per category. Bars are shares of each side's counted values."""
    fig = go.Figure()
    sides = (
        ("reference", dist.reference, REFERENCE_COLOR, dist.reference_total),
        ("current", dist.current, CURRENT_COLOR, dist.current_total),
    )
    if dist.kind == "categorical":
        for name, shares, color, total in sides:
            fig.add_trace(
                go.Bar(
                    x=dist.labels,
                    y=shares,
                    name=f"{name} (n = {total:,})",
                    marker={"color": color},
                    hovertemplate=f"{name}<br>%{{x}}: %{{y:.1%}}<extra></extra>",
                )
            )
        fig.update_layout(barmode="group", bargap=0.2, bargroupgap=0.05)
        fig.update_xaxes(title_text=feature, type="category", automargin=True)
    else:
        centers = [(lo + hi) / 2 for lo, hi in zip(dist.left, dist.right, strict=True)]
        widths = [hi - lo for lo, hi in zip(dist.left, dist.right, strict=True)]
        for name, shares, color, total in sides:
            fig.add_trace(
                go.Bar(
                    x=centers,
                    y=shares,
                    width=widths,
                    name=f"{name} (n = {total:,})",
                    marker={"color": color, "line": {"width": 0}},
                    opacity=0.55,
                    customdata=dist.labels,
                    hovertemplate=f"{name}<br>%{{customdata}}: %{{y:.1%}}<extra></extra>",
                )
            )
        outside = [
            (dist.below, dist.left[0] - widths[0], dist.below_label),
            (dist.above, dist.right[-1] + widths[-1], dist.above_label),
        ]
        for pair, x, label in outside:
            if not any(pair):
                continue
            for (name, _, color, _), share in zip(sides, pair, strict=True):
                fig.add_trace(
                    go.Bar(
                        x=[x],
                        y=[share],
                        width=[widths[0]],
                        name=f"{name} outside the reference's range",
                        legendgroup="outside",
                        showlegend=False,
                        marker={"color": color, "pattern": {"shape": "/"}, "line": {"width": 0}},
                        opacity=0.55,
                        hovertemplate=f"{name}<br>{label} (outside the reference's range): "
                        "%{y:.1%}<extra></extra>",
                    )
                )
            fig.add_annotation(
                x=x, y=max(pair), text=label, showarrow=False, yanchor="bottom", font={"size": 11}
            )
        fig.update_layout(barmode="overlay", bargap=0)
        fig.update_xaxes(title_text=feature)
        if is_probability(feature):
            fig.update_xaxes(tickformat=".0%")
    fig.update_yaxes(title_text="share of values", tickformat=".0%", rangemode="tozero")
    fig.update_layout(meta={"feature": feature, "kind": dist.kind})
    return _layout(fig, height=height)


def quality_figure(view: QualityView, height: int = 340, limit: int = 10) -> go.Figure:
    """One data-quality measure's share of each run's window rows over time, one line per
    column where it ever occurred (the ``limit`` worst)."""
    fig = go.Figure()
    times: list[datetime] = []
    for i, series in enumerate(view.series[:limit]):
        times.extend(series.times)
        fig.add_trace(
            go.Scatter(
                x=series.times,
                y=series.shares,
                name=series.feature,
                mode="lines+markers",
                marker={"size": 6},
                line={"width": 2, "color": LINE_COLORS[i % len(LINE_COLORS)]},
                customdata=[
                    [f"{c:,}" if c is not None else "-", f"{r:,}" if r is not None else "-"]
                    for c, r in zip(series.counts, series.rows, strict=True)
                ],
                hovertemplate=f"<b>{series.feature}</b><br>%{{x|%Y-%m-%d %H:%M:%S}}<br>"
                "%{y:.2%} (%{customdata[0]} of %{customdata[1]} rows)<extra></extra>",
            )
        )
    ringed = [
        (t, y, s.feature)
        for s in view.series[:limit]
        for t, y, f in zip(s.times, s.shares, s.flagged, strict=True)
        if f and y is not None
    ]
    if ringed:
        fig.add_trace(
            go.Scatter(
                x=[t for t, _, _ in ringed],
                y=[y for _, y, _ in ringed],
                text=[name for _, _, name in ringed],
                name="flagged by the quality detector",
                mode="markers",
                marker={
                    "size": 13,
                    "color": "rgba(0,0,0,0)",
                    "line": {"width": 2, "color": DRIFT_COLOR},
                },
                hovertemplate="<b>%{text}</b> flagged by the quality detector"
                "<br>%{x|%Y-%m-%d %H:%M:%S}<extra></extra>",
            )
        )
    fig.update_yaxes(
        title_text=f"share of rows {QUALITY_NAMES[view.measure]}",
        tickformat=".1%",
        rangemode="tozero",
    )
    fig.update_layout(meta={"measure": view.measure})
    _time_axis(fig, times)
    return _layout(fig, height=height)
