"""The `vidgate` command line: serve, worker, migrate, keys, remove-watermark.

Built on click (~50 ms to import; typer and rich took ~0.3 s, a tenth of a short clip's removal).
Heavy modules (the gateway, SQLAlchemy, settings, FastAPI/uvicorn) are imported inside the
commands that need them, so ``vidgate remove-watermark`` starts without loading them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from vidgate.gateway import Bootstrap, Gateway
    from vidgate.settings import Settings


# Set by a one-shot command (remove-watermark) once its work is done: its output written and
# closed, its temporary files removed, its report printed. The process then leaves without the
# interpreter's teardown (freeing every module, NumPy's and OpenCV's thread pools, PyAV's
# libraries): 60-100 ms, ~3 % of a 5-second clip's removal on two cores.
_finished = False


def finished() -> None:
    """Mark the running command's work as done (see :func:`main`)."""
    global _finished
    _finished = True


def main() -> None:
    """The ``vidgate`` console script (and ``python -m vidgate``): runs :data:`app`; after a
    command that called :func:`finished`, exits at once with its status."""
    try:
        app()
    except SystemExit as e:
        if not _finished or not (e.code is None or isinstance(e.code, int)):
            raise
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(e.code or 0)


@click.group(help="vidgate: self-hosted unified video generation API.", no_args_is_help=True)
def app() -> None:
    pass


@app.group("keys", no_args_is_help=True)
def keys_app() -> None:
    """Manage accounts and API keys."""


data_dir_option = click.option(
    "--data-dir", type=click.Path(path_type=Path), default=None,
    help="Data directory (default $VIDGATE_DATA_DIR or ./vidgate-data)",
)


def _fail(message: str) -> click.exceptions.Exit:
    click.echo(f"error: {message}", err=True)
    return click.exceptions.Exit(2)


def _settings(data_dir: Path | None, **overrides: Any) -> Settings:
    from pydantic import ValidationError

    from vidgate.settings import Settings

    if data_dir is not None:
        overrides["data_dir"] = data_dir
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"VIDGATE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise _fail(f"invalid configuration: {problems}") from None


async def _with_gateway(settings: Settings, fn: Any) -> Any:
    from vidgate.gateway import Gateway

    gw = Gateway(settings)
    try:
        await gw.open()
        return await fn(gw)
    finally:
        await gw.close()


def _run(settings: Settings, fn: Any) -> Any:
    """Open the gateway and run ``fn``; configuration problems end the command with a clear message."""
    import asyncio

    from vidgate.errors import VidgateError
    from vidgate.providers.routing import ProvidersConfigError

    try:
        return asyncio.run(_with_gateway(settings, fn))
    except ProvidersConfigError as exc:
        raise _fail(f"providers file: {exc}") from None
    except VidgateError as exc:
        raise _fail(exc.message) from None


@app.command()
@click.option("--host", default=None, help="Bind address (default 127.0.0.1)")
@click.option("--port", type=int, default=None, help="Port (default 8000)")
@data_dir_option
@click.option("--no-workers", is_flag=True, help="Serve the API only; run tasks elsewhere")
def serve(host: str | None, port: int | None, data_dir: Path | None, no_workers: bool) -> None:
    """Start the API with in-process workers (SQLite and local files in the data dir by default)."""
    import os

    import uvicorn

    from vidgate.api.app import create_app

    overrides: dict[str, Any] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    settings = _settings(data_dir, **overrides)
    boot: Bootstrap | None = _run(settings, lambda gw: gw.bootstrap())
    base = settings.public_url or f"http://{_display_host(settings.host)}:{settings.port}"
    if boot is not None:
        _print_bootstrap(boot, base, settings)
    click.echo(f"vidgate serving on {base}  (data: {settings.data_dir.resolve()})")
    uvicorn.run(
        create_app(settings, workers=not no_workers),
        host=settings.host,
        port=settings.port,
        log_level=os.environ.get("VIDGATE_LOG_LEVEL", "info"),
        access_log=False,
    )


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host


def _print_bootstrap(boot: Bootstrap, base: str, settings: Settings) -> None:
    # plain print: secrets and the curl line must never be wrapped by the terminal renderer
    print("First start: created an admin token and a test-mode API key. Save them now; they are not shown again.")
    print(f"  admin token:   {boot.admin_token}")
    print(f"  test API key:  {boot.test_key}  ({settings.bootstrap_credits} credits; sora2 runs on the simulator)")
    print("Try it:")
    print(
        f"  curl -s {base}/api/v1/videos/generate -H 'Authorization: Bearer {boot.test_key}' "
        "-H 'Content-Type: application/json' "
        "-d '{\"model\":\"sora2\",\"prompt\":\"A red kite over the sea\","
        "\"aspect_ratio\":\"landscape\",\"n_frames\":\"10\"}'",
        flush=True,
    )


@app.command()
@data_dir_option
def worker(data_dir: Path | None) -> None:
    """Run tasks, callbacks and retention without the API (pair with `vidgate serve --no-workers`).

    Several workers can share a PostgreSQL database (tasks are claimed with leases); on SQLite run one.
    """
    import asyncio
    import signal

    settings = _settings(data_dir)

    async def run(gw: Gateway) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await gw.start_workers()
        click.echo(f"vidgate worker running (data: {settings.data_dir.resolve()}); Ctrl+C to stop")
        await stop.wait()

    _run(settings, run)


@app.command()
@data_dir_option
def migrate(data_dir: Path | None) -> None:
    """Apply database migrations (also done on every start)."""
    settings = _settings(data_dir)

    async def noop(gw: Gateway) -> None:
        return None

    _run(settings, noop)
    click.echo("database is at the latest schema")


@keys_app.command("create")
@click.option("--credits", type=click.IntRange(min=0), required=True, help="Credits for the new account")
@click.option("--test", is_flag=True, help="Create a test-mode key (sora2 runs on the simulator)")
@click.option("--name", default="cli", show_default=True, help="Account name")
@data_dir_option
def keys_create(credits: int, test: bool, name: str, data_dir: Path | None) -> None:
    """Create a new approved account with CREDITS credits and one API key (printed on the last line)."""
    from vidgate.store import accounts as accounts_store

    async def run(gw: Gateway) -> tuple[str, str]:
        async with gw.db.write() as conn:
            account_id = await accounts_store.create_account(conn, name=name, credits=credits, note="cli grant")
            _, key = await accounts_store.create_key(conn, account_id, mode="test" if test else "live", title="cli")
        return account_id, key

    account_id, key = _run(_settings(data_dir), run)
    mode = "test" if test else "live"
    click.echo(f"account {account_id}: {credits} credits, one {mode}-mode key (shown once):")
    print(key)


def _register_optional() -> None:
    try:
        from vidgate.watermark.cli import remove_watermark_cli
    except ImportError:  # engine not installed in this build
        return
    app.add_command(remove_watermark_cli)


_register_optional()
