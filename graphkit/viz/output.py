"""Writes DOT text, or what Graphviz's `dot` makes of it (SVG, PNG, PDF), atomically.

Output goes to a temporary file beside the target and is moved over it with
`os.replace` only when complete, so a failed layout never leaves a
half-written drawing behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Callable, Optional

from graphkit.errors import RenderError
from graphkit.files import atomic_write_bytes

FORMATS = ("svg", "dot", "png", "pdf", "html")
DEFAULT_FORMAT = "svg"
INSTALL_HINT = ("install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz), "
                "or write DOT with --format dot")


def output_format(path: str, fmt: Optional[str] = None) -> str:
    """The format to write: `fmt` if given, else the path's suffix, else svg (no suffix).

    Raises:
      RenderError: `fmt` is not one of FORMATS; the path's suffix names another
        known format than `fmt` (`--format png -o x.svg`); or, without `fmt`,
        a suffix that is no known format (`-o x.jpg`).
    """
    suffix = os.path.splitext(path)[1].lstrip(".").lower()
    suffix = "dot" if suffix == "gv" else suffix
    if fmt is None:
        if suffix and suffix not in FORMATS:
            raise RenderError(f"{path}: unknown output format {suffix!r}; known: {', '.join(FORMATS)} "
                              f"(name the file so, or pass --format)")
        return suffix or DEFAULT_FORMAT
    if fmt not in FORMATS:
        raise RenderError(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if suffix in FORMATS and suffix != fmt:
        raise RenderError(f"{path}: the suffix says {suffix}, --format says {fmt}; known formats: "
                          f"{', '.join(FORMATS)}")
    return fmt


def find_dot() -> str:
    """The path of Graphviz's `dot` on PATH.

    Raises:
      RenderError: `dot` is not on PATH; the message says how to install it.
    """
    path = shutil.which("dot")
    if path is None:
        raise RenderError(f"Graphviz `dot` not found on PATH: {INSTALL_HINT}")
    return path


def run_dot(dot_source: str, fmt: str, dot_binary: Optional[str] = None,
            fallback: Optional[Callable[[], str]] = None) -> bytes:
    """Lays out `dot_source` with `dot -T<fmt>` and returns the output bytes.

    Args:
      fallback: makes a simpler DOT source to lay out instead when `dot` crashes
        (is killed by a signal), which Graphviz 2.43 does on some large clustered graphs.
    Raises:
      RenderError: `dot` is missing, rejects the source or crashes (first line of its error).
    """
    dot_binary = dot_binary or find_dot()
    done = _run(dot_binary, dot_source, fmt)
    if done.returncode < 0 and fallback is not None:
        done = _run(dot_binary, fallback(), fmt)
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        what = f"signal {-done.returncode}" if done.returncode < 0 else str(done.returncode)
        raise RenderError(f"Graphviz `dot` failed ({what}): {lines[0] if lines else 'no message'}")
    return done.stdout


def _run(dot_binary: str, dot_source: str, fmt: str) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run([dot_binary, f"-T{fmt}"], input=dot_source.encode("utf-8"),
                              capture_output=True, check=False)
    except OSError as err:
        raise RenderError(f"Graphviz `dot` ({dot_binary}) cannot run: {err}; {INSTALL_HINT}") from None
    return done


def write_atomic(path: str, data: bytes) -> None:
    """Writes `data` to `path` atomically (graphkit.files), as a RenderError if it cannot.

    Raises:
      RenderError: the directory cannot be created or written.
    """
    try:
        atomic_write_bytes(path, data)
    except OSError as err:
        raise RenderError(f"{path}: cannot write ({err.strerror or err})") from None

