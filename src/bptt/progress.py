"""Progress that suits where it is shown: a tqdm bar on a terminal, a few plain lines in a log.

A bar redraws itself with ``\\r`` many times a second; on a terminal that is one moving line, in
a log file (``bptt train ... 2> train.log``, CI, nohup) it is hundreds of kilobytes of partial
lines. So ``progress_bar`` looks at the stream it writes to (standard error, like tqdm):

- a terminal: a tqdm bar;
- anything else: a ``LineProgress``, which writes one complete line every ``every`` seconds
  (``desc: done/total unit, rate, postfix``) and nothing at close, so a short loop (an epoch
  that takes less than ``every``) leaves only the summary line its caller writes;
- disabled (``enabled=False``): nothing at all.

Both take ``update(n)``, ``set_postfix(**values)`` and ``close()``; pooch's downloader also
reads and sets ``total`` and calls ``reset()``.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

LOG_EVERY = 60.0    # seconds between lines in a log


def is_terminal(stream: TextIO | None) -> bool:
    """Whether ``stream`` is an interactive terminal (False for files, pipes and None)."""
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):      # no isatty, or a closed stream
        return False


class LineProgress:
    """Progress for logs: a whole line every ``every`` seconds, no carriage returns."""

    def __init__(self, total: int | None = None, desc: str = "", unit: str = "it", initial: int = 0,
                 file: TextIO | None = None, every: float = LOG_EVERY, clock=time.monotonic):
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.file, self.every, self.clock = file, every, clock
        self.start = self.last = clock()
        self.start_n = initial
        self.postfix = ""

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            self._write(now)

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def reset(self, total: int | None = None) -> None:
        """Count from 0 again (as tqdm's reset: ``total`` None keeps the total)."""
        self.n, self.start_n = 0, 0
        self.total = self.total if total is None else total
        self.start = self.last = self.clock()

    def close(self) -> None:
        pass

    def _write(self, now: float) -> None:
        done = f"{self.n:,}" if self.total is None else f"{self.n:,}/{self.total:,}"
        rate = (self.n - self.start_n) / max(now - self.start, 1e-9)
        parts = [f"{done} {self.unit}", f"{rate:,.1f} {self.unit}/s"] + [self.postfix] * bool(self.postfix)
        print(f"{self.desc}: {', '.join(parts)}", file=self.file or sys.stderr, flush=True)

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress_bar(total: int | None = None, desc: str = "", unit: str = "it", initial: int = 0,
                 enabled: bool = True, file: TextIO | None = None, every: float = LOG_EVERY, **tqdm_kwargs):
    """A tqdm bar if ``file`` (default standard error) is a terminal, else a ``LineProgress``."""
    stream = file if file is not None else sys.stderr
    if enabled and not is_terminal(stream):
        return LineProgress(total, desc, unit, initial, stream, every)
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, disable=not enabled, file=stream,
                **tqdm_kwargs)
