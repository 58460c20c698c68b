"""driftscope dashboard: the entry file ``streamlit run`` starts (``driftscope dashboard``).

It sets the page up, draws the sidebar controls and hands over to one of the pages in
``views/`` through ``st.navigation``, once the visitor has signed in (``signin.py``). Every
page reads the driftscope API over HTTP, at ``DRIFTSCOPE_API_URL`` with
``DRIFTSCOPE_API_KEY`` (a read-scoped key; it is never shown).
"""

from __future__ import annotations

import streamlit as st
from pydantic import ValidationError

from driftscope.apps.dashboard import signin, ui

st.set_page_config(
    page_title="driftscope",
    page_icon=":material/monitoring:",
    layout="wide",
    initial_sidebar_state="expanded",
)

try:
    dashboard_settings = ui.settings()
except ValidationError as exc:
    first = exc.errors()[0]
    # the message and location only: pydantic's text would repeat the value, maybe a secret
    st.error(
        f"Bad dashboard setting {'.'.join(map(str, first['loc'])).upper()}: {first['msg']}. "
        "Fix the DRIFTSCOPE_* environment variable and restart.",
        icon=":material/settings_alert:",
    )
    st.stop()

pages = [
    st.Page(ui.page_path("overview"), title="Overview", icon=":material/dashboard:", default=True),
    st.Page(ui.page_path("monitor"), title="Monitor", icon=":material/query_stats:"),
    st.Page(ui.page_path("features"), title="Features", icon=":material/table_chart:"),
    st.Page(ui.page_path("quality"), title="Data quality", icon=":material/rule:"),
    st.Page(ui.page_path("alerts"), title="Alerts", icon=":material/notifications:"),
]
# the pages are registered before the sign-in, so a link to one lands there once signed
# in; none of them runs, and the menu stays hidden, until then
signed_in = signin.signed_in(dashboard_settings)
current = st.navigation(pages, position="sidebar" if signed_in else "hidden", expanded=True)
signin.require_sign_in(dashboard_settings)

with st.sidebar:
    st.markdown("### :material/monitoring: driftscope")

ui.sidebar_controls()
current.run()
