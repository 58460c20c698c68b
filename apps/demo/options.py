"""What ``driftscope demo`` is asked to do, the names of what it writes, and the config it runs.

:class:`DemoOptions` is the command line's choice; :func:`demo_config` turns it into the YAML
config the API runs with. The other modules of the demo (processes, watching, summary, runner)
share the names below and :class:`DemoError`, the one error that ends a demo with an exit code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
DEFAULT_API_PORT = 8000
DEFAULT_DASHBOARD_PORT = 8501
MODEL = "cancer"
MONITOR = "cancer-drift"
DB_NAME = "driftscope.db"
CONFIG_NAME = "driftscope.yaml"
MARKER = ".driftscope-demo"
SUMMARY_NAME = "summary.json"
API_LOG = "api.log"
DASHBOARD_LOG = "dashboard.log"
# what --replace removes: only files the demo itself writes
DEMO_FILES = (
    DB_NAME,
    f"{DB_NAME}-wal",
    f"{DB_NAME}-shm",
    f"{DB_NAME}-journal",
    "cancer.skops",
    "cancer_reference.csv",
    CONFIG_NAME,
    SUMMARY_NAME,
    API_LOG,
    DASHBOARD_LOG,
)


class DemoError(RuntimeError):
    """The demo cannot go on; ``code`` is the exit code (2: bad input, 1: a failure)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class DemoOptions:
    """What ``driftscope demo`` was asked to do.

    ``port``/``dashboard_port`` ``None`` means the default port, or a free one when the
    default is taken; a port given explicitly must be free. ``replace`` starts from a fresh
    database (and a freshly trained model); otherwise the folder's database is kept.
    ``every`` is the monitor's schedule in seconds; ``min_samples`` the rows a window needs.
    """

    folder: Path = Path("driftscope-demo")
    requests: int = 2000
    rate: float = 30.0
    dashboard: bool = True
    port: int | None = None
    dashboard_port: int | None = None
    once: bool = False
    replace: bool = True
    every: float = 5.0
    min_samples: int = 200
    seed: int = 42
    startup_timeout: float = 90.0
    open_browser: bool = False

    @property
    def drift_after(self) -> int:
        """Requests sent before drift is injected: the first half."""
        return self.requests // 2

    @property
    def burst(self) -> int:
        """Requests sent at once at the start, so the monitor's first run has enough rows."""
        return min(self.drift_after, self.min_samples + 50)

    @property
    def traffic_seconds(self) -> float:
        """Roughly how long the traffic lasts."""
        return (self.requests - self.burst) / self.rate if self.rate > 0 else 0.0


def window_length(options: DemoOptions) -> str:
    """A monitor window that covers the whole run and a while of exploring afterwards."""
    minutes = max(10, math.ceil(3 * (options.traffic_seconds + 30) / 60))
    return f"{minutes}m"


def demo_config(
    options: DemoOptions, folder: Path, *, dashboard_url: str | None, discord: bool
) -> str:
    """The YAML config the demo runs with (paths relative to the folder, the store absolute)."""
    notify = "[console, discord]" if discord else "[console]"
    discord_block = (
        '  - {name: discord, type: discord, webhook_url: "${DISCORD_WEBHOOK_URL}"}\n'
        if discord
        else ""
    )
    dashboard_block = (
        f"dashboard:\n  url: {dashboard_url}   # linked from alert messages\n\n"
        if dashboard_url
        else ""
    )
    every = f"{options.every:g}s"
    return f"""\
# Written by `driftscope demo`; rewritten at each run. Try it yourself:
#   driftscope check {folder / CONFIG_NAME}
#   driftscope run {MONITOR} -c {folder / CONFIG_NAME}
models:
  - name: {MODEL}
    path: cancer.skops                 # a skops file: loaded safely, no pickle
    reference: cancer_reference.csv    # held-out training-time rows with their label
    target: label

monitors:
  - name: {MONITOR}
    model: {MODEL}
    every: {every}                         # fast, for the demo; 1m-1h in production
    window: {{last: {window_length(options)}, min_samples: {options.min_samples}}}
    correction: bonferroni
    detectors:
      - {{type: psi, threshold: 0.25}}
      - {{type: ks, p_value: 0.05, min_statistic: 0.1}}
      - {{type: chi2, p_value: 0.05}}
      - {{type: performance, metric: accuracy, max_drop: 0.15, min_samples: 50}}
    notify: {notify}
    alert: {{for_runs: 1, resolve_runs: 2, repeat_every: 1h}}

notifiers:
  - {{name: console, type: log}}         # alerts in {API_LOG}; no setup needed
{discord_block}
{dashboard_block}store:
  type: sql
  url: sqlite:///{(folder / DB_NAME).as_posix()}
"""
