"""examples/06_xla.py at a small size, as a subprocess: its table, and its JSON figures
(XLA's outputs against the plain graph's)."""

import json
import os
import subprocess
import sys

import pytest

EXAMPLE = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "06_xla.py")
SMALL = ["--size", "20000", "--batch-size", "16", "--steps", "3", "--repeats", "2", "--units", "16",
         "--sentence-length", "4", "--json"]


@pytest.fixture(scope="module")
def small_run():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, EXAMPLE, *SMALL], capture_output=True, text=True, env=env,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_json_figures_compare_every_variant_with_the_plain_graph(small_run):
    figures = json.loads(small_run.strip().splitlines()[-1])
    assert figures["size"] == 20000 and figures["batch_size"] == 16
    chain_variants = {"plain", "jit_scope", "function"}
    assert set(figures["chain_ms"]) == set(figures["chain_max_rel_diff"]) == chain_variants
    assert set(figures["train_step_ms"]) == {"none", "step", "dropout", "loss", "adam"}
    assert set(figures["translator_step_ms"]) == {"none", "session"}
    for group in ("chain_ms", "train_step_ms", "translator_step_ms"):
        assert all(ms > 0 for ms in figures[group].values()), group
    # The plain graph against itself is exact; compiled variants agree to float32 rounding.
    assert figures["chain_max_rel_diff"]["plain"] == 0.0
    assert max(figures["chain_max_rel_diff"].values()) < 1e-5
    assert max(figures["train_max_rel_diff"].values()) < 1e-5
    assert max(figures["translator_max_rel_diff"].values()) < 1e-4


def test_table_has_a_row_per_variant(small_run):
    lines = small_run.splitlines()
    assert "element-wise chain: 16 ops over 20,000 float32" in lines
    rows = {line.split()[0] for line in lines if line and line.split()[0] in
            {"plain", "jit_scope", "function", "none", "step", "dropout", "loss", "adam", "session"}}
    assert rows == {"plain", "jit_scope", "function", "none", "step", "dropout", "loss", "adam", "session"}
    speedups = [float(line.split()[2]) for line in lines if line.startswith(("plain ", "none "))]
    assert speedups == [1.0, 1.0, 1.0]  # each table's reference row is its own baseline
