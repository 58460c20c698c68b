"""The delivery contract: one outcome enum, one classification of HTTP statuses for every
notifier, and a DeliveryResult that cannot say two things at once."""

from __future__ import annotations

import math

import pytest

from driftscope import DeliveryOutcome, DeliveryResult

# Written out by hand (not computed): what each answer means for a notifier.
STATUSES: list[tuple[int, str]] = [
    (200, "delivered"),
    (201, "delivered"),
    (204, "delivered"),
    (299, "delivered"),
    (100, "transient"),
    (301, "transient"),  # httpx does not follow redirects; a moved endpoint is retried
    (304, "transient"),
    (400, "rejected"),
    (401, "gone"),
    (402, "rejected"),
    (403, "gone"),
    (404, "gone"),
    (405, "rejected"),
    (409, "rejected"),
    (410, "gone"),
    (413, "rejected"),
    (422, "rejected"),
    (499, "rejected"),
    (500, "transient"),
    (502, "transient"),
    (503, "transient"),
    (504, "transient"),
    (599, "transient"),
    (600, "transient"),
]


@pytest.mark.parametrize(("status", "expected"), STATUSES)
def test_each_status_has_one_outcome_for_every_notifier(status: int, expected: str) -> None:
    assert DeliveryOutcome.from_status(status) == expected
    # the 429 signal matters only for a 429
    assert DeliveryOutcome.from_status(status, rate_limit_signalled=False) == expected


def test_a_429_is_a_rate_limit_only_when_the_receiver_says_so() -> None:
    assert DeliveryOutcome.from_status(429, rate_limit_signalled=True) == "rate_limited"
    assert DeliveryOutcome.from_status(429, rate_limit_signalled=False) == "blocked"
    assert DeliveryResult.from_status(429, retry_after=2.0).outcome == "rate_limited"
    assert DeliveryResult.from_status(429).outcome == "blocked"


@pytest.mark.parametrize("status", ["200", 200.0, True, None])
def test_a_status_that_is_not_an_int_is_refused(status: object) -> None:
    with pytest.raises(TypeError, match="HTTP status"):
        DeliveryOutcome.from_status(status)  # type: ignore[arg-type]


def test_a_rate_limit_carries_its_wait_and_nothing_else_does() -> None:
    with pytest.raises(ValueError, match="needs retry_after"):
        DeliveryResult(DeliveryOutcome.RATE_LIMITED)
    for outcome in set(DeliveryOutcome) - {DeliveryOutcome.RATE_LIMITED}:
        with pytest.raises(ValueError, match="belongs to a rate_limited result"):
            DeliveryResult(outcome, retry_after=1.0)
    # a non-429 answer drops a wait it does not mean
    assert DeliveryResult.from_status(503, retry_after=5.0).retry_after is None


@pytest.mark.parametrize(
    ("given", "kept"),
    [(0.25, 0.25), (-3.0, 0.0), (86_400.0, 86_400.0), (1e300, 86_400.0), (math.inf, 86_400.0)],
)
def test_a_wait_is_cut_to_between_zero_and_a_day(given: float, kept: float) -> None:
    assert DeliveryResult(DeliveryOutcome.RATE_LIMITED, retry_after=given).retry_after == kept


def test_a_nan_wait_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        DeliveryResult(DeliveryOutcome.RATE_LIMITED, retry_after=math.nan)


def test_an_outcome_may_be_given_by_its_value_and_a_wrong_one_is_refused() -> None:
    assert DeliveryResult("gone").outcome is DeliveryOutcome.GONE  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'lost'"):
        DeliveryResult("lost")  # type: ignore[arg-type]
    assert DeliveryResult(DeliveryOutcome.DELIVERED).delivered
    assert not DeliveryResult(DeliveryOutcome.TRANSIENT).delivered
