"""Shared pytest fixtures: database URLs and an opened SQL store on each backend.

* ``sqlite_url`` — a fresh SQLite file under ``tmp_path``.
* ``postgres_url`` — a fresh PostgreSQL schema (``dstest_<uuid8>``) per test in the database
  named by ``DRIFTSCOPE_TEST_POSTGRES_URL`` (default
  ``postgresql://postgres@127.0.0.1:5432/test``), selected through
  ``?options=-csearch_path%3D<schema>`` and dropped (CASCADE) afterwards. A plain ``pytest``
  runs these tests whenever that server answers; only when it cannot be reached are they
  skipped, with the reason and how to get a server (and fail instead when
  ``DRIFTSCOPE_REQUIRE_POSTGRES=1``, as in CI).
* ``store`` — parametrised over ``sqlite`` and ``postgres`` (the latter marked
  ``postgres``): an opened :class:`driftscope.plugins.stores.sql.SQLStore`, closed after the test.
* ``discord`` — a running :class:`support.discord_standin.DiscordStandIn`.

Every test starts and ends with the Discord notifier's rate-limit buckets empty.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from pydantic import SecretStr

if TYPE_CHECKING:
    from support.discord_standin import DiscordStandIn

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_base_url() -> str:
    """The PostgreSQL server tests use (``DRIFTSCOPE_TEST_POSTGRES_URL``)."""
    return os.environ.get("DRIFTSCOPE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _psycopg_dsn(url: str) -> str:
    """A libpq URL for psycopg (drops a SQLAlchemy ``+driver`` suffix)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "postgres":
        scheme = "postgresql"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def with_search_path(url: str, schema: str) -> str:
    """``url`` with ``options=-csearch_path=<schema>`` added to its query string."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _connect_admin(url: str):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(_psycopg_dsn(url), autocommit=True, connect_timeout=3)


def _shown(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def postgres_unreachable(url: str, exc: BaseException) -> str:
    """Why the PostgreSQL tests cannot run, and how to get a server for them."""
    error = _first_line(exc)
    password = urlsplit(url).password
    if password:
        error = error.replace(password, "***")
    return (
        f"PostgreSQL is not reachable at {_shown(url)} ({type(exc).__name__}: {error}). "
        "To run these tests, start a server there, e.g. "
        "`docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test "
        "postgres:16` or `apt-get install postgresql` and `createdb test`, or point "
        "DRIFTSCOPE_TEST_POSTGRES_URL at a database you may create schemas in. "
        "DRIFTSCOPE_REQUIRE_POSTGRES=1 makes this a failure instead of a skip."
    )


@pytest.fixture(scope="session")
def _postgres_server() -> str:
    """The base URL of a reachable PostgreSQL server, or skip saying how to get one."""
    url = postgres_base_url()
    try:
        with _connect_admin(url) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # unreachable server: skip, saying why (fail in CI)
        reason = postgres_unreachable(url, exc)
        if os.environ.get("DRIFTSCOPE_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return url


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    """A SQLite URL for a fresh database file in the test's temporary directory."""
    return f"sqlite:///{tmp_path / 'driftscope.db'}"


@pytest.fixture
def postgres_url(_postgres_server: str) -> Iterator[str]:
    """A URL selecting a fresh PostgreSQL schema ``dstest_<uuid8>``, dropped afterwards."""
    schema = f"dstest_{uuid.uuid4().hex[:8]}"
    with _connect_admin(_postgres_server) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(_postgres_server, schema)
    finally:
        with _connect_admin(_postgres_server) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def store(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """An opened SQL store on a fresh database (SQLite file or PostgreSQL schema)."""
    from driftscope import StoreSettings
    from driftscope.plugins.stores.sql import SQLStore

    fixture = "postgres_url" if request.param == "postgres" else "sqlite_url"
    url = request.getfixturevalue(fixture)
    sql_store = SQLStore(StoreSettings(url=SecretStr(url)))
    sql_store.open()
    try:
        yield sql_store
    finally:
        sql_store.close()


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``pytest.mark.anyio``) run on asyncio, as the API does."""
    return "asyncio"


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the trained demo model and its reference, shared by a module's tests."""
    from support.factories import demo_model

    folder = tmp_path_factory.mktemp("demo")
    demo_model(folder)
    return folder


@pytest.fixture(autouse=True)
def _fresh_discord_rate_limits() -> Iterator[None]:
    """Empty the Discord notifier's rate-limit buckets around each test: they live for the
    process, keyed by webhook id, and every Discord stand-in has the same id, so one test's
    429 would otherwise hold back the next test's posts."""
    from driftscope.plugins.notifiers import discord as discord_plugin

    discord_plugin._buckets.clear()
    yield
    discord_plugin._buckets.clear()


@pytest.fixture
def discord() -> Iterator[DiscordStandIn]:
    """A strict local stand-in for Discord's webhook endpoint on 127.0.0.1."""
    from support.discord_standin import DiscordStandIn

    with DiscordStandIn() as standin:
        yield standin
