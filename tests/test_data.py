"""graphkit.data.datasets: IDX and npz loaders, where copies are looked for, downloads, bad input.

Every file here is written by the tests themselves: tiny IDX sets (gzip and raw) and
npz archives. Downloads go through the real urllib path, from `file://` URLs or a
local HTTP server on 127.0.0.1; nothing reaches the network.
"""

import gzip
import hashlib
import http.server
import os
import struct
import threading

import numpy as np
import pytest

from graphkit.cli import main as cli
from graphkit.data import datasets as data
from graphkit.errors import DataError

DEBIAN_FASHION = "/usr/share/datasets/fashion-mnist"
SYSTEM_LOCATIONS = dict(data.SYSTEM_LOCATIONS)  # as shipped, before the autouse fixture hides them


def tiny_arrays(seed=0, train=6, test=3):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, test, dtype=np.uint8),
    }


def idx_bytes(array):
    """The IDX encoding of a uint8 array: magic 0x0000080N, N big-endian dims, the bytes."""
    header = struct.pack(">I", (0x08 << 8) | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


IDX_NAMES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


def write_idx_dir(directory, arrays, compress=True):
    os.makedirs(directory, exist_ok=True)
    for key, stem in IDX_NAMES.items():
        payload = idx_bytes(arrays[key])
        name = f"{stem}.gz" if compress else stem
        with open(os.path.join(directory, name), "wb") as handle:
            handle.write(gzip.compress(payload) if compress else payload)
    return str(directory)


def write_npz(path, arrays, compressed=False):
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return str(path)


def sha256_of(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def assert_same_arrays(dataset, arrays):
    for key, expected in arrays.items():
        actual = getattr(dataset, key)
        assert actual.dtype == np.uint8, key
        assert actual.shape == expected.shape, key
        np.testing.assert_array_equal(actual, expected, err_msg=key)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No system copies, a private cache, the default mirror: this machine's state stays out."""
    monkeypatch.setattr(data, "SYSTEM_LOCATIONS", {name: () for name in data.DATASETS})
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(data.MIRROR_ENV, raising=False)


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A file:// mirror holding tiny copies of both datasets, with their sums in REMOTE_FILES."""
    directory = tmp_path / "mirror"
    mnist_arrays, fashion_arrays = tiny_arrays(seed=1), tiny_arrays(seed=2)
    directory.mkdir()
    write_npz(directory / "mnist.npz", mnist_arrays)
    write_idx_dir(directory, fashion_arrays)
    sums = {file: sha256_of(directory / file) for file in os.listdir(directory)}
    monkeypatch.setattr(data, "REMOTE_FILES", {
        "mnist": {"mnist.npz": sums["mnist.npz"]},
        "fashion-mnist": {f"{stem}.gz": sums[f"{stem}.gz"] for stem in IDX_NAMES.values()},
    })
    monkeypatch.setenv(data.MIRROR_ENV, directory.as_uri() + "/")
    return {"dir": directory, "mnist": mnist_arrays, "fashion-mnist": fashion_arrays}


# --- reading the two formats -------------------------------------------------------------


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "raw"])
def test_idx_directory(tmp_path, compress):
    arrays = tiny_arrays()
    directory = write_idx_dir(tmp_path / "idx", arrays, compress=compress)
    dataset = data.load_dataset("fashion-mnist", path=directory)
    assert_same_arrays(dataset, arrays)
    assert dataset.name == "fashion-mnist"
    assert dataset.source == f"{directory} (given path)"


def test_idx_lecun_dotted_names(tmp_path):
    arrays = tiny_arrays()
    directory = tmp_path / "lecun"
    directory.mkdir()
    for key, stem in IDX_NAMES.items():  # train-images.idx3-ubyte, as unpacked from LeCun's site
        (directory / stem.replace("-idx", ".idx")).write_bytes(idx_bytes(arrays[key]))
    assert_same_arrays(data.load_dataset("mnist", path=str(directory)), arrays)


