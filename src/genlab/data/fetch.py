"""Download the standard datasets on request, checked against pinned SHA-256 sums.

``fetch_dataset(name, root)`` puts the official files where the loaders look:
``root/mnist/`` and ``root/fashion-mnist/`` get the four gzipped IDX files,
``root/cifar-10-batches-bin/`` the six binary batches unpacked from
``cifar-10-binary.tar.gz`` (the tarball is deleted once unpacked).

Guarantees, per file:

* a file already present with the pinned checksum is not downloaded again;
* bytes go to ``<name>.part`` and reach ``<name>`` by ``os.replace`` only after
  their SHA-256 matched, so a final name never holds a partial or wrong file;
* a ``.part`` left by a dropped connection is resumed with an HTTP Range request
  (a server that answers 200 instead of 206 is read again from byte zero);
* a checksum mismatch deletes the ``.part``; a dead server, a timeout, an HTTP
  error or a dropped connection is one :class:`DataError` line naming the URL.

Folders this call created are removed again if it fails while they are still
empty. A non-empty ``.part`` is kept on purpose so that a rerun resumes, and the
folder holding it stays with it.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from tqdm import tqdm

from genlab.data.cifar import BIN_FILES
from genlab.errors import DataError
from genlab.registry import unknown_name

__all__ = ["FETCHABLE", "Fetchable", "Remote", "fetch_dataset"]


@dataclass(frozen=True)
class Remote:
    """One file on the server: its name there and on disk, and its SHA-256 (hex)."""

    name: str
    sha256: str


@dataclass(frozen=True)
class Fetchable:
    """Where one dataset comes from and where its files end up under ``root``.

    Plain files land in ``root/folder``. With ``unpacks`` set, each file is a
    ``.tar.gz`` downloaded to ``root`` and unpacked there; it must yield
    ``folder/<name>`` for every name in ``unpacks``, and only regular files under
    ``folder/`` are accepted.
    """

    base_url: str
    folder: str
    files: tuple[Remote, ...]
    unpacks: tuple[str, ...] = ()


# MNIST: SHA-256 as pinned by torchvision's prototype datasets
# (pytorch/vision torchvision/prototype/datasets/_builtin/mnist.py, _CHECKSUMS);
# the same four values appear in several independent projects. The files are
# those of yann.lecun.com/exdb/mnist, whose reliable copy is PyTorch's S3 bucket
# (torchvision MD5: train-images f68b3c2dcbeaaa9fbdd348bbdeb94873).
_MNIST = Fetchable(
    base_url="https://ossci-datasets.s3.amazonaws.com/mnist/",
    folder="mnist",
    files=(
        Remote(
            "train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        Remote(
            "train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
        Remote(
            "t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        Remote(
            "t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    ),
)

# Fashion-MNIST: SHA-256 from the same torchvision file (FashionMNIST._CHECKSUMS),
# for the files whose MD5 the upstream README publishes (train-images
# 8d4fb7e6c68d591d4c3dfef9ec88bf0d, 26,421,880 bytes). Debian's
# dataset-fashion-mnist does NOT ship these bytes: it re-gzips the same IDX data
# (no stored file name, 2020 mtime, 24 bytes shorter), so its .gz sums differ.
_FASHION = Fetchable(
    base_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    folder="fashion-mnist",
    files=(
        Remote(
            "train-images-idx3-ubyte.gz",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        ),
        Remote(
            "train-labels-idx1-ubyte.gz",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        ),
        Remote(
            "t10k-images-idx3-ubyte.gz",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        ),
        Remote(
            "t10k-labels-idx1-ubyte.gz",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        ),
    ),
)

# CIFAR-10 binary version: SHA-256 as pinned by JuliaML/MLDatasets.jl
# (src/datasets/vision/cifar10.jl) and ankane/torchvision-ruby; one project records
# it next to the official MD5 c32a1d4ab5d03f1284b67883e8d87530 (170,052,171 bytes).
_CIFAR10 = Fetchable(
    base_url="https://www.cs.toronto.edu/~kriz/",
    folder="cifar-10-batches-bin",
    files=(
        Remote(
            "cifar-10-binary.tar.gz",
            "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
        ),
    ),
    unpacks=tuple(BIN_FILES),
)

FETCHABLE: dict[str, Fetchable] = {
    "mnist": _MNIST,
    "fashion-mnist": _FASHION,
    "cifar10": _CIFAR10,
}

_CHUNK = 1 << 20  # bytes per read and per hash update
_AGENT = "genlab-fetch (python urllib)"
_NETWORK_ERRORS = (OSError, http.client.HTTPException, ValueError)  # URLError is an OSError


def fetch_dataset(
    name: str,
    root: Path,
    *,
    mirror: str | None = None,
    progress: bool = True,
    timeout: float = 30.0,  # seconds per connect and per read, > 0
) -> Path:
    """Download the official files of `name` into root/<folder> and return that folder.

    ``mirror`` is a base URL serving the same file names; the pinned checksums
    still apply. ``progress`` shows a bar per file (bytes, rate, ETA) on stderr.
    Raises one :class:`DataError` line on any failure (see the module docstring).
    """
    spec = _spec(name)
    base = spec.base_url if mirror is None else _checked_mirror(mirror)
    if timeout <= 0:
        raise DataError(f"timeout must be > 0 seconds, got {timeout}")
    root = Path(root)
    target = root / spec.folder
    if spec.unpacks and all((target / n).is_file() for n in spec.unpacks):
        return target  # unpacked before: the tarball is gone, its batches are there
    into = root if spec.unpacks else target
    made = _make_dirs(into)
    try:
        for remote in spec.files:
            url = base.rstrip("/") + "/" + remote.name
            _fetch_file(url, into / remote.name, remote.sha256, progress, timeout)
        for remote in spec.files if spec.unpacks else ():
            _unpack(into / remote.name, root, spec.folder, spec.unpacks, progress)
    except BaseException:
        _remove_if_empty(made)
        raise
    return target


def _spec(name: str) -> Fetchable:
    if name not in FETCHABLE:
        raise DataError(str(unknown_name("fetchable dataset", name, list(FETCHABLE))))
    return FETCHABLE[name]


def _checked_mirror(mirror: str) -> str:
    parts = urllib.parse.urlsplit(mirror)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DataError(f"mirror must be an http(s) base URL, got {mirror!r}")
    return mirror


def _make_dirs(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, outermost first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create {folder}: {err.strerror or err}") from err
    return missing


def _remove_if_empty(made: list[Path]) -> None:
    for folder in reversed(made):  # innermost first
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (a .part kept for resuming), so its parents are not either


# ---------------------------------------------------------------- one file


def _fetch_file(url: str, dest: Path, sha256: str, progress: bool, timeout: float) -> None:
    """Make ``dest`` hold the file at ``url`` whose SHA-256 is ``sha256``."""
    if dest.is_file() and _digest(dest).hexdigest() == sha256:
        return
    part = dest.with_name(dest.name + ".part")
    try:
        got = _download(url, part, progress, timeout).hexdigest()
    except BaseException as err:
        if part.is_file() and part.stat().st_size == 0:
            part.unlink()  # nothing to resume
        if isinstance(err, OSError):  # network errors are DataErrors already: the disk failed
            raise DataError(f"cannot write {part}: {err.strerror or err}") from err
        raise
    if got != sha256:
        part.unlink()
        raise DataError(
            f"{dest.name} from {url} has sha256 {got}, expected {sha256}: "
            "the server or mirror served a different file (deleted it)"
        )
    os.replace(part, dest)


def _digest(path: Path) -> Any:
    """SHA-256 of a file so far, ready to be updated with what follows it."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest


