"""``driftscope demo`` end to end, in a short mode, as a newcomer would run it.

The real command runs as a subprocess: it trains the model, starts ``driftscope serve``,
drives 600 predictions (drift from the 301st), and must finish with exit 0 only because the
monitor detected the drift and an alert was recorded. The store is then read independently,
and nothing may be left running or listening. A second run with ``--reuse`` keeps the data.

The traffic generator itself is tested quickly against a stand-in API (httpx's mock
transport): what it sends, the drift it injects, labels by id, back-pressure and errors.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from driftscope.apps.demo.options import CONFIG_NAME, MONITOR, DemoOptions, demo_config
from driftscope.apps.demo.processes import free_port
from driftscope.apps.demo.simulate import (
    ApiClient,
    SimulationError,
    TrafficGenerator,
    TrafficPlan,
    TrafficSource,
)
from driftscope.apps.demo.watching import AlertPrinter, StoreWatcher
from driftscope.core.alerting.manager import AlertManager
from driftscope.core.alerting.rules import MonitorAlerting
from driftscope.core.config.yaml_file import load_config
from driftscope.core.plugin_system.manager import create_plugin_manager
from support.project_folder import shadowing_packages
from support.waiting import wait_until

DRIFTING = {"mean radius", "mean texture", "mean perimeter", "radius error", "texture error"}
SHORT = ["--once", "--no-dashboard", "--requests", "600", "--rate", "100", "--every", "2"]


DRIFTSCOPE = str(Path(sys.executable).with_name("driftscope"))  # the console script, as installed


def run_demo(
    folder: Path, port: int, *extra: str, cwd: Path | None = None
) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``driftscope demo`` in the short mode; return the result and its duration."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DRIFTSCOPE_") and k != "DISCORD_WEBHOOK_URL"
    }
    env["COLUMNS"] = "120"
    started = time.monotonic()
    result = subprocess.run(
        [
            DRIFTSCOPE,
            "demo",
            *SHORT,
            "--dir",
            str(folder),
            "--port",
            str(port),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or folder.parent,
        timeout=180,
    )
    return result, time.monotonic() - started


def listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is not running any more
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "State:\tZ" not in status


def open_store(folder: Path):  # type: ignore[no-untyped-def]
    plugins = create_plugin_manager()
    config = load_config(folder / "driftscope.yaml", plugins)
    store = plugins.get("store", config.store_settings.type)(config.store_settings)
    store.open()
    return store


def server_pids(log: str) -> list[int]:
    """The pids uvicorn reports (``Started server process [123]``)."""
    return [int(p) for p in re.findall(r"Started server process \[(\d+)\]", log)]


@pytest.mark.slow
def test_demo_once_detects_drift_records_an_alert_and_leaves_nothing_running(tmp_path):
    folder = tmp_path / "demo"
    port = free_port()
    # run from a project folder with its own core/, apps/ and plugins/: they must not shadow ours
    project = shadowing_packages(tmp_path / "project")
    result, seconds = run_demo(folder, port, cwd=project)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert seconds < 120, f"the short demo took {seconds:.0f}s"

    # what it printed: the URLs at the start, alerts as they fired, the verdict
    assert f"http://127.0.0.1:{port}/docs" in result.stdout
    assert "firing" in result.stdout
    assert "drift detected and alerted" in result.stdout

    summary = json.loads((folder / "summary.json").read_text())
    assert summary["ok"] is True
    assert summary["predictions_sent"] == 600
    assert summary["predictions_failed"] == 0
    assert summary["drift_injected_after"] == 300
    assert summary["drift_detected"] is True
    assert summary["detected_after_requests"] > 0
    assert summary["false_alarms"] == 0
    assert set(summary["drifted_features"]) & DRIFTING
    assert summary["alerts_fired"] >= 1
    assert summary["messages"]["console"].get("sent", 0) >= 1

    # the store itself agrees: every prediction flushed, drift reported, alerts recorded
    store = open_store(folder)
    try:
        now = datetime.now(UTC)
        rows, labelled = store.count_predictions("cancer", now - timedelta(hours=1), now)
        assert rows == 600
        assert labelled == 600
        reports = store.list_reports(MONITOR, limit=1000)
        assert any(r.drifted for r in reports)
        events = store.list_alert_events(monitor=MONITOR, limit=1000)
        firing = {e.feature for e in events if e.to_state == "firing"}
        assert firing & DRIFTING, firing
        assert {m.status for m in store.list_messages(limit=100)} == {"sent"}
        # what the store held when the summary was made (the monitor ran on until the stop)
        made = datetime.fromisoformat(summary["summarised_at"])
        drifted = {
            r.feature or r.kind
            for report in reports
            if report.created_at <= made
            for r in report.results
            if r.drifted
        }
        fired = {e.feature for e in events if e.to_state == "firing" and e.at <= made}
    finally:
        store.close()

    # the summary lists every feature that drifted, the features its alert lines fired for
    # (no false alarm in this run, and every drifted key fires at once: for_runs is 1)
    assert sorted(summary["drifted_features"]) == sorted(drifted) == sorted(fired)
    before_summary = result.stdout.split("driftscope demo summary")[0]
    printed = set(re.findall(r"^\s+firing \S+ on (.+?): ", before_summary, re.M))
    if re.search(r"^\s+firing .*measured quality", before_summary, re.M):
        printed.add("performance")
    assert printed and printed <= fired, (printed, fired)
    listed = re.search(r"^│ drifted features\s+│ (\d+): ", result.stdout, re.M)
    assert listed and int(listed.group(1)) == len(fired), result.stdout

    # the log notifier wrote the alert to the API's log
    log = (folder / "api.log").read_text()
    assert "ALERT cancer-drift firing" in log

    # nothing left running or listening
    assert not listening(port)
    pids = server_pids(log)
    assert pids, log[-2000:]
    assert not any(alive(pid) for pid in pids)


@pytest.mark.slow
def test_demo_runs_twice_reusing_or_replacing_its_folder(tmp_path):
    folder = tmp_path / "demo"
    first, _ = run_demo(folder, free_port())
    assert first.returncode == 0, first.stdout + first.stderr

    # --reuse keeps the first run's predictions and alert history
    port = free_port()
    second, _ = run_demo(folder, port, "--reuse")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "reusing the folder's database" in second.stdout
    store = open_store(folder)
    try:
        now = datetime.now(UTC)
        rows, _ = store.count_predictions("cancer", now - timedelta(hours=1), now)
        assert rows == 1200
    finally:
        store.close()
    assert json.loads((folder / "summary.json").read_text())["ok"] is True

    # --replace (the default) starts from a fresh database
    third, _ = run_demo(folder, free_port())
    assert third.returncode == 0, third.stdout + third.stderr
    store = open_store(folder)
    try:
        now = datetime.now(UTC)
        rows, _ = store.count_predictions("cancer", now - timedelta(hours=1), now)
        assert rows == 600
    finally:
        store.close()
    assert not listening(port)


@pytest.mark.slow
def test_demo_refuses_a_port_in_use(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result, _ = run_demo(tmp_path / "demo", port)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"port {port}" in result.stdout and "already in use" in result.stdout


class StandInApi:
    """Answers predict and feedback like the driftscope API; records what it received.

    ``busy`` answers the first N predicts with 503 + Retry-After; ``late`` reports each
    id as unknown on its first feedback (the row not written yet), as an async log may.
    """

    def __init__(self, busy: int = 0, late: bool = False, status: int = 200) -> None:
        self.rows: list[dict] = []
        self.ids: dict[str, object] = {}
        self.labels: dict[str, object] = {}
        self.busy = busy
        self.late = late
        self.status = status
        self.seen_late: set[str] = set()
        self.headers: list[httpx.Headers] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.headers.append(request.headers)
        body = json.loads(request.content)
        if request.url.path.endswith("/predict"):
            if self.status != 200:
                return httpx.Response(self.status, json={"detail": "no such model"})
            if self.busy:
                self.busy -= 1
                return httpx.Response(503, headers={"Retry-After": "0"}, json={"detail": "busy"})
            pid = f"p{len(self.rows)}"
            self.rows.append(body["features"])
            self.ids[pid] = None
            return httpx.Response(
                200, json={"predictions": [{"id": pid, "prediction": "1", "probabilities": None}]}
            )
        unknown = []
        for item in body["labels"]:
            if self.late and item["id"] not in self.seen_late:
                self.seen_late.add(item["id"])
                unknown.append(item["id"])
                continue
            self.labels[item["id"]] = item["label"]
        return httpx.Response(
            200, json={"updated": len(body["labels"]) - len(unknown), "unknown_ids": unknown}
        )


def generator(api: StandInApi, plan: TrafficPlan, key: str | None = None) -> TrafficGenerator:
    client = ApiClient("http://api.test", key, transport=httpx.MockTransport(api))
    return TrafficGenerator(client, "cancer", TrafficSource.demo(), plan, label_delay=0.01)


def test_traffic_sends_every_row_then_its_label_and_drifts_halfway():
    api = StandInApi()
    plan = TrafficPlan(requests=400, rate=0, drift_after=200, seed=3)
    stats = generator(api, plan).run()
    assert stats.sent == 400 and stats.failed == 0
    assert stats.labels_sent == stats.labels_updated == 400 and stats.unknown_ids == 0
    assert set(api.labels) == set(api.ids)
    assert set(api.labels.values()) == {0, 1}
    assert stats.drift_started_at is not None and stats.phase == "drifted"

    rows = pd.DataFrame(api.rows)
    source = TrafficSource.demo()
    assert list(rows.columns) == source.features
    before, after = rows.iloc[:200], rows.iloc[200:]
    for name in source.drift_features:
        std = source.rows[name].std()
        assert after[name].mean() - before[name].mean() > std  # shifted by 1.5 std and scaled
    stable = [f for f in source.features if f not in source.drift_features]
    for name in stable[:5]:
        assert abs(after[name].mean() - before[name].mean()) < 0.5 * source.rows[name].std()


def test_traffic_is_seeded():
    first, second, other = StandInApi(), StandInApi(), StandInApi()
    plan = TrafficPlan(requests=50, rate=0, drift_after=25, seed=11)
    generator(first, plan).run()
    generator(second, plan).run()
    generator(other, TrafficPlan(requests=50, rate=0, drift_after=25, seed=12)).run()
    assert first.rows == second.rows
    assert first.rows != other.rows


def test_drift_changes_about_a_third_of_the_labels():
    source = TrafficSource.demo()
    plan = TrafficPlan(requests=2000, rate=0, drift_after=1000, seed=5)
    rows = TrafficGenerator(None, "cancer", source, plan).rows  # type: ignore[arg-type]
    rng = np.random.default_rng(5)
    picks = rng.integers(0, len(source.rows), size=2000)
    original = source.rows.iloc[picks]["label"].to_numpy()
    changed = rows["label"].to_numpy() != original
    assert not changed[:1000].any()
    assert 0.28 < changed[1000:].mean() < 0.42


def test_labels_for_ids_not_written_yet_are_sent_again():
    api = StandInApi(late=True)
    stats = generator(api, TrafficPlan(requests=30, rate=0, drift_after=None)).run()
    assert stats.unknown_ids == 0
    assert len(api.labels) == 30 and stats.labels_updated == 30


def test_back_pressure_is_waited_out_and_the_key_is_sent():
    api = StandInApi(busy=3)
    stats = generator(api, TrafficPlan(requests=5, rate=0), key="s3cret").run()
    assert stats.sent == 5 and stats.failed == 0
    assert all(h["x-api-key"] == "s3cret" for h in api.headers)
    assert all(h["authorization"] == "Bearer s3cret" for h in api.headers)


def test_a_refused_request_stops_the_traffic_with_the_reason():
    api = StandInApi(status=404)
    with pytest.raises(SimulationError) as error:
        generator(api, TrafficPlan(requests=5, rate=0)).run()
    assert error.value.status == 404
    assert "answered 404: no such model" in str(error.value)


def test_an_unreachable_api_is_one_clear_error():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = ApiClient("http://api.test", transport=httpx.MockTransport(refuse))
    traffic = TrafficGenerator(client, "cancer", TrafficSource.demo(), TrafficPlan(requests=2))
    with pytest.raises(SimulationError, match=re.escape("cannot reach the API at http://api.test")):
        traffic.run()


def test_traffic_from_a_csv_of_ones_own_rows(tmp_path):
    path = tmp_path / "rows.csv"
    frame = pd.DataFrame(
        {"age": np.arange(40.0), "plan": ["a", "b"] * 20, "churned": ["yes", "no"] * 20}
    )
    frame.to_csv(path, index=False)
    source = TrafficSource.from_csv(path, label="churned")
    assert source.features == ["age", "plan"] and source.drift_features == ["age"]
    assert source.classes == ["no", "yes"]
    api = StandInApi()
    client = ApiClient("http://api.test", transport=httpx.MockTransport(api))
    plan = TrafficPlan(requests=20, rate=0, drift_after=10)
    TrafficGenerator(client, "churn", source, plan, label_delay=0.01).run()
    assert {row["plan"] for row in api.rows} <= {"a", "b"}
    assert set(api.labels.values()) <= {"yes", "no"}
    with pytest.raises(SimulationError, match="only numeric features"):
        TrafficSource.from_csv(path, label="churned", drift_features=["plan"])


def test_the_demo_config_is_valid_and_covers_the_run(tmp_path):
    from support.factories import demo_model

    demo_model(tmp_path)
    options = DemoOptions(folder=tmp_path, requests=2000, rate=30, every=5)
    path = tmp_path / "driftscope.yaml"
    path.write_text(demo_config(options, tmp_path, dashboard_url=None, discord=False))
    config = load_config(path, create_plugin_manager())
    (monitor,) = config.monitors
    assert monitor.every.total_seconds() == 5
    assert monitor.window.last.total_seconds() >= 3 * options.traffic_seconds
    assert monitor.notify == ["console"]
    assert [n.type for n in config.notifier_settings] == ["log"]

    path.write_text(
        demo_config(options, tmp_path, dashboard_url="http://127.0.0.1:8501", discord=True)
    )
    text = path.read_text()
    assert "${DISCORD_WEBHOOK_URL}" in text  # the secret itself is never written
    config = load_config(
        path, create_plugin_manager(), env={"DISCORD_WEBHOOK_URL": WEBHOOK_FOR_TESTS}
    )
    assert config.monitors[0].notify == ["console", "discord"]
    assert config.dashboard.url == "http://127.0.0.1:8501"


WEBHOOK_FOR_TESTS = "https://discord.com/api/webhooks/123456789012345678/" + "a" * 68


def test_the_alert_printer_prints_each_change_once_grouped_by_its_report(tmp_path):
    from support.factories import demo_model
    from support.reports import report

    demo_model(tmp_path)
    config = tmp_path / CONFIG_NAME
    config.write_text(
        demo_config(DemoOptions(folder=tmp_path), tmp_path, dashboard_url=None, discord=False)
    )
    start = datetime.now(UTC)
    watcher = StoreWatcher(config, start - timedelta(minutes=1))
    console = Console(record=True, width=200)
    printer = AlertPrinter(watcher, console, lambda: None, interval=0.05)
    alerts = AlertManager(watcher.store, None, {MONITOR: MonitorAlerting(notify=("console",))})
    features = [f"f{i:02d}" for i in range(14)]
    try:
        # one run finds all fourteen features drifting: one group, twelve lines and the rest counted
        alerts.handle_report(
            report(dict.fromkeys(features, True), monitor=MONITOR, at=start), now=start
        )
        printer.print_new()
        first = console.export_text()
        assert re.search(rf"^alert \d\d:\d\d:\d\d {MONITOR}: 14 firing$", first, re.M), first
        shown = re.findall(
            r"^\s+firing psi on (f\d\d): statistic 0\.4 ≥ threshold 0\.25$", first, re.M
        )
        assert shown == features[:12]
        assert "  … and 2 more" in first
        printer.print_new()  # nothing new: nothing printed
        assert console.export_text() == ""

        # the polling thread prints the next run's change by itself
        printer.start()
        later = start + timedelta(minutes=1)
        drifting = dict.fromkeys(features, True) | {"f03": False}
        alerts.handle_report(report(drifting, monitor=MONITOR, at=later), now=later)
        seen: list[str] = []
        # the polling thread prints the change's two lines: wait for the second one
        wait_until(
            lambda: seen.append(console.export_text()) is None and "on f03" in "".join(seen),
            what="the printer's resolved lines",
        )
        printed = "".join(seen)
        assert re.search(rf"^alert \d\d:\d\d:\d\d {MONITOR}: 1 resolved$", printed, re.M), printed
        assert re.search(
            r"^\s+resolved psi on f03: statistic 0\.01 < threshold 0\.25$", printed, re.M
        )
    finally:
        printer.stop()
        watcher.close()


def test_the_summary_lists_every_feature_its_alert_lines_fired_for(tmp_path):
    """Drift found gradually: the first detecting run flags one feature, later runs more.
    The summary lists them all, as the alert lines printed them, not only the first run's."""
    from driftscope.apps.demo.simulate import TrafficStats
    from driftscope.apps.demo.summary import print_summary, summarise
    from support.factories import demo_model
    from support.reports import report, result

    demo_model(tmp_path)
    config = tmp_path / CONFIG_NAME
    config.write_text(
        demo_config(DemoOptions(folder=tmp_path), tmp_path, dashboard_url=None, discord=False)
    )
    drift_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    watcher = StoreWatcher(config, drift_at - timedelta(minutes=1))
    console = Console(record=True, width=250)
    printer = AlertPrinter(watcher, console, lambda: None)
    alerts = AlertManager(watcher.store, None, {MONITOR: MonitorAlerting(notify=("console",))})
    accuracy = result(
        None, "performance", 0.7, threshold=0.8, drifted=True, kind="performance",
        compared="statistic", drifts_when="below",
    )  # fmt: skip
    runs = [
        report({"mean radius": True, "worst area": False}, monitor=MONITOR),
        report({"mean radius": True, "mean texture": True}, monitor=MONITOR),
        report({"mean radius": True}, results=[accuracy], monitor=MONITOR),
    ]
    try:
        for i, run in enumerate(runs):
            run.created_at = drift_at + timedelta(seconds=2 * i + 1)
            watcher.store.save_report(run)
            alerts.handle_report(run, now=run.created_at)
            printer.print_new()
        stats = TrafficStats(planned=600, drift_start=300, sent=600, labels_sent=600)
        stats.started_at = drift_at - timedelta(seconds=5)
        stats.finished_at = drift_at + timedelta(seconds=10)
        stats.drift_started_at = drift_at
        stats.answered_at = [
            (drift_at + timedelta(seconds=i / 60 - 5)).timestamp() for i in range(600)
        ]
        summary = summarise(stats, watcher, api_url="http://x", dashboard_url=None, folder=tmp_path)
    finally:
        watcher.close()
    lines = console.export_text()
    fired = set(re.findall(r"^\s+firing psi on (.+?): ", lines, re.M))
    if re.search(r"^\s+firing the model's measured quality", lines, re.M):
        fired.add("performance")
    assert fired == {"mean radius", "mean texture", "performance"}, lines
    assert summary.drifted_features == sorted(fired)
    assert summary.first_drifted_features == ["mean radius"]
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["drifted_features"] == sorted(fired)

    print_summary(console, summary, replace=True, folder=tmp_path)
    table = console.export_text()
    assert "drifted features     │ 3: mean radius, mean texture, performance" in table, table
    assert "after it started, in mean radius" in table


