"""Sentiment analysis of text, end to end: tokenizer + vocabulary + many-to-one RNN classifier.

``SentimentClassifier`` is a scikit-learn style estimator::

    clf = SentimentClassifier(cell="lstm", bidirectional=True).fit(texts, labels, dev_texts, dev_labels)
    clf.predict(["this movie is not good"])          # ['negative']
    clf.predict_proba([...])                         # (N, C)
    clf.score(texts, labels)                         # accuracy
    clf.explain("this movie is not good")            # P(class) after each word
    clf.save("model_dir"); SentimentClassifier.load("model_dir")
    clf.classes_, clf.vocab_, clf.model_, clf.trainer_     # set by fit (or load)

A saved model is a directory: ``model.safetensors`` + ``config.json`` (the ``Classifier``, as
``bptt.io`` writes it, PyTorch tensor names), ``vocab.json`` and ``sentiment.json`` (classes and
the settings used to train), and for the shipped ones ``card.json`` (recipe figures).

Shipped models, addressed by name (``SHIPPED``; ``bptt models`` lists them), in
``bptt/pretrained/<name>``, trained by ``bench/train_sentiment.py``: ``sst2`` (sentences, the
default) and ``imdb`` (paragraph-length reviews). ``SentimentClassifier.pretrained(name)`` loads
one; ``resolve_model(spec)`` turns a MODEL argument into a directory: a shipped name, or a model
directory (one holding ``sentiment.json``), else an error naming both possibilities. A shipped
name always means the shipped model (``./imdb`` is the directory called imdb).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ._common import (Estimator, SharedSettings, VectorSettings, check_fitted, hold_out, identity, load_model,
                      read_job_file, save_job, set_embedding, settings_of, word_embedding)
from .. import distributed, files, io
from ..data.batching import bucket_batches, encode_texts, encode_tokens, token_budget_batches
from ..data.labels import check_labels
from ..data.tokenize import tokenize
from ..data.vocab import PAD_ID, UNK_ID, Vocabulary
from ..losses import softmax
from ..models import Classifier, ClassifierBatch, ClassifierConfig
from ..optim import LayerwiseLR, layer_depths
from ..train import BEST, CHECKPOINT, TrainConfig, Trainer, clear_run, occupied, run_files, train_keep_best
from ..transfer import init_from_lms, settle_init_from

PRETRAINED_ROOT = Path(__file__).parents[1] / "pretrained"
SHIPPED = ("sst2", "imdb")          # shipped model names; the first is the default
DEFAULT_MODEL = SHIPPED[0]
PRETRAINED = PRETRAINED_ROOT / DEFAULT_MODEL
EXPLAIN_STEPS = 500_000             # token steps one explain() may run (the sum of the prefix lengths)
SETTINGS_FILE = "sentiment.json"
VOCAB_FILE = "vocab.json"
DEFAULT_EMBEDDING_DIM = 64
PREDICT_TOKENS = 1 << 15            # padded cells T*B per prediction batch: bounds the activations held


@dataclass(frozen=True)
class SentimentSettings(SharedSettings, VectorSettings):
    """Every hyperparameter of the model and of its training (saved with the model).
    (Optimizer, seed and dtype: ``SharedSettings``.)"""
    cell: str = "lstm"
    embedding_dim: int | None = None    # None: 64, or the dimension of ``vectors``
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    pooling: str = "max"
    dropout: float = 0.0
    embedding_dropout: float = 0.3
    output_dropout: float = 0.3
    weight_dropout: float = 0.0         # DropConnect on the recurrent weights W in training, one mask per batch (AWD-LSTM; fastai's weight_p)
    min_freq: int = 1
    max_vocab: int | None = None
    max_len: int | None = None          # training texts keep at most this many tokens (None: all)
    truncate: str = "head+tail"         # which max_len tokens are kept (head+tail: 1/4 and 3/4)
    word_dropout: float = 0.0           # training: each token becomes <unk> with this probability
    dev_fraction: float = 0.05          # without a dev set: hold out 1 in round(1 / this), seeded
    ensemble: int = 1                   # members (seeds seed, seed + 1, ...), probabilities averaged
    epochs: int = 6
    batch_size: int = 64
    patience: int | None = 3
    # ---- pretraining and adversarial training (docs/pretraining.md) ----
    init_from: tuple[str, ...] | None = ()   # language models to start from: a forward and/or a backward one (bptt.transfer)
    discriminative_lr: float = 1.0      # ULMFiT: a layer group d below the top (fc 0, top recurrent layer 1, ..., embedding) trains at lr / this^d
    slanted_triangular: bool = False    # ULMFiT's slanted triangular learning rate over all the steps
    stlr_cut_fraction: float = 0.1      # slanted triangular: the fraction of the steps the rate rises
    stlr_ratio: float = 32.0            # slanted triangular: how many times the lowest rate the peak is
    gradual_unfreezing: bool = False    # ULMFiT: epoch k trains the top k layer groups only (fc, top layer, ...)
    adversarial: float = 0.0            # eps of adversarial training on the embedded text (0: off)
    virtual_adversarial: float = 0.0    # eps of virtual adversarial training (0: off)
    vat_xi: float = 0.1                 # virtual adversarial: length of the power iteration's random step

    def __post_init__(self):
        """The checks the rules by name (``_rules``) cannot make: they run before any data is read."""
        super().__post_init__()
        self._check_pretraining()
        if not 0.0 <= self.word_dropout < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1) (a probability), got {self.word_dropout}")
        if not 0.0 < self.dev_fraction <= 0.5:
            raise ValueError(f"dev_fraction must be in (0, 0.5], got {self.dev_fraction}")
        if isinstance(self.ensemble, bool) or not isinstance(self.ensemble, int) or self.ensemble < 1:
            raise ValueError(f"ensemble must be an integer >= 1, got {self.ensemble!r}")

    def _check_pretraining(self) -> None:
        """init_from as a tuple of names; the ULMFiT and adversarial settings in range."""
        settle_init_from(self)
        if not 0.01 <= self.discriminative_lr <= 100:        # factor ** depth stays finite for 100 layers
            raise ValueError(f"discriminative_lr must be in [0.01, 100] (ULMFiT uses 2.6), got {self.discriminative_lr}")
        if not self.stlr_ratio >= 1:
            raise ValueError(f"stlr_ratio must be >= 1 (ULMFiT uses 32), got {self.stlr_ratio}")
        if not self.vat_xi > 0:
            raise ValueError(f"vat_xi must be > 0, got {self.vat_xi}")


def _classes_and_ids(labels: Sequence, classes: Sequence | None) -> tuple[np.ndarray, np.ndarray]:
    """Classes (C,) and label ids (N,), as scikit-learn has them.

    Without ``classes``: the sorted distinct labels (``np.unique``) in their own type, so integer
    labels give integer classes and ``predict`` answers in the labels it was given (``fit(texts,
    [0, 1, ...])`` predicts 0 and 1, ``fit(texts, ["neg", "pos", ...])`` "neg" and "pos").
    With ``classes`` (every class, in the order of ``predict_proba``'s columns): each label's
    position in it. A label outside the classes, or labels mixing strings and numbers, are errors.
    """
    labels = [lab.item() if isinstance(lab, np.generic) else lab for lab in labels]
    if classes is None:
        if len({isinstance(lab, str) for lab in labels}) > 1:
            raise ValueError("labels mix strings and numbers: give every label as a class name, or "
                             "every label as a number")
        classes = np.unique(np.asarray(labels)) if labels else np.array([], dtype=str)
    else:
        classes = np.asarray(list(classes))
    index = {c: i for i, c in enumerate(classes.tolist())}
    ids = np.asarray([index.get(lab, -1) if isinstance(lab, (str, int, float, bool)) else -1
                      for lab in labels], dtype=np.int64)
    if len(ids) and ids.min() < 0:
        bad = labels[int(np.flatnonzero(ids < 0)[0])]
        raise ValueError(f"label {bad!r} is not one of the classes {tuple(classes.tolist())}")
    return classes, ids


def _saved_classes(classes) -> np.ndarray:
    """``classes`` of sentiment.json as saved: all strings or all integers."""
    if not isinstance(classes, list) or not classes or not (
            all(isinstance(c, str) for c in classes)
            or all(isinstance(c, int) and not isinstance(c, bool) for c in classes)):
        raise ValueError(f"classes must be a non-empty list of names or of integers, got {classes!r}")
    return np.asarray(classes)


class SentimentClassifier(Estimator):
    """Tokenizer -> vocabulary -> embedding -> RNN/LSTM/GRU -> pooling -> dense -> softmax."""

    classes_: np.ndarray            # (C,) the labels fit saw (str or int), column order of predict_proba
    vocab_: Vocabulary
    model_: Classifier              # the first (or only) member
    members_: list[Classifier]      # every member of the ensemble (just model_ when ensemble = 1)
    trainer_: Trainer               # fit only: its ``state`` has the best score and epoch
                                    # (ensemble: the last member's; ``dev_accuracy_`` the ensemble's)
    classifier = text_input = True    # Estimator: fit(texts, labels), predict -> classes_

    def __init__(self, verbose: int = 1, **settings):
        self.verbose = verbose            # 0: fit trains silently (``Estimator``)
        self.settings = settings_of(SentimentSettings, settings)

    # ---- training -------------------------------------------------------------------------
    def _build(self, token_lists: Sequence[Sequence[str]], classes: tuple[str, ...]) -> None:
        s = self.settings
        self.vocab_ = Vocabulary.build(token_lists, min_freq=s.min_freq, max_size=s.max_vocab)
        self.classes_ = classes
        self.vocab_, sources, matrix, self.vector_report_, dim = word_embedding(
            s, self.vocab_, DEFAULT_EMBEDDING_DIM)
        config = ClassifierConfig(len(self.vocab_), dim, s.hidden_size, len(classes), s.cell,
                                  s.num_layers, s.bidirectional, s.dropout, s.embedding_dropout,
                                  s.output_dropout, s.pooling, padding_idx=0, dtype=s.dtype,
                                  weight_dropout=s.weight_dropout)
        extra = self.vector_report_.dim if sources and self.vector_report_ else 0    # a file's columns
        self.members_ = []
        for k in range(s.ensemble):             # member k: weights and dropout from seed + k
            member = Classifier(config, np.random.default_rng(s.seed + k), dropout_seed=s.seed + k + 1)
            set_embedding(member.embedding, matrix, s.freeze_vectors)
            if sources:
                self.transfer_report_ = init_from_lms(member, self.vocab_, sources, "classifier", extra)
            self.members_.append(member)
        self.model_ = self.members_[0]
        if sources:
            print(f"init_from: {self.transfer_report_.details()}", flush=True)

    def fit(self, texts: Sequence[str], labels: Sequence, dev_texts: Sequence[str] | None = None,
            dev_labels: Sequence | None = None, classes: Sequence[str] | None = None,
            out_dir: str | Path | None = None, resume: str | Path | None = None,
            progress: bool = True, overwrite: bool = False,
            time_budget: float | None = None) -> "SentimentClassifier":
        """Train; keeps the epoch with the best dev accuracy.

        Without a dev set, ``dev_fraction`` of the training examples (1 in round(1 / dev_fraction),
        drawn by ``hold_out`` with the seed: 0.2 on aclImdb/train is the 20,000 / 5,000 split of
        bench/sentiment_search.py) are held out as one. ``out_dir``
        receives the checkpoint, ``best/`` and ``metrics.jsonl`` (a temporary folder if None);
        ``resume`` continues from a checkpoint file exactly where it stopped.
        """
        s = self.settings
        if classes is None:                     # a misspelt or stray label is refused (bptt.data.labels)
            check_labels(list(labels), "labels[{}]".format, remedy="correct it, or pass classes=[...]")
        classes, y = _classes_and_ids(labels, classes)
        texts = list(texts)
        if dev_texts is None:
            (texts, y), (dev_texts, dev_y) = hold_out(round(1 / s.dev_fraction), s.seed, texts, y)
        else:
            _, dev_y = _classes_and_ids(dev_labels, classes)
        token_lists = [tokenize(t) for t in texts]
        self._build(token_lists, classes)
        seqs = encode_tokens(token_lists, self.vocab_, s.max_len, s.truncate)
        del token_lists
        dev_seqs = encode_texts(dev_texts, self.vocab_)          # evaluated as predict() reads them
        same = identity(s, texts, y, dev_texts, dev_y, classes.tolist())   # what a resume must share
        if s.ensemble == 1:
            self.trainer_ = self._train_member(self.model_, seqs, y, dev_seqs, dev_y, 0, self.save,
                                               out_dir, resume, progress, same, overwrite, time_budget)
            return self
        return self._fit_ensemble(seqs, y, dev_seqs, dev_y, same, out_dir, resume, progress, overwrite,
                                  time_budget)

    def _train_member(self, model: Classifier, seqs, y, dev_seqs, dev_y, k: int, export, out_dir,
                      resume, progress, same, overwrite, time_budget) -> Trainer:
        """Train one member (data order and word dropout from seed + k), keeping its best epoch."""
        s = self.settings

        def batches(rng):
            return bucket_batches(seqs, y, s.batch_size, seed=int(rng.integers(2**63)))

        objective = dict(adversarial=s.adversarial, virtual_adversarial=s.virtual_adversarial, vat_xi=s.vat_xi)
        plan = layerwise_lr(s, model, len(seqs))  # applied by the trainer, after the reduction

        def step_fn(batch):
            if s.word_dropout:
                ids = batch.ids                     # the model's dropout RNG: saved in checkpoints
                drop = (model.dropout_rng.random(ids.shape) < s.word_dropout) & (ids != PAD_ID)
                batch = ClassifierBatch(np.where(drop, UNK_ID, ids), batch.lengths, batch.labels)
            return model.loss_and_grads(batch, **objective)

        def evaluate():                             # sharded over the processes, counts summed
            rows = distributed.part(range(len(dev_seqs)))
            right = np.sum(self._predict_ids([dev_seqs[i] for i in rows], members=[model]).argmax(1)
                           == dev_y[rows])
            right, total = distributed.total(float(right), float(len(rows)))
            return {"accuracy": right / total}

        return train_keep_best(model, TrainConfig.from_settings(s, seed=s.seed + k), batches, step_fn,
                               evaluate, export, out_dir, resume, progress and self.says(), identity=same,
                               overwrite=overwrite, time_budget=time_budget, verbose=self.says(),
                               eval_tokens=sum(map(len, dev_seqs)), lr_plan=plan and plan.apply)

    def _fit_ensemble(self, seqs, y, dev_seqs, dev_y, same, out_dir, resume, progress, overwrite,
                      time_budget):
        """Members one after the other, each in ``out_dir/member<k>`` (checkpoint, best/, metrics);
        the time budget is shared out as it goes (member k gets what is left / members left).
        ``resume``: the folder of the ensemble's run (or a checkpoint inside one of its member
        folders): every member continues from its own checkpoint there, a member without one
        starts afresh. When the budget runs out, the members not reached are left out of this
        fit; ``out_dir/best`` (replaced whole) is the ensemble of the members trained. An
        ``out_dir`` holding a run is refused unless ``resume`` or ``overwrite`` (which clears it)."""
        import tempfile
        tmp = tempfile.TemporaryDirectory() if out_dir is None else None
        out = Path(tmp.name if tmp else out_dir)
        root = None if resume is None else ensemble_run_folder(resume)
        if root is None and run_files(out):
            if not overwrite:
                raise ValueError(occupied(out))
            if distributed.is_writer():             # rank 0 alone writes (bptt.distributed)
                clear_run(out)
        elif root is not None and root.resolve() != out.resolve() and run_files(out):
            raise ValueError(f"{out}: holds another run than the one in {root}: resume into {root}, "
                             f"or into an empty out_dir")
        deadline = None if time_budget is None else time.perf_counter() + time_budget
        trained = []
        try:
            for k, member in enumerate(self.members_):
                left = None if deadline is None else deadline - time.perf_counter()
                if left is not None and left <= 0 and trained:
                    break
                checkpoint = None if root is None else root / f"member{k}" / CHECKPOINT
                self.trainer_ = self._train_member(
                    member, seqs, y, dev_seqs, dev_y, k, lambda d, m=member: io.save(m, d),
                    out / f"member{k}", checkpoint if checkpoint is not None and checkpoint.is_file() else None,
                    progress, same, overwrite,
                    None if left is None else max(left, 1e-9) / (len(self.members_) - k))
                trained.append(member)
                if self.trainer_.stop_reason is not None:
                    break
            self.members_, self.model_ = trained, trained[0]
            self.dev_accuracy_ = float(np.mean(self._predict_ids(dev_seqs).argmax(1) == dev_y))
            self.trainer_.log({"event": "ensemble", "members": len(trained), "dev_accuracy": self.dev_accuracy_})
            if out_dir is not None and distributed.is_writer():
                files.replace_directory(out / BEST, self.save)
        finally:
            if tmp:
                tmp.cleanup()
        return self

    # ---- prediction -----------------------------------------------------------------------
    def _predict_ids(self, seqs: list[np.ndarray], batch_size: int = 256,
                     members: list[Classifier] | None = None) -> np.ndarray:
        """(N, C): the mean over the members of their class probabilities."""
        members = self.members_ if members is None else members
        probs = np.zeros((len(seqs), len(self.classes_)))
        for batch in token_budget_batches(seqs, PREDICT_TOKENS, batch_size):
            for model in members:
                logits = model.forward(batch.ids, batch.lengths)[0]      # the cache goes at once
                probs[batch.index] += softmax(logits.astype(np.float64))
        return probs / len(members)

    def predict_proba(self, texts: Sequence[str], max_len: int | None = None,
                      truncate: str = "head+tail") -> np.ndarray:
        """(N, C) class probabilities, columns in the order of ``classes_``.

        Every text is read whole unless ``max_len`` asks otherwise (``truncate``: which tokens to
        keep, as in training). Texts run in batches of at most ``PREDICT_TOKENS`` padded cells,
        longest first, so the activations held at once do not grow with the number of texts."""
        check_fitted(self)
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, got a single str")
        return self._predict_ids(encode_texts(list(texts), self.vocab_, max_len, truncate))

    def predict(self, texts: Sequence[str]) -> list:
        """The most probable class of each text (an element of ``classes_``)."""
        return self.classes_[self.predict_proba(texts).argmax(1)].tolist()

    def score(self, texts: Sequence[str], labels: Sequence) -> float:
        """Accuracy on (texts, labels); labels as ``fit`` had them (elements of ``classes_``)."""
        _, y = _classes_and_ids(labels, self.classes_)
        return float(np.mean(self.predict_proba(texts).argmax(1) == y))

    def explain(self, text: str, max_steps: int = EXPLAIN_STEPS) -> list[tuple[str, np.ndarray]]:
        """For each word, the class probabilities of the text read up to and including it.

        Each prefix (words 1..k) gets the probabilities it has as a text of its own, so this
        holds for any cell, pooling and direction (``bptt.explanation.prefix_probabilities``: the
        forward states once, the backward direction of all prefixes together). That costs
        sum_k k backward token steps; when reading every prefix would take more than
        ``max_steps``, only P = max(16, 2 * max_steps // T) evenly spaced prefixes are read (the
        last always) and each row covers the words since the previous one, joined by spaces. With
        the default, a text of up to 999 words is explained word by word; a 22,000-word one
        (100,000 characters) in 45 rows of about 490 words.
        """
        from ..explanation import prefix_probabilities
        check_fitted(self)
        tokens = tokenize(text) or ["<unk>"]
        ids = self.vocab_.encode(tokens)                            # (T,)
        T = len(ids)
        if T * (T + 1) // 2 <= max_steps:
            ends = np.arange(1, T + 1)
        else:
            P = min(T, max(16, 2 * max_steps // T))
            ends = np.unique(np.ceil(np.arange(1, P + 1) * T / P).astype(np.int64))
        probs = prefix_probabilities(self, ids, ends)               # (P, C)
        starts = np.r_[0, ends[:-1]]
        return [(" ".join(tokens[a:b]), p) for a, b, p in zip(starts, ends, probs)]

    # ---- saving ---------------------------------------------------------------------------
    def save(self, directory: str | Path, weights_dtype: str | None = None) -> Path:
        """Model directory: model.safetensors, config.json, vocab.json, sentiment.json; an
        ensemble's further members in member1/, member2/, ... (model.safetensors, config.json).

        The members are written first and sentiment.json lists the SHA-256 of each member's
        weights (``member_files``); sentiment.json and vocab.json are in turn checksummed in
        model.safetensors (``save_job``), so ``load`` refuses a member folder that changed since."""
        check_fitted(self)
        directory = Path(directory)
        member_files = {}
        for k, member in enumerate(self.members_[1:], start=1):
            io.save(member, directory / f"member{k}", weights_dtype=weights_dtype)
            name = f"member{k}/{io.WEIGHTS_FILE}"
            member_files[name] = io.file_digest(directory / name)
        job = {"classes": self.classes_.tolist(), "settings": asdict(self.settings),
               "members": len(self.members_), **({"member_files": member_files} if member_files else {})}
        return save_job(directory, self.model_, {VOCAB_FILE: self.vocab_, SETTINGS_FILE: job}, weights_dtype)

    @classmethod
    def load(cls, directory: str | Path) -> "SentimentClassifier":
        directory = Path(directory)
        self, classes, members, member_files = read_job_file(
            directory, SETTINGS_FILE, "sentiment model",
            lambda doc: (cls(**doc["settings"]), _saved_classes(doc["classes"]), *_members(doc)))
        self.classes_ = classes
        self.vocab_ = Vocabulary.load(directory / VOCAB_FILE)
        self.members_ = [load_model(directory, Classifier, self._sizes)]    # checks sentiment.json first
        for k in range(1, members):
            name = f"member{k}/{io.WEIGHTS_FILE}"
            if member_files and io.file_digest(directory / name) != member_files[name]:
                raise ValueError(f"{directory / name}: changed or damaged since the model was saved (its "
                                 f"SHA-256 differs from the one in {SETTINGS_FILE}): restore it, or save "
                                 f"the model again")
            self.members_.append(load_model(directory / f"member{k}", Classifier, self._sizes))
        self.model_ = self.members_[0]
        return self

    def _sizes(self, m: Classifier) -> list[tuple[str, int, str, int]]:
        return [("words", m.config.vocab_size, VOCAB_FILE, len(self.vocab_)),
                ("classes", m.config.num_classes, SETTINGS_FILE, len(self.classes_))]

    @classmethod
    def pretrained(cls, name: str = DEFAULT_MODEL) -> "SentimentClassifier":
        """A sentiment model shipped inside the package: ``sst2`` (default) or ``imdb``."""
        if name not in SHIPPED:
            raise ValueError(f"no shipped model {name!r}; the shipped models are {', '.join(SHIPPED)}")
        directory = PRETRAINED_ROOT / name
        if not (directory / SETTINGS_FILE).is_file():
            raise FileNotFoundError(f"the shipped model {name!r} is missing from {directory}; "
                                    f"train it with `python bench/train_sentiment.py --model {name}`")
        return cls.load(directory)


# ---- ULMFiT's fine-tuning steps (docs/pretraining.md) --------------------------------------


def layerwise_lr(s: SentimentSettings, model: Classifier, n_examples: int) -> LayerwiseLR | None:
    """The per-parameter learning-rate plan of the settings (``bptt.optim.LayerwiseLR``), or None
    when discriminative rates, the slanted triangular rate and gradual unfreezing are all off.
    An epoch is ceil(N / batch_size) steps (``bucket_batches``); the slanted triangle spans them
    all (``epochs`` of them), whether or not early stopping ends the run sooner."""
    if s.discriminative_lr == 1.0 and not s.slanted_triangular and not s.gradual_unfreezing:
        return None
    per_epoch = -(-n_examples // s.batch_size)
    return LayerwiseLR(layer_depths(model.params, model.config.num_layers), s.discriminative_lr,
                       per_epoch * s.epochs if s.slanted_triangular else None, s.stlr_cut_fraction,
                       s.stlr_ratio, per_epoch if s.gradual_unfreezing else None)


def _members(doc: dict) -> tuple[int, dict[str, str]]:
    """(number of members, {member weights file: SHA-256}) of a sentiment.json: 1 to the
    ``ensemble`` setting (a run stopped by its time budget may have trained fewer)."""
    members = doc.get("members", 1)
    ensemble = doc["settings"].get("ensemble", 1)
    if isinstance(members, bool) or not isinstance(members, int) or not 1 <= members <= ensemble:
        raise ValueError(f"'members' must be an integer from 1 to the ensemble setting ({ensemble}), "
                         f"got {members!r}")
    if "member_files" not in doc:                   # saved before the members were checksummed
        return members, {}
    listed, want = doc["member_files"], [f"member{k}/{io.WEIGHTS_FILE}" for k in range(1, members)]
    if not isinstance(listed, dict) or sorted(listed) != want or \
            not all(isinstance(v, str) for v in listed.values()):
        raise ValueError(f"'member_files' must map {', '.join(want) or 'no files'} to their SHA-256s, "
                         f"got {listed!r}")
    return members, listed


def ensemble_run_folder(resume: str | Path) -> Path:
    """The folder of the ensemble run that ``resume`` names: the folder itself, or the run folder
    of a checkpoint (or member folder) inside one of its member<k>/ folders."""
    path = Path(resume)
    if path.is_file():
        path = path.parent
    if path.name.startswith("member") and path.name[6:].isdigit():
        path = path.parent
    if not path.is_dir():
        raise FileNotFoundError(f"{resume}: no such run folder (an ensemble resumes from the --out of its "
                                f"run, which holds member0/{CHECKPOINT}, ...)")
    return path


def is_model_directory(spec: str | Path) -> bool:
    """Whether ``spec`` names a directory holding ``sentiment.json`` (False, never an error, for
    any string: a text of 100,000 characters is not a path)."""
    try:
        return Path(spec, SETTINGS_FILE).is_file()
    except (OSError, ValueError):                    # name too long, NUL byte, ...
        return False


def resolve_model(spec: str | Path | None) -> Path:
    """The directory of a MODEL argument: None -> the default shipped model, a shipped name ->
    its directory, a model directory -> itself; anything else is a FileNotFoundError that names
    both possibilities."""
    if spec is None:
        spec = DEFAULT_MODEL
    if isinstance(spec, str) and spec in SHIPPED:
        return PRETRAINED_ROOT / spec
    if is_model_directory(spec):
        return Path(spec)
    shown = str(spec) if len(str(spec)) <= 80 else str(spec)[:77] + "..."
    why = "no such directory" if not _exists(spec) else f"no {SETTINGS_FILE} in it"
    raise FileNotFoundError(f"MODEL {shown!r} is neither a shipped model ({', '.join(SHIPPED)}) nor a "
                            f"model directory ({why}; a model directory holds {SETTINGS_FILE}, as "
                            f"`bptt train sentiment --out DIR` writes into DIR/best)")


def _exists(spec) -> bool:
    try:
        return Path(spec).exists()
    except (OSError, ValueError):
        return False


def load_sentiment_model(spec: str | Path | None) -> tuple["SentimentClassifier", Path]:
    """(classifier, its directory) for a MODEL argument (see ``resolve_model``)."""
    directory = resolve_model(spec)
    if isinstance(spec, str) and spec in SHIPPED or spec is None:
        return SentimentClassifier.pretrained(spec or DEFAULT_MODEL), directory
    return SentimentClassifier.load(directory), directory


def shipped_models() -> list[dict]:
    """What ships: per model its name, directory, size in bytes, settings and card (figures)."""
    from ..files import read_json_object
    out = []
    for name in SHIPPED:
        directory = PRETRAINED_ROOT / name
        if not (directory / SETTINGS_FILE).is_file():
            continue
        card = read_json_object(directory / "card.json") if (directory / "card.json").is_file() else {}
        out.append({"name": name, "default": name == DEFAULT_MODEL, "directory": str(directory),
                    "bytes": sum(f.stat().st_size for f in directory.rglob("*") if f.is_file()),
                    "settings": read_json_object(directory / SETTINGS_FILE)["settings"], **card})
    return out
