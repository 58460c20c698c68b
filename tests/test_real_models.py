"""Real models (issue 13): what a new user's own model and data do to driftscope.

* The standard pipeline for mixed data, a ``ColumnTransformer`` that picks columns by name,
  fitted on a DataFrame, is checked, served and scored with a DataFrame in the model's column
  order, whatever order the config lists the features in.
* A model that fails on its reference rows is a located config error naming the model, the
  row and the model's own message, from ``check``, ``run`` and ``serve`` (exit 2).
* A numeric string ("14.2") for a numeric feature is refused with the reason, naming its row
  and field; a finite but absurd value (1e308) is predicted, logged, stored and read back, and
  a row the model itself cannot score is a 422 naming it, not a 500.

Every expected prediction comes from scikit-learn called directly on a DataFrame, never from
driftscope's own scoring.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import yaml
from pydantic import SecretStr
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from typer.testing import CliRunner

from driftscope.apps.api.main import create_app
from driftscope.core.config.environment import DeploymentSettings
from driftscope.core.config.yaml_file import ModelConfig
from driftscope.core.contracts.store import StoreSettings
from driftscope.core.monitoring.model_loading import class_label, load_model
from driftscope.plugins.stores.sql import SQLStore
from support.api_helpers import REPO, api_client, demo_rows
from support.factories import demo_model

FEATURES = ["sex", "age", "bmi"]


@dataclass(frozen=True)
class HealthModel:
    """A mixed-data pipeline fitted on a DataFrame, saved with skops, and its data."""

    model_path: Path
    reference_path: Path
    estimator: Pipeline
    holdout: pd.DataFrame


def _health_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], rows),
            "age": rng.normal(50.0, 12.0, rows).round(1),
            "bmi": rng.normal(26.0, 4.0, rows).round(1),
        }
    )
    risk = 0.08 * (frame["age"] - 50) + 0.9 * (frame["sex"] == "F") + rng.normal(0, 1, rows)
    return frame.assign(label=(risk > 0.4).astype(int))


def health_model(folder: Path, *, handle_unknown: str = "error") -> HealthModel:
    """Fit ``Pipeline([ColumnTransformer([OneHotEncoder on "sex", passthrough]), LR])`` on a
    DataFrame (so it has ``feature_names_in_``) and save it and a held-out reference."""
    folder.mkdir(parents=True, exist_ok=True)
    sizes = ((600, 1), (300, 2), (50, 3))
    train, reference, holdout = (_health_frame(rows, seed) for rows, seed in sizes)
    estimator = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("cat", OneHotEncoder(handle_unknown=handle_unknown), ["sex"]),
                        ("num", "passthrough", ["age", "bmi"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression()),
        ]
    )
    estimator.fit(train[FEATURES], train["label"])
    assert list(estimator.feature_names_in_) == FEATURES
    model_path = folder / "health.skops"
    reference_path = folder / "health_reference.csv"
    sio.dump(estimator, model_path)
    reference.to_csv(reference_path, index=False)
    return HealthModel(model_path, reference_path, estimator, holdout)


def write_health_config(
    folder: Path, store_url: str, model: HealthModel, **model_block: Any
) -> Path:
    """A config serving ``model`` as ``health`` with one KS monitor."""
    document = {
        "store": {"type": "sql", "url": store_url},
        "models": [
            {
                "name": "health",
                "path": str(model.model_path),
                "reference": str(model.reference_path),
                "target": "label",
                **model_block,
            }
        ],
        "monitors": [
            {
                "name": "health-drift",
                "model": "health",
                "every": "1h",
                "window": {"last": "1h", "min_samples": 10},
                "detectors": [{"type": "ks", "p_value": 0.05}],
            }
        ],
        "api": {"logging": "sync"},
    }
    path = folder / "health.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {"sex": str(r["sex"]), "age": float(r["age"]), "bmi": float(r["bmi"])}
        for r in frame.to_dict(orient="records")
    ]


def invoke(*args: str) -> Any:
    from driftscope.apps.cli.main import app

    return CliRunner().invoke(app, list(args), terminal_width=250)


def _one_paragraph(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def health(tmp_path_factory: pytest.TempPathFactory) -> HealthModel:
    return health_model(tmp_path_factory.mktemp("health"))


# -- a pipeline fitted on a DataFrame ------------------------------------------------------------
def test_check_accepts_a_column_transformer_pipeline_fitted_on_a_dataframe(
    tmp_path: Path, sqlite_url: str, health: HealthModel
) -> None:
    result = invoke("check", str(write_health_config(tmp_path, sqlite_url, health)))
    assert result.exit_code == 0, result.output
    assert "ok" in result.output and "model health" in result.output


@pytest.mark.anyio
async def test_the_pipeline_is_served_with_a_dataframe_and_answers_as_sklearn_does(
    tmp_path: Path, sqlite_url: str, health: HealthModel
) -> None:
    config = write_health_config(tmp_path, sqlite_url, health)
    expected_proba = health.estimator.predict_proba(health.holdout[FEATURES])
    expected = [class_label(v) for v in health.estimator.predict(health.holdout[FEATURES])]
    rows = _rows(health.holdout)
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as c:
        one = await c.post("/v1/models/health/predict", json={"features": rows[0]})
        batch = await c.post("/v1/models/health/predict", json={"rows": rows})
        stats = (await c.get("/v1/models/health/stats")).json()
    assert one.status_code == 200, one.text
    assert batch.status_code == 200, batch.text
    items = batch.json()["predictions"]
    assert [i["prediction"] for i in items] == expected
    assert one.json()["predictions"][0]["prediction"] == expected[0]
    got = np.array([[i["probabilities"]["0"], i["probabilities"]["1"]] for i in items])
    assert np.allclose(got, expected_proba, rtol=1e-12, atol=0)
    assert stats["count"] == len(rows) + 1


def test_the_model_gets_its_own_column_order_and_dtypes(
    tmp_path: Path, health: HealthModel
) -> None:
    """Features listed in another order than the model was fitted in: the schema keeps the
    config's order, the model still gets ``feature_names_in_`` order (today the columns went
    in the config's order, silently wrong for a model fitted on an array of them)."""
    shuffled = [{"name": "bmi"}, {"name": "sex", "kind": "categorical"}, {"name": "age"}]
    model = load_model(
        ModelConfig(
            name="health",
            path=health.model_path,
            reference=health.reference_path,
            target="label",
            features=shuffled,
        )
    )
    assert model.schema.feature_names == ["bmi", "sex", "age"]
    assert model.takes_dataframe  # a ColumnTransformer picking "sex" refuses an array
    reference = pd.read_csv(health.reference_path)
    expected = health.estimator.predict_proba(reference[FEATURES])
    assert np.allclose(model.reference.probabilities, expected, rtol=1e-12, atol=0)
    given = model.model_input(model.feature_matrix(model.reference.columns))
    assert isinstance(given, pd.DataFrame) and list(given.columns) == FEATURES
    assert pd.api.types.is_string_dtype(given["sex"]) and given["age"].dtype == np.float64


