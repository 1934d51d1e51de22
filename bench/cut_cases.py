"""Build cut cases from a wm_eval case set: short clips as a user trims them from a Sora video.

For each case (input.mp4, truth.mp4, case.json, mask.npz, alpha.npz as ``wm_eval/make_cases.py``
writes them), two cuts, both re-encoded alike (libx264 CRF 16) and their case files sliced:

* ``held``: the case's longest hold without its first 4 and last 3 frames: the mark at one place in
  every frame, never jumping (found nowhere before the fifty-eighth session);
* ``jump``: that hold's last 6 frames, then the next hold to its end (the clip begins just before
  a jump).

Cuts under 30 frames are skipped. The output folder is a case set like any other:
``python -m vidgate.bench watermark --cases OUT`` or wm_eval's ``run.py --cases OUT``.

Usage: python bench/cut_cases.py SET_DIR OUT_DIR   (needs ffmpeg on PATH)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

MIN_FRAMES = 30


def holds(frame_info: list[dict]) -> list[tuple[int, int]]:
    """(first, last) frame of each run of frames with the mark at one place (its box's 100-px cell)."""
    runs: list[list] = []
    for t, f in enumerate(frame_info):
        box = f.get("box")
        key = None if box is None else (box[0] // 100, box[1] // 100)
        if runs and runs[-1][0] == key:
            runs[-1][2] = t
        else:
            runs.append([key, t, t])
    return [(s, e) for key, s, e in runs if key is not None]


def cut(case: Path, out: Path, first: int, end: int) -> None:
    """Frames [first, end) of ``case`` as a case folder at ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("input.mp4", "truth.mp4"):
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(case / name), "-vf",
                        f"trim=start_frame={first}:end_frame={end},setpts=PTS-STARTPTS", "-an",
                        "-c:v", "libx264", "-crf", "16", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                        str(out / name)], check=True)
    meta = json.loads((case / "case.json").read_text())
    meta["frame_info"] = meta["frame_info"][first:end]
    meta["frames"] = end - first
    meta["name"] = out.name
    meta["cut"] = [first, end]
    (out / "case.json").write_text(json.dumps(meta))
    for name, key in (("mask.npz", "mask"), ("alpha.npz", "alpha")):
        if (case / name).exists():
            np.savez_compressed(out / name, **{key: np.load(case / name)[key][first:end]})


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    for case in sorted(p for p in src.iterdir() if (p / "case.json").exists()):
        runs = holds(json.loads((case / "case.json").read_text())["frame_info"])
        if not runs:
            continue
        s, e = max(runs, key=lambda r: r[1] - r[0])
        cuts = {"held": (s + 4, e - 2)}
        later = [r for r in runs if r[0] > s]
        if later:
            cuts["jump"] = (e - 5, later[0][1] + 1)
        for kind, (a, b) in cuts.items():
            if b - a >= MIN_FRAMES:
                cut(case, dst / f"{case.name}_{kind}", a, b)
                print(dst / f"{case.name}_{kind}", b - a, "frames")


if __name__ == "__main__":
    main()
