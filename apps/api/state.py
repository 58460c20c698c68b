"""What a running API process holds, and how the lifespan starts and stops it."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from apps.api.schemas import jsonable
from core.logging_queue import PredictionLogger
from core.metrics import ApiMetrics, ReportMetricsObserver
from core.notifier import redact
from core.predict import PredictionService
from core.runtime import Runtime
from core.scheduler import MonitorScheduler
from core.settings import Settings

log = logging.getLogger("driftscope.api")
STORE_PING_TIMEOUT = 2.0
SWITCH_INTERVAL = 0.0005


@dataclass
class ApiState:
    """The runtime and the services built on it for one app instance."""

    settings: Settings
    runtime: Runtime
    service: PredictionService
    logger: PredictionLogger | None
    metrics: ApiMetrics
    scheduler: MonitorScheduler | None
    owns_runtime: bool
    observer_name: str
    delivery_started: bool = False

    @property
    def scheduler_expected(self) -> bool:
        return self.settings.scheduler and bool(self.runtime.config.monitors)


async def start(
    app: FastAPI, settings: Settings, runtime: Runtime | None, *, prediction_logging: bool
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
    settings: Settings,
    runtime: Runtime,
    owns_runtime: bool,
    prediction_logging: bool,
) -> ApiState:
    api = runtime.config.api
    app.state.max_body_bytes = api.max_body_bytes
    metrics = ApiMetrics()
    logger = PredictionLogger.from_config(runtime.store, api) if prediction_logging else None
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
        # the log writer thread runs Python code (building the store's rows); with the
        # default 5 ms switch interval a request waiting for the GIL can stall that long
        sys.setswitchinterval(SWITCH_INTERVAL)
    log.info(
        "driftscope API ready: %d model(s), %d monitor(s), logging %s, scheduler %s",
        len(runtime.models),
        len(runtime.config.monitors),
        api.logging if logger is not None else "off",
        "on" if state.scheduler is not None else "off",
    )
    return state


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
    for secret in (state.settings.store_url, state.settings.api_key):
        if secret is not None:
            values.append(secret.get_secret_value())
    return values


async def readiness(state: ApiState) -> tuple[bool, dict[str, dict[str, Any]], list[str]]:
    """Each readiness check as ``{"ok", "detail", "data"}``, and warnings that do not make
    the process unready (a disabled notifier, failed deliveries)."""
    runtime = state.runtime
    checks: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    secrets = _secrets(state)

    try:
        async with asyncio.timeout(STORE_PING_TIMEOUT):
            await asyncio.to_thread(runtime.store.ping)
        checks["store"] = {"ok": True}
    except Exception as exc:
        detail = "timed out" if isinstance(exc, TimeoutError) else redact(str(exc), secrets)
        checks["store"] = {"ok": False, "detail": f"the store is not reachable: {detail}"}

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

    logger = state.logger
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
        try:
            kept = await asyncio.to_thread(runtime.store.count_dead_letters)
            logger.dead_letters_stored = kept
        except Exception as exc:  # the store check above already reports an outage
            log.debug("could not count dead letters: %s", exc)
            kept = logger.dead_letters_stored
        if kept:
            last = f" (last reason: {logger.last_dead_letter})" if logger.last_dead_letter else ""
            warnings.append(
                redact(
                    f"{kept} prediction record(s) the store refused are kept as dead letters"
                    f"{last}; see `driftscope deadletter list`",
                    secrets,
                )
            )

    delivery = runtime.delivery
    if delivery is not None and hasattr(delivery, "health"):
        try:
            health = await asyncio.to_thread(delivery.health)
            checks["delivery"] = {
                "ok": bool(health.running),
                "detail": None if health.running else "alert delivery is not running",
                "data": jsonable(health.to_dict()) if hasattr(health, "to_dict") else {},
            }
            warnings.extend(redact(p, secrets) for p in health.problems)
        except Exception as exc:
            checks["delivery"] = {"ok": False, "detail": redact(str(exc), secrets)}
    ready = all(check["ok"] for check in checks.values())
    return ready, checks, warnings
