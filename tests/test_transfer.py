"""``init_from``: a classifier or tagger starting from word-level language models (bptt.transfer):
rows copied by word, a word the LM lacks, the directions, mismatches, the jobs and the flags."""
from dataclasses import replace

import numpy as np
import pytest

from bptt.cli import main
from bptt.data.tagged import TaggedSentence
from bptt.data.tokenize import tokenize
from bptt.data.vocab import Vocabulary
from bptt.jobs.language_model import LMSettings, train_lm
from bptt.jobs.sentiment import SentimentClassifier
from bptt.jobs.tagger import SequenceTagger
from bptt.models import Classifier, ClassifierConfig
from bptt.transfer import embedding_matrix, init_from_lms, init_specs, load_lm, resolve_lm
from helpers import negation_data

TEXTS, LABELS = negation_data(60, 0)
LM_TEXT = "\n".join(t for t in TEXTS)           # the words the classifier will see (lower case)


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    """A tiny word LSTM LM: 2 layers, hidden 6, embedding 8."""
    out = tmp_path_factory.mktemp("lm")
    s = LMSettings(level="word", cell="lstm", embedding_dim=8, hidden_size=6, num_layers=2, epochs=1,
                   batch_size=4, seq_len=8, seed=3)
    train_lm(LM_TEXT, s, out_dir=out, progress=False)
    return out / "best"


def _classifier(vocab, hidden=6, layers=2, bidirectional=True, mode="lstm", dim=8, seed=0):
    config = ClassifierConfig(len(vocab), dim, hidden, 2, mode, layers, bidirectional, dtype="float32")
    return Classifier(config, np.random.default_rng(seed))


def test_rows_are_copied_by_word_and_a_word_the_lm_lacks_gets_its_unk_row(lm_dir):
    src = load_lm(lm_dir)
    vocab = Vocabulary(["<pad>", "<unk>", "not", "zzzunseen", "is", "."])
    model = _classifier(vocab)
    report = init_from_lms(model, vocab, [src])
    weight = model.embedding.params["weight"]
    for word in ("not", "is", ".", "<unk>"):
        np.testing.assert_array_equal(weight[vocab.index(word)], src.embedding[src.vocab.index(word)])
    np.testing.assert_array_equal(weight[vocab.index("zzzunseen")], src.embedding[src.vocab.index("<unk>")])
    assert np.all(weight[0] == 0)
    assert (report.rows, report.copied, report.missing) == (6, 4, 1)
    assert "4 of 5 embedding rows copied" in report.details()


def test_two_lms_put_their_rows_side_by_side():
    """[E_fwd[w] ; E_bwd[w]], each LM's <unk> row where it lacks the word."""
    def source(direction, rows, words):
        vocab = Vocabulary(["<pad>", "<unk>", *words])
        return load_like(direction, vocab, rows)
    a = source("forward", np.arange(8.0).reshape(4, 2), ["x", "y"])
    b = source("backward", 10 + np.arange(12.0).reshape(4, 3), ["y", "z"])
    vocab = Vocabulary(["<pad>", "<unk>", "x", "y", "z", "w"])
    matrix, copied, missing = embedding_matrix(vocab, [a, b], np.float64)
    np.testing.assert_array_equal(matrix, [[0, 0, 0, 0, 0], [2, 3, 13, 14, 15], [4, 5, 13, 14, 15],
                                           [6, 7, 16, 17, 18], [2, 3, 19, 20, 21], [2, 3, 13, 14, 15]])
    assert (copied, missing) == (4, 1)


def test_with_both_lms_each_direction_computes_exactly_its_lms_states(lm_dir):
    """A forward and a backward LM (here the same weights read both ways): the word vector is
    both LMs' vectors side by side (E = 16), and each direction of every layer starts as its LM."""
    fwd = load_lm(lm_dir)
    bwd = replace(fwd, direction="backward", embedding=fwd.embedding * -0.5)   # another embedding
    lm = __import__("bptt.jobs.language_model", fromlist=["TextModel"]).TextModel.load(lm_dir).model
    vocab = Vocabulary.build([tokenize(t) for t in TEXTS])
    model = _classifier(vocab, dim=16)
    init_from_lms(model, vocab, [fwd, bwd])
    text = "a film is not good ."
    out = model.rnn.forward(model.embedding.forward(_ids(vocab, text))[0])[0]               # (T, 1, 2H)
    ids = _ids(fwd.vocab, text)
    theirs_f = lm.rnn.forward(lm.embedding.forward(ids)[0])[0]
    lm.embedding.params["weight"][...] *= -0.5
    theirs_b = lm.rnn.forward(lm.embedding.forward(ids[::-1].copy())[0])[0][::-1]
    np.testing.assert_allclose(out[..., :6], theirs_f, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out[..., 6:], theirs_b, rtol=1e-6, atol=1e-7)
    w_f, w_b = model.rnn.params["weight_ih_l0"], model.rnn.params["weight_ih_l0_reverse"]   # (4H, 16)
    assert np.all(w_f[:, 8:] == 0) and np.all(w_b[:, :8] == 0)
    with pytest.raises(ValueError, match="embedding size 16 in the language model, 8 in the classifier"):
        init_from_lms(_classifier(vocab, dim=8), vocab, [fwd, bwd])


