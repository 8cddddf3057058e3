"""benchmarks/nmt_vs_eager.py: its data preparation, tutorial-style batches, BLEU and figures.

No timing is asserted; the workers themselves are run by `make bench` (--quick).
"""

import sys
import types
import zipfile

import numpy as np
import pytest
from conftest import load_script


@pytest.fixture(scope="module")
def bench():
    yield load_script("benchmarks/nmt_vs_eager.py")
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
               "peer": {"bleu": 19.0, "validation_loss": 2.1, "examples": ["b"], "wall_s": 40.0,
                        "keras3_adam": {"bleu": 23.0, "validation_loss": 1.9, "examples": ["c"]}}}
    size = bench.SIZES["small"]
    summary = bench.summarize(args, throughput, quality, size, size)
    assert summary["graphkit_tokens_per_s"] == 1500.0 and summary["peer_tokens_per_s"] == 580.0
    assert summary["throughput_ratio"] == pytest.approx(1500 / 580)
    assert summary["graphkit_step_s"] == 0.2 and summary["peer_step_s"] == 0.5
    assert summary["peak_rss_ratio"] == 0.8
    assert summary["bleu_gap"] == 1.0 and summary["beam_gain"] == 1.5
    assert summary["steps"] == 10 and summary["peer_phase_wall_s"] == [20.0, 40.0]
    assert summary["graphkit_validation_loss"] == 2.0 and summary["peer_validation_loss"] == 2.1
    assert summary["peer_keras3_adam_bleu"] == 23.0 and summary["bleu_gap_keras3_adam"] == -3.0
    assert summary["peer_keras3_adam_validation_loss"] == 1.9


# peer variable path -> graphkit variable name: the same model, weight for weight
PEER_TO_GRAPHKIT = {
    "encoder/embedding/embeddings": "encoder/embedding/embeddings",
    "encoder/gru/gru_cell/kernel": "encoder/gru/kernel",
    "encoder/gru/gru_cell/recurrent_kernel": "encoder/gru/recurrent_kernel",
    "encoder/gru/gru_cell/bias": "encoder/gru/bias",
    "decoder/embedding_1/embeddings": "decoder/embedding/embeddings",
    "decoder/gru_1/gru_cell/kernel": "decoder/gru/kernel",
    "decoder/gru_1/gru_cell/recurrent_kernel": "decoder/gru/recurrent_kernel",
    "decoder/gru_1/gru_cell/bias": "decoder/gru/bias",
    "decoder/dense/kernel": "decoder/output/kernel",
    "decoder/dense/bias": "decoder/output/bias",
    "decoder/bahdanau_attention/dense_1/kernel": "decoder/attention/query/kernel",
    "decoder/bahdanau_attention/dense_1/bias": "decoder/attention/query/bias",
    "decoder/bahdanau_attention/dense_2/kernel": "decoder/attention/keys/kernel",
    "decoder/bahdanau_attention/dense_2/bias": "decoder/attention/keys/bias",
    "decoder/bahdanau_attention/dense_3/kernel": "decoder/attention/energy/kernel",
    "decoder/bahdanau_attention/dense_3/bias": "decoder/attention/energy/bias",
}


def dense(gradient, shape):
    if hasattr(gradient, "indices"):  # IndexedSlices(Value): rows may repeat
        total = np.zeros(shape, np.float32)
        np.add.at(total, np.asarray(gradient.indices), np.asarray(gradient.values))
        return total
    return np.asarray(gradient)


@pytest.fixture(scope="module")
def nmt_peer():
    return load_script("benchmarks/nmt_peer.py")


TINY = {"source_vocab": 30, "target_vocab": 25, "embedding": 8, "units": 12}


def tiny_batch(seed, batch=5, source_len=6, target_len=5):
    """An unpadded batch of random ids (words repeat: 26 words, 30 places) framed by <start> and <end>."""
    rng = np.random.default_rng(seed)
    source = rng.integers(4, TINY["source_vocab"], (batch, source_len)).astype(np.int32)
    target = rng.integers(4, TINY["target_vocab"], (batch, target_len)).astype(np.int32)
    source[:, 0] = target[:, 0] = 2
    source[:, -1] = target[:, -1] = 3
    return source, target


def tiny_peer(nmt_peer, tf):
    """The peer at the tiny size, its variables built; (encoder, decoder, variables)."""
    import keras

    keras.backend.clear_session()  # layer names (gru, gru_1 ...) count from 0 whatever ran before
    keras.utils.set_random_seed(0)
    encoder = nmt_peer.Encoder(TINY["source_vocab"], TINY["embedding"], TINY["units"])
    decoder = nmt_peer.Decoder(TINY["target_vocab"], TINY["embedding"], TINY["units"])
    nmt_peer.make_validation_loss(encoder, decoder)(*tiny_batch(0))  # builds the variables
    return encoder, decoder, encoder.trainable_variables + decoder.trainable_variables


