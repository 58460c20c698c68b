"""``driftscope backfill``: run a monitor over past windows, one report per step.

Registered on the main CLI by ``driftscope.apps.cli.main`` with ``register(app)``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from driftscope.apps.cli.common import ConfigOption, console, fail, get_runtime
from driftscope.core.contracts.report import Report
from driftscope.core.durations import format_duration, parse_duration

if TYPE_CHECKING:
    from driftscope.core.runtime import Runtime

#: more steps than this is almost certainly a typo in --every (1s over a year)
MAX_STEPS = 100_000


def register(app: typer.Typer) -> None:
    """Add the ``backfill`` command to the ``driftscope`` CLI."""
    app.command("backfill")(backfill)


def backfill(
    monitor: Annotated[str, typer.Argument(help="The monitor to run over past windows.")],
    start: Annotated[
        str,
        typer.Option(
            "--from",
            help="End of the first window (ISO 8601; a time without a zone is UTC).",
        ),
    ],
    end: Annotated[
        str | None,
        typer.Option("--to", help="End of the last window at most (ISO 8601). Default: now."),
    ] = None,
    every: Annotated[
        str | None,
        typer.Option(
            "--every",
            help="Step between window ends (1h, 1d). Default: the monitor's own `every`, or "
            "its window length when it runs on a cron.",
        ),
    ] = None,
    alerts: Annotated[
        bool,
        typer.Option(
            "--alerts", help="Let the backfilled reports fire and resolve alerts (default: not)."
        ),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Write one report per step for windows ending at --from, --from + --every, ... up to --to.

    Load past predictions with their timestamps through POST /v1/records first; then this
    shows when the model started to drift. Reports are marked backfilled and fire no alerts
    unless --alerts is given.
    """
    first = _time(start, "--from")
    runtime = get_runtime(config)
    try:
        try:
            monitor_config = runtime.config.monitor(monitor)
        except KeyError:
            names = ", ".join(m.name for m in runtime.config.monitors) or "none"
            fail(f"unknown monitor {monitor!r}; configured monitors: {names}")
        now = runtime.engine.clock()
        last = _time(end, "--to") if end is not None else now
        if last > now:
            fail(f"--to {last.isoformat()} is in the future (now is {now.isoformat()})")
        if first > last:
            fail(f"--from {first.isoformat()} is after --to {last.isoformat()}")
        step = _step(every, monitor_config.every or monitor_config.window.last)
        steps = int((last - first) / step) + 1
        if steps > MAX_STEPS:
            fail(
                f"{steps:,} steps of {format_duration(step)} from --from to --to; at most "
                f"{MAX_STEPS:,}: pass a longer --every"
            )
        reports = _run(runtime, monitor_config.name, first, step, steps, alerts=alerts)
    finally:
        runtime.close()
    _summary(monitor_config.name, reports, step, alerts=alerts)


def _time(value: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f"{option} {value!r} is not an ISO 8601 time (e.g. 2026-11-01T00:00:00Z)")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _step(every: str | None, default: timedelta) -> timedelta:
    if every is None:
        return default
    try:
        step = parse_duration(every)
    except ValueError as exc:
        fail(f"--every: {exc}")
    if step <= timedelta(0):
        fail(f"--every must be positive, got {every!r}")
    return step


def _run(
    runtime: Runtime, monitor: str, first: datetime, step: timedelta, steps: int, *, alerts: bool
) -> list[Report]:
    reports: list[Report] = []
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"backfilling {monitor}", total=steps)
        for index in range(steps):
            at = first + index * step
            reports.append(runtime.backfill_monitor(monitor, at, alerts=alerts))
            progress.update(task, advance=1, description=f"{monitor} at {at:%Y-%m-%d %H:%M}")
    return reports


def _summary(monitor: str, reports: list[Report], step: timedelta, *, alerts: bool) -> None:
    table = Table("window end (UTC)", "rows", "status", "drifted", "what drifted")
    for report in reports:
        drifted = sorted(
            {r.feature or r.kind for r in report.results if r.drifted and r.status == "ok"}
        )
        table.add_row(
            f"{report.window.end:%Y-%m-%d %H:%M:%S}",
            f"{report.window.rows:,}",
            report.status,
            "yes" if report.drifted else "no",
            ", ".join(drifted) or "-",
        )
    console.print(table)
    first = next((r for r in reports if r.drifted), None)
    when = (
        f"first drifted window ends {first.window.end:%Y-%m-%d %H:%M:%S} UTC"
        if first
        else ("no window drifted")
    )
    console.print(
        f"{len(reports)} backfilled report(s) of {monitor} every {format_duration(step)}; "
        f"{when}; alerts {'evaluated' if alerts else 'not evaluated (pass --alerts)'}",
        highlight=False,
    )
