"""The project's own fuzzer: damaged copies of good files, and a verdict on what a reader did.

``mutations(data, rng, n)`` yields ``n`` (name, bytes) variants of a good file, each made by one
or two of the ``MUTATORS``: bit flips, bytes set to odd values (NUL, quote, tab, CR, 0xFF),
truncation, lines deleted, duplicated, reordered or joined, another encoding (UTF-16 with and
without its mark, Latin-1, CP1252), a huge field, byte-order marks, lone CRs and CRLFs, and the
empty file; and, when asked for, damaged labels (one edit, cut short, a stray value or another
spelling of a class). Every variant is drawn from ``rng``, so a seed gives the same inputs again.

``run(target, path, expect)`` calls ``target(path)`` on one variant and sorts the outcome:

    "clean"       a result, and ``expect(result)`` (the target's own check, e.g. that the row
                  counts add up, or that the weights equal the good file's) returns ""
    "error"       a ValueError or FileNotFoundError whose message names the file
    "silent"      a result that ``expect`` finds wrong (rows lost without a word, damaged
                  weights accepted): what the reader must never do
    "traceback"   any other exception, or an error that does not name the file: a bug

``python tests/fuzz.py [--slow]`` prints the counts of every target (``test_fuzz.py`` defines
the targets and asserts that nothing is "silent" or a "traceback").
"""
from __future__ import annotations

import signal
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

ODD_BYTES = b'\x00"\t\r\n\xff\xfe\xef,{}[]\\#'


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def flip_bits(data: bytes, rng) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        out[int(rng.integers(len(out)))] ^= 1 << int(rng.integers(8))
    return bytes(out)


def set_odd_byte(data: bytes, rng) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    out[int(rng.integers(len(out)))] = ODD_BYTES[int(rng.integers(len(ODD_BYTES)))]
    return bytes(out)


def insert_odd_byte(data: bytes, rng) -> bytes:
    i = int(rng.integers(len(data) + 1))
    return data[:i] + ODD_BYTES[int(rng.integers(len(ODD_BYTES)))].to_bytes(1, "little") + data[i:]


def truncate(data: bytes, rng) -> bytes:
    return data[: int(rng.integers(len(data) + 1))]


def delete_line(data: bytes, rng) -> bytes:
    lines = _lines(data)
    del lines[int(rng.integers(len(lines)))]
    return b"\n".join(lines)


def duplicate_line(data: bytes, rng) -> bytes:
    lines = _lines(data)
    i = int(rng.integers(len(lines)))
    lines.insert(int(rng.integers(len(lines) + 1)), lines[i])
    return b"\n".join(lines)


def reorder_lines(data: bytes, rng) -> bytes:
    lines = _lines(data)
    if rng.random() < 0.5:
        i, j = rng.integers(len(lines), size=2)
        lines[i], lines[j] = lines[j], lines[i]
    else:
        rng.shuffle(lines)
    return b"\n".join(lines)


def join_lines(data: bytes, rng) -> bytes:
    lines = _lines(data)
    if len(lines) < 2:
        return data
    i = int(rng.integers(len(lines) - 1))
    lines[i:i + 2] = [lines[i] + lines[i + 1]]
    return b"\n".join(lines)


def other_encoding(data: bytes, rng) -> bytes:
    text = data.decode("utf-8", errors="replace")
    codec = ["utf-16", "utf-16-le", "utf-16-be", "latin-1", "cp1252", "utf-32"][int(rng.integers(6))]
    return text.encode(codec, errors="replace")


