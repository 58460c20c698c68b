"""The report's Plotly figures: each detector's findings across the columns, reference
against current for each column, estimated performance with its band against the realized
value, and the features a multivariate detector ranked.

Plotly reads a small set of HTML tags (``<b>``, ``<br>``, ``<a href>``) in every label it
draws, so every name that comes from the data (features, categories, bin labels) goes
through :func:`plot_text` first: it is drawn as the text it is, never read as markup.

Figures are plain dicts in Plotly's JSON schema (``{"data": [...], "layout": {...}}``), the
form the page hands ``Plotly.newPlot``: building them through ``plotly.graph_objects``
validated every property on every update and took a second for a 30-feature report.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from driftscope.apps.report.formatting import edge_labels, increase_text, number_text
from driftscope.apps.report.reading import mapping, numbers, text
from driftscope.apps.report.summaries import Histogram
from driftscope.apps.report.table import Column, Finding, ReportTable
from driftscope.apps.report.window_findings import Estimate, Multivariate

REFERENCE_COLOR = "#7f8c9d"
CURRENT_COLOR = "#3b6fd8"
DRIFT_COLOR = "#d63a3a"
OK_COLOR = "#2e9e5b"
THRESHOLD_COLOR = "#c0392b"
P_VALUE_FLOOR = 1e-16
"""p-values below this are drawn at it (the axis title says so; the table has the value)."""
MAX_OVERVIEW_COLUMNS = 60
"""A detector's overview chart shows at most this many columns, the most drifted first."""
MAX_RANKED_BARS = 20
"""A ranking chart draws this many features at most, the most important first (its table
lists them all)."""
REALIZED_COLOR = "#1d2129"

Figure = dict[str, Any]
"""A Plotly figure as JSON: ``data`` (the traces) and ``layout``."""

_AXIS = {"gridcolor": "#e6e8eb", "zerolinecolor": "#c9ccd1", "automargin": True}


def plot_text(value: str) -> str:
    """``value`` as Plotly should draw it: ``<``, ``>`` and ``&`` as entities, which Plotly
    shows as the characters rather than reading them as tags."""
    return html.escape(value, quote=False)


def column_label(column: Column) -> str:
    """How a chart names a column: model outputs are marked, so a feature called
    ``prediction`` is not mistaken for the model's."""
    return column.name if column.result_kind == "feature" else f"{column.name} (output)"


def _figure(
    traces: list[dict[str, Any]],
    *,
    height: int,
    xaxis: dict[str, Any],
    yaxis: dict[str, Any],
    **layout: Any,
) -> Figure:
    return {
        "data": traces,
        "layout": {
            "height": height,
            "margin": {"l": 10, "r": 10, "t": 36, "b": 10},
            "showlegend": True,
            "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0,
                       "xanchor": "left"},
            "hovermode": "closest",
            "hoverlabel": {"align": "left"},
            "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
                     "size": 12},
            "paper_bgcolor": "white",
            "plot_bgcolor": "white",
            "xaxis": {**_AXIS, **xaxis},
            "yaxis": {**_AXIS, **yaxis},
            **layout,
        },
    }  # fmt: skip


def _title(text: str) -> dict[str, Any]:
    return {"title": {"text": text}}


# -- one detector across the columns ---------------------------------------------------------
def _decided_value(finding: Finding, p_values: bool) -> float | None:
    value = finding.p_decided if p_values else finding.statistic
    if value is None or not math.isfinite(value) or finding.status != "ok":
        return None
    return value


def _overview_hover(finding: Finding, value: float) -> str:
    checks = finding.quality
    if checks is None:
        return number_text(value)
    return f"{checks.worst.label} {increase_text(checks.worst.increase)}"


