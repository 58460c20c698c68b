"""driftscope against its peers: the same drift check, timed, measured and compared value by value.

The data is seeded and the same for every library: 20 numeric features (``num_00``-``num_09``
drifted by small mean shifts of 0.02-0.20 standard deviations, ``num_10`` by a 15% wider
spread, ``num_11``-``num_19`` stable, ``num_19`` rounded to one decimal so KS meets ties) and
2 categorical features (``cat_a`` stable; ``cat_b`` with moved proportions and a new category
in the current window), with as many current rows as reference rows.

The check: KS on each numeric feature, PSI on every feature, chi-square on each categorical
feature; each library runs the part it offers:

========================  ====================================================================
driftscope                ``ks``, ``psi`` and ``chi2`` detector plugins (fit + score), taken
                          from the plugin manager exactly as a monitor takes them, and run as
                          a monitor run does: one detector at a time, its features on
                          min(4, cores) threads (the CPU column shows the total work)
driftscope (cached)       the same, scoring against profiles fitted beforehand (what a
                          scheduled run does: the reference is fitted once and cached)
Evidently                 a Report of two ``DataDriftPreset``: ``num_method="ks"`` with
                          ``cat_method="chisquare"``, and ``method="psi"`` (threshold 0.25)
NannyML                   ``UnivariateDriftCalculator`` with ``kolmogorov_smirnov`` (numeric)
                          and ``chi2`` (categorical); thresholds learned from 10 reference
                          chunks, the current window scored as one chunk
alibi-detect              ``KSDrift`` on the numeric features, per-feature decisions
scipy loop                ``scipy.stats.ks_2samp``, a numpy PSI with driftscope's bin
                          convention, ``scipy.stats.chi2_contingency``
========================  ====================================================================

Every (library, size) pair runs in its own subprocess, so that one library's imports, caches
and memory never count against another's. Seconds are the median of ``--repeats`` runs of the
check alone (data made and libraries imported before the clock starts; fewer repeats at a
million rows); "CPU s" is the median process CPU time of the same runs, which other load on
the machine disturbs less than wall time. Memory is the process's peak resident set while
the check runs (Linux ``VmHWM``, reset just before the check through
``/proc/self/clear_refs``): "peak RSS" is the whole process (interpreter, library imports
and the data included), "+check" the part the check itself added on top of what the process
held before it started.

Licences: alibi-detect is under the Business Source License since 2024. It is a
benchmark-only dependency of driftscope (the ``bench`` extra): nothing in ``core``, ``plugins``
or ``apps`` imports it, and it must never become a runtime dependency.

The peers pin older numpy, pandas and scipy releases than a fresh driftscope install picks, so
install them in a separate virtual environment, never into the one you develop and test in::

    python -m venv /tmp/bench-venv
    /tmp/bench-venv/bin/pip install -e '.[bench]'
    /tmp/bench-venv/bin/python benchmarks/peers.py                 # 1,000 / 100,000 / 1,000,000
    /tmp/bench-venv/bin/python benchmarks/peers.py --sizes 100000 --repeats 7 --markdown

A library that is not installed is reported as missing and skipped; the others still run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SEED = 20_240_607
N_NUMERIC = 20
SHIFTED = 10  # num_00 .. num_09 drift by a mean shift
SHIFTS = tuple(0.02 * (i + 1) for i in range(SHIFTED))
WIDER = "num_10"  # drifts by a change of spread
WIDER_SCALE = 1.15
TIED = "num_19"  # rounded to one decimal: KS with ties
CATEGORIES = ("red", "green", "blue", "cyan", "magenta", "yellow")
CAT_A = (0.30, 0.25, 0.20, 0.12, 0.08, 0.05)
CAT_B_REF = (0.22, 0.22, 0.20, 0.16, 0.12, 0.08)
CAT_B_CUR = (0.19, 0.22, 0.20, 0.17, 0.13, 0.08)  # + 1% of a category the reference never saw
NEW_CATEGORY = "black"
NEW_SHARE = 0.01

KS_ALPHA = 0.05
CHI2_ALPHA = 0.05
PSI_THRESHOLD = 0.25  # driftscope's default drift threshold (warn at 0.1)
PSI_BINS = 10
PSI_EPSILON = 1e-4  # the proportion an empty bin counts as, as in driftscope

LIBRARIES: dict[str, str] = {
    "driftscope": "driftscope (fit + score)",
    "driftscope-cached": "driftscope (cached profile)",
    "evidently": "Evidently DataDriftPreset",
    "nannyml": "NannyML UnivariateDrift",
    "alibi": "alibi-detect KSDrift",
    "scipy": "scipy loop",
}
#: which tests each library runs (what its time pays for)
TESTS: dict[str, str] = {
    "driftscope": "KS+PSI+chi2",
    "driftscope-cached": "KS+PSI+chi2",
    "evidently": "KS+PSI+chi2",
    "nannyml": "KS+chi2",
    "alibi": "KS",
    "scipy": "KS+PSI+chi2",
}


# -- data ------------------------------------------------------------------------------------
@dataclass
class Data:
    """Reference and current columns: float64 arrays (numeric) and object arrays of str."""

    rows: int
    reference: dict[str, np.ndarray]
    current: dict[str, np.ndarray]
    numeric: list[str]
    categorical: list[str]

    @property
    def features(self) -> list[str]:
        return self.numeric + self.categorical


def make_data(rows: int, seed: int = SEED) -> Data:
    """The seeded benchmark data set with ``rows`` reference rows and ``rows`` current rows."""
    rng = np.random.default_rng(seed)
    reference: dict[str, np.ndarray] = {}
    current: dict[str, np.ndarray] = {}
    numeric = [f"num_{i:02d}" for i in range(N_NUMERIC)]
    for i, name in enumerate(numeric):
        reference[name] = rng.normal(0.0, 1.0, rows)
        if i < SHIFTED:
            current[name] = rng.normal(SHIFTS[i], 1.0, rows)
        elif name == WIDER:
            current[name] = rng.normal(0.0, WIDER_SCALE, rows)
        else:
            current[name] = rng.normal(0.0, 1.0, rows)
    reference[TIED] = np.round(reference[TIED], 1)
    current[TIED] = np.round(current[TIED], 1)
    labels = np.array(CATEGORIES, dtype=object)
    reference["cat_a"] = rng.choice(labels, rows, p=CAT_A)
    current["cat_a"] = rng.choice(labels, rows, p=CAT_A)
    reference["cat_b"] = rng.choice(labels, rows, p=CAT_B_REF)
    with_new = np.append(labels, NEW_CATEGORY)
    cur_p = np.append(np.array(CAT_B_CUR) * (1.0 - NEW_SHARE), NEW_SHARE)
    current["cat_b"] = rng.choice(with_new, rows, p=cur_p / cur_p.sum())
    return Data(rows, reference, current, numeric, ["cat_a", "cat_b"])


def truth(feature: str) -> bool:
    """Whether the feature was drifted on purpose."""
    if feature.startswith("num_"):
        return int(feature[4:]) < SHIFTED or feature == WIDER
    return feature == "cat_b"


# -- results ---------------------------------------------------------------------------------
@dataclass
class Finding:
    """One test on one feature: the statistic, the p-value where there is one, the decision."""

    statistic: float | None
    p_value: float | None
    drifted: bool
    note: str = ""


Results = dict[str, dict[str, Finding]]  # test -> feature -> finding


@dataclass
class Check:
    """A library's drift check: ``prepare`` (untimed) returns the callable that is timed."""

    prepare: Callable[[Data], Callable[[], Results]]
    parts: dict[str, float] = field(default_factory=dict)


