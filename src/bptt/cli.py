"""The ``bptt`` command: parse arguments and hand them to the job's command module.

    bptt predict [MODEL] "text" ...     bptt explain [MODEL] "text"     bptt evaluate MODEL DATA
    bptt train sentiment --train FILE --dev FILE ...                 (commands/sentiment.py)
    bptt data download sst2|imdb      bptt data dates --out DIR           (commands/data.py)
    bptt train lm --text FILE ...      bptt generate MODEL --prime "..."   (commands/lm.py)
    bptt train tagger ...              bptt tag MODEL "text"               (commands/tagger.py)
    bptt train seq2seq --pairs F.tsv   bptt translate MODEL "text"         (commands/seq2seq.py)
    bptt diagnose ...                                                      (commands/diagnose.py)
    bptt plot RUN_DIR [RUN_DIR ...] [--out DIR]                            (commands/plot.py)
    bptt serve [MODEL] --port 8000                                         (commands/serve.py)
    bptt export MODEL OUT.onnx|OUT.pt                                      (commands/export.py)
"""
from __future__ import annotations

import argparse
import difflib
import math
import os
import sys
import traceback
import warnings

from . import __version__

# Expected failures become one line ``bptt <command>: <what is wrong and what to do>`` and exit
# status 1 (2 for a bad command line, as argparse does); anything else is a bug in bptt: its
# traceback, a line saying so, and status 70 (EX_SOFTWARE). BPTT_TRACEBACK=1 shows the traceback
# of an expected failure too.
EXIT_ERROR, EXIT_USAGE, EXIT_BUG, EXIT_INTERRUPTED = 1, 2, 70, 130


class _Parser(argparse.ArgumentParser):
    """argparse without abbreviations (``--hidden`` is not ``--hidden-size``: an abbreviation would
    change meaning when an option is added), and errors as one line naming the (sub)command
    that refused the argument, with a pointer to its ``--help`` instead of the whole usage."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from .commands import data, diagnose, export, lm, plot, seq2seq, sentiment, serve, tagger
    parser = _Parser(prog="bptt", description="Recurrent neural networks from the math up.")
    parser.add_argument("--version", action="version", version=f"bptt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    train = sub.add_parser("train", help="train a model").add_subparsers(dest="job", required=True,
                                                                          parser_class=_Parser)
    for module in (sentiment, lm, tagger, seq2seq, diagnose, data, plot, serve, export):
        module.add_parsers(sub, train)
    from .distributed import add_option
    add_option(train)                   # --distributed (bptt.distributed)
    _every_option(parser)
    return parser


def _every_option(parser: argparse.ArgumentParser) -> None:
    """What every option gets: a number must be finite (nan and inf are refused), and an option
    that is None when absent also takes "none" (and then is None)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _every_option(sub)
        elif action.option_strings and action.type is not None and action.type is not str:
            action.type = _finite(action.type, none=action.default is None)


def _finite(kind, none: bool):
    def parse(text: str):
        if none and text.strip().lower() == "none":
            return None
        value = kind(text)
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        return value
    parse.__name__ = getattr(kind, "__name__", "value")    # argparse names the type in its errors
    return parse


def _leaf(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.ArgumentParser, dict, int]:
    """(the innermost subcommand parser named at the start of ``argv``, {dest: name} of each
    subcommand on the way, how many words of ``argv`` named them): ``bptt train sentiment ...``
    is the parser of ``train sentiment``. Stops at the first word that is not a subcommand."""
    chosen, i = {}, 0
    while i < len(argv):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or argv[i] not in subs[0].choices:
            break
        chosen[subs[0].dest] = argv[i]
        parser, i = subs[0].choices[argv[i]], i + 1
    return parser, chosen, i


