"""Alert rules: pending/firing/resolved, repeats, no_data, failed runs, silences, grouping."""

from __future__ import annotations

from datetime import datetime, timedelta

from driftscope.core.alerting.config import AlertRuleSettings
from driftscope.core.alerting.rules import MONITOR_DETECTOR, Evaluation, MonitorAlerting, evaluate
from driftscope.core.contracts.notifier import Notification
from driftscope.core.contracts.report import Report, ResultRow
from driftscope.core.contracts.store import AlertState, Silence
from support.reports import MONITOR, T0, report


class Rules:
    """Feeds reports through the rules, carrying states forward as the store would."""

    def __init__(self, notify: tuple[str, ...] = ("ops",), **rules: object) -> None:
        self.alerting = MonitorAlerting(
            rules=AlertRuleSettings(**rules),  # type: ignore[arg-type]
            notify=notify,
            min_samples=200,
            dashboard_url="https://dash.example/",
        )
        self.states: dict[tuple[str, str, str], AlertState] = {}
        self.silences: list[Silence] = []

    def run(self, r: Report, now: datetime | None = None) -> Evaluation:
        result = evaluate(r, self.alerting, self.states, self.silences, now or r.created_at)
        for state in result.states:
            self.states[state.key] = state
        return result

    def state(self, feature: str, detector: str = "psi") -> str:
        key = (MONITOR, detector, feature)
        return self.states[key].state if key in self.states else "ok"


def transitions(result: Evaluation) -> list[tuple[str, str, str]]:
    return [(e.feature, e.from_state, e.to_state) for e in result.events]


def sent_changes(result: Evaluation) -> list[tuple[str, str, str]]:
    assert len({m.notifier for m in result.messages}) == len(result.messages)
    if not result.messages:
        return []
    notification = Notification.from_dict(result.messages[0].payload)
    return [(c.feature, c.from_state, c.to_state) for c in notification.changes]


def test_many_drifting_features_make_one_message_per_notifier() -> None:
    rules = Rules(notify=("ops", "pager"))
    features = {f"f{i}": True for i in range(30)} | {"calm": False}
    result = rules.run(report(features))
    assert len(result.messages) == 2
    assert {m.notifier for m in result.messages} == {"ops", "pager"}
    changes = sent_changes(result)
    assert len(changes) == 30
    assert all(c[1:] == ("ok", "firing") for c in changes)
    payload = result.messages[0].payload
    assert payload["dashboard_url"] == "https://dash.example/"
    assert payload["window"]["rows"] == 500 and payload["window"]["min_samples"] == 200
    assert Notification.from_dict(payload).state == "firing"
    # a clean key that never drifted is not written at all
    assert (MONITOR, "psi", "calm") not in rules.states


def test_firing_is_not_repeated_inside_repeat_every_then_repeated() -> None:
    rules = Rules(repeat_every="1h")
    rules.run(report({"age": True}))
    again = rules.run(report({"age": True}, at=T0 + timedelta(minutes=30)))
    assert again.events == [] and again.messages == []
    later = rules.run(report({"age": True}, at=T0 + timedelta(minutes=61)))
    assert later.events == []  # a repeat is not a state change
    assert sent_changes(later) == [("age", "firing", "firing")]


def test_resolution_after_resolve_runs_clean_runs_is_announced() -> None:
    rules = Rules(resolve_runs=2)
    rules.run(report({"age": True}))
    first_clean = rules.run(report({"age": False}, at=T0 + timedelta(minutes=1)))
    assert first_clean.events == [] and rules.state("age") == "firing"
    second = rules.run(report({"age": False}, at=T0 + timedelta(minutes=2)))
    assert transitions(second) == [("age", "firing", "resolved")]
    assert sent_changes(second) == [("age", "firing", "resolved")]
    assert Notification.from_dict(second.messages[0].payload).state == "resolved"
    # resolved fires again on the next drift
    again = rules.run(report({"age": True}, at=T0 + timedelta(minutes=3)))
    assert transitions(again) == [("age", "resolved", "firing")]


def test_a_drift_between_clean_runs_restarts_the_resolve_count() -> None:
    rules = Rules(resolve_runs=2)
    rules.run(report({"age": True}))
    rules.run(report({"age": False}, at=T0 + timedelta(minutes=1)))
    rules.run(report({"age": True}, at=T0 + timedelta(minutes=2)))
    still = rules.run(report({"age": False}, at=T0 + timedelta(minutes=3)))
    assert still.events == [] and rules.state("age") == "firing"


