"""``driftscope report``: one run's report as a self-contained HTML file.

Registered on the main CLI by ``driftscope.apps.cli.main`` with ``register(app)``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from driftscope.apps.cli.common import ConfigOption, config_path, console, fail, get_runtime
from driftscope.core.validation import MAX_ID_CHARS, shown, text_problem

if TYPE_CHECKING:
    from driftscope.core.contracts.report import Report
    from driftscope.core.runtime import Runtime

_NEWEST_SHOWN = 3  # runs listed per monitor when the id is unknown


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to the ``driftscope`` CLI."""
    app.command("report")(report)


def report(
    run_id: Annotated[
        str,
        typer.Argument(
            help="The run's report id: `driftscope run` prints it, and "
            "GET /v1/monitors/{name}/reports lists them."
        ),
    ],
    html: Annotated[
        Path,
        typer.Option(
            "--html", help="Write the report to this HTML file ('-' for standard output)."
        ),
    ],
    config: ConfigOption = None,
) -> None:
    """Write one run's report as a single HTML file: its window, the monitor's and model's
    settings, a table of every column with each detector's finding, and the charts.

    Plotly is embedded in the file, so it opens in any browser without a network.
    """
    # Plotly and the template are imported here, not by every driftscope command
    from driftscope.apps.report import render_report_html, report_facts

    problem = text_problem(run_id, MAX_ID_CHARS)
    if problem is not None:
        fail(f"run id {shown(run_id)}: {problem[1]}")
    source = config_path(config)
    runtime = get_runtime(source, load_models=False)
    try:
        found = runtime.store.get_report(run_id)
        if found is None:
            fail(_unknown_run(runtime, run_id, source))
        facts = report_facts(runtime.config, found.monitor, found.model)
    finally:
        runtime.close()
    document = render_report_html(found.to_dict(), facts)
    if str(html) == "-":
        sys.stdout.write(document)
        sys.stdout.flush()
        return
    target = _write(html, document)
    size = len(document.encode("utf-8")) / 1e6
    console.print(
        f"wrote {target} ({size:.1f} MB): run {found.id} of monitor {found.monitor}, "
        f"made {found.created_at:%Y-%m-%d %H:%M:%S} UTC",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _unknown_run(runtime: Runtime, run_id: str, source: Path) -> str:
    lines = [f"no run {shown(run_id)} in the store of {source}"]
    newest: list[Report] = []
    for monitor in runtime.config.monitors[:10]:
        newest.extend(runtime.store.list_reports(monitor.name, limit=_NEWEST_SHOWN))
    if newest:
        lines.append("the newest runs:")
        lines.extend(
            f"  {r.id}  {r.monitor}  {r.created_at:%Y-%m-%d %H:%M:%S} UTC"
            for r in sorted(newest, key=lambda r: r.created_at, reverse=True)[:10]
        )
    else:
        lines.append("the store has no runs yet: `driftscope run MONITOR` makes one")
    return "\n".join(lines)


def _write(path: Path, document: str) -> Path:
    """Write ``document`` to ``path`` through a temporary file in the same folder, so a
    failed write never leaves a truncated report (nor replaces a good one)."""
    target = path.expanduser().resolve()
    folder = target.parent
    if not folder.is_dir():
        fail(f"cannot write {target}: the folder {folder} does not exist")
    if target.is_dir():
        fail(f"cannot write {target}: it is a folder")
    temporary: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=folder, prefix=".driftscope-report-", delete=False
        ) as handle:
            temporary = Path(handle.name)
            handle.write(document)
        # the temporary file is private (0600); the report gets the mode a new file would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, target)
    except OSError as exc:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        fail(f"cannot write {target}: {exc.strerror or exc}")
    return target