def _f(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# -- driftscope ------------------------------------------------------------------------------
#: seconds spent per test ("ks", "psi", "chi2") in the last driftscope check, so that a peer
#: running fewer tests is compared with the same tests in driftscope
PARTS: dict[str, float] = {}


def _driftscope(cached: bool) -> Callable[[Data], Callable[[], Results]]:
    def prepare(data: Data) -> Callable[[], Results]:
        from driftscope import FeatureSample
        from driftscope.core.monitoring.engine import PARALLEL_MIN_ROWS
        from driftscope.core.plugin_system.manager import create_plugin_manager

        plugins = create_plugin_manager(entry_points=False)

        def detector(name: str) -> Any:
            cls = plugins.get("detector", name)
            return cls(cls.Settings.model_validate({"type": name}))

        ks, psi, chi2 = detector("ks"), detector("psi"), detector("chi2")
        plan = [(ks, f, "numeric") for f in data.numeric]
        plan += [(psi, f, "numeric") for f in data.numeric]
        plan += [(psi, f, "categorical") for f in data.categorical]
        plan += [(chi2, f, "categorical") for f in data.categorical]
        samples = {
            f: (
                FeatureSample(f, kind, data.reference[f]),
                FeatureSample(f, kind, data.current[f]),
            )
            for _, f, kind in plan
        }
        profiles: dict[tuple[str, str], Any] = {}
        if cached:
            for det, f, _ in plan:
                profiles[(det.name, f)] = det.fit(samples[f][0])

        # as the engine does in a monitor run: one detector at a time, its features spread
        # over min(4, cores) threads (numpy's sort and search release the GIL)
        pool = ThreadPoolExecutor(min(4, os.cpu_count() or 1))

        def one(det: Any, f: str) -> tuple[str, Any]:
            ref, cur = samples[f]
            profile = profiles[(det.name, f)] if cached else det.fit(ref)
            return f, det.score(profile, cur)

        def check() -> Results:
            out: Results = {}
            PARTS.clear()
            for det in (ks, psi, chi2):
                started = time.perf_counter()
                features = [f for d, f, _ in plan if d is det]
                if len(data.current[features[0]]) >= PARALLEL_MIN_ROWS:
                    found = list(pool.map(one, [det] * len(features), features))
                else:
                    found = [one(det, f) for f in features]
                PARTS[det.name] = PARTS.get(det.name, 0.0) + time.perf_counter() - started
                for f, r in found:
                    out.setdefault(det.name, {})[f] = Finding(
                        _f(r.statistic), _f(r.p_value), bool(r.drifted)
                    )
            return out

        return check

    return prepare


# -- Evidently -------------------------------------------------------------------------------
def _evidently(data: Data) -> Callable[[], Results]:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=data.numeric, categorical_columns=data.categorical
    )
    ref = pd.DataFrame(data.reference)
    cur = pd.DataFrame(data.current)

    def check() -> Results:
        report = Report(
            [
                DataDriftPreset(num_method="ks", cat_method="chisquare"),
                DataDriftPreset(method="psi", threshold=PSI_THRESHOLD),
            ]
        )
        snapshot = report.run(
            Dataset.from_pandas(cur, data_definition=definition),
            Dataset.from_pandas(ref, data_definition=definition),
        )
        out: Results = {}
        for metric in snapshot.dict()["metrics"]:
            config = metric["config"]
            if not config.get("type", "").endswith("ValueDrift"):
                continue
            method, value, threshold = config["method"], float(metric["value"]), config["threshold"]
            if method == "psi":
                out.setdefault("psi", {})[config["column"]] = Finding(
                    value, None, value >= threshold
                )
            else:  # ks and chisquare report the p-value as their score
                test = "ks" if method == "ks" else "chi2"
                out.setdefault(test, {})[config["column"]] = Finding(
                    None, value, value <= threshold
                )
        return out

    return check


