"""Reads a graph from anything that holds one, without a session.

Every graph-reading feature (render, trace, analyze) starts here and gets the
same record back: the GraphDef (with `_output_shapes` attrs where TensorFlow
can infer them), the signature's inputs and outputs when the source has one,
and which kind of source it was.

    loaded = load_graph("out/saved_model")              # SavedModel directory
    loaded = load_graph("model.pb")                     # binary GraphDef
    loaded = load_graph("model.pbtxt")                  # text GraphDef
    loaded = load_graph("ckpt/model.ckpt-3.meta")       # checkpoint MetaGraph
    loaded = load_graph(model)                          # GraphModel, tf.Graph or GraphDef
    loaded.graph_def.node[0].name, loaded.signature_outputs["probabilities"].tensor

Sources a user can pass: a `GraphModel`, a `tf.Graph`, a `GraphDef` or
`MetaGraphDef` proto, or a path (SavedModel directory, `saved_model.pb`,
`.pb`, `.pbtxt`, `.meta`).
"""

from __future__ import annotations

import dataclasses
import os
from types import MappingProxyType
from typing import Mapping, Optional, Sequence, Union

import tensorflow as tf
from google.protobuf import message, text_format
from tensorflow.core.framework import graph_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from graphkit import constants
from graphkit.errors import ArgumentError, GraphFileError, SavedModelError, tf_error_line
from graphkit.graphs.saved_model import (
    TensorRecord,
    parse_saved_model,
    parse_tags,
    read_saved_model,
    select_meta_graph,
    tensor_records,
)
from graphkit.models.graph_model import GraphModel

TEXT_SUFFIXES = (".pbtxt", ".txt", ".prototxt")

# What `LoadedGraph.kind` says about where a graph came from.
KIND_MODEL = "graph_model"
KIND_GRAPH = "tf_graph"
KIND_GRAPH_DEF = "graph_def"
KIND_SAVED_MODEL = "saved_model"
KIND_META_GRAPH = "meta_graph"
KINDS = (KIND_MODEL, KIND_GRAPH, KIND_GRAPH_DEF, KIND_SAVED_MODEL, KIND_META_GRAPH)

Source = Union[GraphModel, tf.Graph, graph_pb2.GraphDef, meta_graph_pb2.MetaGraphDef, str, os.PathLike]


@dataclasses.dataclass(frozen=True)
class LoadedGraph:
    """A graph read from some source, as protos only.

    Attributes:
      graph_def: the GraphDef; nodes carry `_output_shapes` when shapes could be inferred.
      signature_inputs: key -> TensorRecord (empty when the source has no signature).
      signature_outputs: key -> TensorRecord.
      kind: one of KINDS.
      source: a short description of the source (a path, or "tf.Graph").
      tags: the MetaGraph tag set chosen in a SavedModel, else ().
      signature: the signature key used, or "" when none.
    """

    graph_def: graph_pb2.GraphDef
    signature_inputs: Mapping[str, TensorRecord]
    signature_outputs: Mapping[str, TensorRecord]
    kind: str
    source: str
    tags: tuple = ()
    signature: str = ""

    def __post_init__(self):
        for field in ("signature_inputs", "signature_outputs"):
            object.__setattr__(self, field, MappingProxyType(dict(getattr(self, field))))


