"""Files graphkit writes: atomic writes, directory swaps, and its cache directories.

Readers never see a half-written file or directory: either the old one or the
new one, each put in place by one rename.
"""

from __future__ import annotations

import os
import shutil
import tempfile

CACHE_ENV = "GRAPHKIT_CACHE_DIR"  # root of every cache graphkit keeps (datasets, C++ builds, ...)


def atomic_write_bytes(path: str, data: bytes) -> str:
    """Writes `data` to `path` atomically; returns `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes it 0600; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def atomic_write_text(path: str, text: str) -> str:
    """Writes UTF-8 `text` to `path` atomically; returns `path`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def replace_directory(source: str, target: str) -> None:
    """Moves the finished directory `source` to `target`, replacing an existing `target`.

    Each step is one rename; the old `target` is removed only after the new one is in place.
    """
    if not os.path.exists(target):
        os.rename(source, target)
        return
    retired = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.old-", dir=os.path.dirname(target))
    try:
        os.rename(target, os.path.join(retired, "previous"))
        os.rename(source, target)
    finally:
        shutil.rmtree(retired, ignore_errors=True)


def check_output_path(path: str, what: str = "output") -> str:
    """Checks, before any work, that a file can be written at `path`; returns `path`.

    The nearest existing directory on the way is tried with a temporary file
    (removed at once), so a read-only or pseudo file system (`/proc`) is caught
    too. Nothing is created.

    Raises:
      OutputError: `path` is a directory, a parent is a file, or the directory cannot be written.
    """
    from graphkit.errors import OutputError

    if os.path.isdir(path):
        raise OutputError(f"{path}: is a directory; the {what} needs a file name")
    directory = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(directory):
        directory = os.path.dirname(directory)
    if not os.path.isdir(directory):
        raise OutputError(f"{path}: cannot write the {what}: {directory} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".graphkit-probe-", dir=directory)
    except OSError as err:
        raise OutputError(f"{path}: cannot write the {what} ({err.strerror or err})") from None
    os.close(fd)
    os.unlink(probe)
    return path


def write_output_text(path: str, text: str, what: str = "output") -> str:
    """`atomic_write_text` for a file the user named: a failure is one OutputError line, nothing left.

    Raises:
      OutputError: the file cannot be written (the message names `path` and why).
    """
    from graphkit.errors import OutputError

    if os.path.isdir(path):
        raise OutputError(f"{path}: is a directory; the {what} needs a file name")
    try:
        return atomic_write_text(path, text)
    except OSError as err:
        raise OutputError(f"{path}: cannot write the {what} ({err.strerror or err})") from None


def cache_dir(kind: str) -> str:
    """`$GRAPHKIT_CACHE_DIR/<kind>`, else `$XDG_CACHE_HOME/graphkit/<kind>` or `~/.cache/graphkit/<kind>`."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        xdg_cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(xdg_cache, "graphkit")
    return os.path.join(os.path.expanduser(root), kind)
