"""Speed of the built-in KS and PSI detectors against a plain scipy/numpy baseline.

Run: ``python benchmarks/detectors.py [--rows 100000] [--features 20] [--repeats 7]``

Data (seeded): ``features`` numeric features, ``rows`` reference rows and ``rows`` current
rows; half of the features are drifted by small mean shifts (0.04-0.09 standard deviations),
enough for p-values far below 1e-10 at 100,000 rows — the case where scipy's KS p-value is
slowest. Rows of the table:

(a) driftscope KS + PSI over every feature, scoring against cached profiles (what a
    scheduled monitor run does once the reference is fitted);
(b) the same with ``fit`` included (a cold cache);
(c) baseline in the same process: per feature ``scipy.stats.ks_2samp`` plus a plain numpy PSI
    (decile edges of the reference, ``np.histogram`` of both samples, 1e-4 floor).

Each row is the median of ``repeats`` runs, interleaved with the other rows, in wall time
and in this process's CPU time (steadier on a busy machine); ``(c)/row`` is the speed-up.
The section at the bottom (``extra_rows``) is where whole-pipeline rows go, such as a full
monitor run reading its window from SQLite.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from driftscope import FeatureSample
from driftscope.plugins.detectors.ks import KSDetector, KSSettings
from driftscope.plugins.detectors.psi import PSIDetector, PSISettings


@dataclass(frozen=True)
class Data:
    """Reference and current columns of every feature."""

    reference: list[np.ndarray]
    current: list[np.ndarray]
    shifts: list[float]


@dataclass(frozen=True)
class Row:
    """One line of the table: median wall and CPU seconds."""

    label: str
    seconds: float
    cpu_seconds: float
    note: str = ""


def make_data(features: int, rows: int, seed: int = 20240601) -> Data:
    """Seeded columns: even features stable, odd ones shifted by 0.04-0.09 sd."""
    rng = np.random.default_rng(seed)
    reference, current, shifts = [], [], []
    for i in range(features):
        shift = 0.0 if i % 2 == 0 else 0.04 + 0.05 * (i / max(1, features - 1))
        scale = 1.0 + 0.5 * (i % 3)
        reference.append(rng.normal(0.0, scale, rows))
        current.append(rng.normal(shift * scale, scale, rows))
        shifts.append(shift)
    return Data(reference, current, shifts)


def measure(cases: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of each case over ``repeats`` rounds.

    The cases run interleaved, one of each per round (after one warm-up round), so a burst of
    load from other processes slows every case alike instead of one row of the table.
    """
    wall: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for round_ in range(repeats + 1):
        for name, fn in cases.items():
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            fn()
            if round_:
                wall[name].append(time.perf_counter() - start_wall)
                cpu[name].append(time.process_time() - start_cpu)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in cases}


# -- driftscope ----------------------------------------------------------------------------------
def driftscope_fit(data: Data) -> list[tuple[Any, Any]]:
    """Fit both detectors on every reference column."""
    ks, psi = _detectors()
    return [(ks.fit(_sample(ref)), psi.fit(_sample(ref))) for ref in data.reference]


def driftscope_score(data: Data, profiles: list[tuple[Any, Any]]) -> list[tuple[float, float]]:
    """KS p-value and PSI of every feature against cached profiles."""
    ks, psi = _detectors()
    out = []
    for (ks_profile, psi_profile), cur in zip(profiles, data.current, strict=True):
        sample = _sample(cur)
        out.append((ks.score(ks_profile, sample).p_value, psi.score(psi_profile, sample).statistic))
    return out


def _detectors() -> tuple[KSDetector, PSIDetector]:
    return KSDetector(KSSettings(type="ks")), PSIDetector(PSISettings(type="psi"))


def _sample(values: np.ndarray) -> FeatureSample:
    return FeatureSample("x", "numeric", values)


# -- baseline ------------------------------------------------------------------------------------
def plain_psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """PSI as usually hand-written: reference deciles, np.histogram, a 1e-4 floor."""
    edges = np.quantile(reference, np.linspace(0.0, 1.0, bins + 1))
    edges[0], edges[-1] = -np.inf, np.inf
    p = np.histogram(reference, edges)[0] / reference.size
    q = np.histogram(current, edges)[0] / current.size
    p, q = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
    return float(np.sum((q - p) * np.log(q / p)))


def baseline(data: Data) -> list[tuple[float, float]]:
    """scipy.stats.ks_2samp and a plain numpy PSI, feature by feature."""
    return [
        (float(stats.ks_2samp(ref, cur).pvalue), plain_psi(ref, cur))
        for ref, cur in zip(data.reference, data.current, strict=True)
    ]


# -- whole-pipeline rows -------------------------------------------------------------------------
def extra_rows(data: Data, repeats: int) -> list[Row]:
    """Rows measured end to end; extend here (e.g. a monitor run reading its window from SQLite).

    Each returned :class:`Row` is printed under the detector rows with its speed-up against
    the baseline (c). Nothing is measured here yet.
    """
    return []


# -- the table -----------------------------------------------------------------------------------
def check_agreement(ours: list[tuple[float, float]], theirs: list[tuple[float, float]]) -> str:
    """Confirm both sides computed the same p-values before comparing their speed."""
    worst = 0.0
    for (p, _), (q, _) in zip(ours, theirs, strict=True):
        if abs(p - q) > 1e-10:
            worst = max(worst, abs(p - q) / q)
    if worst > 1e-6:
        raise SystemExit(f"KS p-values disagree with scipy (worst relative error {worst:.2e})")
    return f"KS p-values agree with scipy (worst relative error beyond 1e-10: {worst:.1e})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    data = make_data(args.features, args.rows)
    profiles = driftscope_fit(data)
    agreement = check_agreement(driftscope_score(data, profiles), baseline(data))

    timings = measure(
        {
            "a": lambda: driftscope_score(data, profiles),
            "b": lambda: driftscope_score(data, driftscope_fit(data)),
            "c": lambda: baseline(data),
        },
        args.repeats,
    )
    rows = [
        Row("(a) driftscope KS+PSI, cached profiles", *timings["a"]),
        Row("(b) driftscope KS+PSI, fit + score", *timings["b"]),
        Row("(c) baseline: scipy ks_2samp + numpy PSI", *timings["c"]),
        *extra_rows(data, args.repeats),
    ]
    base_wall, base_cpu = timings["c"]
    drifted = sum(1 for s in data.shifts if s > 0)
    print(
        f"{args.features} numeric features ({drifted} drifted), {args.rows:,} reference rows, "
        f"{args.rows:,} current rows; median of {args.repeats} interleaved runs"
    )
    print(agreement)
    width = max(len(r.label) for r in rows)
    print(
        f"{'':{width}}  {'wall':>9}  {'per feature':>11}  {'(c)/row':>8}  "
        f"{'CPU':>9}  {'(c)/row':>8}"
    )
    for row in rows:
        print(
            f"{row.label:{width}}  {row.seconds * 1e3:7.1f}ms  "
            f"{row.seconds / args.features * 1e3:9.2f}ms  {base_wall / row.seconds:7.1f}x  "
            f"{row.cpu_seconds * 1e3:7.1f}ms  {base_cpu / row.cpu_seconds:7.1f}x  {row.note}"
        )


if __name__ == "__main__":
    main()