def load_graph(source: Source, tags: Union[str, Sequence[str], None] = None,
               signature: Optional[str] = None) -> LoadedGraph:
    """Reads the graph held by `source`.

    Args:
      source: a GraphModel, tf.Graph, GraphDef, MetaGraphDef, or a path to a
        SavedModel directory, a `.pb` / `.pbtxt` GraphDef, or a `.meta` MetaGraph.
      tags: SavedModel tag set, as "serve" / "serve,gpu" or a sequence of tags.
        Default: "serve", or the only tag set when the SavedModel has just one.
      signature: SavedModel signature key. Default: "serving_default" when
        present, else no signature is used.
    Returns:
      a LoadedGraph.
    Raises:
      GraphFileError: the path is missing, or the file is not a GraphDef, SavedModel
        or MetaGraph; or a proto has no nodes.
      SavedModelError: a SavedModel lacks its graph, the tag set or the signature
        (the message lists the available ones).
      ArgumentError: `tags` given for a graph file that is no SavedModel, or
        `signature` for a GraphDef (a MetaGraph may hold signatures).
    """
    tag_set = parse_tags(tags)
    if isinstance(source, GraphModel):
        return LoadedGraph(
            source.graph_def(add_shapes=True),
            _tensor_specs(source.inputs), _tensor_specs(source.outputs), KIND_MODEL, "GraphModel")
    if isinstance(source, tf.Graph):
        return LoadedGraph(source.as_graph_def(add_shapes=True), {}, {}, KIND_GRAPH, "tf.Graph")
    if isinstance(source, graph_pb2.GraphDef):
        _check_graph_def(source, "GraphDef")
        return LoadedGraph(with_output_shapes(source), {}, {}, KIND_GRAPH_DEF, "GraphDef")
    if isinstance(source, meta_graph_pb2.MetaGraphDef):
        return _from_meta_graph(source, "MetaGraphDef", KIND_META_GRAPH, signature)
    if isinstance(source, (str, os.PathLike)):
        loaded = _load_path(os.fspath(source), tag_set, signature)
        if loaded.kind != KIND_SAVED_MODEL and (tag_set is not None or (
                signature is not None and loaded.kind != KIND_META_GRAPH)):
            what = "tag sets or signatures" if loaded.kind == KIND_GRAPH_DEF else "tag sets"
            raise ArgumentError(f"{source}: --tags/--signature choose parts of a SavedModel; a "
                                f"{loaded.kind.replace('_', ' ')} file has no {what}")
        return loaded
    raise GraphFileError(
        f"load_graph: expected a GraphModel, tf.Graph, GraphDef, MetaGraphDef or path, "
        f"got {type(source).__name__}")


def with_output_shapes(graph_def: graph_pb2.GraphDef) -> graph_pb2.GraphDef:
    """The GraphDef with `_output_shapes` attrs, inferred by importing it into a fresh graph.

    Returns `graph_def` unchanged when it was written with shapes already (ops
    without outputs never get the attr, so one node with it is enough), or when
    TensorFlow cannot import it (an op it does not know): a drawing without
    shapes beats no drawing.
    """
    if any("_output_shapes" in node.attr for node in graph_def.node):
        return graph_def
    graph = tf.Graph()
    try:
        with graph.as_default():
            tf.graph_util.import_graph_def(graph_def, name="")
        return graph.as_graph_def(add_shapes=True)
    except (ValueError, TypeError, KeyError, tf.errors.OpError):
        return graph_def


def _tensor_specs(tensors: Mapping[str, tf.Tensor]) -> dict[str, TensorRecord]:
    specs = {}
    for key, tensor in tensors.items():
        shape = None if tensor.shape.rank is None else tuple(tensor.shape.as_list())
        specs[key] = TensorRecord(key, tensor.name, tensor.dtype.name, shape)
    return specs


def _check_graph_def(graph_def: graph_pb2.GraphDef, where: str) -> None:
    if not graph_def.node:
        raise GraphFileError(f"{where}: not a GraphDef (it has no nodes)")
    for node in graph_def.node:
        if not node.name or not node.op:
            raise GraphFileError(f"{where}: not a GraphDef (a node has no name or no op)")


def _load_path(path: str, tag_set: Optional[frozenset], signature: Optional[str]) -> LoadedGraph:
    if os.path.isdir(path) or os.path.basename(path) in constants.SAVED_MODEL_FILENAMES:
        return _from_saved_model(read_saved_model(path), path, tag_set, signature)
    if not os.path.exists(path):
        raise GraphFileError(f"{path}: no such file or directory")
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise GraphFileError(f"{path}: cannot read ({err.strerror or err})") from None
    if path.endswith(TEXT_SUFFIXES):
        return _load_text(data, path, tag_set, signature)
    return _load_binary(data, path, tag_set, signature)


