"""The command line: check, run (with its exit codes), scheduler."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from driftscope.core.config.yaml_file import load_config
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from support.api_helpers import ServerProcess, free_port
from support.factories import demo_model, hostile_skops, log_traffic, write_config

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def invoke(*args: str):
    from driftscope.apps.cli.main import app

    return runner.invoke(app, list(args), terminal_width=250)


def test_check_accepts_the_shipped_configs():
    # the demo trains the model files they name; CI has not run it, hence --allow-missing
    for name in ("demo.yaml", "example.yaml"):
        result = invoke("check", str(ROOT / "configs" / name), "--allow-missing")
        assert result.exit_code == 0, result.output
        assert "monitor cancer-drift" in result.output


def test_check_prints_every_problem_with_its_location(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "models": [{"name": "m", "reference": "r.csv", "prediction_column": "p"}],
                "monitors": [
                    {
                        "name": "x",
                        "model": "m",
                        "window": {"last": "1h"},
                        "detectors": [
                            {"type": "psi"},
                            {"type": "psi", "threshold": -1},
                            {"type": "kss"},
                        ],
                    }
                ],
            }
        )
    )
    result = invoke("check", str(path))
    assert result.exit_code == 2
    assert "monitors[0].detectors[1].threshold" in result.output
    assert (
        "monitors[0].detectors[2].type: unknown detector 'kss'. Did you mean 'ks'?" in result.output
    )


def test_check_loads_existing_models_and_checks_features(tmp_path, sqlite_url):
    path = write_config(tmp_path, sqlite_url, monitor={"features": ["mean radius", "no such"]})
    result = invoke("check", str(path))
    assert result.exit_code == 2
    assert "monitors[0].features[1]: model 'cancer' has no feature 'no such'" in result.output


def test_run_exits_1_on_drift_0_without_and_2_for_an_unknown_monitor(tmp_path, sqlite_url):
    path = write_config(tmp_path, sqlite_url)
    runtime = Runtime(load_config(path, create_plugin_manager()), create_plugin_manager())
    log_traffic(runtime.store, runtime.models["cancer"], demo_model(tmp_path), drift=False)
    runtime.close()

    # held-out rows of the reference's population, at the thresholds the README documents
    stable = invoke("run", "cancer-drift", "--config", str(path))
    assert stable.exit_code == 0, stable.output
    assert "398 rows, 114 labelled" in stable.output
    assert "DRIFT" not in stable.output and "no drift" in stable.output

    runtime = Runtime(load_config(path, create_plugin_manager()), create_plugin_manager())
    log_traffic(runtime.store, runtime.models["cancer"], demo_model(tmp_path), drift=True, seed=1)
    runtime.close()
    drifted = invoke("run", "cancer-drift", "--config", str(path))
    assert drifted.exit_code == 1, drifted.output
    assert "drift found:" in drifted.output and "mean radius" in drifted.output

    unknown = invoke("run", "cancer-drfit", "--config", str(path))
    assert unknown.exit_code == 2
    assert "Did you mean 'cancer-drift'?" in unknown.output


def test_run_without_a_config_is_a_usage_error(monkeypatch):
    monkeypatch.delenv("DRIFTSCOPE_CONFIG", raising=False)
    result = invoke("run", "x")
    assert result.exit_code == 2
    assert "no config file" in result.output


def test_scheduler_runs_monitors_and_stops_on_sigterm(tmp_path, sqlite_url):
    path = write_config(tmp_path, sqlite_url, monitor={"every": "1s"})
    env = {**os.environ, "DRIFTSCOPE_CONFIG": str(path)}
    process = subprocess.Popen(
        [sys.executable, "-P", "-m", "driftscope", "scheduler"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        runtime = Runtime(load_config(path, create_plugin_manager()), create_plugin_manager())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(runtime.store.list_reports("cancer-drift")) < 2:
            time.sleep(0.3)
        reports = runtime.store.list_reports("cancer-drift")
        runtime.close()
        assert len(reports) >= 2
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "stopped after" in output


def _hostile_configs(tmp_path: Path, sqlite_url: str) -> list[tuple[str, Path, Path]]:
    """(the callable, a config whose model file calls it at load, the marker it would write)
    for builtins.exec, builtins.eval and os.system."""
    demo = demo_model(tmp_path)
    cases = []
    for i, call in enumerate(("builtins.exec", "builtins.eval", "os.system")):
        folder = tmp_path / f"hostile{i}"
        folder.mkdir()
        marker = folder / "payload-ran"
        code = f"open({str(marker)!r}, 'w').write('ran')"
        argument = f"touch {shlex.quote(str(marker))}" if call == "os.system" else code
        model = hostile_skops(demo.model_path, folder / "model.skops", call, [argument])
        path = write_config(folder, sqlite_url, model_folder=tmp_path)
        document = yaml.safe_load(path.read_text())
        document["models"][0]["path"] = str(model)
        path.write_text(yaml.safe_dump(document))
        cases.append((call, path, marker))
    return cases


def test_check_and_run_refuse_a_model_file_that_runs_code(tmp_path, sqlite_url):
    for call, path, marker in _hostile_configs(tmp_path, sqlite_url):
        checked = invoke("check", str(path))
        assert checked.exit_code == 2, checked.output
        assert (
            f"models[0]: model 'cancer': model.skops contains types that are not trusted: {call}"
            in checked.output
        )
        ran = invoke("run", "cancer-drift", "--config", str(path))
        assert ran.exit_code == 2, ran.output
        assert f"not trusted: {call}" in ran.output
        assert not marker.exists()


@pytest.mark.slow
def test_serve_refuses_a_model_file_that_runs_code(tmp_path, sqlite_url):
    cases = _hostile_configs(tmp_path, sqlite_url)
    for call, path, marker in cases:
        served = subprocess.run(
            [
                sys.executable,
                "-m",
                "driftscope.apps.cli.main",
                "serve",
                "--config",
                str(path),
                "--port",
                str(free_port()),
            ],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert served.returncode == 2, served.stderr
        assert f"not trusted: {call}" in served.stderr
        assert not marker.exists()

    # each uvicorn worker loads the models again at start-up, and refuses the file too
    call, path, marker = cases[0]
    log = tmp_path / "worker.log"
    server = ServerProcess({"DRIFTSCOPE_CONFIG": str(path)}, log_path=log)
    with pytest.raises(RuntimeError, match="the server exited"):
        server.start()
    server.stop()
    assert f"not trusted: {call}" in log.read_text()
    assert not marker.exists()


def test_check_refuses_an_alias_bomb_with_its_location_and_exit_2(tmp_path):
    lines = ["models: [{name: m, reference: r.csv, prediction_column: p}]", "a0: &a0 [x, x, x, x]"]
    for level in range(1, 16):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 4) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    result = invoke("check", str(path))
    assert result.exit_code == 2, result.output
    # a0 weighs 1 + 4 * 2 = 9 and a_k 1 + 4 * a_(k-1): a9 (2,446,677) is the first over
    # 2 MiB, on line 11 with its anchor at column 5
    assert "line 11, column 5: this value expands to more than 2097152" in result.output
