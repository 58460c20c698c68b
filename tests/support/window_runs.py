"""Real monitor runs with the window detectors, for the HTML report's tests.

The demo model's monitor runs ``cbpe``, ``domain_classifier``, ``quality``, ``ks`` and
``performance`` over drifted traffic (:func:`driftscope.apps.demo.model.drifted_rows`) in
which one feature, :data:`BROKEN_FEATURE`, lost its value in about 40% of the rows, as a
broken upstream join would leave it. The traffic is logged without labels and run once
(:attr:`WindowRuns.before_labels`); then the labels arrive for the rows that have them and
the same window is backfilled (:attr:`WindowRuns.with_labels`), so the two reports show one
window before and after its labels, as a user sees it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftscope.apps.demo.model import TARGET, drifted_rows
from driftscope.core.config.yaml_file import DriftscopeConfig, load_config
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from support.factories import demo_model, held_out_rows, traffic, write_config

BROKEN_FEATURE = "mean smoothness"
"""The feature that goes about 40% missing in the window."""
LOST_SHARE = 0.4
DETECTORS: list[dict[str, Any]] = [
    {"type": "cbpe", "metrics": ["roc_auc", "accuracy", "f1"]},
    {"type": "domain_classifier", "min_rows": 50, "max_rows": 2000},
    {"type": "quality"},
    {"type": "ks", "p_value": 0.05},
    {"type": "performance", "metric": "accuracy", "max_drop": 0.15, "min_samples": 30},
]


@dataclass(frozen=True)
class WindowRuns:
    """One window's report before its labels arrived and its backfilled report after."""

    before_labels: dict[str, Any]
    with_labels: dict[str, Any]
    config: DriftscopeConfig
    config_path: Path
    lost: np.ndarray  # which window rows lost BROKEN_FEATURE
    labelled: pd.DataFrame  # the window's labelled rows: prediction and label
    reference_accuracy: float  # the model's accuracy on its reference, by pandas


def window_runs(folder: Path, model_folder: Path) -> WindowRuns:
    """Log the traffic, run the monitor, attach the labels and backfill the same window."""
    path = write_config(
        folder, f"sqlite:///{folder / 'store.db'}", detectors=DETECTORS, model_folder=model_folder
    )
    plugins = create_plugin_manager()
    runtime = Runtime(load_config(path, plugins), plugins)
    try:
        demo = demo_model(model_folder)
        model = runtime.models["cancer"]
        rows = drifted_rows(held_out_rows(demo), demo.feature_names, np.random.default_rng(0))
        records = traffic(
            model,
            rows,
            start=datetime.now(UTC) - timedelta(minutes=50),
            spacing=timedelta(seconds=2400 / len(rows)),
            with_labels=False,
        )
        lost = np.random.default_rng(1).random(len(records)) < LOST_SHARE
        records = [
            dataclasses.replace(r, features={**r.features, BROKEN_FEATURE: math.nan}) if gone else r
            for r, gone in zip(records, lost, strict=True)
        ]
        runtime.store.write_predictions(records)
        before = runtime.run_monitor("cancer-drift")

        has_label = rows[TARGET].notna().to_numpy()
        labels = [
            (r.id, str(int(label)))
            for r, label, known in zip(records, rows[TARGET], has_label, strict=True)
            if known
        ]
        update = runtime.store.attach_labels("cancer", labels)
        assert update.updated == len(labels) and not update.unknown_ids
        after = runtime.backfill_monitor("cancer-drift", before.window.end)
        labelled = pd.DataFrame(
            {
                "prediction": [str(r.prediction) for r, k in zip(records, has_label, strict=True)
                               if k],
                "label": [label for _, label in labels],
            }
        )  # fmt: skip

        reference = pd.read_csv(demo.reference_path)
        predicted, _ = model.predict(reference[demo.feature_names].to_numpy(np.float64))
        truth = reference[TARGET].astype(int).astype(str).to_numpy()
        accuracy = float((np.asarray(predicted).astype(str) == truth).mean())
        return WindowRuns(
            before.to_dict(), after.to_dict(), runtime.config, path, lost, labelled, accuracy
        )
    finally:
        runtime.close()
