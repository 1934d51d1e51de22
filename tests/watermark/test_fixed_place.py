"""Clips cut from a Sora video: the mark held at one place through the whole clip (it never jumps),
and a clip that begins a few frames before a jump."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.watermark.conftest import H, _overlay, luma, make_case, mark_alpha, positions, scene, write_clip

import vidgate.watermark.detect as detect
from vidgate.media.video import iter_frames, iter_luma
from vidgate.watermark.pipeline import remove_watermark


def _mark_box(pos: str) -> tuple[slice, slice]:
    """The mark's drawn pixels at ``pos``, 2 px around."""
    a = mark_alpha()
    x, y = positions(a)[pos]
    rows, cols = np.flatnonzero((a > 0.02).any(1)), np.flatnonzero((a > 0.02).any(0))
    return slice(y + rows[0] - 2, y + rows[-1] + 3), slice(x + cols[0] - 2, x + cols[-1] + 3)


def _errors(marked: Path, out: Path, box: tuple[slice, slice], frames: list[int]) -> list[tuple[float, float]]:
    """(output's, input's) mean error against the clean scene in ``box``, at each of ``frames``."""
    ins = {f.index: f.yuv[:H] for f in iter_frames(marked) if f.index in frames}
    got = []
    for f in iter_frames(out):
        if f.index in frames:
            truth = luma(scene(f.index)).astype(float)
            got.append((float(np.abs(f.yuv[:H][box] - truth[box]).mean()),
                        float(np.abs(ins[f.index][box] - truth[box]).mean())))
    return got


