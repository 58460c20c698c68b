"""The SQL store, run against SQLite and PostgreSQL with the same tests (``store`` fixture)."""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pydantic import SecretStr
from sqlalchemy import update

import driftscope.plugins.stores.sql as sql_plugin
from driftscope import (
    AlertEvent,
    AlertState,
    DeadLetter,
    FeatureSpec,
    ModelSchema,
    NotifierStatus,
    OutboxMessage,
    PredictionRecord,
    Report,
    Silence,
    StoreError,
    StoreSettings,
)
from driftscope.core.plugin_system.manager import PluginManager
from driftscope.plugins.stores.sql import SCHEMA_VERSION, T_VERSION, SQLStore
from support.reports import report, result
from support.waiting import ManualClock

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SCHEMA = ModelSchema(
    name="iris",
    features=(
        FeatureSpec("sepal length (cm)"),
        FeatureSpec("petal width"),
        FeatureSpec("colour", "categorical"),
    ),
    task="classification",
    classes=("setosa", "versicolor", "virginica"),
)
REGRESSION = ModelSchema(
    name="price",
    features=(FeatureSpec("rooms"), FeatureSpec("city", "categorical")),
    task="regression",
)


def open_store(url: str, clock: Callable[[], datetime] | None = None) -> SQLStore:
    store = SQLStore(StoreSettings(url=SecretStr(url)), **({"clock": clock} if clock else {}))
    store.open()
    return store


def url_of(store: SQLStore) -> str:
    return store.settings.url.get_secret_value()


def record(i: int, *, model: str = "iris", at: datetime | None = None, **kw) -> PredictionRecord:
    values = {
        "id": f"p{i}",
        "model": model,
        "timestamp": at or T0 + timedelta(seconds=i),
        "features": {"sepal length (cm)": float(i), "petal width": 0.5, "colour": "red"},
        "prediction": "setosa",
        "probabilities": {"setosa": 0.7, "versicolor": 0.2, "virginica": 0.1},
        "latency_ms": 1.0 + i,
    }
    values.update(kw)
    return PredictionRecord(**values)


def window(store: SQLStore, model: str = "iris", **kw):
    return store.read_window(model, T0 - timedelta(days=1), T0 + timedelta(days=1), **kw)


def numbered_report(i: int, *, monitor: str = "iris-drift", at: datetime | None = None) -> Report:
    """Report ``r{i}`` of ``monitor``, made ``i`` minutes after T0 unless ``at`` says when; its
    one drifted result carries a numpy integer in its details, as detectors' results may."""
    return report(
        id=f"r{i}",
        monitor=monitor,
        model="iris",
        at=at or T0 + timedelta(minutes=i),
        rows=100,
        labelled_rows=10,
        duration_ms=12.5,
        results=[
            result(
                "petal width",
                "psi",
                0.3 + i,
                drifted=True,
                details={"edges": [0.0, 1.0], "n": np.int64(3)},
            )
        ],
    )


# -- registration and layout -----------------------------------------------------------------------
def test_the_plugin_registers_sql():
    manager = PluginManager()
    manager.register(sql_plugin, "driftscope.plugins.stores.sql", source="built-in")
    assert manager.get("store", "sql") is SQLStore


def test_open_and_register_are_idempotent(store):
    store.open()
    store.register_model(SCHEMA)
    store.register_model(SCHEMA)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.get_model_schema("iris") == SCHEMA
    assert store.get_model_schema("nope") is None
    store.ping()


def test_round_trip_keeps_nan_none_infinity_categories_and_probabilities(store):
    store.register_model(SCHEMA)
    records = [
        record(0),
        record(1, features={"sepal length (cm)": math.nan, "petal width": None, "colour": None}),
        record(
            2, features={"sepal length (cm)": math.inf, "petal width": -math.inf, "colour": "b"}
        ),
        record(3, probabilities=None, prediction="virginica", label="virginica", latency_ms=None),
        record(4, features={"sepal length (cm)": np.float32(2.5), "petal width": 7, "colour": 3}),
    ]
    assert store.write_predictions(records) == 5
    w = window(store)
    assert w.rows == 5 and w.sampled_from is None
    sepal = w.columns["sepal length (cm)"]
    assert sepal.dtype == np.float64
    assert sepal[0] == 0.0 and math.isnan(sepal[1]) and sepal[2] == math.inf and sepal[4] == 2.5
    petal = w.columns["petal width"]
    assert math.isnan(petal[1]) and petal[2] == -math.inf and petal[4] == 7.0
    colour = w.columns["colour"]
    assert colour.dtype == object and list(colour) == ["red", None, "b", "red", "3"]
    assert w.prediction.dtype == object
    assert list(w.prediction) == ["setosa"] * 3 + ["virginica", "setosa"]
    assert list(w.labels) == [None, None, None, "virginica", None]
    assert w.probabilities is not None and w.probabilities.shape == (5, 3)
    np.testing.assert_array_equal(w.probabilities[0], [0.7, 0.2, 0.1])
    assert np.isnan(w.probabilities[3]).all()


