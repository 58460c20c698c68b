"""A store with a drift story for the dashboard's live tests, and the API serving it.

:func:`build_history` trains the demo model, writes a config with three monitors and fills
a SQLite store through the real runtime: 72 minutes of six-minute batches of the demo's
held-out rows, stable for the first half and then drifted (:func:`driftscope.apps.demo.model.
drifted_rows` shifts ``mean radius``, ``mean texture``, ``mean perimeter``, ``mean
smoothness`` and ``mean compactness`` … and flips a third of the labels), each batch
followed by a monitor run at that time and the alert rules. :func:`start_live_api` then
serves the store with the API (scheduler off), sends one more drifted batch through
``POST /predict`` and ``/feedback``, and runs the monitors with ``POST /v1/monitors/{name}/run``.

Monitors:

* ``cancer-drift`` — ks, psi, chi2 (the prediction), performance, and the window detectors
  quality, cbpe (estimated ROC AUC and accuracy) and domain_classifier: drifts in the second
  half, where :data:`GAPPY_FEATURE` also misses a value in every :data:`GAPPY_EVERY`-th row
  (which the quality detector flags);
* ``cancer-stable`` — psi on features the drift leaves alone: stays ok;
* ``cancer-idle`` — never run: no reports (the empty state).

:func:`build_colours` makes a second store: a model with a categorical feature, run once
(one run: the single-point time axes), whose window has unseen and missing categories and
absurd, infinite and missing numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import yaml

from driftscope.apps.demo.model import TARGET, drifted_rows
from driftscope.core.alerting.wiring import build_alerting
from driftscope.core.contracts.store import PredictionRecord
from driftscope.core.durations import format_duration
from driftscope.core.runtime import Runtime
from support.api_helpers import ServerProcess, demo_model, make_demo_config
from support.factories import categorical_model

BATCHES = 12
BATCH_ROWS = 100
STEP = timedelta(minutes=6)  # twelve runs span 72 minutes: more than the "1h" range
DRIFT_FROM = 6  # batches from this index on are drifted
LABELLED_SHARE = 0.7
GAPPY_FEATURE = "worst concavity"
GAPPY_EVERY = 12  # drifted batches miss GAPPY_FEATURE in every 12th row
WINDOW = timedelta(minutes=5)  # the monitors' window: the newest 5 of a batch's 6 minutes


def gappy_share() -> float:
    """The share of a drifted run's window rows that miss :data:`GAPPY_FEATURE`: row ``i`` of
    a batch is logged ``(i + 1) / (BATCH_ROWS + 1)`` of the way through its six minutes."""
    seen = [i for i in range(BATCH_ROWS) if STEP * (i + 1) / (BATCH_ROWS + 1) >= STEP - WINDOW]
    return sum(1 for i in seen if i % GAPPY_EVERY == 0) / len(seen)


@dataclass
class LiveScenario:
    """What :func:`build_history` made."""

    config: Path
    store_url: str
    features: list[str]
    drifting: list[str]
    stable: list[str]


@dataclass
class ColoursScenario:
    """What :func:`build_colours` made: a config, and what its one run's window held."""

    config: Path
    rows: int
    unseen: int
    missing_colour: int
    missing_x: int
    infinite_x: int
    absurd_x: int


def _config(tmp_path: Path, store_url: str, features: list[str]) -> Path:
    path = make_demo_config(
        tmp_path,
        store_url,
        every="1h",
        monitor={
            "window": {"last": format_duration(WINDOW), "min_samples": 20},
            "correction": "bonferroni",
            "detectors": [
                {"type": "ks", "p_value": 0.05, "min_statistic": 0.1},
                {"type": "psi", "threshold": 0.25},
                {"type": "chi2", "p_value": 0.05},
                {"type": "performance", "metric": "accuracy", "max_drop": 0.15, "min_samples": 10},
                {"type": "quality", "max_increase": 0.05},
                {"type": "cbpe", "metrics": ["roc_auc", "accuracy"], "min_samples": 50},
                {"type": "domain_classifier", "min_rows": 50},
            ],
            "alert": {"for_runs": 1, "resolve_runs": 2},
        },
        notifiers=[{"name": "console", "type": "log"}],
    )
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["monitors"].append(
        {
            "name": "cancer-stable",
            "model": "cancer",
            "every": "1h",
            "window": {"last": "5m", "min_samples": 20},
            "features": stable_features(features),
            "detectors": [{"type": "psi", "threshold": 0.25, "prediction": False}],
            "notify": ["console"],
        }
    )
    document["monitors"].append(
        {
            "name": "cancer-idle",
            "model": "cancer",
            "every": "1h",
            "window": {"last": "5m", "min_samples": 20},
            "detectors": [{"type": "psi", "threshold": 0.25}],
            "notify": ["console"],
        }
    )
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def drifting_features(features: list[str]) -> list[str]:
    """The features :func:`driftscope.apps.demo.model.drifted_rows` shifts."""
    return features[:3] + features[10:12]


