"""Checks numpy feeds against a model's placeholders before TensorFlow sees them.

A raw TensorFlow feed error is a long stack; these checks name the tensor and
give the expected and the given shape or dtype instead.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional

import numpy as np
import tensorflow as tf

from graphkit.errors import DTypeError, FeedError, ShapeError


def describe(tensor) -> str:
    """`x:0 [?,28,28] float32`, the way errors and reports name a tensor.

    Args:
      tensor: a tf.Tensor, or a TensorRecord (graphkit.graphs.saved_model).
    """
    name, dtype, shape = _facts(tensor)
    dims = "?" if shape is None else ",".join("?" if d is None else str(d) for d in shape)
    return f"{name} [{dims}] {dtype}"


def _facts(tensor) -> tuple[str, str, tuple | None]:
    """(tensor name, dtype name, static shape or None) of a tf.Tensor or a TensorRecord."""
    if isinstance(tensor, tf.Tensor):
        shape = None if tensor.shape.rank is None else tuple(tensor.shape.as_list())
        return tensor.name, tensor.dtype.name, shape
    return tensor.name, tensor.dtype, tensor.shape


def check_array(name: str, tensor, value) -> np.ndarray:
    """Converts `value` to the tensor's dtype after checking dtype and shape.

    The one feed checker: placeholders (`check_feeds`, traced runs) and
    SavedModel signature inputs (`graphkit.runtime.saved_model.run_signature`)
    all pass through it. A cast is allowed when every value keeps its meaning:
    numpy's safe casts (uint8 -> float32, int32 -> int64, bool -> float32),
    integers into a narrower integer type when every value fits, and floats
    into a narrower float type (rounded, as TensorFlow's own feed would). Any
    other cast (float -> int, int64 -> float32, numbers -> strings) is refused.

    Args:
      name: where, for messages (`x`, `feed 'x:0'`, `model signature 'serving_default' input 'x'`).
      tensor: a tf.Tensor (placeholder) or a TensorRecord (signature input).
      value: array-like; strings may be str or bytes.
    Returns:
      the array in the tensor's dtype (strings as an object array).
    Raises:
      DTypeError: the dtype cannot be cast without changing values.
      ShapeError: the rank or a known dimension differs.
    """
    _, dtype_name, shape = _facts(tensor)
    array = np.asarray(value)
    if dtype_name == "string":
        if array.dtype.kind not in "SUO":
            raise DTypeError(f"{name}: expected dtype string for {describe(tensor)}, got {array.dtype}")
        array = array.astype(object)
    else:
        expected = np.dtype(tf.dtypes.as_dtype(dtype_name).as_numpy_dtype)
        if not _keeps_values(array, expected):
            raise DTypeError(f"{name}: expected dtype {dtype_name} for {describe(tensor)}, got {array.dtype}")
    if shape is not None:
        if array.ndim != len(shape) or any(d is not None and d != g for d, g in zip(shape, array.shape)):
            raise ShapeError(f"{name}: expected shape {describe(tensor)}, got {list(array.shape)}")
    return array if dtype_name == "string" else array.astype(expected, copy=False)


def _keeps_values(array: np.ndarray, expected: np.dtype) -> bool:
    """Whether casting `array` to `expected` keeps every value (see `check_array`)."""
    if array.dtype.kind not in "biuf" or expected.kind not in "biufc":
        return array.dtype == expected
    if np.can_cast(array.dtype, expected, casting="safe"):
        return True
    if array.dtype.kind in "biu" and expected.kind in "iu":
        info = np.iinfo(expected)
        return array.size == 0 or (info.min <= array.min() and array.max() <= info.max)
    return array.dtype.kind == "f" and expected.kind == "f"


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
