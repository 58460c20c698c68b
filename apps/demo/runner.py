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

This module is the run itself, in that order; its parts live beside it: the options, names
and config in :mod:`~driftscope.apps.demo.options`, the ports and server subprocesses in
:mod:`~driftscope.apps.demo.processes`, reading the store and printing alerts in
:mod:`~driftscope.apps.demo.watching`, and the summary in :mod:`~driftscope.apps.demo.summary`.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import webbrowser
from datetime import UTC, datetime, timedelta
from types import FrameType

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from driftscope.apps.demo.options import (
    API_LOG,
    CONFIG_NAME,
    DASHBOARD_LOG,
    DB_NAME,
    DEFAULT_API_PORT,
    DEFAULT_DASHBOARD_PORT,
    DEMO_FILES,
    HOST,
    MARKER,
    MODEL,
    DemoError,
    DemoOptions,
    demo_config,
)
from driftscope.apps.demo.processes import (
    ManagedProcess,
    child_environment,
    choose_port,
    free_port,
)
from driftscope.apps.demo.simulate import (
    ApiClient,
    SimulationError,
    TrafficGenerator,
    TrafficPlan,
    TrafficSource,
    TrafficStats,
)
from driftscope.apps.demo.summary import DemoSummary, print_summary, summarise
from driftscope.apps.demo.watching import AlertPrinter, StoreWatcher


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
        self.printer: AlertPrinter | None = None

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
            print_summary(self.console, summary, replace=self.options.replace, folder=self.folder)
            code = 0 if summary.ok else 1
            if not self.options.once:
                if self.printer is not None:  # the alerts since the summary's moment, and on
                    self.printer.hold_after(None)
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
                f"training the demo model (breast cancer data, seed {self.options.seed})…"
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
        assert self.watcher is not None
        self.printer = AlertPrinter(self.watcher, self.console, lambda: self.stats)
        self.printer.start()
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
        return summarise(
            self.stats,
            self.watcher,
            api_url=self.api_url,
            dashboard_url=self.dashboard_url,
            folder=self.folder,
            at=self.settled_moment(),
        )

    def settled_moment(self) -> datetime:
        """A moment at which no monitor run was in progress: just before the first run that
        begins from now on. A report is stamped when its run begins, saved when it ends,
        and its alert changes are stamped as they are handled after that; one monitor's
        runs follow each other. So every run stamped before that moment had saved its
        report and handled its alerts by then, and the summary sees each run whole or not
        at all. Gives up after two intervals and 15 s (the summary then says what was
        saved by now)."""
        assert self.watcher is not None
        started = datetime.now(UTC)
        if self.printer is not None:  # nothing after the summary's moment is printed before it
            self.printer.hold_after(started)
        moment = None
        deadline = time.monotonic() + 2 * self.options.every + 15.0
        with self.console.status("waiting for the monitor's run in progress…"):
            while moment is None and time.monotonic() < deadline:
                self._check_api()
                later = [r.created_at for r in self.watcher.reports() if r.created_at > started]
                if later:
                    moment = min(later) - timedelta(microseconds=1)
                else:
                    time.sleep(0.2)
        moment = moment or datetime.now(UTC)
        if self.printer is not None:
            self.printer.hold_after(moment)
            self.printer.print_new()
        return moment

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
        if self.printer is not None:
            self.printer.print_new()

    def _verdict_complete(self) -> bool:
        assert self.watcher is not None and self.stats is not None
        drift_start = self.stats.drift_started_at
        if drift_start is None:
            return True
        detected = any(r.drifted and r.created_at >= drift_start for r in self.watcher.reports())
        fired = self.watcher.firing_keys() > 0
        pending = any(counts.get("pending", 0) for counts in self.watcher.message_counts().values())
        return detected and fired and not pending

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
        if self.printer is not None:
            self.printer.stop()
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
