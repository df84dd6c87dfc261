"""fetch_dataset against a local HTTP server serving tiny files in the real formats.

The server runs on 127.0.0.1 in a thread; the pinned checksums are replaced by
those of the tiny files (monkeypatched FETCHABLE), so nothing leaves the machine.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import socket
import tarfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from genlab.data import LoadOptions
from genlab.data import fetch as fetch_mod
from genlab.data.cifar import BIN_FILES, load_cifar10
from genlab.data.fetch import FETCHABLE, Fetchable, Remote, fetch_dataset
from genlab.data.idx import IDX_FILES, load_fashion_mnist, load_mnist
from genlab.errors import DataError


@dataclass
class Server:
    """What the test server serves and what it was asked."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)  # URL path -> body
    cut: set[str] = field(default_factory=set)  # paths answered with half the body, once
    ignore_range: bool = False
    delay: float = 0.0  # seconds before answering
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)


def _handler(state: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep the test output quiet
            pass

        def do_GET(self) -> None:
            state.requests.append((self.path, self.headers.get("Range")))
            time.sleep(state.delay)
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if match and not state.ignore_range:
                start = int(match.group(1))
                if start >= len(body):
                    self.send_error(416)
                    return
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            if self.path in state.cut:  # promise the whole body, send half, hang up
                state.cut.discard(self.path)
                self.wfile.write(body[start : start + (len(body) - start) // 2])
                self.close_connection = True
                return
            try:
                self.wfile.write(body[start:])
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (the timeout test): nothing to answer

    return Handler


@pytest.fixture
def server():
    state = Server()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def idx_gz(arr: np.ndarray) -> bytes:
    """A gzipped uint8 IDX file: magic (0, 0, 0x08, ndim), big-endian dims, data."""
    dims = b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return gzip.compress(bytes([0, 0, 0x08, arr.ndim]) + dims + arr.tobytes(), mtime=0)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def serve_idx(
    server: Server, name: str, prefix: str = "", seed: int = 0
) -> tuple[Fetchable, dict[str, bytes]]:
    """Serve four tiny IDX files under ``prefix``: the table pinning them, and their bytes."""
    rng = np.random.default_rng(seed)
    shapes = {"train": 5, "t10k": 3}
    files = {}
    for base in IDX_FILES:
        n = shapes[base.split("-")[0]]
        shape = (n, 28, 28) if "images" in base else (n,)
        files[base + ".gz"] = idx_gz(
            rng.integers(0, 10 if len(shape) == 1 else 256, shape, np.uint8)
        )
    server.files.update({f"/{prefix}{n}": body for n, body in files.items()})
    spec = FETCHABLE[name]
    remotes = tuple(Remote(n, sha256(body)) for n, body in files.items())
    return Fetchable(server.url, spec.folder, remotes), files


@pytest.fixture
def pin(monkeypatch):
    """Replace the pinned table of one dataset for this test."""

    def _pin(name: str, spec: Fetchable) -> None:
        monkeypatch.setitem(FETCHABLE, name, spec)

    return _pin


@pytest.fixture
def fashion(server, pin) -> dict[str, bytes]:
    """Fashion-MNIST served by the test server: file name -> served bytes."""
    spec, served = serve_idx(server, "fashion-mnist")
    pin("fashion-mnist", spec)
    return served


def test_fetch_then_the_loader_reads_it(tmp_path, server, fashion, capsys):
    root = tmp_path / "data"
    folder = fetch_dataset("fashion-mnist", root, timeout=5)
    assert folder == root / "fashion-mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(fashion)
    for name, body in fashion.items():
        assert (folder / name).read_bytes() == body
    ds = load_fashion_mnist(None, LoadOptions(data_dir=str(root)))
    assert ds.train.x.shape == (5, 1, 28, 28) and ds.test.y.shape == (3,)
    assert Path(ds.root) == root.absolute()
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err  # the progress bar


def test_mnist_goes_to_its_own_folder(tmp_path, server, pin):
    spec, _ = serve_idx(server, "mnist", seed=3)
    pin("mnist", spec)
    assert fetch_dataset("mnist", tmp_path, progress=False, timeout=5) == tmp_path / "mnist"
    assert load_mnist(None, LoadOptions(data_dir=str(tmp_path))).train.x.shape == (5, 1, 28, 28)


def test_files_already_present_are_not_requested(tmp_path, server, fashion):
    fetch_dataset("fashion-mnist", tmp_path, progress=False, timeout=5)
    server.requests.clear()
    fetch_dataset("fashion-mnist", tmp_path, progress=False, timeout=5)
    assert server.requests == []


def test_a_present_file_with_another_checksum_is_replaced(tmp_path, server, fashion):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not the official file")
    fetch_dataset("fashion-mnist", tmp_path, progress=False, timeout=5)
    assert [p for p, _ in server.requests] == [f"/{n}" for n in fashion]
    assert (folder / "t10k-labels-idx1-ubyte.gz").read_bytes() == fashion[
        "t10k-labels-idx1-ubyte.gz"
    ]


def test_tampered_file_is_refused_and_deleted(tmp_path, server, fashion):
    name = "train-labels-idx1-ubyte.gz"
    body = bytearray(fashion[name])
    body[len(body) // 2] ^= 0xFF
    server.files[f"/{name}"] = bytes(body)
    with pytest.raises(DataError) as err:
        fetch_dataset("fashion-mnist", tmp_path, progress=False, timeout=5)
    msg = str(err.value)
    assert name in msg and sha256(fashion[name]) in msg and "\n" not in msg
    assert sha256(server.files[f"/{name}"]) in msg and "served a different file" in msg
    folder = tmp_path / "fashion-mnist"
    assert not (folder / name).exists() and not (folder / f"{name}.part").exists()
    assert (folder / "train-images-idx3-ubyte.gz").is_file()  # the one before it was fine


def test_dropped_connection_keeps_the_part_and_a_rerun_resumes(tmp_path, server, fashion):
    name = "train-images-idx3-ubyte.gz"
    body, folder = fashion[name], tmp_path / "fashion-mnist"
    server.cut.add(f"/{name}")
    with pytest.raises(DataError, match="broke off after .* bytes") as err:
        fetch_dataset("fashion-mnist", tmp_path, progress=False, timeout=5)
    assert f"{server.url}{name}" in str(err.value) and "\n" not in str(err.value)
    assert not (folder / name).exists()
    assert (folder / f"{name}.part").read_bytes() == body[: len(body) // 2]
    server.requests.clear()
    fetch_dataset("fashion-mnist", tmp_path, progress=False, timeout=5)
    assert server.requests[0] == (f"/{name}", f"bytes={len(body) // 2}-")
    assert (folder / name).read_bytes() == body and not (folder / f"{name}.part").exists()
    assert len(load_fashion_mnist(None, LoadOptions(data_dir=str(tmp_path))).train) == 5


def test_a_server_ignoring_range_is_read_from_zero(tmp_path, server, fashion):
    name = "t10k-images-idx3-ubyte.gz"
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    (folder / f"{name}.part").write_bytes(b"stale bytes of something else")
    server.ignore_range = True
    fetch_dataset("fashion-mnist", tmp_path, progress=False, timeout=5)
    assert (f"/{name}", "bytes=29-") in server.requests
    assert (folder / name).read_bytes() == fashion[name]


def test_a_part_longer_than_the_file_restarts_from_zero(tmp_path, server, fashion):
    name = "t10k-labels-idx1-ubyte.gz"
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    (folder / f"{name}.part").write_bytes(bytes(len(fashion[name]) + 10))  # 416 on resume
    fetch_dataset("fashion-mnist", tmp_path, progress=False, timeout=5)
    assert (folder / name).read_bytes() == fashion[name]


def dead_url() -> str:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


def test_dead_server_is_one_line_and_leaves_no_folders(tmp_path, server, fashion, pin):
    url = dead_url()
    pin("fashion-mnist", Fetchable(url, "fashion-mnist", FETCHABLE["fashion-mnist"].files))
    root = tmp_path / "new" / "data"
    with pytest.raises(DataError) as err:
        fetch_dataset("fashion-mnist", root, progress=False, timeout=5)
    msg = str(err.value)
    assert f"cannot download {url}train-images-idx3-ubyte.gz" in msg and "refused" in msg
    assert "\n" not in msg
    assert not (tmp_path / "new").exists()


def test_http_error_and_timeout_name_the_url(tmp_path, server, fashion):
    del server.files["/t10k-images-idx3-ubyte.gz"]
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz: HTTP 404"):
        fetch_dataset("fashion-mnist", tmp_path, progress=False, timeout=5)
    server.delay = 0.5
    with pytest.raises(DataError, match=r"cannot download http://127.*: timed out"):
        fetch_dataset("fashion-mnist", tmp_path / "slow", progress=False, timeout=0.1)
    assert not (tmp_path / "slow").exists()


def test_mirror_serves_the_same_names_and_checksums_still_apply(tmp_path, server, pin):
    spec, served = serve_idx(server, "fashion-mnist", prefix="mirror/fashion/")
    pin("fashion-mnist", Fetchable(dead_url(), spec.folder, spec.files))
    fetch_dataset("fashion-mnist", tmp_path, mirror=server.url + "mirror/fashion", progress=False)
    assert [p for p, _ in server.requests] == [f"/mirror/fashion/{n}" for n in served]
    bad = "/mirror/fashion/t10k-labels-idx1-ubyte.gz"
    server.files[bad] = b"other"
    (tmp_path / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="served a different file"):
        fetch_dataset("fashion-mnist", tmp_path, mirror=server.url + "mirror/fashion/")


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"mirror": "ftp://example.org/mnist"}, "mirror must be an http"),
        ({"timeout": 0.0}, "timeout must be > 0"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, pattern):
    with pytest.raises(DataError, match=pattern):
        fetch_dataset("mnist", tmp_path, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_unknown_name_suggests_the_closest():
    with pytest.raises(
        DataError, match=r"unknown fetchable dataset 'fashion_mnist'.*fashion-mnist"
    ):
        fetch_dataset("fashion_mnist", Path("unused"))


# ---------------------------------------------------------------- CIFAR-10


def cifar_tar(members: dict[str, bytes], extra: list[tarfile.TarInfo] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        folder = tarfile.TarInfo("cifar-10-batches-bin")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(bytes(info.size)) if info.isfile() else None)
    return buf.getvalue()


def cifar_batches(seed: int = 0) -> dict[str, bytes]:
    """Six binary batches of two records each: 1 label byte + 3072 pixel bytes."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in BIN_FILES:
        labels = rng.integers(0, 10, (2, 1), dtype=np.uint8)
        out[f"cifar-10-batches-bin/{name}"] = np.concatenate(
            [labels, rng.integers(0, 256, (2, 3072), dtype=np.uint8)], 1
        ).tobytes()
    return out


def serve_cifar(server: Server, pin, tar: bytes) -> None:
    server.files["/cifar-10-binary.tar.gz"] = tar
    spec = FETCHABLE["cifar10"]
    pin(
        "cifar10",
        Fetchable(
            server.url, spec.folder, (Remote(spec.files[0].name, sha256(tar)),), spec.unpacks
        ),
    )


def test_cifar_tarball_is_unpacked_and_loadable(tmp_path, server, pin):
    batches = cifar_batches()
    serve_cifar(
        server, pin, cifar_tar({**batches, "cifar-10-batches-bin/batches.meta.txt": b"cat\n"})
    )
    folder = fetch_dataset("cifar10", tmp_path, progress=False, timeout=5)
    assert folder == tmp_path / "cifar-10-batches-bin"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-batches-bin"]  # tarball gone
    assert not list(folder.glob("*.part"))
    ds = load_cifar10(None, LoadOptions(data_dir=str(tmp_path)))
    assert ds.train.x.shape == (10, 3, 32, 32) and ds.test.x.shape == (2, 3, 32, 32)
    test = np.frombuffer(batches["cifar-10-batches-bin/test_batch.bin"], np.uint8).reshape(2, -1)
    np.testing.assert_array_equal(ds.test.y.numpy(), test[:, 0])
    np.testing.assert_array_equal(ds.test.x.reshape(2, -1).numpy(), test[:, 1:])
    server.requests.clear()
    assert fetch_dataset("cifar10", tmp_path, progress=False) == folder
    assert server.requests == []


def link(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def regular(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 4
    return info


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (regular("../evil"), "is outside"),
        (regular("cifar-10-batches-bin/../../evil"), "is outside"),
        (regular("/tmp/evil"), "is outside"),
        (regular("elsewhere/evil"), "is outside"),
        (link("cifar-10-batches-bin/evil", "/etc/passwd"), "is not a regular file"),
    ],
)
def test_unsafe_tar_members_are_refused(tmp_path, server, pin, bad, why):
    root = tmp_path / "root"
    serve_cifar(server, pin, cifar_tar(cifar_batches(), [bad]))
    with pytest.raises(DataError, match=f"refusing to unpack .*{re.escape(repr(bad.name))} {why}"):
        fetch_dataset("cifar10", root, progress=False, timeout=5)
    assert (
        not (tmp_path / "evil").exists() and not root.exists()
    )  # nothing written, archive deleted


def test_a_tar_without_the_batches_is_refused(tmp_path, server, pin):
    batches = cifar_batches()
    del batches["cifar-10-batches-bin/test_batch.bin"]
    serve_cifar(server, pin, cifar_tar(batches))
    with pytest.raises(DataError, match="has no cifar-10-batches-bin/test_batch.bin"):
        fetch_dataset("cifar10", tmp_path, progress=False, timeout=5)


# ---------------------------------------------------------------- the real table


def test_pinned_table_matches_what_the_loaders_read():
    assert set(FETCHABLE) == {"mnist", "fashion-mnist", "cifar10"}
    for name in ("mnist", "fashion-mnist"):
        spec = FETCHABLE[name]
        assert spec.folder == name and not spec.unpacks
        assert [f.name for f in spec.files] == [n + ".gz" for n in IDX_FILES]
    cifar = FETCHABLE["cifar10"]
    assert cifar.folder == "cifar-10-batches-bin" and cifar.unpacks == tuple(BIN_FILES)
    assert FETCHABLE["cifar10"].base_url + cifar.files[0].name == (
        "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
    )
    shas = [f.sha256 for spec in FETCHABLE.values() for f in spec.files]
    assert all(re.fullmatch("[0-9a-f]{64}", s) for s in shas) and len(set(shas)) == 9
    assert fetch_mod.__all__ == ["FETCHABLE", "Fetchable", "Remote", "fetch_dataset"]
