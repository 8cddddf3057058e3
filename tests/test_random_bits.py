"""Counter-hash random words: uniform, uncorrelated, new each run, seeded like tf.random."""

import numpy as np
import pytest
import tensorflow as tf

from graphkit.nn.random_bits import fmix32, random_words

v1 = tf.compat.v1


def draw(runs, shape=(256, 512), graph_seed=1, op_seed=None):
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(graph_seed)
        words = random_words(tf.constant(shape), seed=op_seed)
    with v1.Session(graph=graph) as session:
        return np.stack([session.run(words) for _ in range(runs)])


def test_fmix32_matches_murmur3_finalizer_in_numpy():
    values = np.array([0, 1, 2, 0xDEADBEEF, 0xFFFFFFFF], np.uint32)

    def reference(h):
        h = h.astype(np.uint64)
        h ^= h >> 16
        h = (h * 0x85EBCA6B) & 0xFFFFFFFF
        h ^= h >> 13
        h = (h * 0xC2B2AE35) & 0xFFFFFFFF
        h ^= h >> 16
        return h.astype(np.uint32)

    with tf.Graph().as_default(), v1.Session() as session:
        np.testing.assert_array_equal(session.run(fmix32(tf.constant(values))), reference(values))


def test_words_are_uniform_bit_by_bit_and_by_value():
    words = draw(4).reshape(-1)
    assert words.dtype == np.uint32 and len(words) == 4 * 256 * 512
    bits = (words[:, None] >> np.arange(32, dtype=np.uint32)) & 1
    np.testing.assert_allclose(bits.mean(0), 0.5, atol=0.005)  # each bit: 524,288 draws, 7 sigma
    counts = np.bincount(words >> 24, minlength=256)  # top byte: chi-square over 256 cells
    expected = len(words) / 256
    chi_square = ((counts - expected) ** 2 / expected).sum()
    assert chi_square < 350  # 255 degrees of freedom: p < 1e-4 above 350


def test_neighbours_and_runs_are_uncorrelated():
    first, second = draw(2).astype(np.float64) / 2**32
    assert abs(np.corrcoef(first.ravel(), second.ravel())[0, 1]) < 0.01  # run to run
    flat = first.ravel()
    assert abs(np.corrcoef(flat[:-1], flat[1:])[0, 1]) < 0.01  # element to element
    keep_a, keep_b = first >= 0.2, second >= 0.2  # dropout masks of two steps agree by chance only
    assert (keep_a == keep_b).mean() == pytest.approx(0.8 * 0.8 + 0.2 * 0.2, abs=0.005)


def test_seeded_like_tensorflow_random_ops():
    np.testing.assert_array_equal(draw(3, (7, 5)), draw(3, (7, 5)))  # same graph seed: same runs
    assert not np.array_equal(draw(1, (7, 5)), draw(1, (7, 5), graph_seed=2))
    assert not np.array_equal(draw(1, (7, 5), op_seed=1), draw(1, (7, 5), op_seed=2))


def test_any_shape_including_empty():
    assert draw(1, (3, 0, 2)).shape == (1, 3, 0, 2)
    assert draw(1, (5,)).shape == (1, 5)
