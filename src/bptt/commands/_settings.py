"""Command-line flags from a job's settings dataclass, shared by every ``bptt train`` job.

Each field of the settings dataclass becomes ``--field-name`` (underscores as dashes), typed
from its annotation (int, float, str, bool as true/false or the flag alone for true; ``X | None``
also takes "none", kept as None), checked as it is parsed by the rule for its name
(``bptt.jobs._rules``: ranges, and the choices, which the help lists), and helped by the comment
beside the field in the dataclass. Only the flags given on the command line override the
dataclass defaults. So a bad value is refused before any data is read, naming the flag.

``start_run`` checks ``--out``/``--resume``/``--overwrite`` before the data is read as well:
a folder holding a run is refused unless the run resumes or is to be replaced; a resumed run
continues in the folder of its checkpoint (``--out`` naming another folder is refused).
"""
from __future__ import annotations

import argparse
import contextlib
import inspect
import math
import re
import sys
from dataclasses import MISSING, fields
from pathlib import Path


def parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number of at least 0."""
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def seed_int(text: str) -> int:
    """An argparse type: a random seed, an integer in [0, 2**63)."""
    value = int(text)
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 2**63), got {text!r}")
    return value


def none_or(kind):
    """A parser for ``kind`` that also reads "none" as None."""
    def parse(text: str):
        return None if text.lower() == "none" else kind(text)
    parse.__name__ = kind.__name__
    return parse


KINDS = {"int": int, "float": float, "str": str, "bool": parse_bool}
# what a setting is, for those whose dataclass field carries no comment
DESCRIPTIONS = {
    "lr": "learning rate", "weight_decay": "L2 penalty on the weights", "seed": "random seed of the "
    "weights, dropout masks and data order", "cell": "recurrent cell", "embedding_dim": "size of the "
    "word vectors", "hidden_size": "units per direction of each recurrent layer", "num_layers":
    "stacked recurrent layers", "bidirectional": "read the text both ways (true/false)", "pooling":
    "how the states of every step become one vector (last+max+mean: ULMFiT's concat pooling)",
    "dropout": "dropout between recurrent layers",
    "embedding_dropout": "dropout on the word vectors", "output_dropout": "dropout before the "
    "output layer", "min_freq": "words seen fewer times are <unk>", "max_vocab": "at most this many "
    "words in the vocabulary (with <pad>, <unk>)", "max_len": "texts keep at most this many tokens",
    "epochs": "passes over the training data", "batch_size": "examples per optimizer step",
    "patience": "stop after this many epochs without a better dev score", "optimizer": "optimizer",
    "dtype": "float type of the weights", "level": "tokens: characters or words",
    "eval_batch_size": "streams for the held-out text", "feature_dim": "size of each feature's vectors",
    "suffix_length": "characters of the suffix feature"}


def field_comments(settings_cls) -> dict[str, str]:
    """{field: the comment after it in the dataclass source}, over the class and its bases."""
    comments: dict[str, str] = {}
    for cls in reversed(settings_cls.__mro__):
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        for m in re.finditer(r"^\s+(\w+)\s*:[^=\n]*=[^#\n]*#\s*(.+)$", source, re.MULTILINE):
            comments[m[1]] = m[2].strip()
    return comments


def checked(name: str, kind, optional: bool):
    """An argparse type: ``kind`` (and "none" if ``optional``), then the rule for ``name``."""
    from ..jobs._rules import check_setting

    def parse(text: str):
        if text.strip().lower() == "none":
            if not optional:
                raise argparse.ArgumentTypeError(f"{name} cannot be none")
            return None
        try:
            value = kind(text)
        except ValueError:
            what = "true or false" if kind is parse_bool else kind.__name__
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        try:
            check_setting(name, value, optional)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
        return value
    parse.__name__ = getattr(kind, "__name__", "value")
    return parse


def add_settings_arguments(parser: argparse.ArgumentParser, settings_cls, custom: dict | None = None) -> None:
    """Add a flag for every field of ``settings_cls``; ``custom`` maps a field name to the
    add_argument keyword arguments to use instead."""
    from ..jobs._rules import CHOICES
    custom = custom or {}
    comments = field_comments(settings_cls)
    for f in fields(settings_cls):
        flag = f"--{f.name.replace('_', '-')}"
        default = f.default if f.default is not MISSING else None
        if f.name in custom:
            parser.add_argument(flag, dest=f.name, default=argparse.SUPPRESS, **custom[f.name])
            continue
        text = str(f.type)
        optional = "None" in text
        kind = KINDS.get(text.split(" ")[0].replace("|", "").strip(), str)
        options = CHOICES.get(f.name)
        about = comments.get(f.name) or DESCRIPTIONS.get(f.name, "")
        help_text = f"{about + '; ' if about else ''}default {default}{'; none for None' if optional else ''}"
        if options:
            parser.add_argument(flag, dest=f.name, default=argparse.SUPPRESS, choices=options, help=help_text)
        else:
            alone = {"nargs": "?", "const": True} if kind is parse_bool else {}     # --flag alone is true
            parser.add_argument(flag, dest=f.name, default=argparse.SUPPRESS, help=help_text,
                                type=checked(f.name, kind, optional), metavar=f.name.upper(), **alone)


def add_column_arguments(parser: argparse.ArgumentParser, classes: bool = True) -> None:
    """``--text-column`` and ``--label-column``: which columns of a TSV/CSV/JSONL file to read;
    ``--classes`` (with ``classes``): the labels allowed, in order."""
    parser.add_argument("--text-column", help="the column holding the text (default: the first of "
                                              "text, sentence, review)")
    parser.add_argument("--label-column", help="the column holding the label (default: the first of "
                                               "label, sentiment, polarity)")
    parser.add_argument("--delimiter", type=delimiter, metavar="D",
                        help="a .csv file's delimiter: , ; tab or | (default: detected and reported)")
    parser.add_argument("--no-header", dest="header", action="store_false",
                        help="a .tsv/.csv file without a header line: give --text-column and "
                             "--label-column as positions counting from 0")
    if classes:
        parser.add_argument("--classes", type=class_names, metavar="A,B,...",
                            help="the classes, in order (a label may also be their index): rows with "
                                 "another label are skipped and reported (default: the labels found, "
                                 "listed with their counts)")


def delimiter(text: str) -> str:
    """An argparse type: one of , ; | and tab ("tab", "\\t" or a tab character)."""
    from ..data.columns import DELIMITERS, NAMES
    named = {name: d for d, name in NAMES.items()}
    d = {"tab": "\t", "\\t": "\t"}.get(text, named.get(text.strip().lower(), text))
    if d not in DELIMITERS:
        raise argparse.ArgumentTypeError(f"expected one of , ; | tab, got {text!r}")
    return d


def class_names(text: str) -> tuple[str, ...] | None:
    """An argparse type: "negative,positive" -> ("negative", "positive"); "none" -> None."""
    if text.strip().lower() == "none":
        return None
    names = tuple(part.strip() for part in text.split(","))
    if len(names) < 2 or not all(names) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"expected two or more distinct class names separated by "
                                         f"commas, got {text!r}")
    return names


def read_labelled(args, path, classes=None):
    """``read_dataset`` of ``path`` with the command's columns and ``classes`` (else its
    ``--classes``), its report written to standard error."""
    from ..data.readers import read_dataset
    data, report = read_dataset(path, args.text_column, args.label_column,
                                classes=classes if classes is not None else getattr(args, "classes", None),
                                delimiter=args.delimiter if Path(path).suffix.lower() == ".csv" else None,
                                header=args.header)
    print(report, file=sys.stderr)
    return data


@contextlib.contextmanager
def held_out_of(path, what: str):
    """Inside: a dev set held out of too few examples (``TooFewToHoldOut``) is an error naming
    ``path`` and what it holds (``what``: "sentence", "pair", ...)."""
    from ..jobs._common import TooFewToHoldOut
    try:
        yield
    except TooFewToHoldOut as err:
        found = f"{err.n} {what}{'' if err.n == 1 else 's'}"
        raise ValueError(f"{path}: holds {found}: too few to hold out a dev set and train on the rest; "
                         f"give a dev set (--dev FILE) or more {what}s") from None


def two_classes(data, path) -> None:
    """A classifier's training data must hold two classes or more: else an error naming ``path``,
    its one label and how many rows carry it."""
    if len(data.classes) < 2:
        n = len(data.texts)
        found = ("no labelled rows" if not data.classes else f"its only row has the label {data.classes[0]!r}"
                 if n == 1 else f"all {n:,} rows have the label {data.classes[0]!r}")
        raise ValueError(f"{path}: {found}: a classifier needs two classes or more (is --label-column "
                         f"the column of the labels?)")


def read_reported(reader, path):
    """``reader(path, report)`` (``read_tagged``, ``read_pairs``), its report written to
    standard error: what was kept, the tags and their counts, a byte-order mark removed."""
    from ..data.readers import ReadReport
    report = ReadReport(str(path))
    result = reader(path, report=report)
    print(report, file=sys.stderr)
    return result


def read_text_reported(path) -> str:
    """A whole text file (``bptt.data.text.read_text``), its size and any note on standard error."""
    from ..data.text import read_text_noted
    text, note = read_text_noted(path)
    print(f"{path}: {len(text):,} characters{'; ' + note if note else ''}", file=sys.stderr)
    return text


def add_run_arguments(parser: argparse.ArgumentParser, default_out: str) -> None:
    """``--out``, ``--resume``, ``--overwrite``, ``--time-budget`` and ``--quiet``: where a
    training run writes, whether it continues or replaces a run there, how long it may run, and
    how it shows (every ``bptt train`` job has them; ``start_run`` reads them)."""
    parser.add_argument("--out", help=f"checkpoint, best/ and metrics.jsonl go here (default "
                                      f"{default_out}; with --resume, the resumed run's folder)")
    parser.set_defaults(default_out=default_out)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", metavar="CHECKPOINT",
                       help="continue exactly from this checkpoint.safetensors (or the run folder "
                            "holding it), with the same data and settings, in that run's folder")
    group.add_argument("--overwrite", action="store_true",
                       help="replace the run already in --out (its checkpoint, best/ and metrics)")
    parser.add_argument("--time-budget", type=positive_float, metavar="MINUTES",
                        help="train this many minutes, then checkpoint and stop (continue with --resume)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def settings_from_args(settings_cls, args) -> dict:
    """The settings given on the command line (none as None), as keyword arguments."""
    return {f.name: getattr(args, f.name) for f in fields(settings_cls) if hasattr(args, f.name)}


def start_run(args, settings_cls) -> tuple[dict, dict]:
    """(settings, run) for a ``bptt train`` command, checked before any data is read: the
    settings given (each flag was checked as it was parsed; ``settings_cls`` then checks them
    together), and the keyword arguments of the job's ``fit`` for ``--out`` (refused if it
    holds a run, unless ``--resume`` or ``--overwrite``), ``--resume``, ``--time-budget`` (in
    seconds) and ``--quiet``. ``--resume`` takes a checkpoint or the run folder holding it (for
    a sentiment ensemble, the run folder, whose member<k>/ folders hold the checkpoints)."""
    from ..jobs._common import settings_of
    from ..train import CHECKPOINT, occupied, run_files
    settings = settings_from_args(settings_cls, args)
    settings_of(settings_cls, settings)
    if settings.get("vectors") is not None:           # the vector file is read after the data: look now
        from ..data.vectors import vector_file_exists
        vector_file_exists(settings["vectors"])
    resume = args.resume
    if resume is None and args.out is None:
        args.out = args.default_out
    out = Path(args.out) if args.out is not None else None
    if out is not None and out.exists() and not out.is_dir():
        raise ValueError(f"{out}: --out must be a folder, and this is a file")
    if resume is not None:
        resume = Path(resume)
        ensemble = resume.is_dir() and not (resume / CHECKPOINT).is_file() and \
            (resume / "member0" / CHECKPOINT).is_file()
        if resume.is_dir() and not ensemble:
            resume = resume / CHECKPOINT
        if not ensemble and not resume.is_file():
            raise FileNotFoundError(f"{resume}: no such checkpoint; a run writes "
                                    f"OUT/{CHECKPOINT} at the end of each epoch")
        folder = resume if ensemble else resume.parent
        if folder.name.startswith("member") and folder.name[6:].isdigit():
            folder = folder.parent                  # a checkpoint of an ensemble's member
        if out is None:
            args.out, out = str(folder), folder         # a resumed run continues in its folder
        elif folder.resolve() != out.resolve():
            raise ValueError(f"--out {out}: a resumed run continues in its own folder, {folder}: "
                             f"leave out --out (or give --out {folder})")
    elif not args.overwrite and run_files(out):
        raise ValueError(occupied(out))
    budget = None if args.time_budget is None else args.time_budget * 60
    return settings, {"out_dir": args.out, "resume": resume, "progress": not args.quiet,
                      "overwrite": args.overwrite, "time_budget": budget}


def run_summary(trainer, what: str, out: str | Path) -> str:
    """The last line of a training command: the best score and where the model is, or that there
    is no best model yet (stopped before its first evaluation) and how to go on."""
    st, out = trainer.state, Path(out)
    if st.best_epoch == 0:
        return (f"stopped before the first evaluation: no best model yet; resume with --resume "
                f"{out / 'checkpoint.safetensors'}")
    return f"best dev {what} {st.best_score:.4f} at epoch {st.best_epoch}; model: {out / 'best'}"


def exit_status(trainer) -> int:
    """A training command's exit status: 130 (as for Ctrl-C anywhere) when Ctrl-C stopped the run,
    after its checkpoint was written, so that a script can tell it from a finished run; else 0."""
    from ..cli import EXIT_INTERRUPTED
    return EXIT_INTERRUPTED if trainer.stop_reason == "interrupt" else 0
