"""The language-modelling job: streams, the held-out tail, training with truncated BPTT through
the Trainer (best model, exact resume with the carried state), the label-conditioned model."""
import dataclasses
import json

import numpy as np
import pytest
import safetensors.numpy

from bptt.jobs.language_model import (LMSettings, TextModel, batchify, split_tail, train_conditional, train_lm,
                                     train_lm_corpus)
from helpers import TEXT

SMALL = dict(embedding_dim=8, hidden_size=24, batch_size=4, seq_len=20, lr=0.01)


def test_batchify_reads_every_token_once_in_contiguous_streams():
    s = batchify(np.arange(103), 4)                     # L = (103 - 1) // 4 = 25 steps per stream
    assert s.inputs.shape == s.targets.shape == (25, 4)
    np.testing.assert_array_equal(np.sort(s.inputs.ravel()), np.arange(100))
    np.testing.assert_array_equal(np.sort(s.targets.ravel()), np.arange(1, 101))
    for b in range(4):                                  # stream b: tokens 25b .. 25b + 24, in order
        np.testing.assert_array_equal(s.inputs[:, b], np.arange(25 * b, 25 * b + 25))
    np.testing.assert_array_equal(s.targets, s.inputs + 1)
    with pytest.raises(ValueError, match="too few for 8 streams"):
        batchify(np.arange(8), 8)


def test_held_out_tail_is_nanogpts_shakespeare_char_split():
    train, val = split_tail(np.arange(1_115_394), 0.1)
    assert (len(train), len(val)) == (1_003_854, 111_540) and val[0] == train[-1] + 1


def test_training_learns_the_text_and_keeps_the_best_model(tmp_path):
    result = train_lm(TEXT, LMSettings(**SMALL, epochs=6), out_dir=tmp_path, progress=False)
    records = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    bpc = [r["dev_bpc"] for r in records if "dev_bpc" in r]
    assert bpc[-1] < 0.6 * bpc[0] and result.best["bpc"] == pytest.approx(min(bpc))
    model = TextModel.load(tmp_path / "best")
    assert model.settings == result.model.settings and len(model.vocab) == 2 + len(set(TEXT))
    a = "".join(model.generate("the ", 80, 0.8, seed=1))
    assert a == "".join(model.generate("the ", 80, 0.8, seed=1)) and len(a) == 80


def assert_same_checkpoints(a, b) -> None:
    """Every tensor of two checkpoints (weights, optimizer state) bit for bit."""
    first, second = safetensors.numpy.load_file(a), safetensors.numpy.load_file(b)
    assert set(first) == set(second)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


def test_resume_in_the_middle_of_a_pass_is_exact(tmp_path):
    """Stop after the first chunk (a time budget of 0), resume: every weight and optimizer
    state equals an uninterrupted run's, which needs the carried state restored."""
    s = LMSettings(**SMALL, epochs=2, eval_every=5)
    train_lm(TEXT, s, out_dir=tmp_path / "full", progress=False)
    part = train_lm(TEXT, s, out_dir=tmp_path / "cut", progress=False, time_budget=0)
    assert (part.trainer.state.epoch, part.trainer.state.step_in_epoch) == (0, 1)
    checkpoint = tmp_path / "cut" / "checkpoint.safetensors"
    train_lm(TEXT, s, out_dir=tmp_path / "cut", resume=checkpoint, progress=False)
    assert_same_checkpoints(tmp_path / "full" / "checkpoint.safetensors", checkpoint)


