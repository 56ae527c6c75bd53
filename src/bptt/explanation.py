"""How each word of a text moves a classifier's probability of one class, as data.

``explain(clf, text)`` reads the text word by word with ``clf.explain`` (the class probabilities
of every prefix) and keeps, for the *target* class (``positive`` if the model has it, else its
last class):

    p_k    = P(target | words 1..k)           after word k, k = 1..T
    move_k = p_k - p_(k-1),  p_0 = 1/C         how word k moved it (p_0: even odds before any word)

``bptt explain --png`` draws it (``bptt.plots.plot_explanation``) and ``bptt serve`` returns it
from ``POST /explain`` and colours the words of its page by ``move``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Explanation:
    text: str
    classes: tuple[str, ...]
    target: str                     # the class whose probability is followed
    tokens: tuple[str, ...]         # (T,) the words as the model reads them
    probabilities: np.ndarray       # (T, C) class probabilities after each word
    label: str                      # the predicted class of the whole text

    @property
    def p_target(self) -> np.ndarray:
        """(T,) P(target) after each word."""
        return self.probabilities[:, self.classes.index(self.target)]

    @property
    def moves(self) -> np.ndarray:
        """(T,) how much each word moved P(target), from even odds before the first word."""
        p = self.p_target
        return np.diff(p, prepend=1.0 / len(self.classes))

    def to_dict(self, digits: int = 6) -> dict:
        """JSON-ready: label, target, and per word its token, probabilities and move."""
        return {"text": self.text, "label": self.label, "target": self.target,
                "words": [{"token": tok,
                           "probabilities": {c: round(float(q), digits) for c, q in zip(self.classes, p)},
                           "move": round(float(m), digits)}
                          for tok, p, m in zip(self.tokens, self.probabilities, self.moves)]}


def target_class(classes: tuple[str, ...]) -> str:
    """``positive`` if the model has that class, else its last class."""
    return "positive" if "positive" in classes else classes[-1]


def explain(clf, text: str) -> Explanation:
    """The per-word probabilities of ``text`` under ``clf`` (a ``SentimentClassifier``)."""
    steps = clf.explain(text)
    classes = tuple(clf.classes_)
    probs = np.stack([p for _, p in steps])                        # (T, C)
    return Explanation(text, classes, target_class(classes), tuple(tok for tok, _ in steps), probs,
                       classes[int(probs[-1].argmax())])
