"""Runs a SavedModel signature in the C++ program and compares it with Python.

    comparison = compare_cpp_python("out/saved_model", {"x": images[:5]})
    print(format_comparison(comparison))     # graphkit.viz.reports: C++ beside Python
    assert comparison.max_abs_diff <= 1e-6

Inputs go to `graphkit-run` as `.npy` files in a temporary directory, and its
outputs come back the same way; string outputs come back as bytes.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence

import numpy as np

from graphkit import constants as names
from graphkit.errors import SavedModelError

_LATENCY_LINE = re.compile(
    r"latency: runs=(\d+) p50_us=([\d.]+) p90_us=([\d.]+) p99_us=([\d.]+) mean_us=([\d.]+)")
_PEAK_RSS_LINE = re.compile(r"peak_rss_mb: ([\d.]+)")


@dataclasses.dataclass(frozen=True)
class Latency:
    """Latency percentiles of repeated runs, in microseconds (nearest rank)."""

    runs: int
    p50_us: float
    p90_us: float
    p99_us: float
    mean_us: float


@dataclasses.dataclass(frozen=True)
class CppRun:
    """What one `graphkit-run` invocation returned.

    Attributes:
      outputs: output key -> array (strings as bytes objects).
      latency: percentiles when run with `repeat`, else None.
      peak_rss_mb: the program's peak resident memory (VmHWM).
    """

    outputs: Mapping[str, np.ndarray]
    latency: Latency | None
    peak_rss_mb: float


@dataclasses.dataclass(frozen=True)
class Comparison:
    """C++ and Python outputs of one signature on the same inputs.

    Attributes:
      cpp: output key -> array from graphkit-run.
      python: output key -> array from `run_signature`.
      max_abs_diff: output key -> max |cpp - python| (0.0 or 1.0 for non-float
        outputs: equal or not).
    """

    cpp: Mapping[str, np.ndarray]
    python: Mapping[str, np.ndarray]
    max_abs_diff_by_output: Mapping[str, float]

    @property
    def max_abs_diff(self) -> float:
        return max(self.max_abs_diff_by_output.values(), default=0.0)


def run_cpp(export_dir: str, inputs: Mapping[str, object],
            signature_key: str = names.DEFAULT_SIGNATURE_KEY,
            outputs: Sequence[str] | None = None, repeat: int = 0,
            tags: Sequence[str] = names.DEFAULT_TAGS, binary: str | None = None,
            threads: int = 0) -> CppRun:
    """Runs a signature in `graphkit-run` (built on first use) and reads its outputs.

    Args:
      export_dir: the SavedModel directory.
      inputs: signature input key -> array (strings as str/bytes arrays).
      signature_key: which signature to run.
      outputs: output keys to fetch (default: all).
      repeat: > 0 to time that many runs after 10 warm-up runs.
      binary: a built `graphkit-run`; default: `build_cpp()`.
      threads: intra-op threads for the C++ session (0: TensorFlow picks).
    Returns:
      a CppRun.
    Raises:
      SavedModelError: graphkit-run rejected the model or inputs (its one-line message).
      BuildError: the program could not be built.
    """
    if binary is None:
        from graphkit.serving.cpp_build import build_cpp
        binary = build_cpp()
    with tempfile.TemporaryDirectory(prefix="graphkit-run-") as work_dir:
        command = [binary, os.path.abspath(export_dir), "--signature", signature_key,
                   "--tags", ",".join(tags), "--output-dir", work_dir]
        for key, value in inputs.items():
            path = os.path.join(work_dir, f"input-{len(command)}.npy")
            array = np.asarray(value)
            if array.dtype.kind == "O":  # object arrays of str/bytes: fixed-width bytes for .npy
                array = np.array([v.encode() if isinstance(v, str) else v for v in array.ravel()],
                                 dtype=bytes).reshape(array.shape)
            np.save(path, array, allow_pickle=False)
            command += ["--input", f"{key}={path}"]
        for key in outputs or ():
            command += ["--output", key]
        if repeat:
            command += ["--repeat", str(repeat)]
        if threads:
            command += ["--threads", str(threads)]
        result = subprocess.run(command, check=False, capture_output=True, text=True)
        if result.returncode != 0:
            raise SavedModelError(cpp_error_line(result.stderr) or f"graphkit-run exited {result.returncode}")
        fetched = {}
        for name in sorted(os.listdir(work_dir)):
            if name.endswith(".npy") and not name.startswith("input-"):
                array = np.load(os.path.join(work_dir, name), allow_pickle=False)
                fetched[name[:-len(".npy")]] = array.astype(object) if array.dtype.kind == "S" else array
    latency = _LATENCY_LINE.search(result.stdout)
    peak = _PEAK_RSS_LINE.search(result.stdout)
    return CppRun(
        outputs=fetched,
        latency=Latency(int(latency.group(1)), *map(float, latency.groups()[1:])) if latency else None,
        peak_rss_mb=float(peak.group(1)) if peak else float("nan"))


def cpp_error_line(stderr: str) -> str:
    """The `graphkit-run: error: ...` line of the program's stderr, without the prefix."""
    for line in reversed(stderr.strip().splitlines()):
        if line.startswith("graphkit-run: "):
            return line.split(": ", 1)[1].removeprefix("error: ")
    return ""


def compare_cpp_python(export_dir: str, inputs: Mapping[str, object],
                       signature_key: str = names.DEFAULT_SIGNATURE_KEY,
                       binary: str | None = None) -> Comparison:
    """Runs one signature in C++ and in Python on the same inputs.

    Args:
      export_dir: the SavedModel directory.
      inputs: signature input key -> array.
      signature_key: which signature to run.
      binary: a built `graphkit-run`; default: `build_cpp()` (cached).
    Returns:
      a Comparison with both outputs and the max abs difference per output.
    Raises:
      SavedModelError: either side rejected the model or inputs.
    """
    from graphkit.runtime.saved_model import load_saved_model, run_signature

    with load_saved_model(export_dir) as loaded:
        python = run_signature(loaded, inputs, signature_key)
    cpp = run_cpp(export_dir, inputs, signature_key, binary=binary).outputs
    diffs = {}
    for key, expected in python.items():
        if key not in cpp:
            raise SavedModelError(f"{export_dir} signature {signature_key!r}: "
                                  f"graphkit-run returned no output {key!r}")
        diffs[key] = output_difference(cpp[key], expected)
    return Comparison(cpp=cpp, python=python, max_abs_diff_by_output=diffs)


def output_difference(actual: np.ndarray, expected: np.ndarray) -> float:
    """max |actual - expected| for float outputs; 0.0/1.0 (equal or not) for others."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        return float("inf")
    if expected.dtype.kind == "f":
        return float(np.max(np.abs(actual.astype(np.float64) - expected), initial=0.0))
    return 0.0 if np.array_equal(actual, expected) else 1.0
