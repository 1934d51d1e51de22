"""What a re-encode keeps of how the source is shown: its display matrix (turn and flips), pixel aspect ratio,
colour tags and every audio stream; and full-range sources decoded to the limited range the
remover's blend model (and the output's tags) assume."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vidgate.media.video import StreamFacts, copy_video, iter_frames, iter_luma, probe
from vidgate.watermark import remove_watermark

W, H, N, FPS = 96, 64, 20, 30
BT709 = 1  # AVCOL_SPC / AVCOL_PRI / AVCOL_TRC numbering


def _picture(i: int) -> np.ndarray:
    """A textured grey picture that drifts (rgb24), with a white and a black bar."""
    rng = np.random.default_rng(i)
    g = np.clip(110 + 30 * np.sin(np.arange(W)[None, :] / 7 + i / 5) + rng.normal(0, 4, (H, W)), 0, 255)
    img = np.repeat(g[:, :, None], 3, axis=2).astype(np.uint8)
    img[4:12, 8:40] = 255
    img[4:12, 56:88] = 0
    return img


def _tone(stream: av.AudioStream, hz: float) -> None:
    out = stream.container
    n = int(48000 * N / FPS)
    tone = (0.2 * np.sin(2 * np.pi * hz * np.arange(n) / 48000)).astype(np.float32)
    for k in range(0, n, 1024):
        af = av.AudioFrame.from_ndarray(tone[None, k:k + 1024], format="flt", layout="mono")
        af.sample_rate, af.pts = 48000, k
        for p in stream.encode(af):
            out.mux(p)
    for p in stream.encode():
        out.mux(p)


def _source(path: Path, *, pix_fmt: str = "yuv420p", rotation: int = 0, hflip: bool = False,
            sar: Fraction | None = None, bt709: bool = False, audio: int = 0) -> None:
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = W, H, pix_fmt
        v.options = {"preset": "ultrafast", "crf": "10"}
        v.codec_context.thread_count = 1
        cc = v.codec_context
        if pix_fmt.startswith("yuvj"):
            cc.color_range = 2
        if sar is not None:
            cc.sample_aspect_ratio = sar
        if bt709:
            cc.colorspace = cc.color_primaries = cc.color_trc = BT709
            cc.color_range = 1
        if rotation or hflip:
            v.set_display_rotation(rotation, hflip=hflip)
        streams = []
        for _ in range(audio):
            a = out.add_stream("aac", rate=48000)
            a.layout = "mono"
            streams.append(a)
        for i in range(N):
            f = av.VideoFrame.from_ndarray(_picture(i), format="rgb24")
            f = f.reformat(format=pix_fmt, dst_color_range="JPEG" if pix_fmt.startswith("yuvj") else None)
            f.pts, f.time_base = i, Fraction(1, FPS)
            for p in v.encode(f):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
        for k, a in enumerate(streams):
            _tone(a, 440.0 * (k + 1))


def _flipped(m: tuple[int, ...]) -> bool:
    """Does display matrix ``m`` mirror the picture (its 2x2 part's determinant is negative)?"""
    return m[0] * m[4] - m[1] * m[3] < 0


def _audio_packets(path: Path) -> list[list[bytes]]:
    with av.open(str(path)) as c:
        return [[bytes(p) for p in c.demux(a) if p.size] for a in c.streams.audio]


def _shown(path: Path) -> tuple[tuple[int, ...] | None, Fraction | None, tuple[int, int, int, int]]:
    """(the first frame's display matrix, the stream's pixel aspect ratio, its colour tags)."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        cc = v.codec_context
        tags = (int(cc.colorspace), int(cc.color_primaries), int(cc.color_trc), int(cc.color_range))
        sar = v.sample_aspect_ratio
        facts = StreamFacts()
        facts.read(next(c.decode(v)))
    return facts.display_matrix, (Fraction(sar) if sar else None), tags


def test_full_range_sources_are_decoded_to_limited_range(tmp_path: Path) -> None:
    full, limited = tmp_path / "full.mp4", tmp_path / "limited.mp4"
    _source(full, pix_fmt="yuvj420p")
    _source(limited)
    assert probe(full).color_range == 2
    for p in (full, limited):
        y = next(iter_frames(p)).yuv[:H]
        # white and black as the limited range has them (the full range's 255 and 0 were read as
        # brighter than white before: the blend model's white is 235)
        assert abs(int(np.median(y[5:11, 10:38])) - 235) <= 2, p.name
        assert abs(int(np.median(y[5:11, 58:86])) - 16) <= 2, p.name
        # the luma-only decode (a long video's first pass) reads the same levels
        assert np.array_equal(next(iter_luma(p)), y), p.name


def _ffmpeg_luma(path: Path, rows: int, cols: int) -> np.ndarray:
    """The first frame's luma as FFmpeg's own decode shows it (it turns the picture by the display
    matrix, as a player does)."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", "yuv420p", "-"], capture_output=True, check=True).stdout
    assert len(raw) == rows * cols * 3 // 2
    return np.frombuffer(raw[:rows * cols], np.uint8).reshape(rows, cols)


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
@pytest.mark.parametrize("hflip", [False, True])
def test_frames_are_decoded_as_shown(tmp_path: Path, rotation: int, hflip: bool) -> None:
    """The decoders hand the frames out as a player shows them, FFmpeg's own decode the judge."""
    src = tmp_path / "src.mp4"
    _source(src, rotation=rotation, hflip=hflip)
    facts = StreamFacts()
    y = next(iter_frames(src, facts=facts)).yuv
    y = y[: y.shape[0] * 2 // 3]
    assert (facts.turned is None) == (rotation == 0 and not hflip)
    assert np.array_equal(next(iter_luma(src)), y)
    rows, cols = (W, H) if rotation % 180 else (H, W)
    want = _ffmpeg_luma(src, rows, cols)
    assert y.shape == (rows, cols)
    assert np.abs(y.astype(int) - want).max() <= 1
    stored = next(iter_frames(src, upright=False)).yuv
    assert stored.shape == (H * 3 // 2, W)


def test_a_copy_is_shown_as_its_source(tmp_path: Path) -> None:
    """A turned source is copied as shown (upright, its pixel aspect ratio turned with it, no
    display matrix left to apply), as FFmpeg's re-encode does; its tags and audio as they are."""
    src, dst = tmp_path / "src.mp4", tmp_path / "dst.mp4"
    _source(src, rotation=90, hflip=True, sar=Fraction(4, 3), bt709=True, audio=2)
    facts = StreamFacts()
    assert sum(1 for _ in iter_frames(src, facts=facts)) == N and facts.rotation == 90
    turned = facts.display_matrix
    assert turned is not None and _flipped(turned)  # (what the rotation alone leaves out)
    info = probe(src)
    assert (info.sample_aspect_ratio, info.colorspace, info.color_range) == (Fraction(4, 3), BT709, 1)
    assert info.audio_streams == 2
    assert copy_video(src, dst) == N
    assert _shown(dst) == (None, Fraction(3, 4), (BT709, BT709, BT709, 1))
    shown = next(iter_frames(src)).yuv
    copied = next(iter_frames(dst, upright=False)).yuv
    assert copied.shape == shown.shape == (W * 3 // 2, H)
    assert np.abs(copied.astype(int) - shown).mean() < 2
    # every audio stream, each bit-exact
    assert len(_audio_packets(src)) == 2 and _audio_packets(dst) == _audio_packets(src)


def test_a_turn_by_another_angle_is_left_to_the_player(tmp_path: Path) -> None:
    """A display matrix that turns by other than a right angle is copied, the frames as stored."""
    src, dst = tmp_path / "src.mp4", tmp_path / "dst.mp4"
    _source(src, rotation=30)
    facts = StreamFacts()
    assert next(iter_frames(src, facts=facts)).yuv.shape == (H * 3 // 2, W) and facts.turned is None
    copy_video(src, dst)
    assert _shown(dst)[0] == facts.display_matrix is not None


def test_a_plain_source_gets_no_tags(tmp_path: Path) -> None:
    src, dst = tmp_path / "src.mp4", tmp_path / "dst.mp4"
    _source(src, audio=1)
    copy_video(src, dst)
    assert _shown(dst) == (None, None, (2, 2, 2, 0))
    assert _audio_packets(dst) == _audio_packets(src)


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuvj420p"])
def test_the_remover_output_is_shown_as_its_source(tmp_path: Path, pix_fmt: str) -> None:
    src, dst = tmp_path / "src.mp4", tmp_path / "dst.mp4"
    _source(src, pix_fmt=pix_fmt, rotation=270, bt709=pix_fmt == "yuv420p", audio=2)
    rep = remove_watermark(src, dst)
    assert not rep.watermark_found and rep.frames == N and (rep.width, rep.height) == (H, W)
    matrix, _, tags = _shown(dst)
    assert matrix is None  # (written upright)
    if pix_fmt == "yuv420p":
        assert tags == (BT709, BT709, BT709, 1)
    else:  # a full-range source comes out limited (its pixels converted on decoding), not tagged
        assert tags[:3] == (2, 2, 2) and tags[3] != 2  # full (limited is what no tag means)
    assert _audio_packets(dst) == _audio_packets(src)
    y = next(iter_frames(dst, upright=False)).yuv[:W]
    shown = next(iter_frames(src)).yuv[:W]
    assert np.abs(y.astype(int) - shown).mean() < 2
    # the white bar, drawn as stored (rows 4-11, columns 8-39), turned a quarter clockwise as shown
    assert abs(int(np.median(y[10:38, H - 11:H - 5])) - 235) <= 3
