"""The tagged-file readers: CoNLL-U (real UD files, multiword tokens and empty nodes, malformed
lines) and token<TAB>tag."""

import pytest

from bptt.data.readers import ReadReport

from bptt.data.tagged import (
    UPOS,
    TaggedFileError,
    TaggedSentence,
    read_conllu,
    read_tagged,
    read_token_tags,
)
from shared_data import shared_data


# ---- readers on the real treebanks ------------------------------------------------------------
@pytest.fixture(scope="module")
def lines_train():
    return read_conllu(shared_data("ud-english", "UD_English-LinES", "en_lines-ud-train.conllu"))


@pytest.mark.parametrize("path,sentences,words", [
    ("UD_English-LinES/en_lines-ud-train.conllu", 3457, 64684),
    ("UD_English-EWT/en_ewt-ud-dev.conllu", 2001, 25147),     # has multiword tokens and empty nodes
])
def test_conllu_counts_match_the_data_readme(path, sentences, words, request):
    data = request.getfixturevalue("lines_train") if "LinES" in path else \
        read_conllu(shared_data("ud-english", path))
    assert len(data) == sentences
    assert sum(len(s.words) for s in data) == words
    assert all(len(s.words) == len(s.tags) for s in data)


def test_conllu_upos_counts_match_the_data_readme(lines_train):
    data = lines_train
    counts = {t: 0 for t in UPOS}
    for s in data:
        for t in s.tags:
            counts[t] += 1
    assert (counts["NOUN"], counts["PUNCT"], counts["SYM"], counts["X"]) == (11444, 7807, 4, 27)
    assert data[1] == TaggedSentence(["About", "ANSI", "SQL", "query", "mode"],
                                     ["ADP", "PROPN", "PROPN", "NOUN", "NOUN"])


CONLLU = """# sent_id = 1
# text = I don't know.
1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tdo\tdo\tAUX\t_\t_\t0\troot\t_\t_
2\tn't\tnot\tPART\t_\t_\t1\tadvmod\t_\t_
2.1\tknow\tknow\tVERB\t_\t_\t_\t_\t0:root\t_
3\t.\t.\tPUNCT\t_\t_\t1\tpunct\t_\t_

# sent_id = 2
1\tYes\tyes\tINTJ\t_\t_\t0\troot\t_\t_
"""


def test_conllu_skips_multiword_tokens_and_empty_nodes(tmp_path):
    path = tmp_path / "a.conllu"
    path.write_text(CONLLU, encoding="utf-8")                     # no blank line at the end
    assert read_conllu(path) == [TaggedSentence(["do", "n't", "."], ["AUX", "PART", "PUNCT"]),
                                 TaggedSentence(["Yes"], ["INTJ"])]
    assert read_tagged(path) == read_conllu(path)


@pytest.mark.parametrize("line,message", [
    ("1\tdog\tdog\tNOUN\t_\t_\t0\troot\t_", r"a\.conllu:3: expected 10 tab-separated fields .* found 9"),
    ("x\tdog\tdog\tNOUN\t_\t_\t0\troot\t_\t_", r"a\.conllu:3: field 1 \(ID\): expected a word index"),
    ("3\tdog\tdog\tNOUN\t_\t_\t0\troot\t_\t_", r"a\.conllu:3: field 1 \(ID\): expected word 2 of the sentence, found 3"),
    ("2\t\tdog\tNOUN\t_\t_\t0\troot\t_\t_", r"a\.conllu:3: field 2 \(FORM\): empty"),
    ("2\tdog\tdog\t_\t_\t_\t0\troot\t_\t_", r"a\.conllu:3: field 4 \(UPOS\): a word line needs a tag"),
    ("2\tdog\tdog\tNN\t_\t_\t0\troot\t_\t_", r"a\.conllu:3: field 4 \(UPOS\): 'NN' is not a UD v2 tag"),
])
def test_malformed_conllu_names_file_line_and_field(tmp_path, line, message):
    path = tmp_path / "a.conllu"
    path.write_text("# text = The dog\n1\tThe\tthe\tDET\t_\t_\t2\tdet\t_\t_\n" + line + "\n\n", encoding="utf-8")
    with pytest.raises(TaggedFileError, match=message):
        read_conllu(path)


def test_token_tag_reader_and_its_errors(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_text("The\tDET\ndog\tNOUN\n\n\nHi\tINTJ\n", encoding="utf-8")
    assert read_token_tags(path) == [TaggedSentence(["The", "dog"], ["DET", "NOUN"]),
                                     TaggedSentence(["Hi"], ["INTJ"])]
    assert read_tagged(path) == read_token_tags(path)
    for text, message in [("The\tDET\ndog NOUN\n", r"a\.tsv:2: expected 2 tab-separated fields \(token, tag\), found 1"),
                          ("The\tDET\n\tNOUN\n", r"a\.tsv:2: field 1 \(token\): empty"),
                          ("The\t \n", r"a\.tsv:1: field 2 \(tag\): empty"),
                          ("a\tB\tC\n", r"a\.tsv:1: expected 2 tab-separated fields")]:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(TaggedFileError, match=message):
            read_token_tags(path)
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        read_tagged(tmp_path / "nope.tsv")


# ---- byte-order marks, line ends, empty files, reports -------------------------------------------
def test_a_byte_order_mark_is_removed_and_reported(tmp_path):
    path = tmp_path / "a.conllu"
    path.write_bytes(b"\xef\xbb\xbf" + CONLLU.encode("utf-8"))
    report = ReadReport(str(path))
    assert read_conllu(path, report=report)[0].words == ["do", "n't", "."]
    assert str(report) == ("a.conllu: kept 4 of 4 words; classes AUX 1, INTJ 1, PART 1, PUNCT 1; "
                           "2 sentences; removed a UTF-8 byte-order mark; "
                           "skipped 2 multiword tokens and empty nodes (not words)")
    path = tmp_path / "a.tsv"
    path.write_bytes(b"\xef\xbb\xbfThe\tDET\n")
    assert read_token_tags(path) == [TaggedSentence(["The"], ["DET"])]


def test_a_lone_cr_does_not_end_a_line(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_bytes(b"a\rb\tX\r\nc\tY\n\nd e\n")
    with pytest.raises(TaggedFileError, match=r"a\.tsv:4: expected 2 tab-separated fields"):
        read_token_tags(path)
    path.write_bytes(b"a\rb\tX\r\nc\tY\n")
    assert read_token_tags(path) == [TaggedSentence(["a\rb", "c"], ["X", "Y"])]


@pytest.mark.parametrize("name, content, message", [
    ("e.conllu", b"", r"e\.conllu: empty file"),
    ("c.conllu", b"# sent_id = 1\n# text = nothing\n\n", r"c\.conllu: no sentences in the file; expected word lines"),
    ("e.tsv", b"\n\n", r"e\.tsv: no sentences in the file; expected token<TAB>tag lines"),
    ("b.tsv", b"ok\tX\nbad \xff\tY\n", r"b\.tsv:2: undecodable UTF-8 bytes at byte 4"),
])
def test_files_without_sentences_are_named(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(TaggedFileError, match=message):
        read_tagged(tmp_path / name)


def test_a_folder_is_not_a_tagged_file(tmp_path):
    (tmp_path / "d.conllu").mkdir()
    with pytest.raises(TaggedFileError, match=r"d\.conllu: is a folder; expected a file"):
        read_tagged(tmp_path / "d.conllu")
