"""``driftscope demo``: the whole product in one command, on this machine, with no setup.

The runner

1. trains the demo model (a fixed seed) into a working folder and writes the config it uses
   there: a SQLite store in the folder, a monitor that runs every few seconds over a window
   that covers the whole run, the ``log`` notifier (and Discord when ``DISCORD_WEBHOOK_URL``
   is set);
2. starts ``driftscope serve`` (the API with its scheduler) and, unless told not to,
   ``driftscope dashboard``, each as a subprocess in its own process group with its output in
   a log file of the folder, and waits until the API's ``/readyz`` answers 200;
3. drives traffic through the API with :mod:`driftscope.apps.demo.simulate`: in-distribution
   predictions with their labels, then drifted ones, under a progress bar, while a watcher
   thread prints every alert change the monitor records;
4. prints a summary (predictions sent, when drift was first detected, alerts fired and
   delivered), saves it as ``summary.json``, and either stops (``once``) or keeps the servers
   up for exploring until Ctrl-C.

Stopping (Ctrl-C, SIGTERM, an error) always stops the traffic, then the dashboard, then the
API with SIGINT so it flushes its prediction log, and kills whatever is left of each process
group. Child processes get a clean environment: every ``DRIFTSCOPE_*`` variable of the
caller is dropped so a deployment's settings (a PostgreSQL URL, an API key) cannot leak into
the demo.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import webbrowser
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from driftscope.apps.demo.simulate import (
    ApiClient,
    SimulationError,
    TrafficGenerator,
    TrafficPlan,
    TrafficSource,
    TrafficStats,
)
from driftscope.core.contracts.store import AlertEvent, Store

HOST = "127.0.0.1"
DEFAULT_API_PORT = 8000
DEFAULT_DASHBOARD_PORT = 8501
MODEL = "cancer"
MONITOR = "cancer-drift"
DB_NAME = "driftscope.db"
CONFIG_NAME = "driftscope.yaml"
MARKER = ".driftscope-demo"
SUMMARY_NAME = "summary.json"
API_LOG = "api.log"
DASHBOARD_LOG = "dashboard.log"
# built-in detectors whose threshold is a p-value, not a bound on the statistic
P_VALUE_DETECTORS = frozenset({"ks", "chi2"})
# what --replace removes: only files the demo itself writes
DEMO_FILES = (
    DB_NAME,
    f"{DB_NAME}-wal",
    f"{DB_NAME}-shm",
    f"{DB_NAME}-journal",
    "cancer.skops",
    "cancer_reference.csv",
    CONFIG_NAME,
    SUMMARY_NAME,
    API_LOG,
    DASHBOARD_LOG,
)


class DemoError(RuntimeError):
    """The demo cannot go on; ``code`` is the exit code (2: bad input, 1: a failure)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class DemoOptions:
    """What ``driftscope demo`` was asked to do.

    ``port``/``dashboard_port`` ``None`` means the default port, or a free one when the
    default is taken; a port given explicitly must be free. ``replace`` starts from a fresh
    database (and a freshly trained model); otherwise the folder's database is kept.
    ``every`` is the monitor's schedule in seconds; ``min_samples`` the rows a window needs.
    """

    folder: Path = Path("driftscope-demo")
    requests: int = 2000
    rate: float = 30.0
    dashboard: bool = True
    port: int | None = None
    dashboard_port: int | None = None
    once: bool = False
    replace: bool = True
    every: float = 5.0
    min_samples: int = 200
    seed: int = 42
    startup_timeout: float = 90.0
    open_browser: bool = False

    @property
    def drift_after(self) -> int:
        """Requests sent before drift is injected: the first half."""
        return self.requests // 2

    @property
    def burst(self) -> int:
        """Requests sent at once at the start, so the monitor's first run has enough rows."""
        return min(self.drift_after, self.min_samples + 50)

    @property
    def traffic_seconds(self) -> float:
        """Roughly how long the traffic lasts."""
        return (self.requests - self.burst) / self.rate if self.rate > 0 else 0.0


