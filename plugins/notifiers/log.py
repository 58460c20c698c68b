"""The ``log`` notifier: writes alerts to the application log.

It is the default when no notifier is configured, so a demo shows its alerts with no setup.
One summary line per notification, then one line per state change, oldest first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from driftscope import (
    DeliveryOutcome,
    DeliveryResult,
    Notification,
    Notifier,
    NotifierRecord,
    NotifierSettings,
    comparison_with_context,
    hookimpl,
)

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class LogSettings(NotifierSettings):
    """Settings of the ``log`` notifier."""

    type: Literal["log"] = "log"
    logger: str = Field(default="driftscope.alerts", description="Logger name to write to.")
    level: Literal["debug", "info", "warning", "error"] | None = Field(
        default=None,
        description="Log level of every line; default: warning for firing/no_data, info else.",
    )


class LogNotifier(Notifier[LogSettings]):
    """Writes alerts to the application log."""

    Settings = LogSettings

    def __init__(self, settings: LogSettings) -> None:
        super().__init__(settings)
        self.settings: LogSettings = settings
        self.logger = logging.getLogger(settings.logger)

    def send(self, notification: Notification) -> DeliveryResult:
        state = notification.state
        if self.settings.level is not None:
            level = _LEVELS[self.settings.level]
        else:
            level = logging.WARNING if state in ("firing", "no_data") else logging.INFO
        window = notification.window
        self.logger.log(
            level,
            "%sALERT %s %s: %d change(s) (model %s, window %s to %s, %s rows)%s",
            "TEST " if notification.test else "",
            notification.monitor,
            state,
            len(notification.changes),
            notification.model,
            window.get("start", "?"),
            window.get("end", "?"),
            window.get("rows", "?"),
            f" {notification.dashboard_url}" if notification.dashboard_url else "",
        )
        for change in notification.changes:  # oldest first, every change of every key
            self.logger.log(
                level,
                "  %s %s/%s: %s -> %s at %s (%s)",
                notification.monitor,
                change.detector,
                change.feature,
                change.from_state,
                change.to_state,
                change.at.isoformat() if change.at else "?",
                comparison_with_context(change),
            )
        return DeliveryResult(DeliveryOutcome.DELIVERED)


@hookimpl
def driftscope_notifiers() -> Iterator[NotifierRecord]:
    yield NotifierRecord("log", LogNotifier)
