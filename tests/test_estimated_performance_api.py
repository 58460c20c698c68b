"""Estimated performance from YAML to report, as a user runs it: a served model, and a model
served elsewhere whose reference and records carry its probabilities."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import yaml

from driftscope.apps.api.main import create_app
from driftscope.apps.demo.model import TARGET
from driftscope.core.config.environment import DeploymentSettings
from driftscope.core.config.yaml_file import load_config
from driftscope.core.errors import ConfigError
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from support.api_helpers import api_client
from support.factories import demo_model, write_config

pytestmark = pytest.mark.anyio
CBPE = {"type": "cbpe", "metrics": ["roc_auc", "accuracy"], "min_samples": 50}


def _outside_model(folder: Path, demo_dir: Path) -> dict[str, Any]:
    """The demo model as if served elsewhere: a reference CSV with its predictions and its
    probabilities in columns, and no model file."""
    demo = demo_model(demo_dir)
    model = sio.load(demo.model_path, trusted=sio.get_untrusted_types(file=demo.model_path))
    frame = pd.read_csv(demo.reference_path)
    proba = model.predict_proba(frame[demo.feature_names])
    frame["pred"] = model.predict(frame[demo.feature_names])
    frame["score_0"], frame["score_1"] = proba[:, 0], proba[:, 1]
    reference = folder / "outside.csv"
    frame.to_csv(reference, index=False)
    return {
        "name": "outside",
        "reference": str(reference),
        "target": TARGET,
        "prediction_column": "pred",
        "probability_columns": {"0": "score_0", "1": "score_1"},
    }


def _config(folder: Path, store_url: str, demo_dir: Path) -> Path:
    path = write_config(folder, store_url, detectors=[CBPE], model_folder=demo_dir)
    document = yaml.safe_load(path.read_text())
    document["models"].append(_outside_model(folder, demo_dir))
    document["monitors"].append(
        {
            "name": "outside-estimate",
            "model": "outside",
            "every": "1h",
            "window": {"last": "1h", "min_samples": 50},
            "detectors": [CBPE],
        }
    )
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
async def client(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    config = _config(tmp_path, sqlite_url, demo_dir)
    settings = DeploymentSettings(config=config, scheduler=False, logging="durable")
    async with api_client(create_app(settings)) as c:
        yield c


def _estimates(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["feature"]: r for r in report["results"] if r["detector"] == "cbpe"}


async def test_a_served_model_is_estimated_then_compared_with_its_labels(
    client: httpx.AsyncClient, demo_dir: Path
) -> None:
    holdout = demo_model(demo_dir).holdout
    features = [c for c in holdout.columns if c != TARGET]
    rows = [{n: float(v) for n, v in row.items()} for row in holdout[features].to_dict("records")]
    predicted = (await client.post("/v1/models/cancer/predict", json={"rows": rows})).json()
    report = (await client.post("/v1/monitors/cancer-drift/run")).json()
    estimates = _estimates(report)
    assert set(estimates) == {"roc_auc", "accuracy"}
    for result in estimates.values():
        assert result["kind"] == "performance" and result["status"] == "ok", result
        details = result["details"]
        assert details["lower"] <= result["statistic"] <= details["upper"]
        assert details["realized_rows"] == 0 and "realized" not in details
        assert not result["drifted"]  # held-out rows of the reference's own distribution
    ids = [p["id"] for p in predicted["predictions"]]
    labels = [str(int(v)) for v in holdout[TARGET]]
    await client.post(
        "/v1/models/cancer/feedback",
        json={"labels": [{"id": i, "label": y} for i, y in zip(ids, labels, strict=True)]},
    )
    report = (await client.post("/v1/monitors/cancer-drift/run")).json()
    accuracy = _estimates(report)["accuracy"]["details"]
    expected = float(
        np.mean(
            [p["prediction"] == y for p, y in zip(predicted["predictions"], labels, strict=True)]
        )
    )
    assert accuracy["realized"] == pytest.approx(expected)
    assert accuracy["realized_rows"] == len(ids)


async def test_a_model_served_elsewhere_is_estimated_from_the_probabilities_it_sends(
    client: httpx.AsyncClient, demo_dir: Path
) -> None:
    demo = demo_model(demo_dir)
    model = sio.load(demo.model_path, trusted=sio.get_untrusted_types(file=demo.model_path))
    holdout = demo.holdout
    proba = model.predict_proba(holdout[demo.feature_names])
    predictions = model.predict(holdout[demo.feature_names])
    x = holdout[demo.feature_names].to_numpy()
    now = datetime.now(UTC)
    records = [
        {
            "features": {n: float(v) for n, v in zip(demo.feature_names, row, strict=True)},
            "prediction": str(int(pred)),
            "probabilities": {"0": float(p[0]), "1": float(p[1])},
            "timestamp": (now - timedelta(minutes=30) + timedelta(seconds=i)).isoformat(),
        }
        for i, (row, pred, p) in enumerate(zip(x, predictions, proba, strict=True))
    ]
    response = await client.post("/v1/models/outside/records", json={"rows": records})
    assert response.status_code == 200, response.text
    report = (await client.post("/v1/monitors/outside-estimate/run")).json()
    estimates = _estimates(report)
    accuracy = estimates["accuracy"]
    assert accuracy["status"] == "ok", accuracy
    realized = float(np.mean(predictions == holdout[TARGET].to_numpy()))
    details = accuracy["details"]
    assert details["lower"] <= realized <= details["upper"]
    assert details["rows"] == len(records) and details["rows_without_probabilities"] == 0


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (
            {"probability_columns": {"0": "score_0", "1": "nope"}},
            "probability_columns",
            "no column 'nope'",
        ),
        (
            {"probability_columns": {"0": "score_0", "2": "score_1"}},
            "probability_columns",
            "without a probability column: 1",
        ),
        ({"probability_columns": {"0": "score_0"}}, "probability_columns", "2+ classes"),
    ],
)
def test_bad_probability_columns_are_located_config_errors(
    tmp_path: Path,
    sqlite_url: str,
    demo_dir: Path,
    change: dict[str, Any],
    where: str,
    message: str,
) -> None:
    path = _config(tmp_path, sqlite_url, demo_dir)
    document = yaml.safe_load(path.read_text())
    document["models"][1].update(change)
    path.write_text(yaml.safe_dump(document))
    plugins = create_plugin_manager(entry_points=False)
    with pytest.raises(ConfigError) as info:
        Runtime(load_config(path, plugins), plugins).close()
    problems = dict(info.value.problems)
    (key,) = [k for k in problems if where in k]
    assert message in problems[key]


def test_a_probability_outside_0_1_names_its_row(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> None:
    path = _config(tmp_path, sqlite_url, demo_dir)
    document = yaml.safe_load(path.read_text())
    frame = pd.read_csv(document["models"][1]["reference"])
    frame.loc[4, "score_1"] = 1.5
    frame.to_csv(document["models"][1]["reference"], index=False)
    plugins = create_plugin_manager(entry_points=False)
    with pytest.raises(ConfigError) as info:
        Runtime(load_config(path, plugins), plugins).close()
    ((key, message),) = info.value.problems
    assert key == "models[outside].probability_columns.1"
    assert "data row 5" in message and "1.5" in message


async def test_a_regressor_served_elsewhere_gets_estimated_errors_from_yaml(
    tmp_path: Path, sqlite_url: str
) -> None:
    """dle from YAML to report: a regressor served elsewhere (reference CSV with its
    predictions), records posted with timestamps, errors estimated before any label."""
    rng = np.random.default_rng(0)

    def rows(count: int, mean: float) -> pd.DataFrame:
        x = rng.normal(mean, 1.0, size=count)
        y = 2 * x + (0.5 + np.abs(x)) * rng.normal(size=count)
        return pd.DataFrame({"x": x, "noise": rng.normal(size=count), "y": y, "pred": 2 * x})

    reference = tmp_path / "regressor.csv"
    rows(20_000, 0.0).to_csv(reference, index=False)
    config = tmp_path / "regressor.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "store": {"type": "sql", "url": sqlite_url},
                "models": [
                    {
                        "name": "price",
                        "reference": str(reference),
                        "target": "y",
                        "prediction_column": "pred",
                        "task": "regression",
                    }
                ],
                "monitors": [
                    {
                        "name": "price-errors",
                        "model": "price",
                        "every": "1h",
                        "window": {"last": "1h", "min_samples": 50},
                        "detectors": [{"type": "dle", "min_samples": 50}],
                    }
                ],
            }
        )
    )
    window = rows(2_000, 1.0)  # harder inputs: the error grows
    now = datetime.now(UTC)
    records = [
        {
            "features": {"x": float(r.x), "noise": float(r.noise)},
            "prediction": float(r.pred),
            "timestamp": (now - timedelta(minutes=30) + timedelta(seconds=i)).isoformat(),
        }
        for i, r in enumerate(window.itertuples())
    ]
    settings = DeploymentSettings(config=config, scheduler=False, logging="durable")
    async with api_client(create_app(settings)) as client:
        response = await client.post("/v1/models/price/records", json={"rows": records})
        assert response.status_code == 200, response.text
        report = (await client.post("/v1/monitors/price-errors/run")).json()
    results = {r["feature"]: r for r in report["results"] if r["detector"] == "dle"}
    assert set(results) == {"mae", "rmse"}
    mae = results["mae"]
    assert mae["status"] == "ok" and mae["kind"] == "performance", mae
    assert mae["details"]["realized_rows"] == 0
    realized = float(np.abs(window.y - window.pred).mean())  # the labels dle never saw
    assert mae["details"]["lower"] <= realized <= mae["details"]["upper"]
    assert mae["drifted"] and mae["statistic"] > mae["threshold"]
