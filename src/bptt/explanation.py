"""How each word of a text moves a classifier's probability of one class, as data.

``explain(clf, text)`` reads the text word by word with ``clf.explain`` (the class probabilities
of every prefix) and keeps, for the *target* class (``positive`` if the model has it, else its
last class):

    p_k    = P(target | words 1..k)           after word k, k = 1..T
    move_k = p_k - p_(k-1),  p_0 = 1/C         how word k moved it (p_0: even odds before any word)

Every prefix is a text of its own, so the answer holds for any cell, pooling and direction (a
backward direction reads each prefix from its own end). ``prefix_probabilities`` computes the
same numbers as running each prefix separately (``prefix_probabilities_reference``, kept as the
definition and tested against) with less work:

- the states of a direction that reads forward over input shared by every prefix do not depend
  on where the prefix ends: the prefix 1..k sees h_1 .. h_k of one run over the whole text. So a
  unidirectional model runs the text once, and a bidirectional one runs its first layer's
  forward direction once;
- what does depend on the end runs for all prefixes together. With one bidirectional layer
  (the shipped models) the backward direction of every prefix runs as one batch, each prefix
  keeping only its running pooled features (``running_prefix_logits``: memory (P, H)); with
  more, every layer from the first runs per prefix in batches of about ``PREFIX_CELLS`` padded
  cells, then the model's own pooling (``batched_prefix_logits``).

A text of T words costs about T^2 / 2 backward token steps instead of T^2 (both directions).

``bptt explain --png`` draws it (``bptt.plots.plot_explanation``) and ``bptt serve`` returns it
from ``POST /explain`` and colours the words of its page by ``move``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .losses import softmax
from .models.classifier import pooling_parts
from .sequence import direction_forward, pack
from .state import State

PREFIX_CELLS = 1 << 16          # padded cells T*B of one batch of prefixes: bounds the memory held


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


def prefix_probabilities_reference(clf, ids: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(P, C): the class probabilities of each prefix ids[:e], e in ``ends``, each run as a text
    of its own (the definition that ``prefix_probabilities`` must equal)."""
    return clf._predict_ids([ids[:e] for e in ends])


def prefix_probabilities(clf, ids: np.ndarray, ends: np.ndarray, cells: int = PREFIX_CELLS) -> np.ndarray:
    """(P, C): ``prefix_probabilities_reference`` with the shared states computed once (see the
    module docstring): the mean over the ensemble's members of softmax(logits) of each prefix.

    ids (T,) token ids; ends (P,) prefix lengths in 1..T; cells: padded cells a batch holds."""
    ids, ends = np.asarray(ids), np.asarray(ends, dtype=np.int64)
    probs = np.zeros((len(ends), len(clf.classes_)))
    for model in clf.members_:
        probs += softmax(classifier_prefix_logits(model, ids, ends, cells).astype(np.float64))
    return probs / len(clf.members_)


def classifier_prefix_logits(model, ids: np.ndarray, ends: np.ndarray, cells: int = PREFIX_CELLS) -> np.ndarray:
    """(P, C) the logits of a ``Classifier`` (inference: no dropout) for each prefix ids[:e]:
    ``running_prefix_logits`` when the prefixes' own states feed the pooling directly (one layer,
    or unidirectional layers), else ``batched_prefix_logits``."""
    if model.rnn.config.directions == 1 or model.rnn.config.num_layers == 1:
        return running_prefix_logits(model, ids, ends)
    return batched_prefix_logits(model, ids, ends, cells)


