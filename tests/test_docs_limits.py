"""docs/errors.md lists every limit and refusal rule with the values the code uses (issue 19,
point 18): a limit changed in the code and not in the page fails here."""
from pathlib import Path

import pytest

from bptt.data import columns, labels, pairs
from bptt.jobs import sentiment, translation
from bptt.serve.validate import Limits

PAGE = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


def _section() -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index("## Limits and refusal rules")
    return text[start:text.index("\n## ", start + 1)]


@pytest.mark.parametrize("value,written", [
    (pairs.MAX_CHARS, "at most 10,000 characters each"),
    (translation.MAX_SOURCE_TOKENS, "at most 10,000 (`MAX_SOURCE_TOKENS`"),
    (Limits().max_chars, "at most 20,000 characters"),
    (Limits().max_texts, "at most 64 texts a request"),
    (Limits().max_explain_words, "at most 256 words"),
    (sentiment.EXPLAIN_STEPS, "sum to 500,000 token steps"),
    (labels.RARE_SHARE, "fewer than 2% of the rows"),
    (labels.RARE_SINGLE_FROM, "a single row of a file of 20 rows or more"),
    (columns.SAMPLE, "the next 50 lines"),
])
def test_every_limit_is_written_with_the_value_the_code_uses(value, written):
    number = written.split("(")[0]
    shown = f"{value:.0%}" if isinstance(value, float) else f"{value:,}"
    assert shown in number and written in _section()


def test_the_refusal_rules_are_listed():
    section = _section()
    for rule in ("A file holding only comments", "differs from another only by case or whitespace",
                 "--no-header", "a number is a column *name*", "a row whose label is not a class",
                 "A row equal to the header line", "Holding out a dev set"):
        assert rule in section, rule
    assert tuple(columns.DELIMITERS) == (",", ";", "\t", "|") and "`,` `;` `tab` `\\|`" in section
