"""What ``bptt serve`` accepts: the size limits, and the checks of a request's fields.

Plain Python (no Starlette), so the checks are tested on their own and the command line can read
the default limits without the ``serve`` extra. A check that fails raises ``BadRequest`` with the
HTTP status, a message saying what is wrong and what was expected, and the field to blame.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..data.tokenize import tokenize


@dataclass(frozen=True)
class Limits:
    max_chars: int = 20_000          # characters in one text (an IMDB review has up to ~14,000)
    max_texts: int = 64              # texts in one /predict request
    max_explain_words: int = 256     # words of an /explain text (about 0.5 s on one core)

    def __post_init__(self):
        for name in ("max_chars", "max_texts", "max_explain_words"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    @property
    def max_body_bytes(self) -> int:
        """Room for ``max_texts`` texts of ``max_chars`` characters, each escaped as \\uXXXX."""
        return self.max_texts * (6 * self.max_chars + 8) + 1024


class BadRequest(Exception):
    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def _json_type(value) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


def check_text(value, field: str, limits: Limits) -> str:
    if not isinstance(value, str):
        raise BadRequest(422, f"{field} must be a string, got a {_json_type(value)}", field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise BadRequest(422, f"{field} holds an unpaired surrogate (\\u{ord(value[err.start]):04x}) at "
                              f"character {err.start}; send UTF-8 text", field) from None
    if len(value) > limits.max_chars:
        raise BadRequest(422, f"{field} has {len(value):,} characters; at most {limits.max_chars:,} "
                              f"are accepted", field)
    return value


def texts_of(doc: dict, limits: Limits) -> tuple[list[str], bool]:
    """The texts of a /predict body and whether it gave one ``text`` (not a ``texts`` list)."""
    unknown = sorted(set(doc) - {"text", "texts"})
    if unknown:
        raise BadRequest(422, f"unknown field {unknown[0]!r}; expected \"text\" (one text) or "
                              f"\"texts\" (a list of texts)", unknown[0])
    if ("text" in doc) == ("texts" in doc):
        raise BadRequest(422, "give either \"text\" (one text) or \"texts\" (a list of texts)"
                         + (", not both" if doc else ""), "text")
    if "text" in doc:
        return [check_text(doc["text"], "text", limits)], True
    texts = doc["texts"]
    if not isinstance(texts, list):
        raise BadRequest(422, f"texts must be a list of strings, got a {_json_type(texts)}", "texts")
    if not texts:
        raise BadRequest(422, "texts is an empty list; give at least one text", "texts")
    if len(texts) > limits.max_texts:
        raise BadRequest(422, f"texts has {len(texts):,} texts; at most {limits.max_texts:,} per request",
                         "texts")
    return [check_text(t, f"texts[{i}]", limits) for i, t in enumerate(texts)], False


def explain_text(doc: dict, limits: Limits) -> str:
    unknown = sorted(set(doc) - {"text"})
    if unknown:
        raise BadRequest(422, f"unknown field {unknown[0]!r}; /explain takes {{\"text\": \"...\"}}",
                         unknown[0])
    if "text" not in doc:
        raise BadRequest(422, "missing field \"text\": /explain takes {\"text\": \"...\"}", "text")
    text = check_text(doc["text"], "text", limits)
    words = len(tokenize(text))
    if words > limits.max_explain_words:
        raise BadRequest(422, f"text has {words:,} words; /explain reads at most "
                              f"{limits.max_explain_words:,} "
                              f"(use /predict for the label of a longer text)", "text")
    return text
