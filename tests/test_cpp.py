"""The C++ library and graphkit-run, built once per test session, against Python.

Every test runs the real compiled program on real exported SavedModels and
compares its outputs with `run_signature` in Python; every bad input is tried
against the program (exit code 2, one line on stderr, no crash).
"""

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from conftest import (
    LOOKUP_SIGNATURE,
    VOCABULARY,
    export_word_lookup,
    load_script,
    lookup_expected,
    train_and_export_hello,
)

from graphkit import constants as names
from graphkit.errors import BuildError, SavedModelError
from graphkit.graphs.saved_model import inspect_saved_model
from graphkit.runtime.saved_model import load_saved_model, run_signature
from graphkit.serving import cpp_build
from graphkit.serving.cpp_build import build_cpp
from graphkit.serving.cpp_run import compare_cpp_python, cpp_error_line, run_cpp
from graphkit.viz.reports import format_comparison


@pytest.fixture(scope="session")
def binary():
    """graphkit-run, compiled once (cached across test runs by TF version and source hash)."""
    return build_cpp()


@pytest.fixture(scope="module")
def hello(tmp_path_factory, blobs):
    path, images, _ = train_and_export_hello(str(tmp_path_factory.mktemp("cpp_hello")), blobs, frozen=False)
    return path, images


@pytest.fixture(scope="module")
def lookup(tmp_path_factory):
    return export_word_lookup(str(tmp_path_factory.mktemp("cpp_lookup")))


def run_program(binary, *args):
    return subprocess.run([binary, *map(str, args)], capture_output=True, text=True, check=False)


def test_build_is_cached_and_complete(binary):
    assert os.path.basename(binary) == cpp_build.PROGRAM_NAME
    core = os.path.join(os.path.dirname(binary), cpp_build.CORE_PROGRAM_NAME)
    assert os.access(binary, os.X_OK) and os.access(core, os.X_OK)
    before = os.stat(core).st_mtime_ns
    assert build_cpp() == binary  # second call: the cache, no rebuild
    assert os.stat(core).st_mtime_ns == before
    linked = subprocess.run(["ldd", core], capture_output=True, text=True, check=True).stdout
    assert "libtensorflow_cc.so.2" in linked and "libtensorflow_framework.so.2" in linked
    assert "not found" not in linked


def test_cpp_constants_repeat_python_constants():
    header = (cpp_build.CPP_SOURCE_DIR / "include" / "graphkit" / "constants.h").read_text()
    cpp = dict(re.findall(r'constexpr char (k\w+)\[\] = "([^"]*)";', header))
    python = {"kServingTag": names.SERVING_TAG, "kTrainingTag": names.TRAINING_TAG,
              "kDefaultSignatureKey": names.DEFAULT_SIGNATURE_KEY,
              "kPredictMethodName": names.PREDICT_METHOD_NAME,
              "kSavedModelFilenamePb": names.SAVED_MODEL_FILENAME_PB,
              "kSavedModelFilenamePbtxt": names.SAVED_MODEL_FILENAME_PBTXT,
              "kVariablesDirectory": names.VARIABLES_DIRECTORY, "kAssetsDirectory": names.ASSETS_DIRECTORY,
              "kFrozenGraphFilename": names.FROZEN_GRAPH_FILENAME, "kLabelsAsset": names.LABELS_ASSET,
              "kVocabularyAsset": names.VOCABULARY_ASSET}
    assert cpp == python


def test_list_shows_what_inspect_reads(binary, lookup):
    result = run_program(binary, lookup, "--list")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # TensorFlow's start-up log lines are filtered out
    listed = re.findall(r"(inputs|outputs)\['(\w+)'\] (\w+) (\[[^\]]*\]) \(([^)]+)\)", result.stdout)
    record = inspect_saved_model(lookup).meta_graphs[0]
    expected = []
    for signature in record.signatures:
        for role, tensors in (("inputs", signature.inputs), ("outputs", signature.outputs)):
            for t in tensors:
                dims = ",".join("?" if d is None else str(d) for d in t.shape)
                expected.append((role, t.key, t.dtype, f"[{dims}]", t.name))
    assert listed == expected
    assert re.findall(r"signature '(\w+)'", result.stdout) == [LOOKUP_SIGNATURE, names.DEFAULT_SIGNATURE_KEY]
    assert f"assets: {names.VOCABULARY_ASSET}" in result.stdout


def test_hello_outputs_equal_python(binary, hello):
    path, images = hello
    comparison = compare_cpp_python(path, {"x": images}, binary=binary)
    assert set(comparison.cpp) == {"logits", "probabilities"}
    probabilities = comparison.cpp["probabilities"]
    assert probabilities.shape == (8, 10) and probabilities.dtype == np.float32
    assert comparison.max_abs_diff <= 1e-6
    np.testing.assert_array_equal(comparison.cpp["probabilities"].argmax(1),
                                  comparison.python["probabilities"].argmax(1))
    table = format_comparison(comparison, class_names=[f"class {i}" for i in range(10)])
    assert "max |C++ - Python|" in table and len(table.splitlines()) == 2 * (2 + len(images))
    first_row = table.splitlines()[2].split()
    predicted = f"class {comparison.python['logits'][0].argmax()}"
    assert " ".join(first_row[1:3]) == predicted and " ".join(first_row[4:6]) == predicted


