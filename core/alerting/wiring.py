"""Build the alerting pieces of a runtime from its config.

A monitor with an empty ``notify`` list is sent to the ``log`` notifier, so alerts show up
in the application log with no setup. That notifier is created under the name ``log``
unless the config already defines a notifier of that name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from driftscope.core.alerting.delivery import DeliveryWorker
from driftscope.core.alerting.manager import AlertManager
from driftscope.core.alerting.rules import MonitorAlerting

if TYPE_CHECKING:
    from driftscope.core.runtime import Runtime

DEFAULT_NOTIFIER = "log"


def monitor_alerting(
    config: Any, default_notify: tuple[str, ...] = ()
) -> dict[str, MonitorAlerting]:
    """The alert settings of every monitor of a
    :class:`~driftscope.core.config.yaml_file.DriftscopeConfig`."""
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


def build_alerting(runtime: Runtime) -> tuple[AlertManager, DeliveryWorker]:
    """An :class:`AlertManager` and a (not yet started) :class:`DeliveryWorker`.

    Adds the default ``log`` notifier to ``runtime.notifiers`` when a monitor needs it.
    Start the worker in processes that should deliver (API, scheduler); CLI commands that
    only read alert state leave it stopped.
    """
    config = runtime.config
    default_notify: tuple[str, ...] = ()
    if any(not monitor.notify for monitor in config.monitors):
        if DEFAULT_NOTIFIER not in runtime.notifiers:
            cls = runtime.plugins.get("notifier", "log")
            runtime.notifiers[DEFAULT_NOTIFIER] = cls(
                cls.Settings(name=DEFAULT_NOTIFIER, type="log")
            )
        default_notify = (DEFAULT_NOTIFIER,)
    worker = DeliveryWorker(runtime.store, runtime.notifiers, config.delivery)
    manager = AlertManager(
        runtime.store,
        runtime.plugins.notify,
        monitor_alerting(config, default_notify),
        on_enqueued=worker.wake,
    )
    return manager, worker
