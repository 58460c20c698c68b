"""``driftscope prune``: delete old predictions, reports and alert history now, or count them.

Registered on the main CLI by ``driftscope.apps.cli.main`` with ``register(app)``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from driftscope.apps.cli.common import ConfigOption, console, fail, get_runtime
from driftscope.core.durations import format_duration, parse_duration


def register(app: typer.Typer) -> None:
    """Add the ``prune`` command to the ``driftscope`` CLI."""
    app.command("prune")(prune)


def prune(
    config: ConfigOption = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="Delete data older than this (30d, 12h, 1w). Default: retention.keep.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would be deleted.")
    ] = False,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size", min=1, help="Rows per delete transaction. Default: retention."
        ),
    ] = None,
) -> None:
    """Delete predictions, reports, alert events and finished outbox messages by age.

    Deletes in batches, each its own short transaction, so a serving API is never locked
    out. With --dry-run nothing is deleted: the counts say what would be.
    """
    from driftscope.core.monitoring.retention import prune_older_than

    keep = _age(older_than)
    runtime = get_runtime(config, load_models=False, create_store=False)
    try:
        retention = runtime.config.retention
        keep = keep or retention.keep
        if keep is None:
            fail("nothing to prune by: pass --older-than (e.g. 30d) or set retention.keep")
        try:
            done = prune_older_than(
                runtime.store,
                keep,
                batch_size=batch_size or retention.batch_size,
                dry_run=dry_run,
            )
        except ValueError as exc:
            fail(str(exc))
    finally:
        runtime.close()
    verb = "would delete" if dry_run else "deleted"
    console.print(
        f"{'dry run: ' if dry_run else ''}data older than {format_duration(keep)} "
        f"(before {done.cutoff:%Y-%m-%d %H:%M:%S} UTC)",
        highlight=False,
    )
    table = Table("what", f"rows {verb}")
    result = done.result
    table.add_row("predictions", str(result.predictions))
    for key, count in sorted(result.details.items()):
        if key.startswith("predictions:"):
            table.add_row(f"  model {key.removeprefix('predictions:')}", str(count))
    table.add_row("reports", str(result.reports))
    table.add_row("alert events", str(result.alert_events))
    table.add_row("outbox messages (sent, failed, muted, given up)", str(result.outbox))
    console.print(table)
    console.print(f"{verb} {done.total} rows in {done.seconds:.2f} s", highlight=False)


def _age(text: str | None) -> timedelta | None:
    if text is None:
        return None
    try:
        age = parse_duration(text)
    except ValueError as exc:
        fail(f"--older-than: {exc}")
    if age <= timedelta(0):
        fail("--older-than must be a positive duration, e.g. 30d")
    return age