@pytest.mark.parametrize("compressed", [False, True], ids=["savez", "savez_compressed"])
def test_npz_file(tmp_path, compressed):
    arrays = tiny_arrays()
    path = write_npz(tmp_path / "mine.npz", arrays, compressed=compressed)
    dataset = data.load_dataset("mnist", path=path)
    assert_same_arrays(dataset, arrays)
    assert dataset.source == f"{path} (given path)"


def test_npz_in_directory_and_label_dtype_cast(tmp_path):
    arrays = tiny_arrays()
    stored = dict(arrays, y_train=arrays["y_train"].astype(np.int64),
                  y_test=arrays["y_test"].astype(np.int32))
    write_npz(tmp_path / "mnist.npz", stored)
    dataset = data.load_dataset("mnist", path=str(tmp_path))
    assert_same_arrays(dataset, arrays)
    assert dataset.source == f"{tmp_path / 'mnist.npz'} (given path)"


def test_normalized_images_and_class_counts(tmp_path):
    arrays = tiny_arrays()
    dataset = data.load_dataset("mnist", path=write_npz(tmp_path / "m.npz", arrays))
    scaled = data.normalized_images(dataset.x_train)
    assert scaled.dtype == np.float32 and scaled.shape == (6, 28, 28)
    np.testing.assert_allclose(scaled, arrays["x_train"].astype(np.float64) / 255.0, rtol=1e-6)
    assert data.normalized_images(np.array([0, 255], np.uint8)).tolist() == [0.0, 1.0]
    np.testing.assert_array_equal(dataset.normalized_images(dataset.x_test),
                                  data.normalized_images(arrays["x_test"]))
    np.testing.assert_array_equal(dataset.class_counts("train"), np.bincount(arrays["y_train"], minlength=10))
    np.testing.assert_array_equal(dataset.class_counts("test"), np.bincount(arrays["y_test"], minlength=10))
    with pytest.raises(DataError, match="split 'valid'"):
        dataset.class_counts("valid")


# --- where copies are looked for ------------------------------------------------------------


def test_resolution_order(tmp_path, monkeypatch, mirror):
    system_arrays, cache_arrays, path_arrays = tiny_arrays(10), tiny_arrays(11), tiny_arrays(12)
    system_dir = write_idx_dir(tmp_path / "system", system_arrays)
    monkeypatch.setattr(data, "SYSTEM_LOCATIONS",
                        {"mnist": (), "fashion-mnist": ((system_dir, "Debian dataset-fashion-mnist"),)})
    cache_root = tmp_path / "cache"
    write_idx_dir(cache_root / "fashion-mnist", cache_arrays)
    cache_sums = {f"{stem}.gz": sha256_of(cache_root / "fashion-mnist" / f"{stem}.gz")
                  for stem in IDX_NAMES.values()}
    monkeypatch.setattr(data, "REMOTE_FILES", dict(data.REMOTE_FILES, **{"fashion-mnist": cache_sums}))
    given = write_idx_dir(tmp_path / "given", path_arrays, compress=False)

    # 1. an explicit path wins over everything
    assert_same_arrays(data.load_dataset("fashion-mnist", path=given), path_arrays)
    # 2. then the system location
    from_system = data.load_dataset("fashion-mnist")
    assert_same_arrays(from_system, system_arrays)
    assert from_system.source == f"{system_dir} (Debian dataset-fashion-mnist)"
    # 3. then the cache
    monkeypatch.setattr(data, "SYSTEM_LOCATIONS",
                        {"mnist": (), "fashion-mnist": ((str(tmp_path / "nowhere"), "x"),)})
    from_cache = data.load_dataset("fashion-mnist")
    assert_same_arrays(from_cache, cache_arrays)
    assert from_cache.source == f"cache {cache_root / 'fashion-mnist'} (cached)"
    # 4. then a download (MNIST: nothing in the cache yet)
    downloaded = data.load_dataset("mnist")
    assert_same_arrays(downloaded, mirror["mnist"])
    mirror_url = mirror["dir"].as_uri() + "/"
    assert downloaded.source == f"cache {cache_root / 'mnist' / 'mnist.npz'} (downloaded from {mirror_url})"


