"""Simulator provider: renders a labelled test-pattern MP4 for test-mode API keys.

Test-mode keys route model ``sora2`` here instead of a real upstream. The result is a real, playable
H.264/AAC MP4 shaped like a Sora output (same aspect ratio and duration), but it is obviously *not*
AI video: SMPTE-style colour bars, a red "VIDGATE SIMULATOR — TEST MODE, NOT AI" banner, the prompt
word-wrapped, the aspect ratio / size / duration, the number of reference images for image-to-video,
a running timecode and frame counter, a progress bar, a bouncing ball and a once-a-second "BEEP"
flash that is in sync with a beep on the audio track (an A/V sync check).

Output format
-------------
* H.264 (libx264, ``preset=ultrafast``, ``crf=23``, keyframe every second), ``yuv420p``, 30 fps
  constant frame rate, exactly ``30 * seconds`` frames.
* AAC-LC, 48 kHz stereo: a 100 ms beep at the start of every second (1760 Hz on second 0, 880 Hz
  after), silence in between.
* MP4 with ``+faststart`` (``moov`` before ``mdat``) so browsers can start playing before the whole
  file is downloaded.
* Sizes are small **on purpose**, so a clip renders in about a second on a small CPU:
  ``landscape`` (alias ``16:9``) → 640x360, ``portrait`` (alias ``9:16``) → 360x640.
* Deterministic: the same inputs give a byte-identical file on the same installation (x264 runs
  single-threaded, muxers run with ``bitexact`` flags, no creation time or other changing metadata).
  Different FFmpeg/x264 builds or fonts may of course produce different bytes.

Text is drawn with DejaVu Sans when it can be found (a ``fonts/`` folder next to this module is
searched first, then the usual system font folders), otherwise with Pillow's built-in font. Any
Unicode prompt is accepted: control characters are dropped, and characters the font cannot draw are
replaced by a close ASCII form (``é`` → ``e``, ``—`` → ``-``) or by ``?``.

Magic prompts
-------------
A test-mode prompt containing one of these tokens (anywhere, case-insensitive) makes the gateway
simulate an upstream behaviour, so clients can exercise their error handling without a real upstream:

``[sim:blocked]`` (:data:`MAGIC_BLOCKED`)
    Create answers **451** ``content_blocked``; no task is created and no credits are charged.
``[sim:busy]`` (:data:`MAGIC_BUSY`)
    Create answers **503** ``upstream_unavailable``; no task is created and no credits are charged.
``[sim:fail]`` (:data:`MAGIC_FAIL`)
    The task is accepted, then fails while processing; its credits are refunded.
``[sim:slow]`` (:data:`MAGIC_SLOW`)
    Processing takes :data:`SLOW_EXTRA_SECONDS` more seconds (used by restart/durability tests).

:func:`magic_flags` returns the flags a prompt carries, e.g. ``{"blocked"}``.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "ASPECT_RATIOS",
    "FPS",
    "MAGIC_BLOCKED",
    "MAGIC_BUSY",
    "MAGIC_FAIL",
    "MAGIC_FLAGS",
    "MAGIC_SLOW",
    "SLOW_EXTRA_SECONDS",
    "TITLE",
    "SimulatedVideo",
    "magic_flags",
    "render_test_pattern",
    "resolve_aspect_ratio",
]

# --------------------------------------------------------------------------------------------------
# Magic prompts
# --------------------------------------------------------------------------------------------------

MAGIC_BLOCKED = "[sim:blocked]"
MAGIC_BUSY = "[sim:busy]"
MAGIC_FAIL = "[sim:fail]"
MAGIC_SLOW = "[sim:slow]"

#: flag name → the token that sets it.
MAGIC_FLAGS: dict[str, str] = {
    "blocked": MAGIC_BLOCKED,
    "busy": MAGIC_BUSY,
    "fail": MAGIC_FAIL,
    "slow": MAGIC_SLOW,
}

#: Suggested extra processing time for a ``[sim:slow]`` task.
SLOW_EXTRA_SECONDS = 5.0

_MAGIC_RE = re.compile(r"\[sim:(" + "|".join(MAGIC_FLAGS) + r")\]", re.IGNORECASE)


def magic_flags(prompt: str | None) -> set[str]:
    """Return the magic flags in ``prompt`` (case-insensitive), e.g. ``{"blocked"}``; empty if none."""
    if not prompt:
        return set()
    return {m.group(1).lower() for m in _MAGIC_RE.finditer(prompt)}


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------

FPS = 30
TITLE = "VIDGATE SIMULATOR — TEST MODE, NOT AI"

#: aspect ratio preset → (width, height). Small on purpose: a clip renders in about a second.
ASPECT_RATIOS: dict[str, tuple[int, int]] = {"landscape": (640, 360), "portrait": (360, 640)}
_ASPECT_ALIASES = {"16:9": "landscape", "9:16": "portrait"}

_AUDIO_RATE = 48_000
_AUDIO_FRAME = 1024
_BEEP_SECONDS = 0.1
_MIN_SECONDS, _MAX_SECONDS = 1, 60


@dataclass(frozen=True)
class SimulatedVideo:
    path: Path
    width: int
    height: int
    fps: int
    frames: int
    seconds: int
    bytes: int


def resolve_aspect_ratio(aspect_ratio: str | None) -> str:
    """Normalise an aspect ratio (``landscape``/``portrait``/``16:9``/``9:16``, any case) to a preset."""
    name = (aspect_ratio or "landscape").strip().lower()
    name = _ASPECT_ALIASES.get(name, name)
    if name not in ASPECT_RATIOS:
        raise ValueError(f"unsupported aspect_ratio {aspect_ratio!r}; use 'landscape' or 'portrait'")
    return name


def render_test_pattern(
    dest: Path,
    *,
    prompt: str,
    aspect_ratio: str = "landscape",
    seconds: int = 10,
    image_count: int = 0,
    progress: Callable[[float], None] | None = None,
) -> SimulatedVideo:
    """Render the test-pattern MP4 to ``dest`` (written atomically: temp file, then rename).

    ``progress`` is called with the fraction done (0 < f <= 1, finishing with 1.0); if it raises, the
    render stops, the partial file is removed and the exception propagates (a way to cancel).
    Raises :class:`ValueError` for an unknown aspect ratio or ``seconds`` outside 1..60.
    """
    preset = resolve_aspect_ratio(aspect_ratio)
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise ValueError("seconds must be an integer")
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
        raise ValueError(f"seconds must be between {_MIN_SECONDS} and {_MAX_SECONDS}")
    image_count = max(0, int(image_count))
    width, height = ASPECT_RATIOS[preset]
    frames = FPS * seconds

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _encode(
            tmp,
            _Pattern(width, height, preset, seconds, prompt or "", image_count),
            frames=frames,
            seconds=seconds,
            progress=progress,
        )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if progress is not None:
        progress(1.0)
    return SimulatedVideo(
        path=dest,
        width=width,
        height=height,
        fps=FPS,
        frames=frames,
        seconds=seconds,
        bytes=dest.stat().st_size,
    )


# --------------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------------


def _encode(
    path: Path,
    pattern: _Pattern,
    *,
    frames: int,
    seconds: int,
    progress: Callable[[float], None] | None,
) -> None:
    audio = _beep_track(seconds)
    total_samples = audio.shape[1]
    with av.open(
        str(path),
        mode="w",
        format="mp4",
        options={"movflags": "+faststart", "fflags": "+bitexact"},
    ) as container:
        vstream = container.add_stream(
            "libx264",
            rate=FPS,
            options={
                "preset": "ultrafast",
                "crf": "23",
                "g": str(FPS),
                "bf": "0",
                "threads": "1",
                "flags": "+bitexact",
            },
        )
        vstream.width = pattern.width
        vstream.height = pattern.height
        vstream.pix_fmt = "yuv420p"
        vstream.codec_context.thread_count = 1
        vstream.codec_context.time_base = Fraction(1, FPS)
        # BT.601 (SMPTE 170M), limited range: what cv2.COLOR_RGB2YUV_I420 produces.
        vstream.codec_context.color_range = 1  # AVCOL_RANGE_MPEG
        vstream.codec_context.colorspace = 6  # AVCOL_SPC_SMPTE170M
        vstream.codec_context.color_primaries = 6  # AVCOL_PRI_SMPTE170M
        vstream.codec_context.color_trc = 6  # AVCOL_TRC_SMPTE170M

        astream = container.add_stream("aac", rate=_AUDIO_RATE, options={"flags": "+bitexact", "b": "96000"})
        astream.codec_context.layout = "stereo"
        astream.codec_context.format = "fltp"
        astream.codec_context.thread_count = 1

        video_tb = Fraction(1, FPS)
        audio_tb = Fraction(1, _AUDIO_RATE)
        next_sample = 0
        report_every = max(1, frames // 20)
        for i in range(frames):
            # OpenCV's RGB→I420 is BT.601 limited range (as tagged below) and ~20x faster than swscale.
            yuv = cv2.cvtColor(pattern.frame(i, frames), cv2.COLOR_RGB2YUV_I420)
            vf = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            vf.pts = i
            vf.time_base = video_tb
            container.mux(vstream.encode(vf))

            # Keep audio interleaved with video: encode audio up to the end of this video frame.
            until = min(total_samples, (i + 1) * _AUDIO_RATE // FPS)
            while next_sample < until:
                chunk = audio[:, next_sample : next_sample + _AUDIO_FRAME]
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="stereo")
                af.sample_rate = _AUDIO_RATE
                af.pts = next_sample
                af.time_base = audio_tb
                container.mux(astream.encode(af))
                next_sample += chunk.shape[1]

            if progress is not None and (i + 1) % report_every == 0 and i + 1 < frames:
                # Leave the last 1% for flushing and the faststart rewrite.
                progress(round(0.99 * (i + 1) / frames, 4))
        container.mux(vstream.encode(None))
        container.mux(astream.encode(None))


def _beep_track(seconds: int) -> np.ndarray:
    """Stereo float32 (2, n) track: a 100 ms beep at the start of every second, silence otherwise."""
    n = seconds * _AUDIO_RATE
    track = np.zeros(n, dtype=np.float32)
    beep_n = int(_BEEP_SECONDS * _AUDIO_RATE)
    t = np.arange(beep_n, dtype=np.float64) / _AUDIO_RATE
    fade_n = int(0.005 * _AUDIO_RATE)  # 5 ms raised-cosine ramps: no clicks
    env = np.ones(beep_n)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, fade_n))
    env[:fade_n] = ramp
    env[-fade_n:] = ramp[::-1]
    for s in range(seconds):
        freq = 1760.0 if s == 0 else 880.0
        tone = (0.25 * env * np.sin(2 * math.pi * freq * t)).astype(np.float32)
        start = s * _AUDIO_RATE
        track[start : start + beep_n] = tone
    return np.stack([track, track])


# --------------------------------------------------------------------------------------------------
# Fonts and text
# --------------------------------------------------------------------------------------------------

_FONT_FILES = {
    "regular": ("DejaVuSans.ttf",),
    "bold": ("DejaVuSans-Bold.ttf",),
    "mono": ("DejaVuSansMono-Bold.ttf", "DejaVuSansMono.ttf"),
}
_FONT_DIRS = (
    Path(__file__).resolve().parent / "fonts",
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/share/fonts/truetype"),
    Path("/usr/local/share/fonts"),
    Path("/Library/Fonts"),
    Path.home() / "Library/Fonts",
)

# Used when the font lacks a glyph and NFKD decomposition does not help.
_ASCII_FALLBACKS = {
    "—": "-", "–": "-", "‐": "-", "‑": "-", "−": "-", "“": '"', "”": '"', "„": '"', "‘": "'", "’": "'",
    "‚": "'", "…": "...", "•": "*", "·": "-", "×": "x", "«": '"', "»": '"',
}  # fmt: skip


@lru_cache(maxsize=8)
def _font_path(kind: str) -> str | None:
    for directory in _FONT_DIRS:
        for name in _FONT_FILES[kind]:
            candidate = directory / name
            if candidate.is_file():
                return str(candidate)
    return None


class _Font:
    """A font plus a cache answering "can this font draw this character?"."""

    def __init__(self, kind: str, size: int) -> None:
        path = _font_path(kind)
        # BASIC layout: rendering must not depend on whether Pillow was built with libraqm.
        if path is not None:
            self.font: ImageFont.FreeTypeFont = ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)
        else:  # Pillow's bundled font (Latin only)
            self.font = ImageFont.load_default(size=size)  # type: ignore[assignment]
        self.size = size
        self._notdef = self._signature("\U0010fffd")  # a private-use code point no font draws
        self._cache: dict[str, bool] = {}

    def _signature(self, ch: str) -> tuple[tuple[int, int], bytes]:
        mask = self.font.getmask(ch)
        return mask.size, bytes(mask)

    def has(self, ch: str) -> bool:
        ok = self._cache.get(ch)
        if ok is None:
            try:
                ok = self._signature(ch) != self._notdef
            except Exception:  # pragma: no cover - a font/Pillow edge case must not fail the render
                ok = False
            self._cache[ch] = ok
        return ok

    def length(self, text: str) -> float:
        return self.font.getlength(text)

    def sanitize(self, text: str) -> str:
        """Make ``text`` drawable: whitespace collapsed, controls dropped, undrawable chars replaced."""
        out: list[str] = []
        for ch in text:
            if ch.isspace():
                out.append(" ")
                continue
            cat = unicodedata.category(ch)
            if cat in ("Cc", "Cf"):  # control and format characters (ZWJ, bidi marks...)
                continue
            if cat in ("Cs", "Co", "Cn"):  # lone surrogates, private use, unassigned
                out.append("?")
            elif self.has(ch):
                out.append(ch)
            else:
                out.append(self._substitute(ch))
        return " ".join("".join(out).split())

    def _substitute(self, ch: str) -> str:
        alt = _ASCII_FALLBACKS.get(ch)
        if alt is None:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            alt = base if base and base != ch else "?"
        return alt if all(self.has(c) or c == " " for c in alt) else "?"


@lru_cache(maxsize=32)
def _font(kind: str, size: int) -> _Font:
    return _Font(kind, size)


def _wrap(font: _Font, text: str, width: float, max_lines: int) -> list[str]:
    """Greedy word wrap to ``width`` pixels; long words are broken; at most ``max_lines`` (with …)."""
    lines: list[str] = []
    line = ""
    truncated = False
    for word in text.split(" "):
        if not word:
            continue
        candidate = f"{line} {word}" if line else word
        if font.length(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
            line = ""
        # Break a word that does not fit on a line of its own (CJK without spaces, long URLs...).
        while font.length(word) > width:
            cut = _fit_prefix(font, word, width)
            lines.append(word[:cut])
            word = word[cut:]
            if len(lines) > max_lines:
                break
        line = word
        if len(lines) > max_lines:
            truncated = True
            break
    if line and not truncated:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        truncated = True
    if truncated and lines:
        ellipsis = "…" if font.has("…") else "..."
        last = lines[-1]
        while last and font.length(last + ellipsis) > width:
            last = last[:-1]
        lines[-1] = last.rstrip() + ellipsis
    return lines


def _fit_prefix(font: _Font, word: str, width: float) -> int:
    lo, hi = 1, len(word)  # the longest prefix that fits (at least one character)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if font.length(word[:mid]) <= width:
            lo = mid
        else:
            hi = mid - 1
    return lo


# --------------------------------------------------------------------------------------------------
# The picture
# --------------------------------------------------------------------------------------------------

_BG = (28, 30, 38)
_GRID = (44, 47, 58)
_FG = (235, 235, 235)
_DIM = (160, 165, 180)
_ACCENT = (255, 210, 0)
_BANNER = (190, 20, 30)
# 75% SMPTE bars: white, yellow, cyan, green, magenta, red, blue
_BARS = ((191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0), (191, 0, 191), (191, 0, 0), (0, 0, 191))
_MONO_CHARS = "0123456789:/ "


class _Pattern:
    """Precomputes the static layer once; :meth:`frame` only draws the parts that move."""

    def __init__(self, width: int, height: int, preset: str, seconds: int, prompt: str, images: int):
        self.width, self.height = width, height
        w, h = width, height
        m = max(8, round(min(w, h) * 0.04))
        self.margin = m
        img = Image.new("RGB", (w, h), _BG)
        draw = ImageDraw.Draw(img)

        # Background grid (clearly a test card).
        step = 40
        for x in range(0, w, step):
            draw.line([(x, 0), (x, h)], fill=_GRID)
        for y in range(0, h, step):
            draw.line([(0, y), (w, y)], fill=_GRID)

        # Colour bars.
        bars_h = round(h * (0.09 if w >= h else 0.06))
        for k, colour in enumerate(_BARS):
            x0, x1 = k * w // len(_BARS), (k + 1) * w // len(_BARS)
            draw.rectangle([x0, 0, x1 - 1, bars_h - 1], fill=colour)
        self.bars_h = bars_h
        y = bars_h

        # Red banner with the title, as large as fits: one line, else split after the dash.
        text_w = w - 2 * m
        head, _, tail = TITLE.partition(" — ")
        for size in range(max(10, round(min(w, h) * 0.07)), 9, -1):
            title_font = _font("bold", size)
            title_lines = [title_font.sanitize(TITLE)]
            if title_font.length(title_lines[0]) <= text_w:
                break
            title_lines = [title_font.sanitize(head + " —"), title_font.sanitize(tail)]
            if all(title_font.length(line) <= text_w for line in title_lines):
                break
        line_h = _line_height(title_font)
        banner_h = line_h * len(title_lines) + m
        draw.rectangle([0, y, w - 1, y + banner_h - 1], fill=_BANNER)
        ty = y + m // 2
        for line in title_lines:
            lw = title_font.length(line)
            draw.text(((w - lw) / 2, ty), line, font=title_font.font, fill=(255, 255, 255))
            ty += line_h
        y += banner_h + m // 2

        # Facts about the request.
        info_font = _font("regular", max(11, round(min(w, h) * 0.04)))
        mode = "image-to-video" if images else "text-to-video"
        facts = [f"{preset} {w}x{h} · {seconds} s · {FPS} fps", mode]
        if images:
            facts[1] += f" · {images} reference image{'s' if images != 1 else ''}"
        info_h = _line_height(info_font)
        for fact in facts:
            for line in _wrap(info_font, info_font.sanitize(fact), text_w, 2):
                draw.text((m, y), line, font=info_font.font, fill=_ACCENT)
                y += info_h
        y += m // 2

        # --- bottom, laid out upwards: progress bar, ball track, timecode row ---
        self.bar_h = max(6, round(h * 0.02))
        self.bar_y = h - m - self.bar_h
        self.bar_x0, self.bar_x1 = m, w - m
        draw.rectangle([m - 1, self.bar_y - 1, w - m, self.bar_y + self.bar_h], outline=_DIM, fill=(0, 0, 0))

        self.ball_d = max(12, round(min(w, h) * 0.06))
        self.ball_y = self.bar_y - m // 2 - self.ball_d
        ball = Image.new("L", (self.ball_d, self.ball_d), 0)
        ImageDraw.Draw(ball).ellipse([0, 0, self.ball_d - 1, self.ball_d - 1], fill=255)
        self.ball_mask = np.asarray(ball) > 127
        draw.line([(m, self.ball_y + self.ball_d // 2), (w - m, self.ball_y + self.ball_d // 2)], fill=_DIM)

        mono = _font("mono", max(14, round(min(w, h) * 0.06)))
        label_font = _font("regular", max(9, round(min(w, h) * 0.03)))
        label_h = _line_height(label_font)
        self.atlas = _MonoAtlas(mono)
        self.tc_y = self.ball_y - m // 2 - self.atlas.cell_h
        label_y = self.tc_y - label_h
        draw.text((m, label_y), "TIMECODE", font=label_font.font, fill=_DIM)
        self.tc_x = m
        tc_w = self.atlas.cell_w * len("00:00:00:00")
        self.frame_x = m + tc_w + m
        draw.text((self.frame_x, label_y), "FRAME", font=label_font.font, fill=_DIM)
        # Beep flash box on the right: white while the audio beeps (first 100 ms of every second).
        self.beep_size = self.atlas.cell_h
        self.beep_x = w - m - self.beep_size
        self.beep_y = self.tc_y
        draw.text((self.beep_x, label_y), "BEEP", font=label_font.font, fill=_DIM)
        draw.rectangle(
            [self.beep_x - 1, self.beep_y - 1, self.beep_x + self.beep_size, self.beep_y + self.beep_size],
            outline=_DIM,
        )
        self.beep_frames = max(1, round(_BEEP_SECONDS * FPS))
        self.frame_digits = max(4, len(str(seconds * FPS)))

        # Prompt, in whatever room is left between the facts and the timecode row.
        prompt_font = _font("regular", max(11, round(min(w, h) * 0.042)))
        prompt_h = _line_height(prompt_font)
        bottom = label_y - m // 2
        draw.text((m, y), "PROMPT:", font=label_font.font, fill=_DIM)
        y += label_h
        max_lines = max(1, (bottom - y) // prompt_h)
        # Only the start of a huge prompt can be shown; don't wrap megabytes.
        shown = prompt_font.sanitize(prompt[:4000]) or "(empty prompt)"
        for line in _wrap(prompt_font, shown, text_w, max_lines):
            draw.text((m, y), line, font=prompt_font.font, fill=_FG)
            y += prompt_h

        self.static = np.array(img, dtype=np.uint8)

    def frame(self, i: int, total: int) -> np.ndarray:
        f = self.static.copy()
        w, m = self.width, self.margin

        # A white scan line sweeping across the colour bars once a second.
        x = (i % FPS) * (w - 2) // (FPS - 1) if FPS > 1 else 0
        f[: self.bars_h, x : x + 2] = 255

        # Timecode HH:MM:SS:FF and frame counter.
        secs, ff = divmod(i, FPS)
        hh, rem = divmod(secs, 3600)
        mm, ss = divmod(rem, 60)
        self.atlas.blit(f, self.tc_x, self.tc_y, f"{hh:02d}:{mm:02d}:{ss:02d}:{ff:02d}", _FG)
        d = self.frame_digits
        self.atlas.blit(f, self.frame_x, self.tc_y, f"{i + 1:0{d}d}/{total:0{d}d}", _ACCENT)

        # Beep flash.
        if ff < self.beep_frames:
            s = self.beep_size
            f[self.beep_y : self.beep_y + s, self.beep_x : self.beep_x + s] = 255

        # Bouncing ball: a triangle wave across the track, one crossing every 2 seconds.
        span = (w - 2 * m) - self.ball_d
        period = 4 * FPS
        phase = i % period
        pos = phase if phase <= period // 2 else period - phase
        bx = m + pos * span // (period // 2)
        region = f[self.ball_y : self.ball_y + self.ball_d, bx : bx + self.ball_d]
        region[self.ball_mask] = _BARS[(i // FPS) % len(_BARS)]

        # Progress bar.
        fill = (self.bar_x1 - self.bar_x0) * (i + 1) // total
        f[self.bar_y : self.bar_y + self.bar_h, self.bar_x0 : self.bar_x0 + fill] = _ACCENT
        return f


def _line_height(font: _Font) -> int:
    ascent, descent = font.font.getmetrics()
    return int(ascent + descent + max(2, font.size // 6))


class _MonoAtlas:
    """Pre-rendered glyph masks in fixed-width cells, so per-frame text is just array slicing."""

    def __init__(self, font: _Font) -> None:
        ascent, descent = font.font.getmetrics()
        self.cell_w = max(math.ceil(font.length(c)) for c in _MONO_CHARS)
        self.cell_h = ascent + descent
        self.masks: dict[str, np.ndarray] = {}
        for c in _MONO_CHARS:
            cell = Image.new("L", (self.cell_w, self.cell_h), 0)
            ImageDraw.Draw(cell).text((0, 0), c, font=font.font, fill=255)
            self.masks[c] = np.asarray(cell, dtype=np.uint16)

    def blit(self, frame: np.ndarray, x: int, y: int, text: str, colour: tuple[int, int, int]) -> None:
        mask = np.hstack([self.masks[c] for c in text])[:, :, None]
        h, w = mask.shape[:2]
        region = frame[y : y + h, x : x + w]
        mask = mask[: region.shape[0], : region.shape[1]]
        col = np.array(colour, dtype=np.uint16)
        region[:] = ((region.astype(np.uint16) * (255 - mask) + col * mask + 127) // 255).astype(np.uint8)
