"""Checks numpy feeds against a model's placeholders before TensorFlow sees them.

A raw TensorFlow feed error is a long stack; these checks name the tensor and
give the expected and the given shape or dtype instead.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional

import numpy as np
import tensorflow as tf

from graphkit.errors import DTypeError, FeedError, ShapeError


def describe(tensor: tf.Tensor) -> str:
    """`x:0 [?,28,28] float32`, the way errors and reports name a tensor."""
    dims = "?" if tensor.shape.rank is None else ",".join(
        "?" if d is None else str(d) for d in tensor.shape.as_list())
    return f"{tensor.name} [{dims}] {tensor.dtype.name}"


def check_array(name: str, tensor: tf.Tensor, value) -> np.ndarray:
    """Converts `value` to the placeholder's dtype after checking dtype and shape.

    Safe casts of the same kind are allowed (uint8 -> float32, int64 -> int32 is
    not: it may lose values). Raises DTypeError or ShapeError naming `name`.
    """
    array = np.asarray(value)
    expected = tensor.dtype.as_numpy_dtype
    if tensor.dtype == tf.string:
        if array.dtype.kind not in "SUO":
            raise DTypeError(f"{name}: expected strings for {describe(tensor)}, got {array.dtype}")
        return array.astype(object)
    same_kind = np.can_cast(array.dtype, expected, casting="same_kind")
    if array.dtype.kind in "biu" and np.dtype(expected).kind in "iu":
        same_kind = np.can_cast(array.dtype, expected, casting="safe") or array.size == 0 or (
            np.iinfo(expected).min <= array.min() and array.max() <= np.iinfo(expected).max)
    if not same_kind or array.dtype.kind not in "biuf":
        raise DTypeError(
            f"{name}: expected dtype {tensor.dtype.name} for {describe(tensor)}, got {array.dtype}")
    if tensor.shape.rank is not None:
        if array.ndim != tensor.shape.rank or any(
                d is not None and d != g for d, g in zip(tensor.shape.as_list(), array.shape)):
            raise ShapeError(f"{name}: expected shape {describe(tensor)}, got {list(array.shape)}")
    return array.astype(expected, copy=False)


def check_feeds(
    placeholders: Mapping[str, tf.Tensor],
    values: Mapping[str, object],
    required: Optional[Iterable[str]] = None,
) -> dict[tf.Tensor, np.ndarray]:
    """Validates named feeds; returns a feed_dict for `Session.run`.

    Args:
      placeholders: name -> placeholder the caller may feed.
      values: name -> array-like.
      required: names that must be present (default: all of `placeholders`).
    Raises:
      FeedError: a required name is missing or a given name is unknown.
      ShapeError, DTypeError: a value does not fit its placeholder.
    """
    unknown = sorted(set(values) - set(placeholders))
    if unknown:
        raise FeedError(f"{unknown[0]}: not a placeholder of this model; known: {sorted(placeholders)}")
    required = list(placeholders) if required is None else list(required)
    for name in required:
        if name not in values:
            raise FeedError(f"{name}: missing feed for placeholder {describe(placeholders[name])}")
    return {placeholders[name]: check_array(name, placeholders[name], value)
            for name, value in values.items()}


def example_count(arrays: Mapping[str, np.ndarray]) -> int:
    """The common leading dimension of `arrays`; ShapeError if they disagree."""
    counts = {name: len(array) for name, array in arrays.items()}
    if len(set(counts.values())) > 1:
        raise ShapeError(f"arrays disagree on the number of examples: {counts}")
    if not counts:
        raise FeedError("no arrays given")
    return next(iter(counts.values()))
