"""One report as one self-contained HTML file: facts, the column table, the charts, and
Plotly's JavaScript embedded, so the file opens anywhere without a network.

The page is a Jinja2 template with autoescaping: every value from the report (feature names,
categories, errors) is written as text. Its three scripts (Plotly, the figure data's loader
with the table's sorting, and the figure data itself, a JSON block that never runs) are the
only ones the page's Content-Security-Policy allows, each by its SHA-256: a script that
found its way into the page some other way would not run, and the page may fetch nothing.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import metadata
from importlib.resources import files
from typing import Any

import jinja2
import plotly.io as pio
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from driftscope.apps.report.cells import Cell, Chart, Header, TableRow
from driftscope.apps.report.facts import Fact, ReportFacts
from driftscope.apps.report.figures import (
    MAX_OVERVIEW_COLUMNS,
    Figure,
    column_label,
    distribution_figure,
    overview_figure,
)
from driftscope.apps.report.formatting import (
    DASH,
    duration_text,
    increase_text,
    number_text,
    share_text,
    time_text,
)
from driftscope.apps.report.reading import count, mapping, moment, number, text
from driftscope.apps.report.summaries import SampleFigures
from driftscope.apps.report.table import Column, Finding, Performance, ReportTable, report_table
from driftscope.apps.report.window_findings import Estimate, Multivariate
from driftscope.apps.report.window_sections import (
    ESTIMATE_HEADERS,
    ESTIMATE_HELP,
    MULTIVARIATE_HEADERS,
    MULTIVARIATE_HELP,
    RANKING_HEADERS,
    estimate_section,
    multivariate_blocks,
)

MAX_DISTRIBUTION_CHARTS = 60
"""Columns drawn reference against current at most (the drifting ones first); the table
lists every column."""

DETECTOR_HELP = {
    "ks": "Kolmogorov–Smirnov: D is the largest gap between the reference's and the "
    "window's cumulative distributions (0 to 1); the p-value is the chance of a gap this "
    "large if nothing had changed. Drift when the p-value is below the threshold.",
    "psi": "Population Stability Index: how far the share of values in each bin of the "
    "reference moved. Under 0.1 is usually stable, 0.1 to 0.25 a moderate shift, over 0.25 a "
    "large one. Drift at or over the threshold.",
    "chi2": "Chi-square test of homogeneity over the categories: the p-value is the chance of "
    "category shares this different if nothing had changed. Drift when it is below the "
    "threshold.",
    "quality": "Data quality: the shares of missing, infinite, out-of-range (beyond the "
    "reference's range or the configured bounds) and unseen-category values, each against "
    "the reference's share. Shown is the check whose share grew the most, in percentage "
    "points (+40.0 pts: 40 more rows in a hundred), with the reference's and the window's "
    "share below it; hover for every check. Drift when the increase is over the threshold.",
}
CORRECTION_HELP = (
    "With many columns tested at once some p-values are small by chance; the monitor's "
    "correction (Bonferroni, or Benjamini–Hochberg's false discovery rate) adjusts them, and "
    "the decision is made on the adjusted value."
)
SUMMARY_HEADERS = (
    ("mean", "Mean of the finite values in the window (the reference's below it)."),
    ("std", "Standard deviation of the finite values in the window (the reference's below it)."),
    ("missing", "Share of rows without a value in the window (the reference's below it)."),
    (
        "out of range",
        "Share of the window's rows with a finite value below the reference's "
        "minimum or above its maximum (numeric columns).",
    ),
    (
        "unseen",
        "Share of the window's rows with a category the reference never had (categorical columns).",
    ),
)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


# -- the column table ------------------------------------------------------------------------
def _decision_cell(finding: Finding | None) -> Cell:
    if finding is None:
        return Cell(DASH, css="text")
    decision = finding.decision
    badge = {"drift": "drift", "ok": "ok", "failed": "failed"}.get(decision, "other")
    if decision == "ok" and finding.details.get("severity") == "warn":
        decision, badge = "warn", "warn"
    order = {"drift": 0, "warn": 1, "ok": 2}.get(decision, 3)
    return Cell(decision, sort=order, css="text", badge=badge, title=finding.error)


def _quality_cell(finding: Finding) -> Cell | None:
    checks = finding.quality
    if checks is None or finding.status != "ok" or checks.worst.increase is None:
        return None
    worst = checks.worst
    grew = worst.increase is not None and worst.increase > 0
    every = "; ".join(
        f"{c.label}: {share_text(c.reference)} → {share_text(c.current)} "
        f"({increase_text(c.increase)})"
        for c in checks.checks
    )
    return Cell(
        f"{worst.label} {increase_text(worst.increase)}" if grew else "no increase",
        sort=finding.statistic,
        css="first-in-group",
        note=f"{share_text(worst.reference)} → {share_text(worst.current)}" if grew else None,
        title=f"reference → window: {every}",
    )


def _statistic_cell(finding: Finding | None) -> Cell:
    if finding is not None:
        quality = _quality_cell(finding)
        if quality is not None:
            return quality
    statistic = None if finding is None else finding.statistic
    return Cell(number_text(statistic), sort=statistic, css="first-in-group")


def _threshold_cell(finding: Finding | None, p_values: bool) -> Cell:
    if finding is None or finding.threshold is None:
        return Cell(DASH)
    if finding.quality is not None:
        return Cell(f"> {increase_text(finding.threshold)}", sort=finding.threshold)
    shown = number_text(finding.threshold)
    label = f"p < {shown}" if p_values else f"≥ {shown}"
    floor = number(finding.details.get("min_statistic"))
    if p_values and floor is not None:
        label += f", statistic ≥ {number_text(floor)}"
    return Cell(label, sort=finding.threshold)


def _p_cell(finding: Finding | None) -> Cell:
    if finding is None or finding.p_decided is None:
        return Cell(DASH)
    raw = number_text(finding.p_value)
    if finding.p_adjusted is None:
        return Cell(raw, sort=finding.p_value)
    adjusted = number_text(finding.p_adjusted)
    return Cell(
        adjusted,
        sort=finding.p_adjusted,
        note=f"raw {raw}" if raw != adjusted else None,
        title=f"adjusted for {finding.correction or 'multiple tests'}",
    )


def _pair(reference: float | None, current: float | None) -> Cell:
    if reference is None and current is None:
        return Cell(DASH)
    return Cell(number_text(current), sort=current, note=f"ref {number_text(reference)}")


def _share_pair(reference: SampleFigures, current: SampleFigures, part: str) -> Cell:
    ref = reference.share(getattr(reference, part))
    cur = current.share(getattr(current, part))
    return Cell(
        share_text(cur),
        sort=cur,
        note=f"ref {share_text(ref)}",
        title=f"{getattr(current, part):,} of {current.rows:,} rows "
        f"(reference: {getattr(reference, part):,} of {reference.rows:,})",
    )


def _current_share(current: SampleFigures, part: str) -> Cell:
    value = getattr(current, part)
    return Cell(
        share_text(current.share(value)),
        sort=current.share(value),
        title=f"{value:,} of {current.rows:,} rows",
    )


def _summary_cells(column: Column) -> list[Cell]:
    summary = column.summary
    if summary is None:
        return [Cell(DASH) for _ in SUMMARY_HEADERS]
    ref, cur = summary.reference, summary.current
    cells = [
        _pair(ref.mean, cur.mean),
        _pair(ref.std, cur.std),
        _share_pair(ref, cur, "missing"),
        _current_share(cur, "out_of_range") if summary.kind == "numeric" else Cell(DASH),
        _current_share(cur, "unseen") if summary.kind == "categorical" else Cell(DASH),
    ]
    first = cells[0]
    cells[0] = Cell(first.text, first.sort, "first-in-group", first.title, first.note)
    return cells


def _shared_thresholds(table: ReportTable) -> dict[str, str]:
    """The threshold of each detector that compared every column with the same one: it is
    stated once, under the detector's name, instead of in a column of equal cells."""
    shared = {}
    for detector in table.detectors:
        p_values = detector in table.with_p_value
        labels = {
            _threshold_cell(c.findings[detector], p_values).text
            for c in table.columns
            if detector in c.findings
        }
        if len(labels) == 1:
            shared[detector] = labels.pop()
    return shared


