"""Real folders: a config's relative paths mean "next to the config", whatever folder a
command runs in; commands that read the store never create an empty one; ``driftscope
check`` reports a missing model file, and every problem of a file in one run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import Field, SecretStr
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from driftscope import (
    DeliveryOutcome,
    DeliveryResult,
    Notification,
    Notifier,
    NotifierRecord,
    NotifierSettings,
    hookimpl,
)
from driftscope.core.config.environment import DeploymentSettings
from driftscope.core.config.paths import resolve_sqlite_url
from driftscope.core.config.yaml_file import load_config
from driftscope.core.contracts.store import AlertState, StoreSettings
from driftscope.core.errors import StoreNotFoundError
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from driftscope.plugins.stores.sql import SQLStore

ROOT = Path(__file__).resolve().parents[1]


# -- a third-party notifier with file settings, as the example plugin's jsonl-file has ---------
class ArchiveSettings(NotifierSettings):
    type: Literal["archive"] = "archive"
    path: Path = Field(description="File to append to.")
    copies: list[Path] = Field(default_factory=list)
    url: str = "https://example.invalid/hook"  # a url that is not a database stays as it is


class ArchiveNotifier(Notifier[ArchiveSettings]):
    Settings = ArchiveSettings

    def send(self, notification: Notification) -> DeliveryResult:
        return DeliveryResult(DeliveryOutcome.DELIVERED)


class _ArchivePlugin:
    @hookimpl
    def driftscope_notifiers(self) -> Iterator[NotifierRecord]:
        yield NotifierRecord("archive", ArchiveNotifier)


def records_only(folder: Path, **extra: Any) -> Path:
    """A config in ``folder`` of a model without a file (its predictions come as records),
    with the default store: ``sqlite:///driftscope.db``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ref.csv").write_text("x,p\n1.0,a\n2.0,b\n")
    document: dict[str, Any] = {
        "models": [{"name": "m", "reference": "ref.csv", "prediction_column": "p"}],
        "monitors": [
            {
                "name": "mon",
                "model": "m",
                "window": {"last": "1h", "min_samples": 1},
                "detectors": [{"type": "psi"}],
            }
        ],
        **extra,
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def fire_alerts(store_url: str, count: int) -> None:
    """Put ``count`` firing alert states into the store at ``store_url``."""
    store = SQLStore(StoreSettings(url=SecretStr(store_url)))
    store.open()
    now = datetime.now(UTC)
    states = [
        AlertState("mon", "psi", f"feature_{i}", "firing", 1, 0, now, statistic=0.5, threshold=0.2)
        for i in range(count)
    ]
    store.commit_alert_changes(states, [], [])
    store.close()


def invoke(*args: str) -> Any:
    from driftscope.apps.cli.main import app

    return CliRunner().invoke(app, list(args), terminal_width=250)


# -- 1. every relative path against the config's folder ------------------------------------------
def test_every_relative_path_of_a_config_resolves_against_its_folder(tmp_path, monkeypatch):
    project = tmp_path / "project" / "conf"
    project.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    document = {
        "models": [
            {"name": "a", "path": "models/a.skops", "reference": "../data/ref.csv"},
            {"name": "b", "reference": "~/b.csv", "prediction_column": "p"},
        ],
        "monitors": [
            {
                "name": "mon",
                "model": "a",
                "window": {"last": "1h"},
                "detectors": [{"type": "psi"}],
                "notify": ["archive"],
            }
        ],
        "notifiers": [
            {
                "name": "archive",
                "type": "archive",
                "path": "out/alerts.jsonl",
                "copies": ["../copy.jsonl", "/abs/copy.jsonl"],
            }
        ],
        "store": {"type": "sql", "url": "sqlite:///state/driftscope.db?timeout=5"},
    }
    (project / "c.yaml").write_text(yaml.safe_dump(document))
    plugins = create_plugin_manager(entry_points=False)
    plugins.register(_ArchivePlugin(), "archive-test")
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    config = load_config(Path("../project/conf/c.yaml"), plugins)

    assert config.model("a").path == project / "models/a.skops"
    assert config.model("a").reference == project / "../data/ref.csv"
    assert config.model("b").reference == tmp_path / "home" / "b.csv"
    notifier = config.notifier("archive")
    assert isinstance(notifier, ArchiveSettings)
    assert notifier.path == project / "out/alerts.jsonl"
    assert notifier.copies == [project / "../copy.jsonl", Path("/abs/copy.jsonl")]
    assert notifier.url == "https://example.invalid/hook"
    url = make_url(config.store_settings.url.get_secret_value())  # SQLAlchemy reads it back
    assert url.database == str(project / "state/driftscope.db")
    assert dict(url.query) == {"timeout": "5"}
    assert config.store["url"].get_secret_value() == config.store_settings.url.get_secret_value()


@pytest.mark.parametrize(
    ("url", "database"),
    [
        ("sqlite:///x.db", "{base}/x.db"),
        ("sqlite+pysqlite:///sub/x.db?timeout=3", "{base}/sub/x.db"),
        ("sqlite:///a%20b.db", "{base}/a b.db"),
        ("sqlite:////abs/x.db", "/abs/x.db"),
        ("sqlite://", None),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite:///file:x.db?mode=ro&uri=true", "file:x.db"),
    ],
)
def test_sqlite_urls_resolve_as_sqlalchemy_reads_them(url, database):
    # a folder whose name holds what a URL would read as an escape or as the query's start
    base = Path("/srv/we?ird%20folder")
    resolved = resolve_sqlite_url(url, base)
    expected = None if database is None else database.format(base=base)
    assert make_url(resolved).database == expected
    assert make_url(resolved).query == make_url(url).query


def test_other_store_urls_are_left_alone():
    url = "postgresql://user:secret@db.internal/drift?options=-csearch_path%3Ddrift"
    assert resolve_sqlite_url(url, Path("/elsewhere")) == url


def test_alerts_from_another_folder_read_the_database_next_to_the_config(tmp_path):
    config = records_only(tmp_path / "other" / "dir")
    fire_alerts(f"sqlite:///{tmp_path / 'other' / 'dir' / 'driftscope.db'}", 10)
    cwd = tmp_path / "somewhere-else"
    cwd.mkdir()

    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTSCOPE_")}
    result = subprocess.run(
        [sys.executable, "-P", "-m", "driftscope", "alerts", "-c", "../other/dir/config.yaml"],
        cwd=cwd,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no alerts firing" not in result.stdout
    for i in range(10):
        assert f"mon/psi/feature_{i}" in result.stdout
    assert list(cwd.iterdir()) == []  # no empty database where the command ran
    assert config.exists()


READ_ONLY_COMMANDS = [
    ["alerts"],
    ["silence", "list"],
    ["silence", "add", "-m", "mon", "--for", "1h", "--reason", "deploy"],
    ["deadletter", "list"],
    ["deadletter", "drop", "--all", "--yes"],
    ["prune", "--older-than", "30d", "--dry-run"],
    ["run", "mon"],
]


@pytest.mark.parametrize("command", READ_ONLY_COMMANDS, ids=" ".join)
def test_commands_that_read_the_store_never_create_a_database(tmp_path, monkeypatch, command):
    config = records_only(tmp_path / "project")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("DRIFTSCOPE_STORE_URL", raising=False)

    result = invoke(*command, "-c", str(config))

    assert result.exit_code == 2, result.output
    expected = tmp_path / "project" / "driftscope.db"
    assert f"no SQLite database at {expected}" in result.output
    assert "store.url of" in result.output and str(config) in result.output
    assert not expected.exists()
    assert list(cwd.iterdir()) == []


def test_notify_test_needs_no_database(tmp_path, monkeypatch):
    config = records_only(tmp_path / "project", notifiers=[{"name": "console", "type": "log"}])
    monkeypatch.chdir(tmp_path)
    result = invoke("notify-test", "console", "-c", str(config))
    assert result.exit_code == 0, result.output
    assert "delivered" in result.output
    assert not (tmp_path / "project" / "driftscope.db").exists()
    assert not (tmp_path / "driftscope.db").exists()


def test_a_store_url_from_the_environment_resolves_against_the_current_folder(
    tmp_path, monkeypatch
):
    config_path = records_only(tmp_path / "project")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    settings = DeploymentSettings(store_url=SecretStr("sqlite:///from-env.db"))
    plugins = create_plugin_manager()

    with pytest.raises(StoreNotFoundError) as missing:
        Runtime(
            load_config(config_path, plugins),
            plugins,
            settings,
            load_models=False,
            create_store=False,
        )
    assert f"no SQLite database at {cwd / 'from-env.db'}" in str(missing.value)
    assert "DRIFTSCOPE_STORE_URL" in str(missing.value)

    runtime = Runtime(load_config(config_path, plugins), plugins, settings, load_models=False)
    runtime.close()
    assert (cwd / "from-env.db").is_file()
    assert not (tmp_path / "project" / "from-env.db").exists()


# -- 2. check: missing files, and every problem in one run ---------------------------------------
def test_check_fails_on_a_missing_model_or_reference_file_unless_allowed(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    document = {
        "models": [{"name": "m", "path": "m.skops", "reference": "data/ref.csv", "target": "y"}],
        "monitors": [
            {"name": "mon", "model": "m", "window": {"last": "1h"}, "detectors": [{"type": "ks"}]}
        ],
    }
    config = folder / "c.yaml"
    config.write_text(yaml.safe_dump(document))
    monkeypatch.chdir(tmp_path)

    result = invoke("check", "project/c.yaml")
    assert result.exit_code == 2, result.output
    assert f"models[0].path: file not found: {folder / 'm.skops'}" in result.output
    assert f"models[0].reference: file not found: {folder / 'data/ref.csv'}" in result.output

    allowed = invoke("check", "project/c.yaml", "--allow-missing")
    assert allowed.exit_code == 0, allowed.output
    assert "warning" in allowed.output and str(folder / "m.skops") in allowed.output
    assert f"store: SQLite file {folder / 'driftscope.db'} (not created yet" in allowed.output


def test_check_reports_every_problem_of_the_file_in_one_run(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    document = {
        "models": [{"name": "m", "reference": "missing.csv", "prediction_column": "p"}],
        "monitors": [
            {
                "name": "mon",
                "model": "m",
                "every": "soon",  # not a duration
                "window": {"last": "1h"},
                "detectors": [{"type": "kss"}],  # no such detector
                "notify": ["pager"],  # no such notifier
            }
        ],
    }
    config = folder / "c.yaml"
    config.write_text(yaml.safe_dump(document))

    result = invoke("check", str(config))

    assert result.exit_code == 2, result.output
    assert "monitors[0].every:" in result.output
    assert "monitors[0].detectors[0].type: unknown detector 'kss'. Did you mean" in result.output
    assert "monitors[0].notify[0]: unknown notifier 'pager'" in result.output
    assert f"models[0].reference: file not found: {folder / 'missing.csv'}" in result.output
    assert "4 problem(s)" in result.output


def test_check_accepts_a_config_whose_files_exist_from_any_folder(tmp_path, monkeypatch):
    records_only(tmp_path / "project")
    monkeypatch.chdir(tmp_path)
    result = invoke("check", "project/config.yaml")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
