"""download: served from a local HTTP server in a thread (no network): success, idempotence,
checksum mismatches, HTTP errors, and archives that try to write outside their folder."""
import hashlib
import http.server
import io
import re
import shutil
import tarfile
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest

from bptt.data.download import SOURCES, ChecksumError, DownloadError, Source, default_cache_dir, download
from bptt.data.readers import read_dataset
from shared_data import shared_data

TRAIN = b"sentence\tlabel\ngood film \t1\nbad film \t0\n"
DEV = b"sentence\tlabel\nfine \t1\n"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Server:
    def __init__(self, root: Path):
        self.root, self.requests = root, []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                server.requests.append(self.path)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def put(self, name: str, data: bytes) -> str:
        (self.root / name).write_bytes(data)
        return self.url(name)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server(tmp_path):
    (tmp_path / "www").mkdir()
    s = _Server(tmp_path / "www")
    yield s
    s.close()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return buf.getvalue()


def _targz(members: dict[str, bytes], symlink: tuple[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink[0])
            info.type, info.linkname = tarfile.SYMTYPE, symlink[1]
            tf.addfile(info)
    return buf.getvalue()


def _toy_zip_source(server, **overrides) -> Source:
    data = _zip({"toy/train.tsv": TRAIN, "toy/dev.tsv": DEV})
    fields = dict(url=server.put("toy.zip", data), archive_sha256=_sha256(data),
                  member_sha256={"toy/train.tsv": _sha256(TRAIN), "toy/dev.tsv": _sha256(DEV)},
                  kind="zip", folder="toy", archive_md5=hashlib.md5(data).hexdigest())
    fields.update(overrides)
    return Source(**fields)


def test_zip_is_downloaded_verified_and_unpacked(server, tmp_path):
    cache = tmp_path / "cache"
    path = download("toy", cache, source=_toy_zip_source(server), progress=False)
    assert path == cache / "toy"
    assert (path / "train.tsv").read_bytes() == TRAIN and (path / "dev.tsv").read_bytes() == DEV
    assert sorted(p.name for p in cache.iterdir()) == ["toy"]  # no temporary files left
    ds, report = read_dataset(path / "train.tsv")
    assert ds.texts == ["good film", "bad film"] and report.kept == 2


def test_second_call_finds_the_verified_folder_and_does_nothing(server, tmp_path):
    source = _toy_zip_source(server)
    first = download("toy", tmp_path / "cache", source=source, progress=False)
    stamp = (first / "train.tsv").stat().st_mtime_ns
    n_requests = len(server.requests)
    second = download("toy", tmp_path / "cache", source=source, progress=False)
    assert second == first and len(server.requests) == n_requests == 1
    assert (second / "train.tsv").stat().st_mtime_ns == stamp


def test_tar_gz_imdb_layout(server, tmp_path):
    members = {"aclImdb/train/neg/0_2.txt": b"Dull.", "aclImdb/train/pos/0_9.txt": b"Superb.",
               "aclImdb/test/pos/1_8.txt": b"Fun."}
    data = _targz(members)
    source = Source(server.put("imdb.tar.gz", data), _sha256(data), kind="tar.gz", folder="aclImdb")
    path = download("imdb", tmp_path / "cache", source=source, progress=True)  # bar on stderr
    ds, _ = read_dataset(path / "train")
    assert ds.texts == ["Dull.", "Superb."] and ds.labels.tolist() == [0, 1]


def test_env_variable_sets_the_cache(server, tmp_path, monkeypatch):
    monkeypatch.setenv("BPTT_CACHE", str(tmp_path / "envcache"))
    assert default_cache_dir() == tmp_path / "envcache"
    assert download("toy", source=_toy_zip_source(server), progress=False) == tmp_path / "envcache" / "toy"


@pytest.mark.parametrize("field, algorithm", [("archive_sha256", "sha256"), ("archive_md5", "md5")])
def test_archive_checksum_mismatch_removes_the_file(server, tmp_path, field, algorithm):
    wrong = "0" * (64 if algorithm == "sha256" else 32)
    source = _toy_zip_source(server, **{field: wrong})
    actual = getattr(hashlib, algorithm)((server.root / "toy.zip").read_bytes()).hexdigest()
    with pytest.raises(ChecksumError, match=rf"{algorithm} of the archive downloaded from .*toy\.zip "
                                            rf"\(saved as .*\.toy\..*\.zip, now removed\) is wrong: "
                                            rf"expected {wrong}, got {actual}"):
        download("toy", tmp_path / "cache", source=source, progress=False)
    assert list((tmp_path / "cache").iterdir()) == []


def test_member_checksum_mismatch_leaves_nothing(server, tmp_path):
    source = _toy_zip_source(server, member_sha256={"toy/dev.tsv": "f" * 64})
    with pytest.raises(ChecksumError, match=rf"sha256 of toy/dev\.tsv from .* is wrong: "
                                            rf"expected f{{64}}, got {_sha256(DEV)}"):
        download("toy", tmp_path / "cache", source=source, progress=False)
    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_member_is_an_error(server, tmp_path):
    source = _toy_zip_source(server, member_sha256={"toy/test.tsv": "0" * 64})
    with pytest.raises(DownloadError, match=r"has no file 'toy/test\.tsv'"):
        download("toy", tmp_path / "cache", source=source, progress=False)


def test_http_404_names_the_url_and_status(server, tmp_path):
    source = Source(server.url("missing.zip"), None, kind="zip", folder="toy")
    with pytest.raises(DownloadError, match=r"downloading http://127\.0\.0\.1:\d+/missing\.zip failed: "
                                            r"HTTP 404 File not found"):
        download("toy", tmp_path / "cache", source=source, progress=False)
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize("kind, member", [("zip", "../evil.txt"), ("zip", "/tmp/evil.txt"),
                                          ("tar.gz", "toy/../../evil.txt"), ("tar.gz", "/evil.txt")])
def test_path_traversal_member_is_refused(server, tmp_path, kind, member):
    members = {"toy/train.tsv": TRAIN, member: b"pwned"}
    data = _zip(members) if kind == "zip" else _targz(members)
    source = Source(server.put(f"bad.{kind}", data), _sha256(data), kind=kind, folder="toy")
    with pytest.raises(DownloadError, match=rf"refusing archive member '{member}': its path leaves"):
        download("toy", tmp_path / "cache", source=source, progress=False)
    assert list((tmp_path / "cache").iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


def test_tar_symlink_member_is_refused(server, tmp_path):
    data = _targz({"toy/train.tsv": TRAIN}, symlink=("toy/link", "/etc/passwd"))
    source = Source(server.put("link.tar.gz", data), _sha256(data), kind="tar.gz", folder="toy")
    with pytest.raises(DownloadError, match=r"refusing archive member 'toy/link': only regular files"):
        download("toy", tmp_path / "cache", source=source, progress=False)


def test_foreign_folder_in_the_way_is_not_overwritten(server, tmp_path):
    (tmp_path / "cache" / "toy").mkdir(parents=True)
    with pytest.raises(DownloadError, match=r"toy exists but was not made from .*remove it"):
        download("toy", tmp_path / "cache", source=_toy_zip_source(server), progress=False)


def test_archive_without_the_expected_folder(server, tmp_path):
    data = _zip({"other/train.tsv": TRAIN})
    source = Source(server.put("o.zip", data), None, kind="zip", folder="toy")
    with pytest.raises(DownloadError, match=r"has no folder 'toy'; found \['other'\]"):
        download("toy", tmp_path / "cache", source=source, progress=False)
    assert list((tmp_path / "cache").iterdir()) == []


def test_registry_and_unknown_names():
    assert SOURCES["sst2"].url == "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip"
    assert SOURCES["sst2"].member_sha256["SST-2/train.tsv"] == \
        "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1"
    assert SOURCES["sst2"].archive_md5 == "9f81648d4199384278b86e315dac217c"
    assert SOURCES["imdb"].archive_sha256 == "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
    assert (SOURCES["imdb"].kind, SOURCES["imdb"].folder) == ("tar.gz", "aclImdb")
    with pytest.raises(ValueError, match="unknown data set 'mnist'; known: imdb, sst2"):
        download("mnist")


def test_registry_member_digests_match_the_shared_copies():
    for member, digest in SOURCES["sst2"].member_sha256.items():
        assert _sha256(shared_data("sst2", Path(member).name).read_bytes()) == digest


def _closed_port_url(name: str) -> str:
    import socket
    with socket.socket() as s:                    # bound then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def test_offline_is_one_line_saying_where_to_save_the_archive_by_hand(tmp_path, monkeypatch, capsys):
    from bptt.cli import main
    offline = Source(_closed_port_url("SST-2.zip"), None, kind="zip", folder="SST-2", archive_md5="0" * 32)
    monkeypatch.setitem(SOURCES, "sst2", offline)
    assert main(["data", "download", "sst2", "--cache-dir", str(tmp_path / "cache")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"bptt data download: cannot download {offline.url}: Failed to "
                          f"establish a new connection: ")
    assert err.endswith(f"Connection refused; download it by hand, save it as {tmp_path / 'cache' / 'SST-2.zip'} "
                        f"and run `bptt data download sst2` again\n")
    assert list((tmp_path / "cache").iterdir()) == []


def test_an_archive_saved_by_hand_is_checked_used_and_kept(server, tmp_path):
    source = _toy_zip_source(server)
    (tmp_path / "cache").mkdir()
    shutil.copy(server.root / "toy.zip", tmp_path / "cache" / "toy.zip")
    (server.root / "toy.zip").unlink()                          # the server no longer has it
    path = download("toy", tmp_path / "cache", source=source, progress=False)
    assert (path / "train.tsv").read_bytes() == TRAIN and server.requests == []
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["toy", "toy.zip"]


def test_a_wrong_archive_saved_by_hand_is_downloaded_again(server, tmp_path):
    source = _toy_zip_source(server)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "toy.zip").write_bytes(b"not the archive")
    path = download("toy", tmp_path / "cache", source=source, progress=False)
    assert (path / "dev.tsv").read_bytes() == DEV and server.requests == ["/toy.zip"]
    assert (tmp_path / "cache" / "toy.zip").read_bytes() == (server.root / "toy.zip").read_bytes()


def test_http_errors_also_say_how_to_download_by_hand(server, tmp_path):
    source = Source(server.url("missing.zip"), None, kind="zip", folder="toy")
    with pytest.raises(DownloadError, match=rf"HTTP 404 File not found; download it by hand, save it as "
                                            rf"{re.escape(str(tmp_path / 'cache' / 'missing.zip'))}"):
        download("toy", tmp_path / "cache", source=source, progress=False)


def test_progress_in_a_log_has_no_carriage_returns(server, tmp_path, capsys):
    download("toy", tmp_path / "cache", source=_toy_zip_source(server), progress=True)
    out, err = capsys.readouterr()
    assert "\r" not in out + err