def test_explicit_path_is_not_a_fallback(tmp_path, mirror):
    with pytest.raises(DataError, match="no such file or directory"):
        data.load_dataset("mnist", path=str(tmp_path / "missing.npz"))
    assert not (tmp_path / "cache").exists()  # nothing was downloaded instead


@pytest.mark.parametrize("name", data.DATASETS)
def test_download_then_cached(tmp_path, mirror, name):
    cache = tmp_path / "elsewhere"
    first = data.load_dataset(name, cache_dir=str(cache))
    assert_same_arrays(first, mirror[name])
    assert "downloaded from file://" in first.source
    assert sorted(os.listdir(cache / name)) == sorted(data.REMOTE_FILES[name])
    for file, digest in data.REMOTE_FILES[name].items():
        assert sha256_of(cache / name / file) == digest
    for file in os.listdir(mirror["dir"]):  # the mirror goes away: the cache alone serves
        os.unlink(mirror["dir"] / file)
    second = data.load_dataset(name, cache_dir=str(cache), download=False)
    assert_same_arrays(second, mirror[name])
    assert second.source.endswith("(cached)")


def test_default_cache_under_home_reads_as_tilde(tmp_path, monkeypatch, mirror):
    monkeypatch.delenv(data.CACHE_ENV)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    dataset = data.load_dataset("mnist")
    cached = "~/.cache/graphkit/datasets/mnist/mnist.npz"
    assert dataset.source == f"cache {cached} (downloaded from {mirror['dir'].as_uri()}/)"
    assert (tmp_path / "home" / ".cache" / "graphkit" / "datasets" / "mnist" / "mnist.npz").is_file()
    assert repr(dataset) == ("Dataset(name='mnist', train=[6, 28, 28], test=[3, 28, 28], "
                             f"source={dataset.source!r})")


def test_partial_cache_downloads_only_whats_missing(tmp_path, mirror):
    cache = tmp_path / "cache" / "fashion-mnist"
    cache.mkdir(parents=True)
    kept = "train-images-idx3-ubyte.gz"
    (cache / kept).write_bytes((mirror["dir"] / kept).read_bytes())
    os.unlink(mirror["dir"] / kept)  # a download of this one would now fail
    assert_same_arrays(data.load_dataset("fashion-mnist"), mirror["fashion-mnist"])


def test_checksum_mismatch_leaves_nothing(tmp_path, monkeypatch, mirror):
    monkeypatch.setattr(data, "REMOTE_FILES", dict(data.REMOTE_FILES, mnist={"mnist.npz": "0" * 64}))
    with pytest.raises(DataError, match=r"mnist\.npz: sha256 [0-9a-f]{64} does not match the expected 0{64}"):
        data.load_dataset("mnist")
    cache = tmp_path / "cache"
    assert not cache.exists() or not any(files for _, _, files in os.walk(cache))


def test_one_bad_file_keeps_only_verified_ones(tmp_path, monkeypatch, mirror):
    sums = dict(data.REMOTE_FILES["fashion-mnist"], **{"t10k-labels-idx1-ubyte.gz": "f" * 64})
    monkeypatch.setattr(data, "REMOTE_FILES", dict(data.REMOTE_FILES, **{"fashion-mnist": sums}))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: sha256"):
        data.load_dataset("fashion-mnist")
    cache = tmp_path / "cache" / "fashion-mnist"
    left = sorted(os.listdir(cache))
    assert "t10k-labels-idx1-ubyte.gz" not in left and not [f for f in left if f.endswith(".tmp")]
    for file in left:
        assert sha256_of(cache / file) == sums[file]


