"""The SQLite hot-read path never waits for a lock on the event loop."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from vidgate.gateway import Gateway
from vidgate.settings import Settings
from vidgate.store.tables import accounts


class _BusyConnection:
    """Stands in for the loop-thread sqlite3 connection at the moment another writer holds a lock."""

    def __init__(self) -> None:
        self.calls = 0

    def execute(self, *a: Any) -> Any:
        self.calls += 1
        raise sqlite3.OperationalError("database is locked")

    def close(self) -> None:
        pass


async def test_reads_and_busy_fallback(tmp_path: Path) -> None:
    gw = Gateway(Settings(data_dir=tmp_path))
    await gw.open()
    boot = await gw.bootstrap()
    assert boot is not None
    try:
        fast = await gw.db.read_row(accounts, ("id", "status", "created_at"), id=boot.account_id)
        assert fast is not None and fast["status"] == "approved" and fast["created_at"].tzinfo is not None
        assert await gw.db.read_row(accounts, ("id",), id="acct_missing") is None
        # the loop-thread connection never waits (timeout 0): a busy read is retried through the
        # async driver, off the loop, and gives the same row
        assert gw.db._raw is not None
        assert gw.db._raw.execute("PRAGMA busy_timeout").fetchone()[0] == 0
        real, busy = gw.db._raw, _BusyConnection()
        gw.db._raw = busy  # type: ignore[assignment]
        slow = await gw.db.read_row(accounts, ("id", "status", "created_at"), id=boot.account_id)
        assert busy.calls == 1 and slow == fast
        gw.db._raw = real
    finally:
        await gw.close()
