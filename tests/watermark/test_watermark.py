from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from tests.watermark.conftest import H, W, make_case, mark_alpha, mid_rm, positions, scene, write_clip

from vidgate.errors import BadMedia
from vidgate.media.video import iter_y, probe
from vidgate.watermark import RemovalReport, remove_watermark
from vidgate.watermark.detect import Detector


def detect(path: Path):
    info = probe(path)
    d = Detector(info.width, info.height)
    for y in iter_y(path):
        d.add(y)
    return d.finish()


def check_schedule(intervals, sched, handle=False, mirrored=False, tol=2):
    """Each true interval is covered (up to tol frames at its ends) by a detected interval whose box holds the mark."""
    for pos, s, e in sched:
        a = mark_alpha(handle=handle, mirrored=mirrored and pos == "RM")
        x, y = positions(a)[pos]
        yy, xx = np.nonzero(a > 0.05)
        x, y, w, h = x + int(xx.min()), y + int(yy.min()), int(xx.max() - xx.min() + 1), int(yy.max() - yy.min() + 1)
        hits = [iv for iv in intervals if iv.start <= s + tol and iv.end >= e - tol]
        assert hits, f"{pos} {s}-{e} not found in {[(i.start, i.end, i.box) for i in intervals]}"
        bx0, by0, bx1, by1 = hits[0].box
        assert bx0 <= x + 2 and by0 <= y + 2 and bx1 >= x + w - 2 and by1 >= y + h - 2, (hits[0].box, (x, y, w, h))


def test_windowed_detection_matches_one_window(basic_case, monkeypatch):
    """A video longer than the detector's window is analysed window by window, each window keeping
    the previous one's last frames as context: with a window a third of the clip's length the same
    positions and jumps are found as in one window."""
    import vidgate.watermark.detect as detect_mod

    path, sched = basic_case
    whole = detect(path)
    monkeypatch.setattr(detect_mod, "WINDOW", 40)
    monkeypatch.setattr(detect_mod, "CONTEXT", 15)
    info = probe(path)
    d = Detector(info.width, info.height)
    small = []
    for y in iter_y(path):
        small.append(d.shrink(y))
        d.add(y)
        d._shrunk()  # (frames are shrunk on a thread of their own)
        # the window holds the latest frames, in order (the context carried over included)
        assert 0 < d._nbuf <= 40
        assert np.array_equal(d._buf[: d._nbuf], np.stack(small[len(small) - d._nbuf:]))
    windowed = d.finish()
    check_schedule(windowed, sched)
    assert [(iv.start, iv.end) for iv in windowed] == [(iv.start, iv.end) for iv in whole]


def test_discovery_keeps_its_chunk_maps_in_whole_levels(basic_case):
    """The chunk minima and their top-hats, held for the whole window, are uint8 (whole levels: a
    quarter of float32's memory; a 442-frame window's maps were ~90 MB as float32)."""
    path, _ = basic_case
    info = probe(path)
    d = Detector(info.width, info.height)
    for y in iter_y(path):
        d.add(y)
    d._shrunk()
    d._discover(d._buf[: d._nbuf])
    mins, tops, _, nc = d._window
    assert mins.dtype == np.uint8 and tops.dtype == np.uint8 and len(mins) == len(tops) == nc
    assert d._raw[0] is tops and d._raw[1].dtype == np.float32


@pytest.mark.parametrize("frames", [10, 90, 5000], ids=["too-few", "exact", "far-too-many"])
def test_the_expected_frame_count_only_makes_room(basic_case, frames):
    """The container's frame count makes the analysis window's room up front; a wrong count (a
    header that under- or over-reports) still gives every frame, in order, and the same intervals
    as no count at all."""
    import vidgate.watermark.detect as detect_mod

    path, _ = basic_case
    whole = detect(path)
    info = probe(path)
    d = Detector(info.width, info.height, frames=frames)
    assert len(d._buf) == min(frames, detect_mod.WINDOW)
    shrunk = []
    for y in iter_y(path):
        shrunk.append(d.shrink(y))
        d.add(y)
    d._shrunk()
    assert np.array_equal(d._buf[: d._nbuf], np.stack(shrunk))
    got = d.finish()
    assert [(iv.start, iv.end, iv.box) for iv in got] == [(iv.start, iv.end, iv.box) for iv in whole]


def test_detects_positions_and_jumps(basic_case):
    path, sched = basic_case
    check_schedule(detect(path), sched)


@pytest.mark.parametrize("kw", [dict(handle=True), dict(handle=True, mirror_rm=True)], ids=["handle", "mirrored"])
def test_detects_handle_layouts(tmp_path, kw):
    p = tmp_path / "h.mp4"
    sched = make_case(p, **kw)
    check_schedule(detect(p), sched, handle=True, mirrored=kw.get("mirror_rm", False))


def _discovery_tries(monkeypatch, chunks: bool = False) -> list:
    """The detector's discovery runs, in order (True: a busy scene's try; ``chunks``: as
    (busy, frames per chunk minimum))."""
    import vidgate.watermark.detect as detect_mod

    tries: list = []
    real = detect_mod.Detector._process

    def process(self, final):
        tries.append((self._busy, self._chunk) if chunks else self._busy)
        return real(self, final)

    monkeypatch.setattr(detect_mod.Detector, "_process", process)
    return tries


@pytest.mark.parametrize("threads", [1, 4])
def test_faint_on_white(tmp_path, monkeypatch, threads):
    """On a busy near-white scene (215-253) the mark adds only 10-30 levels, no more than the
    scene's own blobs in the chunk minima: the first try found it at one place (or at scenery's
    places, as the clip's encode went). The busy scene's tries find all three: this clip holds each
    place 30 frames, too short to fill two 16-frame chunks in a row, so the 8-frame try follows the
    16-frame one. Two encodes of the clip (x264 on 1 and 4 threads), since which blobs merge depends
    on the codec's noise."""
    import tests.watermark.conftest as conftest

    monkeypatch.setattr(conftest, "X264_THREADS", threads)
    p = tmp_path / "w.mp4"
    sched = make_case(p, bright=True)
    tries = _discovery_tries(monkeypatch, chunks=True)
    check_schedule(detect(p), sched)
    assert tries == [(False, 8), (True, 16), (True, 8)]


def test_faint_on_white_held_as_sora_holds(tmp_path, monkeypatch):
    """The same scene with Sora's own hold (67 frames a place): found by the 16-frame try alone."""
    p = tmp_path / "w.mp4"
    sched = make_case(p, bright=True, n=201, hold=67)
    tries = _discovery_tries(monkeypatch, chunks=True)
    check_schedule(detect(p), sched)
    assert tries == [(False, 8), (True, 16)]


