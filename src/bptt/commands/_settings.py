"""Command-line flags from a job's settings dataclass, shared by every ``bptt train`` job.

Each field of the settings dataclass becomes ``--field-name`` (underscores as dashes), typed
from its annotation (int, float, str, bool as true/false or the flag alone for true; ``X | None``
also takes "none"), and
only the flags given on the command line override the dataclass defaults.
"""
from __future__ import annotations

import argparse
from dataclasses import fields


def parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def none_or(kind):
    """A parser for ``kind`` that also reads "none" as None."""
    def parse(text: str):
        return None if text.lower() == "none" else kind(text)
    parse.__name__ = kind.__name__
    return parse


KINDS = {"int": int, "float": float, "str": str, "bool": parse_bool}


def add_settings_arguments(parser: argparse.ArgumentParser, settings_cls, custom: dict | None = None) -> None:
    """Add a flag for every field of ``settings_cls``; ``custom`` maps a field name to the
    add_argument keyword arguments to use instead."""
    custom = custom or {}
    for f in fields(settings_cls):
        flag = f"--{f.name.replace('_', '-')}"
        if f.name in custom:
            parser.add_argument(flag, dest=f.name, **custom[f.name])
            continue
        text = str(f.type)
        kind = KINDS.get(text.split(" ")[0].replace("|", "").strip(), str)
        extra = {"nargs": "?", "const": True} if kind is parse_bool else {}   # --flag alone is true
        parser.add_argument(flag, dest=f.name, type=none_or(kind) if "None" in text else kind,
                            help=f"default {f.default}", **extra)


def add_run_arguments(parser: argparse.ArgumentParser, default_out: str) -> None:
    """``--out``, ``--resume``, ``--time-budget`` and ``--quiet``: where a training run writes, how
    long it may run, and how it shows (every ``bptt train`` job has them; ``run_options`` reads them)."""
    parser.add_argument("--out", default=default_out, help="checkpoint, best/ and metrics.jsonl go here")
    parser.add_argument("--resume", help="continue from this checkpoint.safetensors")
    parser.add_argument("--time-budget", type=positive_float, metavar="MINUTES",
                        help="train this many minutes, then checkpoint and stop (continue with --resume)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run_options(args) -> dict:
    """The keyword arguments of a job's ``fit`` from ``add_run_arguments``'s flags (the time
    budget in seconds)."""
    budget = None if args.time_budget is None else args.time_budget * 60
    return dict(out_dir=args.out, resume=args.resume, progress=not args.quiet, time_budget=budget)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def settings_from_args(settings_cls, args) -> dict:
    """The settings given on the command line, as keyword arguments."""
    return {f.name: getattr(args, f.name) for f in fields(settings_cls)
            if getattr(args, f.name, None) is not None}
