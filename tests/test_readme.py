"""The README runs as written: every Python block and every `graphkit ...` command.

The commands run in a sandbox directory that holds what `make demo` writes
(`out/hello_mnist.pb`, `out/checkpoints/`, `out/saved_model/`), trained on a
few generated images instead of the full dataset, plus the user files the
README names (`frozen.pb`, `graph.pb`, `graph.pbtxt`, `train.pb`, `placed.pb`,
`big.pb`, `groups.json`, `keras_model/`, small `.npy` arrays). The Python blocks run in README order in
one namespace, as a reader pasting them into one session would, with small
`x_train, y_train, x_test, y_test` arrays. A command followed in its block by
a line `graphkit CMD: error: ...` is the README showing an error: it must fail
with exit 2 and that one line.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from graphkit.cli.main import main as cli_main

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\w*)\s*$")
SHELL_LANGUAGES = ("", "sh", "bash", "shell", "console")
# Commands that set process-wide TensorFlow state read once per process (XLA flags): they run as
# `python -m graphkit ...` in a fresh process, as a user runs them, instead of in this test's process.
FRESH_PROCESS = ("xla",)


def readme_blocks() -> list[tuple[str, int, list[str]]]:
    """(language, line number of the first line, lines) of every fenced block of the README."""
    blocks, language, start, lines = [], None, 0, []
    for number, line in enumerate(README.read_text().splitlines(), start=1):
        fence = FENCE.match(line)
        if fence and language is None:
            language, start, lines = fence.group(1), number + 1, []
        elif line.startswith("```") and language is not None:
            blocks.append((language, start, lines))
            language = None
        elif language is not None:
            lines.append(line)
    return blocks


def graphkit_commands() -> list[tuple[int, list[str], str | None]]:
    """(line, argv after `graphkit`, the error line the README shows or None) of every command.

    A line is a command when it starts with `graphkit SUBCOMMAND` (or `$ graphkit ...`):
    output shown in a plain block (a table whose first column is "graphkit") is not.
    """
    from graphkit.cli.main import COMMANDS

    subcommands = {name.replace("_", "-") for name in COMMANDS} | {"--version", "--help"}
    commands = []
    for language, start, lines in readme_blocks():
        if language not in SHELL_LANGUAGES:
            continue
        index = 0
        while index < len(lines):
            number, text = start + index, lines[index]
            while text.rstrip().endswith("\\") and index + 1 < len(lines):
                index += 1
                text = text.rstrip()[:-1] + " " + lines[index].strip()
            index += 1
            text = text.strip().removeprefix("$ ")
            if not text.startswith("graphkit "):
                continue
            argv = shlex.split(text, comments=True)[1:]
            if not argv or argv[0] not in subcommands:
                continue
            following = lines[index].strip() if index < len(lines) else ""
            shown_error = following if following.startswith(f"graphkit {argv[0]}: error:") else None
            commands.append((number, argv, shown_error))
    return commands


def python_blocks() -> list[tuple[int, str]]:
    return [(start, "\n".join(lines)) for language, start, lines in readme_blocks() if language == "python"]


# -- the sandbox: what `make demo` writes, on small data ------------------------------------------
@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, blobs):
    from graphkit.graphs.write import write_graph_def
    from graphkit.models.hello_mnist import build_hello_mnist
    from graphkit.runtime.model_session import ModelSession
    from graphkit.serving.export import export_saved_model

    root = tmp_path_factory.mktemp("readme")
    images, labels = blobs
    model = build_hello_mnist(seed=1)
    write_graph_def(model.graph_def(), str(root / "out" / "hello_mnist.pb"))
    with ModelSession(model, checkpoint_dir=str(root / "out" / "checkpoints")) as session:
        session.fit({"x": images[:128], "labels": labels[:128]}, epochs=1, batch_size=32, progress=False)
        export_saved_model(session.session, model, str(root / "out" / "saved_model"), frozen=True)
    shutil.copy(root / "out" / "saved_model" / "frozen_graph.pb", root / "frozen.pb")
    for name in ("graph.pb", "train.pb", "big.pb"):
        shutil.copy(root / "out" / "hello_mnist.pb", root / name)
    # a user's colour groups for graph.pb: op name -> group label
    ops = [node.name for node in model.graph_def().node]
    (root / "groups.json").write_text(json.dumps({name: f"group {i % 2}" for i, name in enumerate(ops[:20])}))
    # a user's own training graph, fed by placeholders (no in-graph pipeline to load first)
    write_graph_def(build_hello_mnist(seed=2, in_graph_pipeline=False).graph_def(), str(root / "placed.pb"))
    from google.protobuf import text_format

    (root / "graph.pbtxt").write_text(text_format.MessageToString(model.graph_def()))
    np.save(root / "x.npy", images[:32])
    np.save(root / "labels.npy", labels[:32].astype(np.int32))
    np.save(root / "image.npy", images[:1])
    _keras_export(str(root / "keras_model"))
    np.save(root / "images.npy", np.random.default_rng(0).random((4, 8, 8, 1)).astype(np.float32))
    return root


def _keras_export(path: str) -> None:
    """A small Keras 3 CNN exported with model.export, as a user's `keras_model/`."""
    import keras

    inputs = keras.Input((8, 8, 1), name="image")
    hidden = keras.layers.Flatten()(keras.layers.Conv2D(4, 3, activation="relu")(inputs))
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden)).export(path, verbose=False)