# -- NannyML ---------------------------------------------------------------------------------
NANNYML_REFERENCE_CHUNKS = 10


def _nannyml(data: Data) -> Callable[[], Results]:
    import nannyml as nml
    import pandas as pd
    from nannyml.chunk import CountBasedChunker

    ref = pd.DataFrame(data.reference)
    cur = pd.DataFrame(data.current)

    def check() -> Results:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            calc = nml.UnivariateDriftCalculator(
                column_names=data.features,
                treat_as_categorical=data.categorical,
                continuous_methods=["kolmogorov_smirnov"],
                categorical_methods=["chi2"],
                chunk_number=NANNYML_REFERENCE_CHUNKS,
            )
            calc.fit(ref)
            # thresholds come from the reference chunks; score the window as ONE chunk
            calc.chunker = CountBasedChunker(1)
            frame = calc.calculate(cur).filter(period="analysis").to_df()
        row = frame.iloc[-1]
        out: Results = {}
        for f in data.numeric:
            d = float(row[(f, "kolmogorov_smirnov", "value")])
            upper = row[(f, "kolmogorov_smirnov", "upper_threshold")]
            out.setdefault("ks", {})[f] = Finding(
                d, None, bool(row[(f, "kolmogorov_smirnov", "alert")]), f"D > {float(upper):.4f}"
            )
        for f in data.categorical:
            out.setdefault("chi2", {})[f] = Finding(
                float(row[(f, "chi2", "value")]), None, bool(row[(f, "chi2", "alert")])
            )
        return out

    return check


