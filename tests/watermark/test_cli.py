"""``vidgate remove-watermark`` as a user runs it: a subprocess, exit codes, the JSON report."""

from __future__ import annotations

import json
import subprocess
import sys

from vidgate.media.video import probe


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vidgate", "remove-watermark", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_removes_and_reports_json(basic_case, tmp_path):
    path, sched = basic_case
    out = tmp_path / "clean.mp4"
    r = _run(str(path), str(out), "--json", "--timings")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["watermark_found"] and report["frames"] == probe(path).frames
    # --timings: one line per phase on stderr, the same figures as the report's
    rows = {ln.split()[0]: ln.split()[1:] for ln in r.stderr.splitlines() if ln.split()[:1] and ln.split()[0] in
            report["timings"]}
    assert list(rows) == ["decode", "analysis", "mattes", "restore"]
    assert all(float(rows[k][0]) == round(report["timings"][k]["seconds"], 2) for k in rows)
    assert len(report["positions"]) == len(sched)
    assert probe(out).frames == probe(path).frames


def test_cli_bad_input_is_one_clear_error(tmp_path):
    bad = tmp_path / "not-a-video.mp4"
    bad.write_bytes(b"hello, this is text")
    r = _run(str(bad), str(tmp_path / "out.mp4"))
    assert r.returncode == 1
    assert "error:" in r.stderr and "Traceback" not in r.stderr + r.stdout
    assert not (tmp_path / "out.mp4").exists()


def test_cli_usage_errors_exit_2(tmp_path):
    r = _run(str(tmp_path / "in.mp4"))  # OUTPUT missing
    assert r.returncode == 2 and "OUTPUT" in r.stderr
    # an OUTPUT that cannot be written is said before the work, not after it
    r = _run(str(tmp_path / "in.mp4"), str(tmp_path / "no" / "such" / "out.mp4"))
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    r = _run(str(tmp_path / "in.mp4"), str(tmp_path))
    assert r.returncode == 2 and "is a folder" in r.stderr


def test_cli_output_may_be_the_input(basic_case, tmp_path):
    """The input replaced by its cleaned copy: read whole first (its audio is read as the output is
    written: written in place, the input was cut short under the reader and the audio lost)."""
    import shutil

    from tests.watermark.test_watermark import _packets

    path, _ = basic_case
    same = tmp_path / "same.mp4"
    shutil.copy(path, same)
    r = _run(str(same), str(same))
    assert r.returncode == 0, r.stderr
    assert probe(same).frames == probe(path).frames
    assert _packets(same, "audio") == _packets(path, "audio")
    assert [p.name for p in tmp_path.iterdir()] == ["same.mp4"]  # (no partial file left beside it)


def test_cli_encoder_defaults_are_the_libraries():
    """The CLI keeps its imports light (its defaults are written out); they must stay the library's."""
    from vidgate.media.video import DEFAULT_CRF, DEFAULT_PRESET
    from vidgate.watermark.cli import remove_watermark_cli

    opts = {p.name: p.default for p in remove_watermark_cli.params}
    assert opts["crf"] == DEFAULT_CRF and opts["preset"] == DEFAULT_PRESET