def _load_text(data: bytes, path: str, tag_set, signature) -> LoadedGraph:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise GraphFileError(f"{path}: not a GraphDef text file (not UTF-8 text)") from None
    graph_def = graph_pb2.GraphDef()
    try:
        text_format.Parse(text, graph_def)
    except text_format.ParseError as graph_err:
        meta_graph = meta_graph_pb2.MetaGraphDef()
        try:
            text_format.Parse(text, meta_graph)
        except text_format.ParseError:
            raise GraphFileError(f"{path}: not a GraphDef text file ({tf_error_line(graph_err)})") from None
        return _from_meta_graph(meta_graph, path, KIND_META_GRAPH, signature)
    _check_graph_def(graph_def, path)
    return LoadedGraph(with_output_shapes(graph_def), {}, {}, KIND_GRAPH_DEF, path)


def _load_binary(data: bytes, path: str, tag_set, signature) -> LoadedGraph:
    """Tries GraphDef, then MetaGraphDef, then SavedModel: a wrong guess fails to decode or has no nodes."""
    if path.endswith(".meta"):
        order = ("meta_graph", "graph_def", "saved_model")
    else:
        order = ("graph_def", "meta_graph", "saved_model")
    for guess in order:
        try:
            if guess == "graph_def":
                graph_def = graph_pb2.GraphDef.FromString(data)
                _check_graph_def(graph_def, path)
                return LoadedGraph(with_output_shapes(graph_def), {}, {}, KIND_GRAPH_DEF, path)
            if guess == "meta_graph":
                meta_graph = meta_graph_pb2.MetaGraphDef.FromString(data)
                _check_graph_def(meta_graph.graph_def, path)
                return _from_meta_graph(meta_graph, path, KIND_META_GRAPH, signature)
            try:
                saved_model = parse_saved_model(data, path)
            except SavedModelError:  # not SavedModel bytes either
                continue
            if saved_model.meta_graphs[0].graph_def.node:
                return _from_saved_model(saved_model, path, tag_set, signature)
        except (message.DecodeError, GraphFileError):
            continue
    raise GraphFileError(f"{path}: not a GraphDef, MetaGraph or SavedModel file")


def _from_saved_model(saved_model: saved_model_pb2.SavedModel, path: str, tag_set, signature) -> LoadedGraph:
    meta_graph = select_meta_graph(saved_model, tag_set, path)
    tags = tuple(sorted(meta_graph.meta_info_def.tags))
    if not meta_graph.graph_def.node:
        raise SavedModelError(f"{path}: MetaGraph [{','.join(tags)}] has an empty graph")
    loaded = _from_meta_graph(meta_graph, path, KIND_SAVED_MODEL, signature)
    return dataclasses.replace(loaded, tags=tags)


def _from_meta_graph(meta_graph: meta_graph_pb2.MetaGraphDef, where: str, kind: str,
                     signature: Optional[str]) -> LoadedGraph:
    _check_graph_def(meta_graph.graph_def, where)
    signatures = meta_graph.signature_def
    if signature is None:
        signature = constants.DEFAULT_SIGNATURE_KEY if constants.DEFAULT_SIGNATURE_KEY in signatures else ""
    elif signature not in signatures:
        listed = ", ".join(sorted(signatures)) or "none"
        raise SavedModelError(f"{where}: no signature {signature!r}; available signatures: {listed}")
    inputs, outputs = {}, {}
    if signature:
        # A sparse or composite tensor, or TF2's init op, has no single graph tensor to draw or fetch.
        inputs = {t.key: t for t in tensor_records(signatures[signature].inputs) if t.runnable}
        outputs = {t.key: t for t in tensor_records(signatures[signature].outputs) if t.runnable}
    graph_def = with_output_shapes(meta_graph.graph_def)
    return LoadedGraph(graph_def, inputs, outputs, kind, where, signature=signature)
