"""OUT.tokenizer.json: a plain re-implementation written from the file's rules alone (no bptt
import inside it) gives bptt's tokens and ids on SST-2 sentences (GLUE dev and the escaped
sentence-level dev), IMDB reviews and the tokenizer's hard cases."""
import json
import re

import pytest

from bptt import export
from bptt.data.tokenize import tokenize
from bptt.jobs.sentiment import SentimentClassifier
from export_helpers import mixed_texts, random_classifier
from shared_data import shared_data

HARD = ["I didn't like the director's cut -LRB- 1.5 hrs -RRB- -- it's “too long”.",
        "It cannot be... gonna wanna gotta", "say no. then no. 9 no.", "Sellers et al. and Al.",
        "o'fallon's rock 'n' roll of the '70s and 'em", "ol' blue eyes", "'best' movie \"ever\"",
        "He moved to the U.S. with Mr. Smith, etc. j. lo", "anti- and pro-war; 10,000 at 3:30",
        "Great!<br /><br />Really?!? ***", "clichés\u00a0and\u2003more\u2026 — yes – no", "",
        "   ", "ΣΊΣΥΦΟΣ İstanbul", "wait… “quoted” ‘single’ isn’t", "a\\/b \\* -lsb- x -rsb-"]


class JsonTokenizer:
    """Text -> ids by the rules of a bptt tokenizer file, read as data."""

    def __init__(self, spec: dict):
        assert spec["format"] == "bptt-tokenizer" and spec["version"] == 1
        self.spec = spec
        self.index = {token: i for i, token in enumerate(spec["vocabulary"])}

    @staticmethod
    def _apply(op: dict, s: str) -> str:
        if op["op"] == "lowercase":
            return s.lower()
        if op["op"] == "replace":
            for old, new in op["pairs"]:
                s = s.replace(old, new)
            return s
        if op["op"] == "map_characters":
            return "".join(op["table"].get(ch, ch) for ch in s)
        if op["op"] == "regex_replace":                  # $n: group n's text, "" if it took no part
            def fill(m):
                return re.sub(r"\$(\d)", lambda g: m.group(int(g.group(1))) or "", op["replacement"])
            return re.sub(op["pattern"], fill, s)
        raise AssertionError(op)

    def tokens(self, text: str) -> list[str]:
        *steps, split = self.spec["text"]
        for op in steps:
            text = self._apply(op, text)
        assert split["op"] == "split"
        chunks = [c for c in re.split("[" + re.escape(split["whitespace"]) + "]+", text) if c]
        out = []
        for i, chunk in enumerate(chunks):
            s = chunk
            *ops, find = self.spec["chunk"]
            for op in ops:
                s = self._apply(op, s)
            toks = re.findall(find["pattern"], s)
            last = toks[-1] if toks else None
            if chunk.endswith(".") and last in self.spec["context"]["split_final_dot"]:
                keeps = (i + 1 < len(chunks) and chunks[i + 1][0].isdigit()) if last == "no." \
                    else (i > 0 and chunks[i - 1] == "et")
                if not keeps:
                    toks = toks[:-1] + [last[:-1], "."]
            out += toks
        return out

    def ids(self, text: str) -> list[int]:
        unk = self.spec["ids"]["unknown_id"]
        return [self.index.get(t, unk) for t in self.tokens(text)] or list(self.spec["ids"]["empty_text"])


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The shipped imdb model's tokenizer file (its vocabulary is the larger), as bptt writes it."""
    out = tmp_path_factory.mktemp("onnx") / "imdb.onnx"
    _, tok = export.export("imdb", out)
    return JsonTokenizer(json.loads(tok.read_text(encoding="utf-8")))


def _sst2(*parts):
    lines = shared_data("sst2", *parts).read_text(encoding="utf-8").splitlines()[1:]
    return [line.rsplit("\t", 1)[0] for line in lines]


def _check(written, texts):
    vocab = SentimentClassifier.pretrained("imdb").vocab_
    assert written.spec["vocabulary"] == vocab.tokens
    for text in texts:
        assert written.tokens(text) == tokenize(text), text
        assert written.ids(text) == (vocab.encode(tokenize(text)).tolist() or [1]), text


def test_the_hard_cases(written):
    _check(written, HARD)
    assert written.tokens(HARD[0])[:5] == ["i", "did", "n't", "like", "the"]


def test_sst2_dev_glue_and_sentence_level(written):
    _check(written, _sst2("dev.tsv") + _sst2("sentence_level", "dev.tsv"))


def test_imdb_reviews(written):
    _check(written, [t for t in mixed_texts(400) if "<br" in t or len(t) > 200])


def test_a_bare_classifier_has_no_tokenizer_file(tmp_path):
    written = export.export(random_classifier("gru", 1, False, "last"), tmp_path / "m.onnx")
    assert written == [tmp_path / "m.onnx"] and not (tmp_path / "m.onnx.tokenizer.json").exists()


@pytest.mark.parametrize("drop", [("text", 0), ("text", 1)] + [("chunk", k) for k in range(6)])
def test_every_rule_of_the_file_is_needed(written, drop):
    """Without any one of the text and chunk operations, the tokens differ somewhere."""
    spec = json.loads(json.dumps(written.spec))
    del spec[drop[0]][drop[1]]
    partial = JsonTokenizer(spec)
    texts = HARD + _sst2("sentence_level", "dev.tsv")
    assert any(partial.tokens(t) != tokenize(t) for t in texts)