@dataclass
class DemoSummary:
    """What the demo did and found; printed at the end and saved as ``summary.json``."""

    predictions_sent: int = 0
    predictions_failed: int = 0
    labels_sent: int = 0
    drift_injected_after: int | None = None
    traffic_seconds: float = 0.0
    reports: int = 0
    drift_detected: bool = False
    detected_after_requests: int | None = None
    detected_after_seconds: float | None = None
    drifted_features: list[str] = field(default_factory=list)
    false_alarms: int = 0
    alerts_fired: int = 0
    alerts_firing_now: int = 0
    alerts_resolved: int = 0
    no_data_alerts: int = 0
    messages: dict[str, dict[str, int]] = field(default_factory=dict)
    api_url: str = ""
    dashboard_url: str | None = None
    folder: str = ""

    @property
    def alerts_delivered(self) -> int:
        """Messages every notifier reported as sent."""
        return sum(counts.get("sent", 0) for counts in self.messages.values())

    @property
    def ok(self) -> bool:
        """Drift was detected in the drifted phase and an alert was recorded: one fired in
        this run, or (reusing a folder) one from an earlier run is still firing."""
        return self.drift_detected and (self.alerts_fired > 0 or self.alerts_firing_now > 0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (with ``ok`` and ``alerts_delivered``)."""
        data = asdict(self)
        data["alerts_delivered"] = self.alerts_delivered
        data["ok"] = self.ok
        return data


# -- ports and processes -------------------------------------------------------------------


def port_is_free(port: int, host: str = HOST) -> bool:
    """True when nothing listens on ``host:port`` (we can bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    """A port the operating system says is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def choose_port(requested: int | None, default: int, what: str) -> tuple[int, str | None]:
    """The port to use and, when it is not the one expected, a note saying why.

    An explicitly requested port that is taken is an error (exit 2); a taken default is
    replaced by a free port.
    """
    if requested is not None:
        if not port_is_free(requested):
            raise DemoError(
                f"port {requested} for the {what} is already in use; pick another with "
                f"--port, or leave it out to use a free one",
                code=2,
            )
        return requested, None
    if port_is_free(default):
        return default, None
    port = free_port()
    return port, f"port {default} is taken, so the {what} uses port {port}"


class ManagedProcess:
    """A server subprocess in its own process group, its output going to a log file.

    Its own group (session) means a terminal's Ctrl-C reaches only the demo, which then
    stops its children in order; and that stopping kills every process the child started.
    """

    def __init__(self, name: str, args: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.name = name
        self.args = args
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        """Start the process."""
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        kwargs: dict[str, Any] = {}
        if sys.platform == "win32":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            kwargs["start_new_session"] = True
        self.process = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            **kwargs,
        )

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit code once it ended."""
        return None if self.process is None else self.process.poll()

    def _signal_group(self, sig: int) -> None:
        assert self.process is not None
        if sys.platform == "win32":
            if sig == signal.SIGINT:
                self.process.send_signal(signal.CTRL_BREAK_EVENT)
            else:
                self.process.kill()
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 20.0) -> None:
        """Ask the process to stop (SIGINT: a graceful shutdown that flushes), wait up to
        ``timeout`` seconds, then kill its whole process group."""
        if self.process is not None:
            if self.process.poll() is None:
                self._signal_group(signal.SIGINT)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(
                        signal.SIGKILL if sys.platform != "win32" else signal.SIGTERM
                    )
                    self.process.wait(5)
            # whatever the leader started and left behind goes too
            if sys.platform != "win32":
                self._signal_group(signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 25) -> str:
        """The last lines of the process's log."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def child_environment(extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment without ``DRIFTSCOPE_*`` variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTSCOPE_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


# -- the config ------------------------------------------------------------------------------


def window_length(options: DemoOptions) -> str:
    """A monitor window that covers the whole run and a while of exploring afterwards."""
    minutes = max(10, math.ceil(3 * (options.traffic_seconds + 30) / 60))
    return f"{minutes}m"


def demo_config(
    options: DemoOptions, folder: Path, *, dashboard_url: str | None, discord: bool
) -> str:
    """The YAML config the demo runs with (paths relative to the folder, the store absolute)."""
    notify = "[console, discord]" if discord else "[console]"
    discord_block = (
        '  - {name: discord, type: discord, webhook_url: "${DISCORD_WEBHOOK_URL}"}\n'
        if discord
        else ""
    )
    dashboard_block = (
        f"dashboard:\n  url: {dashboard_url}   # linked from alert messages\n\n"
        if dashboard_url
        else ""
    )
    every = f"{options.every:g}s"
    return f"""\
# Written by `driftscope demo`; rewritten at each run. Try it yourself:
#   driftscope check {folder / CONFIG_NAME}
#   driftscope run {MONITOR} -c {folder / CONFIG_NAME}
models:
  - name: {MODEL}
    path: cancer.skops                 # a skops file: loaded safely, no pickle
    reference: cancer_reference.csv    # held-out training-time rows with their label
    target: label

monitors:
  - name: {MONITOR}
    model: {MODEL}
    every: {every}                         # fast, for the demo; 1m-1h in production
    window: {{last: {window_length(options)}, min_samples: {options.min_samples}}}
    correction: bonferroni
    detectors:
      - {{type: psi, threshold: 0.25}}
      - {{type: ks, p_value: 0.05, min_statistic: 0.1}}
      - {{type: chi2, p_value: 0.05}}
      - {{type: performance, metric: accuracy, max_drop: 0.15, min_samples: 50}}
    notify: {notify}
    alert: {{for_runs: 1, resolve_runs: 2, repeat_every: 1h}}

notifiers:
  - {{name: console, type: log}}         # alerts in {API_LOG}; no setup needed
{discord_block}
{dashboard_block}store:
  type: sql
  url: sqlite:///{(folder / DB_NAME).as_posix()}
"""


# -- reading what the monitor found ------------------------------------------------------------


class StoreWatcher:
    """Reads the demo's store (reports, alert history, outbox) while the API writes it."""

    def __init__(self, config_path: Path, since: datetime) -> None:
        from driftscope.core.config.yaml_file import load_config
        from driftscope.core.plugin_system.manager import create_plugin_manager

        plugins = create_plugin_manager()
        config = load_config(config_path, plugins)
        settings = config.store_settings
        self.store: Store = plugins.get("store", settings.type)(settings)
        self.store.open()
        self.since = since
        self._seen: set[int] = set()
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the store connection."""
        self.store.close()

    def new_events(self) -> list[AlertEvent]:
        """Alert changes recorded since the last call (oldest first)."""
        with self._lock:
            events = self.store.list_alert_events(monitor=MONITOR, since=self.since, limit=1000)
            fresh = [e for e in events if e.id is not None and e.id not in self._seen]
            self._seen.update(e.id for e in fresh if e.id is not None)
        return sorted(fresh, key=lambda e: (e.at, e.id or 0))

    def events(self) -> list[AlertEvent]:
        """Every alert change of this run, oldest first."""
        with self._lock:
            events = self.store.list_alert_events(monitor=MONITOR, since=self.since, limit=10_000)
        return sorted(events, key=lambda e: (e.at, e.id or 0))

    def reports(self) -> list[Any]:
        """Every report of this run, oldest first."""
        with self._lock:
            reports = self.store.list_reports(MONITOR, since=self.since, limit=10_000)
        return sorted(reports, key=lambda r: r.created_at)

    def firing_keys(self) -> int:
        """How many of the monitor's alert keys are firing now."""
        with self._lock:
            states = self.store.get_alert_states(MONITOR)
        return sum(1 for state in states.values() if state.state == "firing")

    def message_counts(self) -> dict[str, dict[str, int]]:
        """Outbox messages of this run by notifier and status (sent, pending, failed...)."""
        with self._lock:
            messages = self.store.list_messages(limit=10_000)
        counts: dict[str, Counter[str]] = {}
        for message in messages:
            if message.created_at >= self.since and message.monitor == MONITOR:
                counts.setdefault(message.notifier, Counter())[message.status] += 1
        return {name: dict(c) for name, c in sorted(counts.items())}


def describe_event(event: AlertEvent) -> str:
    """One line for an alert change."""
    if event.detector == "monitor":
        rows = "?" if event.statistic is None else f"{event.statistic:.0f}"
        need = "?" if event.threshold is None else f"{event.threshold:.0f}"
        what = f"window has {rows} rows (needs {need})"
    else:
        stat = "n/a" if event.statistic is None else f"{event.statistic:.3g}"
        limit = "n/a" if event.threshold is None else f"{event.threshold:.3g}"
        if event.detector == "performance":
            what = f"the model's measured quality: {stat} (floor {limit})"
        elif event.detector in P_VALUE_DETECTORS:
            what = f"{event.detector} on {event.feature}: statistic {stat} (p-value < {limit})"
        else:
            what = f"{event.detector} on {event.feature}: {stat} (threshold {limit})"
    colour = {"firing": "bold red", "no_data": "yellow", "resolved": "green"}.get(
        event.to_state, "dim"
    )
    muted = " [dim](silenced)[/]" if event.silenced else ""
    return f"[{colour}]{event.to_state:>8}[/] {what}{muted}"


# -- the demo --------------------------------------------------------------------------------


class _Stop(Exception):
    """SIGTERM arrived; unwind like Ctrl-C."""


class DemoRunner:
    """Runs ``driftscope demo`` with some :class:`DemoOptions`, printing to ``console``."""

    def __init__(self, options: DemoOptions, console: Console | None = None) -> None:
        self.options = options
        self.console = console or Console()
        self.folder = options.folder.expanduser().resolve()
        self.processes: list[ManagedProcess] = []
        self.api: ManagedProcess | None = None
        self.dashboard: ManagedProcess | None = None
        self.watcher: StoreWatcher | None = None
        self.api_url = ""
        self.dashboard_url: str | None = None
        self.started_at = datetime.now(UTC)
        self.stats: TrafficStats | None = None
        self._printer_stop = threading.Event()
        self._printer: threading.Thread | None = None

    # -- the whole run ---------------------------------------------------------------------
    def run(self) -> int:
        """Run the demo; return the exit code (0: drift detected and an alert recorded)."""
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        code = 1
        summary: DemoSummary | None = None
        try:
            self.prepare()
            self.start_servers()
            summary = self.drive()
            self.print_summary(summary)
            code = 0 if summary.ok else 1
            if not self.options.once:
                self.keep_serving()
        except (KeyboardInterrupt, _Stop):
            self.console.print("\n[yellow]stopping…[/]")
            if summary is None:
                code = 130
        except DemoError as exc:
            self.console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            code = exc.code
        except SimulationError as exc:
            self.console.print(
                f"[bold red]traffic failed:[/] {exc}", highlight=False, soft_wrap=True
            )
            self._print_log_tail(self.api)
            code = 1
        finally:
            self.shutdown()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        return code

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        raise _Stop

    # -- 1. folder, model, config ------------------------------------------------------------
    def prepare(self) -> None:
        """Make the folder, train the model (when needed) and choose the ports."""
        from driftscope.apps.demo.model import train_demo_model

        folder = self.folder
        if folder.exists() and not folder.is_dir():
            raise DemoError(f"{folder} is a file, not a folder; choose another --dir", code=2)
        has_db = (folder / DB_NAME).exists()
        if has_db and not (folder / MARKER).exists():
            raise DemoError(
                f"{folder} holds a {DB_NAME} that the demo did not create; choose another "
                "--dir so it is not overwritten",
                code=2,
            )
        # ports first: a busy port fails before any work is done
        api_port, note = choose_port(self.options.port, DEFAULT_API_PORT, "API")
        if note:
            self.console.print(f"[yellow]{note}[/]")
        self.api_url = f"http://{HOST}:{api_port}"
        self.api_port = api_port
        if self.options.dashboard:
            dash_port, note = choose_port(
                self.options.dashboard_port, DEFAULT_DASHBOARD_PORT, "dashboard"
            )
            if dash_port == api_port:
                dash_port = free_port()
            if note:
                self.console.print(f"[yellow]{note}[/]")
            self.dashboard_port = dash_port
            self.dashboard_url = f"http://{HOST}:{dash_port}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MARKER).write_text("made by driftscope demo\n", encoding="utf-8")
        if self.options.replace:
            for name in DEMO_FILES:
                (folder / name).unlink(missing_ok=True)
        model_ready = (folder / "cancer.skops").exists() and (
            folder / "cancer_reference.csv"
        ).exists()
        if not model_ready:
            with self.console.status(
                "training the demo model (breast cancer data, seed {self.options.seed})…"
            ):
                train_demo_model(folder, seed=self.options.seed)
        mode = "fresh database" if self.options.replace else "reusing the folder's database"
        self.console.print(f"[bold]driftscope demo[/] in {folder} ({mode})", highlight=False)

        discord = bool(os.environ.get("DISCORD_WEBHOOK_URL"))
        self.config_path = folder / CONFIG_NAME
        self.config_path.write_text(
            demo_config(self.options, folder, dashboard_url=self.dashboard_url, discord=discord),
            encoding="utf-8",
        )
        if discord:
            self.console.print("alerts also go to Discord (DISCORD_WEBHOOK_URL is set)")

    # -- 2. servers ----------------------------------------------------------------------------
    def start_servers(self) -> None:
        """Start the API (and dashboard), wait until the API is ready, print the URLs."""
        env = child_environment({"DRIFTSCOPE_LOG_LEVEL": "info"})
        self.api = ManagedProcess(
            "API",
            self.cli_args(
                "serve",
                "--config",
                str(self.config_path),
                "--host",
                HOST,
                "--port",
                str(self.api_port),
            ),
            self.folder / API_LOG,
            env,
        )
        self.processes.append(self.api)
        self.api.start()
        if self.options.dashboard:
            dashboard_env = child_environment(
                {
                    "STREAMLIT_SERVER_HEADLESS": "true",
                    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
                }
            )
            self.dashboard = ManagedProcess(
                "dashboard",
                self.cli_args(
                    "dashboard", "--port", str(self.dashboard_port), "--api-url", self.api_url
                ),
                self.folder / DASHBOARD_LOG,
                dashboard_env,
            )
            self.processes.append(self.dashboard)
            self.dashboard.start()
        with self.console.status("starting the API (loading the model, opening the store)…"):
            self.wait_ready()
        self.started_at = datetime.now(UTC)
        self.watcher = StoreWatcher(self.config_path, self.started_at)
        self.console.print(f"API docs:   [link]{self.api_url}/docs[/]", highlight=False)
        if self.dashboard_url:
            self.console.print(f"dashboard:  [link]{self.dashboard_url}[/]", highlight=False)
            if self.options.open_browser:
                self.open_dashboard()
        self.console.print(
            f"config:     {self.config_path}\nlogs:       {self.folder / API_LOG}"
            + (f", {self.folder / DASHBOARD_LOG}" if self.dashboard else ""),
            highlight=False,
        )

    def cli_args(self, *args: str) -> list[str]:
        """The command line of a ``driftscope`` subcommand, run by this Python."""
        return [sys.executable, "-P", "-m", "driftscope", *args]

    def wait_ready(self) -> None:
        """Poll ``/readyz`` until it answers 200; fail if the API exits or takes too long."""
        assert self.api is not None
        deadline = time.monotonic() + self.options.startup_timeout
        last = "no answer yet"
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not self.api.alive:
                    self._print_log_tail(self.api)
                    raise DemoError(
                        f"the API exited with code {self.api.returncode} while starting "
                        f"(its log: {self.api.log_path})"
                    )
                try:
                    response = client.get(f"{self.api_url}/readyz")
                except httpx.HTTPError:
                    last = "connection refused"
                else:
                    if response.status_code == 200:
                        return
                    last = f"{response.status_code}: {response.text[:200]}"
                time.sleep(0.25)
        self._print_log_tail(self.api)
        raise DemoError(
            f"the API was not ready after {self.options.startup_timeout:g}s "
            f"(/readyz: {last}; its log: {self.api.log_path})"
        )

    def open_dashboard(self) -> None:
        """Open the dashboard in a browser once Streamlit answers (desktops only)."""
        url = self.dashboard_url

        def opener() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self.dashboard and self.dashboard.alive:
                try:
                    httpx.get(f"{url}/_stcore/health", timeout=1.0)
                except httpx.HTTPError:
                    time.sleep(0.5)
                    continue
                webbrowser.open(str(url))
                return

        threading.Thread(target=opener, name="open-dashboard", daemon=True).start()

    # -- 3. traffic ----------------------------------------------------------------------------
    def drive(self) -> DemoSummary:
        """Send the traffic, print alerts as they come, wait for detection, summarise."""
        options = self.options
        plan = TrafficPlan(
            requests=options.requests,
            rate=options.rate,
            drift_after=options.drift_after,
            feedback_every=10,
            seed=options.seed,
            burst=options.burst,
        )
        source = TrafficSource.demo(seed=options.seed)
        self.console.print(
            f"traffic: {options.requests} predictions at {options.rate:g}/s "
            f"(the first {options.burst} at once), labels sent back by id; drift from "
            f"request {options.drift_after + 1} on ({', '.join(source.drift_features)} "
            "shifted and scaled, 35% of labels changed)",
            highlight=False,
        )
        self._start_alert_printer()
        progress = Progress(
            TextColumn("[bold]{task.fields[phase]:<15}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>6} req/s"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        with ApiClient(self.api_url) as client, progress:
            task = progress.add_task("traffic", total=options.requests, phase="warm-up", rate="")
            generator = TrafficGenerator(client, MODEL, source, plan)

            def on_progress(stats: TrafficStats) -> None:
                self.stats = stats  # the alert printer reads it while traffic flows
                elapsed = stats.elapsed
                progress.update(
                    task,
                    completed=stats.sent + stats.failed,
                    phase=stats.phase,
                    rate=f"{stats.sent / elapsed:.0f}" if elapsed > 0.5 else "",
                )
                self._check_api()

            self.stats = generator.run(on_progress)
        self.wait_for_detection()
        return self.summarise()

    def _check_api(self) -> None:
        if self.api is not None and not self.api.alive:
            self._print_log_tail(self.api)
            raise DemoError(f"the API exited with code {self.api.returncode}")

    def wait_for_detection(self) -> None:
        """After the traffic, give the monitor a few more runs to detect the drift, alert,
        and deliver its messages."""
        assert self.watcher is not None and self.stats is not None
        timeout = max(4 * self.options.every, 15.0)
        deadline = time.monotonic() + timeout
        with self.console.status("waiting for the monitor's verdict…"):
            while time.monotonic() < deadline:
                self._check_api()
                if self._verdict_complete():
                    break
                time.sleep(0.5)
        self._flush_alert_printer()

    def _verdict_complete(self) -> bool:
        assert self.watcher is not None and self.stats is not None
        drift_start = self.stats.drift_started_at
        if drift_start is None:
            return True
        detected = any(r.drifted and r.created_at >= drift_start for r in self.watcher.reports())
        fired = self.watcher.firing_keys() > 0
        pending = any(counts.get("pending", 0) for counts in self.watcher.message_counts().values())
        return detected and fired and not pending

    # -- alerts as they fire ---------------------------------------------------------------------
    def _start_alert_printer(self) -> None:
        def loop() -> None:
            while not self._printer_stop.wait(0.5):
                self._print_new_alerts()

        self._printer = threading.Thread(target=loop, name="demo-alerts", daemon=True)
        self._printer.start()

    def _flush_alert_printer(self) -> None:
        self._print_new_alerts()

    def _print_new_alerts(self) -> None:
        if self.watcher is None:
            return
        try:
            events = self.watcher.new_events()
        except Exception as exc:  # the store is busy or gone: try again at the next poll
            self.console.log(f"[dim]could not read alerts: {exc}[/]")
            return
        by_report: dict[str | None, list[AlertEvent]] = {}
        for event in events:
            by_report.setdefault(event.report_id, []).append(event)
        for group in by_report.values():
            at = group[0].at.astimezone().strftime("%H:%M:%S")
            states = Counter(e.to_state for e in group)
            head = ", ".join(f"{n} {s}" for s, n in states.items())
            self.console.print(
                f"[bold]alert[/] {at} {MONITOR}: {head}{self._when(group[0].at)}",
                highlight=False,
            )
            for event in group[:12]:
                self.console.print(f"  {describe_event(event)}", highlight=False)
            if len(group) > 12:
                self.console.print(f"  … and {len(group) - 12} more", highlight=False)

    def _when(self, moment: datetime) -> str:
        """`` (after N predictions, M of them drifted)`` for an alert printed at ``moment``."""
        stats = self.stats
        if stats is None:
            return ""
        answered = stats.answered_before(moment)
        drifted = answered - stats.drift_start if stats.drift_start is not None else 0
        if drifted > 0:
            return f" (after {answered} predictions, {drifted} of them drifted)"
        return f" (after {answered} predictions)"

    # -- 4. summary --------------------------------------------------------------------------------
    def summarise(self) -> DemoSummary:
        """Gather the summary from the traffic stats and the store."""
        assert self.watcher is not None and self.stats is not None
        stats = self.stats
        summary = DemoSummary(
            predictions_sent=stats.sent,
            predictions_failed=stats.failed,
            labels_sent=stats.labels_sent,
            drift_injected_after=stats.drift_start,
            traffic_seconds=round(stats.elapsed, 1),
            api_url=self.api_url,
            dashboard_url=self.dashboard_url,
            folder=str(self.folder),
        )
        reports = self.watcher.reports()
        events = self.watcher.events()
        summary.reports = len(reports)
        drift_start = stats.drift_started_at
        if drift_start is not None:
            summary.false_alarms = sum(
                1 for r in reports if r.drifted and r.created_at < drift_start
            )
            detected = [r for r in reports if r.drifted and r.created_at >= drift_start]
            if detected:
                first = detected[0]
                summary.drift_detected = True
                summary.detected_after_seconds = round(
                    (first.created_at - drift_start).total_seconds(), 1
                )
                summary.detected_after_requests = stats.answered_before(first.created_at) - (
                    stats.drift_start or 0
                )
                summary.drifted_features = sorted(
                    {r.feature or r.kind for r in first.results if r.drifted}
                )
        drift_events = [e for e in events if e.detector != "monitor"]
        summary.alerts_fired = sum(1 for e in drift_events if e.to_state == "firing")
        summary.alerts_resolved = sum(1 for e in drift_events if e.to_state == "resolved")
        summary.alerts_firing_now = self.watcher.firing_keys()
        summary.no_data_alerts = sum(
            1 for e in events if e.detector == "monitor" and e.to_state == "no_data"
        )
        summary.messages = self.watcher.message_counts()
        (self.folder / SUMMARY_NAME).write_text(
            json.dumps(summary.to_dict(), indent=2) + "\n", encoding="utf-8"
        )
        return summary

    def print_summary(self, summary: DemoSummary) -> None:
        """Print the summary table and the verdict."""
        table = Table(title="driftscope demo summary", show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        table.add_row(
            "predictions sent",
            f"{summary.predictions_sent} in {summary.traffic_seconds:g}s"
            + (f" ({summary.predictions_failed} failed)" if summary.predictions_failed else ""),
        )
        table.add_row("labels sent", str(summary.labels_sent))
        table.add_row("drift injected after", f"{summary.drift_injected_after} predictions")
        table.add_row("monitor runs", str(summary.reports))
        if summary.drift_detected:
            table.add_row(
                "drift first detected",
                f"{summary.detected_after_requests} predictions and "
                f"{summary.detected_after_seconds:g}s after it started",
            )
            table.add_row("drifting", ", ".join(summary.drifted_features))
        else:
            table.add_row("drift first detected", "[red]not detected[/]")
        if summary.false_alarms:
            why = (
                " (rows of an earlier run are still in the window: --replace starts afresh)"
                if not self.options.replace
                else ""
            )
            table.add_row("runs flagging drift before it began", f"{summary.false_alarms}{why}")
        table.add_row(
            "alerts fired",
            f"{summary.alerts_fired} (resolved {summary.alerts_resolved}, "
            f"no-data {summary.no_data_alerts}); {summary.alerts_firing_now} firing now",
        )
        delivered = (
            "; ".join(
                f"{name}: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
                for name, counts in summary.messages.items()
            )
            or "no messages"
        )
        table.add_row("alert messages", delivered)
        self.console.print(table)
        if summary.ok:
            self.console.print("[bold green]drift detected and alerted[/]")
        else:
            self.console.print(
                "[bold red]the demo did not see drift detected and alerted[/] "
                f"(see {self.folder / API_LOG})",
                highlight=False,
            )

    def keep_serving(self) -> None:
        """Keep the servers up for exploring until Ctrl-C; alerts keep being printed."""
        self.console.print(
            f"\nthe API ({self.api_url}/docs)"
            + (f" and the dashboard ({self.dashboard_url})" if self.dashboard_url else "")
            + " keep running; try `driftscope simulate --url "
            + self.api_url
            + "` in another terminal. [bold]Ctrl-C[/] stops everything.",
            highlight=False,
        )
        while True:
            self._check_api()
            if self.dashboard is not None and not self.dashboard.alive:
                self.console.print(
                    f"[yellow]the dashboard exited with code {self.dashboard.returncode}[/]"
                )
                self._print_log_tail(self.dashboard)
                self.dashboard = None
            time.sleep(1)

    # -- stopping ----------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop the alert printer, the dashboard, then the API (flushing), close the store."""
        self._printer_stop.set()
        if self._printer is not None:
            self._printer.join(timeout=5)
        for process in reversed(self.processes):
            if process.alive:
                self.console.print(f"stopping the {process.name}…", highlight=False)
            process.stop()
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None

    def _print_log_tail(self, process: ManagedProcess | None) -> None:
        if process is None:
            return
        tail = process.log_tail()
        if tail:
            self.console.print(f"[dim]last lines of {process.log_path}:[/]", highlight=False)
            self.console.print(tail, markup=False, highlight=False)


def run_demo(options: DemoOptions, console: Console | None = None) -> int:
    """Run ``driftscope demo``; return its exit code."""
    return DemoRunner(options, console).run()
