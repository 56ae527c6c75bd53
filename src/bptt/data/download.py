"""Downloading and unpacking the public sentiment data sets, with checksums.

``download("sst2")`` -> ``<cache>/SST-2`` (train.tsv, dev.tsv, test.tsv: GLUE SST-2);
``download("imdb")`` -> ``<cache>/aclImdb`` (train/{pos,neg}, test/{pos,neg}, ...: pass
``<cache>/aclImdb/train`` to ``read_dataset``). The cache is ``cache_dir``, else ``$BPTT_CACHE``,
else ``~/.cache/bptt``.

Steps, each safe to interrupt:

1. If ``<cache>/<folder>`` exists and its ``.bptt-source.json`` records this source, return it.
2. Fetch the archive with pooch (``pooch.retrieve``: HTTP through requests, a progress bar, a
   temporary file in the cache moved into place only once its digest matches). Its digest is
   the source's SHA-256, or its MD5 where that is all the publisher gives; where both are
   known the MD5 is checked too. On a mismatch the file is deleted and ``ChecksumError`` names
   the file, the expected and the actual digest.
3. Unpack into a temporary folder in the cache. Members whose path is absolute or climbs out
   with ``..``, and links or devices in a tar, are refused (``DownloadError``) before anything
   is written.
4. Check the SHA-256 of the listed members, write ``.bptt-source.json``, and rename the folder
   into place in one step (``os.rename``), so ``<cache>/<folder>`` is either complete and
   verified or absent. The downloaded archive is then deleted.

Without a network (or when the server refuses), the error is one line that says where to save
the archive by hand: ``<cache>/<archive name>`` (``SST-2.zip``, ``aclImdb_v1.tar.gz``). An
archive found there is used instead of downloading, after the same checks (pooch downloads it
again if its digest is wrong), and kept.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import urllib.parse
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..progress import progress_bar

__all__ = ["Source", "SOURCES", "download", "default_cache_dir", "DownloadError", "ChecksumError"]

MARKER = ".bptt-source.json"
CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A download, unpack or verification step failed; the message says which and why."""


class ChecksumError(DownloadError):
    """A file's digest is not the published one."""


def _safe_member(name: str) -> bool:
    """A member path that stays inside the folder it is unpacked into."""
    path = PurePosixPath(name.replace("\\", "/"))
    return bool(name) and not path.is_absolute() and ".." not in path.parts and ":" not in path.parts[0]


@dataclass(frozen=True)
class Source:
    """Where a data set comes from and how to check it.

    url: the archive; kind: "zip" or "tar.gz"; folder: the archive's top-level folder, which
    becomes ``<cache>/<folder>``; archive_sha256 / archive_md5: digests of the archive (None:
    not checked); member_sha256: {path inside the archive: SHA-256} checked after unpacking.
    """
    url: str
    archive_sha256: str | None
    member_sha256: dict[str, str] = field(default_factory=dict)
    kind: str = "zip"
    folder: str = ""
    archive_md5: str | None = None

    def __post_init__(self):
        if self.kind not in ("zip", "tar.gz"):
            raise ValueError(f"kind must be 'zip' or 'tar.gz', got {self.kind!r}")
        if not self.folder or not _safe_member(self.folder):
            raise ValueError(f"folder must be a plain relative folder name, got {self.folder!r}")

    @property
    def archive(self) -> str:
        """The archive's file name, from the URL (``SST-2.zip``): where to save it by hand."""
        return PurePosixPath(urllib.parse.urlparse(self.url).path).name or f"{self.folder}.{self.kind}"

    def record(self) -> dict:
        """What ``.bptt-source.json`` stores, to recognise a folder made from this source."""
        return {"url": self.url, "archive_sha256": self.archive_sha256, "archive_md5": self.archive_md5,
                "member_sha256": dict(sorted(self.member_sha256.items()))}


SOURCES: dict[str, Source] = {
    "sst2": Source(
        url="https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
        archive_sha256=None,  # GLUE publishes no SHA-256 of the zip; its MD5 and the members' digests
        archive_md5="9f81648d4199384278b86e315dac217c",
        member_sha256={
            "SST-2/train.tsv": "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1",
            "SST-2/dev.tsv": "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0",
        },
        kind="zip", folder="SST-2"),
    "imdb": Source(
        url="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
        archive_sha256="c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
        kind="tar.gz", folder="aclImdb"),
}


