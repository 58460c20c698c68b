"""Helpers every ``driftscope`` command shares: consoles, the --config option, exit codes.

Command modules (``main``, ``serve``, ``prune``, ...) import these from here, never from
``driftscope.apps.cli.main``, so the command modules never import each other.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from driftscope.core.config.environment import DeploymentSettings
from driftscope.core.config.yaml_file import DriftscopeConfig
from driftscope.core.errors import ConfigError, DriftscopeError

if TYPE_CHECKING:
    from driftscope.core.contracts.notifier import Notifier
    from driftscope.core.runtime import Runtime

console = Console()
err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML config file (default: $DRIFTSCOPE_CONFIG)."),
]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error to stderr and exit with ``code`` (2: bad input)."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def config_path(path: Path | None) -> Path:
    """The config file from the option or ``DRIFTSCOPE_CONFIG``, or exit 2."""
    path = path or DeploymentSettings().config
    if path is None:
        fail("no config file: pass --config FILE or set DRIFTSCOPE_CONFIG")
    return path


def get_runtime(path: Path | None, **kwargs: Any) -> Runtime:
    """Build a Runtime from a config file, turning start-up errors into exit code 2."""
    from driftscope.core.runtime import Runtime

    try:
        return Runtime.from_path(config_path(path), **kwargs)
    except ConfigError as exc:
        print_config_error(exc)
        raise typer.Exit(2) from None
    except DriftscopeError as exc:
        fail(str(exc))


def get_notifiers(path: Path | None) -> dict[str, Notifier[Any]]:
    """The notifiers of a config file, built without opening its store (exit 2 on a bad
    config). The caller closes them."""
    from driftscope.core.config.yaml_file import load_config
    from driftscope.core.plugin_system.manager import create_plugin_manager

    plugins = create_plugin_manager()
    try:
        config = load_config(config_path(path), plugins)
    except ConfigError as exc:
        print_config_error(exc)
        raise typer.Exit(2) from None
    return {s.name: plugins.get("notifier", s.type)(s) for s in config.notifier_settings}


def print_config_error(exc: ConfigError) -> None:
    err.print(
        f"[bold red]{escape(exc.source or 'config')}[/]: {len(exc.problems)} problem(s)",
        highlight=False,
        soft_wrap=True,  # a path broken over two lines cannot be copied
    )
    for location, message in exc.problems:
        # not markup: "models[health]" would lose its "[health]" as a style tag
        err.print(
            f"  {location or '(file)'}: {message}", highlight=False, markup=False, soft_wrap=True
        )


def configure_logging(level: str = "info") -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def check_files(config: DriftscopeConfig) -> tuple[list[tuple[str, str]], list[str]]:
    """Load each model whose files exist and check monitors against its schema; a model
    with a missing file (``check --allow-missing``) is a warning and is not loaded."""
    from driftscope.core.monitoring.model_loading import load_model

    problems: list[tuple[str, str]] = []
    warnings: list[str] = []
    schemas = {}
    for i, model in enumerate(config.models):
        missing = [
            f"models[{i}].{key}: {path} not found yet"
            for key, path in (("path", model.path), ("reference", model.reference))
            if path is not None and not path.exists()
        ]
        if missing:
            warnings.append("; ".join(missing) + f" (model {model.name} not checked)")
            continue
        try:
            schemas[model.name] = load_model(model).schema
        except ConfigError as exc:
            problems.extend(
                (f"models[{i}]" + loc.split("]", 1)[-1], msg) for loc, msg in exc.problems
            )
        except DriftscopeError as exc:
            problems.append((f"models[{i}]", str(exc)))
    for i, monitor in enumerate(config.monitors):
        schema = schemas.get(monitor.model)
        if schema is None:
            continue
        names = set(schema.feature_names)
        for j, feature in enumerate(monitor.features or []):
            if feature not in names:
                problems.append(
                    (
                        f"monitors[{i}].features[{j}]",
                        f"model {monitor.model!r} has no feature {feature!r}",
                    )
                )
    return problems, warnings
