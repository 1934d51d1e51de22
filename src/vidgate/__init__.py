"""vidgate: a self-hosted unified video generation API implementing the API Mall contract."""

import os

# Set before NumPy (and OpenCV's own OpenBLAS) load, for this process and the workers it spawns:
# vidgate's array work is element-wise on frames and small crops and never gains from BLAS threads,
# while OpenBLAS starts one per core that spins for ~0.1 s after start-up and after each larger
# matrix product: ~0.17 s of CPU per removal on the 2-core machine (the wall barely moves there:
# the restoring thread is the critical path; CPU matters to a server running several tasks).
# A setting of the user's own wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
