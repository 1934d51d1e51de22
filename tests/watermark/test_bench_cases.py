"""The benchmark's self-generated cases (``python -m vidgate.bench watermark``): truth and input
line up frame by frame, the mark sits in the recorded boxes, and the scorer tells them apart."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from vidgate.bench.watermark import make_synthetic, score
from vidgate.media.video import iter_y

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the benchmark's cases are encoded by ffmpeg")


@pytest.mark.parametrize("bright", [False, True])
def test_synthetic_case_and_its_score(tmp_path, bright):
    meta = make_synthetic(tmp_path / "case", 640, 360, 12, 67, seed=3, bright=bright)
    assert json.loads((tmp_path / "case" / "bench.json").read_text())["boxes"] == [list(b) for b in meta["boxes"]]
    truth, inp = (np.stack(list(iter_y(tmp_path / "case" / n))).astype(np.float32) for n in ("truth.mp4", "input.mp4"))
    assert truth.shape == inp.shape == (12, 360, 640)
    x0, y0, x1, y1 = meta["boxes"][0]
    lift = inp[0, y0:y1, x0:x1] - truth[0, y0:y1, x0:x1]
    assert lift.max() > 15 and lift.mean() > 1  # the white mark in its box
    outside = np.ones((360, 640), bool)
    outside[y0:y1, x0:x1] = False
    assert np.abs(inp[0][outside] - truth[0][outside]).mean() < 2  # and nowhere else
    if bright:
        assert np.percentile(truth, 5) > 190  # a near-white scene
    same, marked = score(tmp_path / "case" / "truth.mp4", tmp_path / "case" / "truth.mp4", meta["boxes"]), \
        score(tmp_path / "case" / "input.mp4", tmp_path / "case" / "truth.mp4", meta["boxes"])
    assert same["box_psnr"] == 100.0 and marked["box_psnr"] < 40


def test_damage_outside_the_mark_is_scored(tmp_path):
    """Box PSNR reads only the mark's box: a remover that takes bright scenery for the mark and
    repaints it elsewhere in the frame (a short clip's white table, un-blended to grey over 34 000
    pixels a frame) scored as well as one that left the frame alone. The damage column counts the
    pixels moved away from the truth outside the mark's box."""
    from tests.watermark.conftest import write_clip

    from vidgate.bench.watermark import DAMAGE_LEVELS, DAMAGE_MIN

    meta = make_synthetic(tmp_path / "case", 640, 360, 6, 67, seed=3)
    case = tmp_path / "case"
    truth = [np.repeat(y[..., None], 3, axis=2) for y in iter_y(case / "truth.mp4")]
    x0, y0, x1, y1 = meta["boxes"][2]
    far = (slice(300, 340), slice(20, 80)) if x0 > 320 else (slice(300, 340), slice(560, 620))
    broken = [f.copy() for f in truth]
    broken[2][far] = np.clip(broken[2][far].astype(np.int16) - 3 * DAMAGE_LEVELS, 0, 255).astype(np.uint8)
    near = [f.copy() for f in truth]  # the restorer's own margin around the box is left out
    near[2][y0:y1, x0:x1] = 128
    write_clip(tmp_path / "broken.mp4", broken, audio=False)
    write_clip(tmp_path / "near.mp4", near, audio=False)
    args = (case / "truth.mp4", meta["boxes"], case / "input.mp4")
    assert score(case / "truth.mp4", *args)["damage"] == 0
    assert score(case / "input.mp4", *args)["damage"] == 0
    assert score(tmp_path / "near.mp4", *args)["damage"] < DAMAGE_MIN
    assert score(tmp_path / "broken.mp4", *args)["damage"] >= 0.9 * 40 * 60


def test_the_remover_process_peak_is_its_own(basic_case):
    """The benchmark spawns the remover as the worker does and reports its peak RSS; Linux's
    ``ru_maxrss`` carries the parent's peak across the spawn (the benchmark's own footprint, grown
    case after case, was read as the remover's: 439 MiB for a 432x240 clip that peaks at ~140)."""
    import numpy as np

    from vidgate.bench.watermark import remove_in_child

    clip, _ = basic_case
    first, found, _ = remove_in_child(clip, clip.with_name("peak_a.mp4"))
    grown = np.ones(600 * 2**20, np.uint8)  # the parent now holds 600 MiB more
    again, _, _ = remove_in_child(clip, clip.with_name("peak_b.mp4"))
    del grown
    assert found and first < 400 and abs(again - first) < 60, (first, again)
