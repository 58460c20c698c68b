"""Meta-tests (datasette's pattern): every hook spec is documented, and every one is called.

* docs/plugins.md has a heading ``### `hook(arguments)` `` for each spec in
  ``core/plugin_system/hookspecs.py``, with the spec's own argument names, and no heading
  for a hook that does not exist;
* each hook's example in that page runs and registers as a plugin (pluggy checks the hook
  name and the argument names against the spec);
* a recording plugin that implements every hook, registered into a real run (the API
  started, a monitor run on drifted traffic, its alert delivered), sees every hook fire with
  the arguments the reference promises.

A new hook spec fails all three until it is documented, exemplified and fired.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import threading
import types
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from driftscope import (
    AlertEvent,
    DeliveryOutcome,
    DeliveryResult,
    Detector,
    DetectorRecord,
    DetectorResult,
    DetectorSettings,
    FeatureSample,
    Notification,
    Notifier,
    NotifierRecord,
    Report,
    StoreRecord,
    hookimpl,
)
from driftscope.apps.api.main import create_app
from driftscope.core.config.environment import DeploymentSettings
from driftscope.core.config.yaml_file import load_config
from driftscope.core.plugin_system import hookspecs
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from driftscope.plugins.stores.sql import SQLStore
from driftscope.testing import check_notifier
from support.api_helpers import api_client
from support.factories import demo_model, log_traffic, write_config
from support.reports import report
from support.waiting import wait_until_async

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "plugins.md"
HEADING = re.compile(r"^### `(driftscope_\w+)\(([^)]*)\)`\s*$", re.MULTILINE)
REGISTRATION = {
    "driftscope_detectors": "detector",
    "driftscope_stores": "store",
    "driftscope_notifiers": "notifier",
}


def hook_specs() -> dict[str, list[str]]:
    """Every hook spec in hookspecs.py, with its argument names (the oracle: pluggy's marker)."""
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {
        name: list(inspect.signature(function).parameters)
        for name, function in vars(hookspecs).items()
        if callable(function) and hasattr(function, marker)
    }


def documented() -> dict[str, list[str]]:
    """Each hook heading of docs/plugins.md with the arguments it names."""
    text = REFERENCE.read_text(encoding="utf-8")
    return {
        name: [a.strip() for a in args.split(",") if a.strip()]
        for name, args in HEADING.findall(text)
    }


def examples() -> dict[str, list[str]]:
    """The ```python blocks under each hook heading, up to the next heading of any level."""
    text = REFERENCE.read_text(encoding="utf-8")
    found: dict[str, list[str]] = {}
    for match in HEADING.finditer(text):
        section = text[match.end() :]
        end = re.search(r"^#{1,3} ", section, re.MULTILINE)
        section = section[: end.start()] if end else section
        found[match.group(1)] = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    return found


def test_there_are_hook_specs_to_check() -> None:
    # guards the oracle: a changed marker name would make every other test here vacuous
    assert set(hook_specs()) >= {*REGISTRATION, "driftscope_report_ready"}


def test_every_hook_spec_has_a_heading_with_its_arguments() -> None:
    specs, docs = hook_specs(), documented()
    assert sorted(set(specs) - set(docs)) == [], "hook specs missing from docs/plugins.md"
    assert sorted(set(docs) - set(specs)) == [], "docs/plugins.md documents hooks that do not exist"
    for name, arguments in specs.items():
        assert docs[name] == arguments, f"{name}: the heading's arguments differ from the spec"


@pytest.mark.parametrize("hook", sorted(hook_specs()))
def test_each_hook_example_runs_and_registers(hook: str) -> None:
    blocks = examples()[hook]
    assert blocks, f"{hook} has no python example in docs/plugins.md"
    module = types.ModuleType(f"example_{hook}")
    exec(compile(blocks[0], f"docs/plugins.md ({hook})", "exec"), module.__dict__)
    assert callable(getattr(module, hook, None)), f"the {hook} example does not implement it"
    manager = create_plugin_manager(entry_points=False)
    manager.register(module, f"example-{hook}")  # pluggy validates the name and arguments
    if hook in REGISTRATION:
        kind = REGISTRATION[hook]
        (record,) = list(getattr(module, hook)())
        # registered under its name (the store example is a sketch: get() would check its
        # contract, which a sketch that leaves its methods out does not meet)
        assert record.name in manager.names(kind)
        assert manager.plugin_of(kind, record.name) == f"example-{hook}"
        if kind == "notifier":  # the example a plugin author copies must keep the contract
            check_notifier(record.component, {"type": record.name})
        return
    now = datetime.now(UTC)
    arguments: dict[str, Any] = {
        "report": report(id="r1", monitor="m", model="model", at=now, rows=10),
        "event": AlertEvent("m", "psi", "x", "ok", "firing", now, 0.4, 0.25),
        "app": FastAPI(),
        "settings": DeploymentSettings(),
    }
    before = sum(manager.errors.values())
    manager.notify(hook, **arguments)
    assert sum(manager.errors.values()) == before, f"the {hook} example raised"


# -- every hook fires in a real run ----------------------------------------------------------
class RecordedMeanSettings(DetectorSettings):
    """Settings of the recording plugin's detector."""

    threshold: float = 0.5


class RecordedMeanDetector(Detector):
    """Mean shift in reference standard deviations (registered by the recording plugin)."""

    Settings = RecordedMeanSettings

    @property
    def threshold(self) -> float:
        return self.settings.threshold

    def fit(self, reference: FeatureSample) -> tuple[float, float]:
        return float(reference.values.mean()), float(reference.values.std()) or 1.0

    def score(self, profile: tuple[float, float], current: FeatureSample) -> DetectorResult:
        mean, std = profile
        shift = abs(float(current.values.mean()) - mean) / std
        return DetectorResult(shift, None, self.settings.threshold, shift > self.settings.threshold)


class RecordedSQLStore(SQLStore):
    """The built-in SQL store under the recording plugin's own name."""


class Recorder:
    """Implements every hook and records each call with its arguments."""

    def __init__(self) -> None:
        self.calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.sent: list[Notification] = []
        self.delivered = threading.Event()
        recorder = self

        class RecordingNotifier(Notifier):
            """Keeps what it is sent (registered by the recording plugin)."""

            def send(self, notification: Notification) -> DeliveryResult:
                recorder.sent.append(notification)
                recorder.delivered.set()
                return DeliveryResult(DeliveryOutcome.DELIVERED)

        self.notifier_cls = RecordingNotifier

    @hookimpl
    def driftscope_detectors(self) -> Any:
        self.calls["driftscope_detectors"].append({})
        yield DetectorRecord("recorded-mean", RecordedMeanDetector)

    @hookimpl
    def driftscope_stores(self) -> Any:
        self.calls["driftscope_stores"].append({})
        yield StoreRecord("recorded-sql", RecordedSQLStore)

    @hookimpl
    def driftscope_notifiers(self) -> Any:
        self.calls["driftscope_notifiers"].append({})
        yield NotifierRecord("recorded", self.notifier_cls)

    @hookimpl
    def driftscope_report_ready(self, report: Report) -> None:
        self.calls["driftscope_report_ready"].append({"report": report})

    @hookimpl
    def driftscope_alert_changed(self, event: AlertEvent) -> None:
        self.calls["driftscope_alert_changed"].append({"event": event})

    @hookimpl
    def driftscope_app_started(self, app: Any, settings: Any) -> None:
        self.calls["driftscope_app_started"].append({"app": app, "settings": settings})


def test_the_recorder_implements_every_hook_spec() -> None:
    implemented = {name for name in vars(Recorder) if name.startswith("driftscope_")}
    assert implemented == set(hook_specs())


@pytest.mark.anyio
async def test_every_hook_fires_in_a_real_run(tmp_path: Path, sqlite_url: str) -> None:
    recorder = Recorder()
    plugins = create_plugin_manager(entry_points=False)
    plugins.register(recorder, "recorder")
    config = write_config(
        tmp_path,
        sqlite_url,
        detectors=[{"type": "recorded-mean", "threshold": 0.5}],
        monitor={"notify": ["audit"]},
        notifiers=[{"name": "audit", "type": "recorded"}],
    )
    text = config.read_text().replace("type: sql", "type: recorded-sql")
    config.write_text(text)
    settings = DeploymentSettings(scheduler=False)
    runtime = Runtime(load_config(config, plugins), plugins, settings)
    try:
        assert isinstance(runtime.store, RecordedSQLStore)
        log_traffic(runtime.store, runtime.models["cancer"], demo_model(tmp_path), drift=True)
        app = create_app(settings, runtime)
        async with api_client(app) as client:
            response = await client.post("/v1/monitors/cancer-drift/run")
            assert response.status_code == 200, response.text
            body = response.json()
            # the API delivers the outbox in the background: wait for the notifier's send
            reached = await asyncio.to_thread(recorder.delivered.wait, 60)
            assert reached, "the alert never reached the recorded notifier"
            # and the worker took the result as delivered (a send that raised, or returned
            # something else, leaves the message to be retried)
            await wait_until_async(
                lambda: bool(runtime.store.list_messages(status="sent", limit=10)),
                timeout=60,
                what="the delivered alert marked sent",
            )
    finally:
        runtime.close()

    assert set(recorder.calls) == set(hook_specs()), "hooks that never fired: " + ", ".join(
        sorted(set(hook_specs()) - set(recorder.calls))
    )
    for name, arguments in hook_specs().items():
        for call in recorder.calls[name]:
            assert list(call) == arguments, name
    (started,) = recorder.calls["driftscope_app_started"]
    assert started["app"] is app and started["settings"] is settings
    (ready,) = recorder.calls["driftscope_report_ready"]
    assert ready["report"].id == body["id"] and ready["report"].monitor == "cancer-drift"
    assert {r.detector for r in ready["report"].results} == {"recorded-mean"}
    events = [c["event"] for c in recorder.calls["driftscope_alert_changed"]]
    firing = {e.feature for e in events if e.to_state == "firing"}
    drifted = {r.feature for r in ready["report"].results if r.drifted}
    assert firing and firing == drifted
    assert all(e.report_id == body["id"] and e.monitor == "cancer-drift" for e in events)
    (sent,) = recorder.sent
    assert sent.state == "firing" and {c.feature for c in sent.changes} >= firing