def huge_field(data: bytes, rng) -> bytes:
    size = int(rng.choice([10_000, 200_000, 2_000_000]))
    filler = (b"x" if rng.random() < 0.5 else b"ab ") * (size // 3 + 1)
    i = int(rng.integers(len(data) + 1))
    return data[:i] + filler[:size] + data[i:]


def add_bom(data: bytes, rng) -> bytes:
    bom = [b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf\xef\xbb\xbf"][int(rng.integers(4))]
    return bom + data


def line_ends(data: bytes, rng) -> bytes:
    choice = int(rng.integers(3))
    if choice == 0:
        return data.replace(b"\n", b"\r\n")
    if choice == 1:                                   # old Mac: CR only
        return data.replace(b"\n", b"\r")
    lines = _lines(data)                              # a lone CR inside one line
    i = int(rng.integers(len(lines)))
    j = int(rng.integers(len(lines[i]) + 1))
    lines[i] = lines[i][:j] + b"\r" + lines[i][j:]
    return b"\n".join(lines)


def blank_out(data: bytes, rng) -> bytes:
    return [b"", b"\n", b" \n\n", b"\xef\xbb\xbf"][int(rng.integers(4))]


# ---- damaged labels: the last field of a line (after its last tab or comma) -------------------------
def _label_line(data: bytes, rng) -> tuple[list[bytes], int, int]:
    """(lines, a line holding a separator (after the first), where its last field starts)."""
    lines = _lines(data)
    rows = [i for i, x in enumerate(lines) if i > 0 and (b"\t" in x or b"," in x)] or [len(lines) - 1]
    i = int(rng.choice(rows))
    return lines, i, max(lines[i].rfind(b"\t"), lines[i].rfind(b",")) + 1


def flip_label(data: bytes, rng) -> bytes:
    """One edit of one label: a character replaced, deleted, inserted, or two neighbours swapped."""
    lines, i, k = _label_line(data, rng)
    label = bytearray(lines[i][k:])
    if len(label) < 2:
        return data
    j = int(rng.integers(len(label) - 1))
    kind = int(rng.integers(4))
    if kind == 0:
        label[j] = int(rng.choice(list(b"abcdefghijklmnopqrstuvwxyz{}0189")))
    elif kind == 1:
        del label[j]
    elif kind == 2:
        label.insert(j, int(rng.choice(list(b"aeiost"))))
    else:
        label[j], label[j + 1] = label[j + 1], label[j]
    lines[i] = lines[i][:k] + bytes(label)
    return b"\n".join(lines)


def cut_label(data: bytes, rng) -> bytes:
    """A label cut short (``positiv``, ``pos``)."""
    lines, i, k = _label_line(data, rng)
    n = len(lines[i]) - k
    lines[i] = lines[i][:k + int(rng.integers(1, max(n, 2)))]
    return b"\n".join(lines)


def stray_label(data: bytes, rng) -> bytes:
    """A label replaced by a stray value or another spelling of a class."""
    lines, i, k = _label_line(data, rng)
    lines[i] = lines[i][:k] + bytes(rng.choice([b"7", b"maybe", b"Negative", b"POSITIVE", b"posi tive", b"2"]))
    return b"\n".join(lines)


MUTATORS: dict[str, Callable] = {f.__name__: f for f in (
    flip_bits, set_odd_byte, insert_odd_byte, truncate, delete_line, duplicate_line, reorder_lines,
    join_lines, other_encoding, huge_field, add_bom, line_ends, blank_out, flip_label, cut_label, stray_label)}
DEFAULT = tuple(MUTATORS)[:13]          # the label mutators run only when asked for (``only``)
# the cheap, local damage is drawn more often than the rest
WEIGHTS = {"flip_bits": 4, "set_odd_byte": 3, "insert_odd_byte": 2, "truncate": 2, "delete_line": 2,
           "duplicate_line": 2, "reorder_lines": 2, "join_lines": 1, "other_encoding": 1, "huge_field": 1,
           "add_bom": 1, "line_ends": 1, "blank_out": 1, "flip_label": 3, "cut_label": 2, "stray_label": 2}


def mutations(data: bytes, rng: np.random.Generator, n: int,
              only: tuple[str, ...] | None = None) -> Iterator[tuple[str, bytes]]:
    """``n`` damaged variants of ``data``: (names of the mutators applied, bytes)."""
    names = list(only or DEFAULT)
    p = np.array([WEIGHTS[k] for k in names], dtype=float)
    p /= p.sum()
    for _ in range(n):
        chosen = list(rng.choice(names, size=1 + int(rng.random() < 0.25), p=p))
        out = data
        for name in chosen:
            out = MUTATORS[name](out, rng)
        yield "+".join(chosen), out


# ---- verdicts ------------------------------------------------------------------------------
@dataclass
class Tally:
    """Outcomes of one target: counts, and an example of every kind of failure."""
    counts: Counter = field(default_factory=Counter)
    failures: list[tuple[str, str, str]] = field(default_factory=list)   # (verdict, mutation, detail)
    skipped: int = 0                # rows that clean results skipped and reported (a ReadReport's)

    def add(self, verdict: str, mutation: str, detail: str) -> None:
        self.counts[verdict] += 1
        if verdict in ("silent", "traceback") and len(self.failures) < 20:
            self.failures.append((verdict, mutation, detail))

    def __str__(self) -> str:
        return ", ".join(f"{k} {self.counts[k]}" for k in ("clean", "error", "silent", "traceback")) + \
            f" (reported skips in clean results: {self.skipped})"


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def run(target: Callable[[Path], object], path: Path, expect: Callable[[object], str],
        names: tuple[str, ...], seconds: float = 20.0) -> tuple[str, str, object]:
    """(verdict, detail, result or None) of ``target(path)``; ``names``: the file names an error
    must mention."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        result = target(path)
    except _Timeout:
        return "traceback", f"no answer within {seconds} s", None
    except (ValueError, FileNotFoundError) as err:
        message = str(err)
        if not any(name in message for name in names):
            return "traceback", f"{type(err).__name__} not naming the file: {message[:300]}", None
        return "error", message, None
    except Exception as err:        # noqa: BLE001 - this is what the fuzzer looks for
        return "traceback", f"{type(err).__name__}: {str(err)[:300]}", None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    problem = expect(result)
    return ("silent", problem, result) if problem else ("clean", "", result)


def fuzz_file(target: Callable[[Path], object], good: bytes, path: Path, expect: Callable[[object, bytes], str],
              rng: np.random.Generator, n: int, names: tuple[str, ...] | None = None,
              only: tuple[str, ...] | None = None, restore: Callable[[], None] | None = None) -> Tally:
    """Write ``n`` variants of ``good`` to ``path`` in turn and judge ``target(path)`` on each;
    ``expect(result, variant)`` says what is wrong with a result ("" if nothing)."""
    tally = Tally()
    names = names or (path.name,)
    path.write_bytes(good)
    verdict, detail, _ = run(target, path, lambda result: expect(result, good), names)
    if verdict != "clean":                      # the good file itself must read: else nothing is tested
        raise AssertionError(f"the good file {path} does not read cleanly: {verdict}: {detail}")
    for mutation, data in mutations(good, rng, n, only):
        path.write_bytes(data)
        verdict, detail, result = run(target, path, lambda result: expect(result, data), names)
        tally.add(verdict, mutation, detail)
        if verdict == "clean" and isinstance(result, tuple) and hasattr(result[-1], "skipped"):
            tally.skipped += len(result[-1].skipped)
        if restore is not None:
            restore()
    path.write_bytes(good)
    return tally


if __name__ == "__main__":
    import sys
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent))
    from test_fuzz import TARGETS, fuzz_target   # noqa: E402

    n = 400 if "--slow" in sys.argv else 40
    total, skipped = Counter(), 0
    for name in TARGETS:
        with tempfile.TemporaryDirectory() as tmp:
            tally = fuzz_target(name, Path(tmp), n)
        total.update(tally.counts)
        skipped += tally.skipped
        print(f"{name:28s} {tally}")
        for verdict, mutation, detail in tally.failures[:3]:
            print(f"    {verdict} after {mutation}: {detail}")
    print(f"{'all':28s} inputs {sum(total.values())}: " + str(Tally(total, skipped=skipped)))
