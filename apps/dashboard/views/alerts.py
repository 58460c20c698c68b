"""Alerts: what is firing now, the history of state changes, and delivery per notifier."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from driftscope.apps.dashboard import charts, ui
from driftscope.apps.dashboard.client import ApiError
from driftscope.apps.dashboard.data.alerts import (
    AlertEventRow,
    AlertRow,
    alert_events,
    alert_rows,
    state_counts,
)
from driftscope.apps.dashboard.data.delivery import (
    NotifierDelivery,
    OutboxMessageRow,
    delivery_status,
    outbox_messages,
)
from driftscope.apps.dashboard.data.display import BadgeColor

EVENT_LIMIT = 1000
ACTIVE = ("firing", "no_data", "pending")
DELIVERY_COLORS: dict[str, BadgeColor] = {
    "ok": "green",
    "idle": "gray",
    "retrying": "orange",
    "failed": "red",
    "given up": "red",
    "disabled": "red",
}


STATE_BACKGROUNDS = {
    "firing": "background-color: #fde2e1; color: #9e1f1f",
    "no data": "background-color: #ececef; color: #45474d",
    "pending": "background-color: #fdf0cf; color: #7a5a00",
}


def _active(rows: list[AlertRow]) -> None:
    st.subheader(
        "Active now",
        help="One row per alert key (monitor, detector, feature) that is firing, pending or "
        "out of data. A key fires after the monitor's `for_runs` drifted runs in a row and "
        "resolves after `resolve_runs` clean ones, so one noisy run does not page anyone.",
    )
    active = [r for r in rows if r.state in ACTIVE]
    if not active:
        st.success("Nothing is firing, pending or out of data.", icon=":material/check_circle:")
        return
    table = pd.DataFrame(
        [
            {
                "state": r.state.replace("_", " "),
                "monitor": r.monitor,
                "alert": r.subject,
                "since": r.since,
                "comparison": r.comparison,
            }
            for r in active
        ]
    )
    styled = table.style.map(lambda v: STATE_BACKGROUNDS.get(v, ""), subset=["state"])
    st.dataframe(
        styled,
        hide_index=True,
        column_config={
            "state": st.column_config.TextColumn("State", width="small"),
            "monitor": st.column_config.TextColumn("Monitor"),
            "alert": st.column_config.TextColumn("Alert"),
            "since": st.column_config.DatetimeColumn("Since (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "comparison": st.column_config.TextColumn(
                "Value vs threshold",
                help="The number the decision compared (the p-value for KS and chi-square, "
                "the statistic for PSI, the metric for performance) beside its threshold.",
            ),
        },
    )


def _history(events: list[AlertEventRow]) -> None:
    st.subheader(
        "History",
        help="Every change of an alert key's state in the range, one row per key: red when "
        "it started firing, blue when it resolved. Hover a dot for the value that caused it.",
    )
    if not events:
        st.info(
            "No state changes in this range. Alerts change state when a monitor's report "
            "crosses a threshold (and again when it recovers); widen the time range to see "
            "older changes.",
            icon=":material/history:",
        )
        return
    st.plotly_chart(
        charts.alert_timeline(events), key="alert-timeline", config=charts.PLOTLY_CONFIG
    )
    table = [
        {
            "at": e.at,
            "monitor": e.monitor,
            "alert": e.subject,
            "change": f"{e.from_state.replace('_', ' ')} → {e.to_state.replace('_', ' ')}",
            "comparison": e.comparison,
            "silenced": "yes" if e.silenced else "",
        }
        for e in events
    ]
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "at": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "monitor": st.column_config.TextColumn("Monitor"),
            "alert": st.column_config.TextColumn("Alert"),
            "change": st.column_config.TextColumn("Change"),
            "comparison": st.column_config.TextColumn("Value vs threshold"),
            "silenced": st.column_config.TextColumn("Silenced", width="small"),
        },
        height=min(38 + 35 * len(table), 420),
    )


def _delivery(
    notifiers: list[NotifierDelivery],
    waiting: list[OutboxMessageRow],
    error: ApiError | None,
) -> None:
    st.subheader(
        "Delivery",
        help="How each notifier is doing with the alert messages: sent, waiting to be retried "
        "(a notifier that is down gets them later), or given up after `give_up_after`.",
    )
    if error is not None:
        st.warning(error.message, icon=":material/cloud_off:")
        return
    if not notifiers:
        st.info(
            "No notifier has sent anything yet. Add notifiers (Discord, webhook, log) to the "
            "config and list them in a monitor's `notify:`.",
            icon=":material/send:",
        )
        return
    cols = st.columns(min(len(notifiers), 3))
    for i, n in enumerate(notifiers):
        with cols[i % len(cols)], st.container(border=True):
            head, badge = st.columns([3, 2], vertical_alignment="center")
            head.markdown(f"**{n.name}**" + (f" · {n.type}" if n.type else ""))
            with badge:
                st.badge(n.status, color=DELIVERY_COLORS.get(n.status, "gray"))
            a, b, c, d = st.columns(4)
            a.metric("Sent", n.sent)
            b.metric("Pending", n.pending)
            c.metric("Failed", n.failed)
            d.metric("Given up", n.given_up)
            if n.disabled:
                st.error(
                    f"Disabled: {n.disabled_reason or 'the endpoint refused it'}",
                    icon=":material/block:",
                )
            elif n.last_error:
                st.caption(f":red[last error: {n.last_error}]")
            if n.retrying and n.oldest_pending_at is not None:
                st.caption(
                    f"{n.retrying} retrying; oldest waiting since {ui.when(n.oldest_pending_at)}"
                )
            if n.waiting_until is not None:
                st.caption(f"next attempt after {n.waiting_until:%H:%M:%S} UTC")
            if n.last_sent_at is not None:
                st.caption(f"last sent {ui.when(n.last_sent_at)}")
    if waiting:
        _waiting(waiting)


def _waiting(rows: list[OutboxMessageRow]) -> None:
    """The messages not delivered yet (pending) or never to be (given up)."""
    st.markdown("**Pending and given-up messages**")
    st.dataframe(
        [
            {
                "status": r.status.replace("_", " "),
                "notifier": r.notifier,
                "monitor": r.monitor,
                "created": r.created_at,
                "attempts": r.attempts,
                "next": r.next_attempt_at,
                "changes": "; ".join(r.changes),
                "error": r.last_error or "",
            }
            for r in rows
        ],
        hide_index=True,
        column_config={
            "status": st.column_config.TextColumn("Status", width="small"),
            "notifier": st.column_config.TextColumn("Notifier"),
            "monitor": st.column_config.TextColumn("Monitor"),
            "created": st.column_config.DatetimeColumn(
                "Created (UTC)", format="YYYY-MM-DD HH:mm:ss"
            ),
            "attempts": st.column_config.NumberColumn("Attempts", width="small"),
            "next": st.column_config.DatetimeColumn(
                "Next attempt (UTC)", format="YYYY-MM-DD HH:mm:ss"
            ),
            "changes": st.column_config.TextColumn("Changes"),
            "error": st.column_config.TextColumn("Last error"),
        },
        height=min(38 + 35 * len(rows), 420),
    )


def render() -> None:
    """Draw the Alerts page."""
    rows = alert_rows(ui.get("/v1/alerts"))
    events = alert_events(ui.get("/v1/alerts/events", since=ui.since(), limit=EVENT_LIMIT))
    ready, ready_error = ui.try_get("/readyz", accept=(503,))
    notifiers = delivery_status(ready)
    waiting = outbox_messages(ready)
    st.title("Alerts")
    st.caption(f"alert states now · changes in the last {ui.time_range()}")
    counts = state_counts(rows)
    cols = st.columns(5)
    cols[0].metric(":red[:material/notifications_active: Firing]", counts["firing"], border=True)
    cols[1].metric(":orange[:material/pending: Pending]", counts["pending"], border=True)
    cols[2].metric(":gray[:material/hourglass_empty: No data]", counts["no_data"], border=True)
    cols[3].metric(
        ":blue[:material/history: Changes]",
        len(events),
        border=True,
        help="State changes in the range.",
    )
    cols[4].metric(
        ":violet[:material/send: Notifiers failing]",
        sum(1 for n in notifiers if n.status in ("failed", "given up", "disabled")),
        border=True,
    )
    _active(rows)
    _history(events)
    _delivery(notifiers, waiting, ready_error)


ui.page(render)