def _table_rows(
    table: ReportTable,
    anchors: Mapping[int, str],
    with_summaries: bool,
    shared: Mapping[str, str],
) -> list[TableRow]:
    rows = []
    for index, column in enumerate(table.columns):
        kind = column.kind if column.result_kind == "feature" else f"{column.kind} output"
        cells = [
            Cell(column.name, sort=column.name, css="name", link=anchors.get(index)),
            Cell(kind, sort=kind, css="text wrap"),
        ]
        for detector in table.detectors:
            finding = column.findings.get(detector)
            p_values = detector in table.with_p_value
            cells.append(_statistic_cell(finding))
            if p_values:
                cells.append(_p_cell(finding))
            if detector not in shared:
                cells.append(_threshold_cell(finding, p_values))
            cells.append(_decision_cell(finding))
        if with_summaries:
            cells.extend(_summary_cells(column))
        rows.append(TableRow(column.name, bool(column.drifted_by), cells))
    return rows


def _headers(
    table: ReportTable, with_summaries: bool, shared: Mapping[str, str]
) -> tuple[list[Header], list[Header]]:
    groups = [
        Header("column", column=0, css="name", rowspan=True, help="The feature or model output."),
        Header(
            "kind",
            column=1,
            css="text",
            rowspan=True,
            help="numeric or categorical; outputs are the model's prediction, a class "
            "probability or the predicted value.",
        ),
    ]
    headers: list[Header] = []
    column = 2
    for detector in table.detectors:
        help_text = DETECTOR_HELP.get(detector, f"The {detector} detector (a plugin).")
        p_values = detector in table.with_p_value
        names = [
            "worst check" if detector in table.quality_detectors else "statistic",
            *(["p-value"] if p_values else []),
            *(["threshold"] if detector not in shared else []),
            "decision",
        ]
        groups.append(Header(detector, span=len(names), help=help_text, note=shared.get(detector)))
        for i, name in enumerate(names):
            extra = CORRECTION_HELP if name == "p-value" else help_text
            headers.append(
                Header(
                    name,
                    column=column,
                    css=("first-in-group " if i == 0 else "")
                    + ("text" if name == "decision" else ""),
                    help=extra,
                )
            )
            column += 1
    if with_summaries:
        groups.append(
            Header(
                "current (reference)",
                span=len(SUMMARY_HEADERS),
                help="What the engine saw of the column in the reference and in the window.",
            )
        )
        for i, (name, help_text) in enumerate(SUMMARY_HEADERS):
            headers.append(
                Header(name, column=column, css="first-in-group" if i == 0 else "", help=help_text)
            )
            column += 1
    return groups, headers