def stable_features(features: list[str]) -> list[str]:
    """Features the drift leaves alone and whose PSI stays low on held-out batches."""
    return ["worst radius", "worst texture", "worst perimeter"]


def _records(
    runtime: Runtime, frame: pd.DataFrame, features: list[str], end: datetime, batch: int
) -> list[PredictionRecord]:
    model = runtime.models["cancer"]
    matrix = frame[features].to_numpy(dtype=np.float64)
    predictions, proba = model.predict(matrix)
    classes = list(model.schema.classes or [])
    rng = np.random.default_rng(batch)
    records = []
    for i in range(len(frame)):
        at = end - STEP + (STEP * (i + 1)) / (len(frame) + 1)
        label = str(int(frame[TARGET].iloc[i])) if rng.random() < LABELLED_SHARE else None
        values: dict[str, float | None] = {f: float(frame[f].iloc[i]) for f in features}
        if batch >= DRIFT_FROM and i % GAPPY_EVERY == 0:
            values[GAPPY_FEATURE] = None
        records.append(
            PredictionRecord(
                id=f"b{batch:02d}-{i:04d}",
                model="cancer",
                timestamp=at,
                features=values,
                prediction=predictions[i],
                probabilities=(
                    {c: float(p) for c, p in zip(classes, proba[i], strict=True)}
                    if proba is not None
                    else None
                ),
                latency_ms=float(0.6 + rng.random()),
                label=label,
            )
        )
    return records


def batch_frame(tmp_path: Path, batch: int) -> pd.DataFrame:
    """Rows of one batch: held-out rows, drifted from :data:`DRIFT_FROM` on."""
    demo = demo_model(tmp_path)
    holdout = demo.holdout
    rng = np.random.default_rng(batch)
    index = rng.choice(len(holdout), size=min(BATCH_ROWS, len(holdout)), replace=False)
    frame = holdout.iloc[np.sort(index)].reset_index(drop=True)
    if batch >= DRIFT_FROM:
        frame = drifted_rows(frame, demo.feature_names, np.random.default_rng(batch))
    return frame


def build_history(tmp_path: Path, now: datetime | None = None) -> LiveScenario:
    """Write the config and fill the store with :data:`BATCHES` batches and monitor runs
    ending :data:`STEP` before ``now`` (the live API adds the last one)."""
    now = now or datetime.now(UTC)
    store_url = f"sqlite:///{tmp_path / 'dashboard.db'}"
    demo = demo_model(tmp_path)
    features = list(demo.feature_names)
    config = _config(tmp_path, store_url, features)
    runtime = Runtime.from_path(config)
    try:
        alerts, delivery = build_alerting(
            runtime.config, runtime.plugins, runtime.store, runtime.notifiers
        )
        for batch in range(BATCHES):
            end = now - STEP * (BATCHES - batch)
            frame = batch_frame(tmp_path, batch)
            runtime.store.write_predictions(_records(runtime, frame, features, end, batch))
            runtime.engine.clock = lambda end=end: end  # the report is dated at its window's end
            for monitor in ("cancer-drift", "cancer-stable"):
                report = runtime.engine.run(monitor, now=end)
                alerts.handle_report(report, now=end)
        delivery.run_once()
    finally:
        runtime.close()
    return LiveScenario(
        config=config,
        store_url=store_url,
        features=features,
        drifting=drifting_features(features),
        stable=stable_features(features),
    )


