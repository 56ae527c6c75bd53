"""What the export tests share (tests/export/): real texts of mixed lengths (SST-2 dev sentences
and IMDB reviews, interleaved so that every batch mixes short and long ones), the ids bptt reads
for them, random classifiers and batches, and ONNX Runtime sessions on one thread."""
import numpy as np

from bptt.data.batching import encode_texts, pad_batch
from bptt.models import Classifier, ClassifierConfig
from shared_data import shared_data

SLOW_TEXTS, FAST_TEXTS = 500, 40


def mixed_texts(n: int) -> list[str]:
    """n texts: n/2 SST-2 dev sentences (the first ones) and n/2 IMDB training reviews (the first
    of pos/ and of neg/ in name order), alternating."""
    dev = shared_data("sst2", "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
    sentences = [line.rsplit("\t", 1)[0] for line in dev][: n // 2]
    reviews = []
    for label in ("pos", "neg"):
        folder = shared_data("imdb", "aclImdb", "train", label)
        reviews += [p.read_text(encoding="utf-8") for p in sorted(folder.iterdir())[: (n - n // 2 + 1) // 2]]
    texts = [t for pair in zip(sentences, reviews) for t in pair]
    return texts + reviews[len(sentences):][: n - len(texts)]


def batches(vocab, texts: list[str], size: int):
    """(ids (B, T) int64, lengths (B,) int64) of ``texts`` in order, ``size`` at a time, as bptt
    encodes them."""
    seqs = encode_texts(texts, vocab)
    for start in range(0, len(seqs), size):
        ids, lengths = pad_batch(seqs[start:start + size])           # (T, B), (B,)
        yield np.ascontiguousarray(ids.T), lengths


def ort_session(model_bytes: bytes):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def random_classifier(mode: str, num_layers: int, bidirectional: bool, pooling: str, seed: int = 0,
                      vocab_size: int = 40, num_classes: int = 3) -> Classifier:
    """A float32 classifier with every parameter U(-0.5, 0.5) (biases too, none zero)."""
    rng = np.random.default_rng(seed)
    model = Classifier(ClassifierConfig(vocab_size, 6, 5, num_classes, mode, num_layers, bidirectional,
                                        pooling=pooling), rng)
    for p in model.params.values():
        p[...] = rng.uniform(-0.5, 0.5, p.shape)
    return model


def random_batch(seed: int, B: int, T: int = 11, vocab_size: int = 40):
    """ids (B, T) int64 padded with 0 after each length, lengths (B,) from 1 to T (1 and T both
    present when B > 1)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, T + 1, B)
    lengths[: min(B, 2)] = [T, 1][: min(B, 2)]
    ids = rng.integers(2, vocab_size, (B, T))
    ids[np.arange(T)[None, :] >= lengths[:, None]] = 0
    return ids, lengths.astype(np.int64)
