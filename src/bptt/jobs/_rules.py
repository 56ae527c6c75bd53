"""The allowed values of the jobs' settings, by name: one place for the library
(``_common.settings_of`` checks every field of a settings dataclass) and for the command line
(``commands._settings`` checks each flag as it is parsed, before any data is read).

A rule is found from the field's name, so a new setting with a usual name is checked without
being listed: ``*_size``, ``*_dim``, ``*_len``, ``num_*`` and counts such as ``epochs`` are
positive integers below a bound that keeps them from overflowing (not a memory estimate);
``*dropout`` is a probability in [0, 1); ``*_fraction`` a fraction in (0, 1); names with known
choices (``cell``, ``optimizer``, ``dtype``, ``pooling``, ``truncate``, ...) must be one of them.
A few names have rules of their own: ``vectors_vocab`` (words added from a vector file, 0 for
none), ``ensemble`` (members, 1 for a single model), ``word_dropout`` (a probability for the
sentiment job, an alpha above 0 for the tagger: only its range common to both here). Every float must be finite and every integer a real integer
(not a bool); a field typed ``X | None`` also takes None.
"""
from __future__ import annotations

import math
from typing import Callable

from ..cells import MODES
from ..data.batching import KEEP
from ..data.corpus import DIRECTIONS, TOKENIZERS
from ..data.tokenize import LEVELS
from ..models.classifier import POOLINGS
from ..models.conditional import CONDITIONS

DTYPES = ("float32", "float64")
OPTIMIZER_NAMES = ("sgd", "adam", "adamw", "rmsprop", "adagrad")     # bptt.train.OPTIMIZERS
CHOICES: dict[str, tuple[str, ...]] = {"cell": MODES, "mode": MODES, "optimizer": OPTIMIZER_NAMES,
                                       "dtype": DTYPES, "pooling": POOLINGS, "level": LEVELS,
                                       "condition": CONDITIONS, "truncate": KEEP, "tokenizer": TOKENIZERS,
                                       "direction": DIRECTIONS, "softmax": ("full", "sampled", "adaptive")}
SIZE_BOUND = 1_000_000          # units, dimensions, batch sizes, vocabulary sizes
LENGTH_BOUND = 100_000_000      # lengths in tokens, evaluation intervals
LAYER_BOUND = 100
ENSEMBLE_BOUND = 100            # members of an ensemble (each a whole model)
SEED_BOUND = 2**63


def _between(low, high, low_open=False, high_open=False) -> Callable[[float], str]:
    def check(v) -> str:
        ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
        if ok:
            return ""
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        return f"must be in {left}{low}, {high}{right}"
    return check


def rule(name: str) -> tuple[type | None, Callable[[object], str]]:
    """(the kind the rule is about, or None for any; a check returning "" or what is wrong)."""
    if name in CHOICES:
        options = CHOICES[name]
        return str, lambda v: "" if v in options else f"must be one of {', '.join(options)}"
    if name == "seed":
        return int, _between(0, SEED_BOUND - 1)
    if name == "num_layers":
        return int, _between(1, LAYER_BOUND)
    if name == "max_vocab":                                # room for <pad> and <unk>, and a word
        return int, _between(3, SIZE_BOUND * 100)
    if name == "vectors_vocab":                            # 0: no words added from the vector file
        return int, _between(0, SIZE_BOUND * 100)
    if name == "ensemble":
        return int, _between(1, ENSEMBLE_BOUND)
    if name.endswith(("_len", "_every", "_length")) or name == "seq_len":
        return int, _between(1, LENGTH_BOUND)
    if name.endswith(("_size", "_dim", "_vocab")) or name.startswith("num_") \
            or name in ("epochs", "patience", "min_freq"):
        return None, _between(1, SIZE_BOUND)          # epochs is a float for the language model
    if name.endswith("dropout") and name != "word_dropout":
        return float, _between(0.0, 1.0, high_open=True)
    if name == "ema_decay":                                # the weight average's decay beta
        return float, _between(0.0, 1.0, low_open=True, high_open=True)
    if name.endswith("_fraction"):                         # val_fraction, dev_fraction
        return float, _between(0.0, 1.0, low_open=True, high_open=True)
    if name in ("lr", "clip_norm"):
        return float, _between(0.0, math.inf, low_open=True, high_open=True)
    counts, amounts = _between(0, 2**62), _between(0, math.inf, high_open=True)
    return None, lambda v: counts(v) if isinstance(v, int) else amounts(v)


def check_setting(name: str, value, optional: bool = False) -> None:
    """Raise ValueError "NAME must be ..., got VALUE" unless ``value`` is allowed for ``name``
    (None only if ``optional``). Strings other than the known choices, bools and tuples are
    left to the settings' own checks."""
    if value is None:
        if optional:
            return
        raise ValueError(f"{name} must be given (it has no 'none'), got None")
    if isinstance(value, (bool, tuple, list)) or (isinstance(value, str) and name not in CHOICES):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    kind, check = rule(name)
    if kind is int and not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if kind is not None and kind is not int and not isinstance(value, (kind, int) if kind is float else kind):
        raise ValueError(f"{name} must be {'a number' if kind is float else 'a string'}, got {value!r}")
    if isinstance(value, str) and kind is None:
        return
    problem = check(value)
    if problem:
        raise ValueError(f"{name} {problem}, got {value!r}")
