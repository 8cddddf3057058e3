"""MNIST and Fashion-MNIST as numpy arrays, from wherever a copy can be found.

    data = load_dataset("fashion-mnist")          # or "mnist"; path="..." for a local copy
    print(data.source, data.x_train.shape)        # ... (60000, 28, 28)
    x = normalized_images(data.x_train)           # float32 in [0, 1]

`load_dataset` looks in this order and takes the first copy it finds:

1. `path`, when given: a Keras-style `.npz` (x_train, y_train, x_test, y_test) or a
   directory holding the four IDX files (gzip or uncompressed). Nothing else is tried.
2. A system location: Debian's `dataset-fashion-mnist` package installs
   /usr/share/datasets/fashion-mnist/. (Debian ships no MNIST package.)
3. The cache directory: `cache_dir`, else $GRAPHKIT_DATA_CACHE, else
   ~/.cache/graphkit/datasets (under $XDG_CACHE_HOME when set).
4. A download from the public copy Keras uses (or $GRAPHKIT_DATA_MIRROR, a base URL
   holding the same files), checked against its sha256 before it is saved.

A download is read whole, checked, and only then written (temp file and rename), so
a broken download leaves nothing behind that could later pass for data.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.client
import os
import struct
import sys
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Mapping

import numpy as np

from graphkit.errors import DataError
from graphkit.files import atomic_write_bytes, cache_dir

DATASETS = ("mnist", "fashion-mnist")
CLASSES = 10
IMAGE_SHAPE = (28, 28)
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
# Split -> (images file, labels file), as the IDX files are named everywhere.
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
IDX_UBYTE = 0x08  # the IDX type code of unsigned bytes, the only one the MNIST family uses
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"

# name -> ((directory, what installs it), ...). Debian has no MNIST package
# (`apt-cache search mnist` finds only dataset-fashion-mnist).
SYSTEM_LOCATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "mnist": (),
    "fashion-mnist": (("/usr/share/datasets/fashion-mnist", "Debian dataset-fashion-mnist"),),
}
DEBIAN_PACKAGES = {"fashion-mnist": "dataset-fashion-mnist"}

DEFAULT_MIRROR = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
MIRROR_ENV = "GRAPHKIT_DATA_MIRROR"
CACHE_ENV = "GRAPHKIT_DATA_CACHE"
DOWNLOAD_TIMEOUT_S = 60.0

# name -> {file name under the mirror and in the cache: sha256 of its bytes}. The
# Fashion-MNIST sums are those of Zalando's original gzip files, whose sizes Keras's
# copy has too. Debian's package recompressed them (other bytes, other sums), which is
# why system copies are parsed and checked for shape, not checksummed.
REMOTE_FILES: dict[str, dict[str, str]] = {
    "mnist": {"mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"},
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}


# TensorFlow feeds a numpy array without copying it only when its data is
# aligned like its own buffers (EIGEN_MAX_ALIGN_BYTES); numpy's large arrays
# are 16-byte aligned, so feeding a whole training set would copy it.
TF_ALIGNMENT = 64


def tf_aligned_empty(shape, dtype) -> np.ndarray:
    """An uninitialised array whose data TensorFlow can feed without a copy."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buffer = np.empty(size + TF_ALIGNMENT, np.uint8)
    offset = -buffer.ctypes.data % TF_ALIGNMENT
    return buffer[offset:offset + size].view(dtype).reshape(shape)


def normalized_images(x: np.ndarray) -> np.ndarray:
    """Pixels as float32 in [0, 1].

    Args:
      x: uint8 images [n, 28, 28] (any shape works).
    Returns:
      float32 array of x's shape, x / 255, allocated so that TensorFlow can
      feed it without a copy (see tf_aligned_empty).
    """
    x = np.asarray(x)
    out = tf_aligned_empty(x.shape, np.float32)
    np.divide(x, np.float32(255.0), out=out, dtype=np.float32)
    return out


