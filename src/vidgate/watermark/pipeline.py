"""decode -> detect -> restore -> encode, streaming.

Pass 1 runs the :class:`~vidgate.watermark.detect.Detector` at analysis scale (one bounded window
in memory). A video whose decoded frames fit in ``HOLD_BYTES`` is decoded once: pass 1 keeps its
yuv420p frames and pass 2 works from them. A longer one is decoded twice (pass 1 reads only the
luma planes, straight from the decoder's buffers), so memory stays flat in length; its first places'
opacity is then read from their first frames, decoded once more, so that every place is restored
with the opacity pooled over the places, as when held (see ``early_a0s``). In pass 2
frames outside any interval go straight to the encoder; for an interval, its first
``FIT_FRAMES`` frames are buffered while the interval's matte statistics are estimated from their
box crops, then every frame of the interval is restored in order (the shape of the mark is
estimated per frame). Intervals are widened by ``PAD_FRAMES`` on each side; the restorer leaves any
frame where the mark is not actually present untouched, so a detection that is one frame off
cannot leave a blink. Each interval also gets clean plates of its box (the nearest frames before
and, when held, after it that do not show the mark): see :meth:`IntervalMatte.set_plates`.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from vidgate.errors import BadMedia, TaskFailed
from vidgate.media.video import (
    DEFAULT_CRF,
    DEFAULT_PRESET,
    Frame,
    StreamFacts,
    VideoWriter,
    iter_frames,
    iter_luma,
    probe,
)
from vidgate.watermark.detect import Detector, Interval, busy_tries, overlaps, pmap
from vidgate.watermark.phase import PhaseBank
from vidgate.watermark.restore import HANDLE_ASPECT, IntervalMatte
from vidgate.watermark.tone import ToneMap, frames_read, tone_map

BUFFER_BYTES = 256 * 1024 * 1024  # full frames held while an interval's matte is estimated
# a video whose decoded frames fit in this is decoded once, not twice: a 10-second Sora video at
# 704x1280 (405 MB) is held. Streaming decodes up to 2.6 times (pass 1, the first places' opacity,
# pass 2) and has no clean plates after an interval: held, the real 10-second selfie video took 15 %
# less time and lost the smudges streaming left on its window sill. Peak RSS ~300 MiB above this
# (755 MiB for 340 frames at 704x1280).
HOLD_BYTES = 448 * 1024 * 1024
TONE_PLACES = 4  # intervals the mark's white is read at, at most (streaming keeps their boxes' luma meanwhile)
FIT_FRAMES = 60  # at most this many frames feed one interval's matte statistics
_EMPTY = np.zeros((0, 0), np.uint8)
A0_RESHARE = True  # a held video's interval takes the pooled opacity again as its restoration begins
PAD_FRAMES = 2  # intervals are widened by this many frames on each side (restorer self-gates)
PLATE_REACH = 6  # frames searched on each side of an interval for a clean view of its box
CUT_PX = 3  # px: the mark's often covered pixels this close to a box side: the box may cut it
CUT_STEPS = 3  # widening steps at most
CUT_ROWS = 8  # ... over 1/CUT_ROWS of the covered rows
CUT_NARROW = 0.8  # only a box narrower than this share of the other positions' widest may cut the mark
CUT_GAIN = 1.1  # and the wider box must hold this much more core (the rest of the mark)
REF_TRIES = 3  # the phase bank's reference is chosen among this many mattes with the smallest cores
POOL_A0 = True  # intervals take the places' pooled core opacity (plate readings, else 3 places or more)
END_FRAMES = 3  # an interval's last frames (and its padding after) may show the cloud dropping
# the mark fades in over at most this many frames before its first full one (the real videos' take
# 2-3): earlier frames of an interval (its padding, the detected jump a few frames early) are not
# read as a fade (bright scenery under the place then read as a fading mark and was un-blended)
FADE_IN = 3


@dataclass
class RemovalReport:
    watermark_found: bool
    frames: int
    fps: float
    width: int
    height: int
    positions: list[dict[str, Any]] = field(default_factory=list)
    seconds_elapsed: float = 0.0
    duration: float = 0.0
    has_audio: bool = False
    # the input's audio codecs re-encoded to AAC, being no standard MP4 audio (see
    # media.video.AUDIO_COPY); every other audio stream is copied untouched
    audio_reencoded: list[str] = field(default_factory=list)
    # the mark's white (luma) as read in a video whose tones were edited, where the frames were
    # restored mapped to put it at 235 (see watermark.tone); None: read at 235, or not readable
    mark_white: float | None = None
    encoder: str = ""
    # where the time went, phase by phase: wall and process CPU seconds (all threads: CPU over
    # wall is how many cores the phase kept busy); see _Clock
    timings: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _lone_place(verdicts: list[tuple[tuple[int, int, int, int], bool]], intervals: list[Interval]) -> bool:
    """Is the one place whose matte looks like a white overlay scenery? ``verdicts``: (box, looks
    like the mark) per place read. The mark jumps between places and holds each for seconds: where
    only one place passes and the places that fail hold more of the detector's frames, the
    detector was following scenery (a bright grey window in a clean clip, which no chroma test can
    refuse) and the passing place is more of it."""
    places: list[list] = []  # [box, passes]
    for box, ok in verdicts:
        for pl in places:
            if overlaps(pl[0], box):
                pl[1] = pl[1] or ok
                break
        else:
            places.append([box, ok])
    good = [pl[0] for pl in places if pl[1]]
    if len(good) != 1:
        return False

    def frames(boxes: list[tuple[int, int, int, int]]) -> int:
        return sum(iv.end - iv.start + 1 for iv in intervals if any(overlaps(iv.box, b) for b in boxes))

    return frames([pl[0] for pl in places if not pl[1]]) > frames(good)


def _weighted_median(values: list[tuple[float, float]]) -> float:
    """The median of (value, weight) pairs: the value where the weight below and above it each
    come to half or less (midway between two values where the halves meet exactly, as
    ``np.median`` does for an even count of equal weights)."""
    vs = sorted(values)
    half = sum(w for _, w in vs) / 2
    below = 0.0
    for i, (v, w) in enumerate(vs):
        below += w
        if math.isclose(below, half) and i + 1 < len(vs):
            return (v + vs[i + 1][0]) / 2
        if below > half:
            return v
    return vs[-1][0]


def _reference_first(order: list[int], mattes: dict[int, IntervalMatte]) -> list[int]:
    """``order`` (interval ids, the preferred reference first) with the reference moved to the
    front: of the first ``REF_TRIES``, the one against which the most others register (the first
    on a tie)."""
    def registered(ref: int) -> int:
        trial = PhaseBank()
        return sum(trial.register(k, mattes[k].mean, mattes[k].env, mattes[k].core)
                   for k in [ref] + [k for k in order if k != ref])

    if len(order) < 2:
        return order
    counts: list[int] = []
    for k in order[:REF_TRIES]:
        counts.append(registered(k))
        if counts[-1] == len(order):  # every place registers: none can do better
            break
    best = order[counts.index(max(counts))]
    return [best] + [k for k in order if k != best]


class _Clock:
    """Wall and process CPU time per phase of a removal, each phase from the previous mark on."""

    def __init__(self) -> None:
        self.times: dict[str, dict[str, float]] = {}
        self._wall, self._cpu = time.monotonic(), time.process_time()
        self.started = self._wall

    def elapsed(self) -> float:
        """Wall seconds since the clock started."""
        return time.monotonic() - self.started

    def mark(self, phase: str) -> None:
        wall, cpu = time.monotonic(), time.process_time()
        self.times[phase] = {"seconds": round(wall - self._wall, 3), "cpu_seconds": round(cpu - self._cpu, 3)}
        self._wall, self._cpu = wall, cpu


def _pad(iv: Interval) -> int:
    """Frames interval ``iv`` is widened by on each side for restoration."""
    return PAD_FRAMES if iv.pad is None else iv.pad


def _progress(cb: Callable[[float], None] | None, v: float) -> None:
    if cb is not None:
        try:
            cb(min(1.0, max(0.0, v)))
        except Exception:  # a broken progress callback must not fail the task
            pass


def remove_watermark(
    input_path: Path,
    output_path: Path,
    *,
    progress: Callable[[float], None] | None = None,
    max_seconds: float = 600.0,
    max_pixels: int = 4096 * 4096,
    preset: str = DEFAULT_PRESET,
    crf: int = DEFAULT_CRF,
) -> RemovalReport:
    clock = _Clock()
    input_path, output_path = Path(input_path), Path(output_path)
    info = probe(input_path, max_seconds=max_seconds, max_pixels=max_pixels)
    est_frames = info.frames or max(1, round(info.duration * info.fps))
    _progress(progress, 0.0)

    # pass 1: detection. A short video (all its frames within HOLD_BYTES) is decoded once: its
    # frames are kept for pass 2; a longer one is decoded twice (luma only here), so memory stays flat.
    fbytes = (info.width - info.width % 2) * (info.height - info.height % 2) * 3 // 2
    held: list[tuple[np.ndarray, int | None]] | None = [] if est_frames * fbytes <= HOLD_BYTES else None
    n = 0
    limit = max_seconds * max(info.fps, 1) * 1.5 + 10
    # the frames come as shown (a phone's portrait video stored landscape and turned by its display
    # matrix comes upright: the mark is upright only so) and are written so; the display matrix,
    # read off the first frame, is copied only where it turns by other than right angles
    facts = StreamFacts()
    src = iter_frames(input_path, facts=facts) if held is not None else iter_luma(input_path, facts=facts)
    first = next(src, None)
    if first is None:
        raise BadMedia("video has no decodable frames")
    shape = (first.yuv.shape[0] * 2 // 3, first.yuv.shape[1]) if isinstance(first, Frame) else first.shape
    det = Detector(shape[1], shape[0], frames=est_frames)
    h_even = det.height
    for item in chain([first], src):
        if held is not None:
            assert isinstance(item, Frame)
            det.add(item.yuv[:h_even])
            held.append((item.yuv, item.pts))
            if len(held) * fbytes > HOLD_BYTES:  # the container under-reported its length
                held = None
        else:
            det.add(item.yuv[:h_even] if isinstance(item, Frame) else item)
        n += 1
        if n % 30 == 0:
            _progress(progress, 0.25 * n / max(est_frames, n))
        if n > limit:
            raise BadMedia(f"video is longer than the limit of {max_seconds:.0f}s")
    if info.short_of(n):
        declared = info.stream_seconds or 0.0
        raise BadMedia(f"video is truncated: only {n} of its ~{round(declared * info.fps)} frames "
                       f"({declared:.1f}s declared) can be decoded")
    clock.mark("decode")
    intervals = det.finish()
    W, H = det.width, det.height
    if det.wants_second_try:
        # found doubtfully in a video longer than detection's window: the busy bright scene's
        # rules over another decode of its luma per try (see Detector.finish)
        def run(chunk: int) -> list[Interval]:
            again = Detector(W, H, busy=True, chunk=chunk, frames=n)
            for y in iter_luma(input_path):  # (even-cropped like the first pass's luma)
                again.add(y)
            return again.finish()

        intervals = busy_tries(intervals, n, run)
    clock.mark("analysis")
    _progress(progress, 0.25)

    # widened, non-overlapping intervals for restoration
    spans: list[tuple[int, int, Interval]] = []
    for k, iv in enumerate(intervals):
        s0 = max(0, iv.start - _pad(iv))
        e0 = min(n - 1, iv.end + _pad(iv))
        if spans and s0 <= spans[-1][1]:
            s0 = spans[-1][1] + 1
        if k + 1 < len(intervals):
            # the next interval's padding comes first (the mark fades in there a frame or two
            # before the detected jump); this one's last frames are restored as its tail
            e0 = min(e0, max(iv.end - _pad(iv), intervals[k + 1].start - _pad(intervals[k + 1]) - 1))
        if e0 >= s0:
            spans.append((s0, e0, iv))

    # pass 2: restore + encode
    # (read by the probe: frames and audio are moved back to where the earliest stream began)
    start, tb = info.origin_pts, info.time_base
    frame_bytes = W * H * 3 // 2
    cap = max(4, min(FIT_FRAMES, BUFFER_BYTES // frame_bytes))
    by_start = {s0: k for k, (s0, _, _) in enumerate(spans)}
    rejected: list[int] = []
    bank = PhaseBank()
    # the plausible intervals' own core opacity estimates and their mattes (for the readings against
    # clean plates), by place (a place the mark returns to, or an interval split in two, reads its
    # scenery's bias again: one vote per place)
    a0s: list[tuple[tuple[int, int, int, int], list[float], list[IntervalMatte]]] = []

    # streaming: the opacity read at the first places, from a quick decode of their first frames
    # (see early_a0s), standing in for those places until their own mattes are built
    early: list[tuple[tuple[int, int, int, int], float, float]] = []  # (box, opacity, its weight)

    def vote_a0(box: tuple[int, int, int, int], m: IntervalMatte) -> None:
        for b, v, ms in a0s:
            if overlaps(b, box):
                v.append(m.a0)
                ms.append(m)
                return
        a0s.append((box, [m.a0], [m]))

    def pooled_a0() -> float | None:
        """The mark's opacity, the same at every position: read against clean plates where any
        place had one (within 0.005 of the truth on the wm_eval cases; a fill of the surroundings
        is off by up to 0.03 over bright grass: 5-15 levels after un-blending), else the median of
        the places' own estimates once there are three, each weighted by how well its scenery lets
        it read (see ``IntervalMatte.a0_weight``: the real yellow_brick_road's place over dark hair
        reads 0.796, its cloud body's pixels 0.794-0.804 frame by frame against the fill around,
        its place over a bright sky 0.774; their plain median, 0.790, left the cloud over the hair
        4-10 levels light)."""
        if not POOL_A0:
            return None
        read = [np.median([v for m in ms for v in m.a0_votes]) for _, _, ms in a0s
                if any(m.a0_votes for m in ms)]
        if read:
            return float(np.median(read))
        own = [(float(np.median(v)), float(np.mean([m.a0_weight for m in ms]))) for _, v, ms in a0s]
        own += [(a, w) for b, a, w in early if not any(overlaps(b, b2) for b2, _, _ in a0s)]
        if len(own) < 3:
            return None
        return _weighted_median(own)

    def share_a0(m: IntervalMatte) -> None:
        # the same mark at every position: the pooled opacity (plate readings, else the weighted
        # median of the positions' estimates, each read against a fill of its own scenery) is steadier
        pooled = pooled_a0()
        if pooled is not None:
            m.set_a0(pooled)

    mattes: dict[int, IntervalMatte] = {}
    phase: dict[int, int] = {}

    def crop(yuv: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        x0, y0, x1, y1 = box
        return yuv[:H][y0:y1, x0:x1]

    def matte(frames: list[np.ndarray], box: tuple[int, int, int, int], **kw: Any) -> IntervalMatte:
        """The matte of the mark in ``box`` over ``frames``; a box side at the frame's edge may cut
        the mark (the picture was cropped through it): no margin of scenery is looked for there."""
        x0, y0, x1, y1 = box
        return IntervalMatte([crop(f, box) for f in frames], edges=(y0 <= 0, y1 >= H, x0 <= 0, x1 >= W), **kw)

    def build(k: int, fit: list[np.ndarray], register: bool = True, first: IntervalMatte | None = None
              ) -> IntervalMatte:
        """The interval's matte from its first frames; registered in the phase bank if plausible
        (unless ``register`` is False: the caller registers it later). ``first``: its matte from
        those frames in the detected box, already estimated."""
        iv = spans[k][2]
        m = first or matte(fit, iv.box)
        ok = m.plausible(fit, iv.box)
        hint = pooled_a0()
        if not ok and hint is not None:
            # static bright scenery joined to the mark's core pulls its opacity off: keep the core
            # pixels that agree with the opacity measured at the mark's other places
            alt = matte(fit, iv.box, a0_hint=hint)
            if alt.plausible(fit, iv.box):
                m, ok = alt, True
        # scenery that matched like the mark (a static bright patch): another place that matched
        # over the same frames may hold the mark
        for box in [] if ok else iv.alternatives:
            alt = matte(fit, box)
            if alt.plausible(fit, box):
                m, iv.box, ok = alt, box, True
                break
        for _ in range(CUT_STEPS if ok else 0):
            wider = complete(iv, m, fit)
            if wider is m:
                break
            m = wider
        if not ok:
            m.found = False
            rejected.append(iv.start)
        else:
            if register:
                bank.register(k, m.mean, m.env, m.core)
            vote_a0(iv.box, m)
            share_a0(m)
        m.span = iv.end - iv.start + 1  # (its frames, not only those fitted: see IntervalMatte._swollen)
        mattes[k] = m
        return m

    def complete(iv: Interval, m: IntervalMatte, fit: list[np.ndarray]) -> IntervalMatte:
        """A box that cuts the mark (the often covered pixels run into the box's left or right
        side: discovery found part of it) is widened on that side by half its width, kept if
        the wider matte holds 10 % more core or more and is still plausible."""
        x0, y0, x1, y1 = iv.box
        # a box about as wide as the other positions' holds the whole mark already: what runs into
        # its side is scenery (a tree beside the text)
        widths = [sp[2].box[2] - sp[2].box[0] for sp in spans if sp[2] is not iv]
        if widths and x1 - x0 >= CUT_NARROW * max(widths):
            return m
        left, right = m.cut_sides(CUT_PX, CUT_ROWS)
        left, right = left and x0 > 0, right and x1 < W
        grow = (x1 - x0) // 2 & ~1
        if not (left or right):
            return m
        box = (max(0, x0 - grow) if left else x0, y0, min(W, x1 + grow) if right else x1, y1)
        wide = matte(fit, box)
        # the rest of a cut mark adds a good share of core; bright scenery at the side adds little
        if wide.core.sum() < CUT_GAIN * m.core.sum() or not wide.plausible(fit, box):
            return m
        iv.box = box
        return wide

    def learn(k: int, t: int, yuv: np.ndarray) -> None:
        iv, m = spans[k][2], mattes[k]
        if not m.found:
            return
        b = m.bright(crop(yuv, iv.box))
        # only frames that show the whole mark at full opacity (not a fade in or out) vouch for
        # where it is; an interval whose animation frame is unknown vouches for all frames at once
        if m.core.any() and float(b[m.core].mean()) >= 0.9:
            if iv.start > 0 or k in phase:
                bank.add(k, t - iv.start + phase.get(k, 0), b)
            else:
                bank.add_unphased(k, b)

    # per interval: its first frame showing the mark at full opacity (found before it is restored)
    first_full: dict[int, int] = {}

    def find_first_full(k: int, frames: Iterable[tuple[int, np.ndarray]],
                        earlier: Iterable[tuple[int, np.ndarray]] = ()) -> None:
        """Interval ``k``'s first frame at full opacity among ``frames`` ((t, yuv) from its padded
        start on, in order), its opacity settled; ``earlier``: the frames just before them, in
        order (the frame before a fade-in can be one)."""
        m, box = mattes.get(k), spans[k][2].box
        if m is not None and m.found:
            seen: deque[tuple[int, np.ndarray]] = deque(((t, crop(f, box)) for t, f in earlier), maxlen=FADE_IN + 1)
            for t, yuv in frames:
                yc = crop(yuv, box)
                if m.at_full(yc):
                    first_full[k] = t
                    # (the frame just before those read as a fade-in: without the mark)
                    m.set_fade_in(yc, seen[0][1] if seen and seen[0][0] == t - FADE_IN - 1 else None)
                    return
                seen.append((t, yc))

    def prior(k: int, t: int) -> np.ndarray | None:
        iv = spans[k][2]
        if not mattes[k].found:
            return None
        p = None if iv.start == 0 and k not in phase else bank.prior(k, t - iv.start + phase.get(k, 0))
        # animation frame unknown or unseen elsewhere: the bound over the whole animation
        return p if p is not None else bank.prior_any(k)

    def fit_range(k: int) -> range:
        """The frames interval ``k``'s matte is fitted on: its own (not the padding frames around
        it), ``cap`` at most."""
        s0, _, iv = spans[k]
        fit0 = max(s0, iv.start)
        return range(fit0, min(iv.end, fit0 + cap - 1) + 1)

    def early_a0s(seen: dict[tuple[int, tuple[int, int, int, int]], np.ndarray] | None = None
                  ) -> list[tuple[tuple[int, int, int, int], float | None, float]]:
        """Streaming: an interval's matte is built when the stream reaches it, so the first two
        places would keep their own opacity estimates (read against a fill of their own scenery:
        off by up to 0.03, 5-15 levels after un-blending; the real yellow_brick_road's right-middle
        place came out 8 levels dark) where held mode pools every place's. The places up to the
        third that look like the mark are read first, each from its interval's first frames decoded
        once more (seconds of video; one interval's frames in memory at a time) as its matte would
        read them. Returns every place read, with its opacity or None where it failed (see
        _lone_place). ``seen``: filled with the luma the mark's white is read from (see
        watermark.tone), by (frame, box), at the first TONE_PLACES intervals that can be read; the
        frames are mapped by ``tone`` where it is set."""
        reads: list[tuple[tuple[int, int, int, int], float | None, float]] = []
        wanted: dict[int, list[tuple[int, int, int, int]]] = {}
        for box, s, e in white_places() if seen is not None else []:
            for t in frames_read(s, e):
                wanted.setdefault(t, []).append(box)

        def passed() -> list[tuple[int, int, int, int]]:
            return [b for b, a, _ in reads if a is not None]

        def unread(k: int) -> int:
            """The first interval from ``k`` on at a place not read yet (len(spans): none)."""
            while k < len(spans) and (not fit_range(k) or any(overlaps(b, spans[k][2].box) for b in passed())):
                k += 1
            return k

        k, fit = unread(0), []
        for fr in iter_frames(input_path):
            if seen is not None:
                for box in wanted.get(fr.index, []):
                    seen[fr.index, box] = crop(fr.yuv, box).copy()
            if tone is not None:
                tone.to_model(fr.yuv[:H])
            if k == len(spans) or len(passed()) >= 3:
                break
            frames = fit_range(k)
            if fr.index < frames.start:
                continue
            fit.append(fr.yuv)
            if fr.index < frames[-1]:
                continue
            box = spans[k][2].box
            m = matte(fit, box)
            reads.append((box, m.a0 if m.plausible(fit, box) else None, m.a0_weight))
            k, fit = unread(k + 1), []
        return reads

    def white_places() -> list[tuple[tuple[int, int, int, int], int, int]]:
        """The intervals the mark's white is read at (the first TONE_PLACES it can be read at; see
        watermark.tone): (box, first frame, last frame)."""
        return [(iv.box, iv.start, iv.end) for _, _, iv in spans if frames_read(iv.start, iv.end)][:TONE_PLACES]

    def read_tone(luma: Callable[[int, tuple[int, int, int, int]], np.ndarray],
                  have: Callable[[tuple[int, tuple[int, int, int, int]]], bool] = lambda key: True) -> ToneMap | None:
        """The map to the model's levels for a video whose mark's white reads off 235, else None
        (``luma(t, box)``: frame t's luma in the box; ``have``: is it at hand)."""
        places = [pl for pl in white_places() if all(have((t, pl[0])) for t in frames_read(pl[1], pl[2]))]
        return tone_map(luma, places, [b for _, _, iv in spans for b in (iv.box, *iv.alternatives)], (H, W))

    # a video whose tones were edited shows the mark's white elsewhere than 235: where still plates
    # tell it, the frames' luma around the boxes is mapped so it lands there (and back as written)
    tone: ToneMap | None = None
    if held is not None and spans:
        tone = read_tone(lambda t, box: crop(held[t][0], box))
        if tone is not None:
            for yuv, _ in held:
                tone.to_model(yuv[:H])

    if held is not None:
        # every frame is at hand: learn the animation from ALL intervals before restoring any;
        # an interval that starts with the video is phased against the others afterwards
        order = sorted(range(len(spans)), key=lambda k: spans[k][2].start == 0)

        def fit_frames(k: int) -> list[np.ndarray]:
            return [held[t][0] for t in fit_range(k)]

        # the intervals' first estimates are independent: made side by side (NumPy/OpenCV on whole
        # stacks, mostly outside the GIL); what depends on the others' follows in order
        firsts = pmap(lambda k: matte(fit_frames(k), spans[k][2].box), order)
        for k, first in zip(order, firsts, strict=True):
            s0, e0, iv = spans[k]
            m = build(k, fit_frames(k), register=False, first=first)
            near = range(iv.start - 1, max(-1, iv.start - 1 - PLATE_REACH), -1)
            m.set_plates(
                [crop(held[t][0], iv.box) for t in near],
                [crop(held[t][0], iv.box) for t in range(iv.end + 1, min(n, iv.end + 1 + PLATE_REACH))],
            )
            ends = sorted(set(range(iv.start, min(iv.end, iv.start + PLATE_REACH - 1) + 1))
                          | set(range(max(iv.start, iv.end - PLATE_REACH + 1), iv.end + 1)))
            m.prevote([crop(held[t][0], iv.box) for t in ends])
            if iv.start == 0:
                # the video began inside this interval: the mark holds each place for the same
                # number of frames, so the complete intervals' length says how far into its
                # animation; without a complete interval the phase is unknown: it gets the bound
                # over the whole animation and lends the others where it was often bright
                full = [sp[2].end - sp[2].start + 1 for sp in spans if sp[2].start > 0 and sp[2].end < n - 1]
                if full:
                    phase[k] = max(0, int(np.median(full)) - (iv.end + 1))
        if _lone_place([(spans[k][2].box, m.found) for k, m in mattes.items()], [sp[2] for sp in spans]):
            for k, m in mattes.items():
                if m.found:
                    m.found = False
                    rejected.append(spans[k][2].start)
        # the bank's first interval is every other's reference: the one whose always-covered core
        # is smallest holds the least scenery (a bright card beside one position joins its core),
        # unless another lets more places register (a core that missed half the text over a white
        # sky is small too, and the others failed to match it: no place got a prior)
        found = sorted((k for k in mattes if mattes[k].found), key=lambda k: int(mattes[k].core.sum()))
        for k in _reference_first(found, mattes):
            bank.register(k, mattes[k].mean, mattes[k].env, mattes[k].core)
        for k in order:
            s0, e0, iv = spans[k]
            for t in range(max(iv.start, s0), e0 + 1):
                learn(k, t, held[t][0])
        pooled = pooled_a0()  # every position's estimate is in now
        if pooled is not None:
            for m in mattes.values():
                m.set_a0(pooled)
        for k, (s0, e0, _) in enumerate(spans):
            find_first_full(k, ((t, held[t][0]) for t in range(s0, min(e0, s0 + cap - 1) + 1)),
                            ((t, held[t][0]) for t in range(max(0, s0 - FADE_IN - 1), s0)))
        # the @handle line is under the mark at every place or at none: the places' median core
        # shape decides for all (one place's core can take scenery in or miss the line), or most
        # places' cores showing the line under the text (real marks: see IntervalMatte.handle_line)
        aspects = [a for a in (m.core_aspect() for m in mattes.values() if m.found) if a is not None]
        if len(aspects) >= 2:
            lines = [m.handle_line() for m in mattes.values() if m.found]
            has = float(np.median(aspects)) < HANDLE_ASPECT or 2 * sum(lines) > len(lines)
            for m in mattes.values():
                m.handle = has
    elif spans:
        seen: dict[tuple[int, tuple[int, int, int, int]], np.ndarray] = {}
        reads = early_a0s(seen)
        tone = read_tone(lambda t, box: seen[t, box], seen.__contains__)
        if tone is not None:  # (read again, the frames mapped: only a video whose tones were edited)
            reads = early_a0s()
        seen.clear()
        if _lone_place([(b, a is not None) for b, a, _ in reads], [sp[2] for sp in spans]):
            rejected += [sp[2].start for sp in spans]
            spans, by_start = [], {}
        elif POOL_A0:
            early.extend((b, a, w) for b, a, w in reads if a is not None)

    clock.mark("mattes")
    try:
        with VideoWriter(
            output_path, width=W, height=H, fps=info.fps, time_base=tb, audio_from=input_path, preset=preset, crf=crf,
            like=facts.shown(info), display_matrix=facts.output_matrix, origin=start * tb,
        ) as w:
            reencoded = w.audio_reencoded
            cur: int | None = None
            buf: list[tuple[int, np.ndarray, int | None]] = []
            # streaming: the frames just before an interval are its clean views (those after it
            # come too late to help)
            recent: deque[np.ndarray] = deque(maxlen=PLATE_REACH)
            before: list[np.ndarray] = []
            done = 0

            def emit(yuv: np.ndarray, pts: int | None) -> None:
                nonlocal done
                if tone is not None:
                    tone.to_video(yuv[:H])
                w.write(yuv, None if pts is None else pts - start, owned=True)  # (never written to again)
                done += 1
                if done % 30 == 0:
                    _progress(progress, 0.25 + 0.75 * done / n)

            def restore(k: int, t: int, yuv: np.ndarray) -> np.ndarray:
                iv = spans[k][2]
                # the animation's last frames (before a jump, or where the video ends) move the cloud
                ending = iv.end - END_FRAMES < t <= iv.end + _pad(iv)
                fade = t >= first_full.get(k, t) - FADE_IN
                # (past the fade-in and before the last frames: no fade, see restore.SETTLED)
                settled = k in first_full and first_full[k] + FADE_IN <= t <= iv.end - END_FRAMES - FADE_IN
                return mattes[k].restore(yuv, iv.box, prior(k, t), ending, fade, settled)

            def flush_buffer() -> None:
                nonlocal buf
                assert cur is not None
                iv = spans[cur][2]
                own = [f for t, f, _ in buf if iv.start <= t <= iv.end]
                m = build(cur, own or [f for _, f, _ in buf])
                m.set_plates([crop(f, iv.box) for f in before])
                m.prevote([crop(f, iv.box) for t, f, _ in buf[:PLATE_REACH] if iv.start <= t <= iv.end])
                share_a0(m)
                s0 = buf[0][0]
                find_first_full(cur, ((t, f) for t, f, _ in buf),
                                reversed([(s0 - 1 - i, f) for i, f in enumerate(before[:FADE_IN + 1])]))
                for t, f, _ in buf:
                    learn(cur, t, f)
                for t, f, p in buf:
                    emit(restore(cur, t, f), p)
                buf = []

            def frames() -> Iterator[tuple[int, np.ndarray, int | None]]:
                if held is None:
                    for fr in iter_frames(input_path):
                        if tone is not None:
                            tone.to_model(fr.yuv[:H])
                        yield fr.index, fr.yuv, fr.pts
                    return
                for i in range(len(held)):
                    yuv, pts = held[i]
                    held[i] = (_EMPTY, None)  # let emitted frames go
                    yield i, yuv, pts

            # (interval, frame): the next interval began before this one's padding ended (the
            # detected jump came a frame or two early, or the mark fades out): its box is still
            # restored (self-gating) in the next interval's first frames
            tail: tuple[int, int] | None = None
            for t, yuv, pts in frames():
                if tail is not None:
                    if t <= tail[1]:
                        yuv = restore(tail[0], t, yuv)
                    else:
                        tail = None
                if cur is None and t in by_start:
                    cur, buf = by_start[t], []
                    before = list(reversed(recent)) if held is None else []
                    if cur in mattes and A0_RESHARE:
                        # the places restored so far may have read the opacity against clean
                        # plates since every matte took the pooled estimate (as a streamed
                        # video's interval takes it when its matte is built)
                        share_a0(mattes[cur])
                if held is None:
                    recent.append(yuv)
                if cur is None:
                    emit(yuv, pts)
                    continue
                if cur not in mattes:
                    buf.append((t, yuv, pts))
                    if t == spans[cur][1] or len(buf) >= cap:
                        flush_buffer()
                else:
                    if held is None:
                        learn(cur, t, yuv)
                    emit(restore(cur, t, yuv), pts)
                if t == spans[cur][1]:
                    if spans[cur][2].end + _pad(spans[cur][2]) > t and cur in mattes:
                        tail = (cur, spans[cur][2].end + _pad(spans[cur][2]))
                    cur = None
            if buf and cur is not None:
                flush_buffer()
    except BadMedia:
        raise
    except Exception as e:
        raise TaskFailed(f"watermark removal failed: {e}") from e
    clock.mark("restore")
    _progress(progress, 1.0)
    # intervals whose matte did not look like a white overlay were left untouched: not reported
    intervals = [iv for iv in intervals if iv.start not in rejected]
    return RemovalReport(
        watermark_found=bool(intervals),
        frames=n,
        fps=info.fps,
        width=W,
        height=H,
        positions=[iv.to_dict() for iv in intervals],
        seconds_elapsed=round(clock.elapsed(), 3),
        duration=info.duration,
        has_audio=info.has_audio,
        audio_reencoded=reencoded,
        mark_white=None if tone is None else round(tone.white, 1),
        encoder=f"libx264 {preset} crf {crf}",
        timings=clock.times,
    )
