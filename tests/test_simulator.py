"""Simulator renderer: real H.264/AAC MP4, right shape, faststart, deterministic, robust to any prompt."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import av
import numpy as np
import pytest

from vidgate.providers import simulator
from vidgate.providers.simulator import (
    MAGIC_BLOCKED,
    MAGIC_BUSY,
    MAGIC_FAIL,
    MAGIC_SLOW,
    SimulatedVideo,
    magic_flags,
    render_test_pattern,
)

PROMPT = "A cinematic drone shot of a futuristic city at sunrise."


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _top_level_boxes(path: Path) -> list[str]:
    data = path.read_bytes()
    boxes, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        elif size == 0:
            size = len(data) - pos
        assert size >= 8, f"corrupt box at {pos}"
        boxes.append(kind.decode("latin-1"))
        pos += size
    assert pos == len(data)
    return boxes


def _probe(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0]
        info = {
            "container_duration": c.duration / av.time_base,
            "vcodec": v.codec_context.name,
            "pix_fmt": v.codec_context.pix_fmt,
            "size": (v.codec_context.width, v.codec_context.height),
            "rate": v.average_rate,
            "vduration": float(v.duration * v.time_base),
            "acodec": a.codec_context.name,
            "sample_rate": a.codec_context.sample_rate,
            "channels": a.codec_context.channels,
        }
        # Count every frame; keep a few as RGB for the picture checks.
        frames: dict[int, np.ndarray] = {}
        count = 0
        for i, f in enumerate(c.decode(video=0)):
            count += 1
            if i in (0, 15, 45):
                frames[i] = f.to_ndarray(format="rgb24")
    with av.open(str(path)) as c:
        samples = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
    info["frames"] = frames
    info["frame_count"] = count
    info["audio"] = samples
    return info


@pytest.fixture(scope="module")
def landscape(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimulatedVideo, dict]:
    dest = tmp_path_factory.mktemp("sim") / "out" / "video.mp4"  # parent folder does not exist yet
    video = render_test_pattern(dest, prompt=PROMPT, aspect_ratio="landscape", seconds=10)
    return video, _probe(dest)


@pytest.fixture(scope="module")
def portrait(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimulatedVideo, dict]:
    dest = tmp_path_factory.mktemp("sim") / "video.mp4"
    video = render_test_pattern(dest, prompt=PROMPT, aspect_ratio="portrait", seconds=15, image_count=2)
    return video, _probe(dest)


@pytest.mark.parametrize(("fixture", "size", "seconds"), [("landscape", (640, 360), 10), ("portrait", (360, 640), 15)])
def test_output_format(request: pytest.FixtureRequest, fixture: str, size: tuple[int, int], seconds: int) -> None:
    video, info = request.getfixturevalue(fixture)
    assert isinstance(video, SimulatedVideo)
    assert (video.width, video.height) == size
    assert video.fps == 30
    assert video.seconds == seconds
    assert video.frames == 30 * seconds
    assert video.bytes == video.path.stat().st_size > 10_000
    assert info["vcodec"] == "h264"
    assert info["pix_fmt"] == "yuv420p"
    assert info["size"] == size
    assert info["rate"] == 30
    assert info["frame_count"] == 30 * seconds
    assert info["frames"][0].shape == (size[1], size[0], 3)
    assert info["vduration"] == pytest.approx(seconds, abs=0.05)
    assert info["container_duration"] == pytest.approx(seconds, abs=0.1)
    # Audio: AAC 48 kHz stereo covering the whole clip.
    assert info["acodec"] == "aac"
    assert info["sample_rate"] == 48_000
    assert info["channels"] == 2
    assert info["audio"].shape[1] / 48_000 == pytest.approx(seconds, abs=0.05)


def test_faststart_moov_before_mdat(landscape: tuple[SimulatedVideo, dict]) -> None:
    boxes = _top_level_boxes(landscape[0].path)
    assert boxes[0] == "ftyp"
    assert "moov" in boxes and "mdat" in boxes
    assert boxes.index("moov") < boxes.index("mdat")


def test_no_temp_files_left(landscape: tuple[SimulatedVideo, dict]) -> None:
    assert [p.name for p in landscape[0].path.parent.iterdir()] == ["video.mp4"]


def test_audio_beeps_once_a_second(landscape: tuple[SimulatedVideo, dict]) -> None:
    audio = landscape[1]["audio"]
    # Loud during the first 100 ms of each second, (near) silent in the middle of each second.
    for s in (0, 1, 5, 9):
        start = s * 48_000
        assert np.abs(audio[:, start + 1000 : start + 4000]).max() > 0.1
        assert np.abs(audio[:, start + 20_000 : start + 28_000]).max() < 0.01


def test_picture_is_a_test_pattern_that_moves(landscape: tuple[SimulatedVideo, dict]) -> None:
    frames = landscape[1]["frames"]
    layout = simulator._Pattern(640, 360, "landscape", 10, PROMPT, 0)
    bars_h = layout.bars_h
    first, later = frames[0].astype(int), frames[45].astype(int)
    # Colour bars along the top: grey-white on the left, blue on the right.
    assert np.abs(first[bars_h // 2, 60] - [191, 191, 191]).max() < 20
    assert np.abs(first[bars_h // 2, 620] - [0, 0, 191]).max() < 25
    # The red banner under the bars.
    banner = slice(bars_h + 2, bars_h + 8)
    assert np.abs(first[banner, 5] - [190, 20, 30]).max() < 30
    # Things move: timecode, counter, ball, progress bar...
    diff = np.abs(first - later).max(axis=2) > 40
    assert diff[layout.tc_y :].sum() > 500
    # ...while the static parts (banner with the title) do not.
    assert np.abs(first[banner] - later[banner]).max() < 12
    # Beep flash box: white on frame 0 (the beep), dark on frame 15 (silence).
    x, y, n = layout.beep_x, layout.beep_y, layout.beep_size
    assert frames[0][y + 2 : y + n - 2, x + 2 : x + n - 2].mean() > 200
    assert frames[15][y + 2 : y + n - 2, x + 2 : x + n - 2].mean() < 80


def test_deterministic(tmp_path: Path) -> None:
    kwargs = dict(prompt="Déjà vu — 同じ入力 ✓ " + PROMPT, aspect_ratio="portrait", seconds=2, image_count=3)
    a = render_test_pattern(tmp_path / "a.mp4", **kwargs)
    b = render_test_pattern(tmp_path / "b" / "b.mp4", **kwargs)
    assert a.bytes == b.bytes
    assert _sha256(a.path) == _sha256(b.path)
    c = render_test_pattern(tmp_path / "c.mp4", **{**kwargs, "prompt": "something else"})
    assert _sha256(c.path) != _sha256(a.path)


@pytest.mark.parametrize(
    "prompt",
    [
        "",
        "😀🎬🚀 emoji only 👩‍👩‍👧‍👦",
        "中文提示词：一只猫在月球上跳舞" * 40,  # long CJK without spaces: must be broken by character
        "مرحبا بالعالم שלום עולם",
        "e\u0301 Zalgo: Z\u0336\u0317a\u0337l\u0335g\u0338o\u0334",
        "nul\x00 bell\x07 esc\x1b[31m newline\n\ttab \r\n zero\u200bwidth \ufeffbom",
        "lone surrogate \ud800 and private \U0010fffd",
        "word " * 2000,  # 10 000 chars
        "x" * 6000,  # one enormous word
        "https://example.com/" + "a/" * 500,
    ],
)
def test_any_prompt_renders(tmp_path: Path, prompt: str) -> None:
    video = render_test_pattern(tmp_path / "v.mp4", prompt=prompt, seconds=1)
    with av.open(str(video.path)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 30


def test_sanitize_and_wrap() -> None:
    font = simulator._font("regular", 16)
    text = font.sanitize("a\x00b\u200bc\n\td  e\ud800f\U0010fffdg")
    assert text == "abc d e?f?g"
    assert all(font.has(ch) or ch == " " for ch in font.sanitize("“quotes” — ünïcödé 中 😀 ☃"))
    lines = simulator._wrap(font, "word " * 200, 300, 4)
    assert len(lines) == 4
    assert lines[-1].endswith(("…", "..."))
    assert all(font.length(line) <= 300 for line in lines)
    long = simulator._wrap(font, "y" * 500, 200, 100)
    assert "".join(long) == "y" * 500
    assert all(font.length(line) <= 200 for line in long)


def test_renders_without_system_fonts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No DejaVu anywhere: Pillow's bundled font is used and undrawable characters become "?".
    monkeypatch.setattr(simulator, "_font_path", lambda kind: None)
    simulator._font.cache_clear()
    try:
        video = render_test_pattern(tmp_path / "v.mp4", prompt="café — 中文 😀 " + PROMPT, seconds=1)
        assert simulator._font("regular", 16).sanitize("a—中") == "a-?"
    finally:
        simulator._font.cache_clear()
    with av.open(str(video.path)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 30


def test_progress_callback(tmp_path: Path) -> None:
    seen: list[float] = []
    render_test_pattern(tmp_path / "v.mp4", prompt=PROMPT, seconds=2, progress=seen.append)
    assert len(seen) >= 5
    assert seen == sorted(seen)
    assert all(0 < f <= 1 for f in seen)
    assert seen[-1] == 1.0


def test_progress_exception_cancels_and_cleans_up(tmp_path: Path) -> None:
    def cancel(f: float) -> None:
        if f > 0.3:
            raise KeyboardInterrupt  # even BaseException cleans up

    with pytest.raises(KeyboardInterrupt):
        render_test_pattern(tmp_path / "v.mp4", prompt=PROMPT, seconds=2, progress=cancel)
    assert list(tmp_path.iterdir()) == []


def test_replaces_existing_file(tmp_path: Path) -> None:
    dest = tmp_path / "v.mp4"
    dest.write_bytes(b"old")
    video = render_test_pattern(dest, prompt=PROMPT, seconds=1)
    assert video.bytes == dest.stat().st_size > 1000


@pytest.mark.parametrize(("alias", "size"), [("16:9", (640, 360)), ("9:16", (360, 640)), (" PORTRAIT ", (360, 640))])
def test_aspect_ratio_aliases(tmp_path: Path, alias: str, size: tuple[int, int]) -> None:
    video = render_test_pattern(tmp_path / "v.mp4", prompt=PROMPT, aspect_ratio=alias, seconds=1)
    assert (video.width, video.height) == size


@pytest.mark.parametrize(
    ("kwargs"),
    [
        {"aspect_ratio": "square"},
        {"aspect_ratio": "4:3"},
        {"seconds": 0},
        {"seconds": 61},
        {"seconds": 10.5},
        {"seconds": "10"},
        {"seconds": True},
    ],
)
def test_invalid_arguments(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        render_test_pattern(tmp_path / "v.mp4", prompt=PROMPT, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_magic_constants() -> None:
    assert MAGIC_BLOCKED == "[sim:blocked]"
    assert MAGIC_BUSY == "[sim:busy]"
    assert MAGIC_FAIL == "[sim:fail]"
    assert MAGIC_SLOW == "[sim:slow]"
    for flag, token in simulator.MAGIC_FLAGS.items():
        assert magic_flags(f"a cat {token} on the moon") == {flag}


@pytest.mark.parametrize(
    ("prompt", "flags"),
    [
        (None, set()),
        ("", set()),
        (PROMPT, set()),
        ("[SIM:Blocked] a cat", {"blocked"}),
        ("a cat [sim:BUSY]", {"busy"}),
        ("[sim:fail][sim:slow]", {"fail", "slow"}),
        ("[sim:slow] twice [sim:slow]", {"slow"}),
        ("[sim:unknown]", set()),
        ("[sim: blocked]", set()),
        ("sim:blocked", set()),
        ("[sim:blockedx]", set()),
    ],
)
def test_magic_flags(prompt: str | None, flags: set[str]) -> None:
    assert magic_flags(prompt) == flags
