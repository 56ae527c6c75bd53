r"""The language-model job: corpus -> streams -> truncated BPTT -> bits per character -> text.

Two jobs share this file:

**Stream language model** (``train_lm``), the char-rnn / PyTorch word_language_model scheme:

1. Tokens (``bptt.data.tokenize.level_tokens``). ``level="char"``: every character; ``level="word"``: ``text.replace("\n", " <eos> ")
   .split()`` (a ``<eos>`` token at each line end). The vocabulary is built from the training part
   only, so held-out words the training part never saw are ``<unk>``.
2. Split. The first ``1 - val_fraction`` of the tokens train, the last ``val_fraction`` are held
   out (nanoGPT's shakespeare_char split at 0.1: 1,003,854 / 111,540 characters).
3. Streams (``batchify``). The N training tokens are cut into B contiguous streams of
   L = (N - 1) // B tokens; stream b reads tokens [b L, (b+1) L) and predicts the token after
   each, so every token is read once and predicted once (the last (N - 1) mod B + 1 are
   dropped). Stored time-major: inputs, targets (L, B).
4. Truncated BPTT. The streams are read in chunks of ``seq_len`` = k steps, all B at once. The
   state is carried from chunk to chunk (so every step sees everything before it in its stream),
   but the gradient is cut at chunk boundaries (``bptt.truncated.detach``): one optimizer step
   per chunk, on the mean cross-entropy of its B k predictions. Each pass over the streams
   starts from a zero state.
5. Evaluation on the held-out tail, batchified the same way (``eval_batch_size`` streams, state
   carried through the whole tail): ``loss`` in nats per token, ``bpc`` = loss / ln 2 (char
   level) or ``perplexity`` = exp(loss) (word level). The best model by ``neg_loss`` = -loss
   (the Trainer keeps the maximum of its metric) is exported to ``out_dir/best``.

The Trainer's "epoch" here is a round of ``eval_every`` chunks (default: one pass), so long
corpora are evaluated more often than once per pass; rounds run on along the streams and wrap
into the next pass. Checkpoints are exact: besides what the Trainer saves, the carried state is
written beside the checkpoint (``carry-<round>-<chunk>.safetensors``) and restored on resume.

**Conditional language model** (``train_conditional``): sentences with labels (SST-2), each read
as ``<eos> w_1 .. w_n <eos>`` (char level: ``\n`` is the boundary), predicting tokens 2..n+2
from the label through ``ConditionalLanguageModel`` (h_0 = tanh(C onehot(label) + d), and/or a
label embedding at every step). Batches are length-bucketed sentences, padded and masked.

A trained model is a directory: ``model.safetensors`` + ``config.json`` (``bptt.io``),
``vocab.json`` and ``lm.json`` (level, classes, settings). ``TextModel.load(dir).generate(...)``
streams text.
"""
from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

import numpy as np

from ._common import (SharedSettings, VectorSettings, identity, load_model, pretrained_vectors, read_job_file,
                      save_job, set_embedding)
from .. import distributed, io
from ..data.batching import bucket_batches, fixed_batches
from ..data.corpus import encode_corpus, tokenizer_of
from ..data.tokenize import EOS_WORD, LEVELS, level_tokens
from ..data.vocab import PAD, PAD_ID, UNK, Vocabulary
from ..losses import log_softmax
from ..models.conditional import ConditionalBatch, ConditionalLanguageModel, ConditionalLMConfig
from ..models.language_model import LanguageModel, LanguageModelBatch, LanguageModelConfig
from ..adaptive_softmax import check_cutoffs
from ..sampled_softmax import UnigramSampler
from ..state import State
from ..train import TrainConfig, Trainer
from ..truncated import chunk_slices, detach


SETTINGS_FILE = "lm.json"
VOCAB_FILE = "vocab.json"
METRIC = "neg_loss"


DEFAULT_EMBEDDING_DIM = 64


