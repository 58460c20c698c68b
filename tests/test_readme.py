"""The README's instructions work as written: its skops snippet makes the files its minimal
config names, its webhook signature recipe verifies a real signed request, and it documents
every ``driftscope demo`` flag and every setting of the ``webhook`` notifier."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
import yaml
from pydantic import SecretStr
from typer.testing import CliRunner

from driftscope.apps.cli.main import app
from driftscope.core.config.yaml_file import load_config
from driftscope.core.contracts.notifier import AlertChange, Notification
from driftscope.core.monitoring.model_loading import load_model
from driftscope.core.plugin_system.manager import create_plugin_manager
from driftscope.plugins.notifiers.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookNotifier,
    WebhookSettings,
)
from support.receiver import WebhookReceiver
from support.reports import T0

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
WEBHOOK_FOR_TESTS = "https://discord.com/api/webhooks/123456789012345678/" + "a" * 68


def code_block(language: str, containing: str) -> str:
    """The one fenced ``language`` block of the README that contains ``containing``."""
    blocks = re.findall(rf"^```{language}\n(.*?)^```$", README, re.M | re.S)
    (found,) = [b for b in blocks if containing in b]
    return found


def test_the_skops_snippet_makes_the_model_the_minimal_config_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snippet = code_block("python", "sio.dump(")
    ran = subprocess.run(
        [sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().splitlines()[-1] == "[]"  # no type to trust

    # the README's minimal config, next to the files, checks and loads them
    minimal = README.split("## A minimal config", 1)[1]
    config_text = re.search(r"^```yaml\n(.*?)^```$", minimal, re.M | re.S)
    assert config_text is not None
    config = tmp_path / "driftscope.yaml"
    config.write_text(config_text.group(1), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    checked = CliRunner().invoke(
        app, ["check", str(config)], env={"DISCORD_WEBHOOK_URL": WEBHOOK_FOR_TESTS}
    )
    assert checked.exit_code == 0, checked.output

    parsed = load_config(
        config, create_plugin_manager(), env={"DISCORD_WEBHOOK_URL": WEBHOOK_FOR_TESTS}
    )
    model = load_model(parsed.models[0])
    reference = pd.read_csv(tmp_path / "data" / "cancer_reference.csv")
    predictions, _ = model.predict(reference[model.schema.feature_names].to_numpy())
    assert len(predictions) == len(reference)
    accuracy = (predictions.astype(str) == reference["label"].astype(str)).mean()
    assert accuracy > 0.9  # a working model, not only a loadable file


def test_the_signature_recipe_verifies_a_real_signed_request() -> None:
    namespace: dict[str, Any] = {}
    exec(code_block("python", "def verify("), namespace)
    verify = namespace["verify"]
    secret = "a-signing-key"
    notification = Notification(
        "credit", "credit-model", T0, [AlertChange("psi", "age", "ok", "firing", 0.41, 0.25)]
    )
    with WebhookReceiver() as receiver:
        notifier = WebhookNotifier(
            WebhookSettings(name="hook", url=SecretStr(receiver.url), secret=SecretStr(secret))
        )
        try:
            assert notifier.send(notification).delivered
        finally:
            notifier.close()
        (request,) = receiver.requests
    timestamp, signature = request.headers[TIMESTAMP_HEADER], request.headers[SIGNATURE_HEADER]
    headers = {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature}
    assert verify(secret, headers, request.raw)
    assert not verify("another-key", headers, request.raw)
    assert not verify(secret, headers, request.raw + b" ")
    stale = {**headers, TIMESTAMP_HEADER: str(int(timestamp) - 3600)}
    assert not verify(secret, stale, request.raw)


def test_every_demo_flag_is_documented() -> None:
    command: Any = typer.main.get_command(app)  # typer's own click: read it as it is
    flags = {
        flag
        for param in command.commands["demo"].params
        if param.param_type_name == "option" and not param.hidden
        for flag in (*param.opts, *param.secondary_opts)
        if flag.startswith("--")
    }
    assert "--browser" in flags and "--no-browser" in flags
    table = README.split("## What `driftscope demo` shows you", 1)[1].split("\n## ", 1)[0]
    missing = sorted(flag for flag in flags if f"`{flag}" not in table)
    assert missing == [], missing


def test_every_webhook_setting_is_documented() -> None:
    example = yaml.safe_load(code_block("yaml", "type: webhook"))
    (documented,) = [n for n in example["notifiers"] if n["type"] == "webhook"]
    assert set(documented) == set(WebhookSettings.model_fields)
    for header in ("X-Driftscope-Event", TIMESTAMP_HEADER, SIGNATURE_HEADER, "Idempotency-Key"):
        assert f"`{header}" in README, header
