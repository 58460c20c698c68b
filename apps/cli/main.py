"""The ``driftscope`` command line.

Exit codes: 0 success; 1 drift found (``driftscope run``) or a failed action; 2 bad input
(an invalid config, an unknown name, a missing file), with a message saying what and where.
"""

from __future__ import annotations

import hmac
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from driftscope.apps.cli.common import (
    ConfigOption,
    check_files,
    configure_logging,
    console,
    err,
    fail,
    get_notifiers,
    get_runtime,
    print_config_error,
)
from driftscope.core.config.environment import DeploymentSettings
from driftscope.core.config.paths import sqlite_file
from driftscope.core.config.yaml_file import DriftscopeConfig, load_config
from driftscope.core.contracts.comparison import comparison_parts
from driftscope.core.contracts.report import Report
from driftscope.core.durations import format_duration
from driftscope.core.errors import ConfigError
from driftscope.core.plugin_system.manager import create_plugin_manager

app = typer.Typer(
    name="driftscope",
    help="Serve ML models, log every prediction, detect drift and alert on it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def check(
    config: Annotated[Path, typer.Argument(help="The YAML config file to check.")],
    allow_missing: Annotated[
        bool,
        typer.Option(
            "--allow-missing",
            help="Warn about a model file or reference CSV that does not exist yet instead "
            "of failing (for CI that builds them later).",
        ),
    ] = False,
) -> None:
    """Validate a config file; print every problem with its location (exit 2) or a summary.

    Relative paths in the file are relative to the file's folder; the summary shows each
    one resolved.
    """
    plugins = create_plugin_manager()
    try:
        parsed = load_config(config, plugins, require_files=not allow_missing)
    except ConfigError as exc:
        print_config_error(exc)
        raise typer.Exit(2) from None
    problems, warnings = check_files(parsed)
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    if problems:
        print_config_error(ConfigError(problems, str(config)))
        raise typer.Exit(2)
    console.print(f"[green]ok[/] {config}", highlight=False)
    for line in _summary(parsed):
        console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)


def _summary(config: DriftscopeConfig) -> list[str]:
    lines = []
    for model in config.models:
        where = model.path.resolve() if model.path else "(records only)"
        lines.append(f"model {model.name}: {where}")
    for monitor in config.monitors:
        schedule = (
            f"every {format_duration(monitor.every)}" if monitor.every else f"cron {monitor.cron}"
        )
        detectors = ", ".join(d.type for d in monitor.detector_settings)
        notify = ", ".join(monitor.notify) or "log"
        lines.append(
            f"monitor {monitor.name}: model {monitor.model}, {schedule}, "
            f"window {format_duration(monitor.window.last)}, detectors [{detectors}], "
            f"notify [{notify}]"
        )
    lines.extend(f"notifier {n.name}: {n.type}" for n in config.notifier_settings)
    database = sqlite_file(config.store_settings.url.get_secret_value())
    if database is not None:
        state = "" if database.exists() else " (not created yet: `driftscope serve` creates it)"
        lines.append(f"store: SQLite file {database}{state}")
    else:
        lines.append(f"store: {config.store_settings.type}")
    return lines


@app.command()
def plugins() -> None:
    """List every plugin, where it comes from, and what it registers."""
    manager = create_plugin_manager()
    # one block a plugin rather than a table: module names are long, terminals are not
    for info in manager.plugin_infos():
        registers = "; ".join(
            f"{kind}s: {', '.join(names)}" for kind, names in info.components.items()
        )
        if info.error:
            registers = f"[red]failed to load: {escape(info.error)}[/]"
        console.print(f"[bold]{escape(info.name)}[/]  [dim]{escape(info.source)}[/]")
        console.print(f"    {registers or '(event hooks only)'}", soft_wrap=True)


