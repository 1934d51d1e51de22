"""The jobs-runner interface the API talks to.

The API only ever calls :meth:`JobRunner.enqueue` inside the create transaction and
:meth:`JobRunner.notify` after it commits. The embedded runner needs no enqueue (the task row
itself is the queue); a distributed runner (procrastinate on PostgreSQL) defers its job in
``enqueue`` so the job and the task row commit together.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection


class JobRunner(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def enqueue(self, conn: AsyncConnection, task_id: str) -> None: ...

    def notify(self) -> None: ...
