"""Exceptions that driftscope raises for problems a user can fix."""

from __future__ import annotations


class DriftscopeError(Exception):
    """Base class of every error driftscope raises on purpose."""


class ConfigError(DriftscopeError):
    """A configuration file is invalid.

    ``problems`` holds ``(location, message)`` pairs, where a location is a dotted path into
    the file such as ``monitors[0].detectors[1].threshold``.
    """

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        where = f"{source}: " if source else ""
        lines = [f"{loc}: {msg}" if loc else msg for loc, msg in problems]
        super().__init__(
            where + ("; ".join(lines) if len(lines) == 1 else "\n  " + "\n  ".join(lines))
        )


class PluginError(DriftscopeError):
    """A plugin is missing, conflicts with another, or failed to load."""


class PluginConflictError(PluginError):
    """Two plugins registered the same name for the same kind of component."""


class UnknownPluginError(PluginError):
    """A configuration names a detector, store or notifier that no plugin registered."""


class PluginContractError(PluginError):
    """A registered detector, store or notifier class does not meet its contract (it misses
    a method the engine calls, or declares something inconsistent)."""


class StoreError(DriftscopeError):
    """The store could not read or write.

    ``transient`` says whether trying the same call again may succeed: ``True`` for a lost
    connection, a locked database or a server shutting down; ``False`` when the data itself
    cannot be stored (a value a column cannot hold, an unknown model); ``None`` when the store
    did not classify it, which the prediction log treats as transient, so an unclassified
    outage is retried rather than dead-lettered.
    """

    def __init__(self, message: str, *, transient: bool | None = None) -> None:
        super().__init__(message)
        self.transient = transient


class StoreNotFoundError(StoreError):
    """A command that only reads (or adds to) what is stored was pointed at a database that
    does not exist; it refuses to create an empty one and names where it looked."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


class ModelLoadError(DriftscopeError):
    """A model file could not be loaded safely."""
