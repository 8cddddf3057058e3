"""`graphkit render` and bad input: one-line errors, exit code 2, no half-written output."""

import os
import shutil
import stat

import pytest
from conftest import Drawing, write_sources

from graphkit.cli import main as cli
from graphkit.cli import render as render_command
from graphkit.errors import RenderError
from graphkit.viz import render, walk


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    return write_sources(str(tmp_path_factory.mktemp("cli_sources")))


def _run(capsys, *argv):
    code = cli.main(["render", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_renders_a_saved_model(capsys, sources, tmp_path):
    target = tmp_path / "deep" / "model.svg"
    code, out, err = _run(capsys, sources["saved_model"], "-o", str(target), "--depth", "2",
                          "--hide", "save", "global_step", "--expand", "model/hidden/kernel")
    assert code == 0 and err == ""
    assert out.startswith(f"wrote {target} (svg): ") and len(out.strip().splitlines()) == 1
    drawing = Drawing(target)
    assert "cluster_model/hidden/kernel" in drawing.clusters
    assert "[input] x" in drawing.nodes and "global_step" not in drawing.nodes
    assert oct(stat.S_IMODE(os.stat(target).st_mode)) != oct(0o600)  # a normal file, not mkstemp's mode


def test_cli_format_from_suffix_and_flag(capsys, sources, tmp_path):
    code, _, _ = _run(capsys, sources["pb"], "-o", str(tmp_path / "g.png"))
    assert code == 0 and (tmp_path / "g.png").read_bytes().startswith(b"\x89PNG")
    code, _, _ = _run(capsys, sources["meta"], "-o", str(tmp_path / "g.out"), "--format", "pdf")
    assert code == 0 and (tmp_path / "g.out").read_bytes().startswith(b"%PDF")
    code, _, _ = _run(capsys, sources["pbtxt"], "-o", str(tmp_path / "g.dot"), "--prune-to", "probabilities")
    assert code == 0 and (tmp_path / "g.dot").read_text().startswith("digraph")


def _garbage(tmp_path):
    path = tmp_path / "garbage.pb"
    path.write_bytes(b"\x00\x01\x02 definitely not a graph")
    return str(path)


@pytest.mark.parametrize("case, message", [
    ("garbage", "garbage.pb: not a GraphDef, MetaGraph or SavedModel file"),
    ("not_saved_model", "not a SavedModel directory"),
    ("tags", "no MetaGraph with tags [gpu]; available tag sets: [serve], [train]"),
    ("signature", "no signature 'predict'; available signatures: logits, serving_default"),
    ("expand", "expand: 'model/hiden' is not a scope of the graph; did you mean model/hidden,"),
    ("hide", "hide: no scope or op named 'nope'"),
    ("prune", "prune-to: no op, tensor or signature output named 'nope'"),
])
def test_cli_bad_input_is_one_line_exit_2_and_leaves_output_alone(capsys, sources, tmp_path, case, message):
    target = tmp_path / "out.svg"
    target.write_text("previous drawing")
    if case == "garbage":
        _garbage(tmp_path)
    argv = {
        "garbage": [str(tmp_path / "garbage.pb")],
        "not_saved_model": [str(tmp_path)],
        "tags": [sources["saved_model"], "--tags", "gpu"],
        "signature": [sources["saved_model"], "--signature", "predict"],
        "expand": [sources["pb"], "--expand", "model/hiden"],
        "hide": [sources["pb"], "--hide", "nope"],
        "prune": [sources["pb"], "--prune-to", "nope"],
    }[case]
    code, out, err = _run(capsys, *argv, "-o", str(target))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("graphkit render: error: ") and message in err
    assert target.read_text() == "previous drawing"
    assert sorted(os.listdir(tmp_path)) == sorted(["out.svg"] + (["garbage.pb"] if case == "garbage" else []))


def test_missing_dot_says_how_to_install_and_dot_output_still_works(capsys, sources, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty_bin"))
    code, _, err = _run(capsys, sources["pb"], "-o", str(tmp_path / "g.svg"))
    assert code == 2 and err.count("\n") == 1
    assert "Graphviz `dot` not found on PATH" in err and "apt-get install graphviz" in err
    assert not (tmp_path / "g.svg").exists()
    code, _, err = _run(capsys, sources["pb"], "-o", str(tmp_path / "g.gv"), "--format", "dot")
    assert code == 0 and (tmp_path / "g.gv").read_text().startswith("digraph")


def test_failing_dot_leaves_no_half_written_file(sources, tmp_path, monkeypatch):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake_dot = fake_bin / "dot"
    fake_dot.write_text("#!/bin/sh\nprintf '<svg partial'\n"
                        "echo 'Error: out of memory in layout' >&2\nexit 3\n")
    fake_dot.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "g.svg"
    target.write_text("previous drawing")
    with pytest.raises(RenderError, match=r"Graphviz `dot` failed \(3\): Error: out of memory in layout"):
        render(sources["pb"], str(target))
    assert target.read_text() == "previous drawing" and os.listdir(out_dir) == ["g.svg"]


def test_bad_format_and_options_fail_before_reading(tmp_path):
    with pytest.raises(RenderError, match="format: expected one of svg, dot, png, pdf, html, got 'jpg'"):
        render(str(tmp_path / "missing.pb"), str(tmp_path / "g.jpg"), format="jpg")
    with pytest.raises(RenderError, match="max_boxes: expected an integer >= 1, got 0"):
        render(str(tmp_path / "missing.pb"), str(tmp_path / "g.svg"), max_boxes=0)


def test_cli_budget_default_matches_the_walk():
    assert render_command.DEFAULT_MAX_BOXES == walk.DEFAULT_MAX_BOXES


def test_crashed_layout_is_retried_with_straight_edges(sources, tmp_path, monkeypatch):
    real_dot = shutil.which("dot")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake_dot = fake_bin / "dot"
    # Crashes like Graphviz 2.43 routing splines through deep clusters; straight edges lay out fine.
    fake_dot.write_text(f'#!/bin/sh\nsource=$(cat)\ncase "$source" in\n  *splines=line*) '
                        f'printf "%s" "$source" | {real_dot} "$@" ;;\n  *) kill -SEGV $$ ;;\nesac\n')
    fake_dot.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    result = render(sources["pb"], str(tmp_path / "g.svg"), depth=2)
    drawing = Drawing(tmp_path / "g.svg")
    assert len(drawing.nodes) == result.visible_nodes and "cluster_model" in drawing.clusters
