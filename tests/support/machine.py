"""What some tests need from the machine beyond Python packages, and what happens when it is
missing: a skip that says how to get it, or, where it must be there, a failure.

A missing browser fails under CI (``CI`` set, as ``.ci/run`` and GitHub Actions do) or with
``DRIFTSCOPE_REQUIRE_BROWSER=1``; anywhere else the browser test is skipped with the
commands that install what is missing. (PostgreSQL follows the same rule through
``DRIFTSCOPE_REQUIRE_POSTGRES``: see ``conftest.py``.)
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path


def browser_required() -> bool:
    """Whether a missing browser is a failure rather than a skip."""
    ci = os.environ.get("CI", "").strip().lower()
    return ci not in ("", "0", "false", "no") or os.environ.get("DRIFTSCOPE_REQUIRE_BROWSER") == "1"


def browser_problems(chromium: Path, module: str = "playwright.sync_api") -> list[str]:
    """What the browser test lacks, each with how to get it; empty when nothing."""
    problems = []
    try:
        importlib.import_module(module)
    except ImportError as exc:
        problems.append(
            f"{module} cannot be imported ({exc}): pip install -c constraints.txt -e '.[test]' "
            "brings Playwright (`playwright install` is never needed)"
        )
    if not chromium.is_file():
        problems.append(
            f"no Chromium at {chromium}: apt-get install chromium, or point "
            "DRIFTSCOPE_TEST_CHROMIUM at a Chromium or Chrome binary"
        )
    return problems


def require_browser(chromium: Path, module: str = "playwright.sync_api") -> None:
    """Return when the browser test can run; else skip its module, or fail where required.

    Called at module level, before the test module imports Playwright."""
    import pytest

    problems = browser_problems(chromium, module)
    if not problems:
        return
    message = "the browser test needs: " + "; ".join(problems)
    if browser_required():
        pytest.fail(
            message + " (a missing browser fails under CI or DRIFTSCOPE_REQUIRE_BROWSER=1)",
            pytrace=False,
        )
    pytest.skip(
        message + " (with DRIFTSCOPE_REQUIRE_BROWSER=1 this fails instead)",
        allow_module_level=True,
    )
