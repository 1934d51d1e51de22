"""Before/after contact sheets of the watermark remover on real videos (for docs/contact_sheets/).

usage: python -m vidgate.bench contact-sheet IN.mp4 OUT.png [--out-video PATH] [--frames 0,66,67,...]

Runs the remover, then shows, for each detected position interval, the frame before its first
frame, its first frame (the jump frame), the next one, its middle frame and its last two (where the
mark fades or drops before it leaves, or the video ends): a zoomed crop of the box
before and after, plus small full-frame thumbnails (after) so residue anywhere is visible. Extra
frame indices can be added with ``--frames``. The PNG is kept small (< 1.5 MB).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np

from vidgate.media.video import iter_frames
from vidgate.watermark import remove_watermark

CROP_H = 150  # height of a zoomed crop in the sheet
THUMB_H = 150  # height of a full-frame thumbnail


def _rgb(yuv: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420)


def _fit(img: np.ndarray, h: int) -> np.ndarray:
    s = h / img.shape[0]
    return cv2.resize(img, (max(1, round(img.shape[1] * s)), h), interpolation=cv2.INTER_AREA if s < 1 else
                      cv2.INTER_CUBIC)


def _label(img: np.ndarray, text: str) -> np.ndarray:
    img = img.copy()
    cv2.putText(img, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def make_sheet(inp: Path, png: Path, out_video: Path | None = None, extra: list[int] | None = None) -> dict:
    out_video = out_video or Path(tempfile.mkdtemp(prefix="vidgate-sheet-")) / "out.mp4"
    rep = remove_watermark(inp, out_video)
    want: dict[int, tuple[int, int, int, int] | None] = {}
    for p in rep.positions:
        s, e, box = p["start"], p["end"], tuple(p["box"])
        for t, b in ((s - 1, box), (s, box), (s + 1, box), ((s + e) // 2, box), (e - 1, box), (e, box)):
            if 0 <= t < rep.frames:
                want.setdefault(t, b)
    for t in extra or []:
        if 0 <= t < rep.frames:
            want.setdefault(t, None)
    if not want:
        want = {t: None for t in np.linspace(0, rep.frames - 1, 6).astype(int).tolist()}
    rows = []
    frames_in = {f.index: _rgb(f.yuv) for f in iter_frames(inp) if f.index in want}
    frames_out = {f.index: _rgb(f.yuv) for f in iter_frames(out_video) if f.index in want}
    for t in sorted(want):
        a, b = frames_in[t], frames_out[t]
        box = want[t]
        if box is None:  # no box: the region of the nearest interval, or the whole frame
            near = min(rep.positions, key=lambda p: min(abs(p["start"] - t), abs(p["end"] - t)), default=None)
            box = tuple(near["box"]) if near else (0, 0, a.shape[1], a.shape[0])
        x0, y0, x1, y1 = box
        m = max(8, (y1 - y0) // 3)
        x0, y0 = max(0, x0 - m), max(0, y0 - m)
        x1, y1 = min(a.shape[1], x1 + m), min(a.shape[0], y1 + m)
        ca, cb = _fit(a[y0:y1, x0:x1], CROP_H), _fit(b[y0:y1, x0:x1], CROP_H)
        ta, tb = _fit(a, THUMB_H), _fit(b, THUMB_H)
        cv2.rectangle(tb, (round(x0 * THUMB_H / a.shape[0]), round(y0 * THUMB_H / a.shape[0])),
                      (round(x1 * THUMB_H / a.shape[0]), round(y1 * THUMB_H / a.shape[0])), (0, 200, 255), 1)
        sep = np.full((CROP_H, 4, 3), 40, np.uint8)
        row = np.hstack([_label(ca, f"f{t} before"), sep, _label(cb, f"f{t} after"), sep, _label(ta, "before"), sep,
                         _label(tb, "after")])
        rows.append(row)
    width = max(r.shape[1] for r in rows)
    rows = [np.hstack([r, np.zeros((r.shape[0], width - r.shape[1], 3), np.uint8)]) for r in rows]
    sheet = np.vstack([np.vstack([r, np.full((4, width, 3), 40, np.uint8)]) for r in rows])
    png.parent.mkdir(parents=True, exist_ok=True)
    level = 9
    cv2.imwrite(str(png), sheet, [cv2.IMWRITE_PNG_COMPRESSION, level])
    scale = 1.0
    while png.stat().st_size > 1_450_000 and scale > 0.3:
        scale *= 0.85
        small = cv2.resize(sheet, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(png), small, [cv2.IMWRITE_PNG_COMPRESSION, level])
    return rep.to_dict()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m vidgate.bench contact-sheet", description=__doc__)
    ap.add_argument("input", type=Path)
    ap.add_argument("png", type=Path)
    ap.add_argument("--out-video", type=Path)
    ap.add_argument("--frames", default="", help="extra frame indices, comma separated")
    a = ap.parse_args(argv)
    extra = [int(v) for v in a.frames.split(",") if v.strip()]
    rep = make_sheet(a.input, a.png, a.out_video, extra)
    print({k: rep[k] for k in ("watermark_found", "frames", "positions", "seconds_elapsed")})
    return 0
