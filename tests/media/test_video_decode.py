"""iter_frames: yuv420p planes stacked as PyAV's ``to_ndarray`` gives them (one copy straight
from the decoder's buffers, whose rows are padded to an aligned line size)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from vidgate.media.video import VideoWriter, iter_frames


@pytest.mark.parametrize("size", [(64, 48), (90, 50), (432, 240)])
def test_frames_match_pyav(tmp_path: Path, size: tuple[int, int]) -> None:
    w, h = size
    rng = np.random.default_rng(w)
    p = tmp_path / "v.mp4"
    with VideoWriter(p, width=w, height=h, fps=30) as wr:
        for _ in range(5):
            wr.write(rng.integers(0, 256, (h * 3 // 2, w), dtype=np.uint8))
    with av.open(str(p)) as c:
        want = [f.to_ndarray() for f in c.decode(video=0)]
        c.seek(0)
        padded = next(c.decode(video=0)).planes[0].line_size > w
    got = [f.yuv for f in iter_frames(p)]
    assert len(got) == len(want) == 5
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape == (h * 3 // 2, w) and a.dtype == np.uint8
        assert np.array_equal(a, b)
    if w == 90:
        assert padded  # (the case the line size matters for)


def test_a_size_change_midway_keeps_the_first_size(tmp_path: Path) -> None:
    """Streams joined end to end (MPEG-TS segments of two sizes): every frame comes at the first
    frame's size, from both readers, the second part scaled to it."""
    from vidgate.media.video import iter_luma

    from .conftest import joined_streams

    joined = joined_streams(tmp_path, ["color=c=white:s=64x48:d=0.2:r=25", "color=c=black:s=96x80:d=0.2:r=25"])
    frames = [f.yuv for f in iter_frames(joined)]
    lumas = list(iter_luma(joined))
    assert len(frames) == len(lumas) == 10
    assert all(f.shape == (72, 64) for f in frames) and all(y.shape == (48, 64) for y in lumas)
    assert frames[0][:48].mean() > 200 and frames[-1][:48].mean() < 40  # (white, then black scaled)
    assert all(np.array_equal(f[:48], y) for f, y in zip(frames, lumas, strict=True))
