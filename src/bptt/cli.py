"""The ``bptt`` command: thin wrappers that parse arguments and call the library.

    bptt train sentiment --train FILE --dev FILE [--cell lstm] [--out DIR] ...
    bptt evaluate MODEL DATA [--json]
    bptt predict [MODEL] "text" ...   (or one text per line on stdin) [--json]
    bptt explain [MODEL] "text" [--json]
    bptt data download sst2|imdb [--cache-dir DIR]
    bptt train lm --text FILE ... / bptt generate MODEL --prime "..."      (commands/lm.py)
    bptt train tagger ... / bptt tag MODEL "text"                           (commands/tagger.py)
    bptt train seq2seq --pairs FILE.tsv / bptt translate MODEL "text"      (commands/seq2seq.py)
    bptt diagnose ...                                                       (commands/diagnose.py)

MODEL is a model directory; without it the sentiment model shipped in the package is used.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path


def _sentiment_model(path: str | None):
    from .sentiment import SentimentClassifier
    return SentimentClassifier.pretrained() if path is None else SentimentClassifier.load(path)


def _split_model_arg(args) -> tuple[str | None, list[str]]:
    """``predict MODEL text...``: the first positional is the model if it is a model directory."""
    texts = list(args.texts)
    model = args.model
    if model is None and texts and Path(texts[0], "sentiment.json").is_file():
        model = texts.pop(0)
    return model, texts


def cmd_predict(args) -> int:
    model_path, texts = _split_model_arg(args)
    if not texts or texts == ["-"]:
        from .data.readers import read_lines
        texts = read_lines(sys.stdin)
    clf = _sentiment_model(model_path)
    probs = clf.predict_proba(texts)
    for text, p in zip(texts, probs):
        label = clf.classes[int(p.argmax())]
        if args.json:
            print(json.dumps({"text": text, "label": label,
                              "probabilities": {c: round(float(q), 6) for c, q in zip(clf.classes, p)}}))
        else:
            print(f"{label}\t{p.max():.3f}\t{text}")
    return 0


def cmd_explain(args) -> int:
    model_path, texts = _split_model_arg(args)
    if len(texts) != 1:
        print("bptt explain: give exactly one text", file=sys.stderr)
        return 2
    clf = _sentiment_model(model_path)
    steps = clf.explain(texts[0])
    target = clf.classes.index("positive") if "positive" in clf.classes else len(clf.classes) - 1
    if args.json:
        print(json.dumps([{"token": tok, "probabilities": {c: round(float(q), 6) for c, q in zip(clf.classes, p)}}
                          for tok, p in steps]))
        return 0
    width = max(len(tok) for tok, _ in steps)
    print(f"{'word':<{width}}  P({clf.classes[target]})")
    for tok, p in steps:
        q = float(p[target])
        print(f"{tok:<{width}}  {q:.3f} {'#' * round(q * 30)}")
    print(f"=> {clf.classes[int(steps[-1][1].argmax())]}")
    return 0


def cmd_evaluate(args) -> int:
    from .data.readers import read_dataset
    from .metrics import classification_report
    from .sentiment import _classes_and_ids
    clf = _sentiment_model(args.model)
    data, report = read_dataset(args.data, args.text_column, args.label_column)
    print(report, file=sys.stderr)
    _, y = _classes_and_ids([data.classes[i] for i in data.labels], clf.classes)
    pred = clf.predict_proba(data.texts).argmax(1)
    result = classification_report(y, pred, clf.classes)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result)
    return 0


def cmd_train_sentiment(args) -> int:
    from .data.readers import read_dataset
    from .sentiment import SentimentClassifier, SentimentSettings
    train, report = read_dataset(args.train, args.text_column, args.label_column)
    print(report, file=sys.stderr)
    dev_texts = dev_labels = None
    if args.dev:
        dev, dev_report = read_dataset(args.dev, args.text_column, args.label_column, classes=train.classes)
        print(dev_report, file=sys.stderr)
        dev_texts, dev_labels = dev.texts, list(dev.labels)
    settings = {f.name: getattr(args, f.name) for f in fields(SentimentSettings)
                if getattr(args, f.name, None) is not None}
    clf = SentimentClassifier(**settings)
    clf.fit(train.texts, list(train.labels), dev_texts, dev_labels, classes=train.classes,
            out_dir=args.out, resume=args.resume, progress=not args.quiet)
    state = clf.trainer.state
    print(f"best dev accuracy {state.best_score:.4f} at epoch {state.best_epoch}; "
          f"model: {Path(args.out) / 'best'}")
    return 0


def cmd_download(args) -> int:
    from .data.download import download
    path = download(args.name, args.cache_dir)
    print(path)
    return 0


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    from .sentiment import SentimentSettings
    parser = argparse.ArgumentParser(prog="bptt", description="Recurrent neural networks from the math up.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="classify texts (arguments, or one per line on stdin)")
    p.add_argument("texts", nargs="*", help="[MODEL] text ...; '-' or nothing reads stdin")
    p.add_argument("--model", help="model directory (default: the shipped sentiment model)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("explain", help="P(positive) after each word of a text")
    p.add_argument("texts", nargs="+", help="[MODEL] text")
    p.add_argument("--model")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("evaluate", help="accuracy, per-class precision/recall/F1, confusion matrix")
    p.add_argument("model")
    p.add_argument("data", help="SST-2 TSV, TSV/CSV/JSONL with text and label columns, or an IMDB folder")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    train = sub.add_parser("train", help="train a model").add_subparsers(dest="job", required=True)
    p = train.add_parser("sentiment", help="many-to-one sentiment classifier")
    p.add_argument("--train", required=True)
    p.add_argument("--dev", help="dev set (default: 5%% of --train held out)")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--out", default="runs/sentiment", help="checkpoint, best/ and metrics.jsonl go here")
    p.add_argument("--resume", help="continue from this checkpoint.safetensors")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    kinds = {"int": int, "float": float, "str": str, "bool": _bool}
    for f in fields(SentimentSettings):
        kind = str(f.type).split(" ")[0].replace("|", "").strip()
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kinds.get(kind, str),
                       help=f"default {f.default}")
    p.set_defaults(func=cmd_train_sentiment)

    from .commands import diagnose, lm, seq2seq, tagger
    for module in (lm, tagger, seq2seq, diagnose):
        module.add_parsers(sub, train)

    data = sub.add_parser("data", help="datasets").add_subparsers(dest="action", required=True)
    p = data.add_parser("download", help="fetch, verify (SHA-256) and unpack a public dataset")
    p.add_argument("name", choices=["sst2", "imdb"])
    p.add_argument("--cache-dir", help="default: $BPTT_CACHE or ~/.cache/bptt")
    p.set_defaults(func=cmd_download)
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
