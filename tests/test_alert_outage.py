"""A receiver that is down for a while, and a delivering process killed in the middle.

The issue's scenario, shortened for CI by configuration only (fast attempts, backoff and
the delivery lease in milliseconds): a webhook answers 500 while seven features fire and
resolve; the ``driftscope scheduler`` process delivering the outbox is killed with SIGKILL
half-way and started again as a new process; then the webhook answers 200. Every transition
must reach the receiver exactly once, in the order it happened, and as it happened (no
"ok → resolved" that never was), with or without a cooldown merging the waiting messages.

The transitions are made in this process by the real alert manager on the same SQLite file
the server process delivers from; the expected list is this test's own script of them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from driftscope.core.alerting.manager import AlertManager
from driftscope.core.alerting.rules import MonitorAlerting
from driftscope.core.contracts.store import OutboxMessage, StoreSettings
from driftscope.plugins.stores.sql import SQLStore
from support.receiver import Reply, WebhookReceiver
from support.reports import report

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
FEATURES = [f"f{i}" for i in range(7)]
FAST_ATTEMPTS = 2
DEADLINE = 60.0  # seconds any one condition may take on a loaded CI machine


DOWN: Reply = (500, {"Content-Type": "application/json"}, b'{"message": "down for maintenance"}')
BACK: Reply = (200, {"Content-Type": "application/json"}, b"{}")


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A webhook that answers 500 until the test sets its default reply to BACK."""
    with WebhookReceiver(default=DOWN) as r:
        yield r


def write_config(folder: Path, store_url: str, hook_url: str, cooldown: str | None) -> Path:
    (folder / "reference.csv").write_text("x,prediction\n1.0,0\n2.0,1\n3.0,0\n")
    notifier: dict[str, Any] = {"name": "ops", "type": "webhook", "url": hook_url}
    if cooldown is not None:
        notifier["cooldown"] = cooldown
    document = {
        "models": [
            {
                "name": "credit",
                "reference": "reference.csv",
                "prediction_column": "prediction",
                "task": "classification",
            }
        ],
        "monitors": [],
        "store": {"type": "sql", "url": store_url},
        "notifiers": [notifier],
        "delivery": {
            "fast_attempts": FAST_ATTEMPTS,
            "backoff_initial": "50ms",
            "backoff_max": "400ms",
            "give_up_after": "10m",
            "poll_interval": "50ms",
            "lease": "1s",
        },
    }
    path = folder / "driftscope.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def start_server(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """``driftscope scheduler``: the process that delivers the outbox."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTSCOPE_")}
    env["DRIFTSCOPE_LOG_LEVEL"] = "info"
    cmd = [sys.executable, "-m", "driftscope.apps.cli.main", "scheduler", "--config", str(config)]
    with log.open("ab") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def poll(condition: Callable[[], bool], what: str, log: Path) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached in {DEADLINE} s; server log:\n{log.read_text()}")
        time.sleep(0.05)


@pytest.mark.parametrize("cooldown", [None, "1s"], ids=["no-cooldown", "cooldown"])
def test_every_transition_arrives_once_in_order_and_true_across_an_outage_and_a_kill(
    tmp_path: Path, receiver: WebhookReceiver, cooldown: str | None
) -> None:
    store_url = f"sqlite:///{tmp_path / 'driftscope.db'}"
    config = write_config(tmp_path, store_url, receiver.url, cooldown)
    log = tmp_path / "server.log"
    store = SQLStore(StoreSettings(url=SecretStr(store_url)))
    store.open()
    manager = AlertManager(store, None, {"credit": MonitorAlerting(notify=("ops",))})
    drifting = dict.fromkeys(FEATURES, False)
    expected: list[tuple[str, str, str, str]] = []

    def change(feature: str, drifted: bool) -> None:
        at = datetime.now(UTC)
        drifting[feature] = drifted
        events = manager.handle_report(report(drifting, at=at), now=at)
        assert [(e.feature, e.to_state) for e in events] == [
            (feature, "firing" if drifted else "resolved")
        ]
        before, after = ("ok", "firing") if drifted else ("firing", "resolved")
        expected.append((feature, before, after, at.isoformat()))

    def messages(status: str) -> list[OutboxMessage]:
        return store.list_messages(status=status, limit=1000)  # type: ignore[arg-type]

    first = start_server(config, log)
    try:
        for feature in FEATURES:  # seven firings while the receiver answers 500
            change(feature, True)
        # the server retries past its fast attempts onto the capped backoff
        receiver.wait_for_requests(FAST_ATTEMPTS + 3, DEADLINE)
        assert {r.status for r in receiver.requests} == {500}
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=DEADLINE)
    tried_before_kill = len(receiver.requests)
    for feature in FEATURES[:4]:  # four resolutions while no process delivers
        change(feature, False)

    second = start_server(config, log)
    try:
        # the new process takes over once the dead one's lease lapses, still against a 500
        receiver.wait_for_requests(tried_before_kill + 2, DEADLINE)
        for feature in FEATURES[4:]:
            change(feature, False)
        assert {r.status for r in receiver.requests} == {500}
        receiver.default = BACK
        poll(
            lambda: not messages("pending") and len(messages("sent")) == len(expected),
            "every message sent",
            log,
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=DEADLINE)

    accepted = [r for r in receiver.requests if r.status == 200]
    arrived = [
        (c["feature"], c["from_state"], c["to_state"], c["at"])
        for r in accepted
        for c in r.body["changes"]
    ]
    assert arrived == expected  # each transition once, in order, as it happened
    assert len({r.idempotency_key for r in accepted}) == len(accepted)
    if cooldown is None:
        assert len(accepted) == len(expected)  # never merged without a cooldown
    for r in accepted:
        final = {c["feature"]: c["to_state"] for c in r.body["changes"]}
        assert r.body["state"] == ("firing" if "firing" in final.values() else "resolved")
    sent = messages("sent")
    assert not messages("given_up") and not messages("failed")
    oldest = min(sent, key=lambda m: m.created_at)
    assert oldest.attempts > FAST_ATTEMPTS + 1  # it outlived the fast attempts
    store.close()
