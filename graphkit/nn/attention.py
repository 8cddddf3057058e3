"""Bahdanau (additive) attention over a padded memory, for decoders in a while loop.

    score(q, v_s) = V . tanh(W1 q + b1 + W2 v_s + b2) + c
    weights = softmax over the source positions s < length (padding gets 0)
    context = sum_s weights_s v_s

as in the TensorFlow NMT tutorial's `BahdanauAttention` (three Dense layers,
with biases). The keys `W2 v + b2` do not depend on the query, so
`attention_memory` computes them once per batch, outside the decoder's loop;
`bahdanau_attention` is what each decoder step runs.

    with tf.compat.v1.variable_scope("decoder"):
        memory = attention_memory(encoder_outputs, source_lengths, query_depth=1024, units=1024)
        ...  # inside the loop body:
        context, weights = bahdanau_attention(state, memory)   # decoder/attention/score/...
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import tensorflow as tf

from graphkit.errors import ArgumentError, DTypeError, ShapeError
from graphkit.nn.layers import _check_rank, _known_dims, glorot_uniform

v1 = tf.compat.v1

MASKED_SCORE = -1e9  # finite: exp() of it is exactly 0 in float32, and no inf - inf = NaN


@dataclasses.dataclass(frozen=True)
class AttentionMemory:
    """What the decoder attends over, with the query-free part precomputed.

    Attributes:
      values: [batch, source, depth] the encoder outputs.
      keys: [batch, source, units] W2 values + b2.
      mask: [batch, source] bool, True at real (not padded) positions.
      query_kernel: [query_depth, units] W1; query_bias [units] b1.
      score_kernel: [units, 1] V; score_bias [1] c (variables `energy/kernel`, `energy/bias`).
      scope: the variable scope's name (e.g. "decoder/attention").
    """

    values: tf.Tensor
    keys: tf.Tensor
    mask: tf.Tensor
    query_kernel: tf.Variable
    query_bias: tf.Variable
    score_kernel: tf.Variable
    score_bias: tf.Variable
    scope: str

    def tile(self, multiple: int) -> "AttentionMemory":
        """The memory with each batch row repeated `multiple` times (for beam search)."""
        repeat = lambda tensor: tf.repeat(tensor, multiple, axis=0)  # noqa: E731
        return dataclasses.replace(self, values=repeat(self.values), keys=repeat(self.keys),
                                   mask=repeat(self.mask))


def attention_memory(values: tf.Tensor, lengths: tf.Tensor, query_depth: int, units: int,
                     scope: Optional[str] = None) -> AttentionMemory:
    """Creates the attention's variables and projects the memory into keys.

    Args:
      values: [batch, source, depth] float, depth known.
      lengths: [batch] int, real positions of each row (the rest is padding).
      query_depth: size of the query (the decoder state).
      units: size of the additive scoring layer.
      scope: variable scope; default "attention".
    Returns:
      AttentionMemory.
    Raises:
      ShapeError: values not rank 3 with known depth, lengths not rank 1.
      DTypeError: lengths not integers.
      ArgumentError: query_depth or units < 1.
    """
    if query_depth < 1 or units < 1:
        raise ArgumentError(f"attention: query_depth and units must be >= 1, got {query_depth} and {units}")
    with v1.variable_scope(scope, default_name="attention", values=[values, lengths]) as vs:
        _check_rank(values, vs.name, [3])
        (depth,) = _known_dims(values, vs.name, [2])
        _check_rank(lengths, vs.name, [1])
        if not lengths.dtype.is_integer:
            raise DTypeError(f"{vs.name}: lengths {lengths.name} must be integers, got {lengths.dtype.name}")
        dtype = values.dtype
        with v1.variable_scope("query"):
            query_kernel = v1.get_variable("kernel", [query_depth, units], dtype,
                                           initializer=glorot_uniform())
            query_bias = v1.get_variable("bias", [units], dtype, initializer=v1.zeros_initializer())
        with v1.variable_scope("keys"):
            key_kernel = v1.get_variable("kernel", [depth, units], dtype, initializer=glorot_uniform())
            key_bias = v1.get_variable("bias", [units], dtype, initializer=v1.zeros_initializer())
            flat = tf.matmul(tf.reshape(values, [-1, depth]), key_kernel)
            keys = tf.reshape(tf.nn.bias_add(flat, key_bias),
                              tf.concat([tf.shape(values)[:2], [units]], 0), name="keys")
        with v1.variable_scope("energy"):  # not "score": that name is the op holding the scores
            # Glorot over a [units, 1] matrix, as Keras' Dense(1) initialises it.
            score_kernel = v1.get_variable("kernel", [units, 1], dtype, initializer=glorot_uniform())
            score_bias = v1.get_variable("bias", [1], dtype, initializer=v1.zeros_initializer())
        mask = tf.sequence_mask(lengths, tf.shape(values)[1], name="mask")
        return AttentionMemory(values, keys, mask, query_kernel, query_bias, score_kernel, score_bias,
                               vs.name)


def bahdanau_attention(query: tf.Tensor, memory: AttentionMemory,
                       query_product: Optional[tf.Tensor] = None) -> tuple[tf.Tensor, tf.Tensor]:
    """One attention step: the context for `query` and the weights that made it.

    Ops are named under `<memory scope>/` (e.g. `decoder/attention/score`).

    Args:
      query: [batch, query_depth] (batch = the memory's batch).
      memory: from `attention_memory`.
      query_product: query @ query_kernel [batch, units] when the caller computed
        it already (e.g. fused with the GRU's matmul of the same state).
    Returns:
      (context [batch, depth], weights [batch, source]; weights are 0 at padding).
    Raises:
      ShapeError: query not rank 2, or its depth differs from the query kernel's.
    """
    _check_rank(query, memory.scope, [2])
    expected = int(memory.query_kernel.shape[0])
    if query.shape[1] is not None and int(query.shape[1]) != expected:
        raise ShapeError(f"{memory.scope}: query depth {int(query.shape[1])} does not match "
                         f"the query kernel's {expected}")
    with tf.name_scope(memory.scope + "/"):
        if query_product is None:
            query_product = tf.matmul(query, memory.query_kernel)
        projected = tf.nn.bias_add(query_product, memory.query_bias, name="query")
        hidden = tf.tanh(memory.keys + tf.expand_dims(projected, 1), name="hidden")
        units = int(memory.score_kernel.shape[0])
        flat_scores = tf.matmul(tf.reshape(hidden, [-1, units]), memory.score_kernel) + memory.score_bias
        scores = tf.reshape(flat_scores, tf.shape(memory.mask), name="score")
        masked = tf.where(memory.mask, scores, tf.constant(MASKED_SCORE, scores.dtype), name="masked_score")
        weights = tf.nn.softmax(masked, axis=1, name="weights")
        # [batch, 1, source] x [batch, source, depth]: one batched matmul, no [batch, source, depth] product.
        context = tf.squeeze(tf.matmul(tf.expand_dims(weights, 1), memory.values), 1, name="context")
        return context, weights
