"""Saving and listing monitor reports (their ``to_dict()`` as JSON text)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select

from driftscope import Report

from .base import StoreBase
from .tables import T_REPORTS
from .values import _dumps


class ReportsMixin(StoreBase):
    """Save, read and list reports."""

    def save_report(self, report: Report) -> None:
        """Save (or replace) a report."""
        values = {
            "id": report.id,
            "monitor": report.monitor,
            "model": report.model,
            "created_at": report.created_at,
            "drifted": report.drifted,
            "status": report.status,
            "body": _dumps(report.to_dict()),
        }
        with self._tx("saving a report", write=True) as conn:
            conn.execute(self._upsert(T_REPORTS, values), values)

    def get_report(self, report_id: str) -> Report | None:
        """One report by id, or ``None``."""
        with self._tx("reading a report") as conn:
            body = conn.execute(
                select(T_REPORTS.c.body).where(T_REPORTS.c.id == report_id)
            ).scalar_one_or_none()
        return None if body is None else _report(body)

    def list_reports(
        self,
        monitor: str,
        *,
        since: datetime | None = None,
        before: datetime | None = None,
        limit: int = 50,
    ) -> list[Report]:
        """A monitor's reports created in ``[since, before)``, newest first."""
        query = select(T_REPORTS.c.body).where(T_REPORTS.c.monitor == monitor)
        if since is not None:
            query = query.where(T_REPORTS.c.created_at >= since)
        if before is not None:
            query = query.where(T_REPORTS.c.created_at < before)
        query = query.order_by(T_REPORTS.c.created_at.desc(), T_REPORTS.c.id.desc()).limit(limit)
        with self._tx("listing reports") as conn:
            bodies = conn.execute(query).scalars().all()
        return [_report(b) for b in bodies]


def _report(body: str) -> Report:
    return Report.from_dict(json.loads(body))
