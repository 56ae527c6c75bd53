r"""Start a classifier or tagger from pretrained language models (``--init-from LM``).

A word-level ``LanguageModel`` (``bptt train lm --level word``) holds an embedding E (N, E) and
recurrent layers of one direction. A model with an embedding and a recurrent encoder
(``Classifier``, ``Tagger``) starts from one or two of them:

    forward LM  (reads each text as written)  -> the forward direction   (names ``..._l{k}``)
    backward LM (reads each text reversed)    -> the backward direction  (names ``..._l{k}_reverse``)

of every layer k. A backward LM needs a bidirectional model; each direction takes at most one
LM. The LM's direction is the ``direction`` of its settings (lm.json; "forward" if absent).
Nothing else moves: the output layer (``fc``), the tagger's feature embeddings, and the
direction no LM was given keep their usual initialisation.

Embedding rows are matched by word (the model's vocabulary is built from its own data as usual).
Each LM gives a block of columns; with a forward and a backward LM the word vector is the two
LMs' vectors side by side, ``[E_fwd[w] ; E_bwd[w]]`` (E = E_fwd + E_bwd), so that each direction
reads exactly the vectors its own LM was trained on (averaging the two would give neither):

    block_s(w) = E_s[w]            if LM s knows w
    block_s(w) = E_s[<unk>]        if not (the vector LM s read for a word it did not know)
    row(<pad>) = 0                 (the padding row)

``TransferReport`` counts the rows of words some LM knows and the words no LM knows. With a
word-vector file as well (``--init-from LMS --vectors FILE``), the file's vectors follow the LMs'
blocks, ``[E_fwd[w] ; E_bwd[w] ; vectors[w]]``, and the recurrent columns that read them start at
zero like the tagger's feature columns (``bptt.jobs._common.word_embedding``).

Recurrent weights are copied whole, per layer k and direction d (0 forward, 1 backward)::

    weight_hh_l{k}{sfx}, bias_ih_l{k}{sfx}, bias_hh_l{k}{sfx}   <- the LM's weight_hh_l{k}, ...
    weight_ih_l{k}{sfx}[:, a:a+In_LM] <- the LM's weight_ih_l{k} (G*H, In_LM); other columns 0

with a = the offset of the LM's block in the word vector for layer 0 (0 for the first LM given,
E_fwd for the second; the tagger's feature vectors follow the word vector) and a = d*H above
(layer k > 0 of a bidirectional model reads [forward h ; backward h] of layer k-1). The other
columns start at zero, so each direction computes exactly its LM's hidden states at the start
(tested, also with both LMs); training then learns to use the rest.

The LM and the model must agree on the cell, the layers, the hidden size and the embedding
size (the sum of the LMs' embedding sizes): a mismatch is one ``ValueError`` naming both
sides and the flags that would fit. An LM is
named by a directory holding ``lm.json`` (``bptt train lm --out DIR`` writes DIR/best) or by the
name of a language model shipped in ``bptt/pretrained/<name>`` (``resolve_lm``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .data.vocab import PAD_ID, UNK, Vocabulary

PRETRAINED_ROOT = Path(__file__).parent / "pretrained"
LM_SETTINGS_FILE = "lm.json"
DIRECTIONS = ("forward", "backward")
SUFFIX = {"forward": "", "backward": "_reverse"}
RECURRENT_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


@dataclass(frozen=True)
class SourceLM:
    """What the transfer reads from a trained language model."""
    name: str                       # as given (a directory or a shipped name), for messages
    direction: str                  # forward | backward
    vocab: Vocabulary               # the LM's tokens, <pad> = 0, <unk> = 1
    embedding: np.ndarray           # (N, E)
    rnn: dict[str, np.ndarray]      # weight_ih_l{k} (G*H, In), weight_hh_l{k} (G*H, H), biases (G*H,)
    mode: str
    num_layers: int
    hidden_size: int
    tokenizer: str                  # "review": bptt.data.tokenize.tokenize; else the LM's own split

    @property
    def embedding_dim(self) -> int:
        return self.embedding.shape[1]


@dataclass(frozen=True)
class TransferReport:
    rows: int                       # embedding rows of the model (its vocabulary, <pad> included)
    copied: int                     # rows of words at least one LM knows (<unk> included)
    missing: int                    # rows of words no LM knows: their LMs' <unk> row
    sources: tuple[str, ...]        # "NAME (forward)", ...
    notes: tuple[str, ...] = ()

    def details(self) -> str:
        words = self.rows - 1       # <pad> is not a word
        text = (f"{', '.join(self.sources)}: {self.copied:,} of {words:,} embedding rows copied by word, "
                f"{self.missing:,} words the language model lacks start from its <unk> row; "
                f"recurrent layers copied")
        return text + "".join(f"; {n}" for n in self.notes)


def init_specs(value) -> tuple[str, ...]:
    """The LMs of an ``init_from`` setting: None or "" -> (); "A,B" -> ("A", "B"); a list or tuple
    of names -> its names (a list entry is never split, so a path may hold a comma)."""
    if value is None:
        return ()
    if isinstance(value, (str, Path)):
        return tuple(part.strip() for part in str(value).split(",") if part.strip())
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        return value                    # the very object: scikit-learn's clone checks identity
    return tuple(str(v) for v in value)


def settle_init_from(settings) -> None:
    """In a (frozen) settings dataclass's ``__post_init__``: ``init_from`` as a tuple of names
    (``init_specs``; None, kept as given since scikit-learn checks identity, means none). Beside
    ``vectors``, the file's vectors follow the LMs' in the word vector (``word_embedding``)."""
    if settings.init_from is not None:
        object.__setattr__(settings, "init_from", init_specs(settings.init_from))


def shipped_lms() -> list[str]:
    """The language models shipped in ``bptt/pretrained`` (folders holding lm.json)."""
    if not PRETRAINED_ROOT.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED_ROOT.iterdir() if (p / LM_SETTINGS_FILE).is_file())


def shipped_language_models() -> list[dict]:
    """Per shipped LM: its name, directory, size in bytes, settings and card (``bptt models``)."""
    from .files import read_json_object
    out = []
    for name in shipped_lms():
        directory = PRETRAINED_ROOT / name
        card = read_json_object(directory / "card.json") if (directory / "card.json").is_file() else {}
        out.append({"name": name, "kind": "language model", "directory": str(directory),
                    "bytes": sum(f.stat().st_size for f in directory.rglob("*") if f.is_file()),
                    "settings": read_json_object(directory / LM_SETTINGS_FILE)["settings"], **card})
    return out


def resolve_lm(spec: str | Path, what: str = "--init-from") -> Path:
    """The directory of an LM argument: a shipped LM name, or a directory holding lm.json
    (a shipped name wins, as for sentiment models); anything else is a FileNotFoundError."""
    spec = str(spec)
    if spec in shipped_lms():
        return PRETRAINED_ROOT / spec
    if Path(spec, LM_SETTINGS_FILE).is_file():
        return Path(spec)
    shipped = ", ".join(shipped_lms()) or "none yet"
    why = "no such directory" if not Path(spec).exists() else f"no {LM_SETTINGS_FILE} in it"
    raise FileNotFoundError(f"{what} {spec!r}: neither a shipped language model ({shipped}) nor a "
                            f"language-model directory ({why}; `bptt train lm --out DIR` writes one "
                            f"into DIR/best)")


def load_lm(spec: str | Path) -> SourceLM:
    """Read a word-level language model (see ``resolve_lm``) for ``init_from``."""
    from .jobs.language_model import TextModel
    from .models.language_model import LanguageModel
    directory = resolve_lm(spec)
    lm = TextModel.load(directory)
    s = lm.settings
    if not isinstance(lm.model, LanguageModel):
        raise ValueError(f"--init-from {spec}: a conditional language model; give a plain one "
                         f"(`bptt train lm`)")
    if s.level != "word":
        raise ValueError(f"--init-from {spec}: a {s.level}-level language model; a word embedding "
                         f"starts only from a word-level one (`bptt train lm --level word`)")
    direction = getattr(s, "direction", "forward")
    if direction not in DIRECTIONS:
        raise ValueError(f"{directory / LM_SETTINGS_FILE}: direction must be one of {DIRECTIONS}, "
                         f"got {direction!r}")
    c = lm.model.config
    rnn = {k[4:]: v for k, v in lm.model.params.items() if k.startswith("rnn.")}
    return SourceLM(str(spec), direction, lm.vocab, lm.model.params["embedding.weight"], rnn,
                    c.mode, c.num_layers, c.hidden_size, getattr(s, "tokenizer", "split"))


def embedding_size(sources: Sequence[SourceLM]) -> int:
    """The model's embedding size that fits ``sources``: their sizes added (side by side)."""
    return sum(src.embedding_dim for src in sources)


