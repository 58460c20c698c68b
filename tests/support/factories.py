"""Builders for real test fixtures: the demo model on disk, a config file, logged traffic."""

from __future__ import annotations

import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.model_selection import train_test_split

from driftscope.apps.demo.model import (
    DEMO_SEED,
    TARGET,
    DemoModel,
    drifted_rows,
    load_demo_data,
    train_demo_model,
)
from driftscope.core.contracts.store import PredictionRecord, Store
from driftscope.core.monitoring.model_loading import LoadedModel

_DEMO_CACHE: dict[Path, DemoModel] = {}


def demo_model(folder: Path) -> DemoModel:
    """Train (once per folder) and save the demo model and its reference CSV."""
    folder = folder.resolve()
    if folder not in _DEMO_CACHE:
        _DEMO_CACHE[folder] = train_demo_model(folder)
    return _DEMO_CACHE[folder]


def write_config(
    folder: Path,
    store_url: str,
    *,
    detectors: list[dict[str, Any]] | None = None,
    monitor: dict[str, Any] | None = None,
    notifiers: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    model_folder: Path | None = None,
    name: str = "driftscope.yaml",
) -> Path:
    """Write a config for the demo model (trained into ``model_folder``, default ``folder``)
    into ``folder`` and return its path."""
    demo = demo_model(model_folder or folder)
    monitor_block = {
        "name": "cancer-drift",
        "model": "cancer",
        "every": "1h",
        "window": {"last": "1h", "min_samples": 50},
        "detectors": detectors
        or [
            {"type": "ks", "p_value": 0.05},
            {"type": "psi", "threshold": 0.25},
            {"type": "chi2", "p_value": 0.05},
            {"type": "performance", "metric": "accuracy", "max_drop": 0.15, "min_samples": 30},
        ],
        **(monitor or {}),
    }
    document: dict[str, Any] = {
        "store": {"type": "sql", "url": store_url},
        "models": [
            {
                "name": "cancer",
                "path": str(demo.model_path),
                "reference": str(demo.reference_path),
                "target": TARGET,
            }
        ],
        "monitors": [monitor_block],
        "notifiers": notifiers or [],
        **(extra or {}),
    }
    path = folder / name
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def traffic(
    model: LoadedModel,
    rows: pd.DataFrame,
    *,
    start: datetime | None = None,
    spacing: timedelta = timedelta(seconds=1),
    with_labels: bool = True,
) -> list[PredictionRecord]:
    """PredictionRecords for ``rows`` (features + label), predicted by the real model; a row
    whose label is missing is logged unlabelled."""
    names = model.schema.feature_names
    predictions, proba = model.predict(rows[names].to_numpy(np.float64))
    classes = model.schema.classes or ()
    start = start or datetime.now(UTC) - spacing * len(rows)
    records = []
    for i, (_, row) in enumerate(rows.iterrows()):
        records.append(
            PredictionRecord(
                id=uuid.uuid4().hex,
                model=model.name,
                timestamp=start + spacing * i,
                features={n: float(row[n]) for n in names},
                prediction=predictions[i],
                probabilities=None
                if proba is None
                else dict(zip(classes, map(float, proba[i]), strict=True)),
                latency_ms=1.0,
                label=str(int(row[TARGET])) if with_labels and pd.notna(row[TARGET]) else None,
            )
        )
    return records


def held_out_rows(demo: DemoModel) -> pd.DataFrame:
    """The demo data's rows that are not in its reference: stable traffic that is not the
    reference itself.

    ``train_demo_model`` splits the data (stratified, seeded) into training rows, the
    reference and the holdout. This returns the training rows (284, label blanked: the
    model has seen them, so their accuracy would flatter it) followed by the holdout (114,
    labelled: neither the model nor the reference has seen them). Both halves are drawn from
    the reference's population, so a detector comparing them with the reference sees only
    sampling noise, never the D = 0 and PSI = 0 of the reference compared with itself.
    """
    frame = load_demo_data()
    training, _ = train_test_split(
        frame, test_size=0.5, random_state=DEMO_SEED, stratify=frame[TARGET]
    )
    reference = pd.read_csv(demo.reference_path)
    names = demo.feature_names
    assert len(training) + len(reference) + len(demo.holdout) == len(frame)
    # the split above must be the demo's own: no training row may be a reference row
    same = np.isclose(
        training[names].to_numpy()[:, None, :],
        reference[names].to_numpy()[None, :, :],
        rtol=1e-12,
        atol=0,
    ).all(axis=2)
    assert not same.any(), "the demo's training rows overlap its reference"
    unlabelled = training.assign(**{TARGET: np.nan})
    return pd.concat([unlabelled, demo.holdout], ignore_index=True)


