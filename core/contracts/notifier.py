"""The notifier contract: how an alert reaches a person.

The engine never calls a notifier directly. Alert changes become :class:`Notification`
payloads in the store's outbox, in the same transaction as the state change; a delivery
worker later calls :meth:`Notifier.send` and acts on the :class:`DeliveryResult` (retry
after a rate limit, back off after a server error, stop after a permanent failure).
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

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


@dataclass(frozen=True)
class DeliveryResult:
    """What happened when a notifier tried to send.

    - ``delivered``: the receiver accepted the message.
    - ``retry_after``: the receiver asked to wait this many seconds (a rate limit).
    - ``permanent``: retrying cannot help (a 4xx other than 429); the message fails.
    - ``disable``: the endpoint is gone or refuses us (401/403/404); stop using the
      notifier until its configuration changes.
    - ``blocked``: a 429 that is not a rate limit (no rate-limit headers: a block by the
      receiver's edge); the delivery worker waits its ``block_backoff`` before trying again.
    """

    delivered: bool
    retry_after: float | None = None
    permanent: bool = False
    disable: bool = False
    status_code: int | None = None
    error: str | None = None
    external_id: str | None = None
    blocked: bool = False


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
        missing: frozenset[str] = cls.__abstractmethods__  # type: ignore[attr-defined]
        problems.extend(f"does not implement {name}" for name in sorted(missing))
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
