"""Bahdanau attention: shapes, names, variables, reuse, values against numpy, masking, invalid input."""

import numpy as np
import pytest
import tensorflow as tf

from graphkit.errors import ArgumentError, DTypeError, ShapeError
from graphkit.nn.attention import attention_memory, bahdanau_attention

v1 = tf.compat.v1


def numpy_attention(query, values, lengths, w1, b1, w2, b2, v, c):
    hidden = np.tanh((query @ w1 + b1)[:, None, :] + values @ w2 + b2)
    scores = (hidden @ v)[..., 0] + c
    scores = np.where(np.arange(values.shape[1])[None, :] < lengths[:, None], scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("bs,bsd->bd", weights, values), weights


def build(query_depth=4, depth=3, units=5):
    graph = tf.Graph()
    with graph.as_default():
        values = v1.placeholder(tf.float32, [None, None, depth], name="values")
        lengths = v1.placeholder(tf.int32, [None], name="lengths")
        query = v1.placeholder(tf.float32, [None, query_depth], name="query")
        with v1.variable_scope("decoder"):
            memory = attention_memory(values, lengths, query_depth, units, scope="attention")
        context, weights = bahdanau_attention(query, memory)
        variables = {v.op.name: v for v in v1.global_variables()}
    return graph, (values, lengths, query), memory, context, weights, variables


def test_shapes_names_and_variables():
    graph, _, memory, context, weights, variables = build()
    assert context.shape.as_list() == [None, 3] and weights.shape.as_list() == [None, None]
    assert {name: v.shape.as_list() for name, v in variables.items()} == {
        "decoder/attention/query/kernel": [4, 5], "decoder/attention/query/bias": [5],
        "decoder/attention/keys/kernel": [3, 5], "decoder/attention/keys/bias": [5],
        "decoder/attention/energy/kernel": [5, 1], "decoder/attention/energy/bias": [1]}
    assert memory.keys.op.name == "decoder/attention/keys/keys"
    op_names = {op.name for op in graph.get_operations()}
    assert {"decoder/attention/score", "decoder/attention/weights", "decoder/attention/context"} <= op_names


def test_values_match_numpy_and_padding_gets_no_weight():
    rng = np.random.default_rng(0)
    graph, (values, lengths, query), _, context, weights, variables = build()
    values_value = rng.standard_normal((3, 4, 3)).astype(np.float32)
    lengths_value = np.array([4, 2, 1], np.int32)
    query_value = rng.standard_normal((3, 4)).astype(np.float32)
    with v1.Session(graph=graph) as session:
        session.run(v1.global_variables_initializer())
        for part in ("query", "keys", "energy"):
            bias = variables[f"decoder/attention/{part}/bias"]
            bias.load(rng.standard_normal(bias.shape.as_list()).astype(np.float32), session)
        got_context, got_weights, params = session.run(
            [context, weights, {name: v for name, v in variables.items()}],
            {values: values_value, lengths: lengths_value, query: query_value})
    p = lambda suffix: params["decoder/attention/" + suffix]  # noqa: E731
    want_context, want_weights = numpy_attention(
        query_value, values_value, lengths_value, p("query/kernel"), p("query/bias"),
        p("keys/kernel"), p("keys/bias"), p("energy/kernel"), p("energy/bias"))
    np.testing.assert_allclose(got_weights, want_weights, atol=1e-6)
    np.testing.assert_allclose(got_context, want_context, atol=1e-5)
    np.testing.assert_array_equal(got_weights[1, 2:], 0.0)
    np.testing.assert_allclose(got_weights.sum(axis=1), 1.0, atol=1e-6)
    assert got_weights[2, 0] == 1.0


def test_padded_values_change_nothing():
    rng = np.random.default_rng(2)
    graph, (values, lengths, query), _, context, weights, _ = build()
    short = rng.standard_normal((2, 2, 3)).astype(np.float32)
    padded = np.concatenate([short, 100 * rng.standard_normal((2, 3, 3)).astype(np.float32)], axis=1)
    feed = {lengths: np.array([2, 1], np.int32), query: rng.standard_normal((2, 4)).astype(np.float32)}
    with v1.Session(graph=graph) as session:
        session.run(v1.global_variables_initializer())
        a = session.run([context, weights], {**feed, values: short})
        b = session.run([context, weights], {**feed, values: padded})
    np.testing.assert_allclose(b[0], a[0], atol=1e-6)
    np.testing.assert_allclose(b[1][:, :2], a[1], atol=1e-6)


def test_reuse_shares_variables():
    graph = tf.Graph()
    with graph.as_default():
        values = tf.ones([1, 2, 3])
        with v1.variable_scope("decoder"):
            attention_memory(values, tf.constant([2]), 4, 5, scope="attention")
        with v1.variable_scope("decoder", reuse=True):
            attention_memory(values, tf.constant([2]), 4, 5, scope="attention")
        assert len(v1.global_variables()) == 6


def test_invalid_input():
    with tf.Graph().as_default():
        values = v1.placeholder(tf.float32, [None, None, 3], name="values")
        with pytest.raises(ShapeError, match=r"attention: input flat:0 must have rank 3"):
            attention_memory(v1.placeholder(tf.float32, [None, 3], name="flat"), tf.constant([1]), 4, 5)
        with pytest.raises(DTypeError, match=r"lengths .* must be integers"):
            attention_memory(values, tf.constant([1.0]), 4, 5)
        with pytest.raises(ArgumentError, match=r"units must be >= 1"):
            attention_memory(values, tf.constant([1]), 4, 0)
        with v1.variable_scope("decoder"):
            memory = attention_memory(values, tf.constant([1]), 4, 5, scope="attention")
        with pytest.raises(ShapeError, match=r"decoder/attention: query depth 6 does not match"):
            bahdanau_attention(v1.placeholder(tf.float32, [None, 6]), memory)
