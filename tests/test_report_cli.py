"""``driftscope report RUN_ID --html FILE``: one run of the configured store as an HTML file,
and a located error (exit 2) for a run that is not there or a file that cannot be written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from driftscope.core.config.yaml_file import load_config
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from support.factories import demo_model, log_traffic, write_config
from support.report_html import ReportDocument

runner = CliRunner()


def invoke(*args: str) -> Any:
    from driftscope.apps.cli.main import app

    return runner.invoke(app, list(args), terminal_width=250)


@pytest.fixture(scope="module")
def run(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A config and the id of one real run of its monitor over drifted traffic."""
    folder = tmp_path_factory.mktemp("report-cli")
    config = write_config(folder, f"sqlite:///{folder / 'store.db'}", model_folder=demo_dir)
    runtime = Runtime(load_config(config, create_plugin_manager()), create_plugin_manager())
    try:
        log_traffic(runtime.store, runtime.models["cancer"], demo_model(demo_dir), drift=True)
        return config, runtime.run_monitor("cancer-drift").id
    finally:
        runtime.close()


def test_report_writes_the_run_as_one_html_file(run: tuple[Path, str], tmp_path: Path) -> None:
    config, run_id = run
    target = tmp_path / "shared" / "run.html"
    target.parent.mkdir()
    result = invoke("report", run_id, "--html", str(target), "-c", str(config))
    assert result.exit_code == 0, result.output
    assert f"wrote {target}" in result.output
    assert f"run {run_id} of monitor cancer-drift" in result.output
    page = ReportDocument(target.read_text(encoding="utf-8"))
    assert f"Run {run_id}" in page.text
    assert "mean radius" in [cells[0].text for cells in page.tables["columns"].rows]
    assert "schedule every 1h" in page.text  # the monitor's settings, from the config
    assert os.listdir(target.parent) == ["run.html"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # shareable, as a new file is


def test_report_to_standard_output(run: tuple[Path, str]) -> None:
    config, run_id = run
    result = invoke("report", run_id, "--html", "-", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<!DOCTYPE html>") and f"Run {run_id}" in result.stdout


def test_an_unknown_run_is_exit_2_naming_it_the_store_and_the_newest_runs(
    run: tuple[Path, str], tmp_path: Path
) -> None:
    config, run_id = run
    target = tmp_path / "x.html"
    result = invoke("report", "0123abc", "--html", str(target), "-c", str(config))
    assert result.exit_code == 2
    assert f"no run '0123abc' in the store of {config}" in result.output
    assert run_id in result.output  # the newest runs, to pick from
    assert not target.exists()


@pytest.mark.parametrize(
    ("run_id", "message"),
    [("a" * 65, "at most 64 characters, got 65"), ("a\x00b", "must not contain NUL")],
)
def test_a_run_id_no_store_can_hold_is_exit_2(
    run: tuple[Path, str], tmp_path: Path, run_id: str, message: str
) -> None:
    config, _ = run
    result = invoke("report", run_id, "--html", str(tmp_path / "x.html"), "-c", str(config))
    assert result.exit_code == 2
    assert "run id" in result.output and message in result.output


def test_a_file_that_cannot_be_written_is_exit_2_naming_it(
    run: tuple[Path, str], tmp_path: Path
) -> None:
    config, run_id = run
    missing = tmp_path / "no" / "such" / "folder" / "run.html"
    result = invoke("report", run_id, "--html", str(missing), "-c", str(config))
    assert result.exit_code == 2
    assert f"cannot write {missing}: the folder {missing.parent} does not exist" in result.output

    result = invoke("report", run_id, "--html", str(tmp_path), "-c", str(config))
    assert result.exit_code == 2
    assert f"cannot write {tmp_path}: it is a folder" in result.output

    # a folder nobody may create files in, root included
    refused = Path("/sys/driftscope-report.html")
    result = invoke("report", run_id, "--html", str(refused), "-c", str(config))
    assert result.exit_code == 2, result.output
    assert f"cannot write {refused}: " in result.output
