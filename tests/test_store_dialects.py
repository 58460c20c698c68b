"""Each database's dialect classifies the errors its real server raises: an outage (a lock
that is not available, a cancelled statement, a locked SQLite file) is transient and retried;
an error the statement itself causes (a division by zero, a missing table) is not.

The expected verdicts follow the SQLSTATE classes of PostgreSQL's documentation (Appendix A:
55P03 lock_not_available, 57014 query_canceled, 22012 division_by_zero, 42P01
undefined_table) and SQLite's result codes (SQLITE_BUSY "database is locked", SQLITE_ERROR
"no such table"), not the store's own tables.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import _psycopg_dsn
from pydantic import SecretStr

from driftscope import StoreError, StoreSettings
from driftscope.plugins.stores.sql import PostgresDialect, SQLiteDialect, SQLStore


def _opened(url: str) -> SQLStore:
    store = SQLStore(StoreSettings(url=SecretStr(url)))
    store.open()
    return store


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[SQLStore]:
    store = _opened(postgres_url)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[SQLStore]:
    store = _opened(sqlite_url)
    try:
        yield store
    finally:
        store.close()


def _failure(store: SQLStore, *statements: str) -> StoreError:
    with pytest.raises(StoreError) as caught, store._tx("test statement") as conn:
        for sql in statements:
            conn.exec_driver_sql(sql)
    return caught.value


@pytest.mark.postgres
def test_the_url_picks_one_dialect_object_per_database(pg_store, sqlite_store):
    assert isinstance(pg_store._dialect, PostgresDialect) and pg_store.dialect == "postgresql"
    assert isinstance(sqlite_store._dialect, SQLiteDialect) and sqlite_store.dialect == "sqlite"


@pytest.mark.postgres
def test_postgres_lock_not_available_is_transient(pg_store, postgres_url):
    with psycopg.connect(_psycopg_dsn(postgres_url)) as holder:
        holder.execute("LOCK TABLE reports IN ACCESS EXCLUSIVE MODE")  # held until rollback
        error = _failure(pg_store, "SET LOCAL lock_timeout = '50ms'", "SELECT * FROM reports")
        holder.rollback()
    assert "lock" in str(error) and error.transient is True


@pytest.mark.postgres
def test_postgres_cancelled_statement_is_transient(pg_store):
    error = _failure(pg_store, "SET LOCAL statement_timeout = '20ms'", "SELECT pg_sleep(5)")
    assert "cancel" in str(error) and error.transient is True


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("sql", "words"), [("SELECT 1/0", "division by zero"), ("SELECT * FROM nowhere", "nowhere")]
)
def test_postgres_errors_of_the_statement_are_not_transient(pg_store, sql, words):
    error = _failure(pg_store, sql)
    assert words in str(error) and error.transient is False


def test_sqlite_locked_database_is_transient(sqlite_store, sqlite_url):
    holder = sqlite3.connect(Path(sqlite_url.removeprefix("sqlite:///")), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # the one write lock, held until rollback
        error = _failure(
            sqlite_store,
            "PRAGMA busy_timeout=0",
            "INSERT INTO leases (name, owner, expires_at) VALUES ('x', 'y', 0)",
        )
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    assert "locked" in str(error) and error.transient is True


def test_sqlite_missing_table_is_not_transient(sqlite_store):
    error = _failure(sqlite_store, "SELECT * FROM nowhere")
    assert "no such table" in str(error) and error.transient is False
