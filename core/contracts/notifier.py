"""The notifier contract: how an alert reaches a person.

The engine never calls a notifier directly. Alert changes become :class:`Notification`
payloads in the store's outbox, in the same transaction as the state change; a delivery
worker later calls :meth:`Notifier.send` and acts on the :class:`DeliveryResult`'s
:class:`DeliveryOutcome` (retry after a rate limit, back off after a server error, stop
after a permanent failure).
"""

from __future__ import annotations

import logging
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from driftscope.core.contracts.types import Compared, DriftsWhen
from driftscope.core.durations import Duration


class NotifierSettings(BaseModel):
    """Settings every notifier accepts; a notifier extends this with its own fields.

    Secret fields (webhook URLs, tokens) must be ``SecretStr`` so they are never printed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="The name monitors use in their notify list.")
    type: str = Field(description="The registered notifier type, e.g. discord.")
    cooldown: Duration | None = Field(
        default=None, description="Send to this channel at most once per cooldown."
    )


NotifierSettingsT = TypeVar("NotifierSettingsT", bound=NotifierSettings)


@dataclass
class AlertChange:
    """One state change of one alert key (``from_state`` → ``to_state`` at ``at``).

    A key that stays firing and is announced again has ``from_state == to_state``. ``at``
    is when the monitor run recorded the change; messages written before it existed carry
    ``None`` and take their notification's ``created_at``.

    ``compared``, ``value``, ``threshold``, ``drifts_when``, ``p_value_adjusted`` and
    ``statistic_floor`` say what the decision compared (see
    :mod:`driftscope.core.contracts.comparison`, whose :func:`comparison_text` renders them:
    "p-value 0.0123 < threshold 0.05 · statistic 0.409"); messages written before they
    existed carry ``None``.
    """

    detector: str
    feature: str
    from_state: str
    to_state: str
    statistic: float | None = None
    threshold: float | None = None
    p_value: float | None = None
    kind: str = "feature"
    at: datetime | None = None
    #: what the result's details add, in words (an estimate's band, the features carrying a
    #: multivariate change, a data-quality check): :func:`result_context`
    context: str | None = None
    compared: Compared | None = None
    value: float | None = None
    drifts_when: DriftsWhen | None = None
    p_value_adjusted: float | None = None
    statistic_floor: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        """The alert key inside one monitor: (detector, feature)."""
        return (self.detector, self.feature)


@dataclass
class Notification:
    """One message for one notifier about one monitor.

    ``changes`` lists state changes oldest first. A message from one monitor run has at
    most one change per key; a message merged from several runs (a notifier's cooldown)
    keeps every change, so a key that fired at T1 and resolved at T2 appears twice, in that
    order: see :meth:`history` and :meth:`latest`.
    """

    monitor: str
    model: str
    created_at: datetime
    changes: list[AlertChange]
    report_id: str | None = None
    window: dict[str, Any] = field(default_factory=dict)
    dashboard_url: str | None = None
    test: bool = False

    @property
    def state(self) -> str:
        """The overall state the message announces (firing, no_data, resolved), judged by
        where each key ended up."""
        states = {c.to_state for c in self.latest()}
        for state in ("firing", "no_data", "resolved"):
            if state in states:
                return state
        return "ok"

    def history(self) -> dict[tuple[str, str], list[AlertChange]]:
        """Each key's changes in the order they happened; keys in order of first change."""
        by_key: dict[tuple[str, str], list[AlertChange]] = {}
        for change in self.changes:
            by_key.setdefault(change.key, []).append(change)
        return by_key

    def latest(self) -> list[AlertChange]:
        """The last change of each key (where it stands now), keys in order of first change."""
        return [changes[-1] for changes in self.history().values()]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        for change in data["changes"]:
            if change["at"] is not None:
                change["at"] = change["at"].isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:
        values = dict(data)
        values["created_at"] = datetime.fromisoformat(values["created_at"])
        changes = []
        for raw in values["changes"]:
            change = dict(raw)
            at = change.get("at")
            change["at"] = datetime.fromisoformat(at) if isinstance(at, str) else None
            changes.append(AlertChange(**change))
        values["changes"] = changes
        return cls(**values)


#: Answers that say the endpoint itself is gone or refuses us. Discord asks clients never to
#: call again a webhook that answered 404 (it restricts those that keep trying); 410 Gone is
#: the same answer said more plainly, so every notifier disables itself on it too.
GONE_STATUSES: frozenset[int] = frozenset({401, 403, 404, 410})

#: The longest wait one rate-limit answer can impose (a day): a receiver's ``Retry-After``
#: far in the future would otherwise park the notifier for years, or past what a datetime
#: can hold.
MAX_RETRY_AFTER: float = 86_400.0


class DeliveryOutcome(StrEnum):
    """What became of one attempt to send, and so what the delivery worker does next.

    - ``DELIVERED``: the receiver accepted the message; it is marked sent.
    - ``RATE_LIMITED``: the receiver asked us to wait ``retry_after`` seconds (a 429 with a
      rate-limit signal); the notifier waits, and the attempt is not counted.
    - ``BLOCKED``: a 429 without a rate-limit signal (a block by the receiver's edge); the
      notifier waits the worker's ``block_backoff``.
    - ``GONE``: the endpoint is gone or refuses us (401, 403, 404, 410); the message fails
      and the notifier is disabled until its configuration changes.
    - ``REJECTED``: the receiver refused this message (another 4xx); retrying cannot help,
      the message fails.
    - ``TRANSIENT``: anything else (a 5xx, a connection error, an unexpected status); the
      message is retried with backoff until ``give_up_after``.
    """

    DELIVERED = "delivered"
    RATE_LIMITED = "rate_limited"
    BLOCKED = "blocked"
    GONE = "gone"
    REJECTED = "rejected"
    TRANSIENT = "transient"

    @classmethod
    def from_status(cls, status: int, *, rate_limit_signalled: bool = True) -> DeliveryOutcome:
        """Classify an HTTP status the same way for every notifier.

        :param status: The response's status code.
        :param rate_limit_signalled: For a 429: whether the receiver said it is a rate limit
            (rate-limit headers, a ``Retry-After``); without that signal a 429 is a block.
        """
        if isinstance(status, bool) or not isinstance(status, int):
            raise TypeError(f"an HTTP status is an int, not {type(status).__name__}")
        if 200 <= status < 300:
            return cls.DELIVERED
        if status == 429:
            return cls.RATE_LIMITED if rate_limit_signalled else cls.BLOCKED
        if status in GONE_STATUSES:
            return cls.GONE
        if 400 <= status < 500:
            return cls.REJECTED
        return cls.TRANSIENT


@dataclass(frozen=True)
class DeliveryResult:
    """What happened when a notifier tried to send: a :class:`DeliveryOutcome` and its detail.

    ``retry_after`` (seconds) belongs to ``RATE_LIMITED`` and only to it; a longer wait than
    :data:`MAX_RETRY_AFTER` is cut to it, a negative one to 0. ``error`` is shown to
    operators and must hold no secret. ``external_id`` is the receiver's id of the message.
    """

    outcome: DeliveryOutcome
    retry_after: float | None = None
    status_code: int | None = None
    error: str | None = None
    external_id: str | None = None

    def __post_init__(self) -> None:
        outcome = DeliveryOutcome(self.outcome)
        object.__setattr__(self, "outcome", outcome)
        if outcome is DeliveryOutcome.RATE_LIMITED:
            if self.retry_after is None:
                raise ValueError("a rate_limited result needs retry_after (seconds to wait)")
            wait = float(self.retry_after)
            if math.isnan(wait):
                raise ValueError("retry_after must be a number of seconds, not NaN")
            object.__setattr__(self, "retry_after", min(max(wait, 0.0), MAX_RETRY_AFTER))
        elif self.retry_after is not None:
            raise ValueError(f"retry_after belongs to a rate_limited result, not {outcome.value}")

    @classmethod
    def from_status(
        cls,
        status: int,
        *,
        retry_after: float | None = None,
        rate_limit_signalled: bool | None = None,
        error: str | None = None,
        external_id: str | None = None,
    ) -> DeliveryResult:
        """The result of an HTTP answer, classified by :meth:`DeliveryOutcome.from_status`.

        :param retry_after: Seconds the receiver asked us to wait; kept only when the answer
            is a rate limit.
        :param rate_limit_signalled: Whether a 429 is a rate limit rather than a block;
            by default, whether ``retry_after`` is known.
        """
        if rate_limit_signalled is None:
            rate_limit_signalled = retry_after is not None
        outcome = DeliveryOutcome.from_status(status, rate_limit_signalled=rate_limit_signalled)
        return cls(
            outcome,
            retry_after=retry_after if outcome is DeliveryOutcome.RATE_LIMITED else None,
            status_code=status,
            error=error,
            external_id=external_id,
        )

    @property
    def delivered(self) -> bool:
        """Whether the receiver accepted the message."""
        return self.outcome is DeliveryOutcome.DELIVERED


class Notifier(ABC, Generic[NotifierSettingsT]):
    """Base class of a notifier plugin, generic in its settings type.

    ``class DiscordNotifier(Notifier[DiscordSettings])`` sets ``Settings = DiscordSettings``
    (which validates the YAML block) and gets ``self.settings`` typed as ``DiscordSettings``.
    """

    Settings: ClassVar[type[NotifierSettings]] = NotifierSettings

    def __init__(self, settings: NotifierSettingsT) -> None:
        self.settings: NotifierSettingsT = settings

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.settings.name!r})"

    @property
    def name(self) -> str:
        return self.settings.name

    @abstractmethod
    def send(self, notification: Notification) -> DeliveryResult:
        """Deliver one notification; never raise for an HTTP error, return a result."""

    def close(self) -> None:  # optional hook: most notifiers hold nothing
        """Release connections; called when the process stops."""

    @classmethod
    def contract_problems(cls) -> list[str]:
        """What this class misses of the notifier contract, one sentence each (none: complete)."""
        problems: list[str] = []
        if not (isinstance(cls.Settings, type) and issubclass(cls.Settings, NotifierSettings)):
            problems.append(
                f"Settings must be a subclass of driftscope.NotifierSettings, got {cls.Settings!r}"
            )
        problems.extend(f"does not implement {name}" for name in sorted(cls.__abstractmethods__))
        return problems


REDACTED = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret in ``text`` (longest first) with ``***``."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


class _SecretLogFilter(logging.Filter):
    """Redacts registered secrets from the records of one logger."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._secrets = self._secrets | {s for s in secrets if s}

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        if secrets:
            message = record.getMessage()
            cleaned = redact(message, secrets)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_http_log_filter = _SecretLogFilter()
logging.getLogger("httpx").addFilter(_http_log_filter)


def protect_secrets(secrets: Iterable[str]) -> None:
    """Keep secrets (webhook URLs, tokens) out of the HTTP client's log lines.

    httpx logs every request's full URL at INFO level; a notifier whose URL is a secret
    registers it here (and any other form it sends, such as a rewritten URL) when it is
    created, and those log lines then show ``***`` instead.
    """
    _http_log_filter.add(secrets)
