"""``bptt data download | dates``: fetch a public dataset, or write the date-normalisation data."""
from __future__ import annotations

from pathlib import Path

from ._settings import seed_int


def cmd_download(args) -> int:
    from ..data.download import download
    path = download(args.name, args.cache_dir)   # DownloadError: one line (cli.main), what to do by hand
    print(path)
    return 0


def cmd_dates(args) -> int:
    """Write the date data (``bptt.data.dates``) as train/dev/test ``source<TAB>target`` files."""
    from ..data.dates import date_splits
    from ..data.pairs import write_pairs
    splits = date_splits(args.seed, args.train)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, pairs in splits._asdict().items():
        write_pairs(out / f"{name}.tsv", pairs)
        print(f"{out / f'{name}.tsv'}: {len(pairs)} pairs")
    return 0


def add_parsers(subparsers, train_subparsers=None) -> None:
    """Add ``data download`` and ``data dates`` to ``bptt``."""
    data = subparsers.add_parser("data", help="datasets").add_subparsers(dest="action", required=True)
    p = data.add_parser("download", help="fetch, verify (SHA-256) and unpack a public dataset")
    p.add_argument("name", choices=["sst2", "imdb"],
                   help="the dataset: sst2 (GLUE SST-2) or imdb (Large Movie Review)")
    p.add_argument("--cache-dir", help="default: $BPTT_CACHE or ~/.cache/bptt")
    p.set_defaults(func=cmd_download)

    p = data.add_parser("dates", help="write the date-normalisation data (source<TAB>target)")
    p.add_argument("--out", required=True, help="folder for train.tsv, dev.tsv, test.tsv")
    p.add_argument("--seed", type=seed_int, default=0, help="random seed of the dates drawn (default 0)")
    p.add_argument("--train", type=int, default=40_000, help="training pairs")
    p.set_defaults(func=cmd_dates)