# -- alibi-detect ----------------------------------------------------------------------------
def _alibi(data: Data) -> Callable[[], Results]:
    from alibi_detect.cd import KSDrift

    x_ref = np.column_stack([data.reference[f] for f in data.numeric])
    x_cur = np.column_stack([data.current[f] for f in data.numeric])

    def check() -> Results:
        detector = KSDrift(x_ref, p_val=KS_ALPHA)
        found = detector.predict(x_cur, drift_type="feature", return_p_val=True)["data"]
        return {
            "ks": {
                f: Finding(
                    float(found["distance"][i]),
                    float(found["p_val"][i]),
                    bool(found["is_drift"][i]),
                )
                for i, f in enumerate(data.numeric)
            }
        }

    return check


# -- scipy loop ------------------------------------------------------------------------------
def numpy_psi(reference: np.ndarray, current: np.ndarray, categorical: bool) -> float:
    """PSI with driftscope's documented convention, in plain numpy (the baseline).

    Numeric: inner edges at the reference's deciles (``inverted_cdf``: each edge is a
    reference value), right-closed bins with open-ended outer bins; categorical: one bin per
    category of either sample (the same as driftscope's reference categories plus one
    ``<unseen>`` bin when, as here, the window brings at most one new category). Empty bins
    count as ``PSI_EPSILON``.
    """
    if categorical:
        cats = np.union1d(np.unique(reference), np.unique(current))
        ref_counts = np.array([np.count_nonzero(reference == c) for c in cats], dtype=float)
        cur_counts = np.array([np.count_nonzero(current == c) for c in cats], dtype=float)
    else:
        probs = np.arange(1, PSI_BINS) / PSI_BINS
        edges = np.unique(np.quantile(reference, probs, method="inverted_cdf"))
        bins = len(edges) + 1
        ref_counts = np.bincount(np.searchsorted(edges, reference, side="left"), minlength=bins)
        cur_counts = np.bincount(np.searchsorted(edges, current, side="left"), minlength=bins)
    p, q = ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()
    p, q = np.where(p == 0, PSI_EPSILON, p), np.where(q == 0, PSI_EPSILON, q)
    return float(np.sum((q - p) * np.log(q / p)))


def _scipy(data: Data) -> Callable[[], Results]:
    from scipy import stats

    def check() -> Results:
        out: Results = {"ks": {}, "psi": {}, "chi2": {}}
        for f in data.numeric:
            res = stats.ks_2samp(data.reference[f], data.current[f])
            out["ks"][f] = Finding(
                float(res.statistic), float(res.pvalue), bool(res.pvalue < KS_ALPHA)
            )
        for f in data.features:
            value = numpy_psi(data.reference[f], data.current[f], f in data.categorical)
            out["psi"][f] = Finding(value, None, value >= PSI_THRESHOLD)
        for f in data.categorical:
            ref, cur = data.reference[f], data.current[f]
            cats = np.union1d(np.unique(ref), np.unique(cur))
            table = np.array(
                [
                    [np.count_nonzero(ref == c) for c in cats],
                    [np.count_nonzero(cur == c) for c in cats],
                ]
            )
            chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
            out["chi2"][f] = Finding(float(chi2), float(p), bool(p < CHI2_ALPHA))
        return out

    return check


CHECKS: dict[str, Callable[[Data], Callable[[], Results]]] = {
    "driftscope": _driftscope(cached=False),
    "driftscope-cached": _driftscope(cached=True),
    "evidently": _evidently,
    "nannyml": _nannyml,
    "alibi": _alibi,
    "scipy": _scipy,
}
IMPORTS = {
    "driftscope": "driftscope",
    "driftscope-cached": "driftscope",
    "evidently": "evidently",
    "nannyml": "nannyml",
    "alibi": "alibi_detect",
    "scipy": "scipy",
}


# -- memory ----------------------------------------------------------------------------------
def _status_kb(field_name: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux 4.0+); False when impossible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_kb() -> int:
    hwm = _status_kb("VmHWM")
    if hwm is not None:
        return hwm
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