def _performance_rows(performance: list[Performance]) -> list[list[Cell]]:
    rows = []
    for p in performance:
        change = DASH if p.relative_change is None else f"{p.relative_change:+.1%}"
        badge = {"drift": "drift", "ok": "ok", "failed": "failed"}.get(p.decision, "other")
        rows.append(
            [
                Cell(p.metric, css="text"),
                Cell(number_text(p.reference_value)),
                Cell(number_text(p.current_value)),
                Cell(change),
                Cell(number_text(p.limit)),
                Cell(DASH if p.labelled_rows is None else f"{p.labelled_rows:,}"),
                Cell(p.decision, css="text", badge=badge, title=p.error),
            ]
        )
    return rows


# -- the page --------------------------------------------------------------------------------
def _window_facts(report: Mapping[str, Any]) -> list[Fact]:
    window = mapping(report.get("window"))
    start, end = moment(window.get("start")), moment(window.get("end"))
    facts = [
        Fact("from", time_text(start)),
        Fact("to", time_text(end)),
        Fact("length", duration_text(end - start) if start and end else DASH),
    ]
    for key, label in (("rows", "rows"), ("labelled_rows", "labelled rows")):
        value = count(window.get(key))
        facts.append(Fact(label, DASH if value is None else f"{value:,}"))
    sampled = count(window.get("sampled_rows"))
    if sampled is not None:
        facts.append(Fact("sampled", f"{sampled:,} rows read (a uniform sample of the window)"))
    return facts


