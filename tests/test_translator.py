"""The translator: learns a made-up language exactly, padding-invariant loss, export, C++, bad input.

The corpus is invented and reversible: each "Spanish" sentence is its English
sentence's words spelled backwards, in reverse order ("the big cat ." <->
"tac gib eht ."), so the attention has to learn an anti-diagonal alignment.
"""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from conftest import invented_pairs

from graphkit.data.spa_eng import preprocess
from graphkit.data.vocabulary import build_vocabulary, decode, encode, write_vocabulary
from graphkit.errors import ArgumentError, CheckpointError, ModelError, SavedModelError
from graphkit.models.translator import (
    GREEDY_SIGNATURE,
    SOURCE_VOCABULARY_FILE,
    TARGET_VOCABULARY_FILE,
    TranslatorConfig,
    build_translator_inference,
    build_translator_training,
)
from graphkit.runtime.model_session import ModelSession
from graphkit.runtime.saved_model import load_saved_model, run_signature
from graphkit.runtime.translation import open_translator, train_translator, translate
from graphkit.serving.cpp_build import build_cpp
from graphkit.serving.cpp_run import compare_cpp_python, run_cpp
from graphkit.serving.export import export_saved_model

v1 = tf.compat.v1

MAX_SOURCE_LENGTH = 8


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("translator"))
    pairs = invented_pairs()
    source = [preprocess(s) for s, _ in pairs]
    target = [preprocess(t) for _, t in pairs]
    source_vocab, target_vocab = build_vocabulary(source), build_vocabulary(target)
    write_vocabulary(source_vocab, os.path.join(directory, SOURCE_VOCABULARY_FILE))
    write_vocabulary(target_vocab, os.path.join(directory, TARGET_VOCABULARY_FILE))
    config = TranslatorConfig(len(source_vocab), len(target_vocab), embedding_dim=16, units=32,
                              learning_rate=0.01, max_source_length=MAX_SOURCE_LENGTH, max_target_length=8,
                              beam_width=3)
    return {"directory": directory, "pairs": pairs, "config": config,
            "source_vocab": source_vocab, "target_vocab": target_vocab,
            "source_ids": [encode(source_vocab, s) for s in source],
            "target_ids": [encode(target_vocab, t) for t in target]}


@pytest.fixture(scope="module")
def trained(corpus):
    """Trains until the loss is small (80 epochs of 5 steps); returns the checkpoint directory."""
    checkpoint_dir = os.path.join(corpus["directory"], "checkpoints")
    model = build_translator_training(corpus["config"], seed=1)
    with ModelSession(model, checkpoint_dir=checkpoint_dir) as ms:
        reports = train_translator(ms, corpus["source_ids"], corpus["target_ids"], epochs=80, batch_size=8,
                                   seed=1, checkpoint_every=1000)
    assert len(reports) == 80 and reports[-1].steps == 5 and reports[-1].target_tokens == sum(
        len(ids) - 1 for ids in corpus["target_ids"])
    assert reports[-1].loss < reports[0].loss / 10
    return checkpoint_dir


@pytest.fixture(scope="module")
def inference(corpus):
    directory = corpus["directory"]
    return build_translator_inference(corpus["config"], os.path.join(directory, SOURCE_VOCABULARY_FILE),
                                      os.path.join(directory, TARGET_VOCABULARY_FILE))


@pytest.fixture(scope="module")
def exported(corpus, trained, inference):
    with open_translator(inference, trained) as ms:
        return export_saved_model(ms.session, inference.model, os.path.join(corpus["directory"], "export"),
                                  signatures={GREEDY_SIGNATURE: inference.signatures[GREEDY_SIGNATURE]})


@pytest.fixture(scope="session")
def binary():
    return build_cpp()


def expected_english(pairs):
    return [" ".join(preprocess(english).split()[1:-1]) for _, english in pairs]


BAD_INPUTS = ["", "zzz qqq xxx", "tac " * 30, b"\xff\xfe\xc3", "¿TAC?  ¡god!"]


