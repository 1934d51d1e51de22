"""The detector's thread pool: results in order, and OpenCV kept on one thread inside it (its own
pool splitting small crops over the same cores only added hand-offs), the process' thread count
put back afterwards, however the pool is used."""

from __future__ import annotations

import threading

import cv2
import pytest

from vidgate.watermark import detect
from vidgate.watermark.detect import pmap


@pytest.fixture
def four_threads():
    before = cv2.getNumThreads()
    cv2.setNumThreads(4)
    yield
    cv2.setNumThreads(before)


def test_items_run_with_opencv_on_one_thread(four_threads: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(detect, "SCORE_THREADS", 2)
    seen = pmap(lambda x: (x * x, cv2.getNumThreads()), range(8))
    assert [v for v, _ in seen] == [x * x for x in range(8)]
    assert {n for _, n in seen} == {1}
    assert cv2.getNumThreads() == 4


def test_the_count_comes_back_after_an_error(four_threads: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(detect, "SCORE_THREADS", 2)

    def boom(x: int) -> int:
        raise ValueError(x)

    with pytest.raises(ValueError):
        pmap(boom, range(4))
    assert cv2.getNumThreads() == 4


def test_nested_pools_leave_the_count_as_found(four_threads: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(detect, "SCORE_THREADS", 2)
    seen = pmap(lambda x: pmap(lambda y: cv2.getNumThreads(), range(2)), range(2))
    assert seen == [[1, 1], [1, 1]]
    assert cv2.getNumThreads() == 4


def test_overlapping_pools_leave_the_count_as_found(four_threads: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two pools at once on two threads (two removals in one process): the second to start ends
    last; the count stays 1 until it ends, then is the one found before the first began."""
    monkeypatch.setattr(detect, "SCORE_THREADS", 2)
    first_in, first_may_end = threading.Event(), threading.Event()
    seen: list[int] = []

    def first(x: int) -> None:
        if x == 0:
            first_in.set()
            assert first_may_end.wait(timeout=10)

    t = threading.Thread(target=lambda: pmap(first, range(2)))
    t.start()
    assert first_in.wait(timeout=10)

    def second(x: int) -> None:
        if x == 0:
            first_may_end.set()
            t.join(timeout=10)  # (the first pool has ended; this one has not)
            seen.append(cv2.getNumThreads())

    pmap(second, range(2))
    assert not t.is_alive() and seen == [1]
    assert cv2.getNumThreads() == 4