def embedding_matrix(vocab: Vocabulary, sources: Sequence[SourceLM], dtype
                     ) -> tuple[np.ndarray, int, int]:
    """(matrix (V, sum E_s), rows copied, rows missing) for the model's ``vocab`` by the rules of
    the module docstring: each LM's block of columns holds its vector of the word, or its <unk>."""
    blocks, known = [], np.zeros(len(vocab), dtype=bool)                 # (V,) some LM knows it
    for src in sources:
        ids = np.array([src.vocab.index(t) if t in src.vocab else -1 for t in vocab.tokens])  # (V,)
        mine = ids >= 0
        unk = src.vocab.index(UNK)
        blocks.append(src.embedding[np.where(mine, ids, unk)].astype(np.float64))            # (V, E_s)
        known |= mine
    matrix = np.concatenate(blocks, axis=1)                              # (V, sum E_s)
    matrix[PAD_ID] = 0.0
    known[PAD_ID] = False
    return matrix.astype(dtype), int(known.sum()), int(len(vocab) - 1 - known.sum())


def copy_recurrent(params: dict[str, np.ndarray], src: SourceLM, num_layers: int,
                   hidden_size: int, offset: int = 0) -> None:
    """Copy the LM's layers into ``params`` (the model's ``rnn`` parameters, without the prefix)
    in place, into its direction, by the column rule of the module docstring; ``offset``: where
    the LM's block starts in the word vector."""
    sfx, d = SUFFIX[src.direction], DIRECTIONS.index(src.direction)
    for k in range(num_layers):
        for base in RECURRENT_NAMES:
            theirs, ours = src.rnn[f"{base}_l{k}"], params[f"{base}_l{k}{sfx}"]
            if base != "weight_ih":
                ours[...] = theirs
                continue
            a = offset if k == 0 else d * hidden_size
            ours[...] = 0.0
            ours[:, a:a + theirs.shape[1]] = theirs                 # (G*H, In_LM) of (G*H, In)


