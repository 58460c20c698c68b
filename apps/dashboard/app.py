"""driftscope dashboard: the entry file ``streamlit run`` starts (``driftscope dashboard``).

It sets the page up, draws the sidebar controls and hands over to one of the pages in
``views/`` through ``st.navigation``. Every page reads the driftscope API over HTTP, at
``DRIFTSCOPE_API_URL`` with ``DRIFTSCOPE_API_KEY``.
"""

from __future__ import annotations

import streamlit as st
from pydantic import ValidationError

from driftscope.apps.dashboard import ui

st.set_page_config(
    page_title="driftscope",
    page_icon=":material/monitoring:",
    layout="wide",
    initial_sidebar_state="expanded",
)

pages = [
    st.Page(ui.page_path("overview"), title="Overview", icon=":material/dashboard:", default=True),
    st.Page(ui.page_path("monitor"), title="Monitor", icon=":material/query_stats:"),
    st.Page(ui.page_path("alerts"), title="Alerts", icon=":material/notifications:"),
]
current = st.navigation(pages, position="sidebar", expanded=True)

with st.sidebar:
    st.markdown("### :material/monitoring: driftscope")

try:
    ui.settings()
except ValidationError as exc:
    first = exc.errors()[0]
    st.error(
        f"Bad dashboard setting {'.'.join(map(str, first['loc'])).upper()}: {first['msg']}. "
        "Fix the DRIFTSCOPE_* environment variable and restart.",
        icon=":material/settings_alert:",
    )
    st.stop()

ui.sidebar_controls()
current.run()