@dataclass(frozen=True)
class LMSettings(SharedSettings, VectorSettings):
    """Every hyperparameter of the model and of its training (saved with the model).
    (Optimizer, seed and dtype: ``SharedSettings``.)"""
    level: str = "char"             # char | word
    cell: str = "lstm"              # rnn_tanh | rnn_relu | lstm | gru
    embedding_dim: int | None = None    # None: 64, or the dimension of ``vectors`` (level "word")
    hidden_size: int = 256
    num_layers: int = 1
    dropout: float = 0.0            # between recurrent layers
    output_dropout: float = 0.0     # before the dense layer
    weight_dropout: float = 0.0     # DropConnect on the recurrent weights W in training, one mask per batch (AWD-LSTM; fastai's weight_p)
    condition: str = "init"         # conditional model only: init | input | both
    cond_embedding_dim: int = 16    # conditional model only: label embedding size (input | both)
    batch_size: int = 32            # B parallel streams (stream LM) or sentences per batch
    seq_len: int = 100              # k: truncation length (stream LM); max tokens per sentence (conditional)
    epochs: float = 10.0            # passes over the training tokens / sentences
    eval_every: int | None = None   # chunks between evaluations (stream LM; None: once per pass)
    eval_batch_size: int = 32       # streams for the held-out tail
    val_fraction: float = 0.1       # held-out tail of the text (stream LM without a dev file)
    min_freq: int = 1
    max_vocab: int | None = None
    patience: int | None = None     # evaluations without improvement before stopping
    tokenizer: str = "split"        # word level: split (white space) | review (the sentiment job's)
    direction: str = "forward"      # forward | backward (each document read reversed; --corpus)
    tie_weights: bool = False       # fc.weight is embedding.weight (embedding_dim = hidden_size)
    softmax: str = "full"           # full | sampled (trains only; evaluation is the full softmax) | adaptive (the model's own exact distribution)
    adaptive_cutoffs: tuple = ()    # adaptive: the clusters' first ids (); (): 2000, 10000 below the vocabulary
    adaptive_div: float = 4.0       # adaptive: cluster k projects to hidden_size // adaptive_div ** k
    num_sampled: int = 1024         # K shared candidates per step of the sampled softmax
    sampling_power: float = 0.75    # candidates drawn from unigram counts ** this power
    init_from: str | None = None    # start from this language model (its vocabulary and weights)

    def __post_init__(self):
        super().__post_init__()
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {self.level!r}")
        if self.level != "word" and (self.tokenizer != "split" or self.softmax != "full"
                                     or self.direction != "forward"):
            raise ValueError("tokenizer, softmax and direction other than the defaults need level='word'")
        object.__setattr__(self, "adaptive_cutoffs", tuple(self.adaptive_cutoffs))     # JSON gives a list
        if self.softmax == "adaptive" and self.tie_weights:
            raise ValueError("softmax 'adaptive' and tie_weights do not go together: the adaptive softmax has "
                             "no single (N, H) output matrix to share with the embedding")
        if (self.adaptive_cutoffs or self.adaptive_div != 4.0) and self.softmax != "adaptive":
            raise ValueError(f"adaptive_cutoffs and adaptive_div are for softmax 'adaptive', got softmax "
                             f"{self.softmax!r}")
        if self.adaptive_div < 1:
            raise ValueError(f"adaptive_div must be >= 1, got {self.adaptive_div}")
        if self.tie_weights and (self.embedding_dim or self.hidden_size) != self.hidden_size:
            raise ValueError(f"tie_weights needs embedding_dim = hidden_size, got {self.embedding_dim} "
                             f"and {self.hidden_size}")
        if self.vectors is not None and self.level != "word":
            raise ValueError("vectors (pretrained word vectors) need level='word'")
        if self.vectors_vocab:
            raise ValueError(f"vectors_vocab: a language model predicts its own vocabulary, so words of the "
                             f"vector file that never occur in training cannot be added (got vectors_vocab="
                             f"{self.vectors_vocab}; use 0)")
        for name in ("batch_size", "seq_len", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.epochs <= 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs}")
        if self.eval_every is not None and self.eval_every < 1:
            raise ValueError(f"eval_every must be >= 1 or None, got {self.eval_every}")


# ---- streams --------------------------------------------------------------------------------
def eos_token(level: str) -> str:
    """The line / sentence boundary: ``\\n`` for characters, ``<eos>`` for words."""
    return "\n" if level == "char" else EOS_WORD