def test_resume_with_more_epochs_takes_the_chunks_of_an_uninterrupted_run(tmp_path):
    """15 chunks a pass, evaluated every 4: the first run's last round is 1 chunk short of 4.
    Resumed with 2 epochs it must go on with chunks 15..29, as one run of 2 epochs does."""
    one, two = LMSettings(**SMALL, epochs=1, eval_every=4), LMSettings(**SMALL, epochs=2, eval_every=4)
    full = train_lm(TEXT, two, out_dir=tmp_path / "full", progress=False)
    train_lm(TEXT, one, out_dir=tmp_path / "cut", progress=False)
    more = train_lm(TEXT, two, out_dir=tmp_path / "cut", resume=tmp_path / "cut", progress=False)
    assert more.trainer.state.global_step == full.trainer.state.global_step == 30
    a = safetensors.numpy.load_file(tmp_path / "full" / "checkpoint.safetensors")
    b = safetensors.numpy.load_file(tmp_path / "cut" / "checkpoint.safetensors")
    assert set(a) == set(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    steps = [r["step"] for r in map(json.loads, open(tmp_path / "cut" / "metrics.jsonl")) if "event" not in r]
    assert steps == [4, 8, 12, 15, 19, 23, 27, 30]                     # no step twice


def test_resume_without_the_carried_state_is_refused(tmp_path):
    s = LMSettings(**SMALL, epochs=1)
    train_lm(TEXT, s, out_dir=tmp_path, progress=False, time_budget=0)
    for f in tmp_path.glob("carry-*.safetensors"):
        f.unlink()
    with pytest.raises(FileNotFoundError, match="carried state"):
        train_lm(TEXT, s, out_dir=tmp_path, resume=tmp_path / "checkpoint.safetensors", progress=False)


def test_conditional_model_writes_to_its_label(tmp_path):
    pos = ["a great fun film .", "a great warm film .", "great fun ."]
    neg = ["a dull bad film .", "a bad dull film .", "dull and bad ."]
    texts, labels = (pos + neg) * 8, ([1] * 3 + [0] * 3) * 8
    s = LMSettings(level="word", embedding_dim=8, hidden_size=24, batch_size=8, epochs=15, lr=0.02)
    result = train_conditional(texts, labels, ("negative", "positive"), pos + neg, [1] * 3 + [0] * 3,
                               s, out_dir=tmp_path, progress=False)
    model = TextModel.load(tmp_path / "best")
    assert model.classes == ("negative", "positive") and result.best["perplexity"] < 2.5
    positive = "".join(model.generate(length=10, temperature=0, label="positive"))
    negative = "".join(model.generate(length=10, temperature=0, label=0))
    assert "great" in positive.split() and "bad" not in positive.split()
    assert ("bad" in negative.split() or "dull" in negative.split()) and "great" not in negative.split()
    with pytest.raises(ValueError, match="give a label"):
        next(model.generate(length=3))


# ---- word language models over documents (reviews) -------------------------------------------
REVIEWS = [f"review {i}: this movie is {'not ' * (i % 2)}good.<br />the acting was {w} and the plot {v}."
           for i, (w, v) in enumerate([("fine", "dull"), ("great", "clever"), ("awful", "thin"),
                                        ("superb", "tight"), ("wooden", "silly"), ("warm", "slow")] * 6)]
WORD = dict(level="word", tokenizer="review", embedding_dim=16, hidden_size=16, batch_size=4, seq_len=10,
            lr=0.01, val_fraction=0.2)


def test_word_lm_with_sampled_softmax_and_tied_weights_learns_and_saves(tmp_path):
    s = LMSettings(**WORD, tie_weights=True, softmax="sampled", num_sampled=8, epochs=4)
    result = train_lm_corpus(REVIEWS, s, out_dir=tmp_path, progress=False)
    records = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    ppl = [r["dev_perplexity"] for r in records if "dev_perplexity" in r]
    assert ppl[-1] < 0.5 * ppl[0]                         # evaluated with the full softmax
    model = TextModel.load(tmp_path / "best")
    assert "fc.weight" not in model.model.params and model.model.config.tie_weights
    assert model.settings.tokenizer == "review" and "<br" not in " ".join(model.vocab.tokens)
    np.testing.assert_array_equal(model.encode("This movie isn't good"),
                                  model.vocab.encode(["this", "movie", "is", "n't", "good"]))
    assert result.best["perplexity"] == pytest.approx(min(ppl))


def test_word_lm_resume_with_sampled_softmax_is_exact(tmp_path):
    """The candidates of a chunk are drawn from (seed, chunk): a resumed run draws the same ones."""
    s = LMSettings(**WORD, tie_weights=True, softmax="sampled", num_sampled=8, epochs=2, eval_every=3)
    train_lm_corpus(REVIEWS, s, out_dir=tmp_path / "full", progress=False)
    train_lm_corpus(REVIEWS, s, out_dir=tmp_path / "cut", progress=False, time_budget=0)
    checkpoint = tmp_path / "cut" / "checkpoint.safetensors"
    train_lm_corpus(REVIEWS, s, out_dir=tmp_path / "cut", resume=checkpoint, progress=False)
    assert_same_checkpoints(tmp_path / "full" / "checkpoint.safetensors", checkpoint)


def test_a_checkpoint_written_before_the_adaptive_softmax_existed_resumes_exactly(tmp_path):
    """A run checkpointed by a version without the adaptive-softmax fields (in the model config
    and in the settings) resumes: an absent field reads as its default. A changed one is refused."""
    from bptt import io
    s = LMSettings(**WORD, tie_weights=True, softmax="sampled", num_sampled=8, epochs=2, eval_every=3)
    train_lm_corpus(REVIEWS, s, out_dir=tmp_path / "full", progress=False)
    train_lm_corpus(REVIEWS, s, out_dir=tmp_path / "cut", progress=False, time_budget=0)
    checkpoint = tmp_path / "cut" / "checkpoint.safetensors"
    tensors, meta = io.load_params(checkpoint)
    model, ident = json.loads(meta["model"]), json.loads(meta["identity"])
    for key in ("adaptive_cutoffs", "adaptive_div"):
        del model["config"][key], ident["settings"][key]
    ident.pop("defaults")
    io.save_params(checkpoint, tensors, {**meta, "model": json.dumps(model), "identity": json.dumps(ident)})
    with pytest.raises(ValueError, match="num_sampled was 8, now 16"):
        train_lm_corpus(REVIEWS, dataclasses.replace(s, num_sampled=16), out_dir=tmp_path / "cut",
                        resume=checkpoint, progress=False)
    train_lm_corpus(REVIEWS, s, out_dir=tmp_path / "cut", resume=checkpoint, progress=False)
    assert_same_checkpoints(tmp_path / "full" / "checkpoint.safetensors", checkpoint)


def test_backward_lm_predicts_each_review_read_right_to_left(tmp_path):
    s = LMSettings(**WORD, direction="backward", epochs=1)
    train_lm_corpus(REVIEWS, s, out_dir=tmp_path, progress=False)
    model = TextModel.load(tmp_path / "best")
    assert model.settings.direction == "backward"


def test_init_from_continues_from_a_language_model_with_its_vocabulary(tmp_path):
    """ULMFiT's second step: a pretrained LM fine-tuned on the task's texts keeps its vocabulary
    (new words are <unk>) and starts from its weights; another shape is a clear error."""
    first = LMSettings(**WORD, tie_weights=True, epochs=1)
    train_lm_corpus(REVIEWS[:24], first, out_dir=tmp_path / "lm", progress=False)
    lm = TextModel.load(tmp_path / "lm" / "best")
    s = LMSettings(**{**WORD, "lr": 1e-12}, tie_weights=True, epochs=1, init_from=str(tmp_path / "lm" / "best"),
                   optimizer="sgd")
    tuned = train_lm_corpus(["a brand new zyzzyva word"] * 10 + REVIEWS[24:], s, out_dir=tmp_path / "ft",
                            progress=False)
    assert tuned.model.vocab == lm.vocab
    for name, value in lm.model.params.items():          # lr ~ 0: the weights are the LM's
        np.testing.assert_allclose(tuned.model.model.params[name], value, atol=1e-6, err_msg=name)
    bad = LMSettings(**{**WORD, "hidden_size": 12, "embedding_dim": 12}, epochs=1,
                     init_from=str(tmp_path / "lm" / "best"))
    with pytest.raises(ValueError, match="init_from"):
        train_lm_corpus(REVIEWS, bad, out_dir=tmp_path / "bad", progress=False)


def test_word_lm_with_the_adaptive_softmax_learns_saves_and_generates(tmp_path):
    s = LMSettings(**WORD, softmax="adaptive", adaptive_cutoffs=(8, 20), adaptive_div=2.0, epochs=4)
    result = train_lm_corpus(REVIEWS, s, out_dir=tmp_path, progress=False)
    records = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    ppl = [r["dev_perplexity"] for r in records if "dev_perplexity" in r]
    assert ppl[-1] < 0.5 * ppl[0]
    model = TextModel.load(tmp_path / "best")
    assert model.model.config.adaptive_cutoffs == (8, 20) and model.settings.adaptive_cutoffs == (8, 20)
    assert "fc.head.weight" in model.model.params and "fc.weight" not in model.model.params
    assert result.best["perplexity"] == pytest.approx(min(ppl))
    text = model.generate("this movie", 12, temperature=0.8, seed=0)
    assert len("".join(text).split()) >= 1


def test_adaptive_softmax_settings_are_checked():
    with pytest.raises(ValueError, match="do not go together"):
        LMSettings(**WORD, softmax="adaptive", tie_weights=True)
    with pytest.raises(ValueError, match="are for softmax 'adaptive'"):
        LMSettings(**WORD, adaptive_cutoffs=(8,))
    s = LMSettings(**WORD, softmax="adaptive", epochs=1)            # default cutoffs 2000, 10000
    with pytest.raises(ValueError, match="fewer than the default first cutoff 2,000"):
        train_lm_corpus(REVIEWS, s, progress=False)
    with pytest.raises(ValueError, match="--adaptive-cutoffs"):
        train_lm_corpus(REVIEWS, LMSettings(**WORD, softmax="adaptive", adaptive_cutoffs=(8, 9999), epochs=1),
                        progress=False)