def tiny_graphkit(tf, peer_weights, **settings):
    """graphkit's training graph at the tiny size in a session, holding the peer's weights.

    Returns:
      (model, session, graphkit variable name -> variable).
    """
    from graphkit.models.translator import TranslatorConfig, build_translator_training

    config = TranslatorConfig(source_vocab_size=TINY["source_vocab"], target_vocab_size=TINY["target_vocab"],
                              embedding_dim=TINY["embedding"], units=TINY["units"], beam_width=1, **settings)
    model = build_translator_training(config, seed=0)
    session = tf.compat.v1.Session(graph=model.graph)
    with model.graph.as_default():
        graph_variables = {v.op.name: v for v in tf.compat.v1.trainable_variables()}
        assert sorted(graph_variables) == sorted(PEER_TO_GRAPHKIT.values())
        session.run(tf.compat.v1.global_variables_initializer())
        for path, weights in peer_weights.items():
            graph_variables[PEER_TO_GRAPHKIT[path]].load(weights, session)
    return model, session, graph_variables


def graphkit_feed(model, source, target):
    """The feed of one unpadded batch."""
    batch = len(source)
    return {model.inputs["source"]: source, model.inputs["source_length"]: np.full(batch, source.shape[1]),
            model.targets["target"]: target, model.targets["target_length"]: np.full(batch, target.shape[1])}


def test_peer_and_graphkit_compute_the_same_loss_and_gradients(nmt_peer):
    """Same weights, same unpadded batch: the benchmark compares one model with itself."""
    from graphkit.quiet import import_tensorflow

    tf = import_tensorflow()
    source, target = tiny_batch(0)
    encoder, decoder, variables = tiny_peer(nmt_peer, tf)
    validation_loss = nmt_peer.make_validation_loss(encoder, decoder)
    with tf.GradientTape() as tape:
        total, count = validation_loss(source, target)
        peer_loss = total / count
    peer_gradients = {variable.path: dense(gradient, variable.shape)
                      for variable, gradient in zip(variables, tape.gradient(peer_loss, variables))}
    assert sorted(peer_gradients) == sorted(PEER_TO_GRAPHKIT)
    model, session, graph_variables = tiny_graphkit(tf, {v.path: v.numpy() for v in variables})
    with session:
        names = sorted(graph_variables)
        gradients = tf.gradients(model.loss, [graph_variables[name] for name in names])
        loss, values = session.run([model.loss, gradients], graphkit_feed(model, source, target))
    assert loss == pytest.approx(float(peer_loss), rel=1e-5)
    graphkit_gradients = dict(zip(names, values))
    for path, name in PEER_TO_GRAPHKIT.items():
        expected = peer_gradients[path]
        np.testing.assert_allclose(dense(graphkit_gradients[name], expected.shape), expected,
                                   rtol=1e-4, atol=1e-7, err_msg=name)


# Its gradient is 0 in exact arithmetic (softmax does not change when every score
# moves by the same amount), so Adam's step on it is rounding noise over epsilon.
NOISE_ONLY = {"decoder/attention/energy/bias"}


def test_peer_with_dense_gradients_takes_the_same_adam_steps_as_graphkit(nmt_peer):
    """Two training steps from the same weights on the same batches leave the same weights
    (the peer's Adam at TensorFlow's epsilon, graphkit's clipping out of reach); with Keras 3's
    Adam as it ships, the embedding rows of repeated words move further (nmt_peer's docstring)."""
    import keras

    from graphkit.quiet import import_tensorflow

    tf = import_tensorflow()
    batches = [tiny_batch(1), tiny_batch(2)]
    after = {}
    for dense_gradients in (True, False):
        encoder, decoder, variables = tiny_peer(nmt_peer, tf)
        initial = {v.path: v.numpy() for v in variables}
        step = nmt_peer.make_train_step(encoder, decoder, keras.optimizers.Adam(epsilon=1e-8),
                                        dense_gradients=dense_gradients)
        for source, target in batches:
            step(source, target)
        after[dense_gradients] = {PEER_TO_GRAPHKIT[v.path]: v.numpy() for v in variables}
    model, session, graph_variables = tiny_graphkit(tf, initial, clip_norm=1e6)
    with session:
        for source, target in batches:
            session.run(model.train_op, graphkit_feed(model, source, target))
        graphkit = session.run(graph_variables)
    moved = max(np.abs(graphkit[name] - initial[path]).max() for path, name in PEER_TO_GRAPHKIT.items())
    assert moved > 1e-3  # two steps of Adam at 1e-3: every weight with a gradient moved
    for name, weights in graphkit.items():
        if name not in NOISE_ONLY:
            np.testing.assert_allclose(weights, after[True][name], rtol=0, atol=2e-6, err_msg=name)
    # Keras 3's own Adam: the embeddings differ (a word seen k times steps up to sqrt(k) times
    # further). If this fails, Keras sums repeated rows now: the peer's
    # dense_gradients flag and the benchmark's second peer run can go.
    for name in ("encoder/embedding/embeddings", "decoder/embedding/embeddings"):
        assert np.abs(after[False][name] - graphkit[name]).max() > 5e-4, name
