"""Settings of alert rules (per monitor) and of alert delivery (per deployment)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from driftscope.core.durations import Duration


class AlertRuleSettings(BaseModel):
    """When a drifting key fires, resolves and repeats; the ``alert:`` block of a monitor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    for_runs: int = Field(default=1, ge=1, description="Consecutive drifted runs before firing.")
    resolve_runs: int = Field(
        default=1, ge=1, description="Consecutive clean runs before a firing key resolves."
    )
    repeat_every: Duration = Field(
        default=timedelta(hours=4), description="Repeat a still-firing alert at most this often."
    )


class DeliverySettings(BaseModel):
    """How the outbox worker retries; the top-level ``delivery:`` block."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=8, ge=1, description="Attempts before a message fails.")
    backoff_initial: Duration = Field(
        default=timedelta(seconds=1), description="First wait after a 5xx or connection error."
    )
    backoff_max: Duration = Field(
        default=timedelta(minutes=5), description="Longest wait between attempts."
    )
    block_backoff: Duration = Field(
        default=timedelta(minutes=10),
        description="Wait after a 429 without rate-limit headers (a block, not a rate limit).",
    )
    max_pending: int = Field(
        default=1000,
        ge=1,
        description="Most messages a notifier may have waiting; beyond it the oldest fail.",
    )
    poll_interval: Duration = Field(
        default=timedelta(seconds=1), description="How often the worker looks for due messages."
    )
    timeout: Duration = Field(
        default=timedelta(seconds=10), description="HTTP timeout of one delivery attempt."
    )
