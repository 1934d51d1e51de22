"""Watermark localisation without weights, learned from each video's own frames.

What we know about the mark (see docs/watermark.md): white, core opacity ~0.74, soft 1-px edges,
the same shape (cloud + "Sora", optionally an ``@handle`` line; mirrored at right-middle) at each
of a few positions, held still for ~67 (or ~115) frames, then jumping. The scene moves under it.

Pass 1 works on luma at a reduced "analysis" scale (short side ``ANALYSIS_SHORT``), in windows of
at most ``WINDOW`` frames (so memory is flat in video length):

1. Discovery. Frames are grouped in chunks of ``CHUNK``; the per-pixel temporal MIN of each chunk
   keeps whatever is bright in every frame of the chunk (the mark: at least ``a0*235`` luma) and
   drops moving scenery. The per-pixel low percentile of the chunk minima over the window is the
   "always there" level (static scenery); the mark is present in only some chunks (it jumps), so
   ``chunk min - that level`` leaves it as a blob. Blobs of the mark's size and aspect that recur
   in >= 2 chunks at one place become candidate locations, each with a template (band-pass of its
   mean chunk minimum, i.e. the mark's own shape as seen in this video).
2. Validation. A candidate must be white (its strokes bright in the frames it is seen in) and not
   present all the time (static scenery is).
3. Per-frame scoring: normalised cross-correlation (NCC) of each frame's band-pass against every
   location template (small search window) -> one score per frame and location.
4. Interval model: a Viterbi pass over the whole video with states {none, location 1..k}, a
   switching penalty and a minimum run length, so the mark's position is piecewise constant
   (single frames cannot blink) and jump frames fall where the scores cross.
5. Recovery: the family's tightest template (the mark's shape as learned from this video) is
   searched for over the WHOLE of every frame; in frames the interval model labels "no mark", a
   match held at one place for >= ``MIN_RUN`` frames becomes an interval (positions whose blobs
   discovery missed, short intervals at the clip's start or end). A run shorter than that at the
   video's very start or end, at a place the mark holds elsewhere, is an interval too (the cycle
   cut by the video's ends).
6. Busy bright scenes: on a textured near-white scene the mark's excess in the chunk minima is no
   larger than the scene's blobs, and its blobs merge with theirs. Where the intervals found cover
   few frames or come in short pieces (the mark is on every frame and holds a place for seconds),
   discovery tries again over the frames at hand with an extra blob threshold, places held in
   consecutive chunks only, and boxes read over the chunks whose excess agrees; its chunks are
   16 frames long (the moving scene's minimum sinks further below the mark's; 8 again where that
   finds too little: a hold too short for two such chunks) and its frames are scored as the mean
   of 7 (the still mark adds up, the scene's texture thins out); the try with more frames well
   matched stands.
7. A mark that never jumps: a short clip cut from within one of its holds shows the mark at one
   place in every chunk, as still scenery is, and discovery's "not there all the time" rule drops
   it. Where the tries found nothing, or one place only, in a video of one window, discovery runs
   once more over chunks of ``FIXED_CHUNK`` frames with no "always there" level subtracted,
   keeping bright still structure only where the scene around it moves (``FIXED_AROUND``) and its
   strokes vary by a share of that scene's variation, as a white overlay's do (``FIXED_SHARE``: an
   opaque logo barely varies). A still camera leaves a fixed mark untold from still scenery.
8. An interval at the video's start (end) loses its first (last) frames where its place shows
   neither the pattern nor bright strokes (``EDGE_BARE``): a clip begun a few frames before a
   jump, whose first frames the interval model gave to the next place.

Nothing about position or timing is hard-coded; the size/aspect bounds are broad sanity bounds
relative to the frame's short side.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

import cv2
import numpy as np

from vidgate.watermark.fill import blur
from vidgate.watermark.ncc import match_textured, zero_nonfinite
from vidgate.watermark.pixelstats import percentile0, std0

SCORE_THREADS = min(4, os.cpu_count() or 1)  # per-frame scoring runs on this many threads
PAIR_CACHE = 4096  # template pairs whose cross-NCC is kept
ANALYSIS_SHORT = 320  # analysis-scale short side (px)
WINDOW = 450  # frames of analysis luma held for discovery (flat memory)
CONTEXT = 150  # frames kept from the previous window as context for the next one
CHUNK = 8  # frames per chunk minimum
MEDIAN_BOX = 4  # a place seen in 3 to this many chunks whose mean excess fails the bounds: read from their median
NCC_ON = 0.30  # per-frame NCC above which a frame supports a location
SWITCH = 2.5  # Viterbi cost of a position change (in NCC units)
MIN_RUN = 8  # shorter runs are blips
RUN_NCC = 0.55  # a run of frames is the mark only if its mean NCC reaches this
ASPECT = (1.7, 4.6)  # width / height of the mark's box (2.9 logo + "Sora", ~2.2 with a handle line)
FAMILY_NCC = 0.75  # two locations show the same mark when their templates match this well
SEARCH_NCC = 0.55  # template search: a chunk shows the mark's pattern where NCC >= this
WHITE_Y = 150  # the mark's strokes are at least this bright (luma, 0-255) where it sits
# a place whose strokes are no brighter than this share in a frame is not matched there until it
# turns out to be one of the family's (-1: match every place in every frame): its presence is 0
# whatever the match (see _presence), so only the family's own scores are read in those frames
DARK_SKIP = 0.2
STILL_FRAMES = 4 * CHUNK  # frames (whole chunks) over which still structure is measured
STILL_SNR = 2.0  # |mean band-pass| / its temporal std (+1) of structure held still
FAMILY_MAX = 6  # the mark sits at a few places (3 in Sora's cycle); more look-alikes are scenery
BLOB_LEVELS = (1, 4, 16)  # discovery's blob thresholds, in multiples of the chunk's noise threshold
# busy bright scenes (a textured near-white scene: the mark's excess is no larger than the scene's
# blobs in the chunk minima), discovery's second try where the first found the mark in too few frames
BUSY_COVER = 0.5  # the first try's intervals cover less than this share of the frames
BUSY_HOLD = 3 * CHUNK  # ... or the inner intervals are mostly shorter than this (frames; Sora holds 60+)
BUSY_LEVELS = (1, 2, 4, 16)  # blob thresholds (a level between: the mark's strokes apart from the scene)
BUSY_RUN_NCC = 0.5  # a run's mean NCC (the templates read from a busy scene's chunk minima carry some of it)
# the busy try's chunk lengths, in order until one finds the mark well: over 16 frames the moving
# scene's minimum sinks further below the mark's (held 60+ frames, so whole in two chunks in a
# row); 8 serves holds too short for that (a re-encode at a lower frame rate)
BUSY_CHUNKS = (16, CHUNK)
BUSY_SMOOTH = 3  # the busy try scores the mean of 2*this+1 frames: the still mark adds up, the scene thins out
CHUNK_AGREE = 0.5  # a place's chunk counts where its excess matches a neighbouring chunk's this well (NCC)
JUMP_LINK_NCC = 0.4  # two places the mark jumps between are one family from this template match on
JUMP_WORTH = 60  # a jump seen between two places is evidence worth this many frames of the mark there
JUMP_STEP = 0.5  # a place's presence (0..1) changes at least this much where the mark leaves or arrives
JUMP_HOLD = 40  # frames: a jump counts as the mark's when one of its places is on this long (Sora holds 67+)
BP_SPREAD = 2  # px: how far the band-pass's response reaches beyond a stroke
STILL_BOX_AREA = 1.3  # a family box this many times the tightest one's area is re-found from stillness
EXTENT_CAP = 1.5  # a place's extent wider or taller than this times the family's others' is cut back
BAR_FLAT = 6  # levels: edge columns (rows) varying no more over a window are a pillarbox (letterbox) bar
BAR_REACH = 26  # px: the band-pass's reach (coarse sigma 6) and then some, kept around the picture
JUMP_NCC_FLOOR = 0.4  # NCC at which a place reads as absent in the jump test (presence's own: 0.2)
JUMP_GAP = 4  # frames between one place going dark and the next lighting up at a jump
EDGE_RUNS = True  # short runs at the video's start and end (see Detector._edge_runs)
EDGE_BARE = True  # an interval's first (last) frames at the video's start (end) without the mark are cut off
LEAD_INS = True  # ... and the mark found elsewhere in them, at a place seen nowhere else (see Detector._lead_ins)
LEAD_FRAMES = 2 * MIN_RUN  # frames at the video's start (end) left to no interval that are searched so
LEAD_TEMPLATE = 16  # frames of the interval next to them whose mean gives the pattern searched for
LEAD_FADE = 2  # frames past it the mark may still show fading there (restored while the place is not bare)
LEAD_ANCHORS = 3  # frames matching the mark's pattern (RUN_NCC) at one place (+-2 px) it takes to hold one
BARE_NCC = 0.15  # ... where its place shows no pattern (NCC under NCC_ON) with dark strokes, or none at all (this)
JUMP_HEAD = 2 * MIN_RUN  # frames after (before) a jump over which a weak run's template must hold
# a mark fixed at one place through a whole short video (a trimmed excerpt: the mark never jumps, so
# it is there "always", as static scenery is): discovery's last try, where the others found nothing
# or one place only, reads it as still bright structure whose surroundings move (see Detector.finish)
FIXED_CHUNK = 16  # frames per chunk there (the scene moves further, its SD grows; the mark's stays a share of it)
FIXED_AROUND = 6.0  # levels of temporal SD the scene around must show (a moving scene, not a still one)
FIXED_SHARE = (0.1, 0.5)  # the strokes' temporal SD over the scene's around them: (1 - a0) ~ 0.26


@dataclass
class Location:
    """A place where the mark sits, at analysis scale: bbox (x0, y0, x1, y1) and a template."""

    bbox: tuple[int, int, int, int]
    template: np.ndarray  # band-pass pattern over bbox, float32
    strokes: np.ndarray  # bool mask over bbox: the bright strokes
    chunks: int = 0  # how many chunks it was seen in
    top: np.ndarray | None = None  # mean top-hat of the chunk minima over bbox (search template)
    extent: tuple[int, int, int, int] | None = None  # bbox grown to faint parts (handle line, edges)
    median: bool = False  # its box was read from its chunks' median excess (see _add_clusters)


@dataclass
class Interval:
    """Frames [start, end] (inclusive) with the mark at one location; box at full resolution."""

    start: int
    end: int
    loc: int
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (full resolution, with margin)
    score: float = 0.0
    # other places that matched over the same frames, best first (full resolution): where the
    # restorer finds the chosen box's content is not a white overlay, it tries these
    alternatives: list[tuple[int, int, int, int]] = field(default_factory=list)
    # frames the restorer widens it by on each side (the mark fades in and out around a detected
    # jump); None: the restorer's own number (see Detector._lead_ins)
    pad: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {"start": self.start, "end": self.end, "box": list(self.box), "score": round(self.score, 3)}


def analysis_scale(width: int, height: int) -> float:
    return min(1.0, ANALYSIS_SHORT / min(width, height))


def bandpass(y: np.ndarray) -> np.ndarray:
    """Difference of Gaussians (stroke-scale structure) -> float32."""
    f = y.astype(np.float32)
    return cv2.GaussianBlur(f, (0, 0), 0.8) - cv2.GaussianBlur(f, (0, 0), 2.5)


def _area(b: tuple[int, int, int, int]) -> int:
    return (b[2] - b[0]) * (b[3] - b[1])


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    ua = _area(a) + _area(b) - inter
    return inter / ua if ua > 0 else 0.0


def _tightness(loc: Location) -> tuple[int, int]:
    """Sort key of the cleanest view of the mark: the smallest box, then the smallest extent (two
    places can have boxes of one size; the one whose extent grew less has less scenery around it)."""
    return _area(loc.bbox), _area(loc.extent or loc.bbox)


def _near(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Do the boxes touch once each is grown by half its height?"""
    ga, gb = (a[3] - a[1]) // 2, (b[3] - b[1]) // 2
    return _iou((a[0] - ga, a[1] - ga, a[2] + ga, a[3] + ga), (b[0] - gb, b[1] - gb, b[2] + gb, b[3] + gb)) > 0