def _download(url: str, part: Path, progress: bool, timeout: float) -> Any:
    """Complete ``part`` from ``url``, resuming it when the server honours Range."""
    offset = part.stat().st_size if part.is_file() else 0
    response = _open(url, offset, timeout)
    if offset and (response is None or (response.status == 206 and not _resumes(response, offset))):
        if response is not None:
            response.close()
        part.unlink()  # the server cannot continue this .part: start again
        offset, response = 0, _open(url, 0, timeout)
    assert response is not None, url
    with response:
        start = offset if offset and response.status == 206 else 0  # 200: from zero
        return _receive(url, response, part, start, progress)


def _open(url: str, offset: int, timeout: float) -> Any:
    """The response for ``url`` from byte ``offset``; None when the range is refused."""
    headers = {"User-Agent": _AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and offset:
            return None
        raise DataError(f"cannot download {url}: HTTP {err.code} {err.reason}") from err
    except _NETWORK_ERRORS as err:
        raise DataError(
            f"cannot download {url}: {_reason(err)}; check the connection or use another mirror"
        ) from err


def _resumes(response: Any, offset: int) -> bool:
    return str(response.headers.get("Content-Range", "")).startswith(f"bytes {offset}-")


def _reason(err: BaseException) -> str:
    reason = err.reason if isinstance(err, urllib.error.URLError) else err
    if isinstance(reason, OSError) and reason.strerror:
        reason = reason.strerror  # "Connection refused", not "[Errno 111] Connection refused"
    return " ".join(str(reason).split()) or type(reason).__name__


def _receive(url: str, response: Any, part: Path, start: int, progress: bool) -> Any:
    """Append the body to ``part`` (truncated first when ``start`` is 0); its digest."""
    digest = _digest(part) if start else hashlib.sha256()
    length = response.headers.get("Content-Length")
    total = start + int(length) if length and length.isdigit() else None
    done = start
    bar = _bar(part.name.removesuffix(".part"), total, start, progress)
    with bar, part.open("ab" if start else "wb") as out:
        while chunk := _read(url, response, part, done, total):
            out.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            bar.update(len(chunk))
    if total is not None and done < total:
        raise DataError(_broke_off(url, part, done, total, "connection closed early"))
    return digest


def _bar(desc: str, total: int | None, initial: int, progress: bool) -> tqdm:
    """A byte counter with rate and ETA (when ``total`` is known) on stderr."""
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not progress,
        dynamic_ncols=True,
        mininterval=0.1 if sys.stderr.isatty() else 15.0,  # a log file gets a line per 15 s
    )