@dataclasses.dataclass(frozen=True, eq=False)  # arrays have no single truth value to compare by
class Dataset:
    """One dataset's arrays and where they came from.

    x_train, x_test: uint8 images [n, 28, 28]; y_train, y_test: uint8 labels [n] in 0..9;
    name: one of DATASETS; source: where the copy was found, for people to read.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    source: str

    normalized_images = staticmethod(normalized_images)

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, train={list(self.x_train.shape)}, "
                f"test={list(self.x_test.shape)}, source={self.source!r})")

    def class_counts(self, split: str = "train") -> np.ndarray:
        """Examples per class [10] in `split` ("train" or "test")."""
        if split not in IDX_FILES:
            raise DataError(f"{self.name}: split {split!r} is not one of {', '.join(IDX_FILES)}")
        labels = self.y_train if split == "train" else self.y_test
        return np.bincount(labels, minlength=CLASSES)


def load_dataset(name: str = "fashion-mnist", path: str | None = None, cache_dir: str | None = None,
                 download: bool = True) -> Dataset:
    """Loads MNIST or Fashion-MNIST from the first place that has a copy (see the module doc).

    Args:
      name: one of DATASETS.
      path: a local `.npz` file or a directory with the four IDX files; when given,
        only this is read.
      cache_dir: where downloads are kept; default $GRAPHKIT_DATA_CACHE or
        ~/.cache/graphkit/datasets.
      download: whether to fetch a missing copy from the network.
    Returns:
      a Dataset with uint8 arrays [n, 28, 28] and [n].
    Raises:
      DataError: unknown name; a file that is missing, corrupt, truncated, of the wrong
        kind or shape, or fails its checksum; no copy found and none downloadable
        (the message says what to install or download, and where to put it).
    """
    if name not in DATASETS:
        raise DataError(f"dataset {name!r}: expected one of {', '.join(DATASETS)}")
    if path is not None:
        return _load_path(name, os.path.expanduser(path))
    for directory, installer in SYSTEM_LOCATIONS[name]:
        if _has_idx_files(directory):
            return _load_idx_directory(name, directory, f"{directory} ({installer})")
    cache = os.path.join(default_cache_dir() if cache_dir is None else cache_dir, name)
    wanted = REMOTE_FILES[name]
    missing = [file for file in wanted if not os.path.isfile(os.path.join(cache, file))]
    how = "cached"
    if missing:
        if not download:
            raise DataError(_nothing_local_message(name, cache, "downloading is off"))
        mirror = os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR
        for file in missing:
            fetch_verified(_join_url(mirror, file), os.path.join(cache, file), wanted[file],
                           offline_hint=lambda reason: _nothing_local_message(name, cache, reason))
        how = f"downloaded from {mirror}"
    for file, sha256 in wanted.items():
        check_cached_sha256(os.path.join(cache, file), sha256)
    return _load_directory(name, cache, lambda found: f"cache {_display(found)} ({how})")


def default_cache_dir() -> str:
    """$GRAPHKIT_DATA_CACHE, else graphkit's cache directory for datasets (`graphkit.files.cache_dir`)."""
    if os.environ.get(CACHE_ENV):
        return os.path.expanduser(os.environ[CACHE_ENV])
    return cache_dir("datasets")


def fetch_verified(url: str, destination: str, sha256: str, timeout: float = DOWNLOAD_TIMEOUT_S,
                   offline_hint: Callable[[str], str] | None = None) -> str:
    """Downloads `url` to `destination` only if its bytes have the given sha256.

    The bytes are read whole and checked before anything is written; the file then
    appears in one rename, so a failed or corrupt download leaves no file behind.

    Args:
      url: what to fetch (http, https or file URL).
      destination: the file to write; its directory is created.
      sha256: the expected hex digest.
      timeout: seconds before a stalled connection gives up.
      offline_hint: builds the error message from the reason when the URL cannot be read.
    Returns:
      destination.
    Raises:
      DataError: the URL cannot be read (offline, not found, cut short) or the bytes
        have another checksum.
    """
    print(f"downloading {url} -> {destination}", file=sys.stderr)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            payload = response.read()  # a connection cut short raises IncompleteRead here
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as err:
        reason = f"{url}: cannot download ({getattr(err, 'reason', None) or err})"
        raise DataError(offline_hint(reason) if offline_hint else reason) from err
    actual = hashlib.sha256(payload).hexdigest()
    if actual != sha256:
        raise DataError(f"{url}: sha256 {actual} does not match the expected {sha256} "
                        f"({len(payload)} bytes); nothing was saved to {destination}")
    return atomic_write_bytes(destination, payload)


