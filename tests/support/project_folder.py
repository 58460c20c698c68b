"""A user's project folder with packages of its own that could shadow driftscope's modules."""

from __future__ import annotations

from pathlib import Path


def shadowing_packages(folder: Path) -> Path:
    """Give ``folder`` its own ``core``, ``apps`` and ``plugins`` packages (a common project
    layout) that fail loudly when imported, and return it."""
    for name in ("core", "apps", "plugins", "apps/dashboard", "apps/api", "core/cli"):
        package = folder / name
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(
            f"raise ImportError('the user's own {name} package')\n"
        )
    return folder
