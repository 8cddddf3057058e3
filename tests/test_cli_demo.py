"""The `graphkit` CLI: help lists the subcommands, the demo runs end to end, errors are one line."""

import os
import re
import subprocess
import sys
from xml.etree import ElementTree

import pytest
import tensorflow as tf
from conftest import write_mnist_npz


def graphkit(*args, timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "graphkit", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_help_lists_each_subcommand_with_its_summary():
    from graphkit.cli.main import COMMANDS, build_parser

    done = graphkit("--help")
    assert done.returncode == 0
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    summaries = {choice.dest: choice.help for choice in subparsers._choices_actions}
    listed = dict(re.findall(r"^    ([a-z][a-z-]+)\s+(\S.*)$", done.stdout, re.M))
    assert set(listed) == {name.replace("_", "-") for name in COMMANDS}
    for command, summary in listed.items():
        assert summaries[command].startswith(summary.split("  ")[0][:30])


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    return write_mnist_npz(tmp_path_factory.mktemp("demo_data") / "mnist.npz")


def test_demo_trains_and_writes_graph_and_logs(tiny_npz, tmp_path):
    out = tmp_path / "out"
    done = graphkit("demo", "--dataset", "mnist", "--data", tiny_npz, "--epochs", "2", "--out", str(out),
                    "--no-translator")  # the translator step has its own test (test_example_translate)
    assert done.returncode == 0, done.stderr
    accuracy = float(done.stdout.split("test accuracy: ")[1].split()[0])
    assert accuracy > 0.9
    graph_def = tf.compat.v1.GraphDef.FromString((out / "hello_mnist.pb").read_bytes())
    assert {"x", "dense/kernel", "dense_1/kernel", "probabilities"} <= {node.name for node in graph_def.node}
    assert list((out / "logs").glob("events.out.tfevents.*"))
    assert (out / "checkpoints" / "checkpoint").exists()
    svg = ElementTree.parse(out / "hello_mnist.svg").getroot()
    titles = {element.text for element in svg.iter("{http://www.w3.org/2000/svg}title")}
    assert any(title and title.startswith("dense") for title in titles)
    assert (out / "saved_model" / "saved_model.pb").exists()
    differences = re.findall(r"max \|C\+\+ - Python\| = (\S+)", done.stdout)
    assert len(differences) == 2 and all(float(d) <= 1e-6 for d in differences)  # logits, probabilities


def test_demo_bad_data_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"not a zip file")
    done = graphkit("demo", "--data", str(bad), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "broken.npz" in done.stderr
