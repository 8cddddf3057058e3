"""A chain of element-wise ops over a few million floats: the graph where XLA's fusion matters.

Without XLA each op of the chain reads its input from memory and writes its
output back, so the chain moves `length` times the bytes it needs; XLA fuses
the chain into one loop that reads `x` once and writes `y` once. The input
lives in a variable and the result is stored into another one (`STORE_OP`),
so a timed run moves no data through feeds or fetches.

    model = build_elementwise_chain(size=4_000_000, length=16, build=xla.compile_in_jit_scope)
    session.run(model.graph.get_operation_by_name(STORE_OP))

The ops cycle through Mul, AddV2, Maximum, Sub, Minimum, Abs, Mul, AddV2 with
constants that keep values bounded; no two neighbours are unary or of one type,
so Grappler neither composes them into `_UnaryOpsComposition` (which XLA cannot
compile) nor folds their constants together: the chain that runs is the chain
that was built.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from graphkit.errors import ModelError
from graphkit.models.graph_model import GraphModel

v1 = tf.compat.v1

INPUT = "x"
OUTPUT = "y"
SCOPE = "chain"
STORE_OP = "store"
BYTES_PER_ELEMENT = 4  # float32
# (op, constant) in the order the chain cycles through them.
CYCLE = (("mul", 1.0001), ("add", 0.25), ("maximum", -2.0), ("sub", 0.125),
         ("minimum", 8.0), ("abs", None), ("mul", 0.999), ("add", -0.0625))


def chain(values: tf.Tensor, length: int = 16) -> tf.Tensor:
    """`length` element-wise ops applied one after the other to `values` [n] float32."""
    return _apply_chain(tf, values, length, float)


def chain_numpy(values: np.ndarray, length: int = 16) -> np.ndarray:
    """The same chain in numpy (float32), the reference the tests compare with."""
    return _apply_chain(np, values.astype(np.float32), length, np.float32)


def _apply_chain(module, values, length: int, number):
    """The chain over tf or np (both name maximum, minimum and abs alike)."""
    result = values
    for index in range(length):
        kind, constant = CYCLE[index % len(CYCLE)]
        if kind == "abs":
            result = module.abs(result)
        elif kind in ("maximum", "minimum"):
            result = getattr(module, kind)(result, number(constant))
        elif kind == "mul":
            result = result * number(constant)
        elif kind == "add":
            result = result + number(constant)
        else:
            result = result - number(constant)
    return result


def moved_bytes(size: int) -> int:
    """Bytes the fused chain must move at least: read x once, write y once."""
    return 2 * BYTES_PER_ELEMENT * size


def build_elementwise_chain(size: int = 4_000_000, length: int = 16, build: Optional[Callable] = None,
                            seed: int = 0) -> GraphModel:
    """Builds the chain over a variable of `size` random floats in a new graph.

    Args:
      size: elements of x.
      length: element-wise ops in the chain (>= 1).
      build: how the chain is built from (chain_fn, x): None calls it plainly (a session may
        still auto-cluster it); graphkit.runtime.xla.compile_in_jit_scope builds it in a jit
        scope, graphkit.runtime.xla.compile_function as one function XLA must compile.
      seed: seed of x's values, uniform in [0, 1).
    Returns:
      a GraphModel with input x (a placeholder_with_default over the variable holding the data)
      and output y [size] float32; the op `store` writes y into a variable.
    Raises:
      ModelError: size or length < 1.
    """
    if size < 1 or length < 1:
        raise ModelError(f"build_elementwise_chain: size and length must be >= 1, got {size} and {length}")
    data = np.random.default_rng(seed).random(size, dtype=np.float32)
    graph = tf.Graph()
    with graph.as_default():
        source = v1.get_variable("x_data", initializer=data, trainable=False)
        result = v1.get_variable("y_data", shape=[size], dtype=tf.float32,
                                 initializer=v1.zeros_initializer(), trainable=False)
        x = v1.placeholder_with_default(source.read_value(), [size], name=INPUT)
        with tf.name_scope(SCOPE):
            def elementwise_chain(values):
                return chain(values, length)

            y = (build or _call)(elementwise_chain, x)
        y = tf.identity(y, name=OUTPUT)
        tf.group(result.assign(y), name=STORE_OP)
    return GraphModel(graph, inputs={INPUT: x}, outputs={OUTPUT: y})


def _call(fn: Callable, *tensors):
    return fn(*tensors)