def start_live_api(scenario: LiveScenario, tmp_path: Path, **env: str) -> ServerProcess:
    """Serve the scenario's store (scheduler off), send one drifted batch through the API
    with labels for most of it, and run the two active monitors through the API."""
    server = ServerProcess(
        {"DRIFTSCOPE_CONFIG": str(scenario.config), "DRIFTSCOPE_SCHEDULER": "false", **env},
        log_path=tmp_path / "api.log",
    ).start()
    try:
        headers = {"X-API-Key": env["DRIFTSCOPE_API_KEY"]} if "DRIFTSCOPE_API_KEY" in env else {}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            frame = batch_frame(tmp_path, BATCHES)
            rows = frame[scenario.features].to_dict(orient="records")
            answer = _ok(client.post("/v1/models/cancer/predict", json={"rows": rows}))
            ids = [p["id"] for p in answer["predictions"]]
            labels = [
                {"id": i, "label": str(int(y))} for i, y in zip(ids, frame[TARGET], strict=True)
            ][: int(len(ids) * LABELLED_SHARE)]
            _ok(client.post("/v1/models/cancer/feedback", json={"labels": labels}))
            for monitor in ("cancer-drift", "cancer-stable"):
                _ok(client.post(f"/v1/monitors/{monitor}/run"))
    except BaseException:
        server.stop()
        raise
    return server


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise AssertionError(
            f"{response.request.url} answered {response.status_code}: {response.text}"
        )
    return response.json()


COLOURS_ROWS = 200


def build_colours(tmp_path: Path, now: datetime | None = None) -> ColoursScenario:
    """A store with one run of ``colours-drift`` (ks, psi, chi2) on a model with a numeric
    ``x`` and a categorical ``colour``, whose window ends a minute before ``now``: 10% of its
    colours are ``purple`` (the reference has none), some colours and numbers are missing,
    some numbers infinite or 1e308, and ``x`` is shifted."""
    now = now or datetime.now(UTC)
    folder = tmp_path / "colours"
    folder.mkdir(parents=True, exist_ok=True)
    model_path, reference = categorical_model(folder)
    config = folder / "colours.yaml"
    document = {
        "store": {"type": "sql", "url": f"sqlite:///{folder / 'colours.db'}"},
        "models": [
            {"name": "colours", "path": str(model_path), "reference": str(reference)}
            | {"target": "label"}
        ],
        "monitors": [
            {
                "name": "colours-drift",
                "model": "colours",
                "every": "1h",
                "window": {"last": "1h", "min_samples": 20},
                "correction": "fdr",
                "detectors": [
                    {"type": "ks", "p_value": 0.05},
                    {"type": "psi", "threshold": 0.25},
                    {"type": "chi2", "p_value": 0.05},
                ],
            }
        ],
    }
    config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    rng = np.random.default_rng(3)
    colours: list[str | None] = list(rng.choice(["red", "green", "blue"], COLOURS_ROWS))
    x: list[float | None] = list(rng.normal(0.8, 1.0, COLOURS_ROWS))
    unseen, missing_colour = COLOURS_ROWS // 10, 6
    colours[:unseen] = ["purple"] * unseen
    colours[unseen : unseen + missing_colour] = [None] * missing_colour
    missing_x, infinite_x, absurd_x = 8, 3, 2
    x[-missing_x:] = [None] * missing_x
    x[:infinite_x] = [math.inf] * infinite_x
    x[infinite_x : infinite_x + absurd_x] = [1e308] * absurd_x
    p = rng.beta(2, 2, COLOURS_ROWS)
    end = now - timedelta(minutes=1)
    runtime = Runtime.from_path(config)
    try:
        records = [
            PredictionRecord(
                id=f"c-{i:04d}",
                model="colours",
                timestamp=end - timedelta(minutes=30) + timedelta(seconds=5 * i),
                features={"x": x[i], "colour": colours[i]},
                prediction=str(i % 2),
                probabilities={"0": float(1 - p[i]), "1": float(p[i])},
            )
            for i in range(COLOURS_ROWS)
        ]
        runtime.store.write_predictions(records)
        runtime.engine.clock = lambda: end
        runtime.engine.run("colours-drift", now=end)
    finally:
        runtime.close()
    return ColoursScenario(
        config, COLOURS_ROWS, unseen, missing_colour, missing_x, infinite_x, absurd_x
    )


BACKFILL_DAYS = 8
BACKFILL_DRIFT_FROM = 4  # days from this index on are drifted