def _summary_sentence(report: Mapping[str, Any], table: ReportTable) -> str:
    status = text(report.get("status")) or "ok"
    rows = count(mapping(report.get("window")).get("rows"))
    if status == "insufficient_data":
        return (
            f"The window had {rows or 0:,} rows, too few to check drift: no detector ran. "
            "A monitor's window.min_samples sets how many it needs."
        )
    if status == "failed":
        return "The run failed: no results."
    features = [c for c in table.columns if c.result_kind == "feature"]
    quality = table.quality_detectors
    drifted = [c.name for c in features if any(d not in quality for d in c.drifted_by)]
    outputs = [c.name for c in table.columns if c.result_kind != "feature" and c.drifted_by]
    parts = []
    if any(d not in quality for d in table.detectors):
        parts.append(f"{len(drifted)} of {len(features)} features drifting{_listed(drifted)}.")
    broken = []
    for column in features:
        for detector in column.drifted_by:
            cell = _quality_cell(column.findings[detector]) if detector in quality else None
            if cell is not None:
                broken.append(f"{column.name} ({cell.text})")
    if broken:
        plural = "s" if len(broken) > 1 else ""
        parts.append(f"Data-quality problem{plural} on {len(broken)} feature{plural}"
                     f"{_listed(broken)}.")  # fmt: skip
    for m in table.multivariate:
        if m.drifted:
            top = ", ".join(r.feature for r in m.ranking[:3])
            parts.append(
                f"The features together drifted ({m.detector} AUC {number_text(m.statistic)} "
                f"≥ {number_text(m.threshold)})" + (f", most in {top}." if top else ".")
            )
    if outputs:
        parts.append(f"The model's output drifted ({', '.join(outputs)}).")
    dropped = [p.metric for p in table.performance if p.drifted]
    if dropped:
        parts.append(f"Performance fell past its limit ({', '.join(dropped)}).")
    estimated = [f"{e.metric} by {e.detector}" for e in table.estimates if e.drifted]
    if estimated:
        parts.append(f"Estimated performance fell past its limit ({', '.join(estimated)}).")
    return " ".join(parts)


def _listed(names: list[str], limit: int = 12) -> str:
    """``: a, b and 3 more`` (nothing for no names)."""
    if not names:
        return ""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f": {', '.join(names[:limit])}{more}"


def _backfill_note(report: Mapping[str, Any]) -> str | None:
    """What a backfilled report says of itself: it was made later, over a past window."""
    if report.get("backfilled") is not True:
        return None
    made = moment(report.get("created_at"))
    end = moment(mapping(report.get("window")).get("end"))
    note = (
        f"Backfilled: this run was made afterwards ({time_text(made)}) over a past window "
        f"that ended {time_text(end)}"
    )
    if made is not None and end is not None and (made - end).total_seconds() >= 1:
        note += f", {duration_text(timedelta(seconds=int((made - end).total_seconds())))} earlier"
    return (
        note + ". It describes the data as it was then; backfilled runs fire no alerts unless "
        "asked to."
    )


