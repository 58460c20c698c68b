"""Monitors and their reports: list, page through, read one, run now."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse

from driftscope.apps.api.deps import ADMIN, READ, LoggerDep, RuntimeDep
from driftscope.apps.api.schemas import (
    ErrorResponse,
    MonitorOut,
    MonitorsResponse,
    ReportOut,
    ReportsPage,
    report_out,
)
from driftscope.core.config.yaml_file import DriftscopeConfig, MonitorConfig
from driftscope.core.contracts.report import Report
from driftscope.core.runtime import Runtime
from driftscope.core.validation import (
    MAX_ID_CHARS,
    Problem,
    RequestValidationFailed,
    require_text,
    require_time,
    shown,
)

router = APIRouter(prefix="/v1", tags=["monitors"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse}}


def _monitor(runtime: Runtime, name: str) -> MonitorConfig:
    try:
        return runtime.config.monitor(name)
    except KeyError:
        require_text(name, ("path", "name"))
        raise HTTPException(404, f"unknown monitor {shown(name)}") from None


@router.get(
    "/monitors", response_model=MonitorsResponse, dependencies=[READ], summary="List monitors"
)
async def list_monitors(runtime: RuntimeDep) -> MonitorsResponse:
    """Every configured monitor with its schedule, detectors and latest report."""

    def latest() -> list[MonitorOut]:
        out = []
        for monitor in runtime.config.monitors:
            reports = runtime.store.list_reports(monitor.name, limit=1)
            out.append(MonitorOut.of(monitor, reports[0] if reports else None))
        return out

    return MonitorsResponse(monitors=await asyncio.to_thread(latest))


@router.get(
    "/monitors/{name}/reports",
    dependencies=[READ],
    response_model=ReportsPage,
    responses=_NOT_FOUND,
    summary="A monitor's reports, newest first",
)
async def list_reports(
    name: str,
    runtime: RuntimeDep,
    since: Annotated[
        datetime | None, Query(description="Only reports created at or after.")
    ] = None,
    before: Annotated[
        datetime | None, Query(description="Only reports created before (the next page).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    details: Annotated[
        bool, Query(description="Include chart data of each result (false: plain values only).")
    ] = True,
) -> ReportsPage:
    """Reports newest first; follow `next_before` for older ones."""
    monitor = _monitor(runtime, name)
    reports = await asyncio.to_thread(
        runtime.store.list_reports,
        monitor.name,
        since=require_time(since, ("query", "since")),
        before=require_time(before, ("query", "before")),
        limit=limit,
    )
    return ReportsPage(
        reports=[report_out(r, details=details) for r in reports],
        next_before=reports[-1].created_at if len(reports) == limit else None,
    )


@router.get(
    "/reports/{report_id}",
    response_model=ReportOut,
    responses=_NOT_FOUND,
    dependencies=[READ],
    summary="One report",
)
async def get_report(report_id: str, runtime: RuntimeDep) -> ReportOut:
    """Everything needed to draw one report, with per-feature comparison data."""
    require_text(report_id, ("path", "report_id"), MAX_ID_CHARS)
    report = await asyncio.to_thread(runtime.store.get_report, report_id)
    if report is None:
        raise HTTPException(404, f"unknown report {shown(report_id)}")
    return report_out(report)


@router.get(
    "/reports/{report_id}/html",
    response_class=HTMLResponse,
    responses={
        200: {"content": {"text/html": {}}, "description": "The report as one HTML file."},
        **_NOT_FOUND,
    },
    dependencies=[READ],
    summary="One report as a self-contained HTML file",
)
async def get_report_html(report_id: str, runtime: RuntimeDep) -> HTMLResponse:
    """The report as one HTML file to download and share: its window, the monitor's and
    model's settings, every column's findings and the charts, with Plotly embedded so it
    opens without a network. The dashboard's download button fetches this."""
    require_text(report_id, ("path", "report_id"), MAX_ID_CHARS)
    report = await asyncio.to_thread(runtime.store.get_report, report_id)
    if report is None:
        raise HTTPException(404, f"unknown report {shown(report_id)}")
    document, file_name = await asyncio.to_thread(_html_document, report, runtime.config)
    return HTMLResponse(
        document,
        headers={
            "Content-Disposition": f'attachment; filename="{file_name}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


def _html_document(report: Report, config: DriftscopeConfig) -> tuple[str, str]:
    """The report's HTML file and its name. Plotly and Jinja2 are imported on first use, on
    the worker thread this runs on: an API that never writes a report never loads them, and
    the import never stalls the event loop."""
    from driftscope.apps.report import render_report_html, report_facts, report_file_name

    data = report.to_dict()
    facts = report_facts(config, report.monitor, report.model)
    return render_report_html(data, facts), report_file_name(data)


@router.post(
    "/monitors/{name}/run",
    dependencies=[ADMIN],
    response_model=ReportOut,
    responses=_NOT_FOUND,
    summary="Run a monitor now",
)
async def run_monitor(
    name: str,
    runtime: RuntimeDep,
    logger: LoggerDep,
    at: Annotated[
        datetime | None,
        Query(
            description="Backfill: run over the window ending at this past time (ISO 8601, "
            "with a zone or UTC). The report is marked backfilled and fires no alerts "
            "unless `alerts=true`."
        ),
    ] = None,
    alerts: Annotated[
        bool,
        Query(description="With `at`: let the backfilled report fire and resolve alerts."),
    ] = False,
) -> ReportOut:
    """Run the monitor on its window ending now (queued predictions included), or ending
    at `at` for a backfill, and return the saved report."""
    monitor = _monitor(runtime, name)
    end = require_time(at, ("query", "at"))
    if end is not None and end > runtime.engine.clock():
        raise RequestValidationFailed(
            [Problem(("query", "at"), "must not be in the future", "time", field="at")]
        )
    if logger is not None:
        await logger.flush()
    if end is None:
        report = await asyncio.to_thread(runtime.run_monitor, monitor.name)
    else:
        report = await asyncio.to_thread(runtime.backfill_monitor, monitor.name, end, alerts=alerts)
    return report_out(report)
