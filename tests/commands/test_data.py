"""``bptt data dates``: the date-normalisation data written as three pair files."""
from bptt.data.dates import date_splits
from bptt.data.pairs import read_pairs
from helpers import run_cli


def test_data_dates_writes_the_three_splits(tmp_path, capsys):
    assert run_cli(["data", "dates", "--out", tmp_path, "--train", 50, "--seed", 3]) == 0
    splits = date_splits(3, 50)
    for name, pairs in splits._asdict().items():
        assert read_pairs(tmp_path / f"{name}.tsv") == [(p.source, p.target) for p in pairs]
    assert capsys.readouterr().out.splitlines() == [
        f"{tmp_path / 'train.tsv'}: 50 pairs", f"{tmp_path / 'dev.tsv'}: 1000 pairs",
        f"{tmp_path / 'test.tsv'}: 2000 pairs"]
