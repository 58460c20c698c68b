"""Retention: pruning by age in batches, by hand (driftscope prune) and on the scheduler."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import typer
from typer.testing import CliRunner

from driftscope import FeatureSpec, ModelSchema, PredictionRecord
from driftscope.apps.cli.prune import register
from driftscope.core.config.yaml_file import RetentionConfig
from driftscope.core.monitoring.retention import prune_older_than
from driftscope.core.monitoring.scheduler import MonitorScheduler
from support.factories import write_config
from support.reports import report

NOW = datetime.now(UTC)


def _fill(store, *, old: int = 25, new: int = 7) -> None:
    """``old`` predictions and one report from 40 days ago, ``new`` ones from now."""
    store.register_model(ModelSchema("tiny", (FeatureSpec("x"),), "classification", ("a", "b")))
    records = [
        PredictionRecord(
            uuid.uuid4().hex,
            "tiny",
            (NOW - timedelta(days=40) if i < old else NOW) - timedelta(seconds=i),
            {"x": float(i)},
            "a",
        )
        for i in range(old + new)
    ]
    store.write_predictions(records)
    for created in (NOW - timedelta(days=40), NOW):
        store.save_report(report(monitor="m", model="tiny", at=created, rows=0))


def _rows(store) -> int:
    return store.count_predictions("tiny", NOW - timedelta(days=400), NOW + timedelta(days=1))[0]


def test_prune_counts_in_a_dry_run_and_deletes_in_batches(store):
    _fill(store)
    dry = prune_older_than(store, timedelta(days=30), batch_size=4, dry_run=True)
    assert dry.dry_run and dry.result.predictions == 25 and dry.result.reports == 1
    assert _rows(store) == 32, "a dry run deleted rows"
    done = prune_older_than(store, timedelta(days=30), batch_size=4)
    assert (done.result.predictions, done.result.reports) == (25, 1)
    assert done.result.details["predictions:tiny"] == 25
    assert _rows(store) == 7
    assert [r.created_at > NOW - timedelta(days=1) for r in store.list_reports("m")] == [True]
    with pytest.raises(ValueError, match="positive"):
        prune_older_than(store, timedelta(0))


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """The prune command alone, as driftscope.apps.cli.main registers it."""

    register(app)
    return app


def test_prune_command_dry_run_then_delete(tmp_path, sqlite_url, cli):
    from driftscope import StoreSettings
    from driftscope.plugins.stores.sql import SQLStore

    config = write_config(tmp_path, sqlite_url)
    store = SQLStore(StoreSettings(url=sqlite_url))
    store.open()
    try:
        _fill(store)
        runner = CliRunner()
        dry = runner.invoke(cli, ["prune", "-c", str(config), "--older-than", "30d", "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "would delete 26 rows" in dry.output and "model tiny" in dry.output
        assert _rows(store) == 32
        done = runner.invoke(cli, ["prune", "-c", str(config), "--older-than", "30d"])
        assert done.exit_code == 0, done.output
        assert "deleted 26 rows" in done.output
        assert _rows(store) == 7
        # without --older-than the config's retention.keep decides; none set: exit 2
        unset = runner.invoke(cli, ["prune", "-c", str(config)])
        assert unset.exit_code == 2 and "retention.keep" in unset.output
        bad = runner.invoke(cli, ["prune", "-c", str(config), "--older-than", "soon"])
        assert bad.exit_code == 2 and "--older-than" in bad.output
    finally:
        store.close()


def test_prune_command_uses_retention_keep(tmp_path, sqlite_url, cli):
    from driftscope import StoreSettings
    from driftscope.plugins.stores.sql import SQLStore

    config = write_config(
        tmp_path, sqlite_url, extra={"retention": {"keep": "30d", "batch_size": 100}}
    )
    store = SQLStore(StoreSettings(url=sqlite_url))
    store.open()
    try:
        _fill(store)
        done = CliRunner().invoke(cli, ["prune", "-c", str(config)])
        assert done.exit_code == 0, done.output
        assert "older than 30d" in done.output and _rows(store) == 7
    finally:
        store.close()


def test_scheduled_prune_runs_once_per_interval_across_processes(store):
    _fill(store)
    retention = RetentionConfig(keep=timedelta(days=30), every=timedelta(hours=1))
    first = MonitorScheduler([], store, lambda name: None, retention=retention, owner="one")
    second = MonitorScheduler([], store, lambda name: None, retention=retention, owner="two")
    assert first.scheduler.get_job("driftscope:retention") is not None
    done = first.prune_tick()
    assert done is not None and done.result.predictions == 25
    assert second.prune_tick() is None, "a second process pruned in the same interval"
    assert (first.prunes, first.pruned_rows, second.prunes) == (1, 26, 0)
    assert _rows(store) == 7
    idle = MonitorScheduler([], store, lambda name: None, retention=RetentionConfig())
    assert idle.scheduler.get_job("driftscope:retention") is None
    assert idle.prune_tick() is None
