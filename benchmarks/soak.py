"""Memory under mixed load: does a serving process stay flat for a quarter of an hour?

    python benchmarks/soak.py [--minutes 15] [--rate 40] [--no-tracemalloc] [--keep]

Trains the demo model into a temporary folder, writes the demo config (``configs/demo.yaml``
with its paths pointed there) and starts the real API server as a subprocess on 127.0.0.1
(uvicorn, the scheduler on, a SQLite store). Then, for ``--minutes``, one bounded loop
drives the mix issue 10 describes:

* ``POST /predict`` at ``--rate`` requests/s: mostly single rows, one in ten a batch of
  2-200 rows, so the log writer sees batches of many sizes, as a real service does;
* ``POST /feedback`` twice a second with the true labels of up to 200 of the predictions
  answered so far (ids kept in a bounded queue);
* ``POST /v1/monitors/cancer-drift/run`` every ``--monitor-every`` seconds (5).

Every ``--interval`` seconds (30) it prints the server's resident memory (``VmRSS`` from
/proc), SQLite's own memory inside it, Python's traced memory and what was sent. The server
runs :func:`traced_app`, whose debug routes the opt-in ``DRIFTSCOPE_SOAK_TRACEMALLOC=N``
variable turns on. With tracemalloc on (the default, ``--frames`` 8) the server starts
tracing once it is ready, takes a baseline snapshot, and this script prints the allocation
sites whose memory grew most since then, every ``--sites-every`` minutes and at the end.
tracemalloc sees only Python's allocator: memory that C libraries take for themselves (the
SQLite column) shows in RSS and not in the traced figure. Tracing makes the server several
times slower; ``--no-tracemalloc`` measures an untraced one.

The verdict compares the RSS samples of the last 10 minutes (the last two thirds of a
shorter run): max / min must stay within 10%.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# the tests' shared helpers (tests/support); never the repository root: driftscope is
# imported as installed
sys.path.insert(0, str(REPO / "tests"))

TRACE_ENV = "DRIFTSCOPE_SOAK_TRACEMALLOC"
TRACE_PATH = "/_soak/tracemalloc"
MEMORY_PATH = "/_soak/memory"
MODEL = "cancer"
MONITOR = "cancer-drift"
TARGET_SPREAD = 0.10
STEADY_SECONDS = 600.0


# -- the server side: an opt-in tracemalloc endpoint -------------------------------------------
def _project_frame(traceback: tracemalloc.Traceback) -> str | None:
    """The innermost frame of the traceback that lies in driftscope's own folders."""
    roots = tuple(str(REPO / part) + os.sep for part in ("core", "plugins", "apps"))
    for frame in reversed(traceback):  # oldest first: reversed is innermost first
        if frame.filename.startswith(roots):
            return f"{Path(frame.filename).relative_to(REPO)}:{frame.lineno}"
    return None


def growth_sites(
    baseline: tracemalloc.Snapshot, snapshot: tracemalloc.Snapshot, top: int
) -> list[dict[str, Any]]:
    """The allocation sites that grew most from ``baseline`` to ``snapshot``.

    A site is the innermost frame of an allocation plus the innermost frame of driftscope's
    own code above it (where a library allocates on driftscope's behalf), so growth inside
    a library is still pinned to the line of ours that caused it.
    """
    ignore = (
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
        tracemalloc.Filter(False, "<unknown>"),
    )
    snapshot = snapshot.filter_traces(ignore)
    baseline = baseline.filter_traces(ignore)
    sites: dict[tuple[str, str | None], list[int]] = {}
    for stat in snapshot.compare_to(baseline, "traceback"):
        inner = stat.traceback[-1]
        key = (f"{inner.filename}:{inner.lineno}", _project_frame(stat.traceback))
        totals = sites.setdefault(key, [0, 0, 0])
        totals[0] += stat.size_diff
        totals[1] += stat.count_diff
        totals[2] += stat.size
    ranked = sorted(sites.items(), key=lambda item: item[1][0], reverse=True)[:top]
    return [
        {"size_diff": d, "count_diff": c, "size": s, "where": inner, "project": project}
        for (inner, project), (d, c, s) in ranked
    ]


def sqlite_memory_bytes() -> int | None:
    """Bytes SQLite's own allocator holds in this process (``sqlite3_memory_used``):
    prepared statements and page caches, which tracemalloc cannot see; None when the
    sqlite3 module's library does not export the function."""
    import _sqlite3
    import ctypes

    try:
        used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    except (OSError, AttributeError):
        return None
    used.restype = ctypes.c_int64
    return int(used())


