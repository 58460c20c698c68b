"""Monitors and their reports: list, page through, read one, run now."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from driftscope.apps.api.deps import ADMIN, READ, LoggerDep, RuntimeDep
from driftscope.apps.api.schemas import (
    ErrorResponse,
    MonitorOut,
    MonitorsResponse,
    ReportOut,
    ReportsPage,
    report_out,
)
from driftscope.core.config.yaml_file import MonitorConfig
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
        raise HTTPException(404, "unknown report")
    return report_out(report)


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
