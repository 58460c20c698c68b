"""Alerts say what a window detector's result adds: an estimate's band and realized value,
the features that carry a multivariate change, the check a data-quality finding failed.

The words come from the result's ``details`` by documented conventions
(:func:`result_context`); one real run on drifted traffic with ``domain_classifier`` and
``quality`` then checks that the Discord embed, the webhook JSON and the log notifier say it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from driftscope import result_context
from driftscope.core.config.yaml_file import load_config
from driftscope.core.contracts.report import Report
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.core.runtime import Runtime
from support.discord_standin import DiscordStandIn
from support.factories import demo_model, log_traffic, write_config
from support.receiver import WebhookReceiver


@pytest.mark.parametrize(
    ("details", "text"),
    [
        ({"lower": 0.78123, "upper": 0.84211}, "band 0.7812–0.8421"),
        (
            {"lower": 0.78, "upper": 0.84, "realized": 0.8012, "realized_rows": 1204},
            "band 0.78–0.84 · realized 0.8012 (1,204 rows)",
        ),
        (
            {
                "ranking": [
                    {"feature": "car_value", "importance": 0.45},
                    {"feature": "salary_range", "importance": 0.31},
                    {"feature": "loan_length", "importance": 0.12},
                    {"feature": "tenure", "importance": 0.12},
                ]
            },
            "carried by car_value 45%, salary_range 31%, loan_length 12%",
        ),
        (
            {"ranking": [{"feature": "a", "importance": 1.0}, {"feature": "b", "importance": 0}]},
            "carried by a 100%",
        ),
        (
            {
                "worst": "out_of_range",
                "checks": {"out_of_range": {"reference": 0.0, "current": 0.4, "increase": 0.4}},
            },
            "out of range 40.0% (reference 0.0%)",
        ),
        ({"statistic": 1.0, "current_size": 10}, None),  # a feature detector's details
        ({"lower": "0.1", "upper": 0.2}, None),  # malformed: no band
        ({"ranking": [{"feature": 3, "importance": 0.5}, "x"]}, None),
        ({"worst": "missing", "checks": {"missing": {"current": float("nan")}}}, None),
    ],
)
def test_the_context_read_from_details(details: dict[str, Any], text: str | None) -> None:
    assert result_context(details) == text


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def sent(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Report, Any, Any, list[str]]]:
    folder = tmp_path_factory.mktemp("context")
    demo = demo_model(folder)
    with DiscordStandIn() as discord, WebhookReceiver() as webhook:
        config = write_config(
            folder,
            f"sqlite:///{folder / 'store.db'}",
            detectors=[
                {"type": "domain_classifier", "min_rows": 50, "max_rows": 1000},
                {"type": "quality", "checks": ["out_of_range"], "features": ["mean radius"]},
            ],
            monitor={"notify": ["console", "discord", "hook"]},
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
            log_traffic(runtime.store, runtime.models["cancer"], demo, drift=True)
            report = runtime.run_monitor("cancer-drift")
            assert runtime.delivery.run_once() == 3
        finally:
            logger.removeHandler(lines)
            runtime.close()
        yield report, discord, webhook, lines.lines


def _expected(report: Report) -> dict[str, str]:
    """The context each drifted result must carry, written here from its details."""
    (domain,) = [r for r in report.results if r.detector == "domain_classifier"]
    (quality,) = [r for r in report.results if r.detector == "quality"]
    assert domain.drifted and quality.drifted
    top = [e for e in domain.details["ranking"] if e["importance"] > 0][:3]
    carried = ", ".join(f"{e['feature']} {round(100 * e['importance'])}%" for e in top)
    share = quality.details["checks"]["out_of_range"]["current"]
    return {
        "domain_classifier": f"carried by {carried}",
        "quality": f"out of range {100 * share:.1f}% (reference 0.0%)",
    }


def test_the_discord_embed_says_where_the_change_is(sent) -> None:  # type: ignore[no-untyped-def]
    report, discord, _, _ = sent
    expected = _expected(report)
    (message,) = discord.accepted
    fields = {f["name"]: f["value"] for f in message.body["embeds"][0]["fields"]}
    domain = fields["🔴 multivariate · domain_classifier"]
    assert expected["domain_classifier"] in domain
    assert expected["quality"] in fields["🔴 mean radius · quality"]


def test_the_webhook_json_and_the_log_carry_the_context(sent) -> None:  # type: ignore[no-untyped-def]
    report, _, webhook, lines = sent
    expected = _expected(report)
    (received,) = webhook.requests
    contexts = {c["detector"]: c["context"] for c in received.body["changes"]}
    assert contexts == expected
    for text in expected.values():
        assert any(text in line for line in lines), text
