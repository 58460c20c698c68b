"""Retention: deleting old predictions, reports, alert events and finished outbox messages,
in batches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from driftscope import PruneResult, StoreError

from .base import StoreBase
from .tables import T_MODELS
from .values import to_micros

_TERMINAL_STATUSES = ("sent", "failed", "muted", "given_up")


class RetentionMixin(StoreBase):
    """Prune rows older than a cutoff, one batch per transaction."""

    def prune(
        self, older_than: datetime, *, dry_run: bool = False, batch_size: int = 10_000
    ) -> PruneResult:
        """Delete old predictions, reports, alert events and finished outbox messages.

        Each batch of at most ``batch_size`` rows is its own transaction. ``details`` counts
        predictions per model (``predictions:<model>``). A dry run only counts.
        """
        if batch_size < 1:
            raise StoreError("batch_size must be at least 1")
        cutoff = to_micros(older_than)
        ph = self._ph()
        with self._tx("listing models") as conn:
            models = conn.execute(select(T_MODELS.c.name, T_MODELS.c.table_name)).all()
        details: dict[str, int] = {}
        total_predictions = 0
        for model, table in models:
            n = self._prune_table(table, "id", f"ts < {ph}", (cutoff,), dry_run, batch_size)
            details[f"predictions:{model}"] = n
            total_predictions += n
        terminal = ", ".join(f"'{s}'" for s in _TERMINAL_STATUSES)
        reports = self._prune_table(
            "reports", "id", f"created_at < {ph}", (cutoff,), dry_run, batch_size
        )
        events = self._prune_table(
            "alert_events", "id", f"at < {ph}", (cutoff,), dry_run, batch_size
        )
        outbox = self._prune_table(
            "outbox",
            "id",
            f"created_at < {ph} AND status IN ({terminal})",
            (cutoff,),
            dry_run,
            batch_size,
        )
        return PruneResult(
            predictions=total_predictions,
            reports=reports,
            alert_events=events,
            outbox=outbox,
            details=details,
        )

    def _prune_table(
        self,
        table: str,
        key: str,
        where: str,
        params: tuple[Any, ...],
        dry_run: bool,
        batch_size: int,
    ) -> int:
        if dry_run:
            with self._tx(f"counting old rows of {table}") as conn:
                return int(
                    conn.exec_driver_sql(
                        f"SELECT count(*) FROM {table} WHERE {where}", params
                    ).scalar_one()
                )
        deleted = 0
        ph = self._ph()
        sql = (
            f"DELETE FROM {table} WHERE {key} IN "
            f"(SELECT {key} FROM {table} WHERE {where} LIMIT {ph})"
        )
        while True:
            with self._tx(f"pruning {table}", write=True) as conn:
                n = conn.exec_driver_sql(sql, (*params, batch_size)).rowcount
            deleted += max(n, 0)
            if n < batch_size:
                return deleted
