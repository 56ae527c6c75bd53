"""The ONNX export, checked in ONNX Runtime against bptt: every cell, 1-2 layers, one or two
directions and every pooling on random weights; an ensemble; both shipped models on real texts
(SST-2 dev sentences and IMDB reviews, batches of 1 and 64)."""
import itertools

import numpy as np
import onnx
import pytest

from bptt import export
from bptt.export.onnx_graph import IR_VERSION, OPSET
from bptt.export.source import Exportable
from bptt.jobs.sentiment import SentimentClassifier
from bptt.losses import softmax
from bptt.models.classifier import POOLINGS
from export_helpers import batches, ort_session, random_batch, random_classifier

MODES = ("lstm", "gru", "rnn_tanh", "rnn_relu", "rnn_sigmoid")
CONFIGS = list(itertools.product(MODES, (1, 2), (False, True), POOLINGS))


def _run(proto, ids, lengths):
    return ort_session(proto.SerializeToString()).run(None, {"ids": ids, "lengths": lengths})


@pytest.mark.parametrize("mode,num_layers,bidirectional,pooling", CONFIGS)
def test_onnx_runtime_gives_bptts_logits_and_probabilities(mode, num_layers, bidirectional, pooling):
    model = random_classifier(mode, num_layers, bidirectional, pooling, seed=len(mode) + num_layers)
    session = ort_session(export.to_onnx(model).SerializeToString())
    for B in (1, 9):                                      # one text; mixed lengths 1..T
        ids, lengths = random_batch(B, B)
        logits, probs = session.run(None, {"ids": ids, "lengths": lengths})
        ours = model.forward(ids.T, lengths)[0]                                        # (B, C)
        assert logits.dtype == probs.dtype == np.float32 and logits.shape == (B, 3)
        assert np.abs(ours).max() > 0.05
        np.testing.assert_allclose(logits, ours, rtol=0, atol=1e-5)
        np.testing.assert_allclose(probs, softmax(ours.astype(np.float64)), rtol=0, atol=1e-5)


def test_padding_after_a_texts_length_does_not_change_its_result():
    model = random_classifier("lstm", 2, True, "max+mean")
    ids, lengths = random_batch(3, 4)
    noisy = np.where(ids == 0, 7, ids)                    # other ids in the padding
    session = ort_session(export.to_onnx(model).SerializeToString())
    np.testing.assert_array_equal(session.run(None, {"ids": ids, "lengths": lengths})[1],
                                  session.run(None, {"ids": noisy, "lengths": lengths})[1])


def test_an_ensemble_is_one_graph_averaging_its_members_probabilities():
    members = tuple(random_classifier("gru", 1, True, "max", seed=s) for s in (1, 2, 3))
    proto = export.to_onnx(Exportable(members, None, ("a", "b", "c"), "test"))
    assert sum(n.op_type == "GRU" for n in proto.graph.node) == 3
    ids, lengths = random_batch(5, 6)
    logits, probs = _run(proto, ids, lengths)
    mean = np.mean([softmax(m.forward(ids.T, lengths)[0].astype(np.float64)) for m in members], axis=0)
    assert np.abs(mean - softmax(members[0].forward(ids.T, lengths)[0].astype(np.float64))).max() > 1e-3
    np.testing.assert_allclose(probs, mean, rtol=0, atol=1e-6)
    np.testing.assert_allclose(logits, np.log(mean), rtol=0, atol=1e-5)


def test_the_graph_passes_the_full_check_at_opset_17_with_dynamic_batch_and_time():
    proto = export.to_onnx(random_classifier("lstm", 1, False, "last"))
    onnx.checker.check_model(proto, full_check=True)
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", OPSET)] and OPSET == 17
    assert proto.ir_version == IR_VERSION == 8

    def dims(values):
        return {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}
    assert dims(proto.graph.input) == {"ids": ["batch", "time"], "lengths": ["batch"]}
    assert dims(proto.graph.output) == {"logits": ["batch", 3], "probabilities": ["batch", 3]}
    assert [i.type.tensor_type.elem_type for i in proto.graph.input] == [onnx.TensorProto.INT64] * 2


def test_weights_exact_in_float16_are_stored_so_and_others_in_float32():
    model = random_classifier("gru", 1, True, "max", vocab_size=400)    # 2,400-value embedding
    dtypes = {i.name: i.data_type for i in export.to_onnx(model).graph.initializer}
    assert dtypes["embedding.weight"] == onnx.TensorProto.FLOAT          # U(-0.5, 0.5) in float32
    model.embedding.params["weight"][...] = model.embedding.params["weight"].astype(np.float16)
    proto = export.to_onnx(model)
    dtypes = {i.name: i.data_type for i in proto.graph.initializer}
    assert dtypes["embedding.weight.float16"] == onnx.TensorProto.FLOAT16 and "embedding.weight" not in dtypes
    ids, lengths = random_batch(8, 5)
    np.testing.assert_allclose(_run(proto, ids, lengths)[0], model.forward(ids.T, lengths)[0], rtol=0, atol=1e-5)


def _check_shipped(name, tmp_path, texts):
    """ONNX Runtime's probabilities, from the file `bptt.export.export` writes, against bptt's
    predict_proba, at batch sizes 1 and 64."""
    clf = SentimentClassifier.pretrained(name)
    path, tok = export.export(name, tmp_path / f"{name}.onnx")
    assert tok.name == f"{name}.onnx.tokenizer.json"
    onnx.checker.check_model(str(path), full_check=True)
    session = ort_session(path.read_bytes())
    ours = clf.predict_proba(texts)                                                  # (N, C) float64
    assert ours.min() < 0.1 and ours.max() > 0.9
    for size in (1, 64):
        theirs = np.concatenate([session.run(["probabilities"], {"ids": ids, "lengths": lengths})[0]
                                 for ids, lengths in batches(clf.vocab_, texts, size)])
        np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["sst2", "imdb"])
def test_the_shipped_models_in_onnx_runtime_give_bptts_probabilities(name, tmp_path, fast_texts):
    _check_shipped(name, tmp_path, fast_texts)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sst2", "imdb"])
def test_the_shipped_models_in_onnx_runtime_on_500_texts(name, tmp_path, slow_texts):
    _check_shipped(name, tmp_path, slow_texts)
