"""The records that registration hooks return: which component a plugin provides, under which name.

Modelled on conda's plugin records: a small frozen dataclass per registration, the name
normalised (stripped, lower-cased) when the record is made so lookups never depend on case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftscope.core.contracts.detector import Detector, PerformanceDetector
    from driftscope.core.contracts.notifier import Notifier
    from driftscope.core.contracts.store import Store

_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")


def normalise_name(name: str) -> str:
    """Lower-case and strip a component name, and check it is a usable identifier."""
    cleaned = str(name).strip().lower()
    if not _NAME.match(cleaned):
        raise ValueError(
            f"invalid component name {name!r}: use letters, digits, '_', '-' or '.', "
            "starting with a letter"
        )
    return cleaned


def _normalise(record: Any) -> None:
    object.__setattr__(record, "name", normalise_name(record.name))
    if not record.description:
        doc = (record.component.__doc__ or "").strip()
        object.__setattr__(record, "description", doc.splitlines()[0] if doc else "")


@dataclass(frozen=True)
class DetectorRecord:
    """A detector a plugin provides: ``DetectorRecord("psi", PSIDetector)``."""

    name: str
    detector: type[Detector[Any, Any]] | type[PerformanceDetector[Any, Any]]
    description: str = ""

    def __post_init__(self) -> None:
        _normalise(self)

    @property
    def component(self) -> type[Detector[Any, Any]] | type[PerformanceDetector[Any, Any]]:
        return self.detector


@dataclass(frozen=True)
class StoreRecord:
    """A store a plugin provides: ``StoreRecord("sql", SQLStore)``."""

    name: str
    store: type[Store]
    description: str = ""

    def __post_init__(self) -> None:
        _normalise(self)

    @property
    def component(self) -> type[Store]:
        return self.store


@dataclass(frozen=True)
class NotifierRecord:
    """A notifier a plugin provides: ``NotifierRecord("discord", DiscordNotifier)``."""

    name: str
    notifier: type[Notifier[Any]]
    description: str = ""

    def __post_init__(self) -> None:
        _normalise(self)

    @property
    def component(self) -> type[Notifier[Any]]:
        return self.notifier
