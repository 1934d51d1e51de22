"""VideoWriter: the background encoder thread gives the same file as encoding in write(), hands
encoder errors to the caller, and never hangs on abort."""

from __future__ import annotations

import os
import sys
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


def _thread_nices() -> dict[int, int]:
    """Each of this process' threads' nice value (Linux: /proc/self/task/TID/stat, field 19)."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except FileNotFoundError:  # (ended meanwhile)
            continue
        out[int(tid)] = int(stat[stat.rindex(")") + 2:].split()[16])
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
@pytest.mark.parametrize("queue_frames", [0, 4])
def test_encoder_threads_yield_to_the_caller(tmp_path: Path, queue_frames: int) -> None:
    """The background encoder's thread and the x264 threads it starts run ENCODER_NICE nicer than
    the caller, who produces the frames (the critical path); the caller's own priority is never
    changed, nor anything when encoding synchronously in write()."""
    import vidgate.media.video as video_mod

    me = threading.get_native_id()
    base = os.getpriority(os.PRIO_PROCESS, 0)
    before = set(_thread_nices())
    with VideoWriter(tmp_path / "n.mp4", width=W, height=H, fps=30, time_base=Fraction(1, 15360),
                     threads=2, queue_frames=queue_frames) as w:
        for i, f in enumerate(_frames()):
            w.write(f, i * 512)
        time.sleep(0.2)  # (the encoder has opened x264 and started its threads)
        during = _thread_nices()
    assert during[me] == base and os.getpriority(os.PRIO_PROCESS, 0) == base
    new = {tid: n for tid, n in during.items() if tid not in before}
    if queue_frames == 0:
        assert new and set(new.values()) == {base}  # (x264's threads, started by the caller)
    else:
        # the writer's own thread and x264's two frame threads at least
        assert video_mod.ENCODER_NICE > 0
        assert len(new) >= 3 and set(new.values()) == {min(19, base + video_mod.ENCODER_NICE)} != {base}


def test_a_failed_write_leaves_the_file_there_as_it_was(tmp_path: Path) -> None:
    """The writer works on a hidden file beside ``path`` and moves it over ``path`` once whole: an
    abort (or an error) leaves what was there, and no partial file."""
    out = tmp_path / "out.mp4"
    out.write_bytes(b"an earlier output")
    with pytest.raises(RuntimeError), VideoWriter(out, width=W, height=H, fps=30) as w:
        w.write(_frames()[0])
        assert out.read_bytes() == b"an earlier output"
        raise RuntimeError("the caller failed")
    assert out.read_bytes() == b"an earlier output"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]
    _write(out, queue_frames=4)  # (a whole write replaces it)
    assert len(_decode(out)[0]) == N and [p.name for p in tmp_path.iterdir()] == ["out.mp4"]