def overview_figure(table: ReportTable, detector: str) -> Figure | None:
    """One dot per column the detector scored, at the value it decided on (the p-value,
    adjusted when corrected, on a log axis; else the statistic), its threshold a dashed
    line and drifted columns red; ``None`` when it scored none."""
    p_values = detector in table.with_p_value
    points: list[tuple[Column, Finding, float]] = []
    for column in table.columns:
        finding = column.findings.get(detector)
        value = None if finding is None else _decided_value(finding, p_values)
        if finding is not None and value is not None:
            points.append((column, finding, value))
    if not points:
        return None
    # most drifted first: smallest p-values, largest statistics
    points.sort(key=lambda p: (not p[1].drifted, p[2] if p_values else -p[2]))
    points = points[:MAX_OVERVIEW_COLUMNS]
    traces = []
    for drifted, color, name in ((True, DRIFT_COLOR, "drift"), (False, OK_COLOR, "ok")):
        chosen = [p for p in points if p[1].drifted is drifted]
        if not chosen:
            continue
        traces.append(
            {
                "type": "scatter",
                "x": [max(v, P_VALUE_FLOOR) if p_values else v for _, _, v in chosen],
                "y": [plot_text(column_label(c)) for c, _, _ in chosen],
                "mode": "markers",
                "name": name,
                "marker": {"color": color, "size": 10, "line": {"width": 1, "color": "white"}},
                "customdata": [_overview_hover(f, v) for _, f, v in chosen],
                "hovertemplate": "%{y}<br>%{customdata}<extra></extra>",
            }
        )
    thresholds = {f.threshold for _, f, _ in points if f.threshold is not None}
    shapes = []
    if len(thresholds) == 1:
        (threshold,) = thresholds
        if math.isfinite(threshold) and (threshold > 0 or not p_values):
            shapes.append(
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "paper",
                    "x0": threshold,
                    "x1": threshold,
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": THRESHOLD_COLOR, "dash": "dash", "width": 2},
                }
            )
    labels = [plot_text(column_label(c)) for c, _, _ in points]
    yaxis = {"type": "category", "categoryorder": "array", "categoryarray": labels[::-1]}
    # the axis always shows the threshold and the far end (p = 1, a statistic of 0), so a
    # single point is seen against its line rather than filling the axis
    ends = [v for _, _, v in points] + [t for t in thresholds if math.isfinite(t)]
    if p_values:
        low = max(min(ends), P_VALUE_FLOOR)
        xaxis = {
            **_title(
                f"p-value (drift left of the dashed line; below {P_VALUE_FLOOR:g} drawn at it)"
            ),
            # a log axis's range is in powers of ten
            "range": [math.log10(low) - 0.5, 0.1],
            "type": "log",
            "exponentformat": "power",
        }
    else:
        high = max(ends)
        quality = detector in table.quality_detectors
        xaxis = {
            **_title(
                "worst check's increase (drift right of the dashed line)"
                if quality
                else "statistic (drift right of the dashed line)"
            ),
            "range": [min(0.0, min(ends)), high * 1.08 if high > 0 else 1.0],
            **({"tickformat": ".0%"} if quality else {}),
        }
    return _figure(
        traces,
        height=min(110 + 24 * len(points), 1600),
        xaxis=xaxis,
        yaxis=yaxis,
        shapes=shapes,
        meta={"detector": detector},
    )


# -- reference against current for one column ------------------------------------------------
def _shares(values: Sequence[float]) -> list[float]:
    total = sum(values)
    return [v / total for v in values] if total > 0 else [0.0 for _ in values]


def _paired_bars(
    labels: list[str],
    reference: Sequence[float],
    current: Sequence[float],
    *,
    axis_title: str,
    with_counts: bool,
) -> Figure:
    traces = []
    for name, values, color in (
        ("reference", reference, REFERENCE_COLOR),
        ("current", current, CURRENT_COLOR),
    ):
        total = int(sum(values))
        trace: dict[str, Any] = {
            "type": "bar",
            "x": [plot_text(label) for label in labels],
            "y": _shares(values) if with_counts else list(values),
            "name": name,
            "marker": {"color": color},
            "hovertemplate": f"{name}<br>%{{x}}<br>%{{y:.1%}}"
            + (" (%{customdata})" if with_counts else "")
            + "<extra></extra>",
        }
        if with_counts:
            trace["customdata"] = [f"{int(v):,} of {total:,}" for v in values]
        traces.append(trace)
    return _figure(
        traces,
        height=300,
        xaxis={**_title(axis_title), "type": "category", "tickangle": -30, "showgrid": False},
        yaxis={**_title("share of values"), "tickformat": ".0%", "rangemode": "tozero"},
        barmode="group",
        bargap=0.2,
        bargroupgap=0.05,
    )