def _contained(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box's area."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    small = min(_area(a), _area(b))
    return inter / small if small > 0 else 0.0


class _OpenCVOneThread:
    """Keeps OpenCV on one thread while any thread is inside (OpenCV's thread count is the
    process'): the count found on the first entry is put back on the last exit, so overlapping
    or nested users in one process leave it as it was."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self._saved = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if not self._inside:
                self._saved = cv2.getNumThreads()
                cv2.setNumThreads(1)
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if not self._inside:
                    cv2.setNumThreads(self._saved)


_opencv_one_thread = _OpenCVOneThread()


def pmap(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    """``[fn(x) for x in items]`` on ``SCORE_THREADS`` threads: the detector's per-frame and per-chunk
    work is independent and mostly OpenCV, which releases the GIL."""
    items = list(items)
    workers = min(SCORE_THREADS, len(items))
    if workers <= 1:
        return [fn(x) for x in items]
    # each item's OpenCV calls stay on its own thread: OpenCV's pool splitting these small images
    # across the same cores only adds hand-offs (yellow_brick_road's scoring 2.24 -> 1.98 s)
    with _opencv_one_thread.held(), ThreadPoolExecutor(workers) as ex:
        return list(ex.map(fn, items))


def _extend(flags: np.ndarray, lo: int, hi: int, gap: int) -> tuple[int, int]:
    """Grow the span [lo, hi) over the flagged entries on either side, bridging runs of fewer than
    ``gap`` unflagged entries."""
    t = hi
    while t < len(flags):
        if flags[t]:
            hi = t + 1
        elif t - hi >= gap:
            break
        t += 1
    t = lo - 1
    while t >= 0:
        if flags[t]:
            lo = t
        elif lo - t >= gap:
            break
        t -= 1
    return lo, hi


def _union(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def ncc_max(region: np.ndarray, tpl: np.ndarray) -> float:
    """Best normalised cross-correlation of tpl inside region (0 where undefined)."""
    if tpl.shape[0] < 4 or tpl.shape[1] < 4 or region.shape[0] < tpl.shape[0] or region.shape[1] < tpl.shape[1]:
        return 0.0
    try:
        res = cv2.matchTemplate(region, tpl, cv2.TM_CCOEFF_NORMED)
    except cv2.error:
        return 0.0
    best = float(res.max())  # (a NaN or +inf anywhere makes it non-finite: then the slow way)
    if math.isfinite(best) and best >= 0:
        return best
    return float(zero_nonfinite(res).max())


def _mark_sized(w: Any, h: Any, short: int) -> Any:
    """Broad sanity bounds on the mark's box (analysis px) relative to the frame's short side (of
    ints, or elementwise of arrays)."""
    return (short * 0.06 <= w) & (w <= short * 0.5) & (short * 0.025 <= h) & (h <= short * 0.25)


def _picture_box(ys: np.ndarray) -> tuple[int, int, int, int]:
    """The frames' picture inside flat bars at their edges (a pillarboxed or letterboxed video): the
    columns and rows between the first and the last whose pixels vary by more than ``BAR_FLAT``
    levels over all of ``ys`` (frames, rows, columns); the whole frame when nothing is that flat."""
    lo, hi = ys.min(0), ys.max(0)
    cols = hi.max(0).astype(np.int16) - lo.min(0) > BAR_FLAT
    rows = hi.max(1).astype(np.int16) - lo.min(1) > BAR_FLAT
    h, w = ys.shape[1:]
    if not cols.any() or not rows.any():
        return 0, 0, w, h
    xs, yr = np.flatnonzero(cols), np.flatnonzero(rows)
    return int(xs[0]), int(yr[0]), int(xs[-1]) + 1, int(yr[-1]) + 1


def _median_padded(d: np.ndarray, total: int) -> float:
    """The median of the non-negative map ``d`` padded with zeros to ``total`` values (a map made over
    the picture inside bars, read as over the whole frame)."""
    ranks = sorted({(total - 1) // 2, total // 2})
    # (mostly zeros: the map is a blur of excess brightness on the few quiet bright pixels)
    if total - np.count_nonzero(d) > ranks[-1]:
        return 0.0
    if d.size >= total:
        return float(np.median(d))
    zeros = total - d.size
    flat = d.ravel()
    need = [r - zeros for r in ranks if r >= zeros]
    part = np.partition(flat, need) if need else flat
    vals = [0.0 if r < zeros else float(part[r - zeros]) for r in ranks]
    return float(np.mean(vals))


def _blobs(delta: np.ndarray, short: int, thr: float) -> list[tuple[int, int, int, int]]:
    """Mark-sized blobs of a chunk's excess brightness."""
    m = (delta > thr).astype(np.uint8)
    kx, ky = max(3, round(short * 0.035)) | 1, max(3, round(short * 0.02)) | 1
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (kx, ky)))
    _, _, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    # (the mark-sized ones first, in NumPy: the low threshold gives tens of specks a call)
    sized = _mark_sized(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT], short)
    out = []
    for x, y, w, h, area in stats[1:][sized].tolist():
        if not (ASPECT[0] <= w / h <= ASPECT[1]) or area < 0.2 * w * h:
            continue
        out.append((x, y, x + w, y + h))
    return out


def _blobs_levels(delta: np.ndarray, short: int, thr: float, levels: tuple[int, ...] = BLOB_LEVELS
                  ) -> list[tuple[int, int, int, int]]:
    """Mark-sized blobs at rising thresholds: at the lowest, the mark can merge with bright
    scenery around it (grass blades, a pale sky) into one shapeless blob; a higher threshold keeps
    the mark's strokes (brighter than the scenery's excess) and drops the scenery. A blob inside one
    already found at a lower threshold adds nothing."""
    out: list[tuple[int, int, int, int]] = []
    for lv in levels:
        for b in _blobs(delta, short, thr * lv):
            if not any(_contained(a, b) > 0.7 for a in out):
                out.append(b)
    return out


