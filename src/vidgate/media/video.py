"""PyAV helpers: probe, streaming YUV decode, and an H.264 writer that copies the audio stream.

Everything streams: frames are yielded one at a time and written one at a time, so memory does not
grow with the length of the video. Frames are handled as ``yuv420p`` NumPy arrays of shape
``(H * 3 // 2, W)`` (Y plane, then U, then V, as PyAV lays them out), which avoids RGB conversions.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from itertools import chain
from pathlib import Path
from typing import Any

import av
import numpy as np

from vidgate.errors import BadMedia

#: Default encoder settings: superfast is ~2.5x faster than veryfast at 704x1280 on 2 cores; CRF 16
#: keeps the re-encode loss below the source's own coding noise.
DEFAULT_PRESET = "ultrafast"
# ultrafast switches x264's deblocking filter off; back on it costs ~10 % of the encode and gains
# ~0.4 dB (and a smaller file). Its sub-pixel motion search is off too (subme=0): one refinement
# step (subme=1) costs a few % and makes the coding noise steadier from frame to frame (the
# 12 wm_eval cases' flicker 2.10 -> 2.04 with CRF 16; see docs/benchmarks.md)
DEFAULT_X264_PARAMS = "deblock=0,0:subme=1"
DEFAULT_CRF = 16
# x264's own thread count is 1.5x the cores, each frame thread with its pictures in memory (~6.6
# MiB a thread at 704x1280): on a 32-core machine that is 48 threads and ~300 MiB more, against the
# remover's 1 GB bound. Beyond 8 frame threads the encode is far from the bottleneck (it keeps
# pace with the restoration on 2 cores with 3): the automatic count, capped at this
ENCODER_THREADS_MAX = 8
# the background encoder's threads (its own and x264's, which inherit it) run this much nicer than
# the caller's: the thread that produces the frames (the remover's restoration) is the critical
# path, and x264's 4-5 busy threads took a fair share of both cores from it, so it waited for a
# core while the encoder kept up with a frame or two in hand (see docs/watermark-log.md)
ENCODER_NICE = 10
# audio codecs an MP4 holds as a standard track, copied untouched; any other (Vorbis, PCM, MP2,
# WMA, A-law, ...) is re-encoded to AAC: the MP4 muxer refuses most of them outright ("'mp4'
# format does not support 'wmav2' codec" failed the whole removal) and browsers play none of those
# it takes (a Vorbis or PCM track in an MP4)
AUDIO_COPY = frozenset({"aac", "mp3", "opus", "flac", "alac", "ac3", "eac3"})
AUDIO_BITRATE = 96_000  # bits/s a channel, the AAC re-encode's (near transparent for AAC-LC)
# AAC's channel configurations by channel count; other counts are mixed down to stereo
AAC_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1", 8: "7.1"}
# AAC's sample rates; another (a 192 kHz PCM track, an odd 37 kHz) is resampled to the nearest
# above it, 96 kHz at most (the encoder refused to open at any other)
AAC_RATES = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
# a decode that ends this share of the stream's declared frames short, and this many frames more,
# met a truncated file (a container's timing and its decodable frames agree to the frame otherwise;
# a variable frame rate's average, a codec's delay, a last frame's rounding stay well inside)
TRUNCATED_SHARE = 0.1
TRUNCATED_FRAMES = 3


@dataclass
class VideoInfo:
    width: int
    height: int
    fps: float
    frames: int  # from the container header (0 if unknown); the decoders count exactly
    duration: float  # seconds
    codec: str
    pix_fmt: str | None
    has_audio: bool
    audio_codec: str | None
    # where the video's and its audio's timelines begin, in the video's time base (the earliest
    # stream's first timestamp), and that time base: a writer copies the timing from them, every
    # stream moved back by it (FFmpeg's re-encode does the same), so a video that starts after its
    # audio keeps the gap (moved back by its own start alone, a picture beginning 1 s after the
    # sound came out 1 s ahead of it). Read here with the rest: each open of the input costs
    # ~15 ms of probing its streams
    origin_pts: int = 0
    time_base: Fraction = Fraction(1, 90000)
    # how the picture is shown, copied onto a writer's output (``VideoWriter(like=...)``): the pixel
    # aspect ratio (None: square) and the colour tags as FFmpeg numbers them (AVColorSpace,
    # AVColorPrimaries, AVColorTransferCharacteristic: 2 is unspecified; AVColorRange: 0
    # unspecified, 1 limited, 2 full)
    sample_aspect_ratio: Fraction | None = None
    colorspace: int = 2
    color_primaries: int = 2
    color_trc: int = 2
    color_range: int = 0
    audio_streams: int = 0
    # the video stream's own declared length in seconds (MP4/MOV tracks; None where only the
    # container's is known, as in Matroska, whose length is its longest stream's): a decode that
    # ends well before it met a truncated file (see :meth:`short_of`)
    stream_seconds: float | None = None

    def short_of(self, decoded: int) -> bool:
        """Did ``decoded`` frames fall well short of the frames the video stream declares by its
        length (a truncated file whose header came first: a partial download of a faststart MP4
        decodes its first frames and then simply ends)? Read from the stream's length, not its
        sample count: an edit list (a stream copy cut with ``-ss``) leaves samples that are never
        shown."""
        if not self.stream_seconds:
            return False
        expected = self.stream_seconds * self.fps
        return decoded < expected * (1 - TRUNCATED_SHARE) - TRUNCATED_FRAMES

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["time_base"] = str(self.time_base)
        d["sample_aspect_ratio"] = None if self.sample_aspect_ratio is None else str(self.sample_aspect_ratio)
        return d


@dataclass(frozen=True)
class Turn:
    """How a display matrix shows the stored picture when it turns it by right angles and mirrors
    it: transposed first, then its columns and its rows reversed. A phone's portrait video is
    stored landscape and turned by its matrix; the watermark is upright only as shown, so the
    decoders hand the frames out as shown (FFmpeg's re-encode turns them so too)."""

    transpose: bool
    flip_x: bool
    flip_y: bool

    @staticmethod
    def of(m: tuple[int, ...] | None) -> Turn | None:
        """The turn display matrix ``m`` makes (FFmpeg's: x' = a x + c y, y' = b x + d y in 16.16
        fixed point, a, b, c, d its values 0, 1, 3 and 4); None for none, for the identity, and for
        a turn by another angle or a scaling (those are left to the player: the matrix is copied)."""
        if m is None or len(m) != 9:
            return None
        unit = []
        for v in (m[0], m[1], m[3], m[4]):
            if abs(v) < 0.01 * 65536:
                unit.append(0)
            elif abs(abs(v) - 65536) < 0.01 * 65536:
                unit.append(1 if v > 0 else -1)
            else:
                return None
        a, b, c, d = unit
        if a and d and not (b or c):
            turn = Turn(False, a < 0, d < 0)
        elif b and c and not (a or d):
            turn = Turn(True, c < 0, b < 0)
        else:
            return None
        return turn if turn != Turn(False, False, False) else None

    def apply(self, plane: np.ndarray) -> np.ndarray:
        """``plane`` as shown (a view)."""
        p = plane.T if self.transpose else plane
        if self.flip_x:
            p = p[:, ::-1]
        return p[::-1] if self.flip_y else p


@dataclass
class StreamFacts:
    """What only a decoded frame tells (filled in by :func:`iter_frames` / :func:`iter_luma` at
    their first frame): the display matrix, FFmpeg's nine int32 values (a phone's portrait video
    is stored landscape and turned by it; flips too), None without one; its rotation in degrees
    counter-clockwise (PyAV's ``VideoFrame.rotation``, which leaves the flips out); and the
    :class:`Turn` the decoder applied to hand the frames out as shown (None: as stored)."""

    display_matrix: tuple[int, ...] | None = None
    rotation: int = 0
    turned: Turn | None = None

    def read(self, f: av.VideoFrame, *, upright: bool = False) -> None:
        """Take the facts off frame ``f`` (``upright``: the decoder turns the frames as shown)."""
        for sd in f.side_data:
            if sd.type.name == "DISPLAYMATRIX":
                m = tuple(int(v) for v in np.frombuffer(bytes(memoryview(sd)), "<i4"))
                self.display_matrix = m if len(m) == 9 else None
        self.rotation = int(f.rotation or 0)
        self.turned = Turn.of(self.display_matrix) if upright else None

    @property
    def output_matrix(self) -> tuple[int, ...] | None:
        """The display matrix a video made of the decoded frames carries to be shown as the source
        is: none where the frames were turned as shown, else the source's."""
        return None if self.turned is not None else self.display_matrix

    def shown(self, info: VideoInfo) -> VideoInfo:
        """``info`` for a video made of the decoded frames (``VideoWriter(like=...)``): a transposed
        picture's pixel aspect ratio is turned too (FFmpeg's transpose filter does the same)."""
        sar = info.sample_aspect_ratio
        if self.turned is None or not self.turned.transpose or not sar:
            return info
        return replace(info, sample_aspect_ratio=1 / sar)


FULL_RANGE = 2  # AVCOL_RANGE_JPEG
LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG


def _full_range(f: av.VideoFrame) -> bool:
    """A full-range (0-255) frame: tagged so, or in a ``yuvj`` format (JPEG-style, always full)."""
    return f.color_range == FULL_RANGE or f.format.name.startswith("yuvj")


def _open(path: Path | str) -> av.container.InputContainer:
    p = Path(path)
    if not p.is_file():
        raise BadMedia(f"input file not found: {p.name}")
    if p.stat().st_size == 0:
        raise BadMedia("input file is empty")
    try:
        return av.open(str(p), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise BadMedia(f"not a readable video file: {e}") from e


def probe(path: Path | str, *, max_seconds: float | None = None, max_pixels: int | None = None) -> VideoInfo:
    """Read container facts and validate them against the limits. Raises BadMedia."""
    with _open(path) as c:
        v = _main_video(c)
        cc = v.codec_context
        if cc is None or cc.codec is None or not cc.codec.name:
            raise BadMedia("unsupported video codec")
        w, h = int(cc.width or 0), int(cc.height or 0)
        if w <= 0 or h <= 0:
            raise BadMedia("video has no frame size (unsupported codec or corrupt header)")
        if w < 16 or h < 16 or max(w, h) / min(w, h) > 8:
            raise BadMedia(f"absurd video dimensions {w}x{h}")
        if max_pixels is not None and w * h > max_pixels:
            raise BadMedia(f"video is {w}x{h}; the limit is {max_pixels} pixels per frame")
        rate = v.average_rate or v.guessed_rate or v.base_rate
        fps = float(rate) if rate else 0.0
        if not (0.5 <= fps <= 240):
            raise BadMedia(f"unsupported frame rate {fps:.3f}")
        own = None
        if v.duration is not None and v.time_base is not None:
            dur = own = float(v.duration * v.time_base)
        else:
            dur = (c.duration or 0) / 1e6
        frames = int(v.frames or 0)
        if dur <= 0 and frames:
            dur = frames / fps
        if max_seconds is not None and dur > max_seconds:
            raise BadMedia(f"video lasts {dur:.1f}s; the limit is {max_seconds:.0f}s")
        a = c.streams.audio[0] if c.streams.audio else None
        sar = v.sample_aspect_ratio
        tb = Fraction(v.time_base) if v.time_base else Fraction(1, 90000)
        return VideoInfo(
            width=w,
            height=h,
            fps=fps,
            frames=frames,
            duration=dur,
            codec=cc.codec.name,
            pix_fmt=cc.pix_fmt,
            has_audio=a is not None,
            audio_codec=a.codec_context.name if a is not None and a.codec_context else None,
            origin_pts=_origin((v, *c.streams.audio), tb),
            time_base=tb,
            sample_aspect_ratio=Fraction(sar) if sar and sar != 1 else None,
            colorspace=int(cc.colorspace or 2),
            color_primaries=int(cc.color_primaries or 2),
            color_trc=int(cc.color_trc or 2),
            color_range=int(cc.color_range or 0),
            audio_streams=len(c.streams.audio),
            stream_seconds=own,
        )


def _origin(streams: tuple[Any, ...], tb: Fraction) -> int:
    """Where the earliest of ``streams`` begins, in ``tb`` (see ``VideoInfo.origin_pts``)."""
    starts = [Fraction(s.start_time) * Fraction(s.time_base) for s in streams
              if s.start_time is not None and s.time_base]
    return math.floor(min(starts) / tb) if starts else 0


@dataclass
class Frame:
    """One decoded frame: yuv420p planes stacked as (H*3/2, W) uint8, plus its timing."""

    index: int
    pts: int | None
    yuv: np.ndarray


def _main_video(c: Any) -> Any:
    """The container's main video stream: not a cover picture (tagged so, or declaring a single
    frame), then the largest picture, then the first. Not simply the first: in a Matroska file a
    one-frame cover picture can come first (the remover restored that 64x64 picture and dropped
    the film), and FFmpeg's ``av_find_best_stream`` (PyAV's ``streams.best``) took it too for the
    test's 160x96 film.
    BadMedia if there is none."""
    if not c.streams.video:
        raise BadMedia("input has no video stream")

    def rank(s: Any) -> tuple[bool, bool, int, int]:
        cover = bool(s.disposition & av.stream.Disposition.attached_pic)
        cc = s.codec_context
        return not cover, s.frames != 1, (cc.width or 0) * (cc.height or 0), -s.index

    return max(c.streams.video, key=rank)


def _video_stream(c: Any, threads: int) -> Any:
    """The container's main video stream (see :func:`_main_video`), set up for threaded decoding."""
    s = _main_video(c)
    s.thread_type = "AUTO"
    if threads:
        s.codec_context.thread_count = threads
    return s


def _yuv420p(f: av.VideoFrame, turn: Turn | None = None) -> np.ndarray:
    """A yuv420p frame's planes stacked as (H*3/2, W) uint8, as ``to_ndarray`` gives them, with one
    copy straight from the decoder's buffers (``to_ndarray`` copies each plane, then stacks them);
    turned by ``turn`` on the way."""
    w, h = (f.height, f.width) if turn is not None and turn.transpose else (f.width, f.height)
    out = np.empty((h * 3 // 2, w), np.uint8)
    for dst, src in zip(yuv_planes(out), _planes(f), strict=True):
        dst[...] = src if turn is None else turn.apply(src)
    return out


def yuv_planes(yuv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of a stacked yuv420p frame's (H*3/2, W uint8, contiguous) Y, U and V planes."""
    h, w = yuv.shape[0] * 2 // 3, yuv.shape[1]
    flat = yuv.reshape(-1)
    n, q = h * w, (h // 2) * (w // 2)
    return yuv[:h], flat[n:n + q].reshape(h // 2, w // 2), flat[n + q:n + 2 * q].reshape(h // 2, w // 2)


def _planes(f: av.VideoFrame) -> list[np.ndarray]:
    """A yuv420p frame's Y, U and V planes as writable views of its buffers (without the line padding)."""
    w, h = f.width, f.height
    return [np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[:ph, :pw]
            for p, (pw, ph) in zip(f.planes, ((w, h), (w // 2, h // 2), (w // 2, h // 2)), strict=True)]


def _even(f: av.VideoFrame) -> tuple[int, int]:
    """The frame's size cropped to even (yuv420p's chroma is subsampled by 2 both ways)."""
    return f.width - f.width % 2, f.height - f.height % 2


def _limited_yuv420p(f: av.VideoFrame, size: tuple[int, int] | None = None) -> av.VideoFrame:
    """``f`` as even-sized, limited-range yuv420p: the remover's blend model has white at 235, and a
    writer's output is tagged limited (a full-range input's 0-255 levels would otherwise play with
    crushed blacks and clipped whites). ``size``: (width, height) every frame is given, the
    first frame's: a stream that changes size midway (streams joined end to end) is scaled to
    it, as FFmpeg's own re-encode does. Frames already so are returned as they are."""
    full = _full_range(f)
    w, h = size or _even(f)
    if f.format.name == "yuv420p" and not full and (f.width, f.height) == (w, h):
        return f
    ranges = {"src_color_range": "JPEG", "dst_color_range": "MPEG"} if full else {}
    return f.reformat(width=w, height=h, format="yuv420p", **ranges)


def iter_frames(path: Path | str, *, threads: int = 0, max_frames: int | None = None,
                facts: StreamFacts | None = None, upright: bool = True) -> Iterator[Frame]:
    """Decode video frames as limited-range yuv420p arrays, one at a time, as shown: turned by the
    display matrix where it turns by right angles or mirrors (``upright=False``: as stored; see
    :class:`Turn`). ``facts``: filled in at the first frame. Raises BadMedia on decode errors."""
    with _open(path) as c:
        s = _video_stream(c, threads)
        i = 0
        size: tuple[int, int] | None = None  # (the first frame's, for every frame)
        shown = facts or StreamFacts()
        try:
            for f in c.decode(s):
                if i == 0:
                    size = _even(f)
                    shown.read(f, upright=upright)
                f = _limited_yuv420p(f, size)
                yield Frame(i, f.pts, _yuv420p(f, shown.turned))
                i += 1
                if max_frames is not None and i >= max_frames:
                    return
        except av.error.FFmpegError as e:
            if i == 0:
                raise BadMedia(f"video cannot be decoded: {e}") from e
            raise BadMedia(f"video is truncated or corrupt after frame {i}: {e}") from e


def iter_luma(path: Path | str, *, threads: int = 0, facts: StreamFacts | None = None,
              upright: bool = True) -> Iterator[np.ndarray]:
    """Only the luma plane of each frame, read straight from the decoder's buffer (no chroma copy,
    no pixel-format conversion for limited-range yuv420p/yuv422p/yuv444p), in limited range and
    turned as :func:`iter_frames` gives it (``facts``: filled in at the first frame). Raises
    BadMedia."""
    with _open(path) as c:
        s = _video_stream(c, threads)
        i = 0
        size = (0, 0)  # (the first frame's, for every frame: see _limited_yuv420p)
        shown = facts or StreamFacts()
        try:
            for f in c.decode(s):
                if i == 0:
                    size = _even(f)
                    shown.read(f, upright=upright)
                w, h = size
                if (f.format.name in ("yuv420p", "yuv422p", "yuv444p") and not _full_range(f)
                        and _even(f) == size):
                    p = f.planes[0]
                    y = np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[:h, :w]
                else:
                    y = _limited_yuv420p(f, size).to_ndarray()[:h]
                if shown.turned is not None:
                    y = np.ascontiguousarray(shown.turned.apply(y))
                yield y
                i += 1
        except av.error.FFmpegError as e:
            if i == 0:
                raise BadMedia(f"video cannot be decoded: {e}") from e
            raise BadMedia(f"video is truncated or corrupt after frame {i}: {e}") from e


def iter_y(path: Path | str, **kw: Any) -> Iterator[np.ndarray]:
    """Only the luma planes (views into the decoded arrays)."""
    for fr in iter_frames(path, **kw):
        h = fr.yuv.shape[0] * 2 // 3
        yield fr.yuv[:h]


class VideoWriter:
    """H.264 yuv420p MP4 writer (faststart) that copies the audio streams of ``audio_from``
    untouched (those an MP4 holds no standard track for are re-encoded to AAC: ``AUDIO_COPY``).

    Audio packets are interleaved with the video by timestamp as frames are written, so memory stays
    flat. Frame timestamps are copied from the source (``time_base``) so VFR timing is preserved.

    Encoding and muxing run on a background thread fed through a queue of at most ``queue_frames``
    frames (PyAV releases the GIL inside libx264), so the caller's NumPy/OpenCV work on the next
    frames overlaps the encoder; the array is copied into the encoder's frame there too (one frame,
    reused: a fresh one's buffers cost page faults). :meth:`write` copies the pixels before it returns,
    so the caller may reuse its array, unless it hands the array over (``owned=True``: it will not
    write to it again). An encoder or muxer error is raised by the next :meth:`write` or by
    :meth:`close`. ``queue_frames=0`` encodes synchronously in :meth:`write`. The packets, their order
    and so the output file are the same either way. On Linux the background thread and x264's
    threads run ``nice`` levels nicer than the caller (see ``ENCODER_NICE``).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        width: int,
        height: int,
        fps: float,
        time_base: Fraction | None = None,
        audio_from: Path | str | None = None,
        preset: str = DEFAULT_PRESET,
        crf: int = DEFAULT_CRF,
        threads: int = 0,
        x264_params: str = DEFAULT_X264_PARAMS,
        queue_frames: int = 4,
        nice: int = ENCODER_NICE,
        like: VideoInfo | None = None,
        display_matrix: tuple[int, ...] | None = None,
        origin: Fraction = Fraction(0),
    ) -> None:
        self.path = Path(path)
        # ``origin``: seconds every audio timestamp is moved back by, where the source's timeline
        # began (see VideoInfo.origin_pts; the caller moves the frames' timestamps back by as
        # much); by input audio stream, in its time base
        self._ashift: dict[int, int] = {}
        # written beside it under a hidden name and moved over ``path`` once whole: a failed or
        # aborted write leaves a file already there as it was, and the output may be the input
        # itself (its audio is read as the output is written: written in place, the input was cut
        # short under the reader and the output kept 2 of its audio packets)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
        self._out = av.open(str(self._tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
        try:
            rate = Fraction(fps).limit_denominator(100000)
            self._v = self._out.add_stream("libx264", rate=rate)
            self._v.width, self._v.height, self._v.pix_fmt = width, height, "yuv420p"
            self._tb = time_base or Fraction(1, 1) / rate
            self._v.codec_context.time_base = self._tb
            self._v.time_base = self._tb
            x264 = {"x264-params": x264_params} if x264_params else {}
            self._v.options = {"preset": preset, "crf": str(crf), **x264}
            # frame threads, not PyAV's default slices: x264 encodes several pictures at once (~15 %
            # less wall for the encode alone on 2 cores, the same CPU, files within 0.01 %)
            self._v.codec_context.thread_type = "FRAME"
            if not threads and (os.cpu_count() or 1) * 3 // 2 > ENCODER_THREADS_MAX:
                threads = ENCODER_THREADS_MAX
            if threads:
                self._v.codec_context.thread_count = threads
            if like is not None:
                _show_like(self._v, like)
            if display_matrix is not None:  # (StreamFacts.display_matrix: the source's turn and flips)
                self._v.set_display_matrix(list(display_matrix))
            self._frame_dur = 1.0 / float(rate)
            self._ain: av.container.InputContainer | None = None
            self._aout: dict[int, Any] = {}  # every audio stream of the input, by its index there
            self._apackets: Iterator[av.Packet] | None = None
            self._pending: av.Packet | None = None
            # input audio streams re-encoded (see AUDIO_COPY), by index: (the stream, the resampler to
            # the encoder's sample format and layout)
            self._recode: dict[int, tuple[Any, av.AudioResampler]] = {}
            if audio_from is not None:
                ain = av.open(str(audio_from), mode="r")
                if ain.streams.audio:
                    self._ain = ain
                    for a in ain.streams.audio:
                        self._aout[a.index] = self._audio_stream(a)
                        # (``origin`` in the stream's own time base)
                        self._ashift[a.index] = round(origin / a.time_base) if a.time_base else 0
                    self._apackets = ain.demux(*ain.streams.audio)
                else:
                    ain.close()
            self._n = 0
            self._last_pts: int | None = None
            self._frame = av.VideoFrame(width, height, "yuv420p")  # see _encode
            # background encoder: frames in, None = stop; it keeps draining after an error or abort()
            self._error: BaseException | None = None
            self._discard = False
            self._nice = nice
            self._queue: queue.Queue[tuple[np.ndarray, int] | None] | None = None
            self._thread: threading.Thread | None = None
            if queue_frames > 0:
                self._queue = queue.Queue(maxsize=queue_frames)
                self._thread = threading.Thread(target=self._encode_loop, name="vidgate-x264", daemon=True)
                self._thread.start()
        except BaseException:
            with contextlib.suppress(Exception):
                self._out.close()
            self._tmp.unlink(missing_ok=True)
            raise

    @property
    def audio_reencoded(self) -> list[str]:
        """The codecs of the input's audio streams re-encoded to AAC (the others are copied)."""
        return [a.codec_context.codec.canonical_name for a, _ in self._recode.values()]

    def _audio_stream(self, a: Any) -> Any:
        """The output stream for the input's audio stream ``a``: a copy of it, or an AAC encoder
        at its sample rate where AAC has it (see ``AUDIO_COPY``, ``AAC_RATES``)."""
        cc = a.codec_context
        # (the codec's own name: its decoder's can differ, "mp3float" for MP3)
        if cc.codec.canonical_name in AUDIO_COPY:
            return self._out.add_stream_from_template(a)
        layout = AAC_LAYOUTS.get(cc.layout.nb_channels, "stereo")
        rate = next((r for r in AAC_RATES if r >= cc.sample_rate), AAC_RATES[-1])
        o = self._out.add_stream("aac", rate=rate)
        o.layout = layout
        o.bit_rate = AUDIO_BITRATE * av.AudioLayout(layout).nb_channels
        self._recode[a.index] = (a, av.AudioResampler(format="fltp", layout=layout, rate=rate))
        return o

    def _mux_audio_until(self, t: float | None) -> None:
        if self._apackets is None:
            return
        while True:
            if self._pending is None:
                try:
                    self._pending = self._moved_back(next(self._apackets))
                except StopIteration:
                    self._apackets = None
                    self._flush_reencoded()
                    return
            p = self._pending
            if p.dts is None and p.size == 0:
                self._pending = None
                continue
            ts = p.dts if p.dts is not None else p.pts
            if t is not None and ts is not None and float(ts * p.time_base) > t:
                return
            index = p.stream.index
            if index in self._recode:
                self._reencode(index, p.decode())
            else:
                p.stream = self._aout[index]
                self._out.mux(p)
            self._pending = None

    def _moved_back(self, p: av.Packet) -> av.Packet:
        """``p`` with its timestamps moved back by ``origin`` (see :meth:`__init__`)."""
        shift = self._ashift[p.stream.index]
        if shift:
            p.pts = None if p.pts is None else p.pts - shift
            p.dts = None if p.dts is None else p.dts - shift
        return p

    def _reencode(self, index: int, frames: Any) -> None:
        """Resample decoded audio ``frames`` of input stream ``index`` (None among them: flush
        the resampler) and encode them to its AAC stream."""
        out, (_, resampler) = self._aout[index], self._recode[index]
        for f in frames:
            for g in resampler.resample(f):
                for q in out.encode(g):
                    self._out.mux(q)

    def _flush_reencoded(self) -> None:
        """The re-encoded streams' last samples, held in their decoders, resamplers and encoders."""
        for index, (a, _) in self._recode.items():
            self._reencode(index, [*a.codec_context.decode(None), None])
            for q in self._aout[index].encode(None):
                self._out.mux(q)

    def _encode(self, yuv: np.ndarray, pts: int) -> None:
        # one frame, filled again for each picture: libx264 copies the picture in before encode()
        # returns, and a fresh frame's buffers cost page faults (~0.7 ms a 704x1280 frame)
        f = self._frame
        for dst, src in zip(_planes(f), yuv_planes(yuv), strict=True):
            dst[...] = src
        f.pts = pts
        f.time_base = self._tb
        for pkt in self._v.encode(f):
            self._out.mux(pkt)
        self._mux_audio_until(float(f.pts * self._tb) + 0.5)

    def _encode_loop(self) -> None:
        assert self._queue is not None
        _be_nicer(self._nice)  # (before the first frame opens x264 and starts its threads)
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None or self._discard:
                continue
            try:
                self._encode(*item)
            except BaseException as e:  # handed to the caller by write()/close()
                self._error = e

    def _stop_thread(self) -> None:
        if self._thread is not None:
            assert self._queue is not None
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, yuv: np.ndarray, pts: int | None = None, *, owned: bool = False) -> None:
        """Queue one yuv420p frame (H*3/2, W) at ``pts`` (source time base; None: the next slot).
        ``owned``: the caller hands ``yuv`` over and will not write to it again (no copy)."""
        self._raise_error()
        if yuv.dtype != np.uint8 or yuv.ndim != 2 or yuv.shape[0] % 3 or yuv.shape[1] % 2:
            raise ValueError(f"not a yuv420p frame: {yuv.dtype} {yuv.shape}")
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            pts = (self._last_pts + 1) if (pts is not None and self._last_pts is not None) else None
        if pts is None:
            pts = round(self._n * self._frame_dur / float(self._tb))
            if self._last_pts is not None and pts <= self._last_pts:
                pts = self._last_pts + 1
        self._last_pts = pts
        self._n += 1
        if self._queue is None:
            self._encode(yuv, pts)
        else:
            self._queue.put((yuv if owned else yuv.copy(), pts))

    def close(self) -> None:
        """Finish the file and move it over ``path``; on an error the file is discarded."""
        if self._out is None:
            return
        try:
            self._stop_thread()
            self._raise_error()
            for pkt in self._v.encode():
                self._out.mux(pkt)
            self._mux_audio_until(None)
            self._out.close()
        except BaseException:
            self.abort()
            raise
        self._out = None
        if self._ain is not None:
            self._ain.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        self._discard = True
        self._stop_thread()
        try:
            if self._out is not None:
                self._out.close()
        except Exception:
            pass
        self._out = None
        if self._ain is not None:
            self._ain.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, *a: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _show_like(v: Any, like: VideoInfo) -> None:
    """Tag the output stream ``v`` to be shown as the source ``like`` is: its pixel aspect ratio and
    colour tags (the pixels keep their values, so a player must read them the same way). The
    decoders hand out limited-range frames (see :func:`iter_frames`): a full-range source's output
    is tagged limited."""
    cc = v.codec_context
    if like.sample_aspect_ratio is not None:
        cc.sample_aspect_ratio = like.sample_aspect_ratio
    cc.colorspace, cc.color_primaries, cc.color_trc = like.colorspace, like.color_primaries, like.color_trc
    cc.color_range = LIMITED_RANGE if like.color_range == FULL_RANGE else like.color_range


def _be_nicer(by: int) -> None:
    """Raise the calling thread's nice value by ``by`` (at most to 19). Linux only, where nice is a
    thread's own (elsewhere it is the whole process') and the threads it starts inherit it."""
    if by <= 0 or not sys.platform.startswith("linux"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, 0, min(19, os.getpriority(os.PRIO_PROCESS, 0) + by))
    except OSError:  # (a sandbox that forbids it: the default priority)
        pass


def copy_video(src: Path | str, dst: Path | str, **kw: Any) -> int:
    """Plain decode + encode with audio copy (the speed floor), the picture as shown (see
    :class:`Turn`). Returns the number of frames."""
    info = probe(src)
    start, tb = info.origin_pts, info.time_base
    n = 0
    frames = iter_frames(src, facts=(facts := StreamFacts()))
    first = next(frames, None)  # (the display matrix is read off the first frame)
    size = (info.width - info.width % 2, info.height - info.height % 2)
    if first is not None:  # (as shown: a turned picture's sides are swapped)
        size = (first.yuv.shape[1], first.yuv.shape[0] * 2 // 3)
    with VideoWriter(dst, width=size[0], height=size[1], fps=info.fps, time_base=tb, audio_from=src,
                     like=facts.shown(info), display_matrix=facts.output_matrix, origin=start * tb, **kw) as w:
        for fr in chain([] if first is None else [first], frames):
            w.write(fr.yuv, None if fr.pts is None else fr.pts - start)
            n += 1
    return n
