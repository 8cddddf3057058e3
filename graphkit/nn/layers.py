"""Layers as plain functions over tensors, for hand-built `tf.compat.v1` graphs.

Each layer opens a variable scope (so graph names read `dense/kernel`,
`dense_1/kernel`), reads the static shape of its input, creates its variables with
`tf.compat.v1.get_variable`, and returns a tensor. Initializers are explicit and
match Keras' defaults, so a hand-built model trains like its Keras twin.

    x = tf.compat.v1.placeholder(tf.float32, [None, 28, 28], name="x")
    h = dense(flatten(x), 512, activation=tf.nn.relu)
    logits = dense(dropout(h, 0.2, training), 10)
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from graphkit.errors import ArgumentError, DTypeError, ShapeError
from graphkit.nn.random_bits import random_words

v1 = tf.compat.v1

PADDINGS = ("SAME", "VALID")


def glorot_uniform(seed: Optional[int] = None):
    """Keras' default kernel initializer: U(-l, l), l = sqrt(6 / (fan_in + fan_out))."""
    return v1.glorot_uniform_initializer(seed=seed)


def _known_dims(tensor: tf.Tensor, where: str, axes: Sequence[int]) -> list[int]:
    """Static sizes of `axes`; a layer cannot size its weights from unknown dims."""
    shape = tensor.shape
    if shape.rank is None:
        raise ShapeError(f"{where}: input {tensor.name} has unknown rank")
    dims = []
    for axis in axes:
        size = shape[axis]
        if size is None:
            raise ShapeError(f"{where}: input {tensor.name} {shape} has unknown dimension {axis}")
        dims.append(int(size))
    return dims


def _check_rank(tensor: tf.Tensor, where: str, ranks: Sequence[int]) -> None:
    rank = tensor.shape.rank
    if rank is None or rank not in ranks:
        expected = " or ".join(str(r) for r in ranks)
        raise ShapeError(f"{where}: input {tensor.name} must have rank {expected}, got shape {tensor.shape}")


def _bias_and_activation(outputs: tf.Tensor, width: int, use_bias: bool, bias_initializer,
                         activation: Optional[Callable]) -> tf.Tensor:
    """Adds a `bias` variable of [width] (zeros unless `bias_initializer`), then `activation`."""
    if use_bias:
        bias = v1.get_variable("bias", [width], outputs.dtype,
                               initializer=bias_initializer or v1.zeros_initializer())
        outputs = tf.nn.bias_add(outputs, bias, name="bias_add")
    return activation(outputs) if activation is not None else outputs


def dense(
    inputs: tf.Tensor,
    units: int,
    activation: Optional[Callable[[tf.Tensor], tf.Tensor]] = None,
    use_bias: bool = True,
    kernel_initializer=None,
    bias_initializer=None,
    scope: Optional[str] = None,
) -> tf.Tensor:
    """Fully connected layer: activation(inputs @ kernel + bias).

    Args:
      inputs: [..., in_units] with a known last dimension.
      units: output size.
      activation: applied to the result, or None for a linear layer.
    Returns:
      [..., units]
    Raises:
      ShapeError: the last input dimension is unknown, or units < 1.
    """
    if units < 1:
        raise ArgumentError(f"{scope or 'dense'}: units must be >= 1, got {units}")
    with v1.variable_scope(scope, default_name="dense", values=[inputs]) as vs:
        if inputs.shape.rank is None or inputs.shape.rank < 2:
            raise ShapeError(f"{vs.name}: input {inputs.name} needs rank >= 2, got shape {inputs.shape}")
        (in_units,) = _known_dims(inputs, vs.name, [-1])
        kernel = v1.get_variable(
            "kernel", [in_units, units], inputs.dtype,
            initializer=kernel_initializer or glorot_uniform())
        if inputs.shape.rank == 2:
            outputs = tf.matmul(inputs, kernel, name="matmul")
        else:
            outputs = tf.tensordot(inputs, kernel, [[inputs.shape.rank - 1], [0]], name="tensordot")
        return _bias_and_activation(outputs, units, use_bias, bias_initializer, activation)


