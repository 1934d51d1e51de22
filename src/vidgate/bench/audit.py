"""Residue audit of the watermark remover on a real video: the frames whose output still shows the mark.

usage: python -m vidgate.bench audit IN.mp4 [--out-video PATH] [--threshold 0.35]

Runs the remover, then, for each place the mark held, builds the mark's own template from the
video: the band-passed mean of input minus output over the inner frames of its intervals (what
the remover took away there). Every output frame's crop at every place is band-passed and
correlated with that template; a frame above the threshold still shows the mark's shape (a frame
the detector missed, a fade read as something else). The contact sheets show a few frames per
interval; this reads them all. Memory stays flat: two decodes of the input and the output, one
frame of each at a time.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from vidgate.media.video import iter_luma
from vidgate.watermark import remove_watermark
from vidgate.watermark.phase import bandpass

THRESHOLD = 0.35  # correlation with the mark's template above which a frame shows the mark
EDGE = 3  # an interval's first and last frames (fades, drops) are left out of the template


def _bandpass(y: np.ndarray) -> np.ndarray:
    return bandpass(y, 1.0, 4.0)  # (strokes; the scene's slow shading out)


def _pairs(inp: Path, out: Path) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    for t, (a, b) in enumerate(zip(iter_luma(inp), iter_luma(out), strict=False)):
        yield t, a, b


Hit = tuple[int, tuple[int, ...], float]


def audit(inp: Path, out: Path, positions: Iterable[dict], threshold: float = THRESHOLD) -> list[Hit]:
    """(frame, place's box, correlation) for each output frame whose crop at one of the places in
    ``positions`` (the remover's report: start, end, box) correlates with the mark's template at
    ``threshold`` or more."""
    inner: dict[tuple[int, ...], set[int]] = {}
    for p in positions:
        frames = inner.setdefault(tuple(p["box"]), set())
        frames.update(range(p["start"] + EDGE, p["end"] - EDGE + 1))
    sums: dict[tuple[int, ...], np.ndarray] = {}
    for t, a, b in _pairs(inp, out):
        for box, frames in inner.items():
            if t in frames:
                x0, y0, x1, y1 = box
                d = a[y0:y1, x0:x1].astype(np.float32) - b[y0:y1, x0:x1]
                sums[box] = sums[box] + d if box in sums else d
    templates = {}
    for box, s in sums.items():
        m = _bandpass(s / len(inner[box]))
        m -= m.mean()
        n = float(np.linalg.norm(m))
        if n > 1e-3:
            templates[box] = (m, n)
    found = []
    for t, _, b in _pairs(inp, out):
        for box, (m, n) in templates.items():
            x0, y0, x1, y1 = box
            c = _bandpass(b[y0:y1, x0:x1])
            c -= c.mean()
            r = float((c * m).sum() / (np.linalg.norm(c) * n + 1e-6))
            if r >= threshold:
                found.append((t, box, round(r, 3)))
    return found


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m vidgate.bench audit", description=__doc__)
    ap.add_argument("input", type=Path)
    ap.add_argument("--out-video", type=Path)
    ap.add_argument("--threshold", type=float, default=THRESHOLD)
    a = ap.parse_args(argv)
    out = a.out_video or Path(tempfile.mkdtemp(prefix="vidgate-audit-")) / "out.mp4"
    rep = remove_watermark(a.input, out)
    print("positions:", [(p["start"], p["end"], p["box"]) for p in rep.positions])
    hits = audit(a.input, out, rep.positions, a.threshold)
    for t, box, r in hits:
        print(f"frame {t}: the mark's shape at {list(box)} (correlation {r})")
    print(f"{len(hits)} frame(s) at or above {a.threshold} of {rep.frames}")
    return 0