def test_printed_outputs_and_latency(binary, hello, tmp_path):
    path, images = hello
    np.save(tmp_path / "x.npy", images[:1])
    printed = run_program(binary, path, "--input", f"x={tmp_path / 'x.npy'}", "--output", "probabilities")
    assert printed.returncode == 0, printed.stderr
    line = next(line for line in printed.stdout.splitlines() if line.startswith("probabilities "))
    header, values = line.split(":", 1)
    assert header == "probabilities float32 [1,10]"
    with load_saved_model(path) as loaded:
        expected = run_signature(loaded, {"x": images[:1]})["probabilities"]
    np.testing.assert_allclose(np.array(values.split(), np.float32), expected[0], atol=1e-6, rtol=0)

    timed = run_cpp(path, {"x": images[:1]}, binary=binary, repeat=50)
    assert timed.latency.runs == 50
    assert 0 < timed.latency.p50_us <= timed.latency.p90_us <= timed.latency.p99_us
    assert timed.peak_rss_mb > 10
    np.testing.assert_allclose(timed.outputs["probabilities"], expected, atol=1e-6, rtol=0)


def test_strings_and_ints_both_ways(binary, lookup):
    words = ["dog", "zebra", "cat", "bird", "fish"]
    shift = np.array([1, 0, 10, -4, 0], np.int32)
    comparison = compare_cpp_python(lookup, {"words": np.array(words), "shift": shift}, binary=binary)
    ids, shifted, shifted_words, vectors = lookup_expected(words, shift)
    cpp = comparison.cpp
    np.testing.assert_array_equal(cpp["ids"], ids)
    assert cpp["ids"].dtype == np.int64
    np.testing.assert_array_equal(cpp["shifted"], shifted)
    assert list(cpp["shifted_words"]) == shifted_words
    assert list(cpp["upper"]) == [w.upper().encode() for w in words]
    np.testing.assert_allclose(cpp["vectors"], vectors, atol=1e-7)
    assert comparison.max_abs_diff == 0.0


def test_raw_string_inputs(binary, lookup):
    result = run_program(binary, lookup, "--signature", LOOKUP_SIGNATURE, "--text", "words=fish",
                         "--text", "words=ant", "--text", "words=cat")
    assert result.returncode == 0, result.stderr
    expected_ids = f"{VOCABULARY.index('fish')} {len(VOCABULARY)} {VOCABULARY.index('cat')}"
    assert f"ids int64 [3]: {expected_ids}" in result.stdout
    unicode_words = np.array(["d\u00f6g", "dog"])  # numpy 'U' strings go in as UTF-8
    out = run_cpp(lookup, {"words": unicode_words, "shift": np.zeros(2, np.int32)}, binary=binary)
    assert list(out.outputs["upper"]) == ["D\u00f6G".encode(), b"DOG"]
    assert list(out.outputs["ids"]) == [len(VOCABULARY), VOCABULARY.index("dog")]


# -- bad input: the program ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, hello):
    directory = tmp_path_factory.mktemp("bad")
    shutil.copytree(hello[0], directory / "bad_variables")
    data_file = next((directory / "bad_variables" / names.VARIABLES_DIRECTORY).glob("variables.data-*"))
    data_file.write_bytes(data_file.read_bytes()[:100])
    np.save(directory / "x.npy", np.zeros((1, 28, 28), np.float32))
    np.save(directory / "x64.npy", np.zeros((1, 28, 28), np.float64))
    np.save(directory / "x_shape.npy", np.zeros((1, 28, 27), np.float32))
    (directory / "truncated.npy").write_bytes((directory / "x.npy").read_bytes()[:200])
    (directory / "not_npy.npy").write_bytes(b"hello, not numpy")
    corrupt = directory / "corrupt_model"
    corrupt.mkdir()
    (corrupt / names.SAVED_MODEL_FILENAME_PB).write_bytes(b"\x0a\xff\xff garbage")
    (directory / "empty_model").mkdir()
    return directory


BAD_RUNS = [
    (["{missing}", "--list"], "SavedModel directory does not exist"),
    (["{bad}/empty_model", "--list"], "no saved_model.pb in the directory"),
    (["{bad}/corrupt_model", "--list"], "corrupt SavedModel file"),
    (["{bad}/bad_variables", "--list"], "bad_variables: cannot load SavedModel: "),
    (["{hello}", "--tags", "serve,gpu", "--list"], "no MetaGraph with tag set 'serve,gpu'; known: 'serve'"),
    (["{hello}", "--signature", "classify", "--input", "x={bad}/x.npy"],
     "no signature 'classify'; known: serving_default"),
    (["{hello}", "--input", "y={bad}/x.npy"], "signature 'serving_default': no input 'y'; known: x"),
    (["{hello}"], "missing input 'x' (float32 [?,28,28])"),
    (["{hello}", "--input", "x={bad}/x64.npy"], "input 'x': expected dtype float32, got float64"),
    (["{hello}", "--input", "x={bad}/x_shape.npy"], "input 'x': expected shape [?,28,28], got [1,28,27]"),
    (["{hello}", "--input", "x={bad}/truncated.npy"], "truncated .npy data"),
    (["{hello}", "--input", "x={bad}/not_npy.npy"], "not a .npy file"),
    (["{hello}", "--input", "x={bad}/absent.npy"], "cannot open .npy file"),
    (["{hello}", "--input", "x={bad}/x.npy", "--output", "classes"],
     "no output 'classes'; known: logits, probabilities"),
    (["{hello}", "--repeat", "zero"], "--repeat: expected an integer >= 1, got 'zero'"),
    (["{lookup}", "--text", "words=a", "--text", "shift=1"],
     "input 'shift': expected dtype int32, got string"),
]


