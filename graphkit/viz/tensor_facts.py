"""Static facts about a NodeDef's outputs and attrs, read from protos alone.

Shapes come from the `_output_shapes` attr (`as_graph_def(add_shapes=True)`);
dtypes from the op's registered OpDef and the node's type attrs, so no graph is
imported and no session runs.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional

import tensorflow as tf
from tensorflow.core.framework import attr_value_pb2, node_def_pb2, tensor_shape_pb2

from graphkit.tf_private import op_def

# Attributes worth a line in a tooltip; the others are plumbing (_class, T lists of functions ...).
KEY_ATTRS = ("dtype", "T", "DstT", "shape", "value", "transpose_a", "transpose_b", "strides", "padding",
             "data_format", "ksize", "dilations", "axis", "keep_dims", "container", "shared_name",
             "num_split", "N", "output_types", "output_shapes", "Tidx", "out_type", "seed", "seed2")
_MAX_ATTR_CHARS = 80


@lru_cache(maxsize=None)
def _op_def(op_type: str):
    return op_def(op_type)


def output_dtypes(node: node_def_pb2.NodeDef) -> list[str]:
    """Dtype names of the node's outputs, in output-index order; [] for an op TensorFlow does not know."""
    op_def = _op_def(node.op)
    if op_def is None:
        return []
    dtypes = []
    for arg in op_def.output_arg:
        # Reading a missing key of a proto map would insert it, hence the `in` checks.
        if arg.type_list_attr:
            types = list(node.attr[arg.type_list_attr].list.type) if arg.type_list_attr in node.attr else []
        else:
            dtype = arg.type
            if arg.type_attr:
                dtype = node.attr[arg.type_attr].type if arg.type_attr in node.attr else 0
            count = 1
            if arg.number_attr:
                count = node.attr[arg.number_attr].i if arg.number_attr in node.attr else 0
            types = [dtype] * count
        dtypes.extend(_dtype_name(dtype) for dtype in types)
    return dtypes


def _dtype_name(dtype_enum: int) -> str:
    try:
        return tf.dtypes.as_dtype(dtype_enum).name
    except TypeError:
        return "?"


def output_shape(node: node_def_pb2.NodeDef, index: int) -> Optional[tensor_shape_pb2.TensorShapeProto]:
    """The static shape of output `index` from `_output_shapes`, or None when absent."""
    shapes = node.attr["_output_shapes"].list.shape if "_output_shapes" in node.attr else ()
    return shapes[index] if index < len(shapes) else None


def format_shape(shape: Optional[tensor_shape_pb2.TensorShapeProto]) -> str:
    """[?,28,28] for a shape with an unknown batch size, [] for a scalar, ? for unknown rank."""
    if shape is None or shape.unknown_rank:
        return "?"
    return "[" + ",".join("?" if dim.size < 0 else str(dim.size) for dim in shape.dim) + "]"


def tensor_label(node: node_def_pb2.NodeDef, index: int) -> str:
    """"[?,512] float32" for output `index` of `node`; parts that are unknown are left out."""
    dtypes = output_dtypes(node)
    dtype = dtypes[index] if index < len(dtypes) else ""
    if dtype == "resource":  # a variable handle: its shape is the handle's, not the variable's
        return "resource"
    shape = output_shape(node, index)
    parts = [format_shape(shape) if shape is not None else "", dtype]
    return " ".join(part for part in parts if part)


def format_attr(value: attr_value_pb2.AttrValue) -> str:
    """A short readable form of an attr: 3, float32, [1,2,2,1], "SAME", float32[784,512]."""
    kind = value.WhichOneof("value")
    if kind == "s":
        text = value.s.decode("utf-8", "replace")
    elif kind == "type":
        text = _dtype_name(value.type)
    elif kind == "shape":
        text = format_shape(value.shape)
    elif kind == "tensor":
        text = _format_tensor(value.tensor)
    elif kind == "list":
        items = ([str(i) for i in value.list.i] + [repr(f) for f in value.list.f]
                 + [s.decode("utf-8", "replace") for s in value.list.s]
                 + [_dtype_name(t) for t in value.list.type] + [format_shape(s) for s in value.list.shape])
        text = "[" + ",".join(items) + "]"
    elif kind == "b":
        text = "true" if value.b else "false"
    elif kind in ("i", "f"):
        text = str(getattr(value, kind))
    elif kind == "func":
        text = value.func.name
    else:
        text = ""
    return text if len(text) <= _MAX_ATTR_CHARS else text[:_MAX_ATTR_CHARS - 3] + "..."


def _format_tensor(tensor) -> str:
    dtype = _dtype_name(tensor.dtype)
    shape = format_shape(tensor.tensor_shape)
    if shape == "[]":
        scalar = _scalar_value(tensor)
        return f"{dtype} {scalar}" if scalar is not None else dtype
    return f"{dtype}{shape}"


def _scalar_value(tensor) -> Optional[str]:
    for field in ("float_val", "double_val", "int_val", "int64_val", "bool_val"):
        values = getattr(tensor, field)
        if values:
            return str(values[0])
    if tensor.string_val:
        return repr(tensor.string_val[0].decode("utf-8", "replace"))
    if tensor.tensor_content:
        try:
            return str(tf.make_ndarray(tensor).item())
        except (TypeError, ValueError):
            return None
    return None


def key_attrs(node: node_def_pb2.NodeDef) -> list[tuple[str, str]]:
    """(name, short value) of the attrs a reader wants in a tooltip, in KEY_ATTRS order."""
    return [(name, format_attr(node.attr[name])) for name in KEY_ATTRS if name in node.attr]
