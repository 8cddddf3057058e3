"""Builds graphkit's C++ program `graphkit-run` against the installed tensorflow wheel.

    binary = build_cpp()          # first call compiles (about a minute), later calls are instant
    subprocess.run([binary, "out/saved_model", "--list"])

Builds are cached per TensorFlow version and per hash of the C++ sources, in
`$GRAPHKIT_CACHE_DIR/cpp` (default `~/.cache/graphkit/cpp`). A build runs in a
temporary directory that is renamed into place only when it succeeded, so a
failed or interrupted build never leaves a binary that passes for good. A lock
file keeps two processes from building the same key at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from graphkit.errors import BuildError
from graphkit.files import cache_dir, check_output_path, replace_directory

PROGRAM_NAME = "graphkit-run"          # what users run: filters TensorFlow's start-up log lines
CORE_PROGRAM_NAME = "graphkit-run-core"  # the program proper, linked with TensorFlow
CPP_SOURCE_DIR = Path(__file__).resolve().parent.parent / "cpp"  # graphkit/cpp, a CMake project
BUILD_JOBS = 2
_ERROR_TAIL_LINES = 25


def tensorflow_dirs() -> tuple[str, str]:
    """(include dir, library dir) of the installed tensorflow package, without importing it.

    Raises:
      BuildError: tensorflow is not installed or its wheel lacks the C++ headers.
    """
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("tensorflow: package not installed; pip install tensorflow")
    package_dir = spec.submodule_search_locations[0]
    include_dir = os.path.join(package_dir, "include")
    if not os.path.isfile(os.path.join(include_dir, "tensorflow", "cc", "saved_model", "loader.h")):
        raise BuildError(f"{include_dir}: no TensorFlow C++ headers (tensorflow/cc/saved_model/loader.h)")
    return include_dir, package_dir


def default_build_dir() -> Path:
    """`<cache>/cpp/tf<version>-<source hash>`, unique per TensorFlow and C++ sources."""
    version = importlib.metadata.version("tensorflow")
    return Path(cache_dir("cpp")) / f"tf{version}-{source_hash()[:12]}"


def source_hash() -> str:
    """sha256 over the C++ sources (paths and contents), so edits trigger a rebuild."""
    digest = hashlib.sha256()
    for path in sorted(CPP_SOURCE_DIR.rglob("*")):
        if path.is_file() and path.suffix in {".cc", ".h", ".txt"}:
            digest.update(str(path.relative_to(CPP_SOURCE_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def build_cpp(build_dir: str | None = None, force: bool = False) -> str:
    """Configures and compiles the C++ project once; returns the path of `graphkit-run`.

    Args:
      build_dir: where the finished build lives (default: `default_build_dir()`).
        It is replaced as a whole, so give a directory that holds nothing else.
      force: rebuild even if a finished build is there.
    Returns:
      the absolute path of the `graphkit-run` executable.
    Raises:
      BuildError: no cmake or C++ compiler, no TensorFlow headers, or a failed
        configure/compile step (with the tail of its output).
    """
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise BuildError(f"{tool}: not found on PATH; install cmake and g++ (apt-get install cmake g++)")
    include_dir, lib_dir = tensorflow_dirs()
    final_dir = Path(build_dir).resolve() if build_dir else default_build_dir()
    binary = final_dir / PROGRAM_NAME
    if _is_complete(final_dir) and not force:
        return str(binary)
    if build_dir:  # it is replaced as a whole: never a file, nor a directory holding other things
        if final_dir.exists() and not final_dir.is_dir():
            raise BuildError(f"{build_dir}: is a file; --build-dir takes a directory of its own")
        if final_dir.is_dir() and any(final_dir.iterdir()) and not _is_complete(final_dir):
            raise BuildError(f"{build_dir}: holds other files; give a new or empty directory "
                             f"(the build replaces it as a whole)")
    check_output_path(str(binary), "C++ build")
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    with _lock(final_dir.parent / f".{final_dir.name}.lock"):
        if _is_complete(final_dir) and not force:  # another process finished it while we waited
            return str(binary)
        staging = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.tmp-", dir=final_dir.parent))
        try:
            _run_step("cmake configure", [
                "cmake", "-S", str(CPP_SOURCE_DIR), "-B", str(staging), "-DCMAKE_BUILD_TYPE=Release",
                f"-DTF_INCLUDE_DIR={include_dir}", f"-DTF_LIB_DIR={lib_dir}"])
            _run_step("cmake build", ["cmake", "--build", str(staging), "-j", str(BUILD_JOBS)])
            if not _is_complete(staging):
                raise BuildError(f"{staging}: the build finished without producing {PROGRAM_NAME} "
                                 f"and {CORE_PROGRAM_NAME}")
            replace_directory(str(staging), str(final_dir))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return str(binary)


def _is_complete(build_dir: Path) -> bool:
    return all(os.access(build_dir / name, os.X_OK) for name in (PROGRAM_NAME, CORE_PROGRAM_NAME))


def _run_step(what: str, command: list[str]) -> None:
    result = subprocess.run(command, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        lines = result.stdout.strip().splitlines()
        errors = [line for line in lines if "error" in line.lower()]
        first_error = errors[0].strip() if errors else (lines[-1].strip() if lines else "no output")
        tail = "\n".join(lines[-_ERROR_TAIL_LINES:])
        raise BuildError(f"{what} failed (exit {result.returncode}): {first_error}\n{tail}")


class _lock:
    """An exclusive flock on `path` for the duration of a with-block."""

    def __init__(self, path: Path):
        self._path = path
        self._handle = None

    def __enter__(self):
        self._handle = open(self._path, "a")
        fcntl.flock(self._handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
