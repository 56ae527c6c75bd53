"""``bptt train tagger`` and ``bptt tag``: part-of-speech tagging, thin wrappers over ``bptt.jobs.tagger``.

    bptt train tagger --train FILE [--dev FILE] [--test FILE ...] [--out runs/tagger]
                      [--features suffix,shape|none] [--lowercase true|false] [--epochs 30] ...
    bptt tag MODEL "text" ...   (or one text per line on stdin) [--pretokenized] [--json]

FILE is CoNLL-U (``.conllu``: FORM -> UPOS of the word lines) or ``token<TAB>tag`` lines with a
blank line between sentences. ``--test`` files are scored at the end, next to the
most-frequent-tag baseline. ``tag`` prints ``token/TAG`` for every token of each text.
"""
from __future__ import annotations

import json
import sys

from ._settings import (add_run_arguments, add_settings_arguments, exit_status, held_out_of, read_reported,
                        run_summary, start_run)


def _names(text: str) -> tuple[str, ...]:
    """"suffix,shape" -> ("suffix", "shape"); "" or "none" -> ()."""
    if text.lower() in ("", "none"):
        return ()
    return tuple(part.strip() for part in text.split(",") if part.strip())


def cmd_train_tagger(args) -> int:
    from ..baseline import MostFrequentTag
    from ..data.tagged import read_tagged
    from ..jobs.tagger import SequenceTagger, TaggerSettings
    settings, run = start_run(args, TaggerSettings)
    train = read_reported(read_tagged, args.train)
    dev = read_reported(read_tagged, args.dev) if args.dev else None
    with held_out_of(args.train, "sentence"):
        tagger = SequenceTagger(**settings).fit(train, dev, **run)
    print(run_summary(tagger.trainer_, "accuracy", args.out))
    if exit_status(tagger.trainer_):
        return exit_status(tagger.trainer_)
    if args.test:
        baseline = MostFrequentTag().fit(train)
        for path in args.test:
            test = read_reported(read_tagged, path)
            ours, base = tagger.evaluate(test), baseline.evaluate(test)
            print(f"{path}: accuracy {ours['accuracy']:.4f} (unknown words {ours['accuracy_unknown']:.4f}); "
                  f"most-frequent-tag baseline {base['accuracy']:.4f}")
    return 0


def cmd_tag(args) -> int:
    from ..jobs.tagger import SequenceTagger
    texts = list(args.texts)
    if not texts or texts == ["-"]:
        from ..data.readers import read_lines
        texts = read_lines(sys.stdin)
    tagger = SequenceTagger.load(args.model)
    for text in texts:
        pairs = tagger.tag(text, pretokenized=args.pretokenized)
        if args.json:
            print(json.dumps({"text": text, "tokens": [{"token": w, "tag": t} for w, t in pairs]},
                             ensure_ascii=False))
        else:
            print(" ".join(f"{w}/{t}" for w, t in pairs))
    return 0


def add_parsers(subparsers, train_subparsers) -> None:
    """Add ``tag`` to ``bptt``'s subcommands and ``tagger`` to ``bptt train``'s."""
    from ..jobs.tagger import TaggerSettings
    p = train_subparsers.add_parser("tagger", help="sequence tagger (part of speech): a tag per token")
    p.add_argument("--train", required=True, help="CoNLL-U (.conllu) or token<TAB>tag file")
    p.add_argument("--dev", help="dev set, picks the best epoch (default: 10%% of --train held out)")
    p.add_argument("--test", nargs="*", default=[], help="files to score at the end, with the baseline")
    add_run_arguments(p, "runs/tagger")
    from .sentiment import init_from_argument
    add_settings_arguments(p, TaggerSettings, custom={"features": dict(
        type=_names, help="comma-separated, any of: suffix, shape; 'none' for words alone "
                          "(default suffix,shape)"), "init_from": init_from_argument("tagger")})
    p.set_defaults(func=cmd_train_tagger)

    t = subparsers.add_parser("tag", help="tag the words of texts (arguments, or one per line on stdin)")
    t.add_argument("model", help="model directory (OUT/best of bptt train tagger)")
    t.add_argument("texts", nargs="*", help="texts; '-' or nothing reads stdin")
    t.add_argument("--pretokenized", action="store_true", help="split on whitespace only")
    t.add_argument("--json", action="store_true", help="one JSON object per text")
    t.set_defaults(func=cmd_tag)