def test_a_large_window_reads_the_same_values(store):
    """Big windows take the bulk path (COPY on PostgreSQL); values must not change."""
    store.register_model(SCHEMA)
    n = 6_000
    rng = np.random.default_rng(1)
    sepal = rng.normal(size=n)
    sepal[::7] = np.nan
    colours = [None if i % 5 == 0 else f"c{i % 3}" for i in range(n)]
    records = [
        record(
            i,
            at=T0 + timedelta(milliseconds=i),
            features={"sepal length (cm)": sepal[i], "petal width": None, "colour": colours[i]},
            label="virginica" if i % 2 else None,
        )
        for i in range(n)
    ]
    # SQLite writes this in several multi-row statements (the parameter limit splits it)
    assert store.write_predictions(records) == n
    assert store.write_predictions(records[-2_500:]) == 0  # known ids are skipped
    w = window(store)
    assert w.rows == n
    np.testing.assert_array_equal(w.columns["sepal length (cm)"], sepal)
    assert np.isnan(w.columns["petal width"]).all()
    assert list(w.columns["colour"]) == colours
    assert list(w.labels[:3]) == [None, "virginica", None]
    assert w.probabilities is not None and (w.probabilities[:, 0] == 0.7).all()


def test_a_stored_value_equal_to_the_null_sentinel_is_read_exactly(store):
    # the value an earlier read path stood in for NULL with (and then checked the window for)
    old_sentinel = -7.291122019556397e-304
    store.register_model(SCHEMA)
    features = {"sepal length (cm)": old_sentinel, "petal width": None, "colour": "x"}
    store.write_predictions([record(0, features=features), record(1)])
    sepal = window(store).columns["sepal length (cm)"]
    assert sepal[0] == old_sentinel and sepal[1] == 1.0
    assert math.isnan(window(store).columns["petal width"][0])


def test_regression_predictions_and_labels_are_floats(store):
    store.register_model(REGRESSION)
    rows = [
        PredictionRecord(
            f"h{i}", "price", T0 + timedelta(seconds=i), {"rooms": i, "city": "x"}, i * 1.5
        )
        for i in range(4)
    ]
    store.write_predictions(rows)
    update_ = store.attach_labels("price", [("h1", 2.0), ("h3", "4.5")])
    assert update_.updated == 2 and update_.unknown_ids == []
    w = window(store, "price")
    assert w.prediction.dtype == np.float64 and list(w.prediction) == [0.0, 1.5, 3.0, 4.5]
    assert w.labels.dtype == np.float64
    assert math.isnan(w.labels[0]) and w.labels[1] == 2.0 and w.labels[3] == 4.5
    assert w.probabilities is None


