"""Matte estimation and restoration inside one position interval (box crops only).

Model (Y plane, limited range): ``I = a * 235 + (1 - a) * B`` (the mark is white), chroma:
``C - 128 = (1 - a) * (C_B - 128)``. The matte is ``a = a0 * shape_t`` with one core opacity
``a0`` (~0.74) and a per-frame binary shape with ~1 px soft edges: the cloud animates (wobbles,
blinks), so the shape is estimated in EVERY frame, not once per interval.

Per interval (from its first frames):

* ``envelope``: pixels the mark covers in a good share of the frames (per-frame alpha estimate
  high AND luma at least that of the mark over black), dilated; outside it is background.
* ``a0``: median alpha over the static core (pixels covered in >= 80 % of frames).
* ``weak``: pixels of the static part (text, handle) with a small but real alpha (thin strokes,
  anti-aliased edges), from the interval's least-squares static matte.

Per frame:

* ``B~``: normalised-convolution fill of the frame from outside the envelope (smooth background);
  ``A = (I - B~) / (235 - B~)`` the per-frame alpha estimate;
* shape: ``A > a0/2`` and ``I >= a0*235 + (1-a0)*16`` (a covered pixel cannot be darker than the
  mark over black; this rejects bright scenery inside the envelope), 3x3 median cleaned;
* un-blend ``B = (I - a0*235) / (1 - a0)`` on the shape's interior; its 1-px edge ring and the weak
  static pixels, where the alpha is uncertain, are filled (normalised convolution, sigma 1.5) from
  the un-blended interior and the untouched outside: no halo;
* clean plates: the box in the nearest frames before and after the interval (the mark elsewhere).
  Where the camera held still and the scene around a pixel still matches a plate (light changes
  followed), the plate's value fills the ring and the faint pixels the shape test missed, is
  blended into textured un-blended interior by how well it matches, and re-reads a0;
* calmed: each restored pixel (not one a plate gave) stays near its 5x5 median, as near as the
  scene's own fine texture around the mark allows (un-blending amplifies single-pixel noise);
* a frame where the static core is not bright (blank frame at a jump, fade) is left untouched;
* in the animation's last frames the mark slides down out of the learned shape: each part's slide
  (cloud, text) is found by correlation and the frame restored through a window moved with it.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from vidgate.media.video import yuv_planes
from vidgate.watermark.chroma import restore_chroma
from vidgate.watermark.fill import blur, blurs, fill_eyes, fill_thin
from vidgate.watermark.phase import USELESS_BOUND, bandpass
from vidgate.watermark.pixelstats import PixelOrder, percentile0

WHITE = 235.0  # limited-range luma of white
K3 = np.ones((3, 3), np.uint8)
K5 = np.ones((5, 5), np.uint8)
A0_RANGE = (0.69, 0.9)  # core opacity of real marks: 0.71-0.82 measured (0.72-0.78 in wm_eval); scenery lower
DARK_JUMP = 70.0  # un-blended values this far below the local background are treated as misclassified
ODD_VOUCHED = True  # ... except well inside the other places' shape for the frame (the prior) ...
ODD_STATIC = 0.9  # ... where the interval's frames show the mark at this share of a0 or more
CORE_PCT = 35  # fallback percentile of the per-frame alpha that must be high on the always-covered core
FADED = 0.75  # a core opacity below this share of a0 is a mark fading in or out
# a frame well inside its interval (past the fade-in, before the last frames) is at full opacity even
# where the fill from around reads it faded (a dark band under the core beside brighter ground:
# running_car_vflip_landscape f81 read 0.64 and was un-blended at that share, 18 dB) ...
SETTLED = True
# ... unless the fill under the core is brighter than this: over near-white scenery the mark barely
# shows and the fade reading's view of the frame before restores it better than un-blending the
# clipped values (running_car_landscape f22-26 went from 78 to 46 dB)
SETTLED_BRIGHT = 180.0
FADE_MIN = 0.2  # opacity share below which a fading mark is not worth un-blending (nor sure)
FADE_SCALED = 0.2  # a fade frame at this share of the opacity or more is un-blended at that share (else inpainted)
FADE_APART = 0.15  # parts of a fading mark whose shares differ by more than this are restored each at its own
FADE_FAINT = 0.08  # ... and a part showing less than FADE_SCALED but this share or more has what it lifts filled
FADE_VIEW = True  # a fade frame's shape is read against the nearby frame its share was read on (False: the fill)
FADE_SAME = 0.01  # ... and parts that agree are still each restored at its own share where they differ by more
FADE_EYES_LAST = 15.0  # levels: a fade frame's eyes include the last full frame's this much darker than around (0: off)
FADE_WHOLE = True  # in an interval's last frames a fade's lifted pixels are filled near its usual shape and strokes too
FADE_END_SCATTERED = True  # in an interval's last frames a fade's scattered readings' median decides (False: none)
SURE_MIN = 12  # pixels at least that a fading mark's share is read on
PREV_SPREAD = 0.1  # ... against the last full frame's restored values when its quartile is this near its median
PREV_AGE = 4  # ... and that frame is at most this many frames back
PREV_SCENE = 8.0  # ... and the scene around the mark has moved by this many levels at most (median)
SHAPED_LIFT = 6.0  # levels: a part lifted this far above a nearby frame's scene in the mark's shape is filled (0: off)
FADE_DARK = 0.3  # ... where DARK_JUMP shrinks by this much (parts of a real mark fade at their own pace)
WEAK_RIM_CORE = True  # the faint strokes near the core stay the mark's beside a solid region at the box's rim
RIM = 6  # px: a covered region this close to the box's border reaches outside the margin
REF_RING = 3  # px: the box's border ring that first estimates the background (alpha 0 there)
EDGE_CUT = 8  # px of a box side at the frame's edge bright in nearly every frame: the mark is cut there
CHROMA_STATIC = True  # the chroma un-blends the luma's holes with their static alpha (False: as uncovered)
CHROMA_RATIO = 0.7  # the core's chroma saturation over its surroundings' above which it is coloured scenery
# the always-covered core must hold this share of the box or more: real marks' cores hold 3-15 % of
# their boxes (the sets, the real videos, 54 cuts of the sets); a clean clip's bright cups, passing
# every other test, 0.04-0.34 % (a few dozen pixels that happened to stay bright)
CORE_SHARE = 0.01
EYES = True  # the cloud's eyes darker than a matching clean plate take the plate (a dark overlay)
EYE_DARK = 4.0  # levels below the plate that make an eye pixel dark
EYE_BAD = 4.0  # the plate's local residual (levels) at most there
# levels: the least gap between white and the scenery under a place's core that its opacity
# reading is weighted by (a near-white scene says next to nothing about the opacity)
A0_GAP_MIN = 8.0
HINT_TOL = 0.1  # a core pixel's median alpha within this of the other places' opacity
THIN = 5  # px: an opening this size keeps solid regions (cloud, a card) and drops thin strokes (text)
DENOISE_K = 3  # median size for the un-blended interior values (then a sigma 0.6 Gaussian); 0: off
CODEC_NOISE = 3.0  # input levels of codec noise, amplified 1/(1-a0) times by un-blending (0: denoise all alike)
TEXTURE_SIGMA = 12.0  # px: neighbourhood over which the un-blended values' variance is measured
TEXTURE_AROUND = 0.25  # share of the surroundings' local variance the un-blended interior may show (0: off)
TEXTURE_FLOOR = 2.0  # ... plus this many levels
TEXTURE_SMOOTH = 1.0  # px: the blur the excess is shrunk toward
CALM = 1.5  # a restored pixel strays from its 5x5 median by at most this many times the scene's own (0: off)
CALM_FLOOR = 0.5  # ... plus this many levels
TEMPORAL = 0.6  # strength of the motion-gated temporal averaging of un-blended values
PLATE_SIGMA = 3.0  # px: neighbourhood over which a clean plate is checked against the frame
PLATE_RING = 6.0  # local residual (input levels) below which a ring pixel takes the plate's value
PLATE_WIDE = 2.0  # the plate's fit is read this many times wider where the fine reading has no support (0: off)
PLATE_IN_OK, PLATE_IN_BAD = 2.5, 5.0  # residual where the plate replaces an un-blended value fully / not at all
PLATE_GATE_STILL = 2.0  # ... once PLATE_STILL_FRAMES frames in a row matched a plate (slow drift)
PLATE_STILL_FRAMES = 8
PLATE_BARE = 2.0  # levels: shape pixels reading their matching plate this closely around are not covered (0: off)
PLATE_GATE = 1.5  # median |frame - plate| (input levels) over the box's uncovered pixels: same scene
PLATE_FLAT_IN = 1.0  # local RMS texture of the denoised un-blended interior below which it is kept
PLATE_LIFT = 4.0  # input levels above a trusted plate that mark a pixel as covered
LIFT_NEAR = 3  # px: ... within this of where the mark usually is (0: anywhere in the envelope)
LIFT_K = 1.0  # ... and by more than this many times the plate's local residual there
PLATE_SINK = 4.0  # levels below a trusted plate that make a pixel just off the shape the mark's dark fringe (0: off)
LOCAL_FILL = 3.0  # px: sigma of the fill between the strokes the edge's alpha is read against (0: off)
LOCAL_GAP = 1  # px: pixels further than this from the shape are seen uncovered
PLATE_NEAR = True  # a plate must match the mean of the uncovered pixels 1 px off the shape too
OFFSET_WIDE = 24.0  # px: the plate's light offset deep inside the mark, far from uncovered pixels
OFFSET_SUPPORT = 0.05  # share of uncovered pixels around (fine blur) below which the wide offset takes over
# a ring pixel at a stroke's core (static alpha >= RING_CORE of a0: the middle of the text's thin
# strokes, all ring) takes its un-blended value instead of the fill where the pixels around it vary
# (their local SD, over RING_SIGMA px): weight 0 at RING_UNBLEND[0] levels, 1 at [1] (None: off)
RING_UNBLEND: tuple[float, float] | None = (8.0, 25.0)
RING_SIGMA = 2.0
RING_CORE = 0.9
FILL_ALONG = True  # ... carried along the scene's local orientation where it is coherent (luma)
A0_VOTES = (3, 10, 30)  # numbers of plate readings of a0 at which the interval's a0 is updated
PLATE_CLEAN = 0.1  # a plate candidate whose core reads a higher alpha than this still shows the mark ...
PLATE_CLEAN_STEADY = 0.2  # ... unless under this while every candidate on its side reads
PLATE_STEADY = 0.03  # ... within this of the others (bright scenery under the core, not a fade)
USUAL_GROW = 3  # px: the cloud's wobble around its usual shape ...
BODY_W = 46  # ... where its body (in the always-covered core) is this wide (704x1280); in proportion below
SLIVER = 2  # px (704x1280 size): without a prior, covered pixels this close past the cloud join it ...
SLIVER_A = 0.85  # ... where they read at least this share of the full opacity
SPILL = 4  # px (704x1280 size): ... and past the envelope by up to this (0: never) ...
SPILL_MIN = 6  # ... when at least this many pixels there read so
# the cloud swells (the animation's frames ~31-37: up to ~12 % larger, 4-5 px past its usual shape
# on a 704x1280 mark) in a few frames of its animation; a frame is matched against the interval's
# own cloud (its static alpha) scaled by each of these about the cloud's centre (1.0 first)
SWELL_SCALES: tuple[float, ...] = (1.0, 1.03, 1.06, 1.09, 1.12, 1.15)
SWELL_SPAN = 66  # frames: only an interval this long or shorter is matched (it saw the swell once at most)
SWELL_SHIFT = 3  # px: the scaled cloud's shift searched around its centre
SWELL_STEP = 0.03  # ... then each axis's scale refined by up to two such steps either way
SWELL_MAX = 1.2  # ... up to this
SWELL_MATCH = 0.6  # a frame's best match (band-passed, normalised) must reach this (the mark shows)
SWELL_GAIN = 0.04  # ... and beat the unscaled cloud's by this much: the frame is swollen (0: off)
SWELL_EDGE = 0.02  # the swollen cloud's alpha above which its soft edge is filled from beyond it
SWELL_LIFT = 0.05  # ... where it reads at least this alpha against that fill
SWELL_HOLE = 0.08  # ... and un-blended with the cloud's alpha below this instead (filling lost the texture)
BAND_UP = 3  # the handle band reaches 1/BAND_UP of the core's height above its bottom
BAND_DOWN = 1.0  # ... and this share of it below (the line lies under the cloud on wm_eval's marks)
THIN_NEAR = 1  # px: a text stroke the core mostly explains keeps to within this of the core ...
THIN_SHARE = 0.5  # ... where the core covers this share of it (else the core missed the stroke)
SOLID_CORE = True  # the cloud's wobble room only around the core's largest solid part (its body)
BRIGHTEST = 1  # levels of codec noise by which a restored pixel may exceed the input (None: no bound)
WEAK = 0.1  # static alpha (against the envelope's fill) of a faint part of the mark's static strokes
WEAK_NEAR = 2  # px: ... which lies this close to where the mark usually is
THIN_STATIC = 0.8  # a shape pixel whose static alpha reads under this share of a0 is filled like the edge ring (0: off)
WEAK_BAND = 0.25  # static alpha of the @handle line's strokes the shape test misses, under the text (0: off)
FAINT = 0.1  # static alpha (against the box's rim) of the @handle's faint anti-aliased strokes
WEAK_CHAIN = 20  # steps glyph to glyph: the band's strokes beside those taken in are taken in too (0: off)
FAINT_CHAIN = 20  # ... and the faint strokes' (with a handle only; 0: off)
FAINT_NEAR = 8  # px: faint strokes lie this close to the handle strokes already found
FAINT_FRAMES = 12  # fit frames needed before faint strokes are read (a shorter interval's are noise)
FAINT_MIN = 16  # px: a glyph's faint strokes hang together; a static scene's specks are smaller
ENV_GROW = 2  # px: the envelope's margin around the often-covered pixels
ENV_HOLES = True  # the envelope holds the holes it encloses (the eyes)
C0_SATURATED = 232.0  # luma at which a frame cannot show the mark over its scene (see _covered; 0: off) ...
C0_SAT_SHARE = 0.5  # ... in at most this share of the frames
ENV_NEAR = 6  # px: the envelope keeps to within this of the always-covered pixels ...
ENV_SHARE = 0.3  # ... in a part of it they cover this share of (else they missed that part)
VOTE_IQR = 0.05  # spread of one frame's per-pixel plate readings of a0 above which it is not a reading
HANDLE_LINE = 0.25  # a second band of core rows under the text this tall (share of the first): the @handle line
HANDLE_ASPECT = 3.1  # the core wider per tall than this: no @handle line under the text (3.2-3.5 vs 2.3-2.9 with one)
END_SLACK = 3  # px: in the last frames the shape may reach this far past the other places' shape for that frame
END_TOLD = True  # an unbounded ending frame keeps its faint strokes to the interval's last bound (see restore_y)
# the animation's last frames show the cloud without its text: a frame whose text part still reads
# this share of the cloud's or more is a fade (the real puppy's mark fading out as the video ends,
# its cloud at ~0.8 of the opacity and its text at ~0.6, was taken for the last frame: the cloud
# restored alone, the text left whole in f298; tennis_vflip_portrait's real last frame reads 0.4,
# over a bright court under the text)
END_TEXT = 0.6
END_REACH = 8  # px: how far the cloud may drop in the animation's last frames from its last shape
SLIDE = 0.05  # correlation gain over staying put that a part's slide down must show (0: off)
SLIDE_MIN = 2  # px: the least slide followed (the text's first 1 px step is blurred: not worth it)
SLIDE_MATCH = 0.5  # ... and the correlation it must reach (a part that has gone matches nowhere)


SLIDE_HANDLE = True  # the @handle line slides (or stays) on its own, not with the word above it
# a short interval whose last frames show the mark without its text (the animation's last three
# of its 19 at the video's start: bigbuckbunny_vflip_landscape) has no text in its always-covered
# core: its parts are then cut where the often-covered pixels leave a gap (one part, the whole box,
# matched the last frame's 6 px drop at 0.47 against the text it no longer shows, and was not
# followed: 27.1 dB, the dropped cloud's lowest rows left)
PARTS_COVER = True

# one part of the mark for IntervalMatte.slide: its pixels (a box-sized mask), region bounds, the
# template and the region as weights (flattened, side by side: pixels x 2), the template's norm,
# the region's size
_SlidePart = tuple[np.ndarray, tuple[int, int, int, int], np.ndarray, float, int]


def _share(v: np.ndarray, a0: float) -> float | None:
    """The share of the opacity ``a0`` that the alpha readings ``v`` over a fading mark show, or
    None when they are too few or scattered (a faded mark lifts every covered pixel alike;
    scenery gives a scattered, low estimate)."""
    if len(v) < SURE_MIN:
        return None
    med = float(np.median(v))
    return None if float(np.percentile(v, 25)) < 0.5 * med else med / a0


def _by_columns(yc: np.ndarray, results: list[tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray] | None]]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(restored crop, alpha, hole mask) put together from each part's restoration of its columns
    (bool masks), ``yc`` as it was (no alpha, no hole) where a part has none."""
    out, a, hole = yc.copy(), np.zeros(yc.shape, np.float32), np.zeros(yc.shape, np.uint8)
    for cols, r in results:
        if r is not None:
            out[:, cols], a[:, cols], hole[:, cols] = r[0][:, cols], r[1][:, cols], r[2][:, cols]
    return out, a, hole


