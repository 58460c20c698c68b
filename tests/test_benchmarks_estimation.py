"""The driftscope half of ``benchmarks/estimation.py``, without NannyML: a small data set
shaped like NannyML's car-loan one (the same columns and kinds, a bool column among the
categories, probabilities given to two decimals, evenly spaced timestamps) goes through the
real API and the backfill exactly as in the benchmark.

The oracle is scikit-learn on the data set itself: the realized values the reports carry
(from labels posted through /feedback) must equal it per chunk, each within the estimate's
band; the domain classifier must flag exactly the chunks whose inputs were shifted.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
CHUNK_ROWS = 600
SHIFTED = [2, 3]


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "estimation_benchmark", REPO / "benchmarks" / "estimation.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _rows(rng: np.random.Generator, n: int, first_id: int, shift: float) -> pd.DataFrame:
    """Loan applications and a calibrated model's view of them; ``shift`` moves the inputs."""
    frame = pd.DataFrame(
        {
            "id": np.arange(first_id, first_id + n),
            "car_value": rng.normal(30_000 + 12_000 * shift, 8_000, n).round(),
            "salary_range": rng.choice(["0 - 20K €", "20K - 40K €", "40K - 60K €", "60K+ €"], n),
            "debt_to_income_ratio": rng.uniform(0, 1, n),
            "loan_length": rng.integers(6, 23, n).astype(float),
            "repaid_loan_on_prev_car": rng.random(n) < 0.55,
            "size_of_downpayment": rng.choice(["0%", "10%", "20%", "30%", "40%"], n),
            "driver_tenure": rng.exponential(3, n),
        }
    )
    logit = (
        4.0
        - frame["car_value"] / 10_000
        + 1.5 * frame["repaid_loan_on_prev_car"]
        - 2.0 * frame["debt_to_income_ratio"]
        + 0.3 * frame["driver_tenure"]
    )
    p = 1 / (1 + np.exp(-logit.to_numpy()))
    frame["y_pred_proba"] = p.round(2)
    frame["y_pred"] = (frame["y_pred_proba"] > 0.5).astype(int)
    frame["repaid"] = (rng.random(n) < p).astype(float)
    return frame


def _car_loan_like(module: ModuleType) -> object:
    rng = np.random.default_rng(15)
    reference = _rows(rng, 3_000, 0, 0.0)
    chunks = [
        _rows(rng, CHUNK_ROWS, 3_000 + k * CHUNK_ROWS, 1.0 if k in SHIFTED else 0.0)
        for k in range(4)
    ]
    analysis = pd.concat(chunks, ignore_index=True)
    stamps = pd.date_range("2018-01-01", periods=len(reference) + len(analysis), freq="523152ms")
    text = stamps.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3]
    reference["timestamp"] = text[: len(reference)]
    analysis["timestamp"] = text[len(reference) :]
    targets = analysis[["id", "repaid"]].astype({"repaid": int})
    return module.CarLoan(reference, analysis.drop(columns="repaid"), targets, CHUNK_ROWS)


def test_the_benchmark_runs_driftscope_as_users_do_and_reads_true_values(tmp_path) -> None:
    module = _benchmark()
    data = _car_loan_like(module)
    found = module.driftscope_worker(data, tmp_path, repeats=1, batch=CHUNK_ROWS)
    oracle = module.realized(data)

    assert found["load"]["rows"] == 4 * CHUNK_ROWS
    chunks = found["cbpe"]["chunks"]
    assert [c["rows"] for c in chunks] == [CHUNK_ROWS] * 4
    for k, (chunk, truth) in enumerate(zip(chunks, oracle, strict=True)):
        assert chunk["realized_rows"] == CHUNK_ROWS
        for metric in module.METRICS:
            assert chunk[f"{metric}_realized"] == pytest.approx(truth[metric], abs=1e-12), k
            assert chunk[f"{metric}_lower"] <= truth[metric] <= chunk[f"{metric}_upper"], k
    domain = found["domain"]["chunks"]
    assert module.flagged(domain) == SHIFTED, [c["auc"] for c in domain]
    assert all(c["ranking"][0][0] == "car_value" for c in domain if c["drifted"])
    assert found["cbpe"]["detector_matches_reports"]
    assert found["domain"]["detector_matches_reports"]
    for part in ("cbpe", "domain"):
        assert found[part]["detector"]["wall"] > 0 and found[part]["runs"]["wall"] > 0
