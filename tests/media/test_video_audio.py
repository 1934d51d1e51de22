"""VideoWriter's audio: a track an MP4 holds as standard (AAC, MP3, Opus, FLAC, ...) is copied
untouched; any other (Vorbis, PCM, MP2, WMA, A-law) is re-encoded to AAC at its sample rate, its
length kept: the MP4 muxer refused most of those outright and failed the whole removal, and
browsers play none of those it took."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from vidgate.media.video import AUDIO_COPY, VideoWriter
from vidgate.watermark import remove_watermark

W, H, FPS, SECONDS = 64, 48, 25, 1.0


def _source(path: Path, audio_codec: str, channels: int = 1, rate: int = 44100) -> Path:
    """A second of test pattern with a 440 Hz tone in ``audio_codec``, in a container that holds it."""
    layout = {1: "mono", 2: "stereo"}[channels]
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=s={W}x{H}:d={SECONDS}:r={FPS}",
                    "-f", "lavfi", "-i", f"sine=f=440:d={SECONDS}:sample_rate={rate}",
                    "-af", f"aformat=channel_layouts={layout}",
                    "-c:v", "libx264", "-c:a", audio_codec, "-shortest", str(path)], check=True)
    return path


def _rewrite(src: Path, out: Path) -> list[str]:
    """The source's pictures written again with its audio; the codecs the writer re-encoded."""
    with av.open(str(src)) as c:
        frames = [f.reformat(format="yuv420p").to_ndarray() for f in c.decode(video=0)]
    with VideoWriter(out, width=W, height=H, fps=FPS, audio_from=src) as w:
        for f in frames:
            w.write(f)
        return w.audio_reencoded


def _audio(path: Path) -> tuple[str, int, int, float, np.ndarray]:
    """(codec, sample rate, channels, seconds decoded, the samples of the first channel)."""
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        cc = a.codec_context
        pcm = np.concatenate([f.to_ndarray()[0].astype(np.float64) for f in c.decode(a)])
        return cc.name, cc.sample_rate, cc.layout.nb_channels, len(pcm) / cc.sample_rate, pcm


@pytest.mark.parametrize(("codec", "ext", "channels"), [("libvorbis", "mkv", 1), ("pcm_s16le", "mov", 2),
                                                         ("pcm_alaw", "mkv", 1), ("mp2", "mkv", 2)])
def test_a_track_an_mp4_cannot_hold_is_reencoded_to_aac(tmp_path: Path, codec: str, ext: str, channels: int) -> None:
    src = _source(tmp_path / f"in.{ext}", codec, channels)
    with av.open(str(src)) as c:
        name_in = c.streams.audio[0].codec_context.codec.canonical_name
    assert name_in not in AUDIO_COPY
    out = tmp_path / "out.mp4"
    assert _rewrite(src, out) == [name_in]
    name, rate, ch, seconds, pcm = _audio(out)
    assert (name, rate, ch) == ("aac", _audio(src)[1], channels)
    assert seconds == pytest.approx(SECONDS, abs=0.05)
    # still the tone: its strongest frequency is 440 Hz
    spectrum = np.abs(np.fft.rfft(pcm[rate // 10:rate // 10 + rate // 2]))
    assert np.argmax(spectrum) * 2 == pytest.approx(440, abs=4)


@pytest.mark.parametrize(("rate", "aac_rate"), [(192000, 96000), (37000, 44100), (8000, 8000)])
def test_a_rate_aac_lacks_is_resampled_to_the_nearest_above(tmp_path: Path, rate: int, aac_rate: int) -> None:
    src = _source(tmp_path / "in.mov", "pcm_s24le", rate=rate)
    assert _audio(src)[1] == rate
    out = tmp_path / "out.mp4"
    assert _rewrite(src, out) == ["pcm_s24le"]
    name, got, _, seconds, _ = _audio(out)
    assert (name, got) == ("aac", aac_rate) and seconds == pytest.approx(SECONDS, abs=0.05)


@pytest.mark.parametrize(("codec", "ext"), [("aac", "mp4"), ("aac", "ts"), ("libmp3lame", "mkv"),
                                           ("libopus", "mkv"), ("flac", "mkv"), ("ac3", "mkv")])
def test_a_standard_track_is_copied_untouched(tmp_path: Path, codec: str, ext: str) -> None:
    """(MP3's decoder calls itself "mp3float": the codec's own name decides; an MPEG-TS's AAC
    comes in ADTS frames, which the muxer rewraps)"""
    src = _source(tmp_path / f"in.{ext}", codec)
    out = tmp_path / "out.mp4"
    assert _rewrite(src, out) == []

    def packets(p: Path) -> list[bytes]:
        with av.open(str(p)) as c:
            return [bytes(k) for k in c.demux(audio=0) if k.size]
    if ext != "ts":
        assert packets(src) == packets(out)
    assert _audio(out)[3] == pytest.approx(SECONDS, abs=0.06)


def test_the_remover_says_what_it_reencoded(tmp_path: Path) -> None:
    src = tmp_path / "in.wmv"  # (a WMV's WMA audio: the MP4 muxer refused it, the removal failed)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=s={W}x{H}:d={SECONDS}:r={FPS}",
                    "-f", "lavfi", "-i", f"sine=d={SECONDS}", "-c:v", "wmv2", "-c:a", "wmav2", str(src)], check=True)
    report = remove_watermark(src, tmp_path / "out.mp4")
    assert report.audio_reencoded == ["wmav2"] and report.has_audio
    assert _audio(tmp_path / "out.mp4")[0] == "aac"


def test_a_picture_that_begins_after_its_sound_keeps_the_gap(tmp_path: Path) -> None:
    """Every stream is moved back by where the earliest began (FFmpeg's re-encode does the same):
    moved back by its own start alone, a picture beginning 1 s after the sound came out 1 s ahead
    of it."""
    base = _source(tmp_path / "base.mp4", "aac")
    late = tmp_path / "late.mp4"  # (the picture 1 s after the sound)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-itsoffset", "1.0", "-i", str(base), "-i", str(base),
                    "-map", "0:v", "-map", "1:a", "-c", "copy", str(late)], check=True)

    def starts(p: Path) -> tuple[float, float]:
        with av.open(str(p)) as c:
            v, a = c.streams.video[0], c.streams.audio[0]
            return float(v.start_time * v.time_base), float(a.start_time * a.time_base)

    sv, sa = starts(late)
    assert sv - sa == pytest.approx(1.0, abs=0.03)
    report = remove_watermark(late, tmp_path / "out.mp4")
    ov, oa = starts(tmp_path / "out.mp4")
    assert ov - oa == pytest.approx(sv - sa, abs=0.03) and min(ov, oa) == pytest.approx(0, abs=0.03)
    assert report.frames == int(SECONDS * FPS)