def test_window_bounds_are_start_inclusive_end_exclusive(store):
    store.register_model(SCHEMA)
    store.write_predictions([record(i) for i in range(10)])
    w = store.read_window("iris", T0 + timedelta(seconds=2), T0 + timedelta(seconds=5))
    assert list(w.columns["sepal length (cm)"]) == [2.0, 3.0, 4.0]
    assert w.start == T0 + timedelta(seconds=2) and w.start.tzinfo is not None
    assert store.count_predictions(
        "iris", T0 + timedelta(seconds=2), T0 + timedelta(seconds=5)
    ) == (3, 0)
    empty = store.read_window("iris", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    assert empty.rows == 0 and empty.columns["colour"].shape == (0,)
    assert empty.probabilities is not None and empty.probabilities.shape == (0, 3)


def test_max_rows_returns_a_uniform_sample_drawn_in_the_database(store):
    store.register_model(SCHEMA)
    store.write_predictions([record(i) for i in range(2000)])
    w = window(store, max_rows=400)
    assert w.rows == 400 and w.sampled_from == 2000
    values = w.columns["sepal length (cm)"]
    assert len(set(values)) == 400 and set(values) <= set(map(float, range(2000)))
    assert 850 < values.mean() < 1150  # spread over the whole window, not its start
    assert (np.diff(values) > 0).all()  # returned in time order
    assert window(store, max_rows=5000).sampled_from is None


def test_labels_report_unknown_ids_and_count_relabels(store):
    store.register_model(SCHEMA)
    store.write_predictions([record(i) for i in range(5)])
    first = store.attach_labels("iris", [("p0", "setosa"), ("p1", "virginica"), ("zz", "setosa")])
    assert first.updated == 2 and first.unknown_ids == ["zz"]
    labels = [("p0", "versicolor"), ("p4", 1), ("yy", "a"), ("xx", "b")]
    again = store.attach_labels("iris", labels, overwrite=True)
    assert again.updated == 2 and again.unknown_ids == ["yy", "xx"]
    assert list(window(store).labels) == ["versicolor", "virginica", None, None, "1"]
    assert store.count_predictions("iris", T0, T0 + timedelta(hours=1)) == (5, 3)
    many = [(f"p{i % 5}", "setosa") for i in range(10_000)] + [(f"u{i}", "x") for i in range(3)]
    result = store.attach_labels("iris", many, overwrite=True)
    assert result.updated == 5 and result.unknown_ids == ["u0", "u1", "u2"]


def test_prediction_stats(store):
    store.register_model(SCHEMA)
    store.write_predictions([record(i, latency_ms=float(i + 1)) for i in range(100)])
    store.attach_labels("iris", [("p1", "setosa")])
    stats = store.prediction_stats("iris", T0, T0 + timedelta(hours=1))
    assert stats.count == 100 and stats.labelled == 1
    assert stats.latency_p50_ms == pytest.approx(50.5)
    assert stats.latency_p99_ms == pytest.approx(float(np.percentile(np.arange(1, 101), 99)))
    assert stats.first_at == T0 and stats.last_at == T0 + timedelta(seconds=99)
    assert stats.active_minutes == 2  # 12:00:00-12:00:59 and 12:01:00-12:01:39
    none = store.prediction_stats("iris", T0 + timedelta(days=2), T0 + timedelta(days=3))
    assert none.count == 0 and none.latency_p50_ms is None and none.first_at is None
    assert none.active_minutes == 0


def test_unregistered_models_and_unknown_features_are_errors_and_nothing_is_written(store):
    store.register_model(SCHEMA)
    with pytest.raises(StoreError, match="'ghost'"):
        store.write_predictions([record(0), record(1, model="ghost")])
    with pytest.raises(StoreError, match="oops"):
        store.write_predictions([record(2, features={"oops": 1.0})])
    assert window(store).rows == 0
    with pytest.raises(StoreError, match="'ghost'"):
        store.read_window("ghost", T0, T0 + timedelta(hours=1))
    assert store.write_predictions([record(0)]) == 1
    assert store.write_predictions([record(0), record(1)]) == 1  # a known id is skipped


def test_register_model_adds_features_and_classes(store):
    store.register_model(SCHEMA)
    store.write_predictions([record(0)])
    wider = ModelSchema(
        "iris",
        (*SCHEMA.features, FeatureSpec("stem", "categorical"), FeatureSpec("age")),
        classes=(*(SCHEMA.classes or ()), "other"),
    )
    store.register_model(wider)
    features = {"sepal length (cm)": 1.0, "petal width": 2.0, "colour": "g", "stem": "s", "age": 3}
    store.write_predictions([record(1, features=features, probabilities={"other": 1.0})])
    w = window(store)
    assert list(w.columns["stem"]) == [None, "s"]
    assert math.isnan(w.columns["age"][0]) and w.columns["age"][1] == 3.0
    assert w.probabilities is not None and w.probabilities.shape == (2, 4)
    assert w.probabilities[1, 3] == 1.0 and math.isnan(w.probabilities[0, 3])
    with pytest.raises(StoreError, match="numeric"):
        store.register_model(ModelSchema("iris", (FeatureSpec("colour"),), classes=SCHEMA.classes))
    with pytest.raises(StoreError, match="classification"):
        store.register_model(ModelSchema("iris", SCHEMA.features, task="regression"))


def test_another_instance_sees_new_features_without_restarting(store):
    store.register_model(SCHEMA)
    store.write_predictions([record(0)])  # caches the layout
    other = open_store(url_of(store))
    try:
        other.register_model(ModelSchema("iris", (FeatureSpec("extra"),), classes=SCHEMA.classes))
    finally:
        other.close()
    features = {"sepal length (cm)": 1.0, "petal width": 2.0, "colour": "g", "extra": 9.0}
    assert store.write_predictions([record(1, features=features)]) == 1
    assert window(store).columns["extra"][1] == 9.0


def test_data_survives_reopening_by_another_instance(store):
    store.register_model(SCHEMA)
    store.write_predictions([record(i) for i in range(3)])
    store.save_report(numbered_report(1))
    url = url_of(store)
    store.close()
    again = open_store(url)
    try:
        assert window(again).rows == 3
        assert again.get_report("r1") is not None
    finally:
        again.close()
    store.open()  # a closed store opens again
    assert window(store).rows == 3


def test_concurrent_writers_from_threads(store):
    store.register_model(SCHEMA)
    errors: list[BaseException] = []

    def write(k: int) -> None:
        try:
            for b in range(5):
                store.write_predictions([record(k * 1000 + b * 10 + i) for i in range(10)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert window(store).rows == 200


# -- reports ---------------------------------------------------------------------------------------
def test_reports_save_get_and_list_newest_first(store):
    for i in range(5):
        store.save_report(numbered_report(i))
    store.save_report(numbered_report(9, monitor="other"))
    got = store.get_report("r2")
    assert got is not None and got.to_dict() == numbered_report(2).to_dict() | {
        "results": [
            numbered_report(2).to_dict()["results"][0] | {"details": {"edges": [0.0, 1.0], "n": 3}}
        ]
    }
    assert got.created_at.tzinfo is not None and got.drifted
    assert store.get_report("missing") is None
    assert [r.id for r in store.list_reports("iris-drift")] == ["r4", "r3", "r2", "r1", "r0"]
    listed = store.list_reports(
        "iris-drift", since=T0 + timedelta(minutes=1), before=T0 + timedelta(minutes=4), limit=2
    )
    assert [r.id for r in listed] == ["r3", "r2"]
    store.save_report(numbered_report(2))  # saving again replaces
    assert len(store.list_reports("iris-drift")) == 5


# -- leases ----------------------------------------------------------------------------------------
def test_leases_between_two_store_instances(store):
    # two processes on one database, on one clock the test moves: no waiting for expiry
    clock = ManualClock(T0)
    mine, other = open_store(url_of(store), clock=clock), open_store(url_of(store), clock=clock)
    try:
        assert mine.acquire_lease("monitor:iris", "a", 30)
        assert not other.acquire_lease("monitor:iris", "b", 30)
        assert mine.acquire_lease("monitor:iris", "a", 30)  # renew
        other.release_lease("monitor:iris", "b")  # not the holder: no-op
        assert not other.acquire_lease("monitor:iris", "b", 30)
        mine.release_lease("monitor:iris", "a")
        assert other.acquire_lease("monitor:iris", "b", 60)
        assert not mine.acquire_lease("monitor:iris", "a", 30)
        clock.advance(timedelta(seconds=60) - timedelta(microseconds=1))
        assert not mine.acquire_lease("monitor:iris", "a", 30)  # held to its last instant
        clock.advance(timedelta(microseconds=1))  # b's lease expires
        assert mine.acquire_lease("monitor:iris", "a", 30)
        assert not other.acquire_lease("monitor:iris", "b", 30)
        assert other.acquire_lease("another", "b", 30)
        # a renewal extends the lease from the time it is renewed
        clock.advance(timedelta(seconds=20))
        assert mine.acquire_lease("monitor:iris", "a", 30)
        clock.advance(timedelta(seconds=29))
        assert not other.acquire_lease("monitor:iris", "b", 30)
    finally:
        mine.close()
        other.close()


def test_only_one_of_many_racing_owners_gets_a_lease(store):
    others = [open_store(url_of(store)) for _ in range(4)]
    wins: list[str] = []
    barrier = threading.Barrier(len(others))

    def race(k: int) -> None:
        barrier.wait()
        if others[k].acquire_lease("race", f"owner{k}", 30):
            wins.append(f"owner{k}")

    threads = [threading.Thread(target=race, args=(k,)) for k in range(len(others))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for o in others:
            o.close()
    assert len(wins) == 1


# -- alerts, outbox, silences, notifier status -----------------------------------------------------
def state(feature: str, value: str = "firing", **kw) -> AlertState:
    return AlertState("iris-drift", "psi", feature, value, changed_at=T0, statistic=0.4, **kw)


def event(feature: str, at: datetime, to: str = "firing") -> AlertEvent:
    return AlertEvent("iris-drift", "psi", feature, "ok", to, at, statistic=0.4, threshold=0.25)


def message(i: int, **kw) -> OutboxMessage:
    values = {
        "id": f"m{i}",
        "notifier": "ops",
        "monitor": "iris-drift",
        "payload": {"text": f"alert {i}", "n": i},
        "created_at": T0 + timedelta(seconds=i),
    }
    values.update(kw)
    return OutboxMessage(**values)


def test_commit_alert_changes_and_read_them_back(store):
    events = [event("colour", T0), event("petal width", T0 + timedelta(seconds=1))]
    store.commit_alert_changes([state("colour"), state("petal width")], events, [message(1)])
    assert all(e.id is not None for e in events)
    states = store.get_alert_states("iris-drift")
    assert set(states) == {("iris-drift", "psi", "colour"), ("iris-drift", "psi", "petal width")}
    assert states[("iris-drift", "psi", "colour")].changed_at == T0
    store.commit_alert_changes([state("colour", "resolved", consecutive_clean=2)], [], [])
    assert store.get_alert_states("iris-drift")[("iris-drift", "psi", "colour")].state == "resolved"
    assert [s.feature for s in store.list_alert_states("firing")] == ["petal width"]
    assert len(store.list_alert_states()) == 2
    history = store.list_alert_events(monitor="iris-drift")
    assert [e.feature for e in history] == ["petal width", "colour"]
    assert history[0].at.tzinfo is not None and history[0].silenced is False
    assert (
        store.list_alert_events(since=T0 + timedelta(seconds=1), limit=5)[0].feature
        == "petal width"
    )
    assert store.list_alert_events(monitor="nobody") == []


def test_outbox_reads_only_the_notifiers_asked_for(store):
    store.commit_alert_changes(
        [],
        [],
        [
            message(0, notifier="ops"),
            message(1, notifier="pager"),
            message(2, notifier="ops", status="sent"),
            message(3, notifier="audit"),
        ],
    )
    later = T0 + timedelta(minutes=1)
    assert [m.id for m in store.due_messages(later, notifiers={"ops"})] == ["m0"]
    assert [m.id for m in store.due_messages(later, notifiers=["ops", "audit"])] == ["m0", "m3"]
    assert store.due_messages(later, notifiers=[]) == []
    assert [m.id for m in store.due_messages(later)] == ["m0", "m1", "m3"]
    assert [m.id for m in store.list_messages(notifiers=("ops",))] == ["m2", "m0"]
    assert [m.id for m in store.list_messages(status="pending", notifiers=["pager"])] == ["m1"]
    assert store.list_messages(notifiers=["nobody"]) == []
    assert store.list_messages(notifiers=[]) == []


def test_commit_alert_changes_is_one_transaction(store):
    store.commit_alert_changes([], [], [message(1)])
    with pytest.raises(StoreError):  # m1 exists: the whole commit must roll back
        store.commit_alert_changes(
            [state("colour")], [event("colour", T0)], [message(2), message(1)]
        )
    assert store.get_alert_states("iris-drift") == {}
    assert store.list_alert_events() == []
    assert [m.id for m in store.list_messages()] == ["m1"]


def test_outbox_due_update_and_list(store):
    later = T0 + timedelta(minutes=10)
    store.commit_alert_changes(
        [], [], [message(1), message(2, next_attempt_at=later), message(3), message(0)]
    )
    due = store.due_messages(T0 + timedelta(minutes=1))
    assert [m.id for m in due] == ["m0", "m1", "m3"]
    assert due[1].payload == {"text": "alert 1", "n": 1} and due[1].created_at.tzinfo is not None
    assert [m.id for m in store.due_messages(later, limit=2)] == ["m0", "m1"]
    sent = due[0]
    sent.status, sent.attempts, sent.sent_at, sent.external_id = "sent", 1, later, "discord-1"
    store.update_message(sent)
    retry = due[1]
    retry.attempts, retry.last_error = 1, "429 rate limited"
    retry.next_attempt_at = T0 + timedelta(hours=1)
    store.update_message(retry)
    assert [m.id for m in store.due_messages(later)] == ["m2", "m3"]
    [saved] = store.list_messages(status="sent")
    assert saved.external_id == "discord-1" and saved.sent_at == later and saved.attempts == 1
    assert [m.id for m in store.list_messages()] == ["m3", "m2", "m1", "m0"]
    assert [m.last_error for m in store.list_messages(status="pending", limit=10)][2] == (
        "429 rate limited"
    )
    with pytest.raises(StoreError, match="m404"):
        store.update_message(message(404))


def test_silences(store):
    s1 = Silence("s1", "iris-drift", T0, T0 + timedelta(hours=1), "deploy", feature="colour")
    s2 = Silence("s2", "iris-drift", T0 + timedelta(hours=2), T0 + timedelta(hours=3), "later")
    store.add_silence(s1)
    store.add_silence(s2)
    assert store.list_silences() == [s1, s2]
    assert store.list_silences(active_at=T0 + timedelta(minutes=30)) == [s1]
    assert store.list_silences(active_at=T0 + timedelta(hours=1)) == []
    assert store.delete_silence("s1") and not store.delete_silence("s1")
    assert store.list_silences() == [s2]


def test_notifier_status(store):
    assert store.get_notifier_status("ops") is None
    status = NotifierStatus("ops", "abc", disabled=True, reason="401", changed_at=T0)
    store.set_notifier_status(status)
    assert store.get_notifier_status("ops") == status
    store.set_notifier_status(NotifierStatus("ops", "def"))
    assert store.get_notifier_status("ops") == NotifierStatus("ops", "def")


# -- retention -------------------------------------------------------------------------------------
def test_prune_deletes_old_rows_in_batches_and_dry_run_only_counts(store):
    store.register_model(SCHEMA)
    store.register_model(REGRESSION)
    store.write_predictions([record(i, at=T0 - timedelta(days=10, seconds=i)) for i in range(25)])
    store.write_predictions([record(100 + i) for i in range(5)])
    store.save_report(numbered_report(1, at=T0 - timedelta(days=10)))
    store.save_report(numbered_report(2, at=T0))
    old = T0 - timedelta(days=10)
    store.commit_alert_changes(
        [state("colour")],
        [event("colour", old), event("colour", T0)],
        [
            message(1, created_at=old, status="sent"),
            message(2, created_at=old, status="failed"),
            message(3, created_at=old),  # pending: never pruned
            message(4, created_at=old, status="muted"),
            message(5, status="sent"),
            message(6, created_at=old, status="given_up"),
        ],
    )
    cutoff = T0 - timedelta(days=1)
    expected = {"predictions": 25, "reports": 1, "alert_events": 1, "outbox": 4}
    dry = store.prune(cutoff, dry_run=True, batch_size=7)
    assert {k: getattr(dry, k) for k in expected} == expected
    assert dry.details == {"predictions:iris": 25, "predictions:price": 0}
    everything = (T0 - timedelta(days=30), T0 + timedelta(days=1))
    assert store.count_predictions("iris", *everything) == (30, 0)
    done = store.prune(cutoff, batch_size=7)
    assert {k: getattr(done, k) for k in expected} == expected
    assert store.count_predictions("iris", *everything) == (5, 0)
    assert [r.id for r in store.list_reports("iris-drift")] == ["r2"]
    assert len(store.list_alert_events()) == 1
    assert sorted(m.id for m in store.list_messages()) == ["m3", "m5"]
    assert store.get_alert_states("iris-drift")  # states are never pruned
    assert store.prune(cutoff).predictions == 0


# -- dead letters ----------------------------------------------------------------------------------
def _poison(record_id: str) -> PredictionRecord:
    return PredictionRecord(
        id=record_id,
        model="iris",
        timestamp=T0,
        features={"sepal length (cm)": math.nan, "petal width": None, "colour": "r\ud800d"},
        prediction="set\x00osa",
        probabilities={"setosa": 0.25, "versicolor": 0.75},
        latency_ms=1.5,
        label=None,
    )


def test_dead_letters_keep_a_refused_record_exactly(store):
    store.register_model(SCHEMA)
    poison = _poison("bad\x00id")
    with pytest.raises(StoreError) as refused:
        store.write_predictions([poison])
    assert refused.value.transient is False
    letters = [DeadLetter.of(poison, str(refused.value), T0)]
    letters += [DeadLetter.of(_poison(f"p{i}"), "reason", T0) for i in range(4)]
    letters[-1].model = "other"
    store.add_dead_letters(letters)
    assert store.count_dead_letters() == 5
    kept = store.list_dead_letters(limit=10)
    assert [letter.record_id for letter in kept] == ["bad\\u0000id", "p0", "p1", "p2", "p3"]
    first = kept[0].record()
    assert (first.id, first.prediction, first.features["colour"]) == (
        "bad\x00id",
        "set\x00osa",
        "r\ud800d",
    )
    assert math.isnan(first.features["sepal length (cm)"]) and first.timestamp == T0
    assert first.probabilities == {"setosa": 0.25, "versicolor": 0.75}
    assert "cannot" in kept[0].reason and kept[0].reason.isascii()
    page = store.list_dead_letters(after_id=kept[1].id, limit=2)
    assert [letter.record_id for letter in page] == ["p1", "p2"]
    assert [letter.record_id for letter in store.list_dead_letters(model="other")] == ["p3"]
    kept[1].reason, kept[1].attempts = "refused again", 2
    store.update_dead_letter(kept[1])
    again = store.list_dead_letters(ids=[kept[1].id])[0]
    assert (again.reason, again.attempts) == ("refused again", 2)
    assert store.delete_dead_letters([kept[0].id, kept[1].id, 10**9]) == 2
    assert store.count_dead_letters() == 3


def test_write_errors_say_whether_a_retry_can_help(store):
    store.register_model(SCHEMA)
    good = _poison("ok")
    good.prediction, good.features = "setosa", {"colour": "red"}
    surrogate = _poison("s")
    surrogate.prediction = "\ud800"
    unknown = _poison("u")
    unknown.model = "nobody"
    for record in (surrogate, unknown):
        with pytest.raises(StoreError) as refused:
            store.write_predictions([good, record])
        assert refused.value.transient is False, refused.value
    assert store.count_predictions("iris", T0, T0 + timedelta(1)) == (0, 0)
    closed = SQLStore(StoreSettings(url=SecretStr(url_of(store))))
    with pytest.raises(StoreError) as not_open:
        closed.write_predictions([good])
    assert not_open.value.transient is True


def test_a_version_1_database_gets_the_dead_letter_table(store):
    store.register_model(SCHEMA)
    record = _poison("kept")
    record.prediction, record.features = "setosa", {"colour": "red"}
    store.write_predictions([record])
    with store._tx("back to version 1", write=True) as conn:
        conn.exec_driver_sql("DROP TABLE dead_letters")
        conn.execute(update(T_VERSION).values(version=1))
    store.close()
    upgraded = SQLStore(StoreSettings(url=SecretStr(url_of(store))))
    upgraded.open()
    try:
        assert upgraded.schema_version() == SCHEMA_VERSION == 3
        upgraded.add_dead_letters([DeadLetter.of(_poison("p"), "why", T0)])
        assert upgraded.count_dead_letters() == 1
        assert upgraded.count_predictions("iris", T0, T0 + timedelta(1)) == (1, 0)
    finally:
        upgraded.close()


# -- schema version, errors and secrets ------------------------------------------------------------
def test_a_newer_schema_version_is_refused(store):
    with store._tx("test", write=True) as conn:
        conn.execute(update(T_VERSION).values(version=SCHEMA_VERSION + 1))
    newer = SQLStore(StoreSettings(url=SecretStr(url_of(store))))
    with pytest.raises(StoreError, match=f"version {SCHEMA_VERSION + 1}.*upgrade driftscope"):
        newer.open()
    with pytest.raises(StoreError, match="not open"):
        newer.ping()


def test_the_url_password_never_shows(sqlite_url):
    secret = f"pw-{uuid.uuid4().hex}"
    url = f"postgresql://driftscope:{secret}@127.0.0.1:1/nowhere?connect_timeout=1"
    store = SQLStore(StoreSettings(url=SecretStr(url)))
    assert secret not in repr(store) and secret not in repr(store.settings)
    assert secret not in store.safe_url and "***" in store.safe_url
    with pytest.raises(StoreError) as caught:
        store.open()
    assert secret not in str(caught.value) and caught.value.__cause__ is None
    for bad in (f"mysql://u:{secret}@h/db", f"::not a url {secret}"):
        with pytest.raises(StoreError) as caught:
            SQLStore(StoreSettings(url=SecretStr(bad)))
        assert secret not in str(caught.value)
    closed = SQLStore(StoreSettings(url=SecretStr(sqlite_url)))
    with pytest.raises(StoreError, match="not open"):
        closed.ping()


def test_in_memory_sqlite_works_for_quick_experiments():
    store = open_store("sqlite://")
    try:
        store.register_model(SCHEMA)
        store.write_predictions([record(0)])
        assert window(store).rows == 1
    finally:
        store.close()


def _numbered_window(store: SQLStore, rows: int) -> tuple[datetime, datetime]:
    """A model whose row i has feature x = i, one row a millisecond."""
    store.register_model(ModelSchema(name="sampled", features=(FeatureSpec("x"),)))
    now = datetime.now(UTC)
    store.write_predictions(
        [
            PredictionRecord(
                uuid.uuid4().hex, "sampled", now - timedelta(milliseconds=rows - i), {"x": i}, "a"
            )
            for i in range(rows)
        ]
    )
    return now - timedelta(hours=1), now + timedelta(seconds=1)


def test_a_prefiltered_sample_is_uniform(store):
    """Each row's inclusion frequency over many samples is near n / total, early or late."""
    total, n, draws = 200, 50, 300
    assert sql_plugin.prefilter_probability(n, total) < 1.0  # the pre-filter is in play
    start, end = _numbered_window(store, total)
    included = np.zeros(total)
    for _ in range(draws):
        window = store.read_window("sampled", start, end, max_rows=n)
        assert window.rows == n and window.sampled_from == total
        x = window.columns["x"].astype(int)
        assert len(set(x.tolist())) == n and np.all(np.diff(x) > 0)  # distinct, time order
        included[x] += 1
    freq = included / draws
    sd = math.sqrt(n / total * (1 - n / total) / draws)
    assert np.abs(freq - n / total).max() < 5 * sd
    assert abs(freq[: total // 2].mean() - freq[total // 2 :].mean()) < 2 * sd
    # the spread of the frequencies is what independent fair draws give, not less or more
    assert 0.6 < freq.std() / sd < 1.4


def test_a_sample_falls_back_to_all_keys_when_the_prefilter_keeps_too_few(store, monkeypatch):
    start, end = _numbered_window(store, 120)
    # patched where the window reader looks it up (the package re-exports it too)
    monkeypatch.setattr(sql_plugin.window, "prefilter_probability", lambda n, total: 0.01)
    window = store.read_window("sampled", start, end, max_rows=100)
    assert window.rows == 100 and window.sampled_from == 120
    assert len(set(window.columns["x"].tolist())) == 100


def test_prefilter_probability_keeps_enough_rows() -> None:
    p = sql_plugin.prefilter_probability
    assert p(100_000, 10_000_000) == pytest.approx(0.013)
    assert p(10, 1_000_000) * 1_000_000 >= 10 + 6 * math.sqrt(10)
    assert p(900, 1000) == 1.0 and p(5, 0) == 1.0


def _sqlite_memory_used() -> int:
    """Bytes SQLite's own allocator holds in this process (``sqlite3_memory_used``): prepared
    statements and page caches, which neither tracemalloc nor Python's counters see."""
    import _sqlite3
    import ctypes

    used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    used.restype = ctypes.c_int64
    return int(used())


def test_sqlite_memory_stays_bounded_over_batches_of_every_size(sqlite_url):
    """Issue 10: every batch size was its own INSERT text, and sqlite3 keeps the last 128
    texts of each connection prepared (about 2 KB per row of 38 columns), so batches of
    varying size under mixed load grew a server by hundreds of MB. A bounded set of
    statement shapes keeps SQLite's memory flat, whatever the batch sizes."""
    wide = ModelSchema(
        "wide", tuple(FeatureSpec(f"x{i}") for i in range(30)), "classification", ("a", "b")
    )
    probabilities = {"a": 0.25, "b": 0.75}

    def batch(first: int, size: int) -> list[PredictionRecord]:
        return [
            PredictionRecord(
                f"w{first + i}",
                "wide",
                T0 + timedelta(milliseconds=first + i),
                {f"x{j}": float(first + i + j) for j in range(30)},
                "b",
                probabilities,
            )
            for i in range(size)
        ]

    store = open_store(sqlite_url)
    try:
        store.register_model(wide)
        assert store.write_predictions(batch(0, 1)) == 1  # connection, schema, page cache
        before = _sqlite_memory_used()
        # executemany's sizes, then the multi-row statements' (padded last chunks)
        sizes = [*range(1, 201), *range(256, 2_049, 97)]
        written, first = 0, 1
        for size in sizes:
            written += store.write_predictions(batch(first, size))
            first += size
        grown = _sqlite_memory_used() - before
        rows, _ = store.count_predictions("wide", T0 - timedelta(days=1), T0 + timedelta(days=1))
        last = window(store, "wide").columns["x29"][-1]
    finally:
        store.close()
    assert written == sum(sizes) and rows == 1 + sum(sizes)
    assert last == float(sum(sizes) + 29)  # the last row of the last batch, intact
    # before the fix: 63 MiB (128 cached statements of 73-200 rows); one statement text per
    # batch size with today's chunks: 75 MiB. After: page cache and a dozen statements per
    # connection, the largest as many rows as SQLite's parameter limit allows (14 MiB here)
    assert grown < 32 * 2**20, f"SQLite grew by {grown / 2**20:.1f} MiB"


@pytest.mark.parametrize("most", [1, 3, 256, 300, 512, 862, 910, 4096])
def test_insert_chunks_cover_every_row_in_as_few_statements_of_a_few_fixed_sizes(
    most: int,
) -> None:
    sizes = {most} | {1 << i for i in range(13) if 1 << i < most}  # most, powers of two below
    shapes: set[int] = set()
    for rows in range(0, 9_000):
        chunks = sql_plugin.insert_chunks(rows, most)
        assert set(chunks) <= sizes
        assert len(chunks) == -(-rows // most)  # as few statements as the cap allows
        assert chunks[:-1] == [most] * (len(chunks) - 1)
        # every row has its place, and the last statement is less than twice its rows
        assert rows <= sum(chunks) and (
            not chunks or chunks[-1] < 2 * (rows - most * (len(chunks) - 1))
        )
        shapes.update(chunks)
    assert shapes == sizes
