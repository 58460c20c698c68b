"""Estimated performance and multivariate drift, side by side with NannyML on NannyML's data.

The data is NannyML's own synthetic car-loan set (``nannyml.load_synthetic_car_loan_dataset()``,
shipped inside the nannyml package): a binary classifier's 50,000 labelled reference rows
and 50,000 analysis rows (targets joined by ``id``), cut into ten chunks of 5,000 rows in
timestamp order; the seven inputs (``car_value``, ``salary_range``, ``debt_to_income_ratio``,
``loan_length``, ``repaid_loan_on_prev_car``, ``size_of_downpayment``, ``driver_tenure``) shift
from chunk 5 on, and the model's accuracy drops with them.

What each library does, each in its own subprocess:

========================  ====================================================================
NannyML                   on in-memory DataFrames: ``CBPE`` (``roc_auc``, ``accuracy``,
                          ``chunk_size=5000``): fit on the reference, estimate the analysis;
                          ``DomainClassifierCalculator`` (LightGBM, 5-fold cross-validation of
                          the whole reference against each chunk, its default threshold 0.65)
                          and ``DataReconstructionDriftCalculator`` (PCA), each fit + calculate
driftscope                as users run it: a config for a model served elsewhere (the reference
                          CSV holds ``y_pred`` as ``prediction_column``, ``repaid`` as
                          ``target``, and ``probability_columns`` {"0": ``proba_0`` = 1 -
                          ``y_pred_proba``, "1": ``y_pred_proba``}), the real API
                          (``uvicorn``, SQLite file store, scheduler off); the analysis rows
                          posted through ``POST /v1/models/car-loan/records`` with their
                          timestamps, ids and probabilities, their labels afterwards through
                          ``POST /v1/models/car-loan/feedback``; then one backfilled report per
                          chunk (``POST /v1/monitors/{name}/run?at=<end of the chunk>``, the
                          monitor's ``window.last`` one chunk's time span) of two monitors,
                          one holding only ``cbpe``, one only ``domain_classifier`` (defaults)
========================  ====================================================================

What is measured:

* accuracy of CBPE: the mean absolute error of each library's estimated ROC AUC and accuracy
  against the realized ones over the ten chunks. The realized values are the oracle, computed
  here with scikit-learn from the dataset itself (``roc_auc_score(repaid, y_pred_proba)``,
  ``accuracy_score(repaid, y_pred)`` per chunk), the same for both libraries; driftscope's own
  ``details.realized`` (from the posted labels) is checked against it;
* decisions of the domain classifiers: which chunks each flags, and the AUCs;
* time, wall and CPU (process CPU seconds: user + system, all threads), of fitting on the
  reference and scoring the ten chunks, median of ``--repeats`` (``--dc-repeats`` for
  NannyML's domain classifier, which takes a minute or more). NannyML: ``fit`` +
  ``estimate``/``calculate`` on DataFrames already in memory. driftscope, two figures:
  *the detector* is its ``fit`` on the reference plus its ``score`` of the ten windows, in
  one process, on the very ``WindowSample`` values the engine builds from the store (read
  beforehand, untimed); *monitor runs* is the sum of the ten reports' ``duration_ms`` (each
  run reads its window from SQLite, scores it and builds the report; the first also fits,
  and each backfill pass starts a fresh server so that the profile cache is cold), with the
  server process's CPU seconds over those ten requests. The detector figure compares like
  with like; the monitor-run figure is what a user waits for.

The machine is usually shared: wall time suffers from other load, CPU time much less, so both
are printed, with the load average before and after. NannyML's LightGBM uses every core
(``n_jobs=-1``, its default), driftscope's domain classifier one thread (its default).

NannyML pins older numpy and pandas releases than a fresh driftscope install, so run this in a
separate virtual environment (the ``bench`` extra), never the one you develop and test in::

    python -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install -e '.[bench]'
    /tmp/bench-venv/bin/python benchmarks/estimation.py --markdown
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
# the tests' shared helpers (tests/support: the API server process); never the repository
# root: driftscope is imported as installed
sys.path.insert(0, str(ROOT / "tests"))

FEATURES: dict[str, str] = {
    "car_value": "numeric",
    "salary_range": "categorical",
    "debt_to_income_ratio": "numeric",
    "loan_length": "numeric",
    "repaid_loan_on_prev_car": "categorical",  # a bool column
    "size_of_downpayment": "categorical",
    "driver_tenure": "numeric",
}
CHUNK_ROWS = 5_000
METRICS = ("roc_auc", "accuracy")
MODEL = "car-loan"
CBPE_MONITOR = "loan-cbpe"
DOMAIN_MONITOR = "loan-domain"
#: stop NannyML from sending usage analytics over the network while it is timed
QUIET_ENV = {"NML_DISABLE_USAGE_LOGGING": "1", "PYTHONWARNINGS": "ignore"}
TARGETS = {"cbpe_speedup": 3.0, "domain_speedup": 10.0}
#: two mean absolute errors this close are equal (floating-point noise of the two libraries'
#: arithmetic for the same expectation)
SAME = 1e-6


# -- data ------------------------------------------------------------------------------------
@dataclass
class CarLoan:
    """Reference rows (with ``repaid``), analysis rows, and the analysis targets by ``id``."""

    reference: pd.DataFrame
    analysis: pd.DataFrame
    targets: pd.DataFrame
    chunk_rows: int = CHUNK_ROWS

    @property
    def chunks(self) -> int:
        return len(self.analysis) // self.chunk_rows

    def labelled_analysis(self) -> pd.DataFrame:
        """The analysis rows with their target joined by ``id``, in the analysis's order."""
        return self.analysis.merge(self.targets, on="id", how="left", validate="one_to_one")

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.reference.to_csv(folder / "reference.csv", index=False)
        self.analysis.to_csv(folder / "analysis.csv", index=False)
        self.targets.to_csv(folder / "analysis_target.csv", index=False)
        (folder / "chunk_rows").write_text(str(self.chunk_rows))

    @classmethod
    def load(cls, folder: Path) -> CarLoan:
        return cls(
            pd.read_csv(folder / "reference.csv"),
            pd.read_csv(folder / "analysis.csv"),
            pd.read_csv(folder / "analysis_target.csv"),
            int((folder / "chunk_rows").read_text()),
        )


