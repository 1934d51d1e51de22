"""VideoWriter: the background encoder thread gives the same file as encoding in write(), hands
encoder errors to the caller, and never hangs on abort."""

from __future__ import annotations

import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vidgate.media.video import VideoWriter

W, H, N = 64, 48, 12


def _frames() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 255, (H * 3 // 2, W + N), dtype=np.uint8)
    return [np.ascontiguousarray(base[:, i:i + W]) for i in range(N)]


def _write(path: Path, queue_frames: int, reuse: bool = False, owned: bool = False) -> None:
    buf = np.empty((H * 3 // 2, W), np.uint8)
    with VideoWriter(path, width=W, height=H, fps=30, time_base=Fraction(1, 15360),
                     queue_frames=queue_frames) as w:
        for i, f in enumerate(_frames()):
            if reuse:  # the caller overwrites its array right after write()
                buf[...] = f
                w.write(buf, i * 512)
            else:
                w.write(f, i * 512, owned=owned)


def _decode(path: Path) -> tuple[list[np.ndarray], list[int | None]]:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    return [f.to_ndarray() for f in frames], [f.pts for f in frames]


@pytest.mark.parametrize("reuse", [False, True])
def test_threaded_writer_matches_synchronous(tmp_path: Path, reuse: bool) -> None:
    sync, threaded = tmp_path / "sync.mp4", tmp_path / "threaded.mp4"
    _write(sync, 0)
    _write(threaded, 3, reuse=reuse)
    assert sync.read_bytes() == threaded.read_bytes()
    pix, pts = _decode(threaded)
    assert len(pix) == N and pts == [i * 512 for i in range(N)]


def test_handed_over_frames_encode_the_same(tmp_path: Path) -> None:
    """``owned=True`` (the caller never writes to the array again: no copy) gives the same file."""
    sync, owned = tmp_path / "sync.mp4", tmp_path / "owned.mp4"
    _write(sync, 0)
    _write(owned, 3, owned=True)
    assert sync.read_bytes() == owned.read_bytes()


def test_a_wrong_frame_shape_fails_in_write(tmp_path: Path) -> None:
    """(the frame is built on the encoder thread: a bad array is refused before it is queued)"""
    with pytest.raises(ValueError, match="not a yuv420p frame"), \
            VideoWriter(tmp_path / "x.mp4", width=W, height=H, fps=30) as w:
        w.write(np.zeros((H, W, 3), np.uint8))
    with pytest.raises(ValueError, match="not a yuv420p frame"), \
            VideoWriter(tmp_path / "y.mp4", width=W, height=H, fps=30) as w:
        w.write(np.zeros((H * 3 // 2, W), np.float32))


def test_encoder_error_reaches_the_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = VideoWriter._encode

    def failing(self: VideoWriter, yuv: np.ndarray, pts: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("encoder broke")
        real(self, yuv, pts)

    monkeypatch.setattr(VideoWriter, "_encode", failing)
    with pytest.raises(RuntimeError, match="encoder broke"):
        _write(tmp_path / "x.mp4", 2)
    assert not any(t.name == "vidgate-x264" for t in threading.enumerate())


def test_error_from_last_frame_raised_by_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = VideoWriter._encode

    def failing(self: VideoWriter, yuv: np.ndarray, pts: int) -> None:
        if pts == (N - 1) * 512:
            raise ValueError("last frame")
        real(self, yuv, pts)

    monkeypatch.setattr(VideoWriter, "_encode", failing)
    w = VideoWriter(tmp_path / "x.mp4", width=W, height=H, fps=30, time_base=Fraction(1, 15360), queue_frames=4)
    for i, f in enumerate(_frames()):
        w.write(f, i * 512)
    with pytest.raises(ValueError, match="last frame"):
        w.close()
    w.abort()
    assert not (tmp_path / "x.mp4").exists()


def test_abort_with_a_full_queue_does_not_hang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = VideoWriter._encode

    def slow(self: VideoWriter, yuv: np.ndarray, pts: int) -> None:
        time.sleep(0.05)
        real(self, yuv, pts)

    monkeypatch.setattr(VideoWriter, "_encode", slow)
    out = tmp_path / "x.mp4"
    t0 = time.monotonic()
    with pytest.raises(KeyError), VideoWriter(out, width=W, height=H, fps=30, queue_frames=2) as w:
        for f in _frames():
            w.write(f)
        raise KeyError("caller failed")
    assert time.monotonic() - t0 < 5
    assert not out.exists()


def test_each_picture_is_its_own(tmp_path: Path) -> None:
    """The encoder fills one reused frame for every picture: each decoded picture is the one
    written (nearer its own source than its neighbours'), not a stale or mixed one."""
    path = tmp_path / "own.mp4"
    _write(path, 3)
    pix, _ = _decode(path)
    src = _frames()
    for i, p in enumerate(pix):
        err = [float(np.abs(p.astype(np.float32) - s).mean()) for s in src]
        assert int(np.argmin(err)) == i, (i, err)


def test_x264_encodes_with_frame_threads(tmp_path: Path) -> None:
    """x264 gets whole pictures per thread (more throughput than PyAV's default slices): its
    options string in the stream says so, and every frame still arrives in order."""
    path = tmp_path / "frames.mp4"
    with VideoWriter(path, width=W, height=H, fps=30, time_base=Fraction(1, 15360), threads=2) as w:
        for i, f in enumerate(_frames()):
            w.write(f, i * 512)
    opts = path.read_bytes().split(b"x264 - core", 1)[1].split(b"\x00", 1)[0].decode()
    assert " threads=2 " in opts and " sliced_threads=0 " in opts
    pix, pts = _decode(path)
    assert len(pix) == N and pts == [i * 512 for i in range(N)]


def test_x264_threads_are_capped_on_many_cores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """x264's own count is 1.5x the cores, each frame thread holding its pictures: on a many-core
    machine the encoder keeps to ENCODER_THREADS_MAX (the remover's memory stays bounded)."""
    import vidgate.media.video as video_mod

    monkeypatch.setattr(video_mod.os, "cpu_count", lambda: 32)
    path = tmp_path / "capped.mp4"
    with VideoWriter(path, width=W, height=H, fps=30, time_base=Fraction(1, 15360)) as w:
        for i, f in enumerate(_frames()):
            w.write(f, i * 512)
    opts = path.read_bytes().split(b"x264 - core", 1)[1].split(b"\x00", 1)[0].decode()
    assert f" threads={video_mod.ENCODER_THREADS_MAX} " in opts
    assert len(_decode(path)[0]) == N
