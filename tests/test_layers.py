"""Layers: shapes, names, variables, reuse, values against numpy, invalid input."""

import numpy as np
import pytest
import tensorflow as tf

from graphkit.errors import ArgumentError, DTypeError, ShapeError
from graphkit.nn import layers

v1 = tf.compat.v1


def run(graph, fetches, feed=None):
    with v1.Session(graph=graph) as session:
        session.run(v1.global_variables_initializer())
        return session.run(fetches, feed)


def test_dense_values_names_and_shapes():
    rng = np.random.default_rng(1)
    x_value = rng.standard_normal((4, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 5)).astype(np.float32)
    bias = rng.standard_normal(5).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        y = layers.dense(x, 5, activation=tf.nn.relu, kernel_initializer=v1.constant_initializer(kernel),
                         bias_initializer=v1.constant_initializer(bias))
        z = layers.dense(y, 2)
        names = sorted(v.name for v in v1.global_variables())
    assert y.shape.as_list() == [None, 5] and z.shape.as_list() == [None, 2]
    assert names == ["dense/bias:0", "dense/kernel:0", "dense_1/bias:0", "dense_1/kernel:0"]
    np.testing.assert_allclose(run(graph, y, {x: x_value}), np.maximum(x_value @ kernel + bias, 0), rtol=1e-5)


def test_dense_rank3_uses_last_axis():
    kernel = np.arange(6, dtype=np.float32).reshape(3, 2)
    x_value = np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 4, 3])
        y = layers.dense(x, 2, use_bias=False, kernel_initializer=v1.constant_initializer(kernel))
    assert y.shape.as_list() == [None, 4, 2]
    np.testing.assert_allclose(run(graph, y, {x: x_value}), x_value @ kernel)


def test_dense_glorot_uniform_range():
    graph = tf.Graph()
    with graph.as_default():
        layers.dense(v1.placeholder(tf.float32, [None, 784]), 512)
        (kernel,) = [v for v in v1.global_variables() if "kernel" in v.name]
    values = run(graph, kernel)
    limit = np.sqrt(6.0 / (784 + 512))
    assert values.min() >= -limit * (1 + 1e-6) and values.max() <= limit * (1 + 1e-6)  # float32 rounding
    assert values.std() == pytest.approx(limit / np.sqrt(3), rel=0.02)  # uniform(-l, l) has std l/sqrt(3)


def test_dense_reuse_shares_variables():
    graph = tf.Graph()
    with graph.as_default():
        a = v1.placeholder(tf.float32, [None, 3])
        with v1.variable_scope("shared"):
            first = layers.dense(a, 4, scope="proj")
        with v1.variable_scope("shared", reuse=True):
            second = layers.dense(a, 4, scope="proj")
        assert len(v1.global_variables()) == 2
    out1, out2 = run(graph, [first, second], {a: np.ones((2, 3), np.float32)})
    np.testing.assert_array_equal(out1, out2)


def test_dense_rejects_unknown_last_dimension():
    with tf.Graph().as_default():
        x = v1.placeholder(tf.float32, [None, None], name="features")
        with pytest.raises(ShapeError, match=r"dense: input features:0 .* unknown dimension"):
            layers.dense(x, 3)
        with pytest.raises(ArgumentError, match="units must be >= 1"):
            layers.dense(v1.placeholder(tf.float32, [None, 2]), 0)


def test_dropout_identity_at_inference_and_scaled_in_training():
    x_value = np.full((200, 500), 3.0, np.float32)
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 500])
        training = v1.placeholder_with_default(False, [])
        y = layers.dropout(x, 0.2, training, seed=3)
    with v1.Session(graph=graph) as session:
        np.testing.assert_array_equal(session.run(y, {x: x_value}), x_value)
        trained = session.run(y, {x: x_value, training: True})
    kept = trained != 0
    np.testing.assert_allclose(trained[kept], 3.0 / 0.8, rtol=1e-6)
    assert 1 - kept.mean() == pytest.approx(0.2, abs=0.01)
    assert trained.mean() == pytest.approx(3.0, rel=0.02)  # inverted dropout keeps the expectation
    with pytest.raises(ArgumentError, match="rate must be in"):
        with tf.Graph().as_default():
            layers.dropout(v1.placeholder(tf.float32, [None, 2]), 1.0, False)
    with pytest.raises(DTypeError, match="too large for float16 input"):
        with tf.Graph().as_default():
            layers.dropout(v1.placeholder(tf.float16, [None, 2]), 0.99999, False)


