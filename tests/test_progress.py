"""progress: a bar on a terminal, whole lines every N seconds in a log."""
import io

from bptt.progress import LineProgress, is_terminal, progress_bar


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_line_progress_writes_a_whole_line_every_n_seconds():
    out, clock = io.StringIO(), Clock()
    bar = LineProgress(total=100, desc="epoch 1/2", unit="batch", file=out, every=10.0, clock=clock)
    for step in range(100):
        clock.now = (step + 1) * 0.5            # 0.5 s a batch: a line at 10 s, 20 s, ... 50 s
        bar.set_postfix(loss="0.5000")
        bar.update()
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines == [f"epoch 1/2: {n}/100 batch, 2.0 batch/s, loss=0.5000" for n in (20, 40, 60, 80, 100)]


def test_line_progress_counts_from_initial_after_a_resume():
    out, clock = io.StringIO(), Clock()
    bar = LineProgress(total=10, desc="d", unit="b", initial=6, file=out, every=1.0, clock=clock)
    clock.now = 2.0
    bar.update(2)
    assert out.getvalue() == "d: 8/10 b, 1.0 b/s\n"


def test_progress_bar_is_lines_in_a_file_and_a_bar_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert isinstance(progress_bar(5, file=io.StringIO()), LineProgress)
    terminal = Terminal()
    bar = progress_bar(5, desc="x", file=terminal)
    bar.update(5)
    bar.close()
    assert not isinstance(bar, LineProgress) and "\r" in terminal.getvalue()
    assert is_terminal(terminal) and not is_terminal(None) and not is_terminal(io.StringIO())


def test_disabled_progress_writes_nothing():
    out = io.StringIO()
    bar = progress_bar(5, file=out, enabled=False)
    bar.update(5)
    bar.close()
    assert out.getvalue() == ""