def split_tail(ids: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(first 1 - val_fraction, last val_fraction) of a token stream."""
    n_train = int(len(ids) * (1 - val_fraction))
    return ids[:n_train], ids[n_train:]


class Streams(NamedTuple):
    inputs: np.ndarray      # (L, B) int64: inputs[t, b] = token b*L + t of the stream
    targets: np.ndarray     # (L, B) int64: targets[t, b] = token b*L + t + 1


def batchify(ids: np.ndarray, batch_size: int) -> Streams:
    """Cut a token stream into B contiguous streams, time-major (see the module docstring)."""
    ids = np.asarray(ids, dtype=np.int64)
    L = (len(ids) - 1) // batch_size
    if L < 1:
        raise ValueError(f"{len(ids)} tokens are too few for {batch_size} streams (need at least "
                         f"{batch_size + 1}); use a smaller batch size or a longer text")
    inputs = ids[:batch_size * L].reshape(batch_size, L).T          # (L, B)
    targets = ids[1:batch_size * L + 1].reshape(batch_size, L).T    # (L, B)
    return Streams(np.ascontiguousarray(inputs), np.ascontiguousarray(targets))


# ---- evaluation -------------------------------------------------------------------------------
def _nll_sum(logits: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None) -> float:
    """sum of -log p(target) over the counted steps; logits (T, B, N), targets (T, B)."""
    logp = log_softmax(logits.astype(np.float64, copy=False))
    picked = np.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]   # (T, B)
    return float(-(picked if mask is None else picked[mask]).sum())


def _metrics(nats: float, level: str) -> dict[str, float]:
    out = {"loss": nats, METRIC: -nats}
    if level == "char":
        out["bpc"] = nats / math.log(2)
    else:
        out["perplexity"] = math.exp(min(nats, 700.0))
    return out


def evaluate_stream(model: LanguageModel, ids: np.ndarray, batch_size: int, seq_len: int) -> float:
    """Mean nats per token on a held-out stream, read as B streams with the state carried (in a
    data-parallel run each process reads its share of the streams, and the sums are summed)."""
    streams = batchify(ids, min(batch_size, max(1, (len(ids) - 1))))
    columns = distributed.part(range(streams.inputs.shape[1]))
    state, total = None, 0.0
    for steps in chunk_slices(len(streams.inputs), seq_len) if columns else ():
        (logits, state), _ = model.forward(streams.inputs[steps, columns], state)
        total += _nll_sum(logits, streams.targets[steps, columns])
    total, count = distributed.total(total, len(streams.inputs) * len(columns))
    return total / count


# ---- the saved model ------------------------------------------------------------------------
class TextModel:
    """A trained (conditional) language model with its vocabulary: encode, decode, generate."""

    def __init__(self, model, vocab: Vocabulary, settings: LMSettings, classes: tuple[str, ...] = ()):
        self.model, self.vocab, self.settings, self.classes = model, vocab, settings, tuple(classes)

    @property
    def level(self) -> str:
        return self.settings.level

    @property
    def conditional(self) -> bool:
        return isinstance(self.model, ConditionalLanguageModel)

    def save(self, directory: str | Path, weights_dtype: str | None = None) -> Path:
        """Model directory: model.safetensors, config.json, vocab.json, lm.json (weights stored
        as ``weights_dtype``, e.g. float16, if given)."""
        return save_job(directory, self.model, {
            VOCAB_FILE: self.vocab,
            SETTINGS_FILE: {"classes": list(self.classes), "settings": asdict(self.settings)}},
            weights_dtype=weights_dtype)

    @classmethod
    def load(cls, directory: str | Path) -> "TextModel":
        directory = Path(directory)
        settings, classes = read_job_file(directory, SETTINGS_FILE, "language model",
                                          lambda doc: (LMSettings(**doc["settings"]), tuple(doc["classes"])))
        vocab = Vocabulary.load(directory / VOCAB_FILE)
        model = load_model(directory, (LanguageModel, ConditionalLanguageModel), lambda m: [
            ("tokens", m.config.vocab_size, VOCAB_FILE, len(vocab)),
            *([("classes", m.config.cond_size, SETTINGS_FILE, len(classes))]
              if isinstance(m, ConditionalLanguageModel) else [])])
        return cls(model, vocab, settings, classes)

    # ---- text <-> ids ---------------------------------------------------------------------
    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text``; characters the model never saw are an error."""
        if self.level == "word" and self.settings.tokenizer != "split":
            tokens = tokenizer_of(self.settings.tokenizer)(text)
        else:
            tokens = level_tokens(text, self.level)
        if self.level == "char":
            unknown = sorted({t for t in tokens if t not in self.vocab})
            if unknown:
                raise ValueError(f"characters {unknown!r} are not in the model's vocabulary "
                                 f"({len(self.vocab) - 2} characters)")
        return self.vocab.encode(tokens)

    def _eos_id(self) -> int:
        eos = eos_token(self.level)
        return self.vocab.index(eos) if eos in self.vocab else 2   # 2: the most frequent token

    def class_index(self, label: str | int) -> int:
        """The id of a class given by name (``positive``) or index (``1``)."""
        if str(label) in self.classes:
            return self.classes.index(str(label))
        if str(label).isdigit() and int(label) < len(self.classes):
            return int(label)
        raise ValueError(f"label {label!r} is not one of the model's classes {self.classes}")

    def generate(self, prime: str = "", length: int = 200, temperature: float = 1.0,
                 top_k: int | None = None, seed: int | None = None,
                 label: str | int | None = None) -> Iterator[str]:
        """Yield the text of each sampled token after ``prime``, as it is drawn.

        Stream model: an empty prime starts from the line boundary (``\\n`` / ``<eos>``).
        Conditional model: ``label`` is required, the sequence starts with the boundary, and
        generation stops at the next boundary (the end of the sentence) or after ``length``.
        """
        rng = np.random.default_rng(seed)
        eos = self._eos_id()
        try:
            ids = self.encode(prime) if prime else np.zeros(0, dtype=np.int64)
        except ValueError as err:
            raise ValueError(f"the prime {prime[:40]!r}{'...' if len(prime) > 40 else ''}: {err}") from None
        banned = [PAD_ID]
        if self.conditional:
            if label is None:
                raise ValueError(f"this model is conditional: give a label, one of {self.classes}")
            z = self.model.labels_to_vectors([self.class_index(label)])[0]
            tokens = self.model.generate(z, np.r_[eos, ids], length, temperature, top_k, rng, banned)
        else:
            if label is not None:
                raise ValueError("this model is not conditional: it takes no label")
            prime_ids = ids if ids.size else np.array([eos])
            tokens = self.model.generate(prime_ids, length, temperature, top_k, rng, banned=banned)
        line_start = not prime or prime.endswith("\n")
        for token_id in tokens:
            if self.conditional and token_id == eos:
                return
            token = self.vocab.decode([token_id])[0]
            if self.level == "char":
                yield token
            elif token == EOS_WORD:
                line_start = True
                yield "\n"
            else:
                yield token if line_start else " " + token
                line_start = False


# ---- training ---------------------------------------------------------------------------------
class TrainResult(NamedTuple):
    model: TextModel            # the best weights by validation loss
    trainer: Trainer
    final: dict[str, float]     # validation metrics of the weights at the end of training
    best: dict[str, float]      # validation metrics of the best weights
    seconds: float              # wall-clock training time (evaluations included)
    tokens: int                 # training tokens processed


class _Carry:
    """The state carried along the streams from one chunk to the next: of this process's
    ``columns`` of the B streams (all of them in one process). ``tensors`` (every process calls
    it) is the state of all B streams, whatever the number of processes; ``load`` takes its own."""

    def __init__(self, model: LanguageModel, batch_size: int, columns: list[int] | None = None):
        self.model, self.batch_size = model, batch_size
        self.columns = list(range(batch_size)) if columns is None else columns
        self.state = model.zero_state(len(self.columns))

    def reset(self) -> None:
        self.state = self.model.zero_state(len(self.columns))

    def tensors(self) -> dict[str, np.ndarray]:
        group = distributed.current()
        arrays = self.state.arrays()                            # each (layers, B_local, H)
        if group is not None:
            arrays = [group.assemble(a, 1, self.batch_size) for a in arrays]
        return dict(zip("hc", arrays))

    def load(self, tensors: dict[str, np.ndarray]) -> None:
        self.state = State(*(np.asarray(tensors[n][:, self.columns], dtype=self.model.dtype)
                             for n in "hc" if n in tensors))


class _LMTrainer(Trainer):
    """The Trainer, showing the held-out loss in bits per character (or perplexity) rather than
    its metric (``neg_loss``), and naming its epochs rounds of ``passes`` over the data."""

    passes: float = 0.0         # the --epochs asked for: passes over the training data
    unit = "round"

    def epoch_label(self) -> str:
        return f"{super().epoch_label()} ({self.passes:g} passes)"

    def describe(self, metrics: dict) -> str:
        if "bpc" in metrics:
            return f"dev {metrics['bpc']:.4f} bits per character"
        return f"dev perplexity {metrics['perplexity']:.2f} ({metrics['loss']:.4f} nats per token)"


class _StreamTrainer(_LMTrainer):
    """The Trainer, plus the carried state written beside each checkpoint and read on resume.

    The state file is named after the trainer position it belongs to (round, chunk within the
    round) and written before the checkpoint, so a checkpoint never pairs with another
    position's state; older state files are removed once the checkpoint is in place.

    A round is the next ``every`` chunks from where the last one ended (the chunks done so far,
    ``state.batches_done``), up to ``total``: so a resumed run with more ``epochs`` (a larger
    ``total``) carries on with exactly the chunks an uninterrupted run would have taken.
    """

    def __init__(self, *args, carry: _Carry, every: int, total: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.carry, self.every, self.total = carry, every, total
        self.config = replace(self.config, epochs=self._rounds())

    def _round_start(self) -> int:
        return self.state.batches_done - self.state.step_in_epoch

    def _rounds(self) -> int:
        """Rounds done and to do: this one and those after it until ``total`` chunks."""
        return self.state.epoch + max(0, math.ceil((self.total - self._round_start()) / self.every))

    def round_chunks(self) -> range:
        start = self._round_start()
        return range(start, min(start + self.every, self.total))

    def _carry_path(self, directory: Path) -> Path:
        return directory / f"carry-{self.state.epoch}-{self.state.step_in_epoch}.safetensors"

    def save_checkpoint(self) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        carry_path = self._carry_path(self.out_dir)
        tensors = self.carry.tensors()                  # every process: the streams' state whole
        if not self.is_writer:
            return super().save_checkpoint()
        io.save_params(carry_path, tensors)
        path = super().save_checkpoint()
        for old in self.out_dir.glob("carry-*.safetensors"):
            if old != carry_path:
                old.unlink(missing_ok=True)
        return path

    def load_checkpoint(self, path: str | Path) -> None:
        path = Path(path)
        super().load_checkpoint(path)
        carry_path = self._carry_path(path if path.is_dir() else path.parent)
        if not carry_path.is_file():
            raise FileNotFoundError(f"{carry_path}: the carried state for this checkpoint is missing "
                                    f"(it is written beside checkpoint.safetensors)")
        tensors, _ = io.load_params(carry_path)
        self.carry.load(tensors)
        self.config = replace(self.config, epochs=self._rounds())


def _trainer_config(s: LMSettings, rounds: int) -> TrainConfig:
    return TrainConfig.from_settings(s, epochs=rounds, metric=METRIC)


def _train(trainer: Trainer, evaluate, text_model: TextModel, tmp, resume, counted: dict) -> TrainResult:
    """Resume if asked, fit, keep the best weights, remove the temporary folder (if any)."""
    out = trainer.out_dir
    if resume is not None:
        trainer.load_checkpoint(resume)
    t0 = time.perf_counter()
    try:
        final, best = _fit(trainer, out)
        seconds = time.perf_counter() - t0
        if best is None or trainer.average is not None:     # with ema_decay, best/ holds the average
            _load_best(text_model, out)
        if best is None:
            best = _logged(out, lambda r: r.get("best")) or evaluate()     # no evaluation past the budget
    finally:
        if tmp:
            tmp.cleanup()
    return TrainResult(text_model, trainer, final, best, seconds, counted["tokens"])


def _fit(trainer: Trainer, out: Path) -> tuple[dict, dict | None]:
    """Run the trainer, then evaluate the last weights. After a stop between evaluations (time
    budget, Ctrl-C) they may beat the best so far: then they become ``best/``, and the
    checkpoint is rewritten with that best score so a resumed run keeps comparing against it.
    Returns (final metrics, best metrics or None if the best is an earlier evaluation)."""
    trainer.fit()
    st = trainer.state
    # ended at a round's end: that round's evaluation was of these very weights (no second one);
    # the weights evaluated and kept are the average with ema_decay
    logged = _logged(out, lambda r: "event" not in r) if st.step_in_epoch == 0 else None
    final, improved = trainer.evaluate_kept(logged)
    if not improved:
        trainer.budget_report()
        return final, None
    st.best_score, st.best_epoch, st.bad_epochs = final[METRIC], st.epoch, 0
    trainer.log({"event": "final", "epoch": st.epoch, "step": st.global_step,
                  **{f"dev_{k}": v for k, v in final.items()}, "best": True})
    trainer.save_checkpoint()
    trainer.budget_report()
    return final, final


def _logged(out: Path, which) -> dict | None:
    """The metrics of the last evaluation in metrics.jsonl for which ``which(record)`` holds
    (the one that chose ``best/``, the last round's), as they were logged; None if none."""
    from ..plots import read_metrics
    found = [r for r in read_metrics(out / "metrics.jsonl", required=False) if which(r)]
    return {k[4:]: v for k, v in found[-1].items() if k.startswith("dev_")} if found else None


def _load_best(text_model: TextModel, out: Path) -> None:
    path = out / "best" / io.WEIGHTS_FILE
    tensors, _ = io.load_params(path)
    io.load_state_dict(text_model.model, tensors, str(path))


def _word_vectors(s: LMSettings, vocab: Vocabulary):
    """The pretrained embedding rows for an LM's vocabulary (no extension: it predicts its words)."""
    dim = s.embedding_dim or (s.hidden_size if s.tie_weights else None)
    return pretrained_vectors(s, vocab, dim, DEFAULT_EMBEDDING_DIM,
                              specials=(PAD, UNK, EOS_WORD), extend=False, what="word vectors")


def train_lm(text: str, settings: LMSettings | None = None, out_dir: str | Path | None = None,
             resume: str | Path | None = None, progress: bool = True,
             time_budget: float | None = None, val_text: str | None = None,
             overwrite: bool = False, source: str = "the text") -> TrainResult:
    """Train a stream language model on ``text`` (see the module docstring).

    ``val_text``: a separate held-out text (default: the last ``val_fraction`` of ``text``).
    ``source``: the text's name in errors (its file).
    ``time_budget``: seconds of training for this call; when it runs out the current chunk
    finishes, a checkpoint is written (resume continues from it), and the last weights are
    evaluated and kept as best if they are. Returns the best model and the metrics.
    """
    s = settings or LMSettings()
    tokens = level_tokens(text, s.level)
    if val_text is None:
        n_train = int(len(tokens) * (1 - s.val_fraction))
        train_tokens, val_tokens = tokens[:n_train], tokens[n_train:]
    else:
        train_tokens, val_tokens = tokens, level_tokens(val_text, s.level)
    start = _start_from(s)
    vocab = start.vocab if start else Vocabulary.build([train_tokens], min_freq=s.min_freq,
                                                       max_size=s.max_vocab)
    train_ids, val_ids = vocab.encode(train_tokens), vocab.encode(val_tokens)
    return _train_stream(train_ids, val_ids, vocab, s, start, out_dir, resume, progress, time_budget,
                         overwrite, source, val_given=val_text is not None)


def train_lm_corpus(documents: Sequence[str], settings: LMSettings | None = None,
                    out_dir: str | Path | None = None, resume: str | Path | None = None,
                    progress: bool = True, time_budget: float | None = None,
                    val_documents: Sequence[str] | None = None, overwrite: bool = False,
                    source: str = "the corpus") -> TrainResult:
    """Train a word language model on many documents (reviews): ``bptt.data.corpus`` tokenizes
    them (``settings.tokenizer``, ``settings.direction``), the documents are shuffled (seed
    ``settings.seed``) and the last ``val_fraction`` of them held out (or ``val_documents``), each
    part joined into one stream of ``w_1 .. w_n <eos>`` per document, then trained as ``train_lm``.
    """
    s = settings or LMSettings(level="word")
    if s.level != "word":
        raise ValueError(f"a corpus of documents needs level='word', got {s.level!r}")
    start = _start_from(s)
    docs = list(documents)
    if val_documents is None:
        order = np.random.default_rng(s.seed).permutation(len(docs))
        n_val = max(1, int(round(len(docs) * s.val_fraction)))
        if n_val >= len(docs):
            raise ValueError(f"{source}: {len(docs)} document(s) are too few to hold out "
                             f"{s.val_fraction:g} of them; give more documents or a --dev file")
        val_documents = [docs[i] for i in order[len(docs) - n_val:]]
        docs = [docs[i] for i in order[:len(docs) - n_val]]
    enc = encode_corpus(docs, s.tokenizer, s.direction, s.min_freq, s.max_vocab,
                        vocab=start.vocab if start else None)
    val = encode_corpus(val_documents, s.tokenizer, s.direction, vocab=enc.vocab)
    train_ids = np.concatenate(enc.documents)
    val_ids = np.concatenate(val.documents)
    return _train_stream(train_ids, val_ids, enc.vocab, s, start, out_dir, resume, progress,
                         time_budget, overwrite, source, val_given=True)


def _start_from(s: LMSettings) -> "TextModel | None":
    """The language model named by ``init_from`` (a model directory or a shipped LM's name, as
    ``bptt.transfer.resolve_lm``), or None."""
    if s.init_from is None:
        return None
    from ..transfer import resolve_lm
    start = TextModel.load(resolve_lm(s.init_from, "init_from"))
    if start.conditional or start.level != s.level:
        raise ValueError(f"init_from {s.init_from}: a {start.level}-level "
                         f"{'conditional ' if start.conditional else ''}language model; this run is "
                         f"{s.level}-level and unconditional")
    return start


DEFAULT_CUTOFFS = (2000, 10000)


def _adaptive(s: LMSettings, vocab_size: int) -> dict:
    """The model config's adaptive-softmax fields: the settings' cutoffs, or the default ones
    that fall below the vocabulary size (a vocabulary too small for any is refused)."""
    if s.softmax != "adaptive":
        return {}
    cutoffs = s.adaptive_cutoffs or tuple(c for c in DEFAULT_CUTOFFS if c < vocab_size)
    if not cutoffs:
        raise ValueError(f"softmax 'adaptive': the vocabulary has {vocab_size:,} words, fewer than the default "
                         f"first cutoff {DEFAULT_CUTOFFS[0]:,}; give adaptive_cutoffs (--adaptive-cutoffs) "
                         f"below it, or use the full softmax")
    try:
        check_cutoffs(cutoffs, vocab_size)
    except ValueError as err:
        raise ValueError(f"{err} (--adaptive-cutoffs)") from None
    return {"adaptive_cutoffs": cutoffs, "adaptive_div": s.adaptive_div}


def _train_stream(train_ids, val_ids, vocab: Vocabulary, s: LMSettings, start, out_dir, resume, progress,
                  time_budget, overwrite, source: str, val_given: bool) -> TrainResult:
    if len(val_ids) < 2:
        where = "the held-out text" if val_given else \
            f"{source}: its last {s.val_fraction:g} (the held-out part)"
        unit = {"char": "character", "word": "word"}[s.level]
        raise ValueError(f"{where} has {len(val_ids)} {unit}{'' if len(val_ids) == 1 else 's'}; at "
                         f"least 2 are needed: give a longer text, a larger --val-fraction or a --dev file")
    try:
        streams = batchify(train_ids, s.batch_size)
    except ValueError as err:
        raise ValueError(f"{source}: the training part: {err} (--batch-size)") from None
    _, matrix, _, dim = _word_vectors(s, vocab)
    config = LanguageModelConfig(len(vocab), dim, s.hidden_size, s.cell, s.num_layers,
                                 s.dropout, s.output_dropout, dtype=s.dtype, tie_weights=s.tie_weights,
                                 weight_dropout=s.weight_dropout, **_adaptive(s, len(vocab)))
    model = LanguageModel(config, np.random.default_rng(s.seed), dropout_seed=s.seed + 1)
    set_embedding(model.embedding, matrix, s.freeze_vectors)
    if start is not None:                  # the LM's weights, already read by TextModel.load
        io.load_state_dict(model, start.model.params, f"{s.init_from} (init_from: --hidden-size, --embedding-dim, "
                                                      f"--cell, --num-layers, --tie-weights and --softmax adaptive "
                                                      f"with its cutoffs must be the model's)")
    text_model = TextModel(model, vocab, s)
    chunks = chunk_slices(len(streams.inputs), s.seq_len)
    per_pass = len(chunks)
    total = max(1, math.ceil(s.epochs * per_pass))
    every = s.eval_every or per_pass
    columns = distributed.part(range(s.batch_size))        # this process's streams (all in one)
    if not columns:
        raise ValueError(f"--batch-size {s.batch_size}: fewer streams than processes; give each "
                         f"process at least one (--batch-size >= the number of processes)")
    streams = Streams(streams.inputs[:, columns], streams.targets[:, columns])     # (L, B_local)
    carry = _Carry(model, s.batch_size, columns)
    sampler = None
    if s.softmax == "sampled":
        sampler = UnigramSampler(np.bincount(train_ids, minlength=len(vocab)), s.sampling_power)
        k = min(s.num_sampled, int((sampler.q > 0).sum()))

    class Chunk(NamedTuple):
        index: int              # chunk number counted over all passes
        steps: slice            # stream positions it covers
        reset: bool             # first chunk of a pass: start from a zero state

    def batches(rng):
        return [Chunk(g, chunks[g % per_pass], g % per_pass == 0) for g in trainer.round_chunks()]

    counted = {"tokens": 0}

    def step_fn(chunk: Chunk):
        if chunk.reset:
            carry.reset()
        x, y = streams.inputs[chunk.steps], streams.targets[chunk.steps]       # (k, B)
        batch = LanguageModelBatch(x, y, state0=carry.state)
        if s.softmax == "adaptive":
            result = model.adaptive_loss_and_grads(batch, training=True)
        elif sampler is None:
            result = model.loss_and_grads(batch, training=True)
        else:     # the candidates of a chunk depend on (seed, chunk) only: resume draws them again
            candidates = sampler.sample(k, np.random.default_rng([s.seed, chunk.index]))
            result = model.sampled_loss_and_grads(batch, candidates, sampler.log_expected_count(y, k),
                                                  sampler.log_expected_count(candidates, k))
        if all(np.isfinite(a).all() for a in result.state.arrays()):
            carry.state = detach(result.state)     # the gradient stops here; the state carries on
        else:
            carry.reset()
        counted["tokens"] += x.size
        return result

    def evaluate():
        return _metrics(evaluate_stream(model, val_ids, s.eval_batch_size, s.seq_len), s.level)

    tmp = tempfile.TemporaryDirectory() if out_dir is None else None
    out = Path(tmp.name if tmp else out_dir)
    same = identity(s, train_ids, val_ids, vocab.tokens)
    trainer = _StreamTrainer(model, _trainer_config(s, 1), batches, step_fn, evaluate,
                             text_model.save, out, progress, identity=same, overwrite=overwrite,
                             time_budget=time_budget, eval_tokens=len(val_ids), carry=carry, every=every,
                             total=total)
    trainer.passes = s.epochs
    return _train(trainer, evaluate, text_model, tmp, resume, counted)


def sentence_ids(texts: Sequence[str], vocab: Vocabulary, level: str, max_len: int) -> list[np.ndarray]:
    """Each text as [<eos>] + its first max_len tokens + [<eos>]."""
    eos = vocab.index(eos_token(level))
    return [np.r_[eos, vocab.encode(level_tokens(t, level)[:max_len]), eos].astype(np.int64) for t in texts]


def evaluate_sentences(model: ConditionalLanguageModel, seqs: Sequence[np.ndarray],
                       labels: np.ndarray, batch_size: int = 256) -> float:
    """Mean nats per predicted token of ``sentence_ids`` sequences, each conditioned on its label
    (in a data-parallel run each process reads its share, and the sums are summed)."""
    rows = distributed.part(range(len(seqs)))
    seqs, labels = [seqs[i] for i in rows], np.asarray(labels, dtype=np.int64)[rows]
    total, count = 0.0, 0
    for batch in fixed_batches(seqs, labels, batch_size) if rows else ():
        n = batch.lengths - 1                                   # predictions per sentence
        (logits, _), _ = model.forward(batch.ids[:-1], model.labels_to_vectors(batch.labels), n)
        mask = np.arange(logits.shape[0])[:, None] < n[None, :]
        total += _nll_sum(logits, batch.ids[1:], mask)
        count += int(n.sum())
    total, count = distributed.total(total, count)
    return total / count


def train_conditional(texts: Sequence[str], labels: Sequence[int], classes: Sequence[str],
                      dev_texts: Sequence[str], dev_labels: Sequence[int],
                      settings: LMSettings | None = None, out_dir: str | Path | None = None,
                      resume: str | Path | None = None, progress: bool = True,
                      time_budget: float | None = None, overwrite: bool = False) -> TrainResult:
    """Train a ``ConditionalLanguageModel`` on sentences conditioned on their labels
    (ids into ``classes``); the dev sentences pick the best epoch by their loss."""
    s = settings or LMSettings()
    eos = eos_token(s.level)
    vocab = Vocabulary.build(([eos, *level_tokens(t, s.level)[:s.seq_len], eos] for t in texts),
                             min_freq=s.min_freq, max_size=s.max_vocab)
    if eos not in vocab:
        raise ValueError(f"max_vocab={s.max_vocab} leaves no room for the boundary token {eos!r}")
    seqs = sentence_ids(texts, vocab, s.level, s.seq_len)
    dev_seqs = sentence_ids(dev_texts, vocab, s.level, s.seq_len)
    y, dev_y = np.asarray(labels, dtype=np.int64), np.asarray(dev_labels, dtype=np.int64)

    _, matrix, _, dim = _word_vectors(s, vocab)
    config = ConditionalLMConfig(len(vocab), dim, s.hidden_size, len(classes), s.cell,
                                 s.num_layers, s.condition, s.cond_embedding_dim, s.dropout,
                                 s.output_dropout, dtype=s.dtype, weight_dropout=s.weight_dropout)
    model = ConditionalLanguageModel(config, np.random.default_rng(s.seed), dropout_seed=s.seed + 1)
    set_embedding(model.lm.embedding, matrix, s.freeze_vectors)
    text_model = TextModel(model, vocab, s, tuple(classes))
    counted = {"tokens": 0}

    def batches(rng):
        return bucket_batches(seqs, y, s.batch_size, seed=int(rng.integers(2**63)))

    def step_fn(batch):
        ids, n = batch.ids, batch.lengths - 1                   # inputs w_1..w_n+1, targets w_2..
        result = model.loss_and_grads(ConditionalBatch(ids[:-1], model.labels_to_vectors(batch.labels),
                                                       ids[1:], lengths=n))
        counted["tokens"] += result.tokens
        return result

    def evaluate():
        return _metrics(evaluate_sentences(model, dev_seqs, dev_y), s.level)

    tmp = tempfile.TemporaryDirectory() if out_dir is None else None
    out = Path(tmp.name if tmp else out_dir)
    rounds = max(1, math.ceil(s.epochs))
    same = identity(s, seqs, y, dev_seqs, dev_y, list(classes))
    trainer = _LMTrainer(model, _trainer_config(s, rounds), batches, step_fn, evaluate,
                         text_model.save, out, progress, identity=same, overwrite=overwrite,
                         time_budget=time_budget, eval_tokens=sum(map(len, dev_seqs)))
    trainer.passes = rounds
    return _train(trainer, evaluate, text_model, tmp, resume, counted)


def settings_fields() -> list:
    """The fields of ``LMSettings`` (for command-line options)."""
    return list(fields(LMSettings))