# -- worker ----------------------------------------------------------------------------------
def worker(library: str, rows: int, repeats: int) -> dict[str, Any]:
    """Run one library's check ``repeats`` times in this process; return timings and results."""
    check = CHECKS[library](make_data(rows))
    before_kb = _status_kb("VmRSS") or 0
    reset = _reset_peak()
    times = []
    cpu = []
    parts: dict[str, list[float]] = {}
    results: Results = {}
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        results = check()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        for test, seconds in PARTS.items():
            parts.setdefault(test, []).append(seconds)
    peak_kb = _peak_kb()
    return {
        "library": library,
        "rows": rows,
        "times": times,
        "seconds": statistics.median(times),
        "cpu_seconds": statistics.median(cpu),
        "parts": {test: statistics.median(values) for test, values in parts.items()},
        "peak_rss_mb": peak_kb / 1024,
        "check_mb": max(peak_kb - before_kb, 0) / 1024 if reset else None,
        "results": {
            test: {f: vars(finding) for f, finding in found.items()}
            for test, found in results.items()
        },
    }


def run_isolated(library: str, rows: int, repeats: int, timeout: float) -> dict[str, Any]:
    """Run :func:`worker` in a fresh interpreter and return what it printed (or an error)."""
    if importlib.util.find_spec(IMPORTS[library]) is None:
        return {"library": library, "rows": rows, "error": f"{IMPORTS[library]} not installed"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", library, "--rows", str(rows)]
    cmd += ["--repeats", str(repeats)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT, check=False
        )
    except subprocess.TimeoutExpired:
        return {"library": library, "rows": rows, "error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"library": library, "rows": rows, "error": tail[:200]}
    return json.loads(lines[-1])


# -- comparison ------------------------------------------------------------------------------
def _get(run: dict[str, Any], test: str, feature: str) -> dict[str, Any] | None:
    return run.get("results", {}).get(test, {}).get(feature)


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    if value != 0 and (abs(value) < 10 ** -(digits - 1) or abs(value) >= 1e5):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}f}"


def _dec(found: dict[str, Any] | None) -> str:
    if found is None:
        return "-"
    return "DRIFT" if found["drifted"] else "ok"


def p_close(a: float, b: float) -> bool:
    """driftscope's KS contract: relative 1e-6 or absolute 1e-10."""
    return abs(a - b) <= max(1e-10, 1e-6 * abs(b))


