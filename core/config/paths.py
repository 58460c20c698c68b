"""Where the files a config names are: every relative path resolves against one folder.

A config file's relative paths (model files, reference CSVs, a SQLite store's file, any
``Path`` setting of a plugin) mean "next to this config", whatever folder driftscope runs
in: :func:`driftscope.core.config.yaml_file.parse_config` resolves them all, once, at load
time, with the functions here. A store URL from ``DRIFTSCOPE_STORE_URL`` or the command line
was typed in a shell, so it resolves against the current folder instead (see
:class:`driftscope.core.runtime.Runtime`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from pydantic import BaseModel, SecretStr

# A SQLite URL as SQLAlchemy reads it: scheme, an (empty) host, the database after the third
# slash (percent-decoded), then the query. Only these URLs name a file; other schemes pass.
_SQLITE_URL = re.compile(
    r"^(?P<scheme>sqlite(?:\+[A-Za-z0-9_]+)?)://(?P<host>[^/?]*)"
    r"(?:/(?P<database>[^?]*))?(?P<query>\?.*)?$"
)


def resolve_path(path: Path, base: Path) -> Path:
    """``path`` with ``~`` expanded, against ``base`` when it is relative."""
    path = path.expanduser()
    return path if path.is_absolute() else base / path


def sqlite_file(url: str) -> Path | None:
    """The database file a SQLite URL names, or ``None`` for an in-memory database, a
    ``file:`` URI filename or a URL of another database."""
    match = _SQLITE_URL.match(url.strip())
    if match is None or match["host"]:
        return None
    database = unquote(match["database"] or "")
    query = match["query"] or ""
    if database in ("", ":memory:") or database.startswith("file:") or "mode=memory" in query:
        return None
    return Path(database)


def resolve_sqlite_url(url: str, base: Path) -> str:
    """``url`` with a relative SQLite file made absolute against ``base``; any other URL
    (PostgreSQL, in-memory SQLite, an absolute file) unchanged."""
    database = sqlite_file(url)
    if database is None:
        return url
    resolved = resolve_path(database, base)
    if resolved == database:
        return url
    match = _SQLITE_URL.match(url.strip())
    assert match is not None  # sqlite_file matched it
    # '%' and '?' would be read back as an escape and as the query's start
    text = str(resolved).replace("%", "%25").replace("?", "%3F")
    return f"{match['scheme']}:///{text}{match['query'] or ''}"


def resolve_settings_paths(settings: BaseModel, base: Path) -> None:
    """Make every relative ``Path`` value of a settings model (nested models, lists and
    dicts included) absolute against ``base``, in place; a ``url`` holding a SQLite file is
    resolved too. Plugins declare a file setting as ``Path`` and get this for free."""
    for name, value in list(settings.__dict__.items()):
        if name == "url" and isinstance(value, SecretStr | str):
            raw = value.get_secret_value() if isinstance(value, SecretStr) else value
            resolved = resolve_sqlite_url(raw, base)
            if resolved != raw:
                new: Any = SecretStr(resolved) if isinstance(value, SecretStr) else resolved
                settings.__dict__[name] = new
            continue
        settings.__dict__[name] = _resolved(value, base)


def _resolved(value: Any, base: Path) -> Any:
    if isinstance(value, Path):
        return resolve_path(value, base)
    if isinstance(value, BaseModel):
        resolve_settings_paths(value, base)
        return value
    if isinstance(value, list):
        return [_resolved(item, base) for item in value]
    if isinstance(value, tuple):
        return tuple(_resolved(item, base) for item in value)
    if isinstance(value, dict):
        return {key: _resolved(item, base) for key, item in value.items()}
    return value
