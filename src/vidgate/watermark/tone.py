"""The mark's white as a video shows it, and a luma map that puts it back where the model has it.

The restoration reads the mark as white at ``restore.WHITE`` (235). A video whose tones were edited
after Sora made it (its brightness or contrast: an affine map of the luma, T(y) = g y + o) keeps the
blend model exact with the white moved, since T(a W + (1 - a) B) = a T(W) + (1 - a) T(B): a copy
darkened so its white sat at ~209 was refused at every place (a covered pixel over black fell under
the matte's brightness bound) and came back as it was, and a contrast of 1.2 restored badly.

The white is read where the video tells it precisely: against still plates. Where the scene holds
still, the frames just before an interval (the mark elsewhere) show the place bare, and the
interval's first frames show it marked: under the mark every pixel reads I = (1 - a) P + a W against
its plate P, one line whose slope and intercept give the opacity a and the white W. The pixels the
line is read from hold still in both (a moving scene's plate is not its background), lie well above
their plate, and must spread over enough levels (the line is extrapolated to where I = P); the
places' pixels must lie on one line. Where the video cannot tell (a moving camera, a narrow spread),
or reads a white near 235, the frames are left as they are. Otherwise the luma of the region the
restoration reads and writes is mapped so the white lands on 235 (an affine map about the black
level, 16), restored, and mapped back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from vidgate.watermark.restore import WHITE

PLATE_FRAMES = 6  # frames just before an interval (the mark elsewhere): their median is its plate
SHOWN = (3, 10)  # frames of the interval, from its first, whose median shows the mark (past its fade-in)
STILL_SD = 3.0  # levels of SD over the plate's and the marked frames: a still scene, its plate valid
LIFT = 25.0  # levels above its plate: a pixel under the mark
MIN_PIXELS = 50  # pixels under the mark a place needs to take part
MIN_SPREAD = 25.0  # levels of SD of the plates under the mark: a narrower spread extrapolates too far
MAX_RESIDUAL = 3.0  # levels: a place's pixels' median distance from the line (else its plate is not its scene)
WHITE_TOL = 8.0  # levels: a white read this close to 235 leaves the video as it is (unedited ones read 234.5-238.8)
WHITE_RANGE = (150.0, 280.0)  # whites outside are not mapped (over 255 the mark clips only over bright scenery)
MARGIN = 16  # px around every box (and its widened copy) mapped with it: the restoration reads near its box


@dataclass(frozen=True)
class ToneMap:
    """Lookup tables taking the video's luma to the model's (its white at 235) and back, and the
    region of the frame they are applied to."""

    white: float
    forward: np.ndarray
    back: np.ndarray
    region: np.ndarray  # bool (H, W)

    @staticmethod
    def of(white: float, region: np.ndarray) -> ToneMap:
        s = (WHITE - 16) / (white - 16)
        y = np.arange(256, dtype=np.float64)
        fwd = np.clip(np.round(16 + (y - 16) * s), 0, 255).astype(np.uint8)
        back = np.clip(np.round(16 + (y - 16) / s), 0, 255).astype(np.uint8)
        return ToneMap(white, fwd, back, region)

    def to_model(self, luma: np.ndarray) -> None:
        """Map ``luma`` (H, W uint8) in place to the model's levels, in the region."""
        luma[self.region] = self.forward[luma[self.region]]

    def to_video(self, luma: np.ndarray) -> None:
        """Map ``luma`` in place back to the video's levels, in the region."""
        luma[self.region] = self.back[luma[self.region]]


def frames_read(start: int, end: int) -> list[int]:
    """The frames :func:`read_white` reads of the interval [``start``, ``end``]: its plate's
    (``PLATE_FRAMES`` of them), then its first marked ones (none where it begins too early or ends
    too soon to be read)."""
    if start < PLATE_FRAMES or end < start + SHOWN[1]:
        return []
    return [*range(start - PLATE_FRAMES, start), *range(start + SHOWN[0], start + SHOWN[1])]


Box = tuple[int, int, int, int]


def read_white(crop: Callable[[int, Box], np.ndarray], places: Iterable[tuple[Box, int, int]]) -> float | None:
    """The mark's white read against still plates (see the module's doc), from the luma of frame t
    in a box (``crop(t, box)``) and each interval's (box, first frame, last frame); None where the
    video cannot tell it."""
    reads: list[tuple[np.ndarray, np.ndarray]] = []
    for box, s, e in places:
        frames = frames_read(s, e)
        if not frames:
            continue
        plates = np.stack([crop(t, box) for t in frames[:PLATE_FRAMES]]).astype(np.float32)
        shown = np.stack([crop(t, box) for t in frames[PLATE_FRAMES:]]).astype(np.float32)
        p, i = np.median(plates, 0), np.median(shown, 0)
        under = (i - p > LIFT) & (plates.std(0) < STILL_SD) & (shown.std(0) < STILL_SD)
        # (the strokes' anti-aliased rims are at a lower opacity: off the line)
        under = cv2.erode(under.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        if int(under.sum()) >= MIN_PIXELS:
            reads.append((p[under], i[under]))
    for _ in range(2):  # (a place off the line read once is dropped, and the line read again)
        if not reads:
            return None
        p = np.concatenate([r[0] for r in reads])
        i = np.concatenate([r[1] for r in reads])
        if float(p.std()) < MIN_SPREAD:
            return None
        slope, icpt = np.polyfit(p, i, 1)
        near = [r for r in reads if float(np.median(np.abs(r[1] - (slope * r[0] + icpt)))) <= MAX_RESIDUAL]
        if len(near) == len(reads):
            break
        reads = near
    else:
        return None
    a = 1.0 - float(slope)
    if not 0.5 <= a <= 0.95:
        return None
    return float(icpt) / a


def tone_map(crop: Callable[[int, Box], np.ndarray], places: list[tuple[Box, int, int]], boxes: Iterable[Box],
             shape: tuple[int, int]) -> ToneMap | None:
    """The map for a video whose mark's white reads away from 235 (None: the video as it is);
    ``boxes``: every box the restoration may read (mapped with a margin, and widened as a box that
    cuts the mark is)."""
    white = read_white(crop, places)
    if white is None or abs(white - WHITE) <= WHITE_TOL or not WHITE_RANGE[0] <= white <= WHITE_RANGE[1]:
        return None
    region = np.zeros(shape, bool)
    for x0, y0, x1, y1 in boxes:
        grow = (x1 - x0) // 2 + MARGIN
        region[max(0, y0 - MARGIN):y1 + MARGIN, max(0, x0 - grow):x1 + grow] = True
    return ToneMap.of(white, region)
