"""``bptt predict | explain | evaluate | train sentiment``: the sentiment job.

Thin wrappers over ``bptt.jobs.sentiment``; MODEL is a model directory, and without one the
sentiment model shipped in the package is used.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ._settings import add_run_arguments, add_settings_arguments, run_options, settings_from_args


def _sentiment_model(path: str | None):
    from ..jobs.sentiment import SentimentClassifier
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
        from ..data.readers import read_lines
        texts = read_lines(sys.stdin)
    clf = _sentiment_model(model_path)
    probs = clf.predict_proba(texts)
    for text, p in zip(texts, probs):
        label = clf.classes_[int(p.argmax())]
        if args.json:
            print(json.dumps({"text": text, "label": label,
                              "probabilities": {c: round(float(q), 6) for c, q in zip(clf.classes_, p)}}))
        else:
            print(f"{label}\t{p.max():.3f}\t{text}")
    return 0


def cmd_explain(args) -> int:
    model_path, texts = _split_model_arg(args)
    if len(texts) != 1:
        print("bptt explain: give exactly one text", file=sys.stderr)
        return 2
    clf = _sentiment_model(model_path)
    if args.png:
        return _explain_png(clf, texts[0], args.png)
    steps = clf.explain(texts[0])
    target = clf.classes_.index("positive") if "positive" in clf.classes_ else len(clf.classes_) - 1
    if args.json:
        print(json.dumps([{"token": tok, "probabilities": {c: round(float(q), 6) for c, q in zip(clf.classes_, p)}}
                          for tok, p in steps]))
        return 0
    width = max(len(tok) for tok, _ in steps)
    print(f"{'word':<{width}}  P({clf.classes_[target]})")
    for tok, p in steps:
        q = float(p[target])
        print(f"{tok:<{width}}  {q:.3f} {'#' * round(q * 30)}")
    print(f"=> {clf.classes_[int(steps[-1][1].argmax())]}")
    return 0


def _explain_png(clf, text: str, path: str) -> int:
    """``explain --png FILE``: the per-word probabilities drawn (``bptt.plots.plot_explanation``)."""
    from ..explanation import explain
    from ..plots import plot_explanation
    try:
        print(plot_explanation(explain(clf, text), path))
    except ImportError as err:
        print(f"bptt explain: {err}", file=sys.stderr)
        return 1
    return 0


def cmd_evaluate(args) -> int:
    from ..data.readers import read_dataset
    from ..metrics import classification_report
    from ..jobs.sentiment import _classes_and_ids
    clf = _sentiment_model(args.model)
    data, report = read_dataset(args.data, args.text_column, args.label_column)
    print(report, file=sys.stderr)
    _, y = _classes_and_ids([data.classes[i] for i in data.labels], clf.classes_)
    pred = clf.predict_proba(data.texts).argmax(1)
    result = classification_report(y, pred, clf.classes_)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result)
    return 0


def cmd_train_sentiment(args) -> int:
    from ..data.readers import read_dataset
    from ..jobs.sentiment import SentimentClassifier, SentimentSettings
    train, report = read_dataset(args.train, args.text_column, args.label_column)
    print(report, file=sys.stderr)
    dev_texts = dev_labels = None
    if args.dev:
        dev, dev_report = read_dataset(args.dev, args.text_column, args.label_column, classes=train.classes)
        print(dev_report, file=sys.stderr)
        dev_texts, dev_labels = dev.texts, list(dev.labels)
    clf = SentimentClassifier(**settings_from_args(SentimentSettings, args))
    clf.fit(train.texts, list(train.labels), dev_texts, dev_labels, classes=train.classes,
            **run_options(args))
    state = clf.trainer_.state
    print(f"best dev accuracy {state.best_score:.4f} at epoch {state.best_epoch}; "
          f"model: {Path(args.out) / 'best'}")
    return 0


def add_parsers(subparsers, train_subparsers) -> None:
    """Add predict, explain and evaluate to ``bptt``; sentiment to ``bptt train``."""
    from ..jobs.sentiment import SentimentSettings
    sub, train = subparsers, train_subparsers
    p = sub.add_parser("predict", help="classify texts (arguments, or one per line on stdin)")
    p.add_argument("texts", nargs="*", help="[MODEL] text ...; '-' or nothing reads stdin")
    p.add_argument("--model", help="model directory (default: the shipped sentiment model)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("explain", help="P(positive) after each word of a text")
    p.add_argument("texts", nargs="+", help="[MODEL] text")
    p.add_argument("--model")
    p.add_argument("--json", action="store_true")
    p.add_argument("--png", metavar="FILE", help="draw P(positive) after each word into this PNG")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("evaluate", help="accuracy, per-class precision/recall/F1, confusion matrix")
    p.add_argument("model")
    p.add_argument("data", help="SST-2 TSV, TSV/CSV/JSONL with text and label columns, or an IMDB folder")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = train.add_parser("sentiment", help="many-to-one sentiment classifier")
    p.add_argument("--train", required=True)
    p.add_argument("--dev", help="dev set (default: 5%% of --train held out)")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    add_run_arguments(p, "runs/sentiment")
    add_settings_arguments(p, SentimentSettings)
    p.set_defaults(func=cmd_train_sentiment)
