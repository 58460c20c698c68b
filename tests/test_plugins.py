"""The plugin system: outside plugins used from YAML, entry points, conflicts, bad plugins."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from driftscope import (
    Detector,
    DetectorRecord,
    DetectorResult,
    DetectorSettings,
    FeatureSample,
    PluginConflictError,
    PluginError,
    UnknownPluginError,
    hookimpl,
)
from driftscope.apps.cli.main import app
from driftscope.core.config.yaml_file import parse_config
from driftscope.core.plugin_system.manager import DEFAULT_PLUGINS, create_plugin_manager


class MeanShiftSettings(DetectorSettings):
    """Settings of the test's outside detector."""

    threshold: float = 0.5


class MeanShiftDetector(Detector[MeanShiftSettings, tuple[float, float]]):
    """Drift when the mean moves by more than ``threshold`` reference standard deviations."""

    Settings = MeanShiftSettings

    @property
    def threshold(self) -> float:
        return self.settings.threshold

    def fit(self, reference: FeatureSample) -> tuple[float, float]:
        return float(reference.values.mean()), float(reference.values.std() or 1.0)

    def score(self, profile: tuple[float, float], current: FeatureSample) -> DetectorResult:
        mean, std = profile
        shift = abs(float(current.values.mean()) - mean) / std
        return DetectorResult(shift, None, self.settings.threshold, shift > self.settings.threshold)


class OutsidePlugin:
    """What a third-party package's plugin module looks like, as an object."""

    @hookimpl
    def driftscope_detectors(self):
        yield DetectorRecord("Mean-Shift ", MeanShiftDetector)


def test_every_builtin_registers_something():
    manager = create_plugin_manager(entry_points=False)
    infos = {i.name: i for i in manager.plugin_infos()}
    for module in DEFAULT_PLUGINS:
        assert infos[module].components, module
        assert infos[module].source.startswith("built-in")
    assert {"ks", "psi", "chi2", "performance"} <= set(manager.names("detector"))
    assert "sql" in manager.names("store")
    assert {"log", "discord", "webhook"} <= set(manager.names("notifier"))


def test_an_outside_plugin_object_is_used_from_yaml():
    manager = create_plugin_manager(entry_points=False)
    manager.register(OutsidePlugin(), "outside")
    document = {
        "models": [{"name": "m", "reference": "r.csv", "prediction_column": "p"}],
        "monitors": [
            {
                "name": "x",
                "model": "m",
                "window": {"last": "1h"},
                "detectors": [{"type": "mean-shift", "threshold": 0.2}],
            }
        ],
    }
    config = parse_config(document, manager, env={})
    settings = config.monitor("x").detector_settings[0]
    detector = manager.get("detector", settings.type)(settings)
    assert isinstance(detector, MeanShiftDetector)
    profile = detector.fit(FeatureSample("f", "numeric", np.zeros(100) + np.arange(100) % 2))
    assert detector.score(profile, FeatureSample("f", "numeric", np.ones(100) * 3)).drifted


def test_two_plugins_giving_one_name_is_an_error_naming_both():
    manager = create_plugin_manager(entry_points=False)
    manager.register(OutsidePlugin(), "first")
    manager.register(OutsidePlugin(), "second")
    with pytest.raises(PluginConflictError, match="'first' and 'second'"):
        manager.names("detector")


def test_an_unknown_name_suggests_a_close_match():
    manager = create_plugin_manager(entry_points=False)
    with pytest.raises(UnknownPluginError, match=r"Did you mean 'psi'\?.*Choose one of: .*ks"):
        manager.get("detector", "pis")


def test_a_misspelled_hook_fails_loudly():
    class Misspelled:
        @hookimpl
        def driftscope_detector(self):  # missing the s
            return []

    manager = create_plugin_manager(entry_points=False)
    with pytest.raises(PluginError, match="unknown hook"):
        manager.register(Misspelled(), "typo")
    assert not manager.pm.has_plugin("typo")


def test_a_raising_observer_is_logged_and_others_still_run(caplog):
    seen = []

    class Broken:
        @hookimpl
        def driftscope_report_ready(self, report):
            raise RuntimeError("observer bug")

    class Good:
        @hookimpl
        def driftscope_report_ready(self, report):
            seen.append(report)

    manager = create_plugin_manager(entry_points=False)
    manager.register(Broken(), "broken")
    manager.register(Good(), "good")
    with caplog.at_level(logging.ERROR):
        manager.notify("driftscope_report_ready", report="r")
    assert seen == ["r"]
    assert manager.errors[("broken", "driftscope_report_ready")] == 1
    assert "plugin broken failed" in caplog.text


def test_observers_run_in_pluggys_order_and_a_wrapper_changes_nothing():
    order = []

    class First:
        @hookimpl(tryfirst=True)
        def driftscope_report_ready(self, report):
            order.append("tryfirst")

    class Early:
        @hookimpl
        def driftscope_report_ready(self, report):
            order.append("early")

    class Late:
        @hookimpl
        def driftscope_report_ready(self, report):
            order.append("late")

    class Wrapper:
        @hookimpl(wrapper=True)
        def driftscope_report_ready(self, report):
            order.append("wrapper")
            return (yield)

    manager = create_plugin_manager(entry_points=False)
    for name, plugin in [("early", Early()), ("first", First()), ("late", Late())]:
        manager.register(plugin, name)
    manager.register(Wrapper(), "wrapper")
    manager.notify("driftscope_report_ready", report="r")
    # pluggy calls tryfirst first, then the most recently registered: what pm.hook would do
    assert order == ["tryfirst", "late", "early"]
    assert not manager.errors