@app.command()
def run(
    monitor: Annotated[str, typer.Argument(help="Name of the monitor to run.")],
    config: ConfigOption = None,
) -> None:
    """Run one monitor now and print its report; exit 1 when drift is found."""
    runtime = get_runtime(config, create_store=False)
    try:
        try:
            runtime.config.monitor(monitor)
        except KeyError:
            from driftscope.core.plugin_system.manager import unknown_name_message

            fail(
                unknown_name_message("monitor", monitor, [m.name for m in runtime.config.monitors])
            )
        report = runtime.run_monitor(monitor)
        print_report(report)
        runtime.delivery.run_once()
    finally:
        runtime.close()
    raise typer.Exit(1 if report.drifted else 0)


def print_report(report: Report) -> None:
    """Print a report as a table."""
    window = report.window
    console.print(
        f"[bold]{report.monitor}[/] (model {report.model}) report {report.id}\n"
        f"window {window.start:%Y-%m-%d %H:%M:%S} to {window.end:%Y-%m-%d %H:%M:%S} UTC: "
        f"{window.rows} rows, {window.labelled_rows} labelled"
        + (f", sampled {window.sampled_rows}" if window.sampled_rows else ""),
        highlight=False,
    )
    if report.status == "waiting_for_predictions":
        console.print(
            f"waiting for the first predictions of model {escape(report.model)}: no drift "
            "checked (and no no_data alert until traffic has been seen)",
            highlight=False,
        )
        return
    if report.status == "insufficient_data":
        console.print("[yellow]not enough data in the window: no drift checked[/]")
        return
    table = Table("kind", "feature", "detector", "value vs threshold", "status", "drift")
    for r in report.results:
        table.add_row(
            r.kind,
            escape(r.feature or "-"),
            r.detector,
            escape("\n".join(comparison_parts(r))),
            escape(r.status if not r.error else f"{r.status}: {r.error}"),
            "[bold red]DRIFT[/]" if r.drifted else "[green]ok[/]",
        )
    console.print(table)
    drifted = sorted({r.feature or r.kind for r in report.results if r.drifted})
    console.print(
        f"[bold red]drift found:[/] {', '.join(drifted)}" if drifted else "[green]no drift[/]",
        highlight=False,
    )


@app.command("hash-password")
def hash_password_command(
    stdin: Annotated[
        bool,
        typer.Option(
            "--stdin", help="Read the password from the first line of standard input (scripts)."
        ),
    ] = False,
) -> None:
    """Print the hash of a dashboard password for DRIFTSCOPE_DASHBOARD_PASSWORD_HASH.

    The password is asked for twice without echo (or read from stdin with --stdin), never
    taken as an argument, so it stays out of shell history and process lists.
    """
    import sys

    from driftscope.core.auth import hash_password

    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, err=True)
        again = typer.prompt("Again", hide_input=True, err=True)
        if not hmac.compare_digest(password.encode(), again.encode()):
            fail("the two passwords differ")
    try:
        hashed = hash_password(password)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(hashed)


@app.command()
def scheduler(config: ConfigOption = None) -> None:
    """Run every monitor on its schedule in the foreground; stop with Ctrl-C or SIGTERM."""
    settings = DeploymentSettings()
    configure_logging(settings.log_level)
    runtime = get_runtime(config)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    loop = runtime.make_scheduler()
    loop.start()
    runtime.delivery.start()
    console.print(f"scheduler running {len(runtime.config.monitors)} monitors; Ctrl-C stops it")
    try:
        stop.wait()
    finally:
        loop.stop(wait=True)
        runtime.close()
    console.print(f"stopped after {loop.runs} runs")


def _register_commands() -> None:
    from driftscope.apps.cli import (
        alerts,
        backfill,
        dashboard,
        deadletter,
        demo,
        prune,
        report,
        serve,
    )

    # these commands read (or add to) what a server stored: they never create a database
    alerts.register(
        app,
        lambda path: get_runtime(path, load_models=False, create_store=False),
        get_notifiers,
    )
    serve.register(app)
    dashboard.register(app)
    demo.register(app)
    prune.register(app)
    deadletter.register(app)
    backfill.register(app)
    report.register(app)


_register_commands()


def main() -> None:
    """Entry point of the ``driftscope`` console script."""
    app()


if __name__ == "__main__":
    main()