def test_the_demo_model_in_another_order_still_answers_right_from_an_array(
    tmp_path: Path,
) -> None:
    """The demo's scaler and logistic regression answer the same from an array, so they keep
    the fast array path, in the model's own column order."""
    demo = demo_model(tmp_path)
    names = list(reversed(demo.feature_names))
    model = load_model(
        ModelConfig(
            name="cancer",
            path=demo.model_path,
            reference=demo.reference_path,
            target="label",
            features=[{"name": n} for n in names],
        )
    )
    assert not model.takes_dataframe
    estimator = sio.load(demo.model_path, trusted=sio.get_untrusted_types(file=demo.model_path))
    reference = pd.read_csv(demo.reference_path)
    expected = estimator.predict_proba(reference[demo.feature_names])
    assert np.allclose(model.reference.probabilities, expected, rtol=1e-12, atol=0)
    row = demo.holdout[names].to_numpy(np.float64)[:5]
    assert np.allclose(
        model.predict(row)[1],
        estimator.predict_proba(demo.holdout[demo.feature_names][:5]),
        rtol=1e-12,
        atol=0,
    )


def test_features_that_differ_from_the_model_s_are_a_located_config_error(
    tmp_path: Path, sqlite_url: str, health: HealthModel
) -> None:
    features = [{"name": "sex", "kind": "categorical"}, {"name": "age"}, {"name": "height"}]
    config = write_health_config(tmp_path, sqlite_url, health, features=features)
    result = invoke("check", str(config))
    assert result.exit_code == 2, result.output
    text = _one_paragraph(result.output)
    assert "models[0].features:" in text
    assert "missing 'bmi'" in text and "not in the model: 'height'" in text


