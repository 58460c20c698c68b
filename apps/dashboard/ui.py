"""Streamlit glue shared by the pages: the cached API client, cached fetches, the sidebar
controls (time range, auto-refresh), and the one-line error and state badges."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, NoReturn

import streamlit as st
from pydantic import ValidationError

from driftscope.apps.dashboard.client import (
    DEFAULT_CACHE_TTL,
    ApiClient,
    ApiError,
    DashboardSettings,
)
from driftscope.apps.dashboard.data.display import (
    DEFAULT_TIME_RANGE,
    STATE_BADGE_COLORS,
    STATE_ICONS,
    STATE_LABELS,
    TIME_RANGES,
    format_age,
    since_for,
)
from driftscope.apps.dashboard.data.values import items

PAGES_DIR = "views"
RANGE_LABELS = {
    "1h": "Last hour",
    "6h": "Last 6 hours",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
}
REFRESH_CHOICES = {"10 s": 10, "30 s": 30, "1 min": 60, "5 min": 300}


def _cache_ttl() -> float:
    """Seconds fetched data is cached, from ``DRIFTSCOPE_DASHBOARD_CACHE_TTL`` (default 10;
    an unreadable value falls back to the default rather than breaking every page)."""
    try:
        return DashboardSettings().dashboard_cache_ttl
    except ValidationError:
        return DEFAULT_CACHE_TTL


CACHE_TTL = _cache_ttl()


def settings() -> DashboardSettings:
    """The dashboard's settings from ``DRIFTSCOPE_*`` (cheap: read on each run)."""
    return DashboardSettings()


@st.cache_resource(show_spinner=False)
def client(base_url: str, api_key: str | None) -> ApiClient:
    """One pooled HTTP client per API URL and key, shared by every session."""
    return ApiClient(base_url, api_key)


def api() -> ApiClient:
    """The client of the configured API."""
    s = settings()
    key = s.api_key.get_secret_value() if s.api_key is not None else None
    return client(s.api_url, key)


@st.cache_data(ttl=CACHE_TTL, show_spinner=False, max_entries=512)
def _cached_get(
    base_url: str,
    key_id: str,
    path: str,
    params: tuple[tuple[str, Any], ...],
    accept: tuple[int, ...] = (),
) -> Any:
    """The cached answer of one GET; ``base_url`` and ``key_id`` (a hash of the API key)
    keep answers of different APIs or keys apart."""
    return api().get(path, dict(params), accept=accept)


def _key_id() -> str:
    key = settings().api_key
    if key is None:
        return ""
    return hashlib.sha256(key.get_secret_value().encode()).hexdigest()[:16]


def show_error(error: ApiError) -> NoReturn:
    """Say in one line what failed (which URL, what status) and stop the page."""
    st.error(error.message, icon=":material/cloud_off:")
    st.stop()
    raise AssertionError("unreachable")  # st.stop raises; this keeps type checkers honest


def get(path: str, **params: Any) -> Any:
    """``GET`` an API path through the cache; on failure show the error line and stop."""
    try:
        return _cached_get(api().base_url, _key_id(), path, tuple(sorted(params.items())))
    except ApiError as error:
        show_error(error)


def try_get(
    path: str, *, accept: tuple[int, ...] = (), **params: Any
) -> tuple[Any, ApiError | None]:
    """``GET`` an API path through the cache, returning the error instead of stopping."""
    try:
        return (
            _cached_get(api().base_url, _key_id(), path, tuple(sorted(params.items())), accept),
            None,
        )
    except ApiError as error:
        return None, error


def run_monitor(name: str) -> tuple[Any, ApiError | None]:
    """Run a monitor now through the API and forget cached data, so pages show the result."""
    try:
        report = api().post(f"/v1/monitors/{name}/run")
    except ApiError as error:
        return None, error
    _cached_get.clear()
    return report, None


# -- a monitor and its reports, shared by the pages about one monitor --------------------------

REPORT_LIMIT = 500
"""The most reports a page reads for its range (newest first)."""


