"""The alerting commands: ``driftscope alerts``, ``silence add/list/remove``, ``notify-test``.

:func:`register` adds them to the main typer app. Exit codes follow the CLI's: 0 success,
1 a failed action (a test message that was not delivered), 2 bad input.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from driftscope.core.alerting.rules import MONITOR_DETECTOR
from driftscope.core.contracts.comparison import comparison_parts
from driftscope.core.contracts.notifier import (
    AlertChange,
    DeliveryOutcome,
    Notification,
    Notifier,
)
from driftscope.core.contracts.store import AlertEvent, AlertState
from driftscope.core.durations import format_duration
from driftscope.core.plugin_system.manager import unknown_name_message
from driftscope.core.validation import RequestValidationFailed

if TYPE_CHECKING:
    from driftscope.core.runtime import Runtime

GetRuntime = Callable[[Path | None], "Runtime"]
GetNotifiers = Callable[[Path | None], "Mapping[str, Notifier[Any]]"]

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar="DRIFTSCOPE_CONFIG",
        help="YAML config file (default: $DRIFTSCOPE_CONFIG).",
    ),
]

console = Console()
err = Console(stderr=True)

# AlertManager.add_silence names bad values by their API field; the CLI names its options
_SILENCE_FLAGS = {
    "monitor": "--monitor",
    "duration": "--for",
    "reason": "--reason",
    "feature": "--feature",
    "detector": "--detector",
    "created_by": "--by",
}


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _compared(item: AlertState | AlertEvent) -> str:
    """The number the key's decision compared beside its threshold, one part per line."""
    return escape("\n".join(comparison_parts(item)))


def _key(monitor: str, detector: str, feature: str) -> str:
    return (
        f"{monitor} (no data)"
        if detector == MONITOR_DETECTOR
        else f"{monitor}/{detector}/{feature}"
    )


def test_notification(monitor: str = "driftscope-test") -> Notification:
    """The message ``driftscope notify-test`` sends: one firing feature, marked as a test."""
    now = datetime.now(UTC)
    return Notification(
        monitor=monitor,
        model="test-model",
        created_at=now,
        changes=[
            AlertChange(
                detector="psi",
                feature="example_feature",
                from_state="ok",
                to_state="firing",
                statistic=0.31,
                threshold=0.25,
            )
        ],
        window={"start": now.isoformat(), "end": now.isoformat(), "rows": 500},
        test=True,
    )


