#!/usr/bin/env python3
"""Every symbol libmsnc exports starts with msnc_, so the library can be
linked next to anything else (its internal helpers included: a static
archive exports them too).

usage: test_symbols.py LIBMSNC_ARCHIVE"""
import subprocess
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = subprocess.run(["nm", "-g", "--defined-only", sys.argv[1]], check=True, capture_output=True,
                         text=True).stdout
    symbols = [line.split()[-1] for line in out.splitlines() if len(line.split()) == 3]
    if not symbols:
        sys.exit("no symbols found in %s" % sys.argv[1])
    bad = sorted(s for s in symbols if not s.startswith("msnc_"))
    if bad:
        sys.exit("exported without the msnc_ prefix: %s" % ", ".join(bad))
    print("%d exported symbols, all msnc_*" % len(symbols))


if __name__ == "__main__":
    main()
