"""``driftscope demo`` and ``driftscope simulate``: thin commands over :mod:`driftscope.apps.demo`.

``register(app)`` adds both commands to the main typer app (``apps/cli/main.py`` calls it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from driftscope.core.config.environment import DeploymentSettings

console = Console()
err = Console(stderr=True)


def demo(
    directory: Annotated[
        Path,
        typer.Option("--dir", help="Working folder for the model, config, database and logs."),
    ] = Path("driftscope-demo"),
    requests: Annotated[
        int,
        typer.Option("--requests", "-n", min=20, help="Predictions to send; drift starts halfway."),
    ] = 2000,
    no_dashboard: Annotated[
        bool, typer.Option("--no-dashboard", help="Do not start the Streamlit dashboard.")
    ] = False,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            show_default=False,
            help="API port (default 8000, or a free one when 8000 is taken).",
        ),
    ] = None,
    dashboard_port: Annotated[
        int | None,
        typer.Option(
            "--dashboard-port",
            min=1,
            max=65535,
            show_default=False,
            help="Dashboard port (default 8501, or a free one when 8501 is taken).",
        ),
    ] = None,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Stop after the summary (exit 0 only if drift was detected and alerted) "
            "instead of keeping the servers up until Ctrl-C.",
        ),
    ] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace/--reuse",
            help="--replace starts from a fresh database and model; --reuse keeps the "
            "folder's database (and its history) from earlier runs.",
        ),
    ] = True,
    rate: Annotated[float, typer.Option("--rate", min=1.0, help="Predictions per second.")] = 30.0,
    every: Annotated[
        float,
        typer.Option("--every", min=0.5, hidden=True, help="Monitor schedule in seconds."),
    ] = 5.0,
    min_samples: Annotated[
        int,
        typer.Option("--min-samples", min=50, hidden=True, help="Rows a window needs."),
    ] = 200,
    browser: Annotated[
        bool | None,
        typer.Option(
            "--browser/--no-browser",
            show_default=False,
            help="Open the dashboard in a browser (default: when a desktop is available).",
        ),
    ] = None,
) -> None:
    """Train a demo model, serve it, drive traffic that drifts halfway, and show the alerts.

    All on this machine (SQLite, no account, no internet); servers stay up until Ctrl-C.
    """
    from driftscope.apps.demo.options import DemoOptions
    from driftscope.apps.demo.runner import run_demo

    if browser is None:
        browser = _has_desktop() and not once
    options = DemoOptions(
        folder=directory,
        requests=requests,
        rate=rate,
        dashboard=not no_dashboard,
        port=port,
        dashboard_port=dashboard_port,
        once=once,
        replace=replace,
        every=every,
        min_samples=min_samples,
        open_browser=browser and not no_dashboard,
    )
    raise typer.Exit(run_demo(options, console))


def _has_desktop() -> bool:
    """Whether a graphical browser can open (never a text browser in this terminal)."""
    if os.name == "nt" or os.uname().sysname == "Darwin":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def simulate(
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            show_default=False,
            help="Base URL of a running driftscope API (default: $DRIFTSCOPE_API_URL).",
        ),
    ] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Model name in the API.")] = (
        "cancer"
    ),
    requests: Annotated[
        int, typer.Option("--requests", "-n", min=1, help="Predictions to send.")
    ] = 1000,
    rate: Annotated[
        float,
        typer.Option("--rate", min=0.0, help="Predictions per second (0: as fast as possible)."),
    ] = 20.0,
    drift_after: Annotated[
        int | None,
        typer.Option(
            "--drift-after",
            min=0,
            show_default=False,
            help="In-distribution predictions before drift starts (default: half; "
            "--requests or more: no drift).",
        ),
    ] = None,
    features: Annotated[
        Path | None,
        typer.Option(
            "--features",
            exists=True,
            dir_okay=False,
            show_default=False,
            help="CSV of rows to draw from (your model's features, and its label column). "
            "Default: the demo model's breast cancer data.",
        ),
    ] = None,
    label: Annotated[
        str,
        typer.Option("--label", help="Label column of the --features CSV (labels sent back)."),
    ] = "label",
    drift_features: Annotated[
        str | None,
        typer.Option(
            "--drift-features",
            show_default=False,
            help="Comma-separated numeric features to shift (default: the first three).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
    feedback: Annotated[
        bool,
        typer.Option("--feedback/--no-feedback", help="Send the true labels back by id."),
    ] = True,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            show_default=False,
            help="API key (default: $DRIFTSCOPE_API_KEY). Never printed.",
        ),
    ] = None,
) -> None:
    """Send simulated predictions (then their labels) to a running API, drifting halfway."""
    from driftscope.apps.demo.simulate import (
        ApiClient,
        SimulationError,
        TrafficGenerator,
        TrafficPlan,
        TrafficSource,
        TrafficStats,
    )

    settings = DeploymentSettings()
    base_url = url or settings.api_url
    key = api_key or (settings.api_key.get_secret_value() if settings.api_key else None)
    try:
        if features is None:
            source = TrafficSource.demo()
        else:
            chosen = (
                [f.strip() for f in drift_features.split(",") if f.strip()]
                if drift_features
                else None
            )
            source = TrafficSource.from_csv(features, label=label, drift_features=chosen)
        plan = TrafficPlan(
            requests=requests,
            rate=rate,
            drift_after=requests // 2 if drift_after is None else drift_after,
            feedback_every=10 if feedback else 0,
            seed=seed,
        )
    except (SimulationError, ValueError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    drift = (
        f"drift from request {plan.drift_start + 1} on ({', '.join(source.drift_features)})"
        if plan.drift_start is not None
        else "no drift"
    )
    console.print(
        f"sending {requests} predictions to {base_url} (model {model}) at "
        + (f"{rate:g}/s" if rate else "full speed")
        + f"; {drift}",
        highlight=False,
    )
    progress = Progress(
        TextColumn("[bold]{task.fields[phase]:<15}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    try:
        with ApiClient(base_url, key) as client, progress:
            task = progress.add_task("traffic", total=requests, phase="in-distribution")

            def on_progress(stats: TrafficStats) -> None:
                progress.update(task, completed=stats.sent + stats.failed, phase=stats.phase)

            stats = TrafficGenerator(client, model, source, plan).run(on_progress)
    except SimulationError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        raise typer.Exit(130) from None
    console.print(
        f"sent {stats.sent} predictions in {stats.elapsed:.1f}s"
        + (f" ({stats.failed} failed)" if stats.failed else "")
        + f", {stats.labels_updated} labels attached"
        + (f", {stats.unknown_ids} label ids unknown to the API" if stats.unknown_ids else ""),
        highlight=False,
    )
    raise typer.Exit(1 if stats.failed else 0)


def register(app: typer.Typer) -> None:
    """Add ``demo`` and ``simulate`` to the ``driftscope`` command line."""
    app.command("demo")(demo)
    app.command("simulate")(simulate)
