"""``vidgate remove-watermark INPUT OUTPUT`` (the lead registers :func:`remove_watermark_cli` on the app)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import typer


def _is_url(s: str) -> bool:
    return s.lower().startswith(("http://", "https://"))


def remove_watermark_cli(
    input: str = typer.Argument(..., help="Video file, http(s) URL or sora.chatgpt.com share link."),
    output: str = typer.Argument(..., help="Where to write the cleaned MP4."),
    max_seconds: float = typer.Option(600.0, help="Refuse videos longer than this."),
    max_pixels: int = typer.Option(4096 * 4096, help="Refuse frames larger than this many pixels."),
    preset: str = typer.Option("ultrafast", help="libx264 preset for the output (= media.video.DEFAULT_PRESET)."),
    crf: int = typer.Option(17, help="libx264 CRF for the output."),
    report_json: bool = typer.Option(False, "--json", help="Print the removal report as JSON."),
) -> None:
    """Remove the Sora watermark from a video (detect, un-blend, restore; audio copied)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from vidgate.errors import VidgateError
    from vidgate.watermark import remove_watermark

    console = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="vidgate-wm-") as tmp:
        try:
            if _is_url(input):
                from vidgate.media.fetch import fetch_video_sync  # lazy: written by another team
                from vidgate.settings import Settings

                src = Path(tmp) / "input.mp4"
                console.print(f"fetching {input}")
                fetch_video_sync(input, src, settings=Settings())
            else:
                src = Path(input)
            with Progress(TextColumn("[bold]removing watermark"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                          TimeElapsedColumn(), console=console) as bar:
                task = bar.add_task("wm", total=1.0)
                report = remove_watermark(src, Path(output), progress=lambda v: bar.update(task, completed=v),
                                          max_seconds=max_seconds, max_pixels=max_pixels, preset=preset, crf=crf)
        except VidgateError as e:
            console.print(f"[red]error:[/red] {e.message}")
            raise typer.Exit(code=1) from e
    if report_json:
        typer.echo(json.dumps(report.to_dict()))
    else:
        found = "watermark found" if report.watermark_found else "no watermark found"
        console.print(f"{found}: {len(report.positions)} position interval(s), {report.frames} frames, "
                      f"{report.seconds_elapsed:.1f}s -> {output}")
