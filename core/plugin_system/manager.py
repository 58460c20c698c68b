"""The plugin manager: loads built-in and third-party plugins and resolves components by name.

Built-in plugins are listed by module name in :data:`DEFAULT_PLUGINS` and imported by that
name, exactly as datasette loads its defaults; third-party plugins come from the entry-point
group ``driftscope``. Both are registered with pluggy the same way, and every component is
then found by the name its record gives. A broken entry point is logged and skipped (and
shown by ``driftscope plugins``), never fatal.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import threading
from abc import ABCMeta
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal, overload

import pluggy

from driftscope.core.contracts.detector import Detector, PerformanceDetector
from driftscope.core.contracts.notifier import Notifier
from driftscope.core.contracts.store import Store
from driftscope.core.contracts.window_detector import WindowDetector
from driftscope.core.errors import (
    PluginConflictError,
    PluginContractError,
    PluginError,
    UnknownPluginError,
)
from driftscope.core.plugin_system import hookspecs
from driftscope.core.plugin_system.records import (
    ComponentRecord,
    DetectorRecord,
    NotifierRecord,
    StoreRecord,
)

log = logging.getLogger(__name__)

DEFAULT_PLUGINS: tuple[str, ...] = (
    "driftscope.plugins.detectors.ks",
    "driftscope.plugins.detectors.psi",
    "driftscope.plugins.detectors.chi2",
    "driftscope.plugins.detectors.performance",
    "driftscope.plugins.detectors.quality",
    "driftscope.plugins.detectors.domain_classifier",
    "driftscope.plugins.detectors.cbpe",
    "driftscope.plugins.detectors.dle",
    "driftscope.plugins.stores.sql",
    "driftscope.plugins.notifiers.log",
    "driftscope.plugins.notifiers.discord",
    "driftscope.plugins.notifiers.webhook",
)

ComponentKind = Literal["detector", "store", "notifier"]
#: Any registered component class, when the kind is not known statically.
AnyComponent = (
    type[Detector[Any, Any]]
    | type[PerformanceDetector[Any, Any]]
    | type[WindowDetector[Any, Any]]
    | type[Store]
    | type[Notifier[Any]]
)
_HOOKS: dict[ComponentKind, tuple[str, type[ComponentRecord[Any]]]] = {
    "detector": ("driftscope_detectors", DetectorRecord),
    "store": ("driftscope_stores", StoreRecord),
    "notifier": ("driftscope_notifiers", NotifierRecord),
}
_BASES: dict[ComponentKind, tuple[type, ...]] = {
    "detector": (Detector, PerformanceDetector, WindowDetector),
    "store": (Store,),
    "notifier": (Notifier,),
}


@dataclass
class PluginInfo:
    """What ``driftscope plugins`` shows about one plugin."""

    name: str
    source: str
    components: dict[ComponentKind, list[str]] = field(default_factory=dict)
    error: str | None = None


class PluginManager:
    """driftscope's pluggy plugin manager with name-based component registries."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self._sources: dict[str, str] = {}
        self._broken: list[PluginInfo] = []
        self._registry: dict[ComponentKind, dict[str, tuple[ComponentRecord[Any], str]]] | None
        self._registry = None
        #: failures of plugin code by (plugin, where): exported on /metrics
        self.errors: Counter[tuple[str, str]] = Counter()
        self._errors_lock = threading.Lock()

    # -- loading -------------------------------------------------------------------------
    def load_defaults(self) -> None:
        """Import and register the built-in plugins by module name."""
        version = _version("driftscope")
        for module_name in DEFAULT_PLUGINS:
            if self.pm.has_plugin(module_name):
                continue
            module = importlib.import_module(module_name)
            self.register(module, module_name, source=f"built-in (driftscope {version})")

    def load_entry_points(self, group: str = hookspecs.PROJECT_NAME) -> None:
        """Register every plugin of the entry-point group; log and skip broken ones."""
        for dist in metadata.distributions():
            for ep in dist.entry_points:
                if ep.group != group or self.pm.has_plugin(ep.name):
                    continue
                source = f"{dist.metadata['Name']} {dist.version}"
                try:
                    plugin = ep.load()
                except Exception as exc:  # a broken third-party plugin must not stop us
                    log.warning("plugin %s from %s failed to load: %s", ep.name, source, exc)
                    self._broken.append(PluginInfo(ep.name, source, error=repr(exc)))
                    continue
                self.register(plugin, ep.name, source=source)

    def register(self, plugin: object, name: str, source: str = "registered at run time") -> None:
        """Register a plugin object (a module or any object with hook implementations)."""
        if self.pm.has_plugin(name) or self.pm.is_registered(plugin):
            raise PluginConflictError(f"a plugin named {name!r} is already registered")
        self.pm.register(plugin, name=name)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(name=name)
            raise PluginError(f"plugin {name!r} implements an unknown hook: {exc}") from exc
        self._sources[name] = source
        self._registry = None

    def unregister(self, name: str) -> None:
        """Remove a plugin registered under ``name``."""
        self.pm.unregister(name=name)
        self._sources.pop(name, None)
        self._registry = None

    @property
    def hook(self) -> Any:
        """pluggy's hook caller, for firing event hooks."""
        return self.pm.hook

    def notify(self, hook_name: str, /, **kwargs: Any) -> None:
        """Call every implementation of an event hook, each on its own: an observer that
        raises is logged with its plugin's name and counted (``errors``, on /metrics), and
        the others still run.

        Every event hook (report ready, alert changed, app started) goes through here.
        Implementations run in pluggy's order (``tryfirst`` first, then the most recently
        registered). A wrapper's body never runs: calling its generator function only
        makes a generator, and an observer has no result to wrap.
        """
        for impl in reversed(getattr(self.pm.hook, hook_name).get_hookimpls()):
            try:
                impl.function(**{k: kwargs[k] for k in impl.argnames})
            except Exception:
                self.record_error(impl.plugin_name, hook_name)
                log.exception("plugin %s failed in %s", impl.plugin_name, hook_name)

    def record_error(self, plugin_name: str, where: str) -> None:
        """Count a failure of a plugin's component (shown on /metrics)."""
        with self._errors_lock:  # observers and detectors fail on several threads at once
            self.errors[(plugin_name, where)] += 1

    def plugin_of(self, kind: ComponentKind, name: str) -> str:
        """The name of the plugin that registered a component."""
        return self.registry(kind)[str(name).strip().lower()][1]

    # -- registries ----------------------------------------------------------------------
    def _records(self, kind: ComponentKind) -> Iterable[tuple[str, ComponentRecord[Any]]]:
        hook_name, record_type = _HOOKS[kind]
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            try:
                produced = list(impl.function() or ())
            except Exception as exc:  # e.g. a record naming a class of the wrong kind
                raise PluginError(
                    f"plugin {impl.plugin_name!r}: {hook_name}() failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            for record in produced:
                if not isinstance(record, record_type):
                    raise PluginError(
                        f"plugin {impl.plugin_name!r}: {hook_name}() must yield "
                        f"{record_type.__name__}, got {type(record).__name__}"
                    )
                yield impl.plugin_name, record

    def _build_registry(self) -> dict[ComponentKind, dict[str, tuple[ComponentRecord[Any], str]]]:
        registry: dict[ComponentKind, dict[str, tuple[ComponentRecord[Any], str]]] = {}
        for kind in _HOOKS:
            names: dict[str, tuple[ComponentRecord[Any], str]] = {}
            for plugin_name, record in self._records(kind):
                if record.name in names:
                    other = names[record.name][1]
                    raise PluginConflictError(
                        f"Conflicting plugins found for {kind} {record.name!r}: "
                        f"{other!r} and {plugin_name!r}"
                    )
                names[record.name] = (record, plugin_name)
            registry[kind] = names
        return registry

    @overload
    def registry(self, kind: Literal["detector"]) -> dict[str, tuple[DetectorRecord, str]]: ...
    @overload
    def registry(self, kind: Literal["store"]) -> dict[str, tuple[StoreRecord, str]]: ...
    @overload
    def registry(self, kind: Literal["notifier"]) -> dict[str, tuple[NotifierRecord, str]]: ...
    @overload
    def registry(self, kind: ComponentKind) -> dict[str, tuple[ComponentRecord[Any], str]]: ...
    def registry(self, kind: ComponentKind) -> dict[str, tuple[Any, str]]:
        """Map each registered name of a kind to ``(record, plugin name)``."""
        if self._registry is None:
            self._registry = self._build_registry()
        return self._registry[kind]

    def names(self, kind: ComponentKind) -> list[str]:
        """Sorted names of every registered component of a kind."""
        return sorted(self.registry(kind))

    @overload
    def get(
        self, kind: Literal["detector"], name: str
    ) -> (
        type[Detector[Any, Any]]
        | type[PerformanceDetector[Any, Any]]
        | type[WindowDetector[Any, Any]]
    ): ...
    @overload
    def get(self, kind: Literal["store"], name: str) -> type[Store]: ...
    @overload
    def get(self, kind: Literal["notifier"], name: str) -> type[Notifier[Any]]: ...
    @overload
    def get(self, kind: ComponentKind, name: str) -> AnyComponent: ...
    def get(self, kind: ComponentKind, name: str) -> Any:
        """The class registered under ``name`` for a kind: :class:`UnknownPluginError` when
        none is, :class:`PluginContractError` when it does not meet its kind's contract.

        Typed per kind: ``get("store", ...)`` is a ``type[Store]``, ``get("detector", ...)``
        a ``type[Detector] | type[PerformanceDetector] | type[WindowDetector]``,
        ``get("notifier", ...)`` a
        ``type[Notifier]``.
        """
        key = str(name).strip().lower()
        entries = self.registry(kind)
        if key not in entries:
            raise UnknownPluginError(unknown_name_message(kind, name, list(entries)))
        record, plugin = entries[key]
        component = record.component
        problems = contract_problems(kind, component)
        if problems:
            where = component.__qualname__ if isinstance(component, type) else repr(component)
            raise PluginContractError(
                f"{kind} {key!r} ({where}, from plugin {plugin!r}) does not meet the {kind} "
                f"contract: " + "; ".join(problems)
            )
        return component

    def plugin_infos(self) -> list[PluginInfo]:
        """Every loaded plugin with its source and the components it registers."""
        infos: dict[str, PluginInfo] = {}
        for name, _plugin in self.pm.list_name_plugin():
            infos[name] = PluginInfo(name, self._sources.get(name, "unknown"))
        for kind in _HOOKS:
            for plugin_name, record in self._records(kind):
                infos[plugin_name].components.setdefault(kind, []).append(record.name)
        return [*infos.values(), *self._broken]


def contract_problems(kind: ComponentKind, component: object) -> list[str]:
    """What a registered class misses of its kind's contract, one sentence each."""
    bases: tuple[type, ...] = _BASES[kind]
    if not (isinstance(component, type) and issubclass(component, bases)):
        names = " or ".join(f"driftscope.{base.__name__}" for base in bases)
        return [f"it is not a subclass of {names}"]
    if issubclass(component, Detector | PerformanceDetector | WindowDetector | Notifier):
        return component.contract_problems()
    # every kind's base is an ABC, so a subclass of one is an ABCMeta
    missing = component.__abstractmethods__ if isinstance(component, ABCMeta) else frozenset()
    return [f"does not implement {name}" for name in sorted(missing)]


def unknown_name_message(kind: str, name: str, available: Iterable[str]) -> str:
    """``Unknown detector 'pis'. Did you mean 'psi'? Choose one of: chi2, ks, psi``."""
    choices = sorted(available)
    message = f"unknown {kind} {name!r}."
    close = difflib.get_close_matches(str(name).strip().lower(), choices, n=1, cutoff=0.5)
    if close:
        message += f" Did you mean {close[0]!r}?"
    message += " Choose one of: " + (", ".join(choices) if choices else "(none registered)")
    return message


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def create_plugin_manager(*, entry_points: bool = True) -> PluginManager:
    """A plugin manager with the built-ins and (by default) every installed plugin."""
    manager = PluginManager()
    manager.load_defaults()
    if entry_points:
        manager.load_entry_points()
    return manager