class Detector:
    """Streaming detector: feed luma frames (full resolution) with :meth:`add`, then :meth:`finish`."""

    def __init__(self, width: int, height: int, *, busy: bool = False, fixed: bool = False, chunk: int = CHUNK,
                 frames: int = 0) -> None:
        """``busy``: discovery with the busy bright scene's rules (the second try, see finish);
        ``fixed``: discovery of a mark fixed at one place in every chunk (the last try, see
        finish); ``chunk``: frames per chunk minimum; ``frames``: the frames expected (the
        container's count; 0: unknown), the analysis window's room made for them up front."""
        self.width, self.height = width, height
        self.scale = analysis_scale(width, height)
        self.aw = max(16, round(width * self.scale))
        self.ah = max(16, round(height * self.scale))
        self.short = min(self.aw, self.ah)
        self.locations: list[Location] = []
        self.scores: list[np.ndarray] = []  # per frame: NCC per location (grows as locations appear)
        self.bright: list[np.ndarray] = []  # per frame: fraction of the location's strokes that are bright
        self.unscored: list[np.ndarray] = []  # per frame: locations not matched yet (see DARK_SKIP)
        # analysis luma of the current window: its first _nbuf rows (written in place: stacking a
        # list of frames cost a copy of the window each time). Room for the expected frames is made
        # at once (np.zeros: pages are touched as frames arrive); growing it in steps copied the
        # frames so far and waited for the shrink thread (~0.15 s of main thread for 442 frames)
        self._buf = np.zeros((min(WINDOW, max(0, frames)), self.ah, self.aw), np.uint8)
        self._nbuf = 0
        # frames are shrunk on a thread of their own while the caller decodes the next ones
        self._shrinker: ThreadPoolExecutor | None = None
        self._shrinking: list[Future[np.ndarray]] = []
        self._first = 0  # frame index of _buf[0]
        self._scored = 0  # frames scored so far
        self.n = 0
        # per frame: best match of the family's template anywhere in the frame (ncc, x, y, master id)
        self.gsearch: list[tuple[float, int, int, int]] = []
        self._picture: tuple[int, int, int, int] | None = None  # inside flat bars, so far (see _picture_box)
        self.masters: list[tuple[tuple[int, int, int, int], tuple[int, int, int, int]]] = []  # (bbox, extent)
        self._chain: list[int] | None = None  # the family found by its jumps (see _jump_chain)
        self._partners: list[int] = []  # places outside the family the mark jumps to and from
        self._linked: tuple[tuple[Any, ...], np.ndarray] | None = None  # (locations' key, linked family)
        self._jumped: set[tuple[int, int]] = set()  # pairs of places seen jumping one to the other
        self._P: np.ndarray | None = None  # presence per scored frame and location (see _presence)
        self._S: np.ndarray = np.zeros((0, 0), np.float32)  # NCC per scored frame and location
        self._edges: list[tuple[int, int, int, int, float]] = []  # the jumps seen (see _jumps)
        # per family location: (region, sum of band-pass over the frames it was on, count): what
        # stays still there while the scene moves is the mark (see _still_box)
        self._still: dict[int, tuple[tuple[int, int, int, int], np.ndarray, int]] = {}
        self._window: tuple[np.ndarray, np.ndarray, list[np.ndarray], int] | None = None  # discovery's maps
        self._sigs: list[tuple[tuple[int, int, int, int], int]] = []  # locations as last scored
        # per location (by id): its strokes' pixels as flat indices into a frame, with the strokes
        # mask and box they were read from (see _bright_share)
        self._stroke_at: dict[int, tuple[np.ndarray, tuple[int, int, int, int], np.ndarray]] = {}
        # template pairs' cross-NCC: the family is re-linked as places come and go, and most pairs
        # stay the same (bigbuckbunny_landscape: ~1100 matches for ~250 pairs)
        self._pair_ncc: dict[tuple[Any, ...], float] = {}
        self._busy = busy
        self._fixed = fixed
        self._shares: list[np.ndarray] = []  # fixed: per chunk, its SD over the scene's around (see _shares_fit)
        self._chunk = chunk
        # frames averaged around each one for its scores (see BUSY_SMOOTH)
        self._smooth = BUSY_SMOOTH if busy else 0
        # finish found the mark doubtfully in a video longer than one window: its frames are gone,
        # the caller may feed them again to busy Detectors and keep the best (see busy_tries)
        self.wants_second_try = False

    def shrink(self, y: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        if self.scale >= 1.0:
            if out is None:
                return np.ascontiguousarray(y[: self.ah, : self.aw])
            out[...] = y[: self.ah, : self.aw]
            return out
        # (a two-step halve-then-area shrink is ~4x faster but shifts the discovery's box growth:
        # -1.2 dB on both bigbuckbunny cases; kept exact)
        return cv2.resize(y, (self.aw, self.ah), dst=out, interpolation=cv2.INTER_AREA)

    def add(self, y_full: np.ndarray) -> None:
        """Feed the next frame's luma; the caller must not write to ``y_full`` afterwards (it is
        shrunk on another thread)."""
        if self._nbuf == len(self._buf):  # grown in steps (a short video needs only its length)
            self._shrunk()
            more = np.zeros((min(WINDOW, max(2 * self._nbuf, 64)), self.ah, self.aw), np.uint8)
            more[: self._nbuf] = self._buf[: self._nbuf]
            self._buf = more
        if self._shrinker is None:
            self._shrinker = ThreadPoolExecutor(1, thread_name_prefix="vidgate-shrink")
        self._shrinking.append(self._shrinker.submit(self.shrink, y_full, self._buf[self._nbuf]))
        self._nbuf += 1
        self.n += 1
        if self._nbuf >= WINDOW:
            self._process(final=False)

    def _shrunk(self) -> None:
        """Wait for the frames being shrunk (their errors are raised here)."""
        for f in self._shrinking:
            f.result()
        self._shrinking = []

    # -- discovery ---------------------------------------------------------------------------
    def _process(self, final: bool) -> None:
        self._shrunk()
        if not self._nbuf:
            return
        ys = self._buf[: self._nbuf]
        first = self._scored - self._first  # this window's frames not scored yet
        pic = _picture_box(ys)
        self._picture = pic if self._picture is None else _union(self._picture, pic)
        self._discover(ys)
        self._score_window(ys, first, append=True)
        before = self._family(partners=False)
        P, edges = self._observe()
        if not np.array_equal(before, self._family(partners=False)):
            # the places the mark jumps between are another template family than discovery's:
            # search and tighten again with the mark's own template, and score again
            self._discover(ys, again=True)
            self._score_window(ys, first, append=False)
            P, edges = self._observe()
        if self._bloated():
            # many look-alikes: the mark is the set of places it jumps between (one goes dark as the
            # next lights up, again and again); the whole-frame search then uses its template
            chain = _jump_chain(P, edges)
            if chain is not None:
                self._chain = chain
        else:
            self._partners = _jump_partners(P, edges, self._family(partners=False))
        self._search_window(ys, first)
        self._gather_still(ys, first)
        self._score_family(ys)
        self._window = None
        self._scored = self._first + len(ys)
        if not final:
            keep = min(CONTEXT, self._nbuf)
            self._first += self._nbuf - keep
            self._buf[:keep] = self._buf[self._nbuf - keep: self._nbuf].copy()
            self._nbuf = keep

    def _observe(self) -> tuple[np.ndarray, list[tuple[int, int, int, int, float]]]:
        """Presence and jumps over the frames scored so far (see :func:`_jumps`); keeps what the
        family choice reads: the pairs of places seen jumping, the presence and NCC matrices."""
        S, Bm = self._matrix()
        P, edges = _jumps(S, Bm, [lc.bbox for lc in self.locations])
        self._jumped = {(min(i, j), max(i, j)) for _, i, j, _, _ in edges}
        self._P, self._S, self._edges = P, S, edges
        return P, edges

    def _gather_still(self, ys: np.ndarray, first: int) -> None:
        """Add this window's new frames to each family location's band-pass sum over the frames
        it is clearly on (see :meth:`_still_box`)."""
        if self._P is None:
            return
        fam = self._family(partners=False)
        g0 = self._first  # global index of ys[0]
        for v in np.nonzero(fam)[0]:
            loc = self.locations[v]
            region = loc.extent or loc.bbox
            ts = [t for t in range(first, len(ys)) if g0 + t < len(self._P) and self._P[g0 + t, v] >= 0.6
                  and self._S[g0 + t, v] >= RUN_NCC]
            if not ts:
                continue
            x0, y0, x1, y1 = region
            acc = np.asarray(sum(bandpass(ys[t][y0:y1, x0:x1]) for t in ts), np.float32)
            cnt = len(ts)
            old = self._still.get(int(v))
            if old is not None and old[0] == region:  # (a region that changed starts over)
                acc, cnt = acc + old[1], cnt + old[2]
            self._still[int(v)] = (region, acc, cnt)

    def _still_box(self, v: int, ref: Location) -> tuple[int, int, int, int] | None:
        """Where the mark is inside location ``v``'s region, from what stayed still there over the
        frames it was on (the mark's strokes keep their band-pass pattern; the moving scene's
        averages out): the box of that pattern's energy, or None when it is not about the size of
        the tightest view of the mark (``ref``)."""
        got = self._still.get(v)
        if got is None or got[2] < MIN_RUN:
            return None
        (x0, y0, _, _), acc, cnt = got
        e = cv2.GaussianBlur(np.abs(acc / cnt), (0, 0), 1.0)
        m = (e > 0.3 * float(np.percentile(e, 99.5))).astype(np.uint8)
        kx, ky = max(3, round(self.short * 0.035)) | 1, max(3, round(self.short * 0.02)) | 1
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (kx, ky)))
        n, lab = cv2.connectedComponents(m, connectivity=8)
        if n < 2:
            return None
        best = 1 + int(np.argmax([float(e[lab == i].sum()) for i in range(1, n)]))
        # the strokes themselves (the blur and the closing grew the blob by a pixel or two)
        raw = np.abs(acc / cnt)
        yy, xx = np.nonzero((lab == best) & (raw > 0.3 * float(np.percentile(raw, 99.5))))
        if not len(yy):
            return None
        # (the band-pass's response reaches ~2 px beyond a stroke's edge)
        bx, by = int(xx.min()) + BP_SPREAD, int(yy.min()) + BP_SPREAD
        bw, bh = int(xx.max()) + 1 - BP_SPREAD - bx, int(yy.max()) + 1 - BP_SPREAD - by
        rw, rh = ref.bbox[2] - ref.bbox[0], ref.bbox[3] - ref.bbox[1]
        if not (0.7 * rw <= bw <= 1.3 * rw and 0.6 * rh <= bh <= 1.4 * rh):
            return None
        return x0 + bx, y0 + by, x0 + bx + bw, y0 + by + bh

    def _score_window(self, ys: np.ndarray, first: int, append: bool) -> None:
        """Score the window's frames from ``first`` on against every location, appending the scores,
        or replacing those of the locations that changed since they were scored."""
        todo = range(first, len(ys))
        n0 = len(self.scores) - (0 if append else len(todo))
        sigs = [(lc.bbox, hash(lc.template.tobytes())) for lc in self.locations]
        only = None if append else [i for i, sg in enumerate(sigs) if i >= len(self._sigs) or self._sigs[i] != sg]
        self._sigs = sigs
        res = pmap(lambda t: self._score(self._scored_view(ys, t), only), todo)
        if append:
            for sc, br, sk in res:
                self.scores.append(sc)
                self.bright.append(br)
                self.unscored.append(sk)
            return
        # the unchanged places keep their scores (the window's rows were all scored together)
        changed = set(only or [])
        keep = [i for i in range(min(len(self.scores[n0]) if todo else 0, len(sigs))) if i not in changed]
        for j, (sc, br, sk) in enumerate(res):
            old_s, old_b, old_k = self.scores[n0 + j], self.bright[n0 + j], self.unscored[n0 + j]
            sc[keep], br[keep], sk[keep] = old_s[keep], old_b[keep], old_k[keep]
            self.scores[n0 + j], self.bright[n0 + j], self.unscored[n0 + j] = sc, br, sk

    def _score_family(self, ys: np.ndarray) -> None:
        """Match the family's places in the window's frames where they were skipped for their dark
        strokes (see ``DARK_SKIP``): the intervals read their scores in every frame."""
        fam = np.nonzero(self._family())[0]
        g0 = self._first

        def missing(t: int) -> list[int]:
            sk = self.unscored[g0 + t]  # (rows scored before a place appeared are shorter)
            return [v for v in fam if v < len(sk) and sk[v]]

        todo = [t for t in range(min(len(ys), len(self.unscored) - g0)) if missing(t)]

        def one(t: int) -> None:
            y, row, sk = self._scored_view(ys, t), self.scores[g0 + t], self.unscored[g0 + t]
            for v in missing(t):
                row[v] = self._match(y, int(v))
                sk[v] = False

        pmap(one, todo)

    def _search_window(self, ys: np.ndarray, first: int) -> None:
        """The whole-frame search for the family's template in the window's frames from ``first`` on
        (once the family is settled for this window)."""
        master = self._master()
        self.gsearch += pmap(lambda t: self._search(self._scored_view(ys, t), master), range(first, len(ys)))

    def _scored_view(self, ys: np.ndarray, t: int) -> np.ndarray:
        """Frame ``t`` of the window as scored: itself, or in the busy try the mean of the frames
        around it (the mark, still, keeps its strokes; a busy scene moving under it averages
        towards its mean, so its own band-pass no longer drowns the mark's)."""
        h = self._smooth
        return ys[t] if not h else ys[max(0, t - h):t + h + 1].mean(0, dtype=np.float32)

    def _discover(self, ys: np.ndarray, again: bool = False) -> None:
        """Find candidate places in the window ``ys``; ``again``: the family changed since the last
        call on this window: only its template search and tightening run again."""
        if again and self._window is not None:
            if not self._bloated():
                self._search_family(*self._window)
            return
        n = len(ys)
        k = self._chunk if n >= 3 * self._chunk else max(1, n // 3)
        nc = n // k
        if nc < 3:
            return
        # chunks of k frames; the last one ends at the window's last frame (no frame is left out)
        starts = [i * k for i in range(nc - 1)] + [n - k]
        # (the minima and their top-hats are whole levels: kept as uint8, a quarter of float32's
        # memory over a long window; averaged in float32 where read)
        mins = np.stack([ys[a:a + k].min(0) for a in starts])
        sigma = self.short * 0.06
        ko = max(5, round(self.short * 0.12)) | 1
        # the maps below are zero on a pillarbox's (letterbox's) bars, dark and flat: they are made
        # over the picture and the filters' reach around it (a float Gaussian's 4 sigma, the
        # opening's size) and pasted back (see _picture_box); the whole frame without bars
        x0, y0, x1, y1 = self._region(max(ko, math.ceil(4 * sigma)) + 2)
        part = (x0, y0, x1, y1) != (0, 0, self.aw, self.ah)
        sub, msub = ys[:, y0:y1, x0:x1], mins[:, y0:y1, x0:x1]

        def paste(m: np.ndarray) -> np.ndarray:
            if not part:
                return m
            out = np.zeros((*m.shape[:-2], self.ah, self.aw), m.dtype)
            out[..., y0:y1, x0:x1] = m
            return out

        shares: list[np.ndarray] = []  # (fixed: each chunk's variation over the scene's around it)
        # under the mark the luma varies ~4x less than the scene around it (I = a*235 + (1-a)*B)
        def still(i: int) -> np.ndarray:
            sd = std0(sub[starts[i]:starts[i] + k])
            around = blur(sd, sigma)
            quiet = (sd <= 0.5 * around + 2.0) & (msub[i] >= WHITE_Y + 15)
            if self._fixed:
                # (fixed: there in every chunk, like still scenery; told from it by the scene
                # around, which moves, and by its own variation, a share of the scene's: see
                # _shares_fit)
                quiet &= around >= FIXED_AROUND
                shares.append(paste(sd / np.maximum(around, 1.0)))
            return quiet

        # local contrast of the minima (white top-hat): scene-wide brightness changes drop out
        se = cv2.getStructuringElement(cv2.MORPH_RECT, (ko, ko))
        quiet = [still(i) for i in range(nc)] if self._fixed else pmap(still, range(nc))
        self._shares = shares
        # (an opening never exceeds the image: the top-hat stays within uint8)
        tops = np.stack(pmap(lambda m: m - cv2.morphologyEx(m, cv2.MORPH_OPEN, se), msub))
        # the level that is there "always": a low percentile over chunks (the mark is at one place
        # for a bounded time, so it is absent from at least that share of the chunks)
        # (fixed: the mark is there in every chunk, so the still test alone tells it from scenery)
        base = np.zeros(tops.shape[1:], np.float32) if self._fixed else percentile0(tops, 15, np.float32)
        cands: list[tuple[tuple[int, int, int, int], int]] = []
        deltas = []
        levels = BUSY_LEVELS if self._busy else BLOB_LEVELS

        def chunk_blobs(c: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
            d = cv2.GaussianBlur(np.maximum(tops[c] - base, 0) * quiet[c], (0, 0), 0.7)
            thr = max(3.5, 4.0 * _median_padded(d, self.aw * self.ah) + 1.5)
            return d, _blobs_levels(d, self.short, thr, levels)

        for c, (d, blobs) in enumerate(pmap(chunk_blobs, range(nc))):
            deltas.append(paste(d))
            cands += [((bx0 + x0, by0 + y0, bx1 + x0, by1 + y0), c) for bx0, by0, bx1, by1 in blobs]
        tops = paste(tops)
        # each chunk's excess over the base, for growing boxes (fixed: its still pixels' alone)
        self._raw = (np.stack([t * paste(q) for t, q in zip(tops, quiet, strict=True)]) if self._fixed else tops,
                     paste(base))
        self._add_clusters(_cluster(cands), mins, tops, deltas, nc, single_at_end=False)
        self._window = (mins, tops, deltas, nc)
        if self._bloated():
            # bright scenery (clouds, a sunlit road) made many look-alike candidates and the mark's
            # own blobs may have merged with the ground around it: add still structure's blobs,
            # and leave the family's template (probably scenery) out of the search below
            self._add_clusters(_cluster(self._still_structure(ys, starts, k, mins)), mins, tops, deltas, nc,
                               single_at_end=False)
            return
        self._search_family(mins, tops, deltas, nc)

    def _search_family(self, mins: np.ndarray, tops: np.ndarray, deltas: list[np.ndarray], nc: int) -> None:
        """The mark has the same shape everywhere: search every chunk for the family's tightest
        pattern (finds positions whose blobs merged with scenery or were too faint), then tighten
        the family's oversized places on it."""
        ref = self._tightest_family_ref()
        if ref is None:
            return
        assert ref.top is not None
        th, tw = ref.top.shape
        found: list[tuple[tuple[int, int, int, int], list[int]]] = []
        maps = pmap(lambda t: cv2.matchTemplate(t.astype(np.float32), ref.top, cv2.TM_CCOEFF_NORMED), tops)
        for c in range(nc):
            res = np.nan_to_num(maps[c], nan=0.0)
            for _ in range(4):
                _, mv, _, (px, py) = cv2.minMaxLoc(res)
                if mv < SEARCH_NCC:
                    break
                res[max(0, py - th // 2):py + th // 2 + 1, max(0, px - tw // 2):px + tw // 2 + 1] = 0
                b = (px, py, px + tw, py + th)
                for i, (fb, fcs) in enumerate(found):
                    if _iou(fb, b) > 0.3:
                        found[i] = (fb, [*fcs, c])
                        break
                else:
                    found.append((b, [c]))
        pad = max(2, round(self.short * 0.015))
        shrunk = [((b[0] + pad, b[1] + pad, b[2] - pad, b[3] - pad), cs) for b, cs in found]
        self._add_clusters(shrunk, mins, tops, deltas, nc, single_at_end=True)
        self._tighten()

    def _still_structure(self, ys: np.ndarray, starts: list[int], k: int, mins: np.ndarray
                         ) -> list[tuple[tuple[int, int, int, int], int]]:
        """Blobs of bright structure held still over ``STILL_FRAMES`` frames: the mark's strokes keep
        their band-pass pattern frame after frame (the scene under them moves), moving scenery's
        averages out. Unlike the chunk minima's top-hat this does not merge the mark with bright
        ground around it (a sunlit road), which is as bright but not still."""
        out: list[tuple[tuple[int, int, int, int], int]] = []
        nc = len(starts)
        g = max(1, STILL_FRAMES // k)  # chunks per group
        groups = list(range(0, nc - g + 1, g))
        if not groups:
            return out

        def one(g0: int) -> np.ndarray:
            seg = ys[starts[g0]:starts[g0 + g - 1] + k]
            acc = np.zeros(seg.shape[1:], np.float32)
            acc2 = np.zeros_like(acc)
            for f in seg:
                b = bandpass(f)
                cv2.accumulate(b, acc)
                cv2.accumulateSquare(b, acc2)
            m = acc / len(seg)
            sd = np.sqrt(np.maximum(acc2 / len(seg) - m * m, 0.0))
            bright = mins[g0:g0 + g].min(0) >= WHITE_Y
            bright = cv2.dilate(bright.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            return np.abs(m) / (sd + 1.0) * bright

        snr = np.stack(pmap(one, groups))
        # static scenery (a still camera) is still in every group; the mark only while it is there
        snr -= percentile0(snr, 15).astype(np.float32)
        for g0, d in zip(groups, snr, strict=True):
            out += [(b, c) for b in _blobs(d, self.short, STILL_SNR) for c in range(g0, g0 + g)]
        return out

    def _tightest_family_ref(self) -> Location | None:
        """The family member with the smallest box: the cleanest view of the mark."""
        fam = self._family(partners=False)
        refs = [loc for loc, ok in zip(self.locations, fam, strict=True) if ok and loc.top is not None]
        if not refs:
            return None
        return min(refs, key=_tightness)

    def _tighten(self) -> None:
        """A location whose blob merged with scenery is much bigger than the mark: re-center it on
        the family's tightest template (same shape everywhere) and crop its template to that."""
        ref = self._tightest_family_ref()
        if ref is None:
            return
        assert ref.top is not None
        rh, rw = ref.top.shape
        rext = ref.extent or ref.bbox
        for loc in self.locations:
            if loc is ref or loc.top is None:
                continue
            h, w = loc.top.shape
            if h * w < 1.6 * rh * rw or h < rh or w < rw:
                continue
            res = cv2.matchTemplate(loc.top, ref.top, cv2.TM_CCOEFF_NORMED)
            _, mv, _, (px, py) = cv2.minMaxLoc(np.nan_to_num(res, nan=0.0))
            if mv < SEARCH_NCC:
                continue
            x0, y0 = loc.bbox[0] + px, loc.bbox[1] + py
            loc.template = np.ascontiguousarray(loc.template[py:py + rh, px:px + rw])
            loc.strokes = loc.strokes[py:py + rh, px:px + rw].copy()
            loc.top = np.ascontiguousarray(loc.top[py:py + rh, px:px + rw])
            loc.bbox = (x0, y0, x0 + rw, y0 + rh)
            loc.extent = (max(0, x0 - (ref.bbox[0] - rext[0])), max(0, y0 - (ref.bbox[1] - rext[1])),
                          min(self.aw, x0 + rw + (rext[2] - ref.bbox[2])),
                          min(self.ah, y0 + rh + (rext[3] - ref.bbox[3])))

    def _add_clusters(self, clusters: list[tuple[tuple[int, int, int, int], list[int]]], mins: np.ndarray,
                      tops: np.ndarray, deltas: list[np.ndarray], nc: int, single_at_end: bool) -> None:
        pad = max(2, round(self.short * 0.015))
        for cb, cs in clusters:
            cs = sorted(set(cs))
            at_end = single_at_end and (cs[0] == 0 or cs[-1] == nc - 1)
            if len(cs) < (1 if at_end else 2) or (len(cs) > 0.9 * nc and not self._fixed):
                continue
            x0, y0 = max(0, cb[0] - pad), max(0, cb[1] - pad)
            x1, y1 = min(self.aw, cb[2] + pad), min(self.ah, cb[3] + pad)
            region = (x0, y0, x1, y1)
            busy = self._busy and not at_end
            # (busy: the mark holds a place for chunks in a row; a textured scene that comes back
            # to a view brings its blobs back to one place in chunks apart)
            if busy and not any(b - a == 1 for a, b in pairwise(cs)):
                continue
            box = self._core_box(cs, region, mins, deltas, held=False)
            if box is None and busy:
                # the scene's blobs overlapped the place in other chunks and blurred it: again over
                # the chunks that show what stays put there
                cs = _held_chunks(cs, [deltas[c][y0:y1, x0:x1] for c in cs])
                box = self._core_box(cs, region, mins, deltas, held=True) if len(cs) >= 2 else None
            median = False
            if box is None and not busy and 3 <= len(cs) <= MEDIAN_BOX:
                # a bright rim of scenery in one chunk's blob stretched the mean's box past the
                # mark's bounds: what most of the chunks show (a chunk whose blob is the mark
                # faded out over a white sky, or scenery's, is outvoted)
                box = self._core_box(cs, region, mins, deltas, held=False, median=True)
                median = box is not None
            if box is None:
                continue
            bx0, by0, bx1, by1 = box
            extent = self._grow((bx0, by0, bx1, by1), cs, mins, deltas)
            ex0, ey0 = max(0, bx0 - pad), max(0, by0 - pad)
            ex1, ey1 = min(self.aw, bx1 + pad), min(self.ah, by1 + pad)
            mm = mins[cs, ey0:ey1, ex0:ex1].mean(0, dtype=np.float32)
            tpl = bandpass(mm)[by0 - ey0:by1 - ey0, bx0 - ex0:bx1 - ex0]
            if float(tpl.std()) < 1.0:
                continue
            dm = np.mean([deltas[c][by0:by1, bx0:bx1] for c in cs], axis=0)
            strokes = dm > 0.5 * float(np.percentile(dm, 98))
            if self._fixed and not self._shares_fit(cs, (bx0, by0, bx1, by1), strokes):
                continue
            top = tops[cs, by0:by1, bx0:bx1].mean(0, dtype=np.float32)
            loc = Location((bx0, by0, bx1, by1), np.ascontiguousarray(tpl, dtype=np.float32),
                           strokes, len(cs), top, extent, median)
            self._add_location(loc)

    def _shares_fit(self, cs: list[int], box: tuple[int, int, int, int], strokes: np.ndarray) -> bool:
        """Fixed: do the place's strokes vary by a share of the scene's variation around them, as a
        white overlay's do (I = a W + (1 - a) B: ~0.26 of it)? An opaque white logo held still
        barely varies (its soft rim does: the median over its strokes tells)."""
        if not strokes.any():
            return False
        x0, y0, x1, y1 = box
        share = float(np.median([np.median(self._shares[c][y0:y1, x0:x1][strokes]) for c in cs]))
        return FIXED_SHARE[0] <= share <= FIXED_SHARE[1]

    def _core_box(self, cs: list[int], region: tuple[int, int, int, int], mins: np.ndarray,
                  deltas: list[np.ndarray], held: bool, median: bool = False) -> tuple[int, int, int, int] | None:
        """The box of a place's blob (in ``region``, over chunks ``cs``) tightened to its energy, or
        None where it is not the mark: too few strokes, not white, or not of the mark's size and
        aspect. ``held``: every chunk shows the mark, so its box is read from their least excess
        (a busy scene's blobs come and go; the mark's strokes are in each chunk); ``median``: read
        from their median excess (what most of the chunks show)."""
        x0, y0, x1, y1 = region
        pad = max(2, round(self.short * 0.015))
        mean_min = mins[cs, y0:y1, x0:x1].mean(0, dtype=np.float32)
        dmean = np.mean([deltas[c][y0:y1, x0:x1] for c in cs], axis=0)
        strokes = dmean > 0.5 * float(np.percentile(dmean, 98))
        if strokes.sum() < 8:
            return None
        # white: where the blob sits, its strokes are bright in the chunk minima
        if float(np.median(mean_min[strokes])) < WHITE_Y:
            return None
        # tighten the box to the blob's energy
        if held or median:
            stack = [deltas[c][y0:y1, x0:x1] for c in cs]
            energy = np.min(stack, axis=0) if held else np.median(stack, axis=0)
        else:
            energy = dmean
        top = float(np.percentile(energy, 98))
        if (held or median) and top <= 0:  # (the mark is missing from a chunk after all)
            return None
        yy, xx = np.nonzero(energy > 0.2 * top)
        q = max(1, pad // 2)
        bx0, by0 = max(x0, x0 + int(xx.min()) - q), max(y0, y0 + int(yy.min()) - q)
        bx1, by1 = min(x1, x0 + int(xx.max()) + 1 + q), min(y1, y0 + int(yy.max()) + 1 + q)
        # (a speck of a blob's energy is not the mark: a tiny place became the family's tightest
        # view, and every place was then cut to it)
        if not ASPECT[0] <= (bx1 - bx0) / max(1, by1 - by0) <= ASPECT[1] + 0.4 \
                or not _mark_sized(bx1 - bx0, by1 - by0, self.short):
            return None
        return bx0, by0, bx1, by1

    def _grow(self, box: tuple[int, int, int, int], cs: list[int], mins: np.ndarray, deltas: list[np.ndarray]
              ) -> tuple[int, int, int, int]:
        """Extend a box to faint parts of the mark next to it (a thin @handle line under the text,
        anti-aliased edges): bright, present in the same chunks, and close to the core box."""
        g = max(3, round(self.short * 0.05))
        gx = max(4, round(self.short * 0.09))  # logo and text can sit further apart (mirrored layout)
        x0, y0 = max(0, box[0] - gx), max(0, box[1] - g)
        x1, y1 = min(self.aw, box[2] + gx), min(self.ah, box[3] + g)
        tops, base = self._raw
        b = base[y0:y1, x0:x1]
        dm = np.mean([np.maximum(tops[c, y0:y1, x0:x1] - b, 0) for c in cs], axis=0)
        mm = mins[cs, y0:y1, x0:x1].mean(0, dtype=np.float32)
        core = dm[box[1] - y0:box[3] - y0, box[0] - x0:box[2] - x0]
        ref = float(np.percentile(core, 95)) if core.size else 0.0
        m = (dm > 0.3 * ref) & (mm >= 110)
        bx0, by0, bx1, by1 = box
        near = (4 * g) // 5
        # rows (then columns) next to the box that hold enough mark-like pixels, gaps <= near
        rows = m[:, bx0 - x0:bx1 - x0].mean(1) >= 0.1
        r0, r1 = _extend(rows, by0 - y0, by1 - y0, near)
        by0, by1 = y0 + r0, y0 + r1
        cols = m[r0:r1].mean(0) >= 0.1
        c0, c1 = _extend(cols, bx0 - x0, bx1 - x0, (4 * gx) // 5)
        bx0, bx1 = x0 + c0, x0 + c1
        return bx0, by0, bx1, by1

    def _add_location(self, loc: Location) -> None:
        for i, old in enumerate(self.locations):
            if _iou(old.bbox, loc.bbox) > 0.4 or _contained(old.bbox, loc.bbox) > 0.7:
                if old.median != loc.median:
                    # a box read the usual way stands over one read from the median, whole
                    if old.median:
                        self.locations[i] = loc
                    return
                if loc.chunks > old.chunks or _area(loc.bbox) > 1.2 * _area(old.bbox):
                    loc.chunks = max(loc.chunks, old.chunks)
                    # what the old one grew to (a handle line) stays; its box alone does not (the
                    # new one, seen more often, can be the tighter view of the same mark)
                    if old.extent is not None and old.extent != old.bbox:
                        loc.extent = _union(loc.extent or loc.bbox, old.extent)
                    self.locations[i] = loc
                else:
                    old.extent = _union(loc.extent or loc.bbox, old.extent or old.bbox)
                return
        self.locations.append(loc)

    def _master(self) -> int:
        """The family's tightest location is the cleanest view of the mark's shape: it is searched
        for in every frame (same shape at every position). Returns its id in ``masters`` or -1."""
        fam = self._family(partners=False)
        refs = [loc for loc, ok in zip(self.locations, fam, strict=True) if ok]
        if len(refs) < 2:  # one location alone is not evidence of the mark's shape
            return -1
        ref = min(refs, key=_tightness)
        self._mtpl = ref.template
        h, w = ref.template.shape
        self._mtpl_half = cv2.resize(ref.template, (max(4, w // 2), max(4, h // 2)), interpolation=cv2.INTER_AREA)
        fam_ext = [lc.extent or lc.bbox for lc in refs]
        rext = ref.extent or ref.bbox
        # the box of a recovered position: the tightest location's extent, grown to the family's
        # largest extent (a handle line or a text part not seen at the tightest position)
        dw = max(0, max(e[2] - e[0] for e in fam_ext) - (rext[2] - rext[0]))
        dh = max(0, max(e[3] - e[1] for e in fam_ext) - (rext[3] - rext[1]))
        rext = (rext[0] - dw, rext[1], rext[2] + dw, rext[3] + dh)
        self.masters.append((ref.bbox, rext))
        return len(self.masters) - 1

    def _search(self, y: np.ndarray, master: int) -> tuple[float, int, int, int]:
        """Best match of the master template in the whole frame: coarse at half the analysis scale,
        then refined +-3 px at analysis scale."""
        if master < 0:
            return (0.0, 0, 0, -1)
        tpl = self._mtpl
        th, tw = tpl.shape
        # the picture inside flat bars only (pillarbox, letterbox), with a template's margin and the
        # band-pass's reach: the bars' band-pass is zero there, so no window in them can match
        cx0, cy0, cx1, cy1 = self._region(tw + BAR_REACH, th + BAR_REACH)
        if th < 24 or tw < 60:  # too small to be found at half scale: search at analysis scale
            mv, px, py = match_textured(bandpass(y[cy0:cy1, cx0:cx1]), tpl)
            return (mv, px + cx0, py + cy0, master)
        yc = y[cy0:cy1, cx0:cx1]
        yh = cv2.resize(yc, (yc.shape[1] // 2, yc.shape[0] // 2), interpolation=cv2.INTER_AREA).astype(np.float32)
        bp = cv2.GaussianBlur(yh, (0, 0), 0.5) - cv2.GaussianBlur(yh, (0, 0), 1.25)
        mv, px, py = match_textured(bp, self._mtpl_half)
        if mv < 0.25:
            return (float(mv), 0, 0, master)
        px, py = px + cx0 // 2, py + cy0 // 2
        r, bd = 3, 6
        x0, y0 = max(0, 2 * px - r - bd), max(0, 2 * py - r - bd)
        x1, y1 = min(self.aw, 2 * px + tw + r + bd), min(self.ah, 2 * py + th + r + bd)
        hp = bandpass(y[y0:y1, x0:x1])[bd if y0 > 0 else 0:, bd if x0 > 0 else 0:]
        hp = hp[: hp.shape[0] - (bd if y1 < self.ah else 0), : hp.shape[1] - (bd if x1 < self.aw else 0)]
        if hp.shape[0] < th or hp.shape[1] < tw:
            return (0.0, 0, 0, master)
        res = cv2.matchTemplate(hp, tpl, cv2.TM_CCOEFF_NORMED)
        _, mv, _, (qx, qy) = cv2.minMaxLoc(zero_nonfinite(res))
        ox, oy = (x0 + bd if x0 > 0 else x0), (y0 + bd if y0 > 0 else y0)
        return (float(mv), ox + int(qx), oy + int(qy), master)

    def _region(self, mx: int, my: int | None = None) -> tuple[int, int, int, int]:
        """The picture inside flat bars (see :func:`_picture_box`) grown by ``mx`` (``my``) px, on even
        coordinates (the half-scale search halves them); the whole frame without bars."""
        if self._picture is None or self._picture == (0, 0, self.aw, self.ah):
            return 0, 0, self.aw, self.ah
        x0, y0, x1, y1 = self._picture
        my = mx if my is None else my
        x0, y0 = max(0, x0 - mx) & ~1, max(0, y0 - my) & ~1
        x1, y1 = min(self.aw, x1 + mx), min(self.ah, y1 + my)
        # (a crop to the frame's far edge keeps its odd size: the full frame's half-scale resize too)
        x1 = x1 if x1 == self.aw else min(self.aw, x1 + (x1 - x0) % 2)
        y1 = y1 if y1 == self.ah else min(self.ah, y1 + (y1 - y0) % 2)
        return x0, y0, x1, y1

    def _recover(self, lab: np.ndarray) -> list[tuple[int, int, tuple[int, int, int, int], float]]:
        """Frames labelled "no mark" (a position no discovery blob found, short intervals at the
        clip's ends): the family's template found at ONE place over at least ``MIN_RUN`` frames is
        the mark there. Returns (start, end, analysis-scale box, mean ncc)."""
        out: list[tuple[int, int, tuple[int, int, int, int], float]] = []
        n = min(len(lab), len(self.gsearch))
        for v, s, e in _runs(lab[:n]):
            if v >= 0 or e - s + 1 < MIN_RUN:
                continue
            g = np.array(self.gsearch[s:e + 1], np.float64)
            cand = (g[:, 0] >= RUN_NCC) & (g[:, 3] >= 0)
            # the places matched most often (the mark holds still; scenery matches wander), one
            # after the other: a long run can hide more than one missed position
            for _ in range(4):
                if cand.sum() < MIN_RUN:
                    break
                inbin, mx, my = _top_place(g, cand)
                if inbin.sum() < MIN_RUN // 2:
                    break
                ok = cand & (np.abs(g[:, 1] - mx) <= 2) & (np.abs(g[:, 2] - my) <= 2)
                cand &= ~ok
                cand &= ~inbin
                out += self._segments(s, g, ok, mx, my)
        return out

    def _full_extent(self, v: int, fam: np.ndarray) -> tuple[int, int, int, int]:
        """A location's extent (see :meth:`_place_extent`), widened on both sides when it is much
        narrower than the family's widest: discovery found one part of the mark only (the logo of
        the mirrored layout, whose text and @handle line sit LEFT of it, or the text alone); the
        restorer's matte then finds which of the widened box's pixels the mark covers."""
        x0, y0, x1, y1 = self._place_extent(v, fam)
        full = max((e[2] - e[0] for e in (self._place_extent(u, fam) for u in np.nonzero(fam)[0])), default=0)
        if x1 - x0 >= 0.6 * full:
            return x0, y0, x1, y1
        d = full - (x1 - x0)
        return max(0, x0 - d), y0, min(self.aw, x1 + d), y1

    def _place_extent(self, v: int, fam: np.ndarray) -> tuple[int, int, int, int]:
        """A location's extent, capped (:meth:`_capped_extent`); for a box much larger than the mark
        (merged with scenery, a sunlit road), where the mark stayed still inside it, with the tightest
        view's margins."""
        ref = self._tightest_family_ref()
        loc = self.locations[v]
        if ref is not None and ref is not loc and _area(loc.bbox) > STILL_BOX_AREA * _area(ref.bbox):
            sb = self._still_box(v, ref)
            if sb is not None:
                rx0, ry0, rx1, ry1 = ref.extent or ref.bbox
                return (max(0, sb[0] - (ref.bbox[0] - rx0)), max(0, sb[1] - (ref.bbox[1] - ry0)),
                        min(self.aw, sb[2] + (rx1 - ref.bbox[2])), min(self.ah, sb[3] + (ry1 - ref.bbox[3])))
        return self._capped_extent(v, fam)

    def _capped_extent(self, v: int, fam: np.ndarray) -> tuple[int, int, int, int]:
        """A location's extent, no more than ``EXTENT_CAP`` times the largest other family member's
        in width or height (the mark has one size): growing to faint parts can run on into bright
        static scenery beside the mark (a white car body), and a box much larger than the mark gives
        the restorer a poor border to read the background from. The cut takes from each side in
        proportion to what it grew there."""
        loc = self.locations[v]
        bx0, by0, bx1, by1 = loc.bbox
        ex0, ey0, ex1, ey1 = loc.extent or loc.bbox
        others = [lc.extent or lc.bbox for u, (lc, ok) in enumerate(zip(self.locations, fam, strict=True))
                  if ok and u != v]
        if not others:
            return ex0, ey0, ex1, ey1
        tw = float(max(e[2] - e[0] for e in others))
        th = float(max(e[3] - e[1] for e in others))

        def cut(lo: int, hi: int, a: int, b: int, target: float) -> tuple[int, int]:
            grown = (a - lo) + (hi - b)
            if hi - lo <= EXTENT_CAP * target or grown <= 0:
                return lo, hi
            keep = max(0.0, 1.0 - ((hi - lo) - max(target, b - a)) / grown)
            return a - round((a - lo) * keep), b + round((hi - b) * keep)

        x0, x1 = cut(ex0, ex1, bx0, bx1, tw + max(2.0, 0.1 * tw))
        y0, y1 = cut(ey0, ey1, by0, by1, th + max(2.0, 0.1 * th))
        return x0, y0, x1, y1

    def _search_places(self) -> int:
        """How many distinct places the whole-frame search holds still for ``MIN_RUN`` frames or more
        (strong matches within +-2 px of each other; a place with about as many matches just beside
        it is scenery drifting slowly, not the mark)."""
        if not self.gsearch:
            return 0
        g = np.array(self.gsearch, np.float64)
        cand = g[:, 0] >= RUN_NCC
        places: list[tuple[float, float]] = []
        while cand.sum() >= MIN_RUN:
            inbin, mx, my = _top_place(g, cand)
            near = cand & (np.abs(g[:, 1] - mx) <= 2) & (np.abs(g[:, 2] - my) <= 2)
            if near.sum() < MIN_RUN:
                break
            d = np.maximum(np.abs(g[:, 1] - mx), np.abs(g[:, 2] - my))
            beside = cand & (d > 2) & (d <= 8)
            if beside.sum() < 0.5 * near.sum():
                places.append((mx, my))
            cand &= ~(near | inbin | beside)
        return len(places)

    def _contradicted(self, s: int, e: int, bbox: tuple[int, int, int, int]) -> bool:
        """Does the whole-frame search hold the mark's shape still somewhere ELSE over this run?

        A static scene matches its own templates in every frame (scenery "locations" score like the
        mark while nothing moves); the mark's own shape, found at one other place over most of the
        run with a strong match, says where the mark really is (the run's frames are then left to
        :meth:`_recover`)."""
        g = np.array(self.gsearch[s:e + 1], np.float64)
        if len(g) < MIN_RUN or (g[:, 3] < 0).any():
            return False
        strong = g[:, 0] >= RUN_NCC
        if strong.mean() < 0.6:
            return False
        mx, my = np.median(g[strong, 1]), np.median(g[strong, 2])
        still = strong & (np.abs(g[:, 1] - mx) <= 2) & (np.abs(g[:, 2] - my) <= 2)
        if still.mean() < 0.6:
            return False
        bb, _ = self.masters[int(np.bincount(g[still, 3].astype(int)).argmax())]
        at = (int(mx), int(my), int(mx) + bb[2] - bb[0], int(my) + bb[3] - bb[1])
        return _iou(at, bbox) == 0.0 and _contained(at, bbox) == 0.0

    def _segments(self, s: int, g: np.ndarray, ok: np.ndarray, mx: float, my: float
                  ) -> list[tuple[int, int, tuple[int, int, int, int], float]]:
        """Segments of consistent frames (gaps of a few frames bridged) -> recovered intervals."""
        out: list[tuple[int, int, tuple[int, int, int, int], float]] = []
        allidx = np.nonzero(ok)[0]
        cuts = np.nonzero(np.diff(allidx) > 4)[0] + 1 if len(allidx) else []
        for idx in np.split(allidx, cuts):
            if len(idx) < MIN_RUN or len(idx) < 0.6 * (idx[-1] - idx[0] + 1):
                continue
            sc = float(g[idx, 0].mean())
            if sc < RUN_NCC:
                continue
            bb, ext = self.masters[int(np.bincount(g[idx, 3].astype(int)).argmax())]
            x0, y0 = round(mx), round(my)
            w, h = bb[2] - bb[0], bb[3] - bb[1]
            box = (max(0, x0 - (bb[0] - ext[0])), max(0, y0 - (bb[1] - ext[1])),
                   min(self.aw, x0 + w + (ext[2] - bb[2])), min(self.ah, y0 + h + (ext[3] - bb[3])))
            out.append((s + int(idx[0]), s + int(idx[-1]), box, sc))
        return out

    # -- per-frame scoring -------------------------------------------------------------------
    def _score(self, y: np.ndarray, only: list[int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(NCC, share of bright strokes, not matched: see ``DARK_SKIP``) per location in frame ``y``."""
        k = len(self.locations)
        s = np.zeros(k, np.float32)
        br = np.zeros(k, np.float32)
        skipped = np.zeros(k, bool)
        for i in range(k) if only is None else only:
            br[i] = self._bright_share(y, self.locations[i])
            if br[i] <= DARK_SKIP:
                skipped[i] = True
                continue
            s[i] = self._match(y, i)
        return s, br, skipped

    def _bright_share(self, y: np.ndarray, loc: Location) -> float:
        """The share of ``loc``'s strokes that are bright (at least ``WHITE_Y - 20``) in frame ``y``;
        0 without strokes. (Read through the strokes' flat indices, kept per location: the mask's
        boolean indexing and numpy's mean were a third of the per-place scoring's time.)"""
        got = self._stroke_at.get(id(loc))
        if got is None or got[0] is not loc.strokes or got[1] != loc.bbox:
            yy, xx = np.nonzero(loc.strokes)
            got = (loc.strokes, loc.bbox, (yy + loc.bbox[1]) * y.shape[1] + (xx + loc.bbox[0]))
            self._stroke_at[id(loc)] = got  # (the entry holds the mask: its id is not reused)
        idx = got[2]
        if not len(idx):
            return 0.0
        return np.count_nonzero(y.ravel()[idx] >= WHITE_Y - 20) / len(idx)

    def _match(self, y: np.ndarray, i: int) -> float:
        """Location ``i``'s template matched in frame ``y`` around its box (+-2 px)."""
        loc = self.locations[i]
        r, bd = 2, 6
        x0, y0, x1, y1 = loc.bbox
        ex0, ey0 = max(0, x0 - r - bd), max(0, y0 - r - bd)
        ex1, ey1 = min(self.aw, x1 + r + bd), min(self.ah, y1 + r + bd)
        hp = bandpass(y[ey0:ey1, ex0:ex1])
        sx0, sy0 = max(0, x0 - r) - ex0, max(0, y0 - r) - ey0
        sx1, sy1 = min(self.aw, x1 + r) - ex0, min(self.ah, y1 + r) - ey0
        return ncc_max(hp[sy0:sy1, sx0:sx1], loc.template)

    # -- result ------------------------------------------------------------------------------
    def finish(self) -> list[Interval]:
        try:
            self._process(final=True)
        finally:
            if self._shrinker is not None:
                self._shrinker.shutdown()
                self._shrinker = None
        frames = self._buf[: self._nbuf]
        self._buf, self._nbuf = np.zeros((0, self.ah, self.aw), np.uint8), 0
        found = self.intervals()

        def run(chunk: int, fixed: bool = False) -> list[Interval]:
            again = Detector(self.width, self.height, busy=not fixed, fixed=fixed, chunk=chunk)
            again._buf, again._nbuf, again.n = frames, len(frames), self.n
            again._process(final=True)
            return again.intervals()

        if self._busy or self._fixed:
            return found
        found = self._tries(found, run, frames)
        return self._lead_ins(found, frames) if LEAD_INS and self._first == 0 else found

    def _tries(self, found: list[Interval], run: Callable[..., list[Interval]], frames: np.ndarray
               ) -> list[Interval]:
        """``found`` by the first try, or what the busy scene's and the fixed mark's tries find."""
        # the mark is on every frame of a Sora video and holds each place for seconds; found on few
        # frames, or in short pieces, the chunk minima's blobs of the mark may have merged with a
        # busy bright scene's. Discovery tries again with the busy scene's rules, over the frames
        # at hand (a video of one window) or, in a longer one, the caller's second decode.
        if _doubtful(found, self.n):
            if self._first > 0:
                self.wants_second_try = True
                return found
            if len(frames) < 3 * CHUNK:
                return found
            found = busy_tries(found, self.n, run)
        if self._first == 0 and len(frames) >= 3 * CHUNK and _one_place(found):
            # a short video whose mark never jumps (a clip cut from within one of its holds) shows
            # it "always", as still scenery: discovery found nothing, or a part of it that changed
            # (its box cut through the rest). Still bright structure amid a moving scene is read
            # over every chunk; where it holds the place found, the two boxes together hold the
            # whole mark (either alone can miss a part: the still test fails over still scenery)
            fixed = run(FIXED_CHUNK, fixed=True)
            if fixed and not _doubtful(fixed, self.n):
                if not found:
                    return fixed
                if _one_place(fixed) and overlaps(found[0].box, fixed[0].box):
                    return [replace(iv, box=_union(iv.box, found[0].box)) for iv in fixed]
                return better(found, fixed)
        return found

    def _lead_ins(self, found: list[Interval], frames: np.ndarray) -> list[Interval]:
        """``found`` with the mark's last frames before a jump at the video's start (its first after
        one at the end) where it sits at a place seen nowhere else: a clip cut a few frames before a
        jump shows the mark there too briefly for discovery (no chunk holds it) and the interval
        model. Those frames, left to no interval, are searched for the pattern the next interval
        holds (its frames' mean, the scene averaged out); the place must match it in
        ``LEAD_ANCHORS`` frames or more at one place (+-2 px), elsewhere than that interval, with
        bright strokes; the frames from the video's edge on that still show it there (``NCC_ON``)
        become an interval."""
        if not found or len(frames) < 2 * LEAD_FRAMES:
            return found
        out = list(found)
        for iv, gap in ((found[0], range(found[0].start)), (found[-1], range(found[-1].end + 1, len(frames)))):
            if not 0 < len(gap) <= LEAD_FRAMES:
                continue
            lead = self._lead_in(iv, list(gap) if gap.start == 0 else list(gap)[::-1], frames)
            if lead is not None:
                out.append(lead)
        return sorted(out, key=lambda iv: iv.start)

    def _lead_in(self, iv: Interval, order: list[int], frames: np.ndarray) -> Interval | None:
        """:meth:`_lead_ins` for the frames ``order`` (from the video's edge in) next to ``iv``."""
        x0, y0, x1, y1 = (round(v * self.scale) for v in iv.box)
        x1, y1 = min(x1, self.aw), min(y1, self.ah)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        near = range(iv.start, min(iv.end + 1, iv.start + LEAD_TEMPLATE)) if order[0] == 0 else \
            range(max(iv.start, iv.end + 1 - LEAD_TEMPLATE), iv.end + 1)
        mean = frames[near, y0:y1, x0:x1].mean(0, dtype=np.float32)
        tpl = bandpass(mean)
        strokes = mean >= max(WHITE_Y + 15, float(np.percentile(mean, 90)))
        if float(tpl.std()) < 1.0 or strokes.sum() < 8:
            return None
        h, w = tpl.shape
        matches = [match_textured(bandpass(frames[t]), tpl) for t in order]
        anchors = [(x, y) for mv, x, y in matches if mv >= RUN_NCC]
        if len(anchors) < LEAD_ANCHORS:
            return None
        px, py = (int(np.median([a[k] for a in anchors])) for k in (0, 1))
        if sum(abs(x - px) <= 2 and abs(y - py) <= 2 for x, y in anchors) < LEAD_ANCHORS \
                or overlaps((px, py, px + w, py + h), (x0, y0, x1, y1)):
            return None

        def at_place(t: int) -> tuple[float, float]:
            """(the pattern's NCC at the place, +-2 px; its strokes' bright share) in frame ``t``."""
            region = frames[t, max(0, py - 2):py + h + 2, max(0, px - 2):px + w + 2]
            at = frames[t, py:py + h, px:px + w]
            return ncc_max(bandpass(region), tpl), float((at[strokes] >= WHITE_Y - 20).mean())

        run, ncc = 0, []
        for t in order:
            here, lit = at_place(t)
            if here < NCC_ON or lit < 0.5:
                break
            run, ncc = run + 1, [*ncc, here]
        if run == 0:
            return None
        step = 1 if order[0] == 0 else -1
        s, e = (0, run - 1) if step > 0 else (order[0] - run + 1, order[0])
        # the mark fading out (in) in the frames past it, into the next interval's: restored there
        # while the place is not bare (see EDGE_BARE); past that, scenery would be un-blended
        fade = 0
        past = range(e + 1, min(len(frames), e + 1 + LEAD_FADE)) if step > 0 else \
            range(s - 1, max(-1, s - 1 - LEAD_FADE), -1)
        for t in past:
            here, lit = at_place(t)
            if here < BARE_NCC or (here < NCC_ON and lit < 0.5):
                break
            fade += 1
        dx, dy = round((px - x0) / self.scale) & ~1, round((py - y0) / self.scale) & ~1
        bx0, by0, bx1, by1 = iv.box
        box = (max(0, bx0 + dx), max(0, by0 + dy), min(self.width & ~1, bx1 + dx), min(self.height & ~1, by1 + dy))
        return Interval(s, e, iv.loc, box, float(np.mean(ncc)), pad=fade)

    def _matrix(self) -> tuple[np.ndarray, np.ndarray]:
        k = len(self.locations)
        n = len(self.scores)
        S = np.zeros((n, k), np.float32)
        Bm = np.zeros((n, k), np.float32)
        for t, (s, b) in enumerate(zip(self.scores, self.bright, strict=True)):
            S[t, : len(s)] = s
            Bm[t, : len(b)] = b
        return S, Bm

    def _family(self, partners: bool = True) -> np.ndarray:
        """The locations that are the mark: the template-linked family, or, where that is bloated
        with look-alike scenery, the places the mark was seen jumping between; plus (``partners``)
        the places it jumps to and from that look different (the other layout)."""
        fam = self._linked_family()
        if self._chain is not None and len(fam) >= max(self._chain, default=-1) + 1:
            fam = np.zeros(len(fam), bool)
            fam[self._chain] = True
        if partners:
            fam[[v for v in self._partners if v < len(fam)]] = True
        return fam

    def _bloated(self) -> bool:
        return int(self._linked_family().sum()) > FAMILY_MAX

    def _linked_family(self) -> np.ndarray:
        """The group of locations that is the mark: once jumps between places have been seen, the
        candidate group (template-linked places, jump pairs, grown place by place) that behaves most
        like the mark (:meth:`_group_score`); before that, the group linked by the strongest
        template match (cross-NCC of band-pass templates >= ``FAMILY_NCC``: the mark has one shape
        at each of its places, scenery blobs rarely match each other); without any such pair, the
        largest group of one size (weighted by how often each was seen). Cached while the locations
        and what was seen of them stay the same (it is asked for several times per window)."""
        key = (tuple((hash(lc.template.tobytes()), lc.bbox, lc.extent, lc.chunks) for lc in self.locations),
               tuple(sorted(self._jumped)), None if self._P is None else self._P.shape)
        if self._linked is None or self._linked[0] != key:
            self._linked = (key, self._link_family())
        return self._linked[1].copy()

    def _cross_ncc(self, a: np.ndarray, b: np.ndarray) -> float:
        key = (a.shape, a.tobytes(), b.shape, b.tobytes())
        v = self._pair_ncc.get(key)
        if v is None:
            if len(self._pair_ncc) > PAIR_CACHE:  # (templates change window to window)
                self._pair_ncc.clear()
            v = self._pair_ncc[key] = cross_ncc(a, b)
        return v

    def _link_family(self) -> np.ndarray:
        k = len(self.locations)
        if k == 0:
            return np.zeros(0, bool)
        L = self.locations
        link = np.zeros((k, k), np.float32)
        for i in range(k):
            for j in range(i + 1, k):
                if _contained(L[i].bbox, L[j].bbox) < 0.3:
                    link[i, j] = link[j, i] = self._cross_ncc(L[i].template, L[j].template)
        # groups: places linked by a strong template match; and places the mark was seen jumping
        # between with a weaker one (its template differs a little from place to place: scenery
        # merges into it), grown while that makes the group more like the mark
        group = np.arange(k)

        def root(v: int) -> int:
            while group[v] != v:
                v = int(group[v])
            return v

        for i, j in zip(*np.nonzero(link >= FAMILY_NCC), strict=True):
            group[root(int(i))] = root(int(j))
        roots = np.array([root(v) for v in range(k)])
        comps = {tuple(np.nonzero(roots == r)[0]) for r in np.unique(roots) if (roots == r).sum() >= 2}
        jumped = {(i, j) for i, j in self._jumped if j < k and link[i, j] >= JUMP_LINK_NCC}
        P = self._P
        if P is None or len(P) < 2 * MIN_RUN or not jumped:
            # no motion seen yet: the group with the strongest link between places apart (two
            # boxes that touch are one place seen twice, its parts found in different chunks: they
            # match each other, but the mark's places lie apart)
            apart = np.array([[not _near(a.bbox, b.bbox) for b in L] for a in L])
            strongest = {g: float((link * apart)[np.ix_(g, g)].max()) for g in comps}
            strongest = {g: v for g, v in strongest.items() if v >= FAMILY_NCC}
            if strongest:
                fam = np.zeros(k, bool)
                fam[list(max(strongest, key=lambda g: strongest[g]))] = True
                return fam
        else:
            score = self._group_score(link, jumped)
            best: tuple[float, tuple[int, ...]] | None = None
            for g in comps | jumped | {tuple(np.nonzero((roots == roots[i]) | (roots == roots[j]))[0])
                                       for i, j in jumped}:
                sc = score(g)
                while True:  # grow by the places the group's members jump to or link with
                    near = {b for a, b in jumped if a in g} | {a for a, b in jumped if b in g}
                    near |= {int(v) for u in g for v in np.nonzero(link[u] >= FAMILY_NCC)[0]}
                    trials = [(score(tuple(sorted({*g, v}))), tuple(sorted({*g, v}))) for v in near - set(g)]
                    if not trials or max(trials)[0] <= sc:
                        break
                    sc, g = max(trials)
                if best is None or sc > best[0]:
                    best = (sc, g)
            assert best is not None
            fam = np.zeros(k, bool)
            fam[list(best[1])] = True
            return fam
        best_w = -1.0
        fam = np.ones(k, bool)
        for li in L:
            grp = np.array([_similar(li.extent or li.bbox, lj.extent or lj.bbox) for lj in L])
            w = float(sum(L[j].chunks for j in np.nonzero(grp)[0])) * (1.0 + 0.5 * (grp.sum() > 1))
            if w > best_w:
                fam, best_w = grp, w
        return fam

    def _group_score(self, link: np.ndarray, jumped: set[tuple[int, int]]
                     ) -> Callable[[tuple[int, ...]], float]:
        """How much a group of places behaves like the mark's, in frames: the mark is at one place
        at a time and almost always somewhere (frames with one of the group's places clearly on
        count for it, weighted by how well it matches: the mark matches its own template almost
        perfectly, moving scenery loosely; frames with two on together count against it), and each
        jump seen between two of its places is worth ``JUMP_WORTH`` frames (less where the two
        hardly look alike), unless they were on together."""
        assert self._P is not None
        clear = (self._P >= 0.6) & (self._S >= RUN_NCC)  # (a bright wall can half-match all along)
        held = clear.sum(0)
        quality = np.clip((self._S - 0.6) / 0.3, 0.0, 1.0) * clear

        def score(g: tuple[int, ...]) -> float:
            cols = [v for v in g if v < clear.shape[1]]
            cnt = clear[:, cols].sum(1)
            conflicts = int((cnt >= 2).sum())
            alone = float(quality[:, cols].max(1)[cnt == 1].sum()) if cols else 0.0
            jumps = 0.0
            if conflicts <= MIN_RUN:
                jumps = sum(float(np.clip((link[a, b] - 0.5) / 0.3, 0.0, 1.0))
                            for a, b in jumped if a in g and b in g and max(held[a], held[b]) >= JUMP_HOLD)
            return alone - 2 * conflicts + JUMP_WORTH * jumps

        return score

    def intervals(self) -> list[Interval]:
        k = len(self.locations)
        n = len(self.scores)
        if k == 0 or n == 0:
            return []
        S, Bm = self._matrix()
        keep = self._family()
        S = np.where(keep[None, :], S, 0.0)
        # a frame supports a location when the pattern matches and its strokes are bright
        ev = np.where(Bm >= 0.5, S, np.minimum(S, 0.0)) - NCC_ON
        lab = viterbi(ev, SWITCH)
        # the whole-frame search overrules and adds runs only when its template behaves like the
        # mark: held still at two or more places (scenery mistaken for the mark sits at one)
        searched = self._search_places() >= 2
        # a family seen jumping between its places is the mark: the search (which can lock on to
        # brighter look-alikes of its shape) does not overrule its runs
        moved = self._chain is not None or any(keep[a] and keep[b] for a, b in self._jumped if b < k)
        # drop blips, then locations whose runs are weak
        found: list[tuple[int, int, int, tuple[int, int, int, int], float]] = []
        alts: dict[int, list[int]] = {}
        for v, s, e in _runs(lab):
            if v < 0 or e - s + 1 < MIN_RUN:
                continue
            sc = float(S[s:e + 1, v].mean())
            weak = sc < (BUSY_RUN_NCC if self._busy else RUN_NCC) and not self._jump_run(S, v, s, e, keep)
            if weak or (searched and not moved and self._contradicted(s, e, self.locations[v].bbox)):
                lab[s:e + 1] = -1
                continue
            found.append((s, e, v, self._full_extent(v, keep), sc))
            alts[s] = self._alternatives(s, e, v, S, Bm, keep)
        if searched:
            found += [(s, e, k + i, b, sc) for i, (s, e, b, sc) in enumerate(self._recover(lab))]
        if EDGE_RUNS:
            found = self._edge_runs(found, alts, S, Bm, keep)
        if EDGE_BARE:
            found = _bare_ends(found, S, Bm, alts)
        found.sort()
        out: list[Interval] = []
        for s, e, v, box, sc in found:
            other = [self._to_full(self._full_extent(u, keep)) for u in alts.get(s, [])] if v < k else []
            out.append(Interval(int(s), int(e), int(v), self._to_full(box), sc, other))
        return out

    def _edge_runs(self, found: list[tuple[int, int, int, tuple[int, int, int, int], float]],
                   alts: dict[int, list[int]], S: np.ndarray, Bm: np.ndarray,
                   keep: np.ndarray) -> list[tuple[int, int, int, tuple[int, int, int, int], float]]:
        """``found`` (start, end, place, box, score) with the runs the video's start and end cut
        short: a place the mark holds for fewer than ``MIN_RUN`` frames there does not pay for the
        interval model's switch to it (the real selfie's first four frames stayed with the place
        after them, the mark untouched). Each frame of such a run matches the place's template
        (``RUN_NCC``) with bright strokes, no other place of the family shows the mark
        (``JUMP_NCC_FLOOR``), and the mark holds that place in another interval: the run becomes
        an interval, cut from the one its frames were given to (``alts``, keyed by start, follows)."""
        n = len(S)
        fam = np.flatnonzero(keep)
        if n < 2 * MIN_RUN or len(fam) < 2:
            return found
        held = {v for _, _, v, _, _ in found}
        out = list(found)
        for edge, step in ((0, 1), (n - 1, -1)):
            u = int(fam[int(np.argmax(S[edge, fam]))])
            if u not in held:
                continue
            others = fam[fam != u]
            run = 0
            while run < MIN_RUN:
                t = edge + step * run
                if S[t, u] < RUN_NCC or Bm[t, u] < 0.5 or S[t, others].max() >= JUMP_NCC_FLOOR:
                    break
                run += 1
            s, e = (0, run - 1) if step > 0 else (n - run, n - 1)
            if not 0 < run < MIN_RUN or any(v == u and s0 <= e and e0 >= s for s0, e0, v, _, _ in out):
                continue  # (none; long enough for the interval model; or the place's already)
            kept = []
            for s0, e0, v, box, sc in out:
                if s0 <= e and e0 >= s:  # the interval these frames were given to
                    if step > 0 and s0 in alts:
                        alts[e + 1] = alts.pop(s0)
                    s0, e0 = (e + 1, e0) if step > 0 else (s0, s - 1)
                    if e0 < s0:
                        continue
                kept.append((s0, e0, v, box, sc))
            out = [*kept, (s, e, u, self._full_extent(u, keep), float(S[s:e + 1, u].mean()))]
        return out

    def _jump_run(self, S: np.ndarray, v: int, s: int, e: int, keep: np.ndarray) -> bool:
        """Is the run of place ``v`` over frames ``s..e`` the mark's, though its mean NCC is low? It
        is when the mark was seen jumping into it (out of it) from (to) another of its places at the
        run's start (end), and the template matches well over ``JUMP_HEAD`` frames there: a place's
        template learned with scenery in its box (a too-big box) decays as that scenery moves on,
        while the mark stays put until its next jump."""
        if not JUMP_HEAD:
            return False
        head = float(S[s:min(e + 1, s + JUMP_HEAD), v].mean())
        tail = float(S[max(s, e + 1 - JUMP_HEAD):e + 1, v].mean())
        for td, i, j, tu, _ in self._edges:
            if j == v and i < len(keep) and keep[i] and abs(tu - s) <= JUMP_GAP and head >= RUN_NCC:
                return True
            if i == v and j < len(keep) and keep[j] and abs(td - e) <= JUMP_GAP and tail >= RUN_NCC:
                return True
        return False

    def _to_full(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """An analysis-scale box at full resolution, with a margin, on even coordinates."""
        x0, y0, x1, y1 = box
        inv = 1.0 / self.scale
        m = max(4, round(min(self.width, self.height) * 0.015))
        return (
            max(0, int(x0 * inv) - m) & ~1,
            max(0, int(y0 * inv) - m) & ~1,
            min(self.width, int(np.ceil(x1 * inv)) + m + 1) & ~1,
            min(self.height, int(np.ceil(y1 * inv)) + m + 1) & ~1,
        )

    def _alternatives(self, s: int, e: int, v: int, S: np.ndarray, Bm: np.ndarray, fam: np.ndarray,
                      limit: int = 3) -> list[int]:
        """Other family locations that also match over frames [s, e] (a static scene matches
        several of its own blobs at once), best mean score first, elsewhere than ``v``."""
        sc = S[s:e + 1].mean(0)
        ok = (sc >= RUN_NCC) & (Bm[s:e + 1].mean(0) >= 0.5) & fam
        ok[v] = False
        out = []
        for u in np.argsort(-sc):
            if ok[u] and _iou(self.locations[u].bbox, self.locations[v].bbox) < 0.3:
                out.append(int(u))
            if len(out) >= limit:
                break
        return out


def cross_ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Best NCC of the smaller template slid over the larger one (zero padded): same pattern?"""
    if a.size > b.size:
        a, b = b, a
    ph, pw = a.shape[0] // 2, a.shape[1] // 2
    big = cv2.copyMakeBorder(b, ph + 1, ph + 1, pw + 1, pw + 1, cv2.BORDER_CONSTANT, value=0)
    return ncc_max(big, a)


def _top_place(g: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The place the whole-frame search matched most often among the ``cand`` frames of ``g``
    (rows ncc, x, y, master): (those frames, by 4-px bins, as a mask over ``g``; their median x, y)."""
    keys = (g[cand, 1] // 4).astype(np.int64) * 100000 + (g[cand, 2] // 4).astype(np.int64)
    vals, counts = np.unique(keys, return_counts=True)
    inbin = cand.copy()
    inbin[cand] = keys == vals[counts.argmax()]
    return inbin, float(np.median(g[inbin, 1])), float(np.median(g[inbin, 2]))


def _presence(S: np.ndarray, Bm: np.ndarray, floor: float = 0.2) -> np.ndarray:
    """Per frame and location, 0..1: how clearly the location's pattern is there (NCC from ``floor``
    up, and bright strokes)."""
    return np.minimum(np.clip((S - floor) / 0.4, 0.0, 1.0), np.clip((Bm - 0.2) / 0.5, 0.0, 1.0))


def _jumps(S: np.ndarray, Bm: np.ndarray, boxes: list[tuple[int, int, int, int]]
           ) -> tuple[np.ndarray, list[tuple[int, int, int, int, float]]]:
    """(presence per frame and place, jumps): a jump is place i going dark at frame td while place j
    lights up at tu, within ``JUMP_GAP`` frames (i on before and off after, j the other way round);
    (td, i, j, tu, strength) sorted by time."""
    n, k = S.shape
    P = _presence(S, Bm)
    edges: list[tuple[int, int, int, int, float]] = []
    if n < 4 * MIN_RUN or k < 2:
        return P, edges
    w = JUMP_GAP
    # presence read on a scale that starts higher (see JUMP_NCC_FLOOR): where the mark leaves a
    # still, bright scene, its place's match falls from ~1 to what the scene alone gives (0.46 on
    # sam2_dog_portrait: the scene's own structure is in the place's template), which presence,
    # full from 0.6 on, read as a step of 0.34, under JUMP_STEP: the jump was missed
    J = _presence(S, Bm, JUMP_NCC_FLOOR)
    c = np.vstack([np.zeros((1, k)), np.cumsum(J, 0)])
    step = np.zeros((n, k))
    step[w:n - w + 1] = (c[2 * w:] - 2 * c[w:n - w + 1] + c[:n - 2 * w + 1]) / w  # mean after - mean before

    def events(v: int, sign: float) -> list[int]:
        x = step[:, v] * sign
        peak = (x[1:-1] >= JUMP_STEP) & (x[1:-1] >= x[:-2]) & (x[1:-1] >= x[2:])  # local maxima, vectorised
        return (np.nonzero(peak)[0] + 1).tolist()

    def on(v: int, a: int, b: int) -> float:
        a, b = max(0, a), min(n, b)
        return float(J[a:b, v].mean()) if b > a else 0.0

    ups = [events(v, 1.0) for v in range(k)]
    downs = [events(v, -1.0) for v in range(k)]
    for i in range(k):
        for td in downs[i]:
            # (the place need not go fully dark: scenery merged into its template can match on)
            before, after = on(i, td - 2 * w, td - 1), on(i, td + 2, td + 2 * w + 1)
            if before < 0.6 or before - after < JUMP_STEP:
                continue
            for j in range(k):
                if j == i or _contained(boxes[i], boxes[j]) > 0.0:
                    continue
                for tu in ups[j]:
                    before, after = on(j, tu - 2 * w, tu - 1), on(j, tu + 2, tu + 2 * w + 1)
                    if -1 <= tu - td <= w and after >= 0.6 and after - before >= JUMP_STEP:
                        edges.append((td, i, j, tu, float(step[tu, j] - step[td, i]) - 0.1 * abs(tu - td)))
    edges.sort()
    return P, edges


def _together(P: np.ndarray, u: int, v: int) -> bool:
    """Are places u and v on together (presence >= 0.6) for more than ``MIN_RUN`` frames? The mark
    is at one place at a time."""
    return int(((P[:, u] >= 0.6) & (P[:, v] >= 0.6)).sum()) > MIN_RUN


def _jump_chain(P: np.ndarray, edges: list[tuple[int, int, int, int, float]]) -> list[int] | None:
    """The mark's places, told from look-alike scenery by how the mark moves: it holds still at one
    place, then vanishes there as it lights up at another, within a few frames, again and again.
    Scenery comes and goes on its own. Finds the longest sequence of such jumps (at least two), each
    place on between its arrival and its departure; returns its places (sorted), where two of them
    are on together (impossible for the mark) keeping the one on for longer; None without one."""
    if not edges:
        return None
    best = [e[4] for e in edges]
    prev = [-1] * len(edges)
    length = [1] * len(edges)
    for a, (td, i, _, _, strength) in enumerate(edges):
        for b in range(a):
            _, _, j, tu, _ = edges[b]
            if j == i and tu < td and float(P[tu:td, i].mean()) >= 0.6 and best[b] + strength > best[a]:
                best[a], prev[a], length[a] = best[b] + strength, b, length[b] + 1
    a = int(np.argmax(best))
    if length[a] < 2:
        return None
    places: set[int] = set()
    while a >= 0:
        places |= {edges[a][1], edges[a][2]}
        a = prev[a]
    for v in sorted(places, key=lambda u: int((P[:, u] >= 0.6).sum())):
        if any(u != v and _together(P, u, v) for u in places):
            places.discard(v)
    return sorted(places) if len(places) >= 2 else None


def _jump_partners(P: np.ndarray, edges: list[tuple[int, int, int, int, float]], fam: np.ndarray) -> list[int]:
    """Places outside the template family that the mark jumps to and from (``P``, ``edges``: see
    :func:`_jumps`): one lights up as a family place goes dark AND goes dark as a family place lights
    up, and is never on together with one. The mark's other layout (the mirrored one: the text left
    of the cloud) does not look like the first, but it moves like it."""
    out = []
    for v in np.nonzero(~fam)[0]:
        arrives = any(j == v and fam[i] for _, i, j, _, _ in edges)
        leaves = any(i == v and fam[j] for _, i, j, _, _ in edges)
        alone = not any(_together(P, u, v) for u in np.nonzero(fam)[0])
        if arrives and leaves and alone:
            out.append(int(v))
    return out


def _cluster(cands: list[tuple[tuple[int, int, int, int], int]]) -> list[tuple[tuple[int, int, int, int], list[int]]]:
    """Blobs (box, chunk) -> places: boxes that overlap across chunks, with the chunks they were seen in.
    Blobs seen alike in many chunks seed the places (the mark's box is the same chunk after chunk;
    a blob that merged the mark with scenery is a one-off), and a place's box is the union of its
    members that agree with its most typical one: a merged blob joins the place it covers without
    becoming its box or pulling a neighbouring place into it."""
    if not cands:
        return []
    b = np.array([c[0] for c in cands], np.float64)
    x0, y0 = np.maximum(b[:, None, 0], b[None, :, 0]), np.maximum(b[:, None, 1], b[None, :, 1])
    x1, y1 = np.minimum(b[:, None, 2], b[None, :, 2]), np.minimum(b[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iou = inter / np.maximum(area[:, None] + area[None, :] - inter, 1e-9)
    support = (iou > 0.5).sum(1)
    places: list[_Place] = []
    for i in np.argsort(-support, kind="stable"):
        box, c = cands[int(i)]
        for pl in places:
            if _iou(pl.rep, box) > 0.3 or _contained(pl.rep, box) > 0.7:
                pl.add(box, c)
                break
        else:
            places.append(_Place(box, c))
    return [(pl.rep, pl.chunks) for pl in places]


class _Place:
    """A place being clustered: its member boxes, the chunks they came from, and its box: the
    union of the members that overlap (IoU > 0.5) the member overlapping all the others most (the
    first such). Each member's IoU summed over the members is kept up to date as members join,
    added in member order as a sum over them would be (the same floats): a join costs O(members),
    where recomputing the sums cost O(members²) (a busy scene's places gather hundreds of blobs:
    yellow_brick_road's clustering took 0.5 s)."""

    def __init__(self, box: tuple[int, int, int, int], chunk: int) -> None:
        self.boxes, self.chunks = [box], [chunk]
        self.sums = [_iou(box, box)]
        self.rep = box

    def add(self, box: tuple[int, int, int, int], chunk: int) -> None:
        own = 0.0
        for i, b in enumerate(self.boxes):
            v = _iou(b, box)  # (== _iou(box, b): integer boxes, exact division)
            self.sums[i] += v
            own += v
        self.boxes.append(box)
        self.chunks.append(chunk)
        self.sums.append(own + _iou(box, box))
        med = self.boxes[max(range(len(self.boxes)), key=self.sums.__getitem__)]  # (the first best)
        out = med
        for b in self.boxes:
            if _iou(b, med) > 0.5:
                out = _union(out, b)
        self.rep = out


def _bare_ends(found: list[tuple[int, int, int, tuple[int, int, int, int], float]], S: np.ndarray, Bm: np.ndarray,
               alts: dict[int, list[int]]) -> list[tuple[int, int, int, tuple[int, int, int, int], float]]:
    """``found`` (start, end, place, box, score) with the frames at the video's start (end) cut
    from an interval beginning (ending) within ``MIN_RUN`` frames of it where its place shows no
    mark: no pattern (under ``NCC_ON``) and no bright strokes (a covered pixel is never darker
    than the mark over black), or no pattern at all (under ``BARE_NCC``: bright scenery there).
    The interval model gives a few such frames to the run after them rather than pay for a switch
    (a clip cut 6 frames before a jump: its first interval's matte, fitted on frames the mark was
    elsewhere in, was refused and the whole clip left as it was). ``alts`` (keyed by start)
    follows."""
    n, k = S.shape
    out = []
    for s, e, v, box, sc in found:
        if v < k:
            s1, e1 = s, e
            # (no pattern and dark strokes, or no pattern at all: bright scenery there)
            bare = (S[:, v] < NCC_ON) & ((Bm[:, v] < 0.5) | (S[:, v] < BARE_NCC))
            while s < MIN_RUN and s1 < e1 and bare[s1]:  # (the frames before it held no mark)
                s1 += 1
            while e > n - 1 - MIN_RUN and e1 > s1 and bare[e1]:
                e1 -= 1
            if (s1, e1) != (s, e) and e1 - s1 + 1 >= MIN_RUN:
                if s1 != s and s in alts:
                    alts[s1] = alts.pop(s)
                s, e, sc = s1, e1, float(S[s1:e1 + 1, v].mean())
        out.append((s, e, v, box, sc))
    return out


def _one_place(found: list[Interval]) -> bool:
    """Are the intervals (none, or all overlapping the first's box) at one place: the mark never
    seen jumping?"""
    return all(overlaps(iv.box, found[0].box) for iv in found)


def overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Do two boxes (x0, y0, x1, y1) share any pixel?"""
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def _doubtful(found: list[Interval], n: int) -> bool:
    """Intervals that cover under ``BUSY_COVER`` of the ``n`` frames, or whose inner ones (not
    cut by the video's ends) are mostly shorter than ``BUSY_HOLD`` frames."""
    if sum(iv.end - iv.start + 1 for iv in found) < BUSY_COVER * n:
        return True
    inner = [iv.end - iv.start + 1 for iv in found if iv.start > 0 and iv.end < n - 1]
    return bool(inner) and float(np.median(inner)) < BUSY_HOLD


def better(first: list[Interval], second: list[Interval]) -> list[Interval]:
    """Of two tries' intervals, those with more frames well matched (frames x the runs' mean NCC)."""
    def support(found: list[Interval]) -> float:
        return sum((iv.end - iv.start + 1) * iv.score for iv in found)

    return second if support(second) > support(first) else first


def busy_tries(found: list[Interval], n: int, run: Callable[[int], list[Interval]]) -> list[Interval]:
    """After a doubtful first try (``found`` over ``n`` frames), the busy bright scene's tries
    (``run(chunk)``: a busy Detector's intervals at that chunk length), in ``BUSY_CHUNKS`` order
    until the mark is found well; the best found stands."""
    for chunk in BUSY_CHUNKS:
        found = better(found, run(chunk))
        if not _doubtful(found, n):
            break
    return found


def _held_chunks(cs: list[int], excess: list[np.ndarray]) -> list[int]:
    """The chunks (sorted ids ``cs``, their excess brightness over a place's box) that show what
    stays put there: each matches a neighbouring chunk's excess (NCC >= ``CHUNK_AGREE``). The mark
    holds a place for many chunks in a row, unchanged; blobs of a busy bright scene that happened to
    overlap the box in other chunks differ from chunk to chunk (or repeat only after a while, where
    the scene comes back to a view), and would blur the place's template and whiteness."""
    v = np.stack([e.ravel() for e in excess]).astype(np.float64)
    v -= v.mean(1, keepdims=True)
    v /= np.linalg.norm(v, axis=1, keepdims=True) + 1e-9
    ncc = v @ v.T
    keep = []
    for i, c in enumerate(cs):
        if any(abs(cs[j] - c) == 1 and ncc[i, j] >= CHUNK_AGREE for j in (i - 1, i + 1) if 0 <= j < len(cs)):
            keep.append(c)
    return keep


def _similar(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    wa, ha, wb, hb = a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1]
    return abs(wa / wb - 1) <= 0.4 and abs(ha / hb - 1) <= 0.3


def viterbi(ev: np.ndarray, switch: float) -> np.ndarray:
    """Best piecewise-constant labelling: state 0 = no mark (evidence 0), state j+1 = location j
    (evidence ev[:, j]); each change of state costs ``switch``. Returns labels (-1 = none)."""
    n, k = ev.shape
    E = np.concatenate([np.zeros((n, 1), np.float32), ev.astype(np.float32)], axis=1)
    score = E[0].copy()
    back = np.zeros((n, k + 1), np.int32)
    for t in range(1, n):
        best = int(score.argmax())
        stay = score
        move = score[best] - switch
        take_move = move > stay
        back[t] = np.where(take_move, best, np.arange(k + 1))
        score = np.where(take_move, move, stay) + E[t]
    lab = np.zeros(n, np.int64)
    lab[-1] = int(score.argmax())
    for t in range(n - 1, 0, -1):
        lab[t - 1] = back[t, lab[t]]
    return lab - 1


def _runs(lab: np.ndarray) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    s = 0
    for t in range(1, len(lab) + 1):
        if t == len(lab) or lab[t] != lab[s]:
            out.append((int(lab[s]), s, t - 1))
            s = t
    return out
