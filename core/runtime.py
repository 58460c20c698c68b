"""Everything a driftscope process needs, built once from a config file and settings.

The CLI, the API and the scheduler all start from a :class:`Runtime`: the plugin manager,
the validated config, the opened store, the loaded models, the monitor engine, and the
alerting pieces. Building it is where start-up errors surface, each naming what is wrong.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from driftscope.core.alerting.delivery import DeliveryWorker
from driftscope.core.alerting.manager import AlertManager
from driftscope.core.alerting.wiring import build_alerting
from driftscope.core.config.environment import DeploymentSettings
from driftscope.core.config.paths import resolve_sqlite_url
from driftscope.core.config.yaml_file import DriftscopeConfig, load_config
from driftscope.core.contracts.notifier import Notifier
from driftscope.core.contracts.report import Report
from driftscope.core.contracts.store import Store
from driftscope.core.errors import ConfigError, StoreNotFoundError
from driftscope.core.monitoring.engine import MonitorEngine
from driftscope.core.monitoring.model_loading import LoadedModel, load_model
from driftscope.core.monitoring.profiles import ProfileCache
from driftscope.core.monitoring.scheduler import MonitorScheduler
from driftscope.core.plugin_system.manager import PluginManager, create_plugin_manager

log = logging.getLogger(__name__)


class Runtime:
    """A configured driftscope: plugins, config, store, models, engine and alerting."""

    def __init__(
        self,
        config: DriftscopeConfig,
        plugins: PluginManager,
        settings: DeploymentSettings | None = None,
        *,
        load_models: bool = True,
        create_store: bool = True,
    ) -> None:
        """:param load_models: Load each model's file and reference (the commands that only
            read the store skip it).
        :param create_store: Create the store's database when it does not exist. Commands
            that only read what is stored pass False: pointed at a database that is not
            there they raise :class:`StoreNotFoundError` naming where they looked, instead
            of creating an empty one and reporting that nothing happened.
        """
        self.config = config
        self.plugins = plugins
        self.settings = settings or DeploymentSettings()
        # models first: a model that fails to load stops start-up before a database exists
        self.models: dict[str, LoadedModel] = {}
        if load_models:
            for model_config in config.models:
                model = load_model(model_config)
                self.models[model.name] = model
        store_settings = config.store_settings
        origin = f"store.url of {config.source}" if config.source else "store.url"
        if self.settings.store_url is not None:
            # typed in a shell, so relative to the folder driftscope runs in (a URL in the
            # config file is relative to the file's folder: resolved when it was loaded)
            url = resolve_sqlite_url(self.settings.store_url.get_secret_value(), Path.cwd())
            store_settings = store_settings.model_copy(update={"url": SecretStr(url)})
            origin = "DRIFTSCOPE_STORE_URL"
        self.store: Store = plugins.get("store", store_settings.type)(store_settings)
        if not create_store:
            missing = self.store.missing_database()
            if missing is not None:
                raise StoreNotFoundError(
                    f"{missing} (from {origin}): nothing was ever stored there. Is this the "
                    "config (or DRIFTSCOPE_STORE_URL) the server runs with? `driftscope serve` "
                    "creates the database."
                )
        self.store.open()
        for model in self.models.values():
            self.store.register_model(model.schema)
        self.profile_cache = ProfileCache(config.profile_cache_size)
        self.engine = MonitorEngine(config, plugins, self.store, self.models, self.profile_cache)
        self.notifiers: dict[str, Notifier[Any]] = {
            s.name: plugins.get("notifier", s.type)(s) for s in config.notifier_settings
        }
        self.alerts: AlertManager
        self.delivery: DeliveryWorker
        self.alerts, self.delivery = build_alerting(config, plugins, self.store, self.notifiers)

    @classmethod
    def from_path(
        cls,
        path: Path | str | None = None,
        settings: DeploymentSettings | None = None,
        **kwargs: Any,
    ) -> Runtime:
        """Load the config at ``path`` (or ``DRIFTSCOPE_CONFIG``) and build a runtime."""
        settings = settings or DeploymentSettings()
        path = path or settings.config
        if path is None:
            raise ConfigError([("", "no config file: pass --config or set DRIFTSCOPE_CONFIG")])
        plugins = create_plugin_manager()
        return cls(load_config(path, plugins), plugins, settings, **kwargs)

    def run_monitor(self, name: str) -> Report:
        """Run a monitor once, then turn its report into alert changes."""
        report = self.engine.run(name)
        self.alerts.handle_report(report)
        return report

    def backfill_monitor(self, name: str, at: datetime, *, alerts: bool = False) -> Report:
        """Run a monitor over the window ending at ``at`` (a past time) and save the report,
        marked backfilled. Its result reaches the alert rules only with ``alerts``: a report
        over last quarter's data must not page anyone unless asked to."""
        report = self.engine.run(name, now=at, backfill=True)
        if alerts:
            self.alerts.handle_report(report)
        return report

    def make_scheduler(self) -> MonitorScheduler:
        """A (not yet started) scheduler for every monitor, with the retention job."""
        return MonitorScheduler(
            self.config.monitors, self.store, self.run_monitor, retention=self.config.retention
        )

    def close(self) -> None:
        """Stop delivery, close notifiers and the store."""
        self.delivery.stop()
        self.engine.close()
        for notifier in self.notifiers.values():
            notifier.close()
        self.store.close()