def test_faint_on_white_at_704x1280(tmp_path):
    """The benchmark's busy near-white case (704x1280, 150 frames, its procedural mark held 67
    frames: two places whole, a third at the end): at analysis scale the mark's strokes are thin,
    the 8-frame chunk minima's blobs of it merge with the scene's and each frame's band-pass is
    the scene's more than the mark's (its runs matched at 0.3-0.5). The busy try's 16-frame minima
    take the moving scene further down, and its scores, read from the mean of 7 frames, thin the
    scene's texture out and keep the still mark whole: all three found. (The busy try as it was,
    8-frame chunks and single frames scored, found none of them on some CPUs and all three on
    others: OpenCV's float paths differ in their last bits, and that case was on a knife's edge.
    Not asserted either way.)"""
    from vidgate.bench.watermark import _mark, make_synthetic

    meta = make_synthetic(tmp_path, 704, 1280, 150, 67, seed=20251121, bright=True, threads=2)
    mark = meta["mark"]
    place = [((t + mark["phase"]) // mark["hold"]) % 3 for t in range(meta["frames"])]
    runs = [(place[s], s, s + len(list(g)) - 1) for s, g in _groups(place)]
    found = detect(tmp_path / "input.mp4")
    yy, xx = np.nonzero(_mark(1.0) > 0.05)  # the mark's ink in its array (the scale at 704 px wide)
    for k, s, e in runs:
        if e - s + 1 < 8:  # (a blip at the clip's start: shorter than a run the detector keeps)
            continue
        x, y = mark["pos"][k]
        ink = (x + int(xx.min()), y + int(yy.min()), x + int(xx.max()) + 1, y + int(yy.max()) + 1)
        hits = [iv for iv in found if iv.start <= s + 2 and iv.end >= e - 2]
        assert hits, (k, s, e, [(iv.start, iv.end, iv.box) for iv in found])
        bx0, by0, bx1, by1 = hits[0].box
        assert bx0 <= ink[0] and by0 <= ink[1] and bx1 >= ink[2] and by1 >= ink[3], (hits[0].box, ink)


def _groups(seq: list[int]) -> list[tuple[int, list[int]]]:
    """(start, run) of each run of equal values."""
    out: list[tuple[int, list[int]]] = []
    for i, v in enumerate(seq):
        if out and seq[out[-1][0]] == v:
            out[-1][1].append(v)
        else:
            out.append((i, [v]))
    return out


def test_a_well_found_mark_is_not_looked_for_again(basic_case, monkeypatch):
    """The busy scene's second try runs only where the first found the mark on few frames or in
    short pieces: on a clip where it was found at every place, discovery runs once."""
    path, sched = basic_case
    tries = _discovery_tries(monkeypatch)
    check_schedule(detect(path), sched)
    assert tries == [False]


@pytest.mark.parametrize("window", [None, 89])
def test_faint_on_white_is_restored(tmp_path, monkeypatch, window):
    """The busy scene's places are restored: at every place, the output under the mark is at
    most 0.6x as far (RMS) from the same clip made without the mark as the input is (measured 0.31,
    0.31, 0.45: 1.8-2.3 levels from 5.2-6.2; a place left unrestored stays at 1.0). ``window``: a
    video longer than detection's window, whose frames are gone when the first try ends: the
    second try decodes it again."""
    import vidgate.watermark.detect as detect_mod

    if window:
        monkeypatch.setattr(detect_mod, "WINDOW", window)
        monkeypatch.setattr(detect_mod, "CONTEXT", window // 3)
    tries = _discovery_tries(monkeypatch)
    clean, marked = tmp_path / "clean.mp4", tmp_path / "w.mp4"
    make_case(clean, bright=True, mark=False)
    sched = make_case(marked, bright=True)
    rep = remove_watermark(marked, tmp_path / "out.mp4")
    assert rep.watermark_found and tries[0] is False and tries[-1] is True, tries
    truth, was, got = (np.stack(list(iter_y(q))).astype(np.float32) for q in (clean, marked, tmp_path / "out.mp4"))
    a = mark_alpha()
    h, w = a.shape
    for pos, s, e in sched:
        x, y = positions(a)[pos]
        box = np.s_[s:e + 1, y:y + h, x:x + w]
        before = float(np.sqrt(((was[box] - truth[box]) ** 2).mean()))
        after = float(np.sqrt(((got[box] - truth[box]) ** 2).mean()))
        assert before > 4.0 and after < 0.6 * before, (pos, before, after)


def _packets(path: Path, kind: str) -> list[bytes]:
    with av.open(str(path)) as c:
        s = c.streams.audio[0] if kind == "audio" else c.streams.video[0]
        return [bytes(p) for p in c.demux(s) if p.size]


def test_output_format_and_audio_bit_exact(basic_case, tmp_path):
    path, _ = basic_case
    out = tmp_path / "out.mp4"
    seen: list[float] = []
    rep = remove_watermark(path, out, progress=seen.append)
    assert isinstance(rep, RemovalReport) and rep.watermark_found
    assert rep.frames == 90 and (rep.width, rep.height) == (W, H) and abs(rep.fps - 30) < 1e-6
    assert seen[0] == 0.0 and seen[-1] == 1.0 and all(0 <= v <= 1 for v in seen)
    d = rep.to_dict()
    assert d["positions"] and "seconds_elapsed" in d
    # the phases, in order, cover the run (each from the previous mark on)
    assert list(rep.timings) == ["decode", "analysis", "mattes", "restore"]
    assert all(t["seconds"] >= 0 and t["cpu_seconds"] >= 0 for t in rep.timings.values())
    assert abs(sum(t["seconds"] for t in rep.timings.values()) - rep.seconds_elapsed) < 0.05
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert c.format.name.startswith("mov") and v.codec_context.name == "h264"
        assert v.codec_context.pix_fmt == "yuv420p"
        assert (v.codec_context.width, v.codec_context.height) == (W, H)
        assert abs(float(v.average_rate) - 30) < 0.01
        n = sum(1 for _ in c.decode(v))
        assert n == 90
    ii, oi = probe(path), probe(out)
    assert abs(ii.duration - oi.duration) <= 1 / 30 + 1e-6
    # faststart: the moov atom comes before mdat
    head = out.read_bytes()
    assert head.find(b"moov") < head.find(b"mdat")
    assert _packets(path, "audio") == _packets(out, "audio")


@pytest.mark.parametrize("decodes", ["once", "twice"])
def test_restores_the_box(basic_case, tmp_path, monkeypatch, decodes):
    """Both paths: frames held after one decode (the phase bank sees every interval first), and the
    two-decode streaming path of long videos (the bank fills as intervals go)."""
    import vidgate.watermark.pipeline as pipeline

    if decodes == "twice":
        monkeypatch.setattr(pipeline, "HOLD_BYTES", 0)
    path, sched = basic_case
    out = tmp_path / "out.mp4"
    report = remove_watermark(path, out)
    assert report.watermark_found
    t, box, truth = mid_rm(sched)
    ys = list(iter_y(out))
    inp = list(iter_y(path))
    err_out = np.abs(ys[t][box].astype(float) - truth[box]).mean()
    err_in = np.abs(inp[t][box].astype(float) - truth[box]).mean()
    assert err_out < err_in / 3, (err_out, err_in)


def test_streaming_pools_the_opacity_as_held_does(basic_case, tmp_path, monkeypatch):
    """Every place is restored with the opacity pooled over the places, whether the video is held
    (every matte built before any frame is restored) or streamed (each built when the stream reaches
    it: the first places are read first from their first frames decoded once more). Before, the
    first two places streamed kept their own estimates (the real yellow_brick_road's right-middle
    place came out dark)."""
    import vidgate.watermark.pipeline as pipeline
    from vidgate.watermark.restore import IntervalMatte

    path, _ = basic_case

    def used(decodes: str) -> dict[tuple[int, int, int, int], float]:
        seen: dict[tuple[int, int, int, int], float] = {}
        restore = IntervalMatte.restore

        def spy(self, yuv, box, *a, **k):  # type: ignore[no-untyped-def]
            seen.setdefault(tuple(box), self.a0)
            return restore(self, yuv, box, *a, **k)

        with monkeypatch.context() as mp:
            mp.setattr(IntervalMatte, "restore", spy)
            if decodes == "twice":
                mp.setattr(pipeline, "HOLD_BYTES", 0)
            remove_watermark(path, tmp_path / f"{decodes}.mp4")
        return seen

    held, streamed = used("once"), used("twice")
    assert len(held) == 3 and len(set(held.values())) == 1
    # (a place streamed later reads the pooled value as it stood then: 0.0005 off here; the first
    # place's own estimate was 0.01 off, 5 levels after un-blending)
    assert streamed == pytest.approx(held, abs=0.002)


@pytest.mark.parametrize("bright", [False, True])
def test_no_watermark_unchanged(tmp_path, bright):
    """(bright: a busy near-white scene, where discovery also tries the busy scene's rules.)"""
    p = tmp_path / "clean.mp4"
    make_case(p, mark=False, n=60, bright=bright)
    out = tmp_path / "o.mp4"
    rep = remove_watermark(p, out)
    assert not rep.watermark_found and rep.positions == []
    a, b = list(iter_y(p)), list(iter_y(out))
    assert len(a) == len(b)
    mse = np.mean([(x.astype(float) - y.astype(float)) ** 2 for x, y in zip(a, b, strict=True)])
    assert 10 * np.log10(255**2 / mse) > 40


def test_bad_inputs(tmp_path, basic_case):
    path, _ = basic_case
    txt = tmp_path / "a.mp4"
    txt.write_text("hello, not a video")
    with pytest.raises(BadMedia):
        remove_watermark(txt, tmp_path / "o1.mp4")
    empty = tmp_path / "e.mp4"
    empty.write_bytes(b"")
    with pytest.raises(BadMedia, match="empty"):
        remove_watermark(empty, tmp_path / "o2.mp4")
    trunc = tmp_path / "t.mp4"
    trunc.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    with pytest.raises(BadMedia):
        remove_watermark(trunc, tmp_path / "o3.mp4")
    with pytest.raises(BadMedia, match="limit"):
        remove_watermark(path, tmp_path / "o4.mp4", max_seconds=1.0)
    with pytest.raises(BadMedia, match="limit"):
        remove_watermark(path, tmp_path / "o5.mp4", max_pixels=100 * 100)
    with pytest.raises(BadMedia):
        remove_watermark(tmp_path / "missing.mp4", tmp_path / "o6.mp4")


def test_audio_only_and_absurd(tmp_path):
    wav = tmp_path / "a.wav"
    with av.open(str(wav), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        s.layout = "mono"
        f = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        f.sample_rate = 8000
        for p in s.encode(f):
            c.mux(p)
        for p in s.encode():
            c.mux(p)
    with pytest.raises(BadMedia, match="no video"):
        remove_watermark(wav, tmp_path / "o.mp4")
    thin = tmp_path / "thin.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=640x16:d=0.2",
                    "-c:v", "libx264", str(thin)], check=True)
    with pytest.raises(BadMedia, match="absurd"):
        remove_watermark(thin, tmp_path / "o2.mp4")


def test_recovery_search_finds_a_held_position_only():
    """Frames labelled "no mark": a template match held at one place for >= MIN_RUN frames becomes an
    interval; matches that wander (scenery) or are weak do not."""
    from vidgate.watermark.detect import MIN_RUN

    d = Detector(W, H)
    d.masters = [((10, 10, 40, 22), (8, 8, 44, 26))]
    n = 60
    rng = np.random.default_rng(0)
    g = [(0.3, int(rng.integers(0, 200)), int(rng.integers(0, 400)), 0) for _ in range(n)]
    for t in range(40, 52):  # held: 12 frames at (100, 200), one outlier frame
        g[t] = (0.8, 100 + (t % 2), 200, 0)
    g[45] = (0.9, 5, 5, 0)
    for t in range(5, 20):  # strong but wandering: scenery
        g[t] = (0.9, 3 * t, 7 * t, 0)
    d.gsearch = g
    found = d._recover(np.full(n, -1))
    assert len(found) == 1
    s, e, box, sc = found[0]
    assert (s, e) == (40, 51) and e - s + 1 >= MIN_RUN and sc > 0.7
    assert box[0] <= 100 - 2 and box[1] <= 200 - 2 and box[2] >= 100 + 30 + 4 and box[3] >= 200 + 12 + 4
    # frames already assigned to a location are not searched
    lab = np.full(n, -1)
    lab[35:55] = 0
    assert d._recover(lab) == []


def test_static_scenery_run_is_overruled_by_the_held_mark_shape():
    """A static scene matches its own templates in every frame; when the mark's own shape is found
    held at ANOTHER place over the run, the run is scenery and is given up (to the recovery)."""
    d = Detector(W, H)
    d.masters = [((10, 10, 40, 22), (8, 8, 44, 26))]
    n = 40
    d.gsearch = [(0.8, 150 + (t % 2), 300, 0) for t in range(n)]
    assert d._contradicted(0, n - 1, (20, 40, 60, 60))  # the run's location is elsewhere
    assert not d._contradicted(0, n - 1, (140, 295, 190, 320))  # the search agrees with it
    # a wandering or weak search says nothing
    d.gsearch = [(0.8, 5 * t, 7 * t, 0) for t in range(n)]
    assert not d._contradicted(0, n - 1, (20, 40, 60, 60))
    d.gsearch = [(0.4, 150, 300, 0) for t in range(n)]
    assert not d._contradicted(0, n - 1, (20, 40, 60, 60))


def test_template_search_ignores_flat_windows():
    """Black bars / flat areas: NCC there is numerically meaningless and must not win."""
    from vidgate.watermark.detect import bandpass
    from vidgate.watermark.ncc import match_textured

    rng = np.random.default_rng(1)
    img = np.zeros((120, 200), np.uint8)
    img[:, 100:] = rng.integers(0, 255, (120, 100), dtype=np.uint8)
    tpl_src = img[40:60, 130:170].copy()
    mv, px, py = match_textured(bandpass(img), bandpass(tpl_src))
    assert (px, py) == (130, 40) and mv > 0.95


def test_a_part_of_the_mark_gets_the_whole_marks_width():
    """A position where discovery found only the cloud (the mirrored layout's text and @handle sit
    left of it) gets a box as wide as the family's widest, on both sides; full-width ones are kept."""
    from vidgate.watermark.detect import Location

    d = Detector(W, H)
    z = np.zeros((4, 4), np.float32)
    wide = Location((10, 10, 70, 30), z, z > 0, extent=(10, 10, 80, 40))
    cloud = Location((200, 200, 225, 220), z, z > 0, extent=(198, 198, 226, 222))
    near_full = Location((20, 300, 80, 320), z, z > 0)
    d.locations = [wide, cloud, near_full]
    fam = np.array([True, True, True])
    assert d._full_extent(0, fam) == (10, 10, 80, 40)
    assert d._full_extent(2, fam) == (20, 300, 80, 320)  # 60 of 70 px: kept
    assert d._full_extent(1, fam) == (198 - 42, 198, W, 222)  # 28 of 70: +42 each side, clipped


def test_search_places_counts_held_places_not_drifting_scenery():
    """The whole-frame search vouches for its template only where it holds it still at two or more
    places, as the mark does; a match drifting slowly across the frame is scenery."""
    d = Detector(W, H)
    held = [(0.9, 20, 30, 0)] * 40 + [(0.9, 180, 200, 0)] * 40
    d.gsearch = held
    assert d._search_places() == 2
    d.gsearch = [(0.9, 180 + t // 3, 200 + t // 2, 0) for t in range(60)] + [(0.9, 20, 30, 0)] * 40
    assert d._search_places() == 1
    d.gsearch = [(0.3, 20, 30, 0)] * 40 + [(0.3, 180, 200, 0)] * 40  # weak matches vouch for nothing
    assert d._search_places() == 0


def _edit_rm_interval(monkeypatch, edit) -> dict:
    """Run the real detector, then let ``edit(intervals, rm)`` change what it found for the
    right-middle position (the first interval after the clip's start). Returns a dict that holds
    that interval's detected start, end and box once the removal ran."""
    import vidgate.watermark.pipeline as pipeline

    real_finish = Detector.finish
    seen: dict = {}

    def finish(self):
        ivs = real_finish(self)
        rm = next(i for i in ivs if i.start > 0)
        seen.update(start=rm.start, end=rm.end, box=rm.box)
        edit(ivs, rm)
        return ivs

    monkeypatch.setattr(pipeline.Detector, "finish", finish)
    return seen


def _mark_gone(out: Path, inp: Path, t: int, box) -> bool:
    """The restored box in frame t holds under 30 % of the input's mark-white pixels."""
    x0, y0, x1, y1 = box
    got = list(iter_y(out))[t][y0:y1, x0:x1].astype(float)
    was = list(iter_y(inp))[t][y0:y1, x0:x1].astype(float)
    return bool((got >= 200).mean() < 0.3 * (was >= 200).mean())


@pytest.mark.parametrize("decodes", ["once", "twice"])
@pytest.mark.parametrize("passing", [1, 2])
def test_one_white_place_among_scenery_is_scenery(basic_case, tmp_path, monkeypatch, decodes, passing):
    """The mark jumps between places: where the matte finds a white overlay at one place only and
    the detector's other places (more of its frames) are not one, that place is scenery too (a
    bright grey window in a clean clip: sam2_dog's 01_dog.mp4 got two specks of ~150 levels) and
    the video is left as it was, held or streamed. Two places passing are the mark: restored."""
    import vidgate.watermark.pipeline as pipeline
    from vidgate.watermark import restore

    if decodes == "twice":
        monkeypatch.setattr(pipeline, "HOLD_BYTES", 0)
    path, _ = basic_case
    a = mark_alpha()
    pos = positions(a)
    real = restore.IntervalMatte.plausible

    def plausible(self, yuvs, box):  # the top-left place (and, with 2, the bottom-left) passes
        return real(self, yuvs, box) and box[0] < pos["TL"][0] + 40 and (passing == 2 or box[1] < pos["TL"][1] + 40)

    monkeypatch.setattr(restore.IntervalMatte, "plausible", plausible)
    out = tmp_path / "out.mp4"
    rep = remove_watermark(path, out)
    assert len(rep.positions) == (0 if passing == 1 else 2), rep.positions
    assert rep.watermark_found == (passing == 2)
    x, y = pos["TL"]
    h, w = a.shape
    got, was = list(iter_y(out))[10][y:y + h, x:x + w], list(iter_y(path))[10][y:y + h, x:x + w]
    moved = float(np.abs(got.astype(np.float32) - was).mean())
    assert (moved < 2) if passing == 1 else (moved > 10), moved


def test_restorer_falls_back_to_another_place_when_the_chosen_one_is_scenery(basic_case, tmp_path, monkeypatch):
    """Detection proposes, the matte disposes: a static bright patch can outscore the mark; its
    matte is not a white overlay, so the restorer takes the next place that matched instead."""
    path, _ = basic_case

    def scenery_first(ivs, rm):
        w, h = rm.box[2] - rm.box[0], rm.box[3] - rm.box[1]
        x0, y0 = (W - w) // 2 & ~1, 300 & ~1  # a place the mark never visits (between RM and BL)
        rm.box, rm.alternatives = (x0, y0, x0 + w, y0 + h), [rm.box]

    truth = _edit_rm_interval(monkeypatch, scenery_first)
    rep = remove_watermark(path, tmp_path / "out.mp4")
    assert any(tuple(p["box"]) == truth["box"] for p in rep.positions if p["start"] == truth["start"])
    assert _mark_gone(tmp_path / "out.mp4", path, truth["start"] + 10, truth["box"])


def test_alternatives_are_other_family_places_that_matched_over_the_same_frames():
    from vidgate.watermark.detect import Location

    d = Detector(W, H)
    z = np.zeros((4, 4), np.float32)
    d.locations = [Location((10 + 60 * i, 10, 50 + 60 * i, 30), z, z > 0) for i in range(4)]
    n = 40
    S = np.zeros((n, 4), np.float32)
    S[:, 0], S[:, 1], S[:, 2], S[:, 3] = 0.95, 0.7, 0.9, 0.4  # 3 matched too weakly
    Bm = np.ones((n, 4), np.float32)
    Bm[:, 2] = 0.2  # 2's strokes are not bright there
    fam = np.array([True, True, True, True])
    assert d._alternatives(5, 30, 0, S, Bm, fam) == [1]
    Bm[:, 2] = 1.0
    assert d._alternatives(5, 30, 0, S, Bm, fam) == [2, 1]
    assert d._alternatives(5, 30, 0, S, Bm, np.array([True, False, True, True])) == [2]


def test_a_box_that_cuts_the_mark_is_widened(basic_case, tmp_path, monkeypatch):
    """Discovery can find a part of the mark only (the cloud and half the text on a busy scene);
    the matte's core then runs into the box's side, and the box is widened to the rest of it."""
    path, _ = basic_case

    def cut(ivs, rm):
        x0, y0, x1, y1 = rm.box
        rm.box = (x0, y0, (x0 + (x1 - x0) * 11 // 20) & ~1, y1)  # the cloud and the text's start

    full = _edit_rm_interval(monkeypatch, cut)
    rep = remove_watermark(path, tmp_path / "out.mp4")
    got = next(p["box"] for p in rep.positions if p["start"] == full["start"])
    a = mark_alpha()
    mx, _ = positions(a)["RM"]
    right = mx + int(np.nonzero((a > 0.05).any(0))[0].max()) + 1  # the mark's last column + 1
    assert got[0] == full["box"][0] and got[2] >= right, (got, right)
    assert _mark_gone(tmp_path / "out.mp4", path, full["start"] + 10, full["box"])


def test_a_box_as_wide_as_the_others_is_not_widened(basic_case, tmp_path, monkeypatch):
    """Widening a box whose matte runs into its side is for a box narrower than the other positions'
    (discovery found a part of the mark). One about as wide as the others holds the whole mark: what
    runs into its side is scenery (a tree beside the text, on a held-out clip), and widening toward
    it put the scenery into the core. Here every position's box is cut alike: none is widened."""
    path, _ = basic_case
    cut_to: dict = {}

    def cut(ivs, rm):
        for iv in ivs:
            x0, y0, x1, y1 = iv.box
            iv.box = (x0, y0, (x0 + (x1 - x0) * 11 // 20) & ~1, y1)
        cut_to.update(box=rm.box)

    full = _edit_rm_interval(monkeypatch, cut)
    rep = remove_watermark(path, tmp_path / "out.mp4")
    got = next(p["box"] for p in rep.positions if p["start"] == full["start"])
    assert tuple(got) == tuple(cut_to["box"]), (got, cut_to)


def test_a_jump_detected_early_leaves_no_blinking_left_over(basic_case, tmp_path, monkeypatch):
    """When the next position's interval is detected to begin a frame or two before the mark
    really leaves (its last frames match poorly), those frames still get the old box restored."""
    path, sched = basic_case
    _, _, rm_end = next(item for item in sched if item[0] == "RM")

    def early(ivs, rm):
        nxt = ivs[ivs.index(rm) + 1]
        rm.end, nxt.start = rm_end - 2, rm_end - 1

    found = _edit_rm_interval(monkeypatch, early)
    remove_watermark(path, tmp_path / "out.mp4")
    assert abs(found["end"] - rm_end) <= 1
    for t in (rm_end - 1, rm_end):
        assert _mark_gone(tmp_path / "out.mp4", path, t, found["box"]), t



def test_a_jump_detected_late_is_restored_from_the_first_frame_the_mark_shows(basic_case, tmp_path, monkeypatch):
    """The mark fades in at its next place a frame or two before the detected jump (its first
    frames match poorly): the next interval's padding before its start is restored with its box,
    and the previous interval's last frames still with the previous box."""
    path, sched = basic_case
    _, rm_start, _ = next(item for item in sched if item[0] == "RM")

    def late(ivs, rm):
        prev = ivs[ivs.index(rm) - 1]
        rm.start, prev.end = rm_start + 2, rm_start + 1

    found = _edit_rm_interval(monkeypatch, late)
    remove_watermark(path, tmp_path / "out.mp4")
    assert abs(found["start"] - rm_start) <= 1
    for t in (rm_start, rm_start + 1):
        assert _mark_gone(tmp_path / "out.mp4", path, t, found["box"]), t


def test_plausibility_is_judged_on_frames_that_show_the_mark(basic_case, tmp_path, monkeypatch):
    """A jump detected a frame early gives the interval a first frame without the mark; its
    colourful scenery must not make the matte look like scenery (no white overlay's grey)."""
    import vidgate.watermark.restore as restore

    path, sched = basic_case
    _, rm_start, _ = next(item for item in sched if item[0] == "RM")
    real = restore.IntervalMatte.plausible
    judged: list[bool] = []

    def first_frame_only(self, yuvs, box):
        # judge the interval on its first frame alone (the only colourful one, as on a real video)
        ok = real(self, yuvs[:1], box)
        judged.append(ok)
        return ok

    def early(ivs, rm):
        prev = ivs[ivs.index(rm) - 1]
        rm.start, prev.end = rm_start - 1, rm_start - 2

    found = _edit_rm_interval(monkeypatch, early)
    monkeypatch.setattr(restore.IntervalMatte, "plausible", first_frame_only)
    rep = remove_watermark(path, tmp_path / "out.mp4")
    assert judged and all(judged), judged
    assert abs(found["start"] - rm_start) <= 1
    assert any(p["start"] == rm_start - 1 for p in rep.positions), rep.positions


def _biased_opacities(monkeypatch, biased: int, bias: float) -> tuple[list[float], dict[int, float]]:
    """Add ``bias`` to the opacity estimate of the first ``biased`` mattes that find the mark (as
    their scenery would); returns (every matte's estimate as built, the opacity each matte
    restored its frames with). The mattes' first estimates are built side by side on as many
    threads as the machine has cores; here one after the other, so "the first" are the same
    intervals on every machine (on 4 threads the race biased other places ~40 % of the runs)."""
    import vidgate.watermark.pipeline as pipeline
    import vidgate.watermark.restore as restore

    monkeypatch.setattr(pipeline, "pmap", lambda fn, items: [fn(x) for x in items])

    real_init = restore.IntervalMatte.__init__
    own: list[float] = []

    def init(self, crops, a0_hint=None, **kw):
        real_init(self, crops, a0_hint, **kw)
        if self.found and len(own) < biased:
            self.a0 += bias
        own.append(self.a0)

    used: dict[int, float] = {}
    real_restore = restore.IntervalMatte.restore_y

    def restore_y(self, yc, *args):
        used[id(self)] = self.a0
        return real_restore(self, yc, *args)

    monkeypatch.setattr(restore.IntervalMatte, "__init__", init)
    monkeypatch.setattr(restore.IntervalMatte, "restore_y", restore_y)
    return own, used


def test_positions_share_the_marks_opacity(basic_case, tmp_path, monkeypatch):
    """The same mark sits at every position: an interval whose own core opacity estimate is off
    (read against a fill of its own scenery) takes the median of all the positions' estimates."""
    path, _ = basic_case
    _, used = _biased_opacities(monkeypatch, 1, 0.03)  # the first position's estimate is off, still plausible
    remove_watermark(path, tmp_path / "out.mp4")
    a0s = sorted(used.values())
    assert len(a0s) == 3 and a0s[-1] - a0s[0] < 0.005, a0s  # all three restored with one opacity
    assert abs(a0s[0] - 0.74) < 0.03


def test_weighted_median():
    from vidgate.watermark.pipeline import _weighted_median

    for vals in ([0.3, 0.1, 0.2], [0.4, 0.1, 0.3, 0.2]):  # equal weights: the plain median
        assert _weighted_median([(v, 5.0) for v in vals]) == pytest.approx(float(np.median(vals)))
    assert _weighted_median([(0.77, 1.0), (0.79, 2.0), (0.80, 4.0)]) == 0.80
    assert _weighted_median([(0.77, 1.0), (0.79, 2.0), (0.80, 2.0)]) == 0.79


@pytest.mark.parametrize("decodes", ["once", "twice"])
def test_the_opacity_pool_leans_on_places_over_dark_scenery(tmp_path, monkeypatch, decodes):
    """Read against a fill of the scenery around, ``(I - B) / (235 - B)``, a place's opacity is
    worth most over dark ground: a fill error moves it by ``(1 - a0) / (235 - B)`` per level, six
    times more over a near-white sky than over dark hair (the real yellow_brick_road's places read
    0.774 over its sky, 0.790 and 0.796 over the road and the hair; their plain median left the
    cloud over the hair 4-10 levels light). Here two places sit over bright moving scenery and
    read 0.04 high, as such scenery can; the one over dark ground decides the pooled value, held
    or streamed (``twice``: the first places' opacity read up front, see ``early_a0s``)."""
    import vidgate.watermark.pipeline as pipeline
    import vidgate.watermark.restore as restore

    if decodes == "twice":
        monkeypatch.setattr(pipeline, "HOLD_BYTES", 0)

    frames = []
    for t in range(90):  # (the camera moves: no clean plate reads the opacity directly)
        f = scene(t, bright=True)
        f[H // 3:2 * H // 3] = scene(t)[H // 3:2 * H // 3]  # dark ground across the middle (RM)
        f = f.astype(np.float32)
        a = mark_alpha()
        x, y = positions(a)[("TL", "RM", "BL")[t // 30]]
        under = f[y:y + a.shape[0], x:x + a.shape[1]]
        under[...] = a[..., None] * 255 + (1 - a[..., None]) * under
        frames.append(np.clip(np.round(f), 0, 255).astype(np.uint8))
    path = tmp_path / "mixed.mp4"
    write_clip(path, frames)

    real_init, real_restore = restore.IntervalMatte.__init__, restore.IntervalMatte.restore_y
    own: dict[str, float] = {}
    used: dict[int, float] = {}

    def init(self, crops, a0_hint=None, **kw):  # type: ignore[no-untyped-def]
        real_init(self, crops, a0_hint, **kw)
        if self.found:
            bright = float(np.median(crops[0])) > 150
            if bright:
                self.a0 += 0.04
            own["bright" if bright else "dark"] = self.a0

    def restore_y(self, yc, *args):  # type: ignore[no-untyped-def]
        used[id(self)] = self.a0
        return real_restore(self, yc, *args)

    monkeypatch.setattr(restore.IntervalMatte, "__init__", init)
    monkeypatch.setattr(restore.IntervalMatte, "restore_y", restore_y)
    remove_watermark(path, tmp_path / "out.mp4")
    a0s = sorted(used.values())
    assert len(a0s) == 3 and a0s[-1] - a0s[0] < 0.005, a0s
    assert a0s[0] == pytest.approx(own["dark"], abs=0.005), (a0s, own)
    assert own["bright"] - own["dark"] > 0.03  # (the plain median of the three took a bright one's)


@pytest.mark.parametrize("seed", [3, 10])
def test_look_alikes_that_come_and_go_do_not_hide_the_mark(tmp_path, seed):
    """Copies of the mark's shape that appear, stay and fade at places of their own link into one
    large template family with the mark (as the bright clouds and road of a real video did); the mark
    is told apart by how it moves: it vanishes at one place as it appears at the next."""
    from tests.watermark.conftest import make_lookalike_case

    p = tmp_path / "lookalikes.mp4"
    sched = make_lookalike_case(p, seed)
    ivs = detect(p)
    check_schedule(ivs, sched)
    assert len(ivs) == len(sched), [(i.start, i.end, i.box) for i in ivs]


def _steps(n: int, spans: list[tuple[int, int]]) -> np.ndarray:
    on = np.zeros(n, np.float32)
    for a, b in spans:
        on[a:b] = 1.0
    return on


def test_jump_chain_finds_the_places_the_mark_jumps_between():
    """Presence per frame and place: the mark at A, B, C, A (jumping within a frame or two); scenery D
    there all along, E leaving exactly when the mark jumps (a cut), F overlapping the mark's places."""
    from vidgate.watermark.detect import _jump_chain, _jumps

    n = 240
    on = np.stack([
        _steps(n, [(0, 60), (181, 240)]),  # A
        _steps(n, [(61, 120)]),  # B
        _steps(n, [(121, 180)]),  # C
        _steps(n, [(0, 240)]),  # D: static scenery
        _steps(n, [(20, 61)]),  # E: goes at the first jump, never comes back
        _steps(n, [(100, 170)]),  # F: on while B and C are
    ], axis=1)
    S = 0.2 + 0.7 * on
    Bm = 0.1 + 0.85 * on
    boxes = [(0, 0, 30, 10), (100, 100, 130, 110), (0, 200, 30, 210), (50, 50, 80, 60), (150, 20, 180, 30),
             (60, 150, 90, 160)]
    assert _jump_chain(*_jumps(S, Bm, boxes)) == [0, 1, 2]
    # one jump is not a pattern; and without jumps there is nothing to find
    assert _jump_chain(*_jumps(S[:100], Bm[:100], boxes)) is None
    assert _jump_chain(*_jumps(S[:, 3:], Bm[:, 3:], boxes[3:])) is None


def test_a_jump_off_a_still_bright_scene_is_seen():
    """The mark leaves a place over a still, bright scene: the place's match falls from ~1 only to
    what the scene alone gives (0.46: its structure is in the place's template; its strokes stay
    bright), not to nothing. The jump to the next place is still one (sam2_dog_portrait: missed,
    and scenery's places took the mark's)."""
    from vidgate.watermark.detect import _jumps

    n = 120
    a, b = _steps(n, [(0, 60)]), _steps(n, [(61, 120)])
    S = np.stack([0.46 + 0.53 * a, 0.1 + 0.85 * b], axis=1)
    Bm = np.stack([np.full(n, 0.9, np.float32), 0.1 + 0.85 * b], axis=1)
    _, edges = _jumps(S, Bm, [(0, 200, 40, 215), (150, 100, 190, 115)])
    assert [(i, j) for _, i, j, _, _ in edges] == [(0, 1)]
    td, _, _, tu, _ = edges[0]
    assert abs(td - 60) <= 1 and abs(tu - 61) <= 1
    # scenery whose match merely wavers between fair and good (0.6-0.8) makes no jump
    S2 = np.stack([0.7 + 0.1 * np.sin(np.arange(n) / 3.0), S[:, 1]], axis=1).astype(np.float32)
    _, edges = _jumps(S2, Bm, [(0, 200, 40, 215), (150, 100, 190, 115)])
    assert edges == []


def test_a_place_seen_twice_votes_once_for_the_opacity(basic_case, tmp_path, monkeypatch):
    """The shared opacity is the median over PLACES: an interval split in two (or a place the mark
    returns to) reads the same scenery's bias twice and must not outvote the other places."""
    import dataclasses

    path, _ = basic_case

    def split(ivs, rm):
        mid = (rm.start + rm.end) // 2
        ivs.insert(ivs.index(rm) + 1, dataclasses.replace(rm, start=mid + 1))
        rm.end = mid

    _edit_rm_interval(monkeypatch, split)
    # both halves of the right-middle place are built first; that place's scenery biases them
    own, used = _biased_opacities(monkeypatch, 2, 0.035)
    remove_watermark(path, tmp_path / "out.mp4")
    a0s = sorted(used.values())
    assert len(own) == 4 and len(a0s) == 4 and a0s[-1] - a0s[0] < 0.005, (own, a0s)
    # three places, the biased one highest: the median is the higher of the other two places
    assert abs(a0s[0] - max(own[2:])) < 0.002, (own, a0s)


def test_a_run_the_mark_jumped_into_stands_on_its_strong_frames_at_the_jump():
    """A place whose template was learned with scenery in its box matches well just after the mark
    jumps in and decays as that scenery moves on (running_car_flip_portrait's last place: mean NCC
    0.46 over the run, 0.71 over its first frames); the mark stays put until its next jump, so the
    run is the mark's. Without the jump, or with a weak start, the low mean still rejects it."""
    from vidgate.watermark.detect import JUMP_HEAD, RUN_NCC, _jumps

    n = 150
    a = _steps(n, [(0, 112)])
    b = _steps(n, [(112, 150)])
    S = np.stack([0.2 + 0.75 * a, 0.05 + 0.65 * b], axis=1).astype(np.float32)
    S[112 + 24:, 1] = 0.2  # B's template decays after 24 frames
    Bm = np.ones_like(S)
    boxes = [(0, 200, 40, 215), (100, 100, 140, 115)]
    keep = np.array([True, True])
    d = Detector(W, H)
    d._P, d._edges = _jumps(S, Bm, boxes)
    assert float(S[112:, 1].mean()) < RUN_NCC <= float(S[112:112 + JUMP_HEAD, 1].mean())
    assert d._jump_run(S, 1, 112, 149, keep)
    # the run A jumped out of: judged at its end
    S2 = S.copy()
    S2[:90, 0] = 0.3
    assert d._jump_run(S2, 0, 0, 111, keep)
    # no jump seen into the place (the other place is not the mark's) / a weak start: rejected
    assert not d._jump_run(S, 1, 112, 149, np.array([False, True]))
    S3 = S.copy()
    S3[112:, 1] = np.where(np.arange(112, n) < 120, 0.7, 0.3)
    d._P, d._edges = _jumps(S3, Bm, boxes)
    assert not d._jump_run(S3, 1, 112, 149, keep)
    d._edges = []
    assert not d._jump_run(S, 1, 112, 149, keep)


def test_jump_partners_join_the_family_by_how_they_move():
    """The mirrored layout's template does not match the others'; it joins the family because the
    mark jumps to it and from it: it lights up as a family place goes dark and goes dark as one
    lights up, and is never on together with one."""
    from vidgate.watermark.detect import _jump_partners, _jumps

    n = 180
    on = np.stack([
        _steps(n, [(0, 60)]),  # A (family)
        _steps(n, [(121, 180)]),  # B (family)
        _steps(n, [(61, 120)]),  # C: the other layout, between A and B
        _steps(n, [(61, 150)]),  # D: arrives with C but stays on with B
        _steps(n, [(61, 100)]),  # E: arrives as A leaves, leaves on its own
    ], axis=1)
    S, Bm = 0.2 + 0.7 * on, 0.1 + 0.85 * on
    boxes = [(0, 0, 30, 10), (0, 200, 30, 210), (100, 100, 130, 110), (150, 20, 180, 30), (60, 150, 90, 160)]
    fam = np.array([True, True, False, False, False])
    assert _jump_partners(*_jumps(S, Bm, boxes), fam) == [2]


def test_the_mirrored_layout_is_removed(tmp_path):
    """End to end: the right-middle position's mirrored mark (text left of the cloud) is restored."""
    p = tmp_path / "mirrored.mp4"
    sched = make_case(p, handle=True, mirror_rm=True)
    _, s, e = next(item for item in sched if item[0] == "RM")
    rep = remove_watermark(p, tmp_path / "out.mp4")
    rm = [x for x in rep.positions if x["start"] <= s + 2 and x["end"] >= e - 2]
    assert rm, rep.positions
    for t in (s + 2, (s + e) // 2, e - 1):
        assert _mark_gone(tmp_path / "out.mp4", p, t, rm[0]["box"]), t


def test_a_blob_merged_with_scenery_does_not_become_the_place():
    """Chunk 0 saw the mark merged with bright scenery beside it (one wide blob covering both); later
    chunks saw the mark alone, and the scenery alone in every chunk. The merged blob (seen first)
    neither becomes a place's box nor pulls the two places into one."""
    from vidgate.watermark.detect import _cluster

    mark, scenery, merged = (100, 50, 170, 76), (160, 60, 195, 80), (60, 40, 195, 80)
    cands = [(merged, 0)] + [(mark, c) for c in range(1, 8)] + [(scenery, c) for c in range(12)]
    places = dict(_cluster(cands))
    assert set(places) == {mark, scenery}, places
    assert set(places[mark]) >= set(range(1, 8)) and set(places[scenery]) >= set(range(12))


def test_each_place_box_is_the_typical_box_of_its_members():
    """Places keep their box up to date as blobs join (their IoU sums added as they come): after
    every join it equals the typical box of the members so far, recomputed from scratch, on
    jittered blobs around a few places (busy scenes give hundreds per place)."""
    import random

    from vidgate.watermark import detect

    def typical(boxes):
        """The union of the boxes that overlap (IoU > 0.5) the one overlapping all others most."""
        med = max(boxes, key=lambda a: sum(detect._iou(a, b) for b in boxes))
        out = med
        for b in boxes:
            if detect._iou(b, med) > 0.5:
                out = detect._union(out, b)
        return out

    rng = random.Random(5)
    for _ in range(300):
        centers = [(rng.randint(0, 300), rng.randint(0, 200)) for _ in range(rng.randint(1, 4))]
        place: detect._Place | None = None
        for _ in range(rng.randint(1, 40)):
            cx, cy = rng.choice(centers)
            x, y = cx + rng.randint(-6, 6), cy + rng.randint(-4, 4)
            box = (x, y, x + rng.randint(20, 80), y + rng.randint(8, 30))
            if place is None:
                place = detect._Place(box, 0)
            else:
                place.add(box, 0)
            assert place.rep == typical(place.boxes)
    cands = [((10 + k % 3, 20, 80 + k % 2, 45), k) for k in range(30)] + [((200, 100, 260, 125), 3)]
    places = dict(detect._cluster(cands))
    assert len(places) == 2 and sorted(places[(200, 100, 260, 125)]) == [3]


def test_blobs_at_a_higher_threshold_free_the_mark_from_scenery_around_it():
    """The chunk's excess brightness: the mark (strong) touching a large weak region (grass blades
    brighter than usual). At the noise threshold they form one shapeless blob; a higher one finds
    the mark."""
    from vidgate.watermark.detect import _blobs, _blobs_levels

    d = np.zeros((180, 320), np.float32)
    d[100:180, 0:200] = 12.0  # scenery's excess, all along the bottom
    d[120:140, 20:80] = 80.0  # the mark: 60 x 20
    assert not any(b[2] - b[0] <= 70 for b in _blobs(d, 180, 3.5))
    found = _blobs_levels(d, 180, 3.5)
    assert any(abs(b[0] - 20) <= 3 and abs(b[2] - 80) <= 3 and abs(b[1] - 120) <= 3 for b in found), found


def _family_of(templates: list[np.ndarray], on: np.ndarray, ncc: np.ndarray,
               jumped: set[tuple[int, int]], at: list[tuple[int, int]] | None = None) -> list[int]:
    """The family a detector picks from given templates (at the places ``at``), per-frame presence
    and NCC, and jumps."""
    from vidgate.watermark.detect import Location

    d = Detector(W, H)
    # (apart, as the mark's places are: boxes that touch are one place seen twice)
    at = at or [((i % 2) * 150, 100 * i) for i in range(len(templates))]
    d.locations = [Location((x, y, x + t.shape[1], y + t.shape[0]), t, t > 0)
                   for (x, y), t in zip(at, templates, strict=True)]
    d._P, d._S, d._jumped = on.astype(np.float32), ncc.astype(np.float32), jumped
    return [int(v) for v in np.nonzero(d._family(partners=False))[0]]


def test_the_family_is_the_places_the_mark_jumps_between():
    """Two groups of look-alike places: a moving object seen at two places (identical templates, the
    strongest link) and the mark at two places (a little less alike: scenery merged into one of its
    templates). The mark jumps from one place to the other and is never at both; the object comes
    and goes without jumping and matches loosely. Without the motion, the strongest link wins."""
    from tests.watermark.conftest import mark_alpha

    rng = np.random.default_rng(3)
    a = mark_alpha()
    mark1 = a.astype(np.float32)
    mark2 = mark1 + rng.normal(0, 0.12, a.shape).astype(np.float32) * (mark1.std() + 1e-3)
    obj = rng.normal(0, 1, (20, 50)).astype(np.float32)
    obj = cv2.GaussianBlur(obj, (0, 0), 1.0)
    n = 150
    on = np.zeros((n, 4), np.float32)
    ncc = np.full((n, 4), 0.2, np.float32)
    on[:70, 0], on[70:, 1] = 1, 1  # the mark: place 0, then (jump) place 1
    ncc[:70, 0], ncc[70:, 1] = 0.95, 0.95
    on[10:40, 2], on[90:130, 3] = 1, 1  # the object
    ncc[10:40, 2], ncc[90:130, 3] = 0.7, 0.7
    templates = [mark1, mark2, obj, obj.copy()]
    assert _family_of(templates, on, ncc, {(0, 1)}) == [0, 1]
    assert _family_of(templates, on, ncc, set()) == [2, 3]


def test_two_touching_places_are_not_the_marks_family():
    """Bright scenery seen as two touching places (its two halves found in different chunks:
    bigbuckbunny at CRF 26) matches itself better than the mark's places match each other; the
    mark's places lie apart, so the touching pair is one place seen twice, not a family."""
    from tests.watermark.conftest import mark_alpha

    rng = np.random.default_rng(5)
    mark1 = mark_alpha().astype(np.float32)
    mark2 = mark1 + rng.normal(0, 0.15, mark1.shape).astype(np.float32) * (mark1.std() + 1e-3)
    blob = cv2.GaussianBlur(rng.normal(0, 1, (20, 50)).astype(np.float32), (0, 0), 1.0)
    n = 60
    on = np.zeros((n, 4), np.float32)
    ncc = np.full((n, 4), 0.2, np.float32)
    templates = [blob, blob.copy(), mark1, mark2]
    # the scenery's halves: (100, 100) and right below it, touching; the mark: top left, bottom left
    at = [(100, 100), (110, 120), (10, 10), (10, 380)]
    assert _family_of(templates, on, ncc, set(), at) == [2, 3]


def test_an_extent_grown_into_scenery_is_cut_to_the_marks_size():
    """One place's extent grew into bright static scenery beside the mark, to about twice the mark's
    size; it is cut back to about the others' extent, from each side in proportion to its growth,
    and the others are not widened to match it."""
    from vidgate.watermark.detect import Location

    d = Detector(W, H)
    z = np.zeros((4, 4), np.float32)
    d.locations = [Location((10, 10, 80, 36), z, z > 0, extent=(10, 10, 80, 36)),
                   Location((150, 200, 220, 226), z, z > 0, extent=(150, 200, 220, 226)),
                   Location((10, 380, 80, 406), z, z > 0, extent=(0, 350, 130, 412))]
    fam = np.array([True, True, True])
    x0, y0, x1, y1 = d._full_extent(2, fam)
    assert 70 <= x1 - x0 <= 80 and 26 <= y1 - y0 <= 31, (x0, y0, x1, y1)
    assert x0 <= 10 and x1 >= 80 and y0 <= 380 and y1 >= 406
    assert d._full_extent(0, fam) == (10, 10, 80, 36)


def test_the_master_is_the_tightest_view_of_the_mark():
    """Two places with boxes of one size: the master (searched for in every frame, and the box of
    places found by that search) is the one whose extent grew less; the other's extent had grown
    into a picture frame's white edge beside a small mark, and made the recovered boxes too big."""
    from vidgate.watermark.detect import Location

    d = Detector(W, H)
    t = np.ones((13, 32), np.float32)
    grown = Location((20, 20, 52, 33), t, t > 0, extent=(19, 17, 54, 34))
    tight = Location((150, 100, 182, 113), t, t > 0, extent=(150, 100, 182, 113))
    d.locations = [grown, tight]
    d._linked = None
    d._family = lambda partners=True: np.array([True, True])  # type: ignore[method-assign]
    assert d._master() == 0
    assert d.masters[0][0] == tight.bbox


def test_a_location_seen_more_often_keeps_its_own_extent():
    """A place found twice (a blob, then the template search, seen in more chunks): the second
    replaces the first. What the first grew to beyond its box (a handle line) is kept; its box
    alone, a pixel or two larger, is not added to the tighter one's extent."""
    from vidgate.watermark.detect import Location

    t = np.ones((13, 32), np.float32)
    d = Detector(W, H)
    d._add_location(Location((19, 20, 54, 37), t, t > 0, chunks=7, extent=(19, 20, 54, 37)))
    d._add_location(Location((20, 23, 52, 36), t, t > 0, chunks=9, extent=(20, 23, 52, 36)))
    assert [lc.extent for lc in d.locations] == [(20, 23, 52, 36)]
    d = Detector(W, H)
    d._add_location(Location((19, 20, 54, 37), t, t > 0, chunks=7, extent=(19, 20, 54, 45)))
    d._add_location(Location((20, 23, 52, 36), t, t > 0, chunks=9, extent=(20, 23, 52, 36)))
    assert [lc.extent for lc in d.locations] == [(19, 20, 54, 45)]


def test_a_place_merged_with_scenery_is_cut_to_what_stayed_still():
    """A place whose blob merged with a sunlit road around the mark is much larger than the mark.
    Over the frames it was on, the mark's strokes keep their band-pass pattern while the road moves
    by: the pattern's box is where the mark is, and becomes the place's box (with the tightest
    view's margins). Where nothing mark-sized stayed still, the place keeps its extent."""
    from vidgate.watermark.detect import Location, bandpass

    rng = np.random.default_rng(1)
    d = Detector(W, H)
    t = np.ones((12, 30), np.float32)
    ref = Location((10, 10, 40, 22), t, t > 0, top=t, extent=(10, 10, 40, 24))
    big = Location((20, 150, 140, 200), t, t > 0, top=t, extent=(20, 150, 140, 200))
    d.locations = [ref, big]
    d._family = lambda partners=True: np.array([True, True])  # type: ignore[method-assign]
    mark = np.zeros((50, 120), np.float32)
    mark[20:32, 40:70] = 120 * (rng.random((12, 30)) > 0.5)  # strokes, still
    acc = sum(bandpass(mark + 60 * rng.random((50, 120)).astype(np.float32)) for _ in range(40))
    d._still = {1: ((20, 150, 140, 200), np.asarray(acc, np.float32), 40)}
    x0, y0, x1, y1 = d._full_extent(1, np.array([True, True]))
    assert abs(x0 - 60) <= 2 and abs(y0 - 170) <= 2 and abs(x1 - 90) <= 2 and abs(y1 - 184) <= 2, (x0, y0, x1, y1)
    d._still = {1: ((20, 150, 140, 200), np.asarray(sum(bandpass(60 * rng.random((50, 120)).astype(np.float32))
                                                       for _ in range(40)), np.float32), 40)}
    assert d._full_extent(1, np.array([True, True])) == (20, 150, 140, 200)


def test_a_speck_of_energy_does_not_become_a_place():
    """A cluster whose energy is a speck (11 x 4 px at analysis scale: what the template search
    left of a place at CRF 26) is not a place: it became the family's tightest view, every place
    was cut to its size, and the mark was lost (running_car_flip_portrait). A mark-sized blob in
    the same spot is one."""
    d = Detector(W, H)
    nc = 6

    def clusters_with(bw: int, bh: int) -> int:
        d.locations = []
        mins = np.full((nc, d.ah, d.aw), 60, np.float32)
        delta = np.zeros((d.ah, d.aw), np.float32)
        y, x = 100, 60
        mins[:, y:y + bh, x:x + bw] = 200  # white where it sits
        delta[y:y + bh:2, x:x + bw] = 40.0  # striped, so the band-pass template has structure
        d._raw = (np.stack([delta] * nc), np.zeros_like(delta))  # (each chunk's excess over a zero base)
        deltas = [delta] * nc
        d._add_clusters([((x, y, x + bw, y + bh), [1, 2, 3])], mins, mins.copy(), deltas, nc, single_at_end=False)
        return len(d.locations)

    assert clusters_with(11, 4) == 0
    assert clusters_with(48, 16) == 1


@pytest.mark.parametrize("median", [4, 0])
def test_a_place_stretched_by_one_chunks_scenery_is_read_from_its_median(monkeypatch, median):
    """A short interval at the clip's end (running_car_flip_portrait at CRF 26, frames 112-149)
    is one place in three chunks: the mark faint in the first (fading in), whole in the second
    beside a bright streak of scenery, gone in the last (white over a white sky). Their mean
    excess takes the streak in: a box too tall for the mark, refused, and the place was lost (the
    whole interval left unrestored, p5 22.8 dB). What most of the chunks show (their median) is
    the mark alone. ``median`` 0: that reading switched off."""
    import vidgate.watermark.detect as detect_mod

    monkeypatch.setattr(detect_mod, "MEDIAN_BOX", median)
    d = Detector(W, H)
    nc = 18
    mins = np.full((nc, d.ah, d.aw), 210, np.float32)  # a bright sky all along
    deltas = [np.zeros((d.ah, d.aw), np.float32) for _ in range(nc)]
    y, x, bw, bh = 100, 60, 48, 16
    for c, excess in ((14, 20.0), (16, 80.0)):  # fading in, then whole (striped: the template has structure)
        deltas[c][y:y + bh:2, x:x + bw] = excess
        mins[c][y:y + bh:2, x:x + bw] += excess / 2
    deltas[16][y + bh:y + 50, x - 20:x + 20] = 120.0  # the streak, in that chunk only
    d._raw = (np.stack(deltas), np.zeros_like(deltas[0]))  # (each chunk's excess over a zero base)
    d._add_clusters([((x - 20, y, x + bw, y + 50), [14, 16, 17])], mins, mins.copy(), deltas, nc,
                    single_at_end=False)
    if not median:
        assert d.locations == []
        return
    (loc,) = d.locations
    bx0, by0, bx1, by1 = loc.bbox
    assert loc.median and abs(bx0 - x) <= 3 and abs(by0 - y) <= 3 and abs(bx1 - x - bw) <= 3 \
        and abs(by1 - y - bh) <= 3, loc.bbox


def test_a_median_read_place_yields_to_one_read_the_usual_way():
    """The median reading is a fallback: where a place is also found the usual way (its mean
    excess, another cluster), that one stands whole, whichever came first and however many chunks
    each was seen in (clean sam2_dog: a median box over scenery seen in 7 chunks had replaced the
    mark's own 2-chunk place and its interval started 4 frames late)."""
    from vidgate.watermark.detect import Location

    t = np.ones((13, 32), np.float32)
    usual = Location((20, 23, 52, 36), t, t > 0, chunks=2, extent=(20, 23, 52, 40))
    for first, second in ((Location((18, 20, 56, 40), t, t > 0, chunks=7, extent=(10, 10, 70, 50), median=True),
                           usual),
                          (usual, Location((18, 20, 56, 40), t, t > 0, chunks=7, extent=(10, 10, 70, 50),
                                           median=True))):
        d = Detector(W, H)
        d._add_location(first)
        d._add_location(second)
        assert [(lc.bbox, lc.extent, lc.median) for lc in d.locations] == [((20, 23, 52, 36), (20, 23, 52, 40), False)]


def test_one_handle_verdict_for_every_place(basic_case, tmp_path, monkeypatch):
    """The @handle line is under the mark at every place or at none: the places' median core
    shape decides for all of them (one place's core can take scenery in, or miss a faint line:
    sam2_dog_landscape's top-left read as having one and kept its scenery filled, -1 dB)."""
    from vidgate.watermark import restore

    made: list[restore.IntervalMatte] = []
    init = restore.IntervalMatte.__init__

    def keep(self: restore.IntervalMatte, *a: object, **k: object) -> None:
        init(self, *a, **k)
        made.append(self)

    monkeypatch.setattr(restore.IntervalMatte, "__init__", keep)
    path, _ = basic_case
    remove_watermark(str(path), str(tmp_path / "out.mp4"))
    found = [m for m in made if m.found and m.core_aspect() is not None]
    assert len(found) >= 3
    verdict = float(np.median([m.core_aspect() for m in found])) < restore.HANDLE_ASPECT
    assert {m.handle for m in found} == {verdict}


def _jumping_clip(tmp_path: Path, still: range, extra: Callable[[np.ndarray, int, bool], None]
                  ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(truth, restored luma): a 90-frame clip whose mark jumps TL -> RM -> BL every 30 frames
    (detected so), the camera still over ``still``; ``extra(frame, t, marked)`` adds to a frame
    (float, before the mark) what the test needs, in the marked clip and in its truth alike or
    not."""
    from tests.watermark.conftest import _overlay, scene, write_clip

    a = mark_alpha()

    def clip(path: Path, mark: bool) -> None:
        out, sched = [], []
        for t in range(90):
            f = scene(min(t, still.start) if t in still else t).astype(np.float32)
            extra(f, t, mark)
            if mark:
                pos = ("TL", "RM", "BL")[(t // 30) % 3]
                _overlay(f, a, *positions(a)[pos], sched, pos, t)
            out.append(np.clip(np.round(f), 0, 255).astype(np.uint8))
        write_clip(path, out)

    clip(tmp_path / "m.mp4", True)
    clip(tmp_path / "c.mp4", False)
    rep = remove_watermark(tmp_path / "m.mp4", tmp_path / "o.mp4")
    assert [(p["start"], p["end"]) for p in rep.to_dict()["positions"]] == [(0, 29), (30, 59), (60, 89)]
    return list(iter_y(tmp_path / "c.mp4")), list(iter_y(tmp_path / "o.mp4"))


def _pale_oval_before_a_jump(tmp_path: Path, frames: range, still: bool = False
                             ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """(truth, restored luma, the oval): :func:`_jumping_clip` with a pale oval under the
    right-middle place's cloud over ``frames`` (the mark not there yet). ``still``: the camera
    holds still over those frames and the next 4."""
    a = mark_alpha()
    h = a.shape[0]
    x, y = positions(a)["RM"]
    yy, xx = np.mgrid[:H, :W]
    oval = ((yy - (y + h // 2 + 3)) / 14.0) ** 2 + ((xx - (x + 12)) / 10.0) ** 2 <= 1

    def add(f: np.ndarray, t: int, marked: bool) -> None:
        if t in frames:
            f[oval] = 150.0  # pale enough that the mark's core is not there at full opacity

    hold = range(frames.start, frames.stop + 4) if still else range(0)
    return (*_jumping_clip(tmp_path, hold, add), oval)


def _oval_rms(truth: list[np.ndarray], got: list[np.ndarray], oval: np.ndarray, frames: tuple[int, ...]) -> list[float]:
    return [float(np.sqrt(((got[t][oval].astype(np.float32) - truth[t][oval]) ** 2).mean())) for t in frames]


@pytest.mark.parametrize(("fade_in", "decodes"), [(3, "once"), (3, "twice"), (1000, "once")])
def test_scenery_long_before_a_places_first_full_frame_is_not_read_as_a_fade(tmp_path, monkeypatch, fade_in, decodes):
    """Frames of an interval long before its first frame at full opacity (the padding before a
    detected jump, the jump detected early) are not a fade: real marks fade in over 2-3 frames.
    Read as one, bright scenery under the place (white fur beside a darker scene: the puppy video,
    f226-228) was un-blended into a dark cloud. Here the jump is padded 6 frames back and a pale
    oval sits under the right-middle place's cloud before the mark arrives: the 3 frames more than
    3 before its first full frame come out as they went in. ``fade_in`` 1000: the rule off;
    ``decodes``: frames held after one decode, or the streaming path (the first full frame found
    among an interval's buffered frames)."""
    import vidgate.watermark.pipeline as pipeline

    monkeypatch.setattr(pipeline, "PAD_FRAMES", 6)
    monkeypatch.setattr(pipeline, "FADE_IN", fade_in)
    if decodes == "twice":
        monkeypatch.setattr(pipeline, "HOLD_BYTES", 0)
    rms = _oval_rms(*_pale_oval_before_a_jump(tmp_path, range(22, 30)), (24, 25, 26))
    if fade_in == 3:
        assert max(rms) < 2.0, rms
    else:
        assert min(rms) > 10.0, rms


@pytest.mark.parametrize(("views", "decodes"), [(True, "once"), (True, "twice"), (False, "once")])
def test_a_fade_in_is_read_against_the_frames_around_it(tmp_path, monkeypatch, views, decodes):
    """Within 3 frames of a place's first full frame a lifted patch may be the mark fading in:
    its share of the opacity is read against the scene under the mark in the frame before the
    fade-in could begin or in the first full frame (whichever matches this frame's surroundings
    best), as a fade-out's is against the last full frame. Read against the fill from around,
    the puppy video's white fur under its bottom-left cloud beside a dark floor read 0.47 of the
    opacity on f229 (only the text had begun to fade in) and was un-blended into a dark cloud.
    Here a pale oval sits under the right-middle cloud in the 3 frames before the mark arrives,
    the camera still. ``views`` False: read against the fill only (and without ``PLATE_BARE``,
    which keeps the oval too where a plate of the still camera reads it uncovered)."""
    import vidgate.watermark.pipeline as pipeline
    from vidgate.watermark import restore

    monkeypatch.setattr(pipeline, "PAD_FRAMES", 6)
    if decodes == "twice":
        monkeypatch.setattr(pipeline, "HOLD_BYTES", 0)
    if not views:
        monkeypatch.setattr(restore.IntervalMatte, "_fade_in_views", lambda self: [])
        monkeypatch.setattr(restore, "PLATE_BARE", 0.0)
    rms = _oval_rms(*_pale_oval_before_a_jump(tmp_path, range(20, 30), still=True), (27, 28, 29))
    if views:
        assert max(rms) < 2.0, rms
    else:
        assert min(rms) > 10.0, rms


@pytest.mark.parametrize(("shaped", "decodes"), [(True, "once"), (True, "twice"), (False, "once")])
def test_text_fading_in_before_its_cloud_is_filled(tmp_path, monkeypatch, shaped, decodes):
    """A real mark's text can fade in a frame or two before its cloud (the puppy video, f229:
    "Sora" at a sixth of its opacity over fur, the cloud not there yet). The whole mark then reads
    as absent against the frame before the fade-in, and the text too faint to un-blend; the text
    part, lifted in the mark's own shape (its core lifted, the pixels beside it on the same rows
    not), is filled from around. Here the text shows at 0.15 of its opacity in the 2 frames before
    the right-middle place's first full frame (the interval's padding), the camera still; the
    frame before them (without the mark) is read before the interval. ``shaped`` False: that
    filling off (the text is left lifted, as before); ``decodes``: frames held, or streamed (the
    frames before an interval kept as they went by)."""
    from tests.watermark.conftest import _overlay

    import vidgate.watermark.pipeline as pipeline
    from vidgate.watermark import restore

    if decodes == "twice":
        monkeypatch.setattr(pipeline, "HOLD_BYTES", 0)
    if not shaped:
        monkeypatch.setattr(restore, "SHAPED_LIFT", 0.0)
    a = mark_alpha()
    h, w = a.shape
    x, y = positions(a)["RM"]
    text = np.zeros_like(a)
    text[:, 30:] = a[:, 30:]  # (the cloud spans the first 26 columns)

    def add(f: np.ndarray, t: int, marked: bool) -> None:
        if marked and t in (28, 29):
            _overlay(f, 0.15 * text, x, y, [], "RM", t)  # (a schedule of its own: not the mark's)

    truth, got = _jumping_clip(tmp_path, range(24, 32), add)
    strokes = np.zeros((H, W), bool)
    strokes[y:y + h, x:x + w] = text > 0.5
    bias = [float((got[t][strokes].astype(np.float32) - truth[t][strokes]).mean()) for t in (28, 29)]
    if shaped:
        assert max(abs(b) for b in bias) < 4.0, bias
    else:
        assert min(bias) > 8.0, bias


def test_places_with_dark_strokes_are_matched_only_once_they_are_the_family(tmp_path, monkeypatch):
    """A place whose strokes are dark in a frame is not matched there (its presence is 0 whatever
    the match) until it turns out to be one of the family's: the family, the scores it reads and
    the intervals are those of matching every place in every frame, for fewer matches."""
    from tests.watermark.conftest import make_lookalike_case

    import vidgate.watermark.detect as detect_mod

    p = tmp_path / "lookalikes.mp4"
    make_lookalike_case(p, 1)
    info = probe(p)

    def run() -> tuple[Detector, list]:
        d = Detector(info.width, info.height)
        for y in iter_y(p):
            d.add(y)
        return d, d.finish()

    skipping, found = run()
    monkeypatch.setattr(detect_mod, "DARK_SKIP", -1.0)
    every, found_all = run()
    S, B = skipping._matrix()
    S_all, B_all = every._matrix()
    unscored = np.array([np.pad(u, (0, S.shape[1] - len(u))) for u in skipping.unscored])
    fam = skipping._family()
    # the look-alikes fade in and out: some of their frames were skipped, none of the family's
    assert unscored[:, ~fam].sum() > 0 and not unscored[:, fam].any()
    assert not np.array([u.any() for u in every.unscored]).any()
    assert np.array_equal(B, B_all) and np.array_equal(fam, every._family())
    assert np.array_equal(S[:, fam], S_all[:, fam])
    assert np.array_equal(S[~unscored], S_all[~unscored])
    assert [(i.start, i.end, i.box) for i in found] == [(i.start, i.end, i.box) for i in found_all]


def test_a_full_range_source_is_restored_as_a_limited_one(basic_case, tmp_path):
    """A yuvj420p (full-range) encode of the basic case: decoded to limited range, its mark's white
    is at the 235 the blend model un-blends against (read as 255 it stood 20 levels above it), and
    the box comes out as near the truth as the limited-range case's does."""
    from fractions import Fraction

    path, sched = basic_case
    full = tmp_path / "full.mp4"
    with av.open(str(path)) as src, av.open(str(full), "w") as out:
        v = out.add_stream("libx264", rate=30)
        v.width, v.height, v.pix_fmt = W, H, "yuvj420p"
        v.options = {"preset": "ultrafast", "crf": "12"}
        v.codec_context.thread_count = 1
        v.codec_context.color_range = 2
        for i, f in enumerate(src.decode(video=0)):
            g = f.reformat(format="yuvj420p", dst_color_range="JPEG")
            g.pts, g.time_base = i, Fraction(1, 30)
            for p in v.encode(g):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
    assert probe(full).color_range == 2
    t, box, truth = mid_rm(sched)
    errs = {}
    for name, clip in (("limited", path), ("full", full)):
        out = tmp_path / f"{name}_out.mp4"
        assert remove_watermark(clip, out).watermark_found
        errs[name] = np.abs(list(iter_y(out))[t][box].astype(float) - truth[box]).mean()
    # (decoded as 0-255 levels the box came out 4.4 levels off the truth on average against 2.4)
    assert errs["full"] < 1.25 * errs["limited"], errs
