"""``driftscope serve``: run the HTTP API (and the monitor scheduler) with uvicorn.

core never imports apps: uvicorn loads the app by import string, as a factory, in each
worker process. Each flag overrides its ``DRIFTSCOPE_*`` setting by setting that variable,
which the workers inherit and ``create_app()`` reads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

APP_FACTORY = "driftscope.apps.api.main:create_app"


def serve(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML config file (default: $DRIFTSCOPE_CONFIG)."),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(help="Address to bind (default: $DRIFTSCOPE_API_HOST or 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port (default: $DRIFTSCOPE_API_PORT or 8000)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes (default: $DRIFTSCOPE_WORKERS or 1). Each runs the "
            "scheduler; a lease in the store runs each monitor tick once.",
        ),
    ] = None,
    no_scheduler: Annotated[
        bool,
        typer.Option("--no-scheduler", help="Serve only; run monitors elsewhere."),
    ] = False,
) -> None:
    """Serve the configured models over HTTP, log predictions, and run the monitors."""
    import uvicorn

    from driftscope.apps.cli.common import (
        check_files,
        config_path,
        configure_logging,
        err,
        fail,
        print_config_error,
    )
    from driftscope.core.config.environment import DeploymentSettings
    from driftscope.core.config.yaml_file import load_config
    from driftscope.core.errors import ConfigError
    from driftscope.core.plugin_system.manager import create_plugin_manager

    overrides = {
        "DRIFTSCOPE_CONFIG": str(config_path(config).resolve()),
        "DRIFTSCOPE_API_HOST": host,
        "DRIFTSCOPE_API_PORT": None if port is None else str(port),
        "DRIFTSCOPE_WORKERS": None if workers is None else str(workers),
        "DRIFTSCOPE_SCHEDULER": "false" if no_scheduler else None,
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[name] = value
    try:
        settings = DeploymentSettings()
    except Exception as exc:
        fail(f"invalid DRIFTSCOPE_* setting: {exc}")
    configure_logging(settings.log_level)
    from driftscope.core.auth import ApiKeyError, ApiKeyring

    try:
        keyring = ApiKeyring.from_settings(settings)
    except ApiKeyError as exc:
        fail(str(exc))
    if not keyring.enabled and settings.api_host not in ("127.0.0.1", "localhost", "::1"):
        err.print(
            f"[yellow]warning:[/] the API on {settings.api_host} has no API key: anyone who "
            "reaches it can use every endpoint. Set DRIFTSCOPE_API_KEY or "
            "DRIFTSCOPE_{ADMIN,WRITE,READ}_KEYS.",
            highlight=False,
            soft_wrap=True,
        )

    # fail here, with every problem listed, rather than in each worker's start-up
    assert settings.config is not None
    try:
        parsed = load_config(settings.config, create_plugin_manager(), require_files=True)
    except ConfigError as exc:
        print_config_error(exc)
        raise typer.Exit(2) from None
    problems, _ = check_files(parsed)
    if problems:
        print_config_error(ConfigError(problems, str(settings.config)))
        raise typer.Exit(2)

    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=settings.api_host,
        port=settings.api_port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
        timeout_graceful_shutdown=30,
    )


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the driftscope CLI."""
    app.command("serve")(serve)