def default_cache_dir() -> Path:
    """``$BPTT_CACHE`` if set, else ``~/.cache/bptt``."""
    env = os.environ.get("BPTT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "bptt"


def download(name: str, cache_dir: str | os.PathLike | None = None, *, source: Source | None = None,
             progress: bool = True) -> Path:
    """Download, verify and unpack data set ``name`` ("sst2" or "imdb") once; return its folder.

    ``source`` replaces the registry entry (``name`` then only labels messages). A second call
    finds the verified folder and returns at once.
    """
    if source is None:
        if name not in SOURCES:
            raise ValueError(f"unknown data set {name!r}; known: {', '.join(sorted(SOURCES))}")
        source = SOURCES[name]
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / source.folder
    if _is_verified(target, source):
        return target
    if target.exists():
        raise DownloadError(f"{target} exists but was not made from {source.url} (no matching {MARKER}); "
                            "remove it to download again")
    stem = f".{source.folder}.{uuid.uuid4().hex}"
    by_hand = cache / source.archive
    archive = by_hand if by_hand.is_file() else cache / f"{stem}.{source.kind}"
    unpacked = cache / f"{stem}.unpack"
    try:
        _fetch(name, source, archive, by_hand, progress)
        unpacked.mkdir()
        _unpack(archive, source.kind, unpacked)
        _check_members(name, source, unpacked)
        (unpacked / source.folder / MARKER).write_text(json.dumps(source.record(), indent=1) + "\n")
        try:
            os.rename(unpacked / source.folder, target)
        except OSError:
            if not _is_verified(target, source):  # lost a race to another process: fine if it won
                raise
    finally:
        if archive != by_hand:
            archive.unlink(missing_ok=True)
        shutil.rmtree(unpacked, ignore_errors=True)
    return target


def _is_verified(target: Path, source: Source) -> bool:
    try:
        return json.loads((target / MARKER).read_text()) == source.record()
    except (OSError, ValueError):
        return False


def _fetch(name: str, source: Source, dest: Path, by_hand: Path, progress: bool) -> None:
    """``source.url`` into ``dest`` with pooch, its digests checked (dest removed on a mismatch)."""
    import pooch
    import requests
    pooch.get_logger().setLevel("WARNING")                  # no "Downloading data from ..." lines
    digests = [(alg, d) for alg, d in (("sha256", source.archive_sha256), ("md5", source.archive_md5)) if d]
    bar = progress_bar(None, name, "B", enabled=progress, unit_scale=True, unit_divisor=1024, leave=False)
    downloader = pooch.HTTPDownloader(progressbar=bar if progress else False, chunk_size=CHUNK, timeout=60)
    known = f"{digests[0][0]}:{digests[0][1].lower()}" if digests else None
    by_hand_hint = f"download it by hand, save it as {by_hand} and run `bptt data download {name}` again"
    try:
        pooch.retrieve(source.url, known, fname=dest.name, path=dest.parent, downloader=downloader)
    except requests.HTTPError as e:
        raise DownloadError(f"downloading {source.url} failed: HTTP {e.response.status_code} "
                            f"{e.response.reason}; {by_hand_hint}") from None
    except requests.Timeout:
        raise DownloadError(f"downloading {source.url} failed: no answer within 60 s; "
                            f"{by_hand_hint}") from None
    except requests.RequestException as e:
        raise DownloadError(f"cannot download {source.url}: {_reason(e)}; {by_hand_hint}") from None
    except ValueError as e:                                  # pooch: the digest does not match
        got = re.search(r"but got (\w+)", str(e))
        actual = got.group(1) if got else str(e)
        raise ChecksumError(_mismatch(name, source, dest, *digests[0], actual)) from None
    for algorithm, expected in digests[1:]:
        actual = pooch.file_hash(str(dest), alg=algorithm)
        if actual != expected.lower():
            dest.unlink(missing_ok=True)
            raise ChecksumError(_mismatch(name, source, dest, algorithm, expected, actual))


def _mismatch(name: str, source: Source, dest: Path, algorithm: str, expected: str, actual: str) -> str:
    return (f"{name}: {algorithm} of the archive downloaded from {source.url} (saved as {dest}, now "
            f"removed) is wrong: expected {expected}, got {actual}")


def _reason(err: Exception) -> str:
    """The last part of a requests connection error: "Failed to resolve 'host' (...)"."""
    inner = getattr(err.args[0], "reason", None) if err.args else None
    text = str(inner if inner is not None else err).split("): ", 1)[-1]
    while text.endswith('"') or text.count(")") > text.count("("):     # the wrappers' closing marks
        text = text[:-1]
    return text


def _unpack(archive: Path, kind: str, dest: Path) -> None:
    """Unpack ``archive`` into ``dest`` after checking every member (nothing written if one is bad)."""
    if kind == "zip":
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if not _safe_member(info.filename):
                    raise DownloadError(f"{archive.name}: refusing archive member {info.filename!r}: "
                                        "its path leaves the unpack folder")
            zf.extractall(dest)
        return
    with tarfile.open(archive, "r:gz") as tf:
        members = tf.getmembers()
        for m in members:
            if not _safe_member(m.name):
                raise DownloadError(f"{archive.name}: refusing archive member {m.name!r}: "
                                    "its path leaves the unpack folder")
            if not (m.isfile() or m.isdir()):
                raise DownloadError(f"{archive.name}: refusing archive member {m.name!r}: "
                                    "only regular files and folders are unpacked")
        tf.extractall(dest, members=members, filter="data")


def _check_members(name: str, source: Source, root: Path) -> None:
    """The unpacked folder exists and each listed member has its published SHA-256."""
    if not (root / source.folder).is_dir():
        found = sorted(p.name for p in root.iterdir())[:10]
        raise DownloadError(f"{name}: the archive from {source.url} has no folder {source.folder!r}; found {found}")
    for member, expected in source.member_sha256.items():
        path = root / member
        if not path.is_file():
            raise DownloadError(f"{name}: the archive from {source.url} has no file {member!r}")
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != expected.lower():
            raise ChecksumError(f"{name}: sha256 of {member} from {source.url} is wrong: "
                                f"expected {expected}, got {digest.hexdigest()}; the download was removed")
