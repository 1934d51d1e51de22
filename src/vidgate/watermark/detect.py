"""Watermark localisation without weights: learned from each video's own frames.

The mark is a white, semi-transparent overlay that stays still within a position interval while the
scene moves, and jumps between a few positions. So, at a reduced "analysis" scale:

1. each frame is band-pass filtered (difference of Gaussians, ``hp``);
2. ``hp`` is averaged over short chunks (moving scene content averages out, the mark persists);
3. the per-pixel median of those chunk means over the window is subtracted (static scenery is
   there all the time, the mark only while it sits at one position): what remains are blobs where
   something persistent sat for a while -> candidate locations, each with a template (the mean
   band-pass pattern there);
4. every frame is then scored against every candidate template (normalised cross-correlation in a
   small search window), which finds the position of the mark frame by frame, jump frames included;
5. per-frame decisions are smoothed into position intervals (short gaps where the mark is too
   faint to see - bright backgrounds - are bridged; isolated blips are dropped).

Nothing about position, size or timing is assumed beyond broad sanity bounds on blob size.
Memory: one analysis window at a time (``WINDOW`` frames at analysis scale), so it is flat in
video length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

ANALYSIS_SHORT = 320  # analysis-scale short side (px)
WINDOW = 240  # frames per analysis window
CHUNK = 10  # frames per chunk mean
NCC_ON = 0.30  # a frame shows the mark at a location when NCC >= this
NCC_WEAK = 0.12  # ... and a frame next to an interval keeps it when NCC >= this
MIN_RUN = 6  # fewer consecutive frames than this at a location is a blip
CROSS_NCC = 0.45  # two candidate templates are the same mark when they match this well
MIN_PLATEAU = 20  # the mark holds still at least this many frames
MAX_GAP = 8  # frames without a confident detection bridged inside one interval


@dataclass
class Location:
    """A place where the mark sits, at analysis scale: bbox (x0, y0, x1, y1) and a template."""

    bbox: tuple[int, int, int, int]
    template: np.ndarray  # band-pass pattern over bbox (float32)
    support: float = 0.0


@dataclass
class FrameHit:
    loc: int  # global location id, -1 = none
    score: float
    scores: dict[int, float] = field(default_factory=dict)


@dataclass
class Interval:
    """Frames [start, end] (inclusive) with the mark at one location; box at full resolution."""

    start: int
    end: int
    loc: int
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (full resolution, generous margin)
    score: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {"start": self.start, "end": self.end, "box": list(self.box), "score": round(self.score, 3)}


def analysis_scale(width: int, height: int) -> float:
    return min(1.0, ANALYSIS_SHORT / min(width, height))


def bandpass(y: np.ndarray) -> np.ndarray:
    """Difference of Gaussians on a uint8 luma image -> float32 (stroke-scale structure)."""
    f = y.astype(np.float32)
    return cv2.GaussianBlur(f, (0, 0), 0.8) - cv2.GaussianBlur(f, (0, 0), 3.0)


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / ua if ua > 0 else 0.0


def _chunk_residuals(hp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chunk means of the band-passed frames minus their per-pixel median (the static scenery)."""
    n = len(hp)
    nch = max(1, n // CHUNK)
    means = np.stack([hp[i * CHUNK:(i + 1) * CHUNK].mean(0) for i in range(nch)]) if n >= CHUNK else hp.mean(0)[None]
    if len(means) >= 3:
        # per pixel, the chunk mean closest to zero: the mark (or anything that holds still only
        # for a while) is absent from at least one chunk, static scenery is in all of them
        idx = np.abs(means).argmin(axis=0)
        static = np.take_along_axis(means, idx[None], axis=0)[0]
    else:
        static = np.zeros(hp.shape[1:], np.float32)
    return means - static[None], static


def ncc_max(region: np.ndarray, tpl: np.ndarray) -> float:
    """Best normalised cross-correlation of tpl inside region (0 where undefined)."""
    region = np.ascontiguousarray(region, dtype=np.float32)
    tpl = np.ascontiguousarray(tpl, dtype=np.float32)
    if tpl.shape[0] < 4 or tpl.shape[1] < 4 or region.shape[0] < tpl.shape[0] or region.shape[1] < tpl.shape[1]:
        return 0.0
    try:
        res = cv2.matchTemplate(region, tpl, cv2.TM_CCOEFF_NORMED)
    except cv2.error:
        return 0.0
    return float(np.nan_to_num(res, nan=0.0, posinf=0.0, neginf=0.0).max())


def cross_ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Best NCC of the smaller template slid over the larger one (zero padded): same pattern?"""
    if a.size > b.size:
        a, b = b, a
    ph, pw = a.shape[0] // 2, a.shape[1] // 2
    big = cv2.copyMakeBorder(b, ph + 1, ph + 1, pw + 1, pw + 1, cv2.BORDER_CONSTANT, value=0)
    if big.shape[0] < a.shape[0] or big.shape[1] < a.shape[1]:
        return 0.0
    return ncc_max(big, a)


def _candidates(resid: np.ndarray) -> list[tuple[tuple[int, int, int, int], float, int]]:
    """Persistent, time-localised blobs in the chunk residuals -> (bbox, score, chunk)."""
    H, W = resid.shape[1:]
    short = min(H, W)
    out = []
    for c, d in enumerate(resid):
        s = cv2.GaussianBlur(np.abs(d), (0, 0), 1.5)
        noise = float(np.median(s)) + 1e-3
        thr = max(8.0 * noise, 1.5)
        m = (s > thr).astype(np.uint8)
        k = max(3, short // 60)
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * k + 1, k + 1)))
        nlab, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
        comps = []
        for i in range(1, nlab):
            x, y, w, h, area = stats[i]
            if w < short * 0.04 or h < short * 0.015 or w > short * 0.6 or h > short * 0.35:
                continue
            if area < 0.15 * w * h:
                continue
            score = float(s[y:y + h, x:x + w][lab[y:y + h, x:x + w] == i].sum() / noise)
            comps.append(((int(x), int(y), int(x + w), int(y + h)), score, c))
        comps = _merge_near(comps)
        comps.sort(key=lambda t: -t[1])
        out += comps[:2]
    return out


class Detector:
    """Streaming detector: feed analysis-scale luma frames with :meth:`add`, then :meth:`finish`."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.scale = analysis_scale(width, height)
        self.aw = max(16, round(width * self.scale))
        self.ah = max(16, round(height * self.scale))
        self.locations: list[Location] = []
        self.hits: list[FrameHit] = []
        self._buf: list[np.ndarray] = []
        self._ybuf: list[np.ndarray] = []

    # -- streaming ---------------------------------------------------------------------------
    def shrink(self, y: np.ndarray) -> np.ndarray:
        if self.scale >= 1.0:
            return y
        return cv2.resize(y, (self.aw, self.ah), interpolation=cv2.INTER_AREA)

    def add(self, y_full: np.ndarray) -> None:
        y = self.shrink(y_full)
        self._ybuf.append(y.copy())
        self._buf.append(bandpass(y).astype(np.float16))
        if len(self._buf) >= WINDOW:
            self._flush()

    def _flush(self) -> None:
        if not self._buf:
            return
        hp = np.stack(self._buf).astype(np.float32)
        ys = np.stack(self._ybuf)
        self._buf, self._ybuf = [], []
        resid, static = _chunk_residuals(hp)
        ids = self._discover(resid, hp - static[None], ys)
        for t in range(len(hp)):
            self.hits.append(self._score_frame(hp[t] - static, ids))

    def _discover(self, resid: np.ndarray, dyn: np.ndarray, ys: np.ndarray) -> list[int]:
        """Find candidate locations in this window, keep those that look like the mark (the same
        pattern seen at another place, or a known mark), merge with known ones; return ids."""
        cands = _candidates(resid)
        clusters: list[list[tuple[tuple[int, int, int, int], float, int]]] = []
        for c in sorted(cands, key=lambda t: -t[1]):
            for cl in clusters:
                if _iou(cl[0][0], c[0]) > 0.3:
                    cl.append(c)
                    break
            else:
                clusters.append([c])
        pad = max(2, round(min(self.aw, self.ah) * 0.01))
        found: list[Location] = []
        for cl in clusters[:12]:
            x0 = max(0, min(c[0][0] for c in cl) - pad)
            y0 = max(0, min(c[0][1] for c in cl) - pad)
            x1 = min(self.aw, max(c[0][2] for c in cl) + pad)
            y1 = min(self.ah, max(c[0][3] for c in cl) + pad)
            chunks = sorted({c[2] for c in cl})
            tpl = np.mean([resid[k, y0:y1, x0:x1] for k in chunks], axis=0).astype(np.float32)
            if float(tpl.std()) < 0.5:
                continue
            found.append(Location((x0, y0, x1, y1), tpl, float(sum(c[1] for c in cl))))
        # which candidates are the mark? it holds still for a while (a plateau of high per-frame
        # NCC), it is white (its strokes are bright in every frame of the plateau), and where the
        # same pattern shows at several places, those places are never occupied at the same time
        ok = [self._looks_like_mark(li, dyn, ys) for li in found]
        # drop duplicates (a part of an accepted candidate)
        for i in range(len(found)):
            for j in range(i):
                if ok[i] and ok[j] and _contained(found[i].bbox, found[j].bbox) > 0.7:
                    ok[i] = False
        ids: list[int] = []
        for li, good in zip(found, ok, strict=True):
            if not good:
                continue
            for i, loc in enumerate(self.locations):
                if _iou(loc.bbox, li.bbox) > 0.4 or _contained(loc.bbox, li.bbox) > 0.7:
                    if li.support > loc.support:
                        self.locations[i] = li
                    if i not in ids:
                        ids.append(i)
                    break
            else:
                self.locations.append(li)
                ids.append(len(self.locations) - 1)
        # also score locations seen in earlier windows (the cycle repeats)
        for i in range(len(self.locations)):
            if i not in ids:
                ids.append(i)
        return ids

    def _looks_like_mark(self, loc: Location, dyn: np.ndarray, ys: np.ndarray) -> bool:
        x0, y0, x1, y1 = loc.bbox
        tpl = loc.template
        r = 2
        sx0, sy0 = max(0, x0 - r), max(0, y0 - r)
        sx1, sy1 = min(self.aw, x1 + r), min(self.ah, y1 + r)
        ncc = np.zeros(len(dyn), np.float32)
        for t in range(len(dyn)):
            ncc[t] = ncc_max(dyn[t, sy0:sy1, sx0:sx1], tpl)
        on = ncc >= 0.5
        longest, run = 0, 0
        for v in on:
            run = run + 1 if v else 0
            longest = max(longest, run)
        if longest < min(MIN_PLATEAU, len(dyn) // 2):
            return False
        strokes = tpl > 0.5 * float(tpl.max())
        around = tpl < 0
        if strokes.sum() < 4 or around.sum() < 4:
            return False
        crop = ys[on, y0:y1, x0:x1].astype(np.float32)
        s_mean = crop[:, strokes].mean(1)
        a_mean = crop[:, around].mean(1)
        loc.support = float(longest)
        good = bool(np.median(s_mean) >= 130 and np.median(s_mean - a_mean) >= 8)
        if good:
            # refine: template = mean of the frames where it sits, bbox tightened to its energy
            p = max(2, round(min(self.aw, self.ah) * 0.02))
            ex0, ey0 = max(0, x0 - p), max(0, y0 - p)
            ex1, ey1 = min(self.aw, x1 + p), min(self.ah, y1 + p)
            m = dyn[on, ey0:ey1, ex0:ex1].mean(0)
            e = cv2.GaussianBlur(np.abs(m), (0, 0), 1.5)
            yy, xx = np.nonzero(e > 0.15 * float(e.max()))
            if len(yy):
                q = max(1, p // 2)
                bx0, by0 = max(ex0, ex0 + int(xx.min()) - q), max(ey0, ey0 + int(yy.min()) - q)
                bx1, by1 = min(ex1, ex0 + int(xx.max()) + 1 + q), min(ey1, ey0 + int(yy.max()) + 1 + q)
                loc.bbox = (bx0, by0, bx1, by1)
                loc.template = np.ascontiguousarray(m[by0 - ey0:by1 - ey0, bx0 - ex0:bx1 - ex0]).astype(np.float32)
        return good

    def _score_frame(self, hp: np.ndarray, ids: list[int]) -> FrameHit:
        best, best_s, scores = -1, 0.0, {}
        for i in ids:
            loc = self.locations[i]
            x0, y0, x1, y1 = loc.bbox
            r = 2
            sx0, sy0 = max(0, x0 - r), max(0, y0 - r)
            sx1, sy1 = min(self.aw, x1 + r), min(self.ah, y1 + r)
            s = ncc_max(hp[sy0:sy1, sx0:sx1], loc.template)
            scores[i] = s
            if s > best_s:
                best, best_s = i, s
        if best_s < NCC_ON:
            best = -1
        return FrameHit(best, best_s, scores)

    # -- result ------------------------------------------------------------------------------
    def finish(self) -> list[Interval]:
        self._flush()
        return self.intervals()

    def _keep_family(self) -> None:
        """The mark shows the same pattern at each of its places, one place at a time: keep the
        largest group of locations whose templates match each other and whose frames do not overlap
        (a lone location survives only when no such group exists)."""
        k = len(self.locations)
        if k < 2:
            return
        frames = [sum(1 for h in self.hits if h.loc == i) for i in range(k)]
        link = np.zeros((k, k), bool)
        for i in range(k):
            for j in range(i + 1, k):
                if _contained(self.locations[i].bbox, self.locations[j].bbox) > 0.3:
                    continue
                if cross_ncc(self.locations[i].template, self.locations[j].template) >= CROSS_NCC:
                    link[i, j] = link[j, i] = True
        best: list[int] = []
        best_w = -1
        for i in range(k):
            grp = [i] + [j for j in range(k) if link[i, j]]
            wgt = sum(frames[g] for g in grp) * (2 if len(grp) > 1 else 1)
            if wgt > best_w:
                best, best_w = grp, wgt
        drop = set(range(k)) - set(best)
        for h in self.hits:
            if h.loc in drop:
                h.loc = -1
            for d in drop:
                h.scores.pop(d, None)

    def intervals(self) -> list[Interval]:
        n = len(self.hits)
        lab = np.array([h.loc for h in self.hits], dtype=np.int64) if n else np.zeros(0, np.int64)
        # drop blips
        lab = _drop_short_runs(lab, MIN_RUN)
        # bridge short gaps between runs of the same location
        runs = _runs(lab)
        for k in range(1, len(runs) - 1):
            v, s, e = runs[k]
            if v == -1 and e - s + 1 <= MAX_GAP and runs[k - 1][0] == runs[k + 1][0] != -1:
                lab[s:e + 1] = runs[k - 1][0]
        # extend runs into neighbouring undecided frames while the weak score holds
        for v, s, e in _runs(lab):
            if v == -1:
                continue
            t = s - 1
            while t >= 0 and lab[t] == -1 and self.hits[t].scores.get(v, 0) >= NCC_WEAK:
                lab[t] = v
                t -= 1
            t = e + 1
            while t < n and lab[t] == -1 and self.hits[t].scores.get(v, 0) >= NCC_WEAK:
                lab[t] = v
                t += 1
        out = []
        inv = 1.0 / self.scale
        for v, s, e in _runs(lab):
            if v == -1:
                continue
            x0, y0, x1, y1 = self.locations[v].bbox
            m = max(4, round(min(self.width, self.height) * 0.012))
            box = (
                max(0, int(x0 * inv) - m) & ~1,
                max(0, int(y0 * inv) - m) & ~1,
                min(self.width, int(np.ceil(x1 * inv)) + m + 1) & ~1,
                min(self.height, int(np.ceil(y1 * inv)) + m + 1) & ~1,
            )
            sc = float(np.mean([self.hits[t].scores.get(v, 0.0) for t in range(s, e + 1)]))
            out.append(Interval(int(s), int(e), int(v), box, sc))
        return out


def _merge_near(comps: list[tuple[tuple[int, int, int, int], float, int]]
                ) -> list[tuple[tuple[int, int, int, int], float, int]]:
    """Join blobs of one chunk that sit side by side (logo and text parts of one mark)."""
    comps = list(comps)
    merged = True
    while merged:
        merged = False
        for i in range(len(comps)):
            for j in range(i + 1, len(comps)):
                a, b = comps[i][0], comps[j][0]
                hmax = max(a[3] - a[1], b[3] - b[1])
                gx = max(0, max(a[0], b[0]) - min(a[2], b[2]))
                gy = max(0, max(a[1], b[1]) - min(a[3], b[3]))
                if gx <= 0.8 * hmax and gy <= 0.5 * hmax:
                    box = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    comps[i] = (box, comps[i][1] + comps[j][1], comps[i][2])
                    del comps[j]
                    merged = True
                    break
            if merged:
                break
    return comps


def _contained(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box's area."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return inter / small if small > 0 else 0.0


def _runs(lab: np.ndarray) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    s = 0
    for t in range(1, len(lab) + 1):
        if t == len(lab) or lab[t] != lab[s]:
            out.append((int(lab[s]), s, t - 1))
            s = t
    return out


def _drop_short_runs(lab: np.ndarray, k: int) -> np.ndarray:
    lab = lab.copy()
    for v, s, e in _runs(lab):
        if v != -1 and e - s + 1 < k:
            lab[s:e + 1] = -1
    return lab
