"""What a running API process holds, and how the lifespan starts and stops it."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from driftscope.apps.api.errors import BodyBudget
from driftscope.apps.api.schemas import jsonable
from driftscope.core.config.environment import DeploymentSettings
from driftscope.core.contracts.notifier import redact
from driftscope.core.monitoring.scheduler import MonitorScheduler
from driftscope.core.runtime import Runtime
from driftscope.core.serving.log_writer import PredictionLogWriter
from driftscope.core.serving.metrics import ApiMetrics, ReportMetricsObserver
from driftscope.core.serving.service import PredictionService

log = logging.getLogger("driftscope.api")
# /readyz must answer within a second even when the store hangs (a locked SQLite file, an
# exhausted pool): blocking checks get this long, together, then count as timed out
READY_TIMEOUT = 0.8


class ReadinessProbes:
    """Runs readiness's blocking checks on threads of their own, at most one of each kind.

    Request work (sync-mode writes, stats, runs) fills the default executor when the store
    is slow, and a check queued behind it could not answer in time. A check still hanging
    from an earlier /readyz is awaited again instead of being started anew, so a hung store
    costs one thread per check, not one per probe.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=3, thread_name_prefix="driftscope-readyz")
        self._pending: dict[str, asyncio.Future[Any]] = {}

    async def run(self, name: str, check: Callable[[], Any], timeout: float) -> Any:
        """``check()``'s result, or :class:`TimeoutError` after ``timeout`` seconds (the
        check keeps running and a later call picks it up)."""
        future = self._pending.get(name)
        if future is None or future.done():
            future = asyncio.get_running_loop().run_in_executor(self._executor, check)
            # a check that fails after its caller gave up must not log "never retrieved"
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._pending[name] = future
        return await asyncio.wait_for(asyncio.shield(future), timeout)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


@dataclass
class ApiState:
    """The runtime and the services built on it for one app instance."""

    settings: DeploymentSettings
    runtime: Runtime
    service: PredictionService
    logger: PredictionLogWriter | None
    metrics: ApiMetrics
    scheduler: MonitorScheduler | None
    owns_runtime: bool
    observer_name: str
    delivery_started: bool = False
    probes: ReadinessProbes = field(default_factory=ReadinessProbes)

    @property
    def scheduler_expected(self) -> bool:
        return self.settings.scheduler and bool(self.runtime.config.monitors)


async def start(
    app: FastAPI, settings: DeploymentSettings, runtime: Runtime | None, *, prediction_logging: bool
) -> ApiState:
    """Build (or adopt) the runtime, start logging, the scheduler and alert delivery."""
    owns_runtime = runtime is None
    if runtime is None:
        try:
            runtime = await asyncio.to_thread(Runtime.from_path, settings.config, settings)
        except Exception as exc:
            log.error("driftscope API could not start: %s", exc)
            raise
    try:
        return await _start_services(app, settings, runtime, owns_runtime, prediction_logging)
    except BaseException:
        if owns_runtime:
            await asyncio.to_thread(runtime.close)
        raise


async def _start_services(
    app: FastAPI,
    settings: DeploymentSettings,
    runtime: Runtime,
    owns_runtime: bool,
    prediction_logging: bool,
) -> ApiState:
    api = runtime.config.api
    app.state.max_body_bytes = api.max_body_bytes
    assert api.max_body_bytes_in_flight is not None
    app.state.body_budget.limit = api.max_body_bytes_in_flight
    metrics = ApiMetrics()
    logger = PredictionLogWriter.from_config(runtime.store, api) if prediction_logging else None
    if logger is not None:
        await logger.start()
    service = PredictionService(
        runtime.models,
        api,
        logger,
        metrics,
        store_stats=runtime.store.prediction_stats,
        attach_labels=runtime.store.attach_labels,
    )
    observer_name = f"driftscope.api-metrics.{id(app):x}"
    runtime.plugins.register(
        ReportMetricsObserver(metrics), observer_name, source="driftscope API (metrics)"
    )
    await asyncio.to_thread(_seed_drift_gauges, runtime, metrics)
    state = ApiState(settings, runtime, service, logger, metrics, None, owns_runtime, observer_name)
    if state.scheduler_expected:
        state.scheduler = runtime.make_scheduler()
        state.scheduler.start()
    metrics.registry.register(_BodyBudgetCollector(app.state.body_budget))
    metrics.watch(
        logger=lambda: state.logger,
        plugins=runtime.plugins,
        scheduler=lambda: state.scheduler,
        profile_cache=runtime.profile_cache,
        delivery=runtime.delivery,
    )
    if runtime.delivery is not None and not getattr(runtime.delivery, "running", False):
        runtime.delivery.start()
        state.delivery_started = True
    runtime.plugins.notify("driftscope_app_started", app=app, settings=settings)
    if owns_runtime:
        # a serving process: move what start-up built (modules, model, reference data) out
        # of the collector's reach, so full collections stay short while requests run
        gc.collect()
        gc.freeze()
    log.info(
        "driftscope API ready: %d model(s), %d monitor(s), logging %s, scheduler %s",
        len(runtime.models),
        len(runtime.config.monitors),
        api.logging if logger is not None else "off",
        "on" if state.scheduler is not None else "off",
    )
    return state


class _BodyBudgetCollector(Collector):
    """Request body bytes in flight, their bound, and the requests refused over it."""

    def __init__(self, budget: BodyBudget) -> None:
        self.budget = budget

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "driftscope_request_body_bytes_in_flight",
            "Bytes of request bodies this process holds now.",
            value=self.budget.in_flight,
        )
        yield GaugeMetricFamily(
            "driftscope_request_body_bytes_in_flight_limit",
            "Bound of request body bytes held at once (api.max_body_bytes_in_flight).",
            value=self.budget.limit,
        )
        yield CounterMetricFamily(
            "driftscope_request_bodies_refused",
            "Requests answered 503 because other bodies held the bound.",
            value=self.budget.refused,
        )


