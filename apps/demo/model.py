"""Train the demo model on scikit-learn's breast cancer data and save it with its reference.

Nothing is downloaded: the data ships inside scikit-learn. The model is a scaled logistic
regression saved as a skops file; the reference CSV holds the held-out rows with their label,
so the reference accuracy is an honest estimate, not training accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

DEMO_SEED = 42
TARGET = "label"


@dataclass(frozen=True)
class DemoModel:
    """Where the demo model and its reference data were written."""

    model_path: Path
    reference_path: Path
    feature_names: list[str]
    holdout: pd.DataFrame  # rows not used for training, features + label, for simulated traffic


def load_demo_data() -> pd.DataFrame:
    """The breast cancer data as a DataFrame with a ``label`` column (1 = benign)."""
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns={"target": TARGET})
    return frame


def train_demo_model(folder: Path, seed: int = DEMO_SEED) -> DemoModel:
    """Train, evaluate-split and save the demo model into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = load_demo_data()
    features = [c for c in frame.columns if c != TARGET]
    train, rest = train_test_split(frame, test_size=0.5, random_state=seed, stratify=frame[TARGET])
    reference, holdout = train_test_split(
        rest, test_size=0.4, random_state=seed, stratify=rest[TARGET]
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
    model.fit(train[features], train[TARGET])
    model_path = folder / "cancer.skops"
    reference_path = folder / "cancer_reference.csv"
    sio.dump(model, model_path)
    reference.to_csv(reference_path, index=False)
    return DemoModel(model_path, reference_path, features, holdout.reset_index(drop=True))


def drifted_rows(
    rows: pd.DataFrame, features: list[str], rng: np.random.Generator, shift: float = 1.5
) -> pd.DataFrame:
    """Rows with drift injected: a few features shifted and scaled, and labels flipped for a
    third of the rows so the old relation no longer holds and accuracy really falls."""
    out = rows.copy()
    drifting = features[:3] + features[10:12]
    for name in drifting:
        std = float(rows[name].std()) or 1.0
        out[name] = out[name] * 1.3 + shift * std
    flip = rng.random(len(out)) < 0.35
    out.loc[flip, TARGET] = 1 - out.loc[flip, TARGET]
    return out
