"""Every renderer puts each number beside the threshold it was compared with.

A KS alert decides on a p-value (after the monitor's correction) and, with
``min_statistic``, also holds its statistic D against a floor; PSI holds its statistic
against a threshold; performance holds the window's metric against its lowest acceptable
value. One real monitor run on drifted traffic makes such alerts (D and the p-value far
apart), and each renderer is read: the report row, the Discord embed, the webhook JSON, the
log notifier, ``driftscope alerts``, ``driftscope run`` and ``GET /v1/alerts``. The expected
numbers come from scipy's ``ks_2samp`` and scikit-learn's ``accuracy_score`` on the rows the
test logged, never from driftscope.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import skops.io as sio
from pydantic import SecretStr
from scipy import stats
from sklearn.metrics import accuracy_score
from sqlalchemy import update
from typer.testing import CliRunner

from driftscope.apps.api.main import create_app
from driftscope.core.config.environment import DeploymentSettings
from driftscope.core.config.yaml_file import load_config
from driftscope.core.contracts.comparison import comparison_text
from driftscope.core.contracts.notifier import AlertChange
from driftscope.core.contracts.report import Report, ResultRow
from driftscope.core.contracts.store import AlertState, StoreSettings
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from driftscope.plugins.stores.sql import SQLStore
from driftscope.plugins.stores.sql.tables import COMPARISON_COLUMNS, T_EVENTS, T_STATES, T_VERSION
from support.api_helpers import api_client
from support.discord_standin import DiscordStandIn
from support.factories import demo_model, log_traffic, write_config
from support.receiver import WebhookReceiver
from support.reports import report, result

FEATURE = "mean radius"  # drifted in the test traffic
KS_FEATURES = [FEATURE, "worst symmetry", "mean fractal dimension"]  # Bonferroni over 3
ALPHA, FLOOR, PSI_THRESHOLD, MAX_DROP = 0.05, 0.1, 0.25, 0.15


def n(value: float) -> str:
    """A number as the renderers show it (four significant digits)."""
    return f"{value:.4g}"


# -- the text itself, case by case ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "text"),
    [
        (  # KS without a correction or a floor: the p-value against alpha, D beside it
            {"compared": "p_value", "p_value": 0.0123, "value": 0.0123, "statistic": 0.4091},
            "p-value 0.0123 < threshold 0.05 · statistic 0.4091",
        ),
        (  # corrected, with a floor: the adjusted p-value decides, D meets its own floor
            {
                "compared": "p_value",
                "p_value": 0.0123,
                "p_value_adjusted": 0.0369,
                "value": 0.0369,
                "statistic": 0.4091,
                "statistic_floor": 0.1,
            },
            "adjusted p-value 0.0369 < threshold 0.05 (raw 0.0123) · statistic 0.4091 ≥ floor 0.1",
        ),
        (  # significant but too small an effect: the floor is what held it back
            {
                "compared": "p_value",
                "p_value": 0.001,
                "value": 0.001,
                "statistic": 0.04,
                "statistic_floor": 0.1,
            },
            "p-value 0.001 < threshold 0.05 · statistic 0.04 < floor 0.1",
        ),
        (  # not significant
            {"compared": "p_value", "p_value": 0.3, "value": 0.3, "statistic": 0.05},
            "p-value 0.3 ≥ threshold 0.05 · statistic 0.05",
        ),
        (  # PSI: the statistic against its threshold
            {"compared": "statistic", "drifts_when": "at_or_above", "statistic": 0.31},
            "statistic 0.31 ≥ threshold 0.25",
        ),
        (  # accuracy against its lowest acceptable value
            {"compared": "statistic", "drifts_when": "below", "value": 0.7, "threshold": 0.78},
            "statistic 0.7 < lowest acceptable 0.78",
        ),
        (  # an error metric against its highest acceptable value
            {"compared": "statistic", "drifts_when": "above", "value": 5.2, "threshold": 4.1},
            "statistic 5.2 > highest acceptable 4.1",
        ),
        (  # a monitor without enough rows
            {"compared": "rows", "value": 12.0, "threshold": 200.0},
            "rows 12 < minimum 200",
        ),
        (  # recorded before comparisons were: nothing is related that was not known
            {"statistic": 0.4091, "threshold": 0.05},
            "statistic 0.4091, threshold 0.05",
        ),
        (  # a result with no value (a failed run) still names its threshold
            {"compared": "p_value"},
            "p-value n/a (threshold 0.05)",
        ),
    ],
)
def test_each_number_is_told_beside_its_own_threshold(fields: dict[str, Any], text: str) -> None:
    fields = {"threshold": ALPHA if fields.get("compared") == "p_value" else 0.25} | fields
    change = AlertChange("ks", "age", "ok", "firing", **fields)
    assert comparison_text(change) == text


# -- one real run, every renderer ----------------------------------------------------------------
@dataclass
class Scene:
    config: Path
    report: Report
    discord: DiscordStandIn
    webhook: WebhookReceiver
    log_lines: list[str]
    statistic: float  # scipy's D of FEATURE
    p_value: float  # scipy's p-value of FEATURE
    adjusted: float  # its Bonferroni adjustment over KS_FEATURES
    accuracy: float  # sklearn's accuracy of the window
    lowest_acceptable: float  # the reference accuracy less MAX_DROP


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    folder = tmp_path_factory.mktemp("comparison")
    demo = demo_model(folder)
    with DiscordStandIn() as discord, WebhookReceiver() as webhook:
        config = write_config(
            folder,
            f"sqlite:///{folder / 'store.db'}",
            detectors=[
                {
                    "type": "ks",
                    "p_value": ALPHA,
                    "min_statistic": FLOOR,
                    "features": KS_FEATURES,
                    "prediction": False,
                },
                {
                    "type": "psi",
                    "threshold": PSI_THRESHOLD,
                    "features": KS_FEATURES,
                    "prediction": False,
                },
                {"type": "performance", "metric": "accuracy", "max_drop": MAX_DROP},
            ],
            monitor={"correction": "bonferroni", "notify": ["console", "discord", "hook"]},
            notifiers=[
                {"name": "console", "type": "log"},
                {"name": "discord", "type": "discord", "webhook_url": discord.url},
                {"name": "hook", "type": "webhook", "url": webhook.url},
            ],
        )
        plugins = create_plugin_manager(entry_points=False)
        runtime = Runtime(load_config(config, plugins), plugins)
        lines = _Lines()
        logger = logging.getLogger("driftscope.alerts")
        logger.addHandler(lines)
        try:
            records = log_traffic(runtime.store, runtime.models["cancer"], demo, drift=True)
            run = runtime.run_monitor("cancer-drift")
            assert runtime.delivery.run_once() == 3
        finally:
            logger.removeHandler(lines)
            runtime.close()

        reference = pd.read_csv(demo.reference_path)
        current = [r.features[FEATURE] for r in records]
        found = stats.ks_2samp(reference[FEATURE], current)
        model = sio.load(demo.model_path, trusted=sio.get_untrusted_types(file=demo.model_path))
        reference_accuracy = accuracy_score(
            reference["label"], model.predict(reference[demo.feature_names])
        )
        labelled = [r for r in records if r.label is not None]  # the held-out rows' labels
        accuracy = accuracy_score([r.label for r in labelled], [r.prediction for r in labelled])
        yield Scene(
            config=config,
            report=run,
            discord=discord,
            webhook=webhook,
            log_lines=lines.lines,
            statistic=float(found.statistic),
            p_value=float(found.pvalue),
            adjusted=min(1.0, 3 * float(found.pvalue)),
            accuracy=float(accuracy),
            lowest_acceptable=float(reference_accuracy) * (1 - MAX_DROP),
        )


def ks_text(scene: Scene) -> str:
    return (
        f"adjusted p-value {n(scene.adjusted)} < threshold {ALPHA} (raw {n(scene.p_value)})"
        f" · statistic {n(scene.statistic)} ≥ floor {FLOOR}"
    )


def performance_text(scene: Scene) -> str:
    return f"statistic {n(scene.accuracy)} < lowest acceptable {n(scene.lowest_acceptable)}"


def _row(scene: Scene, detector: str, feature: str | None) -> ResultRow:
    return next(r for r in scene.report.results if (r.detector, r.feature) == (detector, feature))


def test_the_report_row_carries_what_was_compared(scene: Scene) -> None:
    ks = _row(scene, "ks", FEATURE)
    assert ks.drifted
    assert ks.statistic == pytest.approx(scene.statistic, abs=1e-12)
    assert ks.p_value == pytest.approx(scene.p_value, rel=1e-6, abs=1e-10)
    assert abs(ks.statistic - ks.p_value) > 0.1  # the two numbers a renderer could mix up
    assert ks.compared == "p_value" and ks.drifts_when == "below"
    assert ks.value == ks.p_value_adjusted == pytest.approx(scene.adjusted, rel=1e-6, abs=1e-10)
    assert (ks.threshold, ks.statistic_floor) == (ALPHA, FLOOR)

    psi = _row(scene, "psi", FEATURE)
    assert psi.compared == "statistic" and psi.drifts_when == "at_or_above"
    assert psi.value == psi.statistic and psi.threshold == PSI_THRESHOLD
    assert psi.p_value is psi.p_value_adjusted is psi.statistic_floor is None

    performance = _row(scene, "performance", None)
    assert performance.drifted and performance.compared == "statistic"
    assert performance.drifts_when == "below"
    assert performance.value == pytest.approx(scene.accuracy, abs=1e-12)
    assert performance.threshold == pytest.approx(scene.lowest_acceptable, abs=1e-12)


def test_the_discord_embed_pairs_each_number_with_its_threshold(scene: Scene) -> None:
    (sent,) = scene.discord.accepted
    fields = {f["name"]: f["value"] for f in sent.body["embeds"][0]["fields"]}
    ks = fields[f"🔴 {FEATURE} · ks"].splitlines()
    assert ks[1] == ks_text(scene)
    assert f"statistic {n(scene.statistic)} · threshold {ALPHA}" not in fields.values()
    assert fields["🔴 performance · performance"].splitlines()[1] == performance_text(scene)
    psi = _row(scene, "psi", FEATURE)
    psi_line = f"statistic {n(psi.statistic or 0)} ≥ threshold {PSI_THRESHOLD}"
    assert fields[f"🔴 {FEATURE} · psi"].splitlines()[1] == psi_line


def test_the_webhook_json_names_the_compared_value_and_its_threshold(scene: Scene) -> None:
    (received,) = scene.webhook.requests
    changes = {(c["detector"], c["feature"]): c for c in received.body["changes"]}
    ks = changes[("ks", FEATURE)]
    assert ks["compared"] == "p_value" and ks["drifts_when"] == "below"
    assert ks["value"] == pytest.approx(scene.adjusted, rel=1e-6, abs=1e-10)
    assert ks["p_value_adjusted"] == ks["value"]
    assert ks["p_value"] == pytest.approx(scene.p_value, rel=1e-6, abs=1e-10)
    assert ks["threshold"] == ALPHA
    assert ks["statistic"] == pytest.approx(scene.statistic, abs=1e-12)
    assert ks["statistic_floor"] == FLOOR
    assert ks["comparison"] == ks_text(scene)
    performance = changes[("performance", "performance")]
    assert performance["compared"] == "statistic" and performance["drifts_when"] == "below"
    assert performance["value"] == pytest.approx(scene.accuracy, abs=1e-12)
    assert performance["threshold"] == pytest.approx(scene.lowest_acceptable, abs=1e-12)


def test_the_log_notifier_writes_the_comparison(scene: Scene) -> None:
    (ks,) = [line for line in scene.log_lines if f"cancer-drift ks/{FEATURE}:" in line]
    assert ks.endswith(f"({ks_text(scene)})"), ks
    (performance,) = [line for line in scene.log_lines if "performance/performance" in line]
    assert performance.endswith(f"({performance_text(scene)})"), performance


def test_driftscope_alerts_and_run_show_the_comparison(scene: Scene) -> None:
    from driftscope.apps.cli.main import app

    runner = CliRunner(env={"COLUMNS": "250"})  # rich's width: one part per line of a cell
    alerts = runner.invoke(app, ["alerts", "-c", str(scene.config)])
    assert alerts.exit_code == 0, alerts.output
    for part in ks_text(scene).split(" · "):
        # the state table and the history both show it, one part per line of the cell
        assert alerts.output.count(part) == 2, (part, alerts.output)
    assert alerts.output.count(performance_text(scene)) == 2, alerts.output
    assert f"statistic {n(scene.statistic)} · threshold" not in alerts.output

    ran = runner.invoke(app, ["run", "cancer-drift", "-c", str(scene.config)])
    assert ran.exit_code == 1, ran.output  # drift found
    # a new run over the same window: the same numbers
    for part in ks_text(scene).split(" · "):
        assert part in ran.output, (part, ran.output)


@pytest.mark.anyio
async def test_the_api_gives_the_value_threshold_and_the_comparison(scene: Scene) -> None:
    settings = DeploymentSettings(config=scene.config, scheduler=False)
    async with api_client(create_app(settings)) as client:
        alerts = (await client.get("/v1/alerts")).json()["alerts"]
        events = (await client.get("/v1/alerts/events")).json()["events"]
        report_id = scene.report.id
        published = (await client.get(f"/v1/reports/{report_id}")).json()
    for entries in (alerts, [e for e in events if e["to_state"] == "firing"]):
        ks = next(a for a in entries if (a["detector"], a["feature"]) == ("ks", FEATURE))
        assert ks["compared"] == "p_value"
        assert ks["value"] == pytest.approx(scene.adjusted, rel=1e-6, abs=1e-10)
        assert ks["threshold"] == ALPHA and ks["statistic_floor"] == FLOOR
        assert ks["p_value"] == pytest.approx(scene.p_value, rel=1e-6, abs=1e-10)
        assert ks["statistic"] == pytest.approx(scene.statistic, abs=1e-12)
        assert ks["comparison"] == ks_text(scene)
    row = next(r for r in published["results"] if (r["detector"], r["feature"]) == ("ks", FEATURE))
    assert row["compared"] == "p_value" and row["value"] == pytest.approx(scene.adjusted)


def test_the_demo_prints_the_comparison(scene: Scene) -> None:
    from driftscope.apps.demo.watching import describe_event

    store = SQLStore(StoreSettings(url=SecretStr(f"sqlite:///{scene.config.parent / 'store.db'}")))
    store.open()
    try:
        events = store.list_alert_events(monitor="cancer-drift")
    finally:
        store.close()
    ks = next(e for e in events if (e.detector, e.feature) == ("ks", FEATURE))
    assert describe_event(ks).endswith(f"ks on {FEATURE}: {ks_text(scene)}")
    performance = next(e for e in events if e.detector == "performance")
    line = describe_event(performance)
    assert line.endswith(f"the model's measured quality: {performance_text(scene)}")


def test_alert_states_and_events_keep_the_comparison_of_their_result() -> None:
    from driftscope.core.alerting.rules import MonitorAlerting, evaluate

    ks = result(
        "age",
        "ks",
        0.4091,
        p_value=0.0123,
        p_value_adjusted=0.0369,
        statistic_floor=0.1,
        threshold=0.05,
        drifted=True,
    )
    evaluation = evaluate(report(results=[ks]), MonitorAlerting(notify=("ops",)), {})
    (state,) = evaluation.states
    (event,) = evaluation.events
    (change,) = evaluation.changes
    expected = (
        "adjusted p-value 0.0369 < threshold 0.05 (raw 0.0123) · statistic 0.4091 ≥ floor 0.1"
    )
    for item in (state, event, change):
        assert comparison_text(item) == expected


# -- the store keeps it, and upgrades an older database ------------------------------------------
def test_the_store_keeps_the_comparison_and_upgrades_a_version_2_database(store) -> None:  # type: ignore[no-untyped-def]
    from driftscope.core.alerting.rules import MonitorAlerting, evaluate

    ks = result("age", "ks", 0.4091, p_value=0.0123, threshold=0.05, drifted=True)
    evaluation = evaluate(report(results=[ks]), MonitorAlerting(), {})
    store.commit_alert_changes(evaluation.states, evaluation.events, [])
    (state,) = store.list_alert_states()
    (event,) = store.list_alert_events()
    for item in (state, event):
        assert (item.compared, item.value, item.p_value) == ("p_value", 0.0123, 0.0123)
        assert comparison_text(item) == "p-value 0.0123 < threshold 0.05 · statistic 0.4091"

    # back to version 2: no comparison columns, the rows that were there keep their numbers
    url = store.settings.url.get_secret_value()
    with store._tx("back to version 2", write=True) as conn:
        for table in (T_STATES, T_EVENTS):
            for column in COMPARISON_COLUMNS:
                conn.exec_driver_sql(f"ALTER TABLE {table.name} DROP COLUMN {column}")
        conn.execute(update(T_VERSION).values(version=2))
    store.close()
    upgraded = SQLStore(StoreSettings(url=SecretStr(url)))
    upgraded.open()
    try:
        assert upgraded.schema_version() == 3
        (old,) = upgraded.list_alert_states()
        assert (old.statistic, old.threshold, old.compared) == (0.4091, 0.05, None)
        assert comparison_text(old) == "statistic 0.4091, threshold 0.05"
        newer = AlertState("credit", "ks", "income", "firing", compared="p_value", value=0.01)
        newer.threshold, newer.p_value = 0.05, 0.01
        upgraded.commit_alert_changes([newer], [], [])
        kept = {s.feature: s for s in upgraded.list_alert_states()}["income"]
        assert comparison_text(kept) == "p-value 0.01 < threshold 0.05"
    finally:
        upgraded.close()


def test_the_dashboard_shows_the_comparison_the_api_words() -> None:
    """The dashboard cannot import core: its data layer reads the API's ``comparison``."""
    from driftscope.apps.dashboard.data.alerts import alert_events, alert_rows

    text = "p-value 0.0123 < threshold 0.05 · statistic 0.4091"
    alert = {
        "monitor": "m",
        "detector": "ks",
        "feature": FEATURE,
        "state": "firing",
        "statistic": 0.4091,
        "threshold": ALPHA,
        "comparison": text,
    }
    (row,) = alert_rows({"alerts": [alert]})
    (event,) = alert_events({"events": [alert | {"at": "2024-06-01T12:00:00Z"}]})
    assert row.comparison == event.comparison == text
    (older,) = alert_rows({"alerts": [alert | {"comparison": None}]})  # an older API
    assert older.comparison == "statistic 0.4091, threshold 0.0500"
