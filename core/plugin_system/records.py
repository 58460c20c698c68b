"""The records that registration hooks return: which component a plugin provides, under which name.

Modelled on conda's plugin records: a small frozen dataclass per registration, the name
normalised (stripped, lower-cased) when the record is made so lookups never depend on case.
One base class, :class:`ComponentRecord`, holds the fields and the checks; each kind only
says which base classes its components must subclass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from driftscope.core.contracts.detector import Detector, PerformanceDetector
from driftscope.core.contracts.notifier import Notifier
from driftscope.core.contracts.store import Store
from driftscope.core.contracts.window_detector import WindowDetector

_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")

C = TypeVar("C")


def normalise_name(name: str) -> str:
    """Lower-case and strip a component name, and check it is a usable identifier."""
    cleaned = str(name).strip().lower()
    if not _NAME.match(cleaned):
        raise ValueError(
            f"invalid component name {name!r}: use letters, digits, '_', '-' or '.', "
            "starting with a letter"
        )
    return cleaned


@dataclass(frozen=True)
class ComponentRecord(Generic[C]):
    """A component a plugin provides: its name, its class, and a one-line description.

    The name is normalised (stripped, lower-cased) and checked; the class must subclass
    one of the kind's :attr:`bases`; the description defaults to the first line of the
    class's docstring.
    """

    #: The classes a component of this kind must subclass (one of them).
    bases: ClassVar[tuple[type, ...]] = (object,)

    name: str
    component: type[C]
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", normalise_name(self.name))
        component = self.component
        if not isinstance(component, type) or not issubclass(component, self.bases):
            wanted = " or ".join(base.__name__ for base in self.bases)
            raise TypeError(
                f"{type(self).__name__}({self.name!r}): {component!r} is not a subclass of {wanted}"
            )
        if not self.description:
            doc = (component.__doc__ or "").strip()
            object.__setattr__(self, "description", doc.splitlines()[0] if doc else "")


class DetectorRecord(
    ComponentRecord[Detector[Any, Any] | PerformanceDetector[Any, Any] | WindowDetector[Any, Any]]
):
    """A detector a plugin provides: ``DetectorRecord("psi", PSIDetector)``."""

    bases = (Detector, PerformanceDetector, WindowDetector)


class StoreRecord(ComponentRecord[Store]):
    """A store a plugin provides: ``StoreRecord("sql", SQLStore)``."""

    bases = (Store,)


class NotifierRecord(ComponentRecord[Notifier[Any]]):
    """A notifier a plugin provides: ``NotifierRecord("discord", DiscordNotifier)``."""

    bases = (Notifier,)