def check_fit(sources: Sequence[SourceLM], mode: str, num_layers: int, hidden_size: int,
              embedding_dim: int, bidirectional: bool, what: str) -> None:
    """A ValueError naming both sides unless every LM fits the model's encoder."""
    directions = [src.direction for src in sources]
    for direction in DIRECTIONS:
        if directions.count(direction) > 1:
            names = ", ".join(src.name for src in sources if src.direction == direction)
            raise ValueError(f"--init-from: two {direction} language models ({names}); give at most one "
                             f"forward and one backward")
    if "backward" in directions and not bidirectional:
        name = next(src.name for src in sources if src.direction == "backward")
        raise ValueError(f"--init-from {name}: a backward language model starts the backward direction, "
                         f"and this {what} is not bidirectional (--bidirectional true)")
    ours = {"cell": mode, "layers": num_layers, "hidden size": hidden_size, "embedding size": embedding_dim}
    total = embedding_size(sources)
    flags = {"cell": "--cell", "layers": "--num-layers", "hidden size": "--hidden-size",
             "embedding size": "--embedding-dim"}
    for src in sources:
        expected = {f"{base}_l{k}" for base in RECURRENT_NAMES for k in range(src.num_layers)}
        if set(src.rnn) != expected or src.rnn["weight_ih_l0"].shape[1] != src.embedding_dim:
            odd = sorted(set(src.rnn) ^ expected) or [f"weight_ih_l0 {src.rnn['weight_ih_l0'].shape}"]
            raise ValueError(f"--init-from {src.name}: the language model's recurrent layers are not a plain "
                             f"stack over its word vectors ({', '.join(odd)}): they have no place in the {what}")
        theirs = {"cell": src.mode, "layers": src.num_layers, "hidden size": src.hidden_size,
                  "embedding size": total}
        wrong = [key for key in ours if ours[key] != theirs[key]]
        if wrong:
            said = "; ".join(f"{key} {theirs[key]} in the language model, {ours[key]} in the {what}"
                             for key in wrong)
            fix = " ".join(f"{flags[key]} {theirs[key]}" for key in wrong)
            raise ValueError(f"--init-from {src.name}: the language model does not fit the {what}: {said} "
                             f"(train the {what} with {fix}, or give another language model)")


def init_from_lms(model, vocab: Vocabulary, sources: Sequence[SourceLM], what: str = "classifier",
                  vectors_dim: int = 0) -> TransferReport:
    """Start ``model`` (``.embedding``, ``.rnn``: a Classifier or Tagger) from ``sources``, in
    place; returns what was copied. Checks first (``check_fit``), so a mismatch changes nothing.
    ``vectors_dim``: the last columns of the word vector that hold a vector file's vectors
    (``bptt.jobs._common.word_embedding``): left as they are, read through weights that start at 0."""
    c = model.rnn.config
    weight = model.embedding.params["weight"]                       # (V, E_LMs + vectors_dim)
    check_fit(sources, c.mode, c.num_layers, c.hidden_size, weight.shape[1] - vectors_dim, c.bidirectional,
              what)
    if weight.shape[0] != len(vocab):
        raise ValueError(f"the {what}'s embedding has {weight.shape[0]} rows, its vocabulary {len(vocab)} words")
    matrix, copied, missing = embedding_matrix(vocab, sources, weight.dtype)
    weight[:, :matrix.shape[1]] = matrix
    offset = 0
    for src in sources:
        copy_recurrent(model.rnn.params, src, c.num_layers, c.hidden_size, offset)
        offset += src.embedding_dim
    notes = tuple(f"{src.name} split its text with its own tokenizer ({src.tokenizer!r}), not the review "
                  f"tokenizer: only words spelt alike match" for src in sources if src.tokenizer != "review")
    return TransferReport(len(vocab), copied, missing,
                          tuple(f"{src.name} ({src.direction})" for src in sources), notes)