def pick_monitor(names: list[str], where: Any = None) -> str:
    """The monitor selector (``?monitor=`` in the URL); the choice carries over to the other
    pages about one monitor."""
    remembered = st.session_state.get("chosen_monitor")
    index = names.index(remembered) if remembered in names else 0
    container = where if where is not None else st
    name = str(
        container.selectbox("Monitor", names, index=index, key="monitor", bind="query-params")
    )
    st.session_state["chosen_monitor"] = name
    return name


def monitor_reports(name: str) -> tuple[list[Mapping[str, Any]], bool]:
    """A monitor's reports in the chosen range, without chart data, and whether there were
    more than :data:`REPORT_LIMIT`."""
    page = get(f"/v1/monitors/{name}/reports", since=since(), limit=REPORT_LIMIT, details=False)
    more = isinstance(page, Mapping) and page.get("next_before") is not None
    return items(page, "reports"), more


def detailed(report: Mapping[str, Any]) -> Mapping[str, Any]:
    """One report with its chart data (``GET /v1/reports/{id}``); the listed one otherwise."""
    full, _ = try_get(f"/v1/reports/{report.get('id')}")
    return full if isinstance(full, Mapping) else report


# -- sidebar controls ------------------------------------------------------------------------


def time_range() -> str:
    """The chosen time range (``"24h"`` ...)."""
    value = st.session_state.get("time_range", DEFAULT_TIME_RANGE)
    return value if value in TIME_RANGES else DEFAULT_TIME_RANGE


def since() -> str:
    """The start of the chosen range as ISO text, floored to the minute so the cache key
    stays the same between reruns."""
    start = since_for(time_range()).replace(second=0, microsecond=0)
    return start.isoformat()


def span() -> timedelta:
    """The length of the chosen range."""
    return TIME_RANGES[time_range()]


def sidebar_controls() -> None:
    """The time-range selector, the auto-refresh toggle and where the data comes from."""
    with st.sidebar:
        st.selectbox(
            "Time range",
            list(TIME_RANGES),
            index=list(TIME_RANGES).index(DEFAULT_TIME_RANGE),
            format_func=lambda key: RANGE_LABELS.get(key, key),
            key="time_range",
        )
        st.toggle("Auto-refresh", key="auto_refresh", help="Reload this page's data regularly.")
        if st.session_state.get("auto_refresh"):
            st.selectbox("Every", list(REFRESH_CHOICES), index=1, key="refresh_every")
        if st.button("Refresh now", icon=":material/refresh:", width="stretch"):
            _cached_get.clear()
        st.caption(f"API: `{settings().api_url}`  \nData cached for {CACHE_TTL:g} s · times in UTC")


def refresh_interval() -> float | None:
    """Seconds between automatic reruns, or ``None`` when auto-refresh is off."""
    if not st.session_state.get("auto_refresh"):
        return None
    return float(REFRESH_CHOICES.get(st.session_state.get("refresh_every", "30 s"), 30))


def page(body: Callable[[], None]) -> None:
    """Run a page's body, as a fragment that reruns on the auto-refresh interval."""
    interval = refresh_interval()
    if interval is None:
        body()
        return
    # the cache lives at most CACHE_TTL seconds, so each tick past it reads fresh data
    st.fragment(body, run_every=max(interval, CACHE_TTL))()


# -- small pieces ----------------------------------------------------------------------------


def state_badge(state: str) -> None:
    """A coloured badge naming a monitor state."""
    st.badge(
        STATE_LABELS.get(state, state),
        icon=STATE_ICONS.get(state),
        color=STATE_BADGE_COLORS.get(state, "gray"),
    )


def when(moment: datetime | None) -> str:
    """A time as "5 min ago · 14:03 UTC"."""
    if moment is None:
        return "never"
    return f"{format_age(moment)} · {moment:%Y-%m-%d %H:%M} UTC"


def page_path(name: str) -> str:
    """The file of a page, relative to the entry file, for ``st.page_link``."""
    return f"{PAGES_DIR}/{name}.py"
