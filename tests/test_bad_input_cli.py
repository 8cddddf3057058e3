"""One line for every error: bad outputs, wrong kinds of input, CLI advice, help texts, small promises.

Each bad input checks the exit code (2), that stderr is one line, and that no
output file is left behind.
"""

from __future__ import annotations

import argparse
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from graphkit.cli.main import build_parser
from graphkit.cli.main import main as cli_main
from graphkit.graphs.saved_model import TensorRecord
from graphkit.graphs.step_stats import Lane, OpInterval, StepTrace
from graphkit.runtime.feeds import check_array

v1 = tf.compat.v1


@pytest.fixture(scope="module")
def graph_files(tmp_path_factory):
    """A frozen GraphDef (x -> y) and a GraphDef with a variable nothing initialises (x -> z)."""
    root = tmp_path_factory.mktemp("graphs")
    frozen = tf.Graph()
    with frozen.as_default():
        x = v1.placeholder(tf.float32, [None, 2], name="x")
        tf.identity(x * 2.0, name="y")
    with_variable = tf.Graph()
    with with_variable.as_default():
        x = v1.placeholder(tf.float32, [None, 2], name="x")
        w = v1.get_variable("w", initializer=np.ones((2, 2), np.float32))
        tf.matmul(x, w, name="z")
    paths = {"frozen": str(root / "frozen.pb"), "variable": str(root / "variable.pb")}
    for name, graph in (("frozen", frozen), ("variable", with_variable)):
        with open(paths[name], "wb") as stream:
            stream.write(graph.as_graph_def().SerializeToString())
    return paths


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A TF2 SavedModel with one variable: y = x * 3."""
    module = tf.Module()
    module.scale = tf.Variable(3.0)
    module.f = tf.function(lambda x: {"y": x * module.scale},
                           input_signature=[tf.TensorSpec([None], tf.float32)])
    path = str(tmp_path_factory.mktemp("sm") / "model")
    tf.saved_model.save(module, path, signatures=module.f)
    return path


def _bad(capsys, *argv, left=()):
    """Runs the CLI expecting a one-line error and exit 2, with nothing at the paths in `left`."""
    code = cli_main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith(f"graphkit {argv[0]}: error: "), err
    for path in left:
        assert not os.path.exists(path), path
    return err


# -- outputs that cannot be written ---------------------------------------------------------------
def test_trace_outputs_that_cannot_be_written(graph_files, tmp_path, capsys):
    frozen = graph_files["frozen"]
    err = _bad(capsys, "trace", frozen, "--fetch", "y", "--chrome", "/proc/x.json", left=["/proc/x.json"])
    assert "/proc/x.json: cannot write the --chrome file" in err
    err = _bad(capsys, "trace", frozen, "--fetch", "y", "--gantt", tmp_path)
    assert f"{tmp_path}: is a directory" in err and os.listdir(tmp_path) == []
    (tmp_path / "plain").write_text("a file")
    target = tmp_path / "plain" / "step.json"
    err = _bad(capsys, "trace", frozen, "--fetch", "y", "--chrome", target)
    assert "is not a directory" in err and sorted(os.listdir(tmp_path)) == ["plain"]


def test_trace_writers_raise_one_line_output_errors(tmp_path):
    from graphkit.errors import OutputError
    from graphkit.viz.chrome_trace import write_chrome_trace
    from graphkit.viz.gantt import write_gantt_svg

    device = "/job:localhost/replica:0/task:0/device:CPU:0"
    step = StepTrace(run=0, intervals=(OpInterval("a", "MatMul", device, 0, 0, 0, 10, ()),),
                     lanes=(Lane(device, 0, 0, "thread 0"),), memory=())
    with pytest.raises(OutputError, match=r"^/proc/t.json: cannot write the Chrome trace \("):
        write_chrome_trace([step], "/proc/t.json")
    with pytest.raises(OutputError, match="is a directory; the Gantt chart needs a file name"):
        write_gantt_svg(step, str(tmp_path))
    assert os.listdir(tmp_path) == [] and not os.path.exists("/proc/t.json")


def test_export_out_dir_checks_and_cli_advice(tmp_path, capsys):
    existing = tmp_path / "existing"
    existing.mkdir()
    err = _bad(capsys, "export", existing, "--model", "hello_mnist")
    assert "already exists; pass --overwrite to replace it" in err and "overwrite=True" not in err
    _bad(capsys, "export", "/proc/sm", "--model", "hello_mnist", left=["/proc/sm"])
    (tmp_path / "file").write_text("x")
    assert "is a file" in _bad(capsys, "export", tmp_path / "file", "--model", "hello_mnist")


def test_build_cpp_never_replaces_what_is_not_a_build(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert "is a file; --build-dir takes a directory of its own" in _bad(
        capsys, "build-cpp", "--build-dir", tmp_path / "notes.txt")
    err = _bad(capsys, "build-cpp", "--build-dir", tmp_path)
    assert "holds other files; give a new or empty directory" in err
    assert (tmp_path / "notes.txt").read_text() == "mine" and os.listdir(tmp_path) == ["notes.txt"]
    _bad(capsys, "build-cpp", "--build-dir", "/proc/cpp", left=["/proc/cpp"])


def test_render_refuses_formats_it_does_not_write(graph_files, tmp_path, capsys):
    err = _bad(capsys, "render", graph_files["frozen"], "-o", tmp_path / "x.jpg", left=[tmp_path / "x.jpg"])
    assert "unknown output format 'jpg'; known: svg, dot, png, pdf" in err
    err = _bad(capsys, "render", graph_files["frozen"], "-o", tmp_path / "x.svg", "--format", "png",
               left=[tmp_path / "x.svg"])
    assert "the suffix says svg, --format says png" in err


# -- the wrong kind of input ----------------------------------------------------------------------
def test_tags_and_signature_for_a_graph_def_are_errors(graph_files, tmp_path, capsys):
    frozen = graph_files["frozen"]
    for argv in (("analyze", frozen, "--signature", "serving_default"),
                 ("render", frozen, "-o", tmp_path / "g.svg", "--tags", "serve"),
                 ("trace", frozen, "--fetch", "y", "--tags", "serve"),
                 ("trace", frozen, "--fetch", "y", "--signature", "serving_default")):
        err = _bad(capsys, *argv, left=[tmp_path / "g.svg"])
        assert "--tags/--signature" in err


def test_does_not_exist_only_when_nothing_exists(saved_model, tmp_path, capsys):
    assert "SavedModel directory does not exist" in _bad(capsys, "inspect", tmp_path / "nowhere")
    not_a_dir = tmp_path / "model.pb"
    not_a_dir.write_bytes(b"anything")
    err = _bad(capsys, "inspect", not_a_dir)
    assert "is a file, not a SavedModel directory" in err and "does not exist" not in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "not a SavedModel directory (no saved_model.pb" in _bad(capsys, "inspect", empty)


def test_inspect_checks_the_variables_data_files(saved_model, tmp_path, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(saved_model, broken)
    (data_file,) = (broken / "variables").glob("variables.data-*")
    data_file.unlink()
    assert f"{data_file}: variables data file missing" in _bad(capsys, "inspect", broken)


def test_trace_feed_and_uninitialised_variable_hints(graph_files, tmp_path, capsys):
    err = _bad(capsys, "trace", graph_files["frozen"], "--fetch", "y", "--feed", f"x={tmp_path / 'no.npy'}")
    assert "--feed x=" in err and "cannot read" in err
    err = _bad(capsys, "trace", graph_files["variable"], "--fetch", "z")
    assert "reads variable w that nothing initialised or restored: pass --init-variables" in err
    assert "Container localhost" not in err
    np.save(tmp_path / "x.npy", np.ones((3, 2), np.float64))  # float64 into float32: rounds, allowed
    assert cli_main(["trace", graph_files["variable"], "--fetch", "z", "--init-variables",
                     "--feed", f"x={tmp_path / 'x.npy'}"]) == 0
    np.save(tmp_path / "bad.npy", np.ones((3, 5), np.float32))
    assert "expected shape x:0 [?,2] float32, got [3, 5]" in _bad(
        capsys, "trace", graph_files["frozen"], "--fetch", "y", "--feed", f"x={tmp_path / 'bad.npy'}")


# -- one feed checker -----------------------------------------------------------------------------
def test_one_feed_checker_for_placeholders_and_signature_inputs():
    from graphkit.errors import DTypeError

    graph = tf.Graph()
    with graph.as_default():
        placeholder = v1.placeholder(tf.int32, [None], name="ids")
    record = TensorRecord("ids", "ids:0", "int32", (None,))
    for tensor in (placeholder, record):
        assert check_array("ids", tensor, np.array([1, 2], np.int64)).dtype == np.int32  # values fit
        assert check_array("ids", tensor, np.array([1, 2], np.uint8)).dtype == np.int32  # safe cast
        with pytest.raises(DTypeError, match=r"ids: expected dtype int32 for ids:0 \[\?\] int32, got int64"):
            check_array("ids", tensor, np.array([2 ** 40], np.int64))  # would wrap
        with pytest.raises(DTypeError, match="got float32"):
            check_array("ids", tensor, np.array([1.5], np.float32))


# -- small promises -------------------------------------------------------------------------------
def test_version_and_every_option_has_help_with_its_default(capsys):
    with pytest.raises(SystemExit) as exited:
        cli_main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.startswith("graphkit ")
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = []
    for command, subparser in subparsers.choices.items():
        for action in subparser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            text = action.help or ""
            if not text or (action.option_strings and "default" not in text and "required" not in text):
                missing.append(f"{command} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, f"options without help or without their default: {missing}"


def test_resumed_fit_with_nothing_left_says_so_without_deprecation_warnings(blobs, tmp_path, capfd):
    from graphkit.models.hello_mnist import build_hello_mnist
    from graphkit.runtime.model_session import ModelSession

    images, labels = blobs
    arrays = {"x": images[:64], "labels": labels[:64]}
    checkpoints = str(tmp_path / "ckpt")
    with ModelSession(build_hello_mnist(seed=1), checkpoint_dir=checkpoints, max_to_keep=1) as session:
        session.fit(arrays, epochs=2, batch_size=32, progress=False)  # the second save removes the first
    with ModelSession(build_hello_mnist(seed=1), checkpoint_dir=checkpoints) as resumed:
        assert resumed.fit(arrays, epochs=2, batch_size=32) == []
    out, err = capfd.readouterr()
    assert "fit: nothing left to train: 2 epoch(s) done of the 2 asked for (resumed from " in out
    assert "deprecat" not in (out + err).lower()


def test_gantt_ticks_are_round_and_the_legend_names_op_colours():
    from graphkit.viz.gantt import gantt_svg, op_colour, round_ticks

    assert round_ticks(3.7) == ([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5], 1)
    assert round_ticks(98) == ([float(t) for t in range(0, 100, 10)], 0)
    assert round_ticks(0.0123)[1] == 3
    device = "/job:localhost/replica:0/task:0/device:CPU:0"
    intervals = (OpInterval("a", "MatMul", device, 0, 0, 0, 3000, ()),
                 OpInterval("b", "Relu", device, 0, 0, 3000, 3700, ("a",)))
    svg = gantt_svg(StepTrace(run=0, intervals=intervals, lanes=(Lane(device, 0, 0, "thread 0"),), memory=()))
    ticks = [line.split(">")[1].split("<")[0] for line in svg.splitlines() if 'class="tick"' in line]
    assert ticks == ["0.0 ms", "0.5 ms", "1.0 ms", "1.5 ms", "2.0 ms", "2.5 ms", "3.0 ms", "3.5 ms"]
    legend = svg.split('<g class="legend">')[1].split("</g>")[0]
    assert f'fill="{op_colour("MatMul")}"' in legend and "MatMul: 3.000 ms" in legend
    assert legend.index("MatMul") < legend.index("Relu: 0.700 ms")


def test_brent_figure_is_labelled_a_lower_bound():
    from graphkit.graphs.work_span import work_span
    from graphkit.viz.reports import format_work_span

    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [2], name="x")
        tf.add(tf.sin(x), tf.cos(x), name="out")
    text = format_work_span(work_span(graph.as_graph_def(), ["out"]), [2])
    assert "Brent lower bound" in text and "Brent speedup" not in text


def test_graphkit_run_creates_its_output_dir(saved_model, cpp_binary, tmp_path):
    np.save(tmp_path / "x.npy", np.array([1.0, 2.0], np.float32))
    target = tmp_path / "new" / "deeper"
    result = subprocess.run([cpp_binary, saved_model, "--input", f"x={tmp_path / 'x.npy'}",
                             "--output-dir", str(target)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.load(target / "y.npy"), [3.0, 6.0])