def test_cached_file_with_wrong_checksum(tmp_path, mirror):
    cache = tmp_path / "cache" / "mnist"
    cache.mkdir(parents=True)
    write_npz(cache / "mnist.npz", tiny_arrays(99))  # a valid npz, but not the expected bytes
    with pytest.raises(DataError, match=r"mnist\.npz: sha256 .* delete the file to download it again"):
        data.load_dataset("mnist")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture
def http_mirror():
    """A local HTTP server: /<file> serves files[<file>]; /cut/<file> promises all, sends half."""
    files = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            cut = self.path.startswith("/cut/")
            name = self.path[len("/cut/"):] if cut else self.path[1:]
            if name not in files:
                self.send_error(404)
                return
            body = files[name]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:len(body) // 2] if cut else body)
            if cut:
                self.close_connection = True

        def log_message(self, *args):
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield files, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_download_ok_truncated_and_missing(tmp_path, http_mirror):
    files, base = http_mirror
    payload = os.urandom(5000)
    files["blob.bin"] = payload
    digest = hashlib.sha256(payload).hexdigest()
    target = tmp_path / "dl" / "blob.bin"
    assert data.fetch_verified(f"{base}/blob.bin", str(target), digest, timeout=10) == str(target)
    assert target.read_bytes() == payload
    os.unlink(target)
    with pytest.raises(DataError, match=r"cut/blob.bin: cannot download \(IncompleteRead\(2500 bytes read"):
        data.fetch_verified(f"{base}/cut/blob.bin", str(target), digest, timeout=10)
    with pytest.raises(DataError, match=r"blob2.bin: cannot download \(Not Found\)"):
        data.fetch_verified(f"{base}/blob2.bin", str(target), digest, timeout=10)
    assert os.listdir(tmp_path / "dl") == []


# --- offline, with nothing local --------------------------------------------------------------


def test_offline_message_fashion(tmp_path):
    with pytest.raises(DataError) as caught:
        data.load_dataset("fashion-mnist", download=False)
    message = str(caught.value)
    assert message.startswith("fashion-mnist: no local copy found and downloading is off")
    assert "apt-get install dataset-fashion-mnist" in message
    assert data.DEFAULT_MIRROR in message and "train-images-idx3-ubyte.gz" in message
    assert str(tmp_path / "cache" / "fashion-mnist") in message and "--data PATH" in message


def test_offline_message_mnist_unreachable_mirror(tmp_path, monkeypatch):
    monkeypatch.setenv(data.MIRROR_ENV, "http://127.0.0.1:1/")  # nothing listens on port 1
    with pytest.raises(DataError) as caught:
        data.load_dataset("mnist")
    message = str(caught.value)
    assert message.startswith("mnist: no local copy found and http://127.0.0.1:1/mnist.npz: cannot download")
    assert f"download mnist.npz from {data.DEFAULT_MIRROR}" in message and "apt-get" not in message
    assert not (tmp_path / "cache").exists()