def _flat(node: object, path: str = "") -> dict[str, object]:
    """A YAML document as {"monitors[0].window.last": "5m", ...}."""
    if isinstance(node, dict):
        out: dict[str, object] = {}
        for key, value in node.items():
            out.update(_flat(value, f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(node, list):
        out = {}
        for index, value in enumerate(node):
            out.update(_flat(value, f"{path}[{index}]"))
        return out
    return {path: node}


def test_configs_demo_yaml_says_truly_how_it_differs_from_the_demos_own_config(tmp_path):
    """Its header lists the settings in which it differs from what `driftscope demo` writes
    (with and without Discord): every difference is listed, every listed one is real, and
    each entry states this file's value."""
    import yaml

    shipped_text = (Path(__file__).resolve().parents[1] / "configs" / "demo.yaml").read_text()
    shipped = _flat(yaml.safe_load(shipped_text))
    differing: set[str] = set()
    for discord in (False, True):
        written = demo_config(
            DemoOptions(), tmp_path, dashboard_url="http://127.0.0.1:8501", discord=discord
        )
        demo = _flat(yaml.safe_load(written))
        differing |= {k for k in demo.keys() | shipped.keys() if demo.get(k) != shipped.get(k)}

    entries: dict[str, str] = {}  # each path named in the header -> its entry's text
    current: list[str] = []
    for line in shipped_text.splitlines():
        if line.startswith("#   - "):
            names, _, text = line[len("#   - ") :].partition(": ")
            current = names.split(", ")
            entries.update(dict.fromkeys(current, text))
        elif line.startswith("#     ") and current:
            for name in current:
                entries[name] += " " + line[len("#     ") :]
        else:
            current = []

    def named(leaf: str) -> str | None:
        for name in entries:
            if leaf == name or leaf.startswith((name + ".", name + "[")):
                return name
        return None

    assert {leaf for leaf in differing if named(leaf) is None} == set(), entries
    assert {name for name in entries if not any(named(d) == name for d in differing)} == set()
    for leaf in differing & shipped.keys():
        entry = entries[str(named(leaf))]
        assert str(shipped[leaf]) in entry, (leaf, shipped[leaf], entry)
