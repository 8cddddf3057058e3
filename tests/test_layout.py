"""The package layout: imports point one way, and the CLI parses without TensorFlow.

Layers, lowest first; a module may import its own layer and lower ones only.
`graphs` and `nn` import no `runtime`; `viz` opens no Session; nothing imports `cli`.
"""

import ast
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "graphkit"

LAYERS = (
    {"errors", "constants", "files", "quiet", "tf_private"},
    {"nn", "data"},
    {"models"},
    {"graphs"},
    {"runtime"},
    {"viz", "serving"},
    {"cli"},
)
RANK = {room: rank for rank, rooms in enumerate(LAYERS) for room in rooms}


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "graphkit" and len(parts) > 1 else None


def _imports(path: pathlib.Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "graphkit":
                for alias in node.names:
                    yield node.lineno, f"graphkit.{alias.name}"
            else:
                yield node.lineno, node.module


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        yield path, ".".join(relative.parts)


def test_every_module_lives_in_a_known_room():
    rooms = {_room(module) for _, module in _modules()} - {None, "__init__", "__main__"}
    assert rooms <= set(RANK), f"modules outside the layout: {sorted(rooms - set(RANK))}"


def test_imports_point_from_higher_layers_to_lower_ones():
    upward = []
    for path, module in _modules():
        room = _room(module)
        if room not in RANK:
            continue
        for line, imported in _imports(path):
            target = _room(imported)
            if target in RANK and RANK[target] > RANK[room]:
                upward.append(f"{module}:{line} imports {imported}")
    assert not upward, "imports pointing up the layers:\n" + "\n".join(upward)


def test_viz_and_graphs_open_no_session():
    offenders = []
    for path, module in _modules():
        if _room(module) in {"viz", "graphs", "nn", "data", "models"}:
            source = path.read_text()
            for needle in ("Session(", "Server("):
                if needle in source:
                    offenders.append(f"{module} calls {needle}")
    assert not offenders, offenders


def test_layer_test_catches_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from graphkit.runtime.model_session import ModelSession\n")
    imports = list(_imports(bad))
    assert RANK[_room(imports[0][1])] > RANK["graphs"]


@pytest.mark.parametrize("argv", [["--help"], ["render", "--help"], ["trace", "--help"], ["--version"]])
def test_cli_help_imports_no_tensorflow(argv):
    code = ("import sys\nfrom graphkit.cli.main import build_parser\n"
            f"try:\n    build_parser().parse_args({argv!r})\nexcept SystemExit as stop:\n"
            "    assert stop.code == 0, stop.code\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_help_lists_every_subcommand_module():
    from graphkit.cli import main

    parser = main.build_parser()
    subcommands = next(action for action in parser._actions if action.dest == "command")
    assert set(subcommands.choices) == {name.replace("_", "-") for name in main.COMMANDS}
    modules = {path.stem for path in (PACKAGE / "cli").glob("*.py")} - {"__init__", "main"}
    assert modules == set(main.COMMANDS), "every graphkit/cli module is a subcommand listed in COMMANDS"
