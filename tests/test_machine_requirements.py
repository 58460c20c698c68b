"""Tests that need PostgreSQL or a browser run when it is there and say how to get it when not.

A plain ``pytest`` (no ``DRIFTSCOPE_REQUIRE_*``) runs the PostgreSQL tests against the
default server whenever it answers; an unreachable server skips them with the commands that
start one. The browser test fails under CI or ``DRIFTSCOPE_REQUIRE_BROWSER=1`` when
Playwright or Chromium is missing, and is skipped elsewhere, saying how to install them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEFAULT_POSTGRES_URL, _psycopg_dsn, postgres_base_url

from support.api_helpers import free_port
from support.machine import browser_required, require_browser

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
THIS = "tests/test_machine_requirements.py"


def _pytest(*args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    """``python -m pytest ARGS`` from the repository root with ``env`` changed (None: unset)."""
    environ = dict(os.environ)
    for name, value in env.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.postgres
def test_a_postgres_schema_of_its_own(postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(_psycopg_dsn(postgres_url)) as conn:
        (schema,) = conn.execute("SELECT current_schema()").fetchone() or (None,)
    assert schema is not None and schema.startswith("dstest_")


def test_the_default_server_is_the_one_the_readme_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRIFTSCOPE_TEST_POSTGRES_URL", raising=False)
    assert (
        postgres_base_url() == DEFAULT_POSTGRES_URL == "postgresql://postgres@127.0.0.1:5432/test"
    )


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_tests_run_without_being_required_when_the_server_answers(
    _postgres_server: str,
) -> None:
    # the README's plain `pytest`: no variables at all when the server is the default one
    url = None if _postgres_server == DEFAULT_POSTGRES_URL else _postgres_server
    run = _pytest(
        f"{THIS}::test_a_postgres_schema_of_its_own",
        DRIFTSCOPE_TEST_POSTGRES_URL=url,
        DRIFTSCOPE_REQUIRE_POSTGRES=None,
    )
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout + run.stderr
    assert "skipped" not in run.stdout


@pytest.mark.slow
def test_an_unreachable_postgres_skips_saying_how_to_get_one_or_fails_where_required() -> None:
    nowhere = f"postgresql://postgres:s3cret-pw@127.0.0.1:{free_port()}/test"
    skipped = _pytest(
        f"{THIS}::test_a_postgres_schema_of_its_own",
        DRIFTSCOPE_TEST_POSTGRES_URL=nowhere,
        DRIFTSCOPE_REQUIRE_POSTGRES=None,
    )
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout, skipped.stdout
    for hint in (
        "docker run",
        "createdb test",
        "DRIFTSCOPE_TEST_POSTGRES_URL",
        "REQUIRE_POSTGRES=1",
    ):
        assert hint in skipped.stdout, hint
    assert "s3cret-pw" not in skipped.stdout and ":***@127.0.0.1" in skipped.stdout

    required = _pytest(
        f"{THIS}::test_a_postgres_schema_of_its_own",
        DRIFTSCOPE_TEST_POSTGRES_URL=nowhere,
        DRIFTSCOPE_REQUIRE_POSTGRES="1",
    )
    assert required.returncode == 1 and "1 error" in required.stdout, required.stdout
    assert "PostgreSQL is not reachable" in required.stdout and "s3cret-pw" not in required.stdout


@pytest.mark.parametrize(
    ("ci", "require", "fails"),
    [
        (None, None, False),
        ("false", None, False),
        ("true", None, True),
        ("1", None, True),
        (None, "1", True),
    ],
)
def test_a_missing_browser_skips_with_instructions_or_fails_where_required(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    ci: str | None,
    require: str | None,
    fails: bool,
) -> None:
    for name, value in (("CI", ci), ("DRIFTSCOPE_REQUIRE_BROWSER", require)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert browser_required() is fails
    missing = pytest.fail.Exception if fails else pytest.skip.Exception
    # Playwright missing (the module check comes first, before anything imports it) ...
    with pytest.raises(missing) as caught:
        require_browser(Path(sys.executable), module="driftscope_no_such_module")
    assert "driftscope_no_such_module cannot be imported" in str(caught.value)
    assert "pip install" in str(caught.value)
    # ... Chromium missing ...
    with pytest.raises(missing) as caught:
        require_browser(tmp_path / "chromium", module="json")
    assert f"no Chromium at {tmp_path / 'chromium'}: apt-get install chromium" in str(caught.value)
    assert "DRIFTSCOPE_TEST_CHROMIUM" in str(caught.value)
    # ... and both there
    assert require_browser(Path(sys.executable), module="json") is None


@pytest.mark.slow
def test_the_browser_test_module_fails_under_ci_without_playwright_and_skips_elsewhere(
    tmp_path: Path,
) -> None:
    args = ("tests/test_dashboard_browser.py", "--collect-only")
    # a Playwright that cannot be imported, ahead of the installed one on the path: under CI
    # the module must fail, not skip (an importorskip ahead of the CI check would skip)
    shadow = tmp_path / "shadow" / "playwright"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("simulated: no playwright")\n')
    in_ci = _pytest(
        *args,
        CI="true",
        PYTHONPATH=str(shadow.parent),
        DRIFTSCOPE_TEST_CHROMIUM=sys.executable,  # a file: only Playwright is missing
    )
    assert in_ci.returncode not in (0, 5), in_ci.stdout
    assert "playwright.sync_api cannot be imported (simulated: no playwright)" in in_ci.stdout
    absent = "/nonexistent/chromium"
    local = _pytest(
        *args, CI=None, DRIFTSCOPE_REQUIRE_BROWSER=None, DRIFTSCOPE_TEST_CHROMIUM=absent
    )
    assert local.returncode in (0, 5), local.stdout  # 5: nothing collected, all skipped
    assert "SKIPPED" in local.stdout and f"no Chromium at {absent}: apt-get install" in local.stdout