@dataclass
class BackfillScenario:
    """What :func:`start_backfill_api` made: the API, and the window ends of the backfilled
    runs (oldest first) and of the one run made as usual."""

    server: ServerProcess
    ends: list[datetime]
    current_end: datetime


def start_backfill_api(
    scenario: LiveScenario, tmp_path: Path, now: datetime | None = None, **env: str
) -> BackfillScenario:
    """An API over a new store whose one monitor, ``cancer-backfill``, was run as a user
    backfills last week: :data:`BACKFILL_DAYS` daily batches logged through ``/records`` with
    their own timestamps (labels and probabilities included; drifted from
    :data:`BACKFILL_DRIFT_FROM` on), then ``POST /v1/monitors/cancer-backfill/run?at=...``
    for each day's window, then one more batch logged now and an ordinary run. Every
    backfilled report is made within seconds of the others, long after its window."""
    now = now or datetime.now(UTC)
    folder = tmp_path / "backfill"
    folder.mkdir(parents=True, exist_ok=True)
    document = yaml.safe_load(scenario.config.read_text(encoding="utf-8"))
    document["store"] = {"type": "sql", "url": f"sqlite:///{folder / 'backfill.db'}"}
    document["monitors"] = [
        {
            "name": "cancer-backfill",
            "model": "cancer",
            "every": "1d",
            "window": {"last": "1h", "min_samples": 20},
            "detectors": [
                {"type": "psi", "threshold": 0.25, "prediction": False},
                {"type": "performance", "metric": "accuracy", "max_drop": 0.15, "min_samples": 10},
                {"type": "cbpe", "metrics": ["accuracy"], "min_samples": 50},
                {"type": "domain_classifier", "min_rows": 50},
            ],
        }
    ]
    document.pop("notifiers", None)
    config = folder / "backfill.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    ends = [
        (now - timedelta(days=BACKFILL_DAYS - day)).replace(microsecond=0)
        for day in range(BACKFILL_DAYS)
    ]
    batches = [
        _logged_rows(config, tmp_path, batch, scenario.features, end)
        for batch, end in zip(
            [
                d + BACKFILL_DRIFT_FROM if d >= BACKFILL_DRIFT_FROM else d
                for d in range(BACKFILL_DAYS)
            ]
            + [BATCHES],
            [*ends, now],
            strict=True,
        )
    ]
    server = ServerProcess(
        {"DRIFTSCOPE_CONFIG": str(config), "DRIFTSCOPE_SCHEDULER": "false", **env},
        log_path=folder / "api.log",
    ).start()
    headers = {"X-API-Key": env["DRIFTSCOPE_API_KEY"]} if "DRIFTSCOPE_API_KEY" in env else {}
    try:
        with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
            for rows in batches:
                _ok(client.post("/v1/models/cancer/records", json={"rows": rows}))
            for end in ends:
                _ok(client.post("/v1/monitors/cancer-backfill/run", params={"at": end.isoformat()}))
            _ok(client.post("/v1/monitors/cancer-backfill/run"))
    except BaseException:
        server.stop()
        raise
    return BackfillScenario(server, ends, now)


def _logged_rows(
    config: Path, tmp_path: Path, batch: int, features: list[str], end: datetime
) -> list[dict[str, Any]]:
    """Batch ``batch`` as ``/records`` rows spread over the 50 minutes before ``end``, with
    the served model's own predictions and probabilities and the true labels: predictions
    made elsewhere, as a user loads them before a backfill."""
    frame = batch_frame(tmp_path, batch)
    runtime = Runtime.from_path(config)
    try:
        model = runtime.models["cancer"]
        predictions, proba = model.predict(frame[features].to_numpy(dtype=np.float64))
        classes = list(model.schema.classes or [])
    finally:
        runtime.close()
    return [
        {
            "features": {f: float(frame[f].iloc[i]) for f in features},
            "prediction": str(predictions[i]),
            "probabilities": None
            if proba is None
            else {c: float(v) for c, v in zip(classes, proba[i], strict=True)},
            "label": str(int(frame[TARGET].iloc[i])),
            "timestamp": (end - timedelta(minutes=50) + timedelta(seconds=30 * i)).isoformat(),
        }
        for i in range(len(frame))
    ]
