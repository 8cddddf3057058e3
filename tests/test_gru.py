"""GRU: shapes, names, variables, reuse, values against a numpy GRU, masking, invalid input."""

import numpy as np
import pytest
import tensorflow as tf

from graphkit.errors import ArgumentError, DTypeError, ShapeError
from graphkit.nn.gru import gru

v1 = tf.compat.v1


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_gru(inputs, lengths, kernel, recurrent, bias, initial=None):
    """Keras' GRU (reset_after=True) step by step; state frozen, outputs 0 past each length."""
    batch, time, _ = inputs.shape
    units = recurrent.shape[0]
    state = np.zeros((batch, units)) if initial is None else initial.astype(np.float64)
    outputs = np.zeros((batch, time, units))
    for t in range(time):
        x_part = inputs[:, t] @ kernel + bias[0]
        h_part = state @ recurrent + bias[1]
        z = sigmoid(x_part[:, :units] + h_part[:, :units])
        r = sigmoid(x_part[:, units:2 * units] + h_part[:, units:2 * units])
        n = np.tanh(x_part[:, 2 * units:] + r * h_part[:, 2 * units:])
        new = z * state + (1 - z) * n
        valid = (t < lengths)[:, None]
        state = np.where(valid, new, state)
        outputs[:, t] = np.where(valid, new, 0.0)
    return outputs, state


def run(graph, fetches, feed=None):
    with v1.Session(graph=graph) as session:
        session.run(v1.global_variables_initializer())
        return session.run(fetches, feed)


def build(depth=3, units=4, scope="gru", initial=False):
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, None, depth], name="x")
        lengths = v1.placeholder(tf.int32, [None], name="lengths")
        h0 = v1.placeholder(tf.float32, [None, units], name="h0") if initial else None
        with v1.variable_scope("encoder"):
            outputs, state = gru(x, lengths, units, initial_state=h0, scope=scope)
        variables = {v.op.name: v for v in v1.global_variables()}
    return graph, x, lengths, h0, outputs, state, variables


def test_shapes_names_and_variables():
    graph, _, _, _, outputs, state, variables = build(depth=3, units=4)
    assert outputs.shape.as_list() == [None, None, 4] and state.shape.as_list() == [None, 4]
    shapes = {name: v.shape.as_list() for name, v in variables.items()}
    assert shapes == {"encoder/gru/kernel": [3, 12], "encoder/gru/recurrent_kernel": [4, 12],
                      "encoder/gru/bias": [2, 12]}
    assert outputs.op.name == "encoder/gru/outputs" and state.op.name == "encoder/gru/final_state"
    op_names = {op.name for op in graph.get_operations()}
    assert "encoder/gru/while" in op_names and "encoder/gru/time_major_gates" in op_names


def test_values_match_numpy_gru_with_masking():
    rng = np.random.default_rng(0)
    graph, x, lengths, h0, outputs, state, variables = build(depth=3, units=4, initial=True)
    inputs = rng.standard_normal((3, 5, 3)).astype(np.float32)
    lengths_value = np.array([5, 2, 0], np.int32)
    initial = rng.standard_normal((3, 4)).astype(np.float32)
    with v1.Session(graph=graph) as session:
        session.run(v1.global_variables_initializer())
        bias = rng.standard_normal((2, 12)).astype(np.float32)
        variables["encoder/gru/bias"].load(bias, session)
        got_outputs, got_state, kernel, recurrent = session.run(
            [outputs, state, variables["encoder/gru/kernel"], variables["encoder/gru/recurrent_kernel"]],
            {x: inputs, lengths: lengths_value, h0: initial})
    want_outputs, want_state = numpy_gru(inputs, lengths_value, kernel, recurrent, bias, initial)
    np.testing.assert_allclose(got_outputs, want_outputs, atol=1e-5)
    np.testing.assert_allclose(got_state, want_state, atol=1e-5)
    np.testing.assert_array_equal(got_outputs[1, 2:], 0.0)
    np.testing.assert_array_equal(got_state[2], initial[2])  # length 0: the state never moves