def _read(url: str, response: Any, part: Path, done: int, total: int | None) -> bytes:
    try:
        return response.read(_CHUNK)
    except (OSError, http.client.HTTPException) as err:
        raise DataError(_broke_off(url, part, done, total, _reason(err))) from err


def _broke_off(url: str, part: Path, done: int, total: int | None, why: str) -> str:
    of = "" if total is None else f" of {total}"
    return f"download of {url} broke off after {done}{of} bytes ({why}); rerun to resume {part}"


# ---------------------------------------------------------------- archives


def _unpack(archive: Path, root: Path, folder: str, names: tuple[str, ...], progress: bool) -> None:
    """Unpack the regular files under ``folder/`` of a verified tar.gz into ``root``.

    Every member is checked before anything is written; each file is written to
    ``.part`` and renamed, and the archive is deleted once all ``names`` exist.
    """
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = _safe_members(archive, tar.getmembers(), folder)
            total = sum(m.size for m in members)
            with _bar(f"unpack {archive.name}", total, 0, progress) as bar:
                for member in members:
                    _extract(tar, member, root / member.name, bar)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataError(f"{archive} is not a readable tar.gz ({err}); delete it and rerun") from err
    missing = [n for n in names if not (root / folder / n).is_file()]
    if missing:
        raise DataError(f"{archive} has no {folder}/{', '.join(missing)}; it is not the dataset")
    archive.unlink()


def _safe_members(
    archive: Path, members: list[tarfile.TarInfo], folder: str
) -> list[tarfile.TarInfo]:
    """The regular-file members; DataError (archive deleted) if any member is unsafe."""
    for m in members:
        why = _unsafe(m, folder)
        if why:
            archive.unlink()
            raise DataError(f"refusing to unpack {archive}: member {m.name!r} {why} (deleted it)")
    return [m for m in members if m.isfile()]


def _unsafe(member: tarfile.TarInfo, folder: str) -> str | None:
    """Why ``member`` may not be unpacked (absolute, ``..``, outside, special), or None."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or path.parts[:1] != (folder,):
        return f"is outside {folder}/"
    if not (member.isfile() or member.isdir()):
        return "is not a regular file"
    return None


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, bar: tqdm) -> None:
    source = tar.extractfile(member)
    assert source is not None, member.name  # a regular file always has data
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with source, part.open("wb") as out:
        while chunk := source.read(_CHUNK):
            out.write(chunk)
            bar.update(len(chunk))
    os.replace(part, dest)
