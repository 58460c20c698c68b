"""The outside plugin in examples/ works as a user would use it.

It is installed into a temporary virtual environment (which sees driftscope through
``--system-site-packages``) and driven there through the ``driftscope`` CLI from a YAML
config that names its detector and notifier: ``plugins`` lists it, ``check`` accepts the
config, and ``run`` finds the drift and delivers the alert through the plugin's notifier.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from driftscope.core.config.yaml_file import load_config
from driftscope.core.errors import ConfigError
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from support.factories import demo_model, log_traffic, write_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "driftscope-example-plugin"
DRIFTING = {"mean radius", "mean texture", "mean perimeter", "radius error", "texture error"}

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTSCOPE_")}
    env["COLUMNS"] = "250"
    return env


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the example plugin installed as its own distribution (its dist-info and
    entry points), put on PYTHONPATH beside this environment's driftscope."""
    target = tmp_path_factory.mktemp("site")
    # build from a copy, so setuptools' build/ and egg-info stay out of the repository
    source = tmp_path_factory.mktemp("example") / EXAMPLE.name
    shutil.copytree(
        EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            "--disable-pip-version-check",
            "--no-input",
            str(source),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=240,
    )
    assert install.returncode == 0, (
        "pip could not install the example plugin (building it with --no-build-isolation "
        "needs setuptools>=70.1, from the test extra):\n" + install.stdout + install.stderr
    )
    return target


def driftscope(plugin_path: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the driftscope CLI with the example plugin installed beside it."""
    return subprocess.run(
        [sys.executable, "-P", "-m", "driftscope", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**_env(), "PYTHONPATH": str(plugin_path)},
        timeout=120,
    )


def plugin_config(tmp_path: Path, store_url: str) -> Path:
    """A config whose monitor uses the plugin's detector and notifier by name."""
    demo = demo_model(tmp_path)
    document = {
        "models": [
            {
                "name": "cancer",
                "path": str(demo.model_path),
                "reference": str(demo.reference_path),
                "target": "label",
            }
        ],
        "monitors": [
            {
                "name": "cancer-mean-shift",
                "model": "cancer",
                "every": "1m",
                "window": {"last": "1h", "min_samples": 100},
                "detectors": [{"type": "mean-shift", "threshold": 0.5}],
                "notify": ["audit"],
            }
        ],
        "notifiers": [
            {"name": "audit", "type": "jsonl-file", "path": str(tmp_path / "alerts.jsonl")}
        ],
        "store": {"type": "sql", "url": store_url},
    }
    path = tmp_path / "plugin.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_plugins_lists_the_installed_package(plugin_path, tmp_path):
    result = driftscope(plugin_path, "plugins", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "example-detectors" in out and "example-notifiers" in out
    assert "driftscope-example-plugin 0.1.0" in out
    assert "mean-shift" in out and "jsonl-file" in out
    assert "failed to load" not in out


def test_check_and_run_from_yaml_use_the_plugin(plugin_path, tmp_path):
    store_url = f"sqlite:///{tmp_path / 'driftscope.db'}"
    # drifted traffic in the store, logged through a runtime of the built-ins
    runtime = Runtime(
        load_config(write_config(tmp_path, store_url), create_plugin_manager()),
        create_plugin_manager(),
    )
    log_traffic(runtime.store, runtime.models["cancer"], demo_model(tmp_path), drift=True)
    runtime.close()
    config = plugin_config(tmp_path, store_url)

    # without the package (this test's own environment) the names are unknown
    with pytest.raises(ConfigError) as unknown:
        load_config(config, create_plugin_manager())
    assert "mean-shift" in str(unknown.value.problems) and "jsonl-file" in str(
        unknown.value.problems
    )

    checked = driftscope(plugin_path, "check", str(config), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "monitor cancer-mean-shift" in checked.stdout
    assert "notifier audit: jsonl-file" in checked.stdout

    run = driftscope(plugin_path, "run", "cancer-mean-shift", "-c", str(config), cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr  # 1: drift found
    assert "mean-shift" in run.stdout and "DRIFT" in run.stdout
    drifted_line = next(line for line in run.stdout.splitlines() if "drift found:" in line)
    assert {f.strip() for f in drifted_line.split(":", 1)[1].split(",")} >= DRIFTING

    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert len(lines) == 1  # one grouped message for the run
    message = json.loads(lines[0])
    assert message["state"] == "firing" and message["monitor"] == "cancer-mean-shift"
    firing = {c["feature"] for c in message["changes"] if c["to_state"] == "firing"}
    assert firing >= DRIFTING
    assert {c["detector"] for c in message["changes"]} == {"mean-shift"}


def test_the_plugins_own_tests_pass_where_it_is_installed(plugin_path, tmp_path):
    # the tests and their pytest settings only, not src/: they must import the installed copy
    shutil.copytree(EXAMPLE / "tests", tmp_path / "tests")
    shutil.copy(EXAMPLE / "pyproject.toml", tmp_path / "pyproject.toml")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", "."],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**_env(), "PYTHONPATH": str(plugin_path)},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout
    where = subprocess.run(
        [sys.executable, "-c", "import driftscope_example_plugin as p; print(p.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**_env(), "PYTHONPATH": str(plugin_path)},
        check=True,
    )
    assert where.stdout.strip().startswith(str(plugin_path)), where.stdout
