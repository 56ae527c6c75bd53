"""The date-normalisation data: every format of one date, ordinals, reproducible and disjoint
splits, varied formats and cases."""
import datetime as dt

import numpy as np

from bptt.data.dates import DATE_FORMATS, date_pairs, date_splits, ordinal, render_date


# ---- the date data ----------------------------------------------------------------------------
def test_every_format_of_one_date():
    d = dt.date(1998, 3, 3)                                        # a Tuesday
    assert {f: render_date(d, f) for f in DATE_FORMATS} == {
        "iso": "1998-03-03", "us_slash": "03/03/1998", "us_slash_yy": "3/3/98", "eu_dot": "03.03.1998",
        "compact": "19980303", "d_month_y": "3 march 1998", "d_mon_y": "3 mar 1998",
        "dd_mon_yy": "03-mar-98", "month_d_y": "march 3, 1998", "mon_d_y": "mar 3 1998",
        "month_dth_y": "march 3rd, 1998", "dth_month_y": "3rd march 1998",
        "the_dth_of": "the 3rd of march 1998", "wkd_d_mon_yy": "tue 3 mar 98",
        "weekday_month": "tuesday, march 3, 1998", "weekday_the": "tuesday the 3rd of march 1998"}
    assert render_date(d, "wkd_d_mon_yy", "title") == "Tue 3 Mar 98"
    assert render_date(d, "the_dth_of", "upper") == "THE 3RD OF MARCH 1998"


def test_ordinals_and_month_order_of_slashes_and_dots():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"]
    d = dt.date(2049, 12, 31)
    assert (render_date(d, "us_slash"), render_date(d, "eu_dot"), render_date(d, "us_slash_yy")) == \
        ("12/31/2049", "31.12.2049", "12/31/49")
    assert render_date(dt.date(1950, 1, 1), "dd_mon_yy") == "01-jan-50"


def test_date_splits_are_reproducible_and_the_dates_disjoint():
    a, b = date_splits(seed=3, n_train=3000), date_splits(seed=3, n_train=3000)
    assert a == b
    assert date_splits(seed=4, n_train=3000).test != a.test
    assert date_splits(seed=3, n_train=500).test == a.test        # the test set is fixed by the seed
    assert (len(a.train), len(a.dev), len(a.test)) == (3000, 1000, 2000)
    train, dev, test = ({p.target for p in split} for split in a)
    assert len(test) == 2000 and len(dev) == 1000                  # one pair per held-out date
    assert not train & test and not train & dev and not dev & test
    assert len({p.format for p in a.test}) == len(DATE_FORMATS)
    for p in a.train[:300] + a.test[:300]:                          # each source is its target's date
        d = dt.date.fromisoformat(p.target)
        assert p.source.lower() == render_date(d, p.format)


def test_date_pairs_vary_format_and_case():
    rng = np.random.default_rng(0)
    pairs = date_pairs([dt.date(2001, 5, 17)] * 400, rng)
    assert {p.target for p in pairs} == {"2001-05-17"}
    assert len({p.format for p in pairs}) == len(DATE_FORMATS)
    assert any(p.source.isupper() for p in pairs) and any(p.source.islower() for p in pairs)
