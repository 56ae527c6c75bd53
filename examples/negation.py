"""A many-to-one RNN learns that "not" flips sentiment, which a bag of words cannot learn.

Sentences come from a tiny grammar: "the movie is [really] [not] good/bad [, i think]". The label
is positive iff (positive adjective) XOR (negated). A bag-of-words logistic regression sees the
same words for "good ... not" and "not good", and an XOR of two words is not linear in their
counts, so it stays near 75%; the RNN reads the order and gets (nearly) all of them.

    python examples/negation.py [--cell rnn_tanh|lstm|gru] [--epochs 6]
"""
from __future__ import annotations

import argparse

import numpy as np

from bptt.layers import Dense
from bptt.losses import softmax_cross_entropy
from bptt.models import Classifier, ClassifierBatch, ClassifierConfig
from bptt.optim import Adam

SUBJECTS = ["the movie", "this film", "the plot", "the acting", "it"]
VERBS = ["is", "was", "seems"]
ADVERBS = ["", "really", "very", "quite"]
POSITIVE = ["good", "great", "fun", "brilliant", "moving"]
NEGATIVE = ["bad", "boring", "awful", "dull", "weak"]
ENDINGS = ["", ", i think", ", to be honest", "overall"]


def make_data(n: int, rng: np.random.Generator) -> tuple[list[list[str]], np.ndarray]:
    sentences, labels = [], []
    for _ in range(n):
        positive = rng.random() < 0.5
        negated = rng.random() < 0.5
        words = (f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(ADVERBS)} "
                 f"{'not ' if negated else ''}{rng.choice(POSITIVE if positive else NEGATIVE)} "
                 f"{rng.choice(ENDINGS)}").replace(",", " ,").split()
        sentences.append(words)
        labels.append(int(positive != negated))
    return sentences, np.array(labels)


def encode(sentences, vocab) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (T, B) padded with 0, and lengths (B,)."""
    lengths = np.array([len(s) for s in sentences])
    ids = np.zeros((lengths.max(), len(sentences)), dtype=np.int64)
    for b, s in enumerate(sentences):
        ids[:len(s), b] = [vocab[w] for w in s]
    return ids, lengths


def bag_of_words_accuracy(train, test, vocab, epochs: int, rng) -> float:
    """Logistic regression on word counts (a Dense layer on count vectors), trained with Adam."""
    def counts(ids):
        x = np.zeros((ids.shape[1], len(vocab)), dtype=np.float32)
        np.add.at(x, (np.broadcast_to(np.arange(ids.shape[1]), ids.shape), ids), 1.0)
        x[:, 0] = 0                                          # padding
        return x
    (ids_tr, _, y_tr), (ids_te, _, y_te) = train, test
    x_tr, x_te = counts(ids_tr), counts(ids_te)
    fc = Dense(len(vocab), 2, rng=rng)
    opt = Adam(fc.params, lr=0.05)
    for _ in range(epochs * 20):
        logits, cache = fc.forward(x_tr)
        _, d = softmax_cross_entropy(logits, y_tr)
        opt.step(fc.backward(d, cache)[1])
    return float((fc.forward(x_te)[0].argmax(1) == y_te).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="rnn_tanh", choices=["rnn_tanh", "rnn_relu", "lstm", "gru"])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    train_s, y_tr = make_data(4000, rng)
    test_s, y_te = make_data(1000, rng)
    words = sorted({w for s in train_s + test_s for w in s})
    vocab = {"<pad>": 0, **{w: i + 1 for i, w in enumerate(words)}}
    ids_tr, len_tr = encode(train_s, vocab)
    ids_te, len_te = encode(test_s, vocab)

    model = Classifier(ClassifierConfig(len(vocab), 16, 32, 2, mode=args.cell), rng)
    opt = Adam(model.params, lr=0.01)
    batch = 64
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(y_tr))
        losses = []
        for start in range(0, len(order), batch):
            b = order[start:start + batch]
            n = len_tr[b].max()
            loss, grads, *_ = model.loss_and_grads(ClassifierBatch(ids_tr[:n, b], len_tr[b], y_tr[b]))
            opt.step(grads)
            losses.append(loss)
        acc = (model.predict_proba(ids_te, len_te).argmax(1) == y_te).mean()
        print(f"epoch {epoch}: train loss {np.mean(losses):.4f}  test accuracy {acc:.1%}")

    bow = bag_of_words_accuracy((ids_tr, len_tr, y_tr), (ids_te, len_te, y_te), vocab, args.epochs, rng)
    print(f"{args.cell} accuracy {acc:.1%} vs bag-of-words {bow:.1%} on {len(y_te)} held-out sentences")
    for text in ["the movie is good", "the movie is not good", "it was not bad , i think", "it was bad"]:
        ids, lengths = encode([text.split()], vocab)
        p = model.predict_proba(ids, lengths)[0, 1]
        print(f"  P(positive | {text!r}) = {p:.3f}")


if __name__ == "__main__":
    main()
