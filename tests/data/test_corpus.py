"""Unlabelled corpora for word language models: folders and files, exclusion, numbering, direction."""
import numpy as np
import pytest

from bptt.data.corpus import encode_corpus, read_corpus, read_exclude_list
from bptt.data.tokenize import EOS_WORD, tokenize
from bptt.data.vocab import UNK_ID, Vocabulary


def _aclimdb(tmp_path):
    root = tmp_path / "train"
    for folder, names in {"neg": ["10_1.txt", "2_3.txt"], "pos": ["1_9.txt"], "unsup": ["0_0.txt"]}.items():
        (root / folder).mkdir(parents=True)
        for name in names:
            (root / folder / name).write_text(f"{folder} {name[:-4]} review.<br /><br />It's fine.",
                                              encoding="utf-8")
    return root


def test_a_folder_reads_every_txt_file_below_it_in_natural_order(tmp_path):
    root = _aclimdb(tmp_path)
    corpus = read_corpus([root])
    assert [n.split("train/")[1] for n in corpus.names] == ["neg/2_3.txt", "neg/10_1.txt", "pos/1_9.txt",
                                                            "unsup/0_0.txt"]
    assert corpus.documents[0] == "neg 2_3 review.<br /><br />It's fine."


def test_exclude_drops_listed_documents_and_refuses_unknown_ones(tmp_path):
    root = _aclimdb(tmp_path)
    listing = tmp_path / "exclude.txt"
    listing.write_text("neg/10_1.txt\n\npos/1_9.txt\n", encoding="utf-8")
    corpus = read_corpus([root], read_exclude_list(listing))
    assert [n.split("train/")[1] for n in corpus.names] == ["neg/2_3.txt", "unsup/0_0.txt"]
    with pytest.raises(ValueError, match="'neg/99_1.txt'"):
        read_corpus([root], ["neg/99_1.txt"])


def test_a_file_is_one_document_per_non_blank_line(tmp_path):
    f = tmp_path / "reviews.txt"
    f.write_text("a good film\n\n  \nnot good at all\n", encoding="utf-8")
    corpus = read_corpus([f])
    assert corpus.documents == ["a good film", "not good at all"]
    assert corpus.names == [f"{f}:1", f"{f}:4"]


def test_a_labelled_table_gives_the_text_of_each_row_and_not_its_label(tmp_path):
    tsv = tmp_path / "train.tsv"
    tsv.write_text("sentence\tlabel\na good film \t1\nnot good at all \t0\n", encoding="utf-8")
    corpus = read_corpus([tsv])
    assert corpus.documents == ["a good film", "not good at all"]
    assert corpus.names == [f"{tsv}:1", f"{tsv}:2"]
    jsonl = tmp_path / "reviews.jsonl"
    jsonl.write_text('{"text": "fine", "label": "pos"}\n{"text": "dull", "label": "neg"}\n', encoding="utf-8")
    assert read_corpus([jsonl, tsv]).documents == ["fine", "dull", "a good film", "not good at all"]
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence\tlabel\na good film\t1\n\t0\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv:3"):      # a bad row is an error, never dropped
        read_corpus([bad])


def test_missing_source_and_empty_folder_are_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        read_corpus([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no \\*.txt files"):
        read_corpus([tmp_path / "empty"])


DOCS = ["This movie isn't good.<br />Not at all!", "A good, good movie.", "Good grief"]


def test_encoding_uses_the_review_tokenizer_and_ends_each_document_with_eos():
    enc = encode_corpus(DOCS)
    assert enc.vocab.decode(enc.documents[0]) == tokenize(DOCS[0]) + [EOS_WORD]
    assert "<br" not in " ".join(enc.vocab.tokens)
    assert enc.tokens == sum(len(tokenize(d)) + 1 for d in DOCS)


def test_the_vocabulary_is_vocabulary_build_of_the_same_tokens():
    lists = [tokenize(d) + [EOS_WORD] for d in DOCS]
    for min_freq, max_vocab in [(1, None), (2, None), (1, 6)]:
        enc = encode_corpus(DOCS, min_freq=min_freq, max_vocab=max_vocab)
        assert enc.vocab == Vocabulary.build(lists, min_freq=min_freq, max_size=max_vocab)
        assert [list(d) for d in enc.documents] == [list(enc.vocab.encode(t)) for t in lists]
        assert enc.counts.sum() == enc.tokens
        assert enc.counts[UNK_ID] == sum((d == UNK_ID).sum() for d in enc.documents)


def test_backward_reads_each_document_reversed_with_eos_last():
    fwd = encode_corpus(DOCS)
    bwd = encode_corpus(DOCS, direction="backward", vocab=fwd.vocab)
    for f, b in zip(fwd.documents, bwd.documents):
        assert list(b[:-1]) == list(f[:-1][::-1]) and b[-1] == f[-1] == fwd.vocab.index(EOS_WORD)


def test_a_given_vocabulary_maps_unknown_words_to_unk():
    vocab = Vocabulary(["<pad>", "<unk>", "good", EOS_WORD])
    enc = encode_corpus(["good movie good"], vocab=vocab)
    assert enc.vocab is vocab
    assert list(enc.documents[0]) == [2, UNK_ID, 2, 3]
    assert list(enc.counts) == [0, 1, 2, 1]


def test_split_tokenizer_and_bad_choices():
    assert encode_corpus(["It's It's"], tokenizer="split").vocab.tokens[2:] == ["It's", "<eos>"]
    with pytest.raises(ValueError, match="tokenizer must be one of"):
        encode_corpus(DOCS, tokenizer="bpe")
    with pytest.raises(ValueError, match="direction must be one of"):
        encode_corpus(DOCS, direction="sideways")
    assert np.issubdtype(encode_corpus(DOCS).documents[0].dtype, np.integer)
