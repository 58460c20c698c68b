"""driftscope's hook specifications.

Two families of hooks, as in conda and kedro:

* **Registration hooks** (``driftscope_detectors``, ``driftscope_stores``,
  ``driftscope_notifiers``) yield records that name the components a plugin provides.
  The YAML config then picks components by those names.
* **Event hooks** (``driftscope_report_ready``, ``driftscope_alert_changed``,
  ``driftscope_app_started``) let a plugin observe what happens. They return nothing and
  cannot change the result; an observer that raises is logged and counted, never fatal.

Implement a hook with ``from driftscope import hookimpl``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from driftscope.core.contracts.report import Report
    from driftscope.core.contracts.store import AlertEvent
    from driftscope.core.plugin_system.records import DetectorRecord, NotifierRecord, StoreRecord

PROJECT_NAME = "driftscope"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def driftscope_detectors() -> Iterable[DetectorRecord]:
    """Register drift detectors.

    Called once when the plugin manager loads plugins.

    :return: An iterable of :class:`core.DetectorRecord`, each naming a subclass of
        :class:`core.Detector` (one feature at a time), :class:`core.PerformanceDetector`
        (the labelled rows) or :class:`core.WindowDetector` (every column of the window at
        once). YAML picks a detector
        with ``{type: <name>, ...}``; the rest of that block is validated against the
        class's ``Settings`` model.

    Example::

        @hookimpl
        def driftscope_detectors():
            yield DetectorRecord("wasserstein", WassersteinDetector)
    """
    # pluggy never calls a spec; like conda's, its body is an empty iterable of its return type
    yield from ()


@hookspec
def driftscope_stores() -> Iterable[StoreRecord]:
    """Register stores for predictions, labels, reports and alerts.

    Called once when the plugin manager loads plugins.

    :return: An iterable of :class:`core.StoreRecord`, each naming a subclass of
        :class:`core.Store`. YAML picks one with ``store: {type: <name>, ...}``.
    """
    yield from ()


@hookspec
def driftscope_notifiers() -> Iterable[NotifierRecord]:
    """Register notifiers that deliver alerts.

    Called once when the plugin manager loads plugins.

    :return: An iterable of :class:`core.NotifierRecord`, each naming a subclass of
        :class:`core.Notifier`. YAML configures an instance with
        ``notifiers: [{name: <instance>, type: <name>, ...}]``.
    """
    yield from ()


@hookspec
def driftscope_report_ready(report: Report) -> None:
    """Observe a monitor report that has just been saved.

    Called after every monitor run (scheduled, from the CLI or from the API), once the
    report is in the store and before alert rules are evaluated.

    :param report: The saved report. Treat it as read-only.
    """


@hookspec
def driftscope_alert_changed(event: AlertEvent) -> None:
    """Observe an alert key changing state (ok, pending, firing, resolved, no_data).

    Called for every change, silenced ones included (``event.silenced`` says so), after
    the change and its outbox messages are committed to the store.

    :param event: The recorded change.
    """


@hookspec
def driftscope_app_started(app: Any, settings: Any) -> None:
    """Observe the HTTP API starting.

    Called once per process when the FastAPI app has loaded its models and opened the
    store, before it serves requests.

    :param app: The ``fastapi.FastAPI`` instance.
    :param settings: The :class:`driftscope.core.config.environment.Settings` the app runs with.
    """