def traced_app() -> Any:
    """The API app (``driftscope.apps.api.main:create_app``) with two debug routes when the opt-in
    ``DRIFTSCOPE_SOAK_TRACEMALLOC=N`` is set (unset: the plain app).

    * ``GET /_soak/memory``: SQLite's own memory and, while tracing, Python's traced memory;
    * ``GET /_soak/tracemalloc?top=K`` (only when N > 0): the first call (or one with
      ``&baseline=1``) starts tracing allocations, N frames each, and takes the baseline
      snapshot; every call answers the sites that grew most since the baseline.
    """
    from fastapi import Query

    from driftscope.apps.api.main import create_app

    app = create_app()
    setting = os.environ.get(TRACE_ENV)
    if setting is None:
        return app
    frames = int(setting or 0)
    holder: dict[str, tracemalloc.Snapshot] = {}
    lock = threading.Lock()

    def memory() -> dict[str, Any]:
        traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else None
        return {"sqlite_bytes": sqlite_memory_bytes(), "traced_bytes": traced}

    def report(top: int = Query(15, ge=1, le=200), baseline: bool = False) -> dict[str, Any]:
        # a sync route: FastAPI runs it on a worker thread, off the event loop
        with lock:
            if not tracemalloc.is_tracing():
                # tracing starts here, after start-up: imports traced with many frames
                # would take minutes, and only growth while serving matters
                tracemalloc.start(frames)
            if baseline or "base" not in holder:
                holder["base"] = tracemalloc.take_snapshot()
            snapshot = tracemalloc.take_snapshot()
            current, peak = tracemalloc.get_traced_memory()
            return {
                "traced_bytes": current,
                "peak_bytes": peak,
                "sites": growth_sites(holder["base"], snapshot, top),
            }

    app.add_api_route(MEMORY_PATH, memory, methods=["GET"], include_in_schema=False)
    if frames > 0:
        app.add_api_route(TRACE_PATH, report, methods=["GET"], include_in_schema=False)
    return app


# -- the load ------------------------------------------------------------------------------------
@dataclass
class Tally:
    """What the load loop sent and what came back (shared by its threads under ``lock``)."""

    predict_requests: int = 0
    predicted_rows: int = 0
    feedback_requests: int = 0
    labels_sent: int = 0
    monitor_runs: int = 0
    monitor_seconds: float = 0.0
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self, what: str, code: int) -> None:
        with self.lock:
            self.statuses[f"{what} {code}"] += 1


