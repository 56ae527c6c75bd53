"""``bptt export MODEL OUT [--format onnx|torchscript]``: a sentiment model for another runtime.

MODEL is a shipped model name (sst2, imdb) or a model directory. The format comes from OUT's
suffix unless ``--format`` names it:

    bptt export sst2 sst2.onnx      ONNX (opset 17) + sst2.onnx.tokenizer.json (vocabulary, rules)
    bptt export imdb imdb.pt        TorchScript, for torch.jit.load (C++: torch::jit::load)

Both take ids (B, T) int64 and lengths (B,) int64 and give logits and probabilities (B, C).
ONNX needs the optional extra 'export' (pip install 'bptt[export]'), TorchScript PyTorch.
docs/export.md shows how to run each file.
"""
from __future__ import annotations

import argparse
import sys


def cmd_export(args) -> int:
    from ..export import MissingExtra, export
    try:
        written = export(args.model, args.out, args.format)
    except MissingExtra as err:
        print(f"bptt export: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


def add_parsers(subparsers, train_subparsers=None) -> None:
    """Add ``export`` to ``bptt``."""
    from ..export import FORMATS
    p = subparsers.add_parser("export", help="a sentiment model as ONNX or TorchScript",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="shipped model name (sst2, imdb) or model directory")
    p.add_argument("out", help=f"the file to write ({', '.join('*' + s for s in FORMATS)})")
    p.add_argument("--format", choices=sorted(set(FORMATS.values())),
                   help="the format, when OUT's suffix does not say it")
    p.set_defaults(func=cmd_export)