def test_cache_dir_defaults(tmp_path, monkeypatch):
    assert data.default_cache_dir() == str(tmp_path / "cache")
    monkeypatch.delenv(data.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.default_cache_dir() == str(tmp_path / "xdg" / "graphkit" / "datasets")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.default_cache_dir() == str(tmp_path / "home" / ".cache" / "graphkit" / "datasets")


# --- bad input ----------------------------------------------------------------------------------


def _corrupt_gzip(raw):
    body = bytearray(raw)
    for offset in range(len(body) // 2, len(body) // 2 + 16):
        body[offset] ^= 0xFF
    return bytes(body)


def _rewrite(directory, stem, transform, compress=True):
    name = os.path.join(directory, f"{stem}.gz" if compress else stem)
    with open(name, "rb") as handle:
        raw = handle.read()
    with open(name, "wb") as handle:
        handle.write(transform(raw))
    return name


IDX_CORRUPTIONS = {
    "truncated gzip": (True, "t10k-images-idx3-ubyte", lambda raw: raw[:len(raw) // 2],
                       "corrupt or truncated gzip"),
    "corrupt gzip": (True, "train-images-idx3-ubyte", _corrupt_gzip, "corrupt or truncated gzip"),
    "not gzip": (True, "train-labels-idx1-ubyte", lambda raw: b"<html>not found</html>", "not a gzip file"),
    "images magic": (False, "train-images-idx3-ubyte", lambda raw: struct.pack(">I", 2049) + raw[4:],
                     r"magic number 2049 \(0x00000801\) is not 2051"),
    "labels magic": (False, "t10k-labels-idx1-ubyte", lambda raw: b"\x00\x00\x0d\x01" + raw[4:],
                     "magic number 3329 .* is not 2049"),
    "short header": (False, "t10k-labels-idx1-ubyte", lambda raw: raw[:3], "too short for an IDX header"),
    "cut header": (False, "t10k-images-idx3-ubyte", lambda raw: raw[:10], r"IDX header truncated: 10 of 16"),
    "truncated data": (False, "train-images-idx3-ubyte", lambda raw: raw[:-100],
                       r"header dims 6x28x28 need 4704 bytes of data, found 4604 \(truncated\)"),
    "trailing data": (False, "train-labels-idx1-ubyte", lambda raw: raw + b"\x01",
                      r"header dims 6 need 6 bytes of data, found 7 \(trailing bytes\)"),
}


@pytest.mark.parametrize("case", IDX_CORRUPTIONS, ids=list(IDX_CORRUPTIONS))
def test_bad_idx_files(tmp_path, case):
    compress, stem, transform, pattern = IDX_CORRUPTIONS[case]
    directory = write_idx_dir(tmp_path / "idx", tiny_arrays(), compress=compress)
    broken = _rewrite(directory, stem, transform, compress=compress)
    with pytest.raises(DataError, match=pattern) as caught:
        data.load_dataset("mnist", path=directory)
    assert str(caught.value).startswith(broken)


def test_idx_count_mismatch(tmp_path):
    arrays = tiny_arrays()
    directory = write_idx_dir(tmp_path / "idx", dict(arrays, y_test=arrays["y_test"][:2]))
    with pytest.raises(DataError, match=r"mnist test: 3 images \(.*t10k-images-idx3-ubyte.gz\) but 2 labels "
                                        r"\(.*t10k-labels-idx1-ubyte.gz\)"):
        data.load_dataset("mnist", path=directory)


def test_idx_wrong_image_size_and_label_range(tmp_path):
    arrays = tiny_arrays()
    small = write_idx_dir(tmp_path / "small", dict(arrays, x_train=arrays["x_train"][:, :20, :20]))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: images have shape \[6, 20, 20\], "
                                        r"expected \[n, 28, 28\]"):
        data.load_dataset("mnist", path=small)
    labels = arrays["y_train"].copy()
    labels[2] = 12
    big_label = write_idx_dir(tmp_path / "labels", dict(arrays, y_train=labels))
    with pytest.raises(DataError,
                       match=r"train-labels-idx1-ubyte.gz: labels range over \d+\.\.12, expected 0\.\.9"):
        data.load_dataset("mnist", path=big_label)


def test_idx_directory_missing_a_file(tmp_path):
    directory = write_idx_dir(tmp_path / "idx", tiny_arrays())
    os.unlink(os.path.join(directory, "t10k-labels-idx1-ubyte.gz"))
    with pytest.raises(DataError, match=r"idx: no mnist.npz and no IDX files t10k-labels-idx1-ubyte.gz \("):
        data.load_dataset("mnist", path=directory)


def _npz_bytes(tmp_path, arrays, compressed=False):
    return open(write_npz(tmp_path / "source.npz", arrays, compressed=compressed), "rb").read()


def test_bad_npz_files(tmp_path):
    arrays = tiny_arrays()
    cases = {
        "missing.npz": (_npz_bytes(tmp_path, {k: v for k, v in arrays.items() if k != "y_test"}),
                        r"missing arrays y_test \(has x_train, y_train, x_test; expected"),
        "truncated.npz": (_npz_bytes(tmp_path, arrays)[:3000], "corrupt or truncated .npz archive"),
        "flipped.npz": (_corrupt_gzip(_npz_bytes(tmp_path, arrays, compressed=True)),
                        "corrupt or truncated .npz archive"),
        "text.npz": (b"hello, I am not an archive", r"not a .npz \(zip\) archive \(starts with b'hell'"),
        "floats.npz": (_npz_bytes(tmp_path, dict(arrays, x_test=arrays["x_test"] / 255.0)),
                       r"\[x_test\]: pixels have dtype float64, expected integers"),
        "flat.npz": (_npz_bytes(tmp_path, dict(arrays, x_train=arrays["x_train"].reshape(6, 784))),
                     r"\[x_train\]: images have shape \[6, 784\], expected \[n, 28, 28\]"),
        "counts.npz": (_npz_bytes(tmp_path, dict(arrays, y_train=arrays["y_train"][:4])),
                       r"mnist train: 6 images \(.*counts.npz\[x_train\]\) but 4 labels"),
    }
    for name, (payload, pattern) in cases.items():
        path = tmp_path / name
        path.write_bytes(payload)
        with pytest.raises(DataError, match=pattern) as caught:
            data.load_dataset("mnist", path=str(path))
        assert str(path) in str(caught.value), name


def test_unknown_dataset_and_missing_path(tmp_path):
    with pytest.raises(DataError, match=r"dataset 'cifar10': expected one of mnist, fashion-mnist"):
        data.load_dataset("cifar10")
    with pytest.raises(DataError, match=r"nope: no such file or directory"):
        data.load_dataset("mnist", path=str(tmp_path / "nope"))


# --- Debian's package, when installed --------------------------------------------------------


@pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION), reason="dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist(monkeypatch):
    monkeypatch.setattr(data, "SYSTEM_LOCATIONS", SYSTEM_LOCATIONS)
    dataset = data.load_dataset("fashion-mnist", download=False)
    assert dataset.source == f"{DEBIAN_FASHION} (Debian dataset-fashion-mnist)"
    assert dataset.x_train.shape == (60000, 28, 28) and dataset.x_test.shape == (10000, 28, 28)
    assert dataset.class_counts("train").tolist() == [6000] * 10
    assert dataset.class_counts("test").tolist() == [1000] * 10


# --- `graphkit data` ----------------------------------------------------------------------------


def test_cli_data_prints_source_shapes_and_counts(tmp_path, capsys):
    arrays = tiny_arrays()
    path = write_npz(tmp_path / "m.npz", arrays)
    assert cli.main(["data", "--dataset", "mnist", "--data", path]) == 0
    out = capsys.readouterr().out
    assert f"mnist from {path} (given path)" in out
    assert "train: 6 images [6, 28, 28] uint8" in out and "test: 3 images [3, 28, 28] uint8" in out
    counts_line = next(line for line in out.splitlines() if line.startswith("train "))
    assert [int(v) for v in counts_line.split()[1:]] == np.bincount(arrays["y_train"], minlength=10).tolist()


def test_cli_data_error_is_one_line(tmp_path, capsys):
    assert cli.main(["data", "--dataset", "mnist", "--data", str(tmp_path / "none.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("graphkit data: error: ") and "none.npz" in err


def test_normalized_images_are_scaled_and_aligned_for_copy_free_feeding():
    images = np.arange(3 * 28 * 28, dtype=np.uint64).reshape(3, 28, 28) % 256
    scaled = data.normalized_images(images.astype(np.uint8))
    assert scaled.dtype == np.float32 and scaled.shape == (3, 28, 28)
    np.testing.assert_allclose(scaled, images / 255.0, rtol=1e-6)
    assert scaled.ctypes.data % data.TF_ALIGNMENT == 0