def load_like(direction, vocab, rows):
    from bptt.transfer import SourceLM
    return SourceLM("test", direction, vocab, rows, {}, "lstm", 1, 2, "review")


def _ids(vocab, text):
    return vocab.encode(tokenize(text))[:, None]                   # (T, 1)


def test_a_forward_lm_gives_the_forward_direction_exactly_its_hidden_states(lm_dir):
    src = load_lm(lm_dir)
    lm = __import__("bptt.jobs.language_model", fromlist=["TextModel"]).TextModel.load(lm_dir).model
    vocab = Vocabulary.build([tokenize(t) for t in TEXTS[:20]] + [["brandnewword"]])
    model = _classifier(vocab)
    init_from_lms(model, vocab, [src])
    text = "the movie is not brandnewword ."
    ours = model.rnn.forward(model.embedding.forward(_ids(vocab, text))[0])[0][..., :6]      # (T, 1, H)
    theirs = lm.rnn.forward(lm.embedding.forward(_ids(src.vocab, text))[0])[0]              # (T, 1, H)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
    assert np.abs(theirs).max() > 0.01


def test_a_backward_lm_gives_the_backward_direction_its_states_on_the_reversed_text(lm_dir):
    src = replace(load_lm(lm_dir), direction="backward")
    lm = __import__("bptt.jobs.language_model", fromlist=["TextModel"]).TextModel.load(lm_dir).model
    vocab = Vocabulary.build([tokenize(t) for t in TEXTS])
    model = _classifier(vocab)
    before = {k: v.copy() for k, v in model.rnn.params.items()}
    init_from_lms(model, vocab, [src])
    text = "a film is not good ."
    ours = model.rnn.forward(model.embedding.forward(_ids(vocab, text))[0])[0][..., 6:]      # (T, 1, H)
    theirs = lm.rnn.forward(lm.embedding.forward(_ids(src.vocab, text)[::-1].copy())[0])[0][::-1]
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
    for name, value in model.rnn.params.items():                    # the forward direction untouched
        if not name.endswith("_reverse"):
            np.testing.assert_array_equal(value, before[name])
    w = model.rnn.params["weight_ih_l1_reverse"]                     # (4H, 2H): reads [fwd ; bwd] of layer 0
    assert np.all(w[:, :6] == 0) and np.array_equal(w[:, 6:], src.rnn["weight_ih_l1"])


@pytest.mark.parametrize("change,said", [
    (dict(hidden=5), "hidden size 6 in the language model, 5 in the classifier"),
    (dict(layers=1), "layers 2 in the language model, 1 in the classifier"),
    (dict(mode="gru"), "cell lstm in the language model, gru in the classifier"),
    (dict(dim=4), "embedding size 8 in the language model, 4 in the classifier")])
def test_a_shape_mismatch_is_one_error_naming_both_sides(lm_dir, change, said):
    src = load_lm(lm_dir)
    vocab = Vocabulary(["<pad>", "<unk>", "not"])
    model = _classifier(vocab, **change)
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(ValueError, match=said) as err:
        init_from_lms(model, vocab, [src])
    assert str(lm_dir) in str(err.value) and "train the classifier with --" in str(err.value)
    assert all(np.array_equal(v, before[k]) for k, v in model.params.items())    # nothing changed


def test_directions_that_do_not_fit_are_errors(lm_dir):
    src = load_lm(lm_dir)
    vocab = Vocabulary(["<pad>", "<unk>", "not"])
    with pytest.raises(ValueError, match="not bidirectional"):
        init_from_lms(_classifier(vocab, bidirectional=False), vocab, [replace(src, direction="backward")])
    with pytest.raises(ValueError, match="two forward language models"):
        init_from_lms(_classifier(vocab), vocab, [src, src])


def test_names_resolve_to_lm_directories_or_a_clear_error(lm_dir, tmp_path):
    assert resolve_lm(str(lm_dir)) == lm_dir
    with pytest.raises(FileNotFoundError, match=r"neither a shipped language model .*\(no such directory"):
        resolve_lm(str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match="no lm.json in it"):
        resolve_lm(str(tmp_path))
    assert init_specs("a, b") == ("a", "b") and init_specs(["x,y"]) == ("x,y",) and init_specs(None) == ()