def test_for_runs_goes_through_pending_which_is_recorded_not_sent() -> None:
    rules = Rules(for_runs=3)
    first = rules.run(report({"age": True}))
    assert transitions(first) == [("age", "ok", "pending")] and first.messages == []
    second = rules.run(report({"age": True}, at=T0 + timedelta(minutes=1)))
    assert second.events == [] and second.messages == []
    third = rules.run(report({"age": True}, at=T0 + timedelta(minutes=2)))
    assert transitions(third) == [("age", "pending", "firing")]
    assert sent_changes(third) == [("age", "pending", "firing")]

    rules2 = Rules(for_runs=2)
    rules2.run(report({"age": True}))
    back = rules2.run(report({"age": False}, at=T0 + timedelta(minutes=1)))
    assert transitions(back) == [("age", "pending", "ok")] and back.messages == []


def test_insufficient_data_goes_to_no_data_holds_drift_keys_and_announces_recovery() -> None:
    rules = Rules(repeat_every="4h")
    rules.run(report({"age": True, "income": False}))
    starved = rules.run(
        report(
            {"age": False, "income": True},
            at=T0 + timedelta(minutes=1),
            rows=12,
            status="insufficient_data",
        )
    )
    assert transitions(starved) == [("", "ok", "no_data")]
    assert starved.events[0].detector == MONITOR_DETECTOR
    change = Notification.from_dict(starved.messages[0].payload).changes[0]
    assert (change.kind, change.to_state, change.statistic, change.threshold) == (
        "monitor",
        "no_data",
        12.0,
        200.0,
    )
    # drift keys are held while there is no data: age stays firing, income does not fire
    assert rules.state("age") == "firing" and rules.state("income") == "ok"
    held = rules.run(report({}, at=T0 + timedelta(minutes=2), rows=3, status="insufficient_data"))
    assert held.events == [] and held.messages == []
    back = rules.run(report({"age": True, "income": False}, at=T0 + timedelta(minutes=3)))
    assert transitions(back) == [("", "no_data", "resolved")]
    assert sent_changes(back) == [("", "no_data", "resolved")]
    assert rules.state("age") == "firing"


def test_failed_runs_and_failed_results_change_nothing() -> None:
    rules = Rules()
    rules.run(report({"age": True}))
    failed_run = rules.run(report({"age": False}, at=T0 + timedelta(minutes=1), status="failed"))
    assert failed_run.events == [] and failed_run.messages == [] and failed_run.states == []
    failed_row = rules.run(
        report({"age": False}, at=T0 + timedelta(minutes=2), row_status={"age": "failed"})
    )
    assert failed_row.events == [] and rules.state("age") == "firing"


def test_silenced_changes_are_recorded_not_sent_and_announced_after_the_silence() -> None:
    rules = Rules(repeat_every="4h")
    rules.silences = [
        Silence(
            id="s1",
            monitor=MONITOR,
            starts_at=T0 - timedelta(minutes=1),
            ends_at=T0 + timedelta(minutes=30),
            reason="maintenance",
            feature="age",
        )
    ]
    muted = rules.run(report({"age": True, "income": True}))
    assert [(e.feature, e.silenced) for e in muted.events] == [("age", True), ("income", False)]
    assert sent_changes(muted) == [("income", "ok", "firing")]
    inside = rules.run(report({"age": True, "income": True}, at=T0 + timedelta(minutes=10)))
    assert inside.messages == []
    # the silence has ended; age is still firing and was never announced
    after = rules.run(report({"age": True, "income": True}, at=T0 + timedelta(minutes=31)))
    assert sent_changes(after) == [("age", "firing", "firing")]


def test_a_silence_without_feature_mutes_the_no_data_alert_too() -> None:
    rules = Rules()
    rules.silences = [
        Silence("s", MONITOR, T0 - timedelta(hours=1), T0 + timedelta(hours=1), "deploy")
    ]
    result = rules.run(report({}, rows=0, status="insufficient_data"))
    assert [e.silenced for e in result.events] == [True] and result.messages == []


def test_no_notifiers_records_states_and_events_without_messages() -> None:
    rules = Rules(notify=())
    result = rules.run(report({"age": True}))
    assert transitions(result) == [("age", "ok", "firing")] and result.messages == []
    assert rules.states[(MONITOR, "psi", "age")].last_notified_at is None


def test_prediction_rows_use_their_kind_as_feature_and_the_input_is_not_modified() -> None:
    rules = Rules()
    r = report({})
    r.results.append(
        ResultRow(
            kind="prediction",
            feature=None,
            detector="ks",
            statistic=0.3,
            p_value=0.001,
            threshold=0.05,
            drifted=True,
        )
    )
    before = dict(rules.states)
    result = evaluate(r, rules.alerting, before, [], T0)
    assert before == {}
    change = Notification.from_dict(result.messages[0].payload).changes[0]
    assert (change.feature, change.kind, change.p_value) == ("prediction", "prediction", 0.001)
