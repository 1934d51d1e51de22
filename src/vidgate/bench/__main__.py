from __future__ import annotations

import sys

USAGE = ("usage: python -m vidgate.bench watermark [--cases DIR] [--frames N] [--out DIR] [--long N]\n"
         "       python -m vidgate.bench contact-sheet IN OUT.png [--out-video PATH] [--frames i,j,...]\n"
         "       python -m vidgate.bench audit IN [--out-video PATH] [--threshold R]")

if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "watermark":
        from vidgate.bench.watermark import main

        sys.exit(main(args[1:]))
    if args and args[0] == "contact-sheet":
        from vidgate.bench.contact_sheet import main as sheet_main

        sys.exit(sheet_main(args[1:]))
    if args and args[0] == "audit":
        from vidgate.bench.audit import main as audit_main

        sys.exit(audit_main(args[1:]))
    sys.exit(USAGE)