@pytest.fixture
def in_sandbox(sandbox, monkeypatch, tmp_path):
    monkeypatch.chdir(sandbox)
    # Downloads cannot succeed here, as on a machine offline: the README's error example shows that case.
    monkeypatch.setenv("GRAPHKIT_DATA_CACHE", str(tmp_path / "empty_cache"))
    monkeypatch.setenv("GRAPHKIT_DATA_MIRROR", (tmp_path / "no_mirror").as_uri() + "/")
    return sandbox


def test_the_readme_has_commands_and_python():
    commands = graphkit_commands()
    assert len(commands) >= 20 and len(python_blocks()) >= 4
    assert {argv[0] for _, argv, _ in commands} >= {"render", "analyze", "trace", "export", "inspect", "data"}


@pytest.mark.parametrize("line, argv, shown_error", graphkit_commands(),
                         ids=[f"line{line}-{argv[0]}" for line, argv, _ in graphkit_commands()])
def test_readme_command_runs_as_written(in_sandbox, capsys, line, argv, shown_error):
    system_copy = os.path.isdir("/usr/share/datasets/fashion-mnist")
    if argv[:1] == ["data"] and shown_error is None and not system_copy:
        pytest.skip("graphkit data needs Debian's dataset-fashion-mnist here (no download in tests)")
    if argv[0] in FRESH_PROCESS:
        result = subprocess.run([sys.executable, "-m", "graphkit", *argv], capture_output=True, text=True,
                                env={**os.environ, "PYTHONPATH": str(README.parent)})
        code, out, err = result.returncode, result.stdout, result.stderr
    else:
        code = cli_main(argv)
        out, err = capsys.readouterr()
    if shown_error is None:
        assert code == 0, f"README line {line}: graphkit {' '.join(argv)}\n{err}"
        assert out.strip(), f"README line {line}: printed nothing"
    else:
        # the error is one line, the last; progress notes ("downloading ...") may come before it
        expected_start = ":".join(shown_error.split(":")[:3])  # "graphkit data: error: mnist"
        assert code == 2 and err.strip().splitlines()[-1].startswith(expected_start), err


def test_readme_python_blocks_run_in_order(in_sandbox, blobs):
    images, labels = blobs
    namespace = {"__name__": "readme", "x_train": images[:96], "y_train": labels[:96],
                 "x_test": images[96:160], "y_test": labels[96:160]}
    for start, source in python_blocks():
        if "load_dataset(" in source and not os.path.isdir("/usr/share/datasets/fashion-mnist"):
            continue  # the dataset block reads the real dataset; it is there only with Debian's package
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            try:
                exec(compile(source, f"README.md:{start}", "exec"), namespace)
            except Exception as err:  # noqa: BLE001 - the failure names the README line
                raise AssertionError(f"README python block at line {start}: "
                                     f"{type(err).__name__}: {err}") from err
        assert printed.getvalue().strip() or "print(" not in source, f"block at line {start} printed nothing"
    assert isinstance(namespace["model"].graph, tf.Graph)
    assert os.path.isfile("out/hello_mnist.svg") or shutil.which("dot") is None
