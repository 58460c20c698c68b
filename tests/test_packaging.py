"""The wheel installs one import package, ``driftscope``, holding every package folder."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def package_folders() -> set[str]:
    """Every folder under core/, plugins/ and apps/ with an ``__init__.py``, as a dotted name."""
    found = {"driftscope"}
    for top in ("core", "plugins", "apps"):
        for init in (ROOT / top).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT)
            found.add(".".join(("driftscope", *relative.parts)))
    return found


def test_pyproject_lists_every_package_folder() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    assert listed == package_folders()
    assert config["tool"]["setuptools"]["package-dir"] == {"driftscope": "."}


@pytest.mark.slow
def test_the_wheel_has_one_top_level_package(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("driftscope-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        assert archive.read(top_level).decode().split() == ["driftscope"]
    tops = {name.split("/")[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"driftscope"}
    # the framework, the plugins and the apps are inside; tests and benchmarks are not
    assert "driftscope/core/runtime.py" in names
    assert "driftscope/plugins/detectors/ks.py" in names
    assert "driftscope/apps/dashboard/app.py" in names
    assert "driftscope/py.typed" in names
    assert "driftscope/testing.py" in names  # public: plugin authors import it
    assert not [n for n in names if n.startswith(("driftscope/tests/", "driftscope/benchmarks/"))]
