"""`--format html`: one offline page, driven in Debian's headless Chromium: a click opens a scope."""

import re
import shutil
import subprocess
import urllib.parse

import pytest
from conftest import build_training_model

from graphkit.cli import main as cli
from graphkit.viz import render

BODY = re.compile(r"<body([^>]*)>")
ATTR = re.compile(r'data-([a-z-]+)="([^"]*)"')
PATH = re.compile(r'data-path="([^"]*)"')


def dump_dom(page, tmp_path, expand=()) -> tuple[dict, set]:
    """Opens `page` in headless Chromium (clicking the scopes `expand` in turn); the <body>'s data-*
    attributes the page's script set, and the scope paths drawn."""
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: make setup installs it (scripts/install_system_deps.sh)"
    url = page.resolve().as_uri()
    if expand:
        url += "#" + urllib.parse.urlencode({"expand": ",".join(expand)})
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True, text=True, timeout=180, check=True)
    body = BODY.search(done.stdout)
    assert body, done.stdout[:500]
    return dict(ATTR.findall(body.group(1))), set(PATH.findall(done.stdout))


@pytest.fixture(scope="module")
def model():
    return build_training_model()


def test_html_is_one_offline_file(model, tmp_path):
    result = render(model, str(tmp_path / "g.html"), max_boxes=8)
    text = (tmp_path / "g.html").read_text()
    assert result.format == "html" and text.startswith("<!DOCTYPE html>")
    assert not re.search(r"<link|\ssrc=|\shref=|@import|url\(", text)
    assert set(re.findall(r"https?://[^\"'\s)]+", text)) == {"http://www.w3.org/2000/svg"}
    assert '"model/hidden/MatMul"' in text or '"model/hidden/matmul"' in text.lower()


def test_clicking_a_scope_in_chromium_draws_its_contents(model, tmp_path):
    page = tmp_path / "g.html"
    result = render(model, str(page), max_boxes=8)
    assert "model" not in result.expanded
    before, paths = dump_dom(page, tmp_path)
    assert before["ready"] == "1" and float(before["open-ms"]) > 0
    assert "model" in paths and "model/hidden" not in paths

    after, opened = dump_dom(page, tmp_path, expand=["model"])
    assert after["expanded"] == "model" and float(after["expand-ms"]) >= 0
    assert {"model/hidden", "model/logits"} <= opened
    assert int(after["nodes"]) > int(before["nodes"])

    deeper, inner = dump_dom(page, tmp_path, expand=["model", "model/hidden"])
    assert deeper["expanded"].split("\n") == ["model", "model/hidden"]
    assert int(deeper["nodes"]) > int(after["nodes"]) and "model/hidden/kernel" in inner


def test_cli_writes_html_without_graphviz_options(model, tmp_path, capsys):
    graph_path = tmp_path / "graph.pb"
    graph_path.write_bytes(model.graph.as_graph_def().SerializeToString())
    out = tmp_path / "view.html"
    assert cli.main(["render", str(graph_path), "-o", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} (html): ")
    assert "<svg id=\"canvas\"" in out.read_text()