def agreement(
    runs: dict[str, dict[str, Any]], numeric: list[str], categorical: list[str]
) -> list[str]:
    """Sentences on where the libraries agree on KS and where (and why) they do not."""
    lines: list[str] = []
    ds, sp = runs.get("driftscope"), runs.get("scipy")
    if ds and sp and "results" in ds and "results" in sp:
        d_gap = max(
            abs(_get(ds, "ks", f)["statistic"] - _get(sp, "ks", f)["statistic"]) for f in numeric
        )
        p_ok = all(
            p_close(_get(ds, "ks", f)["p_value"], _get(sp, "ks", f)["p_value"]) for f in numeric
        )
        same = all(_get(ds, "ks", f)["drifted"] == _get(sp, "ks", f)["drifted"] for f in numeric)
        lines.append(
            f"KS driftscope vs scipy.stats.ks_2samp: max |D diff| {d_gap:.1e}; p-values "
            f"{'within' if p_ok else 'NOT within'} rel 1e-6 / abs 1e-10; decisions "
            f"{'identical' if same else 'DIFFERENT'}."
        )
    ev = runs.get("evidently")
    if ds and ev and "results" in ds and "results" in ev:
        p_ok = all(
            p_close(_get(ds, "ks", f)["p_value"], _get(ev, "ks", f)["p_value"]) for f in numeric
        )
        # Evidently drifts at p <= alpha, driftscope and scipy at p < alpha: equal unless p == alpha
        same = all(_get(ds, "ks", f)["drifted"] == _get(ev, "ks", f)["drifted"] for f in numeric)
        lines.append(
            f"KS driftscope vs Evidently (its KS score is scipy's p-value): p-values "
            f"{'within' if p_ok else 'NOT within'} tolerance; decisions "
            f"{'identical' if same else 'DIFFERENT'}."
        )
        psi_diff = [
            f
            for f in numeric + categorical
            if _get(ds, "psi", f)["drifted"] != _get(ev, "psi", f)["drifted"]
        ]
        lines.append(
            "PSI values differ from Evidently's by design: Evidently bins numeric features by "
            "Sturges' rule over reference and current together (so PSI depends on the window "
            "and two windows' PSI are not comparable) and floors empty bins at 1e-4; driftscope "
            "fixes 10 quantile bins on the reference with open outer bins. Decisions at 0.25 "
            + (f"differ on {', '.join(psi_diff)}." if psi_diff else "agree on every feature.")
        )
    if ds and sp and "results" in ds and "results" in sp:
        psi_gap = max(
            abs(_get(ds, "psi", f)["statistic"] - _get(sp, "psi", f)["statistic"])
            for f in numeric + categorical
        )
        chi_gap = max(
            abs(_get(ds, "chi2", f)["p_value"] - _get(sp, "chi2", f)["p_value"])
            for f in categorical
        )
        lines.append(
            f"PSI driftscope vs the numpy baseline with the same bins: max |diff| {psi_gap:.1e}. "
            f"chi2 driftscope vs scipy.stats.chi2_contingency(correction=False): max |p diff| "
            f"{chi_gap:.1e}."
        )
    if ds and ev and "results" in ds and "results" in ev:
        diff = [
            f
            for f in categorical
            if _get(ds, "chi2", f)["drifted"] != _get(ev, "chi2", f)["drifted"]
        ]
        lines.append(
            "chi-square differs from Evidently's by design: Evidently's 'chisquare' is a "
            "goodness-of-fit test of the window's counts against the reference proportions "
            "taken as exact (a category the reference never had expects 0 rows, so its "
            "p-value collapses to 0); driftscope, NannyML and scipy test homogeneity on the "
            "2 x k contingency table, where the reference is a sample too. Decisions "
            + (f"differ on {', '.join(diff)}." if diff else "agree.")
        )
    al = runs.get("alibi")
    if sp and al and "results" in sp and "results" in al:
        d_gap = max(
            abs(_get(al, "ks", f)["statistic"] - _get(sp, "ks", f)["statistic"]) for f in numeric
        )
        p_gap = max(
            abs(_get(al, "ks", f)["p_value"] - _get(sp, "ks", f)["p_value"]) for f in numeric
        )
        diff = [f for f in numeric if _get(al, "ks", f)["drifted"] != _get(sp, "ks", f)["drifted"]]
        lines.append(
            f"KS alibi-detect vs scipy: same D (max diff {d_gap:.1e}); alibi always takes "
            f"scipy's mode='asymp', where scipy's 'auto' is exact up to 10,000 rows a side, "
            f"so p-values differ at small sizes (max |diff| {p_gap:.1e}); decisions "
            + (f"differ on {', '.join(diff)}." if diff else "identical.")
        )
    nm = runs.get("nannyml")
    if sp and nm and "results" in sp and "results" in nm:
        d_gap = max(
            abs(_get(nm, "ks", f)["statistic"] - _get(sp, "ks", f)["statistic"]) for f in numeric
        )
        diff = [f for f in numeric if _get(nm, "ks", f)["drifted"] != _get(sp, "ks", f)["drifted"]]
        lines.append(
            f"KS NannyML vs scipy: max |D diff| {d_gap:.1e} (from 10,000 reference rows on, "
            "NannyML estimates D on a 10,000-bin equal-width histogram of the reference instead "
            "of the exact ECDFs). NannyML computes no p-value: it alerts when D exceeds "
            "mean + 3 sd of D over reference chunks (here 10 chunks of a tenth of the "
            "reference each), a threshold learned at the chunk size, not a significance level "
            "for the window's size; decisions "
            + (f"differ on {', '.join(diff)}." if diff else "agree with scipy's here.")
        )
    return lines


def _render(head: list[str], rows: list[list[str]], markdown: bool = False) -> list[str]:
    """Rows of cells as an aligned text table (or a Markdown table)."""
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return lines + ["| " + " | ".join(r) + " |" for r in rows]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = [_line(head, widths)]
    lines.append("  ".join("-" * w for w in widths))
    lines += [_line(r, widths) for r in rows]
    return lines


