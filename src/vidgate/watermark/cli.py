"""``vidgate remove-watermark INPUT OUTPUT`` (registered on the main command line by :mod:`vidgate.cli`)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click


def _is_url(s: str) -> bool:
    return s.lower().startswith(("http://", "https://"))


@click.command("remove-watermark")
@click.argument("input")
@click.argument("output")
@click.option("--max-seconds", type=float, default=600.0, show_default=True, help="Refuse videos longer than this.")
@click.option("--max-pixels", type=int, default=4096 * 4096, show_default=True,
              help="Refuse frames larger than this many pixels.")
@click.option("--preset", default="ultrafast", show_default=True,
              help="libx264 preset for the output (= media.video.DEFAULT_PRESET).")
@click.option("--crf", type=int, default=16, show_default=True,
              help="libx264 CRF for the output (= media.video.DEFAULT_CRF).")
@click.option("--json", "report_json", is_flag=True, help="Print the removal report as JSON.")
@click.option("--timings", is_flag=True, help="Print the wall and CPU time of each phase (to stderr).")
def remove_watermark_cli(input: str, output: str, max_seconds: float, max_pixels: int, preset: str, crf: int,
                         report_json: bool, timings: bool) -> None:
    """Remove the Sora watermark from a video (detect, un-blend, restore; audio copied).

    INPUT is a video file, an http(s) URL or a sora.chatgpt.com share link; OUTPUT is where the
    cleaned MP4 is written (it may be INPUT itself: it is replaced once the output is whole).
    """
    from vidgate.cli import finished
    from vidgate.errors import VidgateError
    from vidgate.watermark import remove_watermark

    # (checked before the work: the writer opens OUTPUT only once the video is analysed)
    out = Path(output)
    if out.is_dir():
        raise click.BadParameter(f"{output} is a folder; give the file to write", param_hint="OUTPUT")
    if not out.absolute().parent.is_dir():
        raise click.BadParameter(f"folder {out.absolute().parent} does not exist", param_hint="OUTPUT")

    with tempfile.TemporaryDirectory(prefix="vidgate-wm-") as tmp:
        try:
            if _is_url(input):
                from vidgate.media.fetch import fetch_video_sync
                from vidgate.settings import Settings

                src = Path(tmp) / "input.mp4"
                click.echo(f"fetching {input}", err=True)
                fetch_video_sync(input, src, settings=Settings())
            else:
                src = Path(input)
            # the bar draws on a terminal only; progress is reported in thousandths
            with click.progressbar(length=1000, label="removing watermark", file=click.get_text_stream("stderr"),
                                   show_eta=False) as bar:
                def advance(v: float) -> None:
                    bar.update(int(v * 1000) - bar.pos)

                report = remove_watermark(src, Path(output), progress=advance, max_seconds=max_seconds,
                                          max_pixels=max_pixels, preset=preset, crf=crf)
        except VidgateError as e:
            click.echo(f"{click.style('error:', fg='red')} {e.message}", err=True)
            finished()  # (the temporary directory is removed as the exit passes through the with)
            raise click.exceptions.Exit(1) from e
    if timings:
        # (mattes: every interval's matte, before any frame is restored; a video too long to hold
        # decoded builds each as pass 2 reaches it, inside "restore")
        click.echo(f"{'phase':10s} {'wall s':>8s} {'cpu s':>8s} {'cores':>6s}", err=True)
        for phase, t in report.timings.items():
            cores = t["cpu_seconds"] / t["seconds"] if t["seconds"] > 0 else 0.0
            click.echo(f"{phase:10s} {t['seconds']:8.2f} {t['cpu_seconds']:8.2f} {cores:6.2f}", err=True)
    if report_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        found = "watermark found" if report.watermark_found else "no watermark found"
        click.echo(f"{found}: {len(report.positions)} position interval(s), {report.frames} frames, "
                   f"{report.seconds_elapsed:.1f}s -> {output}", err=True)
        if report.audio_reencoded:
            click.echo(f"audio re-encoded to AAC from {', '.join(report.audio_reencoded)} "
                       "(not a standard MP4 audio codec)", err=True)
    finished()
