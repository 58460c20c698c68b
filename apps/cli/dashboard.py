"""``driftscope dashboard``: start the Streamlit dashboard in a subprocess.

core never imports apps: the dashboard's entry file is found through the import system
(``importlib.util.find_spec("driftscope.apps.dashboard")``) and handed to ``streamlit run``
as a path, the way ``streamlit run`` expects it. The dashboard reads the API over HTTP, so the only
settings it needs are where the API is (``DRIFTSCOPE_API_URL``) and its key.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from driftscope.core.config.environment import DeploymentSettings

DASHBOARD_PACKAGE = "driftscope.apps.dashboard"
ENTRY_FILE = "app.py"
THEME = {
    "theme.primaryColor": "#3b6fd8",
    "theme.base": "light",
}


PASSWORD_HASH_VARIABLE = "DRIFTSCOPE_DASHBOARD_PASSWORD_HASH"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class DashboardNotFoundError(RuntimeError):
    """The dashboard's entry file is not installed next to core."""


def dashboard_entry() -> Path:
    """The path of ``apps/dashboard/app.py`` as installed.

    :raises DashboardNotFoundError: when the ``driftscope.apps.dashboard`` package or its entry file
        cannot be found.
    """
    try:
        spec = importlib.util.find_spec(DASHBOARD_PACKAGE)
    except ModuleNotFoundError:
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        entry = Path(folder) / ENTRY_FILE
        if entry.is_file():
            return entry
    raise DashboardNotFoundError(
        f"the dashboard ({DASHBOARD_PACKAGE.replace('.', '/')}/{ENTRY_FILE}) is not installed; "
        "install driftscope with its apps (pip install driftscope)"
    )


def streamlit_command(entry: Path, port: int, address: str) -> list[str]:
    """The ``streamlit run`` command line: headless, no usage statistics, bound to
    ``address``:``port``, with driftscope's theme and the viewer toolbar."""
    options = {
        "server.headless": "true",
        "server.port": str(port),
        "server.address": address,
        "browser.gatherUsageStats": "false",
        "client.toolbarMode": "viewer",
        **THEME,
    }
    command = [sys.executable, "-P", "-m", "streamlit", "run", str(entry)]
    for name, value in options.items():
        command.append(f"--{name}={value}")
    return command


def register(app: typer.Typer) -> None:
    """Add the ``dashboard`` command to the driftscope CLI."""

    @app.command()
    def dashboard(
        port: Annotated[
            int | None,
            typer.Option(
                "--port", "-p", min=1, max=65535, help="Port (default: $DRIFTSCOPE_DASHBOARD_PORT)."
            ),
        ] = None,
        api_url: Annotated[
            str | None,
            typer.Option("--api-url", help="Where the API is (default: $DRIFTSCOPE_API_URL)."),
        ] = None,
        address: Annotated[
            str,
            typer.Option("--address", help="Address to bind; 0.0.0.0 serves every interface."),
        ] = "127.0.0.1",
    ) -> None:
        """Start the Streamlit dashboard; it reads everything from the driftscope API."""
        from driftscope.apps.cli.common import err, fail

        settings = DeploymentSettings()
        try:
            entry = dashboard_entry()
        except DashboardNotFoundError as exc:
            fail(str(exc))
        stored_hash = os.environ.get(PASSWORD_HASH_VARIABLE, "").strip()
        if stored_hash:
            from driftscope.core.auth import PasswordHash, PasswordHashError

            try:
                PasswordHash.parse(stored_hash)
            except PasswordHashError as exc:
                fail(f"{PASSWORD_HASH_VARIABLE}: {exc}")
        elif address not in LOOPBACK:
            # the app itself then shows no data unless .streamlit/secrets.toml has [auth]
            err.print(
                f"[yellow]warning:[/] the dashboard on {address} needs a sign-in: set "
                f"{PASSWORD_HASH_VARIABLE} (driftscope hash-password) or configure [auth] in "
                ".streamlit/secrets.toml; until then it shows no data",
                highlight=False,
                soft_wrap=True,
            )
        env = dict(os.environ)
        url = api_url or settings.api_url
        env["DRIFTSCOPE_API_URL"] = url
        chosen_port = port or settings.dashboard_port
        env["DRIFTSCOPE_DASHBOARD_PORT"] = str(chosen_port)
        typer.echo(
            f"driftscope dashboard on http://{address}:{chosen_port} reading the API at {url}"
        )
        command = streamlit_command(entry, chosen_port, address)
        raise typer.Exit(run_streamlit(command, env))


def run_streamlit(command: list[str], env: dict[str, str]) -> int:
    """Run streamlit until it exits and return its exit code (0 after Ctrl-C or SIGTERM).

    SIGTERM is passed on to streamlit, so stopping ``driftscope dashboard`` stops the
    dashboard too; Ctrl-C reaches both through the terminal and is waited out.
    """
    process = subprocess.Popen(command, env=env)

    def forward(signum: int, _frame: object) -> None:
        process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                code = process.wait()
                break
            except KeyboardInterrupt:
                process.send_signal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0 if code in (0, -signal.SIGINT, -signal.SIGTERM, 130, 143) else code
