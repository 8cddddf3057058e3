"""Colour groups: boxes filled per group (device, XLA cluster ...), a legend, the CLI's --color-groups."""

import json

import pytest
from conftest import SVG, Drawing, build_training_model

from graphkit.cli import main as cli
from graphkit.errors import RenderError
from graphkit.viz import render
from graphkit.viz.style import DEFAULT_STYLE, GROUP_PALETTE

CPU, GPU0, GPU1 = "/device:CPU:0", "/device:GPU:0", "/device:GPU:1"


@pytest.fixture(scope="module")
def model():
    return build_training_model()


def _groups(model) -> dict:
    """x on the CPU, the hidden layer on GPU 0, the logits layer on GPU 1 (the rest unnamed)."""
    groups = {"x": CPU}
    for op in model.graph.get_operations():
        if op.name.startswith("model/hidden/"):
            groups[op.name] = GPU0
        elif op.name.startswith("model/logits/"):
            groups[op.name] = GPU1
    return groups


def _legend(drawing) -> dict:
    """group -> (fill, ops) read from the legend boxes."""
    entries = {}
    for title, node in drawing.nodes.items():
        if title.startswith("[legend] "):
            group, ops = drawing.texts(node)
            entries[group] = (drawing.fill(node), int(ops.split()[0]))
    return entries


def _peripheries(node) -> int:
    return sum(1 for el in node.iter() if el.tag in (SVG + "polygon", SVG + "path"))


def test_boxes_take_their_group_colour_and_the_legend_lists_the_groups(model, tmp_path):
    groups = _groups(model)
    render(model, str(tmp_path / "g.svg"), depth=2, color_groups=groups, color_title="device", fold_rules=())
    drawing = Drawing(tmp_path / "g.svg")

    legend = _legend(drawing)
    assert list(legend) == [CPU, GPU0, GPU1]  # natural order
    assert [fill for fill, _ in legend.values()] == list(GROUP_PALETTE[:3])
    assert legend[GPU0][1] == sum(group == GPU0 for group in groups.values())
    cluster = drawing.clusters["cluster_[legend]"]
    assert drawing.texts(cluster)[0] == "device"

    assert drawing.fill(drawing.nodes["x"]) == legend[CPU][0]
    assert drawing.fill(drawing.nodes["model/hidden/Relu"]) == legend[GPU0][0]
    assert drawing.fill(drawing.nodes["model/hidden/kernel"]) == legend[GPU0][0]  # a collapsed scope
    assert drawing.fill(drawing.nodes["model/logits/bias"]) == legend[GPU1][0]
    assert "device: " + GPU1 in drawing.tooltip(drawing.nodes["model/logits/bias"])
    # Ops without a group keep their kind's look.
    assert drawing.fill(drawing.nodes["labels"]) == DEFAULT_STYLE.boxes["placeholder"]["fillcolor"]
    assert drawing.fill(drawing.nodes["model/check"]) == DEFAULT_STYLE.boxes["op"]["fillcolor"]


def test_a_box_of_several_groups_takes_the_majority_and_is_marked_mixed(model, tmp_path):
    groups = _groups(model)
    render(model, str(tmp_path / "g.svg"), depth=0, color_groups=groups, color_title="device")
    drawing = Drawing(tmp_path / "g.svg")
    legend = _legend(drawing)
    hidden = sum(group == GPU0 for group in groups.values())
    logits = sum(group == GPU1 for group in groups.values())
    majority = GPU0 if hidden > logits else GPU1
    box = drawing.nodes["model"]
    assert drawing.fill(box) == legend[majority][0]
    assert "device: mixed (" in drawing.tooltip(box)
    assert _peripheries(box) == 2 and _peripheries(drawing.nodes["x"]) == 1


def test_color_groups_must_name_ops_of_the_graph(model, tmp_path):
    with pytest.raises(RenderError, match=r"none of its 1 ops is in the graph \(first: .nope.\)"):
        render(model, str(tmp_path / "g.dot"), color_groups={"nope": "a"})
    with pytest.raises(RenderError, match="color_groups: expected op name -> group as non-empty strings"):
        render(model, str(tmp_path / "g.dot"), color_groups={"x": 3})
    with pytest.raises(RenderError, match="color_groups: expected a mapping"):
        render(model, str(tmp_path / "g.dot"), color_groups=["x"])
    assert not (tmp_path / "g.dot").exists()


def test_cli_color_groups_file(model, capsys, tmp_path):
    graph_path = tmp_path / "graph.pb"
    graph_path.write_bytes(model.graph.as_graph_def().SerializeToString())
    groups = tmp_path / "groups.json"
    groups.write_text(json.dumps(_groups(model)))
    out = tmp_path / "g.svg"
    code = cli.main(["render", str(graph_path), "-o", str(out), "--depth", "2", "--no-fold-rules",
                     "--color-groups", str(groups), "--color-title", "device"])
    assert code == 0
    drawing = Drawing(out)
    assert list(_legend(drawing)) == [CPU, GPU0, GPU1]
    assert drawing.fill(drawing.nodes["model/hidden/Relu"]) == _legend(drawing)[GPU0][0]
    capsys.readouterr()

    groups.write_text("[1, 2]")
    code = cli.main(["render", str(graph_path), "-o", str(out), "--color-groups", str(groups)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{groups}: color_groups: expected a mapping" in err
