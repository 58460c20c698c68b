"""The ``quality`` detector: missing, infinite, out-of-range and unseen-category shares.

Shares are checked against pandas computing them independently on the same frame; the
end-to-end cases run the real engine on a real SQLite store with the demo model, where a
column that goes 40% missing must be a data-quality finding and not a distribution drift.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from driftscope import WindowSample
from driftscope.core.config.yaml_file import load_config, parse_config
from driftscope.core.contracts.store import PredictionRecord
from driftscope.core.errors import ConfigError
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from driftscope.plugins.detectors.quality import QualityDetector, QualitySettings
from support.factories import demo_model, traffic, write_config


def _sample(frame: pd.DataFrame, kinds: dict[str, str]) -> WindowSample:
    features: dict[str, np.ndarray] = {}
    for name, kind in kinds.items():
        column = frame[name]
        if kind == "numeric":
            features[name] = column.to_numpy(dtype=np.float64)
        else:
            features[name] = np.array(
                [None if pd.isna(v) else str(v) for v in column], dtype=object
            )
    rows = len(frame)
    return WindowSample(
        features=features,
        kinds=kinds,  # type: ignore[arg-type]
        task="classification",
        predictions=np.array(["1"] * rows, dtype=object),
        labels=np.array([None] * rows, dtype=object),
    )


def _detector(**settings: Any) -> QualityDetector:
    return QualityDetector(QualitySettings(type="quality", **settings))


KINDS = {"x": "numeric", "colour": "categorical"}


def _reference(rng: np.random.Generator, rows: int = 1000) -> pd.DataFrame:
    x = rng.normal(size=rows)
    x[:20] = np.nan  # 2% missing in the reference itself
    return pd.DataFrame({"x": x, "colour": rng.choice(["red", "green", "blue"], size=rows)})


def test_shares_and_increases_match_pandas() -> None:
    rng = np.random.default_rng(1)
    reference = _reference(rng)
    window = _reference(np.random.default_rng(2), rows=500)
    window.loc[:49, "x"] = np.nan  # 10% missing
    window.loc[50:54, "x"] = np.inf
    window.loc[55:59, "x"] = -np.inf
    window.loc[60:84, "x"] = 1e308  # finite but absurd: out of range
    window.loc[85:99, "colour"] = "purple"
    window.loc[100:109, "colour"] = None

    detector = _detector()
    profile = detector.fit(_sample(reference, KINDS))
    results = {r.feature: r for r in detector.score(profile, _sample(window, KINDS))}

    ref_x = reference["x"]
    finite_ref = ref_x[np.isfinite(ref_x)]
    x = window["x"]
    expected_x = {
        "missing": (x.isna().mean(), ref_x.isna().mean()),
        "infinite": (np.isinf(x).mean(), 0.0),
        "out_of_range": (
            (np.isfinite(x) & ((x < finite_ref.min()) | (x > finite_ref.max()))).mean(),
            0.0,
        ),
    }
    checks = results["x"].details["checks"]
    assert set(checks) == set(expected_x)
    for check, (current, ref) in expected_x.items():
        assert checks[check]["current"] == pytest.approx(current), check
        assert checks[check]["reference"] == pytest.approx(ref), check
        assert checks[check]["increase"] == pytest.approx(current - ref), check
    assert results["x"].details["worst"] == "missing"
    assert results["x"].statistic == pytest.approx(0.10 - 0.02)
    assert results["x"].drifted and results["x"].threshold == 0.05

    colour = window["colour"]
    checks = results["colour"].details["checks"]
    assert checks["missing"]["current"] == pytest.approx(colour.isna().mean())
    assert checks["unseen"]["current"] == pytest.approx((colour == "purple").mean())
    assert results["colour"].details["worst"] == "unseen"
    # 3% unseen, 2% more missing: the worst increase is below max_increase
    assert results["colour"].statistic == pytest.approx(0.03)
    assert not results["colour"].drifted


def test_an_increase_at_or_below_max_increase_is_not_flagged() -> None:
    rng = np.random.default_rng(3)
    reference = _reference(rng)
    window = _reference(np.random.default_rng(4), rows=1000)
    window.loc[:59, "x"] = np.nan  # 6% missing against the reference's 2%: +0.04
    detector = _detector(max_increase=0.05)
    (x,) = [
        r
        for r in detector.score(detector.fit(_sample(reference, KINDS)), _sample(window, KINDS))
        if r.feature == "x"
    ]
    assert x.statistic == pytest.approx(0.04) and not x.drifted
    strict = _detector(max_increase=0.03)
    (x,) = [
        r
        for r in strict.score(strict.fit(_sample(reference, KINDS)), _sample(window, KINDS))
        if r.feature == "x"
    ]
    assert x.drifted


def test_configured_bounds_replace_the_reference_range() -> None:
    reference = pd.DataFrame({"x": np.linspace(0, 10, 101), "colour": ["red"] * 101})
    window = pd.DataFrame({"x": np.linspace(-5, 15, 201), "colour": ["red"] * 201})
    by_reference = _detector()
    (x,) = [
        r
        for r in by_reference.score(
            by_reference.fit(_sample(reference, KINDS)), _sample(window, KINDS)
        )
        if r.feature == "x"
    ]
    inside = ((window["x"] >= 0) & (window["x"] <= 10)).mean()
    assert x.details["checks"]["out_of_range"]["current"] == pytest.approx(1 - inside)
    assert x.details["valid_range"] == [0.0, 10.0] and x.details["range_from"] == "reference"
    bounded = _detector(bounds={"x": (-100.0, 100.0)})
    (x,) = [
        r
        for r in bounded.score(bounded.fit(_sample(reference, KINDS)), _sample(window, KINDS))
        if r.feature == "x"
    ]
    assert x.details["checks"]["out_of_range"]["current"] == 0.0
    assert x.details["range_from"] == "bounds" and not x.drifted


def test_held_out_rows_of_the_same_distribution_flag_nothing() -> None:
    rng = np.random.default_rng(5)
    frame = _reference(rng, rows=4000)
    frame.loc[frame.sample(frac=0.02, random_state=1).index, "x"] = np.nan
    reference, held_out = frame.iloc[:2000], frame.iloc[2000:].reset_index(drop=True)
    detector = _detector()
    results = detector.score(detector.fit(_sample(reference, KINDS)), _sample(held_out, KINDS))
    assert [r.feature for r in results] == ["x", "colour"]
    assert not any(r.drifted for r in results), [(r.feature, r.statistic) for r in results]


def test_only_the_checks_asked_for_are_watched() -> None:
    reference = _reference(np.random.default_rng(6))
    window = reference.copy()
    window.loc[:, "x"] = np.nan
    detector = _detector(checks=["unseen"])
    results = detector.score(detector.fit(_sample(reference, KINDS)), _sample(window, KINDS))
    assert [r.feature for r in results] == ["colour"]  # x has no `unseen` check
    assert set(results[0].details["checks"]) == {"unseen"}


def test_bounds_on_an_unknown_or_categorical_feature_are_refused_when_fitting() -> None:
    reference = _sample(_reference(np.random.default_rng(7)), KINDS)
    with pytest.raises(ValueError, match="'nope', not a feature of the model"):
        _detector(bounds={"nope": (0.0, 1.0)}).fit(reference)
    with pytest.raises(ValueError, match="numeric features only"):
        _detector(bounds={"colour": (0.0, 1.0)}).fit(reference)


BASE = {
    "models": [{"name": "m", "reference": "ref.csv", "prediction_column": "pred"}],
    "monitors": [
        {
            "name": "mon",
            "model": "m",
            "window": {"last": "1h"},
            "detectors": [{"type": "quality"}],
        }
    ],
}


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("max_increase", 0, "greater than 0"),
        ("max_increase", math.nan, "finite number"),
        ("checks", ["missing", "broken"], "'missing', 'infinite', 'out_of_range' or 'unseen'"),
        ("checks", [], "at least 1 item"),
        ("bounds", {"x": [2.0, 1.0]}, "low 2.0 is above high 1.0"),
        ("bounds", {"x": [0.0, math.inf]}, "must be finite"),
    ],
)
def test_bad_settings_are_config_errors_at_their_path(
    setting: str, value: Any, message: str
) -> None:
    document = yaml.safe_load(yaml.safe_dump(BASE))
    document["monitors"][0]["detectors"][0][setting] = value
    with pytest.raises(ConfigError) as info:
        parse_config(document, create_plugin_manager(entry_points=False), env={})
    found = dict(info.value.problems)
    (where,) = [k for k in found if k.startswith(f"monitors[0].detectors[0].{setting}")]
    assert message in found[where]


# -- end to end --------------------------------------------------------------------------------
def _runtime(tmp_path: Path, store_url: str) -> Runtime:
    plugins = create_plugin_manager(entry_points=False)
    detectors = [{"type": "quality"}, {"type": "ks", "p_value": 0.05, "prediction": False}]
    path = write_config(tmp_path, store_url, detectors=detectors)
    return Runtime(load_config(path, plugins), plugins)


@pytest.mark.parametrize(
    "store_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_column_gone_40_percent_missing_is_a_quality_problem_not_a_drift(
    tmp_path: Path, store_name: str, request: pytest.FixtureRequest
) -> None:
    store_url = request.getfixturevalue(f"{store_name}_url")
    rt = _runtime(tmp_path, store_url)
    try:
        model = rt.models["cancer"]
        rows = demo_model(tmp_path).holdout  # held out: the reference's own distribution
        records = traffic(model, rows, start=datetime.now(UTC) - timedelta(minutes=30))
        broken_feature = "mean radius"
        rng = np.random.default_rng(11)
        lost = rng.random(len(records)) < 0.4
        written = []
        for record, gone in zip(records, lost, strict=True):
            features = dict(record.features)
            if gone:
                features[broken_feature] = math.nan
            written.append(
                PredictionRecord(
                    uuid.uuid4().hex, "cancer", record.timestamp, features, record.prediction
                )
            )
        rt.store.write_predictions(written)
        report = rt.engine.run("cancer-drift")
        quality = {r.feature: r for r in report.results if r.detector == "quality"}
        assert [f for f, r in quality.items() if r.drifted] == [broken_feature]
        broken = quality[broken_feature]
        assert broken.kind == "feature" and broken.details["worst"] == "missing"
        assert broken.statistic == pytest.approx(lost.mean())
        ks = {r.feature: r for r in report.results if r.detector == "ks"}
        assert not ks[broken_feature].drifted, "the values left are the same distribution"
        assert ks[broken_feature].details["current_missing"] == int(lost.sum())
    finally:
        rt.close()
