"""benchmarks/nmt_vs_eager.py: its data preparation, tutorial-style batches, BLEU and figures.

No timing is asserted; the workers themselves are run by `make bench` (--quick).
"""

import importlib.util
import os
import sys
import types
import zipfile

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def bench():
    path = os.path.join(ROOT, "benchmarks", "nmt_vs_eager.py")
    spec = importlib.util.spec_from_file_location("nmt_vs_eager", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["nmt_vs_eager"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules["nmt_vs_eager"]


@pytest.fixture
def corpus(tmp_path):
    words = ["hola", "casa", "perro", "gato", "¿donde?", "está", "el", "niño"]
    english = ["hello", "house", "dog", "cat", "where?", "is", "the", "child"]
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(40):
        picks = rng.integers(0, len(words), rng.integers(1, 5))
        lines.append(" ".join(english[i] for i in picks).capitalize() + ".\t"
                     + " ".join(words[i] for i in picks).capitalize() + ".")
    path = tmp_path / "spa-eng.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("spa-eng/spa.txt", "\n".join(lines) + "\n")
    return str(path)


def test_prepare_splits_and_encodes_the_training_pairs(bench, corpus, tmp_path):
    data = bench.prepare(corpus, 30, str(tmp_path / "vocabularies"))
    assert len(data.train) == 24 and len(data.validation) == 6
    assert len(data.source_ids) == len(data.target_ids) == 24
    assert all(ids[0] == 2 and ids[-1] == 3 for ids in data.source_ids + data.target_ids)
    assert data.max_source_length == max(map(len, data.source_ids))
    assert "nino" in data.source_vocab.ids and "child" in data.target_vocab.ids


def test_peer_batches_pad_to_the_longest_and_drop_the_remainder(bench, corpus, tmp_path):
    data = bench.prepare(corpus, 30, str(tmp_path))
    batches = bench.peer_batches(data, batch_size=5, seed=0)
    first_epoch = [next(batches) for _ in range(4)]  # 24 pairs: 4 batches of 5, 4 pairs dropped
    seen = set()
    for source, target, tokens in first_epoch:
        assert source.shape == (5, data.max_source_length) and target.shape == (5, data.max_target_length + 1)
        assert tokens == int(np.sum(np.count_nonzero(target, axis=1) - 1))
        seen |= {tuple(row) for row in source}
    assert len(seen) >= 15
    next_source, _, _ = next(batches)  # the next epoch starts over, in another order
    assert next_source.shape == (5, data.max_source_length)


def test_validation_ids_are_cut_like_the_training_ids(bench, corpus, tmp_path):
    data = bench.prepare(corpus, 30, str(tmp_path))
    sources, targets = bench.validation_ids(data, 4)
    assert len(sources) == len(targets) == 4
    assert all(len(ids) <= data.max_source_length and ids[-1] == 3 for ids in sources)
    assert all(len(ids) <= data.max_target_length + 1 and ids[0] == 2 for ids in targets)


def test_bleu_scores_exact_and_wrong_translations(bench):
    validation = [("Hola.", "Hello, my friend."), ("Es un gato grande.", "It is a big cat.")]
    assert bench.bleu(["hello , my friend .", "it is a big cat ."], validation) == pytest.approx(100.0)
    assert bench.bleu(["dog", "no"], validation) == pytest.approx(0.0)


def test_summary_figures(bench):
    args = types.SimpleNamespace(size="small", steps=10, warmup_steps=2, bleu_steps=100, bleu_pairs=50)
    throughput = {"graphkit": {"seconds": 2.0, "target_tokens": 3000, "peak_rss_mb": 800.0, "wall_s": 9.0},
                  "peer": {"seconds": 5.0, "target_tokens": 2900, "peak_rss_mb": 1000.0, "wall_s": 20.0}}
    quality = {"graphkit": {"bleu": 20.0, "beam_bleu": 21.5, "validation_loss": 2.0, "examples": ["a"],
                            "wall_s": 30.0},
               "peer": {"bleu": 19.0, "validation_loss": 2.1, "examples": ["b"], "wall_s": 40.0}}
    size = bench.SIZES["small"]
    summary = bench.summarize(args, throughput, quality, size, size)
    assert summary["graphkit_tokens_per_s"] == 1500.0 and summary["peer_tokens_per_s"] == 580.0
    assert summary["throughput_ratio"] == pytest.approx(1500 / 580)
    assert summary["graphkit_step_s"] == 0.2 and summary["peer_step_s"] == 0.5
    assert summary["peak_rss_ratio"] == 0.8
    assert summary["bleu_gap"] == 1.0 and summary["beam_gain"] == 1.5
    assert summary["steps"] == 10 and summary["peer_phase_wall_s"] == [20.0, 40.0]
    assert summary["graphkit_validation_loss"] == 2.0 and summary["peer_validation_loss"] == 2.1
