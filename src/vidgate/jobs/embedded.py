"""The embedded runner: asyncio workers in the server process, the tasks table as the queue.

A worker claims a task with a lease, runs its pipeline while a heartbeat extends the lease and
saves progress, then completes or fails it (failing refunds, in one transaction). A task whose
worker died (SIGKILL, power loss) keeps ``processing`` with a lapsing lease; it is claimed again
and its pipeline resumes from its last saved step. Each pipeline step is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from vidgate.clock import utcnow
from vidgate.errors import TaskFailed, VidgateError
from vidgate.ids import new_id
from vidgate.jobs.cpu import CpuPool, read_progress
from vidgate.store import tasks as tasks_store

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from vidgate.gateway import Gateway

log = logging.getLogger("vidgate.jobs")


class TaskContext:
    """What a pipeline sees: its task, a scratch dir, progress and step saving."""

    def __init__(self, runner: EmbeddedRunner, task: dict[str, Any]) -> None:
        self.runner = runner
        self.gateway = runner.gateway
        self.settings = runner.gateway.settings
        self.task = task
        self.task_id: str = task["id"]
        self.params: dict[str, Any] = task["params"]
        self.state: dict[str, Any] = dict(task["state"] or {})
        self.step: str = task["step"]
        self.progress: int = int(task["progress"] or 0)
        self.work_dir = self.settings.work_dir / self.task_id
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.progress_file = self.work_dir / "progress"
        self._progress_span: tuple[int, int] | None = None

    def set_progress(self, percent: float) -> None:
        self.progress = max(self.progress, min(99, int(percent)))

    def track_file_progress(self, start: int, end: int) -> None:
        """Map the 0..1 fraction a worker process writes to ``progress_file`` onto start..end %."""
        with contextlib.suppress(FileNotFoundError):
            self.progress_file.unlink()
        self._progress_span = (start, end)

    def poll_file_progress(self) -> None:
        if self._progress_span is None:
            return
        frac = read_progress(self.progress_file)
        if frac is not None:
            lo, hi = self._progress_span
            self.set_progress(lo + (hi - lo) * frac)

    async def save_step(self, step: str, **state: Any) -> None:
        """Record that a step finished (and its outputs) so a resumed run skips it."""
        self.step = step
        self.state.update(state)
        async with self.gateway.db.write() as conn:
            ok = await tasks_store.heartbeat(
                conn,
                self.task_id,
                self.runner.owner,
                self.settings.job_lease_seconds,
                step=step,
                state=self.state,
                progress=self.progress,
            )
        if not ok:
            raise asyncio.CancelledError("lease lost")

    async def run_cpu(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await self.runner.cpu.run(fn, *args, **kwargs)


class EmbeddedRunner:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.settings = gateway.settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{new_id('w')[-8:]}"
        self.cpu = CpuPool(self.settings.cpu_workers)
        self._wake = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._running: set[str] = set()
        self._stopping = False

    async def start(self) -> None:
        if self.gateway.db.is_sqlite:
            # SQLite means one server owns this data dir: whatever is "processing" belongs to a
            # previous process that died, so take it back now rather than after its lease lapses.
            async with self.gateway.db.write() as conn:
                n = await tasks_store.release_orphans(conn, self.owner)
            if n:
                log.warning("resuming %d task(s) left in flight by a previous process", n)
        self._workers = [
            asyncio.create_task(self._worker(i), name=f"vidgate-worker-{i}")
            for i in range(self.settings.job_workers)
        ]

    async def stop(self) -> None:
        self._stopping = True
        for w in self._workers:
            w.cancel()
        for w in self._workers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await w
        self._workers = []
        self.cpu.shutdown()

    async def enqueue(self, conn: AsyncConnection, task_id: str) -> None:
        """Nothing to do: the committed task row is the queue entry."""

    def notify(self) -> None:
        self._wake.set()

    async def _worker(self, index: int) -> None:
        while not self._stopping:
            try:
                async with self.gateway.db.write() as conn:
                    task = await tasks_store.claim_next(
                        conn, self.owner, self.settings.job_lease_seconds, exclude=self._running
                    )
            except Exception:
                log.exception("claiming a task failed")
                task = None
            if task is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.job_poll_seconds)
                continue
            self._running.add(task["id"])
            try:
                await self._execute(task)
            finally:
                self._running.discard(task["id"])

    async def _execute(self, task: dict[str, Any]) -> None:
        from vidgate.jobs.pipelines import run_pipeline

        task_id = task["id"]
        if task["attempts"] > self.settings.job_max_attempts:
            await self._fail(task_id, f"Task gave up after {task['attempts'] - 1} interrupted attempts")
            return
        ctx = TaskContext(self, task)
        beat = asyncio.create_task(self._heartbeat(ctx))
        try:
            result = await run_pipeline(ctx)
        except asyncio.CancelledError:
            beat.cancel()
            if self._stopping:
                # graceful shutdown: leave the task to be resumed by the next start
                with contextlib.suppress(Exception):
                    async with self.gateway.db.write() as conn:
                        await tasks_store.requeue(conn, task_id, self.owner, utcnow())
            raise
        except TaskFailed as exc:
            beat.cancel()
            await self._fail(task_id, exc.message)
        except VidgateError as exc:
            beat.cancel()
            await self._fail(task_id, exc.message)
        except Exception:
            beat.cancel()
            log.exception("task %s crashed (attempt %d)", task_id, task["attempts"])
            if task["attempts"] < self.settings.job_max_attempts:
                delay = 2 ** task["attempts"]
                async with self.gateway.db.write() as conn:
                    await tasks_store.requeue(conn, task_id, self.owner, utcnow() + timedelta(seconds=delay))
            else:
                await self._fail(task_id, "Internal error while processing the task")
        else:
            beat.cancel()
            async with self.gateway.db.write() as conn:
                await tasks_store.complete(
                    conn, task_id, self.owner, result_keys=result["keys"], result_info=result.get("info", {})
                )
            self.gateway.notify_webhooks()
            shutil.rmtree(ctx.work_dir, ignore_errors=True)
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _fail(self, task_id: str, message: str) -> None:
        async with self.gateway.db.write() as conn:
            await tasks_store.fail(conn, task_id, message)
        self.gateway.notify_webhooks()
        shutil.rmtree(self.settings.work_dir / task_id, ignore_errors=True)

    async def _heartbeat(self, ctx: TaskContext) -> None:
        interval = max(0.5, min(2.0, self.settings.job_lease_seconds / 4))
        last_saved = -1
        while True:
            await asyncio.sleep(interval)
            ctx.poll_file_progress()
            try:
                async with self.gateway.db.write() as conn:
                    values = {"progress": ctx.progress} if ctx.progress != last_saved else {}
                    alive = await tasks_store.heartbeat(
                        conn, ctx.task_id, self.owner, self.settings.job_lease_seconds, **values
                    )
                last_saved = ctx.progress
            except Exception:
                log.exception("heartbeat for %s failed", ctx.task_id)
                continue
            if not alive:
                log.warning("lost the lease on %s", ctx.task_id)
                return
