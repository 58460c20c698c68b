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


class MeanShiftDetector(Detector):
    """Drift when the mean moves by more than ``threshold`` reference standard deviations."""

    Settings = MeanShiftSettings

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


def test_observers_run_in_pluggys_order_and_wrappers_are_not_called_as_observers():
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
