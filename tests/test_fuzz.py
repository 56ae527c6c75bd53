"""Fuzzing every reader and loader with damaged copies of good files (``fuzz.py``): each input
gives a clean result whose counts add up (or weights equal to the good file's), or an error
naming the file; never a traceback, never a silent drop.

The default run tries ``FAST`` inputs per target; ``pytest -m slow`` tries ``SLOW``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from bptt import io
from bptt.data.pairs import read_pairs
from bptt.data.readers import read_dataset, read_lines
from bptt.data.tagged import read_conllu, read_token_tags
from bptt.data.text import decode, read_text, split_lines
from bptt.data.vocab import Vocabulary
from bptt.models import Classifier, ClassifierConfig
from fuzz import Tally, fuzz_file

FAST, SLOW = 40, 2000


# ---- good files ----------------------------------------------------------------------------------
def _reviews(n: int = 24) -> list[tuple[str, str]]:
    words = ["good", "bad", "not", "great", "dull", "film", "plot", "é", "naïve", "—"]
    rng = np.random.default_rng(1)
    return [(" ".join(rng.choice(words, size=int(rng.integers(1, 6)))), ["negative", "positive"][i % 2])
            for i in range(n)]


def _glue() -> bytes:
    return ("sentence\tlabel\n" + "".join(f"{t} \t{i % 2}\n" for i, (t, _) in enumerate(_reviews()))).encode()


def _tsv() -> bytes:
    return ("id\ttext\tlabel\n" + "".join(f"{i}\t{t}\t{y}\n" for i, (t, y) in enumerate(_reviews()))).encode()


def _csv(sep: str = ",", header: str | None = "text,label") -> bytes:
    rows = [f'"{t}, really"{sep}{y}' if i % 3 == 0 else f'"{t}\nsecond line"{sep}{y}' if i % 7 == 0
            else f"{t}{sep}{y}" for i, (t, y) in enumerate(_reviews())]
    head = [header.replace(",", sep)] if header else []
    return ("\n".join(head + rows) + "\n").encode()


# CSV files as people have them: (file name, good bytes, read_dataset's arguments)
CSV_VARIANTS = {"csv_semicolon": ("s.csv", lambda: _csv(";", "Text,Label"), {}),
                "csv_tab": ("t.csv", lambda: _csv("\t"), {}),
                "csv_pipe": ("p.csv", lambda: _csv("|", "REVIEW,Sentiment"), {}),
                "csv_no_header": ("n.csv", lambda: _csv(";", None),
                                  {"header": False, "text_column": 0, "label_column": 1})}


def _jsonl() -> bytes:
    return "".join(json.dumps({"text": t, "label": y}, ensure_ascii=i % 2 == 0) + "\n"
                   for i, (t, y) in enumerate(_reviews())).encode()


CONLLU = ("# sent_id = 1\n# text = I don't know.\n1\tI\tI\tPRON\t_\t_\t3\tnsubj\t_\t_\n"
          "2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n2\tdo\tdo\tAUX\t_\t_\t3\taux\t_\t_\n"
          "3\tn't\tnot\tPART\t_\t_\t4\tadvmod\t_\t_\n4\tknow\tknow\tVERB\t_\t_\t0\troot\t_\t_\n"
          "5\t.\t.\tPUNCT\t_\t_\t4\tpunct\t_\t_\n\n"
          "# sent_id = 2\n1\tYes\tyes\tINTJ\t_\t_\t0\troot\t_\t_\n1.1\tsaid\tsay\tVERB\t_\t_\t_\t_\t0:root\t_\n"
          "2\t!\t!\tPUNCT\t_\t_\t1\tpunct\t_\t_\n\n").encode()
TOKEN_TAGS = "The\tDET\ndog\tNOUN\nbarks\tVERB\n\nHi\tINTJ\n!\tPUNCT\n\nNaïve\tADJ\ncafé\tNOUN\n".encode()
PAIRS = "".join(f"{d} mar 9{d}\t199{d}-03-0{d}\n" for d in range(1, 10)).encode()
TEXT = ("the cat sat on the mat.\nthe dog ran to the cat.\r\n" * 20 + "naïve café\n").encode()


# ---- what a clean result must satisfy ---------------------------------------------------------------
def _body_lines(data: bytes, header: bool) -> int:
    return len(split_lines(decode(data, "x").data)) - header


def _dataset_adds_up(kind: str, header: bool = True):
    def expect(result, data: bytes) -> str:
        ds, report = result
        if report.rows != report.kept + len(report.skipped) or report.kept != len(ds):
            return f"rows {report.rows} != kept {report.kept} + skipped {len(report.skipped)} (dataset {len(ds)})"
        if sum(report.classes.values()) != len(ds):
            return f"class counts {report.classes} do not add up to {len(ds)}"
        counts = ds.class_counts()                  # the label rule (bptt.data.labels), checked apart
        for c, n in counts.items():
            if c not in ("negative", "positive") and (
                    (n == 1 and len(ds) >= 20) or c.casefold() in ("negative", "positive")):
                return f"a damaged label became a class: {c!r} ({n} of {len(ds)} rows)"
        lines = _body_lines(data, header=header and kind != "jsonl")
        quoted = kind == "csv" and b'"' in decode(data, "x").data
        if (report.rows > lines) if quoted else (report.rows != lines):
            return f"{report.rows} rows reported for {lines} lines"
        return ""
    return expect


def _words(data: bytes, conllu: bool) -> tuple[int, int]:
    """(word lines, sentences) of a tagged file, counted without the readers."""
    lines = [line.decode("utf-8") for line in split_lines(decode(data, "x").data)]
    if conllu:
        lines = [x if re.match(r"[1-9]\d*\t", x) else "" if not x.strip() else "#" for x in lines]
    words = sentences = in_sentence = 0
    for x in lines:
        word = bool(x.strip()) and not (conllu and x.startswith("#"))
        words += word
        sentences += word and not in_sentence
        in_sentence = (in_sentence or word) and bool(x.strip())
    return words, sentences


def _tagged_adds_up(conllu: bool):
    def expect(sentences, data: bytes) -> str:
        words, n = _words(data, conllu)
        got = sum(len(s.words) for s in sentences)
        if (got, len(sentences)) != (words, n) or any(len(s.words) != len(s.tags) for s in sentences):
            return f"{got} words in {len(sentences)} sentences read, the file has {words} in {n}"
        return ""
    return expect


def _pairs_add_up(pairs, data: bytes) -> str:
    lines = [x for x in split_lines(decode(data, "x").data) if x.strip()]
    return "" if len(pairs) == len(lines) else f"{len(pairs)} pairs read from {len(lines)} lines"


def _text_is_the_file(text, data: bytes) -> str:
    want = decode(data, "x").data.decode("utf-8").replace("\r\n", "\n")
    return "" if text == want else "the text read differs from the file's"


def _lines_add_up(lines, data: bytes) -> str:
    want = len(split_lines(decode(data, "x").data))
    return "" if len(lines) == want else f"{len(lines)} lines read from {want}"


def _vocabulary_is_valid(vocab, data: bytes) -> str:
    return "" if vocab.tokens[:2] == ["<pad>", "<unk>"] and len(set(vocab.tokens)) == len(vocab) else "bad vocabulary"


def _same_params(reference: dict[str, np.ndarray]):
    def expect(model, data: bytes) -> str:
        if sorted(model.params) != sorted(reference):
            return "other tensors"
        for name, value in reference.items():
            if model.params[name].dtype != value.dtype or not np.array_equal(model.params[name], value):
                return f"damaged weights accepted: tensor {name!r} differs from the good file's"
        return ""
    return expect


def _same_tensors(reference: tuple[dict, dict]):
    def expect(result, data: bytes) -> str:
        tensors, meta = result
        if meta != reference[1]:
            return "damaged metadata accepted"
        if sorted(tensors) != sorted(reference[0]) or any(
                not np.array_equal(tensors[k], v) or tensors[k].dtype != v.dtype for k, v in reference[0].items()):
            return "damaged tensors accepted"
        return ""
    return expect


# ---- targets: (what to call, the good file, where it is written, the check) ---------------------------
def _model(directory: Path, weights_dtype=None) -> dict:
    model = Classifier(ClassifierConfig(40, 4, 3, 2, "lstm", bidirectional=True), np.random.default_rng(0))
    io.save(model, directory, weights_dtype=weights_dtype)
    return {k: v.copy() for k, v in io.load(directory).params.items()}


def _setup(name: str, tmp: Path):
    """(target, good bytes, path, expect, names an error must mention)."""
    table = {"glue_tsv": ("g.tsv", _glue), "table_tsv": ("t.tsv", _tsv), "csv": ("c.csv", _csv),
             "jsonl": ("j.jsonl", _jsonl)}
    if name in table:
        filename, make = table[name]
        return read_dataset, make(), tmp / filename, _dataset_adds_up(name.split("_")[0]), None
    if name in CSV_VARIANTS:
        filename, make, kwargs = CSV_VARIANTS[name]
        return (lambda p: read_dataset(p, **kwargs)), make(), tmp / filename, \
            _dataset_adds_up("csv", kwargs.get("header", True)), None
    if name == "damaged_labels":
        return read_dataset, _tsv(), tmp / "l.tsv", _dataset_adds_up("table"), None
    if name == "imdb":
        for folder, texts in (("neg", ["Bad.", "Dull, dull."]), ("pos", ["Great<br />film.", "Fine."])):
            (tmp / "aclImdb" / folder).mkdir(parents=True)
            for i, text in enumerate(texts):
                (tmp / "aclImdb" / folder / f"{i}_{i + 1}.txt").write_text(text, encoding="utf-8")

        def expect(result, data):
            ds, report = result
            ok = report.rows == 4 == report.kept + len(report.skipped) and report.kept == len(ds)
            return "" if ok else f"{report.rows} files, {report.kept} kept, {len(report.skipped)} skipped"
        return (lambda p: read_dataset(tmp / "aclImdb")), "Dull, dull.".encode(), tmp / "aclImdb/neg/1_2.txt", \
            expect, ("aclImdb",)
    if name == "conllu":
        return read_conllu, CONLLU, tmp / "a.conllu", _tagged_adds_up(True), None
    if name == "token_tags":
        return read_token_tags, TOKEN_TAGS, tmp / "a.tsv", _tagged_adds_up(False), None
    if name == "pairs":
        return read_pairs, PAIRS, tmp / "p.tsv", _pairs_add_up, None
    if name == "lm_text":
        return read_text, TEXT, tmp / "t.txt", _text_is_the_file, None
    if name == "read_lines":
        return read_lines, TEXT, tmp / "in.txt", _lines_add_up, None
    if name == "vocab":
        vocab = Vocabulary.build([["the", "cat", "café"], ["the", "dog"]])
        vocab.save(tmp / "vocab.json")
        return Vocabulary.load, (tmp / "vocab.json").read_bytes(), tmp / "vocab.json", _vocabulary_is_valid, None
    if name in ("model_config", "model_weights", "model_weights_f16"):
        reference = _model(tmp / "m", "float16" if name.endswith("f16") else None)
        file = io.CONFIG_FILE if name == "model_config" else io.WEIGHTS_FILE
        return (lambda p: io.load(p.parent)), (tmp / "m" / file).read_bytes(), tmp / "m" / file, \
            _same_params(reference), ("m/",)
    if name == "metrics":
        from bptt.plots import read_metrics
        good = "".join(json.dumps({"epoch": e, "step": 6 * e, "train_loss": 1.0 / e, "dev_accuracy": 0.5 + e / 10,
                                   "best": True, "batches": 6 * e, "elapsed_s": 0.5 * e}) + "\n" for e in (1, 2, 3))
        good += json.dumps({"event": "skipped_step", "epoch": 4, "step": 18, "loss": "nan"}) + "\n"

        def expect(records, data):
            lines = [x for x in split_lines(decode(data, "x").data) if x.strip()]
            evaluations = [r for r in map(json.loads, lines) if r.get("event", "final") == "final" and "step" in r]
            return "" if len(records) == len(evaluations) else f"{len(records)} records of {len(evaluations)}"
        return read_metrics, good.encode(), tmp / "metrics.jsonl", expect, None
    if name in ("vectors_glove", "vectors_word2vec", "vectors_binary"):
        from bptt.data.vectors import load_word_vectors
        rng = np.random.default_rng(3)
        words = ["the", "film", "good", "bad", "not", "naïve", "new york"]
        if name == "vectors_binary":          # word2vec binary: a word ends at its space, so no "new york"
            words = words[:-1]
            vectors = rng.standard_normal((len(words), 4)).astype("<f4")
            good = f"{len(words)} 4\n".encode() + b"".join(
                w.encode() + b" " + v.tobytes() + b"\n" for w, v in zip(words, vectors))
        lines = [f"{w} " + " ".join(f"{v:.5f}" for v in rng.standard_normal(4)) for w in words]
        head = [f"{len(words)} 4"] if name == "vectors_word2vec" else []
        vocab = ["the", "film", "Good", "dull", "naïve"]

        def expect(result, data):
            matrix, report = result
            rows = len(vocab) + len(getattr(report, "added", ()))
            if matrix.shape[0] != rows or not np.isfinite(matrix).all():
                return f"matrix {matrix.shape}, finite {np.isfinite(matrix).all()}, for {rows} words"
            if report.found + report.missing != report.total:
                return f"found {report.found} + missing {report.missing} != {report.total} words"
            return ""
        if name == "vectors_binary":
            def expect_binary(result, data):
                return expect(result, data) or ("" if result[1].binary else "a word2vec binary file read as text")
            return (lambda p: load_word_vectors(p, vocab)), good, tmp / "vectors.bin", expect_binary, None
        return (lambda p: load_word_vectors(p, vocab)), "\n".join(head + lines).encode() + b"\n", \
            tmp / "vectors.txt", expect, None
    if name == "checkpoint":
        rng = np.random.default_rng(2)
        tensors = {"model/w": rng.standard_normal((5, 3)).astype(np.float32), "optim/step": np.array(7),
                   "optim/exp_avg.w": rng.standard_normal((5, 3))}
        meta = {"trainer": json.dumps({"epoch": 3, "step_in_epoch": 0}), "rngs": "{}"}
        io.save_params(tmp / "checkpoint.safetensors", tensors, meta)
        return io.load_params, (tmp / "checkpoint.safetensors").read_bytes(), tmp / "checkpoint.safetensors", \
            _same_tensors((tensors, meta)), None
    if ":" in name:
        job, file = name.split(":")
        predict = _job(job, tmp / "model")
        reference = predict(tmp / "model")
        return (lambda p: predict(p.parent)), (tmp / "model" / file).read_bytes(), tmp / "model" / file, \
            (lambda result, data: "" if result == reference else "damaged model accepted: other predictions"), \
            ("model",)
    raise KeyError(name)


# a saved model of each job, one file of it damaged at a time: it loads and predicts as before, or is refused
JOB_FILES = {"sentiment": ("vocab.json", "sentiment.json", "config.json", "model.safetensors"),
             "tagger": ("vocab.json", "features.json", "tagger.json", "config.json"),
             "translator": ("source_vocab.json", "target_vocab.json", "translator.json", "model.safetensors"),
             "lm": ("vocab.json", "lm.json", "config.json", "model.safetensors")}


def _job(job: str, directory: Path):
    """(load(dir) -> what it predicts on fixed inputs) of a tiny trained model saved in ``directory``."""
    from bptt.jobs.language_model import LMSettings, TextModel, train_lm
    from bptt.jobs.sentiment import SentimentClassifier
    from bptt.jobs.tagger import SequenceTagger
    from bptt.jobs.translation import Translator
    from helpers import SMALL_TAGGER, TEXT, negation_data, reversal_pairs, toy_sentences
    tiny = dict(embedding_dim=4, hidden_size=4, epochs=1)
    if job == "sentiment":
        SentimentClassifier(**tiny).fit(*negation_data(40, 0), progress=False).save(directory)
        return lambda d: SentimentClassifier.load(d).predict_proba(["the movie is not good ."]).tolist()
    if job == "tagger":
        SequenceTagger(**{**SMALL_TAGGER, "epochs": 1}).fit(toy_sentences(20, 0), progress=False).save(directory)
        return lambda d: SequenceTagger.load(d).predict([["the", "dog", "saw", "a", "cat", "."]])
    if job == "translator":
        Translator(**tiny).fit(reversal_pairs(30, 0), progress=False).save(directory)
        return lambda d: Translator.load(d).translate(["abc", "dcba"])
    train_lm(TEXT, LMSettings(**tiny, batch_size=4, seq_len=20), out_dir=directory.parent / "lm_run",
             progress=False).model.save(directory)
    return lambda d: "".join(TextModel.load(d).generate("the ", 20, seed=1))


TARGETS = ("glue_tsv", "table_tsv", "csv", *CSV_VARIANTS, "damaged_labels", "jsonl", "imdb", "conllu", "token_tags", "pairs", "lm_text",
           "read_lines", "vocab", "model_config", "model_weights", "model_weights_f16", "checkpoint", "metrics",
           "vectors_glove", "vectors_word2vec", "vectors_binary",
           *(f"{job}:{file}" for job, files in JOB_FILES.items() for file in files))


def fuzz_target(name: str, tmp: Path, n: int, seed: int = 0) -> Tally:
    target, good, path, expect, names = _setup(name, tmp)
    rng = np.random.default_rng([seed, TARGETS.index(name)])
    only = ("flip_label", "cut_label", "stray_label", "duplicate_line") if name == "damaged_labels" else None
    return fuzz_file(target, good, path, expect, rng, n, names, only)


def _check(tally: Tally) -> None:
    assert tally.counts["silent"] == 0 and tally.counts["traceback"] == 0, "\n".join(
        f"{verdict} after {mutation}: {detail}" for verdict, mutation, detail in tally.failures)


@pytest.mark.parametrize("name", TARGETS)
def test_fuzzed_inputs_give_a_clean_result_or_a_clear_error(tmp_path, name):
    tally = fuzz_target(name, tmp_path, FAST)
    _check(tally)
    assert sum(tally.counts.values()) == FAST


@pytest.mark.slow
@pytest.mark.parametrize("name", TARGETS)
def test_many_fuzzed_inputs_give_a_clean_result_or_a_clear_error(tmp_path, name):
    tally = fuzz_target(name, tmp_path, SLOW, seed=1)
    _check(tally)
    print(f"{name}: {tally}")