def histogram_figure(histogram: Histogram) -> Figure:
    """The summary's histogram: bins fixed on the reference (with a bin below and one above
    its range), or its categories; both samples as shares of their values."""
    if histogram.edges is not None:
        labels = edge_labels(histogram.edges)
        title = "bins of equal width over the reference's range"
    else:
        labels = histogram.categories or []
        title = "categories (the reference's most frequent)"
    return _paired_bars(
        labels, histogram.reference, histogram.current, axis_title=title, with_counts=True
    )


def _details_bins(finding: Finding) -> Figure | None:
    bins = mapping(finding.details.get("bins"))
    reference = numbers(bins.get("reference"))
    current = numbers(bins.get("current"))
    raw_labels = bins.get("labels")
    if not reference or not current or len(reference) != len(current):
        return None
    labels = [text(v) or "?" for v in raw_labels] if isinstance(raw_labels, list) else []
    if len(labels) != len(reference):
        labels = [f"bin {i + 1}" for i in range(len(reference))]
    return _paired_bars(
        labels,
        reference,
        current,
        axis_title=f"{plot_text(finding.detector)} bins",
        with_counts=False,
    )


def _details_ecdf(finding: Finding, feature: str) -> Figure | None:
    ecdf = mapping(finding.details.get("ecdf"))
    x = numbers(ecdf.get("x"))
    reference = numbers(ecdf.get("reference"))
    current = numbers(ecdf.get("current"))
    if not x or not reference or not current or not len(x) == len(reference) == len(current):
        return None
    traces = [
        {
            "type": "scatter",
            "x": x,
            "y": values,
            "name": name,
            "mode": "lines",
            "line": {"shape": "hv", "color": color, "width": 2.5},
            "hovertemplate": f"{name}<br>≤ %{{x:.4g}}: %{{y:.1%}}<extra></extra>",
        }
        for name, values, color in (
            ("reference", reference, REFERENCE_COLOR),
            ("current", current, CURRENT_COLOR),
        )
    ]
    return _figure(
        traces,
        height=300,
        xaxis=_title(plot_text(feature)),
        yaxis={**_title("share of values ≤ x (ECDF)"), "tickformat": ".0%", "range": [0, 1.02]},
    )


def distribution_figure(column: Column) -> Figure | None:
    """Reference against current for one column: the summary's histogram when the report
    has one, else the bins (PSI, chi-square) or the two ECDFs (KS) a detector kept; ``None``
    when neither is there."""
    fig: Figure | None = None
    if column.summary is not None and column.summary.histogram is not None:
        fig = histogram_figure(column.summary.histogram)
    else:
        findings = list(column.findings.values())
        for finding in findings:
            fig = _details_bins(finding)
            if fig is not None:
                break
        else:
            for finding in findings:
                fig = _details_ecdf(finding, column.name)
                if fig is not None:
                    break
    if fig is None:
        return None
    fig["layout"]["meta"] = {"column": column.name, "result_kind": column.result_kind}
    return fig