class Load:
    """Predict, feedback and monitor runs against one server, until :meth:`stop`."""

    def __init__(
        self,
        url: str,
        rows: list[dict[str, float]],
        labels: list[int],
        *,
        rate: float,
        monitor_every: float,
        seed: int = 42,
    ) -> None:
        self.url = url
        self.rows = rows
        self.labels = labels
        self.rate = rate
        self.monitor_every = monitor_every
        self.random = random.Random(seed)
        self.tally = Tally()
        # ids answered but not yet labelled, with their true label; bounded, so a server
        # slower than the load never makes this process grow
        self.unlabelled: collections.deque[tuple[str, int]] = collections.deque(maxlen=20_000)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for name, target in (
            ("predict", self._predict_loop),
            ("feedback", self._feedback_loop),
            ("monitor", self._monitor_loop),
        ):
            thread = threading.Thread(target=target, name=f"soak-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def _client(self) -> Any:
        import httpx

        return httpx.Client(base_url=self.url, timeout=120.0)

    def _predict_loop(self) -> None:
        period = 1.0 / self.rate
        next_at = time.monotonic()
        path = f"/v1/models/{MODEL}/predict"
        with self._client() as client:
            while not self._stop.is_set():
                size = 1 if self.random.random() < 0.9 else self.random.randint(2, 200)
                start = self.random.randrange(len(self.rows))
                picked = [(start + i) % len(self.rows) for i in range(size)]
                body: dict[str, Any] = (
                    {"features": self.rows[picked[0]]}
                    if size == 1
                    else {"rows": [self.rows[i] for i in picked]}
                )
                try:
                    answer = client.post(path, json=body)
                except Exception as exc:  # the loop reports failures, it never stops on one
                    with self.tally.lock:
                        self.tally.errors[f"predict {type(exc).__name__}"] += 1
                else:
                    self.tally.status("predict", answer.status_code)
                    if answer.status_code == 200:
                        ids = [p["id"] for p in answer.json()["predictions"]]
                        self.unlabelled.extend(
                            zip(ids, [self.labels[i] for i in picked], strict=True)
                        )
                        with self.tally.lock:
                            self.tally.predict_requests += 1
                            self.tally.predicted_rows += len(ids)
                next_at += period
                delay = next_at - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                else:  # behind: do not burst to catch up, keep the rate bounded
                    next_at = time.monotonic()

    def _feedback_loop(self) -> None:
        path = f"/v1/models/{MODEL}/feedback"
        with self._client() as client:
            while not self._stop.wait(0.5):
                batch = []
                while self.unlabelled and len(batch) < 200:
                    batch.append(self.unlabelled.popleft())
                if not batch:
                    continue
                body = {"labels": [{"id": i, "label": label} for i, label in batch]}
                try:
                    answer = client.post(path, json=body)
                except Exception as exc:
                    with self.tally.lock:
                        self.tally.errors[f"feedback {type(exc).__name__}"] += 1
                    continue
                self.tally.status("feedback", answer.status_code)
                with self.tally.lock:
                    self.tally.feedback_requests += 1
                    self.tally.labels_sent += len(batch)

    def _monitor_loop(self) -> None:
        path = f"/v1/monitors/{MONITOR}/run"
        with self._client() as client:
            while not self._stop.wait(self.monitor_every):
                started = time.monotonic()
                try:
                    answer = client.post(path)
                except Exception as exc:
                    with self.tally.lock:
                        self.tally.errors[f"monitor {type(exc).__name__}"] += 1
                    continue
                self.tally.status("monitor", answer.status_code)
                with self.tally.lock:
                    self.tally.monitor_runs += 1
                    self.tally.monitor_seconds += time.monotonic() - started


# -- the server process --------------------------------------------------------------------------
def demo_config(work: Path) -> Path:
    """``configs/demo.yaml`` with its model, reference and store pointed into ``work``."""
    import yaml

    from driftscope.apps.demo.model import train_demo_model

    demo = train_demo_model(work)
    document = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text(encoding="utf-8"))
    (model,) = document["models"]
    model["path"] = str(demo.model_path)
    model["reference"] = str(demo.reference_path)
    document["store"]["url"] = f"sqlite:///{(work / 'driftscope.db').as_posix()}"
    path = work / "demo.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def start_server(config: Path, log: Path, frames: int) -> tuple[subprocess.Popen[bytes], str]:
    from api import uvicorn_command  # benchmarks/api.py, beside this file

    from support.api_helpers import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTSCOPE_")}
    env.update(
        DRIFTSCOPE_CONFIG=str(config),
        PYTHONPATH=str(REPO / "benchmarks"),
        PYTHONUNBUFFERED="1",
    )
    env[TRACE_ENV] = str(frames)
    factory = "soak:traced_app"
    handle = open(log, "wb")  # noqa: SIM115 - the child keeps writing to it
    process = subprocess.Popen(
        uvicorn_command(factory, port),
        cwd=REPO,
        env=env,
        stdout=handle,
        stderr=handle,
    )
    import httpx

    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with code {process.returncode}; see {log}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the server did not become ready; see {log}")


def stop_server(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(120)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def fetch_sites(url: str, top: int, *, baseline: bool = False) -> dict[str, Any]:
    import httpx

    answer = httpx.get(url + TRACE_PATH, params={"top": top, "baseline": baseline}, timeout=600)
    answer.raise_for_status()
    return dict(answer.json())


def fetch_memory(url: str) -> dict[str, Any]:
    """SQLite's and (while tracing) Python's traced memory inside the server, in bytes."""
    import httpx

    answer = httpx.get(url + MEMORY_PATH, timeout=60)
    answer.raise_for_status()
    return dict(answer.json())


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f}"


def print_sites(found: dict[str, Any], elapsed: float) -> None:
    print(
        f"\n-- tracemalloc at {elapsed / 60:.1f} min: traced {found['traced_bytes'] / 2**20:.1f}"
        f" MiB (peak {found['peak_bytes'] / 2**20:.1f}); top growth since the baseline:",
        flush=True,
    )
    for site in found["sites"]:
        project = f"  <- {site['project']}" if site["project"] else ""
        where = site["where"].replace(str(REPO) + os.sep, "")
        print(
            f"  {site['size_diff'] / 2**20:+8.2f} MiB {site['count_diff']:+9d} blocks  "
            f"{where}{project}",
            flush=True,
        )
    print(flush=True)