@pytest.mark.parametrize("n", [48, 90])
def test_a_mark_held_through_a_short_clip_is_found(tmp_path: Path, n: int) -> None:
    """A clip cut from within one hold shows the mark at one place in every frame: discovery, which
    tells the mark from still scenery by its jumps, read it as scenery ("no watermark found"). Still
    bright structure amid a moving scene, varying by a share of the scene's variation, is the mark."""
    clip = tmp_path / "held.mp4"
    assert make_case(clip, n=n, hold=1000) == [("TL", 0, n - 1)]
    out = tmp_path / "out.mp4"
    report = remove_watermark(clip, out)
    assert report.watermark_found
    assert [(p["start"], p["end"]) for p in report.positions] == [(0, n - 1)]
    box = _mark_box("TL")
    x0, y0, x1, y1 = report.positions[0]["box"]
    assert x0 <= box[1].start + 2 and y0 <= box[0].start + 2 and x1 >= box[1].stop - 2 and y1 >= box[0].stop - 2
    for got, was in _errors(clip, out, box, [0, n // 2, n - 1]):
        assert got < was / 4, (got, was)


def test_the_fixed_place_try_needs_a_moving_scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the scene moving around it, a fixed mark is not told from still scenery (the
    fixed-place try asks for ``FIXED_AROUND`` levels of variation around it): the same clip is
    found only with the scene moving."""
    clip = tmp_path / "held.mp4"
    make_case(clip, n=48, hold=1000)
    monkeypatch.setattr(detect, "FIXED_AROUND", 1e9)
    assert not remove_watermark(clip, tmp_path / "out.mp4").watermark_found
    still = tmp_path / "still.mp4"
    make_case(still, n=48, hold=1000, still=True)
    monkeypatch.undo()
    assert not remove_watermark(still, tmp_path / "still_out.mp4").watermark_found


def _detected(clip: Path, **kw: Any) -> list[detect.Interval]:
    """The detector's intervals over ``clip`` (``kw``: the Detector's options)."""
    ys = list(iter_luma(clip))
    det = detect.Detector(ys[0].shape[1], ys[0].shape[0], **kw)
    for y in ys:
        det.add(y)
    return det.finish()


def _fixed_try(clip: Path) -> list[detect.Interval]:
    return _detected(clip, fixed=True, chunk=detect.FIXED_CHUNK)


def test_an_opaque_white_logo_amid_a_moving_scene_is_not_a_fixed_mark(tmp_path: Path) -> None:
    """A white logo of the mark's own shape, opaque and held still while the scene moves, is still
    bright structure too, but it barely varies where a white overlay at ~0.74 varies by a quarter of
    the scene's variation around it: the fixed-place try does not take it (its soft rim varies: the
    strokes' median tells)."""
    logo = mark_alpha(a0=1.0)
    x, y = positions(logo)["TL"]
    h, w = logo.shape
    frames = []
    for t in range(48):
        f = scene(t).astype(np.float32)
        f[y:y + h, x:x + w] = logo[..., None] * 235 + (1 - logo[..., None]) * f[y:y + h, x:x + w]
        frames.append(np.clip(np.round(f), 0, 255).astype(np.uint8))
    clip = tmp_path / "logo.mp4"
    write_clip(clip, frames, audio=False)
    assert _fixed_try(clip) == []
    marked = tmp_path / "held.mp4"
    make_case(marked, n=48, hold=1000)
    assert [(iv.start, iv.end) for iv in _fixed_try(marked)] == [(0, 47)]


def test_a_clip_begun_just_before_a_jump_is_restored_after_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    """The clip's first 6 frames show the mark at one place, then it jumps and holds the next: the
    interval model gave those 6 frames to the next place's run (cheaper than a switch), so that
    interval's matte was fitted on frames without its mark there and refused, and the whole clip
    came back as it was. Frames at the video's start (end) where a place shows neither the pattern
    nor bright strokes are cut from its interval."""
    clip = tmp_path / "jump.mp4"
    assert make_case(clip, n=50, hold=50, offset=44) == [("TL", 0, 5), ("RM", 6, 49)]
    out = tmp_path / "out.mp4"
    report = remove_watermark(clip, out)
    assert [p["start"] for p in report.positions] == [0, 6]
    for got, was in _errors(clip, out, _mark_box("RM"), [10, 30, 49]):
        assert got < was / 4, (got, was)
    monkeypatch.setattr(detect, "LEAD_INS", False)
    assert [p["start"] for p in remove_watermark(clip, tmp_path / "no_lead.mp4").positions] == [6]
    monkeypatch.setattr(detect, "EDGE_BARE", False)
    assert not remove_watermark(clip, tmp_path / "before.mp4").watermark_found


def test_the_frames_before_the_jump_are_restored_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same clip's first 6 frames: the mark at a place seen nowhere else in it, too briefly for
    discovery (no chunk holds it) and the interval model. They stayed marked (a real cut of
    tennis_portrait: footprint p5 23.8 dB against 37.7 over the rest). The pattern the next
    interval holds is searched for in them, found at one place, and restored there."""
    clip = tmp_path / "jump.mp4"
    make_case(clip, n=50, hold=50, offset=44)
    out = tmp_path / "out.mp4"
    report = remove_watermark(clip, out)
    assert [(p["start"], p["end"]) for p in report.positions] == [(0, 5), (6, 49)]
    box = _mark_box("TL")
    x0, y0, x1, y1 = report.positions[0]["box"]
    assert x0 <= box[1].start + 2 and y0 <= box[0].start + 2 and x1 >= box[1].stop - 2 and y1 >= box[0].stop - 2
    for got, was in _errors(clip, out, box, [0, 3, 5]):
        assert got < was / 4, (got, was)
    monkeypatch.setattr(detect, "LEAD_INS", False)
    before = tmp_path / "before.mp4"
    remove_watermark(clip, before)
    for got, was in _errors(clip, before, box, [0, 3, 5]):
        assert got > was / 2, (got, was)


def test_the_frames_after_a_jump_at_the_clips_end_are_restored(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The other end: a clip cut 6 frames after the mark jumped to a place seen nowhere else in it."""
    clip = tmp_path / "end.mp4"
    assert make_case(clip, n=50, hold=44) == [("TL", 0, 43), ("RM", 44, 49)]
    out = tmp_path / "out.mp4"
    assert [(p["start"], p["end"]) for p in remove_watermark(clip, out).positions] == [(0, 43), (44, 49)]
    for got, was in _errors(clip, out, _mark_box("RM"), [44, 47, 49]):
        assert got < was / 4, (got, was)
    monkeypatch.setattr(detect, "LEAD_INS", False)
    assert [(p["start"], p["end"]) for p in remove_watermark(clip, tmp_path / "b.mp4").positions] == [(0, 43)]


def _jump_clip(path: Path, card: tuple[str, range, int, int] | None = None, fade: float = 0.0) -> None:
    """The mark at TL for frames 0-5, at RM from frame 6 on; ``card``: bright scenery (place,
    frames, level, margin around the mark's box) under it; ``fade``: the mark also at TL in frame
    6 at this share of its opacity."""
    a = mark_alpha()
    pos = positions(a)
    h, w = a.shape
    x, y = pos["TL"]
    frames: list[np.ndarray] = []
    sched: list[tuple[str, int, int]] = []
    for t in range(50):
        f = scene(t).astype(np.float32)
        if card and t in card[1]:
            cx, cy = pos[card[0]]
            m = card[3]
            f[cy - m:cy + h + m, cx - m:cx + w + m] = card[2]
        if t == 6 and fade:
            f[y:y + h, x:x + w] = fade * a[..., None] * 235 + (1 - fade * a[..., None]) * f[y:y + h, x:x + w]
        p = "TL" if t < 6 else "RM"
        _overlay(f, a, *pos[p], sched, p, t)
        frames.append(np.clip(np.round(f), 0, 255).astype(np.uint8))
    write_clip(path, frames, audio=False)
    assert sched == [("TL", 0, 5), ("RM", 6, 49)]


def test_a_lead_in_is_widened_only_while_its_place_shows_the_mark(tmp_path: Path) -> None:
    """The restorer widens an interval by a couple of frames for the mark's fade (``PAD_FRAMES``).
    A lead-in's matte, read on its few frames, took bright scenery where the mark had been for
    the mark and un-blended it (a real cut of running_car_portrait: 944 pixels of the frame after
    the jump moved 20+ levels off the truth). A lead-in is widened only over the frames past it
    where its place still shows the pattern: none after a clean jump (a card there, or the
    scene), one where the mark fades out over a frame."""
    card = ("TL", range(6, 50), 215, 4)
    cases: list[tuple[str, dict[str, Any], int]] = [("plain", {}, 0), ("card", {"card": card}, 0),
                                                     ("fade", {"fade": 0.5}, 1)]
    for name, kw, pad in cases:
        clip = tmp_path / f"{name}.mp4"
        _jump_clip(clip, **kw)
        found = _detected(clip)
        assert [(iv.start, iv.pad) for iv in found][:1] == [(0, pad)], name


def test_a_bright_card_before_the_jump_is_not_the_mark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As above, but bright scenery (a card) fills the next place before the jump: its strokes'
    pixels read bright, so only the missing pattern tells those frames hold no mark (under
    ``BARE_NCC``). Left in the interval (a real cut of running_car_landscape: 7 of 59 frames),
    its matte was fitted on them and refused."""
    clip = tmp_path / "card.mp4"
    _jump_clip(clip, card=("RM", range(6), 228, 14))
    assert [p["start"] for p in remove_watermark(clip, tmp_path / "out.mp4").positions] == [0, 6]
    monkeypatch.setattr(detect, "BARE_NCC", 0.0)
    assert [p["start"] for p in remove_watermark(clip, tmp_path / "before.mp4").positions] == [0]
