"""Taking a bptt sentiment model elsewhere: ONNX (any runtime, any language), PyTorch
(a module, or a TorchScript file) and Keras 3 (a recurrent layer's weights, both ways).

    from bptt import export
    export.export("sst2", "sst2.onnx")        # + sst2.onnx.tokenizer.json (vocabulary and rules)
    export.export("imdb", "imdb.pt")          # TorchScript: (ids (B, T), lengths) -> (logits, probabilities)
    module = export.to_torch("sst2")          # nn.Module: embedding, rnn, fc; ids (T, B), lengths
    weights = export.to_keras_weights(bptt_gru)          # keras.layers.GRU(H).set_weights(weights)
    export.from_keras_weights(keras_gru, bptt_gru)        # and back

A model is a shipped name ("sst2", "imdb"), a model directory (holding sentiment.json), a
``SentimentClassifier`` or a ``bptt.models.Classifier``; an ensemble (the shipped imdb model)
becomes one graph or module that averages its members' probabilities, as bptt does. ONNX needs
the optional extra ``export`` (``pip install 'bptt[export]'``: onnx, and onnxruntime to run it),
TorchScript and ``to_torch`` need PyTorch; the Keras conversions need NumPy only. Nothing heavy
is imported until it is used. docs/export.md has the details: ``onnx_graph`` (the graph, opset
17), ``tokenizer_spec`` (the tokenizer file), ``torch_module``, ``keras_weights``, ``layouts``
(the gate orders).
"""
from __future__ import annotations

import importlib
from pathlib import Path

FORMATS = {".onnx": "onnx", ".pt": "torchscript"}       # OUT's suffix -> format
TOKENIZER_SUFFIX = ".tokenizer.json"

__all__ = ["export", "to_onnx", "to_torch", "to_keras_weights", "from_keras_weights", "FORMATS",
           "MissingExtra"]


class MissingExtra(ImportError):
    """An optional package an export needs is not installed; the message says what to install."""


def _require(module: str, what: str, install: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError as err:
        raise MissingExtra(f"{what} needs {install}: {err}") from None


def _require_onnx() -> None:
    _require("onnx", "ONNX export", "the optional extra 'export' (pip install 'bptt[export]')")


def _require_torch() -> None:
    _require("torch", "PyTorch export", "PyTorch (pip install torch)")


def to_onnx(model):
    """The ``onnx.ModelProto`` of ``model`` (see ``onnx_graph``), checked by
    ``onnx.checker.check_model(full_check=True)``."""
    _require_onnx()
    import onnx

    from .onnx_graph import build
    from .source import exportable
    proto = build(exportable(model))
    onnx.checker.check_model(proto, full_check=True)
    return proto


def to_torch(model):
    """A float32 ``torch.nn.Module`` in eval mode with bptt's weights: ``TorchClassifier``
    (submodules ``embedding``, ``rnn``, ``fc``) for one model, ``TorchEnsemble`` for an
    ensemble. forward(ids (T, B) int64, lengths (B,) int64) -> logits (B, C), bptt's."""
    _require_torch()
    from .source import exportable
    from .torch_module import build
    return build(exportable(model))


def to_keras_weights(layer, num_layer: int = 0, reverse: bool = False):
    """See ``bptt.export.keras_weights.to_keras_weights``."""
    from .keras_weights import to_keras_weights as convert
    return convert(layer, num_layer, reverse)


def from_keras_weights(weights, layer, num_layer: int = 0, reverse: bool = False) -> None:
    """See ``bptt.export.keras_weights.from_keras_weights``."""
    from .keras_weights import from_keras_weights as convert
    convert(weights, layer, num_layer, reverse)


def format_of(out: str | Path, format: str | None = None) -> str:
    """``format`` if given, else the one OUT's suffix names (``FORMATS``)."""
    if format is not None:
        if format not in FORMATS.values():
            raise ValueError(f"format must be one of {', '.join(FORMATS.values())}, got {format!r}")
        return format
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{out}: cannot tell the format from the suffix {suffix or '(none)'!r}: name the "
                         f"file {', '.join('*' + s for s in FORMATS)}, or name the format "
                         f"(--format / format=: {', '.join(FORMATS.values())})")
    return FORMATS[suffix]


def export(model, out: str | Path, format: str | None = None) -> list[Path]:
    """Write ``model`` to ``out`` (format from its suffix or ``format``); returns the files
    written: for ONNX the model and, when the model has a vocabulary, ``OUT.tokenizer.json``.
    Every file is written atomically (a temporary file, then renamed)."""
    from .. import files
    from .source import exportable
    out = Path(out)
    kind = format_of(out, format)
    if not out.parent.is_dir():
        raise FileNotFoundError(f"{out}: no folder {out.parent} to write into (create it first)")
    if kind == "onnx":
        _require_onnx()
    else:
        _require_torch()
    source = exportable(model)
    if kind == "torchscript":
        from .torch_module import save_torchscript
        save_torchscript(source, out)
        return [out]
    from .onnx_graph import build
    from .tokenizer_spec import tokenizer_spec
    import onnx
    proto = build(source)
    onnx.checker.check_model(proto, full_check=True)
    files.atomic_write(out, lambda tmp: Path(tmp).write_bytes(proto.SerializeToString()))
    written = [out]
    if source.vocab is not None:
        tok = out.with_name(out.name + TOKENIZER_SUFFIX)
        files.write_json(tok, tokenizer_spec(source.vocab, source.name), indent=1)
        written.append(tok)
    return written