def test_flatten():
    x_value = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 3, 4])
        y = layers.flatten(x)
        with pytest.raises(ShapeError, match="^flatten_1: .*unknown dimension 1"):
            layers.flatten(v1.placeholder(tf.float32, [None, None, 4]))
        with tf.name_scope("encoder"), pytest.raises(ShapeError, match="^encoder/image: .*unknown dim"):
            layers.flatten(v1.placeholder(tf.float32, [None, None, 4]), scope="image")
    assert y.shape.as_list() == [None, 12]
    np.testing.assert_array_equal(run(graph, y, {x: x_value}), x_value.reshape(2, 12))


def test_embedding_looks_up_rows():
    table = np.arange(20, dtype=np.float32).reshape(5, 4)
    ids_value = np.array([[0, 4], [2, 2]], np.int32)
    graph = tf.Graph()
    with graph.as_default():
        ids = v1.placeholder(tf.int32, [None, 2])
        y = layers.embedding(ids, 5, 4, initializer=v1.constant_initializer(table))
        assert [v.name for v in v1.global_variables()] == ["embedding/embeddings:0"]
        with pytest.raises(DTypeError, match="must be integers"):
            layers.embedding(v1.placeholder(tf.float32, [None]), 5, 4)
    assert y.shape.as_list() == [None, 2, 4]
    np.testing.assert_array_equal(run(graph, y, {ids: ids_value}), table[ids_value])


def numpy_conv2d_valid(images, kernel, stride):
    kh, kw, _, filters = kernel.shape
    batch, height, width, _ = images.shape
    out_h, out_w = (height - kh) // stride + 1, (width - kw) // stride + 1
    out = np.zeros((batch, out_h, out_w, filters), np.float64)
    for i in range(out_h):
        for j in range(out_w):
            patch = images[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return out


def test_conv2d_and_max_pool_against_numpy():
    rng = np.random.default_rng(2)
    images = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 2, 3, 4)).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 7, 6, 3])
        conv = layers.conv2d(x, 4, (3, 2), strides=2, kernel_initializer=v1.constant_initializer(kernel))
        pooled = layers.max_pool(x, 2)
        with pytest.raises(ShapeError, match="rank 4"):
            layers.conv2d(v1.placeholder(tf.float32, [None, 7, 6]), 4, 3)
        with pytest.raises(ArgumentError, match="padding must be one of"):
            layers.max_pool(x, 2, padding="FULL")
    conv_value, pooled_value = run(graph, [conv, pooled], {x: images})
    assert conv.shape.as_list() == [None, 3, 3, 4]
    np.testing.assert_allclose(conv_value, numpy_conv2d_valid(images, kernel, 2), rtol=1e-4, atol=1e-5)
    expected_pool = images[:, :6, :6, :].reshape(2, 3, 2, 3, 2, 3).max(axis=(2, 4))
    np.testing.assert_array_equal(pooled_value, expected_pool)


def test_layer_norm_against_numpy():
    rng = np.random.default_rng(3)
    x_value = rng.standard_normal((4, 6)).astype(np.float32) * 5 + 2
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 6])
        y = layers.layer_norm(x)
        assert sorted(v.name for v in v1.global_variables()) == ["layer_norm/beta:0", "layer_norm/gamma:0"]
    mean = x_value.mean(-1, keepdims=True)
    expected = (x_value - mean) / np.sqrt(x_value.var(-1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(run(graph, y, {x: x_value}), expected, rtol=1e-4, atol=1e-5)
