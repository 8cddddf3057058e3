"""TensorFlow's private APIs that graphkit relies on, each behind one function.

TensorFlow does not promise these across releases, so they live here and
nowhere else, and `tests/test_tf_private.py` calls each one: when a release
removes or changes one, that test fails naming it. Everything is imported
lazily, so importing this module imports no TensorFlow.

- `Session._make_callable_from_options`: a callable with CallableOptions
  (tensor connections wire a constant into a step with no feed). `make_callable`
  is built on it.
- `tensorflow.python.grappler.tf_optimizer.OptimizeGraph`: runs Grappler on a
  MetaGraph, as a session would before running it.
- `tensorflow.python.framework.ops.get_stats_for_node_def`: an op's FLOPs from
  TensorFlow's own registry (what tf.compat.v1.profiler counts).
- `tensorflow.python.framework.op_def_registry.get`: an op type's OpDef
  (argument names and types) without importing a graph.
- `tensorflow.python.util.deprecation.silence`: quiets the deprecation warnings
  that v1 SavedModel and shape helpers log on every call.
- `Operation._set_attr`: sets an attr of an op already in a graph (XLA's
  `_XlaCompile` marks on a built graph, as `jit_scope` sets them while building).
- `tensorflow.python.framework.kernels.get_registered_kernels_for_op`: the
  device types an op type has kernels for (XLA_CPU_JIT once XLA has started).
"""

from __future__ import annotations

import contextlib

# What each function wraps, for error messages and the test that checks them.
PRIVATE_APIS = {
    "make_callable_from_options": "tf.compat.v1.Session._make_callable_from_options",
    "optimize_graph": "tensorflow.python.grappler.tf_optimizer.OptimizeGraph",
    "op_flops": "tensorflow.python.framework.ops.get_stats_for_node_def",
    "op_def": "tensorflow.python.framework.op_def_registry.get",
    "silence_deprecations": "tensorflow.python.util.deprecation.silence",
    "set_op_attr": "tensorflow.python.framework.ops.Operation._set_attr",
    "kernel_device_types": "tensorflow.python.framework.kernels.get_registered_kernels_for_op",
}


def make_callable_from_options(session, callable_options):
    """`session._make_callable_from_options(callable_options)`: a step callable."""
    return session._make_callable_from_options(callable_options)


def optimize_graph(config, meta_graph):
    """Grappler's rewrite of `meta_graph` (a MetaGraphDef with a train_op collection) under `config`."""
    from tensorflow.python.grappler import tf_optimizer

    return tf_optimizer.OptimizeGraph(config, meta_graph, verbose=False)


def op_flops(graph, node_def):
    """FLOPs of one NodeDef of `graph` by TensorFlow's registry, or None when no statistic is registered."""
    from tensorflow.python.framework import ops

    with silence_deprecations():  # the FLOP registry calls a deprecated shape helper
        return ops.get_stats_for_node_def(graph, node_def, "flops").value


def op_def(op_type: str):
    """The registered OpDef of `op_type`, or None when the op is unknown to this TensorFlow."""
    from tensorflow.python.framework import op_def_registry

    return op_def_registry.get(op_type)


@contextlib.contextmanager
def silence_deprecations():
    """Within the block, TensorFlow's deprecation decorators log nothing."""
    from tensorflow.python.util import deprecation

    with deprecation.silence():
        yield


def set_op_attr(op, name: str, attr_value) -> None:
    """`op._set_attr(name, attr_value)`: sets an AttrValue on an op already in its graph."""
    op._set_attr(name, attr_value)


def kernel_device_types(op_type: str) -> frozenset:
    """The device types ("CPU", "XLA_CPU_JIT", ...) with a kernel registered for `op_type`."""
    from tensorflow.python.framework import kernels

    return frozenset(kernel.device_type for kernel in kernels.get_registered_kernels_for_op(op_type).kernel)
