"""The YAML config: validation with locations, interpolation, durations, secrets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from driftscope.core.config.yaml_file import load_config, parse_config
from driftscope.core.durations import format_duration, parse_duration
from driftscope.core.errors import ConfigError
from driftscope.core.plugin_system.manager import create_plugin_manager

BASE = {
    "models": [{"name": "m", "reference": "ref.csv", "prediction_column": "pred"}],
    "monitors": [
        {
            "name": "mon",
            "model": "m",
            "every": "30s",
            "window": {"last": "1h", "min_samples": 10},
            "detectors": [{"type": "psi"}, {"type": "ks", "p_value": 0.01}],
            "notify": ["ops"],
        }
    ],
    "notifiers": [{"name": "ops", "type": "log"}],
}


@pytest.fixture(scope="module")
def plugins():
    return create_plugin_manager(entry_points=False)


def problems(document, plugins, env=None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(document, plugins, env=env or {})
    return dict(info.value.problems)


def test_a_valid_config_is_parsed_with_plugin_settings(plugins):
    config = parse_config(BASE, plugins, env={})
    monitor = config.monitor("mon")
    assert monitor.every == timedelta(seconds=30)
    assert [d.type for d in monitor.detector_settings] == ["psi", "ks"]
    assert monitor.detector_settings[1].p_value == 0.01
    assert config.notifier("ops").type == "log"
    assert monitor.correction == "bonferroni"


def test_an_invalid_detector_setting_names_its_location(plugins):
    document = yaml.safe_load(yaml.safe_dump(BASE))
    document["monitors"][0]["detectors"][1]["p_value"] = -1
    found = problems(document, plugins)
    assert "monitors[0].detectors[1].p_value" in found


def test_every_problem_is_reported_at_once(plugins):
    document = yaml.safe_load(yaml.safe_dump(BASE))
    document["monitors"][0]["detectors"][0]["bins"] = 0
    document["monitors"][0]["detectors"].append({"type": "pis"})
    document["monitors"][0]["notify"] = ["opz"]
    document["monitors"][0]["model"] = "nope"
    found = problems(document, plugins)
    assert "monitors[0].detectors[0].bins" in found
    assert "Did you mean 'psi'?" in found["monitors[0].detectors[2].type"]
    assert "Choose one of:" in found["monitors[0].detectors[2].type"]
    assert "Did you mean 'ops'?" in found["monitors[0].notify[0]"]
    assert "unknown model 'nope'" in found["monitors[0].model"]


def test_shape_errors_carry_their_path(plugins):
    document = yaml.safe_load(yaml.safe_dump(BASE))
    document["monitors"][0]["window"]["last"] = "soon"
    document["monitors"][0]["surprise"] = 1
    found = problems(document, plugins)
    assert "not a duration" in found["monitors[0].window.last"]
    assert "monitors[0].surprise" in found


def test_env_interpolation_and_unset_variables(plugins):
    document = yaml.safe_load(yaml.safe_dump(BASE))
    document["store"] = {"type": "sql", "url": "${DB_URL:-sqlite:///x.db}"}
    document["notifiers"][0]["name"] = "${CHANNEL}"
    document["monitors"][0]["notify"] = ["${CHANNEL}"]
    config = parse_config(document, plugins, env={"CHANNEL": "ops"})
    assert config.store_settings.url.get_secret_value() == "sqlite:///x.db"
    assert config.notifier_settings[0].name == "ops"
    found = problems(document, plugins, env={})
    assert found["notifiers[0].name"] == "environment variable CHANNEL is not set"


def test_duplicate_names_are_errors(plugins):
    document = yaml.safe_load(yaml.safe_dump(BASE))
    document["monitors"].append(document["monitors"][0])
    assert "duplicate name 'mon'" in problems(document, plugins)["monitors[1].name"]


def test_delivery_retry_settings_are_checked_with_their_location(plugins):
    config = parse_config(BASE, plugins, env={})
    assert config.delivery.give_up_after == timedelta(hours=24)  # the default
    tuned = {
        **BASE,
        "delivery": {"fast_attempts": 3, "backoff_max": "2m", "give_up_after": "6h"},
    }
    delivery = parse_config(tuned, plugins, env={}).delivery
    assert (delivery.fast_attempts, delivery.backoff_max, delivery.give_up_after) == (
        3,
        timedelta(minutes=2),
        timedelta(hours=6),
    )
    bad = {
        **BASE,
        "delivery": {
            "backoff_initial": "10s",
            "backoff_max": "5s",
            "give_up_after": "soon",
            "max_attempts": 8,
        },
    }
    found = problems(bad, plugins)
    assert "not a duration" in found["delivery.give_up_after"]
    assert "delivery.max_attempts" in found  # replaced by fast_attempts + give_up_after
    crossed = {**BASE, "delivery": {"backoff_initial": "10s", "backoff_max": "5s"}}
    assert "backoff_max must not be shorter" in problems(crossed, plugins)["delivery"]
    lapsing = {**BASE, "delivery": {"poll_interval": "5s", "lease": "2s"}}
    assert "lease must be longer than poll_interval" in problems(lapsing, plugins)["delivery"]


def test_store_url_is_a_secret(plugins):
    document = {**BASE, "store": {"type": "sql", "url": "postgresql://u:hunter2@db/x"}}
    config = parse_config(document, plugins, env={})
    assert "hunter2" not in repr(config.store_settings)
    assert "hunter2" not in str(config.model_dump())


def test_yaml_syntax_error_gives_line(tmp_path: Path, plugins):
    path = tmp_path / "bad.yaml"
    path.write_text("models:\n  - name: m\n   bad: [\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, plugins)
    location, message = info.value.problems[0]
    assert location.startswith("line ")
    assert "not valid YAML" in message


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path, plugins):
    path = tmp_path / "sub" / "c.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(BASE))
    config = load_config(path, plugins)
    assert config.models[0].reference == path.parent.resolve() / "ref.csv"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("2d", 172800), (90, 90), ("250ms", 0.25)],
)
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


@pytest.mark.parametrize("text", ["", "soon", "5 parsecs", "-1s", 0, True])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_shipped_configs_validate():
    root = Path(__file__).resolve().parents[1]
    plugins = create_plugin_manager(entry_points=False)
    for name in ("demo.yaml", "example.yaml"):
        config = load_config(root / "configs" / name, plugins, env={})
        assert config.monitors
