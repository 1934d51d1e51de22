"""The video's start and end cut the mark's cycle anywhere: a place the mark holds for only a few
frames there (too few to pay for the interval model's switch to it) is still found and restored,
when the mark holds that place elsewhere in the video."""

from __future__ import annotations

import numpy as np
import pytest
from tests.watermark.conftest import make_case, mark_alpha, positions
from tests.watermark.test_watermark import _mark_gone, detect

from vidgate.watermark import remove_watermark

N, HOLD, OFFSET = 96, 30, 27  # TL 0-2, RM 3-32, BL 33-62, TL 63-92, RM 93-95


def _holds(box: tuple[int, int, int, int], pos: str) -> bool:
    a = mark_alpha()
    x, y = positions(a)[pos]
    yy, xx = np.nonzero(a > 0.05)
    x, y, w, h = x + int(xx.min()), y + int(yy.min()), int(xx.max() - xx.min() + 1), int(yy.max() - yy.min() + 1)
    bx0, by0, bx1, by1 = box
    return bx0 <= x + 2 and by0 <= y + 2 and bx1 >= x + w - 2 and by1 >= y + h - 2


@pytest.fixture(scope="module")
def cut_case(tmp_path_factory: pytest.TempPathFactory):
    p = tmp_path_factory.mktemp("edges") / "cut.mp4"
    sched = make_case(p, n=N, hold=HOLD, offset=OFFSET)
    assert sched[0] == ("TL", 0, 2) and sched[-1] == ("RM", 93, 95)
    return p, sched


def test_short_runs_at_the_videos_ends_are_intervals(cut_case):
    path, _ = cut_case
    got = detect(path)
    first, last = got[0], got[-1]
    assert first.start == 0 and abs(first.end - 2) <= 1 and _holds(first.box, "TL"), got
    assert last.end == N - 1 and abs(last.start - 93) <= 1 and _holds(last.box, "RM"), got
    # (the places they were given to before are cut back, not lost)
    assert any(iv.start <= 4 and iv.end >= 31 and _holds(iv.box, "RM") for iv in got), got
    assert any(iv.start <= 64 and iv.end >= 91 and _holds(iv.box, "TL") for iv in got), got


@pytest.mark.parametrize("decodes", ["once", "twice"])
def test_a_mark_cut_short_by_the_videos_ends_is_removed(cut_case, tmp_path, monkeypatch, decodes):
    import vidgate.watermark.pipeline as pipeline

    if decodes == "twice":  # (streamed: the frames are decoded again for restoration)
        monkeypatch.setattr(pipeline, "HOLD_BYTES", 0)
    path, _ = cut_case
    rep = remove_watermark(path, tmp_path / "out.mp4")
    boxes = {p["start"]: p["box"] for p in rep.positions}
    ends = {p["end"]: p["box"] for p in rep.positions}
    for t in (0, 1, 2):
        assert _mark_gone(tmp_path / "out.mp4", path, t, boxes[0]), t
    for t in (93, 94, 95):
        assert _mark_gone(tmp_path / "out.mp4", path, t, ends[N - 1]), t