@pytest.mark.parametrize("args, message", BAD_RUNS, ids=[m for _, m in BAD_RUNS])
def test_bad_input_is_one_line_and_exit_2(binary, hello, lookup, bad_files, args, message):
    fill = {"missing": bad_files / "no_such_dir", "bad": bad_files, "hello": hello[0], "lookup": lookup}
    result = run_program(binary, *[arg.format(**fill) for arg in args])
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("graphkit-run: error: ") and message in lines[0]


DEFAULT = names.DEFAULT_SIGNATURE_KEY


@pytest.mark.parametrize("inputs, signature, message", [
    ({"y": np.zeros((1, 28, 28), np.float32)}, DEFAULT, "no input 'y'"),
    ({"x": np.zeros((1, 28, 28), np.float64)}, DEFAULT, "expected dtype float32, got float64"),
    ({"x": np.zeros((2, 28, 27), np.float32)}, DEFAULT, "expected shape [?,28,28], got [2,28,27]"),
    ({"x": np.zeros((1, 28, 28), np.float32)}, "classify", "no signature 'classify'"),
])
def test_run_cpp_raises_saved_model_error(binary, hello, inputs, signature, message):
    with pytest.raises(SavedModelError) as caught:
        run_cpp(hello[0], inputs, signature, binary=binary)
    assert message in str(caught.value)
    with pytest.raises(SavedModelError, match="no MetaGraph with tag set"):
        run_cpp(hello[0], {"x": np.zeros((1, 28, 28), np.float32)}, tags=["train"], binary=binary)


def test_cpp_error_line_takes_the_program_line():
    assert cpp_error_line("noise\ngraphkit-run: error: x: bad\n") == "x: bad"
    assert cpp_error_line("nothing here") == ""


# -- failed builds ------------------------------------------------------------------------------------
def test_failed_build_raises_and_leaves_no_binary(tmp_path, monkeypatch):
    source = tmp_path / "src"
    source.mkdir()
    (source / "broken.cc").write_text("int main() { return undefined_name; }\n")
    (source / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.16)\nproject(broken CXX)\n"
        "add_executable(graphkit-run broken.cc)\nadd_executable(graphkit-run-core broken.cc)\n")
    monkeypatch.setattr(cpp_build, "CPP_SOURCE_DIR", source)
    target = tmp_path / "build"
    with pytest.raises(BuildError, match="cmake build failed") as caught:
        build_cpp(str(target))
    assert "undefined_name" in str(caught.value)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == ["src"]

    (source / "CMakeLists.txt").write_text("cmake_minimum_required(VERSION 3.16)\nproject(broken CXX)\n"
                                           'message(FATAL_ERROR "no tensorflow here")\n')
    with pytest.raises(BuildError, match="cmake configure failed"):
        build_cpp(str(target))
    assert not target.exists()


def test_missing_compiler_is_a_build_error(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    with pytest.raises(BuildError, match="cmake: not found on PATH"):
        build_cpp(force=True)


# -- example and benchmark ---------------------------------------------------------------------------


def test_example_runs_in_cpp_and_matches_python(binary, tmp_path, capsys):
    example = load_script("examples/07_saved_model_cpp.py")
    assert example.main(["--quick", "--json", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["max_abs_diff"] <= 1e-6 and figures["classes_agree"] is True
    assert figures["export_dir"] == str(tmp_path / "saved_model")
    assert (tmp_path / "saved_model" / names.ASSETS_DIRECTORY / names.LABELS_ASSET).is_file()
    assert "probabilities: float32 [8, 10]" in out


def test_benchmark_reports_both_sides(binary, hello, capsys):
    benchmark = load_script("benchmarks/cpp_vs_python_latency.py")
    assert benchmark.main(["--saved-model", hello[0], "--repeat", "20", "--rounds", "1", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("cpp_p50_us", "python_p50_us", "ratio", "cpp_peak_rss_mb", "python_peak_rss_mb"):
        assert figures[key] > 0, key
    assert figures["ratio"] == pytest.approx(figures["cpp_p50_us"] / figures["python_p50_us"])
    assert figures["max_abs_diff"] <= 1e-6
    assert figures["cpp_p50_us"] <= figures["cpp_p99_us"]
    assert figures["python_p50_us"] <= figures["python_p99_us"]
