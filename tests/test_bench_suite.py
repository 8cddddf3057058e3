"""`make bench`'s runner: targets read from each benchmark's JSON, verdicts, failures."""

import os
import subprocess
import sys

import pytest
from conftest import load_script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS_DIR = os.path.join(ROOT, "benchmarks")


suite = load_script("benchmarks/suite.py")
runner = load_script("benchmarks/run_suite.py")


def test_every_entry_names_an_existing_script_with_valid_targets():
    scripts = [benchmark.script for benchmark in suite.BENCHMARKS]
    assert len(scripts) == len(set(scripts))
    for benchmark in suite.BENCHMARKS:
        assert os.path.isfile(os.path.join(BENCHMARKS_DIR, benchmark.script)), benchmark.script
        assert benchmark.targets, f"{benchmark.script} checks no target"
        for target in benchmark.targets:
            assert target.op in runner.COMPARE, target


def test_every_benchmark_script_is_in_the_suite():
    on_disk = {name for name in os.listdir(BENCHMARKS_DIR)
               if name.endswith(".py") and name not in {"suite.py", "run_suite.py"}
               and not name.startswith("_")}
    helpers = {name for name in on_disk
               if "__main__" not in open(os.path.join(BENCHMARKS_DIR, name)).read()}
    assert on_disk - helpers <= {benchmark.script for benchmark in suite.BENCHMARKS}


def test_figures_and_verdicts():
    figures = {"speedup": 2.5, "nested": {"svg_s": 12.0}, "flag": True}
    assert runner.figure(figures, "nested.svg_s") == 12.0
    assert runner.figure(figures, "nested.missing") is None
    assert runner.verdict(suite.Target("speedup", ">=", 2.0, ""), 2.5) == "met"
    assert runner.verdict(suite.Target("nested.svg_s", "<", 10.0, ""), 12.0) == "MISSED"
    assert runner.verdict(suite.Target("flag", ">=", 1.0, ""), True) == "no figure"
    assert runner.verdict(suite.Target("speedup", "<=", 1.0, ""), None) == "no figure"


@pytest.mark.parametrize("body, status", [
    ("import json; print('table'); print(json.dumps({'x': 3.0, 'y': 0.5}))", "ok"),
    ("import sys; print('boom', file=sys.stderr); sys.exit(3)", "failed (exit 3): boom"),
    ("print('no json here')", "failed: its last line is not a JSON object"),
])
def test_run_benchmark_reads_the_last_json_line(tmp_path, monkeypatch, body, status):
    script = tmp_path / "fake_bench.py"
    script.write_text(f"import sys\nassert sys.argv[1:] == ['--quick', '--json'], sys.argv\n{body}\n")
    monkeypatch.setattr(runner, "HERE", str(tmp_path))
    result = runner.run_benchmark(suite.Benchmark(
        "fake_bench.py", ("--quick",),
        (suite.Target("x", ">=", 2.0, "x"), suite.Target("y", "<=", 0.1, "y"))))
    assert result["status"] == status
    if status == "ok":
        assert [row["verdict"] for row in result["targets"]] == ["met", "MISSED"]
        assert [row["measured"] for row in result["targets"]] == [3.0, 0.5]
    else:
        assert all(row["verdict"] == status for row in result["targets"])


def test_unknown_only_is_one_line_and_exit_2():
    done = subprocess.run([sys.executable, os.path.join(BENCHMARKS_DIR, "run_suite.py"), "--only", "nope.py"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no benchmark ['nope.py']" in done.stderr