def running_prefix_logits(model, ids: np.ndarray, ends: np.ndarray) -> np.ndarray:
    r"""(P, C) logits of each prefix ids[:e] for a ``Classifier`` whose top layer is its only
    bidirectional one, or that has none; no array grows with P * T.

    The top layer's forward direction runs once over the text: f_1 .. f_T (T, H). Its pooled
    features for the prefix 1..e are running ones: f_e (last), max_{j<=e} f_j, (1/e) sum_{j<=e} f_j.
    The backward direction of prefix e reads x_e, x_{e-1}, .., x_1 from a zero state; all
    prefixes run together, longest first, with the reference cell step (``cell.step_forward``):
    at step s the prefixes with e > s read x_{e-s}, and each keeps its running max and sum of
    its h as it goes and its last h (the backward state at word 1) when it ends. The features
    are then put side by side as ``Classifier.pool`` has them: [forward ; backward] per pooled
    part, the parts in ``pooling_parts`` order ([max ; mean] for max+mean).
    """
    rnn, c, pooling = model.rnn, model.rnn.config, model.config.pooling
    T = len(ids)
    x, _ = model.embedding.forward(ids[:, None])                        # (T, 1, E)
    whole = pack(None, T, 1)
    zeros1 = tuple(s[0] for s in rnn._states_in(None, 1, whole, "state0"))
    for layer in range(c.num_layers - (c.directions == 2)):            # every shared layer
        x, _, _ = direction_forward(rnn.cell, x, rnn._direction_params(layer, 0), zeros1, whole, False)
    if c.directions == 2:
        f, _, _ = direction_forward(rnn.cell, x, rnn._direction_params(c.num_layers - 1, 0), zeros1, whole, False)
    else:
        f = x
    f = f[:, 0]                                                         # (T, H)
    ends = np.asarray(ends, dtype=np.int64)
    n = ends.astype(f.dtype)[:, None]                                   # (P, 1)
    parts = {"last": [f[ends - 1]], "max": [np.maximum.accumulate(f, axis=0)[ends - 1]],
             "mean": [np.cumsum(f, axis=0)[ends - 1] / n]}              # each (P, H)
    if c.directions == 2:
        order = np.argsort(-ends, kind="stable")                        # longest first
        e = ends[order]
        params = rnn._direction_params(c.num_layers - 1, 1)
        states = [np.zeros((len(e), z.shape[-1]), dtype=f.dtype) for z in zeros1]   # each (P, H): h (, c)
        top = np.full_like(states[0], -np.inf)                          # (P, H) running max
        total = np.zeros_like(states[0])                                # (P, H) running sum
        xs = x[:, 0]                                                    # (T, In)
        running = len(e)
        for step in range(int(e[0])):
            while e[running - 1] <= step:
                running -= 1
            new, _ = rnn.cell.step_forward(xs[e[:running] - 1 - step], tuple(s[:running] for s in states), params)
            for s, v in zip(states, new):
                s[:running] = v
            np.maximum(top[:running], new[0], out=top[:running])
            total[:running] += new[0]
        back = np.empty_like(states[0])
        for name, value in (("last", states[0]), ("max", top), ("mean", total)):
            back[order] = value
            parts[name].append(back / n if name == "mean" else back.copy())
    pooled = {k: np.concatenate(v, axis=1) for k, v in parts.items()}  # each (P, D*H)
    s = np.concatenate([pooled[part] for part in pooling_parts(pooling)], axis=1)   # (P, parts*D*H)
    return model.fc.forward(s)[0]


def batched_prefix_logits(model, ids: np.ndarray, ends: np.ndarray, cells: int = PREFIX_CELLS) -> np.ndarray:
    """(P, C) the logits of a ``Classifier`` (inference: no dropout) for each prefix ids[:e].

    Layers run on the whole text while every state is shared (unidirectional layers from the
    bottom, and the forward direction of the first bidirectional one); the rest runs per prefix,
    in batches of prefixes sorted longest first (``pack``'s order, so nothing is permuted)."""
    rnn = model.rnn
    c = rnn.config
    D, T = c.directions, len(ids)
    x, _ = model.embedding.forward(ids[:, None])                        # (T, 1, E)
    whole = pack(None, T, 1)
    zeros1 = tuple(s[0] for s in rnn._states_in(None, 1, whole, "state0"))
    first = c.num_layers                # the first layer whose output depends on the prefix end
    for layer in range(c.num_layers):
        if D == 2:
            first = layer
            break
        x, _, _ = direction_forward(rnn.cell, x, rnn._direction_params(layer, 0), zeros1, whole, False)
    shared_fwd = None                   # (T, 1, H): the first bidirectional layer's forward direction
    if first < c.num_layers:
        shared_fwd, _, _ = direction_forward(rnn.cell, x, rnn._direction_params(first, 0), zeros1,
                                             whole, False)
    order = np.argsort(-ends, kind="stable")                            # longest first
    logits = np.empty((len(ends), model.config.num_classes), dtype=model.dtype)
    start = 0
    while start < len(order):
        Tc = int(ends[order[start]])
        rows = order[start:start + max(1, cells // Tc)]
        start += len(rows)
        e = ends[rows]                                                  # (Pc,) non-increasing
        packing = pack(e, Tc, len(e))
        real = (np.arange(Tc)[:, None] < e[None, :])[..., None]         # (Tc, Pc, 1)
        out = np.where(real, x[:Tc], 0).astype(x.dtype, copy=False)               # (Tc, Pc, In)
        zeros = tuple(s[0] for s in rnn._states_in(None, len(e), packing, "state0"))
        for layer in range(first, c.num_layers):
            outs = []
            for d in range(D):
                if layer == first and d == 0:
                    outs.append(np.where(real, shared_fwd[:Tc], 0).astype(x.dtype, copy=False))
                else:
                    outs.append(direction_forward(rnn.cell, out, rnn._direction_params(layer, d), zeros,
                                                  packing, bool(d))[0])
            out = np.concatenate(outs, axis=2)                          # (Tc, Pc, D*H)
        cols = np.arange(len(e))
        H = out.shape[2] // D                                           # top layer's final h: forward
        tops = [out[e - 1, cols, :H]] + ([out[0, :, H:]] if D == 2 else [])   # at e, backward at 1
        s, _ = model.pool(out, State(np.stack(tops)), e)                # (Pc, F)
        logits[rows] = model.fc.forward(s)[0]
    return logits
