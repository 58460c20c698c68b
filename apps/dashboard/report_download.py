"""The Monitor page's download button: one run's report as the self-contained HTML file the
API writes (``GET /v1/reports/{id}/html``), fetched only when the button is pressed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import streamlit as st

from driftscope.apps.dashboard import ui
from driftscope.apps.dashboard.data.values import parse_time

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def file_name(report: Mapping[str, Any]) -> str:
    """``driftscope-<monitor>-<YYYYmmdd-HHMMSS>.html``, the name the API gives the file."""
    monitor = _SAFE_NAME.sub("_", str(report.get("monitor") or "report")).strip("._")[:80]
    made = parse_time(report.get("created_at"))
    when = f"{made:%Y%m%d-%H%M%S}" if made else "run"
    return f"driftscope-{monitor or 'report'}-{when}.html"


def report_download_button(report: Mapping[str, Any], key: str) -> None:
    """A button that downloads ``report`` as one HTML file (its table and charts, Plotly
    embedded): the API writes it when the button is pressed, not on every page run."""
    report_id = str(report.get("id") or "")
    if not report_id:
        return
    client = ui.api()  # taken here: the download runs on a thread without Streamlit's context
    path = f"/v1/reports/{quote(report_id, safe='')}/html"
    st.download_button(
        "Download this run as HTML",
        data=lambda: client.download(path),
        file_name=file_name(report),
        mime="text/html",
        icon=":material/download:",
        on_click="ignore",
        key=key,
        help="One file with this run's column table, its charts and the monitor's settings; "
        "it opens in any browser without a network, so it can be mailed or attached to a "
        "ticket.",
    )
