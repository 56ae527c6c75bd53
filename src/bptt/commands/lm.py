"""``bptt train lm`` and ``bptt generate``: language models, thin wrappers over ``bptt.jobs.language_model``.

    bptt train lm --text FILE [--level char|word] [--cell lstm] [--hidden-size 256] [--seq-len 100]
                  [--batch-size 32] [--epochs 10] [--time-budget MIN] [--out runs/lm] [--resume CKPT]
    bptt train lm --corpus DIR|FILE ... --level word [--tokenizer review] [--softmax sampled]
                  [--tie-weights] [--direction backward] [--exclude LIST] [--init-from LM] ...
    bptt train lm --labelled TSV [--dev TSV] [--level word] ...   (a label-conditioned model)
    bptt generate MODEL [--prime TEXT] [--length N] [--temperature T] [--top-k K] [--seed S]
                        [--label CLASS]

``--text`` trains on one long text with truncated BPTT over parallel streams and holds out its
last ``--val-fraction`` (or ``--dev FILE``); ``--labelled`` trains on sentences conditioned on
their label (``--dev`` labelled sentences, default 5% of them held out). The best model by
validation loss is ``OUT/best``. ``generate`` writes the prime, then each token as it is drawn.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._settings import (add_column_arguments, add_run_arguments, add_settings_arguments, exit_status, held_out_of,
                        non_negative_float, positive_int, read_labelled, read_text_reported, seed_int, start_run)


def cmd_train_lm(args) -> int:
    from ..jobs import language_model as lm
    given, run = start_run(args, lm.LMSettings)
    settings = lm.LMSettings(**given)
    common = dict(settings=settings, **run)
    if args.text is not None:
        text = read_text_reported(args.text)
        val_text = read_text_reported(args.dev) if args.dev else None
        result = lm.train_lm(text, val_text=val_text, source=args.text, **common)
    elif args.corpus is not None:
        from ..data.corpus import read_corpus, read_exclude_list
        exclude = read_exclude_list(args.exclude) if args.exclude else ()
        corpus = read_corpus(args.corpus, exclude)
        print(f"corpus: {len(corpus.documents):,} documents from {', '.join(args.corpus)}"
              f"{f' ({len(exclude):,} excluded by {args.exclude})' if exclude else ''}", file=sys.stderr)
        val_docs = read_corpus([args.dev]).documents if args.dev else None
        result = lm.train_lm_corpus(corpus.documents, val_documents=val_docs, source=", ".join(args.corpus),
                                    **common)
    else:
        texts, labels, classes, dev_texts, dev_labels = _labelled(args, settings.seed)
        result = lm.train_conditional(texts, labels, classes, dev_texts, dev_labels, **common)
    best = result.best
    score = f"{best['bpc']:.4f} bits per character" if "bpc" in best else f"perplexity {best['perplexity']:.2f}"
    print(f"best validation {score} ({best['loss']:.4f} nats per token); model: {Path(args.out) / 'best'}")
    return exit_status(result.trainer)


def _labelled(args, seed: int):
    import numpy as np

    from ..jobs._common import hold_out
    train = read_labelled(args, args.labelled)
    texts, labels = list(train.texts), np.asarray(train.labels)
    if args.dev:
        dev = read_labelled(args, args.dev, train.classes)
        return texts, labels, train.classes, list(dev.texts), np.asarray(dev.labels)
    with held_out_of(args.labelled, "labelled sentence"):
        (texts, labels), (dev_texts, dev_labels) = hold_out(20, seed, texts, labels)
    return texts, labels, train.classes, dev_texts, dev_labels


def cmd_generate(args) -> int:
    from ..jobs.language_model import TextModel
    from ..transfer import resolve_lm
    spec = args.model_option or args.model
    if spec is None or (args.model_option and args.model and args.model != args.model_option):
        raise ValueError("generate: name one model, as MODEL or --model MODEL")
    model = TextModel.load(resolve_lm(spec, what="generate MODEL"))
    out = sys.stdout
    pieces = model.generate(args.prime, args.length, args.temperature, args.top_k, args.seed, args.label)
    first = next(pieces, "")           # a bad prime or label is refused before anything is written
    out.write(args.prime + first)
    out.flush()
    for piece in pieces:
        out.write(piece)
        out.flush()
    out.write("\n")
    out.flush()
    return 0


def add_parsers(subparsers, train_subparsers) -> None:
    """Add ``generate`` to ``bptt``'s subcommands and ``lm`` to ``bptt train``'s."""
    from ..jobs.language_model import LMSettings
    p = train_subparsers.add_parser("lm", help="character- or word-level language model (or a "
                                               "label-conditioned one with --labelled)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="a plain UTF-8 text file: one stream, truncated BPTT")
    source.add_argument("--corpus", nargs="+", metavar="PATH",
                        help="documents for a word-level model: a folder (every *.txt file below it is "
                             "a document: the aclImdb layout), a file (one document per line) or a "
                             "labelled .tsv/.csv/.jsonl table (the text of each row; labels unused)")
    source.add_argument("--labelled", help="labelled sentences (SST-2 TSV, TSV/CSV/JSONL): a model "
                                           "conditioned on the label")
    p.add_argument("--dev", help="held-out data: a text file for --text (default: its last "
                                 "--val-fraction), labelled sentences for --labelled (default: 5%%)")
    p.add_argument("--exclude", metavar="FILE", help="with --corpus: documents not to read, one path "
                                                     "per line relative to its folder (neg/123_4.txt)")
    add_column_arguments(p)
    add_run_arguments(p, "runs/lm")
    add_settings_arguments(p, LMSettings, {"adaptive_cutoffs": dict(
        type=cutoff_list, metavar="C1,C2,...",
        help="with --softmax adaptive: the first word id of each cluster, increasing (the vocabulary is "
             "sorted by frequency); default 2000,10000 (those below the vocabulary size)")})
    p.set_defaults(func=cmd_train_lm)

    g = subparsers.add_parser("generate", help="sample text from a language model, streamed to stdout")
    g.add_argument("model", nargs="?", help="a shipped language model (imdb-lm, imdb-lm-backward) or a model "
                                            "directory (OUT/best of bptt train lm)")
    g.add_argument("--model", dest="model_option", metavar="MODEL", help="the same as MODEL")
    g.add_argument("--prime", default="", help="text to start from (default: a line start)")
    g.add_argument("--length", type=positive_int, default=500, help="tokens to generate (default 500)")
    g.add_argument("--temperature", type=non_negative_float, default=1.0,
                   help="0 = always the most likely token; higher, more random (default 1)")
    g.add_argument("--top-k", type=positive_int, help="draw only among the K most likely tokens")
    g.add_argument("--seed", type=seed_int, help="random seed: the same seed gives the same text")
    g.add_argument("--label", help="class to condition on (conditional models), e.g. positive")
    g.set_defaults(func=cmd_generate)


def cutoff_list(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated positive integers ("2000,10000")."""
    try:
        values = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers such as 2000,10000, "
                                         f"got {text!r}") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"cutoffs must be >= 1, got {text!r}")
    return values
