"""The ``jsonl-file`` notifier: appends every alert notification to a JSON-lines file.

Handy as an audit trail, or for a log shipper that tails the file. The delivery worker
calls ``send`` for each message of driftscope's outbox; returning a retryable result (not
raising) is how a notifier says "try again later".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import Field

from driftscope import (
    DeliveryOutcome,
    DeliveryResult,
    Notification,
    Notifier,
    NotifierRecord,
    NotifierSettings,
    hookimpl,
)


class JsonlFileSettings(NotifierSettings):
    """The YAML block ``{name: audit, type: jsonl-file, path: alerts.jsonl}``."""

    type: Literal["jsonl-file"] = "jsonl-file"
    path: Path = Field(description="File to append to (created with its folder if missing).")


class JsonlFileNotifier(Notifier[JsonlFileSettings]):
    """Appends each notification as one JSON object per line."""

    Settings = JsonlFileSettings

    def __init__(self, settings: JsonlFileSettings) -> None:
        super().__init__(settings)
        self._lock = threading.Lock()

    def send(self, notification: Notification) -> DeliveryResult:
        line = json.dumps({"state": notification.state, **notification.to_dict()}, default=str)
        try:
            with self._lock:
                self.settings.path.parent.mkdir(parents=True, exist_ok=True)
                with self.settings.path.open("a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
        except OSError as exc:
            # a full disk or a missing permission may be fixed: the worker retries with
            # backoff, and gives the message up if it stays unwritable past give_up_after
            return DeliveryResult(DeliveryOutcome.TRANSIENT, error=str(exc))
        return DeliveryResult(DeliveryOutcome.DELIVERED)


@hookimpl
def driftscope_notifiers() -> Iterator[NotifierRecord]:
    """Register ``jsonl-file``."""
    yield NotifierRecord("jsonl-file", JsonlFileNotifier)
