"""``bptt train seq2seq`` and ``bptt translate``: encoder-decoder models, thin wrappers over
``bptt.jobs.translation``.

    bptt train seq2seq --pairs FILE.tsv [--dev FILE.tsv] [--test FILE.tsv] [--out runs/seq2seq]
                       [--level char|word] [--hidden-size 128] [--epochs 10] ...
    bptt translate MODEL "text" ...   (or one text per line on stdin) [--beam K] [--json]

FILE.tsv holds ``source<TAB>target`` lines (``bptt data dates --out DIR`` writes the
date-normalisation data in this form). Without ``--dev`` 5% of the pairs are held out to pick
the best epoch by exact match. ``translate`` prints one output per text: greedy, or beam search
with ``--beam K``; a text with nothing to translate (a blank line) gets ``(empty)`` (in JSON,
output null), as ``bptt predict`` answers it, so outputs line up with inputs.
"""
from __future__ import annotations

import json
import sys

from ._settings import (add_run_arguments, add_settings_arguments, exit_status, held_out_of, positive_int,
                        read_reported, run_summary, start_run)
from .sentiment import EMPTY


def cmd_train_seq2seq(args) -> int:
    from ..data.pairs import read_pairs
    from ..jobs.translation import Translator, TranslatorSettings
    settings, run = start_run(args, TranslatorSettings)
    pairs = read_reported(read_pairs, args.pairs)
    dev = read_reported(read_pairs, args.dev) if args.dev else None
    with held_out_of(args.pairs, "pair"):
        model = Translator(**settings).fit(pairs, dev, **run)
    print(run_summary(model.trainer_, "exact match", args.out))
    if exit_status(model.trainer_):
        return exit_status(model.trainer_)
    for path in args.test:
        result = model.evaluate(read_reported(read_pairs, path))
        print(f"{path}: exact match {result['exact_match']:.4f} (greedy, {result['pairs']} pairs)")
    return 0


def cmd_translate(args) -> int:
    from ..jobs.translation import Translator
    texts = list(args.texts)
    if not texts or texts == ["-"]:
        from ..data.readers import read_lines
        texts = read_lines(sys.stdin)
    model = Translator.load(args.model)
    full = [i for i, t in enumerate(texts) if model.split(t)]
    hyps = dict(zip(full, model.hypotheses([texts[i] for i in full], beam=args.beam)))
    for i, text in enumerate(texts):
        h = hyps.get(i)
        if h is None:
            print(json.dumps({"source": text, "output": None, "note": "nothing to translate"}, ensure_ascii=False)
                  if args.json else EMPTY)
            continue
        output = model.join(model.target_vocab_.decode(h.tokens))
        if args.json:
            print(json.dumps({"source": text, "output": output, "log_prob": round(h.score, 6),
                              "finished": h.finished}, ensure_ascii=False))
        else:
            print(output)
    return 0


def add_parsers(subparsers, train_subparsers) -> None:
    """Add ``translate`` to ``bptt``'s subcommands and ``seq2seq`` to ``bptt train``'s."""
    from ..jobs.translation import TranslatorSettings
    p = train_subparsers.add_parser("seq2seq", help="encoder-decoder on source<TAB>target pairs")
    p.add_argument("--pairs", required=True, help="training pairs: source<TAB>target lines")
    p.add_argument("--dev", help="dev pairs, pick the best epoch (default: 5%% of --pairs held out)")
    p.add_argument("--test", nargs="*", default=[], help="pair files to score at the end (greedy)")
    add_run_arguments(p, "runs/seq2seq")
    add_settings_arguments(p, TranslatorSettings)
    p.set_defaults(func=cmd_train_seq2seq)

    t = subparsers.add_parser("translate", help="decode texts with an encoder-decoder model")
    t.add_argument("model", help="model directory (OUT/best of bptt train seq2seq)")
    t.add_argument("texts", nargs="*", help="texts; '-' or nothing reads stdin")
    t.add_argument("--beam", type=positive_int, default=1, help="beam width (1 = greedy)")
    t.add_argument("--json", action="store_true", help="one JSON object per text, with the log-probability")
    t.set_defaults(func=cmd_translate)