def _seed_drift_gauges(runtime: Runtime, metrics: ApiMetrics) -> None:
    for monitor in runtime.config.monitors:
        try:
            latest = runtime.store.list_reports(monitor.name, limit=1)
        except Exception as exc:  # a store hiccup at start-up must not stop serving
            log.warning("could not read the latest report of %s: %s", monitor.name, exc)
            continue
        if latest:
            metrics.observe_report(latest[0])


async def stop(state: ApiState) -> None:
    """Stop the scheduler, write every queued record, then close what we opened."""
    state.probes.close()
    if state.scheduler is not None:
        await asyncio.to_thread(state.scheduler.stop, True)
    if state.logger is not None:
        await state.logger.close()
    runtime = state.runtime
    if runtime.plugins.pm.has_plugin(state.observer_name):
        runtime.plugins.unregister(state.observer_name)
    if state.owns_runtime:
        await asyncio.to_thread(runtime.close)
    elif state.delivery_started and runtime.delivery is not None:
        await asyncio.to_thread(runtime.delivery.stop)


def _secrets(state: ApiState) -> list[str]:
    values = [state.runtime.config.store_settings.url.get_secret_value()]
    settings = state.settings
    for secret in (settings.store_url, settings.api_key):
        if secret is not None:
            values.append(secret.get_secret_value())
    for keys in (settings.admin_keys, settings.write_keys, settings.read_keys):
        if keys is not None:
            values.extend(k.strip() for k in keys.get_secret_value().split(",") if k.strip())
    return values


async def readiness(state: ApiState) -> tuple[bool, dict[str, dict[str, Any]], list[str]]:
    """Each readiness check as ``{"ok", "detail", "data"}``, and warnings that do not make
    the process unready (a disabled notifier, failed deliveries)."""
    runtime = state.runtime
    checks: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    secrets = _secrets(state)

    delivery = runtime.delivery
    has_health = delivery is not None and hasattr(delivery, "health")
    logger = state.logger
    probes = {"store": state.probes.run("store", runtime.store.ping, READY_TIMEOUT)}
    if delivery is not None and has_health:
        probes["delivery"] = state.probes.run("delivery", delivery.health, READY_TIMEOUT)
    if logger is not None:
        probes["dead_letters"] = state.probes.run(
            "dead_letters", runtime.store.count_dead_letters, READY_TIMEOUT
        )
    # all at once: the answer takes at most READY_TIMEOUT however many checks hang
    answers = dict(
        zip(probes, await asyncio.gather(*probes.values(), return_exceptions=True), strict=True)
    )
    ping = answers["store"]
    if isinstance(ping, BaseException):
        why = "timed out" if isinstance(ping, TimeoutError) else redact(str(ping), secrets)
        checks["store"] = {"ok": False, "detail": f"the store is not reachable: {why}"}
    else:
        checks["store"] = {"ok": True}

    expected = [m.name for m in runtime.config.models]
    missing = [name for name in expected if name not in runtime.models]
    checks["models"] = {
        "ok": not missing,
        "detail": f"not loaded: {', '.join(missing)}" if missing else None,
        "data": {"loaded": sorted(runtime.models)},
    }

    if state.scheduler_expected:
        running = state.scheduler is not None and state.scheduler.running
        checks["scheduler"] = {
            "ok": running,
            "detail": None if running else "the monitor scheduler is not running",
        }

    if logger is not None:
        checks["logging"] = {
            "ok": logger.healthy,
            "detail": None
            if logger.healthy
            else redact(logger.last_error or "the log writer is not running", secrets),
            "data": {
                "mode": logger.mode,
                "depth": logger.depth,
                "written": logger.written,
                "dropped": logger.dropped,
                "write_errors": logger.write_errors,
                "dead_lettered": logger.dead_lettered,
            },
        }
        counted = answers["dead_letters"]
        if isinstance(counted, BaseException):  # the store check already reports an outage
            log.debug("could not count dead letters: %s", counted)
            kept = logger.dead_letters_stored
        else:
            kept = logger.dead_letters_stored = counted
        if kept:
            last = f" (last reason: {logger.last_dead_letter})" if logger.last_dead_letter else ""
            warnings.append(
                redact(
                    f"{kept} prediction record(s) the store refused are kept as dead letters"
                    f"{last}; see `driftscope deadletter list`",
                    secrets,
                )
            )

    if delivery is not None and has_health:
        health = answers["delivery"]
        if isinstance(health, TimeoutError):
            # whether the worker runs is known without the store; its outbox is not
            running = bool(getattr(delivery, "running", False))
            checks["delivery"] = {
                "ok": running,
                "detail": None if running else "alert delivery is not running",
                "data": {},
            }
            warnings.append("alert delivery: the outbox could not be read in time")
        elif isinstance(health, BaseException):
            checks["delivery"] = {"ok": False, "detail": redact(str(health), secrets)}
        else:
            # a receiver that is down degrades alerting but not serving: the check stays ok
            # (predictions must not stop because Discord is down) and says "degraded"
            if not health.running:
                detail: str | None = "alert delivery is not running"
            elif getattr(health, "degraded", False):
                detail = "degraded: " + "; ".join(health.problems)
            else:
                detail = None
            checks["delivery"] = {
                "ok": bool(health.running),
                "detail": redact(detail, secrets) if detail else None,
                "data": jsonable(health.to_dict()) if hasattr(health, "to_dict") else {},
            }
            warnings.extend(redact(p, secrets) for p in health.problems)
    ready = all(check["ok"] for check in checks.values())
    return ready, checks, warnings
