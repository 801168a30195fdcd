"""Finding, verifying and downloading the real data files (docs/datasets.md#where-files-come-from).

Every file a loader reads is described by a :class:`DataFile`: where it lives inside a data root
(``<root>/<dataset>/<relpath>``), the checksums it must have, and where it can be downloaded from.

Resolution order for each file (first hit wins):

1. the ``data_home`` argument of the loader;
2. the environment variable ``CFTKIT_DATA``;
3. the environment variable ``CFTKIT_TEST_DATA`` (the tests point it at ``shared/data``); when it is
   unset and cftkit runs from a source checkout, the checkout's sibling ``../shared/data``;
4. the user cache, ``$XDG_CACHE_HOME/cftkit`` (default ``~/.cache/cftkit``);
5. a download from the canonical URL into the user cache (not when ``CFTKIT_OFFLINE`` is set).

Inside a root a file is looked for as ``<root>/<dataset>/<relpath>`` and, so that ``data_home`` may
also point straight at one dataset's folder, as ``<root>/<relpath>``.

Every file found or downloaded is checked against its known SHA-256 (or git blob id) **before** it is
parsed; a mismatch raises :class:`ChecksumError` and the file is never used.  Downloads go to a
temporary file next to the destination, are verified, and only then atomically renamed into place.
Nothing is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import Iterable, Sequence

ENV_DATA = "CFTKIT_DATA"
ENV_TEST_DATA = "CFTKIT_TEST_DATA"
ENV_OFFLINE = "CFTKIT_OFFLINE"
DOWNLOAD_TIMEOUT = 60.0  # seconds, per network operation


class ChecksumError(ValueError):
    """A data file does not have the expected SHA-256 / git blob id (corrupt, truncated or another version)."""


class DataNotFoundError(FileNotFoundError):
    """A data file was found nowhere and could not (or may not) be downloaded."""


@dataclasses.dataclass(frozen=True)
class DataFile:
    """One file a loader needs.

    Args:
        dataset: folder name inside a data root, e.g. ``"adult"``.
        relpath: path inside that folder, e.g. ``"adult.data"`` or ``"raw/UCI_Credit_Card.csv"``.
        sha256: accepted SHA-256 hex digests (any one matches).
        git_blob: accepted git blob ids (``git hash-object``), checked when ``sha256`` is empty
            or does not match.
        urls: download URLs, tried in order; empty means "never downloaded".
        archive_member: when the download is a zip archive, the member (matched by base name) that
            is extracted, verified and stored as ``relpath``.
        hint: how a user gets the file by hand (shown when it is missing).
    """

    dataset: str
    relpath: str
    sha256: tuple = ()
    git_blob: tuple = ()
    urls: tuple = ()
    archive_member: str | None = None
    hint: str = ""

    @property
    def name(self) -> str:
        return f"{self.dataset}/{self.relpath}"

    def expected(self) -> str:
        parts = [f"sha256 {h}" for h in self.sha256] + [f"git blob {h}" for h in self.git_blob]
        return " or ".join(parts) if parts else "(no checksum recorded)"


# ---------------------------------------------------------------------------------------------- hashing
def sha256sum(path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_blob_sha1(data: bytes) -> str:
    """The id ``git hash-object`` prints for a file with these bytes: ``sha1(b"blob <len>\\0" + data)``.

    Example:
        >>> git_blob_sha1(b"")
        'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391'
    """
    h = hashlib.sha1()
    h.update(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


# (resolved path, device, inode, size, mtime_ns, ctime_ns) -> digest, so repeated loads hash once.  The
# ctime cannot be set from user space (``touch -r``/``os.utime`` restore the mtime but update the ctime),
# so a file rewritten in place with the same size and a restored mtime is hashed again.
_VERIFIED: dict = {}


def _file_key(path: Path, st) -> tuple:
    return (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def verify(path, spec: DataFile, *, what: str | None = None, downloaded: bool = False) -> str:
    """Check ``path`` against ``spec``'s checksums; return the matching digest or raise :class:`ChecksumError`."""
    path = Path(path)
    st = path.stat()
    key = _file_key(path, st) + (spec.sha256, spec.git_blob)
    if key in _VERIFIED:
        return _VERIFIED[key]
    if not spec.sha256 and not spec.git_blob:
        raise ChecksumError(f"cftkit: no checksum is recorded for {spec.name}; refusing to use {path}")
    actual_sha = sha256sum(path)
    if actual_sha in spec.sha256:
        _VERIFIED[key] = actual_sha
        return actual_sha
    actual = [f"sha256 {actual_sha}"]
    if spec.git_blob:
        data = path.read_bytes()
        blobs = [git_blob_sha1(data)]
        if b"\r\n" in data:  # git with core.autocrlf stores LF line endings
            blobs.append(git_blob_sha1(data.replace(b"\r\n", b"\n")))
        for b in blobs:
            if b in spec.git_blob:
                _VERIFIED[key] = b
                return b
        actual.append(f"git blob {blobs[0]}")
    where = what or str(path)
    if downloaded:
        fix = ("The download was discarded. Try again later; if it keeps failing, the source changed: get the file "
               f"by hand ({spec.hint or spec.urls[0]}) and report the new checksum.")
    else:
        fix = (f"Delete {path} and run again" + (" to download a fresh copy" if spec.urls else "")
               + (f", or re-download it by hand: {spec.hint}" if spec.hint else "") + ".")
    raise ChecksumError(
        f"cftkit: integrity check failed for {spec.name} ({where}).\n"
        f"  expected: {spec.expected()}\n"
        f"  actual:   {', '.join(actual)}\n"
        f"The file is corrupt, truncated or a different version, so it was NOT used. {fix}")