def read_idx(path: str, ndim: int) -> np.ndarray:
    """Reads one IDX file of unsigned bytes, gzip-compressed or not.

    Args:
      path: the file.
      ndim: the rank it must hold: 3 for images [n, rows, cols], 1 for labels [n].
    Returns:
      a uint8 array with the shape its header gives.
    Raises:
      DataError: unreadable file, corrupt or truncated gzip, wrong magic number, or
        a data size that does not match the header's dimensions.
    """
    raw = _read_bytes(path)
    if raw[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise DataError(f"{path}: corrupt or truncated gzip data ({err})") from err
    elif path.endswith(".gz"):
        raise DataError(f"{path}: not a gzip file (starts with {raw[:4]!r}, expected {GZIP_MAGIC!r})")
    else:
        data = raw
    expected_magic = (IDX_UBYTE << 8) | ndim
    kind = "images [n, rows, cols]" if ndim == 3 else f"a rank-{ndim} array"
    if len(data) < 4:
        raise DataError(f"{path}: {len(data)} bytes is too short for an IDX header")
    magic = struct.unpack(">I", data[:4])[0]
    if magic != expected_magic:
        raise DataError(f"{path}: magic number {magic} (0x{magic:08x}) is not {expected_magic} "
                        f"(0x{expected_magic:08x}), the IDX magic number of {kind} of unsigned bytes")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(f"{path}: IDX header truncated: {len(data)} of {header_size} bytes")
    dims = struct.unpack(f">{ndim}I", data[4:header_size])
    expected_size = int(np.prod(dims, dtype=np.int64))
    actual_size = len(data) - header_size
    if actual_size != expected_size:
        what = "truncated" if actual_size < expected_size else "trailing bytes"
        raise DataError(f"{path}: header dims {'x'.join(map(str, dims))} need {expected_size} bytes of data, "
                        f"found {actual_size} ({what})")
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(dims).copy()


def read_npz(path: str) -> dict[str, np.ndarray]:
    """Reads x_train, y_train, x_test, y_test from a Keras-style .npz file.

    Raises:
      DataError: unreadable, not a zip archive, truncated or corrupt, or missing a key.
    """
    raw_head = _read_bytes(path, limit=4)
    if raw_head != ZIP_MAGIC:
        raise DataError(f"{path}: not a .npz (zip) archive "
                        f"(starts with {raw_head!r}, expected {ZIP_MAGIC!r})")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in NPZ_KEYS if key not in archive.files]
            if missing:
                raise DataError(f"{path}: missing arrays {', '.join(missing)} "
                                f"(has {', '.join(archive.files) or 'none'}; expected {', '.join(NPZ_KEYS)})")
            return {key: archive[key] for key in NPZ_KEYS}
    except DataError:
        raise
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as err:
        raise DataError(f"{path}: corrupt or truncated .npz archive ({err})") from err


def _load_path(name: str, path: str) -> Dataset:
    if os.path.isdir(path):
        return _load_directory(name, path, lambda found: f"{found} (given path)")
    if os.path.isfile(path):
        return _load_npz(name, path, f"{path} (given path)")
    raise DataError(f"{path}: no such file or directory (expected a .npz file or a directory of IDX files)")


def _load_directory(name: str, directory: str, source_of: Callable[[str], str]) -> Dataset:
    """Loads the four IDX files in `directory`, else its `<name>.npz` (the cache's layout for MNIST)."""
    if _has_idx_files(directory):
        return _load_idx_directory(name, directory, source_of(directory))
    npz = os.path.join(directory, f"{name}.npz")
    if os.path.isfile(npz):
        return _load_npz(name, npz, source_of(npz))
    wanted = [file for pair in IDX_FILES.values() for file in pair]
    absent = [file for file in wanted if _find_idx_file(directory, file) is None]
    raise DataError(f"{directory}: no {name}.npz and no IDX files {', '.join(absent)} (gzip or uncompressed)")


