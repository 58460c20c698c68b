"""Silences through the API: add, list, remove, and a silenced change recorded but not sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from driftscope.apps.api.main import create_app
from driftscope.core.config.environment import DeploymentSettings
from support.api_helpers import api_client, make_demo_config
from support.reports import report

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(
    tmp_path: Path, sqlite_url: str, demo_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    config = make_demo_config(tmp_path, sqlite_url, model_folder=demo_dir)
    async with api_client(create_app(DeploymentSettings(config=config, scheduler=False))) as c:
        yield c


async def test_a_silence_mutes_alerts_until_removed(client: httpx.AsyncClient) -> None:
    body = {
        "monitor": "cancer-drift",
        "duration": "2h",
        "reason": "retraining",
        "feature": "mean radius",
    }
    created = await client.post("/v1/silences", json=body)
    assert created.status_code == 201, created.text
    silence = created.json()
    assert silence["monitor"] == "cancer-drift" and silence["feature"] == "mean radius"
    ends = datetime.fromisoformat(silence["ends_at"]) - datetime.fromisoformat(silence["starts_at"])
    assert ends.total_seconds() == 7200
    listed = (await client.get("/v1/silences")).json()["silences"]
    assert [s["id"] for s in listed] == [silence["id"]]

    runtime = client._transport.app.state.api.runtime  # type: ignore[attr-defined]
    drifted = report(
        {"mean radius": True}, monitor="cancer-drift", model="cancer", at=datetime.now(UTC)
    )
    runtime.alerts.handle_report(drifted)
    (event,) = (await client.get("/v1/alerts/events")).json()["events"]
    assert event["to_state"] == "firing" and event["silenced"] is True
    assert runtime.store.list_messages(status="pending") == []

    assert (await client.delete(f"/v1/silences/{silence['id']}")).status_code == 204
    assert (await client.delete(f"/v1/silences/{silence['id']}")).status_code == 404
    assert (await client.get("/v1/silences")).json() == {"silences": []}


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"monitor": "cancer-drfit"}, 404, "unknown monitor"),
        ({"duration": "soon"}, 422, '"loc":["body","duration"],"msg":"not a duration'),
        ({"duration": "0s"}, 422, "duration"),
        ({"reason": ""}, 422, "reason"),
        ({"surprise": 1}, 422, "surprise"),
    ],
)
async def test_bad_silences_are_refused_with_the_field(
    client: httpx.AsyncClient, change: dict, status: int, words: str
) -> None:
    body = {"monitor": "cancer-drift", "duration": "1h", "reason": "x", **change}
    response = await client.post("/v1/silences", json=body)
    assert response.status_code == status
    assert words in response.text
    assert (await client.get("/v1/silences", params={"active": False})).json() == {"silences": []}