def test_a_character_lm_is_refused(tmp_path):
    train_lm("abcabcabc\n" * 20, LMSettings(level="char", hidden_size=4, epochs=1, batch_size=2, seq_len=5),
             out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="a char-level language model"):
        load_lm(tmp_path / "best")


def test_the_sentiment_job_starts_from_the_lm_and_trains(lm_dir, capsys):
    clf = SentimentClassifier(init_from=str(lm_dir), cell="lstm", hidden_size=6, num_layers=2, epochs=1,
                              batch_size=16)
    assert clf.settings.init_from == (str(lm_dir),) and clf.settings.embedding_dim is None
    clf._build([tokenize(t) for t in TEXTS], np.array(["negative", "positive"]))
    src = load_lm(lm_dir)
    for member in clf.members_:
        np.testing.assert_array_equal(member.rnn.params["weight_hh_l1"], src.rnn["weight_hh_l1"])
        np.testing.assert_array_equal(member.embedding.params["weight"][clf.vocab_.index("not")],
                                      src.embedding[src.vocab.index("not")])
    assert "init_from:" in capsys.readouterr().out
    clf.fit(TEXTS, LABELS, progress=False)
    assert clf.score(TEXTS, LABELS) > 0


def _vector_file(path, dim=5):
    """A GloVe-style text file with a vector for every word of TEXTS but 'not' (rows 0.01 * i)."""
    words = sorted({w for t in TEXTS for w in tokenize(t)} - {"not"})
    path.write_text("".join(f"{w} " + " ".join(f"{0.01 * (i * dim + j):.2f}" for j in range(dim)) + "\n"
                            for i, w in enumerate(words)))
    return path, {w: 0.01 * (i * dim + np.arange(dim)) for i, w in enumerate(words)}


def test_vectors_beside_the_lms_follow_their_columns_and_start_unread(lm_dir, tmp_path):
    """--init-from LM --vectors FILE: the word vector is [E_LM[w] ; vectors[w]] (8 + 5 columns);
    the LM's direction reads the file's columns through zero weights, so it still starts as
    exactly the LM; a wrong --embedding-dim is an error naming the sum; it trains, saves, loads."""
    path, vectors = _vector_file(tmp_path / "vec.5d.txt")
    lm = __import__("bptt.jobs.language_model", fromlist=["TextModel"]).TextModel.load(lm_dir).model
    src = load_lm(lm_dir)
    clf = SentimentClassifier(init_from=str(lm_dir), vectors=str(path), cell="lstm", hidden_size=6,
                              num_layers=2, epochs=1, batch_size=16)
    clf._build([tokenize(t) for t in TEXTS], np.array(["negative", "positive"]))
    model, vocab = clf.model_, clf.vocab_
    weight = model.embedding.params["weight"]                        # (V, 8 + 5)
    assert weight.shape == (len(vocab), 13) and np.all(weight[0] == 0)
    for word in ("good", "film", "not"):
        np.testing.assert_array_equal(weight[vocab.index(word), :8], src.embedding[src.vocab.index(word)])
    np.testing.assert_allclose(weight[vocab.index("good"), 8:], vectors["good"], rtol=1e-6)
    assert clf.vector_report_.missing == 1                           # 'not': the file's rule for a missing word
    w_ih = model.rnn.params["weight_ih_l0"]                          # (4H, 13)
    np.testing.assert_array_equal(w_ih[:, :8], src.rnn["weight_ih_l0"])
    assert np.all(w_ih[:, 8:] == 0) and np.abs(model.rnn.params["weight_ih_l0_reverse"][:, 8:]).max() > 0
    text = "a film is not good ."
    ours = model.rnn.forward(model.embedding.forward(_ids(vocab, text))[0])[0][..., :6]       # (T, 1, H)
    theirs = lm.rnn.forward(lm.embedding.forward(_ids(src.vocab, text))[0])[0]               # (T, 1, H)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="give 13 or leave it out"):
        SentimentClassifier(init_from=str(lm_dir), vectors=str(path), cell="lstm", hidden_size=6,
                            num_layers=2, embedding_dim=8)._build([tokenize(t) for t in TEXTS], ("a", "b"))
    clf.fit(TEXTS, LABELS, progress=False, out_dir=tmp_path / "run")
    assert np.abs(clf.model_.rnn.params["weight_ih_l0"][:, 8:]).max() > 0      # training reads them
    again = SentimentClassifier.load(clf.save(tmp_path / "saved"))
    np.testing.assert_array_equal(again.predict_proba(TEXTS), clf.predict_proba(TEXTS))