def test_learns_the_training_pairs_exactly(corpus, trained, inference):
    sentences = [source for source, _ in corpus["pairs"]]
    with open_translator(inference, trained) as ms:
        beam = translate(ms, inference, sentences)
        greedy = translate(ms, inference, sentences, signature="greedy")
    assert list(beam["translations"]) == expected_english(corpus["pairs"])
    assert list(greedy["translations"]) == expected_english(corpus["pairs"])
    # The in-graph tokeniser sees what the Python preprocessing sees, line by line.
    expected_lengths = [len(ids) for ids in corpus["source_ids"]]
    assert list(beam["source_length"]) == expected_lengths
    # output_length counts the words and <end>; attention rows sum to 1 up to it, are 0 after.
    words = np.array([len(english.split()) + 1 for english in beam["translations"]])
    np.testing.assert_array_equal(beam["output_length"], words)
    row_sums = beam["attention"].sum(axis=2)
    valid = np.arange(row_sums.shape[1])[None, :] < words[:, None]
    np.testing.assert_allclose(row_sums[valid], 1.0, atol=1e-5)
    assert np.all(row_sums[~valid] == 0.0)
    # Attention never falls on padding: columns past each source length are 0.
    columns = np.arange(beam["attention"].shape[2])[None, None, :]
    assert np.all(beam["attention"][np.broadcast_to(
        columns >= beam["source_length"][:, None, None], beam["attention"].shape)] == 0.0)


def test_padding_does_not_change_the_loss(corpus):
    model = build_translator_training(corpus["config"], seed=2)
    source, source_length = padded(corpus["source_ids"][:6])
    target, target_length = padded(corpus["target_ids"][:6])
    feeds = {"source": source, "source_length": source_length,
             "target": target, "target_length": target_length}
    wider = dict(feeds, source=np.pad(source, [[0, 0], [0, 5]]), target=np.pad(target, [[0, 0], [0, 3]]))
    with ModelSession(model) as ms:
        loss, logits = ms.run([model.loss, model.outputs["logits"]], feeds)
        wide_loss, wide_logits = ms.run([model.loss, model.outputs["logits"]], wider)
    assert loss > 0 and wide_loss == pytest.approx(loss, rel=1e-6)
    assert wide_logits.shape[1] == logits.shape[1] + 3
    np.testing.assert_allclose(wide_logits[:, :logits.shape[1]], logits, atol=1e-5)


def padded(sequences):
    lengths = np.array([len(s) for s in sequences], np.int32)
    ids = np.zeros((len(sequences), lengths.max()), np.int32)
    for row, sequence in enumerate(sequences):
        ids[row, :len(sequence)] = sequence
    return ids, lengths


def test_graph_names_read_well(corpus):
    model = build_translator_training(corpus["config"])
    variables = {v.op.name for v in model.graph.get_collection(v1.GraphKeys.TRAINABLE_VARIABLES)}
    assert {"encoder/embedding/embeddings", "encoder/gru/kernel", "encoder/gru/recurrent_kernel",
            "decoder/gru/kernel", "decoder/attention/keys/kernel", "decoder/attention/energy/kernel",
            "decoder/output/kernel"} <= variables
    ops = {op.name for op in model.graph.get_operations()}
    assert {"encoder/gru/while", "decoder/teacher_forcing/while", "decoder/attention/keys/keys",
            "decoder/output/logits", "loss/value"} <= ops
    body_ops = {node.name for function in model.graph.as_graph_def().library.function
                for node in function.node_def}
    assert {"decoder/attention/score", "decoder/attention/weights"} <= body_ops