def _chosen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The innermost subcommand parser that ``args`` went through (``bptt train sentiment``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            name = getattr(args, action.dest, None)
            if name in action.choices:
                return _chosen(action.choices[name], args)
    return parser


def parse(argv: list[str] | None = None) -> tuple[argparse.Namespace, str]:
    """(arguments, "bptt <command>"). Options may come before, between or after the positional
    arguments of a command (``bptt predict imdb --json "a gem"``: argparse's intermixed parsing,
    done by the subcommand's own parser once the words naming it are read); an unknown option is
    refused by the subcommand it was given to, in one line, with the closest known one."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    leaf, chosen, n = _leaf(parser, argv)
    if leaf is parser or any(isinstance(a, argparse._SubParsersAction) for a in leaf._actions):
        args, extra = parser.parse_known_args(argv)      # no command, or an incomplete one: its error
    else:           # after "--" every word is positional: argparse's intermixed parsing loses that
        args, extra = (leaf.parse_known_args if "--" in argv[n:] else leaf.parse_known_intermixed_args)(argv[n:])
        for dest, name in chosen.items():
            setattr(args, dest, name)
    if extra:
        known = [o for a in leaf._actions for o in a.option_strings]
        options = [x for x in extra if x.startswith("-") and x != "-"]
        if options:             # the words after an unknown option are its value, most likely
            leaf.error(f"unknown option{'s' * (len(options) > 1)} {', '.join(_hint(x, known) for x in options)}")
        leaf.error(f"unrecognized arguments: {' '.join(extra)}")
    return args, leaf.prog


def _hint(argument: str, known: list[str]) -> str:
    """``argument`` with the known option it most likely means: the one it abbreviates, else the
    closest spelling."""
    name = argument.split("=")[0]
    close = [o for o in known if o.startswith(name) and name.startswith("--")] or \
        difflib.get_close_matches(name, known, 1)
    return f"{argument} (did you mean {close[0]}?)" if close else argument


def one_line(err: BaseException) -> str:
    """An expected error's message as one line (an OSError as "file: reason")."""
    if isinstance(err, OSError) and err.strerror and not isinstance(err, FileNotFoundError) or (
            isinstance(err, FileNotFoundError) and err.filename is not None):
        where = f"{err.filename}: " if err.filename is not None else ""
        text = f"{where}{err.strerror}"
    else:
        text = str(err) or type(err).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(line if line.endswith(":") else line + ";" for line in lines[:-1]) + " " + lines[-1] \
        if len(lines) > 1 else text.strip()


def _expected() -> tuple[type, ...]:
    from .data.download import DownloadError
    from .train import TrainingDiverged
    return (ValueError, OSError, TrainingDiverged, DownloadError)


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _raised_by_bptt(err: BaseException) -> bool:
    """Whether a ValueError comes from one of bptt's own ``raise`` statements (a bad input it
    checked for) rather than from deep inside NumPy or the standard library (a bug in bptt)."""
    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return True                  # raised by hand, e.g. in a test
    last = frames[-1]
    in_bptt = os.path.abspath(last.filename).startswith(_PACKAGE)
    return in_bptt and (last.line or "").lstrip().startswith("raise")


def main(argv: list[str] | None = None) -> int:
    args, name = parse(argv)
    # NumPy's overflow warnings: training reports non-finite steps itself, and they say nothing
    # a user can act on
    warnings.filterwarnings("ignore", category=RuntimeWarning,
                            message=r".*(overflow|invalid value|divide by zero) encountered")
    try:
        if getattr(args, "command", None) != "train":
            return args.func(args)
        from .distributed import session
        with session(args):             # data-parallel under torchrun (bptt.distributed), else nothing
            return args.func(args)
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        print(f"{name}: out of memory; try a smaller --batch-size or --hidden-size, or shorter texts "
              f"(--max-len)", file=sys.stderr)
        return EXIT_ERROR
    except _expected() as err:
        if isinstance(err, ValueError) and not _raised_by_bptt(err):
            return _bug(name, err)
        if os.environ.get("BPTT_TRACEBACK"):
            traceback.print_exc()
        print(f"{name}: {one_line(err)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as err:        # noqa: BLE001 - every other exception is a bug, reported as one
        return _bug(name, err)


def _bug(name: str, err: BaseException) -> int:
    traceback.print_exception(err)
    print(f"{name}: internal error ({type(err).__name__}): this is a bug in bptt {__version__}, "
          f"not in your input; please report it with the traceback above", file=sys.stderr)
    return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
