"""The ``domain_classifier`` detector: multivariate drift, and which features carry it.

Data with known answers: a correlation that flips while both marginals stay standard normal
(scipy's KS on each marginal must see nothing, the classifier must), held-out rows of the
reference's own distribution (nothing to find), a shift in one feature among many (it must
rank first), and the demo model end to end through YAML, the engine and a real store.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from driftscope import WindowSample
from driftscope.core.config.yaml_file import load_config
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from driftscope.plugins.detectors.domain_classifier import (
    DomainClassifierDetector,
    DomainClassifierSettings,
)
from support.factories import demo_model, log_traffic, traffic, write_config


def _sample(features: dict[str, np.ndarray]) -> WindowSample:
    rows = len(next(iter(features.values())))
    kinds = {
        name: "numeric" if values.dtype.kind == "f" else "categorical"
        for name, values in features.items()
    }
    return WindowSample(
        features=features,
        kinds=kinds,  # type: ignore[arg-type]
        task="classification",
        predictions=np.array(["1"] * rows, dtype=object),
        labels=np.array([None] * rows, dtype=object),
    )


def _correlated(rng: np.random.Generator, rows: int, rho: float) -> dict[str, np.ndarray]:
    z1 = rng.normal(size=rows)
    z2 = rho * z1 + math.sqrt(1 - rho**2) * rng.normal(size=rows)
    return {"x1": z1, "x2": z2, "x3": rng.normal(size=rows), "x4": rng.normal(size=rows)}


def _detector(**settings: Any) -> DomainClassifierDetector:
    return DomainClassifierDetector(DomainClassifierSettings(type="domain_classifier", **settings))


@pytest.fixture(scope="module")
def fitted() -> tuple[DomainClassifierDetector, Any]:
    detector = _detector()
    reference = _sample(_correlated(np.random.default_rng(1), 10_000, 0.8))
    return detector, detector.fit(reference)


def test_a_flipped_correlation_no_marginal_test_sees_is_found_and_located(fitted) -> None:
    detector, profile = fitted
    reference = _correlated(np.random.default_rng(1), 10_000, 0.8)
    flipped = _correlated(np.random.default_rng(2), 3_000, -0.8)
    # every marginal still looks like the reference's, to KS with the Bonferroni correction
    # across the four features that a driftscope monitor applies by default
    for name in flipped:
        assert stats.ks_2samp(reference[name], flipped[name]).pvalue > 0.05 / 4, name
    (result,) = detector.score(profile, _sample(flipped))
    assert result.kind == "multivariate" and result.feature is None
    assert result.drifted and result.statistic > 0.8 > result.threshold
    ranking = result.details["ranking"]
    assert {r["feature"] for r in ranking[:2]} == {"x1", "x2"}
    assert sum(r["importance"] for r in ranking[:2]) > 0.9
    assert math.isclose(sum(r["importance"] for r in ranking), 1.0, abs_tol=1e-5)
    assert result.statistic == pytest.approx(np.mean(result.details["auc_folds"]), abs=1e-5)


def test_held_out_rows_of_the_same_distribution_are_not_drift(fitted) -> None:
    detector, profile = fitted
    (result,) = detector.score(profile, _sample(_correlated(np.random.default_rng(3), 3_000, 0.8)))
    assert not result.drifted
    assert abs(result.statistic - 0.5) < 0.05
    assert result.details["threshold_from"] == "reference splits"


def test_the_learned_threshold_is_never_tighter_than_chance_allows(fitted) -> None:
    detector, profile = fitted
    window = _sample(_correlated(np.random.default_rng(4), 500, 0.8))
    (result,) = detector.score(profile, window)
    n = result.details["sample_rows"]
    assert n == 500
    # Hanley & McNeil (1982): the standard error of an AUC of 0.5 with n rows on each side
    se = math.sqrt((2 * n + 1) / (12 * n * n))
    null = result.details["no_drift_auc"]
    assert len(null["splits"]) == 3
    # the calibration's spread, scaled from its sample size to the window's
    spread = np.std(null["splits"], ddof=1) * math.sqrt(profile.null_rows / n)
    assert result.threshold == pytest.approx(null["mean"] + 3 * max(spread, se), abs=1e-5)
    # a calibration that happened to agree exactly must not give a threshold of 0.5 + 0
    lucky = dataclasses.replace(profile, null_aucs=(0.5, 0.5, 0.5))
    (result,) = detector.score(lucky, window)
    assert result.threshold == pytest.approx(0.5 + 3 * se)


def test_a_shift_in_one_feature_among_many_ranks_it_first() -> None:
    rng = np.random.default_rng(5)
    names = [f"f{i:02d}" for i in range(12)]
    reference = {name: rng.normal(size=6_000) for name in names}
    window = {name: rng.normal(size=2_000) for name in names}
    window["f07"] = window["f07"] + 0.5
    detector = _detector()
    (result,) = detector.score(detector.fit(_sample(reference)), _sample(window))
    assert result.drifted
    assert result.details["ranking"][0]["feature"] == "f07"
    assert result.details["ranking"][0]["importance"] > 0.5


def test_categorical_features_count_with_unseen_and_missing_categories() -> None:
    rng = np.random.default_rng(6)
    colours = np.array(["red", "green", "blue"], dtype=object)
    reference = {"x": rng.normal(size=4_000), "colour": rng.choice(colours, size=4_000)}
    window_colour = rng.choice(np.append(colours, "purple"), size=2_000, p=[0.2, 0.2, 0.2, 0.4])
    window_colour[:100] = None
    window = {"x": rng.normal(size=2_000), "colour": window_colour}
    detector = _detector()
    (result,) = detector.score(detector.fit(_sample(reference)), _sample(window))
    assert result.drifted
    assert result.details["ranking"][0]["feature"] == "colour"


def test_a_configured_threshold_is_used_and_too_few_rows_are_insufficient() -> None:
    detector = _detector(threshold=0.75, min_rows=200)
    profile = detector.fit(_sample(_correlated(np.random.default_rng(7), 2_000, 0.8)))
    assert profile.null_aucs == ()  # nothing to learn
    (result,) = detector.score(profile, _sample(_correlated(np.random.default_rng(8), 1_000, 0.8)))
    assert result.threshold == 0.75 and result.details["threshold_from"] == "configured"
    (small,) = detector.score(profile, _sample(_correlated(np.random.default_rng(9), 150, -0.8)))
    assert small.status == "insufficient_data" and "150 window rows" in (small.error or "")


def test_the_same_settings_and_data_give_the_same_answer() -> None:
    reference = _sample(_correlated(np.random.default_rng(10), 3_000, 0.5))
    window = _sample(_correlated(np.random.default_rng(11), 1_000, 0.2))
    first, second = _detector(), _detector()
    (a,) = first.score(first.fit(reference), window)
    (b,) = second.score(second.fit(reference), window)
    assert a.statistic == b.statistic and a.threshold == b.threshold


# -- end to end --------------------------------------------------------------------------------
def _runtime(tmp_path: Path, store_url: str) -> Runtime:
    plugins = create_plugin_manager(entry_points=False)
    detectors = [{"type": "domain_classifier", "min_rows": 50, "max_rows": 2000}]
    path = write_config(tmp_path, store_url, detectors=detectors)
    return Runtime(load_config(path, plugins), plugins)


DRIFTED = {"mean radius", "mean texture", "mean perimeter", "radius error", "texture error"}


@pytest.mark.parametrize(
    "store_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_end_to_end_drifted_traffic_is_found_and_located(
    tmp_path: Path, store_name: str, request: pytest.FixtureRequest
) -> None:
    rt = _runtime(tmp_path, request.getfixturevalue(f"{store_name}_url"))
    try:
        log_traffic(rt.store, rt.models["cancer"], demo_model(tmp_path), drift=True)
        report = rt.engine.run("cancer-drift")
        (result,) = [r for r in report.results if r.detector == "domain_classifier"]
        assert result.status == "ok" and result.drifted, result
        ranking = result.details["ranking"]
        assert ranking[0]["feature"] in DRIFTED, ranking[:3]
        # features strongly correlated with a shifted one (perimeter with radius) carry part
        # of the change too, since their joint distribution moved; most of it is in the five
        share = sum(r["importance"] for r in ranking if r["feature"] in DRIFTED)
        assert share > 0.5, ranking[:6]
    finally:
        rt.close()


def test_end_to_end_held_out_traffic_is_not_drift(tmp_path: Path, sqlite_url: str) -> None:
    rt = _runtime(tmp_path, sqlite_url)
    try:
        rows = demo_model(tmp_path).holdout
        rt.store.write_predictions(traffic(rt.models["cancer"], rows))
        report = rt.engine.run("cancer-drift")
        (result,) = [r for r in report.results if r.detector == "domain_classifier"]
        assert result.status == "ok" and not result.drifted, result
    finally:
        rt.close()
