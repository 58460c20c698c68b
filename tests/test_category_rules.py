"""Identical data is never drift: one rule for a missing category, one text per boolean class.

The reference comes from a CSV that pandas wrote; the window is the same rows, sent to the
API as a client reading that CSV sends them (every field as its text), logged to the real
store and scored by the real monitor, whole and from the store's counts. Before: pandas read
an empty field as missing while the API kept ``""`` as a category (chi-square p = 0.003 on
identical data with 25% empty), read ``True`` as a boolean (class ``"true"``) while the API
kept the client's ``"True"``, and read the ZIP code ``01234`` as the number 1234.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from driftscope.apps.api.main import create_app
from driftscope.core.config.environment import DeploymentSettings
from driftscope.core.config.yaml_file import ModelConfig
from driftscope.core.contracts.detector import missing_categories
from driftscope.core.contracts.types import CategoryCounts
from driftscope.core.monitoring.engine import _labelled, clean, clean_counts
from driftscope.core.monitoring.model_loading import class_label, load_model
from support.api_helpers import api_client

pytestmark = pytest.mark.anyio

ROWS = 1_200
EMPTY = 300  # a quarter of the rows have no purpose


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


def _reference(path: Path) -> None:
    rng = np.random.default_rng(12)
    purpose = rng.choice(np.array(["car", "home", "school"], dtype=object), ROWS)
    purpose[rng.choice(ROWS, EMPTY, replace=False)] = ""
    approved = rng.random(ROWS) < 0.6
    frame = pd.DataFrame(
        {
            "amount": rng.normal(10.0, 2.0, ROWS).round(3),
            "purpose": purpose,
            "owner": rng.random(ROWS) < 0.3,  # pandas writes True / False
            "zip": rng.choice(["01234", "02139", "10001"], ROWS),
            "approved": approved,
            "repaid": approved ^ (rng.random(ROWS) < 0.1),
        }
    )
    frame.to_csv(path, index=False)
    assert path.read_text().count(",,") >= EMPTY - 5  # empty fields, as pandas writes ""


def _config(folder: Path, url: str, reference: Path) -> Path:
    detectors = [{"type": "chi2"}, {"type": "psi"}, {"type": "ks"}, {"type": "performance"}]
    monitor = {"model": "loans", "every": "1h", "detectors": detectors, "correction": "none"}
    document: dict[str, Any] = {
        "store": {"type": "sql", "url": url},
        "models": [
            {
                "name": "loans",
                "reference": str(reference),
                "prediction_column": "approved",
                "target": "repaid",
                "features": [
                    {"name": "amount"},
                    {"name": "purpose", "kind": "categorical"},
                    {"name": "owner", "kind": "categorical"},
                    {"name": "zip", "kind": "categorical"},
                ],
            }
        ],
        "monitors": [
            {**monitor, "name": "whole", "window": {"last": "1h", "min_samples": 100}},
            {
                **monitor,
                "name": "counted",  # the window is sampled: PSI and chi2 from store counts
                "window": {"last": "1h", "min_samples": 100, "max_rows": 1_000},
            },
        ],
    }
    path = folder / "driftscope.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _client_rows(reference: Path) -> list[dict[str, Any]]:
    """The reference rows as a client reading the CSV sends them: every field as its text."""
    with reference.open(newline="") as handle:
        return [
            {
                "features": {
                    "amount": float(row["amount"]),
                    "purpose": row["purpose"],
                    "owner": row["owner"],
                    "zip": row["zip"],
                },
                "prediction": row["approved"],
                "label": row["repaid"],
            }
            for row in csv.DictReader(handle)
        ]


async def test_the_reference_sent_back_through_the_api_is_not_drift(
    tmp_path: Path, store_url: str
) -> None:
    reference = tmp_path / "loans.csv"
    _reference(reference)
    config = _config(tmp_path, store_url, reference)
    app = create_app(DeploymentSettings(config=config, scheduler=False))
    async with api_client(app) as client:
        logged = await client.post(
            "/v1/models/loans/records", json={"rows": _client_rows(reference)}
        )
        assert logged.status_code == 200, logged.text
        reports = {}
        for name in ("whole", "counted"):
            response = await client.post(f"/v1/monitors/{name}/run")
            assert response.status_code == 200, response.text
            reports[name] = response.json()
    assert reports["whole"]["window"]["sampled_rows"] is None
    assert reports["counted"]["window"]["sampled_rows"] == 1_000
    for name, report in reports.items():
        results = {(r["detector"], r["feature"] or r["kind"]): r for r in report["results"]}
        assert not report["drifted"], [(k, r["statistic"]) for k, r in results.items()]
        for key, result in results.items():
            assert result["status"] == "ok", (name, key, result["error"])
            assert not result["drifted"], (name, key, result["statistic"], result["p_value"])
        # the same categories in the same counts on both sides: nothing to tell them apart
        # (a sampled window counts its features whole in the store, not its predictions)
        exact = ("purpose", "owner", "zip") + (("prediction",) if name == "whole" else ())
        for feature in exact:
            chi2, psi = results[("chi2", feature)], results[("psi", feature)]
            assert chi2["statistic"] == pytest.approx(0.0, abs=1e-9), (name, feature)
            assert chi2["p_value"] == pytest.approx(1.0), (name, feature)
            assert psi["statistic"] == pytest.approx(0.0, abs=1e-12), (name, feature)
            assert chi2["details"]["unseen_categories"] == {}, (name, feature)
        purpose = results[("chi2", "purpose")]["details"]
        assert purpose["reference_missing"] == purpose["current_missing"] == EMPTY
        assert purpose["reference_size"] == purpose["current_size"] == ROWS - EMPTY
        assert set(purpose["bins"]["labels"]) == {"car", "home", "school", "<unseen>"}
        assert set(results[("chi2", "owner")]["details"]["bins"]["labels"]) == {
            "True",
            "False",
            "<unseen>",
        }
        assert set(results[("chi2", "zip")]["details"]["bins"]["labels"]) == {
            "01234",
            "02139",
            "10001",
            "<unseen>",
        }
        assert set(results[("chi2", "prediction")]["details"]["bins"]["labels"]) == {
            "true",
            "false",
            "<unseen>",
        }
    performance = next(r for r in reports["whole"]["results"] if r["detector"] == "performance")
    assert performance["details"]["relative_change"] == pytest.approx(0.0, abs=1e-12)


def test_one_rule_for_a_missing_category() -> None:
    values = np.array(["a", None, float("nan"), "", " ", "NA", "None", pd.NA], dtype=object)
    assert missing_categories(values).tolist() == [
        False,
        True,
        True,
        True,
        False,  # text, however blank, is a category
        False,
        False,
        True,
    ]
    kept, counts = clean(values, "categorical")
    assert kept.tolist() == ["a", " ", "NA", "None"] and counts == {"missing": 4, "infinite": 0}
    # a store's counts follow the same rule as a window read whole
    counted = clean_counts(CategoryCounts({"a": 3, "": 2, "b": 1}, missing=4))
    assert counted == CategoryCounts({"a": 3, "b": 1}, missing=6)


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (True, "true"),
        (np.bool_(False), "false"),
        ("True", "true"),
        ("FALSE", "false"),
        ("tRuE", "true"),
        ("false", "false"),
        ("yes", "yes"),  # other text stays as it is
        ("Trueish", "Trueish"),
    ],
)
def test_every_spelling_of_a_boolean_class_is_one_label(value: object, label: str) -> None:
    assert class_label(value) == label


def test_performance_scores_only_rows_with_both_a_label_and_a_prediction(tmp_path: Path) -> None:
    # a records-only reference whose prediction column has empty fields: those rows have no
    # prediction to judge, rather than a predicted class "None"
    reference = tmp_path / "ref.csv"
    reference.write_text("x,pred,label\n1,a,a\n2,,a\n3,b,b\n4,b,\n5,,b\n6,a,b\n")
    model = load_model(
        ModelConfig(name="m", reference=reference, target="label", prediction_column="pred")
    )
    ref = model.reference
    sample = _labelled(model, ref.labels, ref.predictions, ref.probabilities)
    assert sample.y_true.tolist() == ["a", "b", "b"]
    assert sample.y_pred.tolist() == ["a", "b", "a"]
