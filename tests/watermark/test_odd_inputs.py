"""Inputs that decode without an error but are not what they say.

A truncated file fails cleanly: a partial download of a faststart MP4 (its header first, as
every web video and the remover's own outputs are written) decodes its first frames and then just
ends, without a decode error. The video stream's declared length tells it; a container whose
samples outnumber what it shows (an edit list from a stream copy cut with ``-ss``) or whose length
is its longer audio's (Matroska) is not mistaken for one. A stream that changes its frame size
midway (two streams joined end to end) is scaled to its first frame's size, as FFmpeg's own
re-encode does (it failed with NumPy's broadcast error). The film is the main video stream as
FFmpeg picks it, not the first (a Matroska file's one-frame cover picture came first)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from tests.media.conftest import joined_streams
from tests.watermark.conftest import H as CH
from tests.watermark.conftest import W as CW
from tests.watermark.conftest import luma, make_case, mark_alpha, mid_rm, positions, scene

from vidgate.errors import BadMedia
from vidgate.media.video import StreamFacts, VideoInfo, VideoWriter, iter_frames, probe
from vidgate.watermark import remove_watermark

W, H, N, FPS = 160, 96, 60, 30


def _clip(path: Path) -> Path:
    """A 2-second faststart MP4 of a moving gradient (no mark)."""
    x = np.arange(W, dtype=np.float32)[None, :]
    y = np.arange(H, dtype=np.float32)[:, None]
    with VideoWriter(path, width=W, height=H, fps=FPS) as w:
        for t in range(N):
            luma = (128 + 60 * np.sin((x + 3 * t) / 9) * np.cos((y - 2 * t) / 7)).astype(np.uint8)
            w.write(np.vstack([luma, np.full((H // 2, W), 128, np.uint8)]))
    return path


def test_a_truncated_faststart_mp4_is_refused(tmp_path: Path) -> None:
    whole = _clip(tmp_path / "whole.mp4")
    part = tmp_path / "part.mp4"
    part.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 5])
    info = probe(part)  # (its header is whole: it says 60 frames, 2 s)
    assert info.frames == N and info.stream_seconds == pytest.approx(N / FPS, abs=0.05)
    with pytest.raises(BadMedia, match="truncated"):
        remove_watermark(part, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()
    report = remove_watermark(whole, tmp_path / "ok.mp4")
    assert report.frames == N and not report.watermark_found


def test_edit_lists_and_longer_audio_are_not_truncation(tmp_path: Path) -> None:
    whole = _clip(tmp_path / "whole.mp4")
    cut = tmp_path / "cut.mp4"  # (stream copy from a later start: an edit list hides the samples before it)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "0.7", "-i", str(whole), "-c", "copy", str(cut)], check=True)
    assert probe(cut).frames == N  # (every sample is still there)
    report = remove_watermark(cut, tmp_path / "o1.mp4")
    assert 0 < report.frames < N
    mkv = tmp_path / "long_audio.mkv"  # (the container's length is its audio's, 3 s)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=d=3", "-i", str(whole),
                    "-map", "1:v", "-map", "0:a", "-c:v", "copy", "-c:a", "libopus", str(mkv)], check=True)
    assert probe(mkv).stream_seconds is None
    assert remove_watermark(mkv, tmp_path / "o2.mp4").frames == N


def test_short_of_bounds() -> None:
    info = VideoInfo(width=W, height=H, fps=30.0, frames=300, duration=10.0, codec="h264", pix_fmt="yuv420p",
                     has_audio=False, audio_codec=None, stream_seconds=10.0)
    assert not info.short_of(300) and not info.short_of(268)  # (within a tenth and 3 frames)
    assert info.short_of(266) and info.short_of(3)
    info.stream_seconds = None  # (only the container's length: not judged)
    assert not info.short_of(3)


def test_a_stream_that_changes_size_is_scaled_to_its_first(tmp_path: Path) -> None:
    joined = joined_streams(tmp_path, [f"testsrc=s={size}:d=0.5:r=30" for size in ("320x240", "480x272")])
    report = remove_watermark(joined, tmp_path / "out.mp4")
    assert (report.width, report.height, report.frames) == (320, 240, 30)
    out = probe(tmp_path / "out.mp4")
    assert (out.width, out.height) == (320, 240)


def test_the_film_not_a_cover_picture_before_it(tmp_path: Path) -> None:
    cover = tmp_path / "cover.png"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=s=64x64:d=1", "-frames:v", "1",
                    str(cover)], check=True)
    mkv = tmp_path / "with_cover.mkv"  # (the cover picture is the file's first video stream)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(cover), "-f", "lavfi", "-i",
                    f"testsrc=s={W}x{H}:d=2:r={FPS}", "-map", "0", "-map", "1", "-c:v:0", "mjpeg",
                    "-c:v:1", "libx264", str(mkv)], check=True)
    report = remove_watermark(mkv, tmp_path / "out.mp4")
    assert (report.width, report.height, report.frames) == (W, H, 2 * FPS)


@pytest.mark.parametrize(("rotation", "hflip", "decodes"),
                         [(90, False, "once"), (270, True, "twice"), (180, False, "once")])
def test_a_turned_video_is_restored_as_shown(basic_case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             rotation: int, hflip: bool, decodes: str) -> None:
    """A phone's portrait video is stored landscape and turned upright by its display matrix; the
    mark is upright only as the video is shown. Stored turned by a right angle, it was not found
    at all (the same video shown the same way came back with its mark); upside down, it was found
    at other boxes and restored worse. Now the frames are read as shown, restored, and written so
    (as FFmpeg's re-encode turns them), both when held and when streamed."""
    import vidgate.watermark.pipeline as pipeline

    if decodes == "twice":
        monkeypatch.setattr(pipeline, "HOLD_BYTES", 0)
    upright, sched = basic_case
    turned = tmp_path / "turned.mp4"
    assert make_case(turned, rotation=rotation, hflip=hflip) == sched
    facts = StreamFacts()
    first = next(iter_frames(turned, facts=facts, upright=False)).yuv
    assert facts.display_matrix is not None and first.shape[1] == (CW if rotation == 180 else CH)
    want = remove_watermark(upright, tmp_path / "upright_out.mp4")
    out = tmp_path / "out.mp4"
    report = remove_watermark(turned, out)
    assert report.watermark_found and (report.width, report.height) == (CW, CH)
    # (at the upright video's places: the turned picture is coded otherwise, its box a few px off)
    assert len(report.positions) == len(want.positions) == len(sched)
    for got, ref in zip(report.positions, want.positions, strict=True):
        assert np.abs(np.subtract(got["box"], ref["box"])).max() <= 8, (got, ref)
        assert abs(got["start"] - ref["start"]) <= 2 and abs(got["end"] - ref["end"]) <= 2, (got, ref)
    facts = StreamFacts()
    ys = [f.yuv[:CH] for f in iter_frames(out, facts=facts, upright=False)]  # (as stored: upright)
    assert facts.display_matrix is None and ys[0].shape == (CH, CW)
    t, box, truth = mid_rm(sched)
    marked = next(f.yuv[:CH] for f in iter_frames(turned) if f.index == t)  # (as shown)
    err_out = np.abs(ys[t][box].astype(float) - truth[box]).mean()
    err_in = np.abs(marked[box].astype(float) - truth[box]).mean()
    assert err_out < err_in / 3, (err_out, err_in)


@pytest.mark.parametrize("side", ["left", "bottom"])
def test_a_mark_cut_by_the_frame_edge_is_restored(tmp_path: Path, side: str) -> None:
    """A picture cropped through the mark (the cloud cut by the frame's left edge, the text's foot
    by its bottom edge): the box reaches the frame's edge with no margin of scenery on that side.
    The border ring that reads the scenery around the mark took the cut cloud's white for scenery
    there, and the rim tests took the mark running into that side for scenery joined to it: the
    text was restored and the whole cloud left."""
    a = mark_alpha()
    h, w = a.shape
    (tlx, _), (_, bly) = positions(a)["TL"], positions(a)["BL"]
    crop = (tlx + 8, 0, CW, CH) if side == "left" else (0, 0, CW, bly + h - 6)  # (8 / 6 px of the mark gone)
    path = tmp_path / "cut.mp4"
    sched = make_case(path, crop=crop)
    out = tmp_path / "out.mp4"
    assert remove_watermark(path, out).watermark_found
    pos = "TL" if side == "left" else "BL"
    x, y = positions(a)[pos]
    _, s, e = next(item for item in sched if item[0] == pos)
    t = (s + e) // 2
    truth = luma(scene(t))
    x0, y0, x1, y1 = crop
    truth = truth[y0:y1, x0:x1]
    # the mark's part nearest the cut edge: the cloud's remaining columns, the text's last rows
    near = (slice(y, y + h), slice(0, 16)) if side == "left" else (slice(y1 - 8, y1), slice(x, x + w))
    marked = next(f.yuv for f in iter_frames(path) if f.index == t)[:y1 - y0][near].astype(float)
    restored = next(f.yuv for f in iter_frames(out) if f.index == t)[:y1 - y0][near].astype(float)
    err_in, err_out = np.abs(marked - truth[near]).mean(), np.abs(restored - truth[near]).mean()
    assert err_out < err_in / 3, (err_out, err_in)