def load_car_loan() -> CarLoan:
    """NannyML's synthetic car-loan data, as NannyML ships it."""
    os.environ.update(QUIET_ENV)
    import nannyml

    reference, analysis, targets = nannyml.load_synthetic_car_loan_dataset()
    return CarLoan(reference, analysis, targets)


def realized(data: CarLoan) -> list[dict[str, float]]:
    """The oracle: each chunk's realized ROC AUC and accuracy, by scikit-learn."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    frame = data.labelled_analysis()
    out = []
    for k in range(data.chunks):
        chunk = frame.iloc[k * data.chunk_rows : (k + 1) * data.chunk_rows]
        y_true = chunk["repaid"].astype(int).to_numpy()
        out.append(
            {
                "roc_auc": float(roc_auc_score(y_true, chunk["y_pred_proba"])),
                "accuracy": float(accuracy_score(y_true, chunk["y_pred"].astype(int))),
            }
        )
    return out


def _times(frame: pd.DataFrame) -> pd.Series:
    """The timestamp column as UTC datetimes (the dataset's are naive)."""
    return pd.to_datetime(frame["timestamp"], utc=True)


def chunk_windows(data: CarLoan) -> tuple[list[datetime], timedelta]:
    """Each chunk's window end (``at``) and the one window length they share.

    Chunk ``k``'s window is ``[first timestamp of k, first timestamp of k + 1)``; the last
    ends one row's spacing after its last row. The rows are evenly spaced, so every chunk
    spans the same time; a data set where they do not cannot be run as one monitor.
    """
    times = _times(data.analysis)
    if not times.is_monotonic_increasing:
        raise ValueError("the analysis rows must be in timestamp order")
    n = data.chunk_rows
    starts = [times.iloc[k * n].to_pydatetime() for k in range(data.chunks)]
    step = times.iloc[-1] - times.iloc[-2]
    ends = [*starts[1:], (times.iloc[-1] + step).to_pydatetime()]
    spans = {end - start for start, end in zip(starts, ends, strict=True)}
    if len(spans) != 1:
        raise ValueError(f"chunks span different times: {sorted(spans)}")
    return ends, spans.pop()


# -- measuring -------------------------------------------------------------------------------
@contextmanager
def clock(out: dict[str, list[float]]) -> Iterator[None]:
    """Append the block's wall and process CPU seconds to ``out["wall"]`` / ``out["cpu"]``."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    out.setdefault("wall", []).append(time.perf_counter() - wall)
    out.setdefault("cpu", []).append(time.process_time() - cpu)


def medians(times: dict[str, list[float]]) -> dict[str, Any]:
    return {
        "wall": statistics.median(times["wall"]),
        "cpu": statistics.median(times["cpu"]),
        "runs": len(times["wall"]),
    }


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def versions(*names: str) -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


# -- NannyML ---------------------------------------------------------------------------------
def nannyml_worker(data: CarLoan, repeats: int, dc_repeats: int) -> dict[str, Any]:
    """NannyML's CBPE, domain classifier and PCA reconstruction on in-memory DataFrames."""
    import nannyml as nml

    features = list(FEATURES)
    common = {"timestamp_column_name": "timestamp", "chunk_size": data.chunk_rows}
    out: dict[str, Any] = {"versions": versions("nannyml", "lightgbm", "scikit-learn", "numpy")}

    cbpe_times: dict[str, list[float]] = {}
    for _ in range(repeats):
        with clock(cbpe_times):
            estimator = nml.CBPE(
                y_pred_proba="y_pred_proba",
                y_pred="y_pred",
                y_true="repaid",
                problem_type="classification_binary",
                metrics=list(METRICS),
                **common,
            )
            estimator.fit(data.reference)
            estimated = estimator.estimate(data.analysis)
    frame = estimated.filter(period="analysis").to_df()
    out["cbpe"] = {
        "time": medians(cbpe_times),
        "calibrated": bool(estimator.needs_calibration),
        "chunks": [
            {
                **{m: float(row[(m, "value")]) for m in METRICS},
                **{f"{m}_lower": float(row[(m, "lower_confidence_boundary")]) for m in METRICS},
                **{f"{m}_upper": float(row[(m, "upper_confidence_boundary")]) for m in METRICS},
                "alert": [m for m in METRICS if bool(row[(m, "alert")])],
            }
            for _, row in frame.iterrows()
        ],
    }

    dc_times: dict[str, list[float]] = {}
    for _ in range(dc_repeats):
        with clock(dc_times):
            calculator = nml.DomainClassifierCalculator(feature_column_names=features, **common)
            calculator.fit(data.reference)
            found = calculator.calculate(data.analysis)
    frame = found.filter(period="analysis").to_df()
    out["domain"] = {
        "time": medians(dc_times),
        "chunks": [
            {
                "auc": float(row[("domain_classifier_auroc", "value")]),
                "threshold": float(row[("domain_classifier_auroc", "upper_threshold")]),
                "drifted": bool(row[("domain_classifier_auroc", "alert")]),
            }
            for _, row in frame.iterrows()
        ],
    }

    pca_times: dict[str, list[float]] = {}
    for _ in range(repeats):
        with clock(pca_times):
            reconstruction = nml.DataReconstructionDriftCalculator(column_names=features, **common)
            reconstruction.fit(data.reference)
            found = reconstruction.calculate(data.analysis)
    frame = found.filter(period="analysis").to_df()
    out["pca"] = {
        "time": medians(pca_times),
        "chunks": [
            {
                "error": float(row[("reconstruction_error", "value")]),
                "threshold": float(row[("reconstruction_error", "upper_threshold")]),
                "drifted": bool(row[("reconstruction_error", "alert")]),
            }
            for _, row in frame.iterrows()
        ],
    }
    return out


# -- driftscope ------------------------------------------------------------------------------
def _category(value: Any) -> str | None:
    """A categorical value as driftscope stores it: text, booleans as ``true``/``false``
    (what the reference CSV's True/False become), missing as ``None``."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return str(value)


def write_config(data: CarLoan, folder: Path, window: timedelta) -> Path:
    """The reference CSV and the config of a model served elsewhere with two monitors."""
    import yaml

    reference = data.reference[[*FEATURES, "y_pred", "repaid", "y_pred_proba"]].copy()
    reference["proba_0"] = 1.0 - reference["y_pred_proba"]
    # categories as the very text the records send (the bool column too: pandas would write
    # True/False, which a reader may keep as text or parse back to a bool)
    for name, kind in FEATURES.items():
        if kind == "categorical":
            reference[name] = [_category(v) for v in reference[name].tolist()]
    reference.to_csv(folder / "car_loan_reference.csv", index=False)
    last = f"{round(window / timedelta(milliseconds=1))}ms"
    monitor = {"model": MODEL, "every": "1h", "window": {"last": last, "min_samples": 100}}
    config = {
        "store": {"type": "sql", "url": "sqlite:///driftscope.db"},
        "models": [
            {
                "name": MODEL,
                "reference": "car_loan_reference.csv",
                "target": "repaid",
                "prediction_column": "y_pred",
                "probability_columns": {"0": "proba_0", "1": "y_pred_proba"},
                "task": "classification",
                "features": [{"name": n, "kind": k} for n, k in FEATURES.items()],
            }
        ],
        "monitors": [
            {
                "name": CBPE_MONITOR,
                **monitor,
                "detectors": [{"type": "cbpe", "metrics": list(METRICS)}],
            },
            {"name": DOMAIN_MONITOR, **monitor, "detectors": [{"type": "domain_classifier"}]},
        ],
    }
    path = folder / "driftscope.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def record_rows(data: CarLoan) -> list[dict[str, Any]]:
    """The analysis rows as ``/records`` rows: features, prediction, probabilities, time, id."""
    frame = data.analysis
    times = _times(frame)
    columns = {
        name: (
            frame[name].astype(float).tolist()
            if kind == "numeric"
            else [_category(v) for v in frame[name].tolist()]
        )
        for name, kind in FEATURES.items()
    }
    proba = frame["y_pred_proba"].astype(float).tolist()
    predictions = frame["y_pred"].astype(int).tolist()
    ids = frame["id"].astype(str).tolist()
    stamps = [t.isoformat() for t in times]
    return [
        {
            "features": {name: columns[name][i] for name in FEATURES},
            "prediction": predictions[i],
            "probabilities": {"0": 1.0 - proba[i], "1": proba[i]},
            "timestamp": stamps[i],
            "id": ids[i],
        }
        for i in range(len(frame))
    ]


def _post(client: Any, path: str, body: Any = None, params: Any = None) -> Any:
    response = client.post(path, json=body, params=params)
    if response.status_code >= 300:
        raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:500]}")
    return response.json()


def load_through_api(client: Any, data: CarLoan, batch: int) -> dict[str, float]:
    """Post the analysis rows, then their labels, in batches; return the seconds each took."""
    rows = record_rows(data)
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        answer = _post(client, f"/v1/models/{MODEL}/records", {"rows": rows[i : i + batch]})
        if answer["accepted"] != len(rows[i : i + batch]):
            raise RuntimeError(f"records: accepted {answer['accepted']} of a batch")
    records_seconds = time.perf_counter() - started
    labels = [
        {"id": str(i), "label": int(label)}
        for i, label in zip(data.targets["id"], data.targets["repaid"], strict=True)
    ]
    started = time.perf_counter()
    for i in range(0, len(labels), batch):
        answer = _post(client, f"/v1/models/{MODEL}/feedback", {"labels": labels[i : i + batch]})
        if answer["unknown_ids"]:
            raise RuntimeError(f"feedback: unknown ids {answer['unknown_ids'][:5]}")
    return {
        "rows": len(rows),
        "records_seconds": records_seconds,
        "feedback_seconds": time.perf_counter() - started,
    }


def backfill(client: Any, pid: int, monitor: str, ends: Sequence[datetime]) -> dict[str, Any]:
    """One backfilled report per window end; the reports, their summed ``duration_ms`` and
    the server's CPU seconds over the requests."""
    cpu = process_cpu(pid)
    started = time.perf_counter()
    reports = [
        _post(client, f"/v1/monitors/{monitor}/run", params={"at": end.isoformat()}) for end in ends
    ]
    return {
        "reports": reports,
        "runs_wall": sum(r["duration_ms"] for r in reports) / 1000,
        "server_cpu": process_cpu(pid) - cpu,
        "client_wall": time.perf_counter() - started,
    }


def detector_only(
    config: Path, ends: Sequence[datetime], window: timedelta, repeats: int
) -> dict[str, Any]:
    """Each monitor's detector alone: ``fit`` on the reference and ``score`` of every window,
    on the ``WindowSample`` values the engine builds (windows read from the store untimed)."""
    from driftscope.core.contracts.window_detector import window_sample
    from driftscope.core.runtime import Runtime

    runtime = Runtime.from_path(config)
    try:
        model = runtime.models[MODEL]
        schema, ref = model.schema, model.reference
        features = {f.name: f.kind for f in schema.features}

        def sample(columns: Any, predictions: Any, labels: Any, proba: Any) -> Any:
            return window_sample(
                {n: columns[n] for n in features},
                features,
                schema.task,
                predictions,
                labels,
                proba,
                schema.classes,
            )

        reference = sample(ref.columns, ref.predictions, ref.labels, ref.probabilities)
        windows = []
        for end in ends:
            data = runtime.store.read_window(MODEL, end - window, end)
            windows.append(sample(data.columns, data.prediction, data.labels, data.probabilities))
        out = {}
        for monitor in (CBPE_MONITOR, DOMAIN_MONITOR):
            (detector,) = runtime.engine.detectors(runtime.config.monitor(monitor))
            times: dict[str, list[float]] = {}
            statistics_seen = []
            for _ in range(repeats):
                with clock(times):
                    profile = detector.fit(reference)
                    found = [detector.score(profile, w) for w in windows]
                statistics_seen = [[r.statistic for r in results] for results in found]
            out[monitor] = {"time": medians(times), "statistics": statistics_seen}
        return out
    finally:
        runtime.close()


def driftscope_worker(
    data: CarLoan, folder: Path, repeats: int, batch: int = CHUNK_ROWS
) -> dict[str, Any]:
    """driftscope as users run it: the API, records with timestamps, labels, backfills."""
    import httpx

    from support.api_helpers import ServerProcess

    ends, window = chunk_windows(data)
    config = write_config(data, folder, window)
    env = {"DRIFTSCOPE_CONFIG": str(config), "DRIFTSCOPE_SCHEDULER": "false"}
    out: dict[str, Any] = {"versions": versions("driftscope", "scikit-learn", "numpy")}
    passes: dict[str, list[dict[str, Any]]] = {CBPE_MONITOR: [], DOMAIN_MONITOR: []}
    for index in range(repeats):
        # a fresh server per pass: its profile cache starts cold, so each pass fits again
        server = ServerProcess(env, log_path=folder / f"server-{index}.log").start(timeout=300)
        try:
            assert server.process is not None
            with httpx.Client(base_url=server.url, timeout=600) as client:
                if index == 0:
                    out["load"] = load_through_api(client, data, batch)
                for monitor in (CBPE_MONITOR, DOMAIN_MONITOR):
                    passes[monitor].append(backfill(client, server.process.pid, monitor, ends))
        finally:
            server.stop()
    own = detector_only(config, ends, window, repeats)
    out["cbpe"] = _cbpe_summary(passes[CBPE_MONITOR], own[CBPE_MONITOR], data.chunk_rows)
    out["domain"] = _domain_summary(passes[DOMAIN_MONITOR], own[DOMAIN_MONITOR], data.chunk_rows)
    return out


def _run_times(passes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "wall": statistics.median(p["runs_wall"] for p in passes),
        "cpu": statistics.median(p["server_cpu"] for p in passes),
        "client_wall": statistics.median(p["client_wall"] for p in passes),
        "runs": len(passes),
    }


def _check_backfilled(reports: list[dict[str, Any]], rows: int | None = None) -> None:
    for report in reports:
        if not report["backfilled"] or report["status"] != "ok":
            raise RuntimeError(f"report {report['id']}: {report['status']}, not a backfill")
        if rows is not None and report["window"]["rows"] != rows:
            raise RuntimeError(f"report {report['id']}: {report['window']['rows']} rows")


def _same_statistics(reports: list[dict[str, Any]], own: dict[str, Any]) -> bool:
    """Whether the detector run alone found what the monitor runs reported."""
    reported = [[r["statistic"] for r in report["results"]] for report in reports]
    return bool(np.allclose(np.array(reported), np.array(own["statistics"]), rtol=0, atol=1e-9))


def _cbpe_summary(passes: list[dict[str, Any]], own: dict[str, Any], rows: int) -> dict[str, Any]:
    reports = passes[0]["reports"]
    _check_backfilled(reports, rows)
    chunks = []
    for report in reports:
        chunk: dict[str, Any] = {"rows": report["window"]["rows"], "alert": []}
        for result in report["results"]:
            metric, details = result["feature"], result["details"]
            if result["status"] != "ok":
                raise RuntimeError(f"cbpe {metric}: {result['status']} {result['error']}")
            chunk[metric] = result["statistic"]
            chunk[f"{metric}_lower"] = details["lower"]
            chunk[f"{metric}_upper"] = details["upper"]
            chunk[f"{metric}_se"] = details["standard_error"]
            chunk[f"{metric}_realized"] = details.get("realized")
            chunk["realized_rows"] = details["realized_rows"]
            chunk["calibrated"] = details["calibrated"]
            if result["drifted"]:
                chunk["alert"].append(metric)
        chunks.append(chunk)
    return {
        "runs": _run_times(passes),
        "detector": own["time"],
        "detector_matches_reports": _same_statistics(reports, own),
        "chunks": chunks,
    }


def _domain_summary(passes: list[dict[str, Any]], own: dict[str, Any], rows: int) -> dict[str, Any]:
    reports = passes[0]["reports"]
    _check_backfilled(reports, rows)
    chunks = []
    for report in reports:
        (result,) = report["results"]
        if result["status"] != "ok":
            raise RuntimeError(f"domain_classifier: {result['status']} {result['error']}")
        ranking = result["details"].get("ranking", [])
        chunks.append(
            {
                "rows": report["window"]["rows"],
                "auc": result["statistic"],
                "threshold": result["threshold"],
                "drifted": result["drifted"],
                "ranking": [(r["feature"], r["importance"]) for r in ranking[:3]],
            }
        )
    return {
        "runs": _run_times(passes),
        "detector": own["time"],
        "detector_matches_reports": _same_statistics(reports, own),
        "chunks": chunks,
    }


# -- worker processes ------------------------------------------------------------------------
LIBRARIES = {"driftscope": "driftscope", "nannyml": "NannyML"}


def worker(library: str, folder: Path, repeats: int, dc_repeats: int) -> dict[str, Any]:
    data = CarLoan.load(folder / "data")
    if library == "nannyml":
        return nannyml_worker(data, repeats, dc_repeats)
    work = folder / "driftscope"
    work.mkdir(exist_ok=True)
    return driftscope_worker(data, work, repeats)


def run_isolated(
    library: str, folder: Path, repeats: int, dc_repeats: int, timeout: float
) -> dict[str, Any]:
    """Run :func:`worker` in a fresh interpreter and return what it printed (or an error)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", library]
    cmd += ["--folder", str(folder), "--repeats", str(repeats), "--dc-repeats", str(dc_repeats)]
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **QUIET_ENV},
            cwd=ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    # LightGBM prints to stdout; the worker's answer is its one JSON line
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"')]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": tail[:300]}
    return dict(json.loads(lines[-1]))


# -- comparison ------------------------------------------------------------------------------
def mae(chunks: list[dict[str, Any]], oracle: list[dict[str, float]], metric: str) -> float:
    return float(np.mean([abs(c[metric] - o[metric]) for c, o in zip(chunks, oracle, strict=True)]))


def flagged(chunks: list[dict[str, Any]]) -> list[int]:
    """The indices of the chunks flagged as drifted."""
    return [k for k, c in enumerate(chunks) if c["drifted"]]


def spans(indices: list[int]) -> str:
    """``[5, 6, 7, 9]`` as ``5–7, 9``; ``none`` when empty."""
    if not indices:
        return "none"
    parts, start, prev = [], indices[0], indices[0]
    for k in [*indices[1:], None]:
        if k is not None and k == prev + 1:
            prev = k
            continue
        parts.append(f"{start}" if start == prev else f"{start}–{prev}")
        if k is not None:
            start = prev = k
    return ", ".join(parts)


def _mean_auc(chunks: list[dict[str, Any]], indices: list[int], key: str = "auc") -> str:
    values = [chunks[k][key] for k in indices]
    return f"{np.mean(values):.2f}" if values else "-"


def _secs(time_: dict[str, Any]) -> str:
    return f"{time_['wall']:.3f} s ({time_['cpu']:.3f} CPU s)"


def _verdict(slow: dict[str, Any], fast: dict[str, Any], target: float) -> str:
    """``yes`` when ``fast`` beats ``slow`` by ``target`` in wall and CPU time; ``CPU only``
    when only in CPU time (what other load on the machine disturbs least); else ``NO``."""
    wall, cpu = slow["wall"] / fast["wall"], slow["cpu"] / fast["cpu"]
    if min(wall, cpu) >= target:
        return "yes"
    return "CPU only" if cpu >= target else "NO"


def _ratio(slow: dict[str, Any], fast: dict[str, Any]) -> str:
    return f"{slow['wall'] / fast['wall']:.1f}× wall, {slow['cpu'] / fast['cpu']:.1f}× CPU"


def chunk_table(
    oracle: list[dict[str, float]], ds: dict[str, Any], nm: dict[str, Any], markdown: bool
) -> list[str]:
    """Per chunk: realized, each library's estimates, and the domain classifiers' AUCs."""
    head = [
        "chunk",
        "ROC AUC realized",
        "NannyML est.",
        "driftscope est. [band]",
        "accuracy realized",
        "NannyML est.",
        "driftscope est. [band]",
        "DC AUC NannyML",
        "DC AUC driftscope (thr.)",
        "PCA error NannyML",
    ]
    rows = []
    for k, truth in enumerate(oracle):
        row = [str(k)]
        for metric in METRICS:
            row.append(f"{truth[metric]:.4f}")
            row.append(_estimate(nm.get("cbpe"), k, metric))
            row.append(_estimate(ds.get("cbpe"), k, metric, band=True))
        row.append(_flag(nm.get("domain"), k, "auc"))
        dom = ds.get("domain")
        row.append(_flag(dom, k, "auc") + f" ({dom['chunks'][k]['threshold']:.3f})" if dom else "-")
        row.append(_flag(nm.get("pca"), k, "error"))
        rows.append(row)
    return _render(head, rows, markdown)


def _estimate(part: dict[str, Any] | None, k: int, metric: str, band: bool = False) -> str:
    if not part:
        return "-"
    chunk = part["chunks"][k]
    text = f"{chunk[metric]:.4f}" + (" !" if metric in chunk["alert"] else "")
    if band:
        text += f" [{chunk[f'{metric}_lower']:.3f}, {chunk[f'{metric}_upper']:.3f}]"
    return text


def _flag(part: dict[str, Any] | None, k: int, key: str) -> str:
    if not part:
        return "-"
    chunk = part["chunks"][k]
    return f"{chunk[key]:.4f}" + (" DRIFT" if chunk["drifted"] else "")


def summary_table(
    oracle: list[dict[str, float]], ds: dict[str, Any], nm: dict[str, Any], markdown: bool
) -> list[str]:
    """The comparison against the targets of issue 15."""
    head = ["measure", "NannyML", "driftscope", "target", "met"]
    rows: list[list[str]] = []
    ds_cbpe, nm_cbpe = ds.get("cbpe"), nm.get("cbpe")
    for metric, label in (("roc_auc", "ROC AUC"), ("accuracy", "accuracy")):
        nm_mae = mae(nm_cbpe["chunks"], oracle, metric) if nm_cbpe else None
        ds_mae = mae(ds_cbpe["chunks"], oracle, metric) if ds_cbpe else None
        met = "-"
        if nm_mae is not None and ds_mae is not None:
            met = "yes" if ds_mae <= nm_mae + SAME else "NO"
        rows.append(
            [
                f"CBPE: mean absolute error of estimated vs realized {label}, {len(oracle)} chunks",
                "-" if nm_mae is None else f"{nm_mae:.4f}",
                "-" if ds_mae is None else f"{ds_mae:.4f}",
                "≤ NannyML's",
                met,
            ]
        )
    if ds_cbpe and nm_cbpe:
        rows.append(
            [
                f"CBPE fit + estimate, {len(oracle)} chunks: wall (CPU)",
                _secs(nm_cbpe["time"]),
                f"detector {_secs(ds_cbpe['detector'])}; monitor runs {_secs(ds_cbpe['runs'])}",
                f"≥ {TARGETS['cbpe_speedup']:.0f}× faster",
                f"{_verdict(nm_cbpe['time'], ds_cbpe['detector'], TARGETS['cbpe_speedup'])}: "
                "detector "
                f"{_ratio(nm_cbpe['time'], ds_cbpe['detector'])}; runs "
                f"{_ratio(nm_cbpe['time'], ds_cbpe['runs'])}",
            ]
        )
        rows.append(
            [
                "CBPE: chunks alerted (roc_auc or accuracy)",
                spans([k for k, c in enumerate(nm_cbpe["chunks"]) if c["alert"]]),
                spans([k for k, c in enumerate(ds_cbpe["chunks"]) if c["alert"]]),
                "-",
                "-",
            ]
        )
    ds_dom, nm_dom = ds.get("domain"), nm.get("domain")
    if ds_dom and nm_dom:
        nm_flags, ds_flags = flagged(nm_dom["chunks"]), flagged(ds_dom["chunks"])
        others = [k for k in range(len(oracle)) if k not in nm_flags]
        rows.append(
            [
                "domain classifier: chunks flagged (mean AUC of the flagged / of the others)",
                f"{spans(nm_flags)} ({_mean_auc(nm_dom['chunks'], nm_flags)} / "
                f"{_mean_auc(nm_dom['chunks'], others)})",
                f"{spans(ds_flags)} ({_mean_auc(ds_dom['chunks'], nm_flags)} / "
                f"{_mean_auc(ds_dom['chunks'], others)})",
                "the same decisions",
                "yes" if nm_flags == ds_flags else "NO",
            ]
        )
        rows.append(
            [
                f"domain classifier fit + {len(oracle)} chunks: wall (CPU)",
                _secs(nm_dom["time"]),
                f"detector {_secs(ds_dom['detector'])}; monitor runs {_secs(ds_dom['runs'])}",
                f"≥ {TARGETS['domain_speedup']:.0f}× faster",
                f"{_verdict(nm_dom['time'], ds_dom['detector'], TARGETS['domain_speedup'])}: "
                "detector "
                f"{_ratio(nm_dom['time'], ds_dom['detector'])}; runs "
                f"{_ratio(nm_dom['time'], ds_dom['runs'])}",
            ]
        )
    pca = nm.get("pca")
    if pca:
        rows.append(
            [
                "PCA reconstruction (NannyML only): chunks flagged; fit + calculate",
                f"{spans(flagged(pca['chunks']))}; {_secs(pca['time'])}",
                "-",
                "-",
                "-",
            ]
        )
    return _render(head, rows, markdown)


def agreement(oracle: list[dict[str, float]], ds: dict[str, Any], nm: dict[str, Any]) -> list[str]:
    """Where the estimates come from and how far they can be trusted, in sentences."""
    cbpe = ds.get("cbpe")
    if not cbpe:
        return []
    gaps = [
        abs(c[f"{m}_realized"] - o[m])
        for c, o in zip(cbpe["chunks"], oracle, strict=True)
        for m in METRICS
        if c.get(f"{m}_realized") is not None
    ]
    labelled = sum(c["realized_rows"] for c in cbpe["chunks"])
    inside = sum(
        c[f"{m}_lower"] <= o[m] <= c[f"{m}_upper"]
        for c, o in zip(cbpe["chunks"], oracle, strict=True)
        for m in METRICS
    )
    lines = [
        f"driftscope's realized values in the reports (from {labelled:,} labels posted through "
        f"/feedback) vs scikit-learn on the dataset: max |diff| "
        f"{max(gaps) if gaps else float('nan'):.1e} over {len(gaps)} values.",
        f"Realized values inside driftscope's band (± 3 standard errors): {inside} of "
        f"{len(oracle) * len(METRICS)}.",
    ]
    nm_cbpe = nm.get("cbpe")
    if nm_cbpe:
        gap = max(
            abs(c[m] - n[m])
            for c, n in zip(cbpe["chunks"], nm_cbpe["chunks"], strict=True)
            for m in METRICS
        )
        noise = {
            m: float(np.mean([c[f"{m}_se"] for c in cbpe["chunks"]])) * np.sqrt(2 / np.pi)
            for m in METRICS
        }
        lines.append(
            f"driftscope's and NannyML's CBPE estimates differ by at most {gap:.1e} (both "
            f"calibrate with isotonic regression on the whole reference: NannyML "
            f"{'did' if nm_cbpe['calibrated'] else 'did not'}, driftscope "
            f"{'did' if cbpe['chunks'][0]['calibrated'] else 'did not'}). What error is left is "
            "the realized values' own sampling noise: its expected size, the mean standard "
            "error of a chunk x sqrt(2/pi), is "
            + ", ".join(f"{noise[m]:.4f} ({m})" for m in METRICS)
            + "."
        )
        lines.append(
            "Alerts differ by design: NannyML alerts when an estimate leaves mean +- 3 sd of "
            "the reference chunks' values; driftscope's cbpe when it falls more than max_drop "
            "(15%) below the reference's realized value."
        )
    dom = ds.get("domain")
    same = [part["detector_matches_reports"] for part in (cbpe, dom) if part]
    lines.append(
        "The detectors run alone (the 'detector' times) found the statistics the monitor runs "
        f"reported: {'yes' if all(same) else 'NO'}."
    )
    nm_dom = nm.get("domain")
    if dom and nm_dom:
        lines.append(
            "The domain classifiers differ in method: NannyML cross-validates LightGBM (100 "
            "trees) on the whole reference against the chunk and alerts above a fixed "
            f"{nm_dom['chunks'][0]['threshold']:.2f}; driftscope samples as many reference rows "
            "as the window has (5,000 at most), cross-validates 25 rounds of scikit-learn's "
            "HistGradientBoosting, and learns its threshold from reference halves against "
            f"each other ({dom['chunks'][0]['threshold']:.3f} here)."
        )
    if dom:
        top = [c["ranking"][0][0] for c in dom["chunks"] if c["drifted"] and c["ranking"]]
        if top:
            lines.append(f"driftscope's top-ranked feature in flagged chunks: {', '.join(top)}.")
    load = ds.get("load")
    if load:
        lines.append(
            f"Loading: {load['rows']:,} records posted in {load['records_seconds']:.1f} s, "
            f"their labels in {load['feedback_seconds']:.1f} s (not part of any time above)."
        )
    return lines


def _render(head: list[str], rows: list[list[str]], markdown: bool) -> list[str]:
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return lines + ["| " + " | ".join(r) + " |" for r in rows]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return out


# -- main ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of CBPE (and NannyML's PCA) per library"
    )
    parser.add_argument(
        "--dc-repeats",
        type=int,
        default=1,
        help="runs of NannyML's domain classifier (a minute or more each); driftscope's "
        "detectors all run --repeats times",
    )
    parser.add_argument("--libraries", default=",".join(LIBRARIES), help="which to run")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per library")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument("--json", type=Path, help="also write every measurement to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (store, logs)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        warnings.simplefilter("ignore")
        found = worker(args.worker, args.folder, args.repeats, args.dc_repeats)
        print(json.dumps(found), flush=True)
        return 0

    libraries = [lib.strip() for lib in args.libraries.split(",") if lib.strip()]
    unknown = sorted(set(libraries) - set(LIBRARIES))
    if unknown:
        parser.error(f"unknown libraries {unknown}; choose from {list(LIBRARIES)}")
    try:
        data = load_car_loan()
    except ImportError:
        parser.error("the car-loan data ships inside nannyml: install the bench extra")
    oracle = realized(data)
    load = os.getloadavg()
    print(
        f"NannyML synthetic car loan: {len(data.reference):,} reference rows, "
        f"{len(data.analysis):,} analysis rows in {data.chunks} chunks of {data.chunk_rows:,}; "
        f"{os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        f"at the start",
        flush=True,
    )
    folder = Path(tempfile.mkdtemp(prefix="driftscope-estimation-"))
    runs: dict[str, dict[str, Any]] = {}
    try:
        data.save(folder / "data")
        for lib in libraries:
            started = time.perf_counter()
            runs[lib] = run_isolated(lib, folder, args.repeats, args.dc_repeats, args.timeout)
            status = runs[lib].get("error") or "done"
            print(
                f"  {LIBRARIES[lib]:10} {status} ({time.perf_counter() - started:.0f} s wall)",
                flush=True,
            )
    finally:
        if args.keep:
            print(f"work folder kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end")
    ds = runs.get("driftscope", {})
    nm = runs.get("nannyml", {})
    for lib, run in runs.items():
        if "versions" in run:
            shown = ", ".join(f"{k} {v}" for k, v in run["versions"].items())
            print(f"{LIBRARIES[lib]} process: {shown}")
    print()
    print("== per chunk (! = the estimate alerted, DRIFT = flagged) ==")
    for line in chunk_table(oracle, ds, nm, args.markdown):
        print(line)
    print()
    for line in agreement(oracle, ds, nm):
        print(f"- {line}")
    print()
    print("== side by side ==")
    for line in summary_table(oracle, ds, nm, args.markdown):
        print(line)
    if args.json:
        args.json.write_text(json.dumps({"oracle": oracle, **runs}, indent=1))
    return 0 if all("error" not in run for run in runs.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