def _median_above(v: np.ndarray, limit: float) -> bool:
    """``np.median(v) > limit`` (``v`` 1-D) by counting, without sorting (the sort
    cost a third of a millisecond a call on the plates' gates, several calls a frame)."""
    n = v.size
    if n == 0:
        return False  # (numpy's median of nothing is NaN, above nothing)
    at_most = int(np.count_nonzero(v <= limit))
    if n % 2:
        return at_most <= n // 2
    if at_most != n // 2:  # both middle values on the same side
        return at_most < n // 2
    return float(np.median(v)) > limit  # (the two middle values straddle the limit)


def _offset_support(wo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a smooth offset known on the pixels weighted ``wo`` (a plate's light against the frame's,
    read around the mark): the normalised convolutions' denominators at ``2*PLATE_SIGMA`` and
    ``OFFSET_WIDE`` px, and the share of the fine one per pixel. Deep inside the mark (the cloud's
    middle lies ~20 px from any uncovered pixel) the fine one has next to no support: floored, it
    brought a plate 26 levels darker than the sky only a few levels toward it there (the cloud's eyes
    came out dark); the wide one takes over where the fine support is under ``OFFSET_SUPPORT``."""
    fine, wide = blurs(wo, 2 * PLATE_SIGMA, OFFSET_WIDE)
    k = np.clip(fine / OFFSET_SUPPORT, 0, 1)
    return np.maximum(fine, 1e-6), np.maximum(wide, 1e-6), k


def _local_var(x: np.ndarray, w: np.ndarray, den: np.ndarray, sigma: float = TEXTURE_SIGMA) -> np.ndarray:
    """Variance of ``x`` over ``sigma`` px, weighted by ``w`` (``den``: the blur of ``w``)."""
    mu = blur(x * w, sigma) / den
    return blur(x * x * w, sigma) / den - mu * mu


def _brightest(yc: np.ndarray, free: np.ndarray | None = None) -> np.ndarray | None:
    """The brightest each restored pixel of the luma crop ``yc`` may be (uint8; None: no bound). An
    overlay of white (235) only brightens what is darker than its white (``I = a*235 + (1-a)*B >= B``
    for ``B <= 235``), so where the input is below white the background is no brighter than what
    is seen there (plus ``BRIGHTEST`` levels of codec noise): a fill from brighter surroundings over
    a fence's dark wire, or over a pixel the mark never covered, keeps what is seen. Where the
    input reaches white the scenery may be brighter still (x264 keeps 236-255: a white car is
    darkened by the mark): no bound there. (The matching lower bound, from the most opaque the mark
    can be, amplifies the codec's noise ~4x: it lifted ringing next to the mark into bright specks
    on the real puppy.) ``free``: pixels under a dark part of the mark (its eyes), not bounded."""
    if BRIGHTEST is None:
        return None
    yi = yc.astype(np.int16) + BRIGHTEST
    if free is not None:
        yi[free] = 255
    return np.where(yi >= WHITE, 255, yi).astype(np.uint8)


def _dark_parts(y: np.ndarray, out: np.ndarray, mask: np.ndarray, by: float) -> np.ndarray:
    """The connected parts of ``mask`` whose median in ``y`` reads at least ``by`` levels under the
    median of ``out`` in a ring 3-4 px around them (a dark overlay, not a hole showing the scene)."""
    n, lab = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(mask.shape, bool)
    for i in range(1, n):
        part = lab == i
        ring = _grow(part, 4) & ~_grow(part, 2)
        if ring.any() and float(np.median(y[part])) <= float(np.median(out[ring])) - by:
            keep |= part
    return keep


def _darkest(a0: float) -> float:
    """The darkest a pixel under the mark at opacity ``a0`` can be: the mark over black, less 8
    levels of codec noise (a covered pixel is never darker, whatever the scene behind it)."""
    return a0 * WHITE + (1 - a0) * 16 - 8


class Filler:
    """Normalised-convolution fill of the pixels outside ``known`` (a smooth background estimate).
    The mask's own blurs are the same for every frame of an interval: computed once."""

    def __init__(self, known: np.ndarray, sigma: float) -> None:
        self.known, self.sigma = known, sigma
        self.w = known.astype(np.float32)
        near, far = blurs(self.w, sigma, sigma * 3)
        self.den = np.maximum(near, 1e-4)
        self.den2 = np.maximum(far, 1e-4)
        self.t = np.clip(near / 0.2, 0, 1)

    def fill(self, y: np.ndarray) -> np.ndarray:
        near, far = blurs(y * self.w, self.sigma, self.sigma * 3)
        out = near / self.den
        out2 = far / self.den2
        return np.where(self.known, y, self.t * out + (1 - self.t) * out2)

    def alpha_hat(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(per-pixel alpha estimate ``(I - B~) / (235 - B~)``, the fill ``B~``)."""
        b = self.fill(y)
        return (y - b) / np.maximum(WHITE - b, 8.0), b

    def alphas(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For a stack of frames: (each frame's :meth:`alpha_hat`, the static alpha per pixel, the
        least-squares fit of ``I = a*235 + (1-a)*B~`` over the frames, in [0, 1])."""
        AB = [self.alpha_hat(y) for y in Y]
        D = np.maximum(WHITE - np.stack([b for _, b in AB]), 8.0)
        static = np.clip(((Y - (WHITE - D)) * D).sum(0) / (D * D).sum(0), 0, 1)
        return np.stack([a for a, _ in AB]), static


def _scaled(px: int, width: int) -> int:
    """``px`` at the 704x1280 mark's size, for a cloud body ``width`` px wide (never more)."""
    return max(1, min(px, round(px * width / BODY_W)))


def _solid(mask: np.ndarray) -> np.ndarray:
    """The solid parts of ``mask`` (uint8 0/1): those an opening of ``THIN`` px keeps (thin strokes
    of text drop out; the cloud, a card, a bright patch stay)."""
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((THIN, THIN), np.uint8))


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` (uint8 0/1) with its enclosed holes filled (the cloud's eyes)."""
    p = np.pad(mask.astype(np.uint8), 1)
    outside = p.copy()
    cv2.floodFill(outside, None, (0, 0), 1)  # everything reachable from the border
    return (p | (1 - outside))[1:-1, 1:-1]


def _grow(mask: np.ndarray, px: int) -> np.ndarray:
    """``mask`` grown by ``px`` pixels (a square neighbourhood), bool."""
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)).astype(bool)


def _held_by(mask: np.ndarray, near: np.ndarray, share: float, keep: np.ndarray | None = None) -> np.ndarray:
    """``mask`` (bool) with each of its connected parts that ``near`` covers by at least ``share``
    cut down to ``near`` (or to ``keep``, when given); the others as they are (where the core
    missed a part, it says nothing)."""
    n, lab = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    size = np.bincount(lab.ravel(), minlength=n)
    held = np.bincount(lab[near], minlength=n)
    tight = held >= share * size
    tight[0] = False
    return np.where(tight[lab], mask & (near if keep is None else keep), mask)


def _labels_in(lab: np.ndarray, ids: np.ndarray, n: int) -> np.ndarray:
    """``np.isin(lab, ids)`` for a label image with labels below ``n`` (a lookup: ~3x faster)."""
    lut = np.zeros(n, bool)
    lut[ids] = True
    return lut[lab]


def _labels_at(lab: np.ndarray, where: np.ndarray, n: int) -> np.ndarray:
    """The labels other than 0 found at ``where`` (``np.unique``'s, counted instead of sorted)."""
    seen = np.flatnonzero(np.bincount(lab[where], minlength=n))
    return seen[seen > 0]


#: the sides of a box (top, bottom, left, right) that are the frame's own edges, where the picture
#: may have been cropped through the mark: the mark runs past them, so no margin of scenery lies there
Edges = tuple[bool, bool, bool, bool]
NO_EDGES: Edges = (False, False, False, False)


def border_ring(shape: tuple[int, ...], width: int, edges: Edges = NO_EDGES) -> np.ndarray:
    """A box's border ring ``width`` px wide, less its sides at the frame's ``edges``."""
    out = np.zeros(shape[:2], bool)
    top, bottom, left, right = edges
    if not top:
        out[:width] = True
    if not bottom:
        out[-width:] = True
    if not left:
        out[:, :width] = True
    if not right:
        out[:, -width:] = True
    return out


def _solid_at_rim(mask: np.ndarray, edges: Edges = NO_EDGES) -> np.ndarray:
    """The solid parts of ``mask`` that run into the box's border ring, grown by 1 px."""
    solid = _solid(mask)
    n, lab = cv2.connectedComponents(solid, connectivity=8)
    out = _labels_at(lab, border_ring(mask.shape, REF_RING, edges) & (solid > 0), n)
    return cv2.dilate(_labels_in(lab, out, n).astype(np.uint8), K3).astype(bool)


def _covered(A: np.ndarray, Y: np.ndarray, plain: np.ndarray | None = None) -> np.ndarray:
    """The pixels of the luma stack ``Y`` (frames, h, w) whose alpha estimates ``A`` read the mark
    (over 0.45) in all but a fifth of the frames that could show it: a frame whose scene there is
    at the mark's white or above (``C0_SATURATED``) cannot, and does not vote a pixel out, given
    that at most ``C0_SAT_SHARE`` of the frames are such (running_car_flip_portrait's "ra" read
    0.7-0.85 until the sky behind it saturated for the interval's last quarter). ``plain``: the
    same test over every frame, when known (only the pixels it refuses are read again)."""
    if plain is None:
        plain = percentile0(A, 20) > 0.45
    sat = Y >= C0_SATURATED
    share = sat.mean(0)
    again = ~plain & (share > 0) & (share <= C0_SAT_SHARE)
    out = plain.copy()
    if again.any():
        out[again] = percentile0(np.where(sat[:, again], 1.0, A[:, again]), 20) > 0.45
    return out


# (the cloud's alpha, the window it is matched in, its scaled copies by scale: see _swollen)
_SwellBank = tuple[np.ndarray | None, tuple[int, int, int, int],
                   dict[tuple[float, float], tuple[np.ndarray, np.ndarray]]]


def _scale_about_centre(alpha: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """``alpha`` scaled by (``sx``, ``sy``) about its centre of mass, same size."""
    mo = cv2.moments(alpha)
    cx, cy = mo["m10"] / mo["m00"], mo["m01"] / mo["m00"]
    m = np.float32([[sx, 0, cx * (1 - sx)], [0, sy, cy * (1 - sy)]])
    return cv2.warpAffine(alpha, m, (alpha.shape[1], alpha.shape[0]), flags=cv2.INTER_LINEAR)


class IntervalMatte:
    """Per-interval statistics of the mark in a box; restores frames one at a time."""

    def __init__(self, crops: list[np.ndarray], a0_hint: float | None = None, edges: Edges = NO_EDGES) -> None:
        """``a0_hint``: the mark's opacity measured at its other places; the always-covered core then
        keeps only pixels whose alpha agrees with it (static bright scenery joined to the mark, a
        picture frame's white edge, reads a lower, different alpha and pulls the estimate down).
        ``edges``: the box's sides at the frame's edges (the mark may be cut there: the border ring
        that reads the scenery around the mark leaves them out)."""
        Y = np.stack([c.astype(np.float32) for c in crops])
        # the interval's length (frames), when the pipeline knows it: only a short one is matched
        # for the cloud's swell (see _swollen)
        self.span = len(crops)
        h, w = Y.shape[1:]
        self.h, self.w = h, w
        self.sigma = max(2.0, min(h, w) / 8)
        # a covered pixel is never darker than the mark over black (a0 ~ 0.74 for a first guess)
        ymin0 = _darkest(0.74)
        bright = Y >= ymin0
        often = bright.mean(0) >= 0.9
        # a side at the frame's edge cuts the mark only where something bright in nearly every
        # frame runs into it (a box merely reaching the edge keeps its margin of scenery there)
        sides = (often[:REF_RING].any(0), often[-REF_RING:].any(0), often[:, :REF_RING].any(1),
                 often[:, -REF_RING:].any(1))
        top, bottom, left, right = (e and int(v.sum()) >= EDGE_CUT for e, v in zip(edges, sides, strict=True))
        # (a box cut on every side, the whole of a tiny frame, keeps its ring: no scenery to read else)
        edges = NO_EDGES if top and bottom and left and right else (top, bottom, left, right)
        self.edges = edges
        ring_fill = Filler(border_ring((h, w), REF_RING, edges), self.sigma)
        self.ring_fill = ring_fill
        # (the static alpha against the box's rim sees faint strokes outside the envelope too)
        A, static_rim = ring_fill.alphas(Y)
        env = ((A > 0.3) & bright).mean(0) >= 0.2
        # bright scenery passing beside the mark in a fifth of the frames (a panning wall's pale
        # lettering) joins it: the envelope keeps to near the always-covered pixels (read against
        # the rim's fill here) where they explain a good share of a part of it
        plain = percentile0(A, 20) > 0.45
        c0 = plain & often
        if ENV_NEAR and c0.sum() >= 12:
            # (the cloud's eyes blink: what lies in them is near too; a part cut down keeps what is
            # near the pixels covered in every frame that could show the mark: see _covered)
            keep = _grow(_fill_holes(_covered(A, Y, plain) & often), ENV_NEAR) if C0_SATURATED else None
            env = _held_by(env, _grow(_fill_holes(c0), ENV_NEAR), ENV_SHARE, keep)
        self.cover = env  # often covered (before the envelope's margin): a box side it runs into cuts the mark
        env = cv2.dilate(env.astype(np.uint8), np.ones((2 * ENV_GROW + 1,) * 2, np.uint8)).astype(bool)
        if ENV_HOLES:
            # the cloud's eyes are covered only while it blinks (3 of its 66 frames): outside the
            # envelope they were read as background, and their covered pixels left white
            env = _fill_holes(env).astype(bool)
        env &= ~border_ring(env.shape, 2, edges)
        self.env = env
        self.known = ~env
        self.filler = Filler(self.known, self.sigma)
        A, static = self.filler.alphas(Y)
        order = PixelOrder(A)
        core = (order.percentile(20) > 0.45) & often
        if core.sum() < 12:
            # a bright, changing background (sky over a horizon) spoils many frames' estimates:
            # ask for a high alpha in most frames instead of nearly all
            core = (order.percentile(CORE_PCT) > 0.45) & often
        # the box has a margin around the mark: a solid part of the core that runs into the box's
        # border ring is scenery (a white card under the handle line, bright in every frame)
        core &= ~_solid_at_rim(core, edges)
        med = order.median()
        if a0_hint is not None:
            core &= np.abs(med - a0_hint) <= HINT_TOL
        self.found = bool(core.sum() >= 12 and env.any())
        self.a0 = float(np.clip(np.median(med[core]), 0.45, 0.9)) if self.found else 0.0
        self.core = core
        self.weak = (static > WEAK) & env
        self._static = static  # (per pixel, against the envelope's fill; see restore_y)
        self.ymin = _darkest(self.a0)
        # bright in every frame seen: holds the static part of the mark (text, handle line)
        self.steady = (Y >= self.ymin).all(0) if self.found else np.zeros((h, w), bool)
        self.mean = Y.mean(0)
        # how much this place's opacity reading is worth beside the others': read against a fill of
        # the scenery, (I - B) / (235 - B), a fill error moves it by (1 - a0) / (235 - B) per level:
        # over dark hair ~0.001, over a bright sky ~0.006 (its inverse variance; see pooled_a0)
        self.a0_weight = 0.0
        if self.found:
            gap = float(np.median(WHITE - self.filler.fill(self.mean)[core]))
            self.a0_weight = max(gap, A0_GAP_MIN) ** 2
        self.near_core = cv2.dilate(core.astype(np.uint8), K5).astype(bool)
        # where the mark usually is: its shape in most of the fit frames, holes (the eyes, which
        # blink) filled, grown by the cloud's wobble; bright scenery that passes the shape test
        # in a few frames (sky behind the text) falls outside it
        self.usual = np.ones((h, w), bool)
        # where the cloud's larger animation frames reach past its usual shape (``SLIVER`` px at
        # the 704x1280 mark's size, in proportion below), and that reach
        self._pop: tuple[np.ndarray, int] | None = None
        # (a band past the envelope, its width, its far side; the fill from beyond it, built when
        # a frame first needs it: most intervals have a prior for every frame)
        self._spill: tuple[np.ndarray, int, np.ndarray] | None = None
        self._outer: Filler | None = None
        # (the band-passed scaled clouds a frame is matched against: see _swollen)
        self._swell_bank: _SwellBank | None = None
        if self.found:
            cloud, thin, width = self._usual_parts(((A > self.a0 / 2) & (Y >= self.ymin) & env).mean(0) >= 0.5, core)
            self.usual = cloud | thin
            if SLIVER and cloud.any():
                reach = _scaled(SLIVER, width)
                self._pop = (_grow(cloud, reach), reach)
                if SPILL:
                    # (and past the envelope: bright pixels there fed the fill the shape is read
                    # against; a second fill, from beyond a band around the cloud, for such frames)
                    out = _scaled(SPILL, width)
                    band = _grow(cloud, reach + out) & ~env
                    band[:2], band[-2:], band[:, :2], band[:, -2:] = False, False, False, False
                    if band.any():
                        self._spill = (band, out, band & _grow(~(band | env), 1))
        # (faint static strokes are the mark's too: thin anti-aliased ones lie just off its shape)
        near = _grow(self.usual, WEAK_NEAR)
        # the @handle line's glyphs over ground dark in most frames (thin: under the full opacity)
        # fail the shape test and lie too far from where the mark usually is: its static strokes
        # in the band under the text, thin and beside the strokes already found, are the mark's
        # when it has a handle (decided later, over all places; see restore_y)
        self._weak_band = np.zeros((h, w), bool)
        if WEAK_BAND and self.found:
            zone = self._band_zone()
            self._weak_band = self._beside_handle((static > WEAK_BAND) & self.weak & ~near & zone, zone,
                                                  self.weak & near | self.steady, WEAK_CHAIN)
        self.weak &= near
        # (nor is a solid bright region that runs out of the box, a card beside the mark: it is
        # not a missed stroke to fill from around it; but the strokes it touches are: a short
        # interval over a banner's big bright letters read them static, and the @handle's glyphs
        # they crossed went with them, left whole where the shape test's median dropped them)
        rim = _solid_at_rim(self.weak, self.edges)
        self.weak &= ~(rim & ~self.near_core if WEAK_RIM_CORE else rim)
        if self.found and FAINT and len(Y) >= FAINT_FRAMES:
            faint = self._faint_strokes(static_rim)
            if FAINT_CHAIN:
                # (further along the line, glyph to glyph, only once the mark is known to carry
                # one: chained on a mark without a handle they crept through scenery)
                self._weak_band |= self._faint_strokes(static_rim, FAINT_CHAIN) & ~faint
            self.weak |= faint
        self._prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (input, output, interior)
        # the last frame restored at full opacity (its _prev) and how many frames ago: fade frames
        # read their share against it (see _readings)
        self._full: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._full_age = 0
        # the interval's first frame at full opacity (its luma crop), when found ahead: fade-in
        # frames, before any full frame was restored, read their share against it (see _fade_in_views)
        self._first: tuple[np.ndarray, np.ndarray | None] | None = None
        self._views: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None  # see _fade_in_views
        self._plain: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # the frame before, as it was
        self.plates: list[np.ndarray] = []
        self._a0_votes: list[float] = []  # core opacity read against a matching plate, per frame
        self._still = 0  # consecutive frames a plate matched (the camera held still)
        self._band: np.ndarray | None = None  # see _band_strokes
        self._border: np.ndarray | None = None  # the box's rim ring, RIM px wide (see restore_y)
        self._part_cols: list[np.ndarray] | None = None  # see _parts
        self._last_s: np.ndarray | None = None  # shape in the last frame with the mark at full opacity
        self._told: np.ndarray | None = None  # where the mark could be in the last frame other places bounded
        self._fading = False  # restoring a fade frame at a scaled opacity (see _faded)
        self._view: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # ... its shares read there
        self._judged = self.core  # the core's pixels the mark's presence at full opacity is judged on
        self._around: tuple[np.ndarray, np.ndarray] | None = None  # see _around_weights
        self._lift_zone: np.ndarray | None = None  # where a pixel lifted above a plate is the mark's
        self.handle: bool | None = None  # the mark has an @handle line (set over all places; see _has_handle)
        self._own_handle: bool | None = None  # this interval's own verdict, until the places' is set
        self._slide: tuple[list[_SlidePart], list[_SlidePart]] | None = None  # see slide

    @staticmethod
    def _usual_parts(shape: np.ndarray, core: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """Where the mark usually is, from its shape in most fit frames: its solid part (the cloud)
        with its holes filled (the eyes blink) and grown by the cloud's wobble; thin strokes (the
        text, whose counters are never covered: on a bright background they pass the per-frame
        test) grown by 2 px only, and kept within ``THIN_NEAR`` px of the always-covered ``core``
        where it explains most of a stroke: bright scenery passing beside the letters (a wall's
        lettering under a panning camera) fattened them into blobs that were un-blended dark.
        Only the solid part around the core's largest solid blob (the cloud's body) is the cloud:
        a sunlit road joined to a letter passed the solid test and got the cloud's wobble room.
        Returns the cloud's part, the thin strokes' part and the cloud's body width (``BODY_W``
        without a body)."""
        m = shape.astype(np.uint8)
        solid = _solid(m)
        grow = USUAL_GROW
        width = BODY_W
        if SOLID_CORE and core is not None:
            # the cloud's body is solid in the core too; a solid blob around a letter (bright road
            # joined to an "a") is not the cloud, and does not get the cloud's wobble room
            got = IntervalMatte._body(core)
            if got is not None:
                body, width = got
                # the wobble scales with the mark (drawn in proportion to the video): a 264x480
                # video's cloud is ~20 px wide, and 3 px of room bridged the gap to its text,
                # over white fur un-blended dark
                grow = _scaled(USUAL_GROW, width)
                solid &= _grow(body, grow).astype(np.uint8)
        thin = _grow(m, 2)
        if THIN_NEAR and core is not None:
            # (a stroke the core missed: a short interval that holds the text-less last frames)
            thin = _held_by(thin, _grow(core, THIN_NEAR), THIN_SHARE)
        return _grow(_fill_holes(solid), grow), thin, width

    @staticmethod
    def _body(core: np.ndarray) -> tuple[np.ndarray, int] | None:
        """The cloud's body: the core's largest solid blobs (a letter's thick stroke is far
        smaller), and the largest one's width; None without a solid blob."""
        n, lab, st, _ = cv2.connectedComponentsWithStats(_solid(core), connectivity=8)
        if n <= 1:
            return None
        area = st[:, cv2.CC_STAT_AREA]
        body = area >= area[1:].max() / 2
        body[0] = False
        return body[lab], int(st[1 + int(np.argmax(area[1:])), cv2.CC_STAT_WIDTH])

    def set_plates(self, *sides: list[np.ndarray]) -> None:
        """Clean views of the box: for each side (frames before the interval, frames after it,
        nearest first), the nearest crop that does not show the mark (it is elsewhere by then, or
        gone; a fading mark still lifts the core). Where the scene has not changed since, a plate
        holds the true background, under the mark's soft edges too, where un-blending cannot.
        (Bright static scenery under the core, brighter than around it, lifts every clean view's
        reading alike: bigbuckbunny_landscape's fur read 0.11-0.12 and that place had no plate.)"""
        self.plates = []
        if not self.found:
            return
        for crops in sides:
            ys = [c.astype(np.float32) for c in crops]
            reads = [float(np.median(self.filler.alpha_hat(y)[0][self.core])) for y in ys]
            # bright scenery under the core reads as a faint mark against the fill from around it,
            # but steadily, frame after frame; a mark fading in or out changes between frames
            steady = len(reads) >= 3 and max(reads) - min(reads) <= PLATE_STEADY
            for y, r in zip(ys, reads, strict=True):
                if r < PLATE_CLEAN or (steady and r < PLATE_CLEAN_STEADY):
                    self.plates.append(y)
                    break

    def _plate(self, y: np.ndarray, b: np.ndarray, out: np.ndarray, inner: np.ndarray,
               near: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
        """(plate value, local residual in input levels, bare) per pixel, from the plate that best
        matches this frame around each pixel: the uncovered surroundings (``out``) must match it
        within the codec's noise and the covered interior (``inner``) must be explained by it under
        the mark. None when every plate shows another picture (the camera or the scene moved).
        ``near``: uncovered pixels closer to the shape (the gaps between the letters), too near the
        strokes' codec ringing for the RMS test: their mean residual must be small too. ``bare``: the
        pixels some matching plate shows uncovered (see ``PLATE_BARE``; None when off)."""
        wo, wi = out.astype(np.float32), inner.astype(np.float32)
        wn = None if near is None else near.astype(np.float32)
        # the neighbourhoods' weights, once a plate matches (most frames of a moving scene have none),
        # and where the fine reading has no support: read wider there (``dw``), or nowhere (``unseen``)
        weights: tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray] | None = None
        best: np.ndarray | None = None
        val = y
        wsum = _offset_support(wo)
        bare: np.ndarray | None = None
        # a camera seen still for a while drifts slowly (light, leaves): a little more is allowed
        gate = PLATE_GATE_STILL if self._still >= PLATE_STILL_FRAMES else PLATE_GATE
        for P in self.plates:
            P = self._matching(y, P, out, wo, wsum, gate)
            if P is None:
                continue  # the camera or the scene moved: this plate shows another picture
            if weights is None:
                dn = None if wn is None else blur(wn, PLATE_SIGMA)
                do, di = blur(wo, PLATE_SIGMA), blur(wi, PLATE_SIGMA)
                unseen = (do < 0.05) & (di < 0.05)
                dw = None
                if PLATE_WIDE and unseen.any():
                    # the middle of a solid text block lies further than the fine check reaches
                    # from any uncovered pixel: read it over a wider neighbourhood there
                    dw = blur(wo, PLATE_WIDE * PLATE_SIGMA)
                    dw = np.where(unseen & (dw >= 0.05), dw, 0)
                    unseen &= dw == 0
                weights = (do, di, dn, dw, unseen)
            do, di, dn, dw, unseen = weights
            ro = (y - P) * wo
            self._vote_a0(y, P, inner)
            rms_o = np.sqrt(blur(ro * ro, PLATE_SIGMA) / np.maximum(do, 1e-3))
            # inside, compared in input levels: I - (a0 * 235 + (1 - a0) * plate)
            ri = (1 - self.a0) * (b - P) * wi
            bad_i = np.sqrt(blur(ri * ri, PLATE_SIGMA) / np.maximum(di, 1e-3))
            bad = np.where(do >= 0.05, rms_o, 0)
            bad = np.where(di >= 0.05, np.maximum(bad, bad_i), bad)
            if wn is not None and dn is not None:
                # (ringing averages out; a plate whose light differs there does not: a dark patch
                # of sky under the text that the plate shows elsewhere, which the offset read
                # further out misses, lightened the letters on sth_soar2)
                bias = np.abs(blur((y - P) * wn, PLATE_SIGMA)) / np.maximum(dn, 1e-3)
                bad = np.where(dn >= 0.05, np.maximum(bad, bias), bad)
            if dw is not None:
                rw = np.sqrt(blur(ro * ro, PLATE_WIDE * PLATE_SIGMA) / np.maximum(dw, 1e-3))
                bad = np.where(dw > 0, rw, bad)
            bad[unseen] = np.inf
            if PLATE_BARE:
                # (a covered pixel reads a0 * (235 - plate) above the plate: only a near-white one
                # reads within a few levels of it, pixel by pixel and around; a pixel whose eight
                # neighbours all read so is uncovered too, whatever the codec's noise did to it)
                dy = np.abs(y - P)
                seen = ((dy <= 2 * PLATE_BARE) & (cv2.GaussianBlur(dy, (0, 0), 2.0) <= PLATE_BARE)).astype(np.uint8)
                seen = (seen > 0) | (cv2.boxFilter(seen, -1, (3, 3), normalize=False) - seen >= 8)
                bare = seen if bare is None else bare | seen
            if best is None:
                best, val = bad, P
            else:
                val = np.where(bad < best, P, val)
                best = np.minimum(bad, best)
        self._still = 0 if best is None else self._still + 1
        if best is None:
            return None
        return val, best, bare

    @staticmethod
    def _matching(y: np.ndarray, P: np.ndarray, out: np.ndarray, wo: np.ndarray,
                  wsum: tuple[np.ndarray, np.ndarray, np.ndarray], gate: float) -> np.ndarray | None:
        """The plate ``P`` brought to this frame's light (exposure, a passing cloud: its smooth offset
        from the frame around the mark, ``wo`` = ``out`` as weights, ``wsum`` from
        :func:`_offset_support`; inside, a slightly wrong a0 would bias it), or None when the
        uncovered pixels ``out`` do not match it within ``gate`` (median, input levels): the camera
        or the scene moved."""
        d = (y - P) * wo
        fine, wide, k = wsum
        near, far = blurs(d, 2 * PLATE_SIGMA, OFFSET_WIDE)
        P = P + k * near / fine + (1 - k) * far / wide
        if not out.any() or _median_above(np.abs(y - P)[out], gate):
            return None
        return P

    def prevote(self, crops: list[np.ndarray]) -> None:
        """Read the core's opacity against the plates in these crops (frames near the interval's
        ends, where the scene is most likely what a plate shows) before any frame is restored: the
        readings are far better than the estimate against a fill of the surroundings, and the
        pipeline shares them between positions."""
        if not self.plates:
            return
        out = ~cv2.dilate(self.env.astype(np.uint8), K5).astype(bool)
        # (the core's own rim is partly covered in some frames: read inside it)
        inner = cv2.erode(self.core.astype(np.uint8), K3).astype(bool)
        wo = out.astype(np.float32)
        wsum = _offset_support(wo)
        for c in crops:
            y = c.astype(np.float32)
            for P in self.plates:
                Pm = self._matching(y, P, out, wo, wsum, PLATE_GATE)
                if Pm is not None:
                    self._vote_a0(y, Pm, inner)
                    break

    @property
    def a0_votes(self) -> list[float]:
        """The core opacity read against matching plates so far (one per frame)."""
        return self._a0_votes

    def set_a0(self, a0: float) -> None:
        """Take the core opacity from elsewhere (the same mark's other positions)."""
        if self.found and A0_RANGE[0] <= a0 <= A0_RANGE[1]:
            self.a0 = a0
            self.ymin = _darkest(a0)

    def _vote_a0(self, y: np.ndarray, plate: np.ndarray, inner: np.ndarray) -> None:
        """Against a matching plate the core's opacity reads directly, ``(I - P) / (235 - P)``,
        far better than against a smooth fill of the surroundings (a 0.01 error in a0 moves
        un-blended values by ~5 levels). The interval's a0 follows the votes' median."""
        sure = self.core & inner & (plate < WHITE - 60)
        # a reading from a few pixels is biased (those a dark plate leaves are where the plate is
        # most likely off: a cloud passing behind the mark only): a quarter of the core at least
        if sure.sum() < max(30, int(self.core.sum()) // 4):
            return
        r = (y[sure] - plate[sure]) / (WHITE - plate[sure])
        q1, med, q3 = (float(v) for v in np.percentile(r, [25, 50, 75]))
        # against the right plate the readings agree within the codec's noise (IQR 0.015-0.05 on
        # the wm_eval cases); scattered ones mean the scene under the mark changed (a car went by),
        # and one out of range that the mark is not there at full opacity
        if q3 - q1 > VOTE_IQR or not A0_RANGE[0] <= med <= A0_RANGE[1]:
            return
        self._a0_votes.append(med)
        if len(self._a0_votes) in A0_VOTES:
            self.set_a0(float(np.median(self._a0_votes)))

    def plausible(self, yuvs: list[np.ndarray], box: tuple[int, int, int, int]) -> bool:
        """Is what we found a white semi-transparent overlay, not bright scenery?

        * opacity: the core alpha of the Sora mark is ~0.73 (0.8 for some handle-style marks);
          bright scenery read as a mark gives a lower, looser one;
        * colour: under the mark the chroma offset is scaled by (1 - a0) ~ 0.26, so its pixels are
          much less coloured than their surroundings (unless those are grey anyway);
        * brightness: un-blending a real mark gives values that continue the surroundings on
          average; bright scenery read as a mark comes out systematically too bright or too dark;
        * size: the mark's always-covered core is a fair share of its box (``CORE_SHARE``); a few
          dozen pixels of bright scenery that stayed so are not a mark.
        """
        if not self.found or not A0_RANGE[0] <= self.a0 <= A0_RANGE[1]:
            return False
        x0, y0, x1, y1 = box
        if int(self.core.sum()) < CORE_SHARE * (x1 - x0) * (y1 - y0):
            return False
        ring = cv2.dilate(self.env.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool) & ~self.env
        cw, ch = (x1 // 2) - (x0 // 2), (y1 // 2) - (y0 // 2)
        core_c = cv2.resize(self.core.astype(np.uint8), (cw, ch), interpolation=cv2.INTER_NEAREST).astype(bool)
        # the core's chroma away from its edges: a lower-rate encode smears the surroundings' colour
        # a chroma pixel or two into the mark (its core read 0.6-0.8 of the ring's saturation at
        # CRF 26); a small mark's core has no inside at chroma scale: its least smeared quarter
        inner_c = cv2.erode(core_c.astype(np.uint8), K3).astype(bool)
        small = inner_c.sum() < 12
        if not small:
            core_c = inner_c
        ring_c = cv2.resize(ring.astype(np.uint8), (cw, ch), interpolation=cv2.INTER_NEAREST).astype(bool)
        ratios, bias = [], []
        for yuv in yuvs[:: max(1, len(yuvs) // 12)]:
            Y, Up, Vp = yuv_planes(yuv)
            yc = Y[y0:y1, x0:x1].astype(np.float32)
            if float((yc[self.core] >= self.ymin).mean()) < 0.5:
                continue  # the mark is not there (a jump detected a frame early): says nothing
            U = Up[y0 // 2:y1 // 2, x0 // 2:x1 // 2].astype(np.float32)
            V = Vp[y0 // 2:y1 // 2, x0 // 2:x1 // 2]
            dev = np.hypot(U - 128, V.astype(np.float32) - 128)
            if core_c.any() and ring_c.any():
                dout = float(np.median(dev[ring_c]))
                if dout >= 8:
                    ratios.append(float(np.percentile(dev[core_c], 25 if small else 50)) / dout)
            _, bfill = self.filler.alpha_hat(yc)
            un = (yc - self.a0 * WHITE) / (1 - self.a0)
            bias.append(float(np.median((un - bfill)[self.core])))
        if ratios and float(np.median(ratios)) > CHROMA_RATIO:
            return False
        return not (bias and abs(float(np.median(bias))) > 35)

    def bright(self, y: np.ndarray) -> np.ndarray:
        """Pixels bright enough to be under the mark (a covered pixel is never darker)."""
        return y >= self.ymin

    def present(self, y: np.ndarray, prior: np.ndarray | None = None) -> bool:
        """Is the mark there in this frame? (its static core is bright, or, on frames where the
        text is gone — the animation's last frame —, the shape the other positions show)"""
        if not self.found:
            return False
        if float((y[self.core] >= self.ymin).mean()) >= 0.5:
            return True
        if prior is None or prior.all():
            return False
        core = cv2.erode(prior.astype(np.uint8), K3).astype(bool)
        return bool(core.sum() >= 12 and float((y[core] >= self.ymin).mean()) >= 0.9)

    def at_full(self, yc: np.ndarray) -> bool:
        """Does this luma crop show the mark at full opacity (not fading), as :meth:`restore_y`
        judges it without a prior?"""
        if not self.present(yc):
            return False
        a_hat, _ = self.filler.alpha_hat(yc.astype(np.float32))
        return self._reads_full(a_hat)

    def set_fade_in(self, first: np.ndarray, before: np.ndarray | None) -> None:
        """The interval's first luma crop at full opacity and the last one before its fade-in may
        begin (without the mark), found before they are restored: see :meth:`_fade_in_views`."""
        # (copies: the frames themselves are restored in place later)
        self._first = first.copy(), None if before is None else before.copy()

    def _fade_in_views(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(input, the scene under the mark, where it is read) in the frames around a fade-in, as
        :meth:`restore_y` keeps its last full frame for a fade-out (see :meth:`_readings`): the
        frame before the fade-in as it is and the interval's first frame at full opacity,
        un-blended. Read against the fill from around, bright fur under the puppy's bottom-left cloud
        beside a dark floor read 0.47 of the opacity while only the text had begun to fade in
        (f229), and was un-blended into a dark cloud."""
        if self._views is not None or self._first is None:
            return self._views or []
        # (built once: they come before any full frame, so before any vote moves the opacity)
        first, before = self._first
        y = first.astype(np.float32)
        a_hat, _ = self.filler.alpha_hat(y)
        s = (a_hat > self.a0 / 2) & self.env & (y >= self.ymin) & self.usual
        inner = cv2.erode(cv2.medianBlur(s.astype(np.uint8), 3), K3).astype(bool)
        views = [(y, np.where(inner, np.clip((y - self.a0 * WHITE) / (1 - self.a0), 0, 255), y), inner)]
        if before is not None:  # (first: as near, it shows the scene itself, not un-blended)
            b = before.astype(np.float32)
            self._plain = (b, b, self.env)
            views.insert(0, self._plain)
        self._views = views
        return views

    def _dark_under(self, bfill: np.ndarray) -> bool:
        """Is the fill under the core's judged pixels darker than ``SETTLED_BRIGHT`` (median)?"""
        v = bfill[self._judged]
        return v.size > 0 and float(np.median(v)) < SETTLED_BRIGHT

    def _reads_full(self, a_hat: np.ndarray) -> bool:
        """Does the alpha estimate ``a_hat`` over the core's judged pixels read the full opacity
        (not a fade: bright enough to pass, but clearly below it)?"""
        # (median >= limit, counted: the negated values' median is the median negated, exactly)
        v = a_hat[self._judged]
        return v.size > 0 and not _median_above(-v, -FADED * self.a0)

    def cut_sides(self, reach: int, share: int) -> tuple[bool, bool]:
        """(left, right): does the often covered region run into that side of the box, within
        ``reach`` px inside the reference ring, over 1/``share`` of its rows? Then the box cuts the
        mark (discovery found part of it)."""
        r = REF_RING
        rows = max(2, int(self.cover.any(1).sum()) // share)
        return (bool(self.cover[:, r:r + reach].any(1).sum() >= rows),
                bool(self.cover[:, -r - reach:-r].any(1).sum() >= rows))

    def _allowed(self, prior: np.ndarray) -> np.ndarray:
        """Where the mark may be in this frame (uint8 0/1): the prior with 1 px of slack (the
        registration, the wobble between neighbouring frames), plus this interval's steady bright
        pixels in the band under the mark, where the ``@handle`` line sits (right-aligned at the
        right-middle position, left-aligned elsewhere, so the other positions cannot vouch for it)."""
        if self._band is None:
            self._band = self._band_strokes()
        return cv2.dilate(prior.astype(np.uint8), K3) | self._band

    def _band_zone(self) -> np.ndarray:
        """The band under the mark where the ``@handle`` line sits (bool)."""
        band = np.zeros(self.core.shape, bool)
        ext = self._core_extent()
        if ext is None:
            return band
        x0, y0, x1, y1 = (int(v) for v in ext)
        y1, x1 = y1 + 1, x1 + 1
        band[max(0, y1 - 2 - (y1 - y0) // BAND_UP):y1 + int((y1 - y0) * BAND_DOWN), x0:x1] = True
        return band

    @staticmethod
    def _beside_handle(strokes: np.ndarray, zone: np.ndarray, found: np.ndarray, chain: int = 0) -> np.ndarray:
        """The thin parts of ``strokes`` (bool; a bright patch of scenery is solid) within
        ``FAINT_NEAR`` px of the handle's strokes already ``found`` in the band ``zone``: a static
        scene's own texture in the band reads a faint static alpha too. ``chain``: up to that many
        times, strokes beside those taken in are taken in too (the line runs glyph to glyph: which
        of its letters lie beside the found ones hung on a pixel of text rendering)."""
        strokes = strokes & ~cv2.dilate(_solid(strokes), K3).astype(bool)
        seed = found & zone
        out = strokes & _grow(seed, FAINT_NEAR)
        for _ in range(chain):
            more = strokes & _grow(seed | out, FAINT_NEAR)
            if (more == out).all():
                break
            out = more
        return out

    def _faint_strokes(self, static_rim: np.ndarray, chain: int = 0) -> np.ndarray:
        """The ``@handle`` line's faint strokes (bool): at 480p its thin anti-aliased glyphs reach
        an alpha of 0.3-0.6 only, rarely bright enough to join the envelope, so the shape test and
        the envelope's static alpha miss them (an "@" was left whole). Read against the box's rim
        instead: the band's faint static strokes beside the handle's strokes already found."""
        zone = self._band_zone()
        faint = self._beside_handle((static_rim > FAINT) & zone & ~self.env, zone, self.weak | self.steady, chain)
        # a glyph's strokes hang together; specks of a static scene's texture do not
        _, lab, st, _ = cv2.connectedComponentsWithStats(faint.astype(np.uint8), connectivity=8)
        big = st[:, cv2.CC_STAT_AREA] >= FAINT_MIN
        big[0] = False
        return big[lab]

    def _band_strokes(self) -> np.ndarray:
        """This interval's own thin steady strokes in the band under the mark (uint8 0/1; the same
        in every frame, computed once)."""
        # the handle is text: thin strokes; a bright patch of scenery in the band is solid
        strokes = self.steady | (self.weak if self._has_handle() else False)
        strokes &= ~cv2.dilate(_solid(self.steady), K5).astype(bool)
        return (self._band_zone() & strokes).astype(np.uint8)

    def _core_extent(self, least: int = 1) -> tuple[float, float, float, float] | None:
        """The always-covered core's extent (x0, y0, x1, y1: its pixels' 1st and 99th percentiles,
        without stray scenery blobs: a few pixels of bright ground at the box's bottom, white in
        every frame, pushed the handle band below the handle line); None under ``least`` pixels."""
        ys, xs = np.nonzero(self.core)
        if len(ys) < least:
            return None
        y0, y1 = np.percentile(ys, [1, 99])
        x0, x1 = np.percentile(xs, [1, 99])
        return float(x0), float(y0), float(x1), float(y1)

    def core_aspect(self) -> float | None:
        """The always-covered core's extent, wide per tall; None when it is too small to say."""
        ext = self._core_extent(least=12)
        if ext is None:
            return None
        x0, y0, x1, y1 = ext
        return (x1 - x0 + 1) / (y1 - y0 + 1)

    def handle_line(self) -> bool:
        """Does the core show a second line of text under the first one, in the text's columns (see
        :meth:`_parts`)? Rows where the core has 3 px or more in those columns run as one band for
        "Sora" and, a gap below, another for the ``@handle`` line (``HANDLE_LINE`` of the first's
        height or more). Real marks keep the line within the cloud's height, so the core's aspect
        cannot tell (3.0-3.3 wide per tall on the real videos with and without a handle)."""
        return self._handle_row() is not None

    def _handle_row(self) -> int | None:
        """The row between the text and the ``@handle`` line under it (the gap's middle), or None
        without one; see :meth:`handle_line`."""
        parts = self._parts()
        if len(parts) < 2:
            return None
        rows = np.flatnonzero(self.core[:, parts[1]].sum(1) >= 3)
        if not len(rows):
            return None
        # runs of consecutive rows: (first row, length)
        cuts = np.flatnonzero(np.diff(rows) > 1) + 1
        runs = [(int(r[0]), len(r)) for r in np.split(rows, cuts)]
        top, n = max(runs, key=lambda r: r[1])
        below = [r0 for r0, m in runs if HANDLE_LINE * n <= m and 0 < r0 - (top + n) <= n]
        return (top + n + below[0]) // 2 if below else None

    def _has_handle(self) -> bool:
        """Does the mark carry an ``@handle`` line? Its always-covered core is then taller for its
        width: 2.3-2.9 wide per tall with the line, 3.2-3.5 without it on the wm_eval cases (a
        faint line at 240p that the core misses reads as none: its band strokes are then few
        anyway); or it shows the line under its text (:meth:`handle_line`: real marks, whose line
        lies within the cloud's height). ``handle``, when the pipeline has set it, is the verdict
        over all places."""
        if self.handle is not None:
            return self.handle
        if self._own_handle is None:  # (the core is fixed: read once, not per frame)
            a = self.core_aspect()
            self._own_handle = a is None or a < HANDLE_ASPECT or self.handle_line()
        return self._own_handle

    def _faded(self, yc: np.ndarray, prior: np.ndarray | None, ending: bool,
               reading: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
               prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """A fade frame restored as a full one with the opacity scaled to its share ``f`` (the same
        matte, fainter): the shape test, the un-blending, the fills and the plates as usual, so
        the scene's texture stays (inpainting the whole shape from around left a flat blob, and
        the text's strokes when it missed them). A real mark's parts do not fade quite together:
        a pixel un-blended far darker than around it (``FADE_DARK`` of ``DARK_JUMP``) is filled
        instead; the cloud's eyes (a dark overlay) are filled too. Where the parts (see
        :meth:`_parts`) read shares ``FADE_APART`` apart, each part's columns are restored at
        their own. The shares are read against ``prev``, the scene under the mark in a nearby
        frame (see :meth:`_nearest`), where there is one. ``reading``: :meth:`_fade_reading`'s.
        None when the mark is not there or too faint (then :meth:`_fade`)."""
        if reading is None:
            return None
        sure = reading[1]
        # (where the nearby frame reads the share, it also shows the scene the shape is read on)
        self._view = prev if FADE_VIEW and prev is not None and self._prev_share(yc, sure, prev) is not None else None
        try:
            return self._faded_parts(yc, prior, ending, reading, prev)
        finally:
            self._view = None

    def _faded_parts(self, yc: np.ndarray, prior: np.ndarray | None, ending: bool,
                     reading: tuple[np.ndarray, np.ndarray, np.ndarray],
                     prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """See :meth:`_faded`."""
        shape, sure, a_hat = reading
        _, share = self._readings(yc, sure, a_hat, prev)
        # per part: its columns, the median reading, the share when the readings agree
        parts = [(cols, *self._readings(yc, sure & cols[None, :], a_hat, prev)) for cols in self._parts()]
        if share is not None and share >= FADE_SCALED and all(
                m is None or abs(m - share) <= FADE_APART for _, m, _ in parts):
            # the parts agree: each still at its own share where it reads one, the rest at the
            # whole's (yellow_brick_road's text fading in over dark hair read 0.33 of the opacity
            # beside its cloud's 0.30: at the whole's 0.30 its letters stayed, lighter, at
            # ~7 levels; a few hundredths of the opacity move un-blended values that much there)
            own = [(cols, share if p is None else p) for cols, _, p in parts]
            if len(own) < 2 or all(abs(p - share) <= FADE_SAME for _, p in own):
                return self._faded_at(yc, prior, ending, share)
            return _by_columns(yc, [(cols, self._faded_at(yc, prior, ending, min(p, 1.0), cols)) for cols, p in own])
        # the parts fade at their own pace (the text before the cloud, which shrinks as it goes):
        # each part's columns at its own share, when one part shows clearly; a part barely there,
        # or moved off its shape, has what it lifts filled
        if not any(p is not None and p >= FADE_SCALED for _, _, p in parts):
            return None
        return _by_columns(yc, [(cols, self._faded_at(yc, prior, ending, min(p, 1.0), cols)
                                     if p is not None and p >= FADE_SCALED
                                     else self._lifted(yc, shape, a_hat, cols) if m is not None and m >= FADE_FAINT
                                     else None) for cols, m, p in parts])

    def _nearest(self, yc: np.ndarray, views: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The one of ``views`` ((input, the scene under the mark, where it is read) of nearby
        frames: the last full frame, or those around a fade-in) whose surroundings match this
        frame's best (the first of equals), if any matches within ``PREV_SCENE`` (the scene
        around the mark changes: a cut, a fast pan, a paw moving)."""
        moved = [float(np.median(np.abs(yc[self.known] - v[0][self.known]))) for v in views]
        return views[int(np.argmin(moved))] if moved and min(moved) <= PREV_SCENE else None

    def _prev_share(self, yc: np.ndarray, sure: np.ndarray,
                    prev: tuple[np.ndarray, np.ndarray, np.ndarray]) -> float | None:
        """The share of the opacity the pixels ``sure`` read against ``prev`` (see
        :meth:`_readings`): their median, where enough of them agree within ``PREV_SPREAD``."""
        _, pb, pin = prev
        s = sure & pin
        if s.sum() < SURE_MIN:
            return None
        b = pb[s]
        r = (yc[s].astype(np.float32) - b) / np.maximum(WHITE - b, 8.0) / self.a0
        q1, med = (float(v) for v in np.percentile(r, [25, 50]))
        # (more than the full opacity: the scene or the mark moved, not a fade)
        return med if med - q1 <= PREV_SPREAD and med <= 1 + PREV_SPREAD else None

    def _readings(self, yc: np.ndarray, sure: np.ndarray, a_hat: np.ndarray,
                  prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> tuple[float | None, float | None]:
        """(the median share of the opacity the pixels ``sure`` read, that share when the readings
        agree: see :func:`_share`). Against ``prev`` (the last full frame's input, un-blended values
        and interior) where it holds enough of them and they agree within ``PREV_SPREAD``: a fill
        of the surroundings is off where the scene under the mark differs from around it (dark
        grass beside bright bricks: yellow_brick_road's fading cloud read 0.57 and its text 0.81;
        against the frame before, both 0.65 with a quarter of the spread); else against the fill
        (``a_hat``)."""
        med = None if prev is None else self._prev_share(yc, sure, prev)
        if med is not None:
            return med, med
        v = a_hat[sure]
        return (float(np.median(v)) / self.a0 if len(v) >= SURE_MIN else None), _share(v, self.a0)

    def _faded_at(self, yc: np.ndarray, prior: np.ndarray | None, ending: bool, f: float,
                  cols: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """:meth:`restore_y` with the opacity scaled to the share ``f`` (see :meth:`_faded`); the
        mark judged there on the core's pixels in ``cols`` (all by default)."""
        a0, ymin, last, nv = self.a0, self.ymin, self._last_s, len(self._a0_votes)
        self._fading = True
        self._judged = self.core if cols is None else self.core & cols[None, :]
        try:
            self.a0 = f * a0
            self.ymin = _darkest(self.a0)
            r = self.restore_y(yc, prior, ending)
            eyes = self._eyes(self._last_s) if r is not None and EYES and self._last_s is not last else None
            if FADE_EYES_LAST and r is not None and EYES and last is not None:
                # (and where the last full frame's shape held them: a fading cloud over ground
                # partly brighter than it passes the shape test only in part, and an eye it does
                # not enclose stayed a dark oval: yellow_brick_road's f113)
                held = self._eyes(last)
                if held is not None:
                    held = _dark_parts(yc, r[0], held if eyes is None else held & ~eyes, FADE_EYES_LAST)
                    if held.any():
                        eyes = held if eyes is None else eyes | held
            if r is None or eyes is None:
                return r
            out, a, hole = r
            out, hole, _ = fill_eyes(out, hole, eyes, FILL_ALONG)
            return out, a, hole
        finally:
            self.a0, self.ymin, self._last_s, self._fading, self._judged = a0, ymin, last, False, self.core
            del self._a0_votes[nv:]

    def _fade_reading(self, yc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(the shape a fading mark is read on: the last full frame's or where the mark usually is,
        the pixels it and the interval's core surely cover, the per-pixel alpha estimate), or None
        (the interval was judged scenery, or too few pixels are sure)."""
        if not self.found:
            return None
        shape = self._last_s if self._last_s is not None else (self.usual > 0).astype(np.uint8)
        sure = cv2.erode(shape, K3).astype(bool) & self.core
        if sure.sum() < SURE_MIN:
            return None
        a_hat, _ = self.filler.alpha_hat(yc.astype(np.float32))
        return shape, sure, a_hat

    def _fade(self, yc: np.ndarray, reading: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
              prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None, ending: bool = False
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """A frame where the mark fades in or out (real marks take 2-6 frames at a jump) that
        :meth:`_faded` could not restore (too faint, or no shape found at the scaled opacity): what
        is lifted near its shape is inpainted (see :meth:`_lifted`), when the ``reading`` (see
        :meth:`_fade_reading`; against ``prev`` where it reads) shows the mark there at
        ``FADE_MIN`` of its opacity or more. ``ending``: one of the interval's last frames (see
        ``FADE_END_SCATTERED``, ``FADE_WHOLE``)."""
        if reading is None:
            return None
        shape, sure, a_hat = reading
        f = None if prev is None else self._prev_share(yc, sure, prev)
        if f is not None and f < FADE_MIN and SHAPED_LIFT and prev is self._plain:
            # the whole mark is not there; a part of it may be (the text fades in a frame or two
            # before the cloud, and reads too unevenly to un-blend: the puppy's f229). Only against
            # the frame as it was: un-blended values carry the codec's noise amplified 4-5 times
            # (against the selfie's first full frame a third of a still cloud's core read lifted)
            return self._shaped_lift(yc, prev)
        if f is None:
            f = _share(a_hat[sure], self.a0)
            if f is None and ending and FADE_END_SCATTERED:
                # the animation's last frames: the cloud fades and shrinks unevenly, and its
                # readings scatter (the puppy's f227: quartiles 0.05 / 0.21 / 0.28 of the opacity,
                # its text at ~0.4 left in plain sight): their median decides
                f = float(np.median(a_hat[sure])) / self.a0
        if f is None or f < FADE_MIN:
            return None
        if FADE_WHOLE and ending:
            # (the last full frame's shape may hold the cloud alone: at 264x480 the 3x3 median of
            # the shape test erases the text's 1-2 px strokes, restored as holes, and the puppy's
            # fading text and handle line were left; in a fade-in the text may not be there yet)
            shape = shape | (self.usual | self.weak | self._weak_band).astype(np.uint8)
        return self._lifted(yc, shape, a_hat)

    def _shaped_lift(self, yc: np.ndarray, prev: tuple[np.ndarray, np.ndarray, np.ndarray]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``yc`` with each part of the mark (see :meth:`_parts`) that stands above the nearby
        frame's scene ``prev`` in the mark's own shape filled from around: most of its
        always-covered core lifted, and three times the share of the pixels just clear of the mark
        on the same rows (a wave or a paw moving under the place lifts both alike); None when no
        part is."""
        _, pb, pin = prev
        lift = yc.astype(np.float32) - pb
        env = self.env.astype(np.uint8)
        band = cv2.dilate(env, np.ones((9, 9), np.uint8)).astype(bool) & ~cv2.dilate(env, K3).astype(bool)
        hole = np.zeros(yc.shape, np.uint8)
        for cols in self._parts():
            on = self.core & pin & cols[None, :]
            # (beside it on the same rows: a bright line of scenery sliding under the text lifts
            # the gaps between the letters as much as the letters)
            off = band & cols[None, :] & on.any(1)[:, None]
            if on.sum() < SURE_MIN or off.sum() < SURE_MIN:
                continue
            # (lifted beyond what the scene's own change there reaches)
            t = max(SHAPED_LIFT, float(np.percentile(np.abs(lift[off]), 90)))
            up_on, up_off = float((lift[on] > t).mean()), float((lift[off] > t).mean())
            if up_on >= 0.35 and up_on >= 3 * up_off:
                hole[:, cols] |= (cv2.dilate((self.usual & (lift > t / 2)).astype(np.uint8), K3) > 0)[:, cols]
        if not hole.any():
            return None
        out = cv2.inpaint(yc, hole, 3, cv2.INPAINT_TELEA)
        a = np.where(hole > 0, np.clip(lift / np.maximum(WHITE - pb, 8.0), 0, self.a0), 0).astype(np.float32)
        return out, a, hole

    def _lifted(self, yc: np.ndarray, shape: np.ndarray, a_hat: np.ndarray, cols: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``yc`` with what is lifted near ``shape`` (in the columns ``cols``: all by default) filled
        from around (see :meth:`_fade`)."""
        # the animation is changing too (the cloud shrinks as it goes): fill whatever is lifted
        # near the last shape from around it; two faint frames do not need more
        hole = (cv2.dilate(shape, K5).astype(bool) & (a_hat > FADE_MIN * self.a0 / 3)).astype(np.uint8)
        if cols is not None:
            hole[:, ~cols] = 0
        eyes = self._eyes(hole) if EYES else None
        a = np.where(hole > 0, np.clip(a_hat, 0, self.a0), 0).astype(np.float32)
        out = cv2.inpaint(yc, hole, 3, cv2.INPAINT_TELEA)
        if eyes is not None:  # (a dark overlay: not lifted, but the mark's all the same)
            out, hole, eyes = fill_eyes(out, hole, eyes, FILL_ALONG)
        bound = _brightest(yc, eyes)
        return (out if bound is None else np.minimum(out, bound)), a, hole

    def _end_shape(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The animation's last frames (before a jump, or where the video ends): the text is gone
        and the cloud drops a few pixels, partly out of the envelope learned from the interval's
        frames (and the other positions' shapes for that frame may be unknown). The shape is then
        the lifted bright blob next to the last full shape, measured against the box's rim rather
        than the envelope. Returns (shape uint8, alpha estimate, background estimate) or None when
        no such blob is there at full opacity."""
        if self._last_s is None:
            return None
        a_hat, bfill = self.ring_fill.alpha_hat(y)
        if END_TEXT and not self._text_gone(a_hat):
            return None
        s = cv2.medianBlur(((a_hat > self.a0 / 2) & (y >= self.ymin)).astype(np.uint8), 3)
        n, lab = cv2.connectedComponents(s, connectivity=8)
        near = cv2.dilate(self._last_s, np.ones((2 * END_REACH + 1,) * 2, np.uint8)).astype(bool)
        near &= ~border_ring(near.shape, RIM, self.edges)
        # blobs next to the last shape, wholly within reach of it and clear of the box's rim
        touching = np.bincount(lab[self._last_s.astype(bool)], minlength=n)
        beyond = np.bincount(lab[~near], minlength=n)
        keep = (touching >= 12) & (beyond == 0)
        keep[0] = False
        s = keep[lab].astype(np.uint8)
        sure = cv2.erode(s, K3).astype(bool)
        if sure.sum() < 12 or float(np.median(a_hat[sure])) < FADED * self.a0:
            return None
        return s, a_hat, bfill

    def _text_gone(self, a_hat: np.ndarray) -> bool:
        """Has the text left the core in this frame (the alpha estimate ``a_hat``): does its part
        read under ``END_TEXT`` of what the cloud's part reads? (True without a text part.)"""
        parts = self._parts()
        if len(parts) < 2:
            return True
        text, cloud = self.core & parts[1][None, :], self.core & parts[0][None, :]
        if text.sum() < 12 or cloud.sum() < 12:
            return True
        return float(np.median(a_hat[text])) < END_TEXT * max(float(np.median(a_hat[cloud])), 0.1 * self.a0)

    def _around_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """The pixels outside the envelope as weights and their ``TEXTURE_SIGMA`` blur (the scene's
        texture around the mark is read there; the envelope is the interval's: computed once)."""
        if self._around is None:
            wo = self.known.astype(np.float32)
            self._around = (wo, np.maximum(blur(wo, TEXTURE_SIGMA), 1e-3))
        return self._around

    def _like_around(self, y: np.ndarray, bm: np.ndarray, wi: np.ndarray, di: np.ndarray) -> np.ndarray:
        """The denoised un-blended interior ``bm`` with no more texture than the scene shows around
        the mark: where its local variance exceeds ``TEXTURE_AROUND`` times that of the input outside
        the envelope (plus ``TEXTURE_FLOOR`` levels), the excess is the codec's noise and ringing
        along the mark's strokes, amplified by un-blending (on the real videos it drew the letters'
        shapes over smooth hair), and is shrunk toward a ``TEXTURE_SMOOTH`` px blur of it. ``wi``: the
        interior as weights, ``di`` their ``TEXTURE_SIGMA`` blur (shared with the texture term)."""
        wo, do = self._around_weights()
        around = np.maximum(_local_var(y, wo, do), 0)
        var = _local_var(bm, wi, di)
        g = np.clip((TEXTURE_AROUND * around + TEXTURE_FLOOR**2) / np.maximum(var, 1e-3), 0, 1)
        smooth = blur(bm * wi, TEXTURE_SMOOTH) / np.maximum(blur(wi, TEXTURE_SMOOTH), 1e-3)
        return smooth + g * (bm - smooth)

    def _local_alpha(self, y: np.ndarray, s: np.ndarray, edge: np.ndarray, a_hat: np.ndarray,
                     bfill: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``a_hat`` and the fill ``bfill`` with the shape's edge read again, against the scenery
        this frame shows between the strokes: the pixels of the envelope more than ``LOCAL_GAP`` px
        from the shape ``s`` (the letters' counters and gaps), with those outside the envelope, in
        a ``LOCAL_FILL`` px normalised convolution (the envelope's fill alone, read outside the
        whole mark, missed a dark patch of sky under the text: the letters' edges came out light).
        Where the gaps are too few around, the envelope's fill stays."""
        free = self.env & ~_grow(s > 0, LOCAL_GAP)
        w = (self.known | free).astype(np.float32)
        cover = blur(w, LOCAL_FILL)
        loc = blur(y * w, LOCAL_FILL) / np.maximum(cover, 1e-3)
        t = np.clip(cover / 0.2, 0, 1)
        bl = np.where(self.known, bfill, t * loc + (1 - t) * bfill)
        return np.where(edge, (y - bl) / np.maximum(WHITE - bl, 8.0), a_hat), bl

    def _larger_cloud(self, y: np.ndarray, s: np.ndarray, raw: np.ndarray, a_hat: np.ndarray,
                      bfill: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                  tuple[np.ndarray, int]]:
        """A frame no other interval vouches for: the cloud's larger animation frames reach a px
        or two past its usual shape (left white beside the ring), or past the envelope (their edge
        fed the fill: the frame is then read against the fill from beyond a band around the cloud).
        Returns the shape, the shape test's pixels, the alpha estimate and the fill (read against
        that fill, or as they were), and the pixels beside the cloud's body (not beside a letter:
        bright scenery there stays out) that may join the shape where it lies within how far."""
        a0 = self.a0
        assert self._pop is not None
        zone, reach = self._pop
        if self._spill is not None:
            band, out, band_rim = self._spill
            if self._outer is None:
                self._outer = Filler(self.known & ~band, self.sigma)
            a2, b2 = self._outer.alpha_hat(y)
            near = cv2.dilate(s, np.ones((2 * (reach + out) + 1,) * 2, np.uint8)) > 0
            spill = (band & near & (a2 >= SLIVER_A * a0) & (y >= self.ymin)).astype(np.uint8)
            n, slab = cv2.connectedComponents(spill, connectivity=8)
            if n > 1:
                # (bright scenery crossing the band, a sunlit road, reaches its far side)
                spill[_labels_in(slab, _labels_at(slab, band_rim, n), n)] = 0
            if int(spill.sum()) >= SPILL_MIN:
                # the cloud spilled past the envelope: read this frame against the outer fill
                a_hat, bfill = a2, b2
                raw = (a_hat > a0 / 2) & (self.env | band) & (y >= self.ymin)
                s = cv2.medianBlur((raw & self.usual).astype(np.uint8), 3)
                zone, reach = zone | band, reach + out
        return s, raw, a_hat, bfill, (raw & ~self.usual & zone & (a_hat >= SLIVER_A * a0), reach)

    def _swollen(self, y: np.ndarray) -> np.ndarray | None:
        """The cloud's alpha in this frame (float32, crop coordinates) where it is swollen past its
        usual shape (the animation's frames ~31-37), else None. The frame's band-passed crop is
        matched against the interval's own cloud, its static alpha, scaled about its centre by each
        of ``SWELL_SCALES`` and shifted by up to ``SWELL_SHIFT`` px: the cloud's outline, a 0.74
        white edge, moves by 4-5 px there and the best scale wins clearly (by 0.1-0.3 of the
        normalised match, against under 0.04 away from the swell over the wm_eval sets); then each
        axis's scale is refined (the cloud swells more in height: ~1.15 against ~1.07 in width on
        the real track). Intervals longer than ``SWELL_SPAN`` hold the swollen frames in their
        usual shape and are not matched; a shorter one (cut by the video's start or end) left a
        bright arc past it."""
        if self._swell_bank is None:
            self._swell_bank = self._swell_base()
        if self._swell_bank[0] is None:
            return None
        _, (x0, y0, x1, y1), _ = self._swell_bank
        d = SWELL_SHIFT
        bp = bandpass(y[y0 - d:y1 + d, x0 - d:x1 + d])

        def match(sx: float, sy: float) -> tuple[float, tuple[int, int]]:
            r = cv2.matchTemplate(bp, self._swell_template(sx, sy)[1], cv2.TM_CCOEFF_NORMED)
            _, mx, _, at = cv2.minMaxLoc(r)
            return mx, at

        iso = [(match(sc, sc)[0], sc) for sc in SWELL_SCALES]
        first, (best, sc) = iso[0][0], max(iso)
        if sc == 1.0 or best < SWELL_MATCH or best - first < SWELL_GAIN:
            return None
        steps = (-2 * SWELL_STEP, -SWELL_STEP, 0.0, SWELL_STEP, 2 * SWELL_STEP)
        (_, loc), sx, sy = max((match(sc + ex, sc + ey), sc + ex, sc + ey) for ex in steps for ey in steps
                               if 1.0 <= sc + ex <= SWELL_MAX and 1.0 <= sc + ey <= SWELL_MAX)
        alpha = self._swell_template(sx, sy)[0] * self.a0
        return cv2.warpAffine(alpha, np.float32([[1, 0, loc[0] - d], [0, 1, loc[1] - d]]), (self.w, self.h))

    def _swell_base(self) -> _SwellBank:
        """(the cloud's alpha, the window its scaled copies are matched in (x0, y0, x1, y1), their
        cache); (None, ...) where there is no cloud to match or no room around it."""
        none: _SwellBank = (None, (0, 0, 0, 0), {})
        if not self.found or self.span > SWELL_SPAN:
            # (a longer interval saw the swell twice or more and its usual shape holds it: on the real
            # yellow_brick_road the scaled static alpha overshot it and its soft band, filled,
            # left a dashed ring where the usual shape had been restored cleanly)
            return none
        # (as a share of the opacity: a fade frame reads the matte at a scaled one)
        cloud = np.minimum(self._static / self.a0, 1.0) * self._parts()[0][None, :] * _grow(self.usual, 2)
        cloud = cloud.astype(np.float32)
        if cv2.moments(cloud)["m00"] < 1:
            return none
        ys, xs = np.nonzero(_scale_about_centre(cloud, SWELL_MAX, SWELL_MAX) > SWELL_EDGE)
        d = SWELL_SHIFT
        x0, y0 = max(d, int(xs.min()) - 2), max(d, int(ys.min()) - 2)
        x1, y1 = min(self.w - d, int(xs.max()) + 3), min(self.h - d, int(ys.max()) + 3)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return none
        return cloud, (x0, y0, x1, y1), {}

    def _swell_template(self, sx: float, sy: float) -> tuple[np.ndarray, np.ndarray]:
        """The cloud's alpha scaled by (``sx``, ``sy``) about its centre, and its band-passed window."""
        assert self._swell_bank is not None and self._swell_bank[0] is not None
        cloud, (x0, y0, x1, y1), cache = self._swell_bank
        key = (round(sx, 3), round(sy, 3))
        if key not in cache:
            a = _scale_about_centre(cloud, sx, sy)
            cache[key] = (a, bandpass(a * WHITE)[y0:y1, x0:x1])
        return cache[key]

    def _swell(self, y: np.ndarray, cloud: np.ndarray, s: np.ndarray, raw: np.ndarray, a_hat: np.ndarray,
               bfill: np.ndarray) -> tuple[np.ndarray, ...]:
        """A swollen frame (``cloud``: its alpha, see :meth:`_swollen`): past the envelope, read
        against the fill from beyond the swollen cloud (its edge fed the envelope's fill there);
        its pixels past the usual shape that read half the opacity or more join the shape ``s``.
        Returns the shape, the shape test's pixels, the alpha estimate, the fill, and the pixels
        that joined."""
        a0 = self.a0
        zone = _grow(cloud > SWELL_EDGE, 1)
        a2, b2 = Filler(self.known & ~zone, self.sigma).alpha_hat(y)
        out = zone & self.known
        a_hat, bfill = np.where(out, a2, a_hat), np.where(out, b2, bfill)
        add = (cloud >= a0 / 2) & ~self.usual & (a_hat > a0 / 2) & (y >= self.ymin)
        return s | add.astype(np.uint8), raw | add, a_hat, bfill, add

    def restore_y(self, yc: np.ndarray, prior: np.ndarray | None = None, ending: bool = False,
                  fade: bool = True, settled: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Restore one luma crop (uint8). Returns (restored uint8, alpha, hole mask) or None if absent.

        ``prior``: where the mark can be in this frame (see :mod:`vidgate.watermark.phase`).
        ``ending``: one of the interval's last frames, or its padding after (see :meth:`_end_shape`).
        ``fade``: a frame without the mark at full opacity may be a fade (False: too long before the
        interval's first full frame for that; then it is left as it is).
        ``settled``: well inside the interval, where the mark does not fade (see ``SETTLED``).
        """
        y = yc.astype(np.float32)
        a0 = self.a0
        end = None
        if not self._fading:
            self._full_age += 1
        if self.present(yc, prior):
            a_hat, bfill = self.filler.alpha_hat(y)
            if self._fading and self._view is not None:
                # a fade frame whose share was read against a nearby frame: the scene there, not
                # the fill from around, tells which pixels the fainter mark covers (the top of
                # yellow_brick_road's fading cloud over a dark band under a bright sky read 0.2
                # against the sky's fill, failed the shape test and was filled from the sky)
                _, pb, pin = self._view
                a_hat = np.where(pin, (y - pb) / np.maximum(WHITE - pb, 8.0), a_hat)
                bfill = np.where(pin, pb, bfill)
            # bright enough to pass (a bright background) but clearly below the full opacity: fading
            # (a fade frame's scaled opacity was read already, against the frame before if it could)
            full = self._fading or self._reads_full(a_hat) or (SETTLED and settled and self._dark_under(bfill))
        else:
            full = False
        pop: tuple[np.ndarray, int] | None = None  # (pixels past the usual shape that may join it, how far)
        swollen = swell = None  # (the swollen cloud's alpha and its pixels: see _swollen)
        if not full:
            # the core is not there at full opacity: a fade, a blank frame, or (in the last frames)
            # the text gone and the cloud dropped
            end = self._end_shape(y) if ending and self.found else None
            if end is None:
                self._prev = None
                if not fade:
                    return None
                views = self._fade_in_views() if self._full is None else \
                    [self._full] if self._full_age <= PREV_AGE else []
                near = self._nearest(yc, views)
                # (read once for both: the last shape and the fill are the same for each)
                reading = self._fade_reading(yc)
                faded = self._faded(yc, prior, ending, reading, near) \
                    if FADE_SCALED and not self._fading else None
                return faded if faded is not None else self._fade(yc, reading, near, ending)
            s, a_hat, bfill = end
        else:
            raw = (a_hat > a0 / 2) & self.env & (y >= self.ymin)
            s = cv2.medianBlur((raw & self.usual).astype(np.uint8), 3)
            # (not in a fade: it is restored at its own share, a frame or two long)
            swollen = self._swollen(y) if SWELL_GAIN and not self._fading else None
            if swollen is not None:
                s, raw, a_hat, bfill, swell = self._swell(y, swollen, s, raw, a_hat, bfill)
            elif self._pop is not None and prior is None:
                # (no other interval vouches for this frame's shape: see _larger_cloud)
                s, raw, a_hat, bfill, pop = self._larger_cloud(y, s, raw, a_hat, bfill)
        # the box has a margin around the mark: a "covered" region reaching its border is scenery
        # (a white card, a bright wall) that merely passed the brightness test
        nlab, lab = cv2.connectedComponents(s, connectivity=8)
        if self._border is None:
            self._border = border_ring(lab.shape, RIM, self.edges)
        rim = _labels_at(lab, self._border, nlab)
        if len(rim):
            # one that holds the mark's core is scenery merged with the mark: keep only the part
            # near the core (the cloud wobbles by a pixel or two)
            held = np.bincount(lab[self.core], minlength=nlab)[rim] >= 12
            s[_labels_in(lab, rim[~held], nlab)] = 0
            if held.any():
                s[_labels_in(lab, rim[held], nlab) & ~self.near_core] = 0
        if swell is not None:
            s |= swell.astype(np.uint8)  # (after the rim test too)
        if pop is not None:
            # (after the box's rim test: the larger cloud comes closer to the box's border)
            extra, reach = pop
            s |= (extra & (cv2.dilate(s, np.ones((2 * reach + 1,) * 2, np.uint8)) > 0)).astype(np.uint8)
        # (in the last frames the text is gone and the cloud has left its usual place)
        weak = self.weak if end is None else np.zeros_like(self.weak)
        if end is None and self._has_handle():
            weak = weak | self._weak_band
        bounds = False  # (other places bound this frame: see END_TOLD)
        if prior is not None and end is None:
            allowed = self._allowed(prior)
            if ending and END_SLACK:
                # (the dropped cloud of the animation's last frame, followed down, can come out a
                # few rows past that shape: over a dark scene they were left at up to 137 levels)
                allowed |= cv2.dilate(prior.astype(np.uint8), np.ones((2 * END_SLACK + 1,) * 2, np.uint8))
            if swell is not None:
                allowed |= swell.astype(np.uint8)  # (the other places' frame may not be swollen)
            s &= allowed
            weak = weak & (allowed > 0)
            bounds = END_TOLD and bool(prior.mean() < USELESS_BOUND)
            if bounds:
                # (with the ending frames' slack: the cloud's faint rim drops with it)
                self._told = cv2.dilate(allowed, np.ones((2 * END_SLACK + 1,) * 2, np.uint8)) > 0
        if END_TOLD and ending and end is None and self._told is not None and not bounds:
            # the animation's last frames at one place outlast those seen elsewhere: no bound, and
            # the faint strokes (in usual frames held by the bound) took in bright static scenery
            # beside the text (the selfie's white picture mat, filled from the darker frame around:
            # a grey blob in f270-271). The static strokes do not move: the last bound still holds
            # them. (The cloud is not held to it: in the last frame it drops out of that bound.)
            weak = weak & self._told
        edge = cv2.dilate(s, K3) != cv2.erode(s, K3)
        if LOCAL_FILL:  # (the shape, read against the envelope's fill, is kept)
            a_hat, bfill = self._local_alpha(y, s, edge, a_hat, bfill)
        a = np.where(edge, np.clip(a_hat, 0, a0), a0 * s).astype(np.float32)
        soft = None
        if swollen is not None:
            # the swollen cloud's soft edge beyond its shape (where the interval's usual cloud has
            # none): its faintest pixels un-blended with the swollen cloud's alpha, the rest
            # filled from beyond it
            assert self._swell_bank is not None and self._swell_bank[0] is not None
            usual_cloud = self._swell_bank[0] * a0
            soft = _grow(swollen > SWELL_EDGE, 1) & (s == 0) & (usual_cloud <= SWELL_EDGE) & (a_hat > SWELL_LIFT)
            faint = soft & (swollen < SWELL_HOLE)
            a = np.where(faint, swollen, a).astype(np.float32)
            soft &= ~faint
        # full-range content exists (x264 does not clip to 16-235): only the un-blended pixels are
        # bounded, and only by the code range
        b = np.clip((y - a * WHITE) / (1 - a), 0, 255)
        # a "covered" pixel whose un-blended value falls far below its surroundings was most likely
        # bright scenery, not the mark: fill it instead of darkening it
        odd = (s > 0) & (b < bfill - DARK_JUMP * (FADE_DARK if self._fading else 1.0))
        vouched = None
        filled = None  # the shape with its holes filled, once read (the eyes read it too)
        if ODD_VOUCHED and prior is not None and end is None and odd.any():
            # unless it is dark scenery under the mark: a dark run that reaches the shape's outer
            # rim (it continues outside the mark) over the cloud's always-covered body, held well
            # inside by the other places' shape for this frame and 2 px inside this one's (a
            # racket's black frame crossing the cloud under a bright wall was filled grey, ~100
            # levels off). Not the text: the prior bounds where the mark can be, it does not say
            # the text is shown (bigbuckbunny_portrait's first frames, over bright grass, lost 10
            # dB); nor the eyes, which blink and move (covered at under ODD_STATIC of a0 over
            # the interval's frames, or inside the shape's holes)
            inside = cv2.erode(s, K5) > 0
            vouched = (cv2.erode(prior.astype(np.uint8), K3).astype(bool) & self.core & self._parts()[0][None, :]
                       & inside & (self._static >= ODD_STATIC * a0))
            nodd, lab = cv2.connectedComponents(odd.astype(np.uint8), connectivity=8)
            filled = _fill_holes(s)
            vouched &= _labels_in(lab, _labels_at(lab, odd & (filled > 0) & ~(cv2.erode(filled, K5) > 0), nodd), nodd)
            odd &= ~vouched
        if odd.any():
            odd = cv2.dilate(odd.astype(np.uint8), K3).astype(bool) & (s > 0)
            if vouched is not None:
                odd &= ~vouched
            edge = edge | odd
        if THIN_STATIC and not self._fading:
            # a part of the mark fainter than its full opacity (the @handle's thin glyphs, wide
            # anti-aliased edges) passes the shape test over bright ground; un-blended with the
            # full a0 it came out far too dark (dark specks along the handle line): filled like
            # the edge ring. (A fade frame's opacity is scaled: the static alpha is not.)
            edge = edge | ((s > 0) & (self._static < THIN_STATIC * a0))
        inner = (s > 0) & ~edge
        if DENOISE_K:
            # un-blending amplifies the codec's noise 1/(1-a0) ~ 4x, far above the fine texture the
            # encoder kept under a 74 % white overlay: a 3x3 median of the un-blended values, lightly
            # smoothed (a 5x5 median or a wider Gaussian lose more texture than noise: measured)
            bm = cv2.medianBlur(np.clip(b, 0, 255).astype(np.uint8), DENOISE_K).astype(np.float32)
            bm = cv2.GaussianBlur(bm, (0, 0), 0.6)
            # the interior as weights and their blur, for both variance terms below
            wi = inner.astype(np.float32)
            den = np.maximum(blur(wi, TEXTURE_SIGMA), 1e-3)
            if CODEC_NOISE:
                # where the un-blended values vary more than the amplified codec noise explains (fur,
                # foliage, knitwear), the excess is the scene's texture: keep that share of the
                # un-blended value (a local Wiener / Lee filter; the median alone flattened it)
                var = _local_var(b, wi, den)
                noise = (CODEC_NOISE / (1 - a0)) ** 2
                bm = bm + (1 - np.clip(noise / np.maximum(var, 1e-3), 0, 1)) * (b - bm)
            if TEXTURE_AROUND:
                bm = self._like_around(y, bm, wi, den)
            b = np.where(inner, bm, b)
        if TEMPORAL and self._prev is not None:
            # un-blending amplifies codec noise 1/(1-a0) times: where the input barely changed since
            # the previous frame (a static background under the mark), average with that frame's
            # result; where it changed (motion), keep this frame's own value
            py, pb, pin = self._prev
            dy = cv2.GaussianBlur(np.abs(y - py), (0, 0), 1.0)
            k = TEMPORAL * np.exp(-((dy / 2.0) ** 2)) * (inner & pin)
            b = b + k * (pb - b)
        self._prev = (y, b, inner)
        if not self._fading and end is None:
            self._full, self._full_age = self._prev, 0
        self._last_s = s
        hole_b = edge | (weak & (s == 0))
        if soft is not None:
            hole_b |= soft
            a = np.where(soft, np.maximum(a, swollen), a).astype(np.float32)  # (swollen <= a0)
        eyes = self._eyes(s, filled) if EYES and end is None else None
        dark = None
        sunk = None
        plated = None
        bare = None  # shape pixels a matching plate shows uncovered: the input's own values
        if self.plates:
            # surely uncovered in this frame: clear of the shape and its uncertain ring
            shape = ((s > 0) | hole_b).astype(np.uint8)
            if eyes is not None:  # (the mark's too: a dark overlay on real marks)
                shape[eyes] = 1
            out = ~cv2.dilate(shape, K5).astype(bool)
            near = ~cv2.dilate(shape, K3).astype(bool) if PLATE_NEAR else None
            pt = self._plate(y, b, out, inner, near)
            if pt is not None:
                pv, bad, seen = pt
                if eyes is not None:
                    # on real marks the eyes are a dark grey overlay, not holes: a white overlay
                    # never darkens, so where they read darker than a matching plate, it shows
                    # what they hide (un-blending and the brightness bound both kept them dark)
                    dark = eyes & (y < pv - EYE_DARK) & (bad <= EYE_BAD)
                    hole_b |= dark
                # the ring has no good alternative (inpainting textured ground is poor); the
                # interior has its un-blended values, often better than a plate a little off
                fits = bad <= PLATE_RING
                use = hole_b & fits
                # and it shows what the shape test missed: faint edges, thin strokes, lifted above
                # the plate by more than the codec's noise and the plate's own misfit there, near
                # where the mark usually is (a bright cloud drifting through the envelope's far
                # side, above a plate a little off, was taken for the mark: its outline showed)
                if self._lift_zone is None:
                    self._lift_zone = self.env & _grow(self.usual, LIFT_NEAR) if LIFT_NEAR else self.env
                use |= self._lift_zone & (s == 0) & (y - pv > np.maximum(PLATE_LIFT, LIFT_K * bad)) & fits
                if PLATE_SINK:
                    # a downscaled video's resampling filter leaves a dark fringe just outside the
                    # mark's bright strokes (its negative lobes): the mark's too, where it reads
                    # below a fitting plate (and the brightness bound, which holds for a white
                    # overlay, does not hold there)
                    sunk = (cv2.dilate(shape, K5) > 0) & (shape == 0) & (pv - y > PLATE_SINK) & fits
                    use |= sunk
                hole_b = hole_b & ~use
                trust = np.clip((PLATE_IN_BAD - bad) / (PLATE_IN_BAD - PLATE_IN_OK), 0, 1)
                # a smooth un-blended interior is already right (little noise to amplify): the plate
                # only helps where texture was crushed under the mark
                wi = inner.astype(np.float32)
                dev = (b - blur(b, PLATE_SIGMA)) * wi
                trust *= blur(dev * dev, PLATE_SIGMA) >= PLATE_FLAT_IN**2 * np.maximum(blur(wi, PLATE_SIGMA), 1e-3)
                b = np.where(use, pv, np.where(inner, b + trust * (pv - b), b))
                if seen is not None:
                    bare = seen & ((s > 0) | hole_b)
                    if bare.any():
                        hole_b = hole_b & ~bare
                    else:
                        bare = None
                plated = use | (inner & (trust > 0.5))  # (mostly the plate's value now)
        b8 = np.clip(np.round(b), 0, 255).astype(np.uint8)
        hole = hole_b.astype(np.uint8)
        free = None if dark is None else cv2.dilate(dark.astype(np.uint8), K3) > 0
        if sunk is not None and sunk.any():
            free = sunk if free is None else free | sunk
        bound = _brightest(yc, free)
        if bound is not None:  # (the fill reads the bounded values too)
            b8 = np.minimum(b8, bound)
        if hole.any():
            b8 = fill_thin(b8, hole, FILL_ALONG)
            if RING_UNBLEND and not self._fading and end is None:
                b8 = self._ring_unblend(y, b8, hole_b, edge & ~odd)
            if bound is not None:
                b8 = np.minimum(b8, bound)
        if CALM:
            # (a plate's value is the scene's own: left as it is)
            own = (s > 0) | hole_b
            b8 = self._calm(yc, b8, own if plated is None else own & ~plated)
            if bound is not None:
                b8 = np.minimum(b8, bound)
        if bare is not None:
            b8 = np.where(bare, yc, b8)
            a = np.where(bare, 0, a).astype(np.float32)  # (and the chroma left as it is there)
        if CHROMA_STATIC and not self._fading and end is None:
            # the chroma reads the mark's opacity from ``a``, 0 over the holes that lie off the
            # shape (the @handle's thin strokes, filled in luma): their chroma, greyed by the white
            # overlay, was kept as it was (a grey trace along the handle over dark hair, ~1 level)
            a = np.where(hole_b, np.maximum(a, np.minimum(self._static, a0)), a)
        return b8, a, hole

    def _ring_unblend(self, y: np.ndarray, b8: np.ndarray, hole: np.ndarray, ring: np.ndarray) -> np.ndarray:
        """``b8`` (its ``hole`` filled) with the hole's ``ring`` pixels at a stroke's core un-blended with
        their static alpha where the filled surroundings vary (see ``RING_UNBLEND``). A fill from
        around is right over smooth scenery and wrong where an edge or a line crosses the stroke
        (a picture frame's edge under the text, a fence's wires); the un-blended value carries the
        scene's structure, with the static alpha's error amplified (too noisy at the soft edge
        itself: un-blending every ring pixel cost 0.8-1.2 dB on the wm_eval sets)."""
        assert RING_UNBLEND is not None
        lo, hi = RING_UNBLEND
        st = np.minimum(self._static, self.a0)
        sel = hole & ring & (st >= RING_CORE * self.a0)
        if not sel.any():
            return b8
        known = (~hole).astype(np.float32)
        f = b8.astype(np.float32)
        sd = np.sqrt(np.maximum(_local_var(f, known, np.maximum(blur(known, RING_SIGMA), 1e-3), RING_SIGMA), 0))
        w = np.clip((sd[sel] - lo) / (hi - lo), 0, 1)
        un = np.clip((y[sel] - st[sel] * WHITE) / (1 - st[sel]), 0, 255)
        out = b8.copy()
        out[sel] = np.clip(np.round(w * un + (1 - w) * f[sel]), 0, 255).astype(np.uint8)
        return out

    def _calm(self, yc: np.ndarray, b8: np.ndarray, own: np.ndarray) -> np.ndarray:
        """The restored luma crop ``b8`` with its pixels in ``own`` (grown by 1 px) kept within
        ``CALM`` times the scene's fine texture (plus ``CALM_FLOOR`` levels) of their 5x5 median:
        the texture is the input's RMS deviation from its own 5x5 median outside the envelope, over
        ``TEXTURE_SIGMA`` px. Un-blending amplifies the codec's noise ~5x at single pixels (the edge
        ring's fill reads them): over smooth hair on the real yellow_brick_road the letters came out
        as a speckled outline that the interior's denoising, before the ring is filled, cannot see;
        over textured scenery the bound is wide and keeps the texture. (A thin bright pole under the
        mark is clipped where the scene around is fine-grained but weaker: the bound's price.)"""
        wo, do = self._around_weights()
        d = (yc.astype(np.float32) - cv2.medianBlur(yc, 5)) * wo
        lim = CALM * np.sqrt(blur(d * d, TEXTURE_SIGMA) / do) + CALM_FLOOR
        m = cv2.medianBlur(b8, 5).astype(np.float32)
        c = np.clip(np.round(m + np.clip(b8 - m, -lim, lim)), 0, 255).astype(np.uint8)
        return np.where(cv2.dilate(own.astype(np.uint8), K3) > 0, c, b8)

    def _eyes(self, s: np.ndarray, filled: np.ndarray | None = None) -> np.ndarray | None:
        """The holes this frame's shape ``s`` encloses in the cloud's columns (its eyes), or None.
        ``filled``: ``_fill_holes(s)``, where it was read already."""
        eyes = ((_fill_holes(s) if filled is None else filled) > s) & self._parts()[0][None, :]
        return eyes if eyes.any() else None

    def _parts(self) -> list[np.ndarray]:
        """Columns (bool masks) of the mark's parts that move on their own: the cloud and the text
        (with the handle line), cut in the middle of the first run of columns the always-covered
        core leaves empty, walking from the cloud's body (the core's largest solid blob) toward the
        text (or, without the text in the core, the often-covered pixels: ``PARTS_COVER``); one
        part when there is no text beside it. Computed once per interval."""
        if self._part_cols is None:
            self._part_cols = self._find_parts()
        return self._part_cols

    def _find_parts(self) -> list[np.ndarray]:
        """See :meth:`_parts`."""
        n, _, st, _ = cv2.connectedComponentsWithStats(_solid(self.core), connectivity=8)
        if n < 2:
            return [np.ones(self.w, bool)]
        body = 1 + int(np.argmax(st[1:, cv2.CC_STAT_AREA]))
        mid = int(st[body, cv2.CC_STAT_LEFT] + st[body, cv2.CC_STAT_WIDTH] // 2)
        for covered in (self.core, self.cover) if PARTS_COVER else (self.core,):
            cut = self._cut_beside(covered.any(0), mid)
            if cut is not None:
                return cut
        return [np.ones(self.w, bool)]

    def _cut_beside(self, used: np.ndarray, mid: int) -> list[np.ndarray] | None:
        """(the cloud's columns, the text's), cut in the middle of the first gap in the ``used``
        columns walking from the cloud body's middle column ``mid`` toward the text; None when
        no used column lies past a gap (no text beside the cloud)."""
        # the text lies on the side with more of the used columns
        step = 1 if used[mid:].sum() >= used[:mid].sum() else -1
        x = mid
        while 0 <= x < self.w and used[x]:
            x += step
        gap = x
        while 0 <= x < self.w and not used[x]:
            x += step
        if not 0 <= x < self.w:
            return None
        cut = (gap + x + (1 if step > 0 else 0)) // 2  # (the gap's middle, either way)
        cloud = np.zeros(self.w, bool)
        if step > 0:
            cloud[:cut] = True
        else:
            cloud[cut + 1:] = True
        return [cloud, ~cloud]

    def _slide_zones(self) -> list[np.ndarray]:
        """The mark's parts that slide on their own, as box-sized masks: the cloud's and the text's
        columns (see :meth:`_parts`), and the ``@handle`` line apart from the word above it (on the
        wm_eval cases the word slides in the animation's last frames while the line stays; moved
        with the word, the line was restored 2 px off and left whole: tennis_vflip_landscape's
        f87). The line's part keeps to the text's columns: where it runs under the cloud (wm_eval's
        right-middle place) it moves with the cloud, whose drop of 4-6 px in the last frame
        reaches the line's rows (cut there, the cloud's lowest rows were left: 31.8 -> 25.2 dB in
        tennis_flip_landscape's f1)."""
        parts = self._parts()
        zones = [np.repeat(p[None, :], self.h, 0) for p in parts]
        split = self._handle_row() if SLIDE_HANDLE else None
        if split is None:
            return zones
        line = np.zeros((self.h, self.w), bool)
        line[split:] = parts[1]
        return [z & ~line for z in zones] + [line]

    def _slide_templates(self, zones: list[np.ndarray], step: int) -> list[_SlidePart]:
        """Per part (a mask, see :meth:`_slide_zones`), at 1/``step`` size: its mask, the bounds
        (rows, columns) of its region (where the mark usually is, grown, within the part), the fit
        frames' band-passed mean crop there made zero-mean over the region (zero outside it), that
        template's norm, the region as weights, and its size."""
        region = cv2.dilate(self.usual.astype(np.uint8), K5)
        mean = self.mean
        h, w = self.h // step, self.w // step
        if step > 1:
            region = cv2.resize(region, (w, h), interpolation=cv2.INTER_AREA)
            mean = cv2.resize(mean, (w, h), interpolation=cv2.INTER_AREA)
        region = region.astype(bool)
        tmpl = bandpass(mean, 1.0 / step, 6.0 / step)
        out = []
        for zone in zones:
            r = region & zone[:h * step, :w * step].reshape(h, step, w, step).any((1, 3))
            n = int(r.sum())
            if n < 12:
                continue
            ys, xs = np.nonzero(r)
            r0, r1, c0, c1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
            rc = r[r0:r1, c0:c1]
            t = np.where(rc, tmpl[r0:r1, c0:c1] - float(tmpl[r].mean()), 0).astype(np.float32)
            tn = float(np.sqrt((t * t).sum())) or 1.0
            out.append((zone, (r0, r1, c0, c1), np.stack([t.ravel(), rc.ravel()], 1).astype(np.float32), tn, n))
        return out

    @staticmethod
    def _slid(parts: list[_SlidePart], bp: np.ndarray, reach: int, least: int, gain: float
              ) -> list[tuple[np.ndarray, int]]:
        """(mask, shift) of the parts whose correlation with their template is best ``least``
        or more rows down in ``bp`` (the window over the box and ``reach`` rows below it), by
        ``gain`` over staying put, and at least ``SLIDE_MATCH`` (a part that has gone matches
        nowhere)."""
        out = []
        for zone, (r0, r1, c0, c1), tr, tn, n in parts:
            # the correlation at each shift (the template is zero-mean over the region, so the
            # window's own mean drops out of the product): three sums over the region per shift,
            # as products of each shift's window (a row) with the template and the region's
            # weights: ~2.5x faster than matchTemplate on these few full-width shifts (its sums
            # differ by ~1e-5 relative; the wm_eval and real outputs are byte-identical)
            win = bp[r0:r1 + reach, c0:c1]
            rows = sliding_window_view(win, (r1 - r0, c1 - c0))[:, 0].reshape(-1, tr.shape[0])
            num, s1 = (rows @ tr).T
            s2 = (rows * rows) @ tr[:, 1]
            scores = num / (tn * np.sqrt(np.maximum(s2 - s1 * s1 / n, 1e-6)))
            best = int(np.argmax(scores))
            if best >= least and scores[best] - scores[0] >= gain and scores[best] >= SLIDE_MATCH:
                out.append((zone, best))
        return out

    def slide(self, Y: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
        """How far each pixel's part of the mark (see :meth:`_slide_zones`) has slid down in this
        frame (a box-sized int map), or None when nothing moved. In the animation's last frames the
        mark slides down before it goes: the text 1 then 3 px, the cloud 1, 2, then 6 px (measured
        on the real track), out of the shape learned from the interval's frames. Each part's edges
        are matched against the fit frames' mean crop, band-passed (the scene averages out there,
        the mark does not); at half size first (a quarter of the work: most frames show the mark
        where it always is)."""
        x0, y0, x1, y1 = box
        reach = min(END_REACH, Y.shape[0] - y1)
        if not self.found or reach < 2:
            return None
        if self._slide is None:
            zones = self._slide_zones()
            self._slide = (self._slide_templates(zones, 1), self._slide_templates(zones, 2))
        fine, coarse = self._slide
        window = Y[y0:y1 + reach, x0:x1]
        small = cv2.resize(window, ((x1 - x0) // 2, (y1 - y0 + reach) // 2), interpolation=cv2.INTER_AREA)
        if not self._slid(coarse, bandpass(small, 0.5, 3.0), reach // 2, SLIDE_MIN // 2, SLIDE / 2):
            return None
        d = np.zeros((self.h, self.w), np.intp)
        for zone, dy in self._slid(fine, bandpass(window), reach, SLIDE_MIN, SLIDE):
            d[zone] = dy
        return d if d.any() else None

    def restore(self, yuv: np.ndarray, box: tuple[int, int, int, int], prior: np.ndarray | None = None,
                ending: bool = False, fade: bool = True, settled: bool = False) -> np.ndarray:
        """Restore one yuv420p frame (H*3/2, W) inside box, in place; returns the frame. Where the
        mark has slid down (the animation's last frames, see :meth:`slide`), each part is
        restored from a window moved down with it. ``fade``, ``settled``: see :meth:`restore_y`."""
        H = yuv.shape[0] * 2 // 3
        x0, y0, x1, y1 = box
        Yp = yuv[:H]
        # (the mark slides down at an interval's end, not before its first full frame)
        d = self.slide(Yp, box) if SLIDE and fade else None
        if d is not None:
            return self._restore_slid(yuv, box, d, prior, ending)
        r = self.restore_y(Yp[y0:y1, x0:x1], prior, ending, fade, settled)
        if r is None:
            return yuv
        b8, a, hole = r
        Yp[y0:y1, x0:x1] = b8
        return restore_chroma(yuv, box, a, hole)

    def _restore_slid(self, yuv: np.ndarray, box: tuple[int, int, int, int], d: np.ndarray,
                      prior: np.ndarray | None, ending: bool) -> np.ndarray:
        """Restore a frame whose mark has slid ``d`` rows down per pixel (see :meth:`slide`): each
        part from a window moved down with it; the clean plates and the previous frame are seen
        through the same window. (Where a part above one that stayed slid, the rows between them
        are seen twice in the window and restored twice: the part below's value is kept.)"""
        H = yuv.shape[0] * 2 // 3
        x0, y0, x1, y1 = box
        Yp = yuv[:H]
        # the moved window, pixel by pixel (its rows never leave the frame: slide's reach)
        h = y1 - y0
        rows = np.arange(h)[:, None] + d
        cols = np.broadcast_to(np.arange(x1 - x0)[None, :], rows.shape)
        # a box pixel the window sees twice (between a slid part and one below it that stayed)
        # goes back from the lower window row, the part below's: a window pixel is kept when
        # every window row under it lands lower in the box
        lowest = np.minimum.accumulate(rows[::-1])[::-1]  # (per column, from this row down)
        keep = np.ones(rows.shape, bool)
        keep[:-1] = rows[:-1] < lowest[1:]
        inside = (rows < h) & keep  # the window's pixels that go back in the box (the rest lie below it)
        box_rows = np.minimum(rows, h - 1)

        def moved(m: np.ndarray) -> np.ndarray:
            """A box-sized map seen through the moved window (below the box: its last row)."""
            return m[box_rows, cols]

        def back(m: np.ndarray, fill: float | bool) -> np.ndarray:
            """A window-sized map put back in the box (the rows the window left: ``fill``)."""
            out = np.full(m.shape, fill, m.dtype)
            out[rows[inside], cols[inside]] = m[inside]
            return out

        pw = None if prior is None else moved(prior) & inside
        # the clean plates and the previous frame, kept in the box's rows, seen through the window
        # too (the scene did not move with the mark)
        plates = self.plates
        self.plates = [moved(P) for P in plates]
        if self._prev is not None:
            py, pb, pin = self._prev
            self._prev = (moved(py), moved(pb), moved(pin) & inside)
        # (and the last full frame a fade reads its share and shape against: the mark fades out
        # as it slides)
        full = self._full
        if full is not None:
            fy, fb, fin = full
            self._full = (moved(fy), moved(fb), moved(fin) & inside)
        moved_full = self._full
        try:
            r = self.restore_y(Yp[y0 + rows, x0 + cols], pw, ending)
        finally:
            self.plates = plates
            if self._full is moved_full:
                self._full = full
        if self._prev is not None:
            moved_prev, (py, pb, pin) = self._prev, self._prev
            self._prev = (back(py, 0.0), back(pb, 0.0), back(pin, False))
            if self._full is moved_prev:  # (kept in the box's rows too)
                self._full = self._prev
        if r is None:
            return yuv
        b8, a, hole = r
        rk, ck = rows[keep], cols[keep]
        Yp[y0 + rk, x0 + ck] = b8[keep]
        e1 = y1 + int(d.max())
        e1 += e1 % 2
        a_ext = np.zeros((e1 - y0, x1 - x0), np.float32)
        h_ext = np.zeros((e1 - y0, x1 - x0), np.uint8)
        a_ext[rk, ck] = a[keep]
        h_ext[rk, ck] = hole[keep]
        return restore_chroma(yuv, (x0, y0, x1, e1), a_ext, h_ext)