def test_a_record_naming_a_class_of_the_wrong_kind_names_the_plugin():
    class NotADetector:
        """Looks like nothing driftscope knows."""

    class Confused:
        @hookimpl
        def driftscope_detectors(self):
            yield DetectorRecord("confused", NotADetector)

    manager = create_plugin_manager(entry_points=False)
    manager.register(Confused(), "confused-plugin")
    with pytest.raises(PluginError) as info:
        manager.names("detector")
    message = str(info.value)
    assert "'confused-plugin'" in message and "driftscope_detectors()" in message
    assert "NotADetector" in message and "Detector or PerformanceDetector" in message


def test_the_three_records_share_one_base_and_its_checks():
    from driftscope import ComponentRecord, NotifierRecord, StoreRecord
    from driftscope.plugins.notifiers.log import LogNotifier

    record = NotifierRecord(" Log ", LogNotifier)
    assert (record.name, record.component) == ("log", LogNotifier)
    assert record.description == "Writes alerts to the application log."
    assert all(
        issubclass(r, ComponentRecord) for r in (DetectorRecord, StoreRecord, NotifierRecord)
    )
    with pytest.raises(TypeError, match="not a subclass of Store"):
        StoreRecord("sql", LogNotifier)
    with pytest.raises(ValueError, match="invalid component name"):
        NotifierRecord("9lives", LogNotifier)


TYPED_GETTERS = """
from typing import assert_type

from driftscope import (
    ComponentRecord, Detector, DetectorRecord, Notifier, NotifierRecord, PerformanceDetector,
    Store, StoreRecord, WindowDetector,
)
from driftscope.core.plugin_system.manager import AnyComponent, ComponentKind, PluginManager


def check(pm: PluginManager, kind: ComponentKind) -> None:
    assert_type(
        pm.get("detector", "psi"),
        type[Detector] | type[PerformanceDetector] | type[WindowDetector],
    )
    assert_type(pm.get("store", "sql"), type[Store])
    assert_type(pm.get("notifier", "log"), type[Notifier])
    assert_type(pm.get(kind, "log"), AnyComponent)
    assert_type(pm.registry("detector")["psi"][0], DetectorRecord)
    assert_type(pm.registry("store")["sql"][0], StoreRecord)
    assert_type(pm.registry("notifier")["log"][0], NotifierRecord)
    assert_type(pm.registry("notifier")["log"][0].component, type[Notifier])
    store = pm.get("store", "sql")(pm.get("store", "sql").Settings())
    assert_type(store, Store)
    record: ComponentRecord[Store] = StoreRecord("sql", type(store))
    assert_type(record.component, type[Store])
"""


@pytest.mark.slow
def test_the_plugin_managers_getters_are_typed_per_kind(tmp_path):
    """mypy checks the overloads: ``get("store", ...)`` is a ``type[Store]``, and so on."""
    import subprocess
    import sys

    source = tmp_path / "typed_getters.py"
    source.write_text(TYPED_GETTERS)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--follow-imports=silent",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "--no-error-summary",
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _fake_distribution(root: Path, name: str, module: str, body: str) -> None:
    (root / f"{module}.py").write_text(textwrap.dedent(body))
    info = root / f"{name}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[driftscope]\n{name} = {module}\n")


def test_entry_point_plugins_are_found_and_broken_ones_skipped(tmp_path, monkeypatch, caplog):
    _fake_distribution(
        tmp_path,
        "driftscope-fake",
        "ds_fake_plugin",
        """
        import numpy as np
        from driftscope import hookimpl, DetectorRecord, Detector, DetectorResult

        class ZeroDetector(Detector):
            '''Never drifts.'''
            threshold = 1.0
            def fit(self, reference):
                return None
            def score(self, profile, current):
                return DetectorResult(0.0, None, 1.0, False)

        @hookimpl
        def driftscope_detectors():
            yield DetectorRecord("zero", ZeroDetector)
        """,
    )
    _fake_distribution(
        tmp_path, "driftscope-broken", "ds_broken_plugin", "raise ImportError('boom')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with caplog.at_level(logging.WARNING):
        manager = create_plugin_manager()
    assert "zero" in manager.names("detector")
    infos = {i.name: i for i in manager.plugin_infos()}
    assert infos["driftscope-fake"].source == "driftscope-fake 1.2.3"
    assert infos["driftscope-fake"].components == {"detector": ["zero"]}
    assert "boom" in infos["driftscope-broken"].error
    assert "driftscope-broken" in caplog.text

    result = CliRunner().invoke(app, ["plugins"], terminal_width=200)
    assert result.exit_code == 0
    assert "driftscope-fake 1.2.3" in result.output
    assert "failed to load" in result.output
    assert "driftscope.plugins.detectors.ks" in result.output
