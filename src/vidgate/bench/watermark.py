"""Watermark-remover benchmark: vidgate vs delogo / Telea (given the TRUE mask) vs plain re-encode.

Without ``--cases`` it generates synthetic cases itself (a moving textured scene with a Sora-like
mark cycling through three positions; truth known). With ``--cases DIR`` it runs on case folders
built by ``wm_eval/make_cases.py`` (input.mp4, truth.mp4, mask.npz, case.json). Scores on luma:
box PSNR (mean and 5th percentile frame), box SSIM, flicker, frames per second, and damage outside
the mark (pixels a method moved away from the truth where there was no mark to remove).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import shutil
import subprocess
import tempfile
import time
from datetime import date
from itertools import repeat
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from vidgate.media.video import copy_video, iter_y
from vidgate.watermark import remove_watermark


def _ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float32), b.astype(np.float32)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def bl(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    ma, mb = bl(a), bl(b)
    saa, sbb, sab = bl(a * a) - ma * ma, bl(b * b) - mb * mb, bl(a * b) - ma * mb
    return ((2 * ma * mb + c1) * (2 * sab + c2)) / ((ma * ma + mb * mb + c1) * (saa + sbb + c2))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    m = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return 100.0 if m < 1e-10 else min(100.0, 10 * np.log10(255.0**2 / m))


DAMAGE_LEVELS = 20  # a pixel is damaged where the output is this much further from the truth than the input
DAMAGE_MARGIN = 16  # px around the mark's box left out (a detected box's own margin of scenery)
DAMAGE_MIN = 50  # a case counts as damaged from this many damaged pixels in a frame (not a codec speck)


def _damage(y: np.ndarray, r: np.ndarray, i: np.ndarray, b: tuple[int, int, int, int] | None) -> int:
    """Pixels of the output ``y`` outside the mark's box ``b`` (grown by ``DAMAGE_MARGIN``) that
    moved ``DAMAGE_LEVELS`` or more further from the truth ``r`` than the input ``i`` was: what a
    remover broke where there was nothing to remove (bright scenery taken for the mark). Box PSNR
    never sees it."""
    r16 = r.astype(np.int16)
    worse = np.abs(y.astype(np.int16) - r16) - np.abs(i.astype(np.int16) - r16) >= DAMAGE_LEVELS
    if b is not None:
        x0, y0, x1, y1 = b
        worse[max(0, y0 - DAMAGE_MARGIN):y1 + DAMAGE_MARGIN, max(0, x0 - DAMAGE_MARGIN):x1 + DAMAGE_MARGIN] = False
    return int(np.count_nonzero(worse))


def score(out: Path, truth: Path, boxes: list[tuple[int, int, int, int] | None],
          inp: Path | None = None) -> dict[str, float]:
    """Luma scores of ``out`` against ``truth`` over the mark's per-frame ``boxes``; with the
    watermarked input ``inp``, also ``damage``: the most damaged pixels outside the mark in a frame."""
    bp, bs, fl = [], [], []
    damage = 0
    prev = None
    frames = zip(iter_y(out), iter_y(truth), iter_y(inp) if inp is not None else repeat(None), strict=False)
    for t, (y, r, i) in enumerate(frames):
        b = boxes[t] if t < len(boxes) else None
        if i is not None:
            damage = max(damage, _damage(y, r, i, b))
        if b is not None:
            x0, y0, x1, y1 = b
            bp.append(_psnr(y[y0:y1, x0:x1], r[y0:y1, x0:x1]))
            bs.append(float(_ssim_map(y, r)[y0:y1, x0:x1].mean()))
            if prev is not None and prev[2] == b:
                d = (y[y0:y1, x0:x1].astype(np.float32) - prev[0][y0:y1, x0:x1]) - \
                    (r[y0:y1, x0:x1].astype(np.float32) - prev[1][y0:y1, x0:x1])
                fl.append(float(np.abs(d).mean()))
        prev = (y.copy(), r.copy(), b)
    return {"box_psnr": float(np.mean(bp)), "box_psnr_p5": float(np.percentile(bp, 5)),
            "box_ssim": float(np.mean(bs)), "flicker": float(np.mean(fl)) if fl else 0.0, "damage": damage}


# --- synthetic cases ------------------------------------------------------------------------------

def _mark(scale: float) -> np.ndarray:
    w, h = int(150 * scale), int(52 * scale)
    m = np.zeros((h, w), np.uint8)
    r = int(19 * scale)
    cx, cy = r + 4, h // 2
    for dx, dy, rr in ((0, 0, r), (-r // 2, -r // 2, r // 2 + 2), (r // 2, -r // 3, r // 2 + 2)):
        cv2.circle(m, (cx + dx, cy + dy), rr, 255, -1, cv2.LINE_AA)
    for dx in (-5, 5):
        cv2.circle(m, (cx + int(dx * scale), cy), max(2, int(3 * scale)), 0, -1, cv2.LINE_AA)
    cv2.putText(m, "Sora", (2 * r + 12, int(h * 0.72)), cv2.FONT_HERSHEY_SIMPLEX, 1.0 * scale, 255,
                max(1, int(3 * scale)), cv2.LINE_AA)
    return cv2.GaussianBlur(m.astype(np.float32) / 255, (3, 3), 0.8) * 0.74


def make_synthetic(folder: Path, w: int, h: int, n: int, hold: int, seed: int, crf: int = 18,
                   bright: bool = False, threads: int | None = None) -> dict:
    """A synthetic case: truth at CRF 18, the watermarked input at ``crf`` (real Sora videos are
    coded at about CRF 24: a higher one shows what the codec's coarser errors do). ``bright``: the
    texture squeezed into 215-253 (a busy near-white scene: the mark adds only 10-30 levels).
    ``threads``: x264's threads (its output depends on them; default: one per core)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (h // 6 + 40, w // 6 + 40, 3)).astype(np.uint8)
    big = cv2.resize(base, (w + 240, h + 240), interpolation=cv2.INTER_CUBIC)
    if bright:
        big = np.round(215 + 0.15 * big.astype(np.float32)).astype(np.uint8)
    a = _mark(min(w, h) / 704)
    mh, mw = a.shape
    pos = [(int(0.05 * w), int(0.09 * h)), (w - mw - int(0.05 * w), (h - mh) // 2),
           (int(0.05 * w), h - mh - int(0.09 * h))]
    phase = int(rng.integers(0, hold * 3))
    boxes = []
    folder.mkdir(parents=True, exist_ok=True)
    procs = {}
    for name, q in (("truth.mp4", 18), ("input.mp4", crf)):  # frames are streamed: memory flat in length
        cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "30",
               "-i", "-", "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={n / 30}",
               "-map", "0:v", "-map", "1:a", "-c:a", "aac", "-c:v", "libx264", "-preset", "medium", "-crf", str(q),
               *(["-threads", str(threads)] if threads else []), "-pix_fmt", "yuv420p", str(folder / name)]
        procs[name] = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    for t in range(n):
        dx, dy = int(120 + 100 * np.sin(t / 23)), (t * 2) % 240
        f = big[dy:dy + h, dx:dx + w].copy()
        x, y = pos[((t + phase) // hold) % 3]
        g = f.astype(np.float32)
        g[y:y + mh, x:x + mw] = a[..., None] * 255 + (1 - a[..., None]) * g[y:y + mh, x:x + mw]
        for name, frame in (("truth.mp4", f), ("input.mp4", np.clip(np.round(g), 0, 255).astype(np.uint8))):
            stdin = procs[name].stdin
            assert stdin is not None
            stdin.write(frame.tobytes())
        boxes.append((max(0, x - 8), max(0, y - 8), min(w, x + mw + 8), min(h, y + mh + 8)))
    for p in procs.values():
        assert p.stdin is not None
        p.stdin.close()
        if p.wait():
            raise RuntimeError("ffmpeg failed")
    masks = [(a > 0.02) for _ in range(1)]
    meta = {"name": folder.name, "frames": n, "width": w, "height": h, "boxes": boxes,
            "mark": {"pos": pos, "hold": hold, "phase": phase, "shape": [mh, mw]}}
    np.savez_compressed(folder / "mask_small.npz", mask=masks[0])
    (folder / "bench.json").write_text(json.dumps(meta))
    return meta


def _case_masks(folder: Path, meta: dict):
    """Per-frame true mask (bool HxW) generator for either case flavour."""
    if (folder / "mask.npz").exists():
        yield from np.load(folder / "mask.npz")["mask"]
        return
    small = np.load(folder / "mask_small.npz")["mask"]
    mh, mw = small.shape
    hold, phase = meta["mark"]["hold"], meta["mark"]["phase"]
    for t in range(meta["frames"]):
        m = np.zeros((meta["height"], meta["width"]), bool)
        x, y = meta["mark"]["pos"][((t + phase) // hold) % 3]
        m[y:y + mh, x:x + mw] = small
        yield cv2.dilate(m.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0


def _load_case(folder: Path) -> dict:
    if (folder / "case.json").exists():
        c = json.loads((folder / "case.json").read_text())
        W, H = c["width"], c["height"]
        boxes = [None if fi["box"] is None else (max(fi["box"][0] - 8, 0), max(fi["box"][1] - 8, 0),
                                                 min(fi["box"][2] + 8, W), min(fi["box"][3] + 8, H))
                 for fi in c["frame_info"]]
        return {"name": c["name"], "frames": c["frames"], "width": W, "height": H, "boxes": boxes}
    return json.loads((folder / "bench.json").read_text())


# --- methods ----------------------------------------------------------------------------------------

def run_telea(folder: Path, meta: dict, out: Path) -> None:
    from vidgate.media.video import VideoWriter, iter_frames, probe

    tb = probe(folder / "input.mp4").time_base
    masks = _case_masks(folder, meta)
    with VideoWriter(out, width=meta["width"], height=meta["height"], fps=30, time_base=tb,
                     audio_from=folder / "input.mp4", preset="medium", crf=18) as w:
        for fr, m in zip(iter_frames(folder / "input.mp4"), masks, strict=False):
            if m.any():
                rgb = cv2.cvtColor(fr.yuv, cv2.COLOR_YUV2RGB_I420)
                rgb = cv2.inpaint(rgb, m.astype(np.uint8), 3, cv2.INPAINT_TELEA)
                fr.yuv[:] = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
            w.write(fr.yuv, fr.pts)


def run_delogo(folder: Path, meta: dict, out: Path) -> None:
    boxes = [b for b in meta["boxes"] if b is not None]
    runs, cur = [], None
    for t, b in enumerate(meta["boxes"]):
        if b is None:
            continue
        if cur and cur[0] == b and cur[2] == t - 1:
            cur[2] = t
        else:
            cur = [b, t, t]
            runs.append(cur)
    W, H = meta["width"], meta["height"]
    filt = ",".join(f"delogo=x={max(b[0], 1)}:y={max(b[1], 1)}:w={min(b[2], W - 1) - max(b[0], 1)}:"
                    f"h={min(b[3], H - 1) - max(b[1], 1)}:enable='between(n,{s},{e})'" for b, s, e in runs) or "null"
    del boxes
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(folder / "input.mp4"), "-vf", filt, "-c:v", "libx264",
                    "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "copy", str(out)], check=True)


def run_reencode_ffmpeg(folder: Path, meta: dict, out: Path) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(folder / "input.mp4"), "-c:v", "libx264", "-preset",
                    "medium", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "copy", str(out)], check=True)


def _own_peak_mib() -> float:
    """This process's own peak RSS (MiB). Linux's ``ru_maxrss`` carries the parent's peak across the
    spawn's fork and exec (it read the benchmark's own growing footprint, case after case); the
    address space's high-water mark (``VmHWM``) starts afresh at exec."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child(inp: str, out: str, q: Any) -> None:
    rep = remove_watermark(Path(inp), Path(out))
    q.put((_own_peak_mib(), rep.watermark_found, rep.timings))


def remove_in_child(inp: Path, out: Path) -> tuple[float, bool, dict[str, dict[str, float]]]:
    """Run the remover in a fresh (spawned) process, as the worker does; returns (peak RSS MiB, found,
    the report's phase timings)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(str(inp), str(out), q))
    p.start()
    rss, found, timings = q.get()
    p.join()
    return float(rss), bool(found), timings


PEAK_RSS: dict[str, float] = {}
PHASES: dict[str, dict[str, list[float]]] = {}  # phase -> {"seconds"|"cpu_seconds": per case}


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the remover and ffmpeg
    run as children; the Telea baseline here)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run_vidgate(folder: Path, meta: dict, out: Path) -> None:
    PEAK_RSS[meta["name"]], _, timings = remove_in_child(folder / "input.mp4", out)
    for phase, t in timings.items():
        for k, v in t.items():
            PHASES.setdefault(phase, {}).setdefault(k, []).append(v)


def run_copy_fast(folder: Path, meta: dict, out: Path) -> None:
    copy_video(folder / "input.mp4", out)


METHODS = {"vidgate": run_vidgate, "reencode (ffmpeg medium crf18)": run_reencode_ffmpeg,
           "decode+encode (vidgate's encoder settings)": run_copy_fast,
           "delogo (true box)": run_delogo, "telea (true mask)": run_telea}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m vidgate.bench watermark", description=__doc__)
    ap.add_argument("--cases", type=Path, help="folder of wm_eval case folders (optional)")
    ap.add_argument("--frames", type=int, default=150, help="frames per synthetic case")
    ap.add_argument("--out", type=Path, help="work folder (default: a temp dir)")
    ap.add_argument("--md", type=Path, help="also write the markdown table here")
    ap.add_argument("--crf", type=int, default=18, help="libx264 CRF of the synthetic cases' watermarked input "
                    "(truth stays at 18; real Sora videos are coded at about 24)")
    ap.add_argument("--bright", action="store_true", help="also the synthetic cases over a busy near-white "
                    "scene (faint on white)")
    ap.add_argument("--long", type=int, default=0, help="also measure peak RSS on a synthetic 704x1280 video "
                    "of this many frames (memory must not grow with length)")
    a = ap.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        print("ffmpeg is needed on PATH for the baselines")
        return 2
    work = a.out or Path(tempfile.mkdtemp(prefix="vidgate-bench-"))
    if a.cases:
        folders = sorted(p for p in a.cases.iterdir() if (p / "case.json").exists())
    else:
        folders = []
        for bright in (False, True) if a.bright else (False,):
            for i, (w, h) in enumerate(((704, 1280), (640, 360))):
                f = work / "cases" / f"synthetic_{w}x{h}{'_bright' if bright else ''}"
                make_synthetic(f, w, h, a.frames, 67, seed=20251121 + i, crf=a.crf, bright=bright)
                folders.append(f)
    rows: dict[str, list[dict]] = {m: [] for m in METHODS}
    for folder in folders:
        meta = _load_case(folder)
        for name, fn in METHODS.items():
            out = work / "out" / folder.name / (name.split()[0] + ".mp4")
            out.parent.mkdir(parents=True, exist_ok=True)
            t0, c0 = time.monotonic(), _cpu_seconds()
            fn(folder, meta, out)
            dt, cpu = time.monotonic() - t0, _cpu_seconds() - c0
            s = score(out, folder / "truth.mp4", meta["boxes"], folder / "input.mp4")
            s.update(fps=meta["frames"] / dt, wall=dt, cpu=cpu, case=meta["name"])
            rows[name].append(s)
            print(f"[{meta['name']}] {name}: box PSNR {s['box_psnr']:.2f} dB, {s['fps']:.1f} fps, "
                  f"{dt:.2f} s wall, {cpu:.2f} CPU-s, damaged outside the mark {s['damage']} px", flush=True)
        s = score(folder / "input.mp4", folder / "truth.mp4", meta["boxes"])  # (no damage: it is the input)
        rows.setdefault("(do nothing: input)", []).append(dict(s, fps=float("nan"), wall=float("nan"),
                                                               cpu=float("nan"), case=meta["name"]))
    lines = [f"Machine: {platform.machine()}, {platform.processor() or platform.system()}, "
             f"{__import__('os').cpu_count()} CPUs; date {date.today().isoformat()}; PyAV {av.__version__}",
             "", "| method | cases | box PSNR | box PSNR p5 | box SSIM | flicker | fps | CPU-s per case "
             "| damaged outside the mark (cases; worst frame px) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, rs in rows.items():
        fps = [r["fps"] for r in rs if r["fps"] == r["fps"]]
        cpu = [r["cpu"] for r in rs if r["cpu"] == r["cpu"]]
        lines.append(f"| {name} | {len(rs)} | {np.mean([r['box_psnr'] for r in rs]):.2f} | "
                     f"{np.mean([r['box_psnr_p5'] for r in rs]):.2f} | {np.mean([r['box_ssim'] for r in rs]):.4f} | "
                     f"{np.mean([r['flicker'] for r in rs]):.2f} | {np.mean(fps) if fps else float('nan'):.1f} | "
                     f"{np.mean(cpu) if cpu else float('nan'):.2f} | "
                     f"{sum(r['damage'] >= DAMAGE_MIN for r in rs)}; {max(r['damage'] for r in rs)} |")
    ours, floor = rows["vidgate"], rows["reencode (ffmpeg medium crf18)"]
    # the speed target is the whole run's time against the re-encode's, case by case summed; the
    # CPU time says how much of a gap is work and how much is cores left idle
    lines += ["", f"vidgate against the re-encode: {sum(r['wall'] for r in floor) / sum(r['wall'] for r in ours):.2f}x "
              f"as fast (wall), {sum(r['cpu'] for r in ours) / sum(r['cpu'] for r in floor):.2f}x its CPU time"]
    if PHASES:
        # (inside the remover's process: its start-up and imports are the rest of its wall time)
        lines += ["", "vidgate's phases, summed over the cases (wall s / CPU-s / cores kept busy): " + ", ".join(
            f"{phase} {sum(t['seconds']):.2f} / {sum(t['cpu_seconds']):.2f} / "
            f"{sum(t['cpu_seconds']) / max(sum(t['seconds']), 1e-9):.2f}" for phase, t in PHASES.items())]
    if PEAK_RSS:
        lines += ["", "Peak RSS of the vidgate remover process (spawned, as in the worker): " + ", ".join(
            f"{k} {v:.0f} MiB" for k, v in PEAK_RSS.items())]
    if a.long:
        f = work / "cases" / f"long_704x1280_{a.long}"
        make_synthetic(f, 704, 1280, a.long, 67, seed=7)
        t0 = time.monotonic()
        rss, found, _ = remove_in_child(f / "input.mp4", work / "out" / "long.mp4")
        dt = time.monotonic() - t0
        lines.append(f"Long video ({a.long} frames, 704x1280): peak RSS {rss:.0f} MiB, {a.long / dt:.1f} fps, "
                     f"watermark found: {found}")
    text = "\n".join(lines)
    print(text)
    if a.md:
        a.md.write_text(text + "\n")
    return 0