def register(
    app: typer.Typer, get_runtime: GetRuntime, get_notifiers: GetNotifiers | None = None
) -> None:
    """Add ``alerts``, ``silence add|list|remove`` and ``notify-test`` to ``app``.

    :param get_runtime: Builds a :class:`driftscope.core.runtime.Runtime` from the ``--config`` path
        (``None``: the environment's), exiting 2 on a bad config or a missing database.
    :param get_notifiers: Builds only the configured notifiers, for ``notify-test``, which
        needs no store (it tests a channel before anything is stored). Default: the
        runtime's.
    """

    @contextmanager
    def runtime_for(config: Path | None) -> Iterator[Runtime]:
        runtime = get_runtime(config)
        try:
            yield runtime
        finally:
            runtime.close()

    @app.command("alerts")
    def alerts(
        config: ConfigOption = None,
        monitor: Annotated[
            str | None, typer.Option("--monitor", "-m", help="Only this monitor.")
        ] = None,
        limit: Annotated[int, typer.Option(min=1, help="How many history entries.")] = 20,
    ) -> None:
        """Alerts firing now, recent alert history, and delivery status per notifier."""
        with runtime_for(config) as runtime:
            if monitor is not None:
                _check_monitor(runtime, monitor)
            _print_states(runtime, monitor)
            _print_history(runtime, monitor, limit)
            _print_delivery(runtime)

    silence_app = typer.Typer(help="Mute alerts of a monitor for a while.", no_args_is_help=True)
    app.add_typer(silence_app, name="silence")

    @silence_app.command("add")
    def silence_add(
        monitor: Annotated[str, typer.Option("--monitor", "-m", help="Monitor to mute.")],
        duration: Annotated[str, typer.Option("--for", help="How long, e.g. 30m, 2h, 1d.")],
        reason: Annotated[str, typer.Option("--reason", help="Why (shown in silence list).")],
        feature: Annotated[str | None, typer.Option("--feature", help="Only this feature.")] = None,
        detector: Annotated[
            str | None, typer.Option("--detector", help="Only this detector.")
        ] = None,
        created_by: Annotated[
            str | None, typer.Option("--by", help="Who adds it (default: $USER).")
        ] = None,
        config: ConfigOption = None,
    ) -> None:
        """Mute a monitor's alert changes (optionally one feature or detector)."""
        with runtime_for(config) as runtime:
            _check_monitor(runtime, monitor)
            try:
                silence = runtime.alerts.add_silence(
                    monitor,
                    duration,
                    reason,
                    feature=feature,
                    detector=detector,
                    created_by=created_by or os.environ.get("USER"),
                )
            except RequestValidationFailed as exc:
                _fail("; ".join(f"{_SILENCE_FLAGS[str(p.loc[-1])]}: {p.msg}" for p in exc.problems))
        length = silence.ends_at - silence.starts_at
        console.print(
            f"silence [bold]{silence.id}[/] mutes {monitor}"
            f"{'/' + detector if detector else ''}{'/' + feature if feature else ''}"
            f" until {_when(silence.ends_at)} UTC ({format_duration(length)})",
            highlight=False,
        )

    @silence_app.command("list")
    def silence_list(
        config: ConfigOption = None,
        all_: Annotated[bool, typer.Option("--all", help="Include expired silences.")] = False,
    ) -> None:
        """List active silences (or every saved one with --all)."""
        with runtime_for(config) as runtime:
            silences = runtime.alerts.list_silences(active_only=not all_)
        if not silences:
            console.print("no active silences" if not all_ else "no silences")
            return
        now = datetime.now(UTC)
        table = Table("id", "monitor", "detector", "feature", "until (UTC)", "reason", "by")
        for s in silences:
            until = _when(s.ends_at) + (" (expired)" if s.ends_at <= now else "")
            table.add_row(
                s.id,
                s.monitor,
                s.detector or "*",
                s.feature or "*",
                until,
                s.reason,
                s.created_by or "-",
            )
        console.print(table)

    @silence_app.command("remove")
    def silence_remove(
        silence_id: Annotated[str, typer.Argument(help="The id silence add printed.")],
        config: ConfigOption = None,
    ) -> None:
        """Remove a silence before it ends."""
        with runtime_for(config) as runtime:
            try:
                removed = runtime.alerts.remove_silence(silence_id)
            except RequestValidationFailed as exc:
                _fail(f"silence id: {exc.problems[0].msg}")
        if not removed:
            _fail(f"no silence with id {silence_id!r} (see driftscope silence list)")
        console.print(f"silence {silence_id} removed")

    @app.command("notify-test")
    def notify_test(
        notifier: Annotated[str, typer.Argument(help="The notifier's name in the config.")],
        config: ConfigOption = None,
    ) -> None:
        """Send a test message through a notifier and print what happened."""
        if get_notifiers is None:
            with runtime_for(config) as runtime:
                result = _send_test(runtime.notifiers, notifier)
        else:
            notifiers = get_notifiers(config)
            try:
                result = _send_test(notifiers, notifier)
            finally:
                for each in notifiers.values():
                    each.close()
        if result.delivered:
            ident = f" (message id {result.external_id})" if result.external_id else ""
            console.print(f"[green]delivered[/] through {notifier}{ident}", highlight=False)
            return
        status = f"HTTP {result.status_code}: " if result.status_code else ""
        wait = result.retry_after or 0.0
        hint = {
            DeliveryOutcome.RATE_LIMITED: f"; rate limited, retry after {wait:.1f}s",
            DeliveryOutcome.GONE: "; the endpoint is gone or refuses us: check the notifier's URL",
            DeliveryOutcome.BLOCKED: "; blocked by the receiver, wait some minutes",
        }.get(result.outcome, "")
        err.print(
            f"[bold red]not delivered[/] through {notifier}: {status}{result.error or ''}{hint}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


def _send_test(notifiers: Mapping[str, Notifier[Any]], name: str) -> Any:
    target = notifiers.get(name)
    if target is None:
        _fail(unknown_name_message("notifier", name, notifiers))
    return target.send(test_notification())


def _check_monitor(runtime: Runtime, monitor: str) -> None:
    names = [m.name for m in runtime.config.monitors]
    if monitor not in names:
        _fail(unknown_name_message("monitor", monitor, names))


def _print_states(runtime: Runtime, monitor: str | None) -> None:
    states = [
        s
        for s in runtime.store.list_alert_states()
        if s.state in ("firing", "no_data", "pending") and (monitor is None or s.monitor == monitor)
    ]
    if not states:
        console.print("[green]no alerts firing[/]")
        return
    table = Table("key", "state", "since (UTC)", "value vs threshold", "last notified")
    order = {"firing": 0, "no_data": 1, "pending": 2}
    for s in sorted(states, key=lambda s: (order[s.state], s.monitor, s.detector, s.feature)):
        colour = {"firing": "red", "no_data": "yellow", "pending": "magenta"}[s.state]
        table.add_row(
            _key(s.monitor, s.detector, s.feature),
            f"[{colour}]{s.state}[/]",
            _when(s.changed_at),
            _compared(s),
            _when(s.last_notified_at),
        )
    console.print(table)


def _print_history(runtime: Runtime, monitor: str | None, limit: int) -> None:
    events = runtime.store.list_alert_events(monitor=monitor, limit=limit)
    if not events:
        console.print("no alert history")
        return
    table = Table(
        "at (UTC)", "key", "change", "value vs threshold", "silenced", title="recent changes"
    )
    for e in events:
        table.add_row(
            _when(e.at),
            _key(e.monitor, e.detector, e.feature),
            f"{e.from_state} → {e.to_state}",
            _compared(e),
            "yes" if e.silenced else "",
        )
    console.print(table)


def _print_delivery(runtime: Runtime) -> None:
    health: Any = runtime.delivery.health()
    for name, count in sorted(getattr(health, "elsewhere", {}).items()):
        console.print(
            f"{count} message(s) wait for notifier {escape(name)}, which this config does not "
            "have: the process of the config that has it delivers them (or it was removed)",
            highlight=False,
            soft_wrap=True,
        )
    if not health.notifiers:
        console.print("no notifiers")
        return
    table = Table(
        "notifier",
        "type",
        "pending",
        "retrying",
        "sent",
        "failed",
        "given up",
        "status",
        title="delivery",
    )
    for n in health.notifiers.values():
        if n.disabled:
            status = f"[red]disabled: {escape(str(n.disabled_reason))}[/]"
        elif n.given_up or n.failed:
            status = f"[red]messages lost: {escape(str(n.last_error))}[/]"
        elif n.retrying:
            status = (
                f"[yellow]retrying since {_when(n.oldest_pending_at)}: "
                f"{escape(str(n.last_error))}[/]"
            )
        else:
            status = "[green]ok[/]"
        table.add_row(
            n.name,
            n.type or "?",
            str(n.pending),
            str(n.retrying),
            str(n.sent),
            str(n.failed),
            str(n.given_up),
            status,
        )
    console.print(table)
    _print_waiting(health.messages)


def _print_waiting(messages: list[Any]) -> None:
    """The pending and given-up messages, newest first, each with what it would tell.

    Lines, not a table: error texts are long and would be squeezed into a column.
    """
    if not messages:
        return
    console.print("[bold]pending and given-up messages[/] (newest first)")
    for m in messages:
        colour = "red" if m.status == "given_up" else "yellow"
        nxt = f", next attempt {_when(m.next_attempt_at)}" if m.next_attempt_at else ""
        console.print(
            f"[{colour}]{m.status.replace('_', ' ')}[/] {m.id[:12]} to {escape(m.notifier)} "
            f"about {escape(m.monitor)}: created {_when(m.created_at)} UTC, "
            f"{m.attempts} attempt(s){nxt}",
            highlight=False,
            soft_wrap=True,
        )
        for change in m.changes:
            console.print(f"    {escape(change)}", highlight=False, soft_wrap=True)
        if m.last_error:
            console.print(
                f"    last error: {escape(m.last_error)}", highlight=False, soft_wrap=True
            )
