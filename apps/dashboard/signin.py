"""The dashboard's door: sign-in before any page reads the API.

* Streamlit's own OIDC login (``st.login``) when an identity provider is configured in
  Streamlit's secrets (an ``[auth]`` section in ``.streamlit/secrets.toml``);
* else a password, stored only as its scrypt hash in ``DRIFTSCOPE_DASHBOARD_PASSWORD_HASH``
  (``driftscope hash-password`` makes one) and checked in constant time;
* else nothing, but only when the dashboard is bound to a loopback address: served on any
  other address without a way to sign in, it shows how to set one up and no data.
"""

from __future__ import annotations

import logging

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from driftscope.apps.dashboard.client import DashboardSettings
from driftscope.core.auth import PasswordHash, PasswordHashError

log = logging.getLogger("driftscope.dashboard")
SESSION_KEY = "driftscope_signed_in"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def oidc_configured() -> bool:
    """Whether Streamlit's secrets configure an identity provider for ``st.login``."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, StreamlitSecretNotFoundError):
        return False


def served_locally() -> bool:
    """Whether Streamlit listens on a loopback address only (unset means every address)."""
    address = st.get_option("server.address")
    return bool(address) and str(address) in LOOPBACK


def signed_in(settings: DashboardSettings) -> bool:
    """Whether this session may see the pages already (no form or button is drawn)."""
    if oidc_configured():
        return bool(st.user.is_logged_in)
    if settings.dashboard_password_hash is not None:
        return bool(st.session_state.get(SESSION_KEY))
    return served_locally()


def require_sign_in(settings: DashboardSettings) -> None:
    """Stop the script run unless the visitor has signed in (or needs not).

    Call before anything reads the API.
    """
    if oidc_configured():
        _oidc()
    elif settings.dashboard_password_hash is not None:
        _password(settings.dashboard_password_hash.get_secret_value())
    elif not served_locally():
        st.error(
            "This dashboard is served beyond this machine but has no sign-in. Set "
            "DRIFTSCOPE_DASHBOARD_PASSWORD_HASH to the output of `driftscope hash-password`, "
            "or configure an identity provider in `[auth]` of .streamlit/secrets.toml, and "
            "restart it.",
            icon=":material/lock:",
        )
        st.stop()


def _oidc() -> None:
    if st.user.is_logged_in:
        with st.sidebar:
            who = st.user.get("name") or st.user.get("email") or "signed in"
            st.caption(f":material/person: {who}")
            st.button("Sign out", icon=":material/logout:", on_click=st.logout, key="sign_out")
        return
    _title()
    st.button("Sign in", icon=":material/login:", on_click=st.login, key="sign_in")
    st.stop()


def _password(stored: str) -> None:
    try:
        expected = PasswordHash.parse(stored)
    except PasswordHashError as exc:
        st.error(
            f"DRIFTSCOPE_DASHBOARD_PASSWORD_HASH is not usable: {exc}.", icon=":material/lock:"
        )
        st.stop()
    if st.session_state.get(SESSION_KEY):
        with st.sidebar:
            st.button("Sign out", icon=":material/logout:", on_click=_sign_out, key="sign_out")
        return
    _title()
    with st.form("sign_in", border=True):
        password = st.text_input("Password", type="password", key="password")
        submitted = st.form_submit_button("Sign in", icon=":material/login:")
    if submitted:
        if password and expected.verify(password):
            st.session_state[SESSION_KEY] = True
            del st.session_state["password"]  # the text field keeps the value otherwise
            st.rerun()
        log.warning("dashboard sign-in refused: wrong password")
        st.error("Wrong password.", icon=":material/lock:")
    st.stop()


def _sign_out() -> None:
    st.session_state.pop(SESSION_KEY, None)


def _title() -> None:
    st.markdown("### :material/monitoring: driftscope")
    st.caption("Sign in to see the monitors, drift and alerts.")