# -- a model that fails on its reference ---------------------------------------------------------
def _breaks_on_row_7(folder: Path, breakage: str) -> tuple[HealthModel, str]:
    """A reference whose 7th data row the model cannot score, and the model's message."""
    model = health_model(folder)
    reference = pd.read_csv(model.reference_path)
    if breakage == "unseen-category":
        reference.loc[6, "sex"] = "X"  # OneHotEncoder(handle_unknown="error") refuses it
        message = "Found unknown categories ['X']"
    else:
        reference["age"] = reference["age"].astype(object)
        reference.loc[6, "age"] = ""  # an empty cell: NaN, which LogisticRegression refuses
        message = "Input X contains NaN"
    reference.to_csv(model.reference_path, index=False)
    return model, message


@pytest.mark.parametrize("breakage", ["unseen-category", "missing-value"])
@pytest.mark.parametrize("command", ["check", "run"])
def test_a_model_that_fails_on_a_reference_row_is_a_located_config_error(
    tmp_path: Path, sqlite_url: str, breakage: str, command: str
) -> None:
    model, message = _breaks_on_row_7(tmp_path, breakage)
    config = write_health_config(tmp_path, sqlite_url, model)
    if command == "check":
        result = invoke("check", str(config))
    else:
        result = invoke("run", "health-drift", "-c", str(config))
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # exited on purpose, not a traceback
    text = _one_paragraph(result.output)
    where = "models[0].reference" if command == "check" else "models[health].reference"
    assert f"{where}: model 'health' fails on the reference, first on row 7 of" in text
    assert message in text


