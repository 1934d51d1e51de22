"""The residue audit (``python -m vidgate.bench audit``) flags the output frames that still show the
mark, and none of a clean removal's."""

from __future__ import annotations

import av
from tests.watermark.conftest import write_clip

from vidgate.bench.audit import audit
from vidgate.watermark import remove_watermark


def _rgb(path) -> list:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_the_audit_finds_frames_left_with_the_mark(basic_case, tmp_path):
    path, sched = basic_case
    out = tmp_path / "out.mp4"
    rep = remove_watermark(path, out)
    assert audit(path, out, rep.positions) == []
    # the same output with three frames of one interval left as they came in
    s = sched[1][1]
    left = range(s + 10, s + 13)
    frames = [a if t in left else b for t, (a, b) in enumerate(zip(_rgb(path), _rgb(out), strict=True))]
    bad = tmp_path / "bad.mp4"
    write_clip(bad, frames, audio=False)
    hits = audit(path, bad, rep.positions)
    assert sorted({t for t, _, _ in hits}) == list(left), hits
