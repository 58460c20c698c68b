"""Simulated traffic for a running driftscope API: predictions, then their labels, then drift.

The generator talks to the API over HTTP only (httpx), so it works against any driftscope
server, local or remote, the demo's or one serving your own model:

1. it draws rows (features and, when known, the true label) from a data set: by default
   the rows of scikit-learn's breast cancer data that the demo model was not trained on,
   or any CSV given with ``--features``;
2. it sends them one at a time to ``POST /v1/models/{model}/predict`` at a steady rate;
3. it sends the true labels back by prediction id in small batches to
   ``POST /v1/models/{model}/feedback``, so the model's accuracy can be measured;
4. after ``drift_after`` requests it injects drift: a few numeric features shifted and
   scaled, and a share of the labels changed so the old relation between features and label
   no longer holds and accuracy really falls.

Everything is seeded, so two runs with the same seed send the same rows.
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

DEFAULT_SEED = 42
DEFAULT_SHIFT = 1.5  # reference standard deviations added to a drifting feature
DEFAULT_SCALE = 1.3  # factor a drifting feature is multiplied by
DEFAULT_FLIP = 0.35  # share of drifted rows whose label changes
MAX_RETRIES = 5  # attempts for one request answered 503 (queue full) or 429


class SimulationError(RuntimeError):
    """The API refused the traffic (wrong model, wrong features, bad key) or is unreachable.

    ``status`` is the HTTP status of the answer, ``None`` when no answer came back.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class TrafficSource:
    """The rows the generator draws from: features, the label column and what drifts."""

    rows: pd.DataFrame
    features: list[str]
    label: str | None
    drift_features: list[str]

    @property
    def classes(self) -> list[Any]:
        """The distinct labels, for changing a label to another class."""
        if self.label is None:
            return []
        return sorted(self.rows[self.label].dropna().unique().tolist(), key=str)

    @classmethod
    def demo(cls, seed: int = DEFAULT_SEED) -> TrafficSource:
        """The breast cancer rows the demo model was not trained on (its reference and
        held-out rows, split exactly as
        :func:`driftscope.apps.demo.model.train_demo_model` splits)."""
        from sklearn.model_selection import train_test_split

        from driftscope.apps.demo.model import TARGET, load_demo_data

        frame = load_demo_data()
        _, unseen = train_test_split(
            frame, test_size=0.5, random_state=seed, stratify=frame[TARGET]
        )
        features = [c for c in frame.columns if c != TARGET]
        return cls(
            rows=unseen.reset_index(drop=True),
            features=features,
            label=TARGET,
            drift_features=features[:3] + features[10:12],
        )

    @classmethod
    def from_csv(
        cls,
        path: Path,
        *,
        label: str | None = "label",
        drift_features: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
    ) -> TrafficSource:
        """Rows from a CSV file: every column but the label (and ``exclude``) is a feature.

        Without ``drift_features``, the first three numeric features drift.
        """
        try:
            rows = pd.read_csv(path)
        except (OSError, ValueError) as exc:
            raise SimulationError(f"cannot read {path}: {exc}") from None
        if rows.empty:
            raise SimulationError(f"{path} has no rows")
        if label is not None and label not in rows.columns:
            label = None
        skip = {label, *exclude}
        features = [str(c) for c in rows.columns if c not in skip]
        if not features:
            raise SimulationError(f"{path} has no feature columns")
        numeric = [f for f in features if pd.api.types.is_numeric_dtype(rows[f])]
        if drift_features is None:
            chosen = numeric[:3]
        else:
            chosen = list(drift_features)
            unknown = [f for f in chosen if f not in features]
            if unknown:
                raise SimulationError(
                    f"--drift-features names columns {path.name} does not have: "
                    f"{', '.join(unknown)}"
                )
            not_numeric = [f for f in chosen if f not in numeric]
            if not_numeric:
                raise SimulationError(
                    f"only numeric features can be shifted: {', '.join(not_numeric)}"
                )
        return cls(rows=rows, features=features, label=label, drift_features=chosen)