def test_serve_refuses_a_model_that_fails_on_its_reference_without_a_traceback(
    tmp_path: Path, sqlite_url: str
) -> None:
    model, message = _breaks_on_row_7(tmp_path, "unseen-category")
    config = write_health_config(tmp_path, sqlite_url, model)
    done = subprocess.run(
        [sys.executable, "-m", "driftscope", "serve", "-c", str(config), "--port", "9"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    text = _one_paragraph(done.stderr)
    assert "Traceback" not in done.stderr
    assert "models[0].reference: model 'health' fails on the reference, first on row 7" in text
    assert message in text


# -- values: numeric strings, 1e308, and rows the model cannot score ----------------------------
@pytest.mark.anyio
async def test_a_numeric_string_for_a_numeric_feature_is_refused_with_the_reason(
    tmp_path: Path, sqlite_url: str, health: HealthModel
) -> None:
    config = write_health_config(tmp_path, sqlite_url, health)
    good = _rows(health.holdout)[:2]
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as c:
        batch = await c.post(
            "/v1/models/health/predict", json={"rows": [good[0], {**good[1], "age": "14.2"}]}
        )
        records = await c.post(
            "/v1/models/health/records",
            json={"rows": [{"features": {**good[0], "bmi": "27"}, "prediction": "1"}]},
        )
        word = await c.post(
            "/v1/models/health/predict", json={"features": {**good[0], "age": "old"}}
        )
        stats = (await c.get("/v1/models/health/stats")).json()
    assert batch.status_code == 422
    (problem,) = batch.json()["detail"]
    assert problem["loc"] == ["body", "rows", 1, "age"]
    assert problem["row"] == 1 and problem["field"] == "age"
    assert "'14.2'" in problem["msg"] and "JSON number" in problem["msg"]
    assert "14.2, not '14.2'" in problem["msg"]
    assert records.status_code == 422
    (problem,) = records.json()["detail"]
    assert problem["loc"] == ["body", "rows", 0, "features", "bmi"]
    assert "'27'" in problem["msg"] and "JSON number" in problem["msg"]
    (problem,) = word.json()["detail"]
    assert problem["loc"] == ["body", "features", "age"]
    assert "'old'" in problem["msg"] and "not '" not in problem["msg"]
    assert stats["count"] == 0


HUGE = 1e308


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.getfixturevalue("postgres_url" if request.param == "postgres" else "sqlite_url")


@pytest.mark.anyio
async def test_a_finite_but_absurd_value_is_predicted_logged_stored_and_read_back(
    tmp_path: Path, store_url: str, health: HealthModel
) -> None:
    config = write_health_config(tmp_path, store_url, health)
    absurd = {"sex": "F", "age": HUGE, "bmi": -HUGE}
    frame = pd.DataFrame([absurd], columns=FEATURES)
    expected = class_label(health.estimator.predict(frame)[0])
    expected_proba = health.estimator.predict_proba(frame)[0]
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as c:
        predicted = await c.post("/v1/models/health/predict", json={"features": absurd})
        recorded = await c.post(
            "/v1/models/health/records",
            json={"rows": [{"features": {**absurd, "bmi": HUGE}, "prediction": "0", "label": 1}]},
        )
        stats = (await c.get("/v1/models/health/stats")).json()
    assert predicted.status_code == 200, predicted.text
    (item,) = predicted.json()["predictions"]
    assert item["prediction"] == expected
    assert item["probabilities"] == {"0": expected_proba[0], "1": expected_proba[1]}
    assert recorded.status_code == 200, recorded.text
    assert stats["count"] == 2

    store = SQLStore(StoreSettings(url=SecretStr(store_url)))
    store.open()
    try:
        window = store.read_window(
            "health", datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
        )
    finally:
        store.close()
    assert window.rows == 2
    assert sorted(window.columns["age"].tolist()) == [HUGE, HUGE]
    assert sorted(window.columns["bmi"].tolist()) == [-HUGE, HUGE]
    assert sorted(window.prediction.tolist()) == sorted(["0", expected])
    assert sorted(map(str, window.labels.tolist())) == ["1", "None"]


@pytest.mark.anyio
async def test_a_row_the_model_cannot_score_is_a_422_naming_it_and_serving_goes_on(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    """The demo's scaler divides 1e308 by a scale below 1: infinity, which its logistic
    regression refuses. That row is the model's problem, named as such; it was a 500."""
    from support.api_helpers import make_demo_config

    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir, api={"logging": "sync"})
    rows = demo_rows(demo_dir, 4)
    smallest_scale = "mean smoothness"  # a standard deviation of about 0.014
    rows[2] = {**rows[2], smallest_scale: HUGE}
    app = create_app(DeploymentSettings(config=config, scheduler=False))
    async with api_client(app) as c:
        with warnings.catch_warnings():
            # the model's overflow is the row's 422, not a RuntimeWarning in the server's log
            warnings.simplefilter("error", RuntimeWarning)
            refused = await c.post("/v1/models/cancer/predict", json={"rows": rows})
            single = await c.post("/v1/models/cancer/predict", json={"features": rows[2]})
        fine = await c.post("/v1/models/cancer/predict", json={"rows": rows[:2]})
        stats = (await c.get("/v1/models/cancer/stats")).json()
        metrics = (await c.get("/metrics")).text
    assert refused.status_code == 422, refused.text
    (problem,) = refused.json()["detail"]
    assert problem["loc"] == ["body", "rows", 2] and problem["row"] == 2
    assert problem["type"] == "model_error"
    assert problem["msg"].startswith("the model cannot score this row: ValueError: Input X")
    assert single.status_code == 422 and single.json()["detail"][0]["loc"] == ["body", "features"]
    assert fine.status_code == 200
    assert stats["count"] == 2  # nothing of the refused requests was logged
    assert 'driftscope_prediction_errors_total{model="cancer",reason="model_error"} 2.0' in metrics