def log_traffic(
    store: Store, model: LoadedModel, demo: DemoModel, *, drift: bool, seed: int = 0
) -> list[PredictionRecord]:
    """Log the demo's held-out rows (:func:`held_out_rows`, 398 rows, 114 labelled) as
    predictions in the last hour, with drift injected or not.

    Undrifted traffic is held-out data of the reference's population: at the documented
    thresholds and the default Bonferroni correction no detector finds drift in it (see
    ``test_engine.test_stable_traffic_shows_no_drift`` for the margins). Drifted traffic
    shifts a known set of features (see ``drifted_rows``) and flips labels."""
    rng = np.random.default_rng(seed)
    rows = held_out_rows(demo)
    n = len(rows)
    if drift:
        rows = drifted_rows(rows, demo.feature_names, rng)
    records = traffic(
        model,
        rows,
        start=datetime.now(UTC) - timedelta(minutes=50),
        spacing=timedelta(seconds=2400 / n),
    )
    store.write_predictions(records)
    return records


def _json_node(value: Any) -> dict[str, Any]:
    return {
        "__class__": "str",
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
    }


def _tuple_node(values: list[Any]) -> dict[str, Any]:
    return {
        "__class__": "tuple",
        "__module__": "builtins",
        "__loader__": "TupleNode",
        "content": [_json_node(v) for v in values],
    }


def hostile_skops(
    source: Path,
    target: Path,
    call: str,
    args: list[Any],
    *,
    loader: str = "ConstructorFromReduceNode",
) -> Path:
    """Copy the real skops file ``source`` to ``target`` with the first attribute of its top
    object replaced by a node that calls ``call`` (``module.name``) with ``args`` when loaded.

    ``loader`` picks the skops node that makes the call: ``ConstructorFromReduceNode`` calls
    its type with the content tuple; ``LossNode`` calls it with its ``__reduce__`` args.
    """
    module, name = call.rsplit(".", 1)
    if loader == "ConstructorFromReduceNode":
        payload = {
            "__class__": name,
            "__module__": module,
            "__loader__": loader,
            "content": _tuple_node(args),
        }
    elif loader == "LossNode":
        payload = {
            "__class__": name,
            "__module__": module,
            "__loader__": loader,
            "__reduce__": {"args": _tuple_node(args)},
            "content": {
                "__class__": "dict",
                "__module__": "builtins",
                "__loader__": "DictNode",
                "content": {},
                "key_types": {
                    "__class__": "list",
                    "__module__": "builtins",
                    "__loader__": "ListNode",
                    "content": [],
                },
            },
        }
    else:
        raise ValueError(f"no payload for loader {loader!r}")
    with zipfile.ZipFile(source) as original:
        members = {item: original.read(item) for item in original.namelist()}
    schema = json.loads(members["schema.json"])
    attributes = schema["content"]["content"]
    first = next(iter(attributes))
    attributes[first] = payload
    members["schema.json"] = json.dumps(schema).encode("utf-8")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as rewritten:
        for item, data in members.items():
            rewritten.writestr(item, data)
    return target


def categorical_model(folder: Path) -> tuple[Path, Path]:
    """Train and save (skops) a small classifier over one numeric feature ``x`` and one
    categorical feature ``colour``, with its reference CSV; return (model, reference)."""
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(7)
    colours = rng.choice(["red", "green", "blue"], size=300)
    x = rng.normal(size=300)
    label = ((x > 0) ^ (colours == "red")).astype(int)
    frame = pd.DataFrame({"x": x, "colour": colours, "label": label})
    # fitted on an array (no feature_names_in_), as the service passes rows in schema order
    pipeline = Pipeline(
        [
            (
                "encode",
                ColumnTransformer(
                    [("colour", OneHotEncoder(handle_unknown="ignore"), [1])],
                    remainder="passthrough",
                ),
            ),
            ("classify", LogisticRegression()),
        ]
    )
    pipeline.fit(frame[["x", "colour"]].to_numpy(dtype=object), label)
    model_path = folder / "colours.skops"
    reference_path = folder / "colours_reference.csv"
    sio.dump(pipeline, model_path)
    frame.to_csv(reference_path, index=False)
    return model_path, reference_path
