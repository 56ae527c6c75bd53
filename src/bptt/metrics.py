r"""Metrics: the confusion matrix, a per-class precision / recall / F1 report, and token accuracy
(tagging: ``token_accuracy``, ``accuracy_report``, at the end of this file).

Labels are class ids in [0, C). With M the confusion matrix (rows = true class, columns =
predicted class), for each class c:

    TP_c = M[c, c]      FP_c = sum_r M[r, c] - TP_c      FN_c = sum_k M[c, k] - TP_c
    precision_c = TP_c / (TP_c + FP_c)        (of the examples predicted c, the share that are c)
    recall_c    = TP_c / (TP_c + FN_c)        (of the examples that are c, the share found)
    F1_c        = 2 TP_c / (2 TP_c + FP_c + FN_c)     (= 2 P R / (P + R) where that is defined)
    support_c   = TP_c + FN_c                 (how many examples are truly c)
    accuracy    = trace(M) / sum(M)

Zero division is defined as 0.0, never nan and never a warning: the precision of a class that
was never predicted, the recall of a class with no examples, the F1 of a class with neither
examples nor predictions, and the accuracy of zero examples are all 0.0 (scikit-learn's
``zero_division=0``). Averages:

    macro    = mean over the C classes (every class counts once, 0.0s included)
    weighted = sum_c support_c * metric_c / sum_c support_c   (0.0 when there are no examples)

Everything is vectorised: one ``np.bincount`` builds M, the rest is arithmetic on (C,) arrays.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .data.tagged import TaggedSentence

__all__ = ["confusion_matrix", "classification_report", "Report"]


def _labels(y: object, num_classes: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (N,), got shape {y.shape}")
    if y.size and not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool):
        if not (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y))):
            raise TypeError(f"{name} must hold integer class ids, got dtype {y.dtype} "
                            f"(floats are accepted only when every value is a whole number)")
    y = y.astype(np.int64)
    bad = (y < 0) | (y >= num_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}] = {int(y[i])} is outside the valid range "
                         f"[0, {num_classes - 1}] for num_classes = {num_classes}")
    return y


def confusion_matrix(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                     num_classes: int) -> np.ndarray:
    """Counts of (true, predicted) pairs: (C, C) int64, ``M[t, p]`` = #{n : y_true_n = t, y_pred_n = p}.

    y_true, y_pred: (N,) integer class ids in [0, num_classes). Rows are true classes, columns
    predicted classes (scikit-learn's convention).
    """
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    C = int(num_classes)
    t = _labels(y_true, C, "y_true")
    p = _labels(y_pred, C, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {t.size} and {p.size}")
    return np.bincount(t * C + p, minlength=C * C).astype(np.int64).reshape(C, C)  # (C, C)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise as float64, 0.0 where den == 0."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Report:
    """What ``classification_report`` returns. Per-class arrays are (C,), read-only, in the
    order of ``classes``; ``confusion`` is the (C, C) int64 matrix (rows = true, cols = predicted).
    ``str(report)`` is a plain-text table; ``to_dict()`` is plain JSON-ready Python values.
    """

    classes: tuple[str, ...]
    accuracy: float
    precision: np.ndarray        # (C,) float64
    recall: np.ndarray           # (C,) float64
    f1: np.ndarray               # (C,) float64
    support: np.ndarray          # (C,) int64
    macro_avg: dict[str, float]  # {"precision", "recall", "f1"}
    weighted_avg: dict[str, float]
    confusion: np.ndarray        # (C, C) int64

    @property
    def total(self) -> int:
        return int(self.support.sum())

    def to_dict(self) -> dict:
        """{"classes", "accuracy", "support", "per_class": {name: {precision, recall, f1, support}},
        "macro_avg", "weighted_avg", "confusion_matrix": [[...]]}: only str, int, float, list, dict."""
        per_class = {name: {"precision": float(self.precision[c]), "recall": float(self.recall[c]),
                            "f1": float(self.f1[c]), "support": int(self.support[c])}
                     for c, name in enumerate(self.classes)}
        return {"classes": list(self.classes), "accuracy": float(self.accuracy),
                "support": self.total, "per_class": per_class,
                "macro_avg": dict(self.macro_avg), "weighted_avg": dict(self.weighted_avg),
                "confusion_matrix": self.confusion.tolist()}

    def __str__(self) -> str:
        w = max([len("weighted avg")] + [len(n) for n in self.classes])
        row = lambda name, cells: f"{name:>{w}} " + "".join(f"{c:>10}" for c in cells)
        n = self.total
        lines = [row("", ["precision", "recall", "f1-score", "support"]), ""]
        for c, name in enumerate(self.classes):
            lines.append(row(name, [f"{self.precision[c]:.4f}", f"{self.recall[c]:.4f}",
                                    f"{self.f1[c]:.4f}", str(int(self.support[c]))]))
        lines.append("")
        lines.append(row("accuracy", ["", "", f"{self.accuracy:.4f}", str(n)]))
        for name, avg in (("macro avg", self.macro_avg), ("weighted avg", self.weighted_avg)):
            lines.append(row(name, [f"{avg['precision']:.4f}", f"{avg['recall']:.4f}",
                                    f"{avg['f1']:.4f}", str(n)]))
        lines += ["", "confusion matrix (rows = true, columns = predicted):"]
        cw = max([len(name) for name in self.classes] + [len(str(int(self.confusion.max(initial=0))))])
        lines.append(" " * (w + 1) + "".join(f"{name:>{cw + 2}}" for name in self.classes))
        for c, name in enumerate(self.classes):
            lines.append(f"{name:>{w}} " + "".join(f"{int(v):>{cw + 2}}" for v in self.confusion[c]))
        return "\n".join(lines)


def classification_report(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                          classes: Sequence[object] | int) -> Report:
    """Accuracy, per-class precision / recall / F1 / support, macro and weighted averages and the
    confusion matrix (formulas and the zero-division rule in the module docstring).

    y_true, y_pred: (N,) class ids in [0, C). classes: the C class names in id order
    (e.g. ``["negative", "positive"]``), or just C, which names them "0" ... "C-1".
    """
    if isinstance(classes, (int, np.integer)):
        classes = [str(c) for c in range(int(classes))]
    names = tuple(str(c) for c in classes)
    if not names:
        raise ValueError("classes must name at least one class, got none")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"class names must be distinct, got duplicates {dup}")
    M = confusion_matrix(y_true, y_pred, len(names))            # (C, C)
    tp = np.diag(M)                                              # (C,)
    support = M.sum(axis=1)                                      # (C,) true counts
    predicted = M.sum(axis=0)                                    # (C,) predicted counts
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * tp, support + predicted)                     # 2TP / (2TP + FP + FN)
    n = support.sum()
    share = _ratio(support, n)                                   # (C,) weights, 0 when n = 0
    avg = lambda weights: {k: float(np.dot(weights, v))
                           for k, v in (("precision", precision), ("recall", recall), ("f1", f1))}
    return Report(classes=names, accuracy=float(_ratio(tp.sum(), n)),
                  precision=_frozen(precision), recall=_frozen(recall), f1=_frozen(f1),
                  support=_frozen(support.astype(np.int64)),
                  macro_avg=avg(np.full(len(names), 1.0 / len(names))), weighted_avg=avg(share),
                  confusion=_frozen(M))


# ---- tagging ---------------------------------------------------------------------------------
def token_accuracy(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> float:
    """Share of tokens whose predicted tag equals the gold tag, over all sentences."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    right = total = 0
    for i, (g, p) in enumerate(zip(gold, predicted)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")
        right += sum(a == b for a, b in zip(g, p))
        total += len(g)
    if total == 0:
        raise ValueError("no tokens to score")
    return right / total


def accuracy_report(sentences: Sequence[TaggedSentence], predicted: Sequence[Sequence[str]],
                    known_words: set[str] | None = None) -> dict:
    """Token accuracy, and (with ``known_words``, the training words) on known and unknown words."""
    out = {"tokens": sum(len(s.words) for s in sentences), "sentences": len(sentences),
           "accuracy": token_accuracy([s.tags for s in sentences], predicted)}
    if known_words is not None:
        hits = {True: [0, 0], False: [0, 0]}
        for s, p in zip(sentences, predicted):
            for w, g, t in zip(s.words, s.tags, p):
                h = hits[w in known_words]
                h[0] += g == t
                h[1] += 1
        out["unknown_words"] = hits[False][1]
        out["accuracy_known"] = hits[True][0] / max(hits[True][1], 1)
        out["accuracy_unknown"] = hits[False][0] / max(hits[False][1], 1)
    return out
