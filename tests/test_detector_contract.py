"""A detector declares what the engine needs, and the engine reads nothing else from it.

Outside detectors here use settings whose fields the engine could never guess (``limit``,
``level``): what reaches a report comes only from the declared contract. Expected values
come from the YAML given and from arithmetic done here, not from the engine.
"""

from __future__ import annotations

import inspect
import re
from typing import Any, ClassVar

import numpy as np
import pytest
import yaml
from pydantic import Field, SecretStr

from driftscope import (
    UNSEEN,
    Detector,
    DetectorRecord,
    DetectorResult,
    DetectorSettings,
    FeatureKind,
    FeatureSample,
    LabelledSample,
    PerformanceDetector,
    PluginError,
    PValueDetector,
    PValueSettings,
    hookimpl,
)
from driftscope.core.alerting.delivery import secret_values
from driftscope.core.config.yaml_file import load_config
from driftscope.core.errors import ConfigError
from driftscope.core.plugin_system.manager import PluginManager, create_plugin_manager
from driftscope.core.runtime import Runtime
from support.factories import demo_model, log_traffic, write_config

FEATURES = 30  # the demo model's features (scikit-learn's breast-cancer data)


class LimitSettings(DetectorSettings):
    """A threshold under a name the engine could not guess."""

    limit: float = 1.0


class LimitDetector(Detector[LimitSettings, float]):
    """Median shift against ``limit``; raises on one feature."""

    Settings = LimitSettings

    @property
    def threshold(self) -> float:
        return self.settings.limit

    def fit(self, reference: FeatureSample) -> float:
        return float(np.median(reference.values))

    def score(self, profile: float, current: FeatureSample) -> DetectorResult:
        if current.name == "mean area":
            raise ValueError("cannot score mean area")
        shift = abs(float(np.median(current.values)) - profile)
        return DetectorResult(shift, None, self.threshold, shift >= self.threshold)


class FixedPSettings(PValueSettings):
    """Every feature gets the p-value ``fixed``."""

    fixed: float = 0.01


class FixedPDetector(PValueDetector[FixedPSettings, None]):
    """A p-value detector that leaves the decision to the contract's default ``decide``."""

    Settings = FixedPSettings

    def fit(self, reference: FeatureSample) -> None:
        return None

    def score(self, profile: None, current: FeatureSample) -> DetectorResult:
        result = DetectorResult(0.5, self.settings.fixed, self.threshold, False)
        result.drifted = self.decide(result, self.settings.fixed)
        return result


class NaNThreshold(LimitDetector):
    """Declares a threshold that is not a number."""

    @property
    def threshold(self) -> float:
        return float("nan")


class NoThreshold(Detector[DetectorSettings, None]):
    """Forgets to declare its threshold."""

    def fit(self, reference: FeatureSample) -> None:
        return None

    def score(self, profile: None, current: FeatureSample) -> DetectorResult:
        return DetectorResult(0.0, None, 0.0, False)


class CountsWithoutMethods(LimitDetector):
    """Says it scores from counts, implements neither counting method."""

    applies_to: ClassVar[frozenset[FeatureKind]] = frozenset({"numeric", "categorical"})
    scores_counts: ClassVar[bool] = True


class LevelSettings(DetectorSettings):
    level: float = 0.05


class PWithoutPValue(PValueDetector[Any, None]):
    """A p-value detector whose settings have no ``p_value``."""

    Settings = LevelSettings

    def fit(self, reference: FeatureSample) -> None:
        return None

    def score(self, profile: None, current: FeatureSample) -> DetectorResult:
        return DetectorResult(0.0, 1.0, 0.05, False)


class Outside:
    """An outside plugin registering every detector above."""

    @hookimpl
    def driftscope_detectors(self) -> Any:
        yield DetectorRecord("limit", LimitDetector)
        yield DetectorRecord("fixed-p", FixedPDetector)
        yield DetectorRecord("nan-threshold", NaNThreshold)
        yield DetectorRecord("no-threshold", NoThreshold)
        yield DetectorRecord("counts-without-methods", CountsWithoutMethods)
        yield DetectorRecord("p-without-p-value", PWithoutPValue)


def _plugins() -> PluginManager:
    manager = create_plugin_manager(entry_points=False)
    manager.register(Outside(), "outside")
    return manager


def _runtime(tmp_path, store_url: str, detectors: list[dict[str, Any]], **monitor: Any) -> Runtime:
    plugins = _plugins()
    path = write_config(tmp_path, store_url, detectors=detectors, monitor=monitor or None)
    return Runtime(load_config(path, plugins), plugins)