# ---------------------------------------------------------------------------------------------- locations
def cache_dir() -> Path:
    """The user cache: ``$XDG_CACHE_HOME/cftkit``, else ``~/.cache/cftkit``."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "cftkit"


def _checkout_shared_data() -> Path | None:
    """``../shared/data`` next to a source checkout (one that has ``pyproject.toml``), else None."""
    repo = Path(__file__).resolve().parents[2]
    cand = repo.parent / "shared" / "data"
    return cand if (repo / "pyproject.toml").is_file() and cand.is_dir() else None


def check_data_home(data_home):
    """``data_home`` must be ``None`` or a folder path (a number would become a relative folder name)."""
    if data_home is not None and not isinstance(data_home, (str, os.PathLike)):
        raise TypeError(f"data_home must be a folder path (str or os.PathLike) or None; got "
                        f"{type(data_home).__name__} {data_home!r}")
    return data_home


def data_roots(data_home=None) -> list:
    """The data roots searched, in order, as ``(path, why)`` pairs (see the module docstring)."""
    roots = []
    if check_data_home(data_home) is not None:
        roots.append((Path(data_home).expanduser(), "data_home argument"))
    if os.environ.get(ENV_DATA):
        roots.append((Path(os.environ[ENV_DATA]).expanduser(), f"${ENV_DATA}"))
    if os.environ.get(ENV_TEST_DATA) is not None:
        if os.environ[ENV_TEST_DATA]:
            roots.append((Path(os.environ[ENV_TEST_DATA]).expanduser(), f"${ENV_TEST_DATA}"))
    else:
        shared = _checkout_shared_data()
        if shared is not None:
            roots.append((shared, "source checkout's ../shared/data"))
    roots.append((cache_dir(), "user cache"))
    return roots


def _candidates(spec: DataFile, roots) -> list:
    out = []
    for root, why in roots:
        for p in (root / spec.dataset / spec.relpath, root / spec.relpath):
            if p not in [q for q, _ in out]:
                out.append((p, why))
    return out


def find(specs: Sequence[DataFile], data_home=None, extra_roots: Iterable = ()) -> tuple | None:
    """First existing file among ``specs`` (in order) over all roots; verified.  None when absent."""
    roots = data_roots(data_home) + list(extra_roots)
    for spec in specs:
        for path, _ in _candidates(spec, roots):
            if path.is_file():
                verify(path, spec)
                return spec, path
    return None


def offline() -> bool:
    return os.environ.get(ENV_OFFLINE, "").strip().lower() not in ("", "0", "false", "no")


def resolve(specs: Sequence[DataFile], *, data_home=None, download: DataFile | None = None,
            extra_roots: Iterable = (), manual: str = "") -> tuple:
    """Find one of ``specs`` locally (verified), else download ``download`` into the cache.

    Returns ``(spec, path)``.  Raises :class:`DataNotFoundError` naming the files, the directories
    searched and how to get the data; :class:`ChecksumError` for a file with the wrong checksum.
    """
    extra_roots = list(extra_roots)
    hit = find(specs, data_home, extra_roots)
    if hit is not None:
        return hit
    if download is not None and download.urls and not offline():
        dest = cache_dir() / download.dataset / download.relpath
        return download, fetch(download, dest)
    roots = data_roots(data_home) + extra_roots
    searched = "\n".join(f"  - {r}  ({why})" for r, why in roots)
    names = " or ".join(repr(s.relpath) for s in specs)
    how = manual or "\n".join(f"  {s.relpath}: {s.hint}" for s in specs if s.hint)
    why = ""
    if download is not None and download.urls and offline():
        why = f"\n(${ENV_OFFLINE} is set, so it was not downloaded from {download.urls[0]}.)"
    raise DataNotFoundError(
        f"cftkit: {specs[0].dataset} data not found: no file {names} in\n{searched}\n"
        f"(each directory is searched as <dir>/{specs[0].dataset}/<file> and <dir>/<file>).{why}\n"
        f"How to get it:\n{how}"
        + ("" if manual else
           f"\nPlace the file at {cache_dir() / specs[0].dataset / specs[0].relpath}, or pass data_home=... / "
           f"set ${ENV_DATA} to a folder holding {specs[0].dataset}/{specs[0].relpath}."))


# ---------------------------------------------------------------------------------------------- download
def _urlopen(url: str, timeout: float):
    """The single network entry point (tests replace it)."""
    return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310  (https/file URLs from DataFile specs)


def _extract_member(archive: Path, member: str, out: Path) -> None:
    with zipfile.ZipFile(archive) as z:
        names = [n for n in z.namelist() if n.rsplit("/", 1)[-1] == member and not n.endswith("/")]
        if not names:
            raise KeyError(f"{member!r} is not in the downloaded archive (members: {z.namelist()[:10]})")
        with z.open(names[0]) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)


def fetch(spec: DataFile, dest, *, timeout: float = DOWNLOAD_TIMEOUT) -> Path:
    """Download ``spec`` to ``dest``: temp file → (extract) → verify → atomic rename.

    URLs are tried in order; a URL whose content fails the checksum is never used.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataNotFoundError(f"cftkit: cannot create the cache folder {dest.parent} to download "
                                f"{spec.name}: {exc}. Set ${ENV_DATA} or pass data_home=...") from exc
    errors, bad = [], []
    for url in spec.urls:
        tmp_paths = []
        try:
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
            tmp_paths.append(tmp)
            with os.fdopen(fd, "wb") as out, _urlopen(url, timeout) as resp:
                shutil.copyfileobj(resp, out, 1 << 20)
            if spec.archive_member and zipfile.is_zipfile(tmp):
                fd2, tmp2 = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
                os.close(fd2)
                tmp_paths.append(tmp2)
                _extract_member(Path(tmp), spec.archive_member, Path(tmp2))
                tmp = tmp2
            verify(tmp, spec, what=f"downloaded from {url}", downloaded=True)
            os.replace(tmp, dest)
            return dest
        except ChecksumError as exc:
            bad.append(str(exc))
        except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
            errors.append(f"  {url}: {type(exc).__name__}: {exc}")
        finally:
            for t in tmp_paths:
                if os.path.exists(t):
                    os.remove(t)
    if bad:
        raise ChecksumError("\n".join(bad) + "\n(The download was discarded; nothing was written to "
                            f"{dest}.)" + ("\nOther URLs failed:\n" + "\n".join(errors) if errors else ""))
    raise DataNotFoundError(f"cftkit: could not download {spec.name}:\n" + "\n".join(errors)
                            + f"\nGet it by hand ({spec.hint or spec.urls[0]}) and place it at {dest}.")


__all__ = ["ChecksumError", "DataFile", "DataNotFoundError", "cache_dir", "data_roots", "fetch", "find",
           "git_blob_sha1", "resolve", "sha256sum", "verify"]
