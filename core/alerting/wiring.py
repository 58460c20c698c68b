"""Build the alerting pieces of a process from its config, plugins, store and notifiers.

A monitor with an empty ``notify`` list is sent to the ``log`` notifier, so alerts show up
in the application log with no setup. That notifier is created under the name ``log``
unless the config already defines a notifier of that name.

This module takes the parts it needs, never the :class:`~driftscope.core.runtime.Runtime`
that holds them: the runtime imports alerting, so alerting importing the runtime would be
a cycle (``.importlinter`` forbids it).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from driftscope.core.alerting.delivery import DeliveryWorker
from driftscope.core.alerting.manager import AlertManager
from driftscope.core.alerting.rules import MonitorAlerting

if TYPE_CHECKING:
    from driftscope.core.config.yaml_file import DriftscopeConfig
    from driftscope.core.contracts.notifier import Notifier
    from driftscope.core.contracts.store import Store
    from driftscope.core.plugin_system.manager import PluginManager

DEFAULT_NOTIFIER = "log"


def monitor_alerting(
    config: DriftscopeConfig, default_notify: tuple[str, ...] = ()
) -> dict[str, MonitorAlerting]:
    """The alert settings of every monitor of a config."""
    dashboard = config.dashboard.url
    return {
        monitor.name: MonitorAlerting(
            rules=monitor.alert,
            notify=tuple(monitor.notify) or default_notify,
            model=monitor.model,
            min_samples=monitor.window.min_samples,
            dashboard_url=dashboard,
        )
        for monitor in config.monitors
    }


def build_alerting(
    config: DriftscopeConfig,
    plugins: PluginManager,
    store: Store,
    notifiers: MutableMapping[str, Notifier[Any]],
) -> tuple[AlertManager, DeliveryWorker]:
    """An :class:`AlertManager` and a (not yet started) :class:`DeliveryWorker`.

    :param config: The validated config (monitors, their notify lists, delivery settings).
    :param plugins: Finds the ``log`` notifier and fires ``driftscope_alert_changed``
        through :meth:`PluginManager.notify`, so observer failures are counted on /metrics.
    :param store: The opened store holding alert state and the outbox.
    :param notifiers: The configured notifiers by name; the default ``log`` notifier is
        added to it when a monitor needs it, so whoever closes the notifiers closes it too.

    Start the worker in processes that should deliver (API, scheduler); CLI commands that
    only read alert state leave it stopped.
    """
    default_notify: tuple[str, ...] = ()
    if any(not monitor.notify for monitor in config.monitors):
        if DEFAULT_NOTIFIER not in notifiers:
            cls = plugins.get("notifier", "log")
            notifiers[DEFAULT_NOTIFIER] = cls(cls.Settings(name=DEFAULT_NOTIFIER, type="log"))
        default_notify = (DEFAULT_NOTIFIER,)
    worker = DeliveryWorker(store, notifiers, config.delivery)
    manager = AlertManager(
        store,
        plugins.notify,
        monitor_alerting(config, default_notify),
        on_enqueued=worker.wake,
    )
    return manager, worker