# -- estimated performance ---------------------------------------------------------------------
def estimate_figure(estimates: Sequence[Estimate]) -> Figure | None:
    """One estimating detector's metrics: each estimate with its band as an error bar, the
    realized value beside it when labels arrived, and the threshold (red, dashed) and the
    reference's value (grey, dotted) as short lines across the metric; ``None`` when no
    metric was estimated."""
    shown = [e for e in estimates if e.estimate is not None]
    if not shown:
        return None
    labels = [plot_text(e.metric) for e in shown]
    values = [e.estimate for e in shown]
    above = [(e.upper - v) if e.upper is not None and v is not None else 0.0
             for e, v in zip(shown, values, strict=True)]  # fmt: skip
    below = [(v - e.lower) if e.lower is not None and v is not None else 0.0
             for e, v in zip(shown, values, strict=True)]  # fmt: skip
    traces: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "x": labels,
            "y": values,
            "mode": "markers",
            "name": "estimate (band)",
            "marker": {
                "color": [DRIFT_COLOR if e.drifted else CURRENT_COLOR for e in shown],
                "size": 12,
            },
            "error_y": {
                "type": "data",
                "symmetric": False,
                "array": above,
                "arrayminus": below,
                "color": CURRENT_COLOR,
                "thickness": 2,
                "width": 10,
            },
            "customdata": [f"{number_text(e.lower)} – {number_text(e.upper)}" for e in shown],
            "hovertemplate": "%{x}<br>estimate %{y:.4g}<br>band %{customdata}<extra></extra>",
        }
    ]
    realized = [e for e in shown if e.realized is not None]
    if realized:
        traces.append(
            {
                "type": "scatter",
                "x": [plot_text(e.metric) for e in realized],
                "y": [e.realized for e in realized],
                "mode": "markers",
                "name": "realized (labels)",
                "marker": {"color": REALIZED_COLOR, "size": 12, "symbol": "diamond"},
                "customdata": [f"{e.realized_rows or 0:,}" for e in realized],
                "hovertemplate": "%{x}<br>realized %{y:.4g} on %{customdata} labelled rows"
                "<extra></extra>",
            }
        )
    shapes = []
    in_legend: set[str] = set()
    for i, e in enumerate(shown):
        for value, color, dash, name in (
            (e.threshold, THRESHOLD_COLOR, "dash", "threshold"),
            (e.reference_value, REFERENCE_COLOR, "dot", "reference value"),
        ):
            if value is None:
                continue
            shapes.append(
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "y",
                    "x0": i - 0.4,
                    "x1": i + 0.4,
                    "y0": value,
                    "y1": value,
                    "line": {"color": color, "dash": dash, "width": 2},
                    "name": name,
                    "legendgroup": name,
                    "showlegend": name not in in_legend,  # one entry per kind of line
                }
            )
            in_legend.add(name)
    heights = [
        v
        for e in shown
        for v in (e.lower, e.upper, e.realized, e.threshold, e.reference_value, e.estimate)
        if v is not None
    ]
    low, high = min(heights), max(heights)
    pad = (high - low) * 0.12 or abs(high) * 0.05 or 0.05
    return _figure(
        traces,
        height=340,
        xaxis={
            "type": "category",
            "categoryorder": "array",
            "categoryarray": labels,
            "range": [-0.5, len(shown) - 0.5],
            "showgrid": False,
        },
        yaxis={**_title("metric value"), "range": [low - pad, high + pad]},
        shapes=shapes,
        scattermode="group",
        scattergap=0.55,
        meta={"estimated": shown[0].detector},
    )


# -- multivariate drift ------------------------------------------------------------------------
def ranking_figure(result: Multivariate) -> Figure | None:
    """The features a multivariate detector ranked, as horizontal bars of their share of
    the importance, the most important on top (those with a share, when any has one);
    ``None`` without a ranking."""
    # features the classifier did not use at all say nothing: the table lists them
    used = [r for r in result.ranking if r.importance > 0]
    ranked = (used or result.ranking)[:MAX_RANKED_BARS]
    if not ranked:
        return None
    labels = [plot_text(r.feature) for r in ranked]
    trace = {
        "type": "bar",
        "orientation": "h",
        "x": [r.importance for r in ranked],
        "y": labels,
        "name": "share of the importance",
        "marker": {"color": DRIFT_COLOR if result.drifted else CURRENT_COLOR},
        "customdata": [number_text(r.auc_drop) for r in ranked],
        "hovertemplate": "%{y}<br>%{x:.1%} of the importance<br>AUC falls by %{customdata} "
        "when shuffled<extra></extra>",
    }
    return _figure(
        [trace],
        height=min(120 + 24 * len(ranked), 620),
        xaxis={
            **_title("share of the classifier's importance (AUC lost when shuffled)"),
            "tickformat": ".0%",
            "rangemode": "tozero",
        },
        yaxis={"type": "category", "categoryorder": "array", "categoryarray": labels[::-1]},
        showlegend=False,
        meta={"ranking": result.detector},
    )
