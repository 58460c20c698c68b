"""Retention: delete predictions, reports, alert history and finished outbox messages by age.

One pass is :func:`prune_older_than`; the store deletes in batches of ``batch_size`` rows,
each batch its own short transaction, so writers (the API's log writer) are never locked out
for long. ``driftscope prune`` runs one pass by hand (``--dry-run`` only counts); the
scheduler runs one every ``retention.every`` when ``retention.keep`` is set, under a store
lease so that one process prunes per interval however many share the database.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from driftscope.core.contracts.store import PruneResult, Store

log = logging.getLogger(__name__)

#: The lease name processes sharing a database take before a scheduled prune.
RETENTION_LEASE = "retention"


@dataclass(frozen=True)
class PrunePass:
    """What one retention pass did: the cutoff, the counts, and how long it took."""

    cutoff: datetime
    result: PruneResult
    dry_run: bool
    seconds: float

    @property
    def total(self) -> int:
        r = self.result
        return r.predictions + r.reports + r.alert_events + r.outbox


def prune_older_than(
    store: Store,
    keep: timedelta,
    *,
    batch_size: int = 10_000,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PrunePass:
    """Delete (or, with ``dry_run``, count) everything older than ``now - keep``."""
    if keep <= timedelta(0):
        raise ValueError("the retention age must be positive")
    cutoff = (now or datetime.now(UTC)) - keep
    started = time.perf_counter()
    result = store.prune(cutoff, dry_run=dry_run, batch_size=batch_size)
    done = PrunePass(cutoff, result, dry_run, time.perf_counter() - started)
    log.info(
        "retention: %s %d predictions, %d reports, %d alert events, %d outbox messages "
        "older than %s in %.2f s",
        "would delete" if dry_run else "deleted",
        result.predictions,
        result.reports,
        result.alert_events,
        result.outbox,
        cutoff.isoformat(timespec="seconds"),
        done.seconds,
    )
    return done
