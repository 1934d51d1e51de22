"""The mark's animation, shared between its positions: a shape prior learned from the video.

The mark plays the same animation each time it lands somewhere (the cloud wobbles and blinks the
same way at every position), so frame ``k`` of one interval has the same shape as frame ``k`` of
every other interval, shifted. A covered pixel is never darker than the mark over black
(``I >= a0*235 + (1-a0)*16``), whatever the scene behind it, so the pixels that are bright in frame
``k`` of EVERY interval are a superset of the mark's shape in that frame, and it tightens with
each interval: scenery is rarely bright at the same spot of every position. Within one interval,
the pixels bright in all its frames hold the static part (text, ``@handle``).

The per-frame shape estimate (ill-conditioned where the background is bright or textured) is
then limited to this prior: scenery that merely looks like the mark in one frame is not un-blended.

Intervals are registered to each other by the normalised cross-correlation of their mean crops
(the mark is the constant part, moving scenery averages out). The frame index inside an interval
counts from its detected start (no period is assumed; +-1 frame of slack); an interval that begins
with the video (its start is not a jump) is phased by the length of the complete intervals.
"""

from __future__ import annotations

import cv2
import numpy as np

from vidgate.watermark.ncc import match_textured

K3 = np.ones((3, 3), np.uint8)
USELESS_BOUND = 0.9  # a frame's bound covering this share of the crop or more says nothing beside others
MAX_PER_PHASE = 4  # intervals kept per animation frame (memory stays flat in video length)
MAX_SHIFT = 12  # px: registration search range around the detected boxes' alignment
MIN_CORE_OVERLAP = 0.6  # share of the smaller core that must land on the other one
MIN_ENV_OVERLAP = 0.5  # ... and of the smaller envelope (the cloud alone lines up in both layouts)
UNPHASED_SHARE = 0.1  # an unphased interval vouches for pixels bright in this share of its frames
UNPHASED_GROW = 3  # px
UNPHASED_MIN = 8  # frames an unphased interval needs before it vouches
MIN_NCC = 0.6  # a registration weaker than this is not trusted: the interval gets no prior
TEXTURED = 0.05  # windows with less energy than this share of the most textured one's are not matched
SIDE_SLACK = 4  # px an envelope may pass the other's columns before it counts as beyond them
MAX_SIDE_SHARE = 0.2  # envelope mass either interval may hold beyond the other's, on opposite sides


def bandpass(y: np.ndarray, fine: float = 1.0, coarse: float = 6.0) -> np.ndarray:
    """Edges and strokes, without the scene's slow shading (a difference of Gaussians)."""
    y = y.astype(np.float32)
    return cv2.GaussianBlur(y, (0, 0), fine) - cv2.GaussianBlur(y, (0, 0), coarse)


def _env_pattern(bp: np.ndarray, env: np.ndarray) -> tuple[np.ndarray, tuple[int, int]] | None:
    """``bp`` over the envelope's bounding box, and that box's top-left (x, y); None without one."""
    ys, xs = np.nonzero(env)
    if not len(ys):
        return None
    x0, y0 = int(xs.min()), int(ys.min())
    return bp[y0:int(ys.max()) + 1, x0:int(xs.max()) + 1], (x0, y0)


def _overlap(a: np.ndarray, oa: tuple[int, int], b: np.ndarray, ob: tuple[int, int]) -> float:
    """|a & b| / min(|a|, |b|) for two masks placed at bank offsets ``oa`` and ``ob``."""
    na, nb = int(a.sum()), int(b.sum())
    if not na or not nb:
        return 0.0
    dx, dy = ob[0] - oa[0], ob[1] - oa[1]  # b's pixel (x, y) sits at a's (x + dx, y + dy)
    h, w = a.shape
    xs0, ys0 = max(0, dx), max(0, dy)
    xs1, ys1 = min(w, dx + b.shape[1]), min(h, dy + b.shape[0])
    if xs1 <= xs0 or ys1 <= ys0:
        return 0.0
    inter = int((a[ys0:ys1, xs0:xs1] & b[ys0 - dy:ys1 - dy, xs0 - dx:xs1 - dx]).sum())
    return inter / min(na, nb)


