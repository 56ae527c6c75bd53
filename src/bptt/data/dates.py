r"""The date-normalisation data: one date written in many formats, to be mapped to ISO 8601.

    date_splits(seed)                  DateSplits(train, dev, test) of DatePair(source, target, format):
                                       "the 3rd of march 1998" -> "1998-03-03"; test and dev dates
                                       never occur in train

Dates run from 1950-01-01 to 2049-12-31 (36,525 days), so that a two-digit year is never
ambiguous: YY >= 50 is 19YY, YY < 50 is 20YY. Numeric formats with slashes are US order
(month/day/year); with dots, European (day.month.year); ``DATE_FORMATS`` lists them all. Words
are lower case, Title Case or UPPER CASE at random. ``date_splits`` draws the test dates (2,000)
and dev dates (1,000) first, from a permutation of every day seeded by ``seed``, and builds
training pairs only from the remaining days: a held-out date is never seen in training, in any
format. ``bptt data dates --out DIR`` writes the three TSV files.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Callable, NamedTuple, Sequence

import numpy as np


FIRST_DAY, LAST_DAY = dt.date(1950, 1, 1), dt.date(2049, 12, 31)


FIRST_DAY, LAST_DAY = dt.date(1950, 1, 1), dt.date(2049, 12, 31)


MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december")


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class DatePair(NamedTuple):
    source: str             # "the 3rd of march 1998"
    target: str             # "1998-03-03"
    format: str             # a key of DATE_FORMATS


class DateSplits(NamedTuple):
    train: list[DatePair]
    dev: list[DatePair]
    test: list[DatePair]


def ordinal(n: int) -> str:
    """1 -> "1st", 2 -> "2nd", 3 -> "3rd", 11 -> "11th", 22 -> "22nd"."""
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _month(d: dt.date) -> str:
    return MONTHS[d.month - 1]


def _mon(d: dt.date) -> str:
    return MONTHS[d.month - 1][:3]


def _weekday(d: dt.date) -> str:
    return WEEKDAYS[d.weekday()]


def _yy(d: dt.date) -> str:
    return f"{d.year % 100:02d}"


# name: (example, render). Every render is in lower case; case is varied afterwards.
DATE_FORMATS: dict[str, Callable[[dt.date], str]] = {
    "iso":           lambda d: f"{d.year}-{d.month:02d}-{d.day:02d}",          # 1998-03-03
    "us_slash":      lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",          # 03/03/1998
    "us_slash_yy":   lambda d: f"{d.month}/{d.day}/{_yy(d)}",                   # 3/3/98
    "eu_dot":        lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",          # 03.03.1998
    "compact":       lambda d: f"{d.year}{d.month:02d}{d.day:02d}",            # 19980303
    "d_month_y":     lambda d: f"{d.day} {_month(d)} {d.year}",                # 3 march 1998
    "d_mon_y":       lambda d: f"{d.day} {_mon(d)} {d.year}",                  # 3 mar 1998
    "dd_mon_yy":     lambda d: f"{d.day:02d}-{_mon(d)}-{_yy(d)}",              # 03-mar-98
    "month_d_y":     lambda d: f"{_month(d)} {d.day}, {d.year}",               # march 3, 1998
    "mon_d_y":       lambda d: f"{_mon(d)} {d.day} {d.year}",                  # mar 3 1998
    "month_dth_y":   lambda d: f"{_month(d)} {ordinal(d.day)}, {d.year}",      # march 3rd, 1998
    "dth_month_y":   lambda d: f"{ordinal(d.day)} {_month(d)} {d.year}",       # 3rd march 1998
    "the_dth_of":    lambda d: f"the {ordinal(d.day)} of {_month(d)} {d.year}",  # the 3rd of march 1998
    "wkd_d_mon_yy":  lambda d: f"{_weekday(d)[:3]} {d.day} {_mon(d)} {_yy(d)}",  # tue 3 mar 98
    "weekday_month": lambda d: f"{_weekday(d)}, {_month(d)} {d.day}, {d.year}",  # tuesday, march 3, 1998
    "weekday_the":   lambda d: f"{_weekday(d)} the {ordinal(d.day)} of {_month(d)} {d.year}",
}


CASES = (("lower", 0.5), ("title", 0.3), ("upper", 0.2))


def render_date(d: dt.date, fmt: str, case: str = "lower") -> str:
    """``d`` written in format ``fmt`` (a key of DATE_FORMATS) and ``case`` (lower|title|upper)."""
    text = DATE_FORMATS[fmt](d)
    if case == "upper":
        return text.upper()
    if case == "title":
        return " ".join(w[:1].upper() + w[1:] for w in text.split(" "))   # "3rd" stays "3rd"
    if case != "lower":
        raise ValueError(f"case must be lower, title or upper, got {case!r}")
    return text


def all_days(first: dt.date = FIRST_DAY, last: dt.date = LAST_DAY) -> list[dt.date]:
    return [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]


def date_pairs(days: Sequence[dt.date], rng: np.random.Generator,
               formats: Sequence[str] = tuple(DATE_FORMATS)) -> list[DatePair]:
    """One pair per day, each in a format and a case drawn from ``rng``."""
    fmt_ids = rng.integers(len(formats), size=len(days))
    cases = rng.choice(len(CASES), size=len(days), p=[p for _, p in CASES])
    return [DatePair(render_date(d, formats[f], CASES[c][0]), d.isoformat(), formats[f])
            for d, f, c in zip(days, fmt_ids, cases)]


def date_splits(seed: int = 0, n_train: int = 40_000, n_dev_dates: int = 1_000,
                n_test_dates: int = 2_000) -> DateSplits:
    """Train / dev / test pairs with disjoint dates, all drawn from ``seed``.

    The days of FIRST_DAY..LAST_DAY are permuted; the first ``n_test_dates`` are the test dates
    (one pair each), the next ``n_dev_dates`` the dev dates (one pair each), and ``n_train``
    training pairs are drawn from the rest, cycling through them in random order so that every
    training day is used about equally often. Each part draws from its own generator (spawned
    from ``seed``), so the test pairs do not change with ``n_train`` or ``n_dev_dates``.
    """
    seeds = np.random.SeedSequence(seed).spawn(4)
    split_rng, test_rng, dev_rng, train_rng = (np.random.default_rng(s) for s in seeds)
    days = all_days()
    if n_test_dates + n_dev_dates >= len(days):
        raise ValueError(f"{n_test_dates} test + {n_dev_dates} dev dates leave no training dates "
                         f"out of {len(days)}")
    order = split_rng.permutation(len(days))
    test_days = [days[i] for i in order[:n_test_dates]]
    dev_days = [days[i] for i in order[n_test_dates:n_test_dates + n_dev_dates]]
    pool = order[n_test_dates + n_dev_dates:]
    picks = np.concatenate([train_rng.permutation(pool) for _ in range(-(-n_train // len(pool)))])[:n_train]
    train_days = [days[i] for i in picks]
    return DateSplits(date_pairs(train_days, train_rng), date_pairs(dev_days, dev_rng),
                      date_pairs(test_days, test_rng))


def format_counts(pairs: Sequence[DatePair]) -> dict[str, int]:
    return dict(sorted(Counter(p.format for p in pairs).items()))
