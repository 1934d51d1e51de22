"""The database handle: one async engine, read and write transactions, migrations on start.

SQLite is the embedded default. It allows one writer at a time, so writes in this process queue on
an asyncio lock and open with ``BEGIN IMMEDIATE`` (a writer in another process waits on
``busy_timeout`` instead of failing half-way). PostgreSQL needs neither: row locks and conditional
updates keep concurrent writers correct.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Table, and_, bindparam, event, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._statements: dict[tuple[str, ...], Any] = {}
        # SQLite hot reads: a plain sqlite3 connection used on the event loop thread. A WAL reader
        # never waits for writers, and a primary-key read takes ~20 µs: far less than the thread
        # hand-off of an async driver plus the ORM layers (~400 µs).
        self._raw: sqlite3.Connection | None = None
        self._path = url.split(":///", 1)[1] if self.is_sqlite else ""
        if self.is_sqlite:
            _install_sqlite_hooks(self.engine)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed when the block exits cleanly, rolled back otherwise."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock:
            async with self.engine.connect() as conn:
                conn = await conn.execution_options(vidgate_immediate=True)
                async with conn.begin():
                    yield conn

    async def read_row(
        self, table: Table, columns: tuple[str, ...] | None = None, **where: Any
    ) -> dict[str, Any] | None:
        """One row of ``table`` (only ``columns``, default all) matching every ``column=value``: the hot reads."""
        cache_key = (table.name, columns, *where)
        if not self.is_sqlite:
            stmt = self._statements.get(cache_key)
            if stmt is None:
                cols = [table.c[n] for n in columns] if columns else list(table.c)
                cond = and_(*(table.c[k] == bindparam(k) for k in where))
                stmt = self._statements[cache_key] = select(*cols).where(cond)
            async with self.engine.connect() as conn:
                row = (await conn.execute(stmt, where)).mappings().first()
            return dict(row) if row else None
        prepared = self._statements.get(cache_key)
        if prepared is None:
            cols = [table.c[n] for n in columns] if columns else list(table.c)
            names = ", ".join(f'"{c.name}"' for c in cols)
            cond = " AND ".join(f'"{k}" = ?' for k in where)
            sql = f'SELECT {names} FROM "{table.name}" WHERE {cond}'
            prepared = self._statements[cache_key] = (sql, [(c.name, _sqlite_converter(c.type)) for c in cols])
        sql, converters = prepared
        if self._raw is None:
            # timeout=0: never wait for a lock on the event loop (SQLite's busy handler sleeps in steps
            # of up to 100 ms); a busy read is retried off the loop instead
            self._raw = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=0)
        try:
            values = self._raw.execute(sql, tuple(where.values())).fetchone()
        except sqlite3.OperationalError:
            async with self.engine.connect() as conn:
                values = (await conn.exec_driver_sql(sql, tuple(where.values()))).fetchone()
        if values is None:
            return None
        return {
            name: (conv(v) if conv is not None and v is not None else v)
            for (name, conv), v in zip(converters, values, strict=True)
        }

    async def migrate(self) -> None:
        async with self.engine.begin() as conn:
            if not self.is_sqlite:
                # two servers starting at once must not both run the migrations
                await conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7215001)")
            await conn.run_sync(_upgrade_head)

    async def dispose(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        await self.engine.dispose()


def _upgrade_head(sync_conn: Any) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, "head")


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # take transaction control away from the driver so BEGIN is ours to emit
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("vidgate_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _parse_utc(value: Any) -> Any:
    return datetime.fromisoformat(value).replace(tzinfo=UTC) if isinstance(value, str) else value


def _sqlite_converter(type_: Any) -> Any:
    """What SQLAlchemy's result processing does for this column type (JSON, UTC datetimes), or None."""
    if isinstance(type_, JSON):
        return json.loads
    if isinstance(type_, TypeDecorator):  # UTCDateTime
        return _parse_utc
    return None
