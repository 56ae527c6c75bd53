"""tokenize: PTB/SST-style splitting of raw text; the identity on already tokenised SST-2."""

import pytest

from bptt.data.tokenize import level_tokens, split_words, tokenize
from shared_data import shared_data


def _sst2_sentences(name: str) -> list[str]:
    lines = shared_data("sst2", name).read_text(encoding="utf-8").split("\n")
    assert lines[0] == "sentence\tlabel"
    return [line.rsplit("\t", 1)[0] for line in lines[1:] if line]


@pytest.mark.parametrize("name, rows", [("dev.tsv", 872), ("train.tsv", 67_349)])
def test_already_tokenised_sst2_is_unchanged(name, rows):
    sentences = _sst2_sentences(name)
    assert len(sentences) == rows
    differ = [s for s in sentences if tokenize(s) != s.split()]
    # Measured: dev 872/872 and train 67,349/67,349 agree.
    assert differ == []


def test_sentence_level_dev_matches_glue_dev_after_unescaping():
    # sentence_level/dev.tsv keeps -lrb- -rrb- \/; after tokenize it equals GLUE dev's tokens.
    lines = (shared_data("sst2", "sentence_level", "dev.tsv")).read_text(encoding="utf-8").split("\n")
    escaped = sorted(tuple(tokenize(line.rsplit("\t", 1)[0])) for line in lines[1:] if line)
    glue = sorted(tuple(s.split()) for s in _sst2_sentences("dev.tsv"))
    assert escaped == glue


@pytest.mark.parametrize("text, tokens", [
    ("didn't", "did n't"), ("can't", "ca n't"), ("won't", "wo n't"), ("it's", "it 's"),
    ("they're", "they 're"), ("i've", "i 've"), ("we'll", "we 'll"), ("i'd", "i 'd"),
    ("I'm", "i 'm"), ("the director's cut", "the director 's cut"),
    ("the directors' cut", "the directors ' cut"), ("It cannot", "it can not"),
    ("gonna wanna gotta", "gon na wan na got ta"), ("isn’t", "is n't"),
])
def test_contractions_split_like_the_treebank(text, tokens):
    assert tokenize(text) == tokens.split()


@pytest.mark.parametrize("text, tokens", [
    ("Wow, great!", "wow , great !"),
    ("It costs $1.5 million (really).", "it costs $ 1.5 million ( really ) ."),
    ("10,000 people; 50% of them", "10,000 people ; 50 % of them"),
    ("He moved to the U.S. with Mr. Smith, etc.", "he moved to the u.s. with mr. smith , etc."),
    ("sci-fi writer/director and/or r&b", "sci-fi writer/director and/or r&b"),
    ("anti- and pro-war", "anti- and pro-war"),
    ("wait... what?!?", "wait ... what ?!?"),
    ("slow -- very slow", "slow -- very slow"),
    ("end.", "end ."),
    ("so did I.", "so did i ."),
    ("ll cool j.", "ll cool j."),
    ("say no. then no. 9", "say no . then no. 9"),
    ("Sellers et al. and Al.", "sellers et al. and al ."),
    ("o'fallon's rock 'n' roll of the '70s", "o'fallon 's rock 'n' roll of the '70s"),
    ("ol' blue eyes", "ol' blue eyes"),
    ("feardotcom.com", "feardotcom.com"),
    ("*** stars", "*** stars"),
])
def test_punctuation_numbers_and_abbreviations(text, tokens):
    assert tokenize(text) == tokens.split()


@pytest.mark.parametrize("text, tokens", [
    ("-LRB- aside -RRB-", "( aside )"),
    ("writer\\/director", "writer/director"),
    ("\\*\\*\\*", "***"),
    ("-LSB- x -RSB- -LCB- y -RCB-", "[ x ] { y }"),
])
def test_treebank_escapes_are_undone(text, tokens):
    assert tokenize(text) == tokens.split()


@pytest.mark.parametrize("text, tokens", [
    ("“Too long,” she said.", "`` too long , '' she said ."),
    ('"Too long," she said.', "`` too long , '' she said ."),
    ("a ‘great’ film — or not…", "a ` great ' film -- or not ..."),
    ("the 'best' one", "the ` best ' one"),
    ("'em and 'til", "'em and 'til"),
    ("Great<br /><br />Really", "great really"),
    ("Clichés in the café’s menu", "clichés in the café 's menu"),
])
def test_quotes_and_typography_are_normalised(text, tokens):
    assert tokenize(text) == tokens.split()


def test_nothing_is_dropped_and_empty_text_gives_no_tokens():
    assert tokenize("") == []
    assert tokenize("   \t\n") == []
    assert tokenize("a_b ~ @x ☺") == ["a", "_", "b", "~", "@", "x", "☺"]


def test_is_idempotent_on_its_own_output():
    text = "I didn't see “Mr. Smith's” $2.5M film -- it's 90-minutes (too long)!"
    once = tokenize(text)
    assert tokenize(" ".join(once)) == once


def test_split_words_keeps_case_and_splits_clitics():
    assert split_words("I don't know, Mr. Potter's U.S. friend... 3.5 e-mail") == \
        ["I", "do", "n't", "know", ",", "Mr", ".", "Potter", "'s", "U.S.", "friend", "...", "3.5", "e-mail"]
    assert split_words("It’s OK! WE CAN'T") == ["It", "'s", "OK", "!", "WE", "CA", "N'T"]


def test_word_level_ends_every_line_with_eos():
    assert level_tokens("to be\nor not\n", "word") == ["to", "be", "<eos>", "or", "not", "<eos>"]
    assert level_tokens("ab\n", "char") == ["a", "b", "\n"]
