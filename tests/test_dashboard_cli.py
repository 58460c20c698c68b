"""``driftscope dashboard``: the streamlit command it starts, and its flags over settings."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import driftscope.apps.cli.dashboard as cli_dashboard
from driftscope.apps.cli.dashboard import (
    DashboardNotFoundError,
    dashboard_entry,
    register,
    streamlit_command,
)

REPO = Path(__file__).resolve().parents[1]


def test_the_entry_file_is_found_through_the_import_system() -> None:
    assert dashboard_entry().resolve() == REPO / "apps" / "dashboard" / "app.py"


def test_a_missing_dashboard_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_dashboard, "DASHBOARD_PACKAGE", "apps.no_such_dashboard")
    with pytest.raises(DashboardNotFoundError, match="is not installed"):
        dashboard_entry()


def test_streamlit_command_is_headless_local_and_private() -> None:
    command = streamlit_command(Path("/x/app.py"), 8600, "127.0.0.1")
    # -P: the current folder stays off sys.path, so a user's own apps/ never shadows ours
    assert command[1:6] == ["-P", "-m", "streamlit", "run", "/x/app.py"]
    assert "--server.headless=true" in command
    assert "--browser.gatherUsageStats=false" in command
    assert "--server.address=127.0.0.1" in command
    assert "--server.port=8600" in command


class FakeProcess:
    def __init__(self, code: int) -> None:
        self.code = code
        self.signals: list[int] = []

    def wait(self) -> int:
        return self.code

    def send_signal(self, signum: int) -> None:
        self.signals.append(signum)


class Recorder:
    def __init__(self, code: int = 0) -> None:
        self.code = code
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def __call__(self, command: list[str], env: dict[str, str]) -> FakeProcess:
        self.calls.append((command, env))
        return FakeProcess(self.code)


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command, so typer keeps `dashboard` as a subcommand
        """Unused."""

    return app


def test_flags_override_the_environment(app: typer.Typer, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(cli_dashboard.subprocess, "Popen", recorder)
    monkeypatch.setenv("DRIFTSCOPE_API_URL", "http://env-api:1")
    monkeypatch.setenv("DRIFTSCOPE_DASHBOARD_PORT", "9001")
    result = CliRunner().invoke(
        app, ["dashboard", "--port", "9100", "--api-url", "http://flag-api:2"]
    )
    assert result.exit_code == 0, result.output
    ((command, env),) = recorder.calls
    assert "--server.port=9100" in command
    assert env["DRIFTSCOPE_API_URL"] == "http://flag-api:2"
    assert "http://127.0.0.1:9100" in result.output


def test_settings_apply_without_flags(app: typer.Typer, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(cli_dashboard.subprocess, "Popen", recorder)
    monkeypatch.setenv("DRIFTSCOPE_API_URL", "http://env-api:1")
    monkeypatch.setenv("DRIFTSCOPE_DASHBOARD_PORT", "9001")
    result = CliRunner().invoke(app, ["dashboard"])
    assert result.exit_code == 0, result.output
    ((command, env),) = recorder.calls
    assert "--server.port=9001" in command
    assert "--server.address=127.0.0.1" in command
    assert env["DRIFTSCOPE_API_URL"] == "http://env-api:1"


def test_streamlit_failing_is_passed_on(app: typer.Typer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_dashboard.subprocess, "Popen", Recorder(code=3))
    assert CliRunner().invoke(app, ["dashboard"]).exit_code == 3


@pytest.mark.parametrize("code", [-signal.SIGTERM, -signal.SIGINT, 130])
def test_a_stopped_dashboard_exits_cleanly(
    code: int, app: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_dashboard.subprocess, "Popen", Recorder(code=code))
    assert CliRunner().invoke(app, ["dashboard"]).exit_code == 0


def test_sigterm_stops_streamlit_too(tmp_path: Path) -> None:
    """A real child: SIGTERM to the command reaches streamlit's process."""
    marker = tmp_path / "stopped"
    child = (
        "import signal, sys, time, pathlib\n"
        f"p = pathlib.Path({str(marker)!r})\n"
        "signal.signal(signal.SIGTERM, lambda *a: (p.write_text('yes'), sys.exit(0)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = (
        "import sys\n"
        "from driftscope.apps.cli.dashboard import run_streamlit\n"
        f"sys.exit(run_streamlit([sys.executable, '-c', {child!r}], {{}}))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", parent], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert marker.read_text() == "yes"


def test_a_malformed_password_hash_stops_the_start_with_exit_2(
    app: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(cli_dashboard.subprocess, "Popen", recorder)
    monkeypatch.setenv("DRIFTSCOPE_DASHBOARD_PASSWORD_HASH", "my-password-in-clear")
    result = CliRunner().invoke(app, ["dashboard"], terminal_width=200)
    assert result.exit_code == 2, result.output
    assert "DRIFTSCOPE_DASHBOARD_PASSWORD_HASH: not a driftscope password hash" in result.output
    assert "my-password-in-clear" not in result.output
    assert recorder.calls == []  # streamlit never started


def test_a_public_address_without_a_password_warns(
    app: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(cli_dashboard.subprocess, "Popen", recorder)
    monkeypatch.delenv("DRIFTSCOPE_DASHBOARD_PASSWORD_HASH", raising=False)
    result = CliRunner().invoke(app, ["dashboard", "--address", "0.0.0.0"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "the dashboard on 0.0.0.0 needs a sign-in" in result.output
    local = CliRunner().invoke(app, ["dashboard"], terminal_width=200)
    assert "needs a sign-in" not in local.output