def _line(cells: list[str], widths: list[int]) -> str:
    first = str(cells[0]).ljust(widths[0])
    rest = [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
    return "  ".join([first, *rest])


def _value(runs: dict[str, dict[str, Any]], lib: str, test: str, f: str, key: str) -> str:
    found = _get(runs.get(lib, {}), test, f)
    return _fmt(None if found is None else found[key])


def _decisions(runs: dict[str, dict[str, Any]], libs: list[str], test: str, f: str) -> str:
    """One letter per library: D = drift, . = no drift, - = not run."""
    marks = []
    for lib in libs:
        found = _get(runs.get(lib, {}), test, f)
        marks.append("-" if found is None else ("D" if found["drifted"] else "."))
    return "".join(marks)


def feature_tables(runs: dict[str, dict[str, Any]], data: Data) -> list[str]:
    """Per feature and test: each library's statistic or p-value, and its decision."""
    out = []
    ks_libs = ["scipy", "driftscope", "evidently", "alibi", "nannyml"]
    out.append(
        "KS (numeric features); decisions in the order scipy, driftscope, Evidently, alibi, NannyML"
    )
    rows = []
    for f in data.numeric:
        nm = _get(runs.get("nannyml", {}), "ks", f)
        rows.append(
            [
                f,
                "DRIFT" if truth(f) else "-",
                _value(runs, "scipy", "ks", f, "statistic"),
                _value(runs, "driftscope", "ks", f, "statistic"),
                _value(runs, "scipy", "ks", f, "p_value"),
                _value(runs, "driftscope", "ks", f, "p_value"),
                _value(runs, "evidently", "ks", f, "p_value"),
                _value(runs, "alibi", "ks", f, "p_value"),
                _value(runs, "nannyml", "ks", f, "statistic"),
                "-" if nm is None else nm["note"],
                _decisions(runs, ks_libs, "ks", f),
            ]
        )
    out += _render(
        [
            "feature",
            "truth",
            "D scipy",
            "D drifts",
            "p scipy",
            "p drifts",
            "p Evidently",
            "p alibi",
            "D NannyML",
            "NannyML alert",
            "decisions",
        ],
        rows,
    )
    out.append("")
    psi_libs = ["scipy", "driftscope", "evidently"]
    out.append(
        f"PSI (drift at >= {PSI_THRESHOLD}); decisions in the order numpy baseline, driftscope, "
        "Evidently"
    )
    rows = [
        [
            f,
            "DRIFT" if truth(f) else "-",
            _value(runs, "driftscope", "psi", f, "statistic"),
            _value(runs, "scipy", "psi", f, "statistic"),
            _value(runs, "evidently", "psi", f, "statistic"),
            _decisions(runs, psi_libs, "psi", f),
        ]
        for f in data.features
    ]
    out += _render(
        ["feature", "truth", "driftscope", "numpy (same bins)", "Evidently", "decisions"], rows
    )
    out.append("")
    chi_libs = ["scipy", "driftscope", "evidently", "nannyml"]
    out.append(
        "chi-square (categorical); decisions in the order scipy, driftscope, Evidently, NannyML"
    )
    rows = [
        [
            f,
            "DRIFT" if truth(f) else "-",
            _value(runs, "driftscope", "chi2", f, "statistic"),
            _value(runs, "nannyml", "chi2", f, "statistic"),
            _value(runs, "scipy", "chi2", f, "p_value"),
            _value(runs, "driftscope", "chi2", f, "p_value"),
            _value(runs, "evidently", "chi2", f, "p_value"),
            _decisions(runs, chi_libs, "chi2", f),
        ]
        for f in data.categorical
    ]
    out += _render(
        [
            "feature",
            "truth",
            "chi2 drifts",
            "chi2 NannyML",
            "p scipy",
            "p drifts",
            "p Evidently (GoF)",
            "decisions",
        ],
        rows,
    )
    return out


def timing_table(all_runs: dict[int, dict[str, dict[str, Any]]], markdown: bool) -> list[str]:
    """Seconds and memory per library and size, with driftscope's speed-up over each peer."""
    sizes = sorted(all_runs)
    head = ["library", "tests"]
    for n in sizes:
        head += [f"{n:,} rows: s", "CPU s", "peak RSS MB", "+check MB", "× fit+score", "× cached"]
    rows = []
    for lib, label in LIBRARIES.items():
        if not any(lib in all_runs[n] for n in sizes):
            continue
        row = [label, TESTS[lib]]
        for n in sizes:
            run = all_runs[n].get(lib)
            if run is None:
                row += ["-"] * 6
            elif "error" in run:
                row += [run["error"][:40], "", "", "", "", ""]
            else:
                row += [
                    f"{run['seconds']:.3f}",
                    f"{run['cpu_seconds']:.3f}",
                    f"{run['peak_rss_mb']:.0f}",
                    "-" if run["check_mb"] is None else f"{run['check_mb']:.0f}",
                    _speedup(all_runs[n], lib),
                    _speedup(all_runs[n], lib, "driftscope-cached"),
                ]
        rows.append(row)
    return _render(head, rows, markdown)


def _speedup(runs: dict[str, dict[str, Any]], lib: str, base: str = "driftscope") -> str:
    """How many times faster driftscope is than ``lib``, on the same size and the same tests.

    A peer that runs fewer tests (NannyML: KS and chi-square; alibi-detect: KS) is compared
    with the time driftscope spent on those tests alone in the same runs.
    """
    ds = runs.get(base)
    run = runs.get(lib)
    if lib.startswith("driftscope") or not ds or "error" in ds or not run or "error" in run:
        return ""
    tests = {"KS": "ks", "PSI": "psi", "chi2": "chi2"}
    wanted = [tests[t] for t in TESTS[lib].split("+")]
    parts = ds.get("parts", {})
    seconds = sum(parts[t] for t in wanted) if all(t in parts for t in wanted) else ds["seconds"]
    return f"{run['seconds'] / seconds:.1f}×" if seconds > 0 else ""


# -- main ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,100000,1000000", help="comma-separated row counts")
    parser.add_argument("--repeats", type=int, default=5, help="runs per library and size")
    parser.add_argument(
        "--repeats-large", type=int, default=3, help="runs per library from 1,000,000 rows on"
    )
    parser.add_argument("--libraries", default=",".join(LIBRARIES), help="which to run")
    parser.add_argument("--detail-size", type=int, default=100_000, help="per-feature table size")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per library run")
    parser.add_argument(
        "--markdown", action="store_true", help="print the timing table as Markdown"
    )
    parser.add_argument("--json", type=Path, help="also write every measurement to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        warnings.simplefilter("ignore")
        print(json.dumps(worker(args.worker, args.rows, args.repeats)), flush=True)
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s]
    libraries = [lib.strip() for lib in args.libraries.split(",") if lib.strip()]
    unknown = sorted(set(libraries) - set(LIBRARIES))
    if unknown:
        parser.error(f"unknown libraries {unknown}; choose from {list(LIBRARIES)}")
    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs; "
        f"{N_NUMERIC} numeric + 2 categorical features, reference rows = current rows",
        flush=True,
    )
    all_runs: dict[int, dict[str, dict[str, Any]]] = {}
    for n in sizes:
        repeats = args.repeats_large if n >= 1_000_000 else args.repeats
        all_runs[n] = {}
        for lib in libraries:
            started = time.perf_counter()
            run = run_isolated(lib, n, repeats, args.timeout)
            all_runs[n][lib] = run
            status = run.get("error") or f"median {run['seconds']:.3f} s of {repeats}"
            print(
                f"  {n:>9,} rows  {LIBRARIES[lib]:30} {status}  "
                f"({time.perf_counter() - started:.0f} s wall)",
                flush=True,
            )
        data = make_data(min(n, 1000))  # feature names and kinds only
        print(f"\n== {n:,} reference rows x {n:,} current rows ==")
        for line in agreement(all_runs[n], data.numeric, data.categorical):
            print(f"- {line}")
        if n == args.detail_size:
            print()
            for line in feature_tables(all_runs[n], data):
                print(line)
        print(flush=True)

    print(
        "== seconds (median) and peak memory; '× fit+score' / '× cached' = the library's time "
        "over driftscope's (fitting the reference each time / scoring against cached profiles) "
        "on the same tests =="
    )
    for line in timing_table(all_runs, args.markdown):
        print(line)
    if args.json:
        args.json.write_text(json.dumps({str(k): v for k, v in all_runs.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