def inject_drift(
    rows: pd.DataFrame,
    source: TrafficSource,
    rng: np.random.Generator,
    *,
    shift: float = DEFAULT_SHIFT,
    scale: float = DEFAULT_SCALE,
    flip: float = DEFAULT_FLIP,
) -> pd.DataFrame:
    """Rows with drift: each drifting feature scaled by ``scale`` and shifted by ``shift``
    of its standard deviation in the source, and the label of a ``flip`` share of the rows
    changed to another class, so the old relation no longer holds."""
    out = rows.copy()
    for name in source.drift_features:
        std = float(source.rows[name].std()) or 1.0
        out[name] = out[name].astype(float) * scale + shift * std
    classes = source.classes
    if source.label is not None and len(classes) > 1:
        flipped = np.flatnonzero(rng.random(len(out)) < flip)
        column = out.columns.get_loc(source.label)
        for i in flipped:
            current = out.iat[i, column]
            others = [c for c in classes if c != current]
            out.iat[i, column] = others[int(rng.integers(len(others)))]
    return out


@dataclass(frozen=True)
class TrafficPlan:
    """How much traffic to send, how fast, and when the drift starts.

    ``rate`` is in requests per second (0 sends as fast as the API answers);
    ``drift_after`` is the number of in-distribution requests before drift starts (``None``
    or a number at least ``requests``: no drift); labels go back every ``feedback_every``
    predictions (0: never); the first ``burst`` requests go out without waiting, so a
    monitor has a full window from its first run.
    """

    requests: int = 1000
    rate: float = 20.0
    drift_after: int | None = 500
    feedback_every: int = 10
    seed: int = DEFAULT_SEED
    burst: int = 0

    def __post_init__(self) -> None:
        if self.requests < 1:
            raise ValueError("requests must be at least 1")
        if self.rate < 0:
            raise ValueError("rate must not be negative")
        if self.drift_after is not None and self.drift_after < 0:
            raise ValueError("drift_after must not be negative")
        if self.feedback_every < 0:
            raise ValueError("feedback_every must not be negative")
        if self.burst < 0:
            raise ValueError("burst must not be negative")

    @property
    def drift_start(self) -> int | None:
        """Index of the first drifted request, or ``None`` when nothing drifts."""
        if self.drift_after is None or self.drift_after >= self.requests:
            return None
        return self.drift_after


@dataclass
class TrafficStats:
    """What the generator has sent so far; updated while it runs."""

    planned: int
    drift_start: int | None
    sent: int = 0
    failed: int = 0
    labels_sent: int = 0
    labels_updated: int = 0
    unknown_ids: int = 0
    started_at: datetime | None = None
    drift_started_at: datetime | None = None
    finished_at: datetime | None = None
    stopped: bool = False
    # wall-clock time (epoch seconds) at which each successful prediction was answered
    answered_at: list[float] = field(default_factory=list)

    @property
    def phase(self) -> str:
        """``in-distribution`` or ``drifted``: the kind of the next request."""
        drifting = self.drift_start is not None and self.sent + self.failed >= self.drift_start
        return "drifted" if drifting else "in-distribution"

    @property
    def elapsed(self) -> float:
        """Seconds since the first request (to the last one once finished)."""
        if self.started_at is None:
            return 0.0
        end = self.finished_at or datetime.now(UTC)
        return (end - self.started_at).total_seconds()

    def answered_before(self, moment: datetime) -> int:
        """How many predictions had been answered at ``moment``."""
        return bisect_right(self.answered_at, moment.timestamp())