def test_padding_changes_nothing():
    rng = np.random.default_rng(1)
    graph, x, lengths, _, outputs, state, _ = build()
    inputs = rng.standard_normal((2, 3, 3)).astype(np.float32)
    padded = np.concatenate([inputs, rng.standard_normal((2, 4, 3)).astype(np.float32)], axis=1)
    lengths_value = np.array([3, 1], np.int32)
    with v1.Session(graph=graph) as session:
        session.run(v1.global_variables_initializer())
        short = session.run([outputs, state], {x: inputs, lengths: lengths_value})
        long = session.run([outputs, state], {x: padded, lengths: lengths_value})
    np.testing.assert_array_equal(long[0][:, :3], short[0])
    np.testing.assert_array_equal(long[0][:, 3:], 0.0)
    np.testing.assert_array_equal(long[1], short[1])


def test_empty_batch_and_all_empty_sequences():
    graph, x, lengths, _, outputs, state, _ = build()
    with v1.Session(graph=graph) as session:
        session.run(v1.global_variables_initializer())
        empty = session.run([outputs, state], {x: np.zeros((0, 3, 3), np.float32),
                                               lengths: np.zeros(0, np.int32)})
        zero = session.run([outputs, state], {x: np.ones((2, 3, 3), np.float32),
                                              lengths: np.zeros(2, np.int32)})
    assert empty[0].shape == (0, 3, 4) and empty[1].shape == (0, 4)
    np.testing.assert_array_equal(zero[0], np.zeros((2, 3, 4)))
    np.testing.assert_array_equal(zero[1], np.zeros((2, 4)))


def test_reuse_shares_variables_and_gradients_flow():
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [2, 3, 3])
        lengths = tf.constant([3, 2])
        with v1.variable_scope("shared"):
            first, _ = gru(x, lengths, 4, scope="gru")
        with v1.variable_scope("shared", reuse=True):
            second, _ = gru(x, lengths, 4, scope="gru")
        assert len(v1.global_variables()) == 3
        grads = tf.gradients(tf.reduce_sum(first), v1.global_variables())
    value = np.ones((2, 3, 3), np.float32)
    out1, out2, *grad_values = run(graph, [first, second, *grads], {x: value})
    np.testing.assert_array_equal(out1, out2)
    assert all(np.abs(g).sum() > 0 for g in grad_values)


def test_invalid_input():
    with tf.Graph().as_default():
        with pytest.raises(ShapeError, match=r"gru: input seq:0 must have rank 3"):
            gru(v1.placeholder(tf.float32, [None, 3], name="seq"), tf.constant([1]), 4)
        with pytest.raises(ShapeError, match=r"unknown dimension 2"):
            gru(v1.placeholder(tf.float32, [None, None, None]), tf.constant([1]), 4)
        with pytest.raises(DTypeError, match=r"lengths .* must be integers"):
            gru(v1.placeholder(tf.float32, [None, None, 3]), tf.constant([1.0]), 4)
        with pytest.raises(DTypeError, match=r"must be floating point"):
            gru(v1.placeholder(tf.int32, [None, None, 3]), tf.constant([1]), 4)
        with pytest.raises(ShapeError, match=r"initial_state h:0 must be \[batch, 4\], got shape"):
            gru(v1.placeholder(tf.float32, [None, None, 3]), tf.constant([1]), 4,
                initial_state=v1.placeholder(tf.float32, [None, 5], name="h"))
        with pytest.raises(ArgumentError, match=r"units must be >= 1, got 3 and 0"):
            gru(v1.placeholder(tf.float32, [None, None, 3]), tf.constant([1]), 0)


def test_weights_copy_from_a_keras_gru_one_to_one():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(4)
    inputs = rng.standard_normal((2, 5, 3)).astype(np.float32)
    layer = keras.layers.GRU(4, return_sequences=True, return_state=True, reset_after=True)
    keras_outputs, keras_state = (np.asarray(t) for t in layer(inputs))
    kernel, recurrent, bias = layer.get_weights()
    assert bias.shape == (2, 12)
    graph, x, lengths, _, outputs, state, variables = build()
    with v1.Session(graph=graph) as session:
        for name, value in (("kernel", kernel), ("recurrent_kernel", recurrent), ("bias", bias)):
            variables[f"encoder/gru/{name}"].load(value, session)
        got_outputs, got_state = session.run([outputs, state], {x: inputs, lengths: [5, 5]})
    np.testing.assert_allclose(got_outputs, keras_outputs, atol=1e-5)
    np.testing.assert_allclose(got_state, keras_state, atol=1e-5)