def dropout(
    inputs: tf.Tensor,
    rate: float,
    training: Union[tf.Tensor, bool],
    seed: Optional[int] = None,
    scope: Optional[str] = None,
) -> tf.Tensor:
    """Inverted dropout: zeroes a fraction `rate` and scales the rest by 1/(1-rate).

    Written without control flow (no tf.cond), so the graph stays a plain dataflow
    graph for drawing, tracing and XLA: when `training` is False the drop rate is
    0, the keep mask is all ones and the scale is 1, which is the identity.

    Args:
      inputs: any shape.
      rate: fraction dropped while training, in [0, 1).
      training: bool scalar tensor (usually GraphModel.training) or Python bool.
    Returns:
      a tensor shaped like `inputs`.
    """
    if not 0.0 <= rate < 1.0:
        raise ArgumentError(f"{scope or 'dropout'}: rate must be in [0, 1), got {rate}")
    kept_scale = 1.0 / (1.0 - rate)  # in Python: 1 - rate rounds to 0 in float16 long before 1.0
    if kept_scale > float(inputs.dtype.max):
        raise DTypeError(f"{scope or 'dropout'}: rate {rate} scales kept values by {kept_scale:.3g}, "
                         f"too large for {inputs.dtype.name} input {inputs.name}")
    with tf.name_scope(scope or "dropout"):
        training = tf.convert_to_tensor(training, tf.bool, name="training")
        scale = tf.where(training, tf.constant(kept_scale, inputs.dtype), tf.constant(1.0, inputs.dtype),
                         name="scale")
        # An element is kept when its random word is at least rate * 2^32: kept
        # with probability 1 - rate (to 2^-32), and always when not training.
        # Counter-hash words, not tf.random.uniform: 2.5x cheaper (random_bits).
        words = random_words(tf.shape(inputs), seed=seed, name="noise")
        threshold = tf.where(training, tf.constant(min(int(rate * 2**32), 2**32 - 1), tf.uint32),
                             tf.constant(0, tf.uint32), name="threshold")
        # The mask carries the scale (1/(1-rate) where kept, 0 where dropped), so
        # the forward pass and its gradient each take one multiply of `inputs`' size.
        scaled_keep = tf.where(words >= threshold, scale, tf.zeros([], inputs.dtype), name="scaled_keep_mask")
        return tf.multiply(inputs, scaled_keep, name="output")


def flatten(inputs: tf.Tensor, scope: Optional[str] = None) -> tf.Tensor:
    """Reshapes [batch, d1, d2, ...] to [batch, d1*d2*...]; the d's must be known."""
    with tf.name_scope(scope or "flatten") as name_scope:
        where = name_scope.rstrip("/")
        if inputs.shape.rank is None or inputs.shape.rank < 1:
            raise ShapeError(f"{where}: input {inputs.name} needs a known rank >= 1, got {inputs.shape}")
        dims = _known_dims(inputs, where, range(1, inputs.shape.rank))
        return tf.reshape(inputs, [-1, int(np.prod(dims, dtype=np.int64))], name="output")


def embedding(
    ids: tf.Tensor,
    vocab_size: int,
    dim: int,
    initializer=None,
    scope: Optional[str] = None,
) -> tf.Tensor:
    """Looks up rows of an [vocab_size, dim] table (Keras' U(-0.05, 0.05) init).

    Args:
      ids: integer tensor of any shape, values in [0, vocab_size).
    Returns:
      ids.shape + [dim]
    """
    if not ids.dtype.is_integer:
        raise DTypeError(f"{scope or 'embedding'}: ids {ids.name} must be integers, got {ids.dtype.name}")
    if vocab_size < 1 or dim < 1:
        raise ArgumentError(f"{scope or 'embedding'}: vocab_size and dim must be >= 1, "
                            f"got {vocab_size} and {dim}")
    with v1.variable_scope(scope, default_name="embedding", values=[ids]):
        table = v1.get_variable(
            "embeddings", [vocab_size, dim], tf.float32,
            initializer=initializer or v1.random_uniform_initializer(-0.05, 0.05))
        return tf.nn.embedding_lookup(table, ids, name="lookup")