def _json_value(value: Any) -> Any:
    """A feature or label value as plain JSON: NaN becomes null, integral floats stay floats
    for features (see :func:`_label_value` for labels)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _label_value(value: Any) -> Any:
    """A label as plain JSON: ``1.0`` becomes ``1`` so it matches the model's classes."""
    value = _json_value(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class ApiClient:
    """The two endpoints the generator uses, with retries on back-pressure.

    :param url: The API's base URL, e.g. ``http://127.0.0.1:8000``.
    :param api_key: Sent as ``X-API-Key`` and as a bearer token when set; never printed.
    :param timeout: Seconds to wait for one answer.
    :param transport: An httpx transport (tests may pass one).
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"User-Agent": "driftscope-simulate"}
        if api_key:
            headers["X-API-Key"] = api_key
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST JSON; wait and retry on 503/429 (honouring Retry-After); raise
        :class:`SimulationError` on a connection failure or a client error."""
        for attempt in range(MAX_RETRIES):
            try:
                response = self._http.post(path, json=body)
            except httpx.HTTPError as exc:
                reason = "timed out" if isinstance(exc, httpx.TimeoutException) else "refused"
                raise SimulationError(
                    f"cannot reach the API at {self.url}{path}: connection {reason}"
                ) from None
            if response.status_code in (429, 503) and attempt < MAX_RETRIES - 1:
                time.sleep(_retry_after(response, attempt))
                continue
            if response.status_code >= 400:
                raise SimulationError(
                    f"{self.url}{path} answered {response.status_code}: {_detail(response)}",
                    response.status_code,
                )
            data = response.json()
            return data if isinstance(data, dict) else {}
        raise AssertionError("unreachable: the last attempt returns or raises")

    def predict(self, model: str, features: dict[str, Any]) -> str:
        """Send one row; return its prediction id."""
        data = self.post(f"/v1/models/{model}/predict", {"features": features})
        try:
            return str(data["predictions"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise SimulationError(
                f"{self.url}/v1/models/{model}/predict answered without a prediction id"
            ) from None

    def feedback(self, model: str, labels: Sequence[tuple[str, Any]]) -> tuple[int, list[str]]:
        """Send labels by prediction id; return (rows updated, ids the API did not know)."""
        body = {"labels": [{"id": pid, "label": label} for pid, label in labels]}
        data = self.post(f"/v1/models/{model}/feedback", body)
        return int(data.get("updated", 0)), [str(i) for i in data.get("unknown_ids") or []]


def _retry_after(response: httpx.Response, attempt: int) -> float:
    header = response.headers.get("Retry-After")
    try:
        return min(max(float(header), 0.05), 30.0) if header else 0.2 * 2**attempt
    except ValueError:
        return 0.2 * 2**attempt


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "error"
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        detail = "; ".join(
            f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg', d)}"
            if isinstance(d, dict)
            else str(d)
            for d in detail[:5]
        )
    text = " ".join(str(detail or response.reason_phrase or "error").split())
    return text if len(text) <= 300 else text[:297] + "..."


class TrafficGenerator:
    """Sends a :class:`TrafficPlan` of rows from a :class:`TrafficSource` to one model.

    :param client: The API client.
    :param model: The model name in the API.
    :param source: Where rows come from.
    :param plan: How many, how fast, and when drift starts.
    :param label_delay: Seconds between a prediction's answer and its label being sent.
    """

    def __init__(
        self,
        client: ApiClient,
        model: str,
        source: TrafficSource,
        plan: TrafficPlan,
        *,
        label_delay: float = 0.5,
    ) -> None:
        self.client = client
        self.model = model
        self.source = source
        self.plan = plan
        self.label_delay = label_delay
        self.rows = self._planned_rows()

    def _planned_rows(self) -> pd.DataFrame:
        rng = np.random.default_rng(self.plan.seed)
        picks = rng.integers(0, len(self.source.rows), size=self.plan.requests)
        rows = self.source.rows.iloc[picks].reset_index(drop=True)
        start = self.plan.drift_start
        if start is None:
            return rows
        drifted = inject_drift(rows.iloc[start:], self.source, rng)
        return pd.concat([rows.iloc[:start], drifted], ignore_index=True)

    def run(
        self,
        on_progress: Callable[[TrafficStats], None] | None = None,
        stop: threading.Event | None = None,
    ) -> TrafficStats:
        """Send the whole plan (or until ``stop`` is set) and return what was sent.

        ``on_progress`` is called after every request. Server errors (5xx) are counted in
        ``failed`` and the traffic goes on; a client error or an unreachable API raises
        :class:`SimulationError`. Labels follow their predictions by ``label_delay``
        seconds (the API logs predictions asynchronously, and real labels come later too);
        ids the API does not know yet are sent once more after another delay.
        """
        stop = stop or threading.Event()
        stats = TrafficStats(planned=self.plan.requests, drift_start=self.plan.drift_start)
        features = self.source.features
        label = self.source.label
        send_labels = label is not None and self.plan.feedback_every > 0
        records = self.rows.to_dict("records")
        labels = _LabelQueue(self, stats)
        stats.started_at = datetime.now(UTC)
        t0 = time.monotonic()
        try:
            for i, row in enumerate(records):
                if i == self.plan.burst:
                    t0 = time.monotonic()  # the paced part starts when the burst ends
                if self.plan.rate > 0 and i >= self.plan.burst:
                    wait = t0 + (i - self.plan.burst) / self.plan.rate - time.monotonic()
                    if wait > 0:
                        stop.wait(wait)
                if stop.is_set():
                    stats.stopped = True
                    break
                if i == self.plan.drift_start:
                    stats.drift_started_at = datetime.now(UTC)
                try:
                    prediction_id = self.client.predict(
                        self.model, {name: _json_value(row[name]) for name in features}
                    )
                except SimulationError as exc:
                    if exc.status is None or exc.status < 500:
                        raise
                    stats.failed += 1
                else:
                    stats.sent += 1
                    stats.answered_at.append(time.time())
                    if send_labels:
                        labels.add(prediction_id, _label_value(row[label]))
                        labels.send_ripe(self.plan.feedback_every)
                if on_progress is not None:
                    on_progress(stats)
            if send_labels and not stats.stopped:
                labels.drain(stop)
        finally:
            stats.finished_at = datetime.now(UTC)
        return stats


class _LabelQueue:
    """Labels waiting to be sent: each goes out once ``label_delay`` has passed since its
    prediction was answered; unknown ids get one more try."""

    def __init__(self, generator: TrafficGenerator, stats: TrafficStats) -> None:
        self.generator = generator
        self.stats = stats
        self.delay = generator.label_delay
        self.waiting: list[tuple[float, str, Any, bool]] = []  # (due, id, label, retried)

    def add(self, prediction_id: str, label: Any) -> None:
        if label is not None:
            self.waiting.append((time.monotonic() + self.delay, prediction_id, label, False))

    def send_ripe(self, batch: int) -> None:
        """Send the labels that are due once there are at least ``batch`` of them."""
        now = time.monotonic()
        ripe = sum(1 for due, *_ in self.waiting if due <= now)
        if ripe >= batch:
            self._send(ripe)

    def drain(self, stop: threading.Event) -> None:
        """Send everything left, waiting for each label's delay (and one retry)."""
        while self.waiting and not stop.is_set():
            wait = self.waiting[0][0] - time.monotonic()
            if wait > 0:
                stop.wait(wait)
            now = time.monotonic()
            self._send(sum(1 for due, *_ in self.waiting if due <= now))

    def _send(self, count: int) -> None:
        batch, self.waiting = self.waiting[:count], self.waiting[count:]
        if not batch:
            return
        updated, unknown = self.generator.client.feedback(
            self.generator.model, [(pid, label) for _, pid, label, _ in batch]
        )
        self.stats.labels_sent += len(batch)
        self.stats.labels_updated += updated
        unknown_ids = set(unknown)
        retry_at = time.monotonic() + self.delay
        for _, pid, label, retried in batch:
            if pid not in unknown_ids:
                continue
            if retried:
                self.stats.unknown_ids += 1
            else:
                self.stats.labels_sent -= 1  # counted again when it is resent
                self.waiting.append((retry_at, pid, label, True))
