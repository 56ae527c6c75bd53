"""The ``bptt`` command: parse arguments and hand them to the job's command module.

    bptt predict [MODEL] "text" ...     bptt explain [MODEL] "text"     bptt evaluate MODEL DATA
    bptt train sentiment --train FILE --dev FILE ...                 (commands/sentiment.py)
    bptt data download sst2|imdb      bptt data dates --out DIR           (commands/data.py)
    bptt train lm --text FILE ...      bptt generate MODEL --prime "..."   (commands/lm.py)
    bptt train tagger ...              bptt tag MODEL "text"               (commands/tagger.py)
    bptt train seq2seq --pairs F.tsv   bptt translate MODEL "text"         (commands/seq2seq.py)
    bptt diagnose ...                                                      (commands/diagnose.py)
    bptt plot RUN_DIR [RUN_DIR ...] [--out DIR]                            (commands/plot.py)
    bptt serve [MODEL] --port 8000                                         (commands/serve.py)
"""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from .commands import data, diagnose, lm, plot, seq2seq, sentiment, serve, tagger
    parser = argparse.ArgumentParser(prog="bptt", description="Recurrent neural networks from the math up.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a model").add_subparsers(dest="job", required=True)
    for module in (sentiment, lm, tagger, seq2seq, diagnose, data, plot, serve):
        module.add_parsers(sub, train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"bptt: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
