"""Settings of alert rules (per monitor) and of alert delivery (per deployment)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    """How the outbox worker retries; the top-level ``delivery:`` block.

    After a 5xx or a connection error the first ``fast_attempts`` retries wait
    ``backoff_initial``, doubling each time (never more than ``backoff_max``); after them
    every retry waits ``backoff_max``, so a receiver that is down for hours is still tried a
    few times a minute at little cost. A message is given up only when it is still
    undelivered ``give_up_after`` its creation.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # past ~1024 the doubling wait no longer fits a float; 30 doublings of 1 s are 34 years
    fast_attempts: int = Field(
        default=5, ge=0, le=30, description="Retries with an exponentially growing wait."
    )
    backoff_initial: Duration = Field(
        default=timedelta(seconds=1), description="First wait after a 5xx or connection error."
    )
    # a minute: a receiver back from an outage hears the waiting alerts within a minute,
    # at the cost of one request a minute to a dead endpoint
    backoff_max: Duration = Field(
        default=timedelta(minutes=1),
        description="Longest wait between attempts; the wait after the fast attempts.",
    )
    give_up_after: Duration = Field(
        default=timedelta(hours=24),
        description="A message still undelivered this long after it was created is given up.",
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
    lease: Duration = Field(
        default=timedelta(seconds=30),
        description=(
            "How long one process's claim to deliver lasts without renewal: after a crash, "
            "another process (or the restarted one) takes over delivery after this long."
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> DeliverySettings:
        if self.backoff_max < self.backoff_initial:
            raise ValueError("backoff_max must not be shorter than backoff_initial")
        if self.lease <= self.poll_interval:
            raise ValueError("lease must be longer than poll_interval, or it lapses between polls")
        return self