def test_a_declared_threshold_is_on_the_results_the_detector_did_not_make(tmp_path, sqlite_url):
    rt = _runtime(tmp_path, sqlite_url, [{"type": "limit", "limit": 7.5, "prediction": False}])
    try:
        log_traffic(rt.store, rt.models["cancer"], demo_model(tmp_path), drift=False)
        report = rt.engine.run("cancer-drift")
    finally:
        rt.close()
    rows = {r.feature: r for r in report.results}
    assert len(rows) == FEATURES
    failed = rows["mean area"]
    assert failed.status == "failed" and "cannot score mean area" in (failed.error or "")
    assert failed.threshold == 7.5  # the YAML's limit, which no settings name could reveal
    assert {r.threshold for r in report.results} == {7.5}


@pytest.mark.parametrize(("correction", "drifted"), [("none", True), ("bonferroni", False)])
def test_p_values_are_corrected_and_decided_through_the_contract(
    tmp_path, sqlite_url, correction: str, drifted: bool
):
    rt = _runtime(
        tmp_path,
        sqlite_url,
        [{"type": "fixed-p", "fixed": 0.01, "p_value": 0.05, "prediction": False}],
        correction=correction,
    )
    try:
        log_traffic(rt.store, rt.models["cancer"], demo_model(tmp_path), drift=False)
        report = rt.engine.run("cancer-drift")
    finally:
        rt.close()
    assert len(report.results) == FEATURES
    # Bonferroni: 0.01 * 30 = 0.3, not below 0.05; uncorrected 0.01 is
    adjusted = 0.01 if correction == "none" else min(1.0, 0.01 * FEATURES)
    for row in report.results:
        assert row.details["p_value_adjusted"] == pytest.approx(adjusted)
        assert row.drifted is drifted and row.threshold == 0.05


def test_a_performance_failure_shows_the_declared_max_drop(tmp_path, sqlite_url):
    path = write_config(
        tmp_path,
        sqlite_url,
        detectors=[{"type": "performance", "max_drop": 0.2, "min_samples": 30}],
    )
    document = yaml.safe_load(path.read_text())
    del document["models"][0]["target"]  # no labels in the reference: scoring raises
    path.write_text(yaml.safe_dump(document))
    plugins = create_plugin_manager(entry_points=False)
    rt = Runtime(load_config(path, plugins), plugins)
    try:
        log_traffic(rt.store, rt.models["cancer"], demo_model(tmp_path), drift=False)
        (row,) = rt.engine.run("cancer-drift").results
    finally:
        rt.close()
    assert row.status == "failed" and "no target column" in (row.error or "")
    assert row.threshold == 0.2


@pytest.mark.parametrize(
    ("name", "missing"),
    [
        ("no-threshold", "does not implement threshold"),
        ("counts-without-methods", "does not implement score_counts"),
        ("counts-without-methods", "does not implement bin_edges"),
        ("p-without-p-value", "Settings must be a subclass of driftscope.PValueSettings"),
    ],
)
def test_a_config_naming_an_incomplete_detector_fails_at_its_place(
    tmp_path, sqlite_url, name: str, missing: str
):
    path = write_config(tmp_path, sqlite_url, detectors=[{"type": "ks"}, {"type": name}])
    with pytest.raises(ConfigError) as caught:
        load_config(path, _plugins())
    ((where, message),) = caught.value.problems
    assert where == "monitors[0].detectors[1].type"
    assert missing in message and f"'{name}'" in message and "plugin 'outside'" in message


def test_a_threshold_that_is_not_a_number_is_refused_naming_the_detector(tmp_path, sqlite_url):
    rt = _runtime(tmp_path, sqlite_url, [{"type": "nan-threshold"}])
    try:
        log_traffic(rt.store, rt.models["cancer"], demo_model(tmp_path), drift=False)
        with pytest.raises(PluginError, match=r"'nan-threshold' \(plugin 'outside'\).*finite"):
            rt.engine.run("cancer-drift")
    finally:
        rt.close()


def test_the_builtins_declare_their_contract_from_their_own_settings():
    plugins = create_plugin_manager(entry_points=False)
    built: dict[str, Any] = {}
    for name in ("ks", "psi", "chi2", "performance"):
        cls = plugins.get("detector", name)
        assert cls.contract_problems() == [], name
        built[name] = cls(cls.Settings.model_validate(_SETTINGS[name]))
    assert built["ks"].threshold == 0.01 and built["chi2"].threshold == 0.02
    assert built["psi"].threshold == 0.3 and built["performance"].threshold == 0.25
    assert isinstance(built["ks"], PValueDetector) and isinstance(built["chi2"], PValueDetector)
    assert not isinstance(built["psi"], PValueDetector)
    assert isinstance(built["performance"], PerformanceDetector)
    assert [built[n].uses_p_value for n in ("ks", "chi2", "psi")] == [True, True, False]
    assert [built[n].scores_counts for n in ("ks", "chi2", "psi")] == [False, True, True]
    for name in ("ks", "chi2"):  # the level is PValueSettings' field, not a copy of it
        settings = plugins.get("detector", name).Settings
        assert issubclass(settings, PValueSettings), name
        assert "p_value" not in inspect.get_annotations(settings), name


