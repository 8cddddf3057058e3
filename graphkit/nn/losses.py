"""Losses and metrics as plain functions over tensors."""

from __future__ import annotations

from typing import Optional

import tensorflow as tf

from graphkit.errors import DTypeError, ShapeError


def _check_labels(labels: tf.Tensor, logits: tf.Tensor, where: str) -> None:
    if not labels.dtype.is_integer:
        raise DTypeError(f"{where}: labels {labels.name} must be integers, got {labels.dtype.name}")
    if labels.shape.rank is not None and logits.shape.rank is not None:
        if labels.shape.rank != logits.shape.rank - 1:
            raise ShapeError(
                f"{where}: labels {labels.name} {labels.shape} must have one axis less than "
                f"logits {logits.name} {logits.shape}")


def sparse_softmax_cross_entropy(
    labels: tf.Tensor,
    logits: tf.Tensor,
    mask: Optional[tf.Tensor] = None,
    scope: Optional[str] = None,
) -> tf.Tensor:
    """Mean cross-entropy of softmax(logits) against integer labels.

    Computed from logits (stable), which equals Keras' sparse categorical
    cross-entropy on softmax probabilities.

    Args:
      labels: [...] integer class ids.
      logits: [..., classes].
      mask: optional [...] weights (1 = counts, 0 = padding); the mean is taken
        over the masked-in positions only.
    Returns:
      scalar float loss.
    """
    _check_labels(labels, logits, "sparse_softmax_cross_entropy")
    with tf.name_scope(scope or "loss"):
        per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=logits, name="cross_entropy")
        if mask is None:
            return tf.reduce_mean(per_example, name="value")
        mask = tf.cast(mask, per_example.dtype, name="mask")
        total = tf.reduce_sum(per_example * mask, name="masked_sum")
        count = tf.maximum(tf.reduce_sum(mask), 1.0, name="count")
        return tf.math.divide(total, count, name="value")


def accuracy(labels: tf.Tensor, logits: tf.Tensor, scope: Optional[str] = None) -> tf.Tensor:
    """Fraction of examples whose arg-max class equals the label (scalar float32).

    Works on logits or probabilities alike (softmax keeps the arg-max).
    """
    _check_labels(labels, logits, "accuracy")
    with tf.name_scope(scope or "accuracy"):
        predicted = tf.argmax(logits, axis=-1, output_type=labels.dtype, name="predicted")
        correct = tf.cast(tf.equal(predicted, labels), tf.float32, name="correct")
        return tf.reduce_mean(correct, name="value")