def _opposite_sides(a: np.ndarray, oa: tuple[int, int], b: np.ndarray, ob: tuple[int, int]) -> float:
    """How far two envelopes placed at bank offsets ``oa`` and ``ob`` extend past each other on
    opposite sides: the smaller of (a's mass left of b's columns, b's mass right of a's), or the same
    the other way round. The mirrored layout with its cloud on the other's cloud puts its text on
    one side and the other's text on the other (~0.4 each); the same layout differs by its
    envelope's ragged edges and scenery caught in it (<= 0.1 measured), on one side if at all."""
    x0 = min(oa[0], ob[0])  # the two envelopes' column sums on one axis from here
    n = max(oa[0] + a.shape[1], ob[0] + b.shape[1]) - x0
    ca, cb = np.zeros(n), np.zeros(n)
    ca[oa[0] - x0:oa[0] - x0 + a.shape[1]] = a.sum(0)
    cb[ob[0] - x0:ob[0] - x0 + b.shape[1]] = b.sum(0)
    if not ca.sum() or not cb.sum():
        return 0.0
    a0, a1 = _column_range(ca)
    b0, b1 = _column_range(cb)
    al, ar = ca[:max(0, b0 - SIDE_SLACK)].sum() / ca.sum(), ca[b1 + SIDE_SLACK + 1:].sum() / ca.sum()
    bl, br = cb[:max(0, a0 - SIDE_SLACK)].sum() / cb.sum(), cb[a1 + SIDE_SLACK + 1:].sum() / cb.sum()
    return float(max(min(al, br), min(bl, ar)))


def _column_range(c: np.ndarray) -> tuple[int, int]:
    """The columns holding all but 2 % of a mask's mass on either side (a stray speck does not
    stretch it)."""
    cs = np.cumsum(c) / c.sum()
    return int(np.searchsorted(cs, 0.02)), int(np.searchsorted(cs, 0.98))


