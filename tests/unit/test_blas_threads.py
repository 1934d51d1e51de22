"""Importing vidgate keeps BLAS on one thread unless the user chose otherwise (see vidgate/__init__)."""

from __future__ import annotations

import os
import subprocess
import sys


def _blas_threads_seen(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if env_value is not None:
        env["OPENBLAS_NUM_THREADS"] = env_value
    code = "import vidgate, os, numpy; print(os.environ['OPENBLAS_NUM_THREADS'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_import_sets_one_blas_thread_by_default():
    assert _blas_threads_seen(None) == "1"


def test_a_users_own_setting_wins():
    assert _blas_threads_seen("3") == "3"


def test_no_cpu_spent_spinning_after_import():
    """OpenBLAS's idle threads spin for ~0.1 s after NumPy loads; with one thread there are none:
    the process uses (next to) no CPU while it sleeps after importing vidgate and cv2."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    code = ("import vidgate, cv2, numpy, time\n"
            "t = time.process_time(); time.sleep(0.3); print(time.process_time() - t)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert float(out.stdout) < 0.02
