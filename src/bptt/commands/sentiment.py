"""``bptt predict | explain | evaluate | models | train sentiment``: the sentiment job.

Thin wrappers over ``bptt.jobs.sentiment``. MODEL is a shipped model name (``sst2``, the
default, or ``imdb``; ``bptt models`` lists them) or a model directory; anything else is an error
that names both. ``predict`` and ``explain`` take it as ``--model MODEL`` or as the first
positional argument, which counts as MODEL only if it is a model directory, or, with texts after
it, a shipped name or a path-like word (no whitespace, a ``/``): then it must be a model, so a
mistyped path is an error rather than a text. Any other positional is a text, whatever its
length (nothing longer than a name is ever looked up on disk as more than a string).

``predict`` reads texts from its arguments, else one per line from ``--input FILE`` or standard
input (``-``), lines split on ``\n`` only; a text with no words gets the answer ``(empty)``
rather than a guess. Texts are read whole unless ``--max-len`` asks otherwise. An argument is
one text whatever it holds, and gets one line of answer: a ``\n`` in it is shown as ``\\n``
where the text is echoed.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ._settings import (add_column_arguments, add_run_arguments, add_settings_arguments, exit_status, held_out_of,
                        read_labelled, run_summary, start_run, two_classes)

EMPTY = "(empty)"


def on_one_line(text: str) -> str:
    r"""``text`` with ``\n`` shown as ``\\n``: one answer, one line (answers are split on ``\n``
    only, as ``--input`` lines are)."""
    return text.replace("\n", "\\n")


def _names_a_model(first: str, n_positionals: int) -> bool:
    """Is the first positional argument of predict/explain meant as the MODEL?"""
    from ..jobs.sentiment import SHIPPED, is_model_directory
    if is_model_directory(first):
        return True
    if n_positionals < 2:
        return False
    return first in SHIPPED or (not any(c.isspace() for c in first)
                                and ("/" in first or os.sep in first) and len(first) < 4096)


def _model_and_texts(args) -> tuple[str | None, list[str]]:
    texts = list(args.texts)
    spec = args.model
    if spec is None and texts and _names_a_model(texts[0], len(texts)):
        spec = texts.pop(0)
    return spec, texts


def _sentiment_model(spec: str | None):
    from ..jobs.sentiment import load_sentiment_model
    return load_sentiment_model(spec)[0]


def _is_empty(text: str) -> bool:
    from ..data.tokenize import tokenize
    return not tokenize(text)


def cmd_predict(args) -> int:
    from ..data.readers import read_lines
    spec, texts = _model_and_texts(args)
    if args.input is not None:
        if texts:
            raise ValueError("give texts as arguments or --input FILE, not both")
        texts = read_lines(None if args.input == "-" else args.input)
    elif not texts or texts == ["-"]:
        texts = read_lines(None)
    clf = _sentiment_model(spec)
    full = [i for i, t in enumerate(texts) if not _is_empty(t)]
    probs = dict(zip(full, clf.predict_proba([texts[i] for i in full], args.max_len, args.truncate)))
    for i, text in enumerate(texts):
        p = probs.get(i)
        if args.json:
            record = ({"text": text, "label": None, "probabilities": None, "note": "no words to classify"}
                      if p is None else
                      {"text": text, "label": clf.classes_[int(p.argmax())],
                       "probabilities": {c: round(float(q), 6) for c, q in zip(clf.classes_, p)}})
            print(json.dumps(record, ensure_ascii=False))
        elif p is None:
            print(f"{EMPTY}\t-\t{on_one_line(text)}")
        else:
            print(f"{clf.classes_[int(p.argmax())]}\t{p.max():.3f}\t{on_one_line(text)}")
    return 0


def cmd_explain(args) -> int:
    from ..data.readers import read_lines
    spec, texts = _model_and_texts(args)
    if texts == ["-"]:
        texts = ["\n".join(read_lines(None))]                    # all of stdin is the one text
    if len(texts) != 1:
        print("bptt explain: give exactly one text ('-' reads it from standard input)", file=sys.stderr)
        return 2
    if _is_empty(texts[0]):
        print("bptt explain: the text has no words to explain", file=sys.stderr)
        return 2
    clf = _sentiment_model(spec)
    if args.png:
        return _explain_png(clf, texts[0], args.png)
    steps = clf.explain(texts[0])
    classes = list(clf.classes_)
    target = classes.index("positive") if "positive" in classes else len(classes) - 1
    if args.json:
        print(json.dumps([{"token": tok, "probabilities": {c: round(float(q), 6) for c, q in zip(clf.classes_, p)}}
                          for tok, p in steps], ensure_ascii=False))
        return 0
    width = min(max(len(tok) for tok, _ in steps), 30)
    print(f"{'word':<{width}}  P({clf.classes_[target]})")
    for tok, p in steps:
        q = float(p[target])
        if len(tok) <= width:
            print(f"{tok:<{width}}  {q:.3f} {'#' * round(q * 30)}")
        else:                       # a span of words (long texts): the bar first, then the words
            print(f"{'':<{width}}  {q:.3f} {'#' * round(q * 30):<30}  {tok}")
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
    from ..metrics import classification_report
    clf = _sentiment_model(args.model)
    data = read_labelled(args, args.data, tuple(str(c) for c in clf.classes_))   # others: skipped, reported
    y = data.labels
    pred = clf.predict_proba(data.texts, args.max_len, args.truncate).argmax(1)
    result = classification_report(y, pred, clf.classes_)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result)
    return 0


def cmd_models(args) -> int:
    """``bptt models``: the shipped models, each with its recipe and measured figures."""
    from ..jobs.sentiment import shipped_models
    from ..transfer import shipped_language_models
    models = shipped_models()
    if args.json:
        print(json.dumps(models + shipped_language_models(), indent=2, ensure_ascii=False))
        return 0
    for m in models:
        s = m["settings"]
        recipe = (f"{'Bi' if s['bidirectional'] else ''}{s['cell'].upper()} hidden {s['hidden_size']}, "
                  f"{s['pooling']} pooling, embedding {s['embedding_dim'] or 'from the vectors'}"
                  f"{', GloVe ' + Path(s['vectors']).name if s.get('vectors') else ''}"
                  f"{', max_len %s (%s)' % (s['max_len'], s['truncate']) if s.get('max_len') else ''}")
        print(f"{m['name']}{' (default)' if m['default'] else ''}: {m['bytes'] / 1e6:.1f} MB, {recipe}")
        if m.get("data"):
            print(f"  data: {m['data']}")
        for key, value in m.get("figures", {}).items():
            print(f"  {key}: {value:.2%}" if isinstance(value, float) and value <= 1 else f"  {key}: {value}")
        if m.get("notes"):
            print(f"  notes: {m['notes']}")
    for m in shipped_language_models():
        s = m["settings"]
        print(f"{m['name']} (language model, {s['direction']}): {m['bytes'] / 1e6:.1f} MB, word "
              f"{s['cell'].upper()} hidden {s['hidden_size']}, {s['max_vocab']:,} words, "
              f"{'tied embeddings, ' if s.get('tie_weights') else ''}{s['softmax']} softmax")
        for key in ("data", "notes"):
            if m.get(key):
                print(f"  {key}: {m[key]}")
        for key, value in m.get("figures", {}).items():
            print(f"  {key}: {value}")
    return 0


def cmd_train_sentiment(args) -> int:
    from ..jobs.sentiment import SentimentClassifier, SentimentSettings
    settings, run = start_run(args, SentimentSettings)
    train = read_labelled(args, args.train)
    two_classes(train, args.train)
    dev_texts = dev_labels = None
    if args.dev:
        dev = read_labelled(args, args.dev, train.classes)
        dev_texts, dev_labels = dev.texts, [dev.classes[i] for i in dev.labels]
    clf = SentimentClassifier(**settings)
    with held_out_of(args.train, "labelled text"):
        clf.fit(train.texts, [train.classes[i] for i in train.labels], dev_texts, dev_labels,
                classes=train.classes, **run)
    if clf.settings.ensemble > 1:
        print(f"ensemble of {len(clf.members_)} members: dev accuracy {clf.dev_accuracy_:.4f}; "
              f"model: {Path(args.out) / 'best'}")
    else:
        print(run_summary(clf.trainer_, "accuracy", args.out))
    return exit_status(clf.trainer_)


def init_from_argument(what: str) -> dict:
    """The add_argument keywords of ``--init-from LM``: repeatable, each a comma-separated list."""
    from ..transfer import init_specs
    return dict(action="extend", type=lambda text: list(init_specs(text)), metavar="LM",
                help=f"start the {what}'s embedding and recurrent layers from a word-level language "
                     f"model (a directory holding lm.json, or a shipped name): a forward one starts the "
                     f"forward direction, a backward one the backward direction; repeat the flag or "
                     f"separate two with a comma; with --vectors, the file's vectors go beside the "
                     f"LMs' in the word vector (docs/pretraining.md)")


def _add_truncation(p) -> None:
    from ..data.batching import KEEP
    from ._settings import positive_int
    p.add_argument("--max-len", type=positive_int, help="read at most N tokens of each text (default: all)")
    p.add_argument("--truncate", choices=KEEP, default="head+tail", help="which tokens --max-len keeps")


def add_parsers(subparsers, train_subparsers) -> None:
    """Add predict, explain and evaluate to ``bptt``; sentiment to ``bptt train``."""
    from ..jobs.sentiment import SentimentSettings
    sub, train = subparsers, train_subparsers
    model_help = "shipped model name (sst2, imdb) or model directory (default: sst2)"
    p = sub.add_parser("predict", help="classify texts (arguments, or one per line from a file or stdin)")
    p.add_argument("texts", nargs="*", help="[MODEL] text ...; '-' or nothing reads stdin")
    p.add_argument("--model", help=model_help)
    p.add_argument("--input", metavar="FILE", help="one text per line ('-': stdin), split on \\n only")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    _add_truncation(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("explain", help="P(positive) after each word of a text")
    p.add_argument("texts", nargs="+", help="[MODEL] text ('-' reads the text from stdin)")
    p.add_argument("--model", help=model_help)
    p.add_argument("--json", action="store_true", help="the probabilities after each word as JSON")
    p.add_argument("--png", metavar="FILE", help="draw P(positive) after each word into this PNG")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("evaluate", help="accuracy, per-class precision/recall/F1, confusion matrix")
    p.add_argument("model", help=model_help)
    p.add_argument("data", help="SST-2 TSV, TSV/CSV/JSONL with text and label columns, or an IMDB folder")
    add_column_arguments(p, classes=False)
    p.add_argument("--json", action="store_true", help="the report as JSON")
    _add_truncation(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("models", help="the shipped sentiment models, with their recipes and figures")
    p.add_argument("--json", action="store_true", help="the list as JSON")
    p.set_defaults(func=cmd_models)

    p = train.add_parser("sentiment", help="many-to-one sentiment classifier")
    p.add_argument("--train", required=True, help="labelled texts: SST-2 TSV, TSV/CSV/JSONL with text and "
                                                  "label columns, or an IMDB folder")
    p.add_argument("--dev", help="dev set (default: --dev-fraction of --train held out, seeded)")
    add_column_arguments(p)
    add_run_arguments(p, "runs/sentiment")
    from ..data.batching import KEEP
    add_settings_arguments(p, SentimentSettings, custom={
        "truncate": dict(choices=KEEP, help="which --max-len tokens of a training text to keep "
                                             "(default head+tail: the first quarter and the last "
                                             "three quarters)"),
        "init_from": init_from_argument("classifier")})
    p.set_defaults(func=cmd_train_sentiment)