def test_the_tagger_starts_from_the_lm_with_feature_columns_zero(lm_dir):
    words = [tokenize(t) for t in TEXTS[:30]]
    sentences = [TaggedSentence(w, ["X"] * (len(w) - 1) + ["P"]) for w in words]
    tagger = SequenceTagger(init_from=[str(lm_dir)], cell="lstm", hidden_size=6, num_layers=2, feature_dim=3)
    tagger._build(sentences)
    src = load_lm(lm_dir)
    w = tagger.model_.rnn.params["weight_ih_l0"]                       # (4H, E + 2 features * 3)
    assert w.shape == (24, 14)
    np.testing.assert_array_equal(w[:, :8], src.rnn["weight_ih_l0"])
    assert np.all(w[:, 8:] == 0)
    assert tagger.transfer_report_.copied == len(tagger.vocab_) - 1
    tagger = SequenceTagger(init_from=[str(lm_dir)], cell="lstm", hidden_size=6, num_layers=2, epochs=1)
    assert tagger.fit(sentences, progress=False).score(sentences) > 0


def test_the_tagger_takes_vectors_beside_the_lm_before_its_features(lm_dir, tmp_path):
    """[E_LM[w] ; vectors[w] ; features]: only the LM's 8 columns are copied, the rest start at 0."""
    path, vectors = _vector_file(tmp_path / "vec.5d.txt")
    words = [tokenize(t) for t in TEXTS[:30]]
    sentences = [TaggedSentence(w, ["X"] * (len(w) - 1) + ["P"]) for w in words]
    tagger = SequenceTagger(init_from=[str(lm_dir)], vectors=str(path), cell="lstm", hidden_size=6,
                            num_layers=2, feature_dim=3)
    tagger._build(sentences)
    src = load_lm(lm_dir)
    w = tagger.model_.rnn.params["weight_ih_l0"]                       # (4H, 8 + 5 + 2 features * 3)
    assert w.shape == (24, 19)
    np.testing.assert_array_equal(w[:, :8], src.rnn["weight_ih_l0"])
    assert np.all(w[:, 8:] == 0)
    weight = tagger.model_.embedding.params["weight"]                  # (V, 13)
    row = tagger.vocab_.index("good")
    np.testing.assert_array_equal(weight[row, :8], src.embedding[src.vocab.index("good")])
    np.testing.assert_allclose(weight[row, 8:], vectors["good"], rtol=1e-6)


def test_the_flags_take_repeated_and_comma_separated_lms(lm_dir, tmp_path, capsys):
    from bptt.cli import build_parser
    args = build_parser().parse_args(["train", "sentiment", "--train", "x.tsv", "--init-from", f"{lm_dir},b",
                                      "--init-from", "c", "--adversarial", "0.5", "--slanted-triangular"])
    assert args.init_from == [str(lm_dir), "b", "c"] and args.adversarial == 0.5 and args.slanted_triangular
    args = build_parser().parse_args(["train", "tagger", "--train", "x.tsv", "--init-from", "a"])
    assert args.init_from == ["a"]
    train = tmp_path / "s.tsv"
    train.write_text("sentence\tlabel\n" + "".join(f"{t}\t{int(y == 'positive')}\n"
                                                   for t, y in zip(TEXTS, LABELS)), encoding="utf-8")
    code = main(["train", "sentiment", "--train", str(train), "--out", str(tmp_path / "run"), "--init-from",
                 str(lm_dir), "--hidden-size", "5", "--num-layers", "2", "--quiet"])
    assert code != 0
    assert "hidden size 6 in the language model, 5 in the classifier" in capsys.readouterr().err


def test_scikit_learn_clones_an_estimator_with_init_from():
    from sklearn.base import clone
    clf = SentimentClassifier(init_from=["runs/a", "runs/b"])
    assert clone(clf).settings.init_from == ("runs/a", "runs/b")
    assert clone(SequenceTagger(init_from="x,y")).settings.init_from == ("x", "y")


def test_an_lm_whose_layers_are_not_a_plain_stack_is_refused(lm_dir):
    src = load_lm(lm_dir)
    vocab = Vocabulary(["<pad>", "<unk>", "not"])
    side = dict(src.rnn, weight_ih_l0=np.zeros((24, 8 + 3), dtype=np.float32))     # a side input
    with pytest.raises(ValueError, match=r"not a plain stack .*weight_ih_l0 \(24, 11\)"):
        init_from_lms(_classifier(vocab), vocab, [replace(src, rnn=side)])
    proj = dict(src.rnn, weight_hr_l0=np.zeros((3, 6), dtype=np.float32))           # a projection
    with pytest.raises(ValueError, match="weight_hr_l0"):
        init_from_lms(_classifier(vocab), vocab, [replace(src, rnn=proj)])