def test_bad_input_has_defined_behaviour(corpus, trained, inference):
    with open_translator(inference, trained) as ms:
        out = translate(ms, inference, BAD_INPUTS)
        empty = translate(ms, inference, [""])
    # "" -> <start> <end>; unknown words -> <unk>s; over-long -> truncated to the maximum;
    # bytes that are not UTF-8 are spaces, so they translate like "".
    np.testing.assert_array_equal(out["source_length"], [2, 5, MAX_SOURCE_LENGTH, 2, 7])
    assert out["translations"][3] == empty["translations"][0] == out["translations"][0]
    assert np.all(out["output_length"] <= corpus["config"].max_target_length)
    assert all(isinstance(text, str) for text in out["translations"])
    with pytest.raises(ModelError, match="signature must be one of"):
        translate(ms, inference, ["tac"], signature="sampling")


def test_empty_batch_gives_empty_outputs(trained, inference):
    with open_translator(inference, trained) as ms:
        for signature in ("beam_search", "greedy"):
            out = translate(ms, inference, [], signature=signature)
            assert out["translations"].shape == (0,) and out["attention"].shape[0] == 0
            assert out["output_length"].shape == out["source_length"].shape == (0,)


def test_export_reloads_and_cpp_translates_the_same(corpus, exported, binary):
    sentences = np.array([source for source, _ in corpus["pairs"]] + BAD_INPUTS, dtype=object)
    assets = sorted(os.listdir(os.path.join(exported, "assets")))
    assert assets == [SOURCE_VOCABULARY_FILE, TARGET_VOCABULARY_FILE]
    with load_saved_model(exported) as loaded:
        python = run_signature(loaded, {"sentences": sentences})
    english = [text.decode() for text in python["translations"][:len(corpus["pairs"])]]
    assert english == expected_english(corpus["pairs"])
    for key in ("serving_default", GREEDY_SIGNATURE):
        comparison = compare_cpp_python(exported, {"sentences": sentences}, signature_key=key, binary=binary)
        assert list(comparison.cpp["translations"]) == list(comparison.python["translations"])
        assert comparison.max_abs_diff_by_output["attention"] <= 1e-6
        assert comparison.max_abs_diff_by_output["output_length"] == 0.0


def test_missing_vocabulary_asset_is_a_clear_error(exported, tmp_path, binary):
    broken = str(tmp_path / "broken")
    shutil.copytree(exported, broken)
    os.remove(os.path.join(broken, "assets", TARGET_VOCABULARY_FILE))
    with pytest.raises(SavedModelError, match=rf"broken: cannot load SavedModel: .*{TARGET_VOCABULARY_FILE}"):
        load_saved_model(broken)
    with pytest.raises(SavedModelError, match=TARGET_VOCABULARY_FILE):
        run_cpp(broken, {"sentences": np.array(["tac"], dtype=object)}, binary=binary)


def test_restore_needs_a_checkpoint(inference, tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint found"):
        open_translator(inference, str(tmp_path))


def test_config_is_checked_and_round_trips(tmp_path):
    config = TranslatorConfig(10, 12, units=8, beam_width=2)
    path = config.write(str(tmp_path / "config.json"))
    assert TranslatorConfig.read(path) == config
    with pytest.raises(ArgumentError, match=r"TranslatorConfig.units: expected an int >= 1, got 0"):
        TranslatorConfig(10, 12, units=0)
    with pytest.raises(ArgumentError, match=r"beam_width: 20 beams need at least as many target words"):
        TranslatorConfig(10, 12, beam_width=20)
    with pytest.raises(ArgumentError, match=r"max_source_length: expected an int >= 2, got 1"):
        TranslatorConfig(10, 12, max_source_length=1)
    (tmp_path / "bad.json").write_text('{"units": 3, "colour": 1}')
    with pytest.raises(ArgumentError, match=r"unknown translator config fields \['colour'\]"):
        TranslatorConfig.read(str(tmp_path / "bad.json"))


def test_decode_matches_vocabulary_decode(corpus):
    # The training ids decode back to the preprocessed English (the vocabulary is complete).
    english = [decode(corpus["target_vocab"], ids) for ids in corpus["target_ids"]]
    assert english == expected_english(corpus["pairs"])
