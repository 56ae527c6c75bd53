"""``bptt serve [MODEL] [--host 127.0.0.1] [--port 8000]``: the model over HTTP, and a page to try it.

MODEL is a shipped model name (sst2, imdb) or a model directory (default: sst2). Open
http://127.0.0.1:8000/ for the page; the API is POST /predict, POST /explain, GET /model (the
model's card) and GET /health (``bptt.serve.app``). Needs the optional extra ``serve``
(``pip install 'bptt[serve]'``: Starlette and uvicorn).
"""
from __future__ import annotations

import argparse
import sys

from ._settings import positive_int


def cmd_serve(args) -> int:
    try:
        import uvicorn
        from threadpoolctl import threadpool_limits

        from ..serve.app import create_app
    except ImportError as err:
        print(f"bptt serve: needs the optional extra 'serve' (pip install 'bptt[serve]'): {err}",
              file=sys.stderr)
        return 1
    from ..serve.model import load_model, model_card
    from ..serve.validate import Limits
    clf, directory = load_model(args.model)
    limits = Limits(max_chars=args.max_chars, max_texts=args.max_texts,
                    max_explain_words=args.max_explain_words)
    app = create_app(clf, model_card(clf, directory), limits)
    print(f"serving {directory} on http://{args.host}:{args.port}/ (Ctrl-C to stop)", file=sys.stderr)
    # Requests run in parallel worker threads; BLAS threads inside each only contend for the same
    # cores: under 16 clients /explain served 351 requests/s with 1 BLAS thread, 48 with 2
    # (bench/results/serve.md and serve.blas2.md).
    with threadpool_limits(args.blas_threads, user_api="blas"):
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                    access_log=args.log_level in ("debug", "info"))
    return 0


def add_parsers(subparsers, train_subparsers=None) -> None:
    """Add ``serve`` to ``bptt``."""
    from ..serve.validate import Limits
    d = Limits()
    p = subparsers.add_parser("serve", help="HTTP API and a page to try a sentiment model",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", help="shipped model name (sst2, imdb) or model directory (default: sst2)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port to listen on (default 8000)")
    p.add_argument("--max-chars", type=positive_int, default=d.max_chars,
                   help=f"characters per text (default {d.max_chars:,})")
    p.add_argument("--max-texts", type=positive_int, default=d.max_texts,
                   help=f"texts per /predict request (default {d.max_texts})")
    p.add_argument("--max-explain-words", type=positive_int, default=d.max_explain_words,
                   help=f"words of an /explain text (default {d.max_explain_words})")
    p.add_argument("--blas-threads", type=positive_int, default=1,
                   help="BLAS threads per request (default 1: requests already run in parallel)")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"],
                   help="uvicorn's log level; info and debug log every request (default warning)")
    p.set_defaults(func=cmd_serve)
