"""Labels that look damaged: a misspelt class, a stray value, a class of a row or two.

A file (or a list given to ``fit``) whose labels were typed by hand or damaged on the way would
otherwise train a model with extra classes (``postive``, ``Negative``, ``7``). Unless the
classes were named (``--classes``, ``classes=``), ``check_labels`` refuses, naming the rows:

1. **Near duplicates.** Label ``a`` is taken for a misspelling of label ``b`` when
   - they are equal once case and whitespace are ignored (``Negative``, ``neg ative`` ->
     ``negative``), whatever their counts; or
   - one edit turns one into the other (a character inserted, deleted, replaced, or two
     neighbours swapped: ``postive``, ``positiv``, ``p{sitive``), both have 4 characters or
     more, neither is a number, and ``a`` holds at most a quarter of ``b``'s rows. Two tags of
     the ``known`` set (the 17 UD tags: PRON and PROPN) are never taken for each other.
   The rarer of the two is the suspect (on a tie of a case/whitespace pair, the later in sorted
   order) and the other the likely intended label.
2. **Rare classes** (with ``rare=True``: the sentiment readers and ``fit``, not tags). A class is
   too rare when it holds fewer than 2% of the rows (``50 * n < N``), or a single row of 20 or
   more. So a file of fewer than 20 rows never has a class too rare; from 20 to 99 rows a class
   needs 2 rows; from 100 rows, 2% of them.

The labels given here are strings as the reader keeps them (stripped; numbers normalised by the
reader); other labels (the integers of ``fit``) are checked by rule 2 only.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

__all__ = ["LabelFinding", "damaged_labels", "check_labels", "RARE_SHARE", "RARE_SINGLE_FROM"]

RARE_SHARE = 0.02           # a class holding fewer than this share of the rows is too rare
RARE_SINGLE_FROM = 20       # ... and so is a class of a single row among this many rows or more
SHOWN = 5                   # places listed in a message


@dataclass(frozen=True)
class LabelFinding:
    label: object               # the suspect label
    intended: object | None     # the label it was likely meant to be (None: a rare class)
    why: str                    # "case or whitespace", "one edit", "rare"
    rows: tuple[int, ...]       # indices of the rows holding the suspect, in order


def _squeezed(s: str) -> str:
    return "".join(s.split()).casefold()


def _one_edit(a: str, b: str) -> bool:
    """True if one insertion, deletion, substitution or swap of neighbours turns a into b."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), len(a))
    if len(a) < len(b):                                  # one character inserted into a
        return a[i:] == b[i + 1:]
    if a[i + 1:] == b[i + 1:]:                           # one substitution
        return True
    return a[i:i + 2] == b[i:i + 2][::-1] and a[i + 2:] == b[i + 2:]   # one swap


def _number(s) -> bool:
    return not isinstance(s, str) or s.lstrip("+-").isdigit()


def damaged_labels(labels: Sequence, rare: bool = True, known: frozenset = frozenset()) -> list[LabelFinding]:
    """Every suspect label of ``labels`` (see the module docstring), ordered by its first row."""
    counts = Counter(labels)
    names = [c for c in counts if isinstance(c, str)]
    findings: dict[object, LabelFinding] = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if a in known and b in known:
                continue
            na, nb = counts[a], counts[b]
            suspect, intended = (a, b) if (na, b) < (nb, a) else (b, a)    # the rarer; tie: later name
            if _squeezed(a) == _squeezed(b):
                why = "case or whitespace"
            elif (min(len(a), len(b)) >= 4 and not (_number(a) or _number(b))
                  and 4 * counts[suspect] <= counts[intended] and _one_edit(_squeezed(a), _squeezed(b))):
                why = "one edit"
            else:
                continue
            old = findings.get(suspect)
            if old is None or counts[intended] > counts[old.intended]:
                findings[suspect] = LabelFinding(suspect, intended, why, ())
    total = len(labels)
    if rare:
        for c, n in counts.items():
            if c not in findings and (n < RARE_SHARE * total or (n == 1 and total >= RARE_SINGLE_FROM)):
                findings[c] = LabelFinding(c, None, "rare", ())
    rows: dict[object, list[int]] = {c: [] for c in findings}
    for k, c in enumerate(labels):
        if c in rows:
            rows[c].append(k)
    out = [LabelFinding(f.label, f.intended, f.why, tuple(rows[f.label])) for f in findings.values()]
    return sorted(out, key=lambda f: f.rows[0])


def check_labels(labels: Sequence, place: Callable[[int], str], unit: str = "row",
                 what: str = "label", remedy: str = "", rare: bool = True,
                 known: frozenset = frozenset()) -> None:
    """Raise ``ValueError`` naming the first suspect's rows (``place(k)`` for row k, e.g.
    ``file:line``), the label it likely meant and how many rows each holds, and what to do
    (``remedy``); further suspects are named after it. Nothing suspect: returns."""
    findings = damaged_labels(labels, rare, known)
    if not findings:
        return
    counts = Counter(labels)
    f = findings[0]
    n = len(f.rows)
    rows = f"{n:,} {unit}{'s' if n != 1 else ''}"
    also = ""
    if n > 1:
        more = f" and {n - SHOWN:,} more" if n > SHOWN else ""
        also = f"; also at {', '.join(place(k) for k in f.rows[1:SHOWN])}{more}"
    if f.intended is None:
        share = f"{n / len(labels):.1%}" if n >= RARE_SHARE * len(labels) else f"under {RARE_SHARE:.0%}"
        reason = (f"{what} {f.label!r} holds {rows} of {len(labels):,} ({share}): too few for a class "
                  f"of its own (a damaged or stray {what}?)")
    else:
        reason = (f"{what} {f.label!r} ({rows}) differs from {f.intended!r} ({counts[f.intended]:,} "
                  f"{unit}s) only by {'case or whitespace' if f.why != 'one edit' else 'one character'}: "
                  f"a misspelt {what}?")
    others = ""
    if len(findings) > 1:
        names = ", ".join(repr(g.label) for g in findings[1:1 + SHOWN])
        others = f"; {len(findings) - 1} more suspect {what}{'s' if len(findings) > 2 else ''} ({names})"
    raise ValueError(f"{place(f.rows[0])}: {reason}{also}{others}{'; ' + remedy if remedy else ''}")
