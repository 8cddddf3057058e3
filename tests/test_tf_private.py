"""Every private TensorFlow API graphkit uses still exists and behaves as graphkit expects.

When a TensorFlow release removes or changes one, the failing test names it
(graphkit.tf_private.PRIVATE_APIS).
"""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import attr_value_pb2
from tensorflow.core.protobuf import config_pb2, meta_graph_pb2

from graphkit import tf_private

v1 = tf.compat.v1


def _api(name: str) -> str:
    return f"private TensorFlow API {tf_private.PRIVATE_APIS[name]} changed or is gone"


def _matmul_graph():
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [8, 16], name="x")
        w = tf.constant(np.ones((16, 4), np.float32), name="w")
        y = tf.matmul(x, w, name="y")
        scale = v1.placeholder_with_default(tf.constant(1.0), [], name="scale")
        tf.multiply(y, scale, name="scaled")
    return graph


def test_every_wrapper_is_listed():
    public = {name for name in dir(tf_private)
              if not name.startswith("_") and callable(getattr(tf_private, name))}
    assert set(tf_private.PRIVATE_APIS) <= public


def test_make_callable_from_options_wires_a_tensor_connection():
    graph = _matmul_graph()
    options = config_pb2.CallableOptions()
    options.feed.append("x:0")
    options.fetch.append("scaled:0")
    connection = options.tensor_connection.add()
    with graph.as_default():
        three = tf.constant(3.0, name="three")
    connection.from_tensor, connection.to_tensor = three.name, "scale:0"
    with v1.Session(graph=graph) as session:
        try:
            step = tf_private.make_callable_from_options(session, options)
            (result,) = step(np.full((8, 16), 0.5, np.float32))
        except (AttributeError, TypeError) as err:
            pytest.fail(f"{_api('make_callable_from_options')}: {err}")
    np.testing.assert_allclose(result, np.full((8, 4), 0.5 * 16 * 3.0))


def test_op_flops_counts_a_matmul():
    graph = _matmul_graph()
    node = graph.get_operation_by_name("y").node_def
    try:
        flops = tf_private.op_flops(graph, node)
    except (AttributeError, ImportError) as err:
        pytest.fail(f"{_api('op_flops')}: {err}")
    assert flops == 2 * 8 * 16 * 4


def test_op_def_knows_matmul_and_not_a_made_up_op():
    try:
        matmul = tf_private.op_def("MatMul")
    except (AttributeError, ImportError) as err:
        pytest.fail(f"{_api('op_def')}: {err}")
    assert [arg.name for arg in matmul.input_arg] == ["a", "b"]
    assert tf_private.op_def("NoSuchOpAnywhere") is None


def test_optimize_graph_returns_a_graph_def_keeping_the_fetch():
    graph = _matmul_graph()
    with graph.as_default():
        meta_graph = v1.train.export_meta_graph(graph=graph)
    fetch = meta_graph_pb2.CollectionDef()
    fetch.node_list.value.append("scaled")
    meta_graph.collection_def["train_op"].CopyFrom(fetch)
    try:
        optimized = tf_private.optimize_graph(v1.ConfigProto(), meta_graph)
    except (AttributeError, ImportError, TypeError) as err:
        pytest.fail(f"{_api('optimize_graph')}: {err}")
    assert "scaled" in {node.name for node in optimized.node}


def test_silence_deprecations_quiets_a_deprecated_call(caplog):
    graph = tf.Graph()
    with graph.as_default(), tf_private.silence_deprecations():
        v1.saved_model.utils.build_tensor_info(v1.placeholder(tf.float32, [1], name="p"))
    assert not [record for record in caplog.records if "deprecat" in record.getMessage().lower()]


def test_set_op_attr_changes_an_op_already_in_the_graph():
    graph = _matmul_graph()
    op = graph.get_operation_by_name("y")
    try:
        tf_private.set_op_attr(op, "_XlaCompile", attr_value_pb2.AttrValue(b=True))
    except (AttributeError, TypeError) as err:
        pytest.fail(f"{_api('set_op_attr')}: {err}")
    assert op.get_attr("_XlaCompile") is True
    node = {n.name: n for n in graph.as_graph_def().node}["y"]
    assert node.attr["_XlaCompile"].b


def test_kernel_device_types_lists_cpu_kernels():
    try:
        types = tf_private.kernel_device_types("MatMul")
    except (AttributeError, ImportError, TypeError) as err:
        pytest.fail(f"{_api('kernel_device_types')}: {err}")
    assert "CPU" in types
    assert "XLA_CPU_JIT" not in tf_private.kernel_device_types("AsString")
