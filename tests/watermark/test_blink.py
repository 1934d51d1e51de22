"""The cloud blinks: for about three frames of its animation its eyes, uncovered in every other
frame, are covered like the rest of the cloud."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from tests.watermark.conftest import mark_alpha, restored_rms

import vidgate.watermark.restore as restore
from vidgate.watermark.restore import IntervalMatte


@pytest.mark.parametrize("scale", [1.5, 2.0])
def test_the_closed_eyes_are_restored(monkeypatch, scale: float):
    """The eyes are covered in too few frames to count as the mark's envelope; left out of it,
    they were read as background and their covered pixels left as they were, the mark's white
    (sam2_cups_portrait's animation frames 27-29: 31 dB). The envelope holds the holes it
    encloses."""
    a = mark_alpha(scale=scale)
    eyes = restore._fill_holes(a > 0.3).astype(bool) & ~(a > 0.3)
    eyes[:, int(26 * scale):] = False  # the cloud's holes (the letters' counters stay open)
    size = (a.shape[0] + 28, a.shape[1] + 28)

    def placed(m: np.ndarray) -> np.ndarray:
        out = np.zeros(size, np.float32)
        out[14:14 + a.shape[0], 14:14 + a.shape[1]] = m
        return out

    open_, shut = placed(a), np.maximum(placed(a), 0.74 * placed(eyes))
    rng = np.random.default_rng(4)
    scene = cv2.GaussianBlur(rng.uniform(40, 120, (size[0], size[1] + 60)).astype(np.float32), (0, 0), 2)
    bgs = [scene[:, t:t + size[1]] for t in range(30)]
    blink = (12, 13, 14)
    alphas = [shut if t in blink else open_ for t in range(30)]
    frames = [np.clip(np.round(al * 235 + (1 - al) * b), 0, 255).astype(np.uint8)
              for al, b in zip(alphas, bgs, strict=True)]
    where = placed(eyes) > 0

    def error() -> float:
        m = IntervalMatte(frames)
        assert m.found
        return restored_rms(m, frames, bgs, where, only=blink)

    got = error()
    assert got < 4.0, got
    monkeypatch.setattr(restore, "ENV_HOLES", False)
    # (a frame whose cloud is covered past the envelope is read against a fill from beyond a band
    # around it, the holes included: without a prior that rescues the eyes too)
    monkeypatch.setattr(restore, "SPILL", 0)
    assert error() > 5 * got


def _dark_eyes(fade: float = 1.0) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], np.ndarray]:
    """A 1.5x mark whose eyes are a dark grey overlay (30 % of a grey 100, as on real marks) over
    a still bright sky: (the sky, 30 clean backgrounds, the frames at ``fade`` of the opacity, the
    eyes and their rims)."""
    a = mark_alpha(scale=1.5)
    eyes = restore._fill_holes(a > 0.3).astype(bool) & ~(a > 0.3)
    eyes[:, int(26 * 1.5):] = False
    size = (a.shape[0] + 28, a.shape[1] + 28)
    alpha = np.zeros(size, np.float32)
    alpha[14:14 + a.shape[0], 14:14 + a.shape[1]] = a * fade
    where = np.zeros(size, bool)
    where[14:14 + a.shape[0], 14:14 + a.shape[1]] = eyes
    where = cv2.dilate(where.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    rng = np.random.default_rng(5)
    sky = cv2.GaussianBlur(rng.uniform(165, 205, size).astype(np.float32), (0, 0), 6)
    bgs = [sky + rng.normal(0, 0.7, size).astype(np.float32) for _ in range(30)]
    dark = cv2.GaussianBlur(where.astype(np.float32), (3, 3), 0.7) * 0.3 * fade
    frames = [np.clip(np.round(dark * 100 + (1 - dark) * (alpha * 235 + (1 - alpha) * b)), 0, 255).astype(np.uint8)
              for b in bgs]
    return sky, bgs, frames, where


def test_dark_eyes_over_bright_sky_take_the_clean_plate(monkeypatch):
    """On real marks the eyes are a dark grey overlay, not holes: over a bright sky they darken
    it (sth_soar2, 15-25 levels), which no white overlay can do, so neither un-blending nor the
    bound that keeps a restored pixel no brighter than its input can remove them. Where a clean
    plate matches and the eyes read darker than it, they take the plate."""
    sky, bgs, frames, where = _dark_eyes()
    rng = np.random.default_rng(6)

    def error() -> float:
        m = IntervalMatte(frames)
        assert m.found
        m.set_plates([np.round(sky + rng.normal(0, 0.7, sky.shape)).astype(np.uint8) for _ in range(3)])
        return restored_rms(m, frames, bgs, where)

    got = error()
    assert got < 4.0, got
    monkeypatch.setattr(restore, "EYES", False)
    assert error() > 2 * got


def test_dark_eyes_of_a_fading_mark_are_filled(monkeypatch):
    """A mark fading in at a jump (yellow_brick_road f115-117, a scene cut before it: no plate):
    the lifted pixels are inpainted, and the dark eyes, not lifted, with them."""
    _, _, frames, where = _dark_eyes()
    _, fbgs, faded, _ = _dark_eyes(fade=0.5)

    def error() -> float:
        m = IntervalMatte(frames)
        assert m.found and m.restore_y(frames[0]) is not None  # (the last full shape)
        r = m.restore_y(faded[0])
        assert r is not None
        return float(np.sqrt(((r[0].astype(np.float32) - fbgs[0])[where] ** 2).mean()))

    got = error()
    assert got < 4.0, got
    monkeypatch.setattr(restore, "EYES", False)
    assert error() > 2 * got


def test_a_fading_marks_eyes_are_told_from_holes_by_their_darkness():
    """A fade frame fills the last full frame's eyes where its own shape does not enclose them
    (yellow_brick_road's f113: the fading cloud over partly brighter ground passed the shape test
    only in part, and its right eye stayed a dark oval), but only eyes that read darker than the
    restored ground around them: a dark overlay. wm_eval's eyes are holes showing the scene, and
    filling them all cost a few of running_car_flip_landscape's frames 0.3-0.6 dB."""
    rng = np.random.default_rng(9)
    ground = cv2.GaussianBlur(rng.uniform(60, 120, (40, 60)).astype(np.float32), (0, 0), 3)
    eyes = np.zeros(ground.shape, bool)
    eyes[14:22, 12:17] = True  # a dark overlay
    eyes[14:22, 40:45] = True  # a hole: the ground as it is
    seen = np.where(eyes & (np.arange(60) < 30)[None, :], ground * 0.5, ground)
    kept = restore._dark_parts(np.round(seen).astype(np.uint8), np.round(ground).astype(np.uint8), eyes, 15.0)
    assert kept[14:22, 12:17].all() and not kept[:, 30:].any()


def test_a_fading_mark_over_partly_white_ground_has_its_last_eyes_filled(monkeypatch):
    """The mark fades (half its opacity) over sky whose right part, from the eyes on, is nearly
    white: there the faded cloud lifts nothing the shape test can see, so this frame's shape no
    longer encloses the eyes, and they stayed dark ovals (yellow_brick_road's f113). The last
    full frame's eyes, reading darker than the restored ground around them, are filled."""
    _, _, frames, where = _dark_eyes()
    a = mark_alpha(scale=1.5)
    alpha = np.zeros(frames[0].shape, np.float32)
    alpha[14:14 + a.shape[0], 14:14 + a.shape[1]] = a * 0.5
    rng = np.random.default_rng(3)
    ground = cv2.GaussianBlur(rng.uniform(160, 200, alpha.shape).astype(np.float32), (0, 0), 4)
    ground[:, 34:] = 233.0  # (the eyes span columns 26-38)
    dark = cv2.GaussianBlur(where.astype(np.float32), (3, 3), 0.7) * 0.3
    faded = np.clip(np.round(dark * 100 + (1 - dark) * (alpha * 235 + (1 - alpha) * ground)), 0, 255).astype(np.uint8)

    def error() -> float:
        m = IntervalMatte(frames)
        assert m.found and m.restore_y(frames[0]) is not None  # (the last full shape)
        r = m.restore_y(faded)
        assert r is not None
        return float(np.sqrt(((r[0].astype(np.float32) - ground)[where] ** 2).mean()))

    got = error()
    monkeypatch.setattr(restore, "FADE_EYES_LAST", 0.0)
    before = error()
    assert got < 0.6 * before, (got, before)
