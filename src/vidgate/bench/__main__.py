from __future__ import annotations

import sys

from vidgate.bench.watermark import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0] != "watermark":
        sys.exit("usage: python -m vidgate.bench watermark [--cases DIR] [--frames N] [--out DIR]")
    sys.exit(main(args[1:]))
