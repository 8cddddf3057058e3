"""examples/08_translate.py and the demo's translator step, end to end on a tiny made-up corpus."""

import json
import os
import subprocess
import sys

import pytest
from conftest import invented_pairs, load_script

from graphkit.cli.demo import translate_demo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "08_translate.py")


@pytest.fixture(scope="module")
def spa_txt(tmp_path_factory):
    """A spa.txt of invented pairs, in the corpus's `english<TAB>spanish` lines."""
    path = tmp_path_factory.mktemp("corpus") / "spa.txt"
    path.write_text("".join(f"{english}\t{source}\n" for source, english in invented_pairs(60, seed=3)),
                    encoding="utf-8")
    return str(path)


def run_example(out, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, EXAMPLE, "--out", str(out), "--json", *args],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(done.stdout.strip().splitlines()[-1])


def test_example_trains_exports_and_draws(spa_txt, tmp_path):
    out = tmp_path / "translator"
    text, figures = run_example(out, "train", "--data", spa_txt, "--quick", "--epochs", "3")
    assert figures["pairs"] == 60 and figures["epochs"] == 3 and figures["validation_pairs"] == 12
    assert figures["steps"] == 3 * 2 and 0.0 <= figures["greedy_bleu"] <= 100.0
    assert "BLEU-4 on 12 validation pairs" in text
    assert sorted(os.listdir(out)) == ["checkpoints", "config.json", "source_vocabulary.txt",
                                       "target_vocabulary.txt", "validation.tsv"]
    _, figures = run_example(out, "export", "--cpp")
    assert figures["sentences"] == 12
    assert figures["serving_default_same"] == figures["greedy_same"] == 12
    _, figures = run_example(out, "heatmap", "tac eht .")
    assert [os.path.basename(path) for path in figures["files"]] == ["attention.png", "attention.svg"]
    assert all(os.path.getsize(path) > 1000 for path in figures["files"])


def test_example_without_a_trained_model_is_one_line(tmp_path, capsys):
    example = load_script("examples/08_translate.py")  # in this process: no second TensorFlow start-up
    assert example.main(["--out", str(tmp_path), "translate", "hola"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("08_translate: error: ") and error.count("\n") == 1 and "config.json" in error


def test_demo_translator_step(spa_txt, tmp_path, capsys):
    figures = translate_demo(str(tmp_path), spa_txt, pairs=60, epochs=2, shown=4)
    printed = capsys.readouterr().out
    assert figures["translator_sentences"] == 6 + 4  # 10% held out of 60, and the 4 shown
    assert figures["translator_cpp_same"] == figures["translator_sentences"]
    assert "Python | graphkit-run | reference" in printed and printed.count("trained ") >= 2
    assert os.path.isfile(os.path.join(tmp_path, "translator", "saved_model", "saved_model.pb"))


def test_demo_translator_step_without_data_is_skipped(tmp_path, capsys):
    assert translate_demo(str(tmp_path), str(tmp_path / "missing.zip")) == {}
    assert "translator skipped: " in capsys.readouterr().out