class PhaseBank:
    """Bright masks per (interval, animation frame) in one shared coordinate frame."""

    def __init__(self) -> None:
        self.ref: np.ndarray | None = None  # band-passed mean crop of the first registered interval
        self.ref_core: tuple[np.ndarray, tuple[int, int]] = (np.zeros((0, 0), bool), (0, 0))
        self.ref_env: tuple[np.ndarray, tuple[int, int]] = (np.zeros((0, 0), bool), (0, 0))
        self.offsets: dict[int, tuple[int, int]] = {}  # interval id -> crop origin in bank coords
        self.phase0: dict[int, int] = {}  # interval id -> animation frame of its detected start
        self.masks: dict[int, list[tuple[int, np.ndarray]]] = {}  # phase -> [(interval id, bool mask)]
        self.shapes: dict[int, tuple[int, int]] = {}
        self._any: dict[int, np.ndarray | None] = {}
        # interval id -> (frames, per-pixel count of bright frames), for an interval whose animation
        # frame is unknown (it began with the video): where it was bright often enough bounds every
        # frame elsewhere
        self.unphased: dict[int, tuple[int, np.ndarray]] = {}

    def register(self, iid: int, mean_crop: np.ndarray, env: np.ndarray, core: np.ndarray) -> bool:
        """Place interval ``iid`` in bank coordinates by its mean luma crop, where the mark's
        envelope ``env`` keeps the (static) scenery around it out of the match. Refused when its
        ``core`` (the always-covered pixels) does not land on the first interval's core: another
        layout (the mirrored one: text left of the cloud) must not vouch for this one's shape."""
        weight = cv2.GaussianBlur(cv2.dilate(env.astype(np.uint8), K3).astype(np.float32), (0, 0), 2.0)
        bp = bandpass(mean_crop) * weight
        self.shapes[iid] = mean_crop.shape
        if self.ref is None:
            own = _env_pattern(bp, env)
            if own is None:
                return False
            # the reference template: the envelope's bounding box of the first interval
            pattern, (x0, y0) = own
            self.ref = pattern.copy()
            self.offsets[iid] = (-x0, -y0)
            self.ref_core = (core, (-x0, -y0))
            self.ref_env = (env, (-x0, -y0))
            return True
        # search the ref inside this crop (padded), +-MAX_SHIFT around every alignment of the two
        # boxes: same top-left, same bottom-right (right-aligned / bottom positions), centres
        rh, rw = self.ref.shape
        h, w = bp.shape
        p = MAX_SHIFT + max(abs(rh - h), abs(rw - w))
        big = cv2.copyMakeBorder(bp, p, p, p, p, cv2.BORDER_REFLECT_101)  # a flat border fakes matches
        if big.shape[0] < rh or big.shape[1] < rw:
            return False
        best, mx, my = match_textured(big, self.ref, of_template=0.0, of_best=TEXTURED)
        # ref's top-left sits at (mx - p, my - p) in this crop: this crop's origin in bank coords
        off: tuple[int, int] | None = (p - mx, p - my) if best >= MIN_NCC else None
        ok = off is not None and self.fits(core, env, off)
        if not ok and (h < rh or w < rw):
            off = self._inverse(bp, env)
            ok = off is not None and self.fits(core, env, off)
        if not ok or off is None:
            return False
        self.offsets[iid] = off
        return True

    def _inverse(self, bp: np.ndarray, env: np.ndarray) -> tuple[int, int] | None:
        """A crop smaller than the reference (a box cut closer to the mark): its envelope's own
        pattern searched inside the reference (padded by ``MAX_SHIFT``); this crop's origin in bank
        coordinates, or None. (The reference searched inside the crop's reflected border matched
        the mirror images of the crop's edges, below ``MIN_NCC``.)"""
        assert self.ref is not None
        got = _env_pattern(bp, env)
        if got is None:
            return None
        own, (ox, oy) = got
        big = cv2.copyMakeBorder(self.ref, MAX_SHIFT, MAX_SHIFT, MAX_SHIFT, MAX_SHIFT, cv2.BORDER_CONSTANT, value=0)
        if big.shape[0] < own.shape[0] or big.shape[1] < own.shape[1]:
            return None
        best, mx, my = match_textured(big, own, of_template=0.0, of_best=TEXTURED)
        if best < MIN_NCC:
            return None
        # own's top-left sits at (mx - MAX_SHIFT, my - MAX_SHIFT) in bank coordinates
        return mx - MAX_SHIFT - ox, my - MAX_SHIFT - oy

    def fits(self, core: np.ndarray, env: np.ndarray, off: tuple[int, int]) -> bool:
        """Placed at bank offset ``off``, do this interval's core and envelope land on the first
        interval's? (The clouds of the two layouts line up, so a cloud-only core agrees while the
        text sits on the other side: the envelopes tell the layouts apart, by their overlap and by
        the side of the cloud each extends to.)"""
        return _overlap(core, off, *self.ref_core) >= MIN_CORE_OVERLAP and \
            _overlap(env, off, *self.ref_env) >= MIN_ENV_OVERLAP and \
            _opposite_sides(env, off, *self.ref_env) < MAX_SIDE_SHARE

    def known(self, iid: int) -> bool:
        return iid in self.offsets

    def add(self, iid: int, k: int, bright: np.ndarray) -> None:
        """Record the bright mask of interval ``iid``'s animation frame ``k`` (crop coordinates)."""
        if iid not in self.offsets or k < 0:
            return
        lst = self.masks.setdefault(k, [])
        if sum(1 for j, _ in lst if j != iid) >= MAX_PER_PHASE or any(j == iid for j, _ in lst):
            return
        lst.append((iid, np.packbits(bright, axis=None)))

    def add_unphased(self, iid: int, bright: np.ndarray) -> None:
        """Record a bright mask of interval ``iid`` whose animation frame is unknown: where it is
        bright often enough still bounds where the mark can be in ANY frame elsewhere (a bright
        card beside one position is not at the others)."""
        if iid not in self.offsets:
            return
        n, c = self.unphased.get(iid, (0, np.zeros(bright.shape, np.uint16)))
        self.unphased[iid] = (n + 1, c + bright)
        self._any.clear()

    def _unphased_bound(self, iid: int, out: np.ndarray | None) -> np.ndarray | None:
        """``out`` AND-ed with the other unphased intervals' bounds (None: no constraint yet): the
        pixels bright in at least ``UNPHASED_SHARE`` of their frames, grown by ``UNPHASED_GROW`` px
        (the cloud's rarer, larger animation frames; scenery bright now and then stays out)."""
        for j, (n, c) in self.unphased.items():
            if j == iid or iid not in self.offsets or n < UNPHASED_MIN:
                continue
            k = 2 * UNPHASED_GROW + 1
            m = cv2.dilate((c >= UNPHASED_SHARE * n).astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool)
            out = self._and_placed(iid, j, m, np.ones(self.shapes[iid], bool) if out is None else out)
        return out

    def _unpack(self, j: int, packed: np.ndarray) -> np.ndarray:
        h, w = self.shapes[j]
        return np.unpackbits(packed, count=h * w).reshape(h, w).astype(bool)

    def prior(self, iid: int, k: int, spread: int = 1) -> np.ndarray | None:
        """Where the mark can be in frame ``k`` of interval ``iid`` (its crop coordinates): the
        AND of the other intervals' bright masks at that frame, OR-ed over ``k +- spread`` (a
        detected start can be a frame off). None if no other interval has seen those frames.
        A frame bounded by one other place over bright scenery, bright nearly everywhere
        (``USELESS_BOUND``), bounds nothing; OR-ed in, it undid its neighbours' bounds, so it is
        left out where they bound. (The selfie's bottom-middle place was left free from the
        animation's frame 62 on, and a white mat that interval's usual shape holds beside the
        text was filled as the mark's faint strokes: a grey blob.)"""
        terms = [m for m in (self._and_others(iid, kk) for kk in range(k - spread, k + spread + 1)) if m is not None]
        told = [m for m in terms if m.mean() < USELESS_BOUND]
        out = None
        for m in told or terms:
            out = m if out is None else out | m
        return self._unphased_bound(iid, out)

    def prior_any(self, iid: int) -> np.ndarray | None:
        """Where the mark can be in ANY frame of its animation (the OR over all frames of
        :meth:`prior`): the bound for frames whose animation frame is not known."""
        if iid in self._any:
            return self._any[iid]
        out = None
        for k in sorted(self.masks):
            m = self._and_others(iid, k)
            if m is not None:
                out = m if out is None else out | m
        out = self._unphased_bound(iid, out)
        self._any[iid] = out
        return out

    def _and_others(self, iid: int, k: int) -> np.ndarray | None:
        """AND of the other intervals' bright masks at frame ``k``; pixels no other interval covers
        are left True (no constraint)."""
        if iid not in self.offsets or k < 0:
            return None
        others = [(j, m) for j, m in self.masks.get(k, []) if j != iid]
        if not others:
            return None
        out = np.ones(self.shapes[iid], bool)
        for j, packed in others:
            out = self._and_placed(iid, j, self._unpack(j, packed), out)
        return out

    def _and_placed(self, iid: int, j: int, m: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out`` (interval ``iid``'s crop) AND-ed with interval ``j``'s mask ``m`` where they overlap."""
        h, w = out.shape
        ox, oy = self.offsets[iid]
        jx, jy = self.offsets[j]
        # pixel (x, y) of j's crop is bank (x + jx, y + jy); in iid's crop: (x + jx - ox, y + jy - oy)
        dx, dy = jx - ox, jy - oy
        xs0, ys0 = max(0, dx), max(0, dy)
        xs1, ys1 = min(w, dx + m.shape[1]), min(h, dy + m.shape[0])
        if xs1 > xs0 and ys1 > ys0:
            out[ys0:ys1, xs0:xs1] &= m[ys0 - dy:ys1 - dy, xs0 - dx:xs1 - dx]
        return out