def _status(report: Mapping[str, Any], table: ReportTable) -> tuple[str, str]:
    status = text(report.get("status")) or "ok"
    if status == "insufficient_data":
        return "not enough data", "other"
    if status == "failed":
        return "failed", "failed"
    drifted = (
        bool(table.drifted_columns)
        or any(p.drifted for p in table.performance)
        or any(e.drifted for e in table.estimates)
        or any(m.drifted for m in table.multivariate)
    )
    return ("drift found", "drift") if drifted else ("no drift", "ok")


def _failures(table: ReportTable) -> list[str]:
    lines = []
    for column in table.columns:
        for finding in column.findings.values():
            if finding.status == "failed":
                lines.append(f"{finding.detector} on {column.name} failed: {finding.error or '?'}")
    apart: list[Estimate | Multivariate] = [*table.estimates, *table.multivariate]
    for found in apart:
        if found.status == "failed":
            lines.append(f"{found.detector} failed: {found.error or '?'}")
    return lines[:20]


def _column_caption(column: Column) -> str:
    summary = column.summary
    if summary is not None:
        ref, cur = summary.reference, summary.current
        return f"{summary.kind} · reference {ref.rows:,} rows · current {cur.rows:,} rows"
    sizes = [
        (count(f.details.get("reference_size")), count(f.details.get("current_size")))
        for f in column.findings.values()
    ]
    known = next(((r, c) for r, c in sizes if r is not None and c is not None), None)
    if known is None:
        return column.kind
    return f"{column.kind} · reference {known[0]:,} values · current {known[1]:,} values"


def _figure_json(figures: list[Figure]) -> str:
    # plotly's JSON writes <, > and / as \u escapes; & and the two line separators JavaScript
    # does not allow in strings are escaped here too, so the block never ends early
    data = "[" + ",".join(pio.to_json(f, validate=False) for f in figures) + "]"
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        data = data.replace(raw, escaped)
    return data


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


@cache
def _plotly_js() -> tuple[str, str]:
    source = get_plotlyjs()
    return source, _sha256(source)


@cache
def _template() -> jinja2.Template:
    folder = files("driftscope.apps.report") / "templates"
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return environment.from_string((folder / "report.html.j2").read_text(encoding="utf-8"))


@cache
def _page_js() -> str:
    return (files("driftscope.apps.report") / "templates" / "report.js").read_text(encoding="utf-8")


def _version() -> str:
    try:
        return metadata.version("driftscope")
    except metadata.PackageNotFoundError:
        return "(unknown version)"


def report_file_name(report: Mapping[str, Any]) -> str:
    """A file name for the report that is safe in any file system and header:
    ``driftscope-<monitor>-<YYYYmmdd-HHMMSS>.html``."""
    monitor = _SAFE_NAME.sub("_", text(report.get("monitor")) or "report").strip("._")[:80]
    made = moment(report.get("created_at"))
    when = (
        f"{made:%Y%m%d-%H%M%S}" if made else _SAFE_NAME.sub("_", text(report.get("id")) or "")[:64]
    )
    return f"driftscope-{monitor or 'report'}-{when or 'run'}.html"


