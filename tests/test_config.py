"""The YAML config: validation with locations, interpolation, durations, secrets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from driftscope.core.config.yaml_file import MAX_CONFIG_BYTES, load_config, parse_config
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
    document["store"] = {"type": "sql", "url": "${DB_URL:-sqlite:////data/x.db}"}
    document["notifiers"][0]["name"] = "${CHANNEL}"
    document["monitors"][0]["notify"] = ["${CHANNEL}"]
    config = parse_config(document, plugins, env={"CHANNEL": "ops"})
    assert config.store_settings.url.get_secret_value() == "sqlite:////data/x.db"
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
    overflowing = {**BASE, "delivery": {"fast_attempts": 2000}}
    assert "less than or equal to 30" in problems(overflowing, plugins)["delivery.fast_attempts"]
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


def _laughs(levels: int = 9, width: int = 9) -> str:
    """The billion-laughs document: each level is a list of ``width`` aliases of the level
    before, so the last one stands for ``width ** levels`` strings (9 ** 9: 387 million)."""
    lines = ["models:", "  - {name: m, reference: ref.csv, prediction_column: pred}", "x:"]
    lines.append("  l0: &l0 [" + ", ".join(["lol"] * width) + "]")
    for level in range(1, levels):
        aliases = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"  l{level}: &l{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def _merges(levels: int = 40) -> str:
    """Merge keys doubling at each level: PyYAML would copy 2 ** levels key/value pairs."""
    lines = ["models: []", "m0: &m0 {a: 1, b: 2}"]
    for level in range(1, levels):
        lines.append(f"m{level}: &m{level} {{<<: [*m{level - 1}, *m{level - 1}]}}")
    return "\n".join(lines) + "\n"


def _load_problems(tmp_path: Path, plugins, content: str | bytes) -> list[tuple[str, str]]:
    path = tmp_path / "c.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_config(path, plugins)
    assert info.value.source == str(path)
    return info.value.problems


# Where the expanded size (one per value plus its characters) first passes 2 MiB, by hand:
# laughs: level k weighs 1 + 9 * weight(k - 1), level 0 weighs 1 + 9 * (1 + 3) = 37, so level 5
# (2,192,194) is first; it is on line 9, its anchor at column 7.
# merges: m_k weighs 14 * 2**k - 5 and its list [*m, *m] 14 * 2**k - 9; the list of m18
# (3,670,007; m17's is 1,834,999) is first: line 20, column 16.
@pytest.mark.timeout(60)  # without the bound these run for minutes and take gigabytes
@pytest.mark.parametrize(
    ("content", "location"),
    [(_laughs(), "line 9, column 7"), (_merges(), "line 20, column 16")],
    ids=["aliases", "merge-keys"],
)
def test_an_alias_bomb_is_refused_with_its_location(tmp_path: Path, plugins, content, location):
    assert len(content) < 2000
    [(where, message)] = _load_problems(tmp_path, plugins, content)
    assert where == location
    assert "expands to more than" in message


def test_an_alias_that_contains_itself_is_refused(tmp_path: Path, plugins):
    problems = _load_problems(tmp_path, plugins, "models: []\nx: &x\n  - 1\n  - *x\n")
    assert problems == [("line 2, column 4", "an alias refers to a value that contains it")]


def test_deep_nesting_is_refused_with_its_location(tmp_path: Path, plugins):
    [(where, message)] = _load_problems(tmp_path, plugins, "x: " + "[" * 150 + "]" * 150)
    assert where.startswith("line 1, column ")
    assert "nested deeper than 100 levels" in message


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path, plugins):
    # one valid YAML comment, one byte over the limit
    content = "#" + "x" * MAX_CONFIG_BYTES + "\n"
    problems = _load_problems(tmp_path, plugins, content)
    assert problems == [("", f"the file is larger than the limit of {MAX_CONFIG_BYTES} bytes")]


def test_text_that_is_not_utf8_is_a_config_error(tmp_path: Path, plugins):
    problems = _load_problems(tmp_path, plugins, b"models:\n  - name: \xff\n")
    assert problems == [("", "not UTF-8 text: invalid byte at offset 18")]


def test_ordinary_anchors_and_aliases_still_load(tmp_path: Path, plugins):
    shared = "detectors: &detectors [{type: psi}, {type: ks, p_value: 0.01}]"
    monitors = [
        f"  - {{name: mon{i}, model: m, window: {{last: 1h}}, detectors: *detectors}}"
        for i in range(3)
    ]
    path = tmp_path / "c.yaml"
    path.write_text(
        "\n".join(
            [
                "x-shared:",
                f"  {shared}",
                "models: [{name: m, reference: ref.csv, prediction_column: pred}]",
                "monitors:",
                *monitors,
            ]
        )
        + "\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, plugins)
    # the document parsed, aliases and all: only the unknown top-level key is a problem
    assert [loc for loc, _ in info.value.problems] == ["x-shared"]


def test_bodies_in_flight_default_to_two_bodies_and_must_hold_one(plugins):
    config = parse_config({**BASE, "api": {"max_body_bytes": 10_000}}, plugins, env={})
    assert config.api.max_body_bytes_in_flight == 20_000
    found = problems(
        {**BASE, "api": {"max_body_bytes": 10_000, "max_body_bytes_in_flight": 5_000}}, plugins
    )
    assert found == {
        "api": "max_body_bytes_in_flight (5000) must be at least max_body_bytes (10000)"
    }