def server_problems(log: Path) -> list[str]:
    """The server log's lines that report an error or a failure (why a request got a 5xx)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    markers = ("error:", "failed", "Traceback", "ERROR")
    return [line for line in text.splitlines() if any(m in line for m in markers)]


def verdict(samples: list[tuple[float, float]], minutes: float) -> tuple[str, bool]:
    """Max/min of the RSS samples over the steady part of the run, against the target."""
    span = min(STEADY_SECONDS, minutes * 60 * 2 / 3)
    end = samples[-1][0]
    steady = [rss for at, rss in samples if at >= end - span]
    low, high = min(steady), max(steady)
    spread = high / low - 1
    text = (
        f"RSS over the last {span / 60:.1f} min: {low:.0f}-{high:.0f} MiB, spread {spread:.1%} "
        f"(target within {TARGET_SPREAD:.0%})"
    )
    return text, spread <= TARGET_SPREAD


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="Length of the run.")
    parser.add_argument("--rate", type=float, default=40.0, help="Predict requests per second.")
    parser.add_argument("--monitor-every", type=float, default=5.0, help="Seconds between runs.")
    parser.add_argument("--interval", type=float, default=30.0, help="Seconds between samples.")
    parser.add_argument("--sites-every", type=float, default=5.0, help="Minutes between sites.")
    parser.add_argument("--top", type=int, default=12, help="Growth sites to print.")
    parser.add_argument("--frames", type=int, default=8, help="tracemalloc frames per block.")
    parser.add_argument("--no-tracemalloc", action="store_true", help="Do not trace the server.")
    parser.add_argument("--keep", action="store_true", help="Keep the working folder.")
    args = parser.parse_args()
    if args.minutes <= 0 or args.rate <= 0 or args.monitor_every <= 0 or args.interval <= 0:
        parser.error("--minutes, --rate, --monitor-every and --interval must be positive")
    frames = 0 if args.no_tracemalloc else max(1, args.frames)

    from driftscope.apps.demo.model import TARGET
    from support.factories import demo_model

    work = Path(tempfile.mkdtemp(prefix="driftscope-soak-"))
    config = demo_config(work)
    holdout = demo_model(work).holdout
    features = [c for c in holdout.columns if c != TARGET]
    rows = [{k: float(v) for k, v in r.items()} for r in holdout[features].to_dict("records")]
    labels = [int(v) for v in holdout[TARGET]]

    load_before = os.getloadavg()[0]
    print(f"starting the server (work folder {work}, tracemalloc frames {frames}) ...", flush=True)
    process, url = start_server(config, work / "server.log", frames)
    load = Load(url, rows, labels, rate=args.rate, monitor_every=args.monitor_every)
    samples: list[tuple[float, float]] = []
    code = None
    try:
        if frames:
            fetch_sites(url, 1, baseline=True)
        print(
            f"{'min':>5} {'RSS MiB':>8} {'SQLite':>7} {'traced':>7} {'predict req':>11} "
            f"{'rows':>8} {'labels':>8} {'runs':>5} {'run s':>6} {'non-2xx':>8}",
            flush=True,
        )
        started = time.monotonic()
        load.start()
        sites_at = args.sites_every * 60
        end = started + args.minutes * 60
        next_sample = started
        while True:
            now = time.monotonic()
            elapsed = now - started
            if now >= next_sample:
                if process.poll() is not None:
                    raise SystemExit(f"the server exited with code {process.returncode}")
                rss = rss_mb(process.pid)
                samples.append((elapsed, rss))
                inner = fetch_memory(url)
                t = load.tally
                with t.lock:
                    non_2xx = sum(n for k, n in t.statuses.items() if k.split()[1][0] != "2")
                    runs = t.monitor_runs
                    mean_run = t.monitor_seconds / runs if runs else 0.0
                    print(
                        f"{elapsed / 60:5.1f} {rss:8.1f} {_mib(inner['sqlite_bytes']):>7} "
                        f"{_mib(inner['traced_bytes']):>7} {t.predict_requests:11d} "
                        f"{t.predicted_rows:8d} {t.labels_sent:8d} {runs:5d} {mean_run:6.2f} "
                        f"{non_2xx + sum(t.errors.values()):8d}",
                        flush=True,
                    )
                next_sample += args.interval
                if frames and elapsed >= sites_at and now < end:
                    print_sites(fetch_sites(url, args.top), elapsed)
                    sites_at += args.sites_every * 60
            if now >= end:
                break
            time.sleep(max(0.0, min(next_sample, end) - time.monotonic()))
        load.stop()
        if frames:
            print_sites(fetch_sites(url, args.top), time.monotonic() - started)
    finally:
        load.stop()
        code = stop_server(process)

    text, ok = verdict(samples, args.minutes)
    t = load.tally
    print(f"{text}: {'ok' if ok else 'MISSED'}")
    print(f"answers: {dict(sorted(t.statuses.items()))}; client errors: {dict(t.errors) or 'none'}")
    print(
        f"server exit code {code}; python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load average before {load_before:.1f}, after {os.getloadavg()[0]:.1f}"
    )
    problems = server_problems(work / "server.log")
    if problems:
        print(f"server log, lines that report errors ({len(problems)}; the last 10):")
        for line in problems[-10:]:
            print(f"  {line[:300]}")
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