_SETTINGS = {
    "ks": {"type": "ks", "p_value": 0.01},
    "chi2": {"type": "chi2", "p_value": 0.02},
    "psi": {"type": "psi", "threshold": 0.3},
    "performance": {"type": "performance", "max_drop": 0.25},
}


def test_psi_and_chi2_put_unseen_categories_under_the_one_marker():
    plugins = create_plugin_manager(entry_points=False)
    reference = FeatureSample("c", "categorical", np.array(["a", "b", "a"], dtype=object))
    current = FeatureSample("c", "categorical", np.array(["a", "z"], dtype=object))
    for name in ("psi", "chi2"):
        cls = plugins.get("detector", name)
        detector = cls(cls.Settings(type=name))
        result = detector.score(detector.fit(reference), current)
        assert result.details["bins"]["labels"][-1] == UNSEEN == "<unseen>", name
        assert result.details["unseen_categories"] == {"z": 1}, name


def test_secret_values_finds_every_secret_of_a_notifier_settings_model():
    class Nested(DetectorSettings):
        token: SecretStr

    class Secretive(DetectorSettings):
        url: SecretStr
        headers: dict[str, SecretStr] = Field(default_factory=dict)
        inner: list[Nested] = Field(default_factory=list)
        plain: str = "not a secret"

    settings = Secretive(
        type="x",
        url=SecretStr("https://hook/abc"),
        headers={"Authorization": SecretStr("Bearer xyz")},
        inner=[Nested(type="y", token=SecretStr("t0k"))],
    )
    assert sorted(secret_values(settings)) == ["Bearer xyz", "https://hook/abc", "t0k"]


# -- unclean samples reaching a detector directly --------------------------------------------------
def _builtin(name: str) -> Any:
    cls = create_plugin_manager(entry_points=False).get("detector", name)
    return cls(cls.Settings.model_validate({"type": name}))


@pytest.mark.parametrize(
    ("name", "kind", "clean", "dirty", "found"),
    [
        ("ks", "numeric", [1.0, 2.0, 3.0], [1.0, np.nan, 2.0, np.nan], "2 missing (NaN) of its 4"),
        ("ks", "numeric", [1.0, 2.0, 3.0], [1.0, np.inf, -np.inf], "2 infinite of its 3"),
        ("psi", "numeric", [1.0, 2.0, 3.0], [np.nan, 2.0, np.inf], "1 missing (NaN) and 1 inf"),
        ("psi", "categorical", ["a", "b"], ["a", None, float("nan")], "2 missing (None, NaN or"),
        ("chi2", "categorical", ["a", "b"], ["a", "", None], "2 missing (None, NaN or empty)"),
    ],
)
def test_a_sample_with_missing_values_is_refused_naming_the_feature_and_count(
    name: str, kind: FeatureKind, clean: list[Any], dirty: list[Any], found: str
) -> None:
    # a plugin author calling a built-in detector outside the engine: NaN is never scored
    detector = _builtin(name)
    dtype = np.float64 if kind == "numeric" else object
    profile = detector.fit(FeatureSample("age", kind, np.array(clean, dtype=dtype)))
    with pytest.raises(ValueError, match=rf"^feature 'age': {re.escape(found)}"):
        detector.score(profile, FeatureSample("age", kind, np.array(dirty, dtype=dtype)))
    with pytest.raises(ValueError, match=r"^feature 'age': .*remove them first"):
        detector.fit(FeatureSample("age", kind, np.array(dirty, dtype=dtype)))


@pytest.mark.parametrize(
    ("task", "y_true", "y_pred", "found"),
    [
        ("regression", [1.0, np.nan, 3.0], [1.0, 2.0, 3.0], "y_true (the labels): 1 missing"),
        ("regression", [1.0, 2.0, 3.0], [np.nan, np.nan, 3.0], "y_pred: 2 missing (NaN)"),
        ("classification", ["a", None, "b"], ["a", "b", "b"], "y_true (the labels): 1 missing"),
        ("classification", ["a", "b", "b"], ["a", float("nan"), ""], "y_pred: 2 missing"),
    ],
)
def test_labelled_rows_with_a_missing_label_or_prediction_are_refused(
    task: Any, y_true: list[Any], y_pred: list[Any], found: str
) -> None:
    dtype = np.float64 if task == "regression" else object
    detector = _builtin("performance")
    reference = LabelledSample(
        task,
        np.array([1.0, 2.0]) if task == "regression" else np.array(["a", "b"], object),
        np.array([1.0, 2.0]) if task == "regression" else np.array(["a", "b"], object),
        classes=None if task == "regression" else ("a", "b"),
    )
    profile = detector.fit(reference)
    with pytest.raises(ValueError, match=rf"^{re.escape(found)}"):
        detector.score(
            profile,
            LabelledSample(task, np.array(y_true, dtype=dtype), np.array(y_pred, dtype=dtype)),
        )