def render_report_html(
    report: Mapping[str, Any],
    facts: ReportFacts | None = None,
    *,
    generated_at: datetime | None = None,
) -> str:
    """The HTML file of one report.

    :param report: The report as ``Report.to_dict()`` gives it (the API's shape), with its
        ``features`` summaries when it has them.
    :param facts: The monitor's and the model's settings (:func:`report_facts`).
    :param generated_at: When the file is written (default: now).
    """
    facts = facts or ReportFacts()
    table = report_table(report)
    with_summaries = any(c.summary is not None for c in table.columns)
    figures: list[Figure] = []

    overviews: list[Chart] = []
    overview_notes: list[str] = []
    for detector in table.detectors:
        fig = overview_figure(table, detector)
        if fig is None:
            continue
        figures.append(fig)
        overviews.append(
            Chart(
                title=detector,
                caption="",
                figure=len(figures) - 1,
                help=DETECTOR_HELP.get(detector, f"The {detector} detector (a plugin)."),
            )
        )
    if any(
        len([c for c in table.columns if d in c.findings]) > MAX_OVERVIEW_COLUMNS
        for d in table.detectors
    ):
        overview_notes.append(
            f"Each detector's chart shows its {MAX_OVERVIEW_COLUMNS} most drifted columns; the "
            "table lists them all."
        )

    distributions: list[Chart] = []
    anchors: dict[int, str] = {}
    for index, column in enumerate(table.columns[:MAX_DISTRIBUTION_CHARTS]):
        fig = distribution_figure(column)
        if fig is not None:
            figures.append(fig)
        anchors[index] = f"column-{index}"
        badges = [
            Cell(f"{d} problem" if d in table.quality_detectors else f"{d} drift", badge="drift")
            for d in column.drifted_by
        ]
        distributions.append(
            Chart(
                title=column_label(column),
                caption=_column_caption(column),
                figure=len(figures) - 1 if fig is not None else None,
                anchor=anchors[index],
                badges=badges,
            )
        )
    distribution_notes = []
    if len(table.columns) > MAX_DISTRIBUTION_CHARTS:
        distribution_notes.append(
            f"The first {MAX_DISTRIBUTION_CHARTS} of {len(table.columns)} columns are drawn "
            "(the drifting ones first); the table lists them all."
        )

    estimates = estimate_section(table.estimates, figures)
    multivariate = multivariate_blocks(table.multivariate, figures)

    shared = _shared_thresholds(table)
    groups, headers = _headers(table, with_summaries, shared)
    status_text, status_css = _status(report, table)
    monitor = text(report.get("monitor")) or "?"
    model = text(report.get("model")) or "?"
    duration = number(report.get("duration_ms"))
    model_facts = [Fact("name", model), *facts.model]
    page = {
        "title": f"driftscope report: {monitor}",
        "status_text": status_text,
        "status_css": status_css,
        "report_id": text(report.get("id")) or "?",
        "created_at": time_text(moment(report.get("created_at"))),
        "duration": None if duration is None else f"{number_text(duration, 3)} ms",
        "monitor": monitor,
        "model": model,
        "summary": _summary_sentence(report, table),
        "backfill": _backfill_note(report),
        "failures": _failures(table),
        "window": _window_facts(report),
        "model_facts": model_facts,
        "columns": _table_rows(table, anchors, with_summaries, shared),
        "has_summaries": with_summaries,
        "header_groups": groups,
        "headers": headers,
        "performance": _performance_rows(table.performance),
        "estimates": estimates,
        "estimate_headers": ESTIMATE_HEADERS,
        "estimate_help": ESTIMATE_HELP,
        "multivariate": multivariate,
        "multivariate_headers": MULTIVARIATE_HEADERS,
        "multivariate_help": MULTIVARIATE_HELP,
        "ranking_headers": RANKING_HEADERS,
        "overviews": overviews,
        "overview_notes": overview_notes,
        "distributions": distributions,
        "distribution_notes": distribution_notes,
        "distribution_help": (
            "Each column's values in the reference and in the window, as shares of their "
            "values: "
            + (
                "bins of equal width over the reference's range, with one bin below it and one "
                "above, or the reference's most frequent categories, (other) and (unseen)."
                if with_summaries
                else "the bins a detector compared (PSI, chi-square) or, for KS, the two "
                "cumulative distributions."
            )
        ),
        "generated_at": time_text(generated_at or datetime.now(UTC)),
    }
    plotly_js, plotly_hash = _plotly_js()
    page_js = _page_js()
    csp = (
        "default-src 'none'; "
        f"script-src {plotly_hash} {_sha256(page_js)}; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
        "base-uri 'none'; form-action 'none'"
    )
    return _template().render(
        page=page,
        facts=facts,
        csp=csp,
        version=_version(),
        figures_json=Markup(_figure_json(figures)),
        plotly_js=Markup(plotly_js),
        page_js=Markup(page_js),
    )