def _load_npz(name: str, path: str, source: str) -> Dataset:
    arrays = read_npz(path)
    return _checked_dataset(name, source, arrays, {key: f"{path}[{key}]" for key in NPZ_KEYS})


def _load_idx_directory(name: str, directory: str, source: str) -> Dataset:
    arrays, origins = {}, {}
    for split, (images_file, labels_file) in IDX_FILES.items():
        for key, file, ndim in ((f"x_{split}", images_file, 3), (f"y_{split}", labels_file, 1)):
            found = _find_idx_file(directory, file)
            if found is None:
                raise DataError(f"{directory}: no {file} (nor its uncompressed form)")
            arrays[key], origins[key] = read_idx(found, ndim), found
    return _checked_dataset(name, source, arrays, origins)


def _checked_dataset(name: str, source: str, arrays: Mapping[str, np.ndarray],
                     origins: Mapping[str, str]) -> Dataset:
    """Checks ranks, image size, counts and value ranges; returns the uint8 Dataset."""
    checked = {}
    for split in IDX_FILES:
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        images_origin, labels_origin = origins[f"x_{split}"], origins[f"y_{split}"]
        if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
            raise DataError(f"{images_origin}: images have shape {list(images.shape)}, "
                            f"expected [n, {IMAGE_SHAPE[0]}, {IMAGE_SHAPE[1]}]")
        if labels.ndim != 1:
            raise DataError(f"{labels_origin}: labels have shape {list(labels.shape)}, expected [n]")
        if len(images) != len(labels):
            raise DataError(f"{name} {split}: {len(images)} images ({images_origin}) but "
                            f"{len(labels)} labels ({labels_origin})")
        if len(images) == 0:
            raise DataError(f"{images_origin}: no images")
        checked[f"x_{split}"] = _as_uint8(images, images_origin, 255, "pixels")
        checked[f"y_{split}"] = _as_uint8(labels, labels_origin, CLASSES - 1, "labels")
    return Dataset(name=name, source=source, **checked)


def _as_uint8(values: np.ndarray, origin: str, maximum: int, what: str) -> np.ndarray:
    if values.dtype == np.uint8 and maximum == 255:
        return values
    if values.dtype.kind not in "iu":
        raise DataError(f"{origin}: {what} have dtype {values.dtype}, expected integers (uint8)")
    low, high = int(values.min()), int(values.max())
    if low < 0 or high > maximum:
        raise DataError(f"{origin}: {what} range over {low}..{high}, expected 0..{maximum}")
    return values.astype(np.uint8, copy=False)


def check_cached_sha256(path: str, sha256: str) -> None:
    """Checks a cached file's sha256.

    Raises:
      DataError: the file's bytes have another sha256 (the message says to delete it).
    """
    with open(path, "rb") as handle:
        actual = hashlib.sha256(handle.read()).hexdigest()
    if actual != sha256:
        raise DataError(f"{path}: sha256 {actual} does not match the expected {sha256}; "
                        "delete the file to download it again")


def _find_idx_file(directory: str, gz_name: str) -> str | None:
    """The path of an IDX file as .gz, uncompressed, or with LeCun's "images.idx3" dot; or None."""
    stem = gz_name[:-len(".gz")]
    for candidate in (gz_name, stem, stem.replace("-idx", ".idx")):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    return None


def _has_idx_files(directory: str) -> bool:
    return all(_find_idx_file(directory, file) is not None for pair in IDX_FILES.values() for file in pair)


def _read_bytes(path: str, limit: int = -1) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(limit)
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from err


def _nothing_local_message(name: str, cache: str, reason: str) -> str:
    files = REMOTE_FILES[name]
    steps = []
    if name in DEBIAN_PACKAGES:
        steps.append(f"install Debian's copy: apt-get install {DEBIAN_PACKAGES[name]}")
    steps.append(f"download {', '.join(files)} from {DEFAULT_MIRROR} into {cache}")
    steps.append("or pass a local copy with --data PATH (path=...)")
    return f"{name}: no local copy found and {reason}. To fix: " + "; ".join(steps)


def _join_url(base: str, file: str) -> str:
    return base + file if base.endswith("/") else f"{base}/{file}"


def _display(path: str) -> str:
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if home not in ("", "/") and path.startswith(home + os.sep) else path
