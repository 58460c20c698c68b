"""Plotly figures of the shaped data in :mod:`driftscope.apps.dashboard.data` (no Streamlit here).

Each figure names its traces so a reader (and a test) can tell them apart: one trace per
feature, ``threshold`` for the decision line, ``reference`` and ``current`` for the two
samples, ``drifted`` for the runs that found drift.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import plotly.graph_objects as go

from driftscope.apps.dashboard.data.alerts import AlertEventRow
from driftscope.apps.dashboard.data.display import (
    ALERT_STATE_COLORS,
    CURRENT_COLOR,
    DRIFT_COLOR,
    OK_COLOR,
    REFERENCE_COLOR,
    format_number,
)
from driftscope.apps.dashboard.data.drift import DetectorSeries, Heatmap
from driftscope.apps.dashboard.data.performance import PerformanceSeries
from driftscope.apps.dashboard.data.reports import Comparison

THRESHOLD_COLOR = "#c0392b"
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
"""p-values below this are drawn at it (the hover gives the real value)."""


def _layout(fig: go.Figure, *, height: int, title: str | None = None) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        title={"text": title, "x": 0, "font": {"size": 15}} if title else None,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        hovermode="closest",
        font=FONT,
    )
    return fig


def _span(times: Sequence[datetime]) -> list[datetime]:
    return [min(times), max(times)] if times else []


def drift_lines(series: DetectorSeries, features: Sequence[str], height: int = 340) -> go.Figure:
    """One detector's decision value of each chosen feature over time, the threshold drawn
    as a dashed line and drifted runs as red markers (a log axis for p-values)."""
    fig = go.Figure()
    all_times: list[datetime] = []
    drift_x: list[datetime] = []
    drift_y: list[float | None] = []
    drift_text: list[str] = []
    floor = P_VALUE_FLOOR if series.drift_below else None
    for i, name in enumerate(features):
        s = series.series.get(name)
        if s is None:
            continue
        all_times.extend(s.times)
        shown = _floored(s.values, floor)
        fig.add_trace(
            go.Scatter(
                x=s.times,
                y=shown,
                name=name,
                mode="lines+markers",
                marker={"size": 6},
                line={"width": 2, "color": LINE_COLORS[i % len(LINE_COLORS)]},
                customdata=[format_number(v) for v in s.values],
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
        low = max(min(present, default=1.0), P_VALUE_FLOOR)
        decades = max(1, math.ceil(-math.log10(low)))
        fig.update_yaxes(
            title_text=f"{series.measure} ({below})",
            type="log",
            exponentformat="power",
            dtick=max(1, math.ceil(decades / 5)),
        )
    else:
        fig.update_yaxes(title_text=f"{series.measure} ({below})", rangemode="tozero")
    return _layout(fig, height=height)


def _floored(values: Sequence[float | None], floor: float | None) -> list[float | None]:
    if floor is None:
        return list(values)
    return [None if v is None else max(v, floor) for v in values]


def heatmap_figure(hm: Heatmap, height: int | None = None) -> go.Figure:
    """Features × runs coloured by how far each result is from its threshold: green well
    below, amber near, red past it; drifted cells carry a dot."""
    rows = max(len(hm.features), 1)
    fig = go.Figure(
        go.Heatmap(
            x=hm.times,
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
    return _layout(fig, height=height or min(140 + 22 * rows, 900))


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
        for name, values, color in (
            ("reference", comp.reference, REFERENCE_COLOR),
            ("current", comp.current, CURRENT_COLOR),
        ):
            fig.add_trace(
                go.Scatter(
                    x=comp.x,
                    y=values,
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
        fig.update_xaxes(title_text=feature)
    fig.update_layout(meta={"detector": detector, "feature": feature})
    return _layout(fig, height=height)


def performance_figure(perf: PerformanceSeries, height: int = 320) -> go.Figure:
    """The metric per run against its reference value and the acceptable limit
    (reference × (1 − max_drop), or × (1 + max_drop) for error metrics)."""
    fig = go.Figure()
    colors = [DRIFT_COLOR if d else OK_COLOR for d in perf.drifted]
    fig.add_trace(
        go.Scatter(
            x=perf.times,
            y=perf.values,
            name=perf.metric,
            mode="lines+markers",
            marker={"size": 8, "color": colors},
            line={"color": CURRENT_COLOR, "width": 2},
            customdata=[[n if n is not None else "-"] for n in perf.labelled_rows],
            hovertemplate=f"{perf.metric} %{{y:.3f}}<br>%{{x|%Y-%m-%d %H:%M:%S}}"
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
        if perf.max_drop is not None:
            sign = "+" if perf.lower_is_better else "−"
            label = f"limit ({sign}{perf.max_drop:.0%})"
        else:
            label = "limit"
        fig.add_trace(
            go.Scatter(
                x=span,
                y=[perf.limit] * 2,
                name=label,
                mode="lines",
                line={"color": THRESHOLD_COLOR, "dash": "dash", "width": 2},
                hovertemplate=f"limit {perf.limit:.3f}<extra></extra>",
            )
        )
    fig.update_yaxes(title_text=perf.metric)
    return _layout(fig, height=height)


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
    return _layout(fig, height=height or min(120 + 28 * max(len(subjects), 1), 700))
