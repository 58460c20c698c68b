"""Deployment settings from ``DRIFTSCOPE_*`` environment variables (pydantic-settings).

The YAML config says *what* to monitor; these settings say *where* this process runs. A
setting given here wins over the same value in the YAML file (the store URL, for instance).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DeploymentSettings(BaseSettings):
    """Settings of one driftscope process, read from ``DRIFTSCOPE_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="DRIFTSCOPE_", extra="ignore")

    config: Path | None = Field(default=None, description="Path of the YAML config file.")
    store_url: SecretStr | None = Field(
        default=None, description="Database URL; overrides store.url in the config."
    )
    api_host: str = Field(default="127.0.0.1", description="Address the API binds.")
    api_port: int = Field(default=8000, ge=1, le=65535, description="Port the API binds.")
    api_key: SecretStr | None = Field(
        default=None,
        description="An admin-scope API key. With any key set, every endpoint but the health "
        "checks needs a key of the endpoint's scope. The dashboard sends this key.",
    )
    admin_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated admin keys (or sha256:<hex> digests): everything.",
    )
    write_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated write keys (or sha256:<hex>): predict, records, feedback.",
    )
    read_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated read keys (or sha256:<hex>): models, reports, alerts, "
        "stats, silences, metrics (what the dashboard needs).",
    )
    api_url: str = Field(
        default="http://127.0.0.1:8000", description="Where the dashboard finds the API."
    )
    dashboard_port: int = Field(default=8501, ge=1, le=65535, description="Dashboard port.")
    workers: int = Field(default=1, ge=1, description="API worker processes.")
    scheduler: bool = Field(default=True, description="Run the monitor scheduler with the API.")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