def _pair(value: Union[int, Sequence[int]], where: str, what: str) -> list[int]:
    pair = [value, value] if isinstance(value, int) else list(value)
    if len(pair) != 2 or any(v < 1 for v in pair):
        raise ArgumentError(f"{where}: {what} must be a positive int or a pair, got {value!r}")
    return pair


def _check_padding(padding: str, where: str) -> str:
    if padding.upper() not in PADDINGS:
        raise ArgumentError(f"{where}: padding must be one of {PADDINGS}, got {padding!r}")
    return padding.upper()


def conv2d(
    inputs: tf.Tensor,
    filters: int,
    kernel_size: Union[int, Sequence[int]],
    strides: Union[int, Sequence[int]] = 1,
    padding: str = "VALID",
    activation: Optional[Callable[[tf.Tensor], tf.Tensor]] = None,
    use_bias: bool = True,
    kernel_initializer=None,
    scope: Optional[str] = None,
) -> tf.Tensor:
    """2-D convolution over NHWC images (Keras' Conv2D defaults: VALID, Glorot).

    Args:
      inputs: [batch, height, width, channels] with known channels.
    Returns:
      [batch, out_height, out_width, filters]
    """
    padding = _check_padding(padding, "conv2d")
    kernel_size = _pair(kernel_size, "conv2d", "kernel_size")
    strides = _pair(strides, "conv2d", "strides")
    with v1.variable_scope(scope, default_name="conv2d", values=[inputs]) as vs:
        _check_rank(inputs, vs.name, [4])
        (channels,) = _known_dims(inputs, vs.name, [3])
        kernel = v1.get_variable(
            "kernel", kernel_size + [channels, filters], inputs.dtype,
            initializer=kernel_initializer or glorot_uniform())
        outputs = tf.nn.conv2d(inputs, kernel, [1, *strides, 1], padding, name="conv")
        return _bias_and_activation(outputs, filters, use_bias, None, activation)


def max_pool(
    inputs: tf.Tensor,
    pool_size: Union[int, Sequence[int]] = 2,
    strides: Union[int, Sequence[int], None] = None,
    padding: str = "VALID",
    scope: Optional[str] = None,
) -> tf.Tensor:
    """Max pooling over NHWC images; strides default to the pool size (as Keras)."""
    padding = _check_padding(padding, "max_pool")
    pool = _pair(pool_size, "max_pool", "pool_size")
    strides = pool if strides is None else _pair(strides, "max_pool", "strides")
    with tf.name_scope(scope or "max_pool"):
        _check_rank(inputs, "max_pool", [4])
        return tf.nn.max_pool2d(inputs, [1, *pool, 1], [1, *strides, 1], padding, name="output")


def layer_norm(
    inputs: tf.Tensor,
    epsilon: float = 1e-3,
    scope: Optional[str] = None,
) -> tf.Tensor:
    """Normalises the last axis to zero mean, unit variance, then gamma * x + beta.

    Args:
      inputs: [..., depth] with known depth. epsilon: Keras' default, 1e-3.
    Returns:
      a tensor shaped like `inputs`.
    """
    with v1.variable_scope(scope, default_name="layer_norm", values=[inputs]) as vs:
        (depth,) = _known_dims(inputs, vs.name, [-1])
        gamma = v1.get_variable("gamma", [depth], inputs.dtype, initializer=v1.ones_initializer())
        beta = v1.get_variable("beta", [depth], inputs.dtype, initializer=v1.zeros_initializer())
        mean, variance = tf.nn.moments(inputs, axes=[-1], keepdims=True, name="moments")
        normalized = (inputs - mean) * tf.math.rsqrt(variance + epsilon, name="inv_std")
        return tf.add(normalized * gamma, beta, name="output")
