"""Run ``bptt ARGS`` and kill it with SIGKILL at a chosen point: the crash test's victim.

    python tests/crashpoint.py KIND N ARGS...

KIND says where the process dies, N at which occurrence (from 1):

    replace   just before the N-th ``os.replace``: a temporary file complete, not yet in place
    fsync     at the N-th ``os.fsync``: the file being synced torn first (what a power cut can
              leave of data that had not reached the disk): a temporary file cut to half its
              size, an appended log cut in the middle of its last line; a folder left as it is
    rename    just before the N-th ``os.rename`` (the renames that swap a folder such as best/)
    time      N milliseconds after the start, wherever the run is
    count     no kill: at the end, print how many replace, fsync and rename calls there were, as
              JSON on stderr's last line (to choose N)

Nothing in bptt knows about this: the hooks are put on ``os`` before bptt is imported.
"""
from __future__ import annotations

import json
import os
import signal
import stat
import sys
import threading

COUNTED = ("replace", "fsync", "rename")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _tear(fd: int) -> None:
    """Cut the regular file open as ``fd``: a temporary file to half, another (an appended log)
    in the middle of its last line."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        return
    name = os.readlink(f"/proc/self/fd/{fd}")
    if name.endswith(".tmp"):
        os.truncate(name, info.st_size // 2)
        return
    with open(name, "rb") as f:
        data = f.read()
    start = data.rfind(b"\n", 0, max(len(data) - 1, 0)) + 1       # the last line begins here
    os.truncate(name, start + (len(data) - start) // 2)


def arm(kind: str, n: int) -> dict:
    """Put the hooks on ``os``; returns the call counts (filled in as the run goes)."""
    counts = {name: 0 for name in COUNTED}
    if kind == "time":
        timer = threading.Timer(n / 1000, _die)
        timer.daemon = True
        timer.start()
        return counts
    for name in COUNTED:
        real = getattr(os, name)

        def hook(*args, _name=name, _real=real, **kwargs):
            counts[_name] += 1
            if kind == _name and counts[_name] == n:
                if _name == "fsync":
                    _tear(args[0])
                _die()
            return _real(*args, **kwargs)
        setattr(os, name, hook)
    return counts


if __name__ == "__main__":
    kind, n, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    counts = arm(kind, n)
    from bptt.cli import main
    try:
        code = main(argv)
    finally:
        if kind == "count":
            print(json.dumps(counts), file=sys.stderr)
    sys.exit(code)
